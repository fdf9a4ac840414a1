"""The simulator, driven with a real ``kubectl`` (the Debian/gcloud dispatcher and its versioned binaries)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

KUBECTL = shutil.which("kubectl")
if KUBECTL is None:
    if os.environ.get("K8S_ASSETS_REQUIRE_TOOLS") == "1":
        pytest.fail("kubectl is not on PATH but K8S_ASSETS_REQUIRE_TOOLS=1 requires it", pytrace=False)
    pytest.skip("kubectl is not on PATH (set K8S_ASSETS_REQUIRE_TOOLS=1 to make this a failure)", allow_module_level=True)


def kubectl(kubeconfig: Path, cache_dir: Path, *args: str, context: str = "alpha", binary: str = KUBECTL) -> str:
    completed = subprocess.run(
        [binary, "--kubeconfig", str(kubeconfig), "--context", context, "--cache-dir", str(cache_dir), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 0, f"kubectl {' '.join(args)} failed:\n{completed.stderr}"
    return completed.stdout


def listed_names(output: str, column: int = 1) -> set[str]:
    """Names from ``kubectl get -A`` output (NAMESPACE NAME ...), header skipped."""
    return {line.split()[column] for line in output.splitlines()[1:] if line.strip()}


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "kubectl-cache"


def test_kubectl_version_reports_the_simulated_server(simulator_kubeconfig, cache_dir):
    version = json.loads(kubectl(simulator_kubeconfig, cache_dir, "version", "-o", "json"))
    assert (version["serverVersion"]["major"], version["serverVersion"]["minor"]) == ("1", "30")
    # the dispatcher picked the kubectl matching the server's minor version
    assert version["clientVersion"]["minor"] == "30"


@pytest.mark.parametrize(
    ("resource", "key"),
    [
        ("pods", "pods"),
        ("deployments", "deployments.apps"),
        ("octopi", "octopi.zoo.example.com"),  # an irregular plural of a custom resource
        ("wd", None),  # a short name of a custom resource
    ],
)
def test_kubectl_get_all_namespaces_lists_the_generated_objects(simulator, simulator_kubeconfig, cache_dir, resource, key):
    cluster = simulator["alpha"]
    if key is None:
        key = next(rt.key for rt in cluster.resource_types if resource in rt.short_names)
    expected = {obj["metadata"]["name"] for obj in cluster.list(key)}
    assert expected
    assert listed_names(kubectl(simulator_kubeconfig, cache_dir, "get", resource, "-A")) == expected


def test_kubectl_get_crd_lists_the_custom_resource_definitions(simulator, simulator_kubeconfig, cache_dir):
    cluster = simulator["beta"]
    expected = {crd["metadata"]["name"] for crd in cluster.list("customresourcedefinitions.apiextensions.k8s.io")}
    assert "octopi.zoo.example.com" in expected
    assert listed_names(kubectl(simulator_kubeconfig, cache_dir, "get", "crd", context="beta"), column=0) == expected


def test_kubectl_json_output_pages_through_a_list(simulator, simulator_kubeconfig, cache_dir):
    cluster = simulator["alpha"]
    output = json.loads(kubectl(simulator_kubeconfig, cache_dir, "get", "pods", "-A", "-o", "json", "--chunk-size=3"))
    assert sorted(item["metadata"]["uid"] for item in output["items"]) == sorted(p["metadata"]["uid"] for p in cluster.list("pods"))
    assert {(item["kind"], item["apiVersion"]) for item in output["items"]} == {("Pod", "v1")}


@pytest.mark.parametrize("minor", ["1.27", "1.33"])
def test_older_and_newer_kubectl_negotiate_aggregated_discovery(simulator, simulator_kubeconfig, cache_dir, minor):
    """kubectl 1.27 accepts only v2beta1 aggregated discovery; answering v2 would hide every group."""
    binary = shutil.which(f"kubectl.{minor}", path=str(Path(os.path.realpath(KUBECTL)).parent)) or shutil.which(f"kubectl.{minor}")
    if binary is None:
        pytest.skip(f"kubectl.{minor} is not installed next to the kubectl dispatcher")
    cluster = simulator["alpha"]
    expected = {obj["metadata"]["name"] for obj in cluster.list("octopi.zoo.example.com")}
    assert listed_names(kubectl(simulator_kubeconfig, cache_dir, "get", "octopi", "-A", binary=binary)) == expected


def test_kubectl_reports_forbidden_like_a_real_cluster(fresh_simulator, tmp_path, cache_dir):
    from k8s_assets.simulator import Fault

    sim = fresh_simulator(clusters=("one",))
    kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig")
    sim["one"].inject(Fault("forbidden", resource="pods"))
    completed = subprocess.run(
        [KUBECTL, "--kubeconfig", str(kubeconfig), "--cache-dir", str(cache_dir), "get", "pods", "-A"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode != 0
    assert 'Error from server (Forbidden): pods is forbidden: User "system:serviceaccount:' in completed.stderr
