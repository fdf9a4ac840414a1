"""The inventory's database work, beneath the IO manager and the assets: one home for it.

Everything that writes the inventory goes through here, each in one transaction per (kind,
cluster) under an advisory lock per (table, cluster):

* **the merge** -- a cluster's first sync of a kind is COPYed straight into its table; later
  syncs COPY only (uid, resourceVersion) of what was listed, then only the new or changed
  objects in full, upsert them and delete the cluster's rows the complete listing no longer has.
  Unchanged rows are neither sent nor rewritten (they keep their xmin);
* **versions** -- in the same transaction, from what the merge already knows (new, changed and
  stale uids): a new object opens a version, a changed one closes its open version ('updated')
  and opens the next, a stale one closes it ('deleted'). Unchanged objects cost nothing. An
  object whose change touched only its kind's ignored paths (``Kind.ignored_paths``: node
  heartbeats) moves its open version forward instead. See sql/007_history.sql and
  docs/history.md;
* **coverage** -- what each listing saw (``k8s_sync_coverage``) and since when
  (``k8s_sync_coverage_history``), also for forbidden, unserved and failed listings, which
  change no rows and no versions;
* **rejections** -- objects the database refused, set aside in ``k8s_rejected_objects``;
* **retention** -- dropping the day partitions of versions that ended too long ago.

The IO manager (io_manager.py) and the assets call these functions; neither holds SQL.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pandas as pd
import psycopg
from psycopg import sql
from psycopg.adapt import Dumper
from psycopg.pq import Format

from k8s_assets.catalog.types import Kind
from k8s_assets.database import sql_template, sql_text
from k8s_assets.decoding import safe_text
from k8s_assets.extraction import frame_columns, set_aside_of
from k8s_assets.resources import PostgresResource

CLUSTERS_TABLE = "k8s_clusters"
CUSTOM_RESOURCE_COVERAGE_PREFIX = "k8s_custom_resources:"
OTHER_RESOURCE_COVERAGE_PREFIX = "k8s_other_resources:"

# Output metadata an asset attaches to its Output for the merge (and the UI).
LISTING_STATUS = "listing_status"  # complete | forbidden | not_served
LISTED = "listed"
CLUSTER_UID = "cluster_uid"
LISTING_MESSAGE = "listing_message"
RESOURCE_VERSION = "resource_version"


def plain(value: Any) -> Any:
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
# ProgramLimitExceeded: a value too large for an index entry (a 200 KB node name) refuses its row.
REFUSED_ROW_ERRORS = (psycopg.errors.DataError, psycopg.errors.NotNullViolation, psycopg.errors.CheckViolation,
                      psycopg.errors.ProgramLimitExceeded)
# More refused objects than this is no longer a few hostile objects but a systematic problem
# (a bug, a schema out of date): fail the merge and say so instead of setting the kind aside.
MAX_REJECTED = 100
MAX_EXAMPLES = 5
# Merge metadata: rows stored with a typed column NULL because its value did not fit the column's
# SQL type (copy_frame), and the first such column and why (logged, then dropped from the metadata).
UNFIT_COLUMNS = "unfit_columns"
FIRST_UNFIT = "first_unfit_column"


class RefusedRows(ValueError):
    """The database refused too many rows of one kind for them to be set aside one by one."""


@dataclass(frozen=True)
class Rejection:
    position: int  # of the row in the frame given to copy_frame
    error: str


@dataclass
class Copied:
    """What copy_frame did with a frame's rows beyond writing them."""

    rejected: list[Rejection] = field(default_factory=list)
    # Positions of rows written with typed columns NULL whose values did not fit their SQL type.
    nulled: list[int] = field(default_factory=list)
    first_nulled: str | None = None  # "column: why", of the first such row


