"""Generic tables: one table holds many kinds, each listed as a Kind derived from one entry here.

Custom resources: one table for every instance of every CRD (one asset lists all CRDs; see
``k8s_assets/custom_resources.py``). Per-CRD kinds are derived from ``custom_resource_kind``
with the CRD's group, storage version, plural, kind and scope. A generic table has hand-written
constraints and views, so its DDL is a numbered migration (``sql/004_custom_resources.sql``),
not derived like a typed kind's.
"""

from __future__ import annotations

from dataclasses import replace

from k8s_assets.catalog.extractors import as_json, at, constant
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
