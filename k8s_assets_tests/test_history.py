"""History against a real PostgreSQL: version chains, as-of, changes, noise, retention, coverage.

The merge-level tests drive ``store.merge.merge`` the way the IO manager does; the pipeline
test runs the Dagster job against a simulated cluster whose objects are created, changed,
deleted and re-created between syncs.
"""

import copy
import datetime as dt
import uuid
from dataclasses import asdict

import dagster as dg
import psycopg
import pytest

from k8s_assets.catalog import KINDS_BY_TABLE
from k8s_assets.dagster_edge.resources import PostgresResource
from k8s_assets.kube.config import ConfigError, load_settings
from k8s_assets.simulator import Fault
from k8s_assets.store import retention
from k8s_assets.store.clusters import write_cluster
from k8s_assets.store.contract import KindListing
from k8s_assets.store.merge import merge as store_merge
from k8s_assets_tests.pipeline import cluster_uid_of, definitions, materialization_metadata, query, sync, wait_for
from k8s_assets_tests.test_io_manager import frame_of, pod

PODS = KINDS_BY_TABLE["k8s_pods"]
NODES = KINDS_BY_TABLE["k8s_nodes"]


@pytest.fixture
def postgres(database_url) -> PostgresResource:
    return PostgresResource(url=database_url)


@pytest.fixture
def cluster_uid(postgres) -> str:
    import pandas as pd

    from k8s_assets.kube.cluster import CLUSTER_COLUMNS, identity_from

    identity = identity_from(str(uuid.uuid4()), "https://127.0.0.1:6443")
    row = {"cluster_uid": identity.cluster_uid, "context_name": "ctx", "cluster_name": "c", "server": "https://x",
           "kubernetes_version": "v1.30.0", "kube_system_uid": identity.kube_system_uid,
           "identity_source": identity.source, "last_synced_at": dt.datetime.now(dt.UTC)}
    write_cluster(postgres.connect, pd.DataFrame([row], columns=list(CLUSTER_COLUMNS), dtype=object))
    return identity.cluster_uid


def with_uid(obj: dict, uid: str) -> dict:
    obj = copy.deepcopy(obj)
    obj["metadata"]["uid"] = uid
    return obj


def merge(postgres, kind, cluster_uid, objects, status: str = "complete") -> dict:
    """What the merge of a listing of ``objects`` did, as a dict."""
    listing = KindListing(kind, cluster_uid, "ctx", status, frame_of(kind, cluster_uid, objects))
    return asdict(store_merge(postgres.connect, listing))


def moment(url: str) -> dt.datetime:
    """A database timestamp strictly between the merges before and after it."""
    (now,) = query(url, "SELECT clock_timestamp()")[0]
    return now


def as_of(url: str, ts, namespace: str = "default") -> dict[str, tuple]:
    return {name: (str(uid), rv) for name, uid, rv in
            query(url, "SELECT name, uid, resource_version FROM k8s_pods_as_of(%s) WHERE namespace = %s",
                  (ts, namespace))}


def all_versions(url: str, table: str, columns: str, where: str, params: tuple = ()) -> list[tuple]:
    """Every version of the objects ``where`` selects, oldest first: the ended ones (in the
    history) and the open one (the current row, its valid_to and ended NULL)."""
    rows = query(url, f"SELECT {columns}, valid_from AS version_began FROM (SELECT t.*, NULL::timestamptz AS "
                      f"valid_to, NULL::text AS ended FROM {table} t) c WHERE {where} UNION ALL "
                      f"SELECT {columns}, valid_from FROM {table}_history WHERE {where} ORDER BY version_began",
                 params * 2)
    return [row[:-1] for row in rows]


def versions(url: str, uid: str) -> list[tuple]:
    return all_versions(url, "k8s_pods", "resource_version, began, ended, valid_to IS NULL", "uid = %s", (uid,))


def overlaps(url: str, kind, cluster_uid: str) -> int:
    """What the check history_matches_current finds: versions of one object valid at once."""
    from k8s_assets.dagster_edge.checks import versions_overlap

    with psycopg.connect(url) as conn:
        return len(conn.execute(versions_overlap(kind), {"cluster_uid": cluster_uid}).fetchall())


