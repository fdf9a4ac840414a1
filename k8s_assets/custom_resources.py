"""The ``k8s_custom_resources`` asset: every instance of every CRD a cluster serves.

Names come from the cluster, never from guesses: each CustomResourceDefinition gives group,
plural, kind, scope and its versions, and API discovery says which versions are served. Each
CRD is listed once, at its storage version when that is served (else the preferred served
version), so an object served at two versions is stored once, with the version it was read at.

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
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

import dagster as dg
import pandas as pd
from psycopg import sql

from k8s_assets.catalog import extractors
from k8s_assets.catalog import KINDS_BY_TABLE
from k8s_assets.catalog.generic import CUSTOM_RESOURCES, custom_resource_kind
from k8s_assets.config import ConfigError
from k8s_assets.database import sql_template, sql_text
from k8s_assets.discovery import Discovery, cached_discovery
from k8s_assets.extraction import (
    ListingError,
    ListingForbidden,
    ListingNotServed,
    gc_paused,
    empty_frame,
    frame_columns,
    iter_pages,
    list_kind,
    to_frame,
)
from k8s_assets.inventory import (
    CLUSTER_UID,
    CUSTOM_RESOURCE_COVERAGE_PREFIX,
    LISTED,
    LISTING_MESSAGE,
    LISTING_STATUS,
    record_crd_coverage,
    record_failed_listing,
)
from k8s_assets.io_manager import TABLE_KEY
from k8s_assets.kind_assets import ASSET_KINDS, column_schema
from k8s_assets.resources import KubernetesResource, PostgresResource

log = logging.getLogger(__name__)

CR_LIST_STREAMS = 4
COVERAGE_PREFIX = CUSTOM_RESOURCE_COVERAGE_PREFIX
CRDS = KINDS_BY_TABLE["k8s_crds"]


@dataclass(frozen=True)
class CustomResourceType:
    """One CRD as the cluster defines and serves it."""

    group: str
    plural: str
    kind: str
    namespaced: bool
    versions: tuple[str, ...]  # served versions, as the CRD lists them
    storage_version: str | None

    @property
    def resource(self) -> str:
        return f"{self.plural}.{self.group}"

    def version_to_list(self, discovery: Discovery | None) -> str | None:
        """The storage version when served, else the preferred served one; None: not served."""
        served = list(self.versions)
        if discovery is not None:
            discovered = discovery.served_versions(self.group, self.plural)
            served = [v for v in discovered if v in self.versions] or discovered
        if self.storage_version in served:
            return self.storage_version
        return served[0] if served else None


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


@dataclass
class CrdOutcome:
    crd: CustomResourceType
    status: str  # complete | forbidden | not_served | failed
    version: str | None
    count: int
    message: str | None
    columns: dict[str, list] | None = None
    set_aside: list[dict] | None = None  # objects whose common columns cannot be read (decoding)
    unreadable_columns: int = 0


def _list_one(api, crd: CustomResourceType, version: str | None, cluster_uid: str, context_name: str,
              page_size: int, timeout: float) -> CrdOutcome:
    if version is None:
        return CrdOutcome(crd, "not_served", None, 0, f"{crd.resource}: no served version in API discovery")
    kind = custom_resource_kind(crd.group, version, crd.plural, crd.kind, crd.namespaced)
    try:
        listing = list_kind(api, kind, cluster_uid, context_name, page_size=page_size, timeout=timeout,
                            progress=lambda message: None)
    except ListingForbidden as e:
        return CrdOutcome(crd, "forbidden", version, 0, str(e))
    except ListingNotServed as e:
        return CrdOutcome(crd, "not_served", version, 0, str(e))
    except ListingError as e:
        return CrdOutcome(crd, "failed", version, 0, str(e))
    return CrdOutcome(crd, "complete", version, listing.count, None, listing.columns, listing.set_aside,
                      listing.unreadable_columns)


def list_custom_resources(api, crds: list[CustomResourceType], discovery: Discovery | None, cluster_uid: str,
                          context_name: str, page_size: int, timeout: float,
                          streams: int = CR_LIST_STREAMS) -> Iterator[CrdOutcome]:
    """List every CRD's instances with ``streams`` lists in flight; yields outcomes as they finish."""
    pending: set[Future] = set()
    todo = iter(crds)
    with ThreadPoolExecutor(streams, thread_name_prefix="custom-resources") as pool:
        while True:
            # At most 2 x streams outcomes exist at once: memory stays bounded by the pool, not the CRD count.
            while len(pending) < 2 * streams:
                crd = next(todo, None)
                if crd is None:
                    break
                pending.add(pool.submit(_list_one, api, crd, crd.version_to_list(discovery), cluster_uid,
                                        context_name, page_size, timeout))
            if not pending:
                return
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()


