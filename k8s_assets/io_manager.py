"""The IO manager: merges each asset's DataFrame into its table, for its partition's cluster.

One transaction per (asset, partition), under an advisory lock per (table, cluster):

1. If the cluster has no rows yet, COPY the frame straight into the table.
2. Otherwise COPY only (uid, resourceVersion) of every listed object into a staging table,
   ask which are new or changed, COPY just those rows in full, upsert them, and delete the
   cluster's rows the listing no longer contains. Unchanged objects are neither sent nor
   rewritten (their rows keep their xmin).
3. Record what the listing saw in k8s_sync_coverage and run the kind's after-merge SQL.

A listing that was forbidden or not served merges nothing and deletes nothing; a failed
listing never reaches here (its asset raised). Any database error rolls everything back.
"""


import time
from dataclasses import dataclass
from collections.abc import Iterable, Sequence
from typing import Any

import dagster as dg
import pandas as pd
import psycopg
from psycopg import sql
from psycopg.adapt import Dumper
from psycopg.pq import Format

from k8s_assets.catalog import KINDS_BY_TABLE, Kind
from k8s_assets.database import sql_template, sql_text
from k8s_assets.extraction import frame_columns
from k8s_assets.failures import fail_fast_unless_transient
from k8s_assets.resources import PostgresResource

TABLE_KEY = "k8s_assets/table"
CLUSTERS_TABLE = "k8s_clusters"

# Output metadata an asset attaches to its Output for the IO manager (and the UI).
LISTING_STATUS = "listing_status"  # complete | forbidden | not_served
LISTED = "listed"
CLUSTER_UID = "cluster_uid"
LISTING_MESSAGE = "listing_message"
RESOURCE_VERSION = "resource_version"


def _plain(value: Any) -> Any:
    return getattr(value, "value", value)


def column_values(series: pd.Series) -> list:
    """Python values for COPY: NaN and NA become None (frames built by hand may carry them)."""
    if series.dtype == object:
        return series.tolist()
    return series.astype(object).where(series.notna(), None).tolist()


class Utf8TextDumper(Dumper):
    """Sends bytes as the text they already are (``raw`` holds UTF-8 JSON from orjson)."""

    format = Format.TEXT

    def dump(self, obj):
        return obj


# Errors about the values of one row: that object is set aside and the rest of the kind is
# written. Anything else (a missing cluster row, a lost connection) fails the whole merge.
REFUSED_ROW_ERRORS = (psycopg.errors.DataError, psycopg.errors.NotNullViolation, psycopg.errors.CheckViolation)
# More refused objects than this is no longer a few hostile objects but a systematic problem
# (a bug, a schema out of date): fail the merge and say so instead of setting the kind aside.
MAX_REJECTED = 100
MAX_EXAMPLES = 5


class RefusedRows(ValueError):
    """The database refused too many rows of one kind for them to be set aside one by one."""


@dataclass(frozen=True)
class Rejection:
    position: int  # of the row in the frame given to copy_frame
    error: str


def copy_frame(cur, target: str, frame: pd.DataFrame, columns: Sequence[str]) -> list[Rejection]:
    """COPY a frame's rows into ``target``; rows the database refuses are set aside and returned.

    The whole frame goes in one COPY. Only if PostgreSQL refuses a value is the frame split in
    halves, each COPY under its own savepoint, down to the refused rows: one bad object costs
    about two more passes over its kind, and never blocks the others.
    """
    # Only this cursor's COPY takes bytes as text; psycopg still escapes them for COPY.
    cur.adapters.register_dumper(bytes, Utf8TextDumper)
    statement = sql_template(
        "merge/copy_rows.sql",
        target=sql.Identifier(target),
        columns=sql.SQL(", ").join(map(sql.Identifier, columns)),
    )
    rows = zip(*(column_values(frame[c]) for c in columns))
    try:
        with cur.connection.transaction():
            _copy_rows(cur, statement, rows)
        return []
    except REFUSED_ROW_ERRORS:
        pass
    rows = list(zip(*(column_values(frame[c]) for c in columns)))
    rejected: list[Rejection] = []
    pending = [(0, len(rows))]
    while pending:
        start, stop = pending.pop()
        try:
            with cur.connection.transaction():
                _copy_rows(cur, statement, rows[start:stop])
        except REFUSED_ROW_ERRORS as e:
            if stop - start > 1:
                middle = (start + stop) // 2
                pending += [(middle, stop), (start, middle)]
                continue
            rejected.append(Rejection(start, refusal(e)))
            if len(rejected) > MAX_REJECTED:
                raise RefusedRows(f"{target}: the database refused more than {MAX_REJECTED} rows; the first: "
                                   f"{rejected[0].error}") from e
    return rejected


