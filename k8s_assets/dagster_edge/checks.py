"""Asset checks proving each cluster's inventory is complete and consistent, built from the catalog.

Every check is evaluated for one partition (one kubeconfig context): the cluster that context
reached, as recorded in ``k8s_cluster_contexts``. All queries run in PostgreSQL (``sql/checks/``)
along the tables' (cluster_uid, ...) indexes, in one read-only REPEATABLE READ transaction per
group of checks (a kind's integrity, the references) so that its results describe one snapshot.

All are check specs of the one sync step of a context (k8s_assets/dagster_edge/cluster_sync.py), which calls
the evaluation functions here. Each check is one entry of ``CHECKS`` (name, severity, blocking,
stage, which kinds, evaluation; its SQL in ``sql/checks/``). Per kind table (ERROR severity, **blocking**; the first three
right after the kind is merged, the namespace check after every kind of the run):

* ``row_count_matches_listing`` -- rows stored for the cluster, plus listed objects the database
  refused and holds no version of (``k8s_rejected_objects``), == ``listed`` in the latest
  materialization of that partition (passes, marked skipped, when that listing was forbidden or
  not served: the rows of the last complete listing are kept on purpose);
* ``rows_reference_cluster`` -- the context resolves to a stored cluster, and no row written by
  the context carries a cluster_uid missing from ``k8s_clusters``;
* ``rows_reference_namespace`` (namespaced kinds) -- every row's namespace is stored for the
  cluster. A namespace outlives its contents, so a missing one means lost rows; objects created
  after the namespaces were listed are exempt (their namespace is newer than that listing);
* ``names_unique`` -- no two rows share (namespace, name) in the cluster.

Per kind table (after every kind of the run, WARN severity, not blocking):

* ``controller_owners_resolve`` -- each controlling ownerReference (``controller: true``) resolves
  to a stored object when the owner's kind is selected and was listed completely. An owner
  deleted (or created) between the two listings is a legitimate state of a live cluster, and
  the garbage collector removes such dependents on its own time, hence a warning;
* ``scheduled_on_stored_node`` (kinds with a ``node_name`` column: pods, volume attachments) -- a
  row bound to a node that is not stored. Nodes are removed (autoscaler, spot reclaim) before pod GC deletes their
  pods, so this is a warning too.

On ``k8s_clusters`` (ERROR, not blocking, so a stale cluster never stops the sync that would
refresh it): ``synced_recently`` -- ``last_synced_at`` is younger than two schedule intervals and
no selected kind has kept failing for that long.

See docs/checks.md for what each failure means and what to do.
"""


import datetime as dt
import enum
import functools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Callable

import dagster as dg
import psycopg
from psycopg import sql

from k8s_assets.catalog.generic import is_shared_table
from k8s_assets.catalog.types import Kind
from k8s_assets.dagster_edge.io_manager import CLUSTER_UID, LISTED, LISTING_STATUS
from k8s_assets.dagster_edge.resources import PostgresResource
from k8s_assets.store.clusters import CLUSTERS_TABLE
from k8s_assets.store.database import sql_template, sql_text
from k8s_assets.store.versions import history_table

NAMESPACES_TABLE = "k8s_namespaces"
NODES_TABLE = "k8s_nodes"
MAX_EXAMPLES = 5
# Objects created less than this before the namespaces' merge committed may belong to a
# namespace created after the namespace listing (and absorbs API server/database clock skew).
NAMESPACE_LISTING_MARGIN = dt.timedelta(seconds=60)
# Freshness: a cluster is stale after this many schedule intervals without a sync.
STALE_AFTER_INTERVALS = 2
DEFAULT_INTERVAL = dt.timedelta(hours=1)
# A watch is behind when its last batch's lag p99 exceeds this, or when neither an event nor a
# bookmark came for this long (API servers send a bookmark about every minute).
WATCH_MAX_LAG = dt.timedelta(seconds=30)
WATCH_SILENT_AFTER = dt.timedelta(minutes=5)
OWNER_COLUMNS = ("owner_kind", "owner_name", "owner_uid")
FINDING_COLUMNS = ("offending", "namespace", "name", "detail")


class Stage(enum.Enum):
    """When a check is evaluated in the sync step."""

    KIND = "right after its kind is merged (it reads only the kind's own table)"
    REFERENCES = "after every kind of the run (it reads the tables the kind refers to)"
    CLUSTER = "last, on k8s_clusters"


# ---------------------------------------------------------------------------
# Results