def test_every_version_is_kept_and_the_past_can_be_queried(postgres, cluster_uid, database_url):
    url = database_url
    keep = pod("keep", 1)
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    a1 = with_uid(pod("a", 10), first)
    a2 = copy.deepcopy(a1)
    a2["metadata"].update(resourceVersion="11", labels={"app": "a", "tier": "web"})
    a3 = copy.deepcopy(a2)
    a3["metadata"]["resourceVersion"] = "12"
    a3["spec"]["containers"][0]["image"] = "nginx:2"
    again = with_uid(pod("a", 20), second)  # the same name, a new object

    before = moment(url)
    assert merge(postgres, PODS, cluster_uid, [keep])["versions_opened"] == 1
    # A first sync writes each object once: the row is its open version, the history holds none.
    assert query(url, "SELECT count(*) FROM k8s_pods_history") == [(0,)]
    t0 = moment(url)
    counts = merge(postgres, PODS, cluster_uid, [keep, a1])
    assert (counts["versions_opened"], counts["versions_closed"]) == (1, 0)
    t1 = moment(url)
    keep_xmin = query(url, "SELECT xmin::text FROM k8s_pods WHERE name = 'keep'")
    merge(postgres, PODS, cluster_uid, [keep, a2])
    t2 = moment(url)
    counts = merge(postgres, PODS, cluster_uid, [keep, a3])
    assert (counts["versions_opened"], counts["versions_closed"], counts["updated"]) == (1, 1, 1)
    t3 = moment(url)
    counts = merge(postgres, PODS, cluster_uid, [keep])
    assert (counts["deleted"], counts["versions_closed"], counts["versions_opened"]) == (1, 1, 0)
    t4 = moment(url)
    merge(postgres, PODS, cluster_uid, [keep, again])

    # The chain of the first object, its deletion kept; the re-created object is another chain.
    assert versions(url, first) == [("10", "created", "updated", False), ("11", "updated", "updated", False),
                                     ("12", "updated", "deleted", False)]
    assert versions(url, second) == [("20", "created", None, True)]
    # An unchanged object costs nothing: one version, its row, never rewritten.
    assert query(url, "SELECT xmin::text FROM k8s_pods WHERE name = 'keep'") == keep_xmin
    assert versions(url, keep["metadata"]["uid"]) == [("1", "first_seen", None, True)]

    assert as_of(url, before) == {}
    assert as_of(url, t0) == {"keep": (keep["metadata"]["uid"], "1")}
    assert as_of(url, t1)["a"] == (first, "10")
    assert as_of(url, t2)["a"] == (first, "11")
    assert as_of(url, t3)["a"] == (first, "12")
    assert "a" not in as_of(url, t4)
    assert as_of(url, dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1))["a"] == (second, "20")
    # The as-of function has the current table's columns; now it equals the current table.
    assert query(url, "SELECT * FROM k8s_pods_as_of(now()) ORDER BY uid") == \
        query(url, "SELECT * FROM k8s_pods ORDER BY uid")
    generic = query(url, "SELECT name, resource_version FROM k8s_objects_as_of('k8s_pods', %s) ORDER BY name", (t2,))
    assert generic == [("a", "11"), ("keep", "1")]

    changes = query(url, "SELECT change, uid::text, old_resource_version, new_resource_version, changed_parts, kind "
                         "FROM k8s_changes WHERE name = 'a' ORDER BY changed_at, change")
    assert changes == [
        ("created", first, None, "10", None, "Pod"),
        ("updated", first, "10", "11", ["labels"], "Pod"),
        ("updated", first, "11", "12", ["spec"], "Pod"),
        ("deleted", first, "12", None, None, "Pod"),
        ("created", second, None, "20", None, "Pod"),
    ]
    assert query(url, "SELECT name, uid::text FROM k8s_deleted_last_day") == [("a", first)]
    assert overlaps(url, PODS, cluster_uid) == 0


