"""The package as users install it: a wheel built from this tree, in a fresh venv and with pipx.

Every command is the installed ``k8s-assets`` (or the installed venv's Python), started from a
directory that is not the repository, with a PATH holding neither the venv nor the repository
(``/usr/bin:/bin``: an unactivated venv, a pipx install), against the test PostgreSQL and a
simulated cluster. One test checks the other way of installing, ``pip install -e .``.

The wheel, the venv (deploy/Dockerfile's install, which test_deploy uses too) and the pipx
install are made once per session by ``fixtures_install``. The time each phase took is
printed at the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from k8s_assets.catalog import KINDS
from k8s_assets_tests.fixtures_install import TIMINGS, clean_env, run
from k8s_assets_tests.fixtures_postgres import fresh_database, skip_or_fail
from k8s_assets_tests.pipeline import cluster_uid_of, query, stored_uids

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module", autouse=True)
def report_timings(request):
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None and TIMINGS:
        with capture.global_and_fixture_disabled():
            reporter.write_line("\ntest_packaging: " + ", ".join(f"{k} {s:.1f}s" for k, s in TIMINGS.items()))


def site_packages(venv: Path) -> Path:
    (site,) = venv.glob("lib/python3*/site-packages")
    return site


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the wheel ------------------------------------------------------------------------------


def test_wheel_carries_every_sql_file_every_module_and_the_instance_config(wheel, source_tree):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        instance_config = archive.read("k8s_assets/dagster.yaml")
        entry_points = archive.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    # Every SQL file at any depth of sql/ (a new subdirectory or migration included), at
    # k8s_assets/sql/, and nothing there that sql/ no longer has.
    sql = source_tree / "sql"
    expected_sql = {f"k8s_assets/sql/{p.relative_to(sql).as_posix()}" for p in sql.rglob("*.sql")}
    assert {"k8s_assets/sql/001_core.sql", "k8s_assets/sql/migrate/lock.sql"} <= expected_sql
    assert {n for n in names if n.startswith("k8s_assets/sql/")} == expected_sql
    # Every module (the package list in pyproject.toml is explicit).
    modules = {p.relative_to(source_tree).as_posix() for p in (source_tree / "k8s_assets").rglob("*.py")}
    assert sorted(modules - names) == []
    # The one instance config, which the repository root's dagster.yaml links to.
    assert os.readlink(REPO / "dagster.yaml") == "k8s_assets/dagster.yaml"
    assert instance_config == (source_tree / "dagster.yaml").read_bytes()
    # Only the package: no tests, no top-level sql/.
    assert {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")} == {"k8s_assets"}
    assert "k8s-assets = k8s_assets.cli:main" in entry_points


def test_the_venv_imports_the_installed_package_not_the_repository(venv, tmp_path):
    shown = run([venv / "bin" / "python", "-c",
                 "import k8s_assets, k8s_assets.store.database as d; print(k8s_assets.__file__); print(d.SQL_DIR)"],
                cwd=tmp_path, env=clean_env())
    assert shown.returncode == 0, shown.stderr
    module, sql_dir = shown.stdout.split()
    package = site_packages(venv) / "k8s_assets"
    assert Path(module) == package / "__init__.py"
    assert Path(sql_dir) == package / "sql"


def test_editable_install_reads_the_checkouts_sql_from_any_directory(tmp_path):
    """`pip install -e .` (the README, CI): the SQL and the instance config are the checkout's,
    though setuptools' editable finder cannot map sql/ into the package."""
    from importlib.metadata import distributions

    # The installed distribution's record (the checkout's k8s_assets.egg-info, on sys.path here, has none).
    origins = [json.loads(d.read_text("direct_url.json") or "{}") for d in distributions(name="k8s-assets")]
    if not any(o.get("url") == REPO.as_uri() and o.get("dir_info", {}).get("editable") for o in origins):
        skip_or_fail("this checkout is not installed in editable mode (pip install -e '.[test]')")
    check = ("import k8s_assets.store.database as d, k8s_assets.store.migrations as m, k8s_assets.dagster_edge.instance as i, sys; "
             "print(d.SQL_DIR); print(len(m.migration_files())); print(i.instance_config() == open(sys.argv[1]).read())")
    shown = run([sys.executable, "-c", check, REPO / "dagster.yaml"], cwd=tmp_path, env=clean_env(os.environ["PATH"]))
    assert shown.returncode == 0, shown.stderr
    migrations = len(list((REPO / "sql").glob("[0-9][0-9][0-9]_*.sql")))
    assert shown.stdout.split() == [str(REPO / "sql"), str(migrations), "True"]


