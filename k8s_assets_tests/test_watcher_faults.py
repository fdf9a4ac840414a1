"""``k8s-assets watch`` against the simulator: the faults a real server cannot show cheaply.

Churn of a counted, seeded number of changes; a compaction past a watch that fell behind (410);
connections dropped mid-stream; a database that stalls (back-pressure); hostile objects in
events; a server with the WatchList gate off; custom resources; the command itself, stopped by
SIGTERM and restarted; and ``store.watched.apply_batch`` on its own. Every test runs against a
real PostgreSQL; the simulator serves watches real clients accept (test_simulator_watch.py
compares its shapes with real kube-apiservers').

No verdict depends on elapsed time: every wait is for a condition (rows stored, a counter
moved, a fault fired), with a generous deadline that only stops a broken test hanging.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import uuid
from collections import Counter
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import orjson
import psycopg
import pytest

from k8s_assets.catalog import KINDS
from k8s_assets.kube.config import load_settings
from k8s_assets.kube.watch import WatchEvent
from k8s_assets.simulator import Fault, SimulatedCluster, Simulator
from k8s_assets.store import database
from k8s_assets.store.copy import MAX_REJECTED
from k8s_assets.store.database import sql_text
from k8s_assets.store.watched import apply_batch
from k8s_assets.watcher import PendingEvents, Watcher, WatchOptions
from k8s_assets_tests.pipeline import query, wait_for

ROOT = Path(__file__).resolve().parents[1]
DEADLINE = 60.0  # seconds a wait may take on a loaded machine; never the verdict
PODS = next(k for k in KINDS if k.table == "k8s_pods")
FAST = WatchOptions(batch_seconds=0.05, report_seconds=0.2, heartbeat_seconds=0.2, retry_delay=0.05,
                    max_retry_delay=0.2, timeout_seconds=60)


@contextmanager
def watching(sim: Simulator, tmp_path: Path, pool, resources: str = "pods", options: WatchOptions = FAST,
             contexts: tuple[str, ...] | None = None, **environ: str):
    """A Watcher of the simulator's contexts, started; stopped on leaving."""
    kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig")
    settings = load_settings({"KUBECONFIG": str(kubeconfig), "K8S_ASSETS_RESOURCES": resources, **environ})
    watcher = Watcher(settings, list(contexts or (c.context_name for c in sim)), pool.connection, options)
    started = watcher.start()
    try:
        assert not watcher.failed, watcher.failed
        yield {cluster.name: cluster for cluster in started}
    finally:
        watcher.stop()


def served(cluster: SimulatedCluster, resource: str = "pods") -> set[tuple[str, str]]:
    return {(o["metadata"]["uid"], o["metadata"]["resourceVersion"]) for o in cluster.list(resource)}


def stored(url: str, table: str = "k8s_pods", where: str = "TRUE") -> set[tuple[str, str]]:
    return {(str(uid), rv) for uid, rv in query(url, f"SELECT uid, resource_version FROM {table} WHERE {where}")}


def converged(url: str, cluster: SimulatedCluster, resource: str = "pods", table: str = "k8s_pods") -> bool:
    return stored(url, table) == served(cluster, resource)


def is_watching(url: str, kind: str) -> bool:
    return bool(query(url, "SELECT 1 FROM k8s_watch_state WHERE kind = %s AND status = 'watching' "
                           "AND resource_version IS NOT NULL", (kind,)))


def versions(url: str, table: str = "k8s_pods") -> list[tuple]:
    """(uid, resource_version, valid_from, valid_to, ended) of every version on record, ended and
    current (valid_to and ended None), per object oldest first."""
    return query(url, f"""
        SELECT uid::text, resource_version, valid_from, valid_to, ended FROM {table}_history
        UNION ALL SELECT uid::text, resource_version, valid_from, NULL, NULL FROM {table}
        ORDER BY 1, 3, 4 NULLS LAST""")


