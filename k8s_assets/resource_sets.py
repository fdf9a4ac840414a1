"""One table, many resources: what ``k8s_custom_resources`` and ``k8s_other_resources`` share.

Each of those assets lists a set of resources (every CRD; every served kind without a typed
table) into one table whose ``group`` and ``plural`` columns say which resource a row is. The
two differ only in how they find the set (CRDs, API discovery) and in the per-resource Kind
(``catalog.generic.custom_resource_kind``, ``catalog.generic.other_resource_kind``); the rest is here:

* the resources are listed by a small pool of threads (``LIST_STREAMS`` lists in flight, at
  most twice as many results waiting), so memory holds a few parsed pages at a time plus the
  extracted column values, however many resources there are;
* a resource whose listing is forbidden, not served or failed keeps its stored rows (they are
  merged back unchanged), and says so in ``k8s_sync_coverage`` under ``<table>:<resource>``;
* coverage rows of resources the set no longer has are removed, and their coverage periods end
  (``drop_gone`` decides which: CRDs deleted; for other resources, only once no row is left).
"""


import logging
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

import dagster as dg

from k8s_assets.catalog.types import Kind
from k8s_assets.discovery import Discovery
from k8s_assets.extraction import (
    ListingError,
    ListingForbidden,
    ListingNotServed,
    empty_frame,
    list_kind,
    to_frame,
)
from k8s_assets.store import shared_tables
from k8s_assets.store.contract import KindListing
from k8s_assets.store.coverage import record_set_coverage
from k8s_assets.resources import PostgresResource

log = logging.getLogger(__name__)

LIST_STREAMS = 4


@dataclass(frozen=True)
class ResourceType:
    """One resource of a set, as the cluster defines and serves it."""

    group: str
    plural: str
    kind: str
    namespaced: bool
    versions: tuple[str, ...] = ()  # served versions as the definition lists them (CRDs); () : discovery's
    storage_version: str | None = None

    @property
    def resource(self) -> str:
        """kubectl's name: ``leases.coordination.k8s.io``, ``endpoints`` for the core group."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def version_to_list(self, discovery: Discovery | None) -> str | None:
        """The storage version when served, else the preferred served one; None: not served."""
        served = list(self.versions)
        if discovery is not None:
            discovered = discovery.served_versions(self.group, self.plural)
            served = [v for v in discovered if v in self.versions] or discovered
        if self.storage_version in served:
            return self.storage_version
        return served[0] if served else None


@dataclass
class Outcome:
    """What listing one resource of a set gave."""

    type: ResourceType
    status: str  # complete | forbidden | not_served | failed
    version: str | None
    count: int
    message: str | None
    columns: dict[str, list] | None = None
    set_aside: list[dict] | None = None  # objects whose common columns cannot be read (decoding)
    unreadable_columns: int = 0


KindOf = Callable[[ResourceType, str], Kind]  # (resource, version) -> the Kind that lists it


def list_one(api, rtype: ResourceType, version: str | None, kind_of: KindOf, cluster_uid: str, context_name: str,
             page_size: int, timeout: float) -> Outcome:
    if version is None:
        return Outcome(rtype, "not_served", None, 0, f"{rtype.resource}: no served version in API discovery")
    kind = kind_of(rtype, version)
    try:
        listing = list_kind(api, kind, cluster_uid, context_name, page_size=page_size, timeout=timeout,
                            progress=lambda message: None)
    except ListingForbidden as e:
        return Outcome(rtype, "forbidden", version, 0, str(e))
    except ListingNotServed as e:
        return Outcome(rtype, "not_served", version, 0, str(e))
    except ListingError as e:
        return Outcome(rtype, "failed", version, 0, str(e))
    return Outcome(rtype, "complete", version, listing.count, None, listing.columns, listing.set_aside,
                   listing.unreadable_columns)


def list_resources(api, types: Iterable[ResourceType], discovery: Discovery | None, kind_of: KindOf,
                   cluster_uid: str, context_name: str, page_size: int, timeout: float,
                   streams: int = LIST_STREAMS, prefix: str = "resources") -> Iterator[Outcome]:
    """List every resource with ``streams`` lists in flight; yields outcomes as they finish."""
    pending: set[Future] = set()
    todo = iter(types)
    with ThreadPoolExecutor(streams, thread_name_prefix=prefix) as pool:
        while True:
            # At most 2 x streams outcomes exist at once: memory stays bounded by the pool, not the set's size.
            while len(pending) < 2 * streams:
                rtype = next(todo, None)
                if rtype is None:
                    break
                pending.add(pool.submit(list_one, api, rtype, rtype.version_to_list(discovery), kind_of,
                                        cluster_uid, context_name, page_size, timeout))
            if not pending:
                return
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()


def stored_resources(postgres: PostgresResource, table: Kind, cluster_uid: str) -> list[ResourceType]:
    """Every resource with rows of the cluster in the set's table (kind and scope as last stored)."""
    return [ResourceType(group, plural, kind, scope == "Namespaced")
            for group, plural, kind, scope in shared_tables.stored_resources(postgres.connect, table, cluster_uid)]


