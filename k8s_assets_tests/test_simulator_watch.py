"""Watches of the simulator (``GET <list path>?watch=1``) and its churn generator, read through the
official client's connection pool; and the same watches against real kube-apiservers, whose
shapes the simulator's must match.

No verdict depends on elapsed time: every wait is for a condition (an event seen, a stream
ended, a connection closed), with a generous deadline that only stops a broken test hanging.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest
from kubernetes import client, config

from k8s_assets.kube.listing import send_get
from k8s_assets.simulator import SimulatedCluster, Simulator
from k8s_assets_tests.fixtures_kube import CURRENT, OLDEST, RealKubeServer, binaries, real_server
from k8s_assets_tests.fixtures_postgres import skip_or_fail

DEADLINE = 60.0
NAMESPACE = "default"
CONFIGMAPS = f"/api/v1/namespaces/{NAMESPACE}/configmaps"
TOO_OLD = re.compile(r"too old resource version: (\d+) \((\d+)\)")
WATCH_LIST = {"sendInitialEvents": "true", "resourceVersionMatch": "NotOlderThan", "allowWatchBookmarks": "true"}


class Watch:
    """One watch request, read by a thread into ``events`` (parsed lines) until the stream ends."""

    def __init__(self, api: client.ApiClient, path: str, **query: str) -> None:
        self.query = {"watch": "1", **query}
        self.response = send_get(api, path, list(self.query.items()))
        self.status = self.response.status
        self.events: list[dict] = []
        self.body: dict | None = None
        self.ended = False
        self.broken: BaseException | None = None  # the stream ended without its terminating chunk
        self._changed = threading.Condition()
        if self.status != 200:
            self.body = orjson.loads(self.response.read())
            self.ended = True
            return
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        pending = b""
        try:
            for chunk in self.response.stream(None):
                *lines, pending = (pending + chunk).split(b"\n")
                parsed = [orjson.loads(line) for line in lines if line.strip()]
                with self._changed:
                    self.events.extend(parsed)
                    self._changed.notify_all()
        except Exception as error:  # noqa: BLE001 - any way the stream breaks is what a test looks at
            self.broken = error
        finally:
            with self._changed:
                self.ended = True
                self._changed.notify_all()

    def wait(self, predicate: Callable[[list[dict]], bool], timeout: float = DEADLINE) -> list[dict]:
        """The events once ``predicate(events)`` holds; fails if the stream ends (or the deadline passes) first."""
        with self._changed:
            self._changed.wait_for(lambda: predicate(self.events) or self.ended, timeout)
            events = list(self.events)
        assert predicate(events), f"the watch ended or timed out first (broken: {self.broken!r}): {summary(events)}"
        return events

    def wait_ended(self, timeout: float = DEADLINE) -> list[dict]:
        with self._changed:
            assert self._changed.wait_for(lambda: self.ended, timeout), f"still open: {summary(self.events)}"
            return list(self.events)

    def close(self) -> None:
        if not self.ended:
            shutdown = getattr(self.response, "shutdown", None)
            if shutdown is not None:
                shutdown()
            self.response.close()


@pytest.fixture
def watches() -> Iterator[Callable[..., Watch]]:
    opened: list[Watch] = []

    def open_watch(api: client.ApiClient, path: str, **query: str) -> Watch:
        watch = Watch(api, path, **query)
        opened.append(watch)
        return watch

    yield open_watch
    for watch in opened:
        watch.close()


def summary(events: list[dict]) -> list[tuple]:
    return [(e["type"], e["object"].get("metadata", {}).get("name"), e["object"].get("metadata", {}).get("resourceVersion"))
            for e in events]


def changes(events: list[dict]) -> list[dict]:
    return [e for e in events if e["type"] in ("ADDED", "MODIFIED", "DELETED")]


def bookmarks(events: list[dict]) -> list[dict]:
    return [e for e in events if e["type"] == "BOOKMARK"]


def rv(obj: dict) -> int:
    return int(obj["metadata"]["resourceVersion"])


def list_rv(api: client.ApiClient, path: str) -> tuple[str, list[dict]]:
    response = send_get(api, path)
    body = orjson.loads(response.read())
    assert response.status == 200, body
    return body["metadata"]["resourceVersion"], body["items"]


def started(fresh_simulator, tmp_path: Path, **options) -> tuple[Simulator, SimulatedCluster, client.ApiClient]:
    sim = fresh_simulator(**options)
    kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig")
    cluster = next(iter(sim))
    api = config.new_client_from_config(config_file=str(kubeconfig), context=cluster.context_name, persist_config=False)
    return sim, cluster, api


def configmap(name: str, value: str = "1") -> dict:
    return {"metadata": {"name": name, "namespace": NAMESPACE}, "data": {"a": value}}


def wait_until(condition: Callable[[], bool], timeout: float = DEADLINE) -> bool:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return condition()


# -- the simulator ---------------------------------------------------------------------------------


def test_a_watch_from_a_lists_resource_version_sees_each_change_in_order(fresh_simulator, tmp_path, watches):
    _, cluster, api = started(fresh_simulator, tmp_path)
    list_version, _ = list_rv(api, CONFIGMAPS)
    namespaced = watches(api, CONFIGMAPS, resourceVersion=list_version, timeoutSeconds="120")
    everywhere = watches(api, "/api/v1/configmaps", resourceVersion=list_version, timeoutSeconds="120")
    assert namespaced.status == everywhere.status == 200
    assert namespaced.response.headers["Content-Type"] == "application/json"
    assert namespaced.response.headers["Transfer-Encoding"] == "chunked"

    created = cluster.create("configmaps", configmap("watched"))
    modified = cluster.modify("configmaps", "watched", NAMESPACE, lambda o: o["data"].update(a="2"))
    deleted = cluster.delete("configmaps", "watched", NAMESPACE)
    assert rv(created) < rv(modified) < rv(deleted) == cluster.resource_version

    for watch in (namespaced, everywhere):
        events = watch.wait(lambda es: len(changes(es)) >= 3)
        assert [(e["type"], e["object"]["metadata"]["name"], rv(e["object"])) for e in events] == [
            ("ADDED", "watched", rv(created)), ("MODIFIED", "watched", rv(modified)), ("DELETED", "watched", rv(deleted))
        ]
        assert all((e["object"]["kind"], e["object"]["apiVersion"]) == ("ConfigMap", "v1") for e in events)
        assert events[2]["object"]["data"] == {"a": "2"}, "DELETED carries the object's last state"
    assert [r.query for r in cluster.requests if r.query.get("watch")] == [namespaced.query, everywhere.query]


def test_a_watch_from_resource_version_0_or_unset_starts_with_the_current_objects(fresh_simulator, tmp_path, watches):
    _, cluster, api = started(fresh_simulator, tmp_path)
    _, items = list_rv(api, CONFIGMAPS)
    for query in ({"resourceVersion": "0"}, {}):
        watch = watches(api, CONFIGMAPS, timeoutSeconds="120", **query)
        events = watch.wait(lambda es: len(es) >= len(items))
        assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
            ("ADDED", item["metadata"]["name"]) for item in items
        ]
    cluster.create("configmaps", configmap("later"))
    watch.wait(lambda es: ("ADDED", "later") in [(e["type"], e["object"]["metadata"].get("name")) for e in es])


def test_bookmarks_carry_the_current_resource_version(fresh_simulator, tmp_path, watches):
    _, cluster, api = started(fresh_simulator, tmp_path)
    cluster.bookmark_interval = 0.05
    list_version, _ = list_rv(api, CONFIGMAPS)
    watch = watches(api, CONFIGMAPS, resourceVersion=list_version, allowWatchBookmarks="true", timeoutSeconds="120")
    first = watch.wait(lambda es: len(bookmarks(es)) >= 1)
    assert bookmarks(first)[0]["object"] == {
        "kind": "ConfigMap", "apiVersion": "v1", "metadata": {"resourceVersion": str(cluster.resource_version)}
    }
    cluster.create("pods", {"metadata": {"name": "elsewhere", "namespace": NAMESPACE}})  # another resource's change
    later = watch.wait(lambda es: any(rv(b["object"]) == cluster.resource_version for b in bookmarks(es)))
    assert changes(later) == [], "a pod is no event of a configmap watch; the bookmark moves past it"


def test_a_streaming_list_sends_the_objects_then_the_initial_events_end_bookmark(fresh_simulator, tmp_path, watches):
    _, cluster, api = started(fresh_simulator, tmp_path)
    _, items = list_rv(api, CONFIGMAPS)
    watch = watches(api, CONFIGMAPS, timeoutSeconds="120", **WATCH_LIST)
    events = watch.wait(lambda es: len(bookmarks(es)) >= 1)
    assert [e["object"]["metadata"]["name"] for e in events[:-1]] == [item["metadata"]["name"] for item in items]
    assert {e["type"] for e in events[:-1]} == {"ADDED"}
    assert events[-1] == {"type": "BOOKMARK", "object": {
        "kind": "ConfigMap", "apiVersion": "v1",
        "metadata": {"resourceVersion": str(cluster.resource_version), "annotations": {"k8s.io/initial-events-end": "true"}},
    }}
    created = cluster.create("configmaps", configmap("live"))
    live = watch.wait(lambda es: len(changes(es)) > len(items))
    assert (live[-1]["type"], rv(live[-1]["object"])) == ("ADDED", rv(created))


def test_without_the_watch_list_gate_a_streaming_list_is_invalid(fresh_simulator, tmp_path, watches):
    _, cluster, api = started(fresh_simulator, tmp_path)
    cluster.watch_list = False
    watch = watches(api, CONFIGMAPS, **WATCH_LIST)
    assert (watch.status, watch.body["reason"], watch.body["code"]) == (422, "Invalid", 422)
    assert watch.body["message"] == ('ListOptions.meta.k8s.io "" is invalid: sendInitialEvents: Forbidden: '
                                     "sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled")
    _, items = list_rv(api, CONFIGMAPS)
    legacy = watches(api, CONFIGMAPS, allowWatchBookmarks="true", timeoutSeconds="1")
    assert bookmarks(legacy.wait_ended()) == [{"type": "BOOKMARK", "object": {
        "kind": "ConfigMap", "apiVersion": "v1", "metadata": {"resourceVersion": str(cluster.resource_version)}}}], \
        "gate off: no initial-events-end bookmark, only the one before the timeout"


def test_a_watch_from_before_a_compaction_gets_a_410_error_event(fresh_simulator, tmp_path, watches):
    _, cluster, api = started(fresh_simulator, tmp_path)
    list_version, _ = list_rv(api, CONFIGMAPS)
    cluster.create("configmaps", configmap("after-the-list"))
    cluster.compact()
    watch = watches(api, CONFIGMAPS, resourceVersion=list_version, allowWatchBookmarks="true")
    assert watch.status == 200
    assert watch.wait_ended() == [{"type": "ERROR", "object": {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": f"too old resource version: {list_version} ({cluster.resource_version})",
        "reason": "Expired", "code": 410,
    }}]
    assert watch.broken is None, "the stream ends cleanly after the error"
    fresh = watches(api, CONFIGMAPS, resourceVersion=str(cluster.resource_version), timeoutSeconds="120")
    cluster.delete("configmaps", "after-the-list", NAMESPACE)
    assert fresh.wait(lambda es: len(es) == 1)[0]["type"] == "DELETED", "watching from now works after a compaction"


def test_replacing_every_object_expires_open_watches(fresh_simulator, tmp_path, watches):
    _, cluster, api = started(fresh_simulator, tmp_path)
    list_version, items = list_rv(api, CONFIGMAPS)
    watch = watches(api, CONFIGMAPS, resourceVersion=list_version, timeoutSeconds="120")
    other = watches(api, "/api/v1/pods", resourceVersion=list_version, timeoutSeconds="120")
    cluster.replace_all("configmaps", [{**item, "metadata": {**item["metadata"], "namespace": NAMESPACE}} for item in items])
    (error,) = watch.wait_ended()
    assert (error["type"], error["object"]["code"], error["object"]["reason"]) == ("ERROR", 410, "Expired")
    cluster.create("pods", {"metadata": {"name": "still-watched", "namespace": NAMESPACE}})
    assert other.wait(lambda es: len(es) == 1)[0]["type"] == "ADDED", "other resources' watches go on"


def test_the_event_log_is_bounded(fresh_simulator, tmp_path, watches):
    _, cluster, api = started(fresh_simulator, tmp_path)
    log = cluster.store.resource("configmaps").events
    log.size = 8
    list_version, _ = list_rv(api, CONFIGMAPS)
    for number in range(20):
        cluster.create("configmaps", configmap(f"many-{number}"))
    assert 8 <= len(log.events) <= 9
    expired = watches(api, CONFIGMAPS, resourceVersion=list_version)
    (error,) = expired.wait_ended()
    assert (error["type"], error["object"]["code"]) == ("ERROR", 410)
    recent = watches(api, CONFIGMAPS, resourceVersion=str(cluster.resource_version - 3), timeoutSeconds="120")
    assert [e["object"]["metadata"]["name"] for e in recent.wait(lambda es: len(es) == 3)] == [
        "many-17", "many-18", "many-19"
    ]


def test_timeout_seconds_ends_the_stream_cleanly_after_a_bookmark(fresh_simulator, tmp_path, watches):
    _, cluster, api = started(fresh_simulator, tmp_path)
    cluster.bookmark_interval = 3600.0  # only the bookmark before the timeout
    list_version, _ = list_rv(api, CONFIGMAPS)
    watch = watches(api, CONFIGMAPS, resourceVersion=list_version, allowWatchBookmarks="true", timeoutSeconds="1")
    events = watch.wait_ended()
    assert watch.broken is None, "a terminating chunk, not a dropped connection"
    assert [e["type"] for e in events] == ["BOOKMARK"]
    assert send_get(api, "/version").status == 200, "the server still answers"


def test_drop_connections_ends_open_watches(fresh_simulator, tmp_path, watches):
    _, cluster, api = started(fresh_simulator, tmp_path)
    cluster.bookmark_interval = 0.05
    open_watches = [watches(api, path, allowWatchBookmarks="true", timeoutSeconds="600")
                    for path in (CONFIGMAPS, "/api/v1/pods", "/apis/apps/v1/deployments")]
    for watch in open_watches:
        watch.wait(lambda es: len(bookmarks(es)) >= 2)
    cluster.drop_connections()
    for watch in open_watches:
        watch.wait_ended()
    assert wait_until(lambda: cluster.open_connections == 0), "every handler thread returned"
    assert send_get(api, "/version").status == 200, "dropping connections is no stop: new ones are served"


def test_a_watch_on_a_descriptor_past_1023_stays_open(fresh_simulator, tmp_path, watches):
    """A simulator serving some 1,000 watches (25 clusters of 49 kinds) gives the next ones file
    descriptors from 1024 on, which select() refuses: each such watch was dropped as if its client
    had left, at its first idle moment. Descriptors taken here push the server's past 1023."""
    import os

    _, cluster, api = started(fresh_simulator, tmp_path)
    cluster.bookmark_interval = 0.5  # longer than the idle check's 0.2 s: the server checks in between
    filler = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        watch = watches(api, CONFIGMAPS, allowWatchBookmarks="true", timeoutSeconds="600")
        watch.wait(lambda es: len(bookmarks(es)) >= 2)
        assert not watch.ended and watch.broken is None
    finally:
        for fd in filler:
            os.close(fd)