def test_migrate_then_sync_one_context_from_an_unrelated_directory(venv, embedded_server_url, fresh_simulator,
                                                                   source_tree, tmp_path):
    k8s_assets = venv / "bin" / "k8s-assets"
    url = fresh_database(embedded_server_url)
    sim = fresh_simulator(("pkg-a", "pkg-b"))
    kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig")
    home = tmp_path / "home"
    env = clean_env(K8S_ASSETS_DATABASE_URL=url, K8S_ASSETS_HOME=home, KUBECONFIG=kubeconfig)

    migrated = run([k8s_assets, "migrate"], cwd=tmp_path, env=env)
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    migrations = sorted(p.name for p in (source_tree / "sql").glob("[0-9][0-9][0-9]_*.sql"))
    # The kind tables are derived from the catalog right after 001 (one line), then the rest.
    first, derived, *rest = migrated.stdout.splitlines()
    assert [first, *rest] == [f"applied {name}" for name in migrations]
    assert derived.startswith(f"applied catalog: created {len(KINDS)}; "), derived
    assert query(url, "SELECT name FROM k8s_assets_migrations ORDER BY version") == [(n,) for n in migrations]

    unknown = run([k8s_assets, "sync", "--context", "no-such-*"], cwd=tmp_path, env=env)
    assert unknown.returncode == 2
    assert "no-such-* matches none of the selected contexts (pkg-a, pkg-b)" in unknown.stderr

    synced = run([k8s_assets, "sync", "--context", "pkg-a"], cwd=tmp_path, env=env, timeout=600)
    assert synced.returncode == 0, synced.stdout + synced.stderr[-5000:]
    assert synced.stdout.startswith("synced pkg-a: ok in "), synced.stdout
    assert len(synced.stdout.splitlines()) == 1
    cluster_uid = cluster_uid_of(url, "pkg-a")
    assert stored_uids(url, "k8s_pods", cluster_uid) == {p["metadata"]["uid"] for p in sim["pkg-a"].list("pods")}
    assert query(url, "SELECT context_name FROM k8s_cluster_contexts") == [("pkg-a",)]
    # The run went to the packaged instance config, written under K8S_ASSETS_HOME: Dagster's
    # storage in the same PostgreSQL.
    assert (home / "dagster" / "dagster.yaml").read_bytes() == (source_tree / "dagster.yaml").read_bytes()
    assert query(url, "SELECT status FROM runs") == [("SUCCESS",)]


def test_dev_starts_from_an_unactivated_venv_in_an_unrelated_directory(venv, embedded_server_url, tmp_path):
    """No dagster on PATH, no workspace.yaml or dagster.yaml here, no kubeconfig: simulated clusters."""
    import psutil

    port = free_port()
    home = tmp_path / "home"
    env = clean_env(K8S_ASSETS_DATABASE_URL=fresh_database(embedded_server_url), K8S_ASSETS_HOME=home,
                    KUBECONFIG=tmp_path / "no-kubeconfig")
    log_path = tmp_path / "dev.log"
    with log_path.open("w") as log:
        process = subprocess.Popen([venv / "bin" / "k8s-assets", "dev", "--port", str(port)], cwd=tmp_path, env=env,
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    family: set[psutil.Process] = set()
    try:
        deadline = time.monotonic() + 300
        entries = None
        while time.monotonic() < deadline:
            assert process.poll() is None, f"k8s-assets dev exited {process.returncode}:\n{log_path.read_text()[-5000:]}"
            with contextlib.suppress(psutil.NoSuchProcess):
                family.update(psutil.Process(process.pid).children(recursive=True))
            try:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/graphql", headers={"Content-Type": "application/json"},
                    data=json.dumps({"query": "{ workspaceOrError { ... on Workspace { locationEntries { name "
                                              "loadStatus locationOrLoadError { __typename } } } } }"}).encode())
                with urllib.request.urlopen(request, timeout=30) as response:
                    entries = json.load(response)["data"]["workspaceOrError"]["locationEntries"]
            except (OSError, KeyError, TypeError):
                entries = None
            if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                break
            time.sleep(1)
        assert entries, f"the webserver did not answer on port {port}:\n{log_path.read_text()[-5000:]}"
        # The installed package's definitions, loaded by module (there is no workspace.yaml here).
        assert [(e["name"], e["loadStatus"], (e["locationOrLoadError"] or {}).get("__typename")) for e in entries] \
            == [("k8s_assets.definitions", "LOADED", "RepositoryLocation")], log_path.read_text()[-5000:]
        assert (home / "dagster" / "dagster.yaml").is_file()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=30) as response:
            assert json.load(response)["dagster_webserver_version"]
    finally:
        process.send_signal(signal.SIGINT)  # Ctrl-C; k8s-assets passes it on to dagster dev
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        # The webserver, daemon and code server are dagster dev's to stop; whatever outlived it goes now.
        _, alive = psutil.wait_procs([p for p in family if p.is_running()], timeout=20)
        for leftover in alive:
            leftover.kill()
    assert "FileNotFoundError" not in log_path.read_text()


# -- pipx -------------------------------------------------------------------------------------


def test_pipx_installed_command_runs_with_only_its_entry_point(pipx_install, tmp_path):
    command = pipx_install.pipx_bin / "k8s-assets"
    # The entry point and the module it runs are pipx's venv, not the repository's editable install.
    assert command.resolve().is_relative_to(pipx_install.pipx_home.resolve())
    (python,) = pipx_install.pipx_home.glob("venvs/k8s-assets/bin/python")
    shown = run([python, "-c", "import k8s_assets; print(k8s_assets.__file__)"], cwd=tmp_path, env=clean_env())
    assert Path(shown.stdout.strip()).resolve().is_relative_to(pipx_install.pipx_home.resolve()), \
        shown.stdout + shown.stderr

    helped = run([command, "--help"], cwd=tmp_path, env=clean_env())
    assert helped.returncode == 0, helped.stderr
    assert "{simulate,migrate,sync,watch,rbac,demo,dev}" in helped.stdout

    # Nothing configured: the embedded PostgreSQL under K8S_ASSETS_HOME, started and stopped by the command.
    migrated = run([command, "migrate"], cwd=tmp_path, env=clean_env(K8S_ASSETS_HOME=tmp_path / "home"))
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    assert "applied 001_core.sql" in migrated.stdout.splitlines()
    again = run([command, "migrate"], cwd=tmp_path, env=clean_env(K8S_ASSETS_HOME=tmp_path / "home"))
    assert again.stdout.strip() == "schema is up to date", again.stdout + again.stderr[-3000:]
