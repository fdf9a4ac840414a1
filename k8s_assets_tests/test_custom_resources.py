"""Custom resources from discovery: real plurals, both scopes, two versions, thousands of CRDs, coverage."""

import time

import dagster as dg
import pytest

from k8s_assets.dagster_edge.custom_resources import COVERAGE_PREFIX
from k8s_assets.simulator import Fault
from k8s_assets_tests.pipeline import cluster_uid_of, definitions, materialization_metadata, query, sync

CRDS_ONLY = {"K8S_ASSETS_RESOURCES": "customresourcedefinitions"}


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


def test_custom_resources_take_names_from_the_cluster(fresh_simulator, tmp_path, database_url, instance):
    sim = fresh_simulator(clusters=("one",))
    cluster = sim["one"]
    defs = definitions(sim.write_kubeconfig(tmp_path / "kubeconfig"), database_url, resources_env=CRDS_ONLY)
    assert sync(defs, instance, "one").success
    cluster_uid = cluster_uid_of(database_url, "one")
    rows = query(database_url, 'SELECT "group", version, kind, plural, scope, namespace, uid::text, spec '
                               "FROM k8s_custom_resources WHERE cluster_uid = %s", (cluster_uid,))
    by_resource = {}
    for group, version, kind, plural, scope, namespace, uid, spec in rows:
        by_resource.setdefault(f"{plural}.{group}", []).append((version, kind, scope, namespace, uid, spec))
    for resource in ("widgets.example.com", "octopi.zoo.example.com", "clusterpolicies.policy.example.com",
                     "backups.ops.example.com"):
        objects = cluster.list(resource)
        assert sorted(r[4] for r in by_resource[resource]) == sorted(o["metadata"]["uid"] for o in objects), resource
        for version, _, scope, namespace, uid, spec in by_resource[resource]:
            obj = next(o for o in objects if o["metadata"]["uid"] == uid)
            assert spec == obj["spec"] and namespace == obj["metadata"].get("namespace")
    assert {r[1] for r in by_resource["octopi.zoo.example.com"]} == {"Octopus"}  # not "octopuss"
    assert {(r[2], r[3]) for r in by_resource["clusterpolicies.policy.example.com"]} == {("Cluster", None)}
    # Served at v1beta1 and v1, stored once, at the storage version v1.
    assert {r[0] for r in by_resource["backups.ops.example.com"]} == {"v1"}
    assert len(by_resource["backups.ops.example.com"]) == len(cluster.list("backups.ops.example.com"))
    # One view per CRD, typed from its schema.
    widget = cluster.list("widgets.example.com")[0]
    (row,) = query(database_url, "SELECT replicas, enabled, ratio, tags, target, description "
                                 "FROM k8s_cr_example_com_widgets WHERE uid = %s", (widget["metadata"]["uid"],))
    spec = widget["spec"]
    assert row[0] == spec.get("replicas") and row[1] == spec.get("enabled") and row[3] == spec.get("tags")
    assert row[4] == spec.get("target") and row[5] == spec.get("description")
    types = dict(query(database_url, "SELECT column_name, data_type FROM information_schema.columns "
                                     "WHERE table_name = 'k8s_cr_zoo_example_com_octopi'"))
    assert (types["replicas"], types["enabled"], types["ratio"], types["tags"]) == \
        ("bigint", "boolean", "numeric", "jsonb")
    assert query(database_url, "SELECT count(*) FROM k8s_cr_policy_example_com_clusterpolicies") == \
        [(len(cluster.list("clusterpolicies.policy.example.com")),)]


def test_a_cluster_with_2000_crds(fresh_simulator, tmp_path, database_url, instance):
    sim = fresh_simulator(clusters=("many",), size="tiny", extra_crds=2000)
    defs = definitions(sim.write_kubeconfig(tmp_path / "kubeconfig"), database_url, resources_env=CRDS_ONLY)
    started = time.monotonic()
    result = sync(defs, instance, "many")
    seconds = time.monotonic() - started  # printed for the reader; no assertion depends on it
    assert result.success
    metadata = materialization_metadata(result, "k8s_custom_resources")
    crds = sim["many"].list("customresourcedefinitions.apiextensions.k8s.io")
    expected = sum(len(sim["many"].list(f"{c['spec']['names']['plural']}.{c['spec']['group']}")) for c in crds)
    assert len(crds) == 2004 and metadata["crds"] == 2004 and metadata["crds_complete"] == 2004
    assert query(database_url, "SELECT count(*) FROM k8s_custom_resources") == [(expected,)]
    assert query(database_url, "SELECT count(*) FROM k8s_cr_views") == [(2004,)]
    assert query(database_url, "SELECT count(*) FROM k8s_cr_gen19_example_com_thing1999s") == [(2,)]
    print(f"\n2,004 CRDs, {expected} custom resources: sync {seconds:.1f}s, "
          f"custom resources listed in {metadata['list_seconds']}s, merged in {metadata['merge_seconds']}s")
    # A re-sync with nothing changed rebuilds no view: every view is the same relation (a rebuild
    # drops and creates it, a new oid) with the same updated_at as before, whenever the sync ran.
    views = "SELECT view_name, view_name::regclass::oid, updated_at FROM k8s_cr_views ORDER BY 1"
    before = query(database_url, views)
    assert sync(defs, instance, "many").success
    assert query(database_url, views) == before


def test_forbidden_custom_resource_keeps_rows_and_fails_the_check(fresh_simulator, tmp_path, database_url, instance):
    sim = fresh_simulator(clusters=("one",))
    defs = definitions(sim.write_kubeconfig(tmp_path / "kubeconfig"), database_url, resources_env=CRDS_ONLY)
    assert sync(defs, instance, "one").success
    before = query(database_url, "SELECT uid FROM k8s_custom_resources WHERE plural = 'octopi' ORDER BY 1")
    assert before
    sim["one"].inject(Fault("forbidden", resource="octopi.zoo.example.com"))
    result = sync(defs, instance, "one")
    assert query(database_url, "SELECT uid FROM k8s_custom_resources WHERE plural = 'octopi' ORDER BY 1") == before
    assert query(database_url, "SELECT status FROM k8s_sync_coverage WHERE kind = %s",
                 (COVERAGE_PREFIX + "octopi.zoo.example.com",)) == [("forbidden",)]
    checks = {e.event_specific_data.asset_key.path[-1]: e.event_specific_data.passed
              for e in result.all_events if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
              and e.event_specific_data.check_name == "visible_kind_not_forbidden"}
    assert checks["k8s_custom_resources"] is False and checks["k8s_crds"] is True
