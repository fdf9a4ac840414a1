"""The simulator, driven with the official ``kubernetes`` client: typed calls, raw listing, faults."""

from __future__ import annotations

import base64
import collections
import signal
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

import orjson
import pytest
import urllib3
import yaml
from kubernetes import client, config, dynamic

from k8s_assets.kube.listing import send_get
from k8s_assets.simulator import Fault, SimulatedCluster, Simulator

IRREGULAR_PLURAL = "octopi.zoo.example.com"


def multi_version_resource(cluster: SimulatedCluster) -> str:
    """A custom resource served at more than one version."""
    counts = collections.Counter(rt.key for rt in cluster.resource_types)
    return next(key for key, versions in counts.items() if versions > 1)


def api_client(kubeconfig: Path, context: str) -> client.ApiClient:
    return config.new_client_from_config(config_file=str(kubeconfig), context=context, persist_config=False)


def started(fresh_simulator, tmp_path: Path, **options) -> tuple[Simulator, SimulatedCluster, client.CoreV1Api]:
    sim = fresh_simulator(**options)
    kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig")
    cluster = next(iter(sim))
    return sim, cluster, client.CoreV1Api(api_client(kubeconfig, cluster.context_name))


def raw_pages(core: client.CoreV1Api, limit: int, namespace: str | None = None, between_pages=None) -> list[dict]:
    """Every page of a pod list, parsed from the raw response; ``between_pages`` runs after page 1."""
    pages, token = [], None
    while True:
        if namespace is None:
            response = core.list_pod_for_all_namespaces(limit=limit, _continue=token, _preload_content=False)
        else:
            response = core.list_namespaced_pod(namespace, limit=limit, _continue=token, _preload_content=False)
        pages.append(orjson.loads(response.data))
        response.release_conn()
        token = pages[-1]["metadata"].get("continue")
        if not token:
            return pages
        if between_pages is not None and len(pages) == 1:
            between_pages()


def item_names(pages: list[dict]) -> list[tuple[str, str]]:
    return [(item["metadata"]["namespace"], item["metadata"]["name"]) for page in pages for item in page["items"]]


def raw_get(api: client.ApiClient, path: str, accept: str = "application/json") -> tuple[int, dict, bytes]:
    """A GET with the client's auth and TLS settings, for paths without a typed call."""
    response = send_get(api, path, accept=accept)
    return response.status, response.headers, response.read()


def error_body(error: client.ApiException) -> dict:
    return orjson.loads(error.body)


# -- identity, kubeconfig, typed calls ---------------------------------------------------------------


def test_kubeconfig_has_one_context_per_cluster_with_distinct_names(simulator, simulator_kubeconfig):
    contexts, active = config.list_kube_config_contexts(str(simulator_kubeconfig))
    assert [c["name"] for c in contexts] == ["alpha", "beta"]
    assert active["name"] == "alpha"
    names = [c["name"] for c in contexts] + [c["context"]["cluster"] for c in contexts] + [c["context"]["user"] for c in contexts]
    assert len(set(names)) == len(names) == 6
    for context in contexts:
        configuration = api_client(simulator_kubeconfig, context["name"]).configuration
        assert configuration.host == simulator[context["name"]].server
        assert configuration.host.startswith("https://127.0.0.1:")
        assert Path(configuration.ssl_ca_cert).read_bytes() == simulator.tls.ca_pem
    assert simulator["alpha"].token != simulator["beta"].token


def test_typed_calls_list_pods_and_read_kube_system(simulator, simulator_kubeconfig):
    uids = set()
    for cluster in simulator:
        core = client.CoreV1Api(api_client(simulator_kubeconfig, cluster.context_name))
        pods = core.list_pod_for_all_namespaces()
        assert len(pods.items) == len(cluster.list("pods")) > 0
        assert {p.metadata.uid for p in pods.items} == {p["metadata"]["uid"] for p in cluster.list("pods")}
        assert pods.metadata.resource_version == str(cluster.resource_version)
        kube_system = core.read_namespace("kube-system")
        assert kube_system.metadata.uid == cluster.kube_system_uid
        assert (kube_system.kind, kube_system.api_version) == ("Namespace", "v1")
        uids.add(kube_system.metadata.uid)
    assert len(uids) == 2


