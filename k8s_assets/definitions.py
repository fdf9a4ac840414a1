"""Dagster definitions: ``dagster ... -m k8s_assets.definitions`` and workspace.yaml load ``defs``.

Partitions are the selected kubeconfig contexts, read when the code location loads, so
``dagster asset materialize --partition <context>`` works with no prior step. A context
added to the kubeconfig becomes a partition when the code location is reloaded.
"""

from __future__ import annotations

import os
import warnings

import dagster as dg

from k8s_assets.dagster_edge.cluster_sync import build_sync_assets
from k8s_assets.dagster_edge.history import build_history_retention
from k8s_assets.dagster_edge.io_manager import PostgresMergeIOManager
from k8s_assets.dagster_edge.resources import KubernetesResource, PostgresResource
from k8s_assets.dagster_edge.schedules import build_sync_schedule
from k8s_assets.kube.config import Settings, context_names, load_settings

SYNC_JOB = "k8s_sync"

# Checks evaluated per partition (per cluster) are a preview feature of Dagster 1.13 that we
# rely on knowingly; one warning per check on every code-location load would bury real ones.
warnings.filterwarnings("ignore", message="Specifying a partitions_def on an AssetCheckSpec", category=dg.PreviewWarning)

# Transient failures (API 5xx after the client's own retries, timeouts, a dropped database
# connection) get a few more tries; permanent ones raise Failure(allow_retries=False). The sync
# step applies the same policy to each kind's listing within the step (dagster_edge/cluster_sync.py).
# K8S_ASSETS_RETRIES and K8S_ASSETS_RETRY_DELAY set how many and how soon (defaults: 3, 10 s).
def retry_policy_of(settings: Settings) -> dg.RetryPolicy | None:
    if settings.retries == 0:
        return None
    return dg.RetryPolicy(max_retries=settings.retries, delay=settings.retry_delay, backoff=dg.Backoff.EXPONENTIAL,
                          jitter=dg.Jitter.PLUS_MINUS)


# What the default settings give.
RETRY_POLICY = dg.RetryPolicy(max_retries=3, delay=10, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)
# build_definitions' default: the policy the settings describe.
FROM_SETTINGS = object()


def build_resources(settings: Settings) -> dict:
    postgres = PostgresResource(
        url=dg.EnvVar("K8S_ASSETS_DATABASE_URL") if os.environ.get("K8S_ASSETS_DATABASE_URL") else None,
        home=str(settings.home),
    )
    return {
        "kubernetes": KubernetesResource(
            kubeconfig=settings.kubeconfig_env, page_size=settings.page_size,
            request_timeout=settings.request_timeout,
        ),
        "postgres": postgres,
        "io_manager": PostgresMergeIOManager(postgres=postgres),
    }


def build_definitions(settings: Settings | None = None, retry_policy: dg.RetryPolicy | None | object = FROM_SETTINGS,
                      resources: dict | None = None) -> dg.Definitions:
    settings = settings or load_settings()
    if retry_policy is FROM_SETTINGS:
        retry_policy = retry_policy_of(settings)
    partitions = dg.StaticPartitionsDefinition(context_names(settings))
    # One step per context: every asset and every check of a partition (dagster_edge/cluster_sync.py).
    sync = build_sync_assets(settings.kinds, partitions, settings.schedule, retry_policy)
    sync_job = dg.define_asset_job(
        SYNC_JOB, selection=dg.AssetSelection.assets(sync),
        description="Sync every selected kind of one kubeconfig context (one partition) into PostgreSQL.",
    )
    retention, retention_job, retention_schedule = build_history_retention(settings)
    return dg.Definitions(
        assets=[sync, retention],
        # The checks are check specs of the sync step, evaluated after their asset (docs/checks.md).
        asset_checks=[],
        jobs=[sync_job, retention_job],
        schedules=[build_sync_schedule(settings, sync_job, partitions), retention_schedule],
        resources=resources or build_resources(settings),
        # A partition's run is one step; in the run's process, a subprocess would only add start-up.
        executor=dg.in_process_executor,
    )


defs = build_definitions()
