"""``k8s-assets simulate``: serve simulated clusters until interrupted.

Starts the clusters, waits until each answers ``/version``, writes their kubeconfig,
prints one line per context and ``ready``, then serves until SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
import time

from k8s_assets.simulator import DEFAULT_CLUSTERS


def _size(value: str) -> str | int:
    return int(value) if value.isdigit() else value


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "simulate",
        help="serve simulated Kubernetes clusters and write their kubeconfig",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--kubeconfig", required=True, help="where to write the kubeconfig (one context per cluster)")
    parser.add_argument(
        "--clusters",
        default=",".join(DEFAULT_CLUSTERS),
        help="comma-separated cluster (and context) names (default: %(default)s)",
    )
    parser.add_argument(
        "--size",
        type=_size,
        default="small",
        help="tiny, small, medium, large (150,000 pods) or a pod count (default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the generated objects (default: %(default)s)")
    parser.add_argument("--extra-crds", type=int, default=0, help="additional generated CRDs per cluster")
    parser.add_argument("--http", action="store_true", help="serve plain HTTP instead of HTTPS (kubectl then sends no token)")
    parser.add_argument(
        "--churn",
        type=float,
        default=0.0,
        metavar="EVENTS_PER_SECOND",
        help="create, modify and delete pods in every cluster at this rate while serving (default: none)",
    )
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from k8s_assets.simulator import Simulator

    names = [name.strip() for name in args.clusters.split(",") if name.strip()]
    if not names:
        print("error: --clusters names no cluster", file=sys.stderr)
        return 2
    stop_requested = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop_requested.set()

    previous_handlers = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        started = time.monotonic()
        with Simulator(
            clusters=names, size=args.size, seed=args.seed, tls=not args.http, extra_crds=args.extra_crds
        ) as simulator:
            path = simulator.write_kubeconfig(args.kubeconfig)
            for cluster in simulator:
                print(f"context {cluster.context_name}: {cluster.server}", flush=True)
            print(f"kubeconfig written to {path} ({time.monotonic() - started:.1f}s)", flush=True)
            with contextlib.ExitStack() as churns:
                if args.churn > 0:
                    for number, cluster in enumerate(simulator):
                        churns.enter_context(cluster.churn(args.churn, resource="pods", seed=args.seed + number))
                    print(f"churning pods at {args.churn:g} changes per second per cluster", flush=True)
                print("ready", flush=True)
                while not stop_requested.wait(0.5):
                    pass
    finally:
        for sig, handler in previous_handlers.items():
            signal.signal(sig, handler)
    return 0
