"""The assets: ``k8s_clusters`` first, then one asset per catalog kind, all built from data.

Every asset is partitioned by kubeconfig context and has its own spec here (key = table,
group, description, kinds, column schema, lineage from k8s_clusters); the one step that
computes them for a context is k8s_assets/dagster_edge/cluster_sync.py. A kind is listed for the
partition's cluster into a DataFrame; the IO manager merges it. What the listing saw
travels as output metadata, so a forbidden or unserved kind keeps its rows and says so.
"""

from dataclasses import replace

import dagster as dg
import pandas as pd

from k8s_assets.catalog import types
from k8s_assets.catalog.generic import is_shared_table
from k8s_assets.catalog.types import Kind
from k8s_assets.dagster_edge.io_manager import TABLE_KEY
from k8s_assets.dagster_edge.resources import KubernetesResource, PostgresResource
from k8s_assets.kube.cluster import CLUSTER_COLUMNS, describe_cluster
from k8s_assets.kube.config import ConfigError
from k8s_assets.kube.discovery import cached_discovery
from k8s_assets.kube.failures import fail_fast_unless_transient
from k8s_assets.kube.listing import ListingError, ListingForbidden, ListingNotServed, empty_frame, list_kind
from k8s_assets.store.clusters import CLUSTERS_TABLE
from k8s_assets.store.contract import KindListing
from k8s_assets.store.coverage import record_failed_listing
from k8s_assets.store.merge import StagedMerge
from k8s_assets.store.versions import stored_versions

ASSET_KINDS = {"kubernetes", "postgres"}
SYNC_POOL = "k8s_cluster_sync"

CLUSTER_COLUMN_TYPES = {
    "cluster_uid": "uuid", "context_name": "text", "cluster_name": "text", "server": "text",
    "kubernetes_version": "text", "kube_system_uid": "uuid", "identity_source": "text",
    "last_synced_at": "timestamptz",
}


def column_schema(kind: Kind) -> dg.TableSchema:
    descriptions = {name: text for name, _, text in types.COMMON_COLUMNS}
    descriptions.update({c.name: c.description for c in kind.columns})
    return dg.TableSchema(
        columns=[dg.TableColumn(name, sql_type, description=descriptions.get(name) or None)
                 for name, sql_type in kind.sql_types.items()]
    )


def cluster_spec() -> dg.AssetSpec:
    return dg.AssetSpec(
        CLUSTERS_TABLE,
        group_name="cluster",
        kinds=ASSET_KINDS,
        description=(
            "The cluster a kubeconfig context reaches: its stable cluster_uid (UUID5 of the "
            "kube-system namespace UID), Kubernetes version and API server. Every other table "
            "references it with ON DELETE CASCADE."
        ),
        metadata={
            TABLE_KEY: CLUSTERS_TABLE,
            "dagster/column_schema": dg.TableSchema(
                columns=[dg.TableColumn(c, CLUSTER_COLUMN_TYPES[c]) for c in CLUSTER_COLUMNS]
            ),
        },
    )


def describe_context(context_name: str, kubernetes: KubernetesResource) -> pd.DataFrame:
    """The k8s_clusters row of the context's cluster; a context that cannot be reached fails fast."""
    with fail_fast_unless_transient(f"cannot reach context {context_name!r}"):
        kube_context = kubernetes.context(context_name)
        api = kubernetes.api_client(kube_context.name)
        return describe_cluster(api, kube_context, kubernetes.request_timeout)


def kind_spec(kind: Kind) -> dg.AssetSpec:
    """The kind's own asset (its deps, on k8s_clusters, are declared by the step that computes it)."""
    if is_shared_table(kind):  # many resources, which API discovery names
        description = (f"{kind.description} One row per object, with the group, version, kind, plural and scope "
                       "of its resource; coverage per resource in k8s_sync_coverage as "
                       f"{kind.table}:<plural>.<group>.")
    else:
        description = f"{kind.description} Listed from {kind.list_path()} ({kind.kind})."
    return dg.AssetSpec(
        kind.table,
        group_name=kind.area,
        kinds=ASSET_KINDS,
        description=description,
        metadata={TABLE_KEY: kind.table, "dagster/column_schema": column_schema(kind)},
    )


