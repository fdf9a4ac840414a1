"""A simulated cluster in its own process, driven by the benchmark over a tiny control channel.

    python benchmarks/sim_server.py --size 150000 --kubeconfig PATH --control PATH
    python benchmarks/sim_server.py --size small --contexts c001,c002 --bookmark-interval 60 ...

Serves one cluster named ``big`` (its CPU and memory are not part of the measured sync's
process tree), or one per name of ``--contexts``, writes the kubeconfig, then answers commands
on a ``multiprocessing.connection`` Unix socket (the single-cluster commands act on the first
cluster):

* ``("counts", resources)``: objects per simulator resource key;
* ``("churn", resources, changed_fraction, deleted_fraction, seed)``: modify and delete
  that share of every listed resource in one batch (lists see all changes or none);
* ``("churn_start", resource, events_per_second, seed)``: start a steady churn of one resource
  (``k8s_assets.simulator.churn``, in a thread of this process); every change it makes is kept
  as (resourceVersion, time.time() just after the change) for the driver to measure lag;
* ``("churn_progress",)``: changes made so far (by every churn of this process);
* ``("churn_stop",)``: stop the running churn; its counts by event type;
* ``("churn_records", first)``: the kept changes from index ``first`` on, as two arrays' bytes
  (resourceVersions as ``q``, times as ``d``);
* ``("churn_start_each", resource, events_per_second, seed)``: a churn of that rate in every
  cluster (one thread each), each cluster's changes kept apart;
* ``("churn_progress_each",)``: changes made so far, summed over every cluster;
* ``("churn_stop_each",)``: stop every cluster's churn; their counts summed;
* ``("churn_records_each", firsts)``: per cluster name, its kept changes from ``firsts[name]``
  (default 0) on, as ``churn_records`` gives them;
* ``("stop",)``.
"""

from __future__ import annotations

import argparse
import array
import random
import threading
import sys
import time
from multiprocessing.connection import Listener
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CHURN_ANNOTATION = "bench.k8s-assets.io/churn"
AUTHKEY = b"k8s-assets-bench"


def resolve_key(cluster, resource: str) -> str | None:
    """The simulator's key for a kubectl-style resource name (``deployments.apps``, ``pods``)."""
    keys = set(cluster.store.resources)
    for candidate in (resource, resource.split(".", 1)[0]):
        if candidate in keys:
            return candidate
    return None


def _identity(raw: bytes) -> tuple[str, str | None]:
    import orjson

    metadata = orjson.loads(raw)["metadata"]
    return metadata["name"], metadata.get("namespace")


def counts(cluster, resources: list[str]) -> dict[str, int]:
    out = {}
    for resource in resources:
        key = resolve_key(cluster, resource)
        out[resource] = len(cluster.store.all_items(key)) if key else 0
    return out


def churn(cluster, resources: list[str], changed: float, deleted: float, seed: int) -> dict:
    rng = random.Random(seed)
    summary = {}
    started = time.monotonic()
    with cluster.batch():
        for resource in resources:
            key = resolve_key(cluster, resource)
            if key is None:
                continue
            items = sorted(_identity(raw) for raw in cluster.store.all_items(key))
            n_changed, n_deleted = round(len(items) * changed), round(len(items) * deleted)
            chosen = rng.sample(items, min(len(items), n_changed + n_deleted))
            stamp = str(seed)

            def mutate(obj: dict) -> dict:
                obj["metadata"].setdefault("annotations", {})[CHURN_ANNOTATION] = stamp
                return obj

            for name, namespace in chosen[:n_changed]:
                cluster.modify(key, name, namespace, mutate=mutate)
            for name, namespace in chosen[n_changed:]:
                cluster.delete(key, name, namespace)
            summary[resource] = {"listed_before": len(items), "changed": n_changed,
                                 "deleted": len(chosen) - n_changed}
    summary["_seconds"] = round(time.monotonic() - started, 2)
    return summary


