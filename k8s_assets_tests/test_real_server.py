"""The pipeline against real upstream kube-apiservers (the current release and the oldest we support).

Objects are created through the official client, so uids, resourceVersions, defaults and
managedFields are the server's own. Each test syncs through Dagster into a fresh database and
compares what is stored with what the server lists at that moment.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dagster as dg
import pytest
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import UnprocessibleEntityError

from k8s_assets.catalog import KINDS, KINDS_BY_TABLE
from k8s_assets.catalog.generic import CUSTOM_RESOURCES, OTHER_RESOURCES
from k8s_assets.catalog.types import Kind
from k8s_assets.dagster_edge.resources import KubernetesResource
from k8s_assets.kube.discovery import discover
from k8s_assets.simulator import Simulator
from k8s_assets_tests import real_objects
from k8s_assets_tests.fixtures_kube import CURRENT, NOBODY, OLDEST, READER, RealKubeServer, real_server, utc_now
from k8s_assets_tests.fixtures_postgres import fresh_database, skip_or_fail
from k8s_assets_tests.pipeline import cluster_uid_of, definitions, materialization_metadata, query, sync

POD_COUNT = 20


@pytest.fixture(scope="session")
def populated(real_kube: RealKubeServer) -> RealKubeServer:
    real_objects.populate_once(real_kube, pods=POD_COUNT)
    return real_kube


@pytest.fixture
def instance():
    with dg.DagsterInstance.ephemeral() as instance:
        yield instance


def sync_real(server: RealKubeServer, context: str, database_url: str, tmp_path, instance,
              env: dict | None = None, kubernetes_class: type[KubernetesResource] = KubernetesResource
              ) -> dg.ExecuteInProcessResult:
    kubeconfig = server.write_kubeconfig(tmp_path / f"kubeconfig-{context}")
    defs = definitions(kubeconfig, database_url, resources_env=env, kubernetes_class=kubernetes_class)
    return sync(defs, instance, context)


# -- what the server says ------------------------------------------------------------------


def served_version(server: RealKubeServer, kind: Kind) -> str | None:
    """The group/version the server serves the kind at; None when it serves it at none of the
    catalog's versions (ValidatingAdmissionPolicies before 1.30)."""
    dynamic = DynamicClient(server.api_client())
    try:
        return real_objects.resource_for(dynamic, kind).group_version
    except LookupError:
        return None


# Kinds the oldest server does not serve: its sync records them not_served.
NOT_SERVED = {version: set(real_objects.NOT_SERVED.get(version, ())) for version in (CURRENT, OLDEST)}


def without_heartbeats(kind: Kind, obj: dict) -> dict:
    """``obj`` without what its holder rewrites on its own every few seconds (the kind's ignored
    paths, as the history ignores them: a lease's renewTime) nor the resourceVersion that moves
    with it. The API server renews its identity lease every 10 s: two listings a sync apart differ
    there and nowhere else, and no condition could be waited on to stop that."""
    if not kind.ignored_paths:
        return obj
    obj = copy.deepcopy(obj)

    def drop(node, path):
        if not path or node is None:
            return
        head, rest = path[0], path[1:]
        if head == "[]":
            for element in node if isinstance(node, list) else ():
                drop(element, rest)
        elif isinstance(node, dict) and head in node:
            if rest:
                drop(node[head], rest)
            else:
                del node[head]

    for path in (("metadata", "resourceVersion"), *kind.ignored_paths):
        drop(obj, path)
    return obj


def server_items(server: RealKubeServer, kind: Kind, version: str) -> list[dict]:
    return real_objects.list_objects(server.api_client(), kind, version)


def as_stored(kind: Kind, obj: dict, api_version: str) -> dict:
    """What the database should hold for a server object: no managedFields, kind and apiVersion set,
    secrets redacted, NUL as U+FFFD (README: "What it stores")."""
    obj = copy.deepcopy(obj)
    obj["metadata"].pop("managedFields", None)
    obj.setdefault("apiVersion", api_version)
    obj.setdefault("kind", kind.kind)
    if kind.redact is not None:
        obj = kind.redact(obj)
    return json.loads(json.dumps(obj).replace("\\u0000", "\\ufffd"))


