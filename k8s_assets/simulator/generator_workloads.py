"""Controllers and networking of a simulated cluster: Deployments down to EndpointSlices.

Each ``*_records``/``build_*`` pair turns plan records into API objects; the generator
wraps them in lazy streams. Objects created by users carry ``kubectl apply`` metadata;
objects created by controllers (ReplicaSets, Jobs, EndpointSlices, PVs) carry their
controller's managedFields and ownerReferences instead, as on a real cluster.
"""

from __future__ import annotations

from k8s_assets.simulator.generator_base import (
    TRICKY_ANNOTATIONS,
    Context,
    applied_object,
    fields_v1,
    fields_v1_of_shape,
    managed_entry,
)
from k8s_assets.simulator.generator_pods import Placement, pod_name, pod_template
from k8s_assets.simulator.generator_plan import (
    ENDPOINTS_PER_SLICE,
    ClusterPlan,
    JobPlan,
    ReplicaSetPlan,
    ServicePlan,
    Workload,
)


def _selector_labels(workload: Workload) -> dict:
    return {"app.kubernetes.io/name": workload.name}


def _labels(workload: Workload) -> dict:
    labels = {**_selector_labels(workload), "app.kubernetes.io/component": workload.profile.component,
              "app.kubernetes.io/part-of": workload.namespace, "app.kubernetes.io/managed-by": "kubectl"}
    if workload.tag:
        labels["app.kubernetes.io/version"] = workload.tag
    return labels


def _owner(api_version: str, kind: str, name: str, uid: str) -> dict:
    return {"apiVersion": api_version, "kind": kind, "name": name, "uid": uid, "controller": True, "blockOwnerDeletion": True}


def _template_labels(workload: Workload) -> dict:
    labels = _selector_labels(workload)
    if workload.tag:
        labels["app.kubernetes.io/version"] = workload.tag
    return labels


def _finish(obj: dict, uid: str, rv: str) -> dict:
    obj["metadata"]["uid"] = uid
    obj["metadata"]["resourceVersion"] = rv
    return obj


def _ordered_metadata(obj: dict) -> dict:
    """Put metadata keys in the API server's order (name, namespace, uid, resourceVersion, ...)."""
    order = ("name", "generateName", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp", "labels",
             "annotations", "ownerReferences", "finalizers", "managedFields")
    meta = obj["metadata"]
    obj["metadata"] = {k: meta[k] for k in order if k in meta}
    return obj


