"""The ``k8s_custom_resources`` asset: every instance of every CRD a cluster serves.

Names come from the cluster, never from guesses: each CustomResourceDefinition gives group,
plural, kind, scope and its versions, and API discovery says which versions are served. Each
CRD is listed once, at its storage version when that is served (else the preferred served
version), so an object served at two versions is stored once, with the version it was read at.

The listing, kept rows and coverage are shared with ``k8s_other_resources`` (k8s_assets/resource_sets.py).
Thousands of CRDs are listed by a small pool of threads (``CR_LIST_STREAMS`` lists in flight,
at most twice as many results waiting), so memory holds a few parsed pages at a time plus the
extracted column values (one serialized string per object), as for any kind.

A CRD whose instances are forbidden, not served or whose listing failed keeps its stored rows
(they are carried into the merge unchanged) and says so in ``k8s_sync_coverage`` under the kind
``k8s_custom_resources:<plural>.<group>``; the row for ``k8s_custom_resources`` itself says
whether the CRDs could be enumerated at all. After the merge, one view per CRD is (re)built
(``k8s_assets_refresh_cr_views`` in sql/004_custom_resources.sql).
"""


import logging
from collections.abc import Iterator

import dagster as dg

from k8s_assets.catalog import extractors
from k8s_assets.catalog import KINDS_BY_TABLE
from k8s_assets.catalog.generic import CUSTOM_RESOURCES, custom_resource_kind
from k8s_assets.catalog.types import Kind
from k8s_assets.config import ConfigError
from k8s_assets.discovery import Discovery, cached_discovery
from k8s_assets.extraction import (
    ListingError,
    ListingForbidden,
    ListingNotServed,
    gc_paused,
    empty_frame,
    iter_pages,
)
from k8s_assets.store.contract import KindListing
from k8s_assets.store.coverage import CUSTOM_RESOURCE_COVERAGE_PREFIX, record_failed_listing
from k8s_assets.io_manager import TABLE_KEY
from k8s_assets.kind_assets import ASSET_KINDS, column_schema
from k8s_assets.resource_sets import LIST_STREAMS, Outcome, ResourceType, list_resources, merge_outcomes
from k8s_assets.resources import KubernetesResource, PostgresResource

log = logging.getLogger(__name__)

CR_LIST_STREAMS = LIST_STREAMS
COVERAGE_PREFIX = CUSTOM_RESOURCE_COVERAGE_PREFIX
CRDS = KINDS_BY_TABLE["k8s_crds"]


# A CRD, as the shared machinery lists it (group, plural, kind, scope and versions from the CRD).
CustomResourceType = ResourceType


def crd_type(obj: dict) -> CustomResourceType | None:
    """The names and versions of a CRD; None when they cannot be read (its instances cannot be listed
    by names that are not strings)."""
    spec = obj.get("spec") if isinstance(obj, dict) else None
    names = spec.get("names") if isinstance(spec, dict) else None
    if not isinstance(names, dict):
        return None
    group, plural, kind = spec.get("group"), names.get("plural"), names.get("kind")
    if not (group and isinstance(group, str) and plural and isinstance(plural, str) and kind
            and isinstance(kind, str)):
        return None
    versions = [v for v in extractors.crd_served_versions(obj) if isinstance(v, str)]
    storage_version = extractors.crd_storage_version(obj)
    return CustomResourceType(
        group=group, plural=plural, kind=kind,
        namespaced=spec.get("scope") != "Cluster",
        versions=tuple(versions),
        storage_version=storage_version if isinstance(storage_version, str) else None,
    )


def list_crds(api, page_size: int, timeout: float) -> list[CustomResourceType]:
    """The cluster's CRDs, keeping only names and versions (never the schemas). A CRD whose fields
    cannot be read is skipped (logged once): it is stored by k8s_crds, its instances are not listed."""
    found: list[CustomResourceType] = []
    unreadable = 0
    with gc_paused():
        for page, _ in iter_pages(api, CRDS, page_size, timeout):
            for item in page.get("items") or ():
                try:
                    crd = crd_type(item)
                except Exception as e:  # noqa: BLE001 - a CRD of any shape must not stop the others
                    crd = None
                    if not unreadable:
                        log.warning("a CRD's names or versions cannot be read (%s: %s); its instances are "
                                    "not listed", type(e).__name__, e)
                    unreadable += 1
                if crd is not None:
                    found.append(crd)
    return found


def list_custom_resources(api, crds: list[CustomResourceType], discovery: Discovery | None, cluster_uid: str,
                          context_name: str, page_size: int, timeout: float,
                          streams: int = CR_LIST_STREAMS) -> Iterator[Outcome]:
    """List every CRD's instances with ``streams`` lists in flight; yields outcomes as they finish."""
    return list_resources(api, crds, discovery, _kind_of, cluster_uid, context_name, page_size, timeout,
                          streams, prefix="custom-resources")


def _kind_of(crd: CustomResourceType, version: str) -> Kind:
    return custom_resource_kind(crd.group, version, crd.plural, crd.kind, crd.namespaced)


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