def copy_frame(cur, target: str, frame: pd.DataFrame, columns: Sequence[str],
               typed: Mapping[str, str] | None = None) -> Copied:
    """COPY a frame's rows into ``target``; rows the database refuses are set aside and returned.

    The whole frame goes in one COPY. Only if that fails is the frame looked at row by row: a
    value of a ``typed`` column (name -> SQL type: the kind's own columns, never the common ones)
    whose Python type does not fit the column (an object where a string belongs, "five" where an
    integer does) becomes NULL, and the frame is split in halves, each COPY under its own
    savepoint, down to the rows the database still refuses (a value of the right type out of its
    column's range: set aside, as documented). One bad object costs about two more passes over
    its kind, and never blocks the others.
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
        return Copied()
    except REFUSED_ROW_ERRORS:
        pass
    except psycopg.ProgrammingError as e:
        if not unsendable(e):
            raise
    copied = Copied()
    rows = [list(row) for row in zip(*(column_values(frame[c]) for c in columns))]
    fits = [(index, name, _FITS.get(sql_type, _fits_nothing)) for index, name in enumerate(columns)
            if (sql_type := (typed or {}).get(name)) is not None]
    for position, row in enumerate(rows):
        unfit = [f"{name}: {_json_kind(row[index])} does not fit {typed[name]}" for index, name, fit in fits
                 if row[index] is not None and not fit(row[index])]
        if unfit:
            for index, name, fit in fits:
                if row[index] is not None and not fit(row[index]):
                    row[index] = None
            _note_nulled(copied, position, "; ".join(unfit))
    pending = [(0, len(rows))]
    while pending:
        start, stop = pending.pop()
        try:
            with cur.connection.transaction():
                _copy_rows(cur, statement, rows[start:stop])
        except (*REFUSED_ROW_ERRORS, psycopg.ProgrammingError) as e:
            if isinstance(e, psycopg.ProgrammingError) and not unsendable(e):
                raise
            if stop - start > 1:
                middle = (start + stop) // 2
                pending += [(middle, stop), (start, middle)]
                continue
            copied.rejected.append(Rejection(start, refusal(e)))
            if len(copied.rejected) > MAX_REJECTED:
                raise RefusedRows(f"{target}: the database refused more than {MAX_REJECTED} rows; the first: "
                                   f"{copied.rejected[0].error}") from e
    copied.nulled = sorted(set(copied.nulled) - {r.position for r in copied.rejected})
    return copied


def _copy_rows(cur, statement: sql.Composed, rows) -> None:
    with cur.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


def unsendable(error: psycopg.ProgrammingError) -> bool:
    """Whether psycopg found no way to send a value (an object where text belongs): that row is
    refused like one the database refuses. Any other error of this class fails the merge."""
    return "cannot adapt" in str(error) or "cannot dump" in str(error)


def _note_nulled(copied: Copied, position: int, why: str) -> None:
    copied.nulled.append(position)
    if copied.first_nulled is None:
        copied.first_nulled = why[:500].replace("\x00", "\ufffd")


def _fits_text_array(value: Any) -> bool:
    return isinstance(value, list) and all(v is None or type(v) is str for v in value)


def _fits_integer(value: Any) -> bool:
    # Any size: an integer out of the column's range is the database's to refuse (the object is
    # then set aside, as a value out of range always was).
    return type(value) is int


def _fits_number(value: Any) -> bool:
    if type(value) is int:
        return True
    if isinstance(value, (float, Decimal)):
        return value.is_finite()
    return False


def _fits_nothing(value: Any) -> bool:
    return False


# What a Python value must be to be written to a typed column of each SQL type the catalog uses
# (decoding gives JSON values: text columns take strings, never an object's or a list's text).
_FITS: dict[str, Callable[[Any], bool]] = {
    "text": lambda value: type(value) is str,
    "jsonb": lambda value: type(value) is str,  # as_json's text
    "timestamptz": lambda value: type(value) is str,
    "uuid": lambda value: type(value) is str,
    "boolean": lambda value: type(value) is bool,
    "integer": _fits_integer,
    "bigint": _fits_integer,
    "numeric": _fits_number,
    "text[]": _fits_text_array,
}


def _json_kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), "a number" if isinstance(value, (int, float, Decimal)) else type(value).__name__)


def refusal(error: psycopg.Error) -> str:
    """What PostgreSQL said about a refused row, without the row itself (COPY's context quotes it)."""
    diag = error.diag
    text = diag.message_primary or str(error).splitlines()[0]
    if diag.sqlstate:
        text = f"{text} (SQLSTATE {diag.sqlstate})"
    return text[:500]


def record_coverage(cur, kind: Kind, cluster_uid: str, context_name: str, status: str,
                    listed_count: int | None, resource_version: str | None, message: str | None) -> str | None:
    """Upsert what the last listing of a kind saw, and its coverage history; returns the status it replaced."""
    return record_coverage_of(cur, kind.table, cluster_uid, context_name, status, listed_count, resource_version,
                              message)


def record_coverage_of(cur, coverage_kind: str, cluster_uid: str, context_name: str, status: str,
                       listed_count: int | None, resource_version: str | None, message: str | None) -> str | None:
    """As record_coverage, for any coverage kind (a CRD's is ``k8s_custom_resources:<plural>.<group>``)."""
    params = {"cluster_uid": cluster_uid, "kind": coverage_kind, "context_name": context_name, "status": status,
              "listed_count": listed_count, "resource_version": resource_version or None, "message": message}
    previous = cur.execute(sql_text("merge/record_coverage.sql"), params).fetchone()[0]
    cur.execute(sql_text("history/close_coverage.sql"), params)
    cur.execute(sql_text("history/open_coverage.sql"), params)
    return previous


def record_failed_listing(postgres: PostgresResource, kind: Kind, cluster_uid: str, context_name: str,
                          message: str) -> None:
    """A failed listing changes no rows, but coverage must say that the last attempt failed."""
    with postgres.connect() as conn, conn.transaction():
        record_coverage(conn.cursor(), kind, cluster_uid, context_name, "failed", None, None, message[:2000])


def record_set_coverage(postgres: PostgresResource, table: str, cluster_uid: str, context_name: str,
                        outcomes: list[tuple[str, str, int | None, str | None]]) -> None:
    """One k8s_sync_coverage row (and coverage history) per resource of a shared table (custom or
    other resources), as (kind, status, listed, message), the kind being ``<table>:<resource>``;
    rows of the table's resources not among them are removed and their coverage periods end."""
    kinds = [kind for kind, _, _, _ in outcomes]
    prefix = table.replace("_", r"\_") + ":%"
    with postgres.connect() as conn, conn.transaction():
        cur = conn.cursor()
        for kind, status, listed, message in outcomes:
            record_coverage_of(cur, kind, cluster_uid, context_name, status, listed, None, message)
        cur.execute(sql_text("merge/drop_gone_set_coverage.sql"),
                    {"cluster_uid": cluster_uid, "prefix": prefix, "kinds": kinds})
        cur.execute(sql_text("history/close_gone_set_coverage.sql"),
                    {"cluster_uid": cluster_uid, "prefix": prefix, "kinds": kinds})


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


def rejection_table(rejected: list[dict]) -> str:
    lines = ["| namespace | name | uid | error |", "|---|---|---|---|"]
    lines += [f"| {r['namespace'] or ''} | {r['name']} | {r['uid']} | {r['error'].replace('|', '/')} |"
              for r in rejected]
    return "\n".join(lines)




def write_cluster(postgres: PostgresResource, frame: pd.DataFrame) -> dict:
    """Upsert the cluster row and the context that reached it; returns the output metadata."""
    row = frame.iloc[0].to_dict()
    with postgres.connect() as conn, conn.transaction():
        inserted = conn.execute(sql_text("merge/upsert_cluster.sql"), row).fetchone()[0]
        conn.execute(sql_text("merge/upsert_cluster_context.sql"), row)
    return {
        "cluster_uid": str(row["cluster_uid"]),
        "identity_source": row["identity_source"],
        "new_cluster": bool(inserted),
        "dagster/row_count": 1,
    }


def cluster_of_context(postgres: PostgresResource, context_name: str) -> str | None:
    """The cluster_uid a context reached when k8s_clusters was last materialized for it, or None."""
    with postgres.connect() as conn:
        row = conn.execute(sql_text("merge/cluster_of_context.sql"), {"context_name": context_name}).fetchone()
    return str(row[0]) if row else None


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


def merge_kind(postgres: PostgresResource, kind: Kind, frame: pd.DataFrame, listing: dict,
               keep_history: bool = True) -> dict:
    """Merge one kind's frame for one cluster, with its versions; returns the counts as output metadata.

    ``keep_history=False`` exists for the benchmark that measures what versions cost.
    """
    status = listing.get(LISTING_STATUS, "complete")
    # Listed objects that are not rows (their common columns could not be read): recorded as rejected.
    set_aside = set_aside_of(frame)
    listed = len(frame) + len(set_aside)
    if status == "complete" and listing.get(LISTED, listed) != listed:
        raise ValueError(f"{kind.table}: the frame holds {len(frame)} rows and {len(set_aside)} objects set "
                         f"aside but the listing returned {listing[LISTED]}; refusing to merge (it would delete rows)")
    if len(set_aside) > MAX_REJECTED:
        raise RefusedRows(f"{kind.table}: more than {MAX_REJECTED} objects cannot be read (a systematic problem, "
                          f"not a few odd objects); the first: {set_aside[0]['error']}")
    cluster_uid = listing.get(CLUSTER_UID) or (str(frame["cluster_uid"].iloc[0]) if len(frame) else None)
    if cluster_uid is None:
        raise ValueError(f"{kind.table}: no cluster_uid in the frame or the output metadata")
    context_name = (frame["context_name"].iloc[0] if len(frame) else listing.get("context_name")) or ""
    counts = {"inserted": 0, "updated": 0, "deleted": 0, "unchanged": 0, UNFIT_COLUMNS: 0, FIRST_UNFIT: None}
    versions = {"versions_opened": 0, "versions_closed": 0, "versions_moved_forward": 0}
    rejected: list[dict] = []
    table = sql.Identifier(kind.table)
    history = sql.Identifier(history_table(kind)) if keep_history else None
    with postgres.connect() as conn:
        if status == "complete" and keep_history:
            ensure_history_partitions(conn, kind)
        with conn.transaction():
            cur = conn.cursor()
            cur.execute(sql_text("merge/lock.sql"), {"table": kind.table, "cluster_uid": cluster_uid})
            if status == "complete":
                counts, versions, refused = _merge_complete(cur, kind, table, history, frame, cluster_uid,
                                                            set_aside)
                rejected = distinct_rejection_keys(set_aside + rejected_objects(frame, refused))
                record_rejections(cur, kind, cluster_uid, context_name, rejected)
            previous = record_coverage(cur, kind, cluster_uid, context_name, status,
                                       listed if status == "complete" else None,
                                       listing.get(RESOURCE_VERSION), listing.get(LISTING_MESSAGE))
            if kind.after_merge and status == "complete":
                cur.execute(sql_text(f"after_merge/{kind.after_merge}"), {"cluster_uid": cluster_uid})
            stored = cur.execute(
                sql_template("merge/cluster_row_count.sql", table=table), {"cluster_uid": cluster_uid}
            ).fetchone()[0]
            history_rows = 0
            if history is not None:
                history_rows = cur.execute(sql_text("history/estimated_rows.sql"),
                                           {"history_table": history_table(kind)}).fetchone()[0]
    # Keys the asset already attached (status, listed, ...) are not repeated here.
    return {"table": kind.table, "previous_listing_status": previous or "", **counts,
            "rejected": len(rejected), "rejected_objects": rejected, "dagster/row_count": stored,
            **versions, "history_rows_estimate": history_rows}


def _merge_complete(cur, kind: Kind, table: sql.Identifier, history: sql.Identifier | None, frame: pd.DataFrame,
                    cluster_uid: str, set_aside: list[dict] = ()) -> tuple[dict, dict, list[Rejection]]:
    """Counts of the merge and of the versions, and the rows (positions in ``frame``) the database refused."""
    columns = frame_columns(kind)
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
        copied = copy_frame(cur, kind.table, frame, columns, typed)
        refused, nulled = copied.rejected, copied.nulled
        if history is not None:
            versions["versions_opened"] = cur.execute(
                sql_template("history/open_first_sync.sql", table=table, history=history, columns=column_list),
                {"cluster_uid": cluster_uid}).rowcount
        return ({"inserted": listed - len(refused), "updated": 0, "deleted": 0, "unchanged": 0,
                 UNFIT_COLUMNS: len(nulled), FIRST_UNFIT: copied.first_nulled}, versions, refused)

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
        if history is not None:
            # Before the upsert: the stored rows are still the previous versions here.
            versions = _write_versions(cur, kind, table, history, column_list, staged_list, cluster_uid)
        assignments = sql.SQL(", ").join(
            sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c))
            for c in stored_columns if c not in ("cluster_uid", "uid")
        )
        inserted, updated = cur.execute(sql_template(
            "merge/upsert_staged_rows.sql", table=table, columns=column_list, assignments=assignments,
        )).fetchone()
    if history is not None:
        deleted, closed = cur.execute(sql_template("history/delete_stale.sql", table=table, history=history),
                                      {"cluster_uid": cluster_uid}).fetchone()
        versions["versions_closed"] += closed
    else:
        deleted = cur.execute(sql_template("merge/delete_stale.sql", table=table),
                              {"cluster_uid": cluster_uid}).rowcount
    counts = {"inserted": inserted, "updated": updated, "deleted": deleted,
              "unchanged": listed - inserted - updated - len(refused), UNFIT_COLUMNS: len(nulled),
              FIRST_UNFIT: first_nulled}
    if stale_hints:
        counts["left_to_other_writer"] = stale_hints
    return counts, versions, refused


