"""The pipeline end to end: simulated clusters -> Dagster assets -> PostgreSQL."""

import copy
import uuid

import dagster as dg
import pytest
import yaml

from k8s_assets.catalog import KINDS
from k8s_assets.dagster_edge.cluster_sync import SYNC_STEP
from k8s_assets.kube.cluster import CLUSTER_UID_NAMESPACE
from k8s_assets.simulator import Fault
from k8s_assets_tests.pipeline import cluster_uid_of, definitions, materialization_metadata, query, stored_uids, sync


@pytest.fixture
def instance():
    # In memory: the runs' own events are not under test, and sqlite commits dominate otherwise.
    with dg.DagsterInstance.ephemeral() as instance:
        yield instance


def uids_in_cluster(cluster, resource: str) -> set[str]:
    return {o["metadata"]["uid"] for o in cluster.list(resource)}


def test_full_sync_of_several_contexts_stores_every_object(simulator, simulator_kubeconfig, database_url, instance):
    defs = definitions(simulator_kubeconfig, database_url)
    for cluster in simulator:
        result = sync(defs, instance, cluster.context_name)
        assert result.success, cluster.context_name
        cluster_uid = cluster_uid_of(database_url, cluster.context_name)
        assert cluster_uid == str(uuid.uuid5(CLUSTER_UID_NAMESPACE, cluster.kube_system_uid))
        for kind in KINDS:
            expected = uids_in_cluster(cluster, kind.resource)
            assert expected, f"the simulator serves no {kind.resource}"
            assert stored_uids(database_url, kind.table, cluster_uid) == expected, kind.table
            metadata = materialization_metadata(result, kind.table)
            assert metadata["listed"] == metadata["inserted"] == metadata["dagster/row_count"] == len(expected)
    ((clusters,),) = query(database_url, "SELECT count(DISTINCT cluster_uid) FROM k8s_clusters")
    assert clusters == len(simulator.clusters)
    # Typed columns come from the objects themselves.
    pod = simulator["alpha"].list("pods")[0]
    (row,) = query(database_url, "SELECT node_name, phase, raw->'metadata'->>'name' FROM k8s_pods WHERE uid = %s",
                   (pod["metadata"]["uid"],))
    assert row == (pod["spec"].get("nodeName"), pod["status"]["phase"], pod["metadata"]["name"])
    (nodes,) = query(database_url, "SELECT node_count FROM k8s_clusters WHERE context_name = 'alpha'")
    assert nodes == (len(simulator["alpha"].list("nodes")),)


def test_resync_inserts_updates_and_deletes_exactly_what_changed(fresh_simulator, tmp_path, any_database_url,
                                                                  instance):
    database_url = any_database_url
    sim = fresh_simulator(clusters=("one",))
    cluster = sim["one"]
    defs = definitions(sim.write_kubeconfig(tmp_path / "kubeconfig"), database_url)
    assert sync(defs, instance, "one").success
    cluster_uid = cluster_uid_of(database_url, "one")
    xmin_before = dict(query(database_url, "SELECT uid::text, xmin::text FROM k8s_pods"))

    pods = cluster.list("pods")
    changed, deleted, template = pods[0], pods[1], pods[2]
    cluster.modify("pods", changed["metadata"]["name"], changed["metadata"]["namespace"],
                   mutate=lambda p: p["metadata"].setdefault("labels", {}).update({"changed": "yes"}))
    cluster.delete("pods", deleted["metadata"]["name"], deleted["metadata"]["namespace"])
    new = copy.deepcopy(template)
    new["metadata"] = {"name": "brand-new", "namespace": template["metadata"]["namespace"]}
    created = cluster.create("pods", new)

    result = sync(defs, instance, "one")
    assert result.success
    metadata = materialization_metadata(result, "k8s_pods")
    assert (metadata["inserted"], metadata["updated"], metadata["deleted"]) == (1, 1, 1)
    assert metadata["unchanged"] == len(pods) - 2
    assert stored_uids(database_url, "k8s_pods", cluster_uid) == uids_in_cluster(cluster, "pods")
    xmin_after = dict(query(database_url, "SELECT uid::text, xmin::text FROM k8s_pods"))
    untouched = set(xmin_before) - {changed["metadata"]["uid"], deleted["metadata"]["uid"]}
    assert {u: xmin_after[u] for u in untouched} == {u: xmin_before[u] for u in untouched}
    assert xmin_after[changed["metadata"]["uid"]] != xmin_before[changed["metadata"]["uid"]]
    (labels,) = query(database_url, "SELECT labels->>'changed' FROM k8s_pods WHERE uid = %s",
                      (changed["metadata"]["uid"],))
    assert labels == ("yes",)
    assert created["metadata"]["uid"] in xmin_after


