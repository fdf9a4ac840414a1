"""The code location as users load it: the `dagster` command line, in a subprocess."""

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from k8s_assets_tests.pipeline import cluster_uid_of, query, stored_uids

REPO = Path(__file__).resolve().parent.parent


def dagster(*args: str, env: dict, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dagster", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout)


def cli_env(kubeconfig: Path, database_url: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("K8S_ASSETS_", "DAGSTER_"))}
    return {**env, "KUBECONFIG": str(kubeconfig), "K8S_ASSETS_DATABASE_URL": database_url,
            "DAGSTER_HOME": str(REPO), "PYTHONWARNINGS": "ignore"}


def with_password(url: str, password: str) -> str:
    """The same URL with a password (the test servers trust local connections and ignore it)."""
    parts = urlsplit(url)
    user = parts.username or "postgres"
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{host}"))


def test_asset_materialize_syncs_one_context_from_a_shell(simulator, simulator_kubeconfig, database_url):
    password = "pw-canary-7f3a"
    env = cli_env(simulator_kubeconfig, with_password(database_url, password))
    done = dagster("asset", "materialize", "-m", "k8s_assets.definitions", "--select", "*",
                   "--partition", "beta", env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    cluster_uid = cluster_uid_of(database_url, "beta")
    expected = {p["metadata"]["uid"] for p in simulator["beta"].list("pods")}
    assert stored_uids(database_url, "k8s_pods", cluster_uid) == expected
    # dagster.yaml keeps Dagster's own runs in the same PostgreSQL, through dagster-postgres.
    assert query(database_url, "SELECT status FROM runs") == [("SUCCESS",)]
    # Credentials reach neither the terminal nor anything Dagster stored (run config, events, metadata).
    for secret in (simulator["beta"].token, password):
        assert secret not in done.stdout + done.stderr
        assert query(database_url, "SELECT count(*) FROM runs WHERE run_body LIKE %s", (f"%{secret}%",)) == [(0,)]
        assert query(database_url, "SELECT count(*) FROM event_logs WHERE event LIKE %s", (f"%{secret}%",)) == [(0,)]


def test_unknown_partition_is_refused_clearly(simulator_kubeconfig, database_url):
    env = cli_env(simulator_kubeconfig, database_url)
    done = dagster("asset", "materialize", "-m", "k8s_assets.definitions", "--select", "*",
                   "--partition", "no-such-context", env=env)
    assert done.returncode != 0
    assert "no-such-context" in done.stderr + done.stdout


def test_bad_configuration_fails_at_load_naming_the_key(simulator_kubeconfig, database_url):
    env = {**cli_env(simulator_kubeconfig, database_url), "K8S_ASSETS_RESOURCES": "pods,gizmos"}
    done = dagster("definitions", "validate", "-m", "k8s_assets.definitions", env=env, timeout=120)
    assert done.returncode != 0
    assert "K8S_ASSETS_RESOURCES" in done.stderr + done.stdout


def test_the_code_location_loads_as_dagster_loads_it(simulator_kubeconfig):
    """What `dagster dev` and the webserver do with k8s_assets.definitions: build the repository,
    which refuses, for example, a job named like an asset's op."""
    import dagster as dg

    from k8s_assets.definitions import build_definitions
    from k8s_assets.kube.config import load_settings

    defs = build_definitions(load_settings({"KUBECONFIG": str(simulator_kubeconfig)}))
    dg.Definitions.validate_loadable(defs)
    assert {job.name for job in defs.get_repository_def().get_all_jobs()} >= {"k8s_sync", "k8s_history_retention_job"}