def assert_history_sound(url: str, table: str = "k8s_pods") -> list[tuple]:
    """Each version once; each ended one ends after it began; an object's versions follow each other
    without a gap or an overlap, the current one last (so no object has two open versions)."""
    found = versions(url, table)
    keys = Counter((uid, rv) for uid, rv, *_ in found)
    assert [k for k, n in keys.items() if n > 1] == [], "a version on record twice"
    assert [v for v in found if v[3] is not None and not v[2] < v[3]] == [], "valid_from < valid_to"
    by_uid: dict[str, list[tuple]] = {}
    for version in found:
        by_uid.setdefault(version[0], []).append(version)
    for uid, chain in by_uid.items():
        for earlier, later in zip(chain, chain[1:]):
            assert earlier[3] is not None and earlier[4] == "updated", (uid, chain)
            assert earlier[3] == later[2], ("a version ends when the next begins", uid, chain)
    return found


def assert_churn_on_record(found: list[tuple], before: set[tuple[str, str]], records) -> None:
    """Every version the churn made (and every one stored before it) is on record; every object it
    deleted ended 'deleted', with no current row."""
    made = {(r.uid, str(r.resource_version)) for r in records if r.type != "DELETED"}
    on_record = {(uid, rv) for uid, rv, *_ in found}
    assert made - on_record == set(), "a version the churn made is missing"
    assert on_record == before | made, "a version on record that neither the listing nor the churn made"
    last = {}
    for uid, _, _, valid_to, ended in found:
        last[uid] = (valid_to, ended)
    deleted = {r.uid for r in records if r.type == "DELETED"}
    assert {uid: last[uid][1] for uid in deleted} == {uid: "deleted" for uid in deleted}


def cluster_uid_of(url: str) -> str:
    ((uid,),) = query(url, "SELECT cluster_uid::text FROM k8s_clusters")
    return uid


def pod_requests(cluster: SimulatedCluster) -> list:
    return [r for r in cluster.requests if r.path == "/api/v1/pods"]


# -- 1. churn ---------------------------------------------------------------------------------


def test_a_counted_churn_converges_with_every_version_on_record(fresh_simulator, tmp_path, pool, database_url):
    sim = fresh_simulator()
    cluster = sim["one"]
    with watching(sim, tmp_path, pool):
        wait_for("pods listed and watched", lambda: is_watching(database_url, "k8s_pods")
                 and converged(database_url, cluster))
        before = stored(database_url)
        churn = cluster.churn(1, resource="pods", seed=7)
        records = []
        for _ in range(12):  # 600 changes in steps the watcher reads while the next are made
            records += churn.make(50)
        assert {r.type for r in records} == {"ADDED", "MODIFIED", "DELETED"}
        wait_for("the churn's end state stored", lambda: converged(database_url, cluster))
    found = assert_history_sound(database_url)
    assert_churn_on_record(found, before, records)


# -- 2. 410 -----------------------------------------------------------------------------------


