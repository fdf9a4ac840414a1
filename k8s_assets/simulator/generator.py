"""Deterministic, realistic Kubernetes objects for a simulated cluster.

``generate_cluster(name, size, seed, extra_crds)`` plans a whole cluster (nodes,
namespaces, workloads down to pods, services, config, RBAC, storage, policy, CRDs and
custom resources) and returns lazy object streams, one per resource. The same arguments
always give byte-identical objects; different names or seeds give different UIDs.

How it stays fast and small at 150,000 pods: planning is eager but only creates one small
record per controller (``generator_plan``); object bodies are built when a stream is
iterated, and a stream can be iterated any number of times in any order. Every object
already carries ``uid``, ``resourceVersion`` (cluster-wide increasing integers from 1,
each resource owning one contiguous block), ``creationTimestamp`` and, when namespaced,
a namespace that exists. Built-in objects carry no ``kind``/``apiVersion`` (as list
items of a real server); custom resources carry both, at their storage version.

Module layout: ``generator_base`` (identity, clock, metadata helpers), ``generator_profiles``
(images and workload shapes), ``generator_plan`` (sizes, topology, who owns what),
``generator_pods``, ``generator_workloads``, ``generator_cluster``, ``generator_crds``
(object builders).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial

from k8s_assets.simulator import generator_cluster as infra
from k8s_assets.simulator import generator_crds as crds
from k8s_assets.simulator import generator_workloads as workloads
from k8s_assets.simulator.generator_base import Context
from k8s_assets.simulator.generator_cluster import SECRET_CANARY_PREFIX
from k8s_assets.simulator.generator_plan import SIZES, ClusterPlan, SizeSpec, plan_cluster, size_spec
from k8s_assets.simulator.generator_pods import pod_stream

__all__ = [
    "BUILTIN_RESOURCE_TYPES",
    "SECRET_CANARY_PREFIX",
    "SIZES",
    "GeneratedCluster",
    "ObjectStream",
    "ResourceType",
    "SizeSpec",
    "generate_cluster",
    "size_spec",
]

_STANDARD_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ResourceType:
    group: str  # "" for core
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = _STANDARD_VERBS

    @property
    def key(self) -> str:
        """kubectl-style resource name without version: ``pods``, ``deployments.apps``."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"


def _rt(group: str, version: str, plural: str, singular: str, kind: str, namespaced: bool, short_names: tuple[str, ...] = (),
        categories: tuple[str, ...] = (), verbs: tuple[str, ...] = _STANDARD_VERBS) -> ResourceType:
    return ResourceType(group, version, plural, singular, kind, namespaced, short_names, categories, verbs)


_ALL = ("all",)
_NO_DELETECOLLECTION = ("create", "delete", "get", "list", "patch", "update", "watch")

