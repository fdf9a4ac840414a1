"""Credentials that expire during a sync, against a real kube-apiserver that enforces the expiry.

The API server asks a token webhook (token_webhook.py) about bearer tokens. No token expires by
the clock: the test's page loop makes the token in use expire between two pages, revoking it and
holding the next page until the API server really refuses it (it was observed to accept a token
for about 10 s after the webhook first accepted it, even with the webhook cache TTL 0, so the
hold waits on the refusal, not for a duration). Where the client decides by its own clock (an
exec plugin's ``expirationTimestamp``, the in-cluster token file re-read every minute), that
clock is an ``exec_plugin.Clock`` that stands still until the test moves it. So every verdict
holds however fast or slow the machine is.
"""

from __future__ import annotations

import base64
import logging
import secrets
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dagster as dg
import pytest
import yaml
from kubernetes import client as k8s_client

from k8s_assets.catalog import KINDS_BY_TABLE
from k8s_assets.kube import credentials
from k8s_assets.kube.config import contexts_in
from k8s_assets.kube.listing import ListingError, api_client, iter_pages
from k8s_assets.simulator.kubeconfig import KubeconfigEntry, write_kubeconfig
from k8s_assets_tests.exec_plugin import Clock
from k8s_assets_tests.fixtures_kube import REAL_VERSIONS, RealKubeServer, binaries
from k8s_assets_tests.fixtures_postgres import skip_or_fail
from k8s_assets_tests.pipeline import definitions, query, sync
from k8s_assets_tests.token_webhook import USER, Expiry, Review, TokenWebhook

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


def exec_kubeconfig(server: RealKubeServer, path: Path, issued: Path, seconds: float, omit_expiry: bool = False,
                    clock: Clock | None = None) -> tuple[Path, ...]:
    env = {"K8S_ASSETS_TEST_ISSUED": str(issued), "K8S_ASSETS_TEST_TOKEN_SECONDS": str(seconds),
           "K8S_ASSETS_TEST_OMIT_EXPIRY": "1" if omit_expiry else "0"}
    if clock is not None:
        env["K8S_ASSETS_TEST_CLOCK"] = str(clock.path)
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


def list_pages(api: k8s_client.ApiClient, page_size: int, during=None) -> tuple[list[tuple[float, int, int]], int]:
    """Every page of the ConfigMaps with when it arrived; ``during(page)`` runs before the next
    page is asked for (no request of the listing is in flight meanwhile: no prefetch here)."""
    pages, count = [], 0
    for page, number in iter_pages(api, CONFIGMAPS, page_size, 60.0):  # the default: a busy machine is no error
        pages.append((time.time(), number, len(page.get("items") or ())))
        count += len(page.get("items") or ())
        if during is not None:
            during(number)
    return pages, count


def expire_between_pages(server: RealKubeServer, webhook: TokenWebhook, at_pages: tuple[int, ...],
                         token=None, then=None):
    """A ``during`` for list_pages, and the list of Expiry it fills: after each of ``at_pages``,
    the token in use (``token()``, by default the last one issued) expires at the API server
    before the next page is asked for; ``then()`` runs after each expiry."""
    expiries: list[Expiry] = []

    def during(page: int) -> None:
        if page in at_pages:
            current = token() if token is not None else webhook.issued_tokens()[-1]["token"]
            expiries.append(webhook.expire(server.server, server.tls.ca_pem, current))
            if then is not None:
                then()

    return during, expiries


def client_reviews(webhook: TokenWebhook, since: int, expiries: list[Expiry]) -> list[Review]:
    """The reviews the listing's own requests caused: those from ``since``, but for the ones of
    the requests ``expire`` made while the listing was held between two pages."""
    held = {i for e in expiries for i in range(e.start, e.end)}
    return [r for i, r in enumerate(webhook.reviews) if i >= since and i not in held]


