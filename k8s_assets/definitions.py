"""Dagster definitions: ``dagster ... -m k8s_assets.definitions`` and workspace.yaml load ``defs``.

Partitions are the selected kubeconfig contexts, read when the code location loads, so
``dagster asset materialize --partition <context>`` works with no prior step. A context
added to the kubeconfig becomes a partition when the code location is reloaded.
"""

from __future__ import annotations

import os

import dagster as dg

from k8s_assets.config import Settings, context_names, load_settings
from k8s_assets.io_manager import PostgresMergeIOManager
from k8s_assets.kind_assets import build_assets
from k8s_assets.resources import KubernetesResource, PostgresResource

SYNC_JOB = "k8s_sync"

# Transient failures (API 5xx after the client's own retries, timeouts, a dropped database
# connection) get a few more tries; permanent ones raise Failure(allow_retries=False).
RETRY_POLICY = dg.RetryPolicy(max_retries=3, delay=10, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)


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


def build_definitions(settings: Settings | None = None, retry_policy: dg.RetryPolicy | None = RETRY_POLICY,
                      resources: dict | None = None) -> dg.Definitions:
    settings = settings or load_settings()
    partitions = dg.StaticPartitionsDefinition(context_names(settings))
    assets = build_assets(settings.kinds, partitions, retry_policy)
    sync_job = dg.define_asset_job(
        SYNC_JOB, selection=dg.AssetSelection.assets(*assets),
        description="Sync every selected kind of one kubeconfig context (one partition) into PostgreSQL.",
    )
    return dg.Definitions(
        assets=assets,
        jobs=[sync_job],
        resources=resources or build_resources(settings),
        # Steps of one partition run one after another in the run's process: a subprocess
        # per kind would cost more in start-up than most kinds take to sync.
        executor=dg.in_process_executor,
    )


defs = build_definitions()
