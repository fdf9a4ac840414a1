"""History in Dagster: the retention step and the check that the history describes the present.

Versions are written by the merge itself (store.merge.merge), so every kind's materialization
already says what it did to the history (``versions_opened``, ``versions_closed``,
``versions_moved_forward``, ``history_rows_estimate``). What runs on its own is
retention: ``k8s_history_retention``, an unpartitioned asset in the ``history`` group,
materialized daily by ``k8s_history_retention_schedule`` (RUNNING by default, like the sync
schedule). It drops the day partitions of versions that ended more than
``K8S_ASSETS_HISTORY_DAYS`` days ago (DROP TABLE of a partition: no row-by-row DELETE, no
bloat) and creates the coming week's partitions.
"""


import dagster as dg

from k8s_assets.dagster_edge.resources import PostgresResource
from k8s_assets.kube.config import Settings
from k8s_assets.store.retention import drop_expired_history, history_sizes

RETENTION_ASSET = "k8s_history_retention"
RETENTION_JOB = "k8s_history_retention_job"
RETENTION_SCHEDULE = "k8s_history_retention_schedule"
# Daily, a quarter past midnight UTC: the day partition that just became old enough goes then.
RETENTION_CRON = "15 0 * * *"


def describe_retention(days: int | None) -> str:
    if days is None:
        return "every version is kept (K8S_ASSETS_HISTORY_DAYS is empty)"
    if days == 0:
        return "no ended version is kept (K8S_ASSETS_HISTORY_DAYS=0): the history holds the present only"
    return f"versions that ended more than {days} days ago are dropped, a day at a time"


def build_history_retention(settings: Settings) -> tuple[dg.AssetsDefinition, object,
                                                          dg.ScheduleDefinition]:
    days = settings.history_days

    @dg.asset(
        name=RETENTION_ASSET,
        group_name="history",
        kinds={"postgres"},
        description=(
            "Retention of the k8s_<kind>_history tables: " + describe_retention(days) + ". Drops whole day "
            "partitions of ended versions (never a current row, never row by row) and creates the coming "
            "week's partitions. Read the past with k8s_<kind>_as_of(ts), k8s_changes and k8s_coverage_as_of(ts)."
        ),
    )
    def k8s_history_retention(context: dg.AssetExecutionContext, postgres: PostgresResource) -> dg.MaterializeResult:
        dropped = drop_expired_history(postgres.connect, days)
        sizes = history_sizes(postgres.connect)
        if dropped:
            context.log.info(f"dropped {len(dropped)} day partitions of history: "
                             + ", ".join(p.partition_name for p in dropped[:20]))
        horizon = max((kept for _, _, kept, _ in sizes if kept is not None), default=None)
        lines = ["| kind | bytes | complete since |", "|---|---|---|"]
        lines += [f"| {kind} | {size} | {kept.isoformat() if kept else 'first sync'} |"
                  for kind, _, kept, size in sizes]
        return dg.MaterializeResult(metadata={
            "history_days": days if days is not None else -1,
            "retention": describe_retention(days),
            "dropped_partitions": len(dropped),
            "history_bytes": sum(size for *_, size in sizes),
            "complete_since": horizon.isoformat() if horizon else "",
            "history_tables": dg.MetadataValue.md("\n".join(lines)),
        })

    job = dg.define_asset_job(RETENTION_JOB, selection=dg.AssetSelection.assets(k8s_history_retention),
                              description="Drop history older than K8S_ASSETS_HISTORY_DAYS.")
    schedule = dg.ScheduleDefinition(name=RETENTION_SCHEDULE, job=job, cron_schedule=RETENTION_CRON,
                                     default_status=dg.DefaultScheduleStatus.RUNNING,
                                     description="Daily retention of the history tables (K8S_ASSETS_HISTORY_DAYS).")
    return k8s_history_retention, job, schedule