@dataclass
class Finding:
    """Offending rows of one query: their number, up to five examples, and extra counts."""

    offending: int = 0
    examples: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def example(namespace: str | None, name: str, detail: str | None = None) -> str:
    text = f"{namespace}/{name}" if namespace else name
    return f"{text}: {detail}" if detail else text


def run_finding(cur: psycopg.Cursor, statement: sql.Composable, params: dict) -> Finding:
    """Run a query shaped like ``SELECT count(*) OVER () AS offending, namespace, name, detail, ...``.

    A row whose ``name`` is NULL only carries counts. Other columns become extra counts.
    """
    rows = cur.execute(statement, params).fetchall()
    names = [d.name for d in cur.description]
    extra = [n for n in names if n not in FINDING_COLUMNS]
    if not rows:
        return Finding(0, [], {n: 0 for n in extra})
    first = dict(zip(names, rows[0]))
    examples = []
    for row in rows:
        r = dict(zip(names, row))
        if r["name"] is not None:
            examples.append(example(r["namespace"], r["name"], r.get("detail")))
    return Finding(int(first["offending"] or 0), examples[:MAX_EXAMPLES], {n: int(first[n] or 0) for n in extra})


class Results:
    """Builds the AssetCheckResults of one step with the metadata every result shares."""

    def __init__(self, asset_key: dg.AssetKey, context_name: str):
        self.asset_key = asset_key
        self.common: dict[str, dg.MetadataValue] = {"context_name": dg.MetadataValue.text(context_name)}

    def set_cluster(self, cluster_uid: str | None) -> None:
        self.common["cluster_uid"] = dg.MetadataValue.text(cluster_uid or "")

    def result(self, check: str, passed: bool, description: str, finding: Finding | None = None,
               skipped: str | None = None, **metadata) -> dg.AssetCheckResult:
        finding = finding or Finding()
        values: dict[str, dg.MetadataValue] = {
            **self.common,
            "offending_rows": dg.MetadataValue.int(finding.offending),
            "examples": dg.MetadataValue.text("\n".join(finding.examples)),
        }
        values.update({k: dg.MetadataValue.int(v) for k, v in finding.counts.items()})
        if skipped:
            values["skipped"] = dg.MetadataValue.text(skipped)
        for key, value in metadata.items():
            if isinstance(value, dg.MetadataValue):
                values[key] = value
            elif isinstance(value, bool) or value is None:
                values[key] = dg.MetadataValue.text("" if value is None else str(value).lower())
            elif isinstance(value, int):
                values[key] = dg.MetadataValue.int(value)
            elif isinstance(value, float):
                values[key] = dg.MetadataValue.float(value)
            else:
                values[key] = dg.MetadataValue.text(str(value))
        return dg.AssetCheckResult(
            asset_key=self.asset_key, check_name=check, passed=passed,
            severity=CHECKS[check].severity, description=description, metadata=values,
        )


def summary(finding: Finding, what: str) -> str:
    if not finding.offending:
        return f"no {what}"
    shown = "; ".join(finding.examples)
    return f"{finding.offending} {what}" + (f", e.g. {shown}" if shown else "")


# ---------------------------------------------------------------------------
# Database helpers


def snapshot(postgres: PostgresResource) -> psycopg.Connection:
    """A read-only connection whose transaction sees one snapshot."""
    conn = postgres.connect()
    conn.read_only = True
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    return conn


def context_cluster(cur: psycopg.Cursor, context_name: str) -> tuple[str | None, bool]:
    """The cluster k8s_cluster_contexts says the context reaches, and whether its k8s_clusters row exists."""
    row = cur.execute(sql_text("checks/context_cluster.sql"), {"context_name": context_name}).fetchone()
    return (str(row[0]), bool(row[1])) if row else (None, False)


def coverage(cur: psycopg.Cursor, cluster_uid: str) -> dict[str, tuple[str, dt.datetime | None]]:
    return {kind: (status, last_complete)
            for kind, status, last_complete, _ in cur.execute(sql_text("checks/coverage.sql"),
                                                             {"cluster_uid": cluster_uid})}


def has_namespaces(kind: Kind) -> bool:
    """Namespaced kinds, and shared tables (their namespace column is NULL for cluster-scoped resources)."""
    return kind.namespaced or is_shared_table(kind)


def namespace_expr(kind: Kind) -> sql.Composable:
    return sql.SQL("t.{}").format(sql.Identifier("namespace")) if has_namespaces(kind) else sql.SQL("NULL::text")


