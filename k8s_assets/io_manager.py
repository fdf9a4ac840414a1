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
from collections.abc import Iterable, Sequence
from typing import Any

import dagster as dg
import pandas as pd
from psycopg import sql
from psycopg.adapt import Dumper
from psycopg.pq import Format

from k8s_assets.catalog import KINDS_BY_TABLE, Kind
from k8s_assets.database import sql_template, sql_text
from k8s_assets.extraction import frame_columns
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


def copy_frame(cur, target: str, frame: pd.DataFrame, columns: Sequence[str]) -> None:
    # Only this cursor's COPY takes bytes as text; psycopg still escapes them for COPY.
    cur.adapters.register_dumper(bytes, Utf8TextDumper)
    statement = sql_template(
        "merge/copy_rows.sql",
        target=sql.Identifier(target),
        columns=sql.SQL(", ").join(map(sql.Identifier, columns)),
    )
    with cur.copy(statement) as copy:
        for row in zip(*(column_values(frame[c]) for c in columns)):
            copy.write_row(row)


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


class PostgresMergeIOManager(dg.ConfigurableIOManager):
    """Merges kind DataFrames into the FK-linked inventory schema; loads a partition's rows back."""

    postgres: dg.ResourceDependency[PostgresResource]

    # -- output -------------------------------------------------------------------------

    def handle_output(self, context: dg.OutputContext, obj: pd.DataFrame) -> None:
        table = (context.definition_metadata or {})[TABLE_KEY]
        started = time.monotonic()
        if table == CLUSTERS_TABLE:
            metadata = self._write_cluster(obj)
        else:
            listing = {k: _plain(v) for k, v in (context.output_metadata or {}).items()}
            metadata = self.merge(KINDS_BY_TABLE[table], obj, listing)
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
        table = sql.Identifier(kind.table)
        with self.postgres.connect() as conn, conn.transaction():
            cur = conn.cursor()
            cur.execute(sql_text("merge/lock.sql"), {"table": kind.table, "cluster_uid": cluster_uid})
            if status == "complete":
                counts = self._merge_complete(cur, kind, table, frame, cluster_uid)
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
                "dagster/row_count": stored}

    def _merge_complete(self, cur, kind: Kind, table: sql.Identifier, frame: pd.DataFrame, cluster_uid: str) -> dict:
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
            copy_frame(cur, kind.table, frame, columns)
            return {"inserted": listed, "updated": 0, "deleted": 0, "unchanged": 0}

        cur.execute(sql_text("merge/create_stage_keys.sql"))
        copy_frame(cur, "k8s_stage_keys", frame, ("uid", "resource_version"))
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
            copy_frame(cur, "k8s_stage_rows", frame[send], columns)
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
                  "unchanged": listed - inserted - updated}
        if stale_hints:
            counts["left_to_other_writer"] = stale_hints
        return counts

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
