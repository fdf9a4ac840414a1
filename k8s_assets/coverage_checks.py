"""Coverage checks: a kind that used to be visible must not silently become forbidden.

``k8s_sync_coverage`` keeps, per cluster and kind, the status of the last listing and
``last_complete_at``, the last time it was listed completely. A row that is ``forbidden`` now
but has a ``last_complete_at`` was visible before: RBAC was narrowed, the stored rows are
stale from then on, and the check fails with severity ERROR naming the clusters. A kind that
was never visible is not a regression and passes (the coverage row still says forbidden).
Custom resources are checked per CRD (``k8s_custom_resources:<plural>.<group>`` rows), other served
kinds per resource (``k8s_other_resources:<plural>.<group>``).
"""


import dagster as dg

from k8s_assets.database import sql_text
from k8s_assets.resources import PostgresResource

# Catalog kinds evaluate this check with their integrity checks (checks.integrity_results);
# assets outside the catalog (custom resources) through coverage_result.

CHECK_NAME = "visible_kind_not_forbidden"


def evaluate(conn, table: str, context_name: str | None = None) -> dg.AssetCheckResult:
    """The check for one kind table, for one context's cluster (None: every cluster)."""
    params = {"kind": table, "prefix": table.replace("_", r"\_") + ":%", "context": context_name}
    lost = conn.execute(sql_text("checks/lost_visibility.sql"), params).fetchall()
    complete, forbidden, not_served, failed = conn.execute(sql_text("checks/coverage_counts.sql"), params).fetchone()
    metadata = {"complete": complete, "forbidden": forbidden, "not_served": not_served, "failed": failed}
    if lost:
        metadata["lost_visibility"] = dg.MetadataValue.md("\n".join(
            f"- `{kind}` in `{context}`: forbidden since {synced_at:%Y-%m-%d %H:%M:%S}, last complete "
            f"{last_complete:%Y-%m-%d %H:%M:%S}" for kind, context, last_complete, synced_at, _ in lost))
    return dg.AssetCheckResult(
        asset_key=dg.AssetKey(table),
        check_name=CHECK_NAME,
        passed=not lost,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata=metadata,
        description=(f"{len(lost)} cluster/kind pair(s) that were visible are now forbidden" if lost
                     else "no kind lost visibility"),
    )


def coverage_spec(table: str, partitions_def: dg.PartitionsDefinition | None) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        CHECK_NAME, asset=table, blocking=False, partitions_def=partitions_def,
        description="Fails when a kind listed completely before is now forbidden (RBAC narrowed): "
                    "its stored rows are kept but no longer current.",
    )


def coverage_result(postgres: PostgresResource, table: str, context_name: str) -> dg.AssetCheckResult:
    """The check of one asset outside the catalog, for the partition's cluster."""
    with postgres.connect() as conn:
        return evaluate(conn, table, context_name)
