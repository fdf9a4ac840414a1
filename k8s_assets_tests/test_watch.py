"""``k8s-assets watch`` against the real kube-apiservers: every version on record, exact to the event.

The current server (1.37) serves streaming lists, so its initial state comes from one watch
request; the oldest (1.20) is listed in pages, then watched. Changes are made through the
official client; each test waits until the database shows them (generous deadlines, never the
verdict) and then compares what is stored, current and ended, with what the server said.
"""

from __future__ import annotations

import uuid

import dagster as dg
import pytest
from kubernetes import client as k8s_client
from kubernetes.dynamic import DynamicClient

from k8s_assets.kube.config import load_settings
from k8s_assets.store import database
from k8s_assets.watcher import ClusterWatcher, Watcher, WatchOptions, dagster_report
from k8s_assets_tests import real_objects
from k8s_assets_tests.fixtures_kube import CURRENT, RealKubeServer
from k8s_assets_tests.pipeline import query, wait_for

FAST = WatchOptions(batch_seconds=0.2, report_seconds=0.2, heartbeat_seconds=0.5, retry_delay=0.2,
                    max_retry_delay=1.0, timeout_seconds=60)


def watcher_for(server: RealKubeServer, tmp_path, pool, resources: str, report=None,
                options: WatchOptions = FAST) -> Watcher:
    kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig")
    settings = load_settings({"KUBECONFIG": str(kubeconfig), "K8S_ASSETS_RESOURCES": resources})
    return Watcher(settings, [server.context()], pool.connection, options, report)


def watching(url: str, kinds: set[str]) -> bool:
    rows = query(url, "SELECT kind FROM k8s_watch_state WHERE status = 'watching' AND resource_version IS NOT NULL")
    return kinds <= {kind for (kind,) in rows}


def versions_of(url: str, table: str, uid: str) -> list[tuple]:
    """(began or ended, resource_version, labels) of every version of one object, oldest first;
    the current row last, marked 'current'."""
    ended = query(url, f"SELECT ended, resource_version, labels, valid_from, valid_to FROM {table}_history "
                       "WHERE uid = %s ORDER BY valid_from", (uid,))
    current = query(url, f"SELECT 'current', resource_version, labels, valid_from, NULL FROM {table} "
                         "WHERE uid = %s", (uid,))
    return ended + current


def test_created_patched_and_deleted_objects_are_each_on_record(real_kube: RealKubeServer, tmp_path, pool,
                                                                 database_url):
    dynamic = DynamicClient(real_kube.api_client())
    namespace = f"watch-{uuid.uuid4().hex[:8]}"
    dynamic.resources.get(api_version="v1", kind="Namespace").create(
        body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    reports = []
    watcher = watcher_for(real_kube, tmp_path, pool, "pods,deployments,namespaces",
                          report=lambda context, kind, totals: reports.append((context, kind.table, totals)))
    (cluster,) = watcher.start()
    try:
        assert not watcher.failed
        # The current server gives its initial state as a streaming list; 1.20 is listed in pages.
        assert cluster.streaming_list is (real_kube.version == CURRENT)
        wait_for("every kind listed and watched", lambda: watching(database_url, {"k8s_pods", "k8s_deployments"}))
        pods = dynamic.resources.get(api_version="v1", kind="Pod")
        deployments = dynamic.resources.get(api_version="apps/v1", kind="Deployment")
        pod = pods.create(namespace=namespace, body={
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "labels": {"step": "created"}},
            "spec": {"containers": [real_objects.container()]}})
        deployment = deployments.create(namespace=namespace, body={
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "shop", "labels": {"step": "created"}},
            "spec": real_objects.workload_spec()})
        patched_pod = pods.patch(namespace=namespace, name="web", body={"metadata": {"labels": {"step": "patched"}}},
                                 content_type="application/merge-patch+json")
        patched_deployment = deployments.patch(namespace=namespace, name="shop",
                                               body={"metadata": {"labels": {"step": "patched"}}},
                                               content_type="application/merge-patch+json")
        pods.delete(namespace=namespace, name="web", body={"gracePeriodSeconds": 0})
        deployments.delete(namespace=namespace, name="shop")

        for table, created, patched in (("k8s_pods", pod, patched_pod),
                                        ("k8s_deployments", deployment, patched_deployment)):
            uid = created.metadata.uid
            history = wait_for(f"{table}: the object's deletion on record",
                               lambda: [v for v in versions_of(database_url, table, uid) if v[0] == "deleted"]
                               and versions_of(database_url, table, uid))
            # No current row; every version the server gave, in order, each ending when the next began.
            assert [v[0] for v in history][-1] == "deleted"
            assert "current" not in [v[0] for v in history]
            stored_versions = [v[1] for v in history]
            assert stored_versions[0] == created.metadata.resourceVersion
            assert patched.metadata.resourceVersion in stored_versions
            assert history[0][2] == {"step": "created"}
            assert [v[2] for v in history if v[1] == patched.metadata.resourceVersion] == [{"step": "patched"}]
            for earlier, later in zip(history, history[1:]):
                assert earlier[4] == later[3], "a version ends when the next one begins"
            began = query(database_url, f"SELECT count(*) FROM {table}_history WHERE uid = %s AND ended = 'updated'",
                          (uid,))[0][0]
            assert began == len(history) - 1
        # Dagster heard of the events (runless materializations of the kinds' partitions).
        wait_for("a report of the pods' events", lambda: any(t == "k8s_pods" and r.events for _, t, r in reports))
        assert {c for c, _, _ in reports} == {real_kube.context()}
    finally:
        watcher.stop()
    state = query(database_url, "SELECT kind, status, resource_version FROM k8s_watch_state ORDER BY kind")
    assert {kind for kind, _, _ in state} >= {"k8s_pods", "k8s_deployments", "k8s_namespaces"}
    assert all(status == "stopped" and resource_version for _, status, resource_version in state), state