def test_a_compaction_past_a_watch_that_fell_behind_relists_the_kind_and_resumes(fresh_simulator, tmp_path, pool,
                                                                                 database_url):
    sim = fresh_simulator()
    cluster = sim["one"]
    with watching(sim, tmp_path, pool) as clusters:
        watch = clusters["one"].watches["k8s_pods"]
        wait_for("pods watched", lambda: is_watching(database_url, "k8s_pods") and converged(database_url, cluster))
        # The watch falls behind: its connection drops and the server answers 500 until the fault goes.
        broken = cluster.inject(Fault("internal_error", resource="pods"))
        cluster.drop_connections()
        wait_for("the watch retrying against the failing server", lambda: broken.fired >= 2)
        pods = cluster.list("pods")
        gone = [cluster.delete("pods", p["metadata"]["name"], p["metadata"]["namespace"]) for p in pods[:3]]
        changed = cluster.modify("pods", pods[3]["metadata"]["name"], pods[3]["metadata"]["namespace"],
                                 lambda o: o["metadata"].setdefault("labels", {}).update(gap="yes"))
        cluster.compact()  # the watch's resourceVersion is gone from the server's window
        cluster.clear_faults()
        wait_for("the expired watch listed again", lambda: watch.expired >= 1 and watch.listings == 2
                 and watch.status == "watching")
        wait_for("the server's pods stored", lambda: converged(database_url, cluster))
        # It resumed from the listing: a change after it is applied.
        after = cluster.modify("pods", pods[4]["metadata"]["name"], pods[4]["metadata"]["namespace"],
                               lambda o: o["metadata"].setdefault("labels", {}).update(after="yes"))
        wait_for("a change after the relisting", lambda: converged(database_url, cluster))
        assert watch.listings == 2
    found = assert_history_sound(database_url)
    last = {uid: (rv, ended) for uid, rv, _, _, ended in found}
    for pod in gone:
        uid = pod["metadata"]["uid"]
        assert last[uid][1] == "deleted", "deleted during the gap: ended by the relisting"
    assert last[changed["metadata"]["uid"]] == (changed["metadata"]["resourceVersion"], None)
    assert last[after["metadata"]["uid"]] == (after["metadata"]["resourceVersion"], None)


# -- 3. dropped connections ---------------------------------------------------------------------


def test_connections_dropped_mid_stream_resume_without_loss_or_duplicates(fresh_simulator, tmp_path, pool,
                                                                          database_url):
    sim = fresh_simulator()
    cluster = sim["one"]
    with watching(sim, tmp_path, pool) as clusters:
        watch = clusters["one"].watches["k8s_pods"]
        wait_for("pods watched", lambda: is_watching(database_url, "k8s_pods") and converged(database_url, cluster))
        before = stored(database_url)
        with cluster.churn(300, resource="pods", seed=3) as churn:
            for drop in range(1, 4):
                assert churn.wait_for(100 * drop)
                resumed = watch.resumed
                cluster.drop_connections()
                wait_for("the watch resumed after the drop", lambda: watch.resumed > resumed)
            assert churn.wait_for(400)
        records = churn.records()
        wait_for("the churn's end state stored", lambda: converged(database_url, cluster))
        assert watch.listings == 1 and watch.expired == 0, "resumed from its resourceVersion, never relisted"
        assert watch.resumed >= 3
    found = assert_history_sound(database_url)
    assert_churn_on_record(found, before, records)


# -- 4. back-pressure -----------------------------------------------------------------------------


def test_a_stalled_database_stops_the_reader_at_max_pending_events_and_then_converges(fresh_simulator, tmp_path,
                                                                                        pool, database_url):
    sim = fresh_simulator()
    cluster = sim["one"]
    options = replace(FAST, max_pending_events=25, batch_events=10)
    with watching(sim, tmp_path, pool, options=options) as clusters:
        watch = clusters["one"].watches["k8s_pods"]
        wait_for("pods watched", lambda: is_watching(database_url, "k8s_pods") and converged(database_url, cluster))
        before = stored(database_url)
        churn = cluster.churn(1, resource="pods", seed=5)
        with psycopg.connect(database_url) as blocker:
            # The lock every batch and merge of the kind takes first: the database stalls for the watcher.
            blocker.execute(sql_text("merge/lock.sql"), {"table": "k8s_pods", "cluster_uid": cluster_uid_of(
                database_url)})
            records = churn.make(200)
            wait_for("the reader stopped at a full buffer", lambda: len(watch.pending) >= options.max_pending_events)
            wait_for("a batch waiting for the lock", lambda: query(
                database_url, "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"))
            records += churn.make(200)  # the churn goes on; the watcher reads no further
            assert len(watch.pending) == options.max_pending_events
            blocker.rollback()
        wait_for("everything applied after the release", lambda: converged(database_url, cluster))
        assert watch.pending.peak == options.max_pending_events, "the bound held, and was reached"
    found = assert_history_sound(database_url)
    assert_churn_on_record(found, before, records)