def configuration_with_token(kubeconfig: Path, context: str, token: str | None) -> client.Configuration:
    configuration = api_client(kubeconfig, context).configuration
    configuration.refresh_api_key_hook = None  # it would reload the kubeconfig's token before each request
    configuration.api_key = {"authorization": f"Bearer {token}"} if token else {}
    return configuration


def test_version_is_public_and_reports_1_30(simulator_kubeconfig):
    configuration = configuration_with_token(simulator_kubeconfig, "alpha", token=None)
    version = client.VersionApi(client.ApiClient(configuration)).get_code()
    assert (version.major, version.minor) == ("1", "30")
    assert version.git_version.startswith("v1.30.")


def test_wrong_token_gets_401_status(simulator, simulator_kubeconfig):
    # beta's token is valid, but not on alpha
    configuration = configuration_with_token(simulator_kubeconfig, "alpha", token=simulator["beta"].token)
    with pytest.raises(client.ApiException) as raised:
        client.CoreV1Api(client.ApiClient(configuration)).list_namespace()
    assert raised.value.status == 401
    assert error_body(raised.value) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "Unauthorized",
        "reason": "Unauthorized",
        "code": 401,
    }


def test_missing_object_and_unknown_path_get_404_status(simulator, simulator_kubeconfig):
    api = api_client(simulator_kubeconfig, "alpha")
    with pytest.raises(client.ApiException) as raised:
        client.CoreV1Api(api).read_namespace("no-such-namespace")
    assert raised.value.status == 404
    body = error_body(raised.value)
    assert body["reason"] == "NotFound"
    assert body["message"] == 'namespaces "no-such-namespace" not found'
    assert body["details"] == {"name": "no-such-namespace", "kind": "namespaces"}
    status, _, body = raw_get(api, "/apis/nothing.example.com/v1/things")
    assert status == 404
    assert orjson.loads(body)["message"] == "the server could not find the requested resource"


def test_every_response_carries_flow_control_headers(simulator, simulator_kubeconfig):
    core = client.CoreV1Api(api_client(simulator_kubeconfig, "alpha"))
    response = core.list_namespace(_preload_content=False)
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["X-Kubernetes-Pf-Flowschema-Uid"]
    assert response.headers["X-Kubernetes-Pf-Prioritylevel-Uid"]


# -- discovery ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "expected_version"),
    [
        (
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
            "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json",
            "v2",
        ),
        ("application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json", "v2beta1"),
        ("application/json", None),
        ("application/json,application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList", None),
    ],
)
def test_aggregated_discovery_is_negotiated_like_kube_apiserver(simulator, simulator_kubeconfig, accept, expected_version):
    api = api_client(simulator_kubeconfig, "alpha")
    status, headers, data = raw_get(api, "/apis", accept)
    assert status == 200
    body = orjson.loads(data)
    if expected_version is None:
        assert headers["Content-Type"] == "application/json"
        assert body["kind"] == "APIGroupList"
        groups = {group["name"] for group in body["groups"]}
    else:
        assert headers["Content-Type"] == (
            f"application/json;g=apidiscovery.k8s.io;v={expected_version};as=APIGroupDiscoveryList"
        )
        assert body["apiVersion"] == f"apidiscovery.k8s.io/{expected_version}"
        groups = {item["metadata"]["name"] for item in body["items"]}
    assert {"apps", "apiextensions.k8s.io", "zoo.example.com"} <= groups


def test_custom_resource_group_lists_its_versions_preferring_the_highest(simulator, simulator_kubeconfig):
    key = multi_version_resource(simulator["alpha"])
    versions = {rt.version for rt in simulator["alpha"].resource_types if rt.key == key}
    group = key.split(".", 1)[1]
    status, _, data = raw_get(api_client(simulator_kubeconfig, "alpha"), f"/apis/{group}")
    assert status == 200
    document = orjson.loads(data)
    assert document["kind"] == "APIGroup"
    assert {v["version"] for v in document["versions"]} == versions
    assert "v1" in versions  # kube-apiserver prefers GA over beta
    assert document["preferredVersion"] == {"groupVersion": f"{group}/v1", "version": "v1"}


