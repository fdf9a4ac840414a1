"""Generic tables: one table holds many kinds, each listed as a Kind derived from one entry here.

Custom resources: one table for every instance of every CRD (one asset lists all CRDs; see
``k8s_assets/custom_resources.py``). Per-CRD kinds are derived from ``custom_resource_kind``
with the CRD's group, storage version, plural, kind and scope.

Every other served kind: one table for the objects of every listable resource the cluster
serves that has no typed table and is not a custom resource (see
``k8s_assets/other_resources.py``). Which resources that is, API discovery decides at each
sync; per-resource kinds are derived from ``other_resource_kind`` with the group, version,
plural, kind and scope discovery gives.

A generic table has hand-written constraints and views, so its DDL is a numbered migration
(``sql/004_custom_resources.sql``, ``sql/010_other_resources.sql``), not derived like a typed
kind's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from k8s_assets.catalog.extractors import as_json, at, constant, owner_columns
from k8s_assets.catalog.types import Kind, col

CUSTOM_RESOURCE_COLUMNS = ("namespace", "group", "version", "kind", "plural", "scope")


def custom_resource_kind(group: str, version: str, plural: str, kind: str, namespaced: bool) -> Kind:
    """The Kind that lists one CRD's instances into k8s_custom_resources."""
    scope = "Namespaced" if namespaced else "Cluster"
    return Kind(
        table="k8s_custom_resources", group=group, version=version, plural=plural, kind=kind,
        namespaced=False,  # the table's namespace is a nullable typed column: it holds both scopes
        area="extensions",
        description="Every instance of every CustomResourceDefinition, listed at its storage version.",
        columns=(
            col("namespace", "text", at("metadata", "namespace"), "NULL for cluster-scoped resources."),
            col("group", "text", constant(group), "spec.group of the CRD."),
            col("version", "text", constant(version), "The version listed: the CRD's storage version."),
            col("kind", "text", constant(kind), "spec.names.kind of the CRD."),
            col("plural", "text", constant(plural), "spec.names.plural of the CRD (never guessed)."),
            col("scope", "text", constant(scope), "Namespaced or Cluster."),
            col("spec", "jsonb", as_json(at("spec"))),
            col("status", "jsonb", as_json(at("status"))),
        ),
    )


CUSTOM_RESOURCES = replace(custom_resource_kind("", "v1", "customresources", "CustomResource", True),
                           after_merge="custom_resource_views.sql")


OTHER_RESOURCE_COLUMNS = ("namespace", "group", "version", "kind", "plural", "scope", "owner_kind", "owner_name",
                          "owner_uid")
# Resources listed only when K8S_ASSETS_RESOURCES names them (by these names, as kubectl prints
# them): events are many, churn constantly and expire an hour after their last update, so an
# hourly sample of them is noise. (group, plural) by name.
OPT_IN_RESOURCES: dict[str, tuple[str, str]] = {
    "events": ("", "events"),
    "events.events.k8s.io": ("events.k8s.io", "events"),
}


def other_resource_kind(group: str, version: str, plural: str, kind: str, namespaced: bool) -> Kind:
    """The Kind that lists one served resource without a typed table into k8s_other_resources."""
    scope = "Namespaced" if namespaced else "Cluster"
    return Kind(
        table="k8s_other_resources", group=group, version=version, plural=plural, kind=kind,
        namespaced=False,  # the table's namespace is a nullable typed column: it holds both scopes
        area="extensions",
        description="Every served kind without a typed table (and not a custom resource), as API discovery "
                    "names it.",
        columns=(
            col("namespace", "text", at("metadata", "namespace"), "NULL for cluster-scoped resources."),
            col("group", "text", constant(group), "API group ('' for the core group), from API discovery."),
            col("version", "text", constant(version), "The version listed: the group's preferred version."),
            col("kind", "text", constant(kind), "Kind, from API discovery."),
            col("plural", "text", constant(plural), "Resource name, from API discovery (never guessed)."),
            col("scope", "text", constant(scope), "Namespaced or Cluster."),
            *owner_columns(),
        ),
    )


OTHER_RESOURCES = other_resource_kind("", "v1", "otherresources", "OtherResource", True)


def with_opt_in(kind: Kind, names: Iterable[str]) -> Kind:
    """OTHER_RESOURCES with the opt-in resources ``names`` (keys of OPT_IN_RESOURCES) listed too."""
    return replace(kind, include=tuple(sorted(set(kind.include) | set(names))))


def is_shared_table(kind: Kind) -> bool:
    """A table of many resources (custom or other resources): group and plural are its columns."""
    names = {c.name for c in kind.columns}
    return {"group", "plural", "namespace"} <= names