def build_deployment(ctx: Context, workload: Workload, rv: str) -> dict:
    pods = workload.pods
    ready = workload.ready_replicas
    strategy = ({"type": "Recreate"} if workload.profile.key in ("worker",) else
                {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
    body = {"spec": {
        "replicas": workload.replicas,
        "selector": {"matchLabels": _selector_labels(workload)},
        "template": pod_template(ctx, pods, _template_labels(workload)),
        "strategy": strategy,
        "revisionHistoryLimit": 10,
        "progressDeadlineSeconds": 600,
    }}
    annotations = {**dict(TRICKY_ANNOTATIONS[:2])}
    revision = workload.replica_sets[-1].revision
    created = ctx.timestamp(workload.created)
    updated = ctx.timestamp(workload.replica_sets[-1].created + 60)
    status = {
        "observedGeneration": revision,
        "replicas": workload.replicas,
        "updatedReplicas": workload.replicas,
        "readyReplicas": ready,
        "availableReplicas": ready,
        "conditions": [
            {"type": "Available", "status": "True" if ready >= workload.replicas * 3 // 4 else "False",
             "lastUpdateTime": updated, "lastTransitionTime": updated,
             "reason": "MinimumReplicasAvailable" if ready >= workload.replicas * 3 // 4 else "MinimumReplicasUnavailable",
             "message": "Deployment has minimum availability." if ready >= workload.replicas * 3 // 4 else "Deployment does not have minimum availability."},
            {"type": "Progressing", "status": "True", "lastUpdateTime": updated, "lastTransitionTime": created,
             "reason": "NewReplicaSetAvailable", "message": f'ReplicaSet "{workload.replica_sets[-1].name}" has successfully progressed.'},
        ],
    }
    if ready < workload.replicas:
        status["unavailableReplicas"] = workload.replicas - ready
    metadata = {"name": workload.name, "namespace": workload.namespace, "labels": _labels(workload), "annotations": annotations}
    obj = applied_object("apps/v1", "Deployment", metadata, body, created, status, "kube-controller-manager", updated,
                         shape_key=("Deployment", workload.profile.key, bool(workload.tag), strategy["type"]))
    obj["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = str(revision)
    obj["metadata"]["generation"] = revision
    return _ordered_metadata(_finish(obj, workload.uid, rv))


def replica_set_records(plan: ClusterPlan) -> list[tuple[Workload, ReplicaSetPlan]]:
    return [(w, rs) for w in plan.workloads for rs in w.replica_sets]


def build_replica_set(ctx: Context, record: tuple[Workload, ReplicaSetPlan], rv: str) -> dict:
    workload, rs = record
    current = rs is workload.replica_sets[-1]
    labels = {**_template_labels(workload), "pod-template-hash": rs.template_hash}
    if not current:
        labels["app.kubernetes.io/version"] = rs.tag
    template = pod_template(ctx, workload.pods, labels)
    if not current:
        for container in template["spec"]["containers"] + template["spec"].get("initContainers", []):
            container["image"] = container["image"].replace(workload.tag, rs.tag)
    spec = {"replicas": rs.replicas, "selector": {"matchLabels": {**_selector_labels(workload), "pod-template-hash": rs.template_hash}},
            "template": template}
    ready = workload.ready_replicas if current else 0
    status = {"replicas": rs.replicas, "fullyLabeledReplicas": rs.replicas, "readyReplicas": ready, "availableReplicas": ready,
              "observedGeneration": 1 if current else 2}
    if rs.replicas == 0:
        status = {"replicas": 0, "observedGeneration": 2}
    created = ctx.timestamp(rs.created)
    annotations = {"deployment.kubernetes.io/desired-replicas": str(workload.replicas),
                   "deployment.kubernetes.io/max-replicas": str(workload.replicas + max(1, workload.replicas // 4)),
                   "deployment.kubernetes.io/revision": str(rs.revision)}
    owner = _owner("apps/v1", "Deployment", workload.name, workload.uid)
    metadata = {"name": rs.name, "namespace": workload.namespace, "uid": rs.uid, "resourceVersion": rv,
                "generation": 1 if current else 2, "creationTimestamp": created, "labels": labels, "annotations": annotations,
                "ownerReferences": [owner]}
    shape = ("ReplicaSet", workload.profile.key, bool(workload.tag))
    metadata["managedFields"] = [
        managed_entry("kube-controller-manager", "Update", "apps/v1", created,
                      {**fields_v1({"metadata": {"annotations": annotations, "labels": labels, "ownerReferences": [owner]}}),
                       **fields_v1_of_shape(shape, {"spec": spec})}),
        managed_entry("kube-controller-manager", "Update", "apps/v1", created,
                      fields_v1_of_shape((*shape, "status", *status), {"status": status}), "status"),
    ]
    return {"metadata": metadata, "spec": spec, "status": status}


def build_stateful_set(ctx: Context, workload: Workload, rv: str) -> dict:
    pods = workload.pods
    ready = workload.ready_replicas
    headless = next((s.name for s in workload.services if s.cluster_ip == "None"), workload.name)
    spec = {
        "replicas": workload.replicas,
        "selector": {"matchLabels": _selector_labels(workload)},
        "template": pod_template(ctx, pods, _template_labels(workload)),
        "volumeClaimTemplates": [{
            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": workload.profile.claim_template},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": _claim_size(workload)}},
                     "storageClassName": "premium-rwo", "volumeMode": "Filesystem"},
        }],
        "serviceName": headless,
        "podManagementPolicy": "OrderedReady",
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
        "revisionHistoryLimit": 10,
        "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
    }
    status = {"observedGeneration": 1, "replicas": workload.replicas, "readyReplicas": ready, "currentReplicas": workload.replicas,
              "updatedReplicas": workload.replicas, "currentRevision": pods.revision_hash, "updateRevision": pods.revision_hash,
              "collisionCount": 0, "availableReplicas": ready}
    metadata = {"name": workload.name, "namespace": workload.namespace, "labels": _labels(workload),
                "annotations": dict(TRICKY_ANNOTATIONS[2:])}
    created = ctx.timestamp(workload.created)
    obj = applied_object("apps/v1", "StatefulSet", metadata, {"spec": spec}, created, status, "kube-controller-manager", created,
                         shape_key=("StatefulSet", workload.profile.key, bool(workload.tag)))
    obj["metadata"]["generation"] = 1
    return _ordered_metadata(_finish(obj, workload.uid, rv))


def _claim_size(workload: Workload) -> str:
    return "50Gi" if workload.profile.key in ("postgres", "prometheus") else "8Gi"


def build_daemon_set(ctx: Context, workload: Workload, rv: str) -> dict:
    count = workload.pods.count
    spec = {
        "selector": {"matchLabels": _selector_labels(workload)},
        "template": pod_template(ctx, workload.pods, {**_template_labels(workload)}),
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
        "revisionHistoryLimit": 10,
    }
    status = {"currentNumberScheduled": count, "numberMisscheduled": 0, "desiredNumberScheduled": count,
              "numberReady": count, "observedGeneration": 1, "updatedNumberScheduled": count, "numberAvailable": count}
    metadata = {"name": workload.name, "namespace": workload.namespace, "labels": _labels(workload), "annotations": {}}
    created = ctx.timestamp(workload.created)
    obj = applied_object("apps/v1", "DaemonSet", metadata, {"spec": spec}, created, status, "kube-controller-manager", created,
                         shape_key=("DaemonSet", workload.profile.key))
    obj["metadata"]["annotations"]["deprecated.daemonset.template.generation"] = "1"
    obj["metadata"]["generation"] = 1
    return _ordered_metadata(_finish(obj, workload.uid, rv))


def build_cron_job(ctx: Context, workload: Workload, rv: str) -> dict:
    last = workload.jobs[-1]
    spec = {
        "schedule": "30 2 * * *",
        "timeZone": "Etc/UTC",
        "concurrencyPolicy": "Forbid",
        "suspend": False,
        "jobTemplate": {"metadata": {}, "spec": {"backoffLimit": 2, "ttlSecondsAfterFinished": 604_800,
                                                 "template": pod_template(ctx, last.pods, _template_labels(workload))}},
        "successfulJobsHistoryLimit": 3,
        "failedJobsHistoryLimit": 1,
    }
    status = {"lastScheduleTime": ctx.timestamp(last.created), "lastSuccessfulTime": ctx.timestamp(last.created + 95)}
    metadata = {"name": workload.name, "namespace": workload.namespace, "labels": _labels(workload), "annotations": dict(TRICKY_ANNOTATIONS[:1])}
    created = ctx.timestamp(workload.created)
    obj = applied_object("batch/v1", "CronJob", metadata, {"spec": spec}, created, status, "kube-controller-manager",
                         status["lastSuccessfulTime"], shape_key=("CronJob", workload.profile.key))
    obj["metadata"]["generation"] = 1
    return _ordered_metadata(_finish(obj, workload.uid, rv))


def job_records(plan: ClusterPlan) -> list[tuple[Workload, JobPlan]]:
    return [(w, job) for w in plan.workloads for job in w.jobs]


def build_job(ctx: Context, record: tuple[Workload, JobPlan], rv: str) -> dict:
    workload, job = record
    selector = {"batch.kubernetes.io/controller-uid": job.uid}
    labels = {**_template_labels(workload), **selector, "batch.kubernetes.io/job-name": job.name,
              "controller-uid": job.uid, "job-name": job.name}
    spec = {"parallelism": 1, "completions": 1, "backoffLimit": 2, "ttlSecondsAfterFinished": 604_800,
            "selector": {"matchLabels": selector}, "manualSelector": False,
            "template": pod_template(ctx, job.pods, labels), "completionMode": "NonIndexed", "suspend": False,
            "podReplacementPolicy": "TerminatingOrFailed"}
    created = ctx.timestamp(job.created)
    finished = ctx.timestamp(job.created + 95)
    status = {"conditions": [{"type": "Complete", "status": "True", "lastProbeTime": finished, "lastTransitionTime": finished}],
              "startTime": created, "completionTime": finished, "succeeded": 1, "terminating": 0, "ready": 0,
              "uncountedTerminatedPods": {}}
    owner = _owner("batch/v1", "CronJob", workload.name, workload.uid)
    annotations = {"batch.kubernetes.io/cronjob-scheduled-timestamp": created.replace("Z", "+00:00"),
                   "batch.kubernetes.io/job-tracking": ""}
    metadata = {"name": job.name, "namespace": workload.namespace, "uid": job.uid, "resourceVersion": rv, "generation": 1,
                "creationTimestamp": created, "labels": labels, "annotations": annotations, "ownerReferences": [owner]}
    shape = ("Job", workload.profile.key)
    metadata["managedFields"] = [
        managed_entry("kube-controller-manager", "Update", "batch/v1", created,
                      {**fields_v1({"metadata": {"annotations": annotations, "labels": labels, "ownerReferences": [owner]}}),
                       **fields_v1_of_shape(shape, {"spec": spec})}),
        managed_entry("kube-controller-manager", "Update", "batch/v1", finished,
                      fields_v1_of_shape((*shape, "status"), {"status": status}), "status"),
    ]
    return {"metadata": metadata, "spec": spec, "status": status}


def build_service(ctx: Context, service: ServicePlan, rv: str) -> dict:
    spec: dict = {}
    ports = []
    for index, (name, port, target, protocol) in enumerate(service.ports):
        entry = {"name": name, "protocol": protocol, "port": port, "targetPort": target if service.type != "ExternalName" else port}
        if service.type in ("NodePort", "LoadBalancer"):
            entry["nodePort"] = 30_000 + (int(service.uid[:4], 16) + index) % 2_768
        ports.append(entry)
    spec["ports"] = ports
    if service.selector:
        spec["selector"] = dict(service.selector)
    status: dict = {"loadBalancer": {}}
    if service.type == "ExternalName":
        spec.update(type="ExternalName", externalName=service.external_name, sessionAffinity="None")
    else:
        spec["clusterIP"] = service.cluster_ip
        spec["clusterIPs"] = [service.cluster_ip]
        spec["type"] = service.type
        spec["sessionAffinity"] = "None"
        spec["ipFamilies"] = ["IPv4"]
        spec["ipFamilyPolicy"] = "SingleStack"
        spec["internalTrafficPolicy"] = "Cluster"
        if service.type in ("NodePort", "LoadBalancer"):
            spec["externalTrafficPolicy"] = "Cluster"
        if service.type == "LoadBalancer":
            spec["allocateLoadBalancerNodePorts"] = True
            octet = int(service.uid[:2], 16)
            status["loadBalancer"] = {"ingress": [{"ip": f"203.0.113.{octet}", "ipMode": "VIP"}] if octet % 2 else
                                      [{"hostname": f"a{service.uid[:8]}-{octet}.elb.eu-west-1.amazonaws.com"}]}
    labels = {"app.kubernetes.io/name": service.selector["app.kubernetes.io/name"]} if service.selector else {}
    if service.name == "kubernetes":
        labels = {"component": "apiserver", "provider": "kubernetes"}
    metadata = {"name": service.name, "namespace": service.namespace, "labels": labels,
                "annotations": {"example.com/owner": TRICKY_ANNOTATIONS[0][1]}}
    created = ctx.timestamp(service.created)
    obj = applied_object("v1", "Service", metadata, {"spec": spec}, created, status,
                         "cloud-controller-manager" if service.type == "LoadBalancer" else None, created,
                         shape_key=("Service", service.type, service.ports, service.selector is not None))
    return _ordered_metadata(_finish(obj, service.uid, rv))


def endpoint_slice_records(plan: ClusterPlan) -> list[tuple[ServicePlan, int]]:
    return [(service, part) for service in plan.services for part in range(service.slice_count)]


class EndpointSliceBuilder:
    def __init__(self, plan: ClusterPlan) -> None:
        self.placement = Placement(plan)

    def __call__(self, ctx: Context, record: tuple[ServicePlan, int], rv: str) -> dict:
        service, part = record
        members = [(group, i) for group in service.pod_groups for i in range(group.count)]
        endpoints = []
        for group, index in members[part * ENDPOINTS_PER_SLICE:(part + 1) * ENDPOINTS_PER_SLICE]:
            node, ip = self.placement.node_and_ip(group, index)
            if ip is None:
                continue  # pending pods have no address yet
            name = pod_name(ctx, group, index)
            ready = index not in group.crashing
            endpoint = {"addresses": [ip], "conditions": {"ready": ready, "serving": ready, "terminating": False},
                        "targetRef": {"kind": "Pod", "namespace": group.namespace, "name": name, "uid": ctx.uid("pods", group.namespace, name)},
                        "nodeName": node.name, "zone": node.zone}
            if service.cluster_ip == "None":
                endpoint["hostname"] = name
            endpoints.append(endpoint)
        name = f"{service.name[:57]}-{ctx.suffix(part * 7_919 + int(service.uid[:6], 16))}"
        labels = {"endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io", "kubernetes.io/service-name": service.name,
                  **({"service.kubernetes.io/headless": ""} if service.cluster_ip == "None" else {})}
        created = ctx.timestamp(service.created + 1)
        owner = _owner("v1", "Service", service.name, service.uid)
        ports = [{"name": port_name, "protocol": protocol, "port": target} for port_name, _, target, protocol in service.ports]
        annotations = {"endpoints.kubernetes.io/last-change-trigger-time": ctx.timestamp(service.created + 30)}
        metadata = {"name": name, "generateName": f"{service.name[:57]}-", "namespace": service.namespace,
                    "uid": ctx.uid("endpointslices", service.namespace, name), "resourceVersion": rv, "generation": 1,
                    "creationTimestamp": created, "labels": labels, "annotations": annotations, "ownerReferences": [owner]}
        body = {"addressType": "IPv4", "endpoints": endpoints, "ports": ports}
        metadata["managedFields"] = [managed_entry("kube-controller-manager", "Update", "discovery.k8s.io/v1", created,
                                                   fields_v1({"metadata": {"annotations": annotations, "labels": labels,
                                                                           "generateName": "", "ownerReferences": [owner]}, **body}))]
        return {"metadata": metadata, **body}


def ingress_records(plan: ClusterPlan) -> list[ServicePlan]:
    return [s for s in plan.services if s.ingress]


def build_ingress(ctx: Context, service: ServicePlan, rv: str) -> dict:
    host = f"{service.name}.{service.namespace}.{ctx.dns_name}.example.com"
    spec = {
        "ingressClassName": "nginx",
        "tls": [{"hosts": [host], "secretName": f"{service.name}-tls"}],
        "rules": [{"host": host, "http": {"paths": [
            {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": service.name, "port": {"number": service.ports[0][1]}}}},
        ]}}],
    }
    status = {"loadBalancer": {"ingress": [{"ip": "203.0.113.10"}]}}
    metadata = {"name": service.name, "namespace": service.namespace, "labels": {"app.kubernetes.io/name": service.name},
                "annotations": {"nginx.ingress.kubernetes.io/proxy-body-size": "8m", "cert-manager.io/cluster-issuer": "letsencrypt"}}
    created = ctx.timestamp(service.created + 5)
    obj = applied_object("networking.k8s.io/v1", "Ingress", metadata, {"spec": spec}, created, status, "nginx-ingress-controller", created)
    obj["metadata"]["generation"] = 1
    return _ordered_metadata(_finish(obj, ctx.uid("ingresses", service.namespace, service.name), rv))


def hpa_records(plan: ClusterPlan) -> list[Workload]:
    return [w for w in plan.workloads if w.hpa]


def build_hpa(ctx: Context, workload: Workload, rv: str) -> dict:
    spec = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": workload.name},
        "minReplicas": max(1, workload.replicas // 2),
        "maxReplicas": workload.replicas * 3,
        "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}],
    }
    now = ctx.timestamp(ctx.now_offset - 120)
    status = {
        "lastScaleTime": ctx.timestamp(workload.created + 3_600),
        "currentReplicas": workload.replicas,
        "desiredReplicas": workload.replicas,
        "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {"averageValue": "61m", "averageUtilization": 43}}}],
        "conditions": [
            {"type": "AbleToScale", "status": "True", "lastTransitionTime": now, "reason": "ReadyForNewScale",
             "message": "recommended size matches current size"},
            {"type": "ScalingActive", "status": "True", "lastTransitionTime": now, "reason": "ValidMetricFound",
             "message": "the HPA was able to successfully calculate a replica count from cpu resource utilization (percentage of request)"},
        ],
    }
    metadata = {"name": workload.name, "namespace": workload.namespace, "labels": _selector_labels(workload)}
    created = ctx.timestamp(workload.created + 60)
    obj = applied_object("autoscaling/v2", "HorizontalPodAutoscaler", metadata, {"spec": spec}, created, status,
                         "kube-controller-manager", now)
    return _ordered_metadata(_finish(obj, ctx.uid("horizontalpodautoscalers", workload.namespace, workload.name), rv))


def pdb_records(plan: ClusterPlan) -> list[Workload]:
    return [w for w in plan.workloads if w.pdb]


def build_pdb(ctx: Context, workload: Workload, rv: str) -> dict:
    spec = {"minAvailable": 1, "selector": {"matchLabels": _selector_labels(workload)}}
    healthy = workload.ready_replicas
    now = ctx.timestamp(ctx.now_offset - 300)
    status = {"observedGeneration": 1, "disruptionsAllowed": max(0, healthy - 1), "currentHealthy": healthy, "desiredHealthy": 1,
              "expectedPods": workload.replicas,
              "conditions": [{"type": "DisruptionAllowed", "status": "True" if healthy > 1 else "False", "observedGeneration": 1,
                              "lastTransitionTime": now, "reason": "SufficientPods" if healthy > 1 else "InsufficientPods", "message": ""}]}
    metadata = {"name": workload.name, "namespace": workload.namespace, "labels": _selector_labels(workload)}
    created = ctx.timestamp(workload.created + 60)
    obj = applied_object("policy/v1", "PodDisruptionBudget", metadata, {"spec": spec}, created, status, "kube-controller-manager", now)
    obj["metadata"]["generation"] = 1
    return _ordered_metadata(_finish(obj, ctx.uid("poddisruptionbudgets", workload.namespace, workload.name), rv))


def claim_records(plan: ClusterPlan) -> list[tuple[Workload, int]]:
    return [(w, i) for w in plan.workloads if w.kind == "StatefulSet" and w.profile.claim_template for i in range(w.replicas)]


def _claim_identity(ctx: Context, record: tuple[Workload, int]) -> tuple[str, str, str]:
    workload, index = record
    name = f"{workload.profile.claim_template}-{workload.name}-{index}"
    uid = ctx.uid("persistentvolumeclaims", workload.namespace, name)
    return name, uid, f"pvc-{uid}"


def build_claim(ctx: Context, record: tuple[Workload, int], rv: str) -> dict:
    workload, index = record
    name, uid, volume = _claim_identity(ctx, record)
    size = _claim_size(workload)
    created = ctx.timestamp(workload.created + 31 + index)
    labels = _selector_labels(workload)
    annotations = {"pv.kubernetes.io/bind-completed": "yes", "pv.kubernetes.io/bound-by-controller": "yes",
                   "volume.beta.kubernetes.io/storage-provisioner": "ebs.csi.aws.com", "volume.kubernetes.io/storage-provisioner": "ebs.csi.aws.com"}
    spec = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}, "volumeName": volume,
            "storageClassName": "premium-rwo", "volumeMode": "Filesystem"}
    status = {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": size}}
    metadata = {"name": name, "namespace": workload.namespace, "uid": uid, "resourceVersion": rv, "creationTimestamp": created,
                "labels": labels, "annotations": annotations, "finalizers": ["kubernetes.io/pvc-protection"]}
    metadata["managedFields"] = [
        managed_entry("kube-controller-manager", "Update", "v1", created,
                      fields_v1({"metadata": {"annotations": annotations, "labels": labels}, "spec": spec})),
        managed_entry("kube-controller-manager", "Update", "v1", created, fields_v1({"status": status}), "status"),
    ]
    return {"metadata": metadata, "spec": spec, "status": status}


def build_volume(ctx: Context, record: tuple[Workload, int], rv: str) -> dict:
    workload, index = record
    claim, claim_uid, name = _claim_identity(ctx, record)
    size = _claim_size(workload)
    created = ctx.timestamp(workload.created + 33 + index)
    zone = f"eu-west-1{'abc'[index % 3]}"
    annotations = {"pv.kubernetes.io/provisioned-by": "ebs.csi.aws.com", "volume.kubernetes.io/provisioner-deletion-secret-name": "",
                   "volume.kubernetes.io/provisioner-deletion-secret-namespace": ""}
    spec = {
        "capacity": {"storage": size},
        "csi": {"driver": "ebs.csi.aws.com", "volumeHandle": f"vol-0{claim_uid.replace('-', '')[:16]}", "fsType": "ext4",
                "volumeAttributes": {"storage.kubernetes.io/csiProvisionerIdentity": "1718000000000-8081-ebs.csi.aws.com"}},
        "accessModes": ["ReadWriteOnce"],
        "claimRef": {"kind": "PersistentVolumeClaim", "namespace": workload.namespace, "name": claim, "uid": claim_uid,
                     "apiVersion": "v1"},
        "persistentVolumeReclaimPolicy": "Delete",
        "storageClassName": "premium-rwo",
        "volumeMode": "Filesystem",
        "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": "topology.kubernetes.io/zone", "operator": "In", "values": [zone]}]}]}},
    }
    status = {"phase": "Bound", "lastPhaseTransitionTime": created}
    metadata = {"name": name, "uid": ctx.uid("persistentvolumes", "", name), "resourceVersion": rv, "creationTimestamp": created,
                "annotations": annotations, "finalizers": ["external-provisioner.volume.kubernetes.io/finalizer", "kubernetes.io/pv-protection"]}
    metadata["managedFields"] = [
        managed_entry("csi-provisioner", "Update", "v1", created, fields_v1({"metadata": {"annotations": annotations}, "spec": spec})),
        managed_entry("kube-controller-manager", "Update", "v1", created, fields_v1({"status": status}), "status"),
    ]
    return {"metadata": metadata, "spec": spec, "status": status}


