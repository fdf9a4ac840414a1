"""The merge: one kind's listing of one cluster into its table, in one transaction.

Under an advisory lock per (table, cluster), a cluster's first sync of a kind is COPYed straight
into its table; later syncs COPY only (uid, resourceVersion) of what was listed, then only the new
or changed objects in full, upsert them and delete the cluster's rows the complete listing no
longer has. Unchanged rows are neither sent nor rewritten (they keep their xmin). Each object is
written once: the row is its open version, and only a version that ends moves into the history
(``versions``). Coverage (``coverage``) and rejections are written in the same transaction; a
forbidden or unserved listing changes no row and records only its coverage; any database error
rolls everything back.
"""

from __future__ import annotations

import pandas as pd
from psycopg import sql

from k8s_assets.catalog.types import Kind, safe_text
from k8s_assets.store.contract import KindListing, MergeResult
from k8s_assets.store.copy import MAX_REJECTED, Rejection, RefusedRows, copy_frame
from k8s_assets.store.coverage import record_coverage
from k8s_assets.store.database import Connect, sql_template, sql_text
from k8s_assets.store.versions import (VERSION_COLUMNS, classify_staged, end_updated_versions,
                                       ensure_history_partitions, history_table)


def merge(connect: Connect, listing: KindListing, keep_history: bool = True) -> MergeResult:
    """Merge one listing (its versions, coverage and rejections with it) and say what it did.

    ``keep_history=False`` exists for the benchmark that measures what versions cost.
    """
    kind, frame, set_aside, cluster_uid = listing.kind, listing.rows, listing.set_aside, listing.cluster_uid
    if not cluster_uid:
        raise ValueError(f"{kind.table}: the listing names no cluster")
    if len(set_aside) > MAX_REJECTED:
        raise RefusedRows(f"{kind.table}: more than {MAX_REJECTED} objects cannot be read (a systematic problem, "
                          f"not a few odd objects); the first: {set_aside[0]['error']}")
    complete = listing.status == "complete"
    counts: dict = {}
    versions: dict = {}
    rejected: list[dict] = []
    table = sql.Identifier(kind.table)
    history = sql.Identifier(history_table(kind)) if keep_history else None
    with connect() as conn:
        if complete and keep_history:
            ensure_history_partitions(conn, kind)
        with conn.transaction():
            cur = conn.cursor()
            cur.execute(sql_text("merge/lock.sql"), {"table": kind.table, "cluster_uid": cluster_uid})
            if complete:
                counts, versions, refused = _merge_complete(cur, kind, table, history, frame, cluster_uid,
                                                            set_aside)
                rejected = distinct_rejection_keys([*map(bounded, set_aside), *rejected_objects(frame, refused)])
                record_rejections(cur, kind, cluster_uid, listing.context_name, rejected)
            previous = record_coverage(cur, kind, cluster_uid, listing.context_name, listing.status,
                                       listing.listed if complete else None, listing.resource_version,
                                       listing.message or None)
            if kind.after_merge and complete:
                cur.execute(sql_text(f"after_merge/{kind.after_merge}"), {"cluster_uid": cluster_uid})
            stored = cur.execute(
                sql_template("merge/cluster_row_count.sql", table=table), {"cluster_uid": cluster_uid}
            ).fetchone()[0]
            history_rows = 0
            if history is not None:
                history_rows = cur.execute(sql_text("history/estimated_rows.sql"),
                                           {"history_table": history_table(kind)}).fetchone()[0]
    return MergeResult(previous_status=previous or "", stored=stored, rejected=rejected,
                       history_rows_estimate=history_rows, **counts, **versions)


def bounded(rejection: dict) -> dict:
    """A set-aside object's fields as k8s_rejected_objects can hold them (no NUL, bounded)."""
    return {key: safe_text(value) for key, value in rejection.items()}


def rejected_objects(frame: pd.DataFrame, refused: list[Rejection]) -> list[dict]:
    """Who the refused rows were, for k8s_rejected_objects and the asset's metadata."""
    rows = []
    for rejection in refused:
        row = frame.iloc[rejection.position]
        # Bounded: k8s_rejected_objects' key cannot hold a 200 KB uid, nor text a NUL.
        rows.append({"uid": safe_text(str(row["uid"])), "namespace": safe_text(row.get("namespace")),
                     "name": safe_text(row["name"]), "resource_version": safe_text(row["resource_version"]),
                     "error": safe_text(rejection.error)})
    return rows


def distinct_rejection_keys(rejected: list[dict]) -> list[dict]:
    """The rejections with a uid each of its own: two refused objects may share a malformed uid (or
    none), and each must keep its row in k8s_rejected_objects for the listing's count to balance."""
    seen: set[str] = set()
    distinct = []
    for rejection in rejected:
        uid = rejection["uid"]
        number = 1
        while uid in seen:
            number += 1
            uid = f"{rejection['uid']} (#{number})"
        seen.add(uid)
        distinct.append(rejection if uid == rejection["uid"] else {**rejection, "uid": uid})
    return distinct