class ChurnControl:
    """The churn the driver started, and every change any churn made (compact arrays, not records:
    ten minutes at 8,000 changes/s are 4.8 million of them)."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.churn = None
        self.lock = threading.Lock()
        self.versions = array.array("q")
        self.times = array.array("d")

    def _on_change(self, record) -> None:
        with self.lock:
            self.versions.append(record.resource_version)
            self.times.append(record.time)

    def start(self, resource: str, events_per_second: float, seed: int) -> dict:
        if self.churn is not None:
            raise RuntimeError("a churn is already running")
        key = resolve_key(self.cluster, resource)
        if key is None:
            raise KeyError(f"no resource {resource!r}")
        self.churn = self.cluster.churn(events_per_second, resource=key, seed=seed, on_change=self._on_change,
                                        record_size=1)
        self.churn.start()
        return self.progress()

    def progress(self) -> dict:
        with self.lock:
            return {"changes": len(self.versions), "at": time.time()}

    def stop(self) -> dict:
        churn, self.churn = self.churn, None
        if churn is None:
            return {}
        churn.stop()
        return {"counts": dict(churn.counts), "attempts": churn.done, **self.progress()}

    def records(self, first: int) -> tuple[bytes, bytes]:
        with self.lock:
            return self.versions[first:].tobytes(), self.times[first:].tobytes()


class EachCluster:
    """A ChurnControl per cluster, driven together."""

    def __init__(self, clusters: dict):
        self.controls = {name: ChurnControl(cluster) for name, cluster in clusters.items()}

    def start(self, resource: str, events_per_second: float, seed: int) -> dict:
        for i, control in enumerate(self.controls.values()):
            control.start(resource, events_per_second, seed + i)
        return self.progress()

    def progress(self) -> dict:
        return {"changes": sum(c.progress()["changes"] for c in self.controls.values()), "at": time.time()}

    def stop(self) -> dict:
        counts: dict[str, int] = {}
        attempts = 0
        for control in self.controls.values():
            stopped = control.stop()
            attempts += stopped.get("attempts", 0)
            for kind, n in stopped.get("counts", {}).items():
                counts[kind] = counts.get(kind, 0) + n
        return {"counts": counts, "attempts": attempts, **self.progress()}

    def records(self, firsts: dict) -> dict:
        return {name: control.records(firsts.get(name, 0)) for name, control in self.controls.items()}


def size_argument(text: str) -> str | int:
    return int(text) if text.isdigit() else text


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=size_argument, required=True, help="pods per cluster, or a preset (small)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--contexts", default="big", help="comma-separated cluster names")
    parser.add_argument("--bookmark-interval", type=float, default=None,
                        help="seconds between an idle watch's bookmarks (the simulator's default: 1; real servers: ~60)")
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--control", required=True, help="Unix socket path of the control channel")
    args = parser.parse_args(argv)

    from k8s_assets.simulator import Simulator

    started = time.monotonic()
    names = [n for n in args.contexts.split(",") if n]
    with Simulator(clusters=names, size=args.size, seed=args.seed) as sim:
        sim.write_kubeconfig(args.kubeconfig)
        if args.bookmark_interval is not None:
            for each in sim:
                each.bookmark_interval = args.bookmark_interval
        cluster = sim[names[0]]
        churns = ChurnControl(cluster)
        each = EachCluster({name: sim[name] for name in names})
        with Listener(args.control, family="AF_UNIX", authkey=AUTHKEY) as listener:
            print(f"ready {time.monotonic() - started:.1f}s", flush=True)
            with listener.accept() as conn:
                while True:
                    try:
                        command = conn.recv()
                    except EOFError:
                        break
                    try:
                        if command[0] == "counts":
                            conn.send(("ok", counts(cluster, command[1])))
                        elif command[0] == "churn":
                            conn.send(("ok", churn(cluster, *command[1:])))
                        elif command[0] == "churn_start":
                            conn.send(("ok", churns.start(*command[1:])))
                        elif command[0] == "churn_progress":
                            conn.send(("ok", churns.progress()))
                        elif command[0] == "churn_stop":
                            conn.send(("ok", churns.stop()))
                        elif command[0] == "churn_records":
                            conn.send(("ok", churns.records(command[1])))
                        elif command[0] == "churn_start_each":
                            conn.send(("ok", each.start(*command[1:])))
                        elif command[0] == "churn_progress_each":
                            conn.send(("ok", each.progress()))
                        elif command[0] == "churn_stop_each":
                            conn.send(("ok", each.stop()))
                        elif command[0] == "churn_records_each":
                            conn.send(("ok", each.records(command[1])))
                        elif command[0] == "stop":
                            churns.stop()
                            each.stop()
                            conn.send(("ok", None))
                            break
                        else:
                            conn.send(("error", f"unknown command {command[0]!r}"))
                    except Exception as e:  # report to the driver, keep serving
                        conn.send(("error", f"{type(e).__name__}: {e}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
