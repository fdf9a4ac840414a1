"""The merge: one kind's listing of one cluster into its table, in one transaction.

A merge is staged as the listing's pages arrive, a bounded chunk of rows at a time, so memory
holds a page, not a kind (:class:`StagedMerge`, which ``sync_kind`` feeds while it lists and the
IO manager finishes); :func:`merge` does the same with rows already in hand. Under an advisory
lock per (table, cluster), taken before the first page:

* a cluster's first sync of a kind COPYs each chunk straight into its table;
* later syncs COPY each chunk's (uid, resourceVersion) and its new or changed objects in full
  into staging tables (an object listed at its stored version arrives as a key only), and at
  the end upsert the changed ones and delete the cluster's rows the complete listing no longer
  has. Unchanged rows are neither sent nor rewritten (they keep their xmin).

A chunk is written by a thread of the merge's own while the listing decodes the next one
(:class:`StagedMerge`): PostgreSQL parses and stores chunk n while Python decodes chunk n+1. At
most one chunk is in flight; its error is raised by the next ``add`` or by ``finish``.

Each object is written once: the row is its open version, and only a version that ends moves
into the history (``versions``). Coverage (``coverage``) and rejections are written in the same
transaction, committed only when the listing is complete: a listing that fails halfway, a
forbidden or unserved one, or any database error changes no row (a 410 relist discards what was
staged and starts again under the same lock).
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack

import pandas as pd
from psycopg import sql

from k8s_assets.catalog.types import Kind, safe_text
from k8s_assets.store.contract import KindListing, MergeResult
from k8s_assets.store.copy import MAX_REJECTED, Rejection, RefusedRows, copy_frame
from k8s_assets.store.coverage import record_coverage
from k8s_assets.store.database import Connect, column_list, sql_template, sql_text
from k8s_assets.store.versions import (VERSION_COLUMNS, classify_staged, end_updated_versions,
                                       ensure_history_partitions, history_table)


def merge(connect: Connect, listing: KindListing, keep_history: bool = True) -> MergeResult:
    """Merge one listing (its versions, coverage and rejections with it) and say what it did.

    A listing made by ``sync_kind`` was staged while it was listed (``listing.staged``); one
    with its rows in hand (tests, shared tables, benchmarks) is staged here, in one chunk.
    ``keep_history=False`` exists for the benchmark that measures what versions cost.
    """
    staged = listing.staged
    if staged is None:
        staged = StagedMerge(connect, listing.kind, listing.cluster_uid, listing.context_name, keep_history)
        try:
            if listing.status == "complete":
                staged.add(listing.rows)
        except BaseException:
            staged.abort()
            raise
    return staged.finish(listing)


class StagedMerge:
    """One kind's merge, staged chunk by chunk while the listing runs, applied by ``finish``.

    Holds a connection, its transaction and the kind's advisory lock for the cluster from
    construction to ``finish`` or ``abort`` (one of them always ends it: ``sync_kind`` and the
    step make sure). ``add`` takes a chunk of rows (the listing's DataFrame contract, per chunk);
    ``restart`` discards what was staged (the listing relists after a 410).
    """

    def __init__(self, connect: Connect, kind: Kind, cluster_uid: str, context_name: str,
                 keep_history: bool = True):
        if not cluster_uid:
            raise ValueError(f"{kind.table}: the listing names no cluster")
        self.kind, self.cluster_uid, self.context_name = kind, cluster_uid, context_name
        self.table = sql.Identifier(kind.table)
        self.history = sql.Identifier(history_table(kind)) if keep_history else None
        self.stored_columns = (*kind.row_columns, "synced_at")
        self.typed = {c.name: c.sql_type for c in kind.columns}
        self.finished = False
        self._stack = ExitStack()
        try:
            conn = self._stack.enter_context(connect())
            if keep_history:
                ensure_history_partitions(conn, kind)
            self._stack.enter_context(conn.transaction())
            self.cur = conn.cursor()
            self.cur.execute(sql_text("merge/lock.sql"), {"table": kind.table, "cluster_uid": cluster_uid})
            self.first_sync = not self.cur.execute(sql_template("merge/cluster_has_rows.sql", table=self.table),
                                                   {"cluster_uid": cluster_uid}).fetchone()[0]
            if not self.first_sync:
                self.cur.execute(sql_text("merge/create_stage_keys.sql"))
                self.cur.execute(sql_template("merge/create_stage_rows.sql", table=self.table))
            self.cur.execute("SAVEPOINT listing")
        except BaseException:
            self._stack.close()
            raise
        self._reset_counts()

        # One thread writes the chunks, one at a time, on this merge's connection; the
        # listing's thread touches the connection again only after waiting for it.
        self._writer: ThreadPoolExecutor | None = None
        self._writing: Future | None = None

    def _reset_counts(self) -> None:
        self.rows = 0  # rows added (objects listed, less those set aside by the listing)
        self.refused: list[dict] = []  # rows the database refused, as k8s_rejected_objects rows
        self.nulled = 0
        self.first_nulled: str | None = None

    # -- while listing ----------------------------------------------------------------------

    def add(self, frame: pd.DataFrame) -> None:
        """Stage one chunk of rows (in the first sync: write them), in the writer thread.

        Waits for the chunk before it (raising its error: a refused-rows limit, a database
        error), so that at most one chunk is being written while the caller decodes the next.
        """
        if not len(frame):
            return
        self._wait_for_writer()
        self.rows += len(frame)
        if self._writer is None:
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"merge-{self.kind.table}")
        self._writing = self._writer.submit(self._write, frame)

    def _wait_for_writer(self) -> None:
        writing, self._writing = self._writing, None
        if writing is not None:
            writing.result()

    def _stop_writer(self) -> None:
        """Wait for the chunk being written, whatever became of it, and end the thread."""
        try:
            self._wait_for_writer()
        except BaseException:
            pass  # the caller is discarding what was staged, or already failing for a reason of its own
        if self._writer is not None:
            self._writer.shutdown()
            self._writer = None

    def _write(self, frame: pd.DataFrame) -> None:
        """COPY one chunk (the writer thread): into the table on a first sync, else its keys and
        its new or changed rows into the staging tables; note the rows the database refused."""
        key_only = frame["raw"].isna() if "raw" in frame.columns else pd.Series(False, index=frame.index)
        columns = self.kind.row_columns
        if self.first_sync:
            if key_only.any():
                # Key-only rows came from versions read before this lock; the rows are gone now.
                raise ValueError(f"{self.kind.table}: the listing relied on stored versions, but the cluster has "
                                 "no rows any more (deleted concurrently); list again")
            copied = copy_frame(self.cur, self.kind.table, frame, columns, self.typed)
            refused = copied.rejected
        else:
            # A refused key (a malformed uid) leaves its object out of the listing's keys; no
            # stored row can have that uid, so nothing is deleted for it, and its row is not sent.
            send = ~key_only
            keys = pd.DataFrame({"uid": frame["uid"], "resource_version": frame["resource_version"],
                                 "sent": send}, dtype=object)
            refused = copy_frame(self.cur, "k8s_stage_keys", keys, ("uid", "resource_version", "sent")).rejected
            if refused:
                send.iloc[[r.position for r in refused]] = False
            sent = frame[send]
            copied = copy_frame(self.cur, "k8s_stage_rows", sent, columns, self.typed)
            # A refused row keeps its key staged, so a stored older version of it stays.
            refused = refused + [Rejection(int(frame.index.get_loc(sent.index[r.position])), r.error)
                                 for r in copied.rejected]
        self.refused += rejected_objects(frame, refused)
        self.nulled += len(copied.nulled)
        self.first_nulled = self.first_nulled or copied.first_nulled
        if len(self.refused) > MAX_REJECTED:
            raise RefusedRows(f"{self.kind.table}: the database refused more than {MAX_REJECTED} rows; the first: "
                              f"{self.refused[0]['error']}")

    def restart(self) -> None:
        """The listing starts again (a 410 relist): what it staged so far is discarded."""
        self._stop_writer()
        self.cur.execute("ROLLBACK TO SAVEPOINT listing")
        self._reset_counts()

    # -- the end ----------------------------------------------------------------------------

    def finish(self, listing: KindListing) -> MergeResult:
        """Apply what was staged for a complete listing (or only record the coverage of one
        that saw nothing), commit, and say what the merge did."""
        kind, cur, cluster_uid = self.kind, self.cur, self.cluster_uid
        try:
            self._wait_for_writer()  # the last chunk's error, if it had one
            self._stop_writer()
            set_aside = listing.set_aside
            if len(set_aside) > MAX_REJECTED:
                raise RefusedRows(f"{kind.table}: more than {MAX_REJECTED} objects cannot be read (a systematic "
                                  f"problem, not a few odd objects); the first: {set_aside[0]['error']}")
            complete = listing.status == "complete"
            counts: dict = {}
            versions = {"versions_opened": 0, "versions_closed": 0, "versions_moved_forward": 0}
            rejected: list[dict] = []
            if complete:
                counts = self._apply(set_aside, versions)
                rejected = distinct_rejection_keys([*map(bounded, set_aside), *self.refused])
                record_rejections(cur, kind, cluster_uid, self.context_name, rejected)
            previous = record_coverage(cur, kind, cluster_uid, self.context_name, listing.status,
                                       self.rows + len(set_aside) if complete else None, listing.resource_version,
                                       listing.message or None)
            if kind.after_merge and complete:
                cur.execute(sql_text(f"after_merge/{kind.after_merge}"), {"cluster_uid": cluster_uid})
            stored = cur.execute(sql_template("merge/cluster_row_count.sql", table=self.table),
                                 {"cluster_uid": cluster_uid}).fetchone()[0]
            history_rows = 0
            if self.history is not None:
                history_rows = cur.execute(sql_text("history/estimated_rows.sql"),
                                           {"history_table": history_table(kind)}).fetchone()[0]
        except BaseException:
            self.abort()
            raise
        self.finished = True
        self._stack.close()  # commits, then closes the connection
        return MergeResult(previous_status=previous or "", stored=stored, rejected=rejected,
                           history_rows_estimate=history_rows, **counts, **versions)

    def abort(self) -> None:
        """Roll back everything staged and close the connection (idempotent)."""
        if self.finished:
            return
        self.finished = True
        self._stop_writer()
        aborted = RuntimeError(f"{self.kind.table}: merge aborted")
        self._stack.__exit__(type(aborted), aborted, None)

    def _apply(self, set_aside: list[dict], versions: dict) -> dict:
        """Counts of the merge of a complete listing; fills in ``versions``."""
        cur, table, history, cluster_uid = self.cur, self.table, self.history, self.cluster_uid
        listed, refused = self.rows, len(self.refused)
        if self.first_sync:
            if history is not None:
                # Each row is its own open version (valid_from and began 'first_seen' are the
                # table's defaults): a first sync writes every object once.
                versions["versions_opened"] = listed - refused
            return dict(inserted=listed - refused, unfit_columns=self.nulled, first_unfit=self.first_nulled)
        if set_aside:
            # An object set aside keeps its key staged, so a stored older version of it stays (as a
            # refused row's does); a key the database refuses (a malformed uid) matches no stored row.
            copy_frame(cur, "k8s_stage_keys", pd.DataFrame(
                [(r["uid"], r["resource_version"]) for r in set_aside if r["resource_version"] is not None],
                columns=["uid", "resource_version"], dtype=object), ("uid", "resource_version"))
        # A key-only row the database now calls changed: another writer of this cluster changed
        # or deleted the row after the listing read its version. Leave that writer's row as it
        # is; the next sync lists the object again.
        left_to_other_writer = cur.execute(sql_template("merge/left_to_other_writer.sql", table=table),
                                           {"cluster_uid": cluster_uid}).fetchone()[0]
        inserted, updated, moved, closed = write_staged_rows(cur, self.kind, table, history, cluster_uid)
        with_versions = (*self.stored_columns, *VERSION_COLUMNS)
        if history is not None:
            versions["versions_closed"] = closed
            versions["versions_opened"] = inserted + updated - moved
            versions["versions_moved_forward"] = moved
            deleted, closed = cur.execute(sql_template(
                "history/delete_stale.sql", table=table, history=history, columns=column_list(with_versions)),
                {"cluster_uid": cluster_uid}).fetchone()
            versions["versions_closed"] += closed
        else:
            deleted = cur.execute(sql_template("merge/delete_stale.sql", table=table),
                                  {"cluster_uid": cluster_uid}).rowcount
        return dict(inserted=inserted, updated=updated, deleted=deleted,
                    unchanged=listed - inserted - updated - refused, unfit_columns=self.nulled,
                    first_unfit=self.first_nulled, left_to_other_writer=left_to_other_writer)


def write_staged_rows(cur, kind: Kind, table: sql.Identifier, history: sql.Identifier | None,
                      cluster_uid: str) -> tuple[int, int, int, int]:
    """Write the staged new and changed rows (``k8s_stage_rows``) of one cluster into the kind's
    table, ending the versions they replace: (inserted, updated, moved, versions closed).

    The one write of a listing's merge and of a watch's batch of events (``store.watched``).
    A staged row's ``valid_from`` says when its version was seen.
    """
    stored_columns = (*kind.row_columns, "synced_at")
    with_versions = (*stored_columns, *VERSION_COLUMNS)
    moved = classify_staged(cur, kind, table, cluster_uid)
    closed = 0
    if history is not None:
        # Before the upsert: the stored rows are still the previous versions here.
        closed = end_updated_versions(cur, table, history, with_versions, cluster_uid)
    assignments = sql.SQL(", ").join(
        sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c))
        for c in with_versions if c not in ("cluster_uid", "uid"))
    inserted, updated = cur.execute(sql_template(
        "merge/upsert_staged_rows.sql", table=table, columns=column_list(stored_columns),
        staged_columns=column_list(stored_columns, "s"), assignments=assignments,
    )).fetchone()
    return inserted, updated, moved, closed


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