def test_a_staged_merge_shows_nothing_until_finished_and_an_aborted_one_changes_nothing(postgres, cluster_uid,
                                                                                          database_url):
    """What ``sync_kind`` does with the pages it lists: each goes into the merge as it arrives."""
    from k8s_assets.kube.listing import empty_frame
    from k8s_assets.store.merge import StagedMerge

    url = database_url
    locks = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
    staged = StagedMerge(postgres.connect, PODS, cluster_uid, "ctx")
    staged.add(frame_of(PODS, cluster_uid, [pod("a", 1)]))
    staged.restart()  # a 410 relist: page one again
    staged.add(frame_of(PODS, cluster_uid, [pod("b", 1)]))
    staged.add(frame_of(PODS, cluster_uid, [pod("c", 1)]))
    assert query(url, "SELECT count(*) FROM k8s_pods") == [(0,)], "nothing is visible before the merge commits"
    assert query(url, locks) == [(1,)], "the kind's lock is held while the listing runs"
    result = staged.finish(KindListing(PODS, cluster_uid, "ctx", "complete", empty_frame(PODS), staged=staged))
    assert (result.inserted, result.stored) == (2, 2)
    assert {n for (n,) in query(url, "SELECT name FROM k8s_pods")} == {"b", "c"}
    assert query(url, "SELECT listed_count FROM k8s_sync_coverage WHERE kind = 'k8s_pods'") == [(2,)]

    # A re-sync whose listing fails after two pages: rolled back, lock and connection gone.
    rows = query(url, "SELECT uid, resource_version, xmin::text FROM k8s_pods ORDER BY uid")
    staged = StagedMerge(postgres.connect, PODS, cluster_uid, "ctx")
    staged.add(frame_of(PODS, cluster_uid, [pod("b", 2)]))
    staged.add(frame_of(PODS, cluster_uid, [pod("d", 1)]))
    staged.abort()
    staged.abort()  # idempotent: the step's safety net may call it again
    assert query(url, "SELECT uid, resource_version, xmin::text FROM k8s_pods ORDER BY uid") == rows
    assert query(url, locks) == [(0,)]
    assert query(url, "SELECT count(*) FROM k8s_pods_history") == [(0,)]


