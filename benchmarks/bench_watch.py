"""Benchmark: `k8s-assets watch` under sustained churn of a large simulated cluster (issue 20).

    python benchmarks/bench_watch.py                                   # 150,000 pods, steps, 10 minutes at 2,000/s
    python benchmarks/bench_watch.py --pods 20000 --minutes 1 --step-seconds 20    # a quick check

Target: ">= 2,000 events/s applied per core, lag p99 <= 5 s, RSS flat over 10 minutes".

1. The simulator (benchmarks/sim_server.py) serves one cluster of ``--pods`` pods in its own
   process; an embedded PostgreSQL serves a freshly migrated database.
2. ``python -m k8s_assets watch --context big`` runs as a child process with
   ``K8S_ASSETS_RESOURCES=pods`` (the churn changes pods only; other kinds would add their initial
   listing and idle watches, nothing to the figure), the packaged Dagster instance config (so its
   runless materializations go to PostgreSQL as in production) and WatchOptions' defaults. It lists
   the pods (a streaming list: the simulator serves one), then watches.
3. Steps (``--step-rates``): the simulator's churn generator (creates, modifies and deletes pods
   at a fixed rate, 1:2:1) runs at each rate for ``--step-seconds``, then the watcher is let drain.
   A step keeps up when the events applied during it are >= 95% of those made and the lag p99 is
   <= 5 s. Stepping stops at the first that does not (or that falls more than ``--max-backlog``
   events behind: past the simulator's 100,000-event window the watch would expire and relist).
4. Sustained (``--minutes`` at ``--rate``): the same, sampled every second.

What is measured, per phase:
- events made: the generator's changes; events applied: ``k8s_watch_state.events_applied`` (the
  watcher adds each batch's events in the batch's own transaction);
- CPU seconds (user + system) of the watcher's process tree, the simulator's process (generator,
  HTTP and TLS serving) and the PostgreSQL server's processes, from psutil at the phase's ends;
  events applied per watcher CPU-second is the "per core" figure;
- lag, end to end: the generator keeps (resourceVersion, time just after the change) of every
  change; a poller reads ``k8s_watch_state`` every ``POLL_SECONDS`` and keeps each batch's
  (resourceVersion, applied_at: clock_timestamp() in the batch's transaction, just before its
  commit). A change's lag is the applied_at of the first batch at or past its resourceVersion
  minus its time: from the change in the "API server" to its row committed. A batch the poller
  missed counts its events with the next one (lag over-stated by at most one batch interval).
  The watcher's own per-batch lag (event arrival to commit, what the watch_keeping_up check reads)
  is reported beside it;
- RSS of the watcher's process tree every second; flat means the last minute's median is within
  10% (or 10 MiB) of the first minute's, with the least-squares slope over the phase beside it.

Writes benchmarks/results/watch.md and watch.json (``--out-name`` changes the stem).
"""

from __future__ import annotations

import argparse
import array
import json
import os
import platform
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

RESULTS = HERE / "results"
MIB = 1024 * 1024
POLL_SECONDS = 0.05
CONTEXT = "big"
KIND = "k8s_pods"
TARGET_PER_CORE = 2000.0
TARGET_LAG_P99 = 5.0
KEEP_UP_FRACTION = 0.95


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def load_average() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


# -- processes --------------------------------------------------------------------------------