def stored_equals_listed(url: str, server: RealKubeServer, cluster: ClusterWatcher, table: str) -> bool:
    kind = cluster.watches[table].kind
    listed = {(o["metadata"]["uid"], o["metadata"]["resourceVersion"])
              for o in real_objects.list_objects(server.api_client(), kind, kind.version)}
    stored = {(str(uid), rv) for uid, rv in query(url, f"SELECT uid, resource_version FROM {table}")}
    return stored == listed


def overlapping_versions(url: str, table: str) -> list[tuple]:
    """Objects with two versions valid at once (an ended version overlapping another or the current row)."""
    return query(url, f"""
        WITH versions AS (
            SELECT uid, valid_from, valid_to FROM {table}_history
            UNION ALL SELECT uid, valid_from, 'infinity'::timestamptz FROM {table})
        SELECT a.uid FROM versions a JOIN versions b ON a.uid = b.uid AND a.valid_from < b.valid_from
        WHERE a.valid_to > b.valid_from""")


def test_a_restarted_watch_resumes_and_an_expired_one_lists_again(real_kube: RealKubeServer, tmp_path, pool,
                                                                  database_url):
    dynamic = DynamicClient(real_kube.api_client())
    configmaps = dynamic.resources.get(api_version="v1", kind="ConfigMap")
    name = f"watch-{uuid.uuid4().hex[:8]}"
    watcher = watcher_for(real_kube, tmp_path, pool, "configmaps")
    (cluster,) = watcher.start()
    wait_for("configmaps watched", lambda: watching(database_url, {"k8s_configmaps"}))
    watcher.stop()
    assert cluster.watches["k8s_configmaps"].listings == 1
    # Changed while no watcher ran: the next one resumes from where the last stopped and lists nothing.
    created = configmaps.create(namespace="default", body={"apiVersion": "v1", "kind": "ConfigMap",
                                                           "metadata": {"name": name}, "data": {"a": "1"}})
    watcher = watcher_for(real_kube, tmp_path, pool, "configmaps")
    (cluster,) = watcher.start()
    try:
        wait_for("the configmap made while stopped", lambda: query(
            database_url, "SELECT 1 FROM k8s_configmaps WHERE uid = %s", (created.metadata.uid,)))
        assert cluster.watches["k8s_configmaps"].listings == 0
        assert cluster.watches["k8s_configmaps"].resumed >= 1
    finally:
        watcher.stop()
    # Deleted while stopped, then etcd compacted and the API server restarted: the resourceVersion
    # the watch stopped at is no longer kept (410), so the kind is listed again (the staged merge,
    # which deletes what is gone), and watched from there.
    configmaps.delete(namespace="default", name=name)
    real_kube.compact()
    real_kube.restart_apiserver()
    watcher = watcher_for(real_kube, tmp_path, pool, "configmaps")
    (cluster,) = watcher.start()
    try:
        watch = cluster.watches["k8s_configmaps"]
        wait_for("the expired watch listed again", lambda: watch.listings == 1 and watch.status == "watching")
        assert watch.expired == 1
        assert query(database_url, "SELECT ended FROM k8s_configmaps_history WHERE uid = %s",
                     (created.metadata.uid,)) == [("deleted",)]
        assert stored_equals_listed(database_url, real_kube, cluster, "k8s_configmaps")
    finally:
        watcher.stop()


