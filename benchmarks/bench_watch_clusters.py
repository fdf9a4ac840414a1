"""Benchmark: how many clusters one `k8s-assets watch` process keeps current (issue 20).

    python benchmarks/bench_watch_clusters.py                                  # 10, 25, 50 clusters
    python benchmarks/bench_watch_clusters.py --clusters 10,25,50,100 --idle-seconds 30 --churn-seconds 30

For each cluster count N (``--clusters``, stepping up; it stops after the first N that does not
keep up):

1. Simulators (benchmarks/sim_server.py, ``--clusters-per-simulator`` clusters per process) serve
   N clusters of ``--size`` (``small``: 80 pods, the demo's size) with bookmarks every
   ``--bookmark-interval`` seconds (60: real servers send one about every minute; the simulator's
   own default of 1 s would be 45 bookmarks a second per cluster). An embedded PostgreSQL serves a
   fresh migrated database per N.
2. One ``python -m k8s_assets watch --context 'c*'`` child process watches all of them with
   ``K8S_ASSETS_RESOURCES`` unset (every default kind: what users run), default WatchOptions
   and the packaged Dagster instance config (runless materializations into PostgreSQL).
3. **Start**: the time until every kind of every cluster is ``watching`` in ``k8s_watch_state``
   (initial listings, 4 at a time over all clusters: ``WatchOptions.listings``); the watcher's
   CPU and PostgreSQL's over it.
4. **Idle** (``--idle-seconds``, no churn): the watcher's CPU (cores), RSS, threads, open TCP
   connections (to PostgreSQL, to the API servers), PostgreSQL's and the simulators' CPU.
5. **Churn** (``--churn-seconds``): ``--churn-rate`` pod changes/s in every cluster (the
   simulator's churn generator, creates, modifies and deletes 1:2:1), then the watcher drains.
   Events applied/s (``k8s_watch_state.events_applied`` of every cluster's pods); lag end to end
   as bench_watch.py measures it (each change's resourceVersion and time from the generator; a
   poller keeps every batch's (resourceVersion, applied_at) per cluster; a change's lag is the
   applied_at of the first batch of its cluster at or past its resourceVersion minus its time);
   the watcher's own batch lag p99; CPU of the watcher, PostgreSQL and the simulators;
   PostgreSQL connections of the watcher (``pg_stat_activity``), against its pool's cap
   (``watcher.pool_size``: 32).
   N keeps up when the events applied during the churn are >= 95% of those made and the lag p99
   is <= 5 s.

Writes benchmarks/results/watch-clusters.md and .json (``--out-name`` changes the stem).
"""

from __future__ import annotations

import argparse
import array
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402

from bench_sync import SimulatorProcess, fresh_database, start_postgres  # noqa: E402
from bench_watch import (KEEP_UP_FRACTION, MIB, TARGET_LAG_P99, cpu_seconds, end_to_end_lags, load_average,  # noqa: E402
                         log, percentiles, postmaster, rss_bytes, tree)

RESULTS = HERE / "results"
POLL_SECONDS = 0.1
KIND = "k8s_pods"
STARTED_LINE = re.compile(r"^watching (\S+): (\d+) kinds")


def context_name(i: int) -> str:
    return f"c{i:03d}"