# -- 5. hostile objects ----------------------------------------------------------------------------


def test_hostile_objects_in_events_never_block_their_kind_and_are_set_aside_as_a_listing_would(
        fresh_simulator, tmp_path, pool, database_url):
    sim = fresh_simulator()
    cluster = sim["one"]
    template = cluster.list("pods")[0]
    namespace = template["metadata"]["namespace"]

    def pod_like(name: str, mutate) -> dict:
        new = orjson.loads(orjson.dumps(template))
        new["metadata"] = {"name": name, "namespace": namespace,
                           "annotations": {"note": "nul\u0000inside", "big": "b" * 200_000, "emoji": "🚀 déploiement"}}
        mutate(new)
        return cluster.create("pods", new)

    # Paged lists on a relisting, so the comparison below is with the listing path proper.
    with watching(sim, tmp_path, pool, options=replace(FAST, streaming_list=False)) as clusters:
        watch = clusters["one"].watches["k8s_pods"]
        wait_for("pods watched", lambda: is_watching(database_url, "k8s_pods") and converged(database_url, cluster))
        nul = pod_like("nul", lambda p: p["spec"]["containers"][0].update(args=["--x=\u0000"]))
        too_big = pod_like("too-big", lambda p: p["status"].setdefault("containerStatuses", [{}])[0].update(
            restartCount=2 ** 40))
        # Numbers where strings belong: in a label and a node name (stored, those columns as they
        # can be read), in the creation time (the common columns cannot be read: set aside).
        odd = pod_like("odd-types", lambda p: (p["metadata"].update(labels={"tier": 5}),
                                               p["spec"].update(nodeName=42)))
        numbers = pod_like("numbers", lambda p: p["metadata"].update(creationTimestamp=17))
        plain = cluster.create("pods", {**template, "metadata": {"name": "after", "namespace": namespace}})
        wait_for("the pod made after the hostile ones", lambda: query(
            database_url, "SELECT 1 FROM k8s_pods WHERE uid = %s", (plain["metadata"]["uid"],)))
        not_stored = {(p["metadata"]["uid"], p["metadata"]["resourceVersion"]) for p in (too_big, numbers)}
        assert stored(database_url) == served(cluster) - not_stored
        ((replaced, note, args, big, emoji),) = query(
            database_url, "SELECT nul_replaced, annotations->>'note', raw->'spec'->'containers'->0->'args'->>0, "
                          "length(annotations->>'big'), annotations->>'emoji' FROM k8s_pods WHERE uid = %s",
            (nul["metadata"]["uid"],))
        assert (replaced, note, args, big, emoji) == (True, "nul\ufffdinside", "--x=\ufffd", 200_000, "🚀 déploiement")
        assert query(database_url, "SELECT labels->>'tier', raw->'spec'->>'nodeName' FROM k8s_pods WHERE uid = %s",
                     (odd["metadata"]["uid"],)) == [("5", "42")]
        rejected_by_watch = rejections(database_url)
        assert [(name, rv) for name, rv, _ in rejected_by_watch] == [
            ("numbers", numbers["metadata"]["resourceVersion"]), ("too-big", too_big["metadata"]["resourceVersion"])]
        assert "creationTimestamp is a number" in rejected_by_watch[0][2] and "out of range" in rejected_by_watch[1][2]

        # A listing of the same objects (the watch expires: paged lists, the sync's path) records
        # the same rejections, and stores the same rows.
        cluster.inject(Fault("expired", resource="pods", times=1))
        cluster.drop_connections()
        wait_for("relisted", lambda: watch.listings == 2 and watch.status == "watching")
        assert rejections(database_url) == rejected_by_watch
        assert stored(database_url) == served(cluster) - not_stored

        # Fixed by their next versions: stored, and no longer on record as rejected (as after a listing).
        for name in ("too-big", "numbers"):
            cluster.modify("pods", name, namespace, lambda o: (
                o["metadata"].update(creationTimestamp="2026-01-01T00:00:00Z"),
                o["status"]["containerStatuses"][0].update(restartCount=1)) and None)
        wait_for("the fixed pods stored", lambda: converged(database_url, cluster))
        assert rejections(database_url) == []