def stored_raw(database_url: str, table: str, cluster_uid: str) -> dict[str, dict]:
    return {str(uid): raw for uid, raw in query(database_url, f"SELECT uid, raw FROM {table} WHERE cluster_uid = %s",
                                                (cluster_uid,))}


def compare_with_server(server: RealKubeServer, database_url: str, cluster_uid: str) -> list[tuple[str, str, int, int]]:
    """Assert every catalog kind is stored exactly as the server lists it; returns the count table."""
    table = []
    coverage = dict(query(database_url, "SELECT kind, status FROM k8s_sync_coverage WHERE cluster_uid = %s",
                          (cluster_uid,)))
    for kind in KINDS:
        version = served_version(server, kind)
        if version is None:
            assert kind.table in NOT_SERVED[server.version], f"{kind.table} is not served by {server.version}"
            assert coverage[kind.table] == "not_served", kind.table
            assert not stored_raw(database_url, kind.table, cluster_uid), kind.table
            table.append((kind.table, "not served", 0, 0))
            continue
        expected = {o["metadata"]["uid"]: without_heartbeats(kind, as_stored(kind, o, version))
                    for o in server_items(server, kind, version.rsplit("/", 1)[-1])}
        stored = stored_raw(database_url, kind.table, cluster_uid)
        table.append((kind.table, version, len(expected), len(stored)))
        assert stored.keys() == expected.keys(), kind.table
        for uid, raw in stored.items():
            assert without_heartbeats(kind, raw) == expected[uid], \
                f"{kind.table} {raw['metadata'].get('name')}: stored raw differs"
    return table


# -- tests -----------------------------------------------------------------------------------


def test_every_kind_is_stored_as_the_server_serves_it(populated, database_url, tmp_path, instance):
    server = populated
    result = sync_real(server, server.context(), database_url, tmp_path, instance)
    assert result.success
    cluster_uid = cluster_uid_of(database_url, server.context())
    table = compare_with_server(server, database_url, cluster_uid)
    print(f"\nkube-apiserver {server.version}: per-kind counts, server vs database")
    print("| table | listed at | server | database |\n|---|---|---:|---:|")
    for name, version, on_server, in_database in table:
        print(f"| {name} | {version} | {on_server} | {in_database} |")
    counts = dict((name, n) for name, _, n, _ in table)
    assert counts["k8s_pods"] == POD_COUNT + 1
    assert {name for name, version, _, _ in table if version == "not served"} == NOT_SERVED[server.version]
    assert all(n > 0 for name, n in counts.items() if name not in NOT_SERVED[server.version]), counts
    ((version, source),) = query(database_url, "SELECT kubernetes_version, identity_source FROM k8s_clusters")
    assert (version, source) == (server.version, "kube-system")
    # The pod whose annotations carry a NUL, 200 KB and emoji is stored, flagged.
    ((flag, note, big),) = query(database_url, "SELECT nul_replaced, annotations->>'note', "
                                 "length(annotations->>'big') FROM k8s_pods WHERE name = 'hostile-0'")
    assert (flag, note, big) == (True, "nul\ufffdinside", 200_000)
    # Every check of the sync passed against a real server.
    failed = [(c.asset_key.to_user_string(), c.check_name) for c in result.get_asset_check_evaluations()
              if not c.passed]
    assert not failed, failed
    # Secret values never reach the database.
    assert not query(database_url, "SELECT 1 FROM k8s_secrets WHERE raw::text LIKE '%CANARY-REAL%'")


