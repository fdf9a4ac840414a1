"""The lower bound of a full sync: only list-and-parse, and only COPY of the same rows.

(a) GET every page of every kind of the job through the kubernetes client's request
    machinery and receive its bytes, reading nothing but the continue token (the wire);
    for reference also the same with ``orjson.loads`` of each whole page (GC paused).
(b) Build the rows exactly as the pipeline does (RowBuilder; not timed), then time only a
    COPY of those rows into the same, empty table (same indexes, TOAST settings and FK).

For attribution it also times the pipeline's own listing (``list_kind``: parse plus row
building) and the same listing given every stored version (``known_versions``), which is
what a re-sync's listing costs when unchanged objects are not serialized again.

    python benchmarks/lower_bound.py --kubeconfig K --url URL --out result.json
"""

from __future__ import annotations

import gc
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import msgspec  # noqa: E402
import psycopg  # noqa: E402
from common import api_and_cluster, child_arguments, job_kinds  # noqa: E402
from psycopg import sql  # noqa: E402

from k8s_assets.kube.listing import get_json, list_kind, send_get  # noqa: E402
from k8s_assets.store.copy import Utf8TextDumper  # noqa: E402


class _Continue(msgspec.Struct):
    """The only field of a list page the wire-only pass reads; items are skipped unparsed."""

    metadata: dict = msgspec.field(default_factory=dict)


def receive_only(api, kind, page_size: int = 500) -> tuple[int, float]:
    """Seconds to receive every page's bytes, reading only the continue token: the wire's cost."""
    started = time.perf_counter()
    received, token = 0, None
    path = kind.list_path()
    decode = msgspec.json.Decoder(_Continue).decode
    while True:
        query = [("limit", str(page_size))] + ([("continue", token)] if token else [])
        response = send_get(api, path, query, 120.0)
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {path}: HTTP {response.status}")
        received += len(body)
        token = decode(body).metadata.get("continue")
        if not token:
            break
    return received, time.perf_counter() - started


def list_and_parse(api, kind, page_size: int = 500) -> tuple[int, float]:
    started = time.perf_counter()
    count, token = 0, None
    path = kind.list_path()
    gc.disable()
    try:
        while True:
            query = [("limit", str(page_size))] + ([("continue", token)] if token else [])
            status, page, _body = get_json(api, path, query, 120.0)
            if page is None:
                raise RuntimeError(f"GET {path}: HTTP {status}")
            count += len(page.get("items") or ())
            token = (page.get("metadata") or {}).get("continue")
            del page, _body
            if not token:
                break
    finally:
        gc.enable()
    return count, time.perf_counter() - started


def copy_rows(url: str, kind, columns: dict[str, list], cluster_uid: str) -> float:
    names = kind.row_columns
    rows = list(zip(*(columns[c] for c in names)))
    table = sql.Identifier(kind.table)
    with psycopg.connect(url) as conn:
        conn.execute(sql.SQL("DELETE FROM {} WHERE cluster_uid = %s").format(table), (cluster_uid,))
        conn.commit()
        started = time.perf_counter()
        with conn.transaction(), conn.cursor() as cur:
            cur.adapters.register_dumper(bytes, Utf8TextDumper)  # as the pipeline's copy_frame does
            with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(
                    table, sql.SQL(", ").join(map(sql.Identifier, names)))) as copy:
                for row in rows:
                    copy.write_row(row)
        return time.perf_counter() - started


def main(argv=None) -> int:
    parser = child_arguments("lower bound")
    args = parser.parse_args(argv)

    api, cluster_uid = api_and_cluster(args.kubeconfig, args.partition, args.url)
    kinds = {}
    for kind in job_kinds(args.kubeconfig):
        received_bytes, receive_seconds = receive_only(api, kind)
        count, parse_seconds = list_and_parse(api, kind)
        listing = list_kind(api, kind, cluster_uid, args.partition, progress=lambda _m: None)
        copy_seconds = copy_rows(args.url, kind, listing.columns, cluster_uid)
        known = dict(zip(listing.columns["uid"], listing.columns["resource_version"]))
        extract_seconds = listing.seconds
        del listing
        # What the pipeline's re-sync listing costs when it is given the stored versions
        # (list_kind(known_versions=...)): every object here is unchanged.
        keyed = list_kind(api, kind, cluster_uid, args.partition, progress=lambda _m: None, known_versions=known)
        kinds[kind.table] = {"listed": count, "received_bytes": received_bytes, "receive_seconds": receive_seconds,
                             "parse_seconds": parse_seconds, "copy_seconds": copy_seconds,
                             "extract_seconds": extract_seconds, "known_versions_list_seconds": keyed.seconds}
        del keyed, known
    out = {"success": True, "kinds": kinds,
           "receive_seconds": sum(k["receive_seconds"] for k in kinds.values()),
           "received_bytes": sum(k["received_bytes"] for k in kinds.values()),
           "parse_seconds": sum(k["parse_seconds"] for k in kinds.values()),
           "copy_seconds": sum(k["copy_seconds"] for k in kinds.values()),
           "extract_seconds": sum(k["extract_seconds"] for k in kinds.values()),
           "known_versions_list_seconds": sum(k["known_versions_list_seconds"] for k in kinds.values())}
    Path(args.out).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
