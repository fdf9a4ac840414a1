"""The ``k8s_container_images`` asset: which image every container of every workload runs.

Derived in PostgreSQL from the stored pods and pod templates of one cluster (no API calls):
one row per cluster, namespace, workload, container and image, the workload found through the
owner chain (pod -> ReplicaSet -> Deployment, pod -> Job -> CronJob), with registry,
repository, tag and digest split out by ``k8s_assets_parse_image`` (sql/005_images_and_views.sql).
The cluster's rows are replaced in one transaction (sql/images/rebuild.sql).
"""


import time

import dagster as dg

from k8s_assets.database import sql_text
from k8s_assets.failures import fail_fast_unless_transient
from k8s_assets.resources import PostgresResource

IMAGES_TABLE = "k8s_container_images"
# Tables the rebuild reads; each selected one becomes an upstream dependency.
SOURCE_TABLES = ("k8s_pods", "k8s_deployments", "k8s_replicasets", "k8s_statefulsets", "k8s_daemonsets",
                 "k8s_jobs", "k8s_cronjobs")


def rebuild_images(postgres: PostgresResource, cluster_uid: str) -> dict:
    with postgres.connect() as conn, conn.transaction():
        params = {"cluster_uid": cluster_uid}
        conn.execute(sql_text("images/lock.sql"), params)
        deleted = conn.execute(sql_text("images/delete_cluster.sql"), params).rowcount
        inserted = conn.execute(sql_text("images/rebuild.sql"), params).rowcount
        images, registries = conn.execute(sql_text("images/summary.sql"), params).fetchone()
    return {"dagster/row_count": inserted, "replaced_rows": deleted, "distinct_images": images,
            "registries": registries}


def images_spec() -> dg.AssetSpec:
    """The asset's own spec (its deps, on k8s_clusters and the selected SOURCE_TABLES, are declared
    by the sync step)."""
    return dg.AssetSpec(
        IMAGES_TABLE,
        group_name="workloads",
        kinds={"postgres"},
        description=(
            "One row per cluster, namespace, workload, container and image, from pods (through their owner "
            "chain) and pod templates, with registry, repository, tag and digest split out. Derived in "
            "PostgreSQL from the stored rows; the cluster's rows are replaced on each run."
        ),
        metadata={"k8s_assets/table": IMAGES_TABLE},
    )


def derive_images(context_name: str, cluster_uid: str, postgres: PostgresResource) -> dg.MaterializeResult:
    """Rebuild the cluster's image rows from its stored pods and pod templates."""
    started = time.monotonic()
    with fail_fast_unless_transient(f"deriving container images of context {context_name!r}"):
        metadata = rebuild_images(postgres, cluster_uid)
    metadata["rebuild_seconds"] = round(time.monotonic() - started, 3)
    return dg.MaterializeResult(asset_key=IMAGES_TABLE, metadata=metadata)