# -- Endpoints, controller revisions, replication controllers, volume attachments -----------

# The endpoints controller stops at this many addresses and marks the object truncated.
MAX_ENDPOINTS_ADDRESSES = 1_000


def endpoints_records(plan: ClusterPlan) -> list[ServicePlan]:
    """The endpoints controller keeps one Endpoints per service with a selector; the API server
    keeps ``default/kubernetes``'s (its own addresses). ExternalName services get none."""
    return [s for s in plan.services if s.selector is not None or (s.namespace, s.name) == ("default", "kubernetes")]


class EndpointsBuilder:
    """Endpoints with the same addresses as the service's EndpointSlices (both built by Placement)."""

    def __init__(self, plan: ClusterPlan) -> None:
        self.placement = Placement(plan)
        self.control_planes = [n for n in plan.nodes if n.control_plane] or plan.nodes[:1]

    def __call__(self, ctx: Context, service: ServicePlan, rv: str) -> dict:
        created = ctx.timestamp(service.created + 1)
        uid = ctx.uid("endpoints", service.namespace, service.name)
        if service.selector is None:  # default/kubernetes: the API servers themselves
            subsets = [{"addresses": [{"ip": n.ip} for n in self.control_planes],
                        "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}]}]
            labels = {"endpointslice.kubernetes.io/skip-mirror": "true"}
            metadata = {"name": service.name, "namespace": service.namespace, "uid": uid, "resourceVersion": rv,
                        "creationTimestamp": created, "labels": labels}
            metadata["managedFields"] = [managed_entry("kube-apiserver", "Update", "v1", created,
                                                       fields_v1({"metadata": {"labels": labels}, "subsets": []}))]
            return {"metadata": metadata, "subsets": subsets}
        ready, not_ready = [], []
        for group in service.pod_groups:
            for index in range(group.count):
                node, ip = self.placement.node_and_ip(group, index)
                if ip is None:
                    continue  # pending pods have no address yet
                name = pod_name(ctx, group, index)
                address = {"ip": ip, "nodeName": node.name,
                           "targetRef": {"kind": "Pod", "namespace": group.namespace, "name": name,
                                         "uid": ctx.uid("pods", group.namespace, name)}}
                if service.cluster_ip == "None":
                    address = {"ip": ip, "hostname": name, **{k: v for k, v in address.items() if k != "ip"}}
                (not_ready if index in group.crashing else ready).append(address)
        annotations = {"endpoints.kubernetes.io/last-change-trigger-time": ctx.timestamp(service.created + 30)}
        total = len(ready) + len(not_ready)
        if total > MAX_ENDPOINTS_ADDRESSES:
            annotations["endpoints.kubernetes.io/over-capacity"] = "truncated"
            ready = ready[:MAX_ENDPOINTS_ADDRESSES]
            not_ready = not_ready[:MAX_ENDPOINTS_ADDRESSES - len(ready)]
        body: dict = {}
        if ready or not_ready:
            subset: dict = {}
            if ready:
                subset["addresses"] = sorted(ready, key=lambda a: a["ip"])
            if not_ready:
                subset["notReadyAddresses"] = sorted(not_ready, key=lambda a: a["ip"])
            subset["ports"] = [{"name": port_name, "port": target, "protocol": protocol}
                               for port_name, _, target, protocol in service.ports]
            body["subsets"] = [subset]
        labels = {"app.kubernetes.io/name": service.selector["app.kubernetes.io/name"],
                  **({"service.kubernetes.io/headless": ""} if service.cluster_ip == "None" else {})}
        metadata = {"name": service.name, "namespace": service.namespace, "uid": uid, "resourceVersion": rv,
                    "creationTimestamp": created, "labels": labels, "annotations": annotations}
        owned_body = {"subsets": []} if body else {}
        metadata["managedFields"] = [managed_entry("kube-controller-manager", "Update", "v1", created,
                                                   fields_v1({"metadata": {"annotations": annotations, "labels": labels},
                                                              **owned_body}))]
        return {"metadata": metadata, **body}


def controller_revision_records(plan: ClusterPlan) -> list[Workload]:
    return [w for w in plan.workloads if w.kind in ("StatefulSet", "DaemonSet") and w.pods is not None]


def build_controller_revision(ctx: Context, workload: Workload, rv: str) -> dict:
    """The revision a StatefulSet's or DaemonSet's pods were made from (their controller-revision-hash)."""
    pods = workload.pods
    if workload.kind == "StatefulSet":
        name = pods.revision_hash  # <statefulset>-<hash>, as the pods' label says
        revision_hash = name.removeprefix(f"{workload.name}-")
        labels = {**_selector_labels(workload), "controller.kubernetes.io/hash": revision_hash}
    else:
        revision_hash = pods.revision_hash
        name = f"{workload.name}-{revision_hash}"
        labels = {**_selector_labels(workload), "controller-revision-hash": revision_hash}
    template = pod_template(ctx, pods, _template_labels(workload))
    data = {"spec": {"template": {"$patch": "replace", **template}}}
    created = ctx.timestamp(workload.created)
    owner = _owner("apps/v1", workload.kind, workload.name, workload.uid)
    metadata = {"name": name, "namespace": workload.namespace, "uid": ctx.uid("controllerrevisions", workload.namespace, name),
                "resourceVersion": rv, "creationTimestamp": created, "labels": labels, "ownerReferences": [owner]}
    metadata["managedFields"] = [managed_entry("kube-controller-manager", "Update", "apps/v1", created,
                                               {**fields_v1({"metadata": {"labels": labels, "ownerReferences": [owner]}}),
                                                "f:data": {}, "f:revision": {}})]
    return {"metadata": metadata, "data": data, "revision": 1}


def replication_controller_records(plan: ClusterPlan) -> list[str]:
    """A leftover from before Deployments, scaled to zero, next to the showcase's legacy billing service."""
    return [plan.app_namespaces[0].name]


def build_replication_controller(ctx: Context, namespace: str, rv: str) -> dict:
    name = "legacy-billing-sync"
    selector = {"app": name}
    template = {"metadata": {"labels": {**selector, "tier": "batch"}},
                "spec": {"containers": [{"name": "sync", "image": "registry.local:5000/billing/legacy-sync:2.3.1",
                                         "args": ["--target=billing.legacy.example.com"],
                                         "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}},
                                         "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
                                         "imagePullPolicy": "IfNotPresent"}],
                         "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
                         "securityContext": {}, "schedulerName": "default-scheduler"}}
    spec = {"replicas": 0, "selector": selector, "template": template}
    created = ctx.timestamp(3_650)
    status = {"replicas": 0, "observedGeneration": 2}
    metadata = {"name": name, "namespace": namespace, "labels": {**selector, "app.kubernetes.io/managed-by": "kubectl"},
                "annotations": {"example.com/owner": TRICKY_ANNOTATIONS[0][1]}}
    obj = applied_object("v1", "ReplicationController", metadata, {"spec": spec}, created, status, "kube-controller-manager",
                         ctx.timestamp(ctx.now_offset // 2))
    obj["metadata"]["generation"] = 2
    return _ordered_metadata(_finish(obj, ctx.uid("replicationcontrollers", namespace, name), rv))


def volume_attachment_records(plan: ClusterPlan) -> list[tuple[str, str, object, int]]:
    """(volume, attacher, node, created) for each bound CSI volume whose pod is scheduled on a node."""
    placement = Placement(plan)
    records = []
    for record in claim_records(plan):
        workload, index = record
        node, _ = placement.node_and_ip(workload.pods, index)
        if node is None:
            continue  # a pending pod's volume is not attached anywhere
        _, _, volume = _claim_identity(plan.ctx, record)
        records.append((volume, "ebs.csi.aws.com", node, workload.created + 40 + index))
    return records
