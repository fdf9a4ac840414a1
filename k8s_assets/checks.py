"""Asset checks proving each cluster's inventory is complete and consistent, built from the catalog.

Every check is evaluated for one partition (one kubeconfig context): the cluster that context
reached, as recorded in ``k8s_cluster_contexts``. All queries run in PostgreSQL (``sql/checks/``)
along the tables' (cluster_uid, ...) indexes, in one read-only REPEATABLE READ transaction per
group of checks (a kind's integrity, the references) so that its results describe one snapshot.

All are check specs of the one sync step of a context (k8s_assets/cluster_sync.py), which calls
the evaluation functions here. Per kind table (ERROR severity, **blocking**; the first three
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
* ``scheduled_on_stored_node`` (kinds with a ``node_name`` column: pods) -- a pod bound to a node
  that is not stored. Nodes are removed (autoscaler, spot reclaim) before pod GC deletes their
  pods, so this is a warning too.

On ``k8s_clusters`` (ERROR, not blocking, so a stale cluster never stops the sync that would
refresh it): ``synced_recently`` -- ``last_synced_at`` is younger than two schedule intervals and
no selected kind has kept failing for that long.

See docs/checks.md for what each failure means and what to do.
"""


import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import dagster as dg
import psycopg
from psycopg import sql

from k8s_assets import coverage_checks
from k8s_assets.catalog import Kind, is_shared_table
from k8s_assets.database import sql_template, sql_text
from k8s_assets.inventory import CLUSTER_UID, CLUSTERS_TABLE, LISTED, LISTING_STATUS
from k8s_assets.resources import PostgresResource

ROW_COUNT = "row_count_matches_listing"
CLUSTER_REFERENCE = "rows_reference_cluster"
NAMESPACE_REFERENCE = "rows_reference_namespace"
UNIQUE_NAMES = "names_unique"
OWNER_REFERENCE = "controller_owners_resolve"
NODE_REFERENCE = "scheduled_on_stored_node"
SYNCED_RECENTLY = "synced_recently"
HISTORY_AGREES = "history_matches_current"

NAMESPACES_TABLE = "k8s_namespaces"
NODES_TABLE = "k8s_nodes"
MAX_EXAMPLES = 5
# Objects created less than this before the namespaces' merge committed may belong to a
# namespace created after the namespace listing (and absorbs API server/database clock skew).
NAMESPACE_LISTING_MARGIN = dt.timedelta(seconds=60)
# Freshness: a cluster is stale after this many schedule intervals without a sync.
STALE_AFTER_INTERVALS = 2
DEFAULT_INTERVAL = dt.timedelta(hours=1)
OWNER_COLUMNS = ("owner_kind", "owner_name", "owner_uid")
FINDING_COLUMNS = ("offending", "namespace", "name", "detail")


@dataclass(frozen=True)
class CheckInfo:
    """A check as docs and tests see it."""

    name: str
    severity: dg.AssetCheckSeverity
    blocking: bool
    description: str


CHECKS: dict[str, CheckInfo] = {
    c.name: c
    for c in (
        CheckInfo(ROW_COUNT, dg.AssetCheckSeverity.ERROR, True,
                  "Rows stored for the cluster equal the objects the latest listing returned "
                  "(`listed` in the materialization metadata), less those the database refused "
                  "and holds no version of (k8s_rejected_objects)."),
        CheckInfo(CLUSTER_REFERENCE, dg.AssetCheckSeverity.ERROR, True,
                  "The context resolves to a stored cluster and every row it wrote has a k8s_clusters row."),
        CheckInfo(NAMESPACE_REFERENCE, dg.AssetCheckSeverity.ERROR, True,
                  "Every row's namespace is stored in k8s_namespaces for the cluster."),
        CheckInfo(UNIQUE_NAMES, dg.AssetCheckSeverity.ERROR, True,
                  "No two rows of the cluster share (namespace, name)."),
        CheckInfo(OWNER_REFERENCE, dg.AssetCheckSeverity.WARN, False,
                  "Every controlling ownerReference resolves to a stored object when its kind is synced."),
        CheckInfo(NODE_REFERENCE, dg.AssetCheckSeverity.WARN, False,
                  "Every scheduled pod's node_name is stored in k8s_nodes."),
        CheckInfo(HISTORY_AGREES, dg.AssetCheckSeverity.ERROR, True,
                  "Every current row has exactly one open version in the kind's history at the same "
                  "resourceVersion, and no open version lacks a current row."),
        CheckInfo(SYNCED_RECENTLY, dg.AssetCheckSeverity.ERROR, False,
                  "The cluster was synced within two schedule intervals and no kind keeps failing."),
    )
}


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