def name_scope_expr(kind: Kind) -> sql.Composable:
    """What a name is unique within: the namespace; in a shared table, the resource and namespace
    (``leases.coordination.k8s.io/kube-system``)."""
    if not is_shared_table(kind):
        return namespace_expr(kind)
    return sql.SQL("concat_ws('/', t.plural || CASE WHEN t.{group} = '' THEN '' ELSE '.' || t.{group} END, "
                   "t.{namespace})").format(group=sql.Identifier("group"), namespace=sql.Identifier("namespace"))


def kind_template(name: str, kind: Kind, **identifiers: sql.Composable) -> sql.Composed:
    identifiers.setdefault("namespace", namespace_expr(kind))
    return sql_template(name, table=sql.Identifier(kind.table), **identifiers)


# The metadata mark of the watcher's runless materializations (k8s_assets/watcher.py).
WATCH_SOURCE = "watch"


def latest_materialization(instance: dg.DagsterInstance, asset_key: dg.AssetKey, partition: str,
                           pages: int = 10, page_size: int = 100):
    """The newest materialization of one asset partition that records a listing, or None.

    A watcher's materializations (``k8s-assets watch``: a kind's applied events, marked
    ``source: watch``) are passed over: they carry no listing."""
    cursor = None
    for _ in range(pages):
        found = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=[partition]), limit=page_size, cursor=cursor)
        for record in found.records:
            if _plain(record.asset_materialization.metadata.get("source")) != WATCH_SOURCE:
                return record
        if not found.has_more:
            return None
        cursor = found.cursor
    return None


def _plain(value):
    return getattr(value, "value", value)


@dataclass
class Evaluation:
    """What every check of one table, one partition and one snapshot is evaluated with."""

    results: Results
    cur: psycopg.Cursor
    kind: Kind | None  # None for the checks of k8s_clusters
    partition: str
    cluster_uid: str | None  # the cluster the sync step resolved for the partition (ClusterSync.cluster)
    kinds: Sequence[Kind] = ()  # every selected kind (references may resolve to any)
    covered: dict = field(default_factory=dict)  # table -> (status, last complete listing)
    instance: dg.DagsterInstance | None = None
    run_id: str = ""
    schedule: str = "0 * * * *"
    max_age: dt.timedelta | None = None

    @property
    def selected(self) -> set[str]:
        return {k.table for k in self.kinds}


# ---------------------------------------------------------------------------
# The checks' evaluations: one function each, named in the registry below.


def row_count_matches_listing(e: Evaluation) -> dg.AssetCheckResult:
    name, kind = "row_count_matches_listing", e.kind
    record = latest_materialization(e.instance, e.results.asset_key, e.partition)
    if record is None:
        return e.results.result(name, False, f"{kind.table} has no materialization for {e.partition!r}: "
                                "there is no listing to compare the stored rows with")
    metadata = {k: _plain(v) for k, v in record.asset_materialization.metadata.items()}
    status = str(metadata.get(LISTING_STATUS, "complete"))
    run = {"materialization_run_id": record.run_id, "materialized_in_this_run": record.run_id == e.run_id}
    if status != "complete":
        return e.results.result(
            name, True,
            f"not compared: the latest listing of {kind.resource} was {status}, so the rows of the last "
            "complete listing were kept on purpose (see k8s_sync_coverage)",
            skipped=f"listing_status={status}", listing_status=status, **run,
        )
    listed = metadata.get(LISTED)
    counted_uid = str(metadata.get(CLUSTER_UID) or e.cluster_uid or "")
    if listed is None or not counted_uid:
        return e.results.result(name, False, "the latest materialization carries no `listed` count or "
                                "cluster_uid", listing_status=status, **run)
    # A watch moves the count with the objects it adds and deletes (k8s_sync_coverage, written with
    # the rows): read in this snapshot, it is exact even while a watch applies events.
    covered = e.cur.execute(sql_text("checks/listed_count.sql"),
                            {"cluster_uid": counted_uid, "kind": kind.table}).fetchone()
    watched = 0
    if covered is not None and covered[0] is not None:
        watched = int(covered[0]) - int(listed)
        listed = covered[0]
    stored = e.cur.execute(sql_template("checks/row_count.sql", table=sql.Identifier(kind.table)),
                           {"cluster_uid": counted_uid}).fetchone()[0]
    rejected = e.cur.execute(sql_template("checks/rejected_unstored.sql", table=sql.Identifier(kind.table)),
                             {"cluster_uid": counted_uid, "kind": kind.table}).fetchone()[0]
    difference = stored + rejected - int(listed)
    finding = Finding(offending=abs(difference))
    refused = f" and {rejected} refused by the database (k8s_rejected_objects)" if rejected else ""
    if watched:
        refused += f" (the listing's count moved by {watched:+d} objects a watch added or deleted since)"
    if difference == 0:
        text = f"{stored} rows stored{refused}, as listed"
    elif difference < 0:
        text = (f"{-difference} rows missing: the listing returned {listed} objects but {stored} rows are "
                f"stored{refused}")
    else:
        text = (f"{difference} rows too many: the listing returned {listed} objects but {stored} rows are "
                f"stored{refused}")
    return e.results.result(name, difference == 0, text, finding, listed=int(listed), stored=stored,
                            rejected=rejected, difference=difference, listing_status=status, watched=watched,
                            counted_cluster_uid=counted_uid, **run)


