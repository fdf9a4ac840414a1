"""Credentials that expire during a sync, against a real kube-apiserver that enforces the expiry.

The API server asks a token webhook (token_webhook.py) about bearer tokens: a token is accepted
only until the expiry its exec plugin (exec_plugin.py) gave it. The webhook's cache TTL is 0
(``--authentication-token-webhook-cache-ttl 0s``), yet on both versions an accepted token was
refused only about 10 s after the webhook first accepted it (kube-apiserver caches successful
token authentications; observed, the flag's own cache is not the one): listings here last
longer than a token's life plus those 10 s.
"""

from __future__ import annotations

import base64
import logging
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dagster as dg
import pytest
import yaml
from kubernetes import client as k8s_client

from k8s_assets import credentials
from k8s_assets.catalog import KINDS_BY_TABLE
from k8s_assets.config import contexts_in
from k8s_assets.extraction import ListingError, api_client, iter_pages
from k8s_assets.simulator.kubeconfig import KubeconfigEntry, write_kubeconfig
from k8s_assets_tests.fixtures_kube import REAL_VERSIONS, RealKubeServer, binaries
from k8s_assets_tests.fixtures_postgres import skip_or_fail
from k8s_assets_tests.pipeline import definitions, query, sync
from k8s_assets_tests.token_webhook import USER, TokenWebhook

PLUGIN = Path(__file__).resolve().parent / "exec_plugin.py"
CONFIGMAPS = KINDS_BY_TABLE["k8s_configmaps"]
NAMESPACE, OBJECTS = "paged", 300


@pytest.fixture(scope="module", params=REAL_VERSIONS)
def webhook_kube(request, tmp_path_factory):
    """A real API server whose unknown tokens are judged by a token webhook, with 300 ConfigMaps."""
    version = request.param
    if binaries(version) is None:
        skip_or_fail(f"kube-apiserver {version} is not built")
    workdir = tmp_path_factory.mktemp(f"kube-webhook-{version}")
    webhook = TokenWebhook(workdir / "issued.jsonl")
    webhook.start()
    try:
        with RealKubeServer(version, workdir, extra_args=webhook.apiserver_args(workdir)) as server:
            grant_reader(server.api_client())
            yield server, webhook
    finally:
        webhook.stop()


def grant_reader(api: k8s_client.ApiClient) -> None:
    rbac = k8s_client.RbacAuthorizationV1Api(api)
    rbac.create_cluster_role({"metadata": {"name": "exec-reader"}, "rules": [
        {"apiGroups": [""], "resources": ["configmaps", "namespaces"], "verbs": ["get", "list"]}]})
    rbac.create_cluster_role_binding({"metadata": {"name": "exec-reader"}, "roleRef": {
        "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "exec-reader"},
        "subjects": [{"kind": "User", "name": USER, "apiGroup": "rbac.authorization.k8s.io"}]})
    core = k8s_client.CoreV1Api(api)
    core.create_namespace({"metadata": {"name": NAMESPACE}})
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: core.create_namespaced_config_map(
            NAMESPACE, {"metadata": {"name": f"cm-{i:03d}"}, "data": {"i": str(i)}}), range(OBJECTS)))


def exec_kubeconfig(server: RealKubeServer, path: Path, issued: Path, seconds: float, omit_expiry: bool = False
                    ) -> tuple[Path, ...]:
    env = {"K8S_ASSETS_TEST_ISSUED": str(issued), "K8S_ASSETS_TEST_TOKEN_SECONDS": str(seconds),
           "K8S_ASSETS_TEST_OMIT_EXPIRY": "1" if omit_expiry else "0"}
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "exec",
        "clusters": [{"name": "real", "cluster": {"server": server.server, "certificate-authority-data":
                                                  base64.b64encode(server.tls.ca_pem).decode()}}],
        "users": [{"name": "exec", "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1", "command": sys.executable, "args": [str(PLUGIN)],
            "env": [{"name": k, "value": v} for k, v in env.items()], "interactiveMode": "Never"}}}],
        "contexts": [{"name": "exec", "context": {"cluster": "real", "user": "exec"}}],
    }))
    return (path,)


def server_count(server: RealKubeServer) -> int:
    return len(k8s_client.CoreV1Api(server.api_client()).list_config_map_for_all_namespaces().items)


def list_pages(api: k8s_client.ApiClient, page_size: int, pause: float = 0.0,
               during=None) -> tuple[list[tuple[float, int, int]], int]:
    """Every page of the ConfigMaps with when it arrived; ``pause`` stands for a slow consumer."""
    pages, count = [], 0
    for page, number in iter_pages(api, CONFIGMAPS, page_size, 10.0):
        pages.append((time.time(), number, len(page.get("items") or ())))
        count += len(page.get("items") or ())
        if during is not None:
            during(number)
        time.sleep(pause)
    return pages, count


