"""``k8s-assets sync``: the main job (``k8s_sync``) once per kubeconfig context, in this process.

No Dagster daemon or CLI is needed: each context's run goes to the Dagster instance of
:func:`k8s_assets.dagster_edge.instance.instance_home` (storage in the inventory's PostgreSQL), so
it shows in ``k8s-assets dev`` like a run launched there. ``k8s-assets demo`` syncs its
simulated clusters the same way.
"""

from __future__ import annotations

import fnmatch
import os
import re
import socket
import sys
import time
from collections.abc import Sequence

from k8s_assets.kube.config import ConfigError, Settings, context_names, load_settings
from k8s_assets.store import database, migrations

# Every event, stack traces included, goes to the instance (and the UI); the terminal gets one
# line per context (sync_contexts), whose reason is taken from the run's failure events. Dagster's
# console logger would print each failure's traceback two or three times, burying that reason.
QUIET_CONSOLE = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
# Which process of which host runs a sync: a later `k8s-assets sync` on the same host can then
# tell a run whose process was killed (SIGKILL, the OOM killer, a CI job's timeout) from a live one.
HOST_TAG, PID_TAG = "k8s-assets/sync-host", "k8s-assets/sync-pid"
# The longest reason printed: a listing error can quote a whole response body.
MAX_REASON = 600
# A password in a URL (scheme://user:password@host) or a bearer token, should any error quote one.
_URL_PASSWORD = re.compile(r"(://[^:/@\s]*):[^@\s]*@")
_BEARER = re.compile(r"(?i)(bearer\s+)\S+")


def prepare_database(settings: Settings) -> str:
    """The inventory's URL (starting the embedded PostgreSQL if that is the one), migrated.

    The URL is exported as ``K8S_ASSETS_DATABASE_URL`` so that the code location and the
    instance storage of this process use the very same database.
    """
    url = database.database_url(settings)
    os.environ["K8S_ASSETS_DATABASE_URL"] = url
    migrations.migrate(url)
    return url


def select_contexts(settings: Settings, patterns: Sequence[str] = ()) -> list[str]:
    """The selected contexts (``K8S_ASSETS_CONTEXTS``) matching any of ``patterns`` (all without patterns)."""
    selected = context_names(settings)
    if not selected:
        raise ConfigError("KUBECONFIG", f"no context selected in {settings.kubeconfig_env} "
                                        f"(K8S_ASSETS_CONTEXTS={','.join(settings.context_patterns)})")
    if not patterns:
        return selected
    chosen = [name for name in selected if any(fnmatch.fnmatchcase(name, p) for p in patterns)]
    if not chosen:
        raise ConfigError("--context", f"{', '.join(patterns)} matches none of the selected contexts "
                                       f"({', '.join(selected)})")
    return chosen


def sync_contexts(contexts: Sequence[str], settings: Settings | None = None, out=sys.stdout) -> list[str]:
    """Run ``k8s_sync`` for each context, one after another; print one line each; return those that failed."""
    import dagster as dg

    from k8s_assets.dagster_edge.instance import instance_home
    from k8s_assets.definitions import SYNC_JOB, build_definitions

    settings = settings or load_settings()
    job = build_definitions(settings).resolve_job_def(SYNC_JOB)
    failed = []
    tags = {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())}
    with dg.DagsterInstance.from_config(str(instance_home(settings))) as instance:
        for run_id in end_runs_of_dead_syncs(instance):
            print(f"k8s-assets: run {run_id} of a sync killed on this host was marked failed and its pool slot "
                  "freed", file=sys.stderr, flush=True)
        for context_name in contexts:
            started = time.monotonic()
            result = job.execute_in_process(partition_key=context_name, instance=instance, raise_on_error=False,
                                            run_config=QUIET_CONSOLE, tags=tags)
            line = f"synced {context_name}: {'ok' if result.success else 'FAILED'} in {time.monotonic() - started:.1f}s"
            if not result.success:
                failed.append(context_name)
                line += f": {failure_reason(result)}"
            print(line, file=out, flush=True)
    return failed


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