def _write_versions(cur, kind: Kind, table: sql.Identifier, history: sql.Identifier, column_list: sql.Composable,
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


def load_rows(postgres: PostgresResource, table: str, contexts: Iterable[str]) -> pd.DataFrame:
    """The rows of the clusters the contexts reach (for k8s_clusters: the contexts' clusters)."""
    if table == CLUSTERS_TABLE:
        statement = sql.SQL(sql_text("merge/load_clusters.sql"))
    else:
        statement = sql_template("merge/load_partition_rows.sql", table=sql.Identifier(table))
    with postgres.connect() as conn:
        cur = conn.execute(statement, {"contexts": list(contexts)})
        names = [d.name for d in cur.description]
        return pd.DataFrame(cur.fetchall(), columns=names, dtype=object)


# -- retention -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DroppedPartition:
    history_table: str
    partition_name: str
    day: Any


def drop_expired_history(postgres: PostgresResource, keep_days: int | None) -> list[DroppedPartition]:
    """Drop the day partitions of versions that ended more than ``keep_days`` ago (0: all ended
    versions; None: keep everything), and make sure the coming week's partitions exist."""
    with postgres.connect() as conn:
        with conn.transaction():
            conn.execute(sql_text("history/ensure_all_partitions.sql"))
        if keep_days is None:
            return []
        with conn.transaction():
            return [DroppedPartition(*row) for row in
                    conn.execute(sql_text("history/drop_expired.sql"), {"keep_days": keep_days}).fetchall()]


def history_sizes(postgres: PostgresResource) -> list[tuple[str, str, Any, int]]:
    """(kind, history table, kept_since, bytes) of every history table."""
    with postgres.connect() as conn:
        return conn.execute(sql_text("history/size.sql")).fetchall()