def test_a_client_that_hangs_up_frees_its_handler(fresh_simulator, tmp_path):
    _, cluster, _ = started(fresh_simulator, tmp_path, tls=False)
    with socket.create_connection(("127.0.0.1", cluster.port)) as sock:
        sock.sendall(f"GET {CONFIGMAPS}?watch=1&timeoutSeconds=600 HTTP/1.1\r\nHost: x\r\n"
                     f"Authorization: Bearer {cluster.token}\r\n\r\n".encode())
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        assert cluster.open_connections == 1
    assert wait_until(lambda: cluster.open_connections == 0), "the watch noticed the closed socket without bookmarks"


def test_stopping_the_cluster_ends_its_watches(fresh_simulator, tmp_path, watches):
    _, cluster, api = started(fresh_simulator, tmp_path)
    watch = watches(api, CONFIGMAPS, timeoutSeconds="600")
    watch.wait(lambda es: len(es) >= 1)
    cluster.stop()
    watch.wait_ended()
    assert watch.broken is not None


def test_churn_makes_every_kind_of_change_and_a_watch_sees_exactly_them(fresh_simulator, tmp_path, watches):
    _, cluster, api = started(fresh_simulator, tmp_path)
    list_version, pods = list_rv(api, "/api/v1/pods")
    watch = watches(api, "/api/v1/pods", resourceVersion=list_version, timeoutSeconds="600")
    seen_by_callback = []
    with cluster.churn(400, resource="pods", seed=7, on_change=seen_by_callback.append) as churn:
        assert churn.wait_for(300)
        assert wait_until(lambda: min(churn.counts[t] for t in ("ADDED", "MODIFIED", "DELETED")) > 0)
    records = churn.records()
    assert records == seen_by_callback
    assert {r.type for r in records} == {"ADDED", "MODIFIED", "DELETED"}
    assert [r.resource_version for r in records] == sorted(r.resource_version for r in records)
    events = watch.wait(lambda es: len(es) >= len(records))
    assert [(e["type"], e["object"]["metadata"]["uid"], rv(e["object"])) for e in events] == [
        (r.type, r.uid, r.resource_version) for r in records
    ]
    new_pods = [e["object"] for e in events if e["type"] == "ADDED"]
    assert all(p["metadata"]["namespace"] in {q["metadata"]["namespace"] for q in pods} for p in new_pods)
    assert all(set(p) >= {"spec", "status"} and p["spec"].get("containers") for p in new_pods), "shaped like generated pods"
    assert len(cluster.list("pods")) == len(pods) + churn.counts["ADDED"] - churn.counts["DELETED"]