def rejections(url: str) -> list[tuple]:
    return query(url, "SELECT name, resource_version, error FROM k8s_rejected_objects WHERE kind = 'k8s_pods' "
                      "ORDER BY name")


# -- 6. streaming lists, or lists then watches --------------------------------------------------------


def test_without_the_watch_list_gate_pods_are_listed_in_pages_then_watched(fresh_simulator, tmp_path, pool,
                                                                         database_url):
    sim = fresh_simulator(clusters=("gate-off", "gate-on"))
    sim["gate-off"].watch_list = False
    page_size = 7
    pages = math.ceil(len(sim["gate-off"].list("pods")) / page_size)
    assert pages >= 2
    with watching(sim, tmp_path, pool, K8S_ASSETS_PAGE_SIZE=str(page_size)) as clusters:
        for name in ("gate-off", "gate-on"):
            watch = clusters[name].watches["k8s_pods"]
            wait_for(f"{name}: pods watched", lambda: watch.status == "watching" and watch.listings == 1)
        for name, cluster in sim.clusters.items():
            wait_for(f"{name}: pods stored", lambda: served(cluster) <= stored(database_url))
        assert stored(database_url) == served(sim["gate-off"]) | served(sim["gate-on"])
        assert (clusters["gate-off"].streaming_list, clusters["gate-on"].streaming_list) == (False, True)
        for name, cluster in sim.clusters.items():
            cluster.create("pods", {**cluster.list("pods")[0], "metadata": {
                "name": "later", "namespace": cluster.list("pods")[0]["metadata"]["namespace"]}})
        for name, cluster in sim.clusters.items():
            wait_for(f"{name}: a pod made after the listing", lambda: served(cluster) <= stored(database_url))

    off = [(r.query.get("watch"), r.query.get("sendInitialEvents"), r.query.get("continue") is not None,
            r.query.get("resourceVersion"), r.status) for r in pod_requests(sim["gate-off"])]
    listed = [r for r in off if r[0] is None]
    assert off[0] == ("1", "true", False, None, 422), "asked for a streaming list first, refused"
    assert [r[2] for r in listed] == [False] + [True] * (pages - 1) and {r[4] for r in listed} == {200}
    watched = [r for r in off[1:] if r[0] is not None]
    assert watched and all(r[1] is None and r[3] and r[4] == 200 for r in watched), "then watched from the list"
    on = [(r.query.get("watch"), r.query.get("sendInitialEvents"), r.status) for r in pod_requests(sim["gate-on"])]
    assert on[0] == ("1", "true", 200), "the streaming list, then its watch, in one request"
    assert all(w == "1" and not initial for w, initial, _ in on[1:]), "no list, no second initial state"


# -- 7. custom resources --------------------------------------------------------------------------


def test_a_custom_resource_is_watched_through_its_life(fresh_simulator, tmp_path, pool, database_url):
    sim = fresh_simulator()
    cluster = sim["one"]
    resource = "widgets.example.com"
    template = cluster.list(resource)[0]
    where = "plural = 'widgets' AND \"group\" = 'example.com'"
    with watching(sim, tmp_path, pool, resources="customresourcedefinitions") as clusters:
        key = f"k8s_custom_resources:{resource}"
        assert key in clusters["one"].watches
        wait_for("widgets watched", lambda: is_watching(database_url, key)
                 and stored(database_url, "k8s_custom_resources", where) == served(cluster, resource))
        made = cluster.create(resource, {**template, "metadata": {
            "name": "watched", "namespace": template["metadata"].get("namespace")}, "spec": {"size": 1}})
        changed = cluster.modify(resource, "watched", template["metadata"].get("namespace"),
                                 lambda o: o["spec"].update(size=2))
        wait_for("the widget's change stored", lambda: (made["metadata"]["uid"], changed["metadata"][
            "resourceVersion"]) in stored(database_url, "k8s_custom_resources", where))
        cluster.delete(resource, "watched", template["metadata"].get("namespace"))
        wait_for("the widget's deletion", lambda: stored(database_url, "k8s_custom_resources", where)
                 == served(cluster, resource))
    uid = made["metadata"]["uid"]
    history = query(database_url, "SELECT resource_version, spec, ended FROM k8s_custom_resources_history "
                                  "WHERE uid = %s ORDER BY valid_from", (uid,))
    assert history == [(made["metadata"]["resourceVersion"], {"size": 1}, "updated"),
                       (changed["metadata"]["resourceVersion"], {"size": 2}, "deleted")]
    assert_history_sound(database_url, "k8s_custom_resources")