def _copy_rows(cur, statement: sql.Composed, rows) -> None:
    with cur.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


def refusal(error: psycopg.Error) -> str:
    """What PostgreSQL said about a refused row, without the row itself (COPY's context quotes it)."""
    diag = error.diag
    text = diag.message_primary or str(error).splitlines()[0]
    if diag.sqlstate:
        text = f"{text} (SQLSTATE {diag.sqlstate})"
    return text[:500]


def record_coverage(cur, kind: Kind, cluster_uid: str, context_name: str, status: str,
                    listed_count: int | None, resource_version: str | None, message: str | None) -> str | None:
    """Upsert what the last listing of a kind saw; returns the status it replaced."""
    return cur.execute(
        sql_text("merge/record_coverage.sql"),
        {"cluster_uid": cluster_uid, "kind": kind.table, "context_name": context_name, "status": status,
         "listed_count": listed_count, "resource_version": resource_version or None, "message": message},
    ).fetchone()[0]


def record_failed_listing(postgres: PostgresResource, kind: Kind, cluster_uid: str, context_name: str,
                          message: str) -> None:
    """A failed listing changes no rows, but coverage must say that the last attempt failed."""
    with postgres.connect() as conn, conn.transaction():
        record_coverage(conn.cursor(), kind, cluster_uid, context_name, "failed", None, None, message[:2000])


def stored_versions(postgres: PostgresResource, kind: Kind, cluster_uid: str) -> dict[str, str]:
    """uid -> resourceVersion of a cluster's stored rows of a kind, for ``list_kind(known_versions=...)``.

    Read before listing, so that objects still at their stored version are neither
    serialized nor sent again; the merge re-checks every version under its lock.
    """
    with postgres.connect() as conn:
        return dict(conn.execute(sql_template("merge/stored_versions.sql", table=sql.Identifier(kind.table)),
                                 {"cluster_uid": cluster_uid}).fetchall())


def rejected_objects(frame: pd.DataFrame, refused: list[Rejection]) -> list[dict]:
    """Who the refused rows were, for k8s_rejected_objects and the asset's metadata."""
    rows = []
    for rejection in refused:
        row = frame.iloc[rejection.position]
        rows.append({"uid": str(row["uid"]), "namespace": row.get("namespace"), "name": row["name"],
                     "resource_version": row["resource_version"], "error": rejection.error})
    return rows


def record_rejections(cur, kind: Kind, cluster_uid: str, context_name: str, rejected: list[dict]) -> None:
    """Replace the kind's recorded rejections with this listing's (first_rejected_at is kept)."""
    cur.execute(sql_text("merge/forget_rejections.sql"),
                {"cluster_uid": cluster_uid, "kind": kind.table, "uids": [r["uid"] for r in rejected]})
    if rejected:
        cur.executemany(sql_text("merge/record_rejection.sql"),
                        [{**r, "cluster_uid": cluster_uid, "kind": kind.table, "context_name": context_name}
                         for r in rejected])


def rejection_table(rejected: list[dict]) -> str:
    lines = ["| namespace | name | uid | error |", "|---|---|---|---|"]
    lines += [f"| {r['namespace'] or ''} | {r['name']} | {r['uid']} | {r['error'].replace('|', '/')} |"
              for r in rejected]
    return "\n".join(lines)