def test_churn_keeps_its_rate_without_trusting_sleep(fresh_simulator, tmp_path):
    _, cluster, _ = started(fresh_simulator, tmp_path)
    with cluster.churn(1000, resource="configmaps", seed=1) as churn:
        assert churn.wait_for(1500)
        made = churn.done
        started_at = churn.records()[0].time
    assert made >= 1500
    elapsed = churn.records()[-1].time - started_at
    # Information only (no verdict on time): how close the batches kept to the asked rate.
    print(f"churn: {len(churn.records())} changes in {elapsed:.2f}s")


# -- the same watches on real kube-apiservers ------------------------------------------------------


class Target:
    """Where a scenario runs: a real server (changes through the API) or the simulator."""

    def __init__(self, api: client.ApiClient, name: str) -> None:
        self.api = api
        self.name = name

    def create(self, name: str) -> None:
        raise NotImplementedError

    def patch(self, name: str) -> None:
        raise NotImplementedError

    def delete(self, name: str) -> None:
        raise NotImplementedError

    def expire(self) -> None:
        """Make every earlier resourceVersion too old for a watch."""
        raise NotImplementedError


class RealTarget(Target):
    def __init__(self, server: RealKubeServer) -> None:
        super().__init__(server.api_client(), server.version)
        self.server = server
        self.core = client.CoreV1Api(self.api)

    def create(self, name: str) -> None:
        self.core.create_namespaced_config_map(NAMESPACE, configmap(name))

    def patch(self, name: str) -> None:
        self.core.patch_namespaced_config_map(name, NAMESPACE, {"data": {"a": "2"}})

    def delete(self, name: str) -> None:
        self.core.delete_namespaced_config_map(name, NAMESPACE)

    def expire(self) -> None:
        # A compaction alone is not enough: the watch cache still serves the window it holds
        # (and 1.37 falls back to etcd's history); a restarted API server's cache starts now.
        self.server.compact()
        self.server.restart_apiserver()


