"""The catalog of Kubernetes kinds: one declarative entry per table, and the registry of them.

Every kind asset, its table (DDL, history, as-of function: derived at migrate time by
``k8s_assets.store.schema``), its extraction, its merge and its RBAC rule (``k8s_assets.catalog.rbac_rules``) come
from one ``Kind`` literal in ``kinds/<area>.py``, the way a CloudQuery plugin declares a table.
Adding a kind is adding that entry (and its test); adding a column is adding a ``col(...)``:
the next ``k8s-assets migrate`` derives the DDL, records it in ``k8s_assets_schema_changes`` and
makes the next sync refill the kind's rows.

Layout: ``types`` (Kind, Column, col), ``extractors`` (the vocabulary of column functions),
``redaction`` (what never reaches the database), ``kinds/`` (the typed kinds by API area) and
``generic`` (tables that hold many kinds: custom resources).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from k8s_assets.catalog.generic import CUSTOM_RESOURCES, OPT_IN_RESOURCES, OTHER_RESOURCES, with_opt_in
from k8s_assets.catalog.kinds import apiserver, cluster, config, extensions, networking, rbac, storage, workloads
from k8s_assets.catalog.redaction import configmap_redactor
from k8s_assets.catalog.types import Kind

# Every typed kind, by area (the order of the Dagster asset groups).
KINDS: tuple[Kind, ...] = (
    *cluster.KINDS, *workloads.KINDS, *networking.KINDS, *config.KINDS, *rbac.KINDS, *storage.KINDS,
    *extensions.KINDS, *apiserver.KINDS,
)

# Every table the catalog writes, typed kinds and generic tables.
KINDS_BY_TABLE: dict[str, Kind] = {k.table: k for k in (*KINDS, CUSTOM_RESOURCES, OTHER_RESOURCES)}


def kind_aliases(kind: Kind) -> set[str]:
    """Names a user may write in K8S_ASSETS_RESOURCES for this kind."""
    return {kind.table, kind.table.removeprefix("k8s_"), kind.plural, kind.resource, kind.kind.lower()}


ALL_KINDS = "*"


def select_kinds(patterns: Iterable[str] | None) -> tuple[Kind, ...]:
    """The kinds named by K8S_ASSETS_RESOURCES (None, empty or ``*``: every catalog kind and
    k8s_other_resources). ``other_resources`` (or ``k8s_other_resources``) selects the table of
    every served kind without a typed one; an opt-in name (``events``, ``events.events.k8s.io``)
    selects it with that resource listed too. Unknown names raise ValueError."""
    wanted = {p.strip().lower() for p in patterns or () if p.strip()}
    every = not wanted or ALL_KINDS in wanted
    wanted.discard(ALL_KINDS)
    opt_in = sorted(wanted & OPT_IN_RESOURCES.keys())
    wanted -= set(opt_in)
    selectable = (*KINDS, OTHER_RESOURCES)
    chosen = [k for k in selectable if every or kind_aliases(k) & wanted]
    known = set().union(*(kind_aliases(k) for k in selectable))
    unknown = sorted(wanted - known)
    if unknown:
        raise ValueError(
            f"unknown kind(s) {', '.join(unknown)}; known: {', '.join(k.plural for k in KINDS)}, "
            f"other_resources, {', '.join(OPT_IN_RESOURCES)}, or {ALL_KINDS} for all"
        )
    if opt_in:
        if OTHER_RESOURCES not in chosen:
            chosen.append(OTHER_RESOURCES)
        chosen = [with_opt_in(k, opt_in) if k.table == OTHER_RESOURCES.table else k for k in chosen]
    return tuple(chosen)


def with_options(kinds: tuple[Kind, ...], *, configmap_values: bool = False,
                 secrets_metadata: bool = False) -> tuple[Kind, ...]:
    """The kinds as configured: ConfigMap values are kept only when the user turned that on;
    Secrets are listed as metadata only with K8S_ASSETS_SECRETS=metadata."""
    replacements = {}
    if configmap_values:
        replacements[config.CONFIGMAPS.table] = replace(config.CONFIGMAPS, redact=configmap_redactor(keep_values=True))
    if secrets_metadata:
        replacements[config.SECRETS.table] = config.SECRETS_METADATA
    return tuple(replacements.get(k.table, k) for k in kinds)
