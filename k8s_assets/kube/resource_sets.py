"""Listing a set of resources into one table's columns: what ``k8s_custom_resources`` and
``k8s_other_resources`` share on the Kubernetes side.

The resources are listed by a small pool of threads (``LIST_STREAMS`` lists in flight, at most
twice as many results waiting), so memory holds a few parsed pages at a time plus the extracted
column values, however many resources there are. Each resource's listing ends in an ``Outcome``
(complete, forbidden, not served or failed); what the store does with it is
``dagster_edge/resource_sets.py``'s.
"""


from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

from k8s_assets.catalog.types import Kind
from k8s_assets.kube.discovery import Discovery
from k8s_assets.kube.listing import ListingError, ListingForbidden, ListingNotServed, list_kind

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
