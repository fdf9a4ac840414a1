"""Generic tables: one table holds many kinds, each listed as a Kind derived from one entry here.

Custom resources: one table for every instance of every CRD (one asset lists all CRDs; see
``k8s_assets/dagster_edge/custom_resources.py``). Per-CRD kinds are derived from ``custom_resource_kind``
with the CRD's group, storage version, plural, kind and scope.

Every other served kind: one table for the objects of every listable resource the cluster
serves that has no typed table and is not a custom resource (see
``k8s_assets/dagster_edge/other_resources.py``). Which resources that is, API discovery decides at each
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
from k8s_assets.catalog.types import Column, Kind, col


def shared_table_kind(table: str, description: str, group: str, version: str, plural: str, kind: str,
                      namespaced: bool, named_by: str, version_listed: str, *own: Column) -> Kind:
    """One resource's Kind in a shared table: the resource's names as constant columns, then the table's own."""
    return Kind(
        table=table, group=group, version=version, plural=plural, kind=kind,
        namespaced=False,  # the table's namespace is a nullable typed column: it holds both scopes
        area="extensions", description=description,
        columns=(
            col("namespace", "text", at("metadata", "namespace"), "NULL for cluster-scoped resources."),
            col("group", "text", constant(group), f"API group ('' for the core group), from {named_by}."),
            col("version", "text", constant(version), f"The version listed: {version_listed}."),
            col("kind", "text", constant(kind), f"Kind, from {named_by}."),
            col("plural", "text", constant(plural), f"Resource name, from {named_by} (never guessed)."),
            col("scope", "text", constant("Namespaced" if namespaced else "Cluster"), "Namespaced or Cluster."),
            *own,
        ),
    )


def custom_resource_kind(group: str, version: str, plural: str, kind: str, namespaced: bool) -> Kind:
    """The Kind that lists one CRD's instances into k8s_custom_resources."""
    return shared_table_kind(
        "k8s_custom_resources", "Every instance of every CustomResourceDefinition, listed at its storage version.",
        group, version, plural, kind, namespaced, "the CRD", "the CRD's storage version",
        col("spec", "jsonb", as_json(at("spec"))), col("status", "jsonb", as_json(at("status"))))


CUSTOM_RESOURCES = replace(custom_resource_kind("", "v1", "customresources", "CustomResource", True),
                           after_merge="custom_resource_views.sql")


# Resources listed only when K8S_ASSETS_RESOURCES names them (by these names, as kubectl prints
# them): events are many, churn constantly and expire an hour after their last update, so an
# hourly sample of them is noise. (group, plural) by name.
OPT_IN_RESOURCES: dict[str, tuple[str, str]] = {
    "events": ("", "events"),
    "events.events.k8s.io": ("events.k8s.io", "events"),
}


def other_resource_kind(group: str, version: str, plural: str, kind: str, namespaced: bool) -> Kind:
    """The Kind that lists one served resource without a typed table into k8s_other_resources."""
    return shared_table_kind(
        "k8s_other_resources", "Every served kind without a typed table (and not a custom resource), as API "
        "discovery names it.", group, version, plural, kind, namespaced, "API discovery",
        "the group's preferred version", *owner_columns())


OTHER_RESOURCES = other_resource_kind("", "v1", "otherresources", "OtherResource", True)


def with_opt_in(kind: Kind, names: Iterable[str]) -> Kind:
    """OTHER_RESOURCES with the opt-in resources ``names`` (keys of OPT_IN_RESOURCES) listed too."""
    return replace(kind, include=tuple(sorted(set(kind.include) | set(names))))


def is_shared_table(kind: Kind) -> bool:
    """A table of many resources (custom or other resources): group and plural are its columns."""
    names = {c.name for c in kind.columns}
    return {"group", "plural", "namespace"} <= names
