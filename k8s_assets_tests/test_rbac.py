"""deploy/rbac.yaml and ``k8s-assets rbac``: least privilege, rendered from the catalog and from
discovery, and proven on real API servers.

The shipped files are ``k8s_assets.catalog.rbac_rules``'s rendering of the catalog, byte for byte. The
real-server tests apply the shipped file (or what ``k8s-assets rbac --context`` printed), ask
the TokenRequest API for a token of the shipped ServiceAccount, sync every kind through Dagster
with a kubeconfig holding only that token, and require every kind ``complete`` and nothing
``forbidden`` in k8s_sync_coverage.

The watcher's files (``deploy/rbac-watch*.yaml``, ``k8s-assets rbac --watch``): the same kinds
plus ``watch``, for ServiceAccount k8s-assets-watcher; on real servers its token may watch every
catalog kind the server serves once the role is bound and none before, and the sync's account
k8s-assets, with deploy/rbac.yaml, may list them but never watch.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dagster as dg
import pytest
import urllib3
import yaml
from kubernetes import client as k8s_client
from kubernetes.dynamic import DynamicClient

from k8s_assets.catalog import KINDS, rbac_rules
from k8s_assets.catalog.redaction import LAST_APPLIED, METADATA_ONLY
from k8s_assets.kube.discovery import Discovery, ServedResource
from k8s_assets.simulator.kubeconfig import KubeconfigEntry, write_kubeconfig
from k8s_assets_tests import real_objects
from k8s_assets_tests.fixtures_kube import ADMIN, RealKubeServer, free_port
from k8s_assets_tests.pipeline import cluster_uid_of, definitions, query, sync
from k8s_assets_tests.test_catalog import pg_dump_text

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
RBAC = DEPLOY / "rbac.yaml"
SHIPPED = {"keys": RBAC, "metadata": DEPLOY / "rbac-secrets-metadata.yaml"}
NAMESPACE = SERVICE_ACCOUNT = "k8s-assets"
READER_ROLE, CUSTOM_ROLE = "k8s-assets-reader", "k8s-assets-custom-resources"
READ_VERBS = {"get", "list"}
# The watcher's ServiceAccount and ClusterRole (deploy/rbac-watch*.yaml, deploy/watcher.yaml).
WATCHER = "k8s-assets-watcher"
SHIPPED_WATCH = {"keys": DEPLOY / "rbac-watch.yaml", "metadata": DEPLOY / "rbac-watch-secrets-metadata.yaml"}
WATCH_VERBS = {"get", "list", "watch"}
SECRETS_WATCH_VERBS = {"keys": {"get", "list", "watch"}, "metadata": {"list", "watch"}}


def documents(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def named(docs: list[dict], kind: str, name: str) -> dict:
    (doc,) = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def granted(role: dict) -> dict[tuple[str, str], set[str]]:
    """(API group, resource) -> verbs, over every rule of a ClusterRole."""
    out: dict[tuple[str, str], set[str]] = {}
    for rule in role.get("rules") or ():
        assert not rule.get("nonResourceURLs") and not rule.get("resourceNames"), rule
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                out.setdefault((group, resource), set()).update(rule["verbs"])
    return out


# -- the file, against the catalog -------------------------------------------------------------


@pytest.mark.parametrize("path", [RBAC, DEPLOY / "rbac-secrets-metadata.yaml"], ids=lambda p: p.name)
def test_the_reader_role_grants_get_and_list_on_exactly_the_catalog_kinds(path):
    docs = documents(path)
    rules = granted(named(docs, "ClusterRole", READER_ROLE))
    assert set(rules) == {(k.group, k.plural) for k in KINDS}, "rbac.yaml and catalog.KINDS disagree"
    for key, verbs in rules.items():
        assert verbs <= READ_VERBS and "list" in verbs, (key, verbs)
    # The custom-resource role ships without a rule and may never reach the core group or every group.
    custom = granted(named(docs, "ClusterRole", CUSTOM_ROLE))
    assert all(group not in ("", "*") and verbs <= READ_VERBS for (group, _), verbs in custom.items())
    for role in (READER_ROLE, CUSTOM_ROLE):
        binding = named(docs, "ClusterRoleBinding", role)
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role}
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": NAMESPACE}]
    assert named(docs, "ServiceAccount", SERVICE_ACCOUNT)["metadata"]["namespace"] == NAMESPACE


def test_a_rule_granting_more_than_get_and_list_is_caught():
    role = {"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]}
    with pytest.raises(AssertionError):
        verbs = granted(role)[("", "pods")]
        assert verbs <= READ_VERBS


@pytest.mark.parametrize("secrets", sorted(SHIPPED))
def test_the_shipped_files_are_the_rendering_of_the_catalog(secrets):
    path = SHIPPED[secrets]
    assert path.read_text() == rbac_rules.render_catalog(secrets), (
        f"{path.relative_to(ROOT)} drifted from the catalog (or was edited by hand); regenerate it: "
        f"`{rbac_rules.regenerate_command(secrets)}` (from a checkout: python3 -m k8s_assets rbac --secrets {secrets})")


def test_the_two_files_differ_only_in_secrets_having_list_alone():
    """What the metadata-only list needs (proven below on real servers): `list`, and `get` is dropped."""
    keys, metadata = (granted(named(documents(SHIPPED[m]), "ClusterRole", READER_ROLE)) for m in ("keys", "metadata"))
    assert keys.pop(("", "secrets")) == {"get", "list"}
    assert metadata.pop(("", "secrets")) == {"list"}
    assert keys == metadata


@pytest.mark.parametrize("secrets", sorted(SHIPPED))
def test_the_rendered_text_reads_back_as_the_documents_it_renders(secrets):
    rules = rbac_rules.rules_of(rbac_rules.catalog_grants(secrets))
    assert [d for d in yaml.safe_load_all(rbac_rules.render_catalog(secrets)) if d] == \
        rbac_rules.documents(rules, custom_resources_role=True)
    assert all(len(line) <= rbac_rules.WIDTH for line in rbac_rules.render_catalog(secrets).splitlines()
               if not line.startswith("#"))


# -- the watcher's files, against the catalog -----------------------------------------------------


@pytest.mark.parametrize("secrets", sorted(SHIPPED_WATCH))
def test_the_shipped_watch_files_are_the_rendering_of_the_catalog(secrets):
    path = SHIPPED_WATCH[secrets]
    assert path.read_text() == rbac_rules.render_catalog(secrets, watch=True), (
        f"{path.relative_to(ROOT)} drifted from the catalog (or was edited by hand); regenerate it: "
        f"`{rbac_rules.regenerate_command(secrets, watch=True)}` "
        f"(from a checkout: python3 -m k8s_assets rbac --watch --secrets {secrets})")
    rules = rbac_rules.rules_of(rbac_rules.catalog_grants(secrets, watch=True))
    assert documents(path) == rbac_rules.documents(rules, custom_resources_role=False, watch=True)
    assert all(len(line) <= rbac_rules.WIDTH for line in path.read_text().splitlines() if not line.startswith("#"))


@pytest.mark.parametrize("secrets", sorted(SHIPPED_WATCH))
def test_the_watch_role_grants_get_list_watch_on_exactly_the_catalog_kinds(secrets):
    docs = documents(SHIPPED_WATCH[secrets])
    # Its own account, role and binding; nothing of the sync's (the custom-resource role included).
    assert [(d["kind"], d["metadata"]["name"]) for d in docs] == [
        ("Namespace", NAMESPACE), ("ServiceAccount", WATCHER), ("ClusterRole", WATCHER), ("ClusterRoleBinding", WATCHER)]
    assert named(docs, "ServiceAccount", WATCHER)["metadata"]["namespace"] == NAMESPACE
    binding = named(docs, "ClusterRoleBinding", WATCHER)
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": WATCHER}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": WATCHER, "namespace": NAMESPACE}]
    grants = granted(named(docs, "ClusterRole", WATCHER))
    assert set(grants) == {(k.group, k.plural) for k in KINDS}, "the watch role and catalog.KINDS disagree"
    assert grants.pop(("", "secrets")) == SECRETS_WATCH_VERBS[secrets]
    assert all(verbs == WATCH_VERBS for verbs in grants.values()), grants
    # What the sync's file grants, plus watch: nothing else differs.
    reader = granted(named(documents(SHIPPED[secrets]), "ClusterRole", READER_ROLE))
    watcher = granted(named(docs, "ClusterRole", WATCHER))
    assert {key: verbs - {"watch"} for key, verbs in watcher.items()} == reader
    # Least privilege for the sync: its account gains no watch from any shipped file.
    for path in SHIPPED.values():
        for role in (d for d in documents(path) if d["kind"] == "ClusterRole"):
            assert all("watch" not in verbs for verbs in granted(role).values()), (path.name, role["metadata"]["name"])


def test_the_sync_and_the_watch_renderings_differ_only_in_the_watch_verb_per_kind():
    for secrets in ("keys", "metadata"):
        sync_grants, watch_grants = rbac_rules.catalog_grants(secrets), rbac_rules.catalog_grants(secrets, watch=True)
        assert watch_grants == {key: (*verbs, "watch") for key, verbs in sync_grants.items()}
        assert rbac_rules.render_catalog(secrets) == SHIPPED[secrets].read_text()  # the sync's files are unchanged


def served(group: str, version: str, plural: str, verbs: tuple[str, ...] = ("get", "list", "watch")) -> ServedResource:
    return ServedResource(group, version, plural, plural.title(), True, verbs)


def test_the_discovered_role_grants_every_listable_resource_and_secrets_per_mode():
    resources = [
        served("", "v1", "pods"), served("", "v1", "secrets"), served("", "v1", "bindings", ("create",)),
        served("", "v1", "componentstatuses", ("get", "list")),
        served("apps", "v1", "deployments"), served("autoscaling", "v2", "horizontalpodautoscalers"),
        served("autoscaling", "v1", "horizontalpodautoscalers"),  # two versions, one grant
        served("coordination.k8s.io", "v1", "leases"),  # no catalog entry: granted all the same
        served("authorization.k8s.io", "v1", "subjectaccessreviews", ("create",)),  # not listable
        served("zoo.example.com", "v1", "octopi"), served("metrics.k8s.io", "v1beta1", "pods", ("get", "list")),
    ]
    discovery = Discovery({}, {(r.group, r.version, r.plural): r for r in resources},
                          failed=(("broken.example.com", "v1"),))
    expected = {("", "componentstatuses"), ("", "pods"), ("", "secrets"), ("apps", "deployments"),
                ("autoscaling", "horizontalpodautoscalers"), ("coordination.k8s.io", "leases"),
                ("zoo.example.com", "octopi"), ("metrics.k8s.io", "pods")}
    for secrets, secret_verbs in (("keys", {"get", "list"}), ("metadata", {"list"})):
        text = rbac_rules.render_discovered(discovery, "prod-eu", secrets)
        docs = [d for d in yaml.safe_load_all(text) if d]
        assert [(d["kind"], d["metadata"]["name"]) for d in docs] == [
            ("Namespace", NAMESPACE), ("ServiceAccount", SERVICE_ACCOUNT), ("ClusterRole", READER_ROLE),
            ("ClusterRoleBinding", READER_ROLE)]
        assert docs == rbac_rules.documents(rbac_rules.rules_of(rbac_rules.discovered_grants(discovery, secrets)),
                                      custom_resources_role=False)
        grants = granted(named(docs, "ClusterRole", READER_ROLE))
        assert set(grants) == expected
        assert grants.pop(("", "secrets")) == secret_verbs
        assert all(verbs == READ_VERBS for verbs in grants.values())
        rules = named(docs, "ClusterRole", READER_ROLE)["rules"]
        assert [r["apiGroups"] for r in rules] == sorted(r["apiGroups"] for r in rules)  # grouped by API group
        assert all(r["resources"] == sorted(r["resources"]) for r in rules)
        assert "broken.example.com/v1" in text and "--context prod-eu" in text


def test_the_discovered_watch_role_adds_watch_where_it_is_served():
    resources = [
        served("", "v1", "pods"), served("", "v1", "secrets"), served("", "v1", "componentstatuses", ("get", "list")),
        served("apps", "v1", "deployments"), served("zoo.example.com", "v1", "octopi"),
        served("metrics.k8s.io", "v1beta1", "pods", ("get", "list")),  # aggregated, no watch verb
        served("", "v1", "bindings", ("create",)),
    ]
    discovery = Discovery({}, {(r.group, r.version, r.plural): r for r in resources}, failed=())
    for secrets in ("keys", "metadata"):
        text = rbac_rules.render_discovered(discovery, "prod-eu", secrets, watch=True)
        docs = [d for d in yaml.safe_load_all(text) if d]
        assert [(d["kind"], d["metadata"]["name"]) for d in docs] == [
            ("Namespace", NAMESPACE), ("ServiceAccount", WATCHER), ("ClusterRole", WATCHER),
            ("ClusterRoleBinding", WATCHER)]
        assert docs == rbac_rules.documents(rbac_rules.rules_of(rbac_rules.discovered_grants(discovery, secrets, watch=True)),
                                      custom_resources_role=False, watch=True)
        grants = granted(named(docs, "ClusterRole", WATCHER))
        assert grants.pop(("", "secrets")) == SECRETS_WATCH_VERBS[secrets]
        assert grants == {("", "pods"): WATCH_VERBS, ("", "componentstatuses"): READ_VERBS,
                          ("apps", "deployments"): WATCH_VERBS, ("zoo.example.com", "octopi"): WATCH_VERBS,
                          ("metrics.k8s.io", "pods"): READ_VERBS}
        assert "--watch --context prod-eu" in text
        # Without --watch the reader's role is unchanged: no watch anywhere.
        reader = granted(named([d for d in yaml.safe_load_all(rbac_rules.render_discovered(discovery, "prod-eu", secrets))
                                if d], "ClusterRole", READER_ROLE))
        assert all("watch" not in verbs for verbs in reader.values())


# -- the file, on a real server ------------------------------------------------------------------


def apply(dynamic: DynamicClient, docs: list[dict]) -> None:
    """``kubectl apply --server-side`` of each document."""
    for doc in docs:
        resource = dynamic.resources.get(api_version=doc["apiVersion"], kind=doc["kind"])
        resource.server_side_apply(body=doc, name=doc["metadata"]["name"],
                                   namespace=doc["metadata"].get("namespace"),
                                   field_manager="k8s-assets-tests", force_conflicts=True)


def with_custom_resource_groups(docs: list[dict], api: k8s_client.ApiClient) -> list[dict]:
    """What the comment in rbac_rules.yaml asks a user to do: name the cluster's CRD groups."""
    groups = sorted({crd.spec.group for crd in k8s_client.ApiextensionsV1Api(api)
                     .list_custom_resource_definition().items})
    out = []
    for doc in docs:
        if doc["kind"] == "ClusterRole" and doc["metadata"]["name"] == CUSTOM_ROLE:
            doc = {**doc, "rules": [{"apiGroups": groups, "resources": ["*"], "verbs": ["get", "list"]}]}
        out.append(doc)
    return out