# What a 1.30+ kube-apiserver serves for these resources (versions, short names, categories, verbs).
BUILTIN_RESOURCE_TYPES: tuple[ResourceType, ...] = (
    _rt("", "v1", "namespaces", "namespace", "Namespace", False, ("ns",), verbs=_NO_DELETECOLLECTION),
    _rt("", "v1", "nodes", "node", "Node", False, ("no",)),
    _rt("", "v1", "pods", "pod", "Pod", True, ("po",), _ALL),
    _rt("", "v1", "services", "service", "Service", True, ("svc",), _ALL),
    _rt("", "v1", "configmaps", "configmap", "ConfigMap", True, ("cm",)),
    _rt("", "v1", "secrets", "secret", "Secret", True),
    _rt("", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount", True, ("sa",)),
    _rt("", "v1", "persistentvolumes", "persistentvolume", "PersistentVolume", False, ("pv",)),
    _rt("", "v1", "persistentvolumeclaims", "persistentvolumeclaim", "PersistentVolumeClaim", True, ("pvc",)),
    _rt("", "v1", "resourcequotas", "resourcequota", "ResourceQuota", True, ("quota",)),
    _rt("", "v1", "limitranges", "limitrange", "LimitRange", True, ("limits",)),
    _rt("apps", "v1", "deployments", "deployment", "Deployment", True, ("deploy",), _ALL),
    _rt("apps", "v1", "replicasets", "replicaset", "ReplicaSet", True, ("rs",), _ALL),
    _rt("apps", "v1", "statefulsets", "statefulset", "StatefulSet", True, ("sts",), _ALL),
    _rt("apps", "v1", "daemonsets", "daemonset", "DaemonSet", True, ("ds",), _ALL),
    _rt("batch", "v1", "jobs", "job", "Job", True, (), _ALL),
    _rt("batch", "v1", "cronjobs", "cronjob", "CronJob", True, ("cj",), _ALL),
    _rt("autoscaling", "v2", "horizontalpodautoscalers", "horizontalpodautoscaler", "HorizontalPodAutoscaler", True, ("hpa",), _ALL),
    _rt("policy", "v1", "poddisruptionbudgets", "poddisruptionbudget", "PodDisruptionBudget", True, ("pdb",)),
    _rt("discovery.k8s.io", "v1", "endpointslices", "endpointslice", "EndpointSlice", True),
    _rt("networking.k8s.io", "v1", "ingresses", "ingress", "Ingress", True, ("ing",)),
    _rt("networking.k8s.io", "v1", "ingressclasses", "ingressclass", "IngressClass", False),
    _rt("networking.k8s.io", "v1", "networkpolicies", "networkpolicy", "NetworkPolicy", True, ("netpol",)),
    _rt("rbac.authorization.k8s.io", "v1", "roles", "role", "Role", True),
    _rt("rbac.authorization.k8s.io", "v1", "rolebindings", "rolebinding", "RoleBinding", True),
    _rt("rbac.authorization.k8s.io", "v1", "clusterroles", "clusterrole", "ClusterRole", False),
    _rt("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "clusterrolebinding", "ClusterRoleBinding", False),
    _rt("storage.k8s.io", "v1", "storageclasses", "storageclass", "StorageClass", False, ("sc",)),
    _rt("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations", "mutatingwebhookconfiguration",
        "MutatingWebhookConfiguration", False, (), ("api-extensions",)),
    _rt("admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations", "validatingwebhookconfiguration",
        "ValidatingWebhookConfiguration", False, (), ("api-extensions",)),
    _rt("apiextensions.k8s.io", "v1", "customresourcedefinitions", "customresourcedefinition", "CustomResourceDefinition", False,
        ("crd", "crds"), ("api-extensions",)),
    _rt("", "v1", "endpoints", "endpoints", "Endpoints", True, ("ep",)),
    _rt("", "v1", "replicationcontrollers", "replicationcontroller", "ReplicationController", True, ("rc",), _ALL),
    _rt("apps", "v1", "controllerrevisions", "controllerrevision", "ControllerRevision", True),
    _rt("coordination.k8s.io", "v1", "leases", "lease", "Lease", True),
    _rt("scheduling.k8s.io", "v1", "priorityclasses", "priorityclass", "PriorityClass", False, ("pc",)),
    _rt("node.k8s.io", "v1", "runtimeclasses", "runtimeclass", "RuntimeClass", False),
    _rt("storage.k8s.io", "v1", "csidrivers", "csidriver", "CSIDriver", False),
    _rt("storage.k8s.io", "v1", "csinodes", "csinode", "CSINode", False),
    _rt("storage.k8s.io", "v1", "volumeattachments", "volumeattachment", "VolumeAttachment", False),
    _rt("certificates.k8s.io", "v1", "certificatesigningrequests", "certificatesigningrequest", "CertificateSigningRequest", False,
        ("csr",)),
    _rt("flowcontrol.apiserver.k8s.io", "v1", "flowschemas", "flowschema", "FlowSchema", False),
    _rt("flowcontrol.apiserver.k8s.io", "v1", "prioritylevelconfigurations", "prioritylevelconfiguration",
        "PriorityLevelConfiguration", False),
    _rt("admissionregistration.k8s.io", "v1", "validatingadmissionpolicies", "validatingadmissionpolicy",
        "ValidatingAdmissionPolicy", False, (), ("api-extensions",)),
    _rt("admissionregistration.k8s.io", "v1", "validatingadmissionpolicybindings", "validatingadmissionpolicybinding",
        "ValidatingAdmissionPolicyBinding", False, (), ("api-extensions",)),
)


class ObjectStream:
    """The objects of one resource, built lazily each time the stream is iterated.

    ``len()`` is known without building anything. Iterating twice yields equal objects
    (fresh dicts each time), so a consumer may mutate what it gets.
    """

    __slots__ = ("key", "_count", "_produce")

    def __init__(self, key: str, count: int, produce: Callable[[], Iterator[dict]]) -> None:
        self.key = key
        self._count = count
        self._produce = produce

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[dict]:
        produced = 0
        for obj in self._produce():
            produced += 1
            yield obj
        # A miscount would make resourceVersion blocks overlap; fail loudly instead.
        if produced != self._count:
            raise RuntimeError(f"{self.key}: planned {self._count} objects but built {produced}")


@dataclass
class GeneratedCluster:
    name: str
    seed: int
    kube_system_uid: str
    resource_types: list[ResourceType]
    objects: dict[str, Iterable[dict]]
    spec: SizeSpec | None = None
    # Resource key -> version objects are stored (and emitted) at; custom resources' keys.
    storage_versions: dict[str, str] = field(default_factory=dict)
    custom_keys: set[str] = field(default_factory=set)

    def count(self, key: str) -> int:
        stream = self.objects[key]
        return len(stream) if isinstance(stream, ObjectStream) else sum(1 for _ in stream)

    @property
    def max_resource_version(self) -> int:
        return sum(self.count(key) for key in self.objects)


def _records_stream(ctx: Context, build: Callable[[Context, object, str], dict], records: list) -> Callable[[int], Iterator[dict]]:
    def produce(first_rv: int) -> Iterator[dict]:
        for offset, record in enumerate(records):
            yield build(ctx, record, str(first_rv + offset))

    return produce


def _builtin_streams(plan: ClusterPlan) -> dict[str, tuple[int, Callable[[int], Iterator[dict]]]]:
    """Resource key -> (object count, producer taking the first resourceVersion), in creation order."""
    ctx = plan.ctx
    w = plan.workloads

    def records(build, items) -> tuple[int, Callable[[int], Iterator[dict]]]:
        items = list(items)
        return len(items), _records_stream(ctx, build, items)

    namespaces = infra.namespace_records(plan)
    return {
        "namespaces": records(infra.build_namespace, plan.namespaces),
        "nodes": records(infra.build_node, plan.nodes),
        "storageclasses.storage.k8s.io": records(infra.build_storage_class, infra.storage_class_records(plan)),
        "ingressclasses.networking.k8s.io": records(infra.build_ingress_class, infra.ingress_class_records(plan)),
        "clusterroles.rbac.authorization.k8s.io": records(infra.build_cluster_role, infra.cluster_role_records(plan)),
        "clusterrolebindings.rbac.authorization.k8s.io": records(infra.build_cluster_role_binding, infra.cluster_role_binding_records(plan)),
        "validatingwebhookconfigurations.admissionregistration.k8s.io":
            records(partial(_webhook, flavour="validating"), infra.webhook_records("validating")),
        "mutatingwebhookconfigurations.admissionregistration.k8s.io":
            records(partial(_webhook, flavour="mutating"), infra.webhook_records("mutating")),
        "serviceaccounts": records(infra.build_service_account, infra.service_account_records(plan)),
        "roles.rbac.authorization.k8s.io": records(infra.build_role, infra.role_records(plan)),
        "rolebindings.rbac.authorization.k8s.io": records(infra.build_role_binding, infra.role_records(plan)),
        "resourcequotas": records(infra.build_resource_quota, namespaces),
        "limitranges": records(infra.build_limit_range, namespaces),
        "networkpolicies.networking.k8s.io": records(infra.build_network_policy, infra.network_policy_records(plan)),
        "configmaps": records(infra.build_config_map, infra.config_map_records(plan)),
        "secrets": records(infra.build_secret, infra.secret_records(plan)),
        "deployments.apps": records(workloads.build_deployment, [x for x in w if x.kind == "Deployment"]),
        "replicasets.apps": records(workloads.build_replica_set, workloads.replica_set_records(plan)),
        "statefulsets.apps": records(workloads.build_stateful_set, [x for x in w if x.kind == "StatefulSet"]),
        "daemonsets.apps": records(workloads.build_daemon_set, [x for x in w if x.kind == "DaemonSet"]),
        "cronjobs.batch": records(workloads.build_cron_job, [x for x in w if x.kind == "CronJob"]),
        "jobs.batch": records(workloads.build_job, workloads.job_records(plan)),
        "persistentvolumeclaims": records(workloads.build_claim, workloads.claim_records(plan)),
        "persistentvolumes": records(workloads.build_volume, workloads.claim_records(plan)),
        "pods": (plan.pod_total, partial(pod_stream, plan)),
        "services": records(workloads.build_service, plan.services),
        "endpointslices.discovery.k8s.io": records(workloads.EndpointSliceBuilder(plan), workloads.endpoint_slice_records(plan)),
        "ingresses.networking.k8s.io": records(workloads.build_ingress, workloads.ingress_records(plan)),
        "horizontalpodautoscalers.autoscaling": records(workloads.build_hpa, workloads.hpa_records(plan)),
        "poddisruptionbudgets.policy": records(workloads.build_pdb, workloads.pdb_records(plan)),
        # Kinds added later keep their blocks after the original ones, so those objects stay byte-identical.
        "priorityclasses.scheduling.k8s.io": records(infra.build_priority_class, infra.priority_class_records(plan)),
        "flowschemas.flowcontrol.apiserver.k8s.io": records(infra.build_flow_schema, infra.flow_schema_records(plan)),
        "prioritylevelconfigurations.flowcontrol.apiserver.k8s.io":
            records(infra.build_priority_level, infra.priority_level_records(plan)),
        "leases.coordination.k8s.io": records(infra.build_lease, infra.lease_records(plan)),
        "runtimeclasses.node.k8s.io": records(infra.build_runtime_class, infra.runtime_class_records(plan)),
        "csidrivers.storage.k8s.io": records(infra.build_csi_driver, infra.csi_driver_records(plan)),
        "csinodes.storage.k8s.io": records(infra.build_csi_node, plan.nodes),
        "certificatesigningrequests.certificates.k8s.io": records(infra.build_csr, infra.csr_records(plan)),
        "validatingadmissionpolicies.admissionregistration.k8s.io":
            records(infra.build_admission_policy, infra.admission_policy_records(plan)),
        "validatingadmissionpolicybindings.admissionregistration.k8s.io":
            records(infra.build_admission_policy_binding, infra.admission_policy_binding_records(plan)),
        "controllerrevisions.apps": records(workloads.build_controller_revision, workloads.controller_revision_records(plan)),
        "replicationcontrollers": records(workloads.build_replication_controller, workloads.replication_controller_records(plan)),
        "endpoints": records(workloads.EndpointsBuilder(plan), workloads.endpoints_records(plan)),
        "volumeattachments.storage.k8s.io": records(infra.build_volume_attachment, workloads.volume_attachment_records(plan)),
    }


def _webhook(ctx: Context, name: str, rv: str, flavour: str) -> dict:
    return infra.build_webhook_configuration(ctx, name, rv, flavour)


def generate_cluster(name: str, size: str | int = "small", seed: int = 1, extra_crds: int = 0) -> GeneratedCluster:
    """Plan a simulated cluster; objects are built when ``objects[key]`` is iterated."""
    ctx = Context(name, seed)
    spec = size_spec(size)
    plan = plan_cluster(ctx, spec)
    streams = _builtin_streams(plan)
    resource_types = list(BUILTIN_RESOURCE_TYPES)
    storage_versions = {rt.key: rt.version for rt in BUILTIN_RESOURCE_TYPES}
    custom_keys: set[str] = set()

    crd_list = crds.crd_specs(extra_crds)
    streams["customresourcedefinitions.apiextensions.k8s.io"] = (len(crd_list), _records_stream(ctx, crds.build_crd, crd_list))
    app_namespaces = [ns.name for ns in plan.app_namespaces]
    for crd in crd_list:
        for version in crd.versions:
            if version.served:
                resource_types.append(ResourceType(crd.group, version.name, crd.plural, crd.singular, crd.kind, crd.namespaced,
                                                   crd.short_names, crd.categories))
        instances = crds.instance_records(crd, app_namespaces)
        streams[crd.name] = (len(instances), _records_stream(ctx, crds.build_instance, instances))
        storage_versions[crd.name] = crd.storage_version
        custom_keys.add(crd.name)

    missing = {rt.key for rt in resource_types} ^ set(streams)
    assert not missing, f"resource types and object streams disagree: {sorted(missing)}"
    objects: dict[str, Iterable[dict]] = {}
    first_rv = 1
    for key, (count, produce) in streams.items():
        objects[key] = ObjectStream(key, count, partial(produce, first_rv))
        first_rv += count
    return GeneratedCluster(
        name=name,
        seed=seed,
        kube_system_uid=ctx.uid("namespaces", "", "kube-system"),
        resource_types=resource_types,
        objects=objects,
        spec=spec,
        storage_versions=storage_versions,
        custom_keys=custom_keys,
    )
