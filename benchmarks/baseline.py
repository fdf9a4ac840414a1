"""The naive baseline: one ``INSERT ... ON CONFLICT DO UPDATE`` per object, autocommit.

This is what the original Go plugin did. It lists with the same extraction as the pipeline
(raw pages, orjson, the same RowBuilder columns), then upserts every listed object row by
row into the same table layout (its own database, same migrations) and deletes the
cluster's rows the listing no longer contains.

    python benchmarks/baseline.py --kubeconfig K --url URL --out result.json
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import psycopg  # noqa: E402
from common import api_and_cluster, child_arguments, job_kinds  # noqa: E402
from psycopg import sql  # noqa: E402

from k8s_assets.kube.listing import list_kind  # noqa: E402
from k8s_assets.store.copy import Utf8TextDumper  # noqa: E402


def upsert_statement(kind) -> sql.Composed:
    columns = kind.row_columns
    return sql.SQL("INSERT INTO {t} ({cols}) VALUES ({vals}) ON CONFLICT (cluster_uid, uid) DO UPDATE SET {set}").format(
        t=sql.Identifier(kind.table),
        cols=sql.SQL(", ").join(map(sql.Identifier, columns)),
        vals=sql.SQL(", ").join(sql.Placeholder() * len(columns)),
        set=sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c))
                               for c in (*columns, "synced_at") if c not in ("cluster_uid", "uid")),
    )


def main(argv=None) -> int:
    parser = child_arguments("row-by-row baseline")
    parser.add_argument("--kinds", default="pods", help="comma-separated kinds (default pods; 'all' for the job's)")
    parser.add_argument("--max-rows", type=int, default=0,
                        help="upsert at most this many rows per kind and extrapolate the write time linearly "
                             "(0: all). The listing is always complete.")
    args = parser.parse_args(argv)

    api, cluster_uid = api_and_cluster(args.kubeconfig, args.partition, args.url)
    kinds = {}
    with psycopg.connect(args.url, autocommit=True) as conn:
        conn.adapters.register_dumper(bytes, Utf8TextDumper)  # raw is UTF-8 JSON bytes, sent as text
        wanted = None if args.kinds == "all" else {k.strip() for k in args.kinds.split(",")}
        for kind in job_kinds(args.kubeconfig):
            if wanted is not None and not ({kind.plural, kind.table, kind.resource} & wanted):
                continue
            t0 = time.perf_counter()
            listing = list_kind(api, kind, cluster_uid, args.partition, progress=lambda _m: None)
            t1 = time.perf_counter()
            statement = upsert_statement(kind)
            columns = listing.columns
            cur = conn.cursor()
            written = 0
            for row in zip(*(columns[c] for c in kind.row_columns)):
                if args.max_rows and written >= args.max_rows:
                    break
                cur.execute(statement, row)
                written += 1
            upsert_seconds = time.perf_counter() - t1
            deleted = cur.execute(
                sql.SQL("DELETE FROM {} WHERE cluster_uid = %s AND NOT (uid = ANY (%s::uuid[]))").format(
                    sql.Identifier(kind.table)), (cluster_uid, columns["uid"])).rowcount
            delete_seconds = time.perf_counter() - t1 - upsert_seconds
            scale = listing.count / written if written else 1.0
            kinds[kind.table] = {"listed": listing.count, "written": written, "list_seconds": t1 - t0,
                                 "write_seconds": upsert_seconds * scale + delete_seconds,
                                 "extrapolated": written < listing.count, "deleted": deleted}
    # With --max-rows, the time is the measured listing plus the extrapolated writes.
    seconds = sum(k["list_seconds"] + k["write_seconds"] for k in kinds.values())
    Path(args.out).write_text(json.dumps({"success": True, "job_seconds": seconds, "kinds": kinds}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