def record_rejections(cur, kind: Kind, cluster_uid: str, context_name: str, rejected: list[dict]) -> None:
    """Replace the kind's recorded rejections with this listing's (first_rejected_at is kept)."""
    cur.execute(sql_text("merge/forget_rejections.sql"),
                {"cluster_uid": cluster_uid, "kind": kind.table, "uids": [r["uid"] for r in rejected]})
    if rejected:
        cur.executemany(sql_text("merge/record_rejection.sql"),
                        [{**r, "cluster_uid": cluster_uid, "kind": kind.table, "context_name": context_name}
                         for r in rejected])


def _merge_complete(cur, kind: Kind, table: sql.Identifier, history: sql.Identifier | None, frame: pd.DataFrame,
                    cluster_uid: str, set_aside: list[dict] = ()) -> tuple[dict, dict, list[Rejection]]:
    """Counts of the merge and of the versions, and the rows (positions in ``frame``) the database refused."""
    columns = kind.row_columns
    typed = {c.name: c.sql_type for c in kind.columns}
    stored_columns = (*columns, "synced_at")
    column_list = sql.SQL(", ").join(map(sql.Identifier, stored_columns))
    staged_list = sql.SQL(", ").join(sql.SQL("s.{}").format(sql.Identifier(c)) for c in stored_columns)
    versions = {"versions_opened": 0, "versions_closed": 0, "versions_moved_forward": 0}
    listed = len(frame)
    has_rows = cur.execute(sql_template("merge/cluster_has_rows.sql", table=table),
                           {"cluster_uid": cluster_uid}).fetchone()[0]
    key_only = frame["raw"].isna() if "raw" in frame.columns else None
    if not has_rows:
        if key_only is not None and key_only.any():
            # Key-only rows came from versions read before this lock; the rows are gone now.
            raise ValueError(f"{kind.table}: the listing relied on stored versions, but the cluster has no "
                             "rows any more (deleted concurrently); list again")
        # Each row is its own open version (valid_from and began 'first_seen' are the table's
        # defaults): a first sync writes every object once.
        copied = copy_frame(cur, kind.table, frame, columns, typed)
        refused, nulled = copied.rejected, copied.nulled
        if history is not None:
            versions["versions_opened"] = listed - len(refused)
        return (dict(inserted=listed - len(refused), unfit_columns=len(nulled), first_unfit=copied.first_nulled),
                versions, refused)

    cur.execute(sql_text("merge/create_stage_keys.sql"))
    # A refused key (a malformed uid) leaves its object out of the listing's keys; no stored
    # row can have that uid, so nothing is deleted for it.
    refused = copy_frame(cur, "k8s_stage_keys", frame, ("uid", "resource_version")).rejected
    nulled: list[int] = []
    first_nulled = None
    if set_aside:
        # An object set aside keeps its key staged, so a stored older version of it stays (as a
        # refused row's does); a key the database refuses (a malformed uid) matches no stored row.
        copy_frame(cur, "k8s_stage_keys", pd.DataFrame(
            [(r["uid"], r["resource_version"]) for r in set_aside if r["resource_version"] is not None],
            columns=["uid", "resource_version"], dtype=object), ("uid", "resource_version"))
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
        copied = copy_frame(cur, "k8s_stage_rows", sent, columns, typed)
        refused += [Rejection(int(frame.index.get_loc(sent.index[r.position])), r.error) for r in copied.rejected]
        nulled, first_nulled = copied.nulled, copied.first_nulled
        moved = classify_staged(cur, kind, table, cluster_uid)
        if history is not None:
            # Before the upsert: the stored rows are still the previous versions here.
            versions["versions_closed"] = end_updated_versions(cur, table, history,
                                                               (*stored_columns, *VERSION_COLUMNS), cluster_uid)
        assignments = sql.SQL(", ").join(
            sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c))
            for c in (*stored_columns, *VERSION_COLUMNS) if c not in ("cluster_uid", "uid")
        )
        inserted, updated = cur.execute(sql_template(
            "merge/upsert_staged_rows.sql", table=table, columns=column_list, staged_columns=staged_list,
            assignments=assignments,
        )).fetchone()
        if history is not None:
            versions["versions_opened"] = inserted + updated - moved
            versions["versions_moved_forward"] = moved
    if history is not None:
        deleted, closed = cur.execute(sql_template(
            "history/delete_stale.sql", table=table, history=history,
            columns=sql.SQL(", ").join(map(sql.Identifier, (*stored_columns, *VERSION_COLUMNS)))),
            {"cluster_uid": cluster_uid}).fetchone()
        versions["versions_closed"] += closed
    else:
        deleted = cur.execute(sql_template("merge/delete_stale.sql", table=table),
                              {"cluster_uid": cluster_uid}).rowcount
    counts = dict(inserted=inserted, updated=updated, deleted=deleted,
                  unchanged=listed - inserted - updated - len(refused), unfit_columns=len(nulled),
                  first_unfit=first_nulled, left_to_other_writer=stale_hints)
    return counts, versions, refused