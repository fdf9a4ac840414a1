"""Configuration and quotas: ConfigMaps and Secrets (redacted, see catalog.redaction), quotas, limit ranges."""

from __future__ import annotations

from dataclasses import replace

from k8s_assets.catalog.extractors import as_json, at, field_of_each, flag
from k8s_assets.catalog.redaction import (
    METADATA_ONLY, REDACTED, configmap_redactor, redact_secret, redact_secret_metadata,
)
from k8s_assets.catalog.types import Kind, col, reading


@reading((REDACTED, "sizes"))
def configmap_total_bytes(obj: dict) -> int | None:
    sizes = at(REDACTED, "sizes")(obj)
    return None if sizes is None else sum(sizes.values())


SECRETS = Kind(
    table="k8s_secrets", group="", version="v1", plural="secrets", kind="Secret",
    namespaced=True, area="config",
    description="Secrets without values: type and key names only (data, stringData and the "
                "last-applied annotation are dropped before anything is stored).",
    redact=redact_secret,
    columns=(
        col("type", "text", at("type"), "kubernetes.io/tls, Opaque, ..."),
        col("keys", "text[]", at(REDACTED, "keys"), "Key names of data and stringData; never values."),
        col("immutable", "boolean", flag(at("immutable"))),
    ),
)


SECRETS_METADATA = replace(
    SECRETS, accept=METADATA_ONLY, redact=redact_secret_metadata,
    description="Secrets listed as metadata only (K8S_ASSETS_SECRETS=metadata): names, labels and "
                "annotations; no value, type or key name ever leaves the API server.",
    columns=tuple(replace(c, extract=lambda obj: None) for c in SECRETS.columns),
)

CONFIGMAPS = Kind(
    table="k8s_configmaps", group="", version="v1", plural="configmaps", kind="ConfigMap",
    namespaced=True, area="config",
    description="ConfigMaps with key names and value sizes; values only with K8S_ASSETS_CONFIGMAP_VALUES=true.",
    redact=configmap_redactor(keep_values=False),
    # Leader election with a ConfigMap lock (client-go before leases, still used by some
    # operators) renews this annotation every few seconds: it is a heartbeat, not a change.
    ignored_paths=(("metadata", "annotations", "control-plane.alpha.kubernetes.io/leader"),),
    columns=(
        col("keys", "text[]", at(REDACTED, "keys"), "Keys of data and binaryData."),
        col("binary_keys", "text[]", at(REDACTED, "binaryKeys")),
        col("key_sizes", "jsonb", as_json(at(REDACTED, "sizes")), "Bytes per key (binaryData decoded)."),
        col("total_bytes", "bigint", configmap_total_bytes),
        col("immutable", "boolean", flag(at("immutable"))),
        col("data", "jsonb", as_json(at("data")), "Values: NULL unless K8S_ASSETS_CONFIGMAP_VALUES=true."),
    ),
)


KINDS: tuple[Kind, ...] = (
    CONFIGMAPS,
    SECRETS,
    Kind(
        table="k8s_resourcequotas", group="", version="v1", plural="resourcequotas", kind="ResourceQuota",
        namespaced=True, area="config",
        description="ResourceQuotas with hard limits and current use.",
        columns=(
            col("hard", "jsonb", as_json(at("status", "hard")), "Enforced limits (status.hard)."),
            col("used", "jsonb", as_json(at("status", "used"))),
            col("spec_hard", "jsonb", as_json(at("spec", "hard"))),
            col("scopes", "text[]", at("spec", "scopes")),
        ),
    ),
    Kind(
        table="k8s_limitranges", group="", version="v1", plural="limitranges", kind="LimitRange",
        namespaced=True, area="config",
        description="LimitRanges with their defaults and bounds per type.",
        columns=(
            col("limit_types", "text[]", field_of_each(at("spec", "limits"), "type")),
            col("limits", "jsonb", as_json(at("spec", "limits"))),
        ),
    ),
)