def served_version(context: dg.AssetExecutionContext, api, kind: Kind, context_name: str,
                   timeout: float) -> str | None:
    """The version the cluster serves this kind at (discovery, once per context per run), or None."""
    try:
        discovery = cached_discovery(api, (context_name, context.run.run_id), timeout)
    except ListingError as e:  # discovery unreadable: list at the catalog's version and see
        context.log.warning(f"API discovery of {context_name!r} failed ({e}); listing {kind.resource} "
                            f"at {kind.api_version}")
        return kind.version
    return discovery.version_for(kind)


def sync_kind(context: dg.AssetExecutionContext, kind: Kind, cluster_uid: str,
              kubernetes: KubernetesResource, postgres: PostgresResource) -> dg.Output[KindListing]:
    """List one kind of the partition's cluster (the output named after its table, for the IO
    manager to merge)."""
    context_name = context.partition_key

    def nothing_seen(status: str, message: str) -> dg.Output[KindListing]:
        return dg.Output(KindListing(kind, cluster_uid, context_name, status, empty_frame(kind), message=message),
                         output_name=kind.table)

    try:
        return list_into_merge(context, kind, cluster_uid, kubernetes, postgres)
    except ListingForbidden as e:
        context.log.warning(f"{kind.resource} is not visible in {context_name!r}; its rows are kept. {e}")
        return nothing_seen("forbidden", str(e))
    except ListingNotServed as e:
        context.log.info(f"{kind.resource} is not served by {context_name!r}; skipped. {e}")
        return nothing_seen("not_served", str(e))
    except (ConfigError, ListingError) as e:
        record_failed_listing(postgres.connect, kind, cluster_uid, context_name, str(e))
        context.log.error(f"listing {kind.resource} in {context_name!r} failed; no rows were changed. {e}")
        raise


def list_into_merge(context: dg.AssetExecutionContext, kind: Kind, cluster_uid: str,
                    kubernetes: KubernetesResource, postgres: PostgresResource) -> dg.Output[KindListing]:
    """List the kind, each page going into the store's merge as it arrives (memory holds a page,
    not the kind); the IO manager finishes the merge. A listing that fails rolls back what it
    staged, before the failure is recorded."""
    context_name = context.partition_key
    api = kubernetes.api_client(context_name)
    version = served_version(context, api, kind, context_name, kubernetes.request_timeout)
    if version is None:
        raise ListingNotServed(f"{kind.resource} is not served by this cluster (API discovery)", transient=False)
    listed_kind = kind if version == kind.version else replace(kind, version=version)
    # Objects still at their stored resourceVersion are neither serialized nor sent again.
    known = stored_versions(postgres.connect, kind, cluster_uid)
    staged = StagedMerge(postgres.connect, kind, cluster_uid, context_name)
    try:
        listing = list_kind(api, listed_kind, cluster_uid, context_name, page_size=kubernetes.page_size,
                            timeout=kubernetes.request_timeout, progress=context.log.info,
                            known_versions=known, sink=staged)
    except BaseException:
        staged.abort()
        raise
    # No log line per kind: the listing's count, pages and seconds are the materialization's
    # metadata, and each line would be one more event written per kind and run.
    return dg.Output(
        KindListing(
            kind, cluster_uid, context_name, "complete", empty_frame(kind), staged=staged,
            set_aside=list(listing.set_aside), resource_version=listing.resource_version or "",
            facts={
                "api_version": listed_kind.api_version,
                "pages": listing.pages,
                "list_restarts": listing.restarts,
                "nul_replaced": listing.nul_replaced,
                # Objects stored with a column NULL its extractor could not read (decoding's guard);
                # objects that could not be stored at all are among the merge's "rejected".
                "unreadable_columns": listing.unreadable_columns,
                "list_seconds": round(listing.seconds, 3),
            },
        ),
        output_name=kind.table,
    )
