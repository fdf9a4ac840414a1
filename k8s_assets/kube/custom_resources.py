"""CustomResourceDefinitions as the listing needs them: names and versions, never schemas.

Names come from the cluster, never from guesses: each CustomResourceDefinition gives group,
plural, kind, scope and its versions, and API discovery says which versions are served. Each
CRD is listed once, at its storage version when that is served (else the preferred served
version), so an object served at two versions is stored once, with the version it was read at.
"""


import logging
from collections.abc import Iterator

from k8s_assets.catalog import KINDS_BY_TABLE, extractors
from k8s_assets.catalog.generic import custom_resource_kind
from k8s_assets.catalog.types import Kind
from k8s_assets.kube.discovery import Discovery
from k8s_assets.kube.listing import gc_paused, iter_pages
from k8s_assets.kube.resource_sets import LIST_STREAMS, Outcome, ResourceType, list_resources

log = logging.getLogger(__name__)

CR_LIST_STREAMS = LIST_STREAMS
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
