"""CustomResourceDefinitions of a simulated cluster and instances of the resources they define.

The fixed CRDs cover what an extractor must get right: a namespaced kind with a short
name (``widgets``), an irregular plural (``octopi``), a cluster-scoped kind
(``clusterpolicies``), a kind served at two versions (``backups``, v1beta1 and v1) and a
version that is defined but not served. ``extra_crds`` adds many small generated CRDs, as
on clusters with thousands of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from k8s_assets.simulator.generator_base import TRICKY_ANNOTATIONS, Context, applied_object, managed_entry


@dataclass(frozen=True)
class CrdVersion:
    name: str
    served: bool
    storage: bool


@dataclass(frozen=True)
class CrdSpec:
    group: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    versions: tuple[CrdVersion, ...]
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    instances: int = 3
    rich: bool = True  # full schema with every property type, printer columns, status

    @property
    def name(self) -> str:
        return f"{self.plural}.{self.group}"

    @property
    def storage_version(self) -> str:
        return next(v.name for v in self.versions if v.storage)


FIXED_CRDS: tuple[CrdSpec, ...] = (
    CrdSpec("example.com", "widgets", "widget", "Widget", True,
            (CrdVersion("v1alpha1", False, False), CrdVersion("v1", True, True)), ("wd",), ("example",), instances=4),
    CrdSpec("zoo.example.com", "octopi", "octopus", "Octopus", True, (CrdVersion("v1", True, True),), ("oct",)),
    CrdSpec("policy.example.com", "clusterpolicies", "clusterpolicy", "ClusterPolicy", False, (CrdVersion("v1", True, True),), ("cpol",)),
    CrdSpec("ops.example.com", "backups", "backup", "Backup", True,
            (CrdVersion("v1beta1", True, False), CrdVersion("v1", True, True)), ("bk",)),
)


def crd_specs(extra_crds: int) -> list[CrdSpec]:
    extra = [
        CrdSpec(f"gen{i // 100}.example.com", f"thing{i}s", f"thing{i}", f"Thing{i}", i % 2 == 0,
                (CrdVersion("v1", True, True),), instances=1 + i % 2, rich=False)
        for i in range(extra_crds)
    ]
    return [*FIXED_CRDS, *extra]


def _schema(crd: CrdSpec) -> dict:
    if not crd.rich:
        spec_properties = {"size": {"type": "integer", "minimum": 0}, "label": {"type": "string"}}
        return {"type": "object", "properties": {
            "apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"},
            "spec": {"type": "object", "properties": spec_properties},
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        }}
    spec_properties = {
        "description": {"type": "string", "maxLength": 256, "description": "Free text; may hold any Unicode."},
        "replicas": {"type": "integer", "format": "int32", "minimum": 0, "maximum": 100},
        "enabled": {"type": "boolean"},
        "ratio": {"type": "number", "minimum": 0, "maximum": 1},
        "tags": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
        "settings": {"type": "object", "additionalProperties": {"type": "string"}},
        "schedule": {"type": "string", "pattern": "^[0-9*/, -]+$"},
        "target": {"type": "object", "required": ["name"], "properties": {
            "name": {"type": "string"}, "kind": {"type": "string", "enum": ["Deployment", "StatefulSet", "Namespace"]}}},
    }
    status_properties = {
        "phase": {"type": "string", "enum": ["Pending", "Ready", "Failed"]},
        "observedGeneration": {"type": "integer", "format": "int64"},
        "conditions": {"type": "array", "items": {"type": "object", "required": ["type", "status"], "properties": {
            "type": {"type": "string"}, "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
            "reason": {"type": "string"}, "message": {"type": "string"}, "lastTransitionTime": {"type": "string", "format": "date-time"}}},
            "x-kubernetes-list-map-keys": ["type"], "x-kubernetes-list-type": "map"},
    }
    return {"type": "object", "description": f"{crd.kind} is a simulated custom resource.", "properties": {
        "apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"},
        "spec": {"type": "object", "required": ["replicas"], "properties": spec_properties},
        "status": {"type": "object", "properties": status_properties},
    }}


def build_crd(ctx: Context, crd: CrdSpec, rv: str) -> dict:
    schema = _schema(crd)
    versions = []
    for version in crd.versions:
        entry: dict = {"name": version.name, "served": version.served, "storage": version.storage, "schema": {"openAPIV3Schema": schema}}
        if crd.rich:
            entry["subresources"] = {"status": {}}
            entry["additionalPrinterColumns"] = [
                {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
                {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
                {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
            ]
        if version.name.endswith(("alpha1", "beta1")):
            entry["deprecated"] = True
            entry["deprecationWarning"] = f"{crd.group}/{version.name} {crd.kind} is deprecated; use {crd.group}/{crd.storage_version}"
        versions.append(entry)
    names: dict = {"plural": crd.plural, "singular": crd.singular, "kind": crd.kind, "listKind": f"{crd.kind}List"}
    if crd.short_names:
        names["shortNames"] = list(crd.short_names)
    if crd.categories:
        names["categories"] = list(crd.categories)
    spec = {"group": crd.group, "names": names, "scope": "Namespaced" if crd.namespaced else "Cluster", "versions": versions,
            "conversion": {"strategy": "None"}}
    created = ctx.timestamp(400)
    status = {
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "lastTransitionTime": created, "reason": "NoConflicts", "message": "no conflicts found"},
            {"type": "Established", "status": "True", "lastTransitionTime": created, "reason": "InitialNamesAccepted",
             "message": "the initial names have been accepted"},
        ],
        "acceptedNames": dict(names),
        "storedVersions": [crd.storage_version],
    }
    metadata = {"name": crd.name, "labels": {"app.kubernetes.io/part-of": crd.group.split(".")[0]},
                "annotations": {"controller-gen.kubebuilder.io/version": "v0.15.0"}}
    obj = applied_object("apiextensions.k8s.io/v1", "CustomResourceDefinition", metadata, {"spec": spec}, created, status,
                         "kube-apiserver", created)
    obj["metadata"]["generation"] = 1
    meta = obj["metadata"]
    obj["metadata"] = {"name": crd.name, "uid": ctx.uid("customresourcedefinitions", "", crd.name), "resourceVersion": rv, **meta}
    return obj


def instance_records(crd: CrdSpec, app_namespaces: list[str]) -> list[tuple[CrdSpec, str | None, str]]:
    """(crd, namespace, name) per instance, spread over the app namespaces."""
    records = []
    for i in range(crd.instances):
        namespace = app_namespaces[i % len(app_namespaces)] if crd.namespaced else None
        records.append((crd, namespace, f"{crd.singular}-{['alpha', 'beta', 'gamma', 'delta', 'epsilon'][i % 5]}{i // 5 or ''}"))
    return records


def build_instance(ctx: Context, record: tuple[CrdSpec, str | None, str], rv: str) -> dict:
    crd, namespace, name = record
    api_version = f"{crd.group}/{crd.storage_version}"
    index = sum(map(ord, name)) % 7
    created = ctx.timestamp(5_000 + index * 97)
    if crd.rich:
        spec = {
            "description": f'{crd.kind} „{name}“ — owned by "team\\{index}" 🐙',
            "replicas": index,
            "enabled": index % 2 == 0,
            "ratio": round(index / 7, 3),
            "tags": ["simulated", crd.singular, f"tier-{index % 3}"],
            "settings": {"region": "eu-west-1", "path": "C:\\data\\" + name, "quote": 'say "hi"'},
            "schedule": "*/15 * * * *",
            "target": {"name": f"{name}-target", "kind": "Deployment"},
        }
        status = {"phase": "Ready" if index % 3 else "Pending", "observedGeneration": 1,
                  "conditions": [{"type": "Ready", "status": "True" if index % 3 else "False", "reason": "Reconciled",
                                  "message": "all good" if index % 3 else "waiting for target", "lastTransitionTime": created}]}
    else:
        spec = {"size": index, "label": name}
        status = {"observedGeneration": 1}
    metadata: dict = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    metadata.update(labels={"app.kubernetes.io/name": crd.singular}, annotations=dict(TRICKY_ANNOTATIONS[1:2]))
    obj = applied_object(api_version, crd.kind, metadata, {"spec": spec}, created)
    obj["metadata"]["managedFields"].append(
        managed_entry(f"{crd.singular}-controller", "Update", api_version, created, {"f:status": {"f:phase": {}}} if crd.rich else
                      {"f:status": {"f:observedGeneration": {}}}, "status"))
    meta = obj["metadata"]
    meta["uid"] = ctx.uid(crd.name, namespace or "", name)
    meta["resourceVersion"] = rv
    meta["generation"] = 1
    return {"apiVersion": api_version, "kind": crd.kind, "metadata": meta, "spec": spec, "status": status}