def rows_reference_cluster(e: Evaluation) -> dg.AssetCheckResult:
    finding = run_finding(e.cur, kind_template("checks/unknown_cluster_rows.sql", e.kind), {"context_name": e.partition})
    stored_uid, cluster_stored = context_cluster(e.cur, e.partition)
    problems = []
    if stored_uid is None:
        problems.append(f"context {e.partition!r} has no k8s_cluster_contexts row (never synced)")
    elif not cluster_stored:
        problems.append(f"context {e.partition!r} maps to cluster {stored_uid}, which has no k8s_clusters row")
    elif e.cluster_uid and stored_uid != e.cluster_uid:
        problems.append(f"context {e.partition!r} maps to cluster {stored_uid}, but this sync reached {e.cluster_uid}")
    if finding.offending:
        problems.append(summary(finding, "rows written by this context reference a cluster_uid missing "
                                         "from k8s_clusters"))
    return e.results.result("rows_reference_cluster", not problems,
                            "; ".join(problems) or "every row's cluster is stored",
                            finding, context_resolves=stored_uid is not None and cluster_stored)


def names_unique(e: Evaluation) -> dg.AssetCheckResult:
    finding = run_finding(e.cur, kind_template("checks/duplicate_names.sql", e.kind, namespace=name_scope_expr(e.kind)),
                          {"cluster_uid": e.cluster_uid})
    names = finding.counts.get("duplicate_names", 0)
    text = (f"{names} names are held by {finding.offending} rows, e.g. " + "; ".join(finding.examples)
            if names else "every name is held by one row")
    return e.results.result("names_unique", finding.offending == 0, text, finding)


def versions_overlap(kind: Kind) -> sql.Composed:
    """The query of ``history_matches_current``: versions of one object valid at once."""
    # The namespace of a version whose object is gone is the version's own.
    namespace = sql.SQL("h.namespace") if has_namespaces(kind) else sql.SQL("NULL::text")
    return kind_template("history/versions_overlap.sql", kind, namespace=namespace,
                         history=sql.Identifier(history_table(kind)))


def history_matches_current(e: Evaluation) -> dg.AssetCheckResult:
    finding = run_finding(e.cur, versions_overlap(e.kind), {"cluster_uid": e.cluster_uid})
    return e.results.result("history_matches_current", finding.offending == 0,
                            summary(finding, "versions overlap") if finding.offending
                            else "no object has two versions valid at once", finding)


def visible_kind_not_forbidden(e: Evaluation) -> dg.AssetCheckResult:
    table = e.kind.table
    params = {"kind": table, "prefix": table.replace("_", r"\_") + ":%", "context": e.partition}
    lost = e.cur.execute(sql_text("checks/lost_visibility.sql"), params).fetchall()
    complete, forbidden, not_served, failed = e.cur.execute(sql_text("checks/coverage_counts.sql"), params).fetchone()
    metadata: dict = {"complete": complete, "forbidden": forbidden, "not_served": not_served, "failed": failed}
    if lost:
        metadata["lost_visibility"] = dg.MetadataValue.md("\n".join(
            f"- `{kind}` in `{context}`: forbidden since {synced_at:%Y-%m-%d %H:%M:%S}, last complete "
            f"{last_complete:%Y-%m-%d %H:%M:%S}" for kind, context, last_complete, synced_at, _ in lost))
    return e.results.result(
        "visible_kind_not_forbidden", not lost,
        f"{len(lost)} cluster/kind pair(s) that were visible are now forbidden" if lost else "no kind lost visibility",
        Finding(offending=len(lost)), **metadata)


