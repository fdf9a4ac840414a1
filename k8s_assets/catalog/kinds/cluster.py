"""Cluster-scoped basics: namespaces and nodes."""

from __future__ import annotations

from k8s_assets.catalog.extractors import (
    as_json, at, condition_true, flag, node_roles, quantity, whole_quantity,
)
from k8s_assets.catalog.types import Kind, col

KINDS: tuple[Kind, ...] = (
    Kind(
        table="k8s_namespaces", group="", version="v1", plural="namespaces", kind="Namespace",
        namespaced=False, area="cluster",
        description="Namespaces of every cluster.",
        columns=(col("phase", "text", at("status", "phase"), "status.phase: Active or Terminating."),),
    ),
    Kind(
        table="k8s_nodes", group="", version="v1", plural="nodes", kind="Node",
        namespaced=False, area="cluster",
        description="Nodes with readiness, roles, versions and capacity.",
        after_merge="nodes_cluster_counts.sql",
        # The kubelet rewrites every condition's lastHeartbeatTime on each status report (every
        # few minutes even when nothing changed); a version per report would bury real changes.
        ignored_paths=(("status", "conditions", "[]", "lastHeartbeatTime"),),
        columns=(
            col("ready", "boolean", condition_true("Ready", "status"), "Ready condition is True."),
            col("roles", "text[]", node_roles, "From node-role.kubernetes.io/<role> labels."),
            col("kubelet_version", "text", at("status", "nodeInfo", "kubeletVersion")),
            col("os", "text", at("status", "nodeInfo", "operatingSystem")),
            col("arch", "text", at("status", "nodeInfo", "architecture")),
            col("os_image", "text", at("status", "nodeInfo", "osImage")),
            col("container_runtime", "text", at("status", "nodeInfo", "containerRuntimeVersion")),
            col("capacity_cpu", "numeric", quantity("status", "capacity", "cpu"), "Cores."),
            col("capacity_memory_bytes", "bigint", whole_quantity("status", "capacity", "memory")),
            col("capacity_pods", "integer", whole_quantity("status", "capacity", "pods")),
            col("allocatable_cpu", "numeric", quantity("status", "allocatable", "cpu"), "Cores."),
            col("allocatable_memory_bytes", "bigint", whole_quantity("status", "allocatable", "memory")),
            col("allocatable_pods", "integer", whole_quantity("status", "allocatable", "pods")),
            col("unschedulable", "boolean", flag(at("spec", "unschedulable"))),
            col("taints", "jsonb", as_json(at("spec", "taints"))),
            col("provider_id", "text", at("spec", "providerID")),
        ),
    ),
    Kind(
        table="k8s_leases", group="coordination.k8s.io", version="v1", plural="leases", kind="Lease",
        namespaced=True, area="cluster",
        description="Leases: node heartbeats (kube-node-lease), leader elections and who holds them.",
        # A holder renews its lease every few seconds (a node every 10 s): a heartbeat, not a change.
        ignored_paths=(("spec", "renewTime"),),
        columns=(
            col("holder_identity", "text", at("spec", "holderIdentity"), "Who holds the lease."),
            col("lease_duration_seconds", "integer", at("spec", "leaseDurationSeconds")),
            col("acquire_time", "timestamptz", at("spec", "acquireTime")),
            col("renew_time", "timestamptz", at("spec", "renewTime"), "The last renewal listed."),
            col("lease_transitions", "integer", at("spec", "leaseTransitions"), "How often the holder changed."),
        ),
    ),
    Kind(
        table="k8s_priorityclasses", group="scheduling.k8s.io", version="v1", plural="priorityclasses",
        kind="PriorityClass", namespaced=False, area="cluster",
        description="PriorityClasses: the scheduling priority values pods name.",
        columns=(
            col("value", "integer", at("value"), "Higher schedules (and preempts) first."),
            col("global_default", "boolean", flag(at("globalDefault"))),
            col("preemption_policy", "text", at("preemptionPolicy"), "PreemptLowerPriority or Never."),
            col("description", "text", at("description")),
        ),
    ),
    Kind(
        table="k8s_runtimeclasses", group="node.k8s.io", version="v1", plural="runtimeclasses",
        kind="RuntimeClass", namespaced=False, area="cluster", older_versions=("v1beta1",),
        description="RuntimeClasses: the container runtime handlers pods may ask for (gVisor, Kata, ...).",
        columns=(
            col("handler", "text", at("handler"), "The CRI handler name."),
            col("overhead", "jsonb", as_json(at("overhead", "podFixed")), "Resources a pod costs on top of its containers."),
            col("node_selector", "jsonb", as_json(at("scheduling", "nodeSelector"))),
        ),
    ),
)
