"""The Dagster UI on the repository's defaults: the webserver, the asset graph, one table's page.

Starts ``dagster-webserver -w workspace.yaml`` from the repository root with DAGSTER_HOME
holding the repository's dagster.yaml (storage in the test PostgreSQL), syncs one simulated
context, then renders the pages in headless Chromium (Debian's ``chromium``) and keeps
screenshots in docs/. Also follows the documented route for a new context: edit the
kubeconfig, reload the code location, and the partition is there.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import dagster as dg
import pytest
import yaml

from k8s_assets.dagster_edge.history import RETENTION_ASSET
from k8s_assets_tests.fixtures_postgres import skip_or_fail
from k8s_assets_tests.pipeline import definitions, sync

REPO = Path(__file__).resolve().parent.parent
# Screenshots go to a temporary directory; K8S_ASSETS_UPDATE_SCREENSHOTS=1 refreshes the ones in docs/.
UPDATE_DOCS = os.environ.get("K8S_ASSETS_UPDATE_SCREENSHOTS") == "1"
LOCATION = "k8s_assets"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=json.dumps({"query": query}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        body = json.load(response)
    assert "errors" not in body, body
    return body["data"]


def chromium(*args: str, user_data_dir: Path) -> str:
    command = [shutil.which("chromium"), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
               "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--disable-dev-shm-usage", "--hide-scrollbars", f"--user-data-dir={user_data_dir}",
               "--window-size=1600,1000", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120).stdout


def location_status(port: int) -> tuple[str, str | None]:
    data = graphql(port, """{ workspaceOrError { ... on Workspace { locationEntries {
        name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }""")
    (entry,) = [e for e in data["workspaceOrError"]["locationEntries"] if e["name"] == LOCATION]
    error = entry["locationOrLoadError"] or {}
    return entry["loadStatus"], error.get("message")


def wait_for_location(port: int, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "dagster-webserver exited"
        try:
            status, error = location_status(port)
        except OSError:
            status, error = "STARTING", None
        assert error is None, error
        if status == "LOADED":
            return
        time.sleep(0.5)
    raise AssertionError("the code location did not load")


PARTITIONS_QUERY = '{ assetNodeOrError(assetKey: {path: ["k8s_pods"]}) { ... on AssetNode { partitionKeys } } }'


@pytest.fixture(scope="module")
def webserver(simulator, simulator_kubeconfig, embedded_server_url, tmp_path_factory):
    if not shutil.which("chromium"):
        skip_or_fail("chromium is not installed (apt-get install chromium)")
    from k8s_assets.store.migrations import migrate
    from k8s_assets_tests.fixtures_postgres import fresh_database

    database_url = fresh_database(embedded_server_url)
    migrate(database_url)
    base = tmp_path_factory.mktemp("ui")
    home = base / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")  # the repository's instance config as is
    kubeconfig = base / "kubeconfig"
    shutil.copy(simulator_kubeconfig, kubeconfig)
    env = {**os.environ, "DAGSTER_HOME": str(home), "K8S_ASSETS_DATABASE_URL": database_url,
           "KUBECONFIG": str(kubeconfig), "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO),
                                                                                     os.environ.get("PYTHONPATH")]))}
    # One synced partition, so the pages show a materialization, row counts and check results.
    previous = {k: os.environ.get(k) for k in ("DAGSTER_HOME", "K8S_ASSETS_DATABASE_URL")}
    os.environ.update(DAGSTER_HOME=str(home), K8S_ASSETS_DATABASE_URL=database_url)
    try:
        with dg.DagsterInstance.get() as instance:
            assert sync(definitions(kubeconfig, database_url), instance, "alpha").success
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    port = free_port()
    log = (base / "webserver.log").open("w")
    process = subprocess.Popen(["dagster-webserver", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
                               cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5) as r:
                    assert json.load(r)["dagster_webserver_version"]
                break
            except OSError:
                assert process.poll() is None, (base / "webserver.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "dagster-webserver did not answer /server_info"
                time.sleep(0.5)
        wait_for_location(port, process)
        graphql(port, "mutation { setNuxSeen }")  # no "join the community" dialog over the screenshots
        yield {"port": port, "kubeconfig": kubeconfig, "process": process, "chrome": base / "chrome", "base": base}
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def screenshot_path(webserver, name: str) -> Path:
    return (REPO / "docs" if UPDATE_DOCS else webserver["base"]) / name


def test_asset_graph_shows_the_assets(webserver):
    port = webserver["port"]
    nodes = graphql(port, """{ assetNodes { assetKey { path } groupName kinds description partitionKeys } }""")
    by_name = {n["assetKey"]["path"][-1]: n for n in nodes["assetNodes"]}
    assert {"k8s_clusters", "k8s_pods", "k8s_deployments", "k8s_services"} <= set(by_name)
    for name, node in by_name.items():
        assert node["description"], f"{name} has no description"
        # Every asset is per context, but history retention, which drops days across clusters.
        assert node["partitionKeys"] == ([] if name == RETENTION_ASSET else ["alpha", "beta"]), name
        assert "postgres" in node["kinds"], name
    assert by_name[RETENTION_ASSET]["groupName"] == "history"
    assert by_name["k8s_pods"]["groupName"] == "workloads" and by_name["k8s_clusters"]["groupName"] == "cluster"

    url = f"http://127.0.0.1:{port}/locations/{LOCATION}/asset-groups/workloads"
    dom = chromium("--virtual-time-budget=20000", "--dump-dom", url, user_data_dir=webserver["chrome"])
    for text in ("k8s_pods", "k8s_deployments", "k8s_clusters", "2 partitions", "Asset checks"):
        assert text in dom, f"{text!r} is not on the asset graph page"
    screenshot = screenshot_path(webserver, "asset-graph.png")
    chromium("--virtual-time-budget=20000", f"--screenshot={screenshot}", url, user_data_dir=webserver["chrome"])
    assert screenshot.stat().st_size > 50_000  # a rendered graph, not a blank page


def test_table_asset_page_shows_partitions_checks_and_metadata(webserver):
    port = webserver["port"]
    node = graphql(port, """{ assetNodeOrError(assetKey: {path: ["k8s_pods"]}) { ... on AssetNode {
        partitionKeys metadataEntries { label }
        assetChecksOrError { ... on AssetChecks { checks { name } } }
        assetMaterializations(partitions: ["alpha"]) { metadataEntries { label
            ... on IntMetadataEntry { intValue } } } } } }""")["assetNodeOrError"]
    checks = {c["name"] for c in node["assetChecksOrError"]["checks"]}
    assert checks, "k8s_pods has no checks"
    assert "dagster/column_schema" in {e["label"] for e in node["metadataEntries"]}
    (materialization,) = node["assetMaterializations"][:1]
    numbers = {e["label"]: e.get("intValue") for e in materialization["metadataEntries"]}
    assert numbers["dagster/row_count"] > 0  # an IntMetadataEntry: the UI plots it over time
    assert {"inserted", "updated", "deleted", "unchanged"} <= set(numbers)

    base = f"http://127.0.0.1:{port}/assets/k8s_pods"
    overview = chromium("--virtual-time-budget=15000", "--dump-dom", base, user_data_dir=webserver["chrome"])
    for text in ("k8s_pods", "Columns", "node_name", "Row count", "workloads", "Kubernetes", "Postgres"):
        assert text in overview, f"{text!r} is not on the asset page"
    partitions = chromium("--virtual-time-budget=15000", "--dump-dom", f"{base}?view=partitions",
                          user_data_dir=webserver["chrome"])
    assert "alpha" in partitions and "beta" in partitions
    checks_page = chromium("--virtual-time-budget=15000", "--dump-dom", f"{base}?view=checks",
                           user_data_dir=webserver["chrome"])
    assert all(name in checks_page for name in checks), checks
    screenshot = screenshot_path(webserver, "asset-page.png")
    chromium("--virtual-time-budget=15000", f"--screenshot={screenshot}", base, user_data_dir=webserver["chrome"])
    assert screenshot.stat().st_size > 50_000


def test_new_context_becomes_a_partition_after_reloading_the_code_location(webserver):
    """The documented route: add the context to the kubeconfig, then reload the code location."""
    port, kubeconfig = webserver["port"], webserver["kubeconfig"]
    original = kubeconfig.read_text()
    config = yaml.safe_load(original)
    alpha = next(c for c in config["contexts"] if c["name"] == "alpha")
    config["contexts"].append({"name": "alpha-admin", "context": dict(alpha["context"])})
    kubeconfig.write_text(yaml.safe_dump(config))
    try:
        # Without a reload the running code location still has the old partitions.
        assert graphql(port, PARTITIONS_QUERY)["assetNodeOrError"]["partitionKeys"] == ["alpha", "beta"]
        result = graphql(port, f"""mutation {{ reloadRepositoryLocation(repositoryLocationName: "{LOCATION}")
            {{ __typename }} }}""")
        assert result["reloadRepositoryLocation"]["__typename"] == "WorkspaceLocationEntry"
        wait_for_location(port, webserver["process"])
        assert graphql(port, PARTITIONS_QUERY)["assetNodeOrError"]["partitionKeys"] == \
            ["alpha", "beta", "alpha-admin"]
    finally:
        kubeconfig.write_text(original)
