"""The catalog of Kubernetes kinds: one declarative entry per table.

Every kind asset, its table's columns, its extraction and its merge are derived from
an entry here, the way a CloudQuery plugin declares a table. Adding a kind means adding
an entry below and a one-line migration in ``sql/`` that creates its table with
``k8s_assets_create_kind_table`` (``test_catalog`` proves the two agree).

A typed column is a name, a SQL type and a function of the raw object. Extractors run
once per object on the hot path of a sync, so they are plain dictionary lookups. Each column
also knows the object paths it reads (``Column.reads``): extraction decodes only those paths
(``k8s_assets.decoding``), never the whole object. The extractor vocabulary below records its
paths itself, so ``col("x", "text", at("spec", "x"))`` needs nothing more; a hand-written
extractor names its paths in its ``col(..., reads=...)`` line.

A re-sync rewrites only objects whose resourceVersion moved, so a migration that adds or
changes a kind's typed columns must end with ``UPDATE <table> SET resource_version = ''``:
the next sync then sees every row as changed and fills the new columns.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

import orjson

Extractor = Callable[[dict], Any]
# A path of keys into an object; "[]" stands for every element of an array.
Path = tuple[str, ...]
EACH = "[]"


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str
    extract: Extractor
    description: str = ""
    # Every path the extractor may read below (a path covers everything under it).
    reads: tuple[Path, ...] = ()


def reading(*paths: Path) -> Callable[[Extractor], Extractor]:
    """Marks an extractor with the paths it reads, for the decoder (see ``Column.reads``)."""

    def mark(extract: Extractor) -> Extractor:
        extract.reads = tuple(paths)
        return extract

    return mark


def reads_of(extract: Extractor) -> tuple[Path, ...]:
    """The paths an extractor of the vocabulary reads (a combinator passes them on)."""
    try:
        return extract.reads
    except AttributeError:
        raise TypeError(f"{extract!r} does not say which paths it reads; mark it with @reading(...)") from None


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
    ("nul_replaced", "boolean", "True when NUL characters in the object's strings were stored as U+FFFD "
                                "(PostgreSQL text and jsonb cannot hold NUL)."),
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
    # Older versions of the same shape (the typed columns read the same paths), listed, newest
    # first, by clusters that do not serve ``version`` yet: CronJob at batch/v1beta1 before 1.21.
    older_versions: tuple[str, ...] = ()
    # Rewrites an object before it is stored (for example to drop secret values).
    # It receives the object without managedFields and must not keep references to secrets.
    redact: Callable[[dict], dict] | None = None
    # A SQL file in sql/after_merge/ run in the merge transaction, with %(cluster_uid)s.
    after_merge: str | None = None
    # The resource must be served by the cluster's discovery to be listed; built-in kinds
    # a cluster does not serve are skipped and recorded, not an error.
    tags: tuple[str, ...] = field(default=())
    # Paths (tuples of keys; "[]" is every element of an array) whose changes alone do not make
    # a new version in the kind's history: the open version moves forward instead. For fields
    # that change constantly and that nobody asks the history about (docs/history.md).
    ignored_paths: tuple[tuple[str, ...], ...] = ()
    # The Accept header of its list requests, when not plain JSON (Secrets in metadata mode).
    accept: str | None = None
    # Shared tables (k8s_other_resources): opt-in resources (OPT_IN_RESOURCES names) listed too.
    include: tuple[str, ...] = ()

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

    @reading(path)
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

    @reading(*reads_of(extract))
    def get(obj: dict) -> str | None:
        value = extract(obj)
        return None if value is None else orjson.dumps(value).decode()

    return get


def flag(extract: Extractor) -> Extractor:
    """A boolean field whose absence means false."""
    return reading(*reads_of(extract))(lambda obj: bool(extract(obj)))


def condition_true(condition_type: str, *path: str) -> Extractor:
    """True when the condition of that type in ``<path>.conditions`` has status True."""
    conditions = at(*path, "conditions")

    @reading((*path, "conditions", EACH, "type"), (*path, "conditions", EACH, "status"))
    def get(obj: dict) -> bool | None:
        for cond in conditions(obj) or ():
            if cond.get("type") == condition_type:
                return cond.get("status") == "True"
        return None

    return get


def container_images(*spec_path: str) -> Extractor:
    """Images of the init and regular containers of a pod spec at ``spec_path``."""
    spec = at(*spec_path)

    @reading(*((*spec_path, part, EACH, "image") for part in ("initContainers", "containers")))
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

    @reading(("metadata", "ownerReferences", EACH, "controller"), ("metadata", "ownerReferences", EACH, field_name))
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
    return reading(path)(lambda obj: parse_quantity(extract(obj)))


def whole_quantity(*path: str) -> Extractor:
    """A quantity rounded up to a whole number (bytes)."""
    q = quantity(*path)

    @reading(path)
    def get(obj: dict) -> int | None:
        value = q(obj)
        return None if value is None else int(value.to_integral_value(rounding="ROUND_CEILING"))

    return get


@reading(("metadata", "labels"))
def node_roles(obj: dict) -> list[str]:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    prefix = "node-role.kubernetes.io/"
    return sorted(k[len(prefix):] for k in labels if k.startswith(prefix))


_CONTAINER_STATUSES = at("status", "containerStatuses")
_CRD_VERSIONS = at("spec", "versions")


@reading(("status", "containerStatuses", EACH, "restartCount"))
def pod_restart_count(obj: dict) -> int:
    return sum(s.get("restartCount", 0) for s in _CONTAINER_STATUSES(obj) or ())


@reading(("spec", "versions", EACH, "name"), ("spec", "versions", EACH, "served"))
def crd_served_versions(obj: dict) -> list[str]:
    return [v["name"] for v in _CRD_VERSIONS(obj) or () if v.get("served")]


@reading(("spec", "versions", EACH, "name"), ("spec", "versions", EACH, "storage"))
def crd_storage_version(obj: dict) -> str | None:
    for v in _CRD_VERSIONS(obj) or ():
        if v.get("storage"):
            return v.get("name")
    return None


def constant(value: Any) -> Extractor:
    """The same value for every object (custom resources: the CRD's names); reads nothing."""
    return reading()(lambda obj: value)


def col(name: str, sql_type: str, extract: Extractor, description: str = "", *,
        reads: Iterable[Path] | None = None) -> Column:
    """A typed column; ``reads`` names the paths of a hand-written extractor (the vocabulary knows its own)."""
    if reads is None:
        reads = getattr(extract, "reads", None)
        if reads is None:
            raise TypeError(f"column {name!r}: a hand-written extractor must say which paths it reads "
                            "(col(..., reads=[(\"spec\", \"field\"), ...]))")
    return Column(name, sql_type, extract, description, tuple(tuple(p) for p in reads))


def owner_columns() -> tuple[Column, ...]:
    """The controlling owner, for kinds a controller creates (pods, replicasets, jobs)."""
    return (
        col("owner_kind", "text", controller_owner("kind"), "Kind of the controlling ownerReference."),
        col("owner_name", "text", controller_owner("name")),
        col("owner_uid", "uuid", controller_owner("uid")),
    )


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
            *owner_columns(),
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
            col("paused", "boolean", flag(at("spec", "paused"))),
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


def is_shared_table(kind: Kind) -> bool:
    """A table of many resources (custom or other resources): group and plural are its columns."""
    names = {c.name for c in kind.columns}
    return {"group", "plural", "namespace"} <= names


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


# ---------------------------------------------------------------------------
# Extractors and redaction for the kinds below (plain dictionary lookups).

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
# Where a redacted object says what was removed; typed columns of secrets and configmaps
# read key names (and, for configmaps, sizes) from here, since the values are gone.
REDACTED = "k8sAssetsRedacted"


def as_text(extract: Extractor) -> Extractor:
    """An int-or-string value (``minAvailable: 1`` or ``"50%"``) as text."""

    @reading(*reads_of(extract))
    def get(obj: dict) -> str | None:
        value = extract(obj)
        return None if value is None else str(value)

    return get


def length_of(extract: Extractor) -> Extractor:
    @reading(*reads_of(extract))
    def get(obj: dict) -> int:
        return len(extract(obj) or ())

    return get


def annotation_true(key: str) -> Extractor:
    @reading(("metadata", "annotations"))
    def get(obj: dict) -> bool:
        return ((obj.get("metadata") or {}).get("annotations") or {}).get(key) == "true"

    return get


def label(key: str) -> Extractor:
    @reading(("metadata", "labels"))
    def get(obj: dict) -> str | None:
        return ((obj.get("metadata") or {}).get("labels") or {}).get(key)

    return get


def field_of_each(list_extract: Extractor, *path: str) -> Extractor:
    """One field of every element of a list: ``[rule.host for rule in spec.rules]``."""
    element = at(*path)

    @reading(*((*p, EACH, *path) for p in reads_of(list_extract)))
    def get(obj: dict) -> list | None:
        items = list_extract(obj)
        if items is None:
            return None
        return [v for v in (element(i) for i in items) if v is not None]

    return get


def distinct_field_of_each(list_extract: Extractor, *path: str) -> Extractor:
    values = field_of_each(list_extract, *path)

    @reading(*reads_of(values))
    def get(obj: dict) -> list | None:
        found = values(obj)
        return None if found is None else sorted(set(found))

    return get


def flattened(list_extract: Extractor, *path: str) -> Extractor:
    """Values of a list field of every element, flattened: ``spec.tls[].hosts[]``."""
    element = at(*path)

    @reading(*((*p, EACH, *path) for p in reads_of(list_extract)))
    def get(obj: dict) -> list | None:
        items = list_extract(obj)
        if items is None:
            return None
        return [v for i in items for v in element(i) or ()]

    return get


@reading(("endpoints", EACH, "conditions", "ready"))
def endpoints_ready(obj: dict) -> int:
    return sum(1 for e in obj.get("endpoints") or () if (e.get("conditions") or {}).get("ready") is not False)


def redact_secret(obj: dict) -> dict:
    """A Secret without any value: key names stay, data/stringData and last-applied go."""
    data = obj.pop("data", None) or {}
    string_data = obj.pop("stringData", None) or {}
    metadata = obj.get("metadata") or {}
    annotations = metadata.get("annotations")
    dropped = ["data", "stringData"]
    if annotations and LAST_APPLIED in annotations:
        annotations = {k: v for k, v in annotations.items() if k != LAST_APPLIED}
        metadata["annotations"] = annotations or None
        dropped.append(f"metadata.annotations[{LAST_APPLIED}]")
    obj[REDACTED] = {"keys": sorted({*data, *string_data}), "removed": dropped}
    return obj


def _value_size(value: Any, binary: bool) -> int:
    if not isinstance(value, str):
        return 0
    if binary:  # base64: the decoded size
        return len(value) * 3 // 4 - value[-2:].count("=")
    return len(value.encode())


def configmap_redactor(keep_values: bool) -> Callable[[dict], dict]:
    """ConfigMaps carry key names and sizes; values (and last-applied) only with keep_values."""

    def redact(obj: dict) -> dict:
        data = obj.get("data") or {}
        binary = obj.get("binaryData") or {}
        sizes = {k: _value_size(v, False) for k, v in data.items()}
        sizes.update({k: _value_size(v, True) for k, v in binary.items()})
        summary: dict[str, Any] = {"keys": sorted(sizes), "sizes": sizes, "binaryKeys": sorted(binary)}
        if not keep_values:
            obj.pop("data", None)
            obj.pop("binaryData", None)
            removed = ["data", "binaryData"]
            metadata = obj.get("metadata") or {}
            annotations = metadata.get("annotations")
            if annotations and LAST_APPLIED in annotations:
                annotations = {k: v for k, v in annotations.items() if k != LAST_APPLIED}
                metadata["annotations"] = annotations or None
                removed.append(f"metadata.annotations[{LAST_APPLIED}]")
            summary["removed"] = removed
        obj[REDACTED] = summary
        return obj

    return redact


@reading((REDACTED, "sizes"))
def configmap_total_bytes(obj: dict) -> int | None:
    sizes = at(REDACTED, "sizes")(obj)
    return None if sizes is None else sum(sizes.values())


def pod_template_images(*template_path: str) -> Extractor:
    return container_images(*template_path, "spec")


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


def _rbac_binding_columns() -> tuple[Column, ...]:
    subjects = at("subjects")
    return (
        col("role_kind", "text", at("roleRef", "kind"), "Role or ClusterRole."),
        col("role_name", "text", at("roleRef", "name")),
        col("subject_kinds", "text[]", distinct_field_of_each(subjects, "kind")),
        col("subject_names", "text[]", field_of_each(subjects, "name")),
        col("subjects", "jsonb", as_json(subjects)),
    )


_SECRETS = Kind(
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

# K8S_ASSETS_SECRETS=metadata: the API server answers with PartialObjectMetadataList, so data,
# stringData, type and immutable never leave it. Key names are unknown then, and the typed
# columns that need more than metadata (type, keys, immutable) are NULL, not guessed.
METADATA_ONLY = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"


def redact_secret_metadata(obj: dict) -> dict:
    """A Secret listed as PartialObjectMetadata: only metadata arrived, less the last-applied
    annotation (kubectl apply puts the whole Secret, values included, there)."""
    metadata = obj.get("metadata") or {}
    annotations = metadata.get("annotations")
    removed = []
    if annotations and LAST_APPLIED in annotations:
        metadata["annotations"] = {k: v for k, v in annotations.items() if k != LAST_APPLIED} or None
        removed.append(f"metadata.annotations[{LAST_APPLIED}]")
    # The item says PartialObjectMetadata; the row is a Secret, of which only metadata was listed.
    return {"apiVersion": "v1", "kind": "Secret", "metadata": metadata,
            REDACTED: {"keys": None, "removed": removed, "listedAs": "PartialObjectMetadata"}}


_SECRETS_METADATA = replace(
    _SECRETS, accept=METADATA_ONLY, redact=redact_secret_metadata,
    description="Secrets listed as metadata only (K8S_ASSETS_SECRETS=metadata): names, labels and "
                "annotations; no value, type or key name ever leaves the API server.",
    columns=tuple(replace(c, extract=lambda obj: None) for c in _SECRETS.columns),
)

_CONFIGMAPS = Kind(
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

KINDS = KINDS + (
    Kind(
        table="k8s_replicasets", group="apps", version="v1", plural="replicasets", kind="ReplicaSet",
        namespaced=True, area="workloads",
        description="ReplicaSets with replicas, images and their owning Deployment.",
        columns=(
            col("replicas", "integer", at("spec", "replicas"), "Desired replicas."),
            col("ready_replicas", "integer", at("status", "readyReplicas")),
            col("available_replicas", "integer", at("status", "availableReplicas")),
            col("images", "text[]", pod_template_images("spec", "template")),
            col("template_hash", "text", label("pod-template-hash")),
            *owner_columns(),
        ),
    ),
    Kind(
        table="k8s_statefulsets", group="apps", version="v1", plural="statefulsets", kind="StatefulSet",
        namespaced=True, area="workloads",
        description="StatefulSets with replicas, service name, images and update strategy.",
        columns=(
            col("replicas", "integer", at("spec", "replicas"), "Desired replicas."),
            col("ready_replicas", "integer", at("status", "readyReplicas")),
            col("current_replicas", "integer", at("status", "currentReplicas")),
            col("updated_replicas", "integer", at("status", "updatedReplicas")),
            col("service_name", "text", at("spec", "serviceName")),
            col("images", "text[]", pod_template_images("spec", "template")),
            col("update_strategy", "text", at("spec", "updateStrategy", "type")),
            col("volume_claim_templates", "text[]", field_of_each(at("spec", "volumeClaimTemplates"), "metadata", "name")),
            col("selector", "jsonb", as_json(at("spec", "selector"))),
        ),
    ),
    Kind(
        table="k8s_daemonsets", group="apps", version="v1", plural="daemonsets", kind="DaemonSet",
        namespaced=True, area="workloads",
        description="DaemonSets with scheduled, ready and available counts and images.",
        columns=(
            col("desired_number_scheduled", "integer", at("status", "desiredNumberScheduled")),
            col("current_number_scheduled", "integer", at("status", "currentNumberScheduled")),
            col("number_ready", "integer", at("status", "numberReady")),
            col("number_available", "integer", at("status", "numberAvailable")),
            col("number_misscheduled", "integer", at("status", "numberMisscheduled")),
            col("updated_number_scheduled", "integer", at("status", "updatedNumberScheduled")),
            col("images", "text[]", pod_template_images("spec", "template")),
            col("update_strategy", "text", at("spec", "updateStrategy", "type")),
            col("node_selector", "jsonb", as_json(at("spec", "template", "spec", "nodeSelector"))),
            col("selector", "jsonb", as_json(at("spec", "selector"))),
        ),
    ),
    Kind(
        table="k8s_jobs", group="batch", version="v1", plural="jobs", kind="Job",
        namespaced=True, area="workloads",
        description="Jobs with completions, outcome counts, timing and their owning CronJob.",
        columns=(
            col("completions", "integer", at("spec", "completions")),
            col("parallelism", "integer", at("spec", "parallelism")),
            col("active", "integer", at("status", "active")),
            col("succeeded", "integer", at("status", "succeeded")),
            col("failed", "integer", at("status", "failed")),
            col("complete", "boolean", condition_true("Complete", "status"), "Complete condition is True."),
            col("start_time", "timestamptz", at("status", "startTime")),
            col("completion_time", "timestamptz", at("status", "completionTime")),
            col("images", "text[]", pod_template_images("spec", "template")),
            *owner_columns(),
        ),
    ),
    Kind(
        table="k8s_cronjobs", group="batch", version="v1", plural="cronjobs", kind="CronJob",
        namespaced=True, area="workloads",
        older_versions=("v1beta1",),
        description="CronJobs with schedule, suspension and last run times.",
        columns=(
            col("schedule", "text", at("spec", "schedule")),
            col("time_zone", "text", at("spec", "timeZone")),
            col("suspend", "boolean", flag(at("spec", "suspend"))),
            col("concurrency_policy", "text", at("spec", "concurrencyPolicy")),
            col("active_jobs", "integer", length_of(at("status", "active"))),
            col("last_schedule_time", "timestamptz", at("status", "lastScheduleTime")),
            col("last_successful_time", "timestamptz", at("status", "lastSuccessfulTime")),
            col("images", "text[]", pod_template_images("spec", "jobTemplate", "spec", "template")),
        ),
    ),
    Kind(
        table="k8s_endpointslices", group="discovery.k8s.io", version="v1", plural="endpointslices",
        kind="EndpointSlice", namespaced=True, area="networking",
        older_versions=("v1beta1",),
        description="EndpointSlices with their service, address type and endpoint counts.",
        columns=(
            col("service_name", "text", label("kubernetes.io/service-name")),
            col("address_type", "text", at("addressType")),
            col("endpoint_count", "integer", length_of(at("endpoints"))),
            col("ready_endpoint_count", "integer", endpoints_ready),
            col("addresses", "text[]", flattened(at("endpoints"), "addresses")),
            col("ports", "jsonb", as_json(at("ports"))),
        ),
    ),
    Kind(
        table="k8s_ingresses", group="networking.k8s.io", version="v1", plural="ingresses", kind="Ingress",
        namespaced=True, area="networking",
        description="Ingresses with class, hosts, TLS hosts and rules.",
        columns=(
            col("ingress_class", "text", at("spec", "ingressClassName")),
            col("hosts", "text[]", field_of_each(at("spec", "rules"), "host")),
            col("tls_hosts", "text[]", flattened(at("spec", "tls"), "hosts")),
            col("load_balancer_ingress", "jsonb", as_json(at("status", "loadBalancer", "ingress"))),
            col("default_backend", "jsonb", as_json(at("spec", "defaultBackend"))),
            col("rules", "jsonb", as_json(at("spec", "rules"))),
        ),
    ),
    Kind(
        table="k8s_ingressclasses", group="networking.k8s.io", version="v1", plural="ingressclasses",
        kind="IngressClass", namespaced=False, area="networking",
        description="IngressClasses with their controller and which one is the default.",
        columns=(
            col("controller", "text", at("spec", "controller")),
            col("is_default", "boolean", annotation_true("ingressclass.kubernetes.io/is-default-class")),
            col("parameters", "jsonb", as_json(at("spec", "parameters"))),
        ),
    ),
    Kind(
        table="k8s_networkpolicies", group="networking.k8s.io", version="v1", plural="networkpolicies",
        kind="NetworkPolicy", namespaced=True, area="networking",
        description="NetworkPolicies with their pod selector, policy types and rules.",
        columns=(
            col("pod_selector", "jsonb", as_json(at("spec", "podSelector"))),
            col("policy_types", "text[]", at("spec", "policyTypes")),
            col("ingress_rule_count", "integer", length_of(at("spec", "ingress"))),
            col("egress_rule_count", "integer", length_of(at("spec", "egress"))),
            col("ingress", "jsonb", as_json(at("spec", "ingress"))),
            col("egress", "jsonb", as_json(at("spec", "egress"))),
        ),
    ),
    _CONFIGMAPS,
    _SECRETS,
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
        table="k8s_persistentvolumes", group="", version="v1", plural="persistentvolumes",
        kind="PersistentVolume", namespaced=False, area="storage",
        description="PersistentVolumes with capacity, phase, class and the claim they are bound to.",
        columns=(
            col("phase", "text", at("status", "phase")),
            col("capacity_bytes", "bigint", whole_quantity("spec", "capacity", "storage")),
            col("access_modes", "text[]", at("spec", "accessModes")),
            col("reclaim_policy", "text", at("spec", "persistentVolumeReclaimPolicy")),
            col("storage_class", "text", at("spec", "storageClassName")),
            col("volume_mode", "text", at("spec", "volumeMode")),
            col("claim_namespace", "text", at("spec", "claimRef", "namespace")),
            col("claim_name", "text", at("spec", "claimRef", "name")),
            col("csi_driver", "text", at("spec", "csi", "driver")),
        ),
    ),
    Kind(
        table="k8s_persistentvolumeclaims", group="", version="v1", plural="persistentvolumeclaims",
        kind="PersistentVolumeClaim", namespaced=True, area="storage",
        description="PersistentVolumeClaims with requested and bound capacity, class and volume.",
        columns=(
            col("phase", "text", at("status", "phase")),
            col("storage_class", "text", at("spec", "storageClassName")),
            col("volume_name", "text", at("spec", "volumeName")),
            col("requested_bytes", "bigint", whole_quantity("spec", "resources", "requests", "storage")),
            col("capacity_bytes", "bigint", whole_quantity("status", "capacity", "storage")),
            col("access_modes", "text[]", at("spec", "accessModes")),
            col("volume_mode", "text", at("spec", "volumeMode")),
        ),
    ),
    Kind(
        table="k8s_storageclasses", group="storage.k8s.io", version="v1", plural="storageclasses",
        kind="StorageClass", namespaced=False, area="storage",
        description="StorageClasses with provisioner, policies and which one is the default.",
        columns=(
            col("provisioner", "text", at("provisioner")),
            col("reclaim_policy", "text", at("reclaimPolicy")),
            col("volume_binding_mode", "text", at("volumeBindingMode")),
            col("allow_volume_expansion", "boolean", flag(at("allowVolumeExpansion"))),
            col("is_default", "boolean", annotation_true("storageclass.kubernetes.io/is-default-class")),
            col("parameters", "jsonb", as_json(at("parameters"))),
        ),
    ),
    Kind(
        table="k8s_poddisruptionbudgets", group="policy", version="v1", plural="poddisruptionbudgets",
        kind="PodDisruptionBudget", namespaced=True, area="workloads",
        older_versions=("v1beta1",),
        description="PodDisruptionBudgets with their bounds and how many disruptions are allowed now.",
        columns=(
            col("min_available", "text", as_text(at("spec", "minAvailable")), "Count or percentage."),
            col("max_unavailable", "text", as_text(at("spec", "maxUnavailable")), "Count or percentage."),
            col("current_healthy", "integer", at("status", "currentHealthy")),
            col("desired_healthy", "integer", at("status", "desiredHealthy")),
            col("disruptions_allowed", "integer", at("status", "disruptionsAllowed")),
            col("expected_pods", "integer", at("status", "expectedPods")),
            col("selector", "jsonb", as_json(at("spec", "selector"))),
        ),
    ),
    Kind(
        table="k8s_horizontalpodautoscalers", group="autoscaling", version="v2",
        plural="horizontalpodautoscalers", kind="HorizontalPodAutoscaler", namespaced=True, area="workloads",
        older_versions=("v2beta2",),
        description="HorizontalPodAutoscalers with their target, bounds and current replicas.",
        columns=(
            col("target_kind", "text", at("spec", "scaleTargetRef", "kind")),
            col("target_name", "text", at("spec", "scaleTargetRef", "name")),
            col("min_replicas", "integer", at("spec", "minReplicas")),
            col("max_replicas", "integer", at("spec", "maxReplicas")),
            col("current_replicas", "integer", at("status", "currentReplicas")),
            col("desired_replicas", "integer", at("status", "desiredReplicas")),
            col("metrics", "jsonb", as_json(at("spec", "metrics"))),
        ),
    ),
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
)

KINDS_BY_TABLE = {k.table: k for k in KINDS}


def with_options(kinds: tuple[Kind, ...], *, configmap_values: bool = False,
                 secrets_metadata: bool = False) -> tuple[Kind, ...]:
    """The kinds as configured: ConfigMap values are kept only when the user turned that on;
    Secrets are listed as metadata only with K8S_ASSETS_SECRETS=metadata."""
    replacements = {}
    if configmap_values:
        replacements[_CONFIGMAPS.table] = replace(_CONFIGMAPS, redact=configmap_redactor(keep_values=True))
    if secrets_metadata:
        replacements[_SECRETS.table] = _SECRETS_METADATA
    return tuple(replacements.get(k.table, k) for k in kinds)


# ---------------------------------------------------------------------------
# Custom resources: one table for every instance of every CRD (not a KINDS entry: one asset
# lists all CRDs; see k8s_assets/custom_resources.py). Per-CRD kinds are derived from this one
# with the CRD's group, storage version, plural, kind and scope.

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
KINDS_BY_TABLE[CUSTOM_RESOURCES.table] = CUSTOM_RESOURCES


# ---------------------------------------------------------------------------
# Every other served kind: one table for the objects of every listable resource the cluster
# serves that has no typed table here and is not a custom resource (see
# k8s_assets/other_resources.py). Which resources that is, API discovery decides at each sync;
# per-resource kinds are derived from this one with the group, version, plural, kind and scope
# discovery gives.

OTHER_RESOURCE_COLUMNS = ("namespace", "group", "version", "kind", "plural", "scope", "owner_kind", "owner_name",
                          "owner_uid")
# Resources listed only when K8S_ASSETS_RESOURCES names them (by these names, as kubectl prints
# them): events are many, churn constantly and expire an hour after their last update, so an
# hourly sample of them is noise. (group, plural) by name.
OPT_IN_RESOURCES: dict[str, tuple[str, str]] = {
    "events": ("", "events"),
    "events.events.k8s.io": ("events.k8s.io", "events"),
}


def other_resource_kind(group: str, version: str, plural: str, kind: str, namespaced: bool) -> Kind:
    """The Kind that lists one served resource without a typed table into k8s_other_resources."""
    scope = "Namespaced" if namespaced else "Cluster"
    return Kind(
        table="k8s_other_resources", group=group, version=version, plural=plural, kind=kind,
        namespaced=False,  # the table's namespace is a nullable typed column: it holds both scopes
        area="extensions",
        description="Every served kind without a typed table (and not a custom resource), as API discovery "
                    "names it.",
        columns=(
            col("namespace", "text", at("metadata", "namespace"), "NULL for cluster-scoped resources."),
            col("group", "text", constant(group), "API group ('' for the core group), from API discovery."),
            col("version", "text", constant(version), "The version listed: the group's preferred version."),
            col("kind", "text", constant(kind), "Kind, from API discovery."),
            col("plural", "text", constant(plural), "Resource name, from API discovery (never guessed)."),
            col("scope", "text", constant(scope), "Namespaced or Cluster."),
            *owner_columns(),
        ),
    )


OTHER_RESOURCES = other_resource_kind("", "v1", "otherresources", "OtherResource", True)
KINDS_BY_TABLE[OTHER_RESOURCES.table] = OTHER_RESOURCES


def with_opt_in(kind: Kind, names: Iterable[str]) -> Kind:
    """OTHER_RESOURCES with the opt-in resources ``names`` (keys of OPT_IN_RESOURCES) listed too."""
    return replace(kind, include=tuple(sorted(set(kind.include) | set(names))))