def test_kinds_served_only_at_older_versions_are_listed_there_and_fill_typed_columns(
        populated, database_url, tmp_path, instance):
    server = populated
    env = {"K8S_ASSETS_RESOURCES": "cronjobs,poddisruptionbudgets,endpointslices,horizontalpodautoscalers,"
                                   "flowschemas,prioritylevelconfigurations"}
    result = sync_real(server, server.context(), database_url, tmp_path, instance, env)
    assert result.success
    expected = {CURRENT: {"k8s_cronjobs": "batch/v1", "k8s_poddisruptionbudgets": "policy/v1",
                          "k8s_endpointslices": "discovery.k8s.io/v1", "k8s_horizontalpodautoscalers": "autoscaling/v2",
                          "k8s_flowschemas": "flowcontrol.apiserver.k8s.io/v1",
                          "k8s_prioritylevelconfigurations": "flowcontrol.apiserver.k8s.io/v1"},
                OLDEST: {"k8s_cronjobs": "batch/v1beta1", "k8s_poddisruptionbudgets": "policy/v1beta1",
                         "k8s_endpointslices": "discovery.k8s.io/v1beta1",
                         "k8s_horizontalpodautoscalers": "autoscaling/v2beta2",
                         "k8s_flowschemas": "flowcontrol.apiserver.k8s.io/v1beta1",
                         "k8s_prioritylevelconfigurations": "flowcontrol.apiserver.k8s.io/v1beta1"}}[server.version]
    listed_at = {table: materialization_metadata(result, table)["api_version"] for table in expected}
    assert listed_at == expected
    typed = query(database_url, """
        SELECT (SELECT schedule FROM k8s_cronjobs WHERE name = 'report'),
               (SELECT min_available FROM k8s_poddisruptionbudgets WHERE name = 'web'),
               (SELECT address_type || ':' || endpoint_count FROM k8s_endpointslices WHERE name = 'web-abc'),
               (SELECT target_name || ':' || max_replicas || ':' || (metrics->0->>'type')
                FROM k8s_horizontalpodautoscalers WHERE name = 'web'),
               (SELECT raw->>'apiVersion' FROM k8s_cronjobs WHERE name = 'report'),
               (SELECT priority_level || ':' || matching_precedence FROM k8s_flowschemas WHERE name = 'exempt'),
               -- v1 says nominalConcurrencyShares, v1beta1 assuredConcurrencyShares: one column.
               (SELECT type || ':' || concurrency_shares || ':' || limit_response
                FROM k8s_prioritylevelconfigurations WHERE name = 'catch-all')""")
    assert typed == [("*/30 * * * *", "2", "IPv4:1", "web:10:Resource", expected["k8s_cronjobs"], "exempt:1",
                      "Limited:5:Reject")]


def test_custom_resources_follow_the_server_s_crds(populated, database_url, tmp_path, instance):
    server = populated
    dynamic = DynamicClient(server.api_client())
    api_version, kind, body = real_objects.INVALID_CUSTOM_RESOURCE
    with pytest.raises(UnprocessibleEntityError):  # the server validates against the CRD schema, not us
        dynamic.resources.get(api_version=api_version, kind=kind).create(body={"apiVersion": api_version,
                                                                               "kind": kind, **body},
                                                                         namespace="team-a")
    env = {"K8S_ASSETS_RESOURCES": "crds"}
    result = sync_real(server, server.context(), database_url, tmp_path, instance, env)
    assert result.success
    rows = query(database_url, 'SELECT "group", version, plural, kind, scope, namespace, name, raw '
                               "FROM k8s_custom_resources ORDER BY plural, name")
    summary = [row[:7] for row in rows]
    assert summary == [
        # Both backups at the storage version v1, also the one created at v1beta1.
        ("ops.example.com", "v1", "backups", "Backup", "Namespaced", "team-b", "hourly"),
        ("ops.example.com", "v1", "backups", "Backup", "Namespaced", "team-a", "nightly"),
        ("zoo.example.com", "v1", "octopi", "Octopus", "Namespaced", "team-a", "paul"),
        ("infra.example.com", "v1", "regions", "Region", "Cluster", None, "eu-west"),
    ]
    by_name = {row[6]: row[7] for row in rows}
    live = dynamic.resources.get(api_version="ops.example.com/v1", kind="Backup").get(
        name="hourly", namespace="team-b").to_dict()
    live["metadata"].pop("managedFields", None)
    assert by_name["hourly"] == live
    assert "bad" not in by_name
    assert materialization_metadata(result, CUSTOM_RESOURCES.table)["listed"] == 4