class SimulatedTarget(Target):
    def __init__(self, cluster: SimulatedCluster, api: client.ApiClient) -> None:
        super().__init__(api, "simulator")
        self.cluster = cluster

    def create(self, name: str) -> None:
        self.cluster.create("configmaps", configmap(name))

    def patch(self, name: str) -> None:
        self.cluster.modify("configmaps", name, NAMESPACE, lambda o: o["data"].update(a="2"))

    def delete(self, name: str) -> None:
        self.cluster.delete("configmaps", name, NAMESPACE)

    def expire(self) -> None:
        self.cluster.compact()


def bookmark_shape(event: dict) -> dict:
    """A bookmark with its resourceVersion replaced (v1.20's ``creationTimestamp: null`` dropped)."""
    obj = orjson.loads(orjson.dumps(event["object"]))
    if obj.get("metadata", {}).get("creationTimestamp", "") is None:
        del obj["metadata"]["creationTimestamp"]
    assert int(obj["metadata"].pop("resourceVersion")) > 0
    return {"type": event["type"], "object": obj}


def status_shape(status: dict) -> dict:
    return {key: value for key, value in status.items() if key != "message"}


def scenario(target: Target, watch_list: bool) -> dict:
    """The shapes a client sees from the watches of one scenario."""
    shapes: dict = {}
    opened: list[Watch] = []
    try:
        name = "watched"
        list_version, items = list_rv(target.api, CONFIGMAPS)
        # A watch from the list's resourceVersion, with bookmarks, until its timeout.
        watch = Watch(target.api, CONFIGMAPS, resourceVersion=list_version, allowWatchBookmarks="true", timeoutSeconds="4")
        opened.append(watch)
        target.create(name)
        target.patch(name)
        target.delete(name)
        events = watch.wait_ended(timeout=120)
        assert watch.broken is None, target.name
        seen = changes(events)
        shapes["changes"] = [(e["type"], e["object"]["kind"], e["object"]["apiVersion"], e["object"]["metadata"]["name"])
                             for e in seen]
        versions = [rv(e["object"]) for e in seen]
        shapes["versions increase"] = versions == sorted(set(versions)) and versions[0] > int(list_version)
        shapes["bookmarks"] = sorted({orjson.dumps(bookmark_shape(b)) for b in bookmarks(events)})
        shapes["bookmarks after the changes"] = all(rv(b["object"]) >= versions[-1] for b in bookmarks(events))
        shapes["ends with a bookmark"] = events[-1]["type"]

        if watch_list:
            stream = Watch(target.api, CONFIGMAPS, timeoutSeconds="2", **WATCH_LIST)
            opened.append(stream)
            listed = stream.wait_ended(timeout=120)
            end = next(i for i, e in enumerate(listed) if e["type"] == "BOOKMARK")
            _, now_items = list_rv(target.api, CONFIGMAPS)
            shapes["initial events"] = [e["type"] for e in listed[:end]] == ["ADDED"] * len(now_items)
            shapes["initial events end"] = bookmark_shape(listed[end])
        else:
            rejected = Watch(target.api, CONFIGMAPS, **WATCH_LIST)
            shapes["streaming list answer"] = (rejected.status, rejected.body and rejected.body.get("reason"))

        # A watch from before the window: 200, one ERROR event with a 410 Status, end.
        target.create("before-expiry")
        target.expire()
        expired = Watch(target.api, CONFIGMAPS, resourceVersion=list_version)
        opened.append(expired)
        (error,) = expired.wait_ended(timeout=120)
        shapes["too old"] = (expired.status, error["type"], status_shape(error["object"]))
        match = TOO_OLD.fullmatch(error["object"]["message"])
        shapes["too old message"] = bool(match) and match.group(1) == list_version and int(match.group(2)) > int(list_version)
        target.delete("before-expiry")
    finally:
        for watch in opened:
            watch.close()
    return shapes


