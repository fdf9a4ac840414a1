"""The ``k8s_container_images`` asset: which image every container of every workload runs.

Derived in PostgreSQL from the stored pods and pod templates of one cluster (no API calls), by
``store.images``; each selected one of its SOURCE_TABLES becomes an upstream dependency.
"""


import time

import dagster as dg

from k8s_assets.dagster_edge.resources import PostgresResource
from k8s_assets.kube.failures import fail_fast_unless_transient
from k8s_assets.store.images import IMAGES_TABLE, rebuild_images


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
        rebuilt = rebuild_images(postgres.connect, cluster_uid)
    return dg.MaterializeResult(asset_key=IMAGES_TABLE, metadata={
        "dagster/row_count": rebuilt.inserted, "replaced_rows": rebuilt.deleted,
        "distinct_images": rebuilt.distinct_images, "registries": rebuilt.registries,
        "rebuild_seconds": round(time.monotonic() - started, 3)})
