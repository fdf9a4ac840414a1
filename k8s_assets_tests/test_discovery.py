"""API discovery: served versions, preferred fallbacks, unserved kinds."""

from dataclasses import replace

from k8s_assets.catalog import KINDS, KINDS_BY_TABLE
from k8s_assets.kube.discovery import cached_discovery, clear_cache, discover
from k8s_assets.kube.listing import api_client


def test_discovery_of_a_simulated_cluster(fresh_simulator, tmp_path):
    sim = fresh_simulator(clusters=("one",))
    api = api_client((sim.write_kubeconfig(tmp_path / "kubeconfig"),), "one")
    found = discover(api, timeout=10)
    for kind in KINDS:
        assert found.version_for(kind) == kind.version, kind.table
    hpa = KINDS_BY_TABLE["k8s_horizontalpodautoscalers"]
    # Not served at the catalog's version: the group's preferred served version instead.
    assert found.version_for(replace(hpa, version="v2beta9")) == found.served_versions("autoscaling", hpa.plural)[0]
    assert found.version_for(replace(hpa, plural="nonsense")) is None
    assert found.version_for(replace(hpa, group="nowhere.example.com")) is None
    assert found.served_versions("ops.example.com", "backups") == ["v1", "v1beta1"]
    assert found.served_versions("example.com", "widgets") == ["v1"]  # v1alpha1 is defined but not served
    assert found.resource("zoo.example.com", "v1", "octopi").kind == "Octopus"
    assert found.resource("policy.example.com", "v1", "clusterpolicies").namespaced is False
    # One discovery per context and run.
    clear_cache()
    sim["one"].clear_requests()
    first = cached_discovery(api, ("one", "run-1"), 10)
    assert cached_discovery(api, ("one", "run-1"), 10) is first
    assert sum(r.path in ("/api", "/apis") for r in sim["one"].requests) == 2
