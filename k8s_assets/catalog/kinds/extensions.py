"""How the API is extended: CustomResourceDefinitions and admission webhooks."""

from __future__ import annotations

from k8s_assets.catalog.extractors import (
    as_json, at, crd_served_versions, crd_storage_version, distinct_field_of_each, field_of_each, length_of,
)
from k8s_assets.catalog.types import Column, EACH, Kind, col

def _webhook_columns() -> tuple[Column, ...]:
    webhooks = at("webhooks")
    return (
        col("webhook_count", "integer", length_of(webhooks)),
        col("webhook_names", "text[]", field_of_each(webhooks, "name")),
        col("failure_policies", "text[]", distinct_field_of_each(webhooks, "failurePolicy")),
        col("services", "text[]", lambda o: [
            f"{s.get('namespace')}/{s.get('name')}"
            for w in o.get("webhooks") or () for s in ((w.get("clientConfig") or {}).get("service"),) if s
        ], "namespace/name of the services the webhooks call.", reads=[("webhooks", EACH, "clientConfig", "service")]),
        col("urls", "text[]", field_of_each(webhooks, "clientConfig", "url")),
        col("webhooks", "jsonb", as_json(webhooks)),
    )


KINDS: tuple[Kind, ...] = (
    Kind(
        table="k8s_crds", group="apiextensions.k8s.io", version="v1", plural="customresourcedefinitions",
        kind="CustomResourceDefinition", namespaced=False, area="extensions",
        description="CustomResourceDefinitions: which custom kinds each cluster serves.",
        columns=(
            col("group", "text", at("spec", "group")),
            col("kind", "text", at("spec", "names", "kind")),
            col("plural", "text", at("spec", "names", "plural")),
            col("scope", "text", at("spec", "scope")),
            col("versions", "text[]", crd_served_versions, "Served versions."),
            col("storage_version", "text", crd_storage_version),
        ),
    ),
    Kind(
        table="k8s_validatingwebhookconfigurations", group="admissionregistration.k8s.io", version="v1",
        plural="validatingwebhookconfigurations", kind="ValidatingWebhookConfiguration",
        namespaced=False, area="extensions",
        description="Validating admission webhooks: names, failure policies and the services they call.",
        columns=_webhook_columns(),
    ),
    Kind(
        table="k8s_mutatingwebhookconfigurations", group="admissionregistration.k8s.io", version="v1",
        plural="mutatingwebhookconfigurations", kind="MutatingWebhookConfiguration",
        namespaced=False, area="extensions",
        description="Mutating admission webhooks: names, failure policies and the services they call.",
        columns=_webhook_columns(),
    ),
    Kind(
        table="k8s_validatingadmissionpolicies", group="admissionregistration.k8s.io", version="v1",
        plural="validatingadmissionpolicies", kind="ValidatingAdmissionPolicy", namespaced=False, area="extensions",
        description="ValidatingAdmissionPolicies: CEL rules the API server checks on writes (1.30+).",
        columns=(
            col("failure_policy", "text", at("spec", "failurePolicy")),
            col("validation_count", "integer", length_of(at("spec", "validations"))),
            col("param_kind", "jsonb", as_json(at("spec", "paramKind"))),
            col("match_constraints", "jsonb", as_json(at("spec", "matchConstraints"))),
        ),
    ),
    Kind(
        table="k8s_validatingadmissionpolicybindings", group="admissionregistration.k8s.io", version="v1",
        plural="validatingadmissionpolicybindings", kind="ValidatingAdmissionPolicyBinding", namespaced=False,
        area="extensions",
        description="ValidatingAdmissionPolicyBindings: where each policy applies and what a violation does.",
        columns=(
            col("policy_name", "text", at("spec", "policyName")),
            col("validation_actions", "text[]", at("spec", "validationActions"), "Deny, Warn, Audit."),
            col("param_ref", "jsonb", as_json(at("spec", "paramRef"))),
            col("match_resources", "jsonb", as_json(at("spec", "matchResources"))),
        ),
    ),
)