def test_the_api_server_killed_mid_watch_loses_nothing(real_kube: RealKubeServer, tmp_path, pool, database_url):
    core = k8s_client.CoreV1Api(real_kube.api_client())
    watcher = watcher_for(real_kube, tmp_path, pool, "configmaps")
    (cluster,) = watcher.start()
    try:
        wait_for("configmaps watched", lambda: watching(database_url, {"k8s_configmaps"}))
        before = [core.create_namespaced_config_map("default", {"metadata": {"name": f"before-{i}-{uuid.uuid4().hex[:6]}"}})
                  for i in range(3)]
        real_kube.kill_apiserver()
        real_kube.restart_apiserver()
        after = [core.create_namespaced_config_map("default", {"metadata": {"name": f"after-{i}-{uuid.uuid4().hex[:6]}"}})
                 for i in range(3)]
        core.delete_namespaced_config_map(before[0].metadata.name, "default")
        wait_for("the server's configmaps, stored", lambda: stored_equals_listed(database_url, real_kube, cluster,
                                                                                "k8s_configmaps"))
        assert query(database_url, "SELECT ended FROM k8s_configmaps_history WHERE uid = %s",
                     (before[0].metadata.uid,)) == [("deleted",)]
        assert {str(u) for (u,) in query(database_url, "SELECT uid FROM k8s_configmaps")} >= {
            c.metadata.uid for c in [*before[1:], *after]}
        assert overlapping_versions(database_url, "k8s_configmaps") == []
    finally:
        watcher.stop()


def test_a_watch_answered_again_waits_the_shortest_delay_after_its_next_failure(real_kube: RealKubeServer, tmp_path,
                                                                               pool, database_url):
    if real_kube.version != CURRENT:
        pytest.skip("one server suffices: the delay does not depend on the server")
    core = k8s_client.CoreV1Api(real_kube.api_client())
    watcher = watcher_for(real_kube, tmp_path, pool, "configmaps")
    (cluster,) = watcher.start()
    watch = cluster.watches["k8s_configmaps"]
    try:
        wait_for("configmaps watched", lambda: watching(database_url, {"k8s_configmaps"}))
        real_kube.kill_apiserver()
        wait_for("the wait between attempts at its longest", lambda: watch.retry_delay == FAST.max_retry_delay)
        real_kube.restart_apiserver()
        made = core.create_namespaced_config_map("default", {"metadata": {"name": f"again-{uuid.uuid4().hex[:6]}"}})
        wait_for("the configmap made after the restart, stored", lambda: query(
            database_url, "SELECT 1 FROM k8s_configmaps WHERE uid = %s", (made.metadata.uid,)))
        # Watching again: the next dropped watch is tried again after the shortest wait, not the
        # longest the outage reached.
        assert watch.status == "watching"
        assert watch.retry_delay == FAST.retry_delay
    finally:
        watcher.stop()


def test_applied_events_reach_dagster_as_runless_materializations(real_kube: RealKubeServer, tmp_path, pool,
                                                                  database_url):
    if real_kube.version != CURRENT:
        pytest.skip("one server suffices: the report does not depend on the server")
    with dg.DagsterInstance.ephemeral() as instance:
        watcher = watcher_for(real_kube, tmp_path, pool, "configmaps", report=dagster_report(instance))
        watcher.start()
        try:
            wait_for("configmaps watched", lambda: watching(database_url, {"k8s_configmaps"}))
            k8s_client.CoreV1Api(real_kube.api_client()).create_namespaced_config_map(
                "default", {"metadata": {"name": f"report-{uuid.uuid4().hex[:8]}"}})

            def reported():
                records = instance.fetch_materializations(dg.AssetRecordsFilter(
                    asset_key=dg.AssetKey("k8s_configmaps"), asset_partitions=[real_kube.context()]), limit=1).records
                return records[0] if records else None

            record = wait_for("a runless materialization", reported)
        finally:
            watcher.stop()
    metadata = {k: getattr(v, "value", v) for k, v in record.asset_materialization.metadata.items()}
    assert not record.run_id  # runless
    assert metadata["source"] == "watch"
    assert metadata["events"] >= 1 and metadata["inserted"] >= 1
    assert metadata["stored"] == query(database_url, "SELECT count(*) FROM k8s_configmaps")[0][0]


