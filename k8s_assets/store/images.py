"""The container images, derived in PostgreSQL from a cluster's stored pods and pod templates.

One row per cluster, namespace, workload, container and image, the workload found through the
owner chain (pod -> ReplicaSet -> Deployment, pod -> Job -> CronJob), with registry, repository,
tag and digest split out by ``k8s_assets_parse_image`` (sql/005_images_and_views.sql). The
cluster's rows are replaced in one transaction (sql/images/rebuild.sql).
"""

from __future__ import annotations

from dataclasses import dataclass

from k8s_assets.store.database import Connect, sql_text

IMAGES_TABLE = "k8s_container_images"
# Tables the rebuild reads.
SOURCE_TABLES = ("k8s_pods", "k8s_deployments", "k8s_replicasets", "k8s_statefulsets", "k8s_daemonsets",
                 "k8s_jobs", "k8s_cronjobs")


@dataclass(frozen=True)
class ImagesRebuilt:
    inserted: int
    deleted: int
    distinct_images: int
    registries: int


def rebuild_images(connect: Connect, cluster_uid: str) -> ImagesRebuilt:
    with connect() as conn, conn.transaction():
        params = {"cluster_uid": cluster_uid}
        conn.execute(sql_text("images/lock.sql"), params)
        deleted = conn.execute(sql_text("images/delete_cluster.sql"), params).rowcount
        inserted = conn.execute(sql_text("images/rebuild.sql"), params).rowcount
        images, registries = conn.execute(sql_text("images/summary.sql"), params).fetchone()
    return ImagesRebuilt(inserted, deleted, images, registries)