def test_two_contexts_for_one_cluster_share_its_row(fresh_simulator, tmp_path, database_url, instance):
    sim = fresh_simulator(clusters=("one",))
    path = sim.write_kubeconfig(tmp_path / "kubeconfig")
    config = yaml.safe_load(path.read_text())
    original = config["contexts"][0]
    config["contexts"].append({"name": "one-via-admin", "context": dict(original["context"])})
    path.write_text(yaml.safe_dump(config))
    defs = definitions(path, database_url)
    assert sync(defs, instance, "one").success
    assert sync(defs, instance, "one-via-admin").success
    assert query(database_url, "SELECT count(*) FROM k8s_clusters") == [(1,)]
    contexts = query(database_url, "SELECT context_name, cluster_uid::text FROM k8s_cluster_contexts ORDER BY 1")
    assert [c for c, _ in contexts] == ["one", "one-via-admin"] and contexts[0][1] == contexts[1][1]
    assert len(stored_uids(database_url, "k8s_pods", contexts[0][1])) == len(sim["one"].list("pods"))


@pytest.mark.parametrize(
    ("fault", "succeeds"),
    [
        (Fault("throttle_text", resource="pods", times=2), True),
        (Fault("throttle_status", resource="pods", times=2), True),
        (Fault("expired", resource="pods", page=2, times=1), True),
        (Fault("cut", resource="pods", page=2, times=1), True),
        (Fault("slow", resource="pods", delay=0.3, times=2), True),
        (Fault("internal_error", resource="pods"), False),
        (Fault("cut", resource="pods", page=2), False),
        (Fault("unresponsive", resource="pods", page=2), False),
    ],
    ids=lambda v: v.kind + ("-once" if getattr(v, "times", None) else "-always") if isinstance(v, Fault) else "",
)
def test_faults_never_lose_rows(fault, succeeds, fresh_simulator, tmp_path, database_url, instance):
    sim = fresh_simulator(clusters=("one",))
    cluster = sim["one"]
    # Pods under the fault, and two other kinds that must sync as if nothing happened (every
    # kind would only make each of the eight cases four times longer, proving nothing more).
    others = ["k8s_namespaces", "k8s_services"]
    defs = definitions(sim.write_kubeconfig(tmp_path / "kubeconfig"), database_url, request_timeout=1.0,
                       resources_env={"K8S_ASSETS_PAGE_SIZE": "5", "K8S_ASSETS_RESOURCES": ",".join(["pods", *others])})
    assert sync(defs, instance, "one").success
    cluster_uid = cluster_uid_of(database_url, "one")
    before = stored_uids(database_url, "k8s_pods", cluster_uid)
    gone = cluster.list("pods")[-1]
    cluster.delete("pods", gone["metadata"]["name"], gone["metadata"]["namespace"])

    cluster.inject(fault)
    result = sync(defs, instance, "one")
    after = stored_uids(database_url, "k8s_pods", cluster_uid)
    assert result.success is succeeds
    if succeeds:
        assert after == uids_in_cluster(cluster, "pods") == before - {gone["metadata"]["uid"]}
    else:
        assert after == before, "a failed listing must not delete or change rows"
        # One step per cluster: it fails at the end, naming the one kind that failed.
        (failure,) = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
        assert failure.step_key == SYNC_STEP
        assert "k8s_pods" in failure.event_specific_data.error.message
        assert failure.event_specific_data.user_failure_data.metadata["failed_assets"].value == "k8s_pods"
        assert "k8s_pods" not in {m.asset_key.path[-1] for m in
                                  (e.event_specific_data.materialization for e in result.get_asset_materialization_events())}
        (status,) = query(database_url, "SELECT status FROM k8s_sync_coverage WHERE kind = 'k8s_pods'")
        assert status == ("failed",)
        # Every other kind synced normally.
        assert query(database_url, "SELECT kind FROM k8s_sync_coverage WHERE status = 'complete' "
                                   "AND kind = ANY (%s) ORDER BY kind", ([k.table for k in KINDS],)) \
            == [(kind,) for kind in others]


def test_forbidden_kind_keeps_its_rows_and_is_recorded(fresh_simulator, tmp_path, database_url, instance):
    sim = fresh_simulator(clusters=("one",))
    defs = definitions(sim.write_kubeconfig(tmp_path / "kubeconfig"), database_url)
    assert sync(defs, instance, "one").success
    cluster_uid = cluster_uid_of(database_url, "one")
    before = stored_uids(database_url, "k8s_services", cluster_uid)
    sim["one"].inject(Fault("forbidden", resource="services"))
    result = sync(defs, instance, "one")
    assert result.success
    metadata = materialization_metadata(result, "k8s_services")
    assert metadata["listing_status"] == "forbidden" and "forbidden" in metadata["listing_message"]
    assert metadata["dagster/row_count"] == len(before) and metadata["deleted"] == 0
    assert stored_uids(database_url, "k8s_services", cluster_uid) == before
    assert query(database_url, "SELECT status, last_complete_at IS NOT NULL FROM k8s_sync_coverage "
                               "WHERE kind = 'k8s_services'") == [("forbidden", True)]