class Poller(threading.Thread):
    """Every POLL_SECONDS: each cluster's pods watch state (every batch seen, per context); every
    second: the watch states by status and the watcher's PostgreSQL connections."""

    PODS = ("SELECT context_name, resource_version, events_applied, extract(epoch FROM applied_at)::float8, "
            "lag_p99_seconds FROM k8s_watch_state WHERE kind = %s")
    STATUSES = "SELECT status, count(*) FROM k8s_watch_state GROUP BY status"
    CONNECTIONS = ("SELECT count(*), count(*) FILTER (WHERE state = 'active') FROM pg_stat_activity "
                   "WHERE datname = current_database() AND pid <> pg_backend_pid()")

    def __init__(self, url: str):
        super().__init__(name="poller", daemon=True)
        self.url = url
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.applied: dict[str, int] = {}
        self.batches: dict[str, list[tuple[int, float, int, float]]] = {}
        self.statuses: dict[str, int] = {}
        self.connections: list[tuple[float, int, int]] = []  # (monotonic, connections, active)
        self.error: BaseException | None = None

    def run(self) -> None:
        import psycopg

        try:
            with psycopg.connect(self.url, autocommit=True) as conn:
                last_applied: dict[str, float] = {}
                next_slow = 0.0
                while not self.stopping.wait(POLL_SECONDS):
                    rows = conn.execute(self.PODS, (KIND,)).fetchall()
                    now = time.monotonic()
                    slow = None
                    if now >= next_slow:
                        next_slow = now + 1.0
                        slow = (dict(conn.execute(self.STATUSES).fetchall()),
                                conn.execute(self.CONNECTIONS).fetchone())
                    with self.lock:
                        for context, rv, events, applied_at, p99 in rows:
                            self.applied[context] = events
                            if applied_at is not None and applied_at != last_applied.get(context) \
                                    and rv and rv.isdigit():
                                last_applied[context] = applied_at
                                self.batches.setdefault(context, []).append((int(rv), applied_at, events, p99 or 0.0))
                        if slow is not None:
                            self.statuses = slow[0]
                            self.connections.append((now, slow[1][0], slow[1][1]))
        except BaseException as e:  # reported by the driver
            self.error = e

    def total_applied(self) -> int:
        with self.lock:
            return sum(self.applied.values())

    def watching(self) -> int:
        with self.lock:
            return self.statuses.get("watching", 0)


class Meters:
    def __init__(self, watcher: psutil.Process, simulators: list[psutil.Process], database: psutil.Process):
        self.watcher, self.simulators, self.database = watcher, simulators, database

    def read(self) -> dict:
        return {"watcher": cpu_seconds(tree(self.watcher)), "simulators": cpu_seconds(self.simulators),
                "postgres": cpu_seconds(tree(self.database)), "wall": time.monotonic(),
                "machine": sum(psutil.cpu_times()[:3])}


def cores(before: dict, after: dict) -> dict:
    wall = after["wall"] - before["wall"]
    return {who: round((after[who] - before[who]) / wall, 3) for who in ("watcher", "postgres", "simulators",
                                                                          "machine")}


