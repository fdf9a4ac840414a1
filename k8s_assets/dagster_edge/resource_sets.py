"""One table, many resources: what ``k8s_custom_resources`` and ``k8s_other_resources`` share.

Each of those assets lists a set of resources (every CRD; every served kind without a typed
table) into one table whose ``group`` and ``plural`` columns say which resource a row is. The
two differ only in how they find the set (CRDs, API discovery) and in the per-resource Kind
(``catalog.generic.custom_resource_kind``, ``catalog.generic.other_resource_kind``); the rest is here:

* the resources are listed by ``kube/resource_sets.py`` (a small pool of threads, memory bounded
  by the pool, not the set's size);
* a resource whose listing is forbidden, not served or failed keeps its stored rows (they are
  merged back unchanged), and says so in ``k8s_sync_coverage`` under ``<table>:<resource>``;
* coverage rows of resources the set no longer has are removed, and their coverage periods end
  (``drop_gone`` decides which: CRDs deleted; for other resources, only once no row is left).
"""


import logging
import time
from collections.abc import Iterable

import dagster as dg

from k8s_assets.catalog.types import Kind
from k8s_assets.dagster_edge.resources import PostgresResource
from k8s_assets.kube.listing import empty_frame, to_frame
from k8s_assets.kube.resource_sets import Outcome, ResourceType
from k8s_assets.store import shared_tables
from k8s_assets.store.contract import KindListing
from k8s_assets.store.coverage import record_set_coverage

log = logging.getLogger(__name__)

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
