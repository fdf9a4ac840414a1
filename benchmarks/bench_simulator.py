"""Benchmark: how fast a raw-JSON client lists pods from a 150,000-pod simulated cluster.

Starts one cluster at Kubernetes' published limits (``--size large``), reports its start
time and memory, then lists every pod with the official client (``_preload_content=False``,
``limit=500``, pages dropped after use) from a separate process, so client and server do not
share a GIL. Two client modes are timed: fetching the pages only (what the server can serve)
and fetching plus ``orjson.loads`` (what a raw-JSON client achieves). Prints a markdown table.

    python benchmarks/bench_simulator.py [--size large] [--limit 500]

Not a test: figures depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def list_all_pods(kubeconfig: str, context: str, limit: int, parse: bool) -> dict:
    """Run in the client process: list every pod page by page and time it."""
    import orjson
    from kubernetes import client, config

    core = client.CoreV1Api(config.new_client_from_config(config_file=kubeconfig, context=context, persist_config=False))
    pods = pages = received = 0
    token = None
    began = time.perf_counter()
    while True:
        response = core.list_pod_for_all_namespaces(limit=limit, _continue=token, _preload_content=False)
        body = response.data
        response.release_conn()
        received += len(body)
        pages += 1
        if parse:
            page = orjson.loads(body)
            pods += len(page["items"])
            token = page["metadata"].get("continue")
        else:
            # Without parsing, find the continue token cheaply: it sits in the list header.
            header = body[:512]
            start = header.find(b'"continue":"')
            token = header[start + 12 : header.index(b'"', start + 12)].decode() if start >= 0 else None
        if not token:
            break
    return {"seconds": time.perf_counter() - began, "pods": pods, "pages": pages, "bytes": received}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="large")
    parser.add_argument("--limit", type=int, default=500)
    parser.add_argument("--client", nargs=3, metavar=("KUBECONFIG", "CONTEXT", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        kubeconfig, context, mode = args.client
        print(json.dumps(list_all_pods(kubeconfig, context, args.limit, parse=mode == "parse")))
        return

    import psutil

    from k8s_assets.simulator import Simulator

    process = psutil.Process()
    rss_before = process.memory_info().rss
    began = time.perf_counter()
    simulator = Simulator(clusters=("bench",), size=int(args.size) if args.size.isdigit() else args.size, seed=1)
    simulator.start()
    start_seconds = time.perf_counter() - began
    cluster = simulator["bench"]
    rss_started = process.memory_info().rss
    served_json = sum(len(item) for key in cluster.store.resources for item in cluster.store.all_items(key))
    pod_count = len(cluster.store.all_items("pods"))

    with tempfile.TemporaryDirectory() as directory:
        kubeconfig = simulator.write_kubeconfig(Path(directory) / "kubeconfig")
        runs = {}
        for mode in ("fetch", "parse"):
            completed = subprocess.run(
                [sys.executable, __file__, "--limit", str(args.limit), "--client", str(kubeconfig), "bench", mode],
                capture_output=True,
                text=True,
                check=True,
            )
            runs[mode] = json.loads(completed.stdout)
    simulator.stop()
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB

    mib = 1024 * 1024
    print(f"## Simulator benchmark: {pod_count:,} pods, limit={args.limit}\n")
    print("| measure | value |")
    print("|---|---|")
    print(f"| start time (generate, serialize, serve) | {start_seconds:.1f} s |")
    print(f"| JSON held by the store (all kinds) | {served_json / mib:,.0f} MiB |")
    print(f"| RSS growth after start | {(rss_started - rss_before) / mib:,.0f} MiB |")
    print(f"| peak RSS of the simulator process | {peak_rss / mib:,.0f} MiB |")
    fetch, parse = runs["fetch"], runs["parse"]
    print(f"| pages per full pod list | {fetch['pages']} |")
    print(
        f"| fetch only (server throughput) | {pod_count / fetch['seconds']:,.0f} pods/s, "
        f"{fetch['bytes'] / mib / fetch['seconds']:,.0f} MiB/s ({fetch['seconds']:.1f} s) |"
    )
    print(
        f"| fetch + orjson.loads (raw-JSON client) | {parse['pods'] / parse['seconds']:,.0f} pods/s "
        f"({parse['seconds']:.1f} s) |"
    )


if __name__ == "__main__":
    main()