# -- 8. stopped and started again ---------------------------------------------------------------------


def test_a_restarted_watcher_is_recorded_watching_before_any_event(fresh_simulator, tmp_path, pool, database_url):
    sim = fresh_simulator()
    cluster = sim["one"]
    quiet = replace(FAST, heartbeat_seconds=3600.0)  # no heartbeat writes the state meanwhile

    def state() -> tuple:
        return query(database_url, "SELECT status, resource_version, events_applied FROM k8s_watch_state "
                                   "WHERE kind = 'k8s_pods'")[0]

    with watching(sim, tmp_path, pool, options=quiet):
        wait_for("pods watched", lambda: is_watching(database_url, "k8s_pods") and converged(database_url, cluster))
    stopped = state()
    assert stopped[0] == "stopped"
    cluster.clear_requests()
    with watching(sim, tmp_path, pool, options=quiet) as clusters:
        wait_for("recorded as watching again", lambda: state()[0] == "watching")
        assert state()[1:] == stopped[1:], "from where it stopped, with no event applied yet"
        assert clusters["one"].watches["k8s_pods"].listings == 0
    assert [r.query.get("resourceVersion") for r in pod_requests(cluster)] == [stopped[1]]


# -- 9. the command -----------------------------------------------------------------------------


def test_the_watch_command_stops_on_sigterm_and_resumes_without_a_listing(fresh_simulator, tmp_path, database_url):
    sim = fresh_simulator()
    cluster = sim["one"]
    kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig")
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "K8S_ASSETS_CONFIG")}
    env.update(KUBECONFIG=str(kubeconfig), K8S_ASSETS_DATABASE_URL=database_url, K8S_ASSETS_RESOURCES="pods",
               K8S_ASSETS_HOME=str(tmp_path / "home"),
               PYTHONPATH=os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])]))
    command = [sys.executable, "-m", "k8s_assets", "watch", "--context", "one", "--batch-seconds", "0.05"]
    template = cluster.list("pods")[0]

    def new_pod(name: str) -> dict:
        return cluster.create("pods", {**template, "metadata": {"name": name,
                                                                "namespace": template["metadata"]["namespace"]}})

    def state() -> list[tuple]:
        return query(database_url, "SELECT status, resource_version FROM k8s_watch_state WHERE kind = 'k8s_pods'")

    def run_until_applied(pod_name: str) -> tuple[str, list]:
        before = state()
        process = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True)
        try:
            wait_for("the command watching", lambda: state() != before and state()[0][0] == "watching"
                     or process.poll() is not None)
            assert process.poll() is None, process.communicate()
            pod = new_pod(pod_name)
            wait_for("the pod made while it watched", lambda: query(
                database_url, "SELECT 1 FROM k8s_pods WHERE uid = %s", (pod["metadata"]["uid"],)))
            requests = pod_requests(cluster)
            process.send_signal(signal.SIGTERM)
            out, err = process.communicate(timeout=DEADLINE)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
        assert process.returncode == 0, (out, err)
        return out, requests

    out, _ = run_until_applied("while-watching")
    assert "watching one: 1 kinds" in out and "stopped: every event received was applied" in out
    ((status, stopped_at),) = state()
    assert status == "stopped" and stopped_at
    assert converged(database_url, cluster)

    made_while_stopped = new_pod("while-stopped")
    cluster.clear_requests()
    out, requests = run_until_applied("after-restart")
    assert query(database_url, "SELECT 1 FROM k8s_pods WHERE uid = %s", (made_while_stopped["metadata"]["uid"],))
    assert [(r.query.get("watch"), r.query.get("resourceVersion"), r.query.get("sendInitialEvents"))
            for r in requests] == [("1", stopped_at, None)], "resumed where it stopped: no listing"
    assert state()[0][0] == "stopped"
    assert converged(database_url, cluster)