def service_account_token(api: k8s_client.ApiClient, seconds: int = 3600) -> str:
    request = k8s_client.AuthenticationV1TokenRequest(spec=k8s_client.V1TokenRequestSpec(
        audiences=[], expiration_seconds=seconds))
    return k8s_client.CoreV1Api(api).create_namespaced_service_account_token(
        SERVICE_ACCOUNT, NAMESPACE, request).status.token


def service_account_kubeconfig(server: RealKubeServer, token: str, path: Path, context: str) -> Path:
    return write_kubeconfig(path, [KubeconfigEntry(context_name=context, cluster_name=f"real-{server.short}",
                                                   user_name=f"{context}-user", server=server.server,
                                                   token=token, ca_pem=server.tls.ca_pem)])


def sync_as_service_account(server: RealKubeServer, rbac_docs: Path | list[dict], database_url: str, tmp_path: Path,
                            context: str, env: dict | None = None) -> tuple[dg.ExecuteInProcessResult, list[tuple]]:
    """Apply a shipped file (its CRD groups named, as its comment asks) or the documents given,
    sync every kind with a TokenRequest token; returns the result and the coverage."""
    real_objects.populate_once(server)
    admin = server.api_client()
    docs = with_custom_resource_groups(documents(rbac_docs), admin) if isinstance(rbac_docs, Path) else rbac_docs
    apply(DynamicClient(admin), docs)
    kubeconfig = service_account_kubeconfig(server, service_account_token(admin), tmp_path / "kubeconfig", context)
    with dg.DagsterInstance.ephemeral() as instance:
        result = sync(definitions(kubeconfig, database_url, resources_env=env), instance, context)
    coverage = query(database_url, "SELECT kind, status, listed_count FROM k8s_sync_coverage "
                                   "WHERE cluster_uid = %s ORDER BY kind",
                     (cluster_uid_of(database_url, context),))
    return result, coverage