def coverage_key(table: Kind, rtype: ResourceType) -> str:
    """The resource's kind in k8s_sync_coverage: ``k8s_other_resources:leases.coordination.k8s.io``."""
    return f"{table.table}:{rtype.resource}"


def merge_outcomes(context: dg.AssetExecutionContext, table: Kind, cluster_uid: str, postgres: PostgresResource,
                   outcomes: Iterable[Outcome], noun: str, facts: dict, total: int) -> dg.Output[KindListing]:
    """Gather the outcomes into the set's frame (plus kept rows of resources not listed completely),
    record their coverage, and return the Output the IO manager merges.

    A uid listed twice (one object served by two resources, or a kept row of an object now listed
    under another resource) is stored once, the first time it is seen (listed before kept).
    """
    context_name = context.partition_key
    started = time.monotonic()
    columns: dict[str, list] = {name: [] for name in table.row_columns}
    done: list[Outcome] = []
    set_aside: list[dict] = []
    unreadable_columns = 0
    for number, outcome in enumerate(outcomes, start=1):
        if outcome.columns is not None:
            for name, values in outcome.columns.items():
                columns[name].extend(values)
            outcome.columns = None
        set_aside += outcome.set_aside or ()
        unreadable_columns += outcome.unreadable_columns
        done.append(outcome)
        if number % 500 == 0:
            context.log.info(f"{table.table}: {number} of {total} {noun} listed")
    listed = len(columns["uid"])
    incomplete = [o.type for o in done if o.status != "complete"]
    for outcome in done:
        if outcome.status != "complete":
            context.log.warning(f"{outcome.type.resource}: {outcome.status}; its stored rows are kept. "
                                f"{outcome.message}")
    kept = shared_tables.kept_rows(postgres.connect, table, cluster_uid, [(t.group, t.plural) for t in incomplete])
    for name, values in kept.items():
        columns[name].extend(values)
    duplicates = _drop_repeated_uids(columns)
    if duplicates:
        context.log.warning(f"{table.table}: {duplicates} objects were listed (or kept) twice under different "
                            "resources; each is stored once")
    record_set_coverage(postgres.connect, table.table, cluster_uid, context_name,
                        [(coverage_key(table, o.type), o.status, o.count if o.status == "complete" else None,
                          (o.message or "")[:2000] or None) for o in done])
    by_status: dict[str, int] = {}
    for outcome in done:
        by_status[outcome.status] = by_status.get(outcome.status, 0) + 1
    seconds = time.monotonic() - started
    if done and set(by_status) == {"forbidden"}:
        # Nothing could be seen: the set as a whole is forbidden (no row changes, as for any kind).
        context.log.warning(f"{table.table}: every one of {total} {noun} is forbidden; the stored rows are kept")
        return dg.Output(KindListing(
            table, cluster_uid, context_name, "forbidden", empty_frame(table),
            message=f"every one of {total} {noun} is forbidden, e.g. {done[0].message}"[:2000],
            facts={**facts, noun: total}), output_name=table.table)
    context.log.info(f"{table.table}: {listed} objects of {total} {noun} in {seconds:.1f}s ({by_status}); "
                     f"{len(kept['uid'])} rows kept for {noun} not listed completely")
    return dg.Output(
        KindListing(
            table, cluster_uid, context_name, "complete", to_frame(table, columns), set_aside=set_aside,
            facts={
                **facts,
                "unreadable_columns": unreadable_columns,
                noun: total,
                **{f"{noun}_{status}": count for status, count in sorted(by_status.items())},
                "kept_rows": len(kept["uid"]),
                "repeated_uids": duplicates,
                "list_seconds": round(seconds, 3),
            },
        ),
        output_name=table.table,
    )


def _drop_repeated_uids(columns: dict[str, list]) -> int:
    """Keep the first row of each uid (the primary key is (cluster_uid, uid)); the number dropped."""
    seen: set = set()
    keep = []
    for index, uid in enumerate(columns["uid"]):
        key = str(uid)
        if key not in seen:
            seen.add(key)
            keep.append(index)
    dropped = len(columns["uid"]) - len(keep)
    if dropped:
        for name, values in columns.items():
            columns[name] = [values[i] for i in keep]
    return dropped
