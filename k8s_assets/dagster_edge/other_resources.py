"""The ``k8s_other_resources`` asset: every served kind without a typed table.

API discovery decides what is listed. Every resource the cluster serves with the ``list`` verb
(subresources such as ``pods/log`` are not resources) lands here, at the version its group
prefers, unless:

* it has a typed table: a catalog kind (``catalog.KINDS``) of the same group and plural;
* it is the same kind, in another built-in group, as a catalog kind: Kubernetes serves a kind
  moving between groups under both (v1.20: ``ingresses`` in ``extensions`` and in
  ``networking.k8s.io``), and both list the same objects, so the typed table (listed at its own
  group) holds them;
* it is a custom resource: CRDs' instances are ``k8s_custom_resources``;
* it is an opt-in resource the user did not name in ``K8S_ASSETS_RESOURCES``
  (``catalog.generic.OPT_IN_RESOURCES``: events; they are many, churn constantly and expire an hour
  after their last update, so an hourly sample of them is noise);
* it is ``componentstatuses``: a deprecated virtual resource computed per request, whose
  objects have no uid, so there is nothing to key a row on.

Two candidates of the same plural and kind in two built-in groups (``events`` and
``events.events.k8s.io``, when both are named) are the same objects: they are listed once,
at the group that is not ``""`` or ``extensions`` (the groups Kubernetes moves kinds out of).

Each resource has its coverage row ``k8s_other_resources:<resource>`` (``leases.coordination.k8s.io``,
``endpoints``). A resource with stored rows that is no longer listed (the server stopped serving
it, it has a typed table now, it is no longer selected) is ``not_served``, its rows kept until
the user deletes them; once none is left its coverage row goes. If its group's discovery
document could not be read, it is ``failed`` instead, its rows kept as well. The listing of
many resources, kept rows and coverage are those of custom resources (``resource_sets``).
"""


from collections.abc import Iterable
from dataclasses import dataclass

import dagster as dg

from k8s_assets import catalog
from k8s_assets.catalog import KINDS
from k8s_assets.catalog.generic import OPT_IN_RESOURCES, other_resource_kind
from k8s_assets.catalog.types import Kind
from k8s_assets.dagster_edge.resource_sets import merge_outcomes, stored_resources
from k8s_assets.dagster_edge.resources import KubernetesResource, PostgresResource
from k8s_assets.kube.config import ConfigError
from k8s_assets.kube.custom_resources import list_crds
from k8s_assets.kube.discovery import Discovery, cached_discovery
from k8s_assets.kube.listing import ListingError
from k8s_assets.kube.resource_sets import Outcome, ResourceType, list_resources
from k8s_assets.store import shared_tables
from k8s_assets.store.contract import KindListing
from k8s_assets.store.coverage import record_failed_listing

# Served and listable, but never listed here: (group, plural) -> why.
LEFT_OUT: dict[tuple[str, str], str] = {
    ("", "componentstatuses"): "deprecated virtual resource: its objects have no uid",
}
# Groups Kubernetes moved kinds out of; a kind served there and in another group is listed at the other.
LEGACY_GROUPS = ("", "extensions")


def builtin_group(group: str) -> bool:
    """A group of Kubernetes itself (core, ``apps``, ``*.k8s.io``), where one kind served in two
    groups is one set of objects; an aggregated or custom group never aliases another."""
    return group == "" or "." not in group or group.endswith(".k8s.io")


@dataclass(frozen=True)
class Plan:
    """What discovery says this asset lists, and what it leaves out (resource -> why)."""

    listed: tuple[ResourceType, ...]
    left_out: dict[str, str]


def plan(discovery: Discovery, crds: set[tuple[str, str]], include: Iterable[str] = (),
         typed: Iterable[Kind] = KINDS) -> Plan:
    """The resources to list from what the cluster serves (see the module's docstring)."""
    typed = tuple(typed)
    typed_resources = {(k.group, k.plural): k.table for k in typed}
    typed_kinds = {(k.plural, k.kind): k.table for k in typed}
    opted = {OPT_IN_RESOURCES[name] for name in include if name in OPT_IN_RESOURCES}
    opt_in = set(OPT_IN_RESOURCES.values())
    served: dict[tuple[str, str], ResourceType] = {}
    for group, version, plural in discovery.resources:
        if (group, plural) in served:
            continue
        versions = discovery.served_versions(group, plural)  # listable, preferred first
        if not versions:
            continue
        r = discovery.resource(group, versions[0], plural)
        served[(group, plural)] = ResourceType(group, plural, r.kind, r.namespaced)
    left_out: dict[str, str] = {}
    candidates: list[ResourceType] = []
    for (group, plural), rtype in sorted(served.items()):
        name = rtype.resource
        if (group, plural) in typed_resources:
            continue  # its typed table lists it
        if (group, plural) in crds:
            continue  # k8s_custom_resources lists it
        if (group, plural) in LEFT_OUT:
            left_out[name] = LEFT_OUT[(group, plural)]
        elif (group, plural) in opt_in and (group, plural) not in opted:
            left_out[name] = "opt-in (K8S_ASSETS_RESOURCES)"
        elif builtin_group(group) and (plural, rtype.kind) in typed_kinds:
            left_out[name] = f"the same objects as {typed_kinds[(plural, rtype.kind)]} (another group)"
        else:
            candidates.append(rtype)
    chosen: dict[tuple[str, str], ResourceType] = {}
    listed: list[ResourceType] = []
    for rtype in sorted(candidates, key=lambda t: (t.group in LEGACY_GROUPS, t.group)):
        same = (rtype.plural, rtype.kind)
        if builtin_group(rtype.group) and same in chosen:
            left_out[rtype.resource] = f"the same objects as {chosen[same].resource}, listed there"
            continue
        if builtin_group(rtype.group):
            chosen[same] = rtype
        listed.append(rtype)
    return Plan(tuple(sorted(listed, key=lambda t: (t.group, t.plural))), left_out)