def print_coverage(title: str, coverage: list[tuple]) -> None:
    print(f"\n{title}\n| kind | status | listed |\n|---|---|---:|")
    for kind, status, listed in coverage:
        print(f"| {kind} | {status} | {listed} |")


def test_the_shipped_service_account_syncs_every_kind_completely(real_kube, database_url, tmp_path):
    server = real_kube
    result, coverage = sync_as_service_account(server, RBAC, database_url, tmp_path, f"sa-{server.short}")
    print_coverage(f"kube-apiserver {server.version}, ServiceAccount {NAMESPACE}/{SERVICE_ACCOUNT} "
                   "(deploy/rbac.yaml, TokenRequest token)", coverage)
    assert result.success
    status = {kind: s for kind, s, _ in coverage}
    assert status.keys() >= {k.table for k in KINDS} | {"k8s_custom_resources"}
    assert any(kind.startswith("k8s_custom_resources:") for kind in status), "no CRD was listed"
    # The reader role names the catalog's kinds only: the other served kinds (k8s_other_resources,
    # from discovery) are forbidden to it unless a default role grants them to everyone (v1.37's
    # clustertrustbundles), recorded as such, and change nothing else.
    not_served = real_objects.NOT_SERVED.get(server.version, frozenset())
    other = {k: s for k, s in status.items() if k.startswith("k8s_other_resources")}
    assert "forbidden" in set(other.values()) <= {"forbidden", "complete"}, other
    rest = {k: s for k, s in status.items() if k not in other}
    assert {k: s for k, s in rest.items() if s != "complete"} == dict.fromkeys(not_served, "not_served")
    ((source,),) = query(database_url, "SELECT identity_source FROM k8s_clusters")
    assert source == "kube-system"