class Run:
    """One cluster count: its simulators, database and watcher."""

    def __init__(self, args, n: int, pg_server_url: str, database: psutil.Process, workdir: Path):
        self.args, self.n, self.database = args, n, database
        self.workdir = workdir / f"n{n}"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.url = fresh_database(pg_server_url, f"bench_clusters_{n}")
        self.sims: list[SimulatorProcess] = []
        self.records: dict[str, tuple[array.array, array.array]] = {}

    def start_simulators(self) -> dict:
        names = [context_name(i) for i in range(1, self.n + 1)]
        per = self.args.clusters_per_simulator
        started = time.monotonic()
        for first in range(0, len(names), per):
            chunk = names[first:first + per]
            self.sims.append(SimulatorProcess(self.args.size, self.workdir, seed=self.args.seed + first,
                                              contexts=tuple(chunk), bookmark_interval=self.args.bookmark_interval,
                                              tag=f"{chunk[0]}-{chunk[-1]}"))
        pods = sum(sum(s.call("counts", ["pods"]).values()) for s in self.sims)  # the first cluster of each
        return {"simulators": len(self.sims), "seconds": round(time.monotonic() - started, 1),
                "pods_first_cluster_of_each": pods}

    def start_watcher(self) -> dict:
        from k8s_assets.dagster_edge.instance import instance_config

        dagster_home = self.workdir / "dagster_home"
        dagster_home.mkdir(exist_ok=True)
        (dagster_home / "dagster.yaml").write_text(instance_config())
        env = {k: v for k, v in os.environ.items() if not k.startswith(("K8S_ASSETS_", "DAGSTER_"))}
        env.update(KUBECONFIG=os.pathsep.join(str(s.kubeconfig) for s in self.sims), K8S_ASSETS_DATABASE_URL=self.url,
                   DAGSTER_HOME=str(dagster_home), K8S_ASSETS_HOME=str(self.workdir), PYTHONPATH=str(ROOT))
        self.poller = Poller(self.url)
        self.poller.start()
        self.watcher_log = self.workdir / "watcher.log"
        started = time.monotonic()
        self.watcher_proc = subprocess.Popen([sys.executable, "-m", "k8s_assets", "watch", "--context", "c*"], env=env,
                                             cwd=self.workdir, stdout=open(self.watcher_log, "ab"),
                                             stderr=subprocess.STDOUT)
        self.watcher = psutil.Process(self.watcher_proc.pid)
        self.meters = Meters(self.watcher, [psutil.Process(s.process.pid) for s in self.sims], self.database)
        before = self.meters.read()
        deadline = started + self.args.listing_timeout
        kinds: dict[str, int] = {}
        all_started_at = None
        while True:
            if len(kinds) < self.n:
                for line in self.watcher_log.read_text(errors="replace").splitlines():
                    m = STARTED_LINE.match(line)
                    if m:
                        kinds[m.group(1)] = int(m.group(2))
                if len(kinds) == self.n:
                    all_started_at = time.monotonic()
            expected = sum(kinds.values())
            if len(kinds) == self.n and self.poller.watching() >= expected:
                break
            if self.watcher_proc.poll() is not None:
                raise RuntimeError(f"the watcher exited with {self.watcher_proc.returncode}; see {self.watcher_log}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"not every kind watching after {self.args.listing_timeout}s: {len(kinds)} "
                                   f"clusters started, {self.poller.statuses}")
            time.sleep(0.2)
        after = self.meters.read()
        result = {
            "seconds": round(time.monotonic() - started, 1),
            "clusters_started_seconds": round(all_started_at - started, 1),
            "watches": expected, "kinds_per_cluster": sorted(set(kinds.values())),
            "watcher_cpu_seconds": round(after["watcher"] - before["watcher"], 1),
            "postgres_cpu_seconds": round(after["postgres"] - before["postgres"], 1),
            "simulators_cpu_seconds": round(after["simulators"] - before["simulators"], 1),
            "uptime": load_average(),
        }
        log(f"N={self.n}: every kind watching: {result}")
        return result

    def resources(self) -> dict:
        """The watcher's RSS, threads and connections now: TCP ones go to the API servers (the
        embedded PostgreSQL is reached by its Unix socket: those are pg_stat_activity's backends)."""
        processes = tree(self.watcher)
        to_apiservers = other = 0
        for p in processes:
            try:
                for c in p.net_connections(kind="tcp"):
                    if c.status != psutil.CONN_ESTABLISHED or not c.raddr:
                        continue
                    if c.raddr.ip.startswith("127."):
                        to_apiservers += 1
                    else:
                        other += 1
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
        with self.poller.lock:
            to_postgres = self.poller.connections[-1][1] if self.poller.connections else None
        threads = 0
        for p in processes:
            try:
                threads += p.num_threads()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
        return {"rss_mib": round(rss_bytes(processes) / MIB, 1), "threads": threads,
                "postgres_connections": to_postgres, "tcp_to_apiservers": to_apiservers, "tcp_other": other}

    def log_problems(self) -> dict:
        """Warnings of the watcher's log by kind of trouble (a pool that timed out, a failed batch)."""
        text = self.watcher_log.read_text(errors="replace")
        return {"pool_timeouts": text.count("PoolTimeout"), "applying_failed": text.count("applying events of"),
                "watch_retries": text.count("; resuming in"), "relists": text.count("listing it again"),
                "tracebacks": text.count("Traceback")}

    def idle(self) -> dict:
        time.sleep(5)  # let the last listings' reports and ANALYZEs settle
        before = self.meters.read()
        applied_before = self.poller.total_applied()
        samples = []
        started = time.monotonic()
        while time.monotonic() - started < self.args.idle_seconds:
            time.sleep(min(5.0, self.args.idle_seconds))
            samples.append(self.resources())
        after = self.meters.read()
        result = {
            "seconds": round(after["wall"] - before["wall"], 1),
            "cores": cores(before, after),
            "pod_events_applied": self.poller.total_applied() - applied_before,
            "rss_mib": max(s["rss_mib"] for s in samples), "threads": max(s["threads"] for s in samples),
            "postgres_connections": max(s["postgres_connections"] or 0 for s in samples),
            "tcp_to_apiservers": max(s["tcp_to_apiservers"] for s in samples),
            "uptime": load_average(),
        }
        log(f"N={self.n}: idle: {result}")
        return result

    def fetch_records(self) -> None:
        for sim in self.sims:
            firsts = {name: len(rv) for name, (rv, _) in self.records.items()}
            for name, (versions, times) in sim.call("churn_records_each", firsts).items():
                rv, at = self.records.setdefault(name, (array.array("q"), array.array("d")))
                rv.frombytes(versions)
                at.frombytes(times)

    def churn(self) -> dict:
        args = self.args
        self.fetch_records()
        firsts = {name: len(rv) for name, (rv, _) in self.records.items()}
        with self.poller.lock:
            batches_before = {c: len(b) for c, b in self.poller.batches.items()}
        applied_before = self.poller.total_applied()
        connections_from = len(self.poller.connections)
        before = self.meters.read()
        made_before = 0
        for i, sim in enumerate(self.sims):
            made_before += sim.call("churn_start_each", "pods", args.churn_rate, args.seed + 1000 * i)["changes"]
        started = time.monotonic()
        log(f"N={self.n}: churn at {args.churn_rate:g} pod events/s per cluster for {args.churn_seconds:g}s; "
            f"{load_average()}")
        samples = []
        while time.monotonic() - started < args.churn_seconds:
            time.sleep(min(5.0, args.churn_seconds))
            samples.append(self.resources())
            if self.watcher_proc.poll() is not None:
                raise RuntimeError(f"the watcher exited with {self.watcher_proc.returncode}; see {self.watcher_log}")
        made = -made_before
        counts: dict[str, int] = {}
        for sim in self.sims:
            stop = sim.call("churn_stop_each")
            made += stop["changes"]
            for kind, n in stop["counts"].items():
                counts[kind] = counts.get(kind, 0) + n
        churn_seconds = time.monotonic() - started
        at_stop = self.meters.read()
        applied_at_stop = self.poller.total_applied() - applied_before
        drain_started = time.monotonic()
        drained = False
        while time.monotonic() - drain_started < args.drain_timeout:
            if self.poller.total_applied() - applied_before >= made:
                drained = True
                break
            time.sleep(0.1)
        drain_seconds = time.monotonic() - drain_started
        time.sleep(3 * POLL_SECONDS)
        self.fetch_records()
        lags, uncovered, watcher_p99 = [], 0, []
        with self.poller.lock:
            batches = {c: list(b) for c, b in self.poller.batches.items()}
        for name, (rv, at) in self.records.items():
            first = firsts.get(name, 0)
            cluster_lags, not_seen = end_to_end_lags(rv[first:], at[first:], batches.get(name, []))
            lags += cluster_lags
            uncovered += not_seen
            watcher_p99 += [b[3] for b in batches.get(name, [])[batches_before.get(name, 0):]]
        connections = self.poller.connections[connections_from:]
        watcher_cpu = at_stop["watcher"] - before["watcher"]
        result = {
            "rate_per_cluster": args.churn_rate,
            "churn_seconds": round(churn_seconds, 1),
            "events_made": made, "made_counts": counts,
            "made_rate": round(made / churn_seconds, 1),
            "events_applied_during_churn": applied_at_stop,
            "applied_rate": round(applied_at_stop / churn_seconds, 1),
            "drained": drained, "drain_seconds": round(drain_seconds, 1),
            "cores": cores(before, at_stop),
            "events_per_watcher_cpu_second": round(applied_at_stop / watcher_cpu, 1) if watcher_cpu else None,
            "lag_end_to_end_seconds": percentiles(lags),
            "changes_not_seen_applied": uncovered,
            "lag_watcher_batch_p99_seconds": percentiles(watcher_p99),
            "postgres_connections_max": max((c[1] for c in connections), default=None),
            "postgres_connections_active_max": max((c[2] for c in connections), default=None),
            "rss_mib": max(s["rss_mib"] for s in samples), "threads": max(s["threads"] for s in samples),
            "uptime": load_average(),
        }
        result["keeps_up"] = bool(applied_at_stop >= KEEP_UP_FRACTION * made
                                  and (result["lag_end_to_end_seconds"]["p99"] or 0) <= TARGET_LAG_P99)
        log(f"N={self.n}: churn: { {k: result[k] for k in ('made_rate', 'applied_rate', 'cores', 'keeps_up')} } "
            f"lag {result['lag_end_to_end_seconds']}")
        return result

    def stop(self) -> dict:
        result = {}
        if getattr(self, "watcher_proc", None) is not None and self.watcher_proc.poll() is None:
            started = time.monotonic()
            self.watcher_proc.send_signal(2)
            try:
                result["returncode"] = self.watcher_proc.wait(120)
            except subprocess.TimeoutExpired:
                self.watcher_proc.kill()
                result["returncode"] = "killed after 120 s"
            result["stop_seconds"] = round(time.monotonic() - started, 1)
        if hasattr(self, "poller"):
            self.poller.stopping.set()
        for sim in self.sims:
            sim.stop()
        return result