class PostgresMergeIOManager(dg.ConfigurableIOManager):
    """Merges kind DataFrames into the FK-linked inventory schema; loads a partition's rows back."""

    postgres: dg.ResourceDependency[PostgresResource]

    # -- output -------------------------------------------------------------------------

    def handle_output(self, context: dg.OutputContext, obj: pd.DataFrame) -> None:
        table = (context.definition_metadata or {})[TABLE_KEY]
        started = time.monotonic()
        partition = context.partition_key if context.has_partition_key else ""
        with fail_fast_unless_transient(f"merging {table} of context {partition!r}"):
            if table == CLUSTERS_TABLE:
                metadata = self._write_cluster(obj)
            else:
                listing = {k: _plain(v) for k, v in (context.output_metadata or {}).items()}
                metadata = self.merge(KINDS_BY_TABLE[table], obj, listing)
        rejected = metadata.pop("rejected_objects", None)
        if rejected:
            context.log.warning(f"{table}: the database refused {len(rejected)} objects; they were set aside "
                                "(k8s_rejected_objects) and the rest merged:\n"
                                + "\n".join(f"  {r['namespace'] or ''}/{r['name']} ({r['uid']}): {r['error']}"
                                            for r in rejected[:MAX_EXAMPLES]))
            metadata["rejected_examples"] = dg.MetadataValue.md(rejection_table(rejected[:MAX_EXAMPLES]))
        metadata["merge_seconds"] = round(time.monotonic() - started, 3)
        context.add_output_metadata(metadata)

    def _write_cluster(self, frame: pd.DataFrame) -> dict:
        row = frame.iloc[0].to_dict()
        with self.postgres.connect() as conn, conn.transaction():
            inserted = conn.execute(sql_text("merge/upsert_cluster.sql"), row).fetchone()[0]
            conn.execute(sql_text("merge/upsert_cluster_context.sql"), row)
        return {
            "cluster_uid": str(row["cluster_uid"]),
            "identity_source": row["identity_source"],
            "new_cluster": bool(inserted),
            "dagster/row_count": 1,
        }

    def merge(self, kind: Kind, frame: pd.DataFrame, listing: dict) -> dict:
        """Merge one kind's frame for one cluster; returns the counts as output metadata."""
        status = listing.get(LISTING_STATUS, "complete")
        if status == "complete" and listing.get(LISTED, len(frame)) != len(frame):
            raise ValueError(f"{kind.table}: the frame holds {len(frame)} rows but the listing returned "
                             f"{listing[LISTED]}; refusing to merge (it would delete rows)")
        cluster_uid = listing.get(CLUSTER_UID) or (str(frame["cluster_uid"].iloc[0]) if len(frame) else None)
        if cluster_uid is None:
            raise ValueError(f"{kind.table}: no cluster_uid in the frame or the output metadata")
        context_name = (frame["context_name"].iloc[0] if len(frame) else listing.get("context_name")) or ""
        listed = len(frame)
        counts = {"inserted": 0, "updated": 0, "deleted": 0, "unchanged": 0}
        rejected: list[dict] = []
        table = sql.Identifier(kind.table)
        with self.postgres.connect() as conn, conn.transaction():
            cur = conn.cursor()
            cur.execute(sql_text("merge/lock.sql"), {"table": kind.table, "cluster_uid": cluster_uid})
            if status == "complete":
                counts, refused = self._merge_complete(cur, kind, table, frame, cluster_uid)
                rejected = rejected_objects(frame, refused)
                record_rejections(cur, kind, cluster_uid, context_name, rejected)
            previous = record_coverage(cur, kind, cluster_uid, context_name, status,
                                       listed if status == "complete" else None,
                                       listing.get(RESOURCE_VERSION), listing.get(LISTING_MESSAGE))
            if kind.after_merge and status == "complete":
                cur.execute(sql_text(f"after_merge/{kind.after_merge}"), {"cluster_uid": cluster_uid})
            stored = cur.execute(
                sql_template("merge/cluster_row_count.sql", table=table), {"cluster_uid": cluster_uid}
            ).fetchone()[0]
        # Keys the asset already attached (status, listed, ...) are not repeated here.
        return {"table": kind.table, "previous_listing_status": previous or "", **counts,
                "rejected": len(rejected), "rejected_objects": rejected, "dagster/row_count": stored}

    def _merge_complete(self, cur, kind: Kind, table: sql.Identifier, frame: pd.DataFrame,
                        cluster_uid: str) -> tuple[dict, list[Rejection]]:
        """Counts of the merge, and the rows (positions in ``frame``) the database refused."""
        columns = frame_columns(kind)
        listed = len(frame)
        has_rows = cur.execute(sql_template("merge/cluster_has_rows.sql", table=table),
                               {"cluster_uid": cluster_uid}).fetchone()[0]
        key_only = frame["raw"].isna() if "raw" in frame.columns else None
        if not has_rows:
            if key_only is not None and key_only.any():
                # Key-only rows came from versions read before this lock; the rows are gone now.
                raise ValueError(f"{kind.table}: the listing relied on stored versions, but the cluster has no "
                                 "rows any more (deleted concurrently); list again")
            refused = copy_frame(cur, kind.table, frame, columns)
            return {"inserted": listed - len(refused), "updated": 0, "deleted": 0, "unchanged": 0}, refused

        cur.execute(sql_text("merge/create_stage_keys.sql"))
        # A refused key (a malformed uid) leaves its object out of the listing's keys; no stored
        # row can have that uid, so nothing is deleted for it.
        refused = copy_frame(cur, "k8s_stage_keys", frame, ("uid", "resource_version"))
        changed = {str(uid) for (uid,) in cur.execute(sql_template("merge/changed_uids.sql", table=table),
                                                       {"cluster_uid": cluster_uid})}
        inserted = updated = 0
        send = frame["uid"].isin(changed) if changed else None
        stale_hints = 0
        if send is not None and key_only is not None:
            # A key-only row the database now calls changed: another writer of this cluster
            # changed or deleted the row after the listing read its version. Leave that
            # writer's row as it is; the next sync lists the object again.
            stale_hints = int((send & key_only).sum())
            send &= ~key_only
        if send is not None and send.any():
            cur.execute(sql_template("merge/create_stage_rows.sql", table=table))
            sent = frame[send]
            # A refused row keeps its key staged, so a stored older version of it stays.
            refused += [Rejection(int(frame.index.get_loc(sent.index[r.position])), r.error)
                        for r in copy_frame(cur, "k8s_stage_rows", sent, columns)]
            assignments = sql.SQL(", ").join(
                sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c))
                for c in (*columns, "synced_at") if c not in ("cluster_uid", "uid")
            )
            inserted, updated = cur.execute(sql_template(
                "merge/upsert_staged_rows.sql", table=table,
                columns=sql.SQL(", ").join(map(sql.Identifier, (*columns, "synced_at"))),
                assignments=assignments,
            )).fetchone()
        deleted = cur.execute(sql_template("merge/delete_stale.sql", table=table),
                              {"cluster_uid": cluster_uid}).rowcount
        counts = {"inserted": inserted, "updated": updated, "deleted": deleted,
                  "unchanged": listed - inserted - updated - len(refused)}
        if stale_hints:
            counts["left_to_other_writer"] = stale_hints
        return counts, refused

    # -- input --------------------------------------------------------------------------

    def load_input(self, context: dg.InputContext) -> pd.DataFrame:
        table = (context.upstream_output.definition_metadata or {})[TABLE_KEY]
        contexts = list(context.asset_partition_keys) if context.has_asset_partitions else []
        return self.load_rows(table, contexts)

    def load_rows(self, table: str, contexts: Iterable[str]) -> pd.DataFrame:
        if table == CLUSTERS_TABLE:
            statement = sql.SQL(sql_text("merge/load_clusters.sql"))
        else:
            statement = sql_template("merge/load_partition_rows.sql", table=sql.Identifier(table))
        with self.postgres.connect() as conn:
            cur = conn.execute(statement, {"contexts": list(contexts)})
            names = [d.name for d in cur.description]
            return pd.DataFrame(cur.fetchall(), columns=names, dtype=object)