def test_without_the_custom_resource_groups_crds_are_forbidden_and_nothing_else(real_kube, database_url, tmp_path):
    """deploy/rbac.yaml exactly as shipped (its custom-resource role without a group): every kind
    is listed, CRDs included, and only the CRDs' instances are forbidden."""
    server = real_kube
    context = f"sa-no-cr-{server.short}"
    result, coverage = sync_as_service_account(server, documents(RBAC), database_url, tmp_path, context)
    print_coverage(f"kube-apiserver {server.version}, deploy/rbac.yaml as shipped",
                   [row for row in coverage if row[1] != "complete"])
    status = {kind: s for kind, s, _ in coverage}
    per_crd = {k: s for k, s in status.items() if k.startswith("k8s_custom_resources:")}
    assert per_crd and set(per_crd.values()) == {"forbidden"}, per_crd
    unserved = real_objects.NOT_SERVED.get(server.version, frozenset())
    assert {k: status[k] for k in unserved} == dict.fromkeys(unserved, "not_served")
    # Every CRD forbidden: the custom resources' own row says so. Other served kinds (no typed table)
    # are not in the catalog's role either (test_the_shipped_service_account_... says how they end).
    assert status["k8s_custom_resources"] == "forbidden"
    rest = {k: s for k, s in status.items() if k not in per_crd and k not in unserved
            and k != "k8s_custom_resources" and not k.startswith("k8s_other_resources")}
    assert rest.keys() >= {k.table for k in KINDS} - unserved and set(rest.values()) == {"complete"}, \
        {k: s for k, s in rest.items() if s != "complete"}
    assert result.success  # forbidden is recorded (and checked), not a failure of the run