@pytest.mark.parametrize("which", ["irregular plural", "several versions"])
def test_dynamic_client_lists_custom_resources_with_legacy_discovery(simulator, simulator_kubeconfig, tmp_path, which):
    cluster = simulator["alpha"]
    key = IRREGULAR_PLURAL if which == "irregular plural" else multi_version_resource(cluster)
    expected = {(o["metadata"].get("namespace"), o["metadata"]["name"]) for o in cluster.list(key)}
    assert expected
    dynamic_client = dynamic.DynamicClient(
        api_client(simulator_kubeconfig, "alpha"), cache_file=str(tmp_path / "discovery.json")
    )
    for resource_type in (rt for rt in cluster.resource_types if rt.key == key):
        resource = dynamic_client.resources.get(api_version=resource_type.api_version, kind=resource_type.kind)
        assert resource.name == resource_type.plural
        listed = resource.get(limit=2)
        items = list(listed.items)
        while listed.metadata["continue"]:
            listed = resource.get(limit=2, _continue=listed.metadata["continue"])
            items.extend(listed.items)
        assert {(i.metadata.namespace, i.metadata.name) for i in items} == expected
        assert {i.apiVersion for i in items} == {resource_type.api_version}
    if which == "irregular plural":
        assert resource.name == "octopi"
    assert not any(r.path.startswith("/openapi") for r in cluster.requests)


# -- pagination and snapshots --------------------------------------------------------------------------------


