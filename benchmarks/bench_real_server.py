"""Benchmark: a sync of a real kube-apiserver next to the simulator serving the same objects.

    python benchmarks/bench_real_server.py --sizes 5000,50000     # ~15 min on 2 cores
    python benchmarks/bench_real_server.py --sizes 2000           # a quick check

For each size, a real upstream kube-apiserver (built by scripts/build-kube-servers.sh) with
etcd is started on loopback and given one object of every built-in kind plus ``size`` pods in
ten namespaces, created through the official client (8 threads). The simulator then serves
exactly the objects the real server lists (same uids, resourceVersions, managedFields). Each is
synced with the Dagster job ``k8s_sync`` (benchmarks/sync_child.py, a child process: wall time
and peak RSS of its tree), first into an empty database and then again with nothing changed.

Both servers share the machine's two cores with the sync, as the embedded PostgreSQL does; the
difference between the two columns is what serving costs: the real server encodes each page
from etcd (protobuf to JSON) where the simulator sends pre-serialized bytes.

Writes benchmarks/results/real-server.md and real-server.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from bench_sync import fresh_database, log, run_child, start_postgres, sync_summary  # noqa: E402

from kubernetes.dynamic import DynamicClient  # noqa: E402

from k8s_assets.catalog import KINDS  # noqa: E402
from k8s_assets.simulator import Simulator  # noqa: E402
from k8s_assets_tests import real_objects  # noqa: E402
from k8s_assets_tests.fixtures_kube import CURRENT, RealKubeServer, binaries  # noqa: E402

RESULTS = HERE / "results"
NAMESPACES = 10


def fill(server: RealKubeServer, pods: int) -> float:
    """One object of every built-in kind, then ``pods`` pods; returns the seconds creating the pods took."""
    api = server.api_client()
    dynamic = DynamicClient(api)
    # No CRDs: the simulator serves the instances of its own CRDs only, so both serve none.
    for table, obj in real_objects.manifests():
        if table != "k8s_crds":
            real_objects.create(dynamic, table, obj)
    for i in range(NAMESPACES):
        real_objects.create(dynamic, "k8s_namespaces", {"metadata": {"name": f"load-{i}"}})
    started = time.perf_counter()
    per_namespace = -(-pods // NAMESPACES)
    for i in range(NAMESPACES):
        count = min(per_namespace, pods - i * per_namespace)
        if count > 0:
            real_objects.create_pods(dynamic, count, namespace=f"load-{i}", prefix="pod")
    return time.perf_counter() - started


def bench_size(size: int, version: str, server_url: str, workdir: Path) -> dict:
    result: dict = {"pods": size, "version": version}
    with RealKubeServer(version, workdir / f"kube-{size}") as server:
        log(f"{size}: kube-apiserver {version} ready; creating objects")
        result["create_pods_seconds"] = fill(server, size)
        log(f"{size}: {size} pods created in {result['create_pods_seconds']:.1f}s")
        real_kubeconfig = server.write_kubeconfig(workdir / f"kubeconfig-real-{size}")
        api = server.api_client()
        dynamic = DynamicClient(api)
        served = {kind.resource: real_objects.list_objects(api, kind, real_objects.resource_for(dynamic, kind).api_version)
                  for kind in KINDS}
        result["objects"] = sum(len(v) for v in served.values())
        for run in ("full", "resync"):
            url = fresh_database(server_url, f"real_{size}") if run == "full" else url
            log(f"{size}: real server, {run}")
            result[f"real_{run}"] = sync_summary(run_child("sync_child.py", f"real-{run}-{size}", real_kubeconfig,
                                                            url, workdir, ["--partition", server.context()]))
    with Simulator(clusters=("mirror",), size="tiny") as sim:
        for resource, objects in served.items():
            sim["mirror"].replace_all(resource, objects)
        del served
        sim_kubeconfig = sim.write_kubeconfig(workdir / f"kubeconfig-sim-{size}")
        for run in ("full", "resync"):
            url = fresh_database(server_url, f"sim_{size}") if run == "full" else url
            log(f"{size}: simulator, {run}")
            result[f"sim_{run}"] = sync_summary(run_child("sync_child.py", f"sim-{run}-{size}", sim_kubeconfig, url,
                                                           workdir, ["--partition", "mirror"]))
    for key in ("real_full", "real_resync", "sim_full", "sim_resync"):
        if not result[key]["success"]:
            raise RuntimeError(f"{size}: the {key} sync failed; see {workdir}")
    return result


def write_markdown(results: list[dict], command: str, path: Path) -> None:
    lines = [
        "# A real kube-apiserver next to the simulator, serving the same objects", "",
        f"`{command}`, {time.strftime('%Y-%m-%d')}, one 2-core machine (servers, PostgreSQL and the sync share it).",
        "Each sync is the Dagster job `k8s_sync` over every built-in kind, in a child process; the re-sync "
        "follows with nothing changed.", "",
        "| pods | objects | creating the pods (8 threads) | server | full sync | objects/s | peak RSS | "
        "re-sync | re-sync / full |",
        "|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        for side, label in (("real", f"kube-apiserver {r['version']}"), ("sim", "simulator")):
            full, resync = r[f"{side}_full"], r[f"{side}_resync"]
            lines.append(
                f"| {r['pods']:,} | {full['objects']:,} | {r['create_pods_seconds']:.1f} s | {label} | "
                f"{full['seconds']:.1f} s | {full['objects'] / full['seconds']:,.0f} | {full['peak_rss_mib']:,.0f} MiB | "
                f"{resync['seconds']:.1f} s | {resync['seconds'] / full['seconds']:.2f} |")
    lines += ["", "Listing and merging of the pods alone (from the pods asset's metadata):", "",
              "| pods | server | list (full) | merge (full) | list (re-sync) | merge (re-sync) |",
              "|---:|---|---:|---:|---:|---:|"]
    for r in results:
        for side, label in (("real", "kube-apiserver"), ("sim", "simulator")):
            full, resync = r[f"{side}_full"], r[f"{side}_resync"]
            lines.append(f"| {r['pods']:,} | {label} | {full['pods_list_seconds']:.2f} s | "
                         f"{full['pods_merge_seconds']:.2f} s | {resync['pods_list_seconds']:.2f} s | "
                         f"{resync['pods_merge_seconds']:.2f} s |")
    path.write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="5000,50000")
    parser.add_argument("--version", default=CURRENT)
    parser.add_argument("--results", default=str(RESULTS))
    args = parser.parse_args(argv)
    if binaries(args.version) is None:
        print(f"kube-apiserver {args.version} is not built: run scripts/build-kube-servers.sh", file=sys.stderr)
        return 2
    results_dir = Path(args.results)
    results_dir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="bench-real-"))
    pg, server_url = start_postgres(workdir)
    results = []
    try:
        for size in (int(s) for s in args.sizes.split(",")):
            results.append(bench_size(size, args.version, server_url, workdir))
            (results_dir / "real-server.json").write_text(json.dumps(results, indent=1, default=str))
    finally:
        pg.cleanup()
    command = "python benchmarks/bench_real_server.py " + " ".join(argv if argv is not None else sys.argv[1:])
    write_markdown(results, command.strip(), results_dir / "real-server.md")
    print((results_dir / "real-server.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