def rows_reference_namespace(e: Evaluation) -> dg.AssetCheckResult:
    name = "rows_reference_namespace"
    if NAMESPACES_TABLE not in e.selected:
        return e.results.result(name, True, "not checked: k8s_namespaces is not a selected kind",
                                skipped="k8s_namespaces not selected")
    _, listed_at = e.covered.get(NAMESPACES_TABLE, (None, None))
    if listed_at is None:
        return e.results.result(name, True, "not checked: namespaces of this cluster were never listed completely",
                                skipped="namespaces never listed completely")
    finding = run_finding(e.cur, kind_template("checks/missing_namespaces.sql", e.kind),
                          {"cluster_uid": e.cluster_uid, "namespaces_listed_at": listed_at - NAMESPACE_LISTING_MARGIN})
    text = summary(finding, "rows are in a namespace that is not stored")
    if finding.counts.get("created_after_namespace_listing"):
        text += (f" ({finding.counts['created_after_namespace_listing']} rows created after the namespaces "
                 "were listed are not counted)")
    return e.results.result(name, finding.offending == 0, text, finding, namespaces_listed_at=listed_at.isoformat())


def owner_tables(kinds: Iterable[Kind], covered: dict) -> dict[str, list[str]]:
    """Kubernetes kind name -> tables holding it, for kinds whose last listing here was complete."""
    tables: dict[str, list[str]] = {}
    for k in kinds:
        if covered.get(k.table, (None,))[0] == "complete":
            tables.setdefault(k.kind, []).append(k.table)
    return tables


def dangling_owners_query(kind: Kind, resolvable: dict[str, list[str]]) -> tuple[sql.Composed, dict]:
    typed = all(c in {col.name for col in kind.columns} for c in OWNER_COLUMNS)
    refs = kind_template("checks/owner_refs_typed.sql" if typed else "checks/owner_refs_raw.sql", kind)
    params: dict = {"resolvable_kinds": sorted(resolvable)}
    branches = []
    for i, (owner_kind, tables) in enumerate(sorted(resolvable.items())):
        params[f"owner_kind_{i}"] = owner_kind
        missing = [sql_template("checks/owner_missing.sql", owner_table=sql.Identifier(t)) for t in tables]
        branches.append(sql.SQL("(r.owner_kind = {} AND {})").format(
            sql.Placeholder(f"owner_kind_{i}"), sql.SQL(" AND ").join(missing)))
    dangling = sql.SQL(" OR ").join(branches) if branches else sql.SQL("false")
    return sql_template("checks/dangling_owners.sql", refs=refs, dangling=dangling), params


def controller_owners_resolve(e: Evaluation) -> dg.AssetCheckResult:
    statement, params = dangling_owners_query(e.kind, owner_tables(e.kinds, e.covered))
    rows = e.cur.execute(statement, {"cluster_uid": e.cluster_uid, **params}).fetchall()
    finding, references, not_synced = Finding(), 0, {}
    for category, count, namespace, name, detail in rows:
        if category == "dangling":
            finding.offending = int(count)
            finding.examples.append(example(namespace, name, detail))
        elif category == "references":
            references = int(count)
        else:
            not_synced[detail] = int(count)
    text = summary(finding, "controlling owner references do not resolve to a stored object")
    if not_synced:
        text += "; not checked (owner kind not synced): " + ", ".join(f"{k} x{n}" for k, n in sorted(not_synced.items()))
    return e.results.result(
        "controller_owners_resolve", finding.offending == 0, text, finding,
        owner_references=references, unchecked_references=sum(not_synced.values()),
        unchecked_owner_kinds=", ".join(sorted(not_synced)),
    )


def scheduled_on_stored_node(e: Evaluation) -> dg.AssetCheckResult:
    name = "scheduled_on_stored_node"
    if NODES_TABLE not in e.selected or e.covered.get(NODES_TABLE, (None, None))[1] is None:
        return e.results.result(name, True, "not checked: nodes are not selected or were never listed "
                                "completely in this cluster", skipped="nodes not synced")
    finding = run_finding(e.cur, kind_template("checks/missing_nodes.sql", e.kind), {"cluster_uid": e.cluster_uid})
    return e.results.result(name, finding.offending == 0,
                            summary(finding, "scheduled rows are bound to a node that is not stored"), finding)


@functools.cache
def schedule_interval(cron: str) -> dt.timedelta:
    """The smallest gap between two ticks of a cron schedule (one hour if it cannot be read).

    Cached: Dagster finds it by walking a thousand ticks (6 ms), and every check spec of every
    kind asks for the same schedule's when the definitions load."""
    try:
        from dagster._utils.schedules import get_smallest_cron_interval

        return get_smallest_cron_interval(cron)
    except Exception:  # noqa: BLE001 - a private helper; fall back rather than fail to load
        return DEFAULT_INTERVAL