def crd_resources(api, postgres: PostgresResource, cluster_uid: str, page_size: int, timeout: float,
                  log) -> set[tuple[str, str]]:
    """(group, plural) of the cluster's CRDs; when CRDs cannot be listed (forbidden, or failing: that
    is k8s_crds' failure, not this table's), those last stored for the cluster."""
    try:
        return {(c.group, c.plural) for c in list_crds(api, page_size, timeout)}
    except ListingError as e:
        log.warning(f"CRDs cannot be listed ({e}); the CRDs last stored for this cluster tell custom "
                    "resources from other kinds")
    return shared_tables.stored_crd_resources(postgres.connect, cluster_uid)


def _kind_of(rtype: ResourceType, version: str) -> Kind:
    return other_resource_kind(rtype.group, version, rtype.plural, rtype.kind, rtype.namespaced)


def no_longer_listed(discovery: Discovery, stored: Iterable[ResourceType], listed: Iterable[ResourceType],
                     left_out: dict[str, str]) -> list[Outcome]:
    """Outcomes of resources with stored rows that are not listed this time (their rows are kept)."""
    names = {t.resource for t in listed}
    unreadable_groups = {group for group, _ in discovery.failed}
    outcomes = []
    for rtype in stored:
        if rtype.resource in names:
            continue
        if rtype.group in unreadable_groups:
            outcomes.append(Outcome(rtype, "failed", None, 0, f"{rtype.resource}: the API discovery of its group "
                                    "failed; its stored rows are kept"))
        elif discovery.served_versions(rtype.group, rtype.plural):
            why = left_out.get(rtype.resource, "it has a typed table or is a custom resource now")
            outcomes.append(Outcome(rtype, "not_served", None, 0, f"{rtype.resource} is served but no longer "
                                    f"listed into k8s_other_resources ({why}); its stored rows are kept"))
        else:
            outcomes.append(Outcome(rtype, "not_served", None, 0, f"{rtype.resource} is no longer served by "
                                    "this cluster (API discovery); its stored rows are kept"))
    return outcomes


def sync_other_resources(context: dg.AssetExecutionContext, kind: Kind, cluster_uid: str,
                         kubernetes: KubernetesResource, postgres: PostgresResource) -> dg.Output[KindListing]:
    """List every served kind without a typed table in the partition's cluster (``kind`` is
    OTHER_RESOURCES as selected, with its opt-in resources)."""
    context_name = context.partition_key
    try:
        api = kubernetes.api_client(context_name)
        discovery = cached_discovery(api, (context_name, context.run.run_id), kubernetes.request_timeout)
        crds = crd_resources(api, postgres, cluster_uid, kubernetes.page_size, kubernetes.request_timeout,
                             context.log)
    except (ConfigError, ListingError) as e:
        record_failed_listing(postgres.connect, kind, cluster_uid, context_name, str(e))
        context.log.error(f"API discovery of {context_name!r} failed; no rows of {kind.table} were changed. {e}")
        raise
    found = plan(discovery, crds, kind.include)
    if discovery.failed:
        context.log.warning(f"API discovery of {len(discovery.failed)} group versions failed: "
                            + ", ".join("/".join(p for p in pair if p) for pair in discovery.failed))
    gone = no_longer_listed(discovery, stored_resources(postgres, kind, cluster_uid), found.listed,
                            found.left_out)

    def outcomes():
        yield from list_resources(api, found.listed, discovery, _kind_of, cluster_uid, context_name,
                                  kubernetes.page_size, kubernetes.request_timeout, prefix="other-resources")
        yield from gone

    left_out = "\n".join(f"{name}: {why}" for name, why in sorted(found.left_out.items()))
    return merge_outcomes(context, catalog.KINDS_BY_TABLE[kind.table], cluster_uid, postgres, outcomes(),
                          noun="resources", facts={"left_out": left_out, "opted_in": ", ".join(kind.include)},
                          total=len(found.listed) + len(gone))