@pytest.fixture(scope="module", params=[CURRENT, OLDEST])
def real_watch_server(request, tmp_path_factory) -> Iterator[RealKubeServer]:
    yield from real_server(request.param, tmp_path_factory)


def test_watches_have_the_shapes_of_a_real_servers(real_watch_server, fresh_simulator, tmp_path):
    server = real_watch_server
    watch_list = server.version == CURRENT  # v1.20 predates streaming lists
    real = scenario(RealTarget(server), watch_list)
    _, cluster, api = started(fresh_simulator, tmp_path)
    cluster.bookmark_interval = 1.0
    simulated = scenario(SimulatedTarget(cluster, api), watch_list)
    if not watch_list:
        # v1.20 rejects resourceVersionMatch on a watch; the simulator answers as a current server.
        assert real.pop("streaming list answer") == (422, "Invalid")
        simulated.pop("streaming list answer")
    assert simulated == real
    assert real["changes"] == [(t, "ConfigMap", "v1", "watched") for t in ("ADDED", "MODIFIED", "DELETED")]
    assert real["too old"] == (200, "ERROR", {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                              "reason": "Expired", "code": 410})


def test_the_watch_list_gate_off_answers_like_a_real_server(fresh_simulator, tmp_path, tmp_path_factory):
    if binaries(CURRENT) is None:
        skip_or_fail(f"kube-apiserver {CURRENT} is not built")
    server = RealKubeServer(CURRENT, tmp_path_factory.mktemp("kube-gate-off"), extra_args=("--feature-gates=WatchList=false",))
    with server:
        api = server.api_client()
        answers = [Watch(api, CONFIGMAPS, **WATCH_LIST), Watch(api, CONFIGMAPS, sendInitialEvents="true")]
        real = [(w.status, w.body) for w in answers]
    _, cluster, sim_api = started(fresh_simulator, tmp_path)
    cluster.watch_list = False
    simulated = [(w.status, w.body) for w in (Watch(sim_api, CONFIGMAPS, **WATCH_LIST),
                                              Watch(sim_api, CONFIGMAPS, sendInitialEvents="true"))]
    assert simulated == real
    assert real[0][0] == 422