def end_runs_of_dead_syncs(instance) -> list[str]:
    """Mark failed the runs of ``k8s-assets sync`` on this host whose process is gone, and free their
    pool slots; return their run ids.

    A sync killed without a chance to clean up leaves its run STARTED and its ``k8s_cluster_sync``
    slot claimed. The daemon's run monitoring frees them (dagster.yaml), but setups running
    ``k8s-assets sync`` from cron have no daemon, and a few such kills would block every sync.
    Only runs tagged with this host are considered, so runs of other hosts or pods and of the
    daemon are never touched; a pid reused by another process keeps its run (left to the daemon).
    """
    import dagster as dg

    host = socket.gethostname()
    records = instance.get_run_records(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED],
                                                             tags={HOST_TAG: host}))
    ended = []
    for record in records:
        run = record.dagster_run
        try:
            pid = int(run.tags.get(PID_TAG, ""))
        except ValueError:
            continue
        if pid == os.getpid() or _process_exists(pid):
            continue
        instance.report_run_failed(run, message=f"the process of this sync (pid {pid} on {host}) is gone; "
                                                "marked failed by the next k8s-assets sync on the host")
        if instance.event_log_storage.supports_global_concurrency_limits:
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        ended.append(run.run_id)
    return ended


def one_line(text: str, limit: int = MAX_REASON) -> str:
    """``text`` on one line, without credentials, at most ``limit`` characters."""
    text = _BEARER.sub(r"\1***", _URL_PASSWORD.sub(r"\1:***@", text))
    text = "; ".join(part.strip().rstrip(".;") for part in text.splitlines() if part.strip())
    return text if len(text) <= limit else text[:limit - 1] + "…"


# Dagster's wrappers around the error that matters: they say which step or output raised it
# (DagsterExecutionStepExecutionError, DagsterExecutionHandleOutputError, ...) or that the
# RetryPolicy gave up (RetryRequestedFromPolicy: "Exceeded max_retries of 3").
def _is_wrapper(cls_name: str | None) -> bool:
    return bool(cls_name) and (cls_name.startswith("Dagster") or cls_name.startswith("RetryRequested"))


def _error_text(error) -> str:
    """``ClassName: message`` of the error inside Dagster's wrappers, then what the retries said."""
    retries = None
    while error.cause is not None and _is_wrapper(error.cls_name):
        if error.cls_name.startswith("RetryRequested"):
            retries = (error.message or "").strip().split(": ", 1)[-1]
        error = error.cause
    message = (error.message or "").strip()
    if error.cls_name:
        # Dagster writes "package.module.ClassName: message"; the class name is enough.
        message = re.sub(rf"^[\w.]*\b{re.escape(error.cls_name)}: ", "", message)
        message = f"{error.cls_name}: {message}"
    return f"{message} ({retries})" if retries else message


def failure_reason(result) -> str:
    """Why a run failed, in one line, from its failure events: the description of each failed
    step's ``Failure`` (the sync step's names every failed asset and why), else its error; a run
    that failed before any step (a resource that could not start) gives the run failure's error."""
    reasons = []
    for event in result.get_step_failure_events():
        data = event.step_failure_data
        user = data.user_failure_data
        if user is not None and user.description:
            reasons.append(user.description)
        elif data.error is not None:
            reasons.append(_error_text(data.error))
    if not reasons:
        run_failure = result.get_run_failure_event()
        data = run_failure.job_failure_data if run_failure is not None else None
        if data is not None and data.error is not None:
            reasons.append(_error_text(data.error))
        elif run_failure is not None and run_failure.message:
            reasons.append(run_failure.message)
    unique = list(dict.fromkeys(reasons))
    return one_line("; ".join(unique) if unique else "no failure event recorded (see the run in the UI)")


def run_sync(patterns: Sequence[str] = ()) -> int:
    """``k8s-assets sync``: 0 when every chosen context synced, 1 when any failed."""
    settings = load_settings()
    contexts = select_contexts(settings, patterns)
    prepare_database(settings)
    return 1 if sync_contexts(contexts, settings) else 0
