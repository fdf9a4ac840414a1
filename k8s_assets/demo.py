"""``k8s-assets demo``: simulated clusters, embedded PostgreSQL, every partition synced.

Runs the main job (``k8s_sync``) once per context, in this process, then reads a
per-cluster summary back from PostgreSQL. Nothing here needs a real cluster or server.
"""

import os
import sys
import time
from pathlib import Path

import dagster as dg
import psycopg

from k8s_assets import database
from k8s_assets.config import load_settings

SUMMARY_SQL = "views/cluster_summary.sql"
# Every event still goes to the instance (and the UI); the terminal only gets what went wrong.
QUIET_CONSOLE = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def _instance() -> dg.DagsterInstance:
    """The project's instance when run from the repo root (runs then show in ``dagster dev``)."""
    if os.environ.get("DAGSTER_HOME"):
        return dg.DagsterInstance.get()
    if Path("dagster.yaml").is_file():
        os.environ["DAGSTER_HOME"] = str(Path.cwd())
        return dg.DagsterInstance.get()
    return dg.DagsterInstance.ephemeral()


def print_summary(url: str, out=sys.stdout) -> None:
    with psycopg.connect(url) as conn:
        cur = conn.execute(database.sql_text(SUMMARY_SQL))
        names = [d.name for d in cur.description]
        rows = [[("" if v is None else str(v)) for v in row] for row in cur.fetchall()]
    widths = [max(len(n), *(len(r[i]) for r in rows)) if rows else len(n) for i, n in enumerate(names)]
    print("  ".join(n.ljust(w) for n, w in zip(names, widths)), file=out)
    for r in rows:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths)), file=out)


def run_demo(clusters: tuple[str, ...], size: str, seed: int) -> int:
    from k8s_assets.definitions import SYNC_JOB, build_definitions
    from k8s_assets.simulator import Simulator

    settings = load_settings()
    url = database.database_url(settings)
    os.environ["K8S_ASSETS_DATABASE_URL"] = url
    database.migrate(url)
    with Simulator(clusters=clusters, size=size, seed=seed) as sim:
        kubeconfig = sim.write_kubeconfig(settings.home / "demo" / "kubeconfig")
        os.environ["KUBECONFIG"] = str(kubeconfig)
        print(f"simulated clusters: {', '.join(clusters)} (kubeconfig {kubeconfig})")
        defs = build_definitions(load_settings())
        job = defs.resolve_job_def(SYNC_JOB)
        failed = []
        with _instance() as instance:
            for context_name in clusters:
                started = time.monotonic()
                result = job.execute_in_process(partition_key=context_name, instance=instance, raise_on_error=False,
                                                run_config=QUIET_CONSOLE)
                state = "ok" if result.success else "FAILED"
                print(f"synced {context_name}: {state} in {time.monotonic() - started:.1f}s")
                if not result.success:
                    failed.append(context_name)
    print()
    print_summary(url)
    return 1 if failed else 0