def max_age_of(schedule: str, max_age: dt.timedelta | None = None) -> dt.timedelta:
    return max_age or STALE_AFTER_INTERVALS * schedule_interval(schedule)


def synced_recently(e: Evaluation) -> dg.AssetCheckResult:
    name = "synced_recently"
    max_age = max_age_of(e.schedule, e.max_age)
    row = e.cur.execute(sql_text("checks/cluster_freshness.sql"), {"context_name": e.partition}).fetchone()
    if row is None:
        return e.results.result(name, False, f"context {e.partition!r} was never synced")
    cluster_uid, last_synced_at, _, age = row
    stale = e.cur.execute(sql_text("checks/stale_kinds.sql"),
                          {"cluster_uid": cluster_uid, "kinds": sorted(e.selected), "max_age": max_age}).fetchall()
    finding = Finding(
        offending=len(stale),
        examples=[f"{kind}: last complete listing "
                  + (f"{dt.timedelta(seconds=round(a))} ago" if a is not None else "never")
                  + f" ({status})" for kind, status, _, a in stale[:MAX_EXAMPLES]],
    )
    problems = []
    if age > max_age.total_seconds():
        problems.append(f"last synced {dt.timedelta(seconds=max(0, round(age)))} ago, more than {max_age}")
    if stale:
        problems.append(summary(finding, "kinds have failed to list for longer than that"))
    text = "; ".join(problems) or f"synced {dt.timedelta(seconds=max(0, round(age)))} ago (allowed: {max_age})"
    return e.results.result(
        name, not problems, text, finding, last_synced_at=last_synced_at.isoformat(),
        age_seconds=int(age), max_age_seconds=int(max_age.total_seconds()), stale_kinds=len(stale),
        schedule=e.schedule,
    )


def watch_keeping_up(e: Evaluation) -> dg.AssetCheckResult:
    name = "watch_keeping_up"
    rows = e.cur.execute(sql_text("checks/watch_state.sql"), {"context_name": e.partition}).fetchall()
    if not rows:
        return e.results.result(name, True, "not watched (no k8s-assets watch has run for this cluster)", watched=0)
    behind = [(kind, status, lag, silent) for kind, status, lag, silent, _ in rows
              if status != "forbidden" and (status != "watching" or (lag or 0) > WATCH_MAX_LAG.total_seconds()
                                            or silent > WATCH_SILENT_AFTER.total_seconds())]
    finding = Finding(offending=len(behind), examples=[
        f"{kind}: {status}" + (f", lag p99 {lag:.1f}s" if lag is not None else "")
        + f", last heard from {dt.timedelta(seconds=round(silent))} ago" for kind, status, lag, silent in behind[:MAX_EXAMPLES]])
    worst = max((lag or 0.0 for _, status, lag, _, _ in rows if status == "watching"), default=0.0)
    text = (summary(finding, f"watched kinds are stopped, relisting, lagging more than {WATCH_MAX_LAG} or silent "
                             f"for more than {WATCH_SILENT_AFTER}") if behind
            else f"{len(rows)} kinds watched, the worst lag p99 {worst:.2f}s")
    return e.results.result(name, not behind, text, finding, watched=len(rows), worst_lag_p99_seconds=float(worst))


# ---------------------------------------------------------------------------
# The registry: one entry per check. A new check is an entry here, its evaluation above and
# its SQL in sql/checks/ (docs/checks.md says what a failure means).


def every_kind(kind: Kind) -> bool:
    return True


@dataclass(frozen=True)
class Check:
    name: str
    severity: dg.AssetCheckSeverity
    blocking: bool  # a failure stops what depends on the asset (only with ERROR severity)
    stage: Stage
    description: str  # what passing means, shown in the UI; {max_age} and {schedule} are filled in
    evaluate: Callable[[Evaluation], dg.AssetCheckResult]
    applies_to: Callable[[Kind], bool] = every_kind
    # Evaluated (and failing when the context resolves to no cluster) only for a resolved cluster.
    needs_cluster: bool = True
    # Also evaluated for generic tables (custom resources: one table, many kinds).
    generic: bool = False