def test_raw_pages_share_one_resource_version_and_count_down(simulator, simulator_kubeconfig):
    cluster = simulator["alpha"]
    core = client.CoreV1Api(api_client(simulator_kubeconfig, "alpha"))
    total = len(cluster.list("pods"))
    pages = raw_pages(core, limit=3)
    assert len(pages) == -(-total // 3)
    assert {page["metadata"]["resourceVersion"] for page in pages} == {str(cluster.resource_version)}
    assert all(page["kind"] == "PodList" and page["apiVersion"] == "v1" for page in pages)
    seen = 0
    for page in pages[:-1]:
        seen += len(page["items"])
        assert page["metadata"]["remainingItemCount"] == total - seen
    assert "remainingItemCount" not in pages[-1]["metadata"] and "continue" not in pages[-1]["metadata"]
    names = item_names(pages)
    assert len(names) == len(set(names)) == total
    assert names == sorted(names)  # etcd key order: namespace, then name
    assert all("kind" not in item for page in pages for item in page["items"])  # as real built-in lists


def test_per_namespace_lists_partition_the_pods(simulator, simulator_kubeconfig):
    cluster = simulator["alpha"]
    core = client.CoreV1Api(api_client(simulator_kubeconfig, "alpha"))
    namespaces = [ns["metadata"]["name"] for ns in cluster.list("namespaces")]
    collected = []
    for namespace in namespaces:
        names = item_names(raw_pages(core, limit=2, namespace=namespace))
        assert {ns for ns, _ in names} <= {namespace}
        collected.extend(names)
    assert sorted(collected) == sorted((p["metadata"]["namespace"], p["metadata"]["name"]) for p in cluster.list("pods"))
    assert item_names(raw_pages(core, limit=2, namespace="no-such-namespace")) == []


def test_changes_between_pages_do_not_leak_into_the_snapshot(fresh_simulator, tmp_path):
    _, cluster, core = started(fresh_simulator, tmp_path)
    before = {(p["metadata"]["namespace"], p["metadata"]["name"]): p["metadata"]["resourceVersion"] for p in cluster.list("pods")}
    first_rv = cluster.resource_version
    victim, edited = sorted(before)[-1], sorted(before)[-2]
    template = cluster.get("pods", victim[1], victim[0])

    def change_cluster():
        cluster.delete("pods", victim[1], victim[0])
        cluster.modify("pods", edited[1], edited[0], mutate=lambda pod: pod["metadata"].setdefault("labels", {}).update(touched="yes"))
        template["metadata"] = {"name": "zz-added-later", "namespace": victim[0]}
        cluster.create("pods", template)

    pages = raw_pages(core, limit=4, between_pages=change_cluster)
    assert len(pages) > 2
    assert {page["metadata"]["resourceVersion"] for page in pages} == {str(first_rv)}
    listed = {(i["metadata"]["namespace"], i["metadata"]["name"]): i["metadata"]["resourceVersion"] for p in pages for i in p["items"]}
    assert listed == before

    after = raw_pages(core, limit=4)
    assert after[0]["metadata"]["resourceVersion"] == str(cluster.resource_version) == str(first_rv + 3)
    after_names = set(item_names(after))
    assert victim not in after_names and (victim[0], "zz-added-later") in after_names


def test_create_modify_delete_bump_resource_version(fresh_simulator, tmp_path):
    _, cluster, core = started(fresh_simulator, tmp_path)
    start_rv = cluster.resource_version
    created = cluster.create("namespaces", {"metadata": {"name": "made-by-test"}})
    assert created["metadata"]["resourceVersion"] == str(start_rv + 1)
    assert created["metadata"]["uid"] and created["metadata"]["creationTimestamp"]
    modified = cluster.modify("namespaces", "made-by-test", mutate=lambda ns: ns["metadata"].update(labels={"a": "b"}))
    assert modified["metadata"]["resourceVersion"] == str(start_rv + 2)
    assert modified["metadata"]["uid"] == created["metadata"]["uid"]
    served = core.read_namespace("made-by-test")
    assert (served.metadata.labels, served.metadata.resource_version) == ({"a": "b"}, str(start_rv + 2))
    cluster.delete("namespaces", "made-by-test")
    assert cluster.resource_version == start_rv + 3
    assert cluster.get("namespaces", "made-by-test") is None
    with pytest.raises(client.ApiException) as raised:
        core.read_namespace("made-by-test")
    assert raised.value.status == 404
    with pytest.raises(LookupError):
        cluster.create("pods", {"metadata": {"name": "orphan", "namespace": "no-such-namespace"}})
    with pytest.raises(ValueError):
        cluster.modify("namespaces", "kube-system", mutate=lambda ns: ns["metadata"].update(uid="forged"))


def test_batch_changes_many_pods_atomically(fresh_simulator, tmp_path):
    _, cluster, core = started(fresh_simulator, tmp_path, size=1000)
    pods = cluster.list("pods")
    start_rv = cluster.resource_version
    with cluster.batch():
        for pod in pods[:100]:
            cluster.modify("pods", pod["metadata"]["name"], pod["metadata"]["namespace"], mutate=lambda p: p["metadata"].update(labels={"batch": "1"}))
        for pod in pods[100:150]:
            cluster.delete("pods", pod["metadata"]["name"], pod["metadata"]["namespace"])
    assert cluster.resource_version == start_rv + 150
    listed = [item for page in raw_pages(core, limit=500) for item in page["items"]]
    assert len(listed) == len(pods) - 50
    assert sum(item["metadata"].get("labels") == {"batch": "1"} for item in listed) == 100


def test_runtime_cluster_and_unreachable_context_appear_in_kubeconfig(fresh_simulator, tmp_path):
    sim = fresh_simulator(clusters=("one",))
    added = sim.add_cluster("qa", size="tiny", seed=3)
    down_server = sim.add_unreachable_context("down")
    kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig")
    contexts, _ = config.list_kube_config_contexts(str(kubeconfig))
    assert [c["name"] for c in contexts] == ["one", "qa", "down"]
    qa = client.CoreV1Api(api_client(kubeconfig, "qa"))
    assert qa.read_namespace("kube-system").metadata.uid == added.kube_system_uid != sim["one"].kube_system_uid
    down = client.CoreV1Api(api_client(kubeconfig, "down"))
    assert down.api_client.configuration.host == down_server
    with pytest.raises(urllib3.exceptions.MaxRetryError) as raised:
        down.list_namespace()
    assert isinstance(raised.value.reason, urllib3.exceptions.NewConnectionError)
    assert "refused" in str(raised.value.reason).lower()


# -- faults ---------------------------------------------------------------------------------------------------------


def test_forbidden_is_a_real_rbac_status(fresh_simulator, tmp_path):
    _, cluster, core = started(fresh_simulator, tmp_path)
    cluster.inject(Fault("forbidden", resource="pods"))
    with pytest.raises(client.ApiException) as raised:
        core.list_pod_for_all_namespaces(limit=5)
    assert raised.value.status == 403
    body = error_body(raised.value)
    assert body["kind"] == "Status" and body["reason"] == "Forbidden" and body["code"] == 403
    assert body["details"] == {"kind": "pods"}
    assert body["message"].startswith('pods is forbidden: User "system:serviceaccount:')
    assert body["message"].endswith('cannot list resource "pods" in API group "" at the cluster scope')
    with pytest.raises(client.ApiException) as raised:
        core.list_namespaced_pod("kube-system")
    assert error_body(raised.value)["message"].endswith('in the namespace "kube-system"')
    assert core.list_namespace().items  # other resources are still allowed
    cluster.inject(Fault("forbidden", resource="deployments.apps"))
    with pytest.raises(client.ApiException) as raised:
        client.AppsV1Api(core.api_client).list_deployment_for_all_namespaces()
    assert error_body(raised.value)["message"].startswith("deployments.apps is forbidden:")
    assert error_body(raised.value)["details"] == {"group": "apps", "kind": "deployments"}


def test_throttle_text_is_retried_by_urllib3_honouring_retry_after(fresh_simulator, tmp_path, monkeypatch):
    _, cluster, core = started(fresh_simulator, tmp_path)
    cluster.inject(Fault("throttle_text", resource="pods", times=1, retry_after=1))
    slept = urllib3_sleeps(monkeypatch)
    assert core.list_pod_for_all_namespaces().items
    assert slept == [1.0], "urllib3 waits the Retry-After the server sent before it tries again"
    assert [r.status for r in cluster.requests if r.path == "/api/v1/pods"] == [429, 200]


def urllib3_sleeps(monkeypatch) -> list[float]:
    """urllib3's retry waits (Retry-After, backoff), recorded instead of slept.

    Only the module's ``time`` is replaced: urllib3's own Retry decides what to wait, the test
    counts it, and no test takes as long as the server asked the client to wait."""
    slept: list[float] = []
    fake_time = types.SimpleNamespace(**{name: getattr(time, name) for name in dir(time) if not name.startswith("__")})
    fake_time.sleep = slept.append
    monkeypatch.setattr(urllib3.util.retry, "time", fake_time)
    return slept


def test_endless_throttle_text_is_plain_text_with_retry_after(fresh_simulator, tmp_path):
    _, cluster, core = started(fresh_simulator, tmp_path)
    cluster.inject(Fault("throttle_text", resource="pods", retry_after=0))
    with pytest.raises(client.ApiException) as raised:
        core.list_pod_for_all_namespaces()
    assert raised.value.status == 429
    assert raised.value.body == "Too many requests, please try again later.\n"
    assert raised.value.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert raised.value.headers["X-Content-Type-Options"] == "nosniff"
    assert raised.value.headers["Retry-After"] == "0"
    assert len([r for r in cluster.requests if r.path == "/api/v1/pods"]) == 4  # urllib3's three retries


def test_throttle_status_carries_retry_after_seconds(fresh_simulator, tmp_path):
    _, cluster, core = started(fresh_simulator, tmp_path)
    cluster.inject(Fault("throttle_status", resource="pods", retry_after=0))
    with pytest.raises(client.ApiException) as raised:
        core.list_pod_for_all_namespaces(limit=5)
    assert raised.value.status == 429
    assert raised.value.headers["Retry-After"] == "0"
    body = error_body(raised.value)
    assert (body["kind"], body["reason"], body["code"]) == ("Status", "TooManyRequests", 429)
    assert body["details"] == {"retryAfterSeconds": 0}


def test_internal_error_fires_only_the_given_number_of_times(fresh_simulator, tmp_path):
    _, cluster, core = started(fresh_simulator, tmp_path)
    cluster.inject(Fault("internal_error", resource="pods", times=1))
    with pytest.raises(client.ApiException) as raised:
        core.list_pod_for_all_namespaces()
    assert raised.value.status == 500
    body = error_body(raised.value)
    assert body["reason"] == "InternalError" and body["message"].startswith("Internal error occurred: ")
    assert body["details"]["causes"][0]["message"]
    assert core.list_pod_for_all_namespaces().items


def test_expired_on_page_two_offers_an_inconsistent_continue_token(fresh_simulator, tmp_path):
    _, cluster, core = started(fresh_simulator, tmp_path)
    all_names = sorted((p["metadata"]["namespace"], p["metadata"]["name"]) for p in cluster.list("pods"))
    cluster.inject(Fault("expired", resource="pods", page=2, times=1))
    first = orjson.loads(core.list_pod_for_all_namespaces(limit=5, _preload_content=False).data)
    with pytest.raises(client.ApiException) as raised:
        core.list_pod_for_all_namespaces(limit=5, _continue=first["metadata"]["continue"])
    assert raised.value.status == 410
    body = error_body(raised.value)
    assert (body["reason"], body["code"], "details" in body) == ("Expired", 410, False)
    assert body["message"].startswith("The provided continue parameter is too old")
    new_token = body["metadata"]["continue"]
    assert orjson.loads(base64.urlsafe_b64decode(new_token + "==="))["rv"] == -1
    rest = raw_pages_from(core, new_token)
    assert item_names([first, *rest]) == all_names


def raw_pages_from(core: client.CoreV1Api, token: str) -> list[dict]:
    pages = []
    while token:
        pages.append(orjson.loads(core.list_pod_for_all_namespaces(limit=5, _continue=token, _preload_content=False).data))
        token = pages[-1]["metadata"].get("continue")
    return pages


def test_slow_fault_holds_only_the_chosen_page(fresh_simulator, tmp_path):
    _, cluster, core = started(fresh_simulator, tmp_path)
    # Held until released (the delay only bounds a broken test): what is asserted is what the
    # server held and what the client got, never how long anything took.
    slow = cluster.inject(Fault("slow", resource="pods", page=2, times=1, delay=120.0))
    first = orjson.loads(core.list_pod_for_all_namespaces(limit=5, _preload_content=False).data)
    assert slow.held == 0, "page 1 was not held"
    second: dict = {}
    client_thread = threading.Thread(target=lambda: second.update(orjson.loads(core.list_pod_for_all_namespaces(
        limit=5, _continue=first["metadata"]["continue"], _preload_content=False).data)))
    client_thread.start()
    try:
        assert slow.wait_held(1), "page 2 was never held"
        assert client_thread.is_alive() and not second, "the client had page 2 while the server held it"
    finally:
        slow.release()
        client_thread.join(60)
    assert second["items"] and second["metadata"]["continue"], "page 2 arrived whole once released"
    assert slow.held == 1
    # urllib3 retries a timed-out GET three times, then gives up: a page held past the client's
    # read timeout (a fresh hold, released only after the client has given up) times out each try.
    held = cluster.inject(Fault("slow", resource="pods", page=2, delay=120.0))
    try:
        with pytest.raises(urllib3.exceptions.MaxRetryError) as raised:
            core.list_pod_for_all_namespaces(limit=5, _continue=first["metadata"]["continue"],
                                             _request_timeout=(5, 0.2))
    finally:
        held.release()
    assert isinstance(raised.value.reason, urllib3.exceptions.ReadTimeoutError)
    assert held.held == 4, "the first try and urllib3's three retries, each held"


def test_cut_connection_breaks_the_body_mid_response(fresh_simulator, tmp_path):
    _, cluster, core = started(fresh_simulator, tmp_path)
    cluster.inject(Fault("cut", resource="pods"))
    response = core.list_pod_for_all_namespaces(_preload_content=False)
    assert response.status == 200
    with pytest.raises(urllib3.exceptions.ProtocolError) as raised:
        response.data
    assert "IncompleteRead" in repr(raised.value)
    # Typed calls read the body inside urllib3's retries since kubernetes 37 (ProtocolError
    # after them), before 37 in a retry of their own that ends in MaxRetryError.
    with pytest.raises((urllib3.exceptions.ProtocolError, urllib3.exceptions.MaxRetryError)):
        core.list_pod_for_all_namespaces()
    cluster.clear_faults()
    assert core.list_pod_for_all_namespaces().items


def test_unresponsive_server_times_out_the_client(fresh_simulator, tmp_path):
    _, cluster, core = started(fresh_simulator, tmp_path)
    cluster.inject(Fault("unresponsive", resource="pods"))
    with pytest.raises(urllib3.exceptions.MaxRetryError) as raised:
        core.list_pod_for_all_namespaces(_request_timeout=(5, 0.3))
    assert isinstance(raised.value.reason, urllib3.exceptions.ReadTimeoutError)
    # The first try and urllib3's three retries, each left unanswered until the client gave up:
    # the client's read timeout, not a hang, ended the call.
    assert [r.status for r in cluster.requests if r.path == "/api/v1/pods"] == [None] * 4
    cluster.clear_faults()
    assert core.list_pod_for_all_namespaces().items


def test_stopped_cluster_refuses_connections_then_serves_again_on_its_port(fresh_simulator, tmp_path):
    _, cluster, core = started(fresh_simulator, tmp_path)
    assert core.list_namespace().items  # opens a keep-alive connection that stop() must drop
    server = cluster.server
    cluster.stop()
    with pytest.raises(urllib3.exceptions.MaxRetryError) as raised:
        core.list_namespace()
    assert "refused" in str(raised.value.reason).lower()
    cluster.start()
    assert cluster.server == server
    assert core.read_namespace("kube-system").metadata.uid == cluster.kube_system_uid


# -- the console command -------------------------------------------------------------------------------------------


def test_simulate_command_writes_kubeconfig_and_serves_until_terminated(tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    command = [sys.executable, "-m", "k8s_assets.cli", "simulate", "--kubeconfig", str(kubeconfig)]
    command += ["--clusters", "dev,prod", "--size", "tiny", "--seed", "7"]
    process = subprocess.Popen(
        command, cwd=Path(__file__).resolve().parents[1], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    watchdog = threading.Timer(60, process.kill)  # a hung command fails the test instead of hanging it
    watchdog.start()
    try:
        output = []
        for line in process.stdout:
            output.append(line)
            if line.strip() == "ready":
                break
        assert output and output[-1].strip() == "ready", "".join(output) + process.stderr.read()
        contexts, _ = config.list_kube_config_contexts(str(kubeconfig))
        assert [c["name"] for c in contexts] == ["dev", "prod"]
        for context in ("dev", "prod"):
            assert client.CoreV1Api(api_client(kubeconfig, context)).read_namespace("kube-system").metadata.uid
        tokens = [user["user"]["token"] for user in yaml.safe_load(kubeconfig.read_text())["users"]]
        assert len(set(tokens)) == 2 and not any(token in "".join(output) for token in tokens)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        watchdog.cancel()
        if process.poll() is None:
            process.kill()


def test_a_resource_no_longer_served_leaves_discovery_and_answers_404(fresh_simulator, tmp_path):
    sim, cluster, core = started(fresh_simulator, tmp_path, clusters=("one",))
    networking = client.NetworkingV1Api(core.api_client)
    assert "networkpolicies" in {r.name for r in networking.get_api_resources().resources}
    cluster.stop_serving("networkpolicies.networking.k8s.io")
    assert "ingresses" in {r.name for r in networking.get_api_resources().resources}
    assert "networkpolicies" not in {r.name for r in networking.get_api_resources().resources}
    with pytest.raises(client.ApiException) as raised:
        networking.list_network_policy_for_all_namespaces()
    assert raised.value.status == 404 and error_body(raised.value)["reason"] == "NotFound"