@pytest.mark.parametrize("user", [READER, NOBODY])
def test_a_user_who_may_see_little_loses_nothing_and_the_partition_succeeds(
        populated, user, database_url, tmp_path, instance):
    server = populated
    assert sync_real(server, server.context(), database_url, tmp_path, instance).success
    admin_uid = cluster_uid_of(database_url, server.context())
    before = {kind.table: query(database_url, f"SELECT count(*) FROM {kind.table}")[0][0] for kind in KINDS}

    result = sync_real(server, server.context(user), database_url, tmp_path, instance)
    assert result.success, "a forbidden kind must not fail the partition"
    cluster_uid = cluster_uid_of(database_url, server.context(user))
    coverage = dict(query(database_url, "SELECT kind, status FROM k8s_sync_coverage WHERE cluster_uid = %s "
                                        "AND kind NOT LIKE 'k8s\\_custom\\_resources:%%'", (cluster_uid,)))
    # Discovery is open to every user: what the server does not serve is not_served, the rest forbidden.
    assert {t for t, status in coverage.items() if status != "forbidden"} == NOT_SERVED[server.version], coverage
    assert {coverage[t] for t in NOT_SERVED[server.version]} <= {"not_served"}
    assert coverage.keys() >= {k.table for k in KINDS}
    after = {kind.table: query(database_url, f"SELECT count(*) FROM {kind.table}")[0][0] for kind in KINDS}
    assert after == before, "a forbidden listing deleted rows"
    if user == READER:
        # The reader may read kube-system, so it reaches the same cluster as the admin.
        assert cluster_uid == admin_uid
    else:
        ((source,),) = query(database_url, "SELECT identity_source FROM k8s_clusters WHERE cluster_uid = %s",
                             (cluster_uid,))
        assert cluster_uid != admin_uid and source == "server-url"


class CompactsEtcdMidList(KubernetesResource):
    """The official client, with etcd compacted (as etcd does every few minutes) right before the
    first continue request for pods: the real server then answers 410 Expired."""

    def api_client(self, context_name: str):
        api = super().api_client(context_name)
        server: RealKubeServer = COMPACTION["server"]
        pool = api.rest_client.pool_manager
        request = pool.request

        def compacting_request(method, url, *args, **kwargs):
            if "/pods?" in url and "continue=" in url and not COMPACTION["revisions"]:
                COMPACTION["revisions"].append(server.compact())
                COMPACTION["seconds_to_expiry"] = server.wait_until_expired(url)
            return request(method, url, *args, **kwargs)

        pool.request = compacting_request
        return api


COMPACTION: dict = {}


def test_an_expired_continue_token_restarts_the_list_and_it_completes(populated, database_url, tmp_path, instance):
    server = populated
    COMPACTION.update(server=server, revisions=[])
    env = {"K8S_ASSETS_RESOURCES": "pods", "K8S_ASSETS_PAGE_SIZE": "5"}
    result = sync_real(server, server.context(), database_url, tmp_path, instance, env,
                       kubernetes_class=CompactsEtcdMidList)
    assert COMPACTION["revisions"], "etcd was never compacted mid-list"
    assert result.success
    metadata = materialization_metadata(result, "k8s_pods")
    assert metadata["list_restarts"] == 1
    pods = server_items(server, KINDS_BY_TABLE["k8s_pods"], "v1")
    assert metadata["listed"] == len(pods) == metadata["dagster/row_count"]


