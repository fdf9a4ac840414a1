"""Capacity: how many clusters a deployment syncs per hour, per slot of the pool k8s_cluster_sync.

    python benchmarks/bench_capacity.py                                  # the default run (< 10 min here)
    python benchmarks/bench_capacity.py --sizes small:8,medium:4 --pools 1,4,8

For each size (``small``: the demo's 80-pod clusters; ``medium``: 10,000 pods; or a pod count)
N simulated clusters are served by one simulator process. For each pool limit, a fresh
database and Dagster instance (the packaged dagster.yaml, its ``default_limit`` set to the
limit) and a real ``dagster-daemon``: the schedule's run requests for every context (one
tick) are submitted to the run queue, the daemon's run queue starts them as the pool allows,
each run in a process of its own (the default run launcher; under the K8sRunLauncher each
is a pod). Measured from the submission to the end of the last run: wall time of the tick,
clusters per hour per slot, and the mean time one sync took.

Every tick is a first sync (a fresh database); the simulator, PostgreSQL, the daemon and the
syncs share this machine's cores, so past two busy slots the runs slow each other down: the
figures are a floor for a deployment whose run pods get cores of their own. Writes
benchmarks/results/capacity.md and capacity.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from bench_sync import fresh_database, log, start_postgres  # noqa: E402

RESULTS = HERE / "results"
NEVER = "0 0 1 1 *"  # the schedule's own cron must not tick during a measurement

SERVE = """
import sys
from k8s_assets.simulator import Simulator
size, kubeconfig, *clusters = sys.argv[1:]
with Simulator(clusters=clusters, size=int(size) if size.isdigit() else size, seed=1) as sim:
    sim.write_kubeconfig(kubeconfig)
    print("ready", flush=True)
    sys.stdin.read()  # serve until the driver closes stdin
"""

# One schedule tick, submitted as the daemon's scheduler does: the schedule's run requests,
# each made a queued run of k8s_sync through the run coordinator.
SUBMIT = """
import datetime, json, sys
from dagster import DagsterInstance, build_schedule_context
from dagster._cli.job import _create_run
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import WorkspaceFileTarget
from k8s_assets.dagster_edge.schedules import SCHEDULE_NAME
from k8s_assets.definitions import defs

workspace = sys.argv[1]
repository = defs.get_repository_def()
tick = datetime.datetime.now(datetime.timezone.utc).replace(second=0, microsecond=0)
with build_schedule_context(scheduled_execution_time=tick, repository_def=repository) as context:
    requests = repository.get_schedule_def(SCHEDULE_NAME).evaluate_tick(context).run_requests
with DagsterInstance.get() as instance, WorkspaceProcessContext(instance, WorkspaceFileTarget([workspace])) as process:
    request_context = process.create_request_context()
    (location,) = request_context.code_locations
    (remote_repo,) = location.get_repositories().values()
    job = remote_repo.get_full_job("k8s_sync")
    for request in requests:
        run = _create_run(instance, location, remote_repo, job, {}, request.tags, None, None)
        instance.submit_run(run.run_id, request_context)
