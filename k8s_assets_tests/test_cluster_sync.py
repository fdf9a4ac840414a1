"""One step per cluster: a partition's run is one Dagster step, while every table stays an asset
of its own (materialization, metadata, checks), selectable alone, and one kind's failure leaves
the others stored. A tiny simulated cluster, a real PostgreSQL, Dagster's own execution."""

import dagster as dg
import pytest

from k8s_assets.catalog import KINDS
from k8s_assets.dagster_edge import cluster_sync
from k8s_assets.dagster_edge.cluster_sync import SYNC_STEP
from k8s_assets.definitions import SYNC_JOB
from k8s_assets.kube import listing as kube_listing
from k8s_assets.simulator import Fault, Simulator
from k8s_assets_tests.pipeline import cluster_uid_of, definitions, query, stored_uids, sync

CONTEXT = "one"
CRDS_RESOURCE = "customresourcedefinitions.apiextensions.k8s.io"


@pytest.fixture(scope="module")
def env(embedded_server_url, tmp_path_factory):
    """Cluster "one" synced once (the whole job) into a database of its own."""
    from k8s_assets.store.migrations import migrate
    from k8s_assets_tests.fixtures_postgres import fresh_database

    url = fresh_database(embedded_server_url)
    migrate(url)
    with Simulator(clusters=(CONTEXT,), size="tiny") as sim, dg.DagsterInstance.ephemeral() as instance:
        defs = definitions(sim.write_kubeconfig(tmp_path_factory.mktemp("onestep") / "kubeconfig"), url)
        job = defs.resolve_job_def(SYNC_JOB)
        first = job.execute_in_process(partition_key=CONTEXT, instance=instance, raise_on_error=False)
        yield {"url": url, "sim": sim, "defs": defs, "job": job, "instance": instance, "first": first}


def step_keys(result: dg.ExecuteInProcessResult) -> list[str]:
    return [e.step_key for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_START]


def materialized(result: dg.ExecuteInProcessResult) -> dict[str, dict]:
    return {e.event_specific_data.materialization.asset_key.path[-1]:
            {k: getattr(v, "value", v) for k, v in e.event_specific_data.materialization.metadata.items()}
            for e in result.get_asset_materialization_events()}


def evaluated(result: dg.ExecuteInProcessResult) -> list[dg.AssetCheckKey]:
    return [e.asset_check_key for e in result.get_asset_check_evaluations()]


def graph(env):
    return env["job"].asset_layer.asset_graph


def test_a_run_of_one_partition_is_one_step(env):
    result = env["first"]
    assert result.success
    assert step_keys(result) == [SYNC_STEP]
    # ... and every table is still an asset of its own, materialized with its own metadata.
    assets = {key.path[-1] for key in graph(env).get_all_asset_keys()}
    assert {"k8s_clusters", "k8s_custom_resources", "k8s_other_resources", "k8s_container_images",
            *(k.table for k in KINDS)} == assets
    found = materialized(result)
    assert set(found) == assets
    for kind in KINDS:
        metadata = found[kind.table]
        assert metadata["listing_status"] == "complete", kind.table
        assert metadata["listed"] == metadata["dagster/row_count"] == metadata["inserted"] > 0, kind.table
        assert metadata["pages"] >= 1 and "merge_seconds" in metadata, kind.table
    # Every check of every asset, once, for the partition.
    checks = evaluated(result)
    assert sorted(checks) == sorted(graph(env).asset_check_keys)
    assert {e.partition for e in result.get_asset_check_evaluations()} == {CONTEXT}


def test_a_kind_selected_alone_materializes_alone_with_its_checks(env):
    sim, url = env["sim"], env["url"]
    cluster = sim[CONTEXT]
    gone = cluster.list("pods")[0]
    cluster.delete("pods", gone["metadata"]["name"], gone["metadata"]["namespace"])
    cluster.clear_requests()
    result = env["job"].execute_in_process(partition_key=CONTEXT, instance=env["instance"], raise_on_error=False,
                                           asset_selection=[dg.AssetKey("k8s_pods")])
    assert result.success
    assert step_keys(result) == [SYNC_STEP]
    assert set(materialized(result)) == {"k8s_pods"}
    assert materialized(result)["k8s_pods"]["deleted"] == 1
    pod_checks = {key for key in graph(env).asset_check_keys if key.asset_key == dg.AssetKey("k8s_pods")}
    assert len(pod_checks) >= 7 and sorted(evaluated(result)) == sorted(pod_checks)
    assert all(e.passed for e in result.get_asset_check_evaluations())
    # The cluster came from the inventory: only the pods were listed.
    listed = {r.path for r in cluster.requests if "limit" in r.query}
    assert listed == {"/api/v1/pods"}, listed
    assert "/version" not in {r.path for r in cluster.requests}
    assert stored_uids(url, "k8s_pods", cluster_uid_of(url, CONTEXT)) == {p["metadata"]["uid"]
                                                                          for p in cluster.list("pods")}