def resolve_cluster(cur: psycopg.Cursor, context_name: str) -> tuple[str | None, bool]:
    row = cur.execute(sql_text("checks/resolve_cluster.sql"), {"context_name": context_name}).fetchone()
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


def latest_materialization(instance: dg.DagsterInstance, asset_key: dg.AssetKey, partition: str):
    """The newest materialization event record of one asset partition, or None."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=[partition]), limit=1
    ).records
    return records[0] if records else None


def _plain(value):
    return getattr(value, "value", value)


# ---------------------------------------------------------------------------
# Integrity checks (ERROR, blocking)


def check_row_count(results: Results, cur: psycopg.Cursor, kind: Kind, instance: dg.DagsterInstance,
                    partition: str, cluster_uid: str | None, run_id: str) -> dg.AssetCheckResult:
    record = latest_materialization(instance, results.asset_key, partition)
    if record is None:
        return results.result(ROW_COUNT, False, f"{kind.table} has no materialization for {partition!r}: "
                              "there is no listing to compare the stored rows with")
    metadata = {k: _plain(v) for k, v in record.asset_materialization.metadata.items()}
    status = str(metadata.get(LISTING_STATUS, "complete"))
    run = {"materialization_run_id": record.run_id, "materialized_in_this_run": record.run_id == run_id}
    if status != "complete":
        return results.result(
            ROW_COUNT, True,
            f"not compared: the latest listing of {kind.resource} was {status}, so the rows of the last "
            "complete listing were kept on purpose (see k8s_sync_coverage)",
            skipped=f"listing_status={status}", listing_status=status, **run,
        )
    listed = metadata.get(LISTED)
    counted_uid = str(metadata.get(CLUSTER_UID) or cluster_uid or "")
    if listed is None or not counted_uid:
        return results.result(ROW_COUNT, False, "the latest materialization carries no `listed` count or "
                              "cluster_uid", listing_status=status, **run)
    stored = cur.execute(sql_template("checks/row_count.sql", table=sql.Identifier(kind.table)),
                         {"cluster_uid": counted_uid}).fetchone()[0]
    rejected = cur.execute(sql_template("checks/rejected_unstored.sql", table=sql.Identifier(kind.table)),
                           {"cluster_uid": counted_uid, "kind": kind.table}).fetchone()[0]
    difference = stored + rejected - int(listed)
    finding = Finding(offending=abs(difference))
    refused = f" and {rejected} refused by the database (k8s_rejected_objects)" if rejected else ""
    if difference == 0:
        text = f"{stored} rows stored{refused}, as listed"
    elif difference < 0:
        text = (f"{-difference} rows missing: the listing returned {listed} objects but {stored} rows are "
                f"stored{refused}")
    else:
        text = (f"{difference} rows too many: the listing returned {listed} objects but {stored} rows are "
                f"stored{refused}")
    return results.result(ROW_COUNT, difference == 0, text, finding, listed=int(listed), stored=stored,
                          rejected=rejected, difference=difference, listing_status=status,
                          counted_cluster_uid=counted_uid, **run)


def check_cluster_reference(results: Results, cur: psycopg.Cursor, kind: Kind, partition: str,
                            cluster_uid: str | None, cluster_stored: bool) -> dg.AssetCheckResult:
    finding = run_finding(cur, kind_template("checks/unknown_cluster_rows.sql", kind), {"context_name": partition})
    problems = []
    if cluster_uid is None:
        problems.append(f"context {partition!r} has no k8s_cluster_contexts row (never synced)")
    elif not cluster_stored:
        problems.append(f"context {partition!r} maps to cluster {cluster_uid}, which has no k8s_clusters row")
    if finding.offending:
        problems.append(summary(finding, "rows written by this context reference a cluster_uid missing "
                                         "from k8s_clusters"))
    return results.result(CLUSTER_REFERENCE, not problems, "; ".join(problems) or "every row's cluster is stored",
                          finding, context_resolves=cluster_uid is not None and cluster_stored)


def check_namespace_reference(results: Results, cur: psycopg.Cursor, kind: Kind, selected: set[str],
                              covered: dict, cluster_uid: str) -> dg.AssetCheckResult:
    if NAMESPACES_TABLE not in selected:
        return results.result(NAMESPACE_REFERENCE, True, "not checked: k8s_namespaces is not a selected kind",
                              skipped="k8s_namespaces not selected")
    _, listed_at = covered.get(NAMESPACES_TABLE, (None, None))
    if listed_at is None:
        return results.result(NAMESPACE_REFERENCE, True,
                              "not checked: namespaces of this cluster were never listed completely",
                              skipped="namespaces never listed completely")
    finding = run_finding(cur, kind_template("checks/missing_namespaces.sql", kind),
                          {"cluster_uid": cluster_uid, "namespaces_listed_at": listed_at - NAMESPACE_LISTING_MARGIN})
    text = summary(finding, "rows are in a namespace that is not stored")
    if finding.counts.get("created_after_namespace_listing"):
        text += (f" ({finding.counts['created_after_namespace_listing']} rows created after the namespaces "
                 "were listed are not counted)")
    return results.result(NAMESPACE_REFERENCE, finding.offending == 0, text, finding,
                          namespaces_listed_at=listed_at.isoformat())


def check_unique_names(results: Results, cur: psycopg.Cursor, kind: Kind, cluster_uid: str) -> dg.AssetCheckResult:
    finding = run_finding(cur, kind_template("checks/duplicate_names.sql", kind, namespace=name_scope_expr(kind)),
                          {"cluster_uid": cluster_uid})
    names = finding.counts.get("duplicate_names", 0)
    text = (f"{names} names are held by {finding.offending} rows, e.g. " + "; ".join(finding.examples)
            if names else "every name is held by one row")
    return results.result(UNIQUE_NAMES, finding.offending == 0, text, finding)


def check_history_agrees(results: Results, cur: psycopg.Cursor, kind: Kind, cluster_uid: str) -> dg.AssetCheckResult:
    finding = run_finding(cur, kind_template("history/open_versions_disagree.sql", kind,
                                             history=sql.Identifier(f"{kind.table}_history")),
                          {"cluster_uid": cluster_uid})
    return results.result(HISTORY_AGREES, finding.offending == 0,
                          summary(finding, "rows and open versions disagree") if finding.offending
                          else "every current row is the open version of its history", finding)


INTEGRITY_CHECKS = (ROW_COUNT, CLUSTER_REFERENCE, UNIQUE_NAMES, HISTORY_AGREES)


def check_spec(name: str, table: str, partitions_def: dg.PartitionsDefinition | None) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(name, asset=table, blocking=CHECKS[name].blocking,
                             description=CHECKS[name].description, partitions_def=partitions_def)


def integrity_specs(kind: Kind, partitions_def: dg.PartitionsDefinition | None) -> list[dg.AssetCheckSpec]:
    """Counts, cluster, name uniqueness, history and coverage of one kind: they need no other
    table than its own, so they are evaluated right after the kind is merged (and are never
    held back by another kind's failure)."""
    return [*(check_spec(name, kind.table, partitions_def) for name in INTEGRITY_CHECKS),
            coverage_checks.coverage_spec(kind.table, partitions_def)]


def integrity_results(kind: Kind, wanted: set[str], partition: str, instance: dg.DagsterInstance, run_id: str,
                      postgres: PostgresResource) -> Iterator[dg.AssetCheckResult]:
    """The wanted integrity checks (names) of one kind for one partition, in one snapshot."""
    if not wanted:
        return
    results = Results(dg.AssetKey(kind.table), partition)
    with snapshot(postgres) as conn, conn.transaction():
        cur = conn.cursor()
        cluster_uid, cluster_stored = resolve_cluster(cur, partition)
        results.set_cluster(cluster_uid)
        if coverage_checks.CHECK_NAME in wanted:
            yield coverage_checks.evaluate(conn, kind.table, partition)
        for name in INTEGRITY_CHECKS:
            if name not in wanted:
                continue
            if name == ROW_COUNT:
                yield check_row_count(results, cur, kind, instance, partition, cluster_uid, run_id)
            elif name == CLUSTER_REFERENCE:
                yield check_cluster_reference(results, cur, kind, partition, cluster_uid, cluster_stored)
            elif cluster_uid is None:
                yield results.result(name, False, f"context {partition!r} does not resolve to a cluster "
                                                  "(no k8s_cluster_contexts row)")
            elif name == UNIQUE_NAMES:
                yield check_unique_names(results, cur, kind, cluster_uid)
            elif name == HISTORY_AGREES:
                yield check_history_agrees(results, cur, kind, cluster_uid)


# ---------------------------------------------------------------------------
# Reference checks (WARN, not blocking)


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


def check_owner_reference(results: Results, cur: psycopg.Cursor, kind: Kind, kinds: Sequence[Kind],
                          covered: dict, cluster_uid: str) -> dg.AssetCheckResult:
    resolvable = owner_tables(kinds, covered)
    statement, params = dangling_owners_query(kind, resolvable)
    rows = cur.execute(statement, {"cluster_uid": cluster_uid, **params}).fetchall()
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
    return results.result(
        OWNER_REFERENCE, finding.offending == 0, text, finding,
        owner_references=references, unchecked_references=sum(not_synced.values()),
        unchecked_owner_kinds=", ".join(sorted(not_synced)),
    )


def check_node_reference(results: Results, cur: psycopg.Cursor, kind: Kind, selected: set[str],
                         covered: dict, cluster_uid: str) -> dg.AssetCheckResult:
    if NODES_TABLE not in selected or covered.get(NODES_TABLE, (None, None))[1] is None:
        return results.result(NODE_REFERENCE, True, "not checked: nodes are not selected or were never listed "
                              "completely in this cluster", skipped="nodes not synced")
    finding = run_finding(cur, kind_template("checks/missing_nodes.sql", kind), {"cluster_uid": cluster_uid})
    return results.result(NODE_REFERENCE, finding.offending == 0,
                          summary(finding, "scheduled rows are bound to a node that is not stored"), finding)


def reference_checks_of(kind: Kind) -> list[str]:
    return [*([NAMESPACE_REFERENCE] if has_namespaces(kind) else []), OWNER_REFERENCE,
            *([NODE_REFERENCE] if "node_name" in {c.name for c in kind.columns} else [])]


def reference_specs(kinds: Sequence[Kind], partitions_def: dg.PartitionsDefinition | None
                    ) -> list[dg.AssetCheckSpec]:
    return [check_spec(name, kind.table, partitions_def) for kind in kinds for name in reference_checks_of(kind)]


def reference_results(kinds: Sequence[Kind], wanted: set[dg.AssetCheckKey], partition: str,
                      postgres: PostgresResource) -> Iterator[dg.AssetCheckResult]:
    """Namespace (error), owner and node (warning) references of the wanted checks, in one snapshot.

    A reference can only be checked once the referenced kind is stored, and any kind may own
    another, so these are evaluated after every kind of the run; ``kinds`` are all selected
    kinds (the tables references may resolve to), ``wanted`` the checks to evaluate.
    """
    pairs = [(kind, name) for kind in kinds for name in reference_checks_of(kind)
             if dg.AssetCheckKey(dg.AssetKey(kind.table), name) in wanted]
    if not pairs:
        return
    selected = {k.table for k in kinds}
    with snapshot(postgres) as conn, conn.transaction():
        cur = conn.cursor()
        cluster_uid, _ = resolve_cluster(cur, partition)
        covered = coverage(cur, cluster_uid) if cluster_uid else {}
        for kind, name in pairs:
            results = Results(dg.AssetKey(kind.table), partition)
            results.set_cluster(cluster_uid)
            if cluster_uid is None:
                yield results.result(name, False, f"context {partition!r} does not resolve to a cluster")
            elif name == NAMESPACE_REFERENCE:
                yield check_namespace_reference(results, cur, kind, selected, covered, cluster_uid)
            elif name == OWNER_REFERENCE:
                yield check_owner_reference(results, cur, kind, kinds, covered, cluster_uid)
            elif name == NODE_REFERENCE:
                yield check_node_reference(results, cur, kind, selected, covered, cluster_uid)


# ---------------------------------------------------------------------------
# Freshness (on k8s_clusters; ERROR, not blocking)


def schedule_interval(cron: str) -> dt.timedelta:
    """The smallest gap between two ticks of a cron schedule (one hour if it cannot be read)."""
    try:
        from dagster._utils.schedules import get_smallest_cron_interval

        return get_smallest_cron_interval(cron)
    except Exception:  # noqa: BLE001 - a private helper; fall back rather than fail to load
        return DEFAULT_INTERVAL


def max_age_of(schedule: str, max_age: dt.timedelta | None = None) -> dt.timedelta:
    return max_age or STALE_AFTER_INTERVALS * schedule_interval(schedule)


def freshness_spec(partitions_def: dg.PartitionsDefinition | None, schedule: str,
                   max_age: dt.timedelta | None = None) -> dg.AssetCheckSpec:
    max_age = max_age_of(schedule, max_age)
    return dg.AssetCheckSpec(
        SYNCED_RECENTLY, asset=CLUSTERS_TABLE, blocking=CHECKS[SYNCED_RECENTLY].blocking,
        partitions_def=partitions_def,
        description=(f"The cluster was synced within {max_age} ({STALE_AFTER_INTERVALS} intervals of the "
                     f"schedule {schedule!r}) and no selected kind has failed to list for that long."),
    )


def freshness_result(kinds: Sequence[Kind], partition: str, postgres: PostgresResource, schedule: str,
                     max_age: dt.timedelta | None = None) -> dg.AssetCheckResult:
    max_age = max_age_of(schedule, max_age)
    tables = [k.table for k in kinds]
    results = Results(dg.AssetKey(CLUSTERS_TABLE), partition)
    with snapshot(postgres) as conn, conn.transaction():
        cur = conn.cursor()
        row = cur.execute(sql_text("checks/cluster_freshness.sql"), {"context_name": partition}).fetchone()
        if row is None:
            return results.result(SYNCED_RECENTLY, False, f"context {partition!r} was never synced")
        cluster_uid, last_synced_at, _, age = row
        results.set_cluster(str(cluster_uid))
        stale = cur.execute(sql_text("checks/stale_kinds.sql"),
                            {"cluster_uid": cluster_uid, "kinds": tables, "max_age": max_age}).fetchall()
    finding = Finding(
        offending=len(stale),
        examples=[f"{kind}: last complete listing "
                  + (f"{dt.timedelta(seconds=round(a))} ago" if a is not None else "never")
                  + f" ({status})" for kind, status, _, a in stale[:MAX_EXAMPLES]],
    )
    cluster_stale = age > max_age.total_seconds()
    problems = []
    if cluster_stale:
        problems.append(f"last synced {dt.timedelta(seconds=max(0, round(age)))} ago, more than {max_age}")
    if stale:
        problems.append(summary(finding, "kinds have failed to list for longer than that"))
    text = "; ".join(problems) or f"synced {dt.timedelta(seconds=max(0, round(age)))} ago (allowed: {max_age})"
    return results.result(
        SYNCED_RECENTLY, not problems, text, finding, last_synced_at=last_synced_at.isoformat(),
        age_seconds=int(age), max_age_seconds=int(max_age.total_seconds()), stale_kinds=len(stale),
        schedule=schedule,
    )


# ---------------------------------------------------------------------------


def check_specs(kinds: Sequence[Kind], partitions_def: dg.PartitionsDefinition | None, schedule: str = "0 * * * *",
                max_age: dt.timedelta | None = None) -> list[dg.AssetCheckSpec]:
    """Every check of the selected kinds (and of k8s_clusters), on the same partitions as the assets.

    They are check specs of the sync step (k8s_assets/cluster_sync.py), which evaluates them
    with the functions above: integrity right after each kind, references and freshness last.
    """
    kinds = tuple(kinds)
    return [freshness_spec(partitions_def, schedule, max_age),
            *(spec for k in kinds for spec in integrity_specs(k, partitions_def)),
            *reference_specs(kinds, partitions_def)]


def is_blocking_failure(result: dg.AssetCheckResult) -> bool:
    """A failed check that blocks what depends on its asset (as Dagster treats blocking specs)."""
    info = CHECKS.get(result.check_name)
    blocking = info.blocking if info else False
    return not result.passed and blocking and result.severity == dg.AssetCheckSeverity.ERROR
