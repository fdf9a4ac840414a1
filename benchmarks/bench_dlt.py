"""Benchmark: k8s-assets against dlt, the best generic loader with merges, on the same pods and PostgreSQL.

    python benchmarks/bench_dlt.py --pods 50000            # the issue's comparison (~10 min on 2 cores)
    python benchmarks/bench_dlt.py --pods 2000             # a quick check

One simulated cluster (benchmarks/sim_server.py), one PostgreSQL (Debian's PostgreSQL 15 when
installed, as our earlier comparison used, else the embedded server), two fresh databases.
Each loader loads the cluster's pods twice: a first load into an empty database, then a reload
with nothing changed. Both list the same pods from the same server in 500-object pages.

- k8s-assets: ``dagster asset materialize --select k8s_clusters,k8s_pods --partition big -m
  k8s_assets.definitions``, as a user runs it; wall time with process start, and the Dagster
  run's own duration from the instance's run record.
- dlt (``pip install -e '.[bench]'``): benchmarks/dlt_child.py, ``merge`` with the ``upsert``
  strategy on ``(cluster_uid, uid)``, the whole pod as ``json`` (jsonb), dlt's default loader
  for postgres (``--dlt-format`` to choose another).

Writes benchmarks/results/dlt.md and dlt.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from bench_sync import MIB, SimulatorProcess, child_env, fresh_database, log, start_postgres  # noqa: E402
from measure import run_measured  # noqa: E402

DEBIAN_PG_BIN = Path("/usr/lib/postgresql/15/bin")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Debian15:
    """Debian's PostgreSQL 15 in a scratch directory, as the postgres user when run as root."""

    def __init__(self, workdir: Path):
        self.base = workdir / "pg15"
        self.data, sockets = self.base / "data", self.base / "sock"
        sockets.mkdir(parents=True)
        self.as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_postgres:
            for path in (self.base, sockets):
                shutil.chown(path, "postgres")
        subprocess.run([*self.as_postgres, str(DEBIAN_PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres",
                        "--auth=trust", "-E", "UTF8"], check=True, capture_output=True)
        port = free_port()
        # TCP on loopback, not a socket directory: dlt takes credentials only as host and port.
        subprocess.run([*self.as_postgres, str(DEBIAN_PG_BIN / "pg_ctl"), "-D", str(self.data), "-w", "-l",
                        str(self.base / "log"), "-o", f"-k {sockets} -h 127.0.0.1 -p {port}", "start"],
                       check=True, capture_output=True)
        self.url = f"postgresql://postgres@127.0.0.1:{port}/postgres"

    def stop(self) -> None:
        subprocess.run([*self.as_postgres, str(DEBIAN_PG_BIN / "pg_ctl"), "-D", str(self.data), "-w", "-m", "fast",
                        "stop"], check=False, capture_output=True)


def server_version(url: str) -> str:
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute("SHOW server_version").fetchone()[0]


def relation_mb(url: str, *relations: str) -> float:
    import psycopg

    with psycopg.connect(url) as conn:
        return sum(conn.execute("SELECT coalesce(pg_total_relation_size(to_regclass(%s)), 0)", (r,)).fetchone()[0]
                   for r in relations) / 1e6


def history_mb(url: str, history_table: str) -> float:
    """Every partition of a history table, indexes and TOAST included."""
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute("SELECT coalesce(sum(pg_total_relation_size(inhrelid)), 0)::bigint FROM pg_inherits "
                            "WHERE inhparent = to_regclass(%s)", (history_table,)).fetchone()[0] / 1e6


def k8s_assets_load(sim: SimulatorProcess, url: str, workdir: Path, name: str) -> dict:
    """``dagster asset materialize`` of the cluster and its pods; wall, peak RSS and the run's own time."""
    import dagster as dg

    home = workdir / "dagster_home"
    home.mkdir(exist_ok=True)
    argv = [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "k8s_assets.definitions",
            "--select", "k8s_clusters,k8s_pods", "--partition", "big"]
    result = run_measured(argv, None, env=child_env(sim.kubeconfig, url, home), log=workdir / f"{name}.log")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        record = instance.get_run_records(limit=1)[0]
    if record.dagster_run.status != dg.DagsterRunStatus.SUCCESS or result["exit_code"] != 0:
        raise RuntimeError(f"k8s-assets {name} failed: see {workdir / (name + '.log')}")
    return {"seconds": result["process_seconds"], "run_seconds": record.end_time - record.start_time,
            "peak_rss_mib": result["peak_rss_bytes"] / MIB}


def dlt_load(sim: SimulatorProcess, url: str, workdir: Path, name: str, file_format: str | None) -> dict:
    out = workdir / f"{name}.json"
    argv = [sys.executable, str(HERE / "dlt_child.py"), "--kubeconfig", str(sim.kubeconfig), "--url", url,
            "--out", str(out), "--workdir", str(workdir)]
    if file_format:
        argv += ["--loader-file-format", file_format]
    result = run_measured(argv, out, env=child_env(sim.kubeconfig, url, workdir), log=workdir / f"{name}.log")
    if not result.get("success") or result["exit_code"] != 0:
        raise RuntimeError(f"dlt {name} failed: see {workdir / (name + '.log')}")
    return {"seconds": result["process_seconds"], "run_seconds": result["job_seconds"],
            "peak_rss_mib": result["peak_rss_bytes"] / MIB, "listed": result["listed"]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pods", type=int, default=50000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dlt-format", default=None, help="dlt loader_file_format (default: dlt's default)")
    parser.add_argument("--postgres", choices=("debian15", "embedded"),
                        default="debian15" if (DEBIAN_PG_BIN / "postgres").exists() else "embedded")
    parser.add_argument("--workdir", help="keep scratch files here")
    args = parser.parse_args(argv)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench-dlt-"))
    workdir.mkdir(parents=True, exist_ok=True)
    workdir.chmod(0o755)  # mkdtemp's 0700 would keep Debian's server (the postgres user) out
    if args.postgres == "debian15":
        postgres = Debian15(workdir)
        server_url = postgres.url
    else:
        postgres, server_url = start_postgres(workdir)
    sim = SimulatorProcess(args.pods, workdir, seed=args.seed)
    try:
        pods = sim.call("counts", ["pods"])["pods"]
        version = server_version(server_url)
        log(f"{pods} pods served; PostgreSQL {version}")
        ours_url = fresh_database(server_url, "bench_k8s_assets")
        dlt_url = fresh_database(server_url, "bench_dlt")
        rows = {}
        for phase in ("first", "reload"):
            log(f"k8s-assets {phase} load")
            rows[f"k8s_assets_{phase}"] = k8s_assets_load(sim, ours_url, workdir, f"ours-{phase}")
            log(f"  {rows[f'k8s_assets_{phase}']}")
            log(f"dlt {phase} load")
            rows[f"dlt_{phase}"] = dlt_load(sim, dlt_url, workdir, f"dlt-{phase}", args.dlt_format)
            log(f"  {rows[f'dlt_{phase}']}")
        # Stored bytes with indexes and TOAST: our table and its history (every partition; the
        # open partition only exists before migration 011), dlt's table and the staging copy its
        # merge keeps.
        sizes = {"k8s_assets": relation_mb(ours_url, "k8s_pods"),
                 "k8s_assets_history": history_mb(ours_url, "k8s_pods_history"),
                 "dlt": relation_mb(dlt_url, "dlt_k8s.pods"),
                 "dlt_staging": relation_mb(dlt_url, "dlt_k8s_staging.pods")}
    finally:
        sim.stop()
        postgres.stop() if args.postgres == "debian15" else postgres.cleanup()
    report = {"pods": pods, "postgres": version, "dlt_format": args.dlt_format or "default", "loads": rows,
              "table_mb": sizes,
              "ratios": {phase: rows[f"dlt_{phase}"]["seconds"] / rows[f"k8s_assets_{phase}"]["seconds"]
                         for phase in ("first", "reload")}}
    command = "python benchmarks/bench_dlt.py " + " ".join(argv if argv is not None else sys.argv[1:])
    write_report(report, command.strip())
    print(json.dumps(report["ratios"], indent=1))
    return 0


def write_report(report: dict, command: str) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "dlt.json").write_text(json.dumps(report, indent=1))
    loads = report["loads"]
    lines = [
        "# k8s-assets against dlt", "",
        f"Command: `{command}`  ",
        f"Run at {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {report['pods']:,} simulator pods of one "
        f"cluster; PostgreSQL {report['postgres']}; dlt loader file format: {report['dlt_format']}. "
        "Wall times include process start (both loaders are started as a user starts them); "
        "the run column is each loader's own run (Dagster's run record; dlt's `pipeline.run`). "
        "The simulator and PostgreSQL share the machine's 2 cores with the loader.", "",
        "| loader | load | wall s | run s | peak RSS MiB |", "|---|---|---:|---:|---:|",
    ]
    for loader, label in (("k8s_assets", "k8s-assets (`dagster asset materialize`)"), ("dlt", "dlt merge/upsert")):
        for phase, what in (("first", "first load"), ("reload", "reload, nothing changed")):
            row = loads[f"{loader}_{phase}"]
            lines.append(f"| {label} | {what} | {row['seconds']:.1f} | {row['run_seconds']:.1f} | "
                         f"{row['peak_rss_mib']:.0f} |")
    sizes = report["table_mb"]
    ours = sizes["k8s_assets"] + sizes["k8s_assets_history"]
    theirs = sizes["dlt"] + sizes.get("dlt_staging", 0)
    lines += ["", "| stored (tables, TOAST and indexes) | MB |", "|---|---:|",
              f"| k8s-assets `k8s_pods` | {sizes['k8s_assets']:.0f} |",
              f"| k8s-assets `k8s_pods_history` (every partition) | {sizes['k8s_assets_history']:.0f} |",
              f"| dlt `pods` | {sizes['dlt']:.0f} |",
              f"| dlt `pods` in its staging dataset (kept by its merge) | {sizes.get('dlt_staging', 0):.0f} |",
              f"| k8s-assets / dlt (table + history / table + staging) | {ours / theirs:.2f} x (target <= 0.6 x) |",
              f"| k8s-assets / dlt `pods` alone | {ours / sizes['dlt']:.2f} x |", "",
              "| ratio (dlt / k8s-assets, wall) | measured | target |", "|---|---:|---:|",
              f"| first load | {report['ratios']['first']:.1f} x | >= 4 x |",
              f"| reload, nothing changed | {report['ratios']['reload']:.1f} x | >= 10 x |", ""]
    (RESULTS / "dlt.md").write_text("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
