"""``k8s-assets sync``: the main job (``k8s_sync``) once per kubeconfig context, in this process.

No Dagster daemon or CLI is needed: each context's run goes to the Dagster instance of
:func:`k8s_assets.dagster_instance.instance_home` (storage in the inventory's PostgreSQL), so
it shows in ``k8s-assets dev`` like a run launched there. ``k8s-assets demo`` syncs its
simulated clusters the same way.
"""

from __future__ import annotations

import fnmatch
import os
import sys
import time
from collections.abc import Sequence

from k8s_assets import database
from k8s_assets.config import ConfigError, Settings, context_names, load_settings

# Every event still goes to the instance (and the UI); the terminal only gets what went wrong.
QUIET_CONSOLE = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


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
            state = "ok" if result.success else "FAILED"
            print(f"synced {context_name}: {state} in {time.monotonic() - started:.1f}s", file=out, flush=True)
            if not result.success:
                failed.append(context_name)
    return failed


def run_sync(patterns: Sequence[str] = ()) -> int:
    """``k8s-assets sync``: 0 when every chosen context synced, 1 when any failed."""
    settings = load_settings()
    contexts = select_contexts(settings, patterns)
    prepare_database(settings)
    return 1 if sync_contexts(contexts, settings) else 0