def timeline(webhook: TokenWebhook, since: float, pages: list[tuple[float, int, int]]) -> list[str]:
    """Tokens issued, rejected and used, and pages listed, in order; tokens by number, never by value."""
    issued = sorted((e for e in webhook.tokens().values() if e["issued"] >= since), key=lambda e: e["issued"])
    number = {e["token"]: i for i, e in enumerate(issued, 1)}
    reviews = [r for r in webhook.reviews if r.at >= since and r.token in number]
    events = [(e["issued"], f"token #{number[e['token']]} issued, valid until +{e['expires'] - since:.1f}s")
              for e in issued]
    events += [(r.at, f"token #{number[r.token]} refused (expired): 401") for r in reviews if not r.accepted]
    accepted = [(r.at, number[r.token]) for r in reviews if r.accepted]
    run: list = []  # consecutive pages listed with the same token, one line
    for at, page, items in pages:
        token = max((a for a in accepted if a[0] <= at), default=(0, "?"))[1]
        if run and run[2] == token:
            run[1] = (at, page)
        else:
            if run:
                events.append(_pages_line(run, since))
            run = [(at, page), (at, page), token]
    if run:
        events.append(_pages_line(run, since))
    return [f"+{at - since:6.2f}s  {text}" for at, text in sorted(events)]


def _pages_line(run: list, since: float) -> tuple[float, str]:
    (first_at, first), (last_at, last), token = run
    pages = f"page {first}" if first == last else f"pages {first}-{last} (until +{last_at - since:.2f}s)"
    return first_at, f"{pages} listed with token #{token}"


def test_plugin_tokens_that_expire_mid_listing_are_renewed_by_the_client(webhook_kube, tmp_path):
    """With expirationTimestamp, the client runs the plugin again before the token expires."""
    server, webhook = webhook_kube
    lifetime = 2.0
    started = time.time()
    api = api_client(exec_kubeconfig(server, tmp_path / "kubeconfig", webhook.issued, lifetime), "exec")
    pages, count = list_pages(api, page_size=5)
    lines = timeline(webhook, started, pages)
    print(f"\nkube-apiserver {server.version}: exec plugin tokens valid {lifetime}s (expirationTimestamp given), "
          f"{count} ConfigMaps in {len(pages)} pages of 5\n" + "\n".join(lines))
    assert count == server_count(server) >= OBJECTS
    assert pages[-1][0] - started > 2 * lifetime, "the listing did not outlive a token"
    refused = [r for r in webhook.reviews if r.at >= started and not r.accepted]
    assert not refused, "the client sent an expired token"
    used = {r.token for r in webhook.reviews if r.at >= started and r.accepted}
    assert len(used) >= 3


def test_a_token_refused_mid_listing_is_reloaded_once_and_the_page_repeated(webhook_kube, tmp_path, caplog):
    """Without expirationTimestamp the client never renews: the 401 makes us run the plugin again."""
    server, webhook = webhook_kube
    lifetime = 1.0
    started = time.time()
    api = api_client(exec_kubeconfig(server, tmp_path / "kubeconfig", webhook.issued, lifetime, omit_expiry=True),
                     "exec")
    with caplog.at_level(logging.DEBUG):
        pages, count = list_pages(api, page_size=5, pause=0.25)
    lines = timeline(webhook, started, pages)
    print(f"\nkube-apiserver {server.version}: exec plugin tokens valid {lifetime}s (no expirationTimestamp), "
          f"{count} ConfigMaps in {len(pages)} pages of 5\n" + "\n".join(lines))
    assert count == server_count(server)
    refused = [r for r in webhook.reviews if r.at >= started and not r.accepted]
    issued = [e for e in webhook.tokens().values() if e["issued"] >= started]
    assert refused, "no token expired during the listing: it proves nothing"
    assert len(issued) == len(refused) + 1, "one plugin run per refusal, and the first"
    assert "reloaded the credentials" in caplog.text
    assert not any(e["token"] in caplog.text for e in issued), "a token reached the log"


def test_a_fresh_token_refused_is_a_configuration_error_not_a_retry(webhook_kube, tmp_path, caplog):
    server, webhook = webhook_kube
    unknown = tmp_path / "not-registered.jsonl"  # tokens the webhook never hears of
    started = time.time()
    api = api_client(exec_kubeconfig(server, tmp_path / "kubeconfig", unknown, 60, omit_expiry=True), "exec")
    with caplog.at_level(logging.DEBUG), pytest.raises(ListingError) as failure:
        list_pages(api, page_size=5)
    assert (failure.value.status, failure.value.transient) == (401, False)
    assert "freshly loaded credentials" in str(failure.value)
    minted = [line for line in unknown.read_text().splitlines() if line]
    assert len(minted) == 2, "the plugin runs once at load and once for the refused page, no more"
    assert not any(token in caplog.text + str(failure.value) for token in map(lambda l: yaml.safe_load(l)["token"],
                                                                                  minted))
    assert time.time() - started < 30