def measure(args, n: int, pg_url: str, database: psutil.Process, workdir: Path) -> dict:
    run = Run(args, n, pg_url, database, workdir)
    out: dict = {"clusters": n, "uptime_before": load_average()}
    try:
        log(f"N={n}: starting simulators; {load_average()}")
        out["simulators"] = run.start_simulators()
        log(f"N={n}: simulators ready {out['simulators']}")
        out["start"] = run.start_watcher()
        out["idle"] = run.idle()
        out["churn"] = run.churn()
        out["problems"] = run.log_problems()
    except Exception as e:  # recorded: the limit is a result too
        out["error"] = f"{type(e).__name__}: {e}"
        log(f"N={n}: FAILED: {out['error']}")
        if hasattr(run, "watcher_log"):
            out["problems"] = run.log_problems()
    finally:
        out["stop"] = run.stop()
    out["keeps_up"] = bool(out.get("churn", {}).get("keeps_up")) and "error" not in out
    return out


def run(args) -> dict:
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench-clusters-"))
    workdir.mkdir(parents=True, exist_ok=True)
    out: dict = {"started": time.strftime("%Y-%m-%d %H:%M:%S"), "host": platform.node(), "cpus": os.cpu_count(),
                 "argv": sys.argv[1:], "uptime_before": load_average(), "runs": []}
    pg_server, pg_url = start_postgres(workdir)
    try:
        database = postmaster(workdir / "pgdata")
        for n in [int(x) for x in args.clusters.split(",") if x]:
            result = measure(args, n, pg_url, database, workdir)
            out["runs"].append(result)
            write_report(out, args.out_name)
            if not result["keeps_up"]:
                break
    finally:
        pg_server.cleanup()
        if not args.workdir and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    out["uptime_after"] = load_average()
    return out