def test_kind_the_cluster_does_not_serve_is_skipped_and_recorded(fresh_simulator, tmp_path, database_url, instance):
    sim = fresh_simulator(clusters=("one",))
    defs = definitions(sim.write_kubeconfig(tmp_path / "kubeconfig"), database_url)
    assert sync(defs, instance, "one").success
    cluster_uid = cluster_uid_of(database_url, "one")
    before = stored_uids(database_url, "k8s_poddisruptionbudgets", cluster_uid)
    assert before
    sim["one"].stop_serving("poddisruptionbudgets.policy")
    result = sync(defs, instance, "one")
    assert result.success, "an API the cluster does not serve is not an error"
    metadata = materialization_metadata(result, "k8s_poddisruptionbudgets")
    assert metadata["listing_status"] == "not_served" and "not served" in metadata["listing_message"]
    assert stored_uids(database_url, "k8s_poddisruptionbudgets", cluster_uid) == before
    assert query(database_url, "SELECT status FROM k8s_sync_coverage WHERE kind = 'k8s_poddisruptionbudgets'") == \
        [("not_served",)]


def test_unreachable_context_fails_only_its_own_partition(fresh_simulator, tmp_path, database_url, instance):
    sim = fresh_simulator(clusters=("up", "down"))
    defs = definitions(sim.write_kubeconfig(tmp_path / "kubeconfig"), database_url, request_timeout=1.0)
    sim["down"].stop()
    down = sync(defs, instance, "down")
    assert not down.success
    failure = next(e for e in down.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    error = failure.event_specific_data.error.to_string()
    assert failure.step_key == SYNC_STEP and "context 'down'" in error and "did not answer" in error
    assert sync(defs, instance, "up").success
    assert [c for (c,) in query(database_url, "SELECT context_name FROM k8s_cluster_contexts")] == ["up"]


def test_wrong_token_fails_fast_without_retries(fresh_simulator, tmp_path, database_url, instance):
    sim = fresh_simulator(clusters=("one",))
    path = sim.write_kubeconfig(tmp_path / "kubeconfig")
    config = yaml.safe_load(path.read_text())
    config["users"][0]["user"]["token"] = "not-the-token"
    path.write_text(yaml.safe_dump(config))
    defs = definitions(path, database_url, retry_policy=dg.RetryPolicy(max_retries=3, delay=0))
    result = sync(defs, instance, "one")
    assert not result.success
    assert not [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY]
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    assert "401" in failure.event_specific_data.error.message
    assert "not-the-token" not in str([e.message for e in result.all_events])


def test_hostile_objects_never_block_their_kind(fresh_simulator, tmp_path, database_url, instance):
    """A NUL (legal in Kubernetes JSON), a 200 KB annotation, emoji, and an object the database
    refuses: every other pod is stored, the refused one is recorded, and the count check passes."""
    sim = fresh_simulator(clusters=("one",))
    cluster = sim["one"]
    template = cluster.list("pods")[0]

    def pod_like(name: str, mutate) -> dict:
        new = copy.deepcopy(template)
        new["metadata"] = {"name": name, "namespace": template["metadata"]["namespace"],
                           "annotations": {"note": "nul\u0000inside", "big": "b" * 200_000, "emoji": "🚀"}}
        mutate(new)
        return cluster.create("pods", new)

    nul = pod_like("nul", lambda p: p["spec"]["containers"][0].update(args=["--x=\u0000"]))
    too_big = pod_like("too-big", lambda p: p["status"].setdefault("containerStatuses", [{}])[0].update(
        restartCount=2 ** 40))
    defs = definitions(sim.write_kubeconfig(tmp_path / "kubeconfig"), database_url,
                       resources_env={"K8S_ASSETS_RESOURCES": "namespaces,nodes,pods"})
    result = sync(defs, instance, "one")
    assert result.success
    cluster_uid = cluster_uid_of(database_url, "one")
    served = uids_in_cluster(cluster, "pods")
    assert stored_uids(database_url, "k8s_pods", cluster_uid) == served - {too_big["metadata"]["uid"]}
    ((replaced, note, args),) = query(database_url, "SELECT nul_replaced, annotations->>'note', "
                                      "raw->'spec'->'containers'->0->'args'->>0 FROM k8s_pods WHERE uid = %s",
                                      (nul["metadata"]["uid"],))
    assert (replaced, note, args) == (True, "nul\ufffdinside", "--x=\ufffd")
    ((name, error),) = query(database_url, "SELECT name, error FROM k8s_rejected_objects WHERE cluster_uid = %s",
                             (cluster_uid,))
    assert name == "too-big" and "out of range" in error
    metadata = materialization_metadata(result, "k8s_pods")
    assert (metadata["listed"], metadata["rejected"], metadata["nul_replaced"]) == (len(served), 1, 2)
    assert "too-big" in metadata["rejected_examples"]
    checks = {(c.asset_key.path[-1], c.check_name): c for c in result.get_asset_check_evaluations()}
    row_count = checks[("k8s_pods", "row_count_matches_listing")]
    assert row_count.passed and row_count.metadata["rejected"].value == 1
