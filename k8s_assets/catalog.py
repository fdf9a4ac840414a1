"""The catalog of Kubernetes kinds: one declarative entry per table.

Every kind asset, its table's columns, its extraction and its merge are derived from
an entry here, the way a CloudQuery plugin declares a table. Adding a kind means adding
an entry below and a one-line migration in ``sql/`` that creates its table with
``k8s_assets_create_kind_table`` (``test_catalog`` proves the two agree).

A typed column is a name, a SQL type and a function of the raw object. Extractors run
once per object on the hot path of a sync, so they are plain dictionary lookups.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson

Extractor = Callable[[dict], Any]


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str
    extract: Extractor
    description: str = ""


# Columns every kind table has, in this order, ahead of its typed columns.
# (name, sql type, description); values are filled by extraction, not by extractors.
COMMON_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("cluster_uid", "uuid", "Stable cluster identity (UUID5 of the kube-system namespace UID)."),
    ("uid", "uuid", "metadata.uid of the object."),
    ("context_name", "text", "Kubeconfig context that last wrote this row."),
    ("name", "text", "metadata.name."),
    ("namespace", "text", "metadata.namespace (namespaced kinds only)."),
    ("labels", "jsonb", "metadata.labels."),
    ("annotations", "jsonb", "metadata.annotations."),
    ("created_at", "timestamptz", "metadata.creationTimestamp."),
    ("resource_version", "text", "metadata.resourceVersion; a changed value means a changed object."),
    ("raw", "jsonb", "The whole object without metadata.managedFields (redacted for secrets)."),
    ("synced_at", "timestamptz", "When this row was last written (unchanged objects are not rewritten)."),
)


@dataclass(frozen=True)
class Kind:
    """One Kubernetes resource, synced into one table by one asset."""

    table: str  # also the asset name
    group: str  # "" for the core group
    version: str  # version to list when discovery does not say otherwise
    plural: str
    kind: str
    namespaced: bool
    area: str  # Dagster asset group: cluster, workloads, networking, config, rbac, storage, extensions
    description: str
    columns: tuple[Column, ...] = ()
    # Rewrites an object before it is stored (for example to drop secret values).
    # It receives the object without managedFields and must not keep references to secrets.
    redact: Callable[[dict], dict] | None = None
    # A SQL file in sql/after_merge/ run in the merge transaction, with %(cluster_uid)s.
    after_merge: str | None = None
    # The resource must be served by the cluster's discovery to be listed; built-in kinds
    # a cluster does not serve are skipped and recorded, not an error.
    tags: tuple[str, ...] = field(default=())

    @property
    def resource(self) -> str:
        """kubectl-style resource name: ``pods``, ``deployments.apps``."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def list_path(self, version: str | None = None) -> str:
        """Path that lists every object of this kind across all namespaces."""
        v = version or self.version
        prefix = f"/apis/{self.group}/{v}" if self.group else f"/api/{v}"
        return f"{prefix}/{self.plural}"

    @property
    def column_names(self) -> tuple[str, ...]:
        common = [c for c, _, _ in COMMON_COLUMNS if self.namespaced or c != "namespace"]
        return (*common, *(c.name for c in self.columns))

    @property
    def sql_types(self) -> dict[str, str]:
        common = {c: t for c, t, _ in COMMON_COLUMNS if self.namespaced or c != "namespace"}
        return {**common, **{c.name: c.sql_type for c in self.columns}}


# ---------------------------------------------------------------------------
# Small extractor vocabulary. Each returns a function of the object.


def at(*path: str) -> Extractor:
    """The value at a path of keys, or None where any step is missing."""

    def get(obj: dict) -> Any:
        cur: Any = obj
        for key in path:
            if not isinstance(cur, dict):
                return None
            cur = cur.get(key)
            if cur is None:
                return None
        return cur

    return get


def as_json(extract: Extractor) -> Extractor:
    """Serialise a nested value for a jsonb column (None stays NULL)."""

    def get(obj: dict) -> str | None:
        value = extract(obj)
        return None if value is None else orjson.dumps(value).decode()

    return get


def condition_true(condition_type: str, *path: str) -> Extractor:
    """True when the condition of that type in ``<path>.conditions`` has status True."""
    conditions = at(*path, "conditions")

    def get(obj: dict) -> bool | None:
        for cond in conditions(obj) or ():
            if cond.get("type") == condition_type:
                return cond.get("status") == "True"
        return None

    return get


def container_images(*spec_path: str) -> Extractor:
    """Images of the init and regular containers of a pod spec at ``spec_path``."""
    spec = at(*spec_path)

    def get(obj: dict) -> list[str]:
        s = spec(obj) or {}
        return [
            c.get("image")
            for part in ("initContainers", "containers")
            for c in s.get(part) or ()
            if c.get("image")
        ]

    return get


def controller_owner(field_name: str) -> Extractor:
    """A field of the ownerReference that has controller: true."""

    def get(obj: dict) -> Any:
        for ref in (obj.get("metadata") or {}).get("ownerReferences") or ():
            if ref.get("controller"):
                return ref.get(field_name)
        return None

    return get


_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)$")
_SUFFIX = {
    "": Decimal(1), "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"),
    "k": Decimal(10) ** 3, "M": Decimal(10) ** 6, "G": Decimal(10) ** 9, "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15, "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30, "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60,
}