# -- 10. apply_batch ----------------------------------------------------------------------------


def pod(uid: str, rv: int, step: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"pod-{uid[:8]}", "namespace": "default", "uid": uid, "resourceVersion": str(rv),
                         "creationTimestamp": "2026-01-01T00:00:00Z", "labels": {"step": step}},
            "spec": {"containers": [{"name": "web", "image": "registry.example.com/web:1"}]},
            "status": {"phase": "Running"}}


def batch_of(cluster_uid: str, events: list[tuple[str, dict, dt.datetime]]):
    pending = PendingEvents(PODS, cluster_uid, "ctx", WatchOptions(), threading.Condition())
    for type_, obj, arrived_at in events:
        metadata = obj["metadata"]
        pending.add(WatchEvent(type_, orjson.dumps(obj), metadata["uid"], metadata["resourceVersion"], arrived_at,
                               name=metadata["name"], namespace=metadata["namespace"]), threading.Event())
    return pending.take("k8s_pods")


@pytest.fixture
def cluster_uid(database_url) -> str:
    import pandas as pd

    from k8s_assets.kube.cluster import CLUSTER_COLUMNS, identity_from
    from k8s_assets.store.clusters import write_cluster

    identity = identity_from(str(uuid.uuid4()), "https://127.0.0.1:6443")
    row = {"cluster_uid": identity.cluster_uid, "context_name": "ctx", "cluster_name": "c", "server": "https://x",
           "kubernetes_version": "v1.30.0", "kube_system_uid": identity.kube_system_uid,
           "identity_source": identity.source, "last_synced_at": dt.datetime.now(dt.UTC)}
    write_cluster(lambda: database.connect(database_url),
                  pd.DataFrame([row], columns=list(CLUSTER_COLUMNS), dtype=object))
    return identity.cluster_uid


def test_apply_batch_writes_every_version_of_one_object_in_order_and_skips_outdated_events(cluster_uid,
                                                                                          database_url):
    def connect():
        return database.connect(database_url)

    t0 = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=10)  # within the partitions
    at = [t0 + dt.timedelta(seconds=s) for s in range(6)]
    short_lived, kept = str(uuid.uuid4()), str(uuid.uuid4())
    applied = apply_batch(connect, batch_of(cluster_uid, [
        ("ADDED", pod(short_lived, 10, "created"), at[0]),
        ("ADDED", pod(kept, 11, "created"), at[0]),
        ("MODIFIED", pod(short_lived, 12, "first"), at[1]),
        ("MODIFIED", pod(short_lived, 13, "second"), at[2]),
        ("DELETED", pod(short_lived, 14, "second"), at[3]),
    ]))
    assert (applied.events, applied.inserted, applied.updated, applied.deleted, applied.outdated) == (5, 2, 2, 1, 0)
    history = query(database_url, "SELECT resource_version, labels->>'step', valid_from, valid_to, ended "
                                  "FROM k8s_pods_history WHERE uid = %s ORDER BY valid_from", (short_lived,))
    assert history == [("10", "created", at[0], at[1], "updated"), ("12", "first", at[1], at[2], "updated"),
                       ("13", "second", at[2], at[3], "deleted")]
    assert query(database_url, "SELECT 1 FROM k8s_pods WHERE uid = %s", (short_lived,)) == []

    # Older than the stored row (the sync wrote a newer version meanwhile): nothing changes.
    apply_batch(connect, batch_of(cluster_uid, [("MODIFIED", pod(kept, 20, "synced"), at[4])]))
    stale = apply_batch(connect, batch_of(cluster_uid, [("MODIFIED", pod(kept, 15, "stale"), at[5]),
                                                        ("DELETED", pod(kept, 16, "stale"), at[5])]))
    assert (stale.events, stale.inserted, stale.updated, stale.deleted, stale.outdated) == (2, 0, 0, 0, 2)
    assert query(database_url, "SELECT resource_version, labels->>'step', valid_from FROM k8s_pods WHERE uid = %s",
                 (kept,)) == [("20", "synced", at[4])]
    assert query(database_url, "SELECT resource_version, ended FROM k8s_pods_history WHERE uid = %s",
                 (kept,)) == [("11", "updated")]
    assert_history_sound(database_url)


