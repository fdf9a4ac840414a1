"""Cluster-scoped basics: namespaces and nodes."""

from __future__ import annotations

from k8s_assets.catalog.extractors import as_json, at, condition_true, flag, node_roles, quantity, whole_quantity
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
)