def timeline(webhook: TokenWebhook, reviews_from: int, issued_from: int, pages: list[tuple[float, int, int]],
             expiries: list[Expiry]) -> list[str]:
    """Tokens issued, expired, refused and used, and pages listed, in order; tokens by number,
    never by value. Its wall times are for reading only: no assertion uses them."""
    issued = webhook.issued_tokens()[issued_from:]
    number = {e["token"]: i for i, e in enumerate(issued, 1)}
    since = min([e["issued"] for e in issued] + [p[0] for p in pages])
    reviews = [r for r in client_reviews(webhook, reviews_from, expiries) if r.token in number]
    events = [(e["issued"], f"token #{number[e['token']]} issued") for e in issued]
    events += [(webhook.reviews[e.end - 1].at, f"token #{number.get(e.token, '?')} expired: the API server "
                                               f"refused it, {e.asked} requests after it was revoked")
               for e in expiries if e.end > e.start]
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


def test_plugin_tokens_that_expire_mid_listing_are_renewed_by_the_client(webhook_kube, tmp_path, monkeypatch,
                                                                         caplog):
    """With expirationTimestamp, the client runs the plugin again before the token expires.

    The plugin and the client tell the time by one clock that stands still until the test moves
    it: after pages 4 and 8 the token in use expires at the API server, and the clock moves to
    its expirationTimestamp. The client must renew it before it asks for the next page.
    """
    server, webhook = webhook_kube
    clock = Clock(tmp_path / "clock", start=time.time())
    clock.drive_client(monkeypatch)
    lifetime = 600.0  # the client renews once its clock is within 5 minutes of the expiry, not before
    reviews_from, issued_from = webhook.mark()
    api = api_client(exec_kubeconfig(server, tmp_path / "kubeconfig", webhook.issued, lifetime, clock=clock), "exec")
    during, expiries = expire_between_pages(server, webhook, (4, 8), then=lambda: clock.advance(lifetime))
    with caplog.at_level(logging.DEBUG):
        pages, count = list_pages(api, page_size=5, during=during)
    print(f"\nkube-apiserver {server.version}: exec plugin tokens with expirationTimestamp, made to expire after "
          f"pages 4 and 8; {count} ConfigMaps in {len(pages)} pages of 5\n"
          + "\n".join(timeline(webhook, reviews_from, issued_from, pages, expiries)))
    assert count == server_count(server) >= OBJECTS
    issued = [e["token"] for e in webhook.issued_tokens()[issued_from:]]
    assert len(expiries) == 2 and len(issued) == 3, "the plugin ran at load and once per expiry, no more"
    assert [e.token for e in expiries] == issued[:2], "the token that expired was the one in use"
    client = client_reviews(webhook, reviews_from, expiries)
    assert all(r.accepted for r in client), "the client sent a token the API server had stopped accepting"
    for expiry, renewed in zip(expiries, issued[1:]):
        # The request after the hold carried the renewed token (a token never seen is always reviewed).
        assert webhook.reviews[expiry.end].token == renewed
    assert {r.token for r in client} == set(issued)
    assert "reloaded the credentials" not in caplog.text, "renewed on the client's clock, not after a 401"


def test_a_token_refused_mid_listing_is_reloaded_once_and_the_page_repeated(webhook_kube, tmp_path, caplog):
    """Without expirationTimestamp the client never renews: the 401 makes us run the plugin again."""
    server, webhook = webhook_kube
    reviews_from, issued_from = webhook.mark()
    api = api_client(exec_kubeconfig(server, tmp_path / "kubeconfig", webhook.issued, 3600, omit_expiry=True),
                     "exec")
    during, expiries = expire_between_pages(server, webhook, (4, 8))
    with caplog.at_level(logging.DEBUG):
        pages, count = list_pages(api, page_size=5, during=during)
    print(f"\nkube-apiserver {server.version}: exec plugin tokens without expirationTimestamp, made to expire "
          f"after pages 4 and 8; {count} ConfigMaps in {len(pages)} pages of 5\n"
          + "\n".join(timeline(webhook, reviews_from, issued_from, pages, expiries)))
    assert count == server_count(server), "every page was listed, the refused ones once more"
    assert [number for _, number, _ in pages] == list(range(1, len(pages) + 1))
    issued = [e["token"] for e in webhook.issued_tokens()[issued_from:]]
    refused = [r.token for r in client_reviews(webhook, reviews_from, expiries) if not r.accepted]
    assert len(expiries) == 2, "no token expired during the listing: it proves nothing"
    assert refused == [e.token for e in expiries], "each expired token was sent once more, refused, then never"
    assert len(issued) == len(refused) + 1, "one plugin run per refusal, and the first"
    assert caplog.text.count("reloaded the credentials") == len(refused)
    assert not any(token in caplog.text for token in issued), "a token reached the log"