CHECKS: dict[str, Check] = {c.name: c for c in (
    Check("row_count_matches_listing", dg.AssetCheckSeverity.ERROR, True, Stage.KIND,
          "Rows stored for the cluster equal the objects the latest listing returned "
          "(`listed` in the materialization metadata), less those the database refused "
          "and holds no version of (k8s_rejected_objects).",
          row_count_matches_listing, needs_cluster=False),
    Check("rows_reference_cluster", dg.AssetCheckSeverity.ERROR, True, Stage.KIND,
          "The context resolves to a stored cluster and every row it wrote has a k8s_clusters row.",
          rows_reference_cluster, needs_cluster=False),
    Check("names_unique", dg.AssetCheckSeverity.ERROR, True, Stage.KIND,
          "No two rows of the cluster share (namespace, name).", names_unique),
    Check("history_matches_current", dg.AssetCheckSeverity.ERROR, True, Stage.KIND,
          "No object has two versions valid at once: every version that ended in the last day ended "
          "no later than the current row began, and none ended before it began.", history_matches_current),
    Check("visible_kind_not_forbidden", dg.AssetCheckSeverity.ERROR, False, Stage.KIND,
          "Fails when a kind listed completely before is now forbidden (RBAC narrowed): "
          "its stored rows are kept but no longer current.",
          visible_kind_not_forbidden, needs_cluster=False, generic=True),
    Check("rows_reference_namespace", dg.AssetCheckSeverity.ERROR, True, Stage.REFERENCES,
          "Every row's namespace is stored in k8s_namespaces for the cluster.",
          rows_reference_namespace, applies_to=has_namespaces),
    Check("controller_owners_resolve", dg.AssetCheckSeverity.WARN, False, Stage.REFERENCES,
          "Every controlling ownerReference resolves to a stored object when its kind is synced.",
          controller_owners_resolve),
    Check("scheduled_on_stored_node", dg.AssetCheckSeverity.WARN, False, Stage.REFERENCES,
          "Every row's node_name (a pod's, a volume attachment's) is stored in k8s_nodes.", scheduled_on_stored_node,
          applies_to=lambda kind: "node_name" in {c.name for c in kind.columns}),
    Check("watch_keeping_up", dg.AssetCheckSeverity.WARN, False, Stage.CLUSTER,
          "If k8s-assets watch keeps this cluster: every kind it watched is still watched (not stopped or "
          "relisting), its last batch's lag p99 is under {watch_max_lag} and the API server was heard from "
          "(an event or a bookmark) within {watch_silent}.", watch_keeping_up, needs_cluster=False),
    Check("synced_recently", dg.AssetCheckSeverity.ERROR, False, Stage.CLUSTER,
          "The cluster was synced within {max_age} ({intervals} intervals of the schedule {schedule!r}) and no "
          "selected kind has failed to list for that long.", synced_recently, needs_cluster=False),
)}


def checks_of(kind: Kind, stage: Stage) -> list[Check]:
    return [c for c in CHECKS.values() if c.stage is stage and c.applies_to(kind)]


def check_spec(check: Check, table: str, partitions_def: dg.PartitionsDefinition | None, schedule: str = "0 * * * *",
               max_age: dt.timedelta | None = None) -> dg.AssetCheckSpec:
    description = check.description.format(max_age=max_age_of(schedule, max_age), schedule=schedule,
                                           intervals=STALE_AFTER_INTERVALS, watch_max_lag=WATCH_MAX_LAG,
                                           watch_silent=WATCH_SILENT_AFTER)
    return dg.AssetCheckSpec(check.name, asset=table, blocking=check.blocking, description=description,
                             partitions_def=partitions_def)


def evaluate(checks: Iterable[Check], e: Evaluation) -> Iterator[dg.AssetCheckResult]:
    for check in checks:
        if check.needs_cluster and e.cluster_uid is None:
            yield e.results.result(check.name, False, f"context {e.partition!r} does not resolve to a cluster "
                                                      "(no k8s_cluster_contexts row)")
        else:
            yield check.evaluate(e)


# ---------------------------------------------------------------------------
# What the sync step (k8s_assets/dagster_edge/cluster_sync.py) asks for.


def check_specs(kinds: Sequence[Kind], partitions_def: dg.PartitionsDefinition | None, schedule: str = "0 * * * *",
                max_age: dt.timedelta | None = None) -> list[dg.AssetCheckSpec]:
    """Every check of the selected kinds (and of k8s_clusters), on the same partitions as the assets."""
    kinds = tuple(kinds)
    cluster_checks = [c for c in CHECKS.values() if c.stage is Stage.CLUSTER]
    return [*(check_spec(c, CLUSTERS_TABLE, partitions_def, schedule, max_age) for c in cluster_checks),
            *(check_spec(c, k.table, partitions_def) for k in kinds for c in checks_of(k, Stage.KIND)),
            *(check_spec(c, k.table, partitions_def) for k in kinds for c in checks_of(k, Stage.REFERENCES))]