def test_a_resync_after_real_changes_matches_the_server_again(populated, database_url, tmp_path, instance):
    server = populated
    assert sync_real(server, server.context(), database_url, tmp_path, instance).success
    cluster_uid = cluster_uid_of(database_url, server.context())
    dynamic = DynamicClient(server.api_client())
    pods = dynamic.resources.get(api_version="v1", kind="Pod")
    for name in ("web-0", "web-1"):
        # Without a kubelet a bound pod only gets a deletionTimestamp unless deleted at once.
        pods.delete(name=name, namespace="team-a", body={"gracePeriodSeconds": 0})
    deployments = dynamic.resources.get(api_version="apps/v1", kind="Deployment")
    deployments.patch(name="web", namespace="team-a", body={"metadata": {"labels": {"release": "canary"}}},
                      content_type="application/merge-patch+json")
    deployments.patch(name="web", namespace="team-a", body={"spec": {"replicas": 5}},
                      content_type="application/merge-patch+json")
    real_objects.create_pods(dynamic, 2, prefix="late")
    dynamic.resources.get(api_version="v1", kind="ConfigMap").delete(name="settings", namespace="team-a")

    result = sync_real(server, server.context(), database_url, tmp_path, instance)
    assert result.success
    pods_merge = materialization_metadata(result, "k8s_pods")
    assert (pods_merge["inserted"], pods_merge["deleted"], pods_merge["updated"]) == (2, 2, 0)
    deployment_merge = materialization_metadata(result, "k8s_deployments")
    assert (deployment_merge["updated"], deployment_merge["inserted"], deployment_merge["deleted"]) == (1, 0, 0)
    assert materialization_metadata(result, "k8s_configmaps")["deleted"] == 1
    compare_with_server(server, database_url, cluster_uid)
    ((replicas, label),) = query(database_url, "SELECT replicas, labels->>'release' FROM k8s_deployments "
                                               "WHERE name = 'web'")
    assert (replicas, label) == (5, "canary")


# Columns that name where or when a row was written, not what the object is.
WRITE_COLUMNS = {"context_name", "synced_at"}


def test_the_simulator_serves_the_same_rows_as_the_real_server(populated, embedded_server_url, tmp_path, instance):
    """The real server's objects, served by the simulator, give the same rows: every difference
    is a simulator infidelity. Built-in kinds only: the simulator serves custom resources of its
    own CRDs, and serves the current API versions (so this runs against the current release)."""
    server = populated
    if server.version != CURRENT:
        pytest.skip("the simulator serves the API versions of current releases")
    real_db, simulated_db = fresh_database(embedded_server_url), fresh_database(embedded_server_url)
    kinds = [k for k in KINDS if k.table != "k8s_crds"]
    env = {"K8S_ASSETS_RESOURCES": ",".join(k.table for k in kinds)}
    assert sync_real(server, server.context(), real_db, tmp_path, instance, env).success

    with Simulator(clusters=("mirror",), size="tiny") as sim:
        for kind in kinds:
            sim["mirror"].replace_all(kind.resource, server_items(server, kind, kind.version))
        kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig-mirror")
        assert sync(definitions(kubeconfig, simulated_db, resources_env=env), instance, "mirror").success

    cluster_uid = cluster_uid_of(real_db, server.context())
    assert cluster_uid_of(simulated_db, "mirror") == cluster_uid, "same kube-system uid, same cluster_uid"
    differences = []
    for kind in kinds:
        # A heartbeat between the real sync and the listing the simulator serves (the API server's
        # identity lease) changes only the ignored paths, the resourceVersion and what is read from them.
        ignored = {tuple(p) for p in kind.ignored_paths}
        heartbeat = {c.name for c in kind.columns if any(tuple(r) in ignored for r in c.reads)}
        if ignored:
            heartbeat.add("resource_version")
        columns = [c for c in kind.column_names if c not in WRITE_COLUMNS and c not in heartbeat]
        select = f"SELECT {', '.join(columns)} FROM {kind.table} ORDER BY uid"
        real, simulated = query(real_db, select), query(simulated_db, select)
        if "raw" in columns:
            at = columns.index("raw")
            real, simulated = ([(*row[:at], without_heartbeats(kind, row[at]), *row[at + 1:]) for row in rows]
                               for rows in (real, simulated))
        assert len(real) > 0, kind.table
        if real != simulated:
            for a, b in zip(real, simulated):
                differences += [(kind.table, column, x, y) for column, x, y in zip(columns, a, b) if x != y][:3]
            differences.append((kind.table, "rows", len(real), len(simulated)))
    assert not differences, differences[:20]


# -- every served kind ---------------------------------------------------------------------------

KUBECTL = shutil.which("kubectl")
OTHER = OTHER_RESOURCES.table
# Listed by kubectl, never stored: its objects are computed per request and have no uid.
LEFT_OUT = {"componentstatuses"}
# Served in two groups, one set of objects: stored once, where the other name is.
SAME_OBJECTS = {"ingresses.extensions": "k8s_ingresses", "events": f"{OTHER}:events.events.k8s.io"}