def test_custom_resources_are_watched_with_their_crds_and_a_relist_deletes_what_is_gone(
        real_kube: RealKubeServer, tmp_path, pool, database_url):
    dynamic = DynamicClient(real_kube.api_client())
    group = f"w{uuid.uuid4().hex[:8]}.example.com"
    _, crd = real_objects.crd(group, "gadgets", "Gadget", "Namespaced", [("v1", True)], {"size": {"type": "integer"}})
    dynamic.resources.get(api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition").create(
        body={"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", **crd})
    gadgets = real_objects.served_resource(dynamic, f"{group}/v1", "Gadget")

    def gadget(name: str):
        return gadgets.create(namespace="default", body={"apiVersion": f"{group}/v1", "kind": "Gadget",
                                                          "metadata": {"name": name}, "spec": {"size": 1}})

    def stored_gadgets() -> set[str]:
        return {str(u) for (u,) in query(database_url, 'SELECT uid FROM k8s_custom_resources WHERE "group" = %s',
                                         (group,))}

    kept = gadget("kept")
    key = f"k8s_custom_resources:gadgets.{group}"
    # Selecting the CRDs watches their instances too, as the scheduled sync lists them.
    watcher = watcher_for(real_kube, tmp_path, pool, "customresourcedefinitions")
    (cluster,) = watcher.start()
    try:
        assert key in cluster.watches
        wait_for("the gadgets watched", lambda: watching(database_url, {key}))
        gone = gadget("gone")
        wait_for("the gadget made while watching, stored", lambda: gone.metadata.uid in stored_gadgets())
    finally:
        watcher.stop()
    # Deleted while no watch ran, then the watch's resourceVersion compacted away: the next start
    # gets a 410 and lists the gadgets again; the one the listing lacks is deleted, on record.
    gadgets.delete(namespace="default", name="gone")
    real_kube.compact()
    real_kube.restart_apiserver()
    watcher = watcher_for(real_kube, tmp_path, pool, "customresourcedefinitions")
    (cluster,) = watcher.start()
    try:
        watch = cluster.watches[key]
        wait_for("the expired watch listed again", lambda: watch.listings == 1 and watch.status == "watching")
        assert watch.expired == 1
        assert stored_gadgets() == {kept.metadata.uid}
        assert query(database_url, "SELECT ended FROM k8s_custom_resources_history WHERE uid = %s",
                     (gone.metadata.uid,)) == [("deleted",)]
        assert overlapping_versions(database_url, "k8s_custom_resources") == []
    finally:
        watcher.stop()


def test_the_database_restarted_mid_watch_loses_nothing(real_kube: RealKubeServer, tmp_path, restartable_postgres):
    if real_kube.version != CURRENT:
        pytest.skip("one server suffices: the database's restart does not depend on the server")
    url = restartable_postgres.url
    core = k8s_client.CoreV1Api(real_kube.api_client())
    suffix = uuid.uuid4().hex[:6]
    with database.open_pool(url, max_size=8) as own_pool:
        watcher = watcher_for(real_kube, tmp_path, own_pool, "configmaps")
        (cluster,) = watcher.start()
        watch = cluster.watches["k8s_configmaps"]
        try:
            wait_for("configmaps watched", lambda: watching(url, {"k8s_configmaps"}))
            before = [core.create_namespaced_config_map("default", {"metadata": {"name": f"db-before-{i}-{suffix}"}})
                      for i in range(2)]
            wait_for("the configmaps made before, stored", lambda: stored_equals_listed(url, real_kube, cluster,
                                                                                       "k8s_configmaps"))
            restartable_postgres.crash()
            # Changed while the database is down: a new object in two versions, a deletion, a patch.
            made = core.create_namespaced_config_map("default", {"metadata": {"name": f"db-during-{suffix}"}})
            patched = core.patch_namespaced_config_map(made.metadata.name, "default",
                                                       {"metadata": {"labels": {"step": "patched"}}})
            core.delete_namespaced_config_map(before[0].metadata.name, "default")
            last = core.patch_namespaced_config_map(before[1].metadata.name, "default",
                                                    {"metadata": {"labels": {"step": "patched"}}})
            # The watcher has every event and could not apply them: the applier holds a batch.
            wait_for("the events received and a batch waiting for the database", lambda: watch.retry_batch is not None
                     and last.metadata.resource_version in (watch.pending.resource_version,
                                                            watch.retry_batch.resource_version))
            restartable_postgres.start()
            wait_for("the server's configmaps, stored", lambda: stored_equals_listed(url, real_kube, cluster,
                                                                                    "k8s_configmaps"))
            wait_for("the deletion on record", lambda: query(
                url, "SELECT ended FROM k8s_configmaps_history WHERE uid = %s", (before[0].metadata.uid,)))
            assert query(url, "SELECT ended FROM k8s_configmaps_history WHERE uid = %s",
                         (before[0].metadata.uid,)) == [("deleted",)]
            # Every version made while the database was down is on record, in order.
            assert [v[1] for v in versions_of(url, "k8s_configmaps", made.metadata.uid)] == [
                made.metadata.resource_version, patched.metadata.resource_version]
            assert [v[1] for v in versions_of(url, "k8s_configmaps", before[1].metadata.uid)] == [
                before[1].metadata.resource_version, last.metadata.resource_version]
            assert overlapping_versions(url, "k8s_configmaps") == []
            assert watch.listings == 1 and watch.expired == 0  # resumed, never listed again
        finally:
            watcher.stop()