def generic_specs(table: str, partitions_def: dg.PartitionsDefinition | None) -> list[dg.AssetCheckSpec]:
    """The checks of a generic table (custom resources), whose rows are of many kinds."""
    return [check_spec(c, table, partitions_def) for c in CHECKS.values() if c.generic]


def integrity_results(kind: Kind, wanted: set[str], partition: str, cluster_uid: str | None,
                      instance: dg.DagsterInstance, run_id: str, postgres: PostgresResource
                      ) -> Iterator[dg.AssetCheckResult]:
    """The wanted checks (names) of one kind that read only its own table, in one snapshot:
    evaluated right after the kind is merged, never held back by another kind's failure."""
    chosen = [c for c in checks_of(kind, Stage.KIND) if c.name in wanted]
    if not chosen:
        return
    with snapshot(postgres) as conn, conn.transaction():
        results = Results(dg.AssetKey(kind.table), partition)
        results.set_cluster(cluster_uid)
        yield from evaluate(chosen, Evaluation(results, conn.cursor(), kind, partition, cluster_uid,
                                               instance=instance, run_id=run_id))


def generic_results(kind: Kind, wanted: set[str], partition: str, cluster_uid: str | None,
                    postgres: PostgresResource) -> Iterator[dg.AssetCheckResult]:
    """The wanted checks of a generic table (``kind`` is its catalog entry)."""
    chosen = [c for c in CHECKS.values() if c.generic and c.name in wanted]
    if not chosen:
        return
    with snapshot(postgres) as conn, conn.transaction():
        results = Results(dg.AssetKey(kind.table), partition)
        results.set_cluster(cluster_uid)
        yield from evaluate(chosen, Evaluation(results, conn.cursor(), kind, partition, cluster_uid))


def reference_results(kinds: Sequence[Kind], wanted: set[dg.AssetCheckKey], partition: str, cluster_uid: str | None,
                      postgres: PostgresResource) -> Iterator[dg.AssetCheckResult]:
    """The wanted checks that read the tables a kind refers to, in one snapshot.

    A reference can only be checked once the referenced kind is stored, and any kind may own
    another, so these are evaluated after every kind of the run; ``kinds`` are all selected
    kinds (the tables references may resolve to), ``wanted`` the checks to evaluate.
    """
    pairs = [(kind, [c for c in checks_of(kind, Stage.REFERENCES)
                     if dg.AssetCheckKey(dg.AssetKey(kind.table), c.name) in wanted]) for kind in kinds]
    pairs = [(kind, chosen) for kind, chosen in pairs if chosen]
    if not pairs:
        return
    with snapshot(postgres) as conn, conn.transaction():
        cur = conn.cursor()
        covered = coverage(cur, cluster_uid) if cluster_uid else {}
        for kind, chosen in pairs:
            results = Results(dg.AssetKey(kind.table), partition)
            results.set_cluster(cluster_uid)
            yield from evaluate(chosen, Evaluation(results, cur, kind, partition, cluster_uid, kinds=kinds,
                                                   covered=covered))


def cluster_results(kinds: Sequence[Kind], wanted: set[dg.AssetCheckKey], partition: str, postgres: PostgresResource,
                    schedule: str, max_age: dt.timedelta | None = None) -> Iterator[dg.AssetCheckResult]:
    """The wanted checks of k8s_clusters (freshness), last."""
    chosen = [c for c in CHECKS.values() if c.stage is Stage.CLUSTER
              and dg.AssetCheckKey(dg.AssetKey(CLUSTERS_TABLE), c.name) in wanted]
    if not chosen:
        return
    with snapshot(postgres) as conn, conn.transaction():
        cur = conn.cursor()
        # The cluster is resolved here once, so every result of k8s_clusters names it.
        cluster_uid, _ = context_cluster(cur, partition)
        results = Results(dg.AssetKey(CLUSTERS_TABLE), partition)
        results.set_cluster(cluster_uid)
        yield from evaluate(chosen, Evaluation(results, cur, None, partition, cluster_uid, kinds=kinds,
                                               schedule=schedule, max_age=max_age))


def is_blocking_failure(result: dg.AssetCheckResult) -> bool:
    """A failed check that blocks what depends on its asset (as Dagster treats blocking specs)."""
    check = CHECKS.get(result.check_name)
    return not result.passed and check is not None and check.blocking and result.severity == dg.AssetCheckSeverity.ERROR