def tree(process: psutil.Process) -> list[psutil.Process]:
    try:
        return [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for p in processes:
        try:
            times = p.cpu_times()
            total += times.user + times.system
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return total


def rss_bytes(processes: list[psutil.Process]) -> int:
    total = 0
    for p in processes:
        try:
            total += p.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return total


def postmaster(pgdata: Path) -> psutil.Process:
    return psutil.Process(int((pgdata / "postmaster.pid").read_text().split()[0]))


class Meters:
    """CPU of the watcher, the simulator and PostgreSQL, read together."""

    def __init__(self, watcher: psutil.Process, simulator: psutil.Process, database: psutil.Process):
        self.watcher, self.simulator, self.database = watcher, simulator, database

    def read(self) -> dict:
        return {"watcher": cpu_seconds(tree(self.watcher)), "simulator": cpu_seconds([self.simulator]),
                "postgres": cpu_seconds(tree(self.database)), "wall": time.monotonic(),
                "machine": sum(psutil.cpu_times()[:3])}


# -- the watch state, polled ----------------------------------------------------------------


class StatePoller(threading.Thread):
    """Reads the pods' k8s_watch_state row every POLL_SECONDS; keeps every batch seen."""

    QUERY = ("SELECT status, resource_version, events_applied, "
             "extract(epoch FROM applied_at)::float8, lag_p50_seconds, lag_p99_seconds, lag_max_seconds "
             "FROM k8s_watch_state WHERE kind = %s")

    def __init__(self, url: str):
        super().__init__(name="state-poller", daemon=True)
        self.url = url
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.status: str | None = None
        self.events_applied = 0
        # One entry per batch seen: (resourceVersion, applied_at epoch, events applied after it,
        # the watcher's own lag p50, p99, max of that batch).
        self.batches: list[tuple[int, float, int, float, float, float]] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        import psycopg

        try:
            with psycopg.connect(self.url, autocommit=True) as conn:
                last_applied = None
                while not self.stopping.wait(POLL_SECONDS):
                    row = conn.execute(self.QUERY, (KIND,)).fetchone()
                    if row is None:
                        continue
                    status, rv, events, applied_at, p50, p99, pmax = row
                    with self.lock:
                        self.status, self.events_applied = status, events
                        if applied_at is not None and applied_at != last_applied and rv and rv.isdigit():
                            last_applied = applied_at
                            self.batches.append((int(rv), applied_at, events, p50 or 0.0, p99 or 0.0, pmax or 0.0))
        except BaseException as e:  # reported by the driver
            self.error = e

    def snapshot(self) -> tuple[str | None, int, int]:
        with self.lock:
            return self.status, self.events_applied, len(self.batches)


# -- figures ----------------------------------------------------------------------------------


def percentiles(values, points=(50, 99)) -> dict:
    import numpy as np

    if len(values) == 0:
        return {f"p{p}": None for p in points} | {"max": None}
    a = np.asarray(values, dtype=float)
    return {f"p{p}": round(float(np.percentile(a, p)), 3) for p in points} | {"max": round(float(a.max()), 3)}


def end_to_end_lags(versions: array.array, times: array.array, batches: list) -> tuple[list[float], int]:
    """Per change: the first batch at or past its resourceVersion, committed minus made; and how
    many changes no batch seen yet covers."""
    import numpy as np

    if not versions:
        return [], 0
    rvs = np.maximum.accumulate(np.array([b[0] for b in batches], dtype=np.int64)) if batches \
        else np.array([], np.int64)
    applied = np.array([b[1] for b in batches], dtype=float)
    made_rv = np.frombuffer(versions, dtype=np.int64) if isinstance(versions, bytes) else np.asarray(versions)
    made_at = np.frombuffer(times, dtype=float) if isinstance(times, bytes) else np.asarray(times)
    index = np.searchsorted(rvs, made_rv, side="left")
    covered = index < len(rvs)
    lags = applied[index[covered]] - made_at[covered]
    return lags.tolist(), int((~covered).sum())


def rss_summary(samples: list[tuple[float, int]]) -> dict:
    """First-minute against last-minute RSS of a phase's samples (t seconds from its start, bytes)."""
    import numpy as np

    if len(samples) < 4:
        return {}
    t = np.array([s[0] for s in samples])
    rss = np.array([s[1] for s in samples], dtype=float) / MIB
    span = t[-1] - t[0]
    window = min(60.0, span / 3)
    first = rss[t <= t[0] + window]
    last = rss[t >= t[-1] - window]
    slope = float(np.polyfit(t / 60.0, rss, 1)[0]) if span > 0 else 0.0
    first_median, last_median = float(np.median(first)), float(np.median(last))
    return {
        "window_seconds": round(window, 1),
        "first_median_mib": round(first_median, 1), "first_max_mib": round(float(first.max()), 1),
        "last_median_mib": round(last_median, 1), "last_max_mib": round(float(last.max()), 1),
        "max_mib": round(float(rss.max()), 1), "slope_mib_per_minute": round(slope, 2),
        "flat": last_median <= max(first_median * 1.10, first_median + 10.0),
    }


# -- the benchmark ----------------------------------------------------------------------------


class Bench:
    def __init__(self, args):
        self.args = args
        self.workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench-watch-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.records_rv = array.array("q")
        self.records_at = array.array("d")
        self.rss: list[tuple[float, int]] = []  # (monotonic, bytes) every second, whole run

    # infrastructure

    def start(self) -> dict:
        args = self.args
        log(f"PostgreSQL and the simulator ({args.pods} pods); workdir {self.workdir}; {load_average()}")
        self.pg_server, server_url = start_postgres(self.workdir)
        self.url = fresh_database(server_url, "bench_watch")
        self.database = postmaster(self.workdir / "pgdata")
        self.sim = SimulatorProcess(args.pods, self.workdir, seed=args.seed)
        self.simulator = psutil.Process(self.sim.process.pid)
        pods = self.sim.call("counts", ["pods"])["pods"]
        log(f"simulator ready in {self.sim.start_seconds:.1f}s: {pods} pods")
        self.poller = StatePoller(self.url)
        self.poller.start()
        return {"pods": pods, "simulator_start_seconds": round(self.sim.start_seconds, 1)}

    def start_watcher(self) -> dict:
        from k8s_assets.dagster_edge.instance import instance_config

        dagster_home = self.workdir / "dagster_home"
        dagster_home.mkdir(exist_ok=True)
        (dagster_home / "dagster.yaml").write_text(instance_config())
        env = {k: v for k, v in os.environ.items() if not k.startswith(("K8S_ASSETS_", "DAGSTER_"))}
        env.update(KUBECONFIG=str(self.sim.kubeconfig), K8S_ASSETS_DATABASE_URL=self.url,
                   DAGSTER_HOME=str(dagster_home), K8S_ASSETS_RESOURCES="pods", K8S_ASSETS_HOME=str(self.workdir),
                   PYTHONPATH=str(ROOT))
        argv = [sys.executable, "-m", "k8s_assets", "watch", "--context", CONTEXT]
        if self.args.profile:
            argv = [sys.executable, "-m", "cProfile", "-o", str(self.workdir / "watcher.pstats"), "-m", "k8s_assets",
                    "watch", "--context", CONTEXT]
        self.watcher_log = self.workdir / "watcher.log"
        started = time.monotonic()
        self.watcher_proc = subprocess.Popen(argv, env=env, cwd=self.workdir, stdout=open(self.watcher_log, "ab"),
                                             stderr=subprocess.STDOUT)
        self.watcher = psutil.Process(self.watcher_proc.pid)
        self.meters = Meters(self.watcher, self.simulator, self.database)
        self.sampler_stop = threading.Event()
        threading.Thread(target=self._sample_rss, daemon=True).start()
        before = self.meters.read()
        deadline = started + self.args.listing_timeout
        while True:
            status, _, _ = self.poller.snapshot()
            if status == "watching":
                break
            if self.watcher_proc.poll() is not None:
                raise RuntimeError(f"the watcher exited with {self.watcher_proc.returncode}; see {self.watcher_log}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the watcher did not list the pods in {self.args.listing_timeout}s")
            time.sleep(0.1)
        after = self.meters.read()
        listing = {"seconds": round(time.monotonic() - started, 1),
                   "watcher_cpu_seconds": round(after["watcher"] - before["watcher"], 1),
                   "rss_mib_after": round(rss_bytes(tree(self.watcher)) / MIB, 1), "uptime": load_average()}
        log(f"watcher listed the pods and is watching: {listing}")
        time.sleep(2)  # let the first bookmark and the Dagster instance settle
        return listing

    def _sample_rss(self) -> None:
        while not self.sampler_stop.wait(1.0):
            self.rss.append((time.monotonic(), rss_bytes(tree(self.watcher))))

    def stop(self) -> None:
        if getattr(self, "watcher_proc", None) is not None and self.watcher_proc.poll() is None:
            self.watcher_proc.send_signal(2)
            try:
                self.watcher_proc.wait(60)
            except subprocess.TimeoutExpired:
                self.watcher_proc.kill()
        if hasattr(self, "sampler_stop"):
            self.sampler_stop.set()
        if hasattr(self, "poller"):
            self.poller.stopping.set()
        if hasattr(self, "sim"):
            self.sim.stop()
        if hasattr(self, "pg_server"):
            self.pg_server.cleanup()

    # churn records

    def fetch_records(self) -> None:
        versions, times = self.sim.call("churn_records", len(self.records_rv))
        self.records_rv.frombytes(versions)
        self.records_at.frombytes(times)

    # one phase

    def phase(self, name: str, rate: float, seconds: float, max_backlog: int | None) -> dict:
        """Churn at ``rate`` for ``seconds`` (less if the backlog passes ``max_backlog``), then drain."""
        args = self.args
        self.fetch_records()
        first_record = len(self.records_rv)
        _, applied_before, batches_before = self.poller.snapshot()
        meter_before = self.meters.read()
        rss_from = len(self.rss)
        started = time.monotonic()
        progress = self.sim.call("churn_start", "pods", rate, args.seed + len(name) + int(rate))
        made_before = progress["changes"]
        log(f"{name}: churn at {rate:g} events/s for {seconds:g}s; {load_average()}")
        stopped_early = None
        per_second = []
        while time.monotonic() - started < seconds:
            time.sleep(1.0)
            made = self.sim.call("churn_progress")["changes"] - made_before
            _, applied, _ = self.poller.snapshot()
            per_second.append((round(time.monotonic() - started, 1), made, applied - applied_before))
            if self.watcher_proc.poll() is not None:
                raise RuntimeError(f"the watcher exited with {self.watcher_proc.returncode}; see {self.watcher_log}")
            if max_backlog is not None and made - (applied - applied_before) > max_backlog:
                behind = made - (applied - applied_before)
                stopped_early = f"{behind} events behind after {time.monotonic() - started:.0f}s"
                break
            if len(per_second) % 30 == 0:
                log(f"  {per_second[-1][0]:.0f}s: made {made}, applied {applied - applied_before}")
                self.fetch_records()  # keep the driver's copy current (bounded message sizes)
        stop = self.sim.call("churn_stop")
        churn_seconds = time.monotonic() - started
        meter_churn = self.meters.read()
        _, applied_at_stop, _ = self.poller.snapshot()
        made = stop["changes"] - made_before
        rss_to = len(self.rss)
        # Drain: until every event made is applied (or a deadline, never the verdict).
        drain_started = time.monotonic()
        drained = False
        while time.monotonic() - drain_started < args.drain_timeout:
            _, applied, _ = self.poller.snapshot()
            if applied - applied_before >= made:
                drained = True
                break
            time.sleep(0.1)
        drain_seconds = time.monotonic() - drain_started
        time.sleep(3 * POLL_SECONDS)
        meter_after = self.meters.read()
        _, applied_after, batches_after = self.poller.snapshot()
        self.fetch_records()
        with self.poller.lock:
            batches = list(self.poller.batches)
        versions = self.records_rv[first_record:]
        times = self.records_at[first_record:]
        lags, uncovered = end_to_end_lags(versions, times, batches)
        phase_batches = batches[batches_before:batches_after]

        def cpu(before, after, who):
            return after[who] - before[who]

        applied_during = applied_at_stop - applied_before
        applied_total = applied_after - applied_before
        watcher_cpu = cpu(meter_before, meter_after, "watcher")
        wall_churn = meter_churn["wall"] - meter_before["wall"]
        wall_total = meter_after["wall"] - meter_before["wall"]
        result = {
            "name": name,
            "offered_rate": rate,
            "churn_seconds": round(churn_seconds, 1),
            "stopped_early": stopped_early,
            "events_made": made,
            "made_rate": round(made / churn_seconds, 1),
            "made_counts": stop.get("counts"),
            "events_applied_during_churn": applied_during,
            "applied_rate_during_churn": round(applied_during / churn_seconds, 1),
            "events_applied": applied_total,
            "drained": drained,
            "drain_seconds": round(drain_seconds, 1),
            "wall_seconds": round(wall_total, 1),
            "batches_seen": len(phase_batches),
            "cpu_seconds": {who: round(cpu(meter_before, meter_after, who), 1)
                            for who in ("watcher", "simulator", "postgres", "machine")},
            "cpu_seconds_during_churn": {who: round(cpu(meter_before, meter_churn, who), 1)
                                         for who in ("watcher", "simulator", "postgres", "machine")},
            "watcher_cores": round(watcher_cpu / wall_total, 2) if wall_total else None,
            "events_per_watcher_cpu_second": round(applied_total / watcher_cpu, 1) if watcher_cpu else None,
            "events_per_watcher_and_postgres_cpu_second": round(
                applied_total / (watcher_cpu + cpu(meter_before, meter_after, "postgres")), 1) if watcher_cpu else None,
            "simulator_cores_during_churn": round(cpu(meter_before, meter_churn, "simulator") / wall_churn, 2),
            "lag_end_to_end_seconds": percentiles(lags),
            "changes_not_seen_applied": uncovered,
            "lag_watcher_batch_p99_seconds": percentiles([b[4] for b in phase_batches]),
            "lag_watcher_batch_max_seconds": percentiles([b[5] for b in phase_batches]),
            "rss": rss_summary([(t - self.rss[rss_from][0], b) for t, b in self.rss[rss_from:rss_to]])
            if rss_to - rss_from >= 4 else {},
            "per_second": per_second,
            "uptime_after": load_average(),
        }
        result["keeps_up"] = bool(
            stopped_early is None and applied_during >= KEEP_UP_FRACTION * made
            and (result["lag_end_to_end_seconds"]["p99"] or 0) <= TARGET_LAG_P99)
        result["generator_kept_rate"] = made >= KEEP_UP_FRACTION * rate * churn_seconds
        brief = {k: result[k] for k in ("made_rate", "applied_rate_during_churn", "events_per_watcher_cpu_second",
                                         "watcher_cores", "simulator_cores_during_churn", "lag_end_to_end_seconds",
                                         "keeps_up", "drain_seconds")}
        log(f"{name}: {brief}; {result['uptime_after']}")
        return result

    def check_rows(self) -> dict:
        import psycopg

        pods = self.sim.call("counts", ["pods"])["pods"]
        with psycopg.connect(self.url) as conn:
            stored = conn.execute("SELECT count(*) FROM k8s_pods").fetchone()[0]
            history = conn.execute("SELECT count(*) FROM k8s_pods_history").fetchone()[0]
        return {"simulator_pods": pods, "stored_pods": stored, "history_rows": history, "match": pods == stored}


def run(args) -> dict:
    bench = Bench(args)
    out: dict = {"started": time.strftime("%Y-%m-%d %H:%M:%S"), "host": platform.node(), "cpus": os.cpu_count(),
                 "argv": sys.argv[1:], "uptime_before": load_average()}
    try:
        out["cluster"] = bench.start()
        out["listing"] = bench.start_watcher()
        out["steps"] = []
        if args.step_rates:
            for rate in [float(r) for r in args.step_rates.split(",") if r]:
                step = bench.phase(f"step-{rate:g}", rate, args.step_seconds, args.max_backlog)
                out["steps"].append(step)
                if not step["keeps_up"]:
                    break
        if args.minutes > 0:
            out["sustained"] = bench.phase("sustained", args.rate, args.minutes * 60, None)
        out["rows"] = bench.check_rows()
        log(f"rows: {out['rows']}")
        out["rss_whole_run_mib"] = [(round(t - bench.rss[0][0], 1), round(b / MIB, 1)) for t, b in bench.rss]
    finally:
        bench.stop()
        if not args.workdir and not args.keep:
            shutil.rmtree(bench.workdir, ignore_errors=True)
    out["uptime_after"] = load_average()
    out["summary"] = summarize(out)
    return out


def summarize(out: dict) -> dict:
    steps = out.get("steps", [])
    kept = [s for s in steps if s["keeps_up"]]
    summary = {
        "max_sustained_step_rate": max((s["offered_rate"] for s in kept), default=None),
        "best_applied_rate": max((s["applied_rate_during_churn"] for s in steps), default=None),
    }
    sustained = out.get("sustained")
    if sustained:
        summary.update(
            per_core=sustained["events_per_watcher_cpu_second"],
            per_core_ok=(sustained["events_per_watcher_cpu_second"] or 0) >= TARGET_PER_CORE,
            lag_p99=sustained["lag_end_to_end_seconds"]["p99"],
            lag_ok=(sustained["lag_end_to_end_seconds"]["p99"] or 1e9) <= TARGET_LAG_P99,
            rss_flat=sustained["rss"].get("flat"),
        )
    return summary


# -- report -----------------------------------------------------------------------------------


def phase_rows(phases: list[dict]) -> list[str]:
    rows = ["| phase | offered/s | made/s | applied/s (during churn) | kept up | watcher CPU s | watcher cores | "
            "events per watcher CPU-s | per (watcher+PG) CPU-s | simulator cores | PostgreSQL CPU s | "
            "lag p50 / p99 / max (s) | watcher's batch lag p99 (median / max over batches) | drain s |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for p in phases:
        lag = p["lag_end_to_end_seconds"]
        batch = p["lag_watcher_batch_p99_seconds"]
        rows.append(
            f"| {p['name']} | {p['offered_rate']:g} | {p['made_rate']:g} | {p['applied_rate_during_churn']:g} | "
            f"{'yes' if p['keeps_up'] else 'no'}{' (' + p['stopped_early'] + ')' if p['stopped_early'] else ''} | "
            f"{p['cpu_seconds']['watcher']} | {p['watcher_cores']} | {p['events_per_watcher_cpu_second']} | "
            f"{p['events_per_watcher_and_postgres_cpu_second']} | {p['simulator_cores_during_churn']} | "
            f"{p['cpu_seconds']['postgres']} | {lag['p50']} / {lag['p99']} / {lag['max']} | "
            f"{batch['p50']} / {batch['max']} | {p['drain_seconds']} |")
    return rows


def write_report(out: dict, stem: str) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{stem}.json").write_text(json.dumps(out, indent=1))
    s = out["summary"]
    lines = [
        "# Watch under churn (issue 20)",
        "",
        f"`python benchmarks/bench_watch.py {' '.join(out['argv'])}`, {out['started']}, {out['cpus']} cores "
        f"shared with other work ({out['uptime_before']} before, {out['uptime_after']} after). "
        "Method: benchmarks/README.md, \"Watch benchmark\".",
        "",
        f"Cluster: {out['cluster']['pods']} pods (simulator ready in {out['cluster']['simulator_start_seconds']} s). "
        f"Watcher: `python -m k8s_assets watch --context big`, K8S_ASSETS_RESOURCES=pods, default WatchOptions. "
        f"Initial streaming list and merge: {out['listing']['seconds']} s, "
        f"{out['listing']['watcher_cpu_seconds']} CPU s, RSS after it {out['listing']['rss_mib_after']} MiB.",
        "",
    ]
    sustained = out.get("sustained")
    if sustained:
        rss = sustained["rss"]
        lines += [
            "## Against the target",
            "",
            "| target | measured | verdict |",
            "|---|---|---|",
            f"| >= {TARGET_PER_CORE:,.0f} events/s applied per core | {s['per_core']} events per watcher CPU-second "
            f"({sustained['made_rate']:g} events/s made, {sustained['watcher_cores']} cores of watcher) | "
            f"{'pass' if s['per_core_ok'] else 'FAIL'} |",
            f"| lag p99 <= {TARGET_LAG_P99:g} s | {s['lag_p99']} s (change made to row committed) | "
            f"{'pass' if s['lag_ok'] else 'FAIL'} |",
            f"| RSS flat over {sustained['churn_seconds'] / 60:.0f} minutes | "
            f"first {rss.get('window_seconds')} s median "
            f"{rss.get('first_median_mib')} MiB, last {rss.get('last_median_mib')} MiB, slope "
            f"{rss.get('slope_mib_per_minute')} MiB/min, max {rss.get('max_mib')} MiB | "
            f"{'pass' if rss.get('flat') else 'FAIL'} |",
            "",
        ]
    if s.get("max_sustained_step_rate") is not None or out.get("steps"):
        lines += [f"Highest step rate kept up: {s['max_sustained_step_rate']} events/s; highest applied rate in any "
                  f"step: {s['best_applied_rate']} events/s.", ""]
    lines += ["## Phases", ""] + phase_rows([*out.get("steps", []), *([sustained] if sustained else [])]) + [""]
    rows = out.get("rows")
    if rows:
        lines += [f"After the churn and the drain: {rows['stored_pods']} pods stored, {rows['simulator_pods']} "
                  f"served ({'equal' if rows['match'] else 'DIFFERENT'}); {rows['history_rows']} history rows.", ""]
    (RESULTS / f"{stem}.md").write_text("\n".join(lines))
    log(f"wrote {RESULTS / (stem + '.md')} and .json")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pods", type=int, default=150_000)
    parser.add_argument("--minutes", type=float, default=10.0, help="sustained phase (0: none)")
    parser.add_argument("--rate", type=float, default=2000.0, help="events/s of the sustained phase")
    parser.add_argument("--step-rates", default="1000,2000,4000,8000", help="comma-separated; empty: no steps")
    parser.add_argument("--step-seconds", type=float, default=60.0)
    parser.add_argument("--max-backlog", type=int, default=50_000,
                        help="end a step this many events behind (the simulator keeps 100,000)")
    parser.add_argument("--drain-timeout", type=float, default=120.0)
    parser.add_argument("--listing-timeout", type=float, default=900.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", help="keep scratch files (logs, kubeconfig) here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary workdir")
    parser.add_argument("--profile", action="store_true",
                        help="run the watcher under cProfile (workdir/watcher.pstats; its main thread only)")
    parser.add_argument("--out-name", default="watch")
    args = parser.parse_args(argv)
    out = run(args)
    write_report(out, args.out_name)
    print(json.dumps(out["summary"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
