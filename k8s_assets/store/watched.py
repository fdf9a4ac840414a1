"""A watch's events into the store: one batch of one kind of one cluster, in one transaction.

A batch is what a watch saw in a couple of seconds: new and changed objects (ADDED, MODIFIED) as
rows, deleted ones (DELETED) as keys, each with the time its event arrived. It goes through the
merge's own write (``merge.write_staged_rows``: stage, classify, end the replaced version, upsert)
under the same advisory lock as a listing's merge, so every version is on record, beginning when
its event arrived, and a watch and the scheduled sync never interleave within a kind. An object
with several events in one batch has each version written in turn (rounds), so a pod that lived
for one second between two batches is on record too.

What the watch cannot know is left to the scheduled sync, the reconciler: objects deleted while
no watch ran are deleted by the next complete listing. An event older than the stored row (the
sync wrote a newer version meanwhile) changes nothing. The coverage's object count follows the
objects added and deleted, and the watch's state (resourceVersion, lag) is written with the rows.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field

import pandas as pd
from psycopg import sql

from k8s_assets.catalog.types import Kind
from k8s_assets.store.copy import copy_frame
from k8s_assets.store.database import Connect, column_list, sql_template, sql_text
from k8s_assets.store.merge import bounded, rejected_objects, write_staged_rows
from k8s_assets.store.versions import VERSION_COLUMNS, ensure_history_partitions, history_table


@dataclass
class WatchBatch:
    """The events of one kind of one cluster to apply together, in the order they arrived."""

    kind: Kind
    cluster_uid: str
    context_name: str
    # The coverage row the counts adjust (the kind's table, or <table>:<resource> of a shared table).
    coverage_kind: str
    # ADDED and MODIFIED objects: the kind's row columns plus valid_from (the event's arrival).
    rows: pd.DataFrame
    # DELETED objects: (uid, resourceVersion, arrival).
    deleted: list[tuple[str, str, dt.datetime]] = field(default_factory=list)
    # The order of the events: ("row", index into rows) or ("deleted", index into deleted).
    order: list[tuple[str, int]] = field(default_factory=list)
    # Objects whose common columns could not be read (k8s_rejected_objects), as the listing's.
    set_aside: list[dict] = field(default_factory=list)
    # Where the watch stands after these events (the last event's or bookmark's resourceVersion).
    resource_version: str | None = None
    # Seconds from each event's arrival to now, filled in at commit (lag).
    arrivals: list[dt.datetime] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.order)


@dataclass
class AppliedBatch:
    """What one batch did."""

    events: int
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    outdated: int = 0  # events at or below the stored version (the sync was there first)
    versions_closed: int = 0
    rejected: int = 0
    stored: int | None = None  # rows of the cluster in the table after the batch (if counted)
    lag_p50: float | None = None
    lag_p99: float | None = None
    lag_max: float | None = None


def rounds(batch: WatchBatch) -> list[tuple[list[int], list[int]]]:
    """The batch's events as rounds in which each object appears at most once: (row indexes,
    deleted indexes) per round, an object's n-th event in round n."""
    seen: Counter[str] = Counter()
    by_round: list[tuple[list[int], list[int]]] = []
    for what, index in batch.order:
        uid = str(batch.rows["uid"].iat[index]) if what == "row" else batch.deleted[index][0]
        number = seen[uid]
        seen[uid] += 1
        while len(by_round) <= number:
            by_round.append(([], []))
        by_round[number][0 if what == "row" else 1].append(index)
    return by_round


