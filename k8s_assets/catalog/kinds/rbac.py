"""Who may do what: service accounts, roles and their bindings."""

from __future__ import annotations

from k8s_assets.catalog.extractors import (
    as_json, at, condition_true, distinct_field_of_each, field_of_each, flag, length_of,
)
from k8s_assets.catalog.types import Column, Kind, col

def _rbac_binding_columns() -> tuple[Column, ...]:
    subjects = at("subjects")
    return (
        col("role_kind", "text", at("roleRef", "kind"), "Role or ClusterRole."),
        col("role_name", "text", at("roleRef", "name")),
        col("subject_kinds", "text[]", distinct_field_of_each(subjects, "kind")),
        col("subject_names", "text[]", field_of_each(subjects, "name")),
        col("subjects", "jsonb", as_json(subjects)),
    )


KINDS: tuple[Kind, ...] = (
    Kind(
        table="k8s_serviceaccounts", group="", version="v1", plural="serviceaccounts", kind="ServiceAccount",
        namespaced=True, area="rbac",
        description="ServiceAccounts with token automounting and pull secrets.",
        columns=(
            col("automount_token", "boolean", at("automountServiceAccountToken"), "NULL: the default (true)."),
            col("secret_names", "text[]", field_of_each(at("secrets"), "name")),
            col("image_pull_secrets", "text[]", field_of_each(at("imagePullSecrets"), "name")),
        ),
    ),
    Kind(
        table="k8s_roles", group="rbac.authorization.k8s.io", version="v1", plural="roles", kind="Role",
        namespaced=True, area="rbac",
        description="Roles with their rules.",
        columns=(
            col("rule_count", "integer", length_of(at("rules"))),
            col("rules", "jsonb", as_json(at("rules"))),
        ),
    ),
    Kind(
        table="k8s_rolebindings", group="rbac.authorization.k8s.io", version="v1", plural="rolebindings",
        kind="RoleBinding", namespaced=True, area="rbac",
        description="RoleBindings: which subjects get which role in a namespace.",
        columns=_rbac_binding_columns(),
    ),
    Kind(
        table="k8s_clusterroles", group="rbac.authorization.k8s.io", version="v1", plural="clusterroles",
        kind="ClusterRole", namespaced=False, area="rbac",
        description="ClusterRoles with their rules and aggregation.",
        columns=(
            col("rule_count", "integer", length_of(at("rules"))),
            col("rules", "jsonb", as_json(at("rules"))),
            col("aggregation_rule", "jsonb", as_json(at("aggregationRule"))),
        ),
    ),
    Kind(
        table="k8s_clusterrolebindings", group="rbac.authorization.k8s.io", version="v1",
        plural="clusterrolebindings", kind="ClusterRoleBinding", namespaced=False, area="rbac",
        description="ClusterRoleBindings: which subjects get which cluster role.",
        columns=_rbac_binding_columns(),
    ),
    Kind(
        table="k8s_certificatesigningrequests", group="certificates.k8s.io", version="v1",
        plural="certificatesigningrequests", kind="CertificateSigningRequest", namespaced=False, area="rbac",
        description="CertificateSigningRequests: who asked which signer for a certificate, and the verdict. "
                    "An issued certificate is public; the private key never reaches the API.",
        columns=(
            col("signer_name", "text", at("spec", "signerName")),
            col("username", "text", at("spec", "username"), "Who created the request."),
            col("usages", "text[]", at("spec", "usages")),
            col("expiration_seconds", "integer", at("spec", "expirationSeconds")),
            col("approved", "boolean", condition_true("Approved", "status")),
            col("denied", "boolean", condition_true("Denied", "status")),
            col("issued", "boolean", flag(at("status", "certificate")), "A certificate was issued."),
        ),
    ),
)
