"""How the API server shares itself out: API Priority and Fairness."""

from __future__ import annotations

from k8s_assets.catalog.extractors import at, first_of
from k8s_assets.catalog.types import Kind, col

# flowcontrol.apiserver.k8s.io: v1 since 1.29; a 1.20 server serves v1beta1 (same paths, except
# the shares field renamed in v1beta3).
_FLOWCONTROL_OLDER = ("v1beta3", "v1beta2", "v1beta1")

KINDS: tuple[Kind, ...] = (
    Kind(
        table="k8s_flowschemas", group="flowcontrol.apiserver.k8s.io", version="v1", plural="flowschemas",
        kind="FlowSchema", namespaced=False, area="apiserver", older_versions=_FLOWCONTROL_OLDER,
        description="FlowSchemas: which requests go to which API priority level.",
        columns=(
            col("priority_level", "text", at("spec", "priorityLevelConfiguration", "name")),
            col("matching_precedence", "integer", at("spec", "matchingPrecedence"), "Lower matches first."),
            col("distinguisher_method", "text", at("spec", "distinguisherMethod", "type"), "ByUser or ByNamespace."),
        ),
    ),
    Kind(
        table="k8s_prioritylevelconfigurations", group="flowcontrol.apiserver.k8s.io", version="v1",
        plural="prioritylevelconfigurations", kind="PriorityLevelConfiguration", namespaced=False,
        area="apiserver", older_versions=_FLOWCONTROL_OLDER,
        description="PriorityLevelConfigurations: the API server's concurrency shares and queues per level.",
        columns=(
            col("type", "text", at("spec", "type"), "Limited or Exempt."),
            col("concurrency_shares", "integer", first_of(at("spec", "limited", "nominalConcurrencyShares"),
                                                          at("spec", "limited", "assuredConcurrencyShares"))),
            col("limit_response", "text", at("spec", "limited", "limitResponse", "type"), "Queue or Reject."),
        ),
    ),
)