# -- `k8s-assets rbac --context`, on a real server ----------------------------------------------


def k8s_assets_command(*args: str, kubeconfig: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """The command as a user runs it (this checkout's code), with only ``kubeconfig`` to go by."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("K8S_ASSETS_")}
    environ.update(KUBECONFIG=str(kubeconfig), PYTHONPATH=str(ROOT), **(env or {}))
    return subprocess.run([sys.executable, "-m", "k8s_assets", "rbac", *args], cwd=ROOT, env=environ,
                          capture_output=True, text=True, timeout=300)


def listable(server: RealKubeServer) -> dict[tuple[str, str], str]:
    """(group, plural) -> a list path, for every resource the server serves with the list verb,
    read from legacy discovery with plain GETs as the admin (not through our discovery code)."""
    http = urllib3.PoolManager(cert_reqs="CERT_REQUIRED", ca_cert_data=server.tls.ca_pem.decode())

    def get(path: str) -> dict:
        response = http.request("GET", f"{server.server}{path}", retries=False,
                                headers={"Authorization": f"Bearer {server.tokens[ADMIN]}"})
        assert response.status == 200, (path, response.status, response.data[:300])
        return json.loads(response.data)

    group_versions = [("", f"/api/{v}") for v in get("/api")["versions"]]
    for group in get("/apis")["groups"]:
        group_versions += [(group["name"], f"/apis/{v['groupVersion']}") for v in group["versions"]]
    out: dict[tuple[str, str], str] = {}
    for group, prefix in group_versions:
        for resource in get(prefix)["resources"]:
            if "/" not in resource["name"] and "list" in resource["verbs"]:
                out.setdefault((group, resource["name"]), f"{prefix}/{resource['name']}")
    return out


def test_the_discovered_role_lets_the_service_account_sync_everything_completely(real_kube, database_url, tmp_path):
    """`k8s-assets rbac --context <admin>` | apply, alone: nothing forbidden, custom resources included."""
    server = real_kube
    real_objects.populate_once(server)
    admin = server.api_client()
    # The custom-resource role as shipped (no rule), should an earlier test have named CRD groups in it.
    apply(DynamicClient(admin), [named(documents(RBAC), "ClusterRole", CUSTOM_ROLE)])
    printed = k8s_assets_command("--context", server.context(), kubeconfig=server.write_kubeconfig(tmp_path / "admin"))
    assert printed.returncode == 0, printed.stderr
    docs = [d for d in yaml.safe_load_all(printed.stdout) if d]
    assert [(d["kind"], d["metadata"]["name"]) for d in docs] == [
        ("Namespace", NAMESPACE), ("ServiceAccount", SERVICE_ACCOUNT), ("ClusterRole", READER_ROLE),
        ("ClusterRoleBinding", READER_ROLE)]
    grants = granted(named(docs, "ClusterRole", READER_ROLE))
    served_resources = listable(server)
    crd_resources = {(crd.spec.group, crd.spec.names.plural) for crd in
                     k8s_client.ApiextensionsV1Api(admin).list_custom_resource_definition().items}
    assert set(grants) == set(served_resources), set(grants) ^ set(served_resources)
    assert crd_resources and crd_resources <= set(grants)
    unserved = real_objects.NOT_SERVED.get(server.version, frozenset())
    assert {(k.group, k.plural) for k in KINDS if k.table not in unserved} <= set(grants)
    assert all(verbs == READ_VERBS for verbs in grants.values())

    context = f"sa-discovered-{server.short}"
    result, coverage = sync_as_service_account(server, docs, database_url, tmp_path, context)
    print_coverage(f"kube-apiserver {server.version}, ServiceAccount {NAMESPACE}/{SERVICE_ACCOUNT} with "
                   f"`k8s-assets rbac --context` ({len(grants)} resources)", coverage)
    assert result.success
    status = {kind: s for kind, s, _ in coverage}
    assert status.keys() >= {k.table for k in KINDS} | {"k8s_custom_resources"}
    per_crd = [kind for kind in status if kind.startswith("k8s_custom_resources:")]
    assert len(per_crd) == len(crd_resources), per_crd
    assert {k: status.pop(k) for k in unserved} == dict.fromkeys(unserved, "not_served")
    assert set(status.values()) == {"complete"}, {k: s for k, s in status.items() if s != "complete"}

    # What the sync does not list yet is allowed too: every listable resource, listed as the ServiceAccount.
    token = service_account_token(admin)
    http = urllib3.PoolManager(cert_reqs="CERT_REQUIRED", ca_cert_data=server.tls.ca_pem.decode())
    refused = {}
    for key, path in sorted(served_resources.items()):
        response = http.request("GET", f"{server.server}{path}?limit=1", retries=False,
                                headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})
        if response.status != 200:
            refused[key] = (response.status, response.data[:200])
    assert not refused, refused


def test_the_discovered_role_in_metadata_mode_gives_secrets_list_alone(real_kube, tmp_path):
    server = real_kube
    kubeconfig = server.write_kubeconfig(tmp_path / "admin")
    printed = k8s_assets_command("--context", server.context(), kubeconfig=kubeconfig,
                                 env={"K8S_ASSETS_SECRETS": "metadata"})
    assert printed.returncode == 0, printed.stderr
    metadata = granted(named([d for d in yaml.safe_load_all(printed.stdout) if d], "ClusterRole", READER_ROLE))
    keys = granted(named([d for d in yaml.safe_load_all(k8s_assets_command(
        "--context", server.context(), "--secrets", "keys", kubeconfig=kubeconfig,
        env={"K8S_ASSETS_SECRETS": "metadata"}).stdout) if d], "ClusterRole", READER_ROLE))
    # The same rule as deploy/rbac-secrets-metadata.yaml: secrets in a rule of their own, `list` alone.
    shipped = named(documents(SHIPPED["metadata"]), "ClusterRole", READER_ROLE)["rules"]
    secrets_rule = [r for r in named(yaml.safe_load_all(printed.stdout), "ClusterRole", READER_ROLE)["rules"]
                    if "secrets" in r["resources"]]
    assert secrets_rule == [r for r in shipped if "secrets" in r["resources"]] == [
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}]
    assert keys.pop(("", "secrets")) == {"get", "list"} and metadata.pop(("", "secrets")) == {"list"}
    assert keys == metadata


def test_without_a_context_the_command_prints_the_shipped_file(tmp_path):
    kubeconfig = tmp_path / "none"
    for args, env, path in (((), None, RBAC), (("--secrets", "metadata"), None, SHIPPED["metadata"]),
                            ((), {"K8S_ASSETS_SECRETS": "metadata"}, SHIPPED["metadata"]),
                            (("--watch",), None, SHIPPED_WATCH["keys"]),
                            (("--watch", "--secrets", "metadata"), None, SHIPPED_WATCH["metadata"]),
                            (("--watch",), {"K8S_ASSETS_SECRETS": "metadata"}, SHIPPED_WATCH["metadata"])):
        printed = k8s_assets_command(*args, kubeconfig=kubeconfig, env=env)
        assert (printed.returncode, printed.stderr) == (0, "")
        assert printed.stdout == path.read_text()


def test_an_unknown_context_or_an_unreachable_cluster_is_one_line_and_a_non_zero_exit(tmp_path):
    token = "do-not-print-this-token-4e1f"
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", [KubeconfigEntry(
        context_name="gone", cluster_name="gone", user_name="gone", server=f"https://127.0.0.1:{free_port()}",
        token=token, ca_pem=None)])
    unknown = k8s_assets_command("--context", "nope", kubeconfig=kubeconfig)
    assert unknown.returncode == 2 and unknown.stdout == ""
    assert unknown.stderr.count("\n") == 1 and "no context named 'nope'" in unknown.stderr and "gone" in unknown.stderr
    unreachable = k8s_assets_command("--context", "gone", kubeconfig=kubeconfig)
    assert unreachable.returncode == 1 and unreachable.stdout == ""
    assert unreachable.stderr.count("\n") == 1, unreachable.stderr
    assert unreachable.stderr.startswith("k8s-assets: context gone: cannot read what the cluster serves: ")
    assert token not in unreachable.stderr


# -- Secrets as metadata only ------------------------------------------------------------------

SECRETS_METADATA_RBAC = DEPLOY / "rbac-secrets-metadata.yaml"
CANARY_VALUE, CANARY_KEY = "CANARY-METADATA-7f3a", "canary-key-name-9c2e"


def create_applied_secret(api: k8s_client.ApiClient, name: str) -> None:
    """A Secret as ``kubectl apply`` leaves it: its last-applied annotation repeats the values."""
    body = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": name, "namespace": "team-a", "labels": {"app": "canary"},
                         "annotations": {"owner": "team-a"}},
            "stringData": {CANARY_KEY: CANARY_VALUE}}
    body["metadata"]["annotations"][LAST_APPLIED] = json.dumps(body)
    try:
        k8s_client.CoreV1Api(api).create_namespaced_secret("team-a", body)
    except k8s_client.ApiException as e:
        if e.status != 409:
            raise


def test_secrets_metadata_mode_stores_metadata_and_never_a_value_or_key_name(real_kube, database_url, tmp_path):
    server = real_kube
    real_objects.populate_once(server)
    create_applied_secret(server.api_client(), "canary-applied")
    result, coverage = sync_as_service_account(server, SECRETS_METADATA_RBAC, database_url, tmp_path,
                                               f"sa-metadata-{server.short}", env={"K8S_ASSETS_SECRETS": "metadata"})
    print_coverage(f"kube-apiserver {server.version}, K8S_ASSETS_SECRETS=metadata with "
                   "deploy/rbac-secrets-metadata.yaml", [row for row in coverage if row[0] == "k8s_secrets"])
    assert result.success
    not_served = real_objects.NOT_SERVED.get(server.version, frozenset())
    # The role names the catalog's kinds: other served kinds are recorded forbidden (see below).
    assert {k: s for k, s, _ in coverage if s != "complete" and not k.startswith("k8s_other_resources")} == \
        dict.fromkeys(not_served, "not_served")
    rows = query(database_url, "SELECT name, labels, annotations, type, keys, immutable, raw->>'kind' "
                               "FROM k8s_secrets WHERE namespace = 'team-a' ORDER BY name")
    by_name = {row[0]: row[1:] for row in rows}
    assert by_name["canary-applied"] == ({"app": "canary"}, {"owner": "team-a"}, None, None, None, "Secret")
    assert by_name["db-password"][3:5] == (None, None)  # type and key names are not in metadata
    dump = pg_dump_text(database_url)
    for needle in (CANARY_VALUE, CANARY_KEY, "CANARY-REAL-42"):
        assert needle not in dump, f"{needle} reached the database"


def test_the_default_secrets_mode_keeps_type_and_key_names(real_kube, database_url, tmp_path):
    server = real_kube
    real_objects.populate_once(server)
    create_applied_secret(server.api_client(), "canary-applied")
    kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig")
    with dg.DagsterInstance.ephemeral() as instance:
        assert sync(definitions(kubeconfig, database_url, resources_env={"K8S_ASSETS_RESOURCES": "secrets"}),
                    instance, server.context()).success
    rows = dict((name, rest) for name, *rest in query(
        database_url, "SELECT name, type, keys FROM k8s_secrets WHERE namespace = 'team-a'"))
    assert rows["canary-applied"] == ["Opaque", [CANARY_KEY]]
    assert CANARY_VALUE not in pg_dump_text(database_url)


def probe_account(api: k8s_client.ApiClient, name: str, verbs: list[str]) -> str:
    """A ServiceAccount allowed only ``verbs`` on secrets in team-a; returns a TokenRequest token."""
    rbac = "rbac.authorization.k8s.io/v1"
    apply(DynamicClient(api), [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": NAMESPACE}},
        {"apiVersion": rbac, "kind": "Role", "metadata": {"name": name, "namespace": "team-a"},
         "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": verbs}]},
        {"apiVersion": rbac, "kind": "RoleBinding", "metadata": {"name": name, "namespace": "team-a"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
         "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": NAMESPACE}]},
    ])
    request = k8s_client.AuthenticationV1TokenRequest(spec=k8s_client.V1TokenRequestSpec(audiences=[]))
    return k8s_client.CoreV1Api(api).create_namespaced_service_account_token(name, NAMESPACE, request).status.token


def test_a_metadata_only_list_of_secrets_needs_the_list_verb_and_rbac_cannot_tell_it_apart(real_kube):
    """Which verb PartialObjectMetadataList needs, asked of the server rather than believed."""
    server = real_kube
    admin = server.api_client()
    apply(DynamicClient(admin), [named(documents(RBAC), "Namespace", NAMESPACE)])
    create_applied_secret(admin, "canary-applied")
    http = urllib3.PoolManager(cert_reqs="CERT_REQUIRED", ca_cert_data=server.tls.ca_pem.decode())

    def list_secrets(token: str, accept: str) -> tuple[int, dict]:
        response = http.request("GET", f"{server.server}/api/v1/namespaces/team-a/secrets?limit=50",
                                headers={"Authorization": f"Bearer {token}", "Accept": accept}, retries=False)
        return response.status, json.loads(response.data)

    only_list, only_get = probe_account(admin, "probe-list", ["list"]), probe_account(admin, "probe-get", ["get"])
    status, body = list_secrets(only_list, METADATA_ONLY)
    assert (status, body["kind"]) == (200, "PartialObjectMetadataList")
    assert all(set(item) <= {"kind", "apiVersion", "metadata"} for item in body["items"]), body["items"][0].keys()
    assert list_secrets(only_get, METADATA_ONLY)[0] == 403, "get alone allowed a metadata-only list"
    # The Accept header is not part of the authorization request: `list` also lets values out.
    status, body = list_secrets(only_list, "application/json")
    assert status == 200 and any("data" in item for item in body["items"])


# -- the watcher's role, on a real server ---------------------------------------------------------


def account_token(api: k8s_client.ApiClient, name: str, seconds: int = 3600) -> str:
    request = k8s_client.AuthenticationV1TokenRequest(spec=k8s_client.V1TokenRequestSpec(
        audiences=[], expiration_seconds=seconds))
    return k8s_client.CoreV1Api(api).create_namespaced_service_account_token(name, NAMESPACE, request).status.token


def requests_of(server: RealKubeServer, token: str, paths: dict, query: str) -> dict:
    """The status of a GET of each path (with ``query``) as ``token``, in parallel. A watch answers
    200 with its headers at once: only the status is read, then the connection is dropped."""
    http = urllib3.PoolManager(cert_reqs="CERT_REQUIRED", ca_cert_data=server.tls.ca_pem.decode(), maxsize=8)

    def status(item):
        key, (path, accept) = item
        response = http.request("GET", f"{server.server}{path}?{query}", retries=False, preload_content=False,
                                timeout=urllib3.Timeout(connect=10.0, read=30.0),
                                headers={"Authorization": f"Bearer {token}", "Accept": accept})
        try:
            return key, response.status
        finally:
            response.close()  # a watch still open is dropped; the server ends it at timeoutSeconds anyway

    with ThreadPoolExecutor(8) as pool:
        return dict(pool.map(status, sorted(paths.items())))


def until(statuses, expected: int, timeout: float = 60.0) -> dict:
    """``statuses()`` once every answer is ``expected`` (RBAC changes reach the authorizer's cache
    asynchronously), else the last answers, for the assertion to show."""
    deadline = time.monotonic() + timeout
    while True:
        answers = statuses()
        if set(answers.values()) == {expected} or time.monotonic() > deadline:
            return answers
        time.sleep(0.25)


@pytest.mark.parametrize("secrets", sorted(SHIPPED_WATCH))
def test_the_watcher_service_account_can_watch_every_catalog_kind_and_the_sync_account_cannot(real_kube, secrets):
    """deploy/rbac-watch*.yaml applied: ServiceAccount k8s-assets-watcher may watch every catalog kind
    the server serves (its list path with ``watch=1``, the Accept header the watcher sends), and may
    not before its binding exists; the sync's ServiceAccount with deploy/rbac*.yaml may list each
    and watch none."""
    server = real_kube
    admin = server.api_client()
    dynamic = DynamicClient(admin)
    docs = documents(SHIPPED_WATCH[secrets])
    binding = named(docs, "ClusterRoleBinding", WATCHER)
    apply(dynamic, [d for d in docs if d is not binding])
    apply(dynamic, documents(SHIPPED[secrets]))  # the sync's account as shipped, for the comparison
    try:  # a binding left by the other secrets mode's run of this test
        k8s_client.RbacAuthorizationV1Api(admin).delete_cluster_role_binding(WATCHER)
    except k8s_client.ApiException as e:
        if e.status != 404:
            raise

    served_paths = listable(server)
    kinds = {(k.group, k.plural): k for k in rbac_rules.configured_kinds(secrets)}
    unserved = real_objects.NOT_SERVED.get(server.version, frozenset())
    assert {k.table for key, k in kinds.items() if key not in served_paths} == set(unserved)
    paths = {key: (served_paths[key], kind.accept or "application/json")
             for key, kind in kinds.items() if key in served_paths}
    watch = "watch=1&timeoutSeconds=1&allowWatchBookmarks=true"
    watcher, sync_account = account_token(admin, WATCHER), account_token(admin, SERVICE_ACCOUNT)

    before = until(lambda: requests_of(server, watcher, paths, watch), 403)
    assert set(before.values()) == {403}, {k: s for k, s in before.items() if s != 403}

    apply(dynamic, [binding])
    after = until(lambda: requests_of(server, watcher, paths, watch), 200)
    assert set(after.values()) == {200}, {k: s for k, s in after.items() if s != 200}
    print(f"\nkube-apiserver {server.version}, {SHIPPED_WATCH[secrets].name}: ServiceAccount {NAMESPACE}/{WATCHER} "
          f"watches {len(after)} kinds ({len(unserved)} of the catalog not served)")

    # The sync's account (deploy/rbac*.yaml, or a discovered reader role of an earlier test): lists, never watches.
    assert set(requests_of(server, sync_account, paths, "limit=1").values()) == {200}
    refused = requests_of(server, sync_account, paths, watch)
    assert set(refused.values()) == {403}, {k: s for k, s in refused.items() if s != 403}

    # Secrets in metadata mode: list and watch, never a GET of one Secret (authorized before it is looked up).
    one_secret = {("", "secrets"): ("/api/v1/namespaces/kube-system/secrets/no-such-secret", "application/json")}
    assert requests_of(server, watcher, one_secret, "") == {("", "secrets"): 403 if secrets == "metadata" else 404}