def test_checks_selected_alone_list_nothing(env):
    cluster = env["sim"][CONTEXT]
    cluster.clear_requests()
    defs = env["defs"]
    result = dg.materialize([*defs.assets, *defs.asset_checks], selection=dg.AssetSelection.all_asset_checks(),
                            tags={"dagster/partition": CONTEXT}, instance=env["instance"],
                            resources=defs.resources, raise_on_error=False)
    assert result.success
    assert step_keys(result) == [SYNC_STEP]
    assert materialized(result) == {}
    assert sorted(evaluated(result)) == sorted(graph(env).asset_check_keys)
    assert cluster.requests == []


def test_a_failing_kind_leaves_every_other_kind_materialized(env):
    """The CRDs' listing fails for good: every other asset is stored and checked, the custom
    resources (computed from the CRDs) are not, the CRDs' rows stay, and the step fails at the
    end naming both."""
    sim, url = env["sim"], env["url"]
    cluster_uid = cluster_uid_of(url, CONTEXT)
    before = stored_uids(url, "k8s_crds", cluster_uid)
    assert before
    sim[CONTEXT].inject(Fault("internal_error", resource=CRDS_RESOURCE))
    try:
        result = env["job"].execute_in_process(partition_key=CONTEXT, instance=env["instance"],
                                               raise_on_error=False)
    finally:
        sim[CONTEXT].clear_faults()
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    assert failure.step_key == SYNC_STEP
    metadata = failure.event_specific_data.user_failure_data.metadata
    assert metadata["failed_assets"].value == "k8s_crds"
    assert metadata["skipped_assets"].value == "k8s_custom_resources"
    message = failure.event_specific_data.error.message
    assert "k8s_crds: " in message and "k8s_custom_resources: not computed, k8s_crds failed" in message
    assets = {key.path[-1] for key in graph(env).get_all_asset_keys()}
    assert set(materialized(result)) == assets - {"k8s_crds", "k8s_custom_resources"}
    with_checks = {key.asset_key.path[-1] for key in graph(env).asset_check_keys}
    assert {key.asset_key.path[-1] for key in evaluated(result)} == with_checks - {"k8s_crds", "k8s_custom_resources"}
    assert stored_uids(url, "k8s_crds", cluster_uid) == before
    assert query(url, "SELECT status FROM k8s_sync_coverage WHERE cluster_uid = %s AND kind = 'k8s_crds'",
                 (cluster_uid,)) == [("failed",)]


def test_a_transient_failure_is_tried_again_after_the_policy_delays(env, tmp_path, monkeypatch):
    """A kind whose listing fails transiently is tried again within the step, after the retry
    policy's delay; the waits are counted, not waited, so the test takes no longer than a sync."""
    sim, url = env["sim"], env["url"]
    waits: dict[str, list[float]] = {"kind": [], "request": []}
    monkeypatch.setattr(cluster_sync, "sleep_before_retry", waits["kind"].append)
    monkeypatch.setattr(kube_listing, "sleep_between_tries", waits["request"].append)
    policy = dg.RetryPolicy(max_retries=3, delay=10, backoff=dg.Backoff.EXPONENTIAL)
    defs = definitions(sim.write_kubeconfig(tmp_path / "kubeconfig"), url, retry_policy=policy,
                       resources_env={"K8S_ASSETS_RESOURCES": "pods"})
    # Ten 500s: each try's first request and urllib3's four retries, twice; the third try succeeds.
    sim[CONTEXT].inject(Fault("internal_error", resource="pods", times=10))
    try:
        with dg.DagsterInstance.ephemeral() as instance:
            result = sync(defs, instance, CONTEXT)
    finally:
        sim[CONTEXT].clear_faults()
    assert result.success
    # Dagster's exponential backoff, delay * (2^n - 1): as a step retry would wait.
    assert waits["kind"] == [policy.calculate_delay(1), policy.calculate_delay(2)] == [10, 30]
    assert waits["request"] == [0.5, 1.0, 2.0] * 2, "urllib3's backoff within each try (none before its first retry)"
    cluster_uid = cluster_uid_of(url, CONTEXT)
    assert len(stored_uids(url, "k8s_pods", cluster_uid)) == len(sim[CONTEXT].list("pods"))