def write_report(out: dict, stem: str) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{stem}.json").write_text(json.dumps(out, indent=1))
    args = out["argv"]
    lines = [
        "# Clusters per watcher (issue 20)",
        "",
        f"`python benchmarks/bench_watch_clusters.py {' '.join(args)}`, {out['started']}, {out['cpus']} cores shared "
        f"with other work ({out['uptime_before']} before{', ' + out['uptime_after'] + ' after' if 'uptime_after' in out else ''}). "
        "Method: benchmarks/README.md, \"Clusters per watcher\".",
        "",
        "One `python -m k8s_assets watch` process, every default kind (K8S_ASSETS_RESOURCES unset), default "
        "WatchOptions; simulated clusters of the demo's size (`small`: 80 pods), bookmarks every minute.",
        "",
        "| clusters | watches | all watching after (s) | start: watcher / PG CPU s | idle: watcher cores | idle: PG cores "
        "| idle: simulators cores | RSS MiB | threads | connections to PG / API servers | churn made/s | applied/s | kept up "
        "| lag p50 / p99 / max (s) | watcher batch lag p99 (median / max) | churn: watcher cores | churn: PG cores "
        "| churn: simulators cores | PG connections (max) | stop s | problems |",
        "|" + "---|" * 21,
    ]
    for r in out["runs"]:
        s, i, c = r.get("start", {}), r.get("idle", {}), r.get("churn", {})
        lag = c.get("lag_end_to_end_seconds", {})
        batch = c.get("lag_watcher_batch_p99_seconds", {})
        problems = {k: v for k, v in r.get("problems", {}).items() if v}
        lines.append(
            f"| {r['clusters']} | {s.get('watches', '')} | {s.get('seconds', '')} | "
            f"{s.get('watcher_cpu_seconds', '')} / {s.get('postgres_cpu_seconds', '')} | "
            f"{i.get('cores', {}).get('watcher', '')} | {i.get('cores', {}).get('postgres', '')} | "
            f"{i.get('cores', {}).get('simulators', '')} | {max(i.get('rss_mib', 0), c.get('rss_mib', 0)) or ''} | "
            f"{max(i.get('threads', 0), c.get('threads', 0)) or ''} | "
            f"{i.get('postgres_connections', '')} / {i.get('tcp_to_apiservers', '')} | {c.get('made_rate', '')} | "
            f"{c.get('applied_rate', '')} | {('yes' if r['keeps_up'] else 'no') if c else 'no: ' + r.get('error', '')} | "
            f"{lag.get('p50', '')} / {lag.get('p99', '')} / {lag.get('max', '')} | "
            f"{batch.get('p50', '')} / {batch.get('max', '')} | {c.get('cores', {}).get('watcher', '')} | "
            f"{c.get('cores', {}).get('postgres', '')} | {c.get('cores', {}).get('simulators', '')} | "
            f"{c.get('postgres_connections_max', '')} | {r.get('stop', {}).get('stop_seconds', '')} | "
            f"{problems or 'none'} |")
    lines += ["", "Load per run (before; after start; after idle; after churn):", ""]
    for r in out["runs"]:
        lines.append(f"- {r['clusters']}: {r['uptime_before']}; {r.get('start', {}).get('uptime', '-')}; "
                     f"{r.get('idle', {}).get('uptime', '-')}; {r.get('churn', {}).get('uptime', '-')}")
    lines.append("")
    (RESULTS / f"{stem}.md").write_text("\n".join(lines))
    log(f"wrote {RESULTS / (stem + '.md')} and .json")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clusters", default="10,25,50", help="cluster counts, stepping up")
    parser.add_argument("--size", default="small", help="pods per cluster, or a simulator preset")
    parser.add_argument("--clusters-per-simulator", type=int, default=25)
    parser.add_argument("--bookmark-interval", type=float, default=60.0)
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument("--churn-seconds", type=float, default=60.0)
    parser.add_argument("--churn-rate", type=float, default=5.0, help="pod events/s per cluster")
    parser.add_argument("--drain-timeout", type=float, default=60.0)
    parser.add_argument("--listing-timeout", type=float, default=900.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", help="keep scratch files (logs, kubeconfigs) here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary workdir")
    parser.add_argument("--out-name", default="watch-clusters")
    args = parser.parse_args(argv)
    out = run(args)
    write_report(out, args.out_name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
