"""The ``k8s_custom_resources`` asset: every instance of every CRD a cluster serves.

Each CRD's instances are listed by ``kube/custom_resources.py`` (names and versions from the
CRD, served versions from API discovery, one listing per CRD).

The listing, kept rows and coverage are shared with ``k8s_other_resources`` (``kube/resource_sets.py``,
``dagster_edge/resource_sets.py``). Thousands of CRDs are listed by a small pool of threads, so
memory holds a few parsed pages at a time plus the extracted column values (one serialized
string per object), as for any kind.

A CRD whose instances are forbidden, not served or whose listing failed keeps its stored rows
(they are carried into the merge unchanged) and says so in ``k8s_sync_coverage`` under the kind
``k8s_custom_resources:<plural>.<group>``; the row for ``k8s_custom_resources`` itself says
whether the CRDs could be enumerated at all. After the merge, one view per CRD is (re)built
(``k8s_assets_refresh_cr_views`` in sql/004_custom_resources.sql).
"""


import dagster as dg

from k8s_assets.catalog.generic import CUSTOM_RESOURCES
from k8s_assets.dagster_edge.assets import ASSET_KINDS, column_schema
from k8s_assets.dagster_edge.io_manager import TABLE_KEY
from k8s_assets.dagster_edge.resource_sets import merge_outcomes
from k8s_assets.dagster_edge.resources import KubernetesResource, PostgresResource
from k8s_assets.kube.config import ConfigError
from k8s_assets.kube.custom_resources import list_crds, list_custom_resources
from k8s_assets.kube.discovery import cached_discovery
from k8s_assets.kube.listing import ListingError, ListingForbidden, ListingNotServed, empty_frame
from k8s_assets.store.contract import KindListing
from k8s_assets.store.coverage import CUSTOM_RESOURCE_COVERAGE_PREFIX, record_failed_listing

COVERAGE_PREFIX = CUSTOM_RESOURCE_COVERAGE_PREFIX


def sync_custom_resources(context: dg.AssetExecutionContext, cluster_uid: str,
                          kubernetes: KubernetesResource, postgres: PostgresResource) -> dg.Output[KindListing]:
    """List every CRD's instances in the partition's cluster; CRDs not listed completely keep their rows."""
    kind = CUSTOM_RESOURCES
    context_name = context.partition_key
    try:
        api = kubernetes.api_client(context_name)
        try:
            discovery = cached_discovery(api, (context_name, context.run.run_id), kubernetes.request_timeout)
        except ListingError as e:
            context.log.warning(f"API discovery failed ({e}); listing each CRD at the versions it declares")
            discovery = None
        crds = list_crds(api, kubernetes.page_size, kubernetes.request_timeout)
    except ListingForbidden as e:
        context.log.warning(f"CRDs are not visible in {context_name!r}; custom resource rows are kept. {e}")
        return dg.Output(KindListing(kind, cluster_uid, context_name, "forbidden", empty_frame(kind), message=str(e)),
                         output_name=kind.table)
    except ListingNotServed as e:
        return dg.Output(KindListing(kind, cluster_uid, context_name, "not_served", empty_frame(kind), message=str(e)),
                         output_name=kind.table)
    except (ConfigError, ListingError) as e:
        record_failed_listing(postgres.connect, kind, cluster_uid, context_name, str(e))
        context.log.error(f"listing CRDs in {context_name!r} failed; no rows were changed. {e}")
        raise

    return merge_outcomes(
        context, kind, cluster_uid, postgres,
        list_custom_resources(api, crds, discovery, cluster_uid, context_name, kubernetes.page_size,
                              kubernetes.request_timeout),
        noun="crds", facts={}, total=len(crds))


def custom_resources_spec() -> dg.AssetSpec:
    """The asset's own spec (its deps, on k8s_clusters and k8s_crds, are declared by the sync step)."""
    kind = CUSTOM_RESOURCES
    return dg.AssetSpec(
        kind.table,
        group_name=kind.area,
        kinds=ASSET_KINDS,
        description=(
            "Every instance of every CustomResourceDefinition the cluster serves, listed once per CRD at its "
            "storage version, with group, version, kind, plural and scope from the CRD and API discovery, "
            "spec and status as jsonb; plus a view k8s_cr_<group>_<plural> per CRD with typed spec columns."
        ),
        metadata={TABLE_KEY: kind.table, "dagster/column_schema": column_schema(kind)},
    )