def parse_quantity(value: Any) -> Decimal | None:
    """A Kubernetes resource.Quantity ("250m", "16Gi", "1e3") as a Decimal; None if absent or malformed."""
    if value is None:
        return None
    m = _QUANTITY.match(str(value).strip())
    if not m or m.group(2) not in _SUFFIX:
        return None
    try:
        return Decimal(m.group(1)) * _SUFFIX[m.group(2)]
    except ArithmeticError:
        return None


def quantity(*path: str) -> Extractor:
    extract = at(*path)
    return lambda obj: parse_quantity(extract(obj))


def whole_quantity(*path: str) -> Extractor:
    """A quantity rounded up to a whole number (bytes)."""
    q = quantity(*path)

    def get(obj: dict) -> int | None:
        value = q(obj)
        return None if value is None else int(value.to_integral_value(rounding="ROUND_CEILING"))

    return get


def node_roles(obj: dict) -> list[str]:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    prefix = "node-role.kubernetes.io/"
    return sorted(k[len(prefix):] for k in labels if k.startswith(prefix))


def pod_restart_count(obj: dict) -> int:
    return sum(s.get("restartCount", 0) for s in at("status", "containerStatuses")(obj) or ())


def crd_served_versions(obj: dict) -> list[str]:
    return [v["name"] for v in at("spec", "versions")(obj) or () if v.get("served")]


def crd_storage_version(obj: dict) -> str | None:
    for v in at("spec", "versions")(obj) or ():
        if v.get("storage"):
            return v.get("name")
    return None


def col(name: str, sql_type: str, extract: Extractor, description: str = "") -> Column:
    return Column(name, sql_type, extract, description)


# ---------------------------------------------------------------------------
# The kinds. The seed's six come first.

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
            col("unschedulable", "boolean", lambda o: bool(at("spec", "unschedulable")(o))),
            col("taints", "jsonb", as_json(at("spec", "taints"))),
            col("provider_id", "text", at("spec", "providerID")),
        ),
    ),
    Kind(
        table="k8s_pods", group="", version="v1", plural="pods", kind="Pod",
        namespaced=True, area="workloads",
        description="Pods with phase, placement, readiness, restarts, images and controlling owner.",
        columns=(
            col("phase", "text", at("status", "phase")),
            col("node_name", "text", at("spec", "nodeName"), "Empty while unscheduled."),
            col("pod_ip", "text", at("status", "podIP")),
            col("host_ip", "text", at("status", "hostIP")),
            col("qos_class", "text", at("status", "qosClass")),
            col("ready", "boolean", condition_true("Ready", "status")),
            col("restart_count", "integer", pod_restart_count, "Sum over containers."),
            col("images", "text[]", container_images("spec"), "Init and regular container images."),
            col("service_account", "text", at("spec", "serviceAccountName")),
            col("priority_class", "text", at("spec", "priorityClassName")),
            col("started_at", "timestamptz", at("status", "startTime")),
            col("owner_kind", "text", controller_owner("kind"), "Kind of the controlling ownerReference."),
            col("owner_name", "text", controller_owner("name")),
            col("owner_uid", "uuid", controller_owner("uid")),
        ),
    ),
    Kind(
        table="k8s_deployments", group="apps", version="v1", plural="deployments", kind="Deployment",
        namespaced=True, area="workloads",
        description="Deployments with desired and observed replicas, images and rollout strategy.",
        columns=(
            col("replicas", "integer", at("spec", "replicas"), "Desired replicas."),
            col("ready_replicas", "integer", at("status", "readyReplicas")),
            col("available_replicas", "integer", at("status", "availableReplicas")),
            col("updated_replicas", "integer", at("status", "updatedReplicas")),
            col("images", "text[]", container_images("spec", "template", "spec")),
            col("strategy", "text", at("spec", "strategy", "type")),
            col("selector", "jsonb", as_json(at("spec", "selector"))),
            col("paused", "boolean", lambda o: bool(at("spec", "paused")(o))),
        ),
    ),
    Kind(
        table="k8s_services", group="", version="v1", plural="services", kind="Service",
        namespaced=True, area="networking",
        description="Services with type, cluster IP, ports and selector.",
        columns=(
            col("type", "text", at("spec", "type")),
            col("cluster_ip", "text", at("spec", "clusterIP")),
            col("external_ips", "text[]", at("spec", "externalIPs")),
            col("load_balancer_ingress", "jsonb", as_json(at("status", "loadBalancer", "ingress"))),
            col("ports", "jsonb", as_json(at("spec", "ports"))),
            col("selector", "jsonb", as_json(at("spec", "selector"))),
        ),
    ),
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
)

KINDS_BY_TABLE: dict[str, Kind] = {k.table: k for k in KINDS}


def kind_aliases(kind: Kind) -> set[str]:
    """Names a user may write in K8S_ASSETS_RESOURCES for this kind."""
    return {kind.table, kind.table.removeprefix("k8s_"), kind.plural, kind.resource, kind.kind.lower()}


def select_kinds(patterns: Iterable[str] | None) -> tuple[Kind, ...]:
    """The kinds named by K8S_ASSETS_RESOURCES (None or empty: all). Unknown names raise ValueError."""
    if not patterns:
        return KINDS
    wanted = {p.strip().lower() for p in patterns if p.strip()}
    chosen = [k for k in KINDS if kind_aliases(k) & wanted]
    known = set().union(*(kind_aliases(k) for k in KINDS))
    unknown = sorted(wanted - known)
    if unknown:
        raise ValueError(
            f"unknown kind(s) {', '.join(unknown)}; known: {', '.join(k.plural for k in KINDS)}"
        )
    return tuple(chosen)