def test_apply_batch_sets_aside_every_refused_object_however_many_and_stores_the_rest(cluster_uid, database_url):
    """A listing fails fast past MAX_REJECTED refused rows (a systematic error); a watch batch is
    tried again until applied, so a bound there would stop its kind for good: every refused
    object is recorded instead, and the others are stored."""
    at = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=5)
    refused = [pod(str(uuid.uuid4()), 100 + i, "refused") for i in range(MAX_REJECTED + 20)]
    for obj in refused:
        obj["status"]["containerStatuses"] = [{"name": "web", "restartCount": 2 ** 40}]  # out of integer's range
    fine = [pod(str(uuid.uuid4()), 500 + i, "fine") for i in range(3)]
    applied = apply_batch(lambda: database.connect(database_url),
                          batch_of(cluster_uid, [("ADDED", obj, at) for obj in [*refused, *fine]]))
    assert (applied.inserted, applied.rejected) == (len(fine), len(refused))
    assert {uid for (uid,) in query(database_url, "SELECT uid::text FROM k8s_pods")} == \
        {obj["metadata"]["uid"] for obj in fine}
    assert {uid for (uid,) in query(database_url, "SELECT uid::text FROM k8s_rejected_objects")} == \
        {obj["metadata"]["uid"] for obj in refused}


def test_a_context_that_cannot_be_reached_at_start_is_watched_once_it_can(fresh_simulator, tmp_path, pool,
                                                                          database_url):
    """The watcher of many clusters must not give up on one that was down when it started:
    ``Watcher.start`` tries again the contexts that failed (``run_watch`` calls it every
    ``start_retry_seconds``), and the others are not started twice."""
    sim = fresh_simulator(clusters=("one", "two"), size=3)
    kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig")
    reachable = kubeconfig.read_text()
    down = socket.socket()
    down.bind(("127.0.0.1", 0))  # a port nothing answers on (bound, never listening)
    two = sim["two"]
    kubeconfig.write_text(reachable.replace(two.server, f"https://127.0.0.1:{down.getsockname()[1]}"))
    settings = load_settings({"KUBECONFIG": str(kubeconfig), "K8S_ASSETS_RESOURCES": "pods"})
    watcher = Watcher(settings, ["one", "two"], pool.connection, FAST)
    try:
        assert [c.name for c in watcher.start()] == ["one"]
        assert set(watcher.failed) == {"two"}
        kubeconfig.write_text(reachable)  # the server is back (here: the kubeconfig points at it again)
        assert [c.name for c in watcher.start()] == ["two"] and not watcher.failed
        assert watcher.start() == [], "a started context is not started twice"
        wait_for("both clusters' pods watched", lambda: len(query(
            database_url, "SELECT 1 FROM k8s_watch_state WHERE kind = 'k8s_pods' AND status = 'watching'")) == 2)
        wait_for("cluster two's pods stored", lambda: stored(database_url, where="context_name = 'two'") == served(two))
    finally:
        watcher.stop()
        down.close()
