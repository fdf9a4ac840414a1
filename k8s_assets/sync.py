"""``k8s-assets sync``: the main job (``k8s_sync``) once per kubeconfig context, in this process.

No Dagster daemon or CLI is needed: each context's run goes to the Dagster instance of
:func:`k8s_assets.dagster_instance.instance_home` (storage in the inventory's PostgreSQL), so
it shows in ``k8s-assets dev`` like a run launched there. ``k8s-assets demo`` syncs its
simulated clusters the same way.
"""

from __future__ import annotations

import fnmatch
import os
import re
import sys
import time
from collections.abc import Sequence

from k8s_assets import database
from k8s_assets.config import ConfigError, Settings, context_names, load_settings

# Every event, stack traces included, goes to the instance (and the UI); the terminal gets one
# line per context (sync_contexts), whose reason is taken from the run's failure events. Dagster's
# console logger would print each failure's traceback two or three times, burying that reason.
QUIET_CONSOLE = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
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
    database.migrate(url)
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

    from k8s_assets.dagster_instance import instance_home
    from k8s_assets.definitions import SYNC_JOB, build_definitions

    settings = settings or load_settings()
    job = build_definitions(settings).resolve_job_def(SYNC_JOB)
    failed = []
    with dg.DagsterInstance.from_config(str(instance_home(settings))) as instance:
        for context_name in contexts:
            started = time.monotonic()
            result = job.execute_in_process(partition_key=context_name, instance=instance, raise_on_error=False,
                                            run_config=QUIET_CONSOLE)
            line = f"synced {context_name}: {'ok' if result.success else 'FAILED'} in {time.monotonic() - started:.1f}s"
            if not result.success:
                failed.append(context_name)
                line += f": {failure_reason(result)}"
            print(line, file=out, flush=True)
    return failed


def one_line(text: str, limit: int = MAX_REASON) -> str:
    """``text`` on one line, without credentials, at most ``limit`` characters."""
    text = _BEARER.sub(r"\1***", _URL_PASSWORD.sub(r"\1:***@", text))
    text = "; ".join(part.strip().rstrip(".;") for part in text.splitlines() if part.strip())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _error_text(error) -> str:
    """The user's error inside Dagster's wrappers (``DagsterExecutionHandleOutputError`` and the
    like only say which step or output raised it): ``ClassName: message``."""
    while error.cause is not None and error.cls_name and error.cls_name.startswith("Dagster"):
        error = error.cause
    message = (error.message or "").strip()
    return message if not error.cls_name or message.startswith(error.cls_name) else f"{error.cls_name}: {message}"


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