def test_a_fresh_token_refused_is_a_configuration_error_not_a_retry(webhook_kube, tmp_path, caplog):
    server, webhook = webhook_kube
    unknown = tmp_path / "not-registered.jsonl"  # tokens the webhook never hears of
    reviews_from, _ = webhook.mark()
    api = api_client(exec_kubeconfig(server, tmp_path / "kubeconfig", unknown, 60, omit_expiry=True), "exec")
    with caplog.at_level(logging.DEBUG), pytest.raises(ListingError) as failure:
        list_pages(api, page_size=5)
    assert (failure.value.status, failure.value.transient) == (401, False)
    assert "freshly loaded credentials" in str(failure.value)
    minted = [yaml.safe_load(line)["token"] for line in unknown.read_text().splitlines() if line]
    assert len(minted) == 2, "the plugin runs once at load and once for the refused page, no more"
    # Not a retry: one request with each token, each refused, then none (counted, not timed).
    assert [(r.token, r.accepted) for r in webhook.reviews[reviews_from:]] == [(t, False) for t in minted]
    assert not any(token in caplog.text + str(failure.value) for token in minted)


# -- in-cluster ----------------------------------------------------------------------------------


@pytest.fixture
def pod(webhook_kube, tmp_path, monkeypatch):
    """What a pod sees: KUBERNETES_SERVICE_HOST/PORT, and a token and CA file (here, in tmp_path).

    The client's clock stands still: its own re-read of the token file, a minute after the last,
    never comes during a test however long the test takes, so a rotated token is read again
    because of the 401, which is what these tests prove."""
    server, webhook = webhook_kube
    token_file, ca_file = tmp_path / "token", tmp_path / "ca.crt"
    ca_file.write_bytes(server.tls.ca_pem)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(server.api_port))
    monkeypatch.setattr(credentials, "SERVICE_TOKEN_FILENAME", str(token_file))
    monkeypatch.setattr(credentials, "SERVICE_CERT_FILENAME", str(ca_file))
    Clock(tmp_path / "clock", start=time.time()).drive_client(monkeypatch)
    return server, webhook, token_file


def write_token(webhook: TokenWebhook, token_file: Path, name: str) -> str:
    token = f"sa-{name}-{secrets.token_hex(8)}"
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
    reviews_from, _ = webhook.mark()
    api = api_client((tmp_path / "absent-kubeconfig",), "in-cluster")
    rotated = {}

    def rotate() -> str:  # the kubelet writes a new token; the old one stops working
        rotated["token"] = write_token(webhook, token_file, "second")
        return first

    during, expiries = expire_between_pages(server, webhook, (3,), token=rotate)
    pages, count = list_pages(api, page_size=5, during=during)
    assert count == server_count(server)
    client = client_reviews(webhook, reviews_from, expiries)
    used = [r.token for r in client if r.accepted]
    assert used[0] == first and used[-1] == rotated["token"]
    assert [r.token for r in client if not r.accepted] == [first], "refused once, then the new token"


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

    first = f"static-first-{secrets.token_hex(8)}"
    reviews_from, _ = webhook.mark()
    api = api_client((write(first),), "static")
    rotated = {}

    def rotate() -> str:  # the tool rewrites the kubeconfig; the old token stops working
        rotated["token"] = f"static-second-{secrets.token_hex(8)}"
        write(rotated["token"])
        return first

    during, expiries = expire_between_pages(server, webhook, (3,), token=rotate)
    pages, count = list_pages(api, page_size=5, during=during)
    assert count == server_count(server)
    client = client_reviews(webhook, reviews_from, expiries)
    used = [r.token for r in client if r.accepted]
    assert used[0] == first and used[-1] == rotated["token"]
    assert [r.token for r in client if not r.accepted] == [first], "refused once, then the new token"
