"""deploy/rbac.yaml: least privilege, checked against the catalog and proven on real API servers.

The real-server test applies the shipped file, asks the TokenRequest API for a token of the
shipped ServiceAccount, syncs every kind through Dagster with a kubeconfig holding only that
token, and requires every kind ``complete`` and nothing ``forbidden`` in k8s_sync_coverage.
"""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest
import urllib3
import yaml
from kubernetes import client as k8s_client
from kubernetes.dynamic import DynamicClient

from k8s_assets.catalog import KINDS, LAST_APPLIED, METADATA_ONLY
from k8s_assets.simulator.kubeconfig import KubeconfigEntry, write_kubeconfig
from k8s_assets_tests import real_objects
from k8s_assets_tests.fixtures_kube import RealKubeServer
from k8s_assets_tests.pipeline import cluster_uid_of, definitions, query, sync
from k8s_assets_tests.test_catalog import pg_dump_text

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
RBAC = DEPLOY / "rbac.yaml"
NAMESPACE = SERVICE_ACCOUNT = "k8s-assets"
READER_ROLE, CUSTOM_ROLE = "k8s-assets-reader", "k8s-assets-custom-resources"
READ_VERBS = {"get", "list"}


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


# -- the file, on a real server ------------------------------------------------------------------


def apply(dynamic: DynamicClient, docs: list[dict]) -> None:
    """``kubectl apply --server-side`` of each document."""
    for doc in docs:
        resource = dynamic.resources.get(api_version=doc["apiVersion"], kind=doc["kind"])
        resource.server_side_apply(body=doc, name=doc["metadata"]["name"],
                                   namespace=doc["metadata"].get("namespace"),
                                   field_manager="k8s-assets-tests", force_conflicts=True)


def with_custom_resource_groups(docs: list[dict], api: k8s_client.ApiClient) -> list[dict]:
    """What the comment in rbac.yaml asks a user to do: name the cluster's CRD groups."""
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


def sync_as_service_account(server: RealKubeServer, rbac: Path, database_url: str, tmp_path: Path,
                            context: str, env: dict | None = None) -> tuple[dg.ExecuteInProcessResult, list[tuple]]:
    """Apply ``rbac``, sync every kind with a TokenRequest token; returns the result and the coverage."""
    real_objects.populate_once(server)
    admin = server.api_client()
    apply(DynamicClient(admin), with_custom_resource_groups(documents(rbac), admin))
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
    other = {k: s for k, s in status.items() if k.startswith("k8s_other_resources")}
    assert "forbidden" in set(other.values()) <= {"forbidden", "complete"}, other
    rest = {k: s for k, s in status.items() if k not in other}
    assert {s for s in rest.values()} == {"complete"}, {k: s for k, s in rest.items() if s != "complete"}
    ((source,),) = query(database_url, "SELECT identity_source FROM k8s_clusters")
    assert source == "kube-system"


def test_without_the_custom_resource_groups_crds_are_forbidden_and_nothing_else(real_kube, database_url, tmp_path):
    """The custom-resource role as shipped (no group): CRDs are listed, their instances are not."""
    server = real_kube
    real_objects.populate_once(server)
    admin = server.api_client()
    apply(DynamicClient(admin), with_custom_resource_groups(documents(RBAC), admin))
    apply(DynamicClient(admin), [named(documents(RBAC), "ClusterRole", CUSTOM_ROLE)])  # back to no rule
    kubeconfig = service_account_kubeconfig(server, service_account_token(admin), tmp_path / "kubeconfig",
                                            "sa-no-cr")
    env = {"K8S_ASSETS_RESOURCES": "crds"}
    with dg.DagsterInstance.ephemeral() as instance:
        assert sync(definitions(kubeconfig, database_url, resources_env=env), instance, "sa-no-cr").success
    status = dict(query(database_url, "SELECT kind, status FROM k8s_sync_coverage"))
    per_crd = {k: s for k, s in status.items() if k.startswith("k8s_custom_resources:")}
    assert per_crd and set(per_crd.values()) == {"forbidden"}, per_crd
    assert status["k8s_crds"] == "complete"


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
    assert {s for _, s, _ in coverage} == {"complete"}, [row for row in coverage if row[1] != "complete"]
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
