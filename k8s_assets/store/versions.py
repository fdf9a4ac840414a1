"""Versions: each kind's history as a temporal table, written by the merge in its own transaction
from what it already knows (new, changed and stale uids).

The current row *is* the open version (``valid_from``, ``began``); ``k8s_<kind>_history`` holds
only versions that ended. A new object's row begins a version; a changed one's stored row moves
into the history ('updated') before the new row is written; a stale one's row moves there when it
is deleted ('deleted'); an object whose change touched only its kind's ignored paths keeps its
version's start. See sql/011_temporal_history.sql and docs/history.md.
"""

from __future__ import annotations

import json

import psycopg
from psycopg import sql

from k8s_assets.catalog.types import Kind
from k8s_assets.store.database import Connect, column_list, sql_template, sql_text

def history_table(kind: Kind) -> str:
    return f"{kind.table}_history"


def ignored_paths_param(kind: Kind) -> str | None:
    """The kind's ignored paths as the JSON the SQL takes; metadata.resourceVersion always differs."""
    if not kind.ignored_paths:
        return None
    return json.dumps([["metadata", "resourceVersion"], *(list(p) for p in kind.ignored_paths)])


def ensure_history_partitions(conn: psycopg.Connection, kind: Kind) -> None:
    """Day partitions for versions ending today and the coming week, before (never inside) a merge:
    creating a partition locks the parent table, which inside the merge could deadlock with the
    merge of another cluster."""
    with conn.transaction():
        conn.execute(sql_text("history/ensure_partitions.sql"), {"history_table": history_table(kind)})


# Columns the database sets on every kind table with a history: when the row's version began, and how.
VERSION_COLUMNS = ("valid_from", "began")


def classify_staged(cur, kind: Kind, table: sql.Identifier, cluster_uid: str) -> int:
    """Classify the staged rows (created, updated, moved) under the merge's lock, before they are
    upserted; returns how many only moved (changed at ignored paths)."""
    cur.execute(sql_template("history/classify_staged.sql", table=table),
                {"cluster_uid": cluster_uid, "ignored_paths": ignored_paths_param(kind)})
    return cur.execute(sql_text("history/classified.sql")).fetchone()[0]


def end_updated_versions(cur, table: sql.Identifier, history: sql.Identifier, columns: tuple[str, ...],
                         cluster_uid: str) -> int:
    """Move the stored rows of updated objects into the history, before the upsert overwrites them."""
    return cur.execute(sql_template(
        "history/end_updated.sql", table=table, history=history,
        columns=column_list(columns), stored_columns=column_list(columns, "t"),
    ), {"cluster_uid": cluster_uid}).rowcount


def stored_versions(connect: Connect, kind: Kind, cluster_uid: str) -> dict[str, str]:
    """uid -> resourceVersion of a cluster's stored rows of a kind, for ``list_kind(known_versions=...)``.

    Read before listing, so that objects still at their stored version are neither
    serialized nor sent again; the merge re-checks every version under its lock.
    """
    with connect() as conn:
        return dict(conn.execute(sql_template("merge/stored_versions.sql", table=sql.Identifier(kind.table)),
                                 {"cluster_uid": cluster_uid}).fetchall())
