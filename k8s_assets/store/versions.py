"""Versions: each kind's history, written by the merge in its own transaction from what it already
knows (new, changed and stale uids). A new object opens a version, a changed one closes its open
version ('updated') and opens the next, a stale one closes it ('deleted'); an object whose change
touched only its kind's ignored paths moves its open version forward. See sql/007_history.sql and
docs/history.md.
"""

from __future__ import annotations

import json

import psycopg
from psycopg import sql

from k8s_assets.catalog.types import Kind
from k8s_assets.store.database import Connect, sql_template, sql_text

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


def write_versions(cur, kind: Kind, table: sql.Identifier, history: sql.Identifier, column_list: sql.Composable,
                    staged_list: sql.Composable, cluster_uid: str) -> dict:
    """Versions of the staged (new or changed) rows, under the merge's lock, before they are upserted."""
    params = {"cluster_uid": cluster_uid}
    cur.execute(sql_template("history/classify_staged.sql", table=table),
                {**params, "ignored_paths": ignored_paths_param(kind)})
    closed = cur.execute(sql_template("history/close_updated.sql", history=history), params).rowcount
    moved = cur.execute(sql_template("history/move_forward.sql", history=history, columns=column_list,
                                     staged_columns=staged_list), params).rowcount
    opened = cur.execute(sql_template("history/open_staged.sql", history=history, columns=column_list,
                                      staged_columns=staged_list), params).rowcount
    return {"versions_opened": opened, "versions_closed": closed, "versions_moved_forward": moved}


def stored_versions(connect: Connect, kind: Kind, cluster_uid: str) -> dict[str, str]:
    """uid -> resourceVersion of a cluster's stored rows of a kind, for ``list_kind(known_versions=...)``.

    Read before listing, so that objects still at their stored version are neither
    serialized nor sent again; the merge re-checks every version under its lock.
    """
    with connect() as conn:
        return dict(conn.execute(sql_template("merge/stored_versions.sql", table=sql.Identifier(kind.table)),
                                 {"cluster_uid": cluster_uid}).fetchall())
