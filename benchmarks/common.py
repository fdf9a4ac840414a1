"""Shared by the benchmark's child programs: the job's kinds, an API client, the cluster row."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from k8s_assets.kube.config import load_settings  # noqa: E402
from k8s_assets.store.database import sql_text  # noqa: E402


def job_kinds(kubeconfig: str):
    """The typed kinds the k8s_sync job syncs (K8S_ASSETS_RESOURCES, default all). The shared table
    of other resources is not one list path (the simulator serves none of them) and is left out."""
    import os

    from k8s_assets.catalog.generic import is_shared_table

    return tuple(k for k in load_settings({**os.environ, "KUBECONFIG": kubeconfig}).kinds if not is_shared_table(k))


def api_and_cluster(kubeconfig: str, context_name: str, url: str | None = None):
    """An API client for the context and its cluster row (upserted into ``url`` when given)."""
    import psycopg

    from k8s_assets.dagster_edge.resources import KubernetesResource
    from k8s_assets.kube.cluster import describe_cluster

    k8s = KubernetesResource(kubeconfig=kubeconfig, request_timeout=120.0)
    api = k8s.api_client(context_name)
    row = describe_cluster(api, k8s.context(context_name), 120.0).iloc[0].to_dict()
    if url:
        with psycopg.connect(url) as conn:
            conn.execute(sql_text("merge/upsert_cluster.sql"), row)
            conn.execute(sql_text("merge/upsert_cluster_context.sql"), row)
    return api, str(row["cluster_uid"])


def child_arguments(description: str) -> argparse.ArgumentParser:
    """The options every measured child program takes from bench_sync.py."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--partition", default="big")
    parser.add_argument("--out", required=True)
    return parser
