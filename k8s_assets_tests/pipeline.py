"""Helpers shared by the tests that run the Dagster pipeline against simulated clusters."""

import time
from collections.abc import Iterable
from pathlib import Path

import dagster as dg
import psycopg

from k8s_assets.dagster_edge.io_manager import PostgresMergeIOManager
from k8s_assets.dagster_edge.resources import KubernetesResource, PostgresResource
from k8s_assets.definitions import SYNC_JOB, build_definitions
from k8s_assets.kube.config import load_settings


def definitions(kubeconfig: Path, database_url: str, *, resources_env: dict | None = None,
                retry_policy: dg.RetryPolicy | None = None, request_timeout: float = 10.0,
                kubernetes_class: type[KubernetesResource] = KubernetesResource) -> dg.Definitions:
    env = {"KUBECONFIG": str(kubeconfig), **(resources_env or {})}
    settings = load_settings(env)
    postgres = PostgresResource(url=database_url)
    resources = {
        "kubernetes": kubernetes_class(kubeconfig=str(kubeconfig), page_size=settings.page_size,
                                       request_timeout=request_timeout),
        "postgres": postgres,
        "io_manager": PostgresMergeIOManager(postgres=postgres),
    }
    return build_definitions(settings, retry_policy=retry_policy, resources=resources)


def sync(defs: dg.Definitions, instance: dg.DagsterInstance, context_name: str) -> dg.ExecuteInProcessResult:
    job = defs.resolve_job_def(SYNC_JOB)
    return job.execute_in_process(partition_key=context_name, instance=instance, raise_on_error=False)


def materialization_metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict:
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        if materialization.asset_key == dg.AssetKey(asset):
            return {k: getattr(v, "value", v) for k, v in materialization.metadata.items()}
    raise AssertionError(f"{asset} was not materialized")


def query(url: str, statement: str, params: Iterable | dict | None = None) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(statement, params).fetchall()


def stored_uids(url: str, table: str, cluster_uid: str) -> set[str]:
    return {str(u) for (u,) in query(url, f"SELECT uid FROM {table} WHERE cluster_uid = %s", (cluster_uid,))}


def cluster_uid_of(url: str, context_name: str) -> str:
    return str(query(url, "SELECT cluster_uid FROM k8s_cluster_contexts WHERE context_name = %s",
                     (context_name,))[0][0])


def wait_for(what: str, condition, deadline: float = 120.0, interval: float = 0.05):
    """``condition()``'s first truthy value. The deadline only ends a wait that hangs on a loaded
    machine; it is never what a test asserts."""
    started = time.monotonic()
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() - started > deadline:
            raise AssertionError(f"still not true after {deadline:.0f}s: {what}")
        time.sleep(interval)