def test_a_chunk_is_written_while_the_listing_goes_on_and_its_error_comes_back(postgres, cluster_uid, database_url):
    """``add`` hands a chunk to the merge's writer thread and returns: here the chunk's COPY waits
    for a table lock another session holds, and the caller is not held up. The next ``add`` waits
    for it; a write that failed raises there, and nothing of the merge is left."""
    from k8s_assets.kube.listing import empty_frame
    from k8s_assets.store.copy import MAX_REJECTED, RefusedRows
    from k8s_assets.store.merge import StagedMerge
    from k8s_assets_tests.test_io_manager import refused

    url = database_url
    copy_waiting = ("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND query LIKE 'COPY %%k8s_pods%%'")
    # Were the COPY the caller's, add would wait for the lock and fail when lock_timeout ends it.
    separator = "&" if "?" in url else "?"
    waits_for_locks = PostgresResource(url=f"{url}{separator}options=-c%20lock_timeout%3D60000")
    staged = StagedMerge(waits_for_locks.connect, PODS, cluster_uid, "ctx")
    with psycopg.connect(url) as blocker:
        blocker.execute("LOCK TABLE k8s_pods IN SHARE MODE")  # the merge only reads it so far
        staged.add(frame_of(PODS, cluster_uid, [pod("a", 1)]))  # returns: the COPY is the writer's
        wait_for("the chunk's COPY waiting for the lock", lambda: query(url, copy_waiting) == [(1,)])
    result = staged.finish(KindListing(PODS, cluster_uid, "ctx", "complete", empty_frame(PODS), staged=staged))
    assert (result.inserted, result.stored) == (1, 1)

    rows = query(url, "SELECT uid, resource_version, xmin::text FROM k8s_pods ORDER BY uid")
    staged = StagedMerge(postgres.connect, PODS, cluster_uid, "ctx")
    staged.add(frame_of(PODS, cluster_uid, [refused(f"bad-{i}", i) for i in range(MAX_REJECTED + 1)]))
    with pytest.raises(RefusedRows, match="refused more than"):
        staged.add(frame_of(PODS, cluster_uid, [pod("b", 1)]))
    staged.abort()
    assert query(url, "SELECT uid, resource_version, xmin::text FROM k8s_pods ORDER BY uid") == rows
    assert query(url, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") == [(0,)]


def test_a_forbidden_listing_leaves_history_untouched_and_coverage_says_so(postgres, cluster_uid, database_url):
    url = database_url
    before = moment(url)
    merge(postgres, PODS, cluster_uid, [pod("a", 1), pod("b", 2)])
    complete_at = moment(url)
    stored = "SELECT uid, valid_from, xmin::text FROM k8s_pods ORDER BY uid"
    rows = query(url, stored)
    counts = merge(postgres, PODS, cluster_uid, [], status="forbidden")
    assert counts["versions_opened"] == counts["versions_closed"] == 0
    forbidden_at = moment(url)
    assert query(url, stored) == rows and query(url, "SELECT count(*) FROM k8s_pods_history") == [(0,)]

    def coverage(ts):
        return query(url, "SELECT status FROM k8s_coverage_as_of(%s) WHERE kind = 'k8s_pods'", (ts,))[0][0]

    assert (coverage(before), coverage(complete_at), coverage(forbidden_at)) == ("not_synced", "complete", "forbidden")
    # The rows are still there, as of then; the generic function says the listing was forbidden.
    with psycopg.connect(url) as conn:
        notices = []
        conn.add_notice_handler(lambda d: notices.append(d.message_primary))
        rows = conn.execute("SELECT name FROM k8s_objects_as_of('k8s_pods', %s) ORDER BY name",
                            (forbidden_at,)).fetchall()
    assert rows == [("a",), ("b",)] and any("forbidden" in n for n in notices)
    merge(postgres, PODS, cluster_uid, [pod("a", 1), pod("b", 2)])
    assert coverage(moment(url)) == "complete"
    assert query(url, "SELECT count(*) FROM k8s_sync_coverage_history WHERE kind = 'k8s_pods'") == [(3,)]


def node(name: str, rv: int, heartbeat: str, ready: str = "True") -> dict:
    return {
        "kind": "Node",
        "metadata": {"name": name, "uid": str(uuid.uuid5(uuid.NAMESPACE_OID, f"node/{name}")),
                     "resourceVersion": str(rv), "labels": {}},
        "spec": {},
        "status": {"conditions": [{"type": "Ready", "status": ready, "lastHeartbeatTime": heartbeat,
                                   "lastTransitionTime": "2026-01-01T00:00:00Z"}]},
    }


def test_node_heartbeats_keep_the_version_going_instead_of_making_versions(postgres, cluster_uid,
                                                                                  database_url):
    url = database_url
    merge(postgres, NODES, cluster_uid, [node("n1", 1, "2026-01-01T00:00:00Z")])
    counts = merge(postgres, NODES, cluster_uid, [node("n1", 2, "2026-01-01T00:05:00Z")])
    assert (counts["updated"], counts["versions_opened"], counts["versions_moved_forward"]) == (1, 0, 1)
    node_versions = "resource_version, raw #>> '{status,conditions,0,lastHeartbeatTime}', ready, began, ended"
    assert all_versions(url, "k8s_nodes", node_versions, "name = 'n1'") == \
        [("2", "2026-01-01T00:05:00Z", True, "first_seen", None)]
    counts = merge(postgres, NODES, cluster_uid, [node("n1", 3, "2026-01-01T00:10:00Z", ready="False")])
    assert (counts["versions_opened"], counts["versions_closed"], counts["versions_moved_forward"]) == (1, 1, 0)
    assert all_versions(url, "k8s_nodes", node_versions, "name = 'n1'") == \
        [("2", "2026-01-01T00:05:00Z", True, "first_seen", "updated"),
         ("3", "2026-01-01T00:10:00Z", False, "updated", None)]
    assert overlaps(url, NODES, cluster_uid) == 0


def days_ago(days: int) -> dt.datetime:
    return dt.datetime.now(dt.UTC) - dt.timedelta(days=days)


def test_retention_drops_whole_day_partitions_of_ended_versions_and_keeps_the_present(postgres, cluster_uid,
                                                                                      database_url):
    url = database_url
    merge(postgres, PODS, cluster_uid, [pod("old", 1), pod("recent", 1), pod("live", 1)])
    merge(postgres, PODS, cluster_uid, [pod("live", 1)])  # old and recent end today
    # Make their versions end 40 and 3 days ago: into day partitions of those days.
    with psycopg.connect(url) as conn:
        for days in (40, 3):
            conn.execute("SELECT k8s_assets_ensure_history_partitions('k8s_pods_history', "
                         "(%s AT TIME ZONE 'UTC')::date, 1)", (days_ago(days),))
        for name, days in (("old", 40), ("recent", 3)):
            conn.execute("UPDATE k8s_pods_history SET valid_from = %s - interval '1 hour', valid_to = %s "
                         "WHERE name = %s", (days_ago(days), days_ago(days), name))
    partitions = {p for (p,) in query(url, "SELECT partition_name FROM k8s_history_partitions "
                                           "WHERE history_table = 'k8s_pods_history'")}
    old_day = f"k8s_pods_history_{days_ago(40):%Y%m%d}"
    assert old_day in partitions

    dropped = retention.drop_expired_history(postgres.connect, 30)
    assert [d.partition_name for d in dropped if d.history_table == "k8s_pods_history"] == [old_day]
    assert query(url, "SELECT to_regclass(%s)", (old_day,)) == [(None,)]
    assert {n for (n,) in query(url, "SELECT name FROM k8s_pods_history")} == {"recent"}
    assert query(url, "SELECT name FROM k8s_pods") == [("live",)]
    # As of a moment before the horizon, the answer says what it no longer knows.
    assert query(url, "SELECT DISTINCT status FROM k8s_coverage_as_of(%s) WHERE kind = 'k8s_pods'",
                 (days_ago(45),)) == [("history_dropped",)]
    assert query(url, "SELECT name FROM k8s_pods_as_of(%s)", (days_ago(3) - dt.timedelta(minutes=30),)) == \
        [("recent",)]

    assert retention.drop_expired_history(postgres.connect, None) == []  # empty: keep everything
    retention.drop_expired_history(postgres.connect, 0)  # keep nothing that ended
    assert query(url, "SELECT name FROM k8s_pods_history") == []
    assert query(url, "SELECT name FROM k8s_pods") == [("live",)]
    assert overlaps(url, PODS, cluster_uid) == 0
    # The merge finds today's partition again (retention recreates the coming week's).
    merge(postgres, PODS, cluster_uid, [])
    assert query(url, "SELECT name, ended FROM k8s_pods_history") == [("live", "deleted")]


def test_history_days_setting():
    assert load_settings({}).history_days == 30
    assert load_settings({"K8S_ASSETS_HISTORY_DAYS": "0"}).history_days == 0
    assert load_settings({"K8S_ASSETS_HISTORY_DAYS": ""}).history_days is None
    assert load_settings({"K8S_ASSETS_HISTORY_DAYS": " 7 "}).history_days == 7
    for bad in ("-1", "week", "1.5"):
        with pytest.raises(ConfigError, match="K8S_ASSETS_HISTORY_DAYS"):
            load_settings({"K8S_ASSETS_HISTORY_DAYS": bad})


@pytest.fixture
def instance():
    with dg.DagsterInstance.ephemeral() as instance:
        yield instance


def test_history_across_syncs_of_a_simulated_cluster(fresh_simulator, tmp_path, database_url, instance):
    url = database_url
    sim = fresh_simulator(clusters=("one",))
    cluster = sim["one"]
    # The kinds this history is read from (seven syncs of every kind would prove nothing more).
    defs = definitions(sim.write_kubeconfig(tmp_path / "kubeconfig"), url,
                       resources_env={"K8S_ASSETS_RESOURCES": "namespaces,pods,deployments.apps"})
    assert sync(defs, instance, "one").success
    cluster_uid = cluster_uid_of(url, "one")
    first_sync = moment(url)
    target = cluster.list("deployments.apps")[0]
    name, namespace, uid = target["metadata"]["name"], target["metadata"]["namespace"], target["metadata"]["uid"]
    stamps = []
    for image in ("registry.example/app:2", "registry.example/app:3"):
        def roll(d, image=image):
            d["spec"]["template"]["spec"]["containers"][0]["image"] = image
        cluster.modify("deployments.apps", name, namespace, mutate=roll)
        result = sync(defs, instance, "one")
        assert result.success
        stamps.append(moment(url))
    metadata = materialization_metadata(result, "k8s_deployments")
    assert (metadata["versions_opened"], metadata["versions_closed"]) == (1, 1)
    assert metadata["history_rows_estimate"] >= 0

    cluster.delete("deployments.apps", name, namespace)
    assert sync(defs, instance, "one").success
    deleted_at = moment(url)
    recreated = copy.deepcopy(target)
    recreated["metadata"] = {"name": name, "namespace": namespace, "labels": target["metadata"].get("labels", {})}
    new_uid = cluster.create("deployments.apps", recreated)["metadata"]["uid"]
    # A forbidden listing in between changes no version.
    cluster.inject(Fault("forbidden", resource="deployments.apps"))
    every_version = "SELECT count(*), max(valid_from) FROM (SELECT valid_from FROM k8s_deployments " \
                    "UNION ALL SELECT valid_from FROM k8s_deployments_history) v"
    history = query(url, every_version)
    assert sync(defs, instance, "one").success
    assert query(url, every_version) == history
    cluster.clear_faults()
    assert sync(defs, instance, "one").success

    chain = all_versions(url, "k8s_deployments", "began, ended, images", "uid = %s", (uid,))
    assert [(b, e) for b, e, _ in chain] == [("first_seen", "updated"), ("updated", "updated"),
                                             ("updated", "deleted")]
    assert [i[0] for _, _, i in chain][1:] == ["registry.example/app:2", "registry.example/app:3"]
    assert all_versions(url, "k8s_deployments", "began, valid_to", "uid = %s", (new_uid,)) == [("created", None)]

    def images_at(ts):
        return query(url, "SELECT uid::text, images FROM k8s_deployments_as_of(%s) WHERE namespace = %s AND name = %s",
                     (ts, namespace, name))

    assert images_at(first_sync)[0][1] == chain[0][2]
    assert images_at(stamps[0]) == [(uid, ["registry.example/app:2"])]
    assert images_at(stamps[1]) == [(uid, ["registry.example/app:3"])]
    assert images_at(deleted_at) == []
    assert [u for u, _ in images_at(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1))] == [new_uid]
    assert query(url, "SELECT status FROM k8s_coverage_as_of(now()) WHERE kind = 'k8s_deployments'") == \
        [("complete",)]

    changes = query(url, "SELECT change, changed_parts FROM k8s_changes WHERE kind_table = 'k8s_deployments' "
                         "AND namespace = %s AND name = %s AND change <> 'first_seen' ORDER BY changed_at", (namespace, name))
    assert [c for c, _ in changes] == ["updated", "updated", "deleted", "created"]
    assert all("spec" in parts for _, parts in changes[:2])
    rollouts = query(url, "SELECT previous_images, images FROM k8s_image_rollouts WHERE cluster_uid = %s "
                          "AND workload_name = %s AND namespace = %s AND began = 'updated' ORDER BY rolled_out_at",
                     (cluster_uid, name, namespace))
    assert [r[1] for r in rollouts] == [["registry.example/app:2"], ["registry.example/app:3"]]
    (pods_today,) = query(url, "SELECT sum(pods) FROM k8s_namespace_pods_per_day "
                               "WHERE day = (now() AT TIME ZONE 'UTC')::date")[0]
    assert pods_today >= len(cluster.list("pods"))
    # The check that no object has two versions valid at once ran in every sync, and passed.
    evaluations = {e.asset_check_key.name: e.passed for e in
                   sync(defs, instance, "one").get_asset_check_evaluations()
                   if e.asset_check_key.asset_key == dg.AssetKey("k8s_deployments")}
    assert evaluations["history_matches_current"] is True