def percentile(sorted_values: list[float], fraction: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


def apply_batch(connect: Connect, batch: WatchBatch, count_stored: bool = True) -> AppliedBatch:
    """Apply one batch of events and record where the watch stands, in one transaction.

    ``count_stored`` counts the cluster's rows after the batch (``AppliedBatch.stored``): a scan of
    all of them (0.15 s at 150,000 pods), which the watcher makes only when it reports
    (``stored_rows``) rather than for every batch."""
    kind, cluster_uid = batch.kind, batch.cluster_uid
    table, history = sql.Identifier(kind.table), sql.Identifier(history_table(kind))
    applied = AppliedBatch(events=len(batch))
    with ExitStack() as stack:
        conn = stack.enter_context(connect())
        ensure_history_partitions(conn, kind)
        stack.enter_context(conn.transaction())
        cur = conn.cursor()
        cur.execute(sql_text("merge/lock.sql"), {"table": kind.table, "cluster_uid": cluster_uid})
        typed = {c.name: c.sql_type for c in kind.columns}
        staged_columns = (*kind.row_columns, "valid_from")
        refused: list[dict] = []
        for number, (row_indexes, deleted_indexes) in enumerate(rounds(batch)):
            if row_indexes:
                if number == 0:
                    cur.execute(sql_template("merge/create_stage_rows.sql", table=table))
                else:
                    cur.execute("TRUNCATE k8s_stage_rows")
                    cur.execute("DROP TABLE IF EXISTS k8s_stage_versions")
                frame = batch.rows.iloc[row_indexes].reset_index(drop=True)
                # Unbounded: a batch is tried again until it is applied, so a bound would stop the
                # kind's watch for good; every refused object is recorded in k8s_rejected_objects
                # instead (a listing keeps its bound and fails fast on a systematic error).
                copied = copy_frame(cur, "k8s_stage_rows", frame, staged_columns, typed, max_rejected=None)
                refused += rejected_objects(frame, copied.rejected)
                outdated = cur.execute(sql_template("watch/drop_outdated_events.sql", table=table),
                                       {"cluster_uid": cluster_uid}).rowcount
                inserted, updated, _, closed = write_staged_rows(cur, kind, table, history, cluster_uid)
                applied.inserted += inserted
                applied.updated += updated
                applied.outdated += outdated
                applied.versions_closed += closed
            if deleted_indexes:
                deleted = [batch.deleted[i] for i in deleted_indexes if is_uuid(batch.deleted[i][0])]
                with_versions = column_list((*kind.row_columns, "synced_at", *VERSION_COLUMNS))
                gone, closed = cur.execute(sql_template(
                    "watch/delete_watched.sql", table=table, history=history, columns=with_versions), {
                    "cluster_uid": cluster_uid, "uids": [d[0] for d in deleted],
                    "versions": [d[1] for d in deleted], "arrived": [d[2] for d in deleted]}).fetchone()
                applied.deleted += gone
                applied.outdated += len(deleted_indexes) - gone
                applied.versions_closed += closed
        rejected = [*map(bounded, batch.set_aside), *refused]
        applied.rejected = len(rejected)
        touched = [*map(str, batch.rows["uid"]), *(d[0] for d in batch.deleted), *(r["uid"] for r in rejected)]
        if touched:
            cur.execute(sql_text("watch/forget_rejections.sql"),
                        {"cluster_uid": cluster_uid, "kind": kind.table, "uids": touched})
        if rejected:
            cur.executemany(sql_text("merge/record_rejection.sql"),
                            [{**r, "cluster_uid": cluster_uid, "kind": kind.table,
                              "context_name": batch.context_name} for r in rejected])
        cur.execute(sql_text("watch/adjust_coverage.sql"), {
            "cluster_uid": cluster_uid, "kind": batch.coverage_kind, "added": applied.inserted,
            "deleted": applied.deleted})
        if count_stored:
            applied.stored = cur.execute(sql_template("merge/cluster_row_count.sql", table=table),
                                         {"cluster_uid": cluster_uid}).fetchone()[0]
        committing = cur.execute("SELECT clock_timestamp()").fetchone()[0]
        if batch.arrivals:
            lags = sorted(max(0.0, (committing - at).total_seconds()) for at in batch.arrivals)
            applied.lag_p50, applied.lag_p99, applied.lag_max = (percentile(lags, 0.5), percentile(lags, 0.99),
                                                                 lags[-1])
        record_state(cur, batch.cluster_uid, batch.coverage_kind, batch.context_name, "watching",
                     resource_version=batch.resource_version, events=len(batch),
                     last_event_at=max(batch.arrivals) if batch.arrivals else None,
                     lag=(applied.lag_p50, applied.lag_p99, applied.lag_max))
    return applied


def stored_rows(connect: Connect, kind: Kind, cluster_uid: str) -> int:
    """The rows of one cluster in the kind's table now."""
    with connect() as conn:
        return conn.execute(sql_template("merge/cluster_row_count.sql", table=sql.Identifier(kind.table)),
                            {"cluster_uid": cluster_uid}).fetchone()[0]


def analyze_if_never_analyzed(connect: Connect, kind: Kind) -> bool:
    """ANALYZE the kind's table if it never was (a first listing just filled it): without
    statistics the planner takes the cluster's rows for a handful and joins each batch's few
    staged rows to all of them (a scan of 150,000 pods per statement) until autovacuum gets to
    it, a minute or more later. Returns whether it analyzed."""
    with connect() as conn:
        row = conn.execute(sql_text("watch/never_analyzed.sql"), {"table": kind.table}).fetchone()
        never = bool(row and row[0])
        if never:
            conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(kind.table)))
    return bool(never)


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        return False
    return True


def record_state(cur, cluster_uid: str, coverage_kind: str, context_name: str, status: str, *,
                 message: str | None = None, resource_version: str | None = None, listed_at: dt.datetime | None = None,
                 events: int = 0, last_event_at: dt.datetime | None = None,
                 lag: tuple[float | None, float | None, float | None] = (None, None, None)) -> None:
    cur.execute(sql_text("watch/record_state.sql"), {
        "cluster_uid": cluster_uid, "kind": coverage_kind, "context_name": context_name, "status": status,
        "message": message, "resource_version": resource_version, "listed_at": listed_at, "events": events,
        "last_event_at": last_event_at, "lag_p50": lag[0], "lag_p99": lag[1], "lag_max": lag[2]})


def write_state(connect: Connect, cluster_uid: str, coverage_kind: str, context_name: str, status: str,
                **fields) -> None:
    """Record a watch's status (a bookmark's resourceVersion, relisting, forbidden, stopped) on its own."""
    with connect() as conn, conn.transaction():
        record_state(conn.cursor(), cluster_uid, coverage_kind, context_name, status, **fields)


def resume_from(connect: Connect, cluster_uid: str, coverage_kind: str) -> str | None:
    """The resourceVersion a watch of this kind can resume from, or None (list first)."""
    with connect() as conn:
        row = conn.execute(sql_text("watch/resume_from.sql"),
                           {"cluster_uid": cluster_uid, "kind": coverage_kind}).fetchone()
    return row[0] if row else None


def resource_uids(connect: Connect, kind: Kind, cluster_uid: str) -> set[str]:
    """The uids of one resource's rows of a cluster in a shared table (a CRD's instances)."""
    with connect() as conn:
        return {uid for (uid,) in conn.execute(
            sql_template("watch/stored_resource_uids.sql", table=sql.Identifier(kind.table)),
            {"cluster_uid": cluster_uid, "group": kind.group, "plural": kind.plural})}
