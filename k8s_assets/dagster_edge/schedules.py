"""Schedules: every selected kubeconfig context re-synced on a cron, one run per context.

The schedule is RUNNING by default: the users run this unattended, so starting
``dagster dev`` (or the webserver plus ``dagster-daemon``) is all it takes. Stopping it in
the UI (or ``dagster schedule stop``) is remembered by the instance and wins over the default.

Partitions are the contexts read when the code location loaded. At each tick the
schedule reads the kubeconfig again and compares:

* a context that is still in the kubeconfig gets a run (run key ``<context>:<tick time>``,
  tag ``k8s-assets/context``);
* a context removed from the kubeconfig gets no run (its rows stay in PostgreSQL);
* a context added to the kubeconfig cannot be requested yet (its partition does not exist
  until the code location is reloaded), so the tick logs a warning naming it and saying so.

If the kubeconfig cannot be read at tick time, every loaded partition is requested, so the
runs fail with the kubeconfig's error where the operator sees it.
"""

from __future__ import annotations

import json
import re

import dagster as dg

from k8s_assets.dagster_edge.assets import SYNC_POOL
from k8s_assets.kube.config import ConfigError, Settings, context_names

SCHEDULE_NAME = "k8s_sync_schedule"
CONTEXT_TAG = "k8s-assets/context"
# The run tag dagster-k8s reads for extra Kubernetes config of a run's Job (K8sRunLauncher);
# other run launchers ignore it.
K8S_CONFIG_TAG = "dagster-k8s/config"


def label_value(text: str) -> str:
    """``text`` as a valid Kubernetes label value: a context name such as an EKS ARN
    (``arn:aws:eks:eu-west-1:1234:cluster/prod``) is not one, and a Job with it is refused."""
    value = re.sub(r"[^A-Za-z0-9_.-]", "-", text)[:63]
    return re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", value)


def run_tags(context_name: str) -> dict[str, str]:
    """Tags of a context's sync run. Under the K8sRunLauncher the run's Job and pod carry the
    context: exactly as an annotation, and as a label (``kubectl get jobs -l
    k8s-assets/context=prod``) made valid where the name is not a valid label value."""
    metadata = {"labels": {CONTEXT_TAG: label_value(context_name)}, "annotations": {CONTEXT_TAG: context_name}}
    k8s_config = {"job_metadata": metadata, "pod_template_spec_metadata": metadata}
    return {CONTEXT_TAG: context_name, K8S_CONFIG_TAG: json.dumps(k8s_config, sort_keys=True)}


def contexts_at_tick(settings: Settings, loaded: list[str], log) -> list[str]:
    """The loaded partitions to sync now: those still in the kubeconfig, in partition order."""
    try:
        current = context_names(settings)
    except ConfigError as e:
        log.warning(f"cannot read the kubeconfig at tick time ({e}); requesting every loaded context")
        return loaded
    added = [c for c in current if c not in loaded]
    removed = [c for c in loaded if c not in current]
    if added:
        log.warning(
            f"context(s) {', '.join(added)} are in the kubeconfig but not partitions yet: reload the "
            "code location (UI: Deployment > Code locations > Reload) and the next tick syncs them"
        )
    if removed:
        log.info(f"context(s) {', '.join(removed)} are no longer in the kubeconfig and are not synced; "
                 "their rows stay until the cluster is deleted (see docs/operations.md)")
    return [c for c in loaded if c in current]


def ensure_pool(instance: dg.DagsterInstance, log) -> None:
    """Create the sync pool's row (at dagster.yaml's default_limit) before the tick's runs start.

    When several runs meet a pool that does not exist yet, each tries to create it and all
    but one fail on the unique key (Dagster 1.13); creating it once here avoids that race.
    """
    storage = instance.event_log_storage
    try:
        if (instance.global_op_concurrency_default_limit is not None
                and storage.supports_global_concurrency_limits
                and SYNC_POOL not in storage.get_concurrency_keys()):
            storage.initialize_concurrency_limit_to_default(SYNC_POOL)
    except Exception as e:  # never let this stop the tick
        log.warning(f"could not initialize pool {SYNC_POOL}: {e}")


def build_sync_schedule(settings: Settings, job: dg.UnresolvedAssetJobDefinition | dg.JobDefinition,
                        partitions: dg.StaticPartitionsDefinition,
                        default_status: dg.DefaultScheduleStatus = dg.DefaultScheduleStatus.RUNNING,
                        ) -> dg.ScheduleDefinition:
    loaded = list(partitions.get_partition_keys())

    @dg.schedule(
        name=SCHEDULE_NAME,
        cron_schedule=settings.schedule,
        job=job,
        default_status=default_status,
        description=(
            f"Every {settings.schedule!r} (cron, UTC; K8S_ASSETS_SCHEDULE): one run of {job.name} per "
            "kubeconfig context, each syncing every kind of that context. A context added to the "
            "kubeconfig is synced after the code location is reloaded."
        ),
    )
    def k8s_sync_schedule(context: dg.ScheduleEvaluationContext):
        tick = context.scheduled_execution_time.isoformat() if context.scheduled_execution_time else "manual"
        keys = contexts_at_tick(settings, loaded, context.log)
        if not keys:
            return dg.SkipReason("no kubeconfig context is selected (KUBECONFIG, K8S_ASSETS_CONTEXTS)")
        if context.instance_ref is not None or getattr(context, "_instance", None) is not None:
            ensure_pool(context.instance, context.log)
        return [
            dg.RunRequest(run_key=f"{key}:{tick}", partition_key=key, tags=run_tags(key))
            for key in keys
        ]

    return k8s_sync_schedule