# -- in-cluster ----------------------------------------------------------------------------------


@pytest.fixture
def pod(webhook_kube, tmp_path, monkeypatch):
    """What a pod sees: KUBERNETES_SERVICE_HOST/PORT, and a token and CA file (here, in tmp_path)."""
    server, webhook = webhook_kube
    token_file, ca_file = tmp_path / "token", tmp_path / "ca.crt"
    ca_file.write_bytes(server.tls.ca_pem)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(server.api_port))
    monkeypatch.setattr(credentials, "SERVICE_TOKEN_FILENAME", str(token_file))
    monkeypatch.setattr(credentials, "SERVICE_CERT_FILENAME", str(ca_file))
    return server, webhook, token_file


def write_token(webhook: TokenWebhook, token_file: Path, name: str) -> str:
    token = f"sa-{name}-{time.time_ns()}"
    webhook.register(token)
    token_file.write_text(token)
    return token


def test_in_a_pod_the_cluster_is_a_context_of_its_own(pod, tmp_path, monkeypatch):
    server, webhook, token_file = pod
    kubeconfig = tmp_path / "absent-kubeconfig"
    assert [c.name for c in contexts_in((kubeconfig,))] == []  # no token file yet: not in a pod
    write_token(webhook, token_file, "first")
    (context,) = contexts_in((kubeconfig,))
    assert (context.name, context.server) == ("in-cluster", server.server)
    assert contexts_in((kubeconfig,), ("prod-*",)) == []  # K8S_ASSETS_CONTEXTS selects it like any other
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST")
    assert contexts_in((kubeconfig,)) == []


def test_a_rotated_token_file_is_read_again_during_a_listing(pod, tmp_path):
    server, webhook, token_file = pod
    first = write_token(webhook, token_file, "first")
    started = time.time()
    api = api_client((tmp_path / "absent-kubeconfig",), "in-cluster")
    rotated = {}

    def rotate(page: int) -> None:
        if page == 3:  # the kubelet writes a new token; the old one stops working
            rotated["token"] = write_token(webhook, token_file, "second")
            webhook.revoke(first)

    pages, count = list_pages(api, page_size=5, pause=0.25, during=rotate)
    assert count == server_count(server)
    used = [r.token for r in webhook.reviews if r.at >= started and r.accepted]
    assert used[0] == first and used[-1] == rotated["token"]
    assert [r.token for r in webhook.reviews if r.at >= started and not r.accepted] == [first]


def test_the_in_cluster_context_syncs_through_dagster_like_any_other(pod, tmp_path, database_url):
    server, webhook, token_file = pod
    write_token(webhook, token_file, "dagster")
    kubeconfig = tmp_path / "absent-kubeconfig"  # a pod without any kubeconfig
    defs = definitions(kubeconfig, database_url, resources_env={"K8S_ASSETS_RESOURCES": "configmaps"})
    with dg.DagsterInstance.ephemeral() as instance:
        assert sync(defs, instance, credentials.IN_CLUSTER).success
    ((server_url, source, kube_system),) = query(
        database_url, "SELECT c.server, c.identity_source, c.kube_system_uid FROM k8s_clusters c "
                      "JOIN k8s_cluster_contexts USING (cluster_uid) WHERE k8s_cluster_contexts.context_name = %s",
        (credentials.IN_CLUSTER,))
    live = k8s_client.CoreV1Api(server.api_client()).read_namespace("kube-system").metadata.uid
    assert (server_url, source, str(kube_system)) == (server.server, "kube-system", live)
    ((stored,),) = query(database_url, "SELECT count(*) FROM k8s_configmaps")
    assert stored == server_count(server)


def test_a_token_rewritten_in_the_kubeconfig_is_read_again_after_a_401(webhook_kube, tmp_path):
    """A static token that a tool rewrites in the kubeconfig (``aws eks update-kubeconfig``, say)."""
    server, webhook = webhook_kube

    def write(token: str) -> Path:
        webhook.register(token)
        return write_kubeconfig(tmp_path / "kubeconfig", [KubeconfigEntry(
            context_name="static", cluster_name="real", user_name="static", server=server.server, token=token,
            ca_pem=server.tls.ca_pem)])

    first = f"static-first-{time.time_ns()}"
    started = time.time()
    api = api_client((write(first),), "static")
    rotated = {}

    def rotate(page: int) -> None:
        if page == 3:
            rotated["token"] = f"static-second-{time.time_ns()}"
            write(rotated["token"])
            webhook.revoke(first)

    pages, count = list_pages(api, page_size=5, pause=0.25, during=rotate)
    assert count == server_count(server)
    used = [r.token for r in webhook.reviews if r.at >= started and r.accepted]
    assert used[0] == first and used[-1] == rotated["token"]
