"""The clusters: one row per cluster (``k8s_clusters``) and the contexts that reach it."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from k8s_assets.store.database import Connect, sql_text

CLUSTERS_TABLE = "k8s_clusters"


@dataclass(frozen=True)
class ClusterWritten:
    cluster_uid: str
    identity_source: str
    new_cluster: bool


def write_cluster(connect: Connect, frame: pd.DataFrame) -> ClusterWritten:
    """Upsert the cluster row and the context that reached it."""
    row = frame.iloc[0].to_dict()
    with connect() as conn, conn.transaction():
        inserted = conn.execute(sql_text("merge/upsert_cluster.sql"), row).fetchone()[0]
        conn.execute(sql_text("merge/upsert_cluster_context.sql"), row)
    return ClusterWritten(str(row["cluster_uid"]), row["identity_source"], bool(inserted))


def cluster_of_context(connect: Connect, context_name: str) -> str | None:
    """The cluster_uid a context reached when k8s_clusters was last materialized for it, or None."""
    with connect() as conn:
        row = conn.execute(sql_text("merge/cluster_of_context.sql"), {"context_name": context_name}).fetchone()
    return str(row[0]) if row else None