print(json.dumps(len(requests)))
"""


def instance_config(pool: int) -> str:
    text = (ROOT / "k8s_assets" / "dagster.yaml").read_text()
    assert "    default_limit: 4\n" in text, "dagster.yaml's pool limit moved: update bench_capacity.py"
    return text.replace("    default_limit: 4\n", f"    default_limit: {pool}\n")


def measure(size: str, clusters: list[str], kubeconfig: Path, pool: int, server_url: str, workdir: Path) -> dict:
    import dagster as dg
    from dagster._core.instance.ref import InstanceRef

    name = f"capacity_{size}_{len(clusters)}_{pool}"
    url = fresh_database(server_url, name)
    home = workdir / name
    home.mkdir()
    (home / "dagster.yaml").write_text(instance_config(pool))
    workspace = home / "workspace.yaml"
    workspace.write_text(f"load_from:\n  - python_module:\n      module_name: k8s_assets.definitions\n"
                         f"      working_directory: {ROOT}\n      location_name: k8s_assets\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("K8S_ASSETS_", "DAGSTER_"))}
    env.update(PYTHONPATH=str(ROOT), DAGSTER_HOME=str(home), KUBECONFIG=str(kubeconfig), K8S_ASSETS_DATABASE_URL=url,
               K8S_ASSETS_HOME=str(home / "k8s-assets"), K8S_ASSETS_SCHEDULE=NEVER, PYTHONWARNINGS="ignore")
    daemon_log = (home / "daemon.log").open("wb")
    daemon = subprocess.Popen([sys.executable, "-m", "dagster._daemon", "run", "-w", str(workspace)], env=env,
                              cwd=home, stdout=daemon_log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        submitted_at = time.time()
        submitted = subprocess.run([sys.executable, "-c", SUBMIT, str(workspace)], env=env, cwd=home,
                                   capture_output=True, text=True, timeout=600)
        if submitted.returncode != 0:
            raise RuntimeError(f"submitting the tick failed:\n{submitted.stderr[-3000:]}")
        os.environ["K8S_ASSETS_DATABASE_URL"] = url
        with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
            while True:
                records = instance.get_run_records(dg.RunsFilter(job_name="k8s_sync"))
                if len(records) >= len(clusters) and all(r.dagster_run.is_finished for r in records):
                    break
                if daemon.poll() is not None:
                    raise RuntimeError(f"dagster-daemon exited {daemon.returncode}; see {home / 'daemon.log'}")
                time.sleep(2.0)
        failed = [r.dagster_run.tags.get("k8s-assets/context") for r in records
                  if r.dagster_run.status != dg.DagsterRunStatus.SUCCESS]
        ended = max(r.end_time for r in records)
        wall = ended - submitted_at
        syncs = [r.end_time - r.start_time for r in records]
        slots = min(pool, len(clusters))
        return {"size": size, "clusters": len(clusters), "pool": pool, "wall_seconds": round(wall, 1),
                "mean_sync_seconds": round(statistics.mean(syncs), 1), "max_sync_seconds": round(max(syncs), 1),
                "clusters_per_hour": round(len(clusters) * 3600 / wall, 1),
                "clusters_per_hour_per_slot": round(len(clusters) * 3600 / wall / slots, 1), "failed": failed}
    finally:
        os.environ.pop("K8S_ASSETS_DATABASE_URL", None)
        daemon.terminate()
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        daemon_log.close()


def table(rows: list[dict]) -> str:
    lines = ["| cluster size | clusters | pool limit | wall time of the tick | mean sync | clusters/hour | clusters/hour per slot |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        pods = {"small": "demo (80 pods)", "medium": "10,000 pods"}.get(r["size"], f"{r['size']} pods")
        lines.append(f"| {pods} | {r['clusters']} | {r['pool']} | {r['wall_seconds']:.0f} s | {r['mean_sync_seconds']:.0f} s | "
                     f"{r['clusters_per_hour']:.0f} | {r['clusters_per_hour_per_slot']:.0f} |"
                     + (f" failed: {', '.join(r['failed'])}" if r["failed"] else ""))
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="small:4,medium:1",
                        help="size:N, comma-separated (size: small = the demo's, medium = 10,000 pods, or a pod count)")
    parser.add_argument("--pools", default="1,4,8", help="pool limits of k8s_cluster_sync to measure")
    parser.add_argument("--workdir", help="keep scratch files (daemon logs, kubeconfigs) here")
    args = parser.parse_args(argv)
    pools = [int(p) for p in args.pools.split(",")]
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench-capacity-"))
    workdir.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(exist_ok=True)
    started = time.monotonic()
    server, server_url = start_postgres(workdir)
    rows = []
    try:
        for spec in args.sizes.split(","):
            size, count = spec.split(":")
            clusters = [f"c{i:02d}" for i in range(1, int(count) + 1)]
            kubeconfig = workdir / f"kubeconfig-{size}"
            serving = subprocess.Popen([sys.executable, "-c", SERVE, size, str(kubeconfig), *clusters],
                                       env={**os.environ, "PYTHONPATH": str(ROOT)}, stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, text=True)
            try:
                assert serving.stdout.readline().strip() == "ready", "the simulator did not start"
                for pool in pools:
                    log(f"{size} x{len(clusters)}, pool {pool}")
                    rows.append(measure(size, clusters, kubeconfig, pool, server_url, workdir))
                    log(json.dumps(rows[-1]))
            finally:
                serving.stdin.close()
                serving.wait(timeout=60)
    finally:
        server.cleanup()
    total = time.monotonic() - started
    shown = table(rows)
    note = (f"`python benchmarks/bench_capacity.py --sizes {args.sizes} --pools {args.pools}`, "
            f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores shared by the syncs, the simulator, PostgreSQL "
            f"and the daemon; whole run {total / 60:.1f} min.")
    (RESULTS / "capacity.json").write_text(json.dumps({"rows": rows, "note": note}, indent=2))
    (RESULTS / "capacity.md").write_text(f"{shown}\n\n{note}\n")
    print(f"\n{shown}\n\n{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