def kubectl(server: RealKubeServer, cache: Path, *args: str) -> str:
    """kubectl as the admin (its own kubeconfig, its own discovery cache), stdout."""
    if KUBECTL is None:
        skip_or_fail("kubectl is not on PATH")
    server.api_client()  # writes the admin's kubeconfig
    done = subprocess.run([KUBECTL, "--kubeconfig", str(server.workdir / "kubeconfig-admin"),
                           "--cache-dir", str(cache), *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def where_stored(resource: str, crds: set[str]) -> tuple[str, str | None]:
    """(coverage kind, table) of a resource kubectl names; the table None for a shared table's resource."""
    typed = {k.resource: k.table for k in KINDS}
    if resource in typed:
        return typed[resource], typed[resource]
    if resource in SAME_OBJECTS:
        there = SAME_OBJECTS[resource]
        return (there, None) if ":" in there else (there, there)
    if resource in crds:
        return f"{CUSTOM_RESOURCES.table}:{resource}", None
    return f"{OTHER}:{resource}", None


def stored_uids_of(database_url: str, coverage_kind: str, table: str | None, cluster_uid: str) -> set[str]:
    if table is not None:
        return {str(u) for (u,) in query(database_url, f"SELECT uid FROM {table} WHERE cluster_uid = %s",
                                         (cluster_uid,))}
    shared, resource = coverage_kind.split(":", 1)
    plural, _, group = resource.partition(".")
    return {str(u) for (u,) in query(database_url, f'SELECT uid FROM {shared} WHERE cluster_uid = %s AND '
                                                   '"group" = %s AND plural = %s', (cluster_uid, group, plural))}


def test_every_kind_kubectl_lists_is_covered_complete_and_equal_to_the_server(
        populated, database_url, tmp_path, instance):
    """`kubectl api-resources --verbs=list`: each resource is in k8s_sync_coverage (its typed table, a
    custom resource, or k8s_other_resources), complete, with the uids the server lists. Events are
    opted in here (both names), so they are listed too, once."""
    server = populated
    dynamic = DynamicClient(server.api_client())
    dynamic.resources.get(api_version="v1", kind="Event").create(namespace="team-a", body={
        "metadata": {"name": "probe.1", "namespace": "team-a"}, "reason": "Probe", "message": "hello",
        "type": "Normal", "source": {"component": "k8s-assets-tests"},
        "involvedObject": {"kind": "ConfigMap", "name": "settings", "namespace": "team-a", "apiVersion": "v1"},
        "firstTimestamp": utc_now(), "lastTimestamp": utc_now(), "count": 1})
    cache = tmp_path / "kubectl-cache"
    resources = kubectl(server, cache, "api-resources", "--verbs=list", "-o", "name").split()
    env = {"K8S_ASSETS_RESOURCES": "*,events,events.events.k8s.io"}
    result = sync_real(server, server.context(), database_url, tmp_path, instance, env)
    assert result.success
    cluster_uid = cluster_uid_of(database_url, server.context())
    crds = {f"{c.spec.names.plural}.{c.spec.group}" for c in dynamic.resources.get(
        api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition").get().items}
    coverage = {kind: (status, count) for kind, status, count in query(
        database_url, "SELECT kind, status, listed_count FROM k8s_sync_coverage WHERE cluster_uid = %s",
        (cluster_uid,))}

    def server_uids(resource: str) -> set[str]:
        listed = json.loads(kubectl(server, cache, "get", resource, "--all-namespaces", "-o", "json"))
        return {item["metadata"].get("uid") for item in listed["items"]}

    rows, problems = [], []
    with ThreadPoolExecutor(4) as pool:
        on_server = dict(zip(resources, pool.map(server_uids, [r for r in resources]))) if resources else {}
    for resource in resources:
        if resource in LEFT_OUT:
            rows.append((resource, "(left out: no uids)", "-", len(on_server[resource]), "-"))
            continue
        kind, table = where_stored(resource, crds)
        status, _ = coverage.get(kind, ("missing", None))
        stored = stored_uids_of(database_url, kind, table, cluster_uid)
        rows.append((resource, kind, status, len(on_server[resource]), len(stored)))
        if status != "complete" or stored != on_server[resource]:
            problems.append(rows[-1])
    print(f"\nkube-apiserver {server.version}: `kubectl api-resources --verbs=list` ({len(resources)} resources), "
          "coverage after one sync")
    print("| resource | stored as (k8s_sync_coverage.kind) | status | server | database |\n|---|---|---|---:|---:|")
    for row in rows:
        print("| " + " | ".join(str(v) for v in row) + " |")
    assert not problems, problems
    left_out = materialization_metadata(result, OTHER)["left_out"]
    assert "componentstatuses" in left_out and (server.version == CURRENT or "ingresses.extensions" in left_out)
    failed = [(c.asset_key.to_user_string(), c.check_name) for c in result.get_asset_check_evaluations()
              if not c.passed]
    assert not failed, failed


def test_events_are_left_out_unless_named(populated, database_url, tmp_path, instance):
    server = populated
    result = sync_real(server, server.context(), database_url, tmp_path, instance,
                       {"K8S_ASSETS_RESOURCES": "other_resources"})
    assert result.success
    kinds = {k for (k,) in query(database_url, "SELECT kind FROM k8s_sync_coverage")}
    assert f"{OTHER}:apiservices.apiregistration.k8s.io" in kinds
    assert not {f"{OTHER}:events", f"{OTHER}:events.events.k8s.io"} & kinds
    assert not query(database_url, f"SELECT 1 FROM {OTHER} WHERE plural = 'events'")
    left_out = materialization_metadata(result, OTHER)["left_out"]
    assert "events: opt-in" in left_out and "events.events.k8s.io: opt-in" in left_out


def test_a_kind_the_server_stops_serving_ends_not_served_and_keeps_its_rows(database_url, tmp_path,
                                                                              tmp_path_factory, instance):
    """RuntimeClasses (node.k8s.io), then the same API server restarted with that group turned off
    (--runtime-config): discovery no longer has it, its rows stay."""
    servers = real_server(CURRENT, tmp_path_factory)
    server = next(servers)
    try:
        dynamic = DynamicClient(server.api_client())
        created = dynamic.resources.get(api_version="node.k8s.io/v1", kind="RuntimeClass").create(
            body={"metadata": {"name": "gvisor"}, "handler": "runsc"})
        env = {"K8S_ASSETS_RESOURCES": "runtimeclasses,other_resources"}
        key = "k8s_runtimeclasses"
        rows = "SELECT uid::text, name FROM k8s_runtimeclasses"
        status = "SELECT status, listed_count FROM k8s_sync_coverage WHERE kind = %s"
        assert sync_real(server, server.context(), database_url, tmp_path, instance, env).success
        assert query(database_url, rows) == [(created.metadata.uid, "gvisor")]
        assert query(database_url, status, (key,)) == [("complete", 1)]

        # Its admission plugin waits for RuntimeClasses to be listable before the server is ready.
        server.restart_apiserver(("--runtime-config=node.k8s.io/v1=false", "--disable-admission-plugins=RuntimeClass"))
        discovery = discover(server.api_client())
        assert not discovery.served_versions("node.k8s.io", "runtimeclasses")
        result = sync_real(server, server.context(), database_url, tmp_path, instance, env)
        assert result.success
        assert query(database_url, rows) == [(created.metadata.uid, "gvisor")], "rows kept"
        assert query(database_url, status, (key,)) == [("not_served", None)]
        ((message,),) = query(database_url, "SELECT message FROM k8s_sync_coverage WHERE kind = %s", (key,))
        assert "not served" in message
        # History: the object's version stays open (it was not deleted: no version of it ended), and
        # the checks agree.
        assert query(database_url, "SELECT count(*) FROM k8s_runtimeclasses_history WHERE uid = %s",
                     (created.metadata.uid,)) == [(0,)]
        failed = [(c.asset_key.to_user_string(), c.check_name) for c in result.get_asset_check_evaluations()
                  if not c.passed]
        assert not failed, failed
    finally:
        servers.close()