# Values COPY can take back as they are: jsonb and uuids as text.
_AS_TEXT = {"uid", "cluster_uid", "labels", "annotations", "raw", "spec", "status", "created_at"}


def kept_rows(postgres: PostgresResource, cluster_uid: str, crds: list[CustomResourceType]) -> dict[str, list]:
    """Stored rows of CRDs whose listing did not complete, to merge back unchanged."""
    names = frame_columns(CUSTOM_RESOURCES)
    columns: dict[str, list] = {name: [] for name in names}
    if not crds:
        return columns
    select = sql_template("merge/kept_custom_resources.sql", columns=sql.SQL(", ").join(
        sql.SQL("{}::text").format(sql.Identifier(c)) if c in _AS_TEXT else sql.Identifier(c) for c in names))
    with postgres.connect() as conn:
        for row in conn.execute(select, {"cluster_uid": cluster_uid, "groups": [c.group for c in crds],
                                         "plurals": [c.plural for c in crds]}):
            for name, value in zip(names, row):
                columns[name].append(value)
    return columns


def sync_custom_resources(context: dg.AssetExecutionContext, cluster_uid: str,
                          kubernetes: KubernetesResource, postgres: PostgresResource) -> dg.Output[pd.DataFrame]:
    """List every CRD's instances in the partition's cluster; CRDs not listed completely keep their rows."""
    kind = CUSTOM_RESOURCES
    context_name = context.partition_key
    common = {CLUSTER_UID: cluster_uid, "context_name": context_name}
    started = time.monotonic()
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
        return dg.Output(empty_frame(kind), output_name=kind.table,
                         metadata={**common, LISTING_STATUS: "forbidden", LISTED: 0, LISTING_MESSAGE: str(e)})
    except ListingNotServed as e:
        return dg.Output(empty_frame(kind), output_name=kind.table,
                         metadata={**common, LISTING_STATUS: "not_served", LISTED: 0, LISTING_MESSAGE: str(e)})
    except (ConfigError, ListingError) as e:
        record_failed_listing(postgres, kind, cluster_uid, context_name, str(e))
        context.log.error(f"listing CRDs in {context_name!r} failed; no rows were changed. {e}")
        raise

    columns: dict[str, list] = {name: [] for name in frame_columns(kind)}
    outcomes: list[CrdOutcome] = []
    set_aside: list[dict] = []
    unreadable_columns = 0
    for number, outcome in enumerate(list_custom_resources(
            api, crds, discovery, cluster_uid, context_name, kubernetes.page_size,
            kubernetes.request_timeout), start=1):
        if outcome.columns is not None:
            for name, values in outcome.columns.items():
                columns[name].extend(values)
            outcome.columns = None
        set_aside += outcome.set_aside or ()
        unreadable_columns += outcome.unreadable_columns
        outcomes.append(outcome)
        if number % 500 == 0:
            context.log.info(f"custom resources: {number} of {len(crds)} CRDs listed")
    listed = len(columns["uid"])
    incomplete = [o.crd for o in outcomes if o.status != "complete"]
    for outcome in outcomes:
        if outcome.status != "complete":
            context.log.warning(f"{outcome.crd.resource}: {outcome.status}; its stored rows are kept. "
                                f"{outcome.message}")
    kept = kept_rows(postgres, cluster_uid, incomplete)
    for name, values in kept.items():
        columns[name].extend(values)
    record_crd_coverage(postgres, cluster_uid, context_name,
                        [(COVERAGE_PREFIX + o.crd.resource, o.status, o.count if o.status == "complete" else None,
                          (o.message or "")[:2000] or None) for o in outcomes])
    by_status: dict[str, int] = {}
    for outcome in outcomes:
        by_status[outcome.status] = by_status.get(outcome.status, 0) + 1
    seconds = time.monotonic() - started
    context.log.info(f"custom resources: {listed} objects of {len(crds)} CRDs in {seconds:.1f}s "
                     f"({by_status}); {len(kept['uid'])} rows kept for CRDs not listed completely")
    return dg.Output(
        to_frame(kind, columns, set_aside),
        output_name=kind.table,
        metadata={
            **common,
            LISTING_STATUS: "complete",
            LISTED: len(columns["uid"]) + len(set_aside),
            "unreadable_columns": unreadable_columns,
            "crds": len(crds),
            **{f"crds_{status}": count for status, count in sorted(by_status.items())},
            "kept_rows": len(kept["uid"]),
            "list_seconds": round(seconds, 3),
        },
    )


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
