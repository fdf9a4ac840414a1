"""Pods of a simulated cluster, built lazily from the plan's pod groups.

Pods dominate a big cluster (150,000 of them, ~4 KB each), so this is the hot path. Per
pod group the constant parts (containers, managedFields of the controller) are encoded
once to JSON bytes; each pod decodes fresh copies of them (``orjson.loads`` is the fastest
deep copy there is) and adds its own name, UID, node, IPs and status. Every yielded pod is
an independent tree, so consumers may mutate it freely.
"""

from __future__ import annotations

from collections.abc import Iterator

import orjson

from k8s_assets.simulator.generator_base import TRICKY_ANNOTATIONS, Context, fields_v1, managed_entry
from k8s_assets.simulator.generator_plan import ClusterPlan, NodePlan, PodGroup, hash_of
from k8s_assets.simulator.generator_profiles import Container

TOKEN_VOLUME_PLACEHOLDER = b"@@TOKEN@@"
PRIORITY_BY_CLASS = {"system-cluster-critical": 2_000_000_000, "system-node-critical": 2_000_001_000}
OWNER_API_VERSION = {"ReplicaSet": "apps/v1", "StatefulSet": "apps/v1", "DaemonSet": "apps/v1", "Job": "batch/v1", "Node": "v1"}
DEFAULT_TOLERATIONS = (
    ("node.kubernetes.io/not-ready", "NoExecute", 300),
    ("node.kubernetes.io/unreachable", "NoExecute", 300),
)


def pod_name(ctx: Context, group: PodGroup, index: int) -> str:
    if group.owner_kind == "StatefulSet":
        return f"{group.owner_name}-{index}"
    if group.owner_kind == "Node":
        return f"{group.app}-{group.owner_name}"  # mirror pods are named <static pod>-<node>
    if group.owner_kind is None:
        return group.owner_name
    return f"{group.owner_name}-{ctx.suffix(group.first_index + index)}"


class Placement:
    """Where each pod runs and which IP it has; shared by pods and EndpointSlices so they agree."""

    def __init__(self, plan: ClusterPlan) -> None:
        self.nodes = plan.nodes
        self.workers = plan.workers

    def node_and_ip(self, group: PodGroup, index: int) -> tuple[NodePlan | None, str | None]:
        if group.node_indexes:
            node = self.nodes[group.node_indexes[index]]
            return node, node.ip  # host-network pods share the node's IP
        if index in group.pending:
            return None, None
        slot = group.first_slot + index
        node = self.workers[slot % len(self.workers)]
        # Slots on one node are consecutive, so pod IPs never collide within the node's /24.
        return node, f"{node.pod_cidr_prefix}{slot // len(self.workers) + 2}"


def image_of(container: Container, group: PodGroup) -> str:
    return container.image.format(app=group.app, tag=group.tag or "v1.0.0")


def _container(container: Container, group: PodGroup, with_token: bool) -> dict:
    body: dict = {"name": container.name, "image": image_of(container, group)}
    if container.command:
        body["command"] = list(container.command)
    if container.args:
        body["args"] = [a.format(app=group.app) for a in container.args]
    if container.ports:
        body["ports"] = [{"name": n, "containerPort": p, "protocol": proto} for n, p, proto in container.ports]
    env = [{"name": k, "value": v.format(app=group.app)} for k, v in container.env]
    if container.privileged:
        env.append({"name": "NODE_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "spec.nodeName"}}})
    elif container.env and not group.profile.uses_secret:
        env.append({"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}})
    if group.profile.uses_secret and container is group.profile.containers[0]:
        env.append({"name": "DATABASE_PASSWORD", "valueFrom": {"secretKeyRef": {"name": f"{group.app}-secrets", "key": "password"}}})
    if env:
        body["env"] = env
    resources: dict = {}
    if container.limits:
        resources["limits"] = dict(container.limits)
    if container.requests:
        resources["requests"] = dict(container.requests)
    body["resources"] = resources
    if container.probe_port:
        probe = {"httpGet": {"path": container.probe_path, "port": container.probe_port, "scheme": "HTTP"},
                 "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3}
        # Sidecars commonly declare readiness only; main containers both.
        if container.liveness and container is group.profile.containers[0]:
            body["livenessProbe"] = {**probe, "initialDelaySeconds": 15}
        body["readinessProbe"] = {**probe, "httpGet": dict(probe["httpGet"])}
    mounts = [{"name": name, "mountPath": path} for name, path in container.mounts]
    if with_token:
        mounts.append({"name": "kube-api-access-" + TOKEN_VOLUME_PLACEHOLDER.decode(),
                       "readOnly": True, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"})
    if mounts:
        body["volumeMounts"] = mounts
    body["terminationMessagePath"] = "/dev/termination-log"
    body["terminationMessagePolicy"] = "File"
    body["imagePullPolicy"] = "IfNotPresent"
    if container.privileged:
        body["securityContext"] = {"privileged": True}
    return body


def _volumes(group: PodGroup) -> list[dict]:
    profile = group.profile
    volumes: list[dict] = []
    declared = {name for c in profile.containers + profile.init_containers for name, _ in c.mounts}
    for name in sorted(declared):
        if name == "config":
            volumes.append({"name": name, "configMap": {"name": f"{group.app}-config", "defaultMode": 420}})
        elif name == "config-volume":
            volumes.append({"name": name, "configMap": {"name": "coredns", "items": [{"key": "Corefile", "path": "Corefile"}], "defaultMode": 420}})
        elif name == "kube-proxy":
            volumes.append({"name": name, "configMap": {"name": "kube-proxy", "defaultMode": 420}})
        elif name == profile.claim_template:
            continue  # per replica, added by the StatefulSet branch
        else:
            volumes.append({"name": name, "hostPath": {"path": "/" + name.replace("-", "/"), "type": ""}})
    return volumes


class _GroupTemplate:
    """The parts of a pod that every pod of one group shares, pre-encoded."""

    def __init__(self, ctx: Context, group: PodGroup) -> None:
        profile = group.profile
        with_token = group.owner_kind != "Node"  # static pods get no service-account token
        self.containers = orjson.dumps([_container(c, group, with_token) for c in profile.containers])
        self.init_containers = orjson.dumps([_container(c, group, with_token) for c in profile.init_containers]) if profile.init_containers else None
        self.volumes = orjson.dumps(_volumes(group))
        self.images = [image_of(c, group) for c in profile.containers]
        self.init_images = [image_of(c, group) for c in profile.init_containers]
        self.image_ids = {image: _image_id(ctx, image) for image in self.images + self.init_images}
        self.labels = _pod_labels(group)
        self.annotations = _pod_annotations(group)
        self.owner = None
        if group.owner_kind:
            self.owner = {"apiVersion": OWNER_API_VERSION[group.owner_kind], "kind": group.owner_kind, "name": group.owner_name,
                          "uid": group.owner_uid, "controller": True}
            if group.owner_kind != "Node":
                self.owner["blockOwnerDeletion"] = True
        meta_fields = {"labels": self.labels, "annotations": self.annotations}
        if group.owner_kind not in (None, "Node", "StatefulSet"):
            meta_fields["generateName"] = ""
        if self.owner:
            meta_fields["ownerReferences"] = [self.owner]
        self.controller_fields = orjson.dumps({**fields_v1({"metadata": meta_fields}), "f:spec": _spec_fields(self, group)})
        self.manager = {"ReplicaSet": "kube-controller-manager", "StatefulSet": "kube-controller-manager", "Job": "kube-controller-manager",
                        "DaemonSet": "kube-controller-manager", "Node": "kubelet", None: "kubectl-run"}[group.owner_kind]
        self.priority = PRIORITY_BY_CLASS.get(profile.priority_class or "", 0)
        self.qos_class = profile.qos_class


_SPEC_FIELDS_CACHE: dict[tuple, dict] = {}


def _spec_fields(template: _GroupTemplate, group: PodGroup) -> dict:
    """The controller's managedFields for the pod spec: they depend only on the profile's shape."""
    key = (group.profile, group.owner_kind)
    cached = _SPEC_FIELDS_CACHE.get(key)
    if cached is None:
        spec = {"containers": orjson.loads(template.containers), "volumes": orjson.loads(template.volumes)}
        if template.init_containers:
            spec["initContainers"] = orjson.loads(template.init_containers)
        spec.update(dnsPolicy="", restartPolicy="", schedulerName="", securityContext={}, terminationGracePeriodSeconds=0)
        if not spec["volumes"]:
            del spec["volumes"]
        for container in spec["containers"] + spec.get("initContainers", []):
            # The token volume is added by admission, not by the controller that owns these fields.
            mounts = [m for m in container.pop("volumeMounts", []) if not m["name"].startswith("kube-api-access")]
            if mounts:
                container["volumeMounts"] = mounts
        cached = _SPEC_FIELDS_CACHE[key] = fields_v1({"spec": spec})["f:spec"]
    return cached


def _image_id(ctx: Context, image: str) -> str:
    """The repo digest the runtime reports; images pinned by digest keep theirs."""
    reference, _, digest = image.partition("@")
    repository = reference.rsplit(":", 1)[0] if ":" in reference.rsplit("/", 1)[-1] else reference
    return f"{repository}@{digest or 'sha256:' + ctx.hex_digest(hash_of(image))}"


def _pod_labels(group: PodGroup) -> dict:
    if group.owner_kind == "Node":
        return {"component": group.app, "tier": "control-plane"}
    labels = {"app.kubernetes.io/name": group.app}
    if group.tag:
        labels["app.kubernetes.io/version"] = group.tag
    if group.owner_kind == "ReplicaSet":
        labels["pod-template-hash"] = group.revision_hash
    elif group.owner_kind == "StatefulSet":
        labels["controller-revision-hash"] = group.revision_hash
    elif group.owner_kind == "DaemonSet":
        labels["controller-revision-hash"] = group.revision_hash
        labels["pod-template-generation"] = "1"
    elif group.owner_kind == "Job":
        labels.update({"batch.kubernetes.io/controller-uid": group.owner_uid, "batch.kubernetes.io/job-name": group.owner_name,
                       "controller-uid": group.owner_uid, "job-name": group.owner_name})
    return labels


def _pod_annotations(group: PodGroup) -> dict:
    if group.owner_kind == "Node":
        return {"kubernetes.io/config.hash": group.owner_uid.replace("-", "")[:32], "kubernetes.io/config.mirror": group.owner_uid.replace("-", "")[:32],
                "kubernetes.io/config.seen": "2024-01-01T00:00:00.000000000Z", "kubernetes.io/config.source": "file"}
    annotations = dict(TRICKY_ANNOTATIONS[1:2])
    if group.profile.key == "api":
        annotations["prometheus.io/scrape"] = "true"
    return annotations


def _spec_shared_with_template(group: PodGroup) -> dict:
    """Pod spec fields a pod carries exactly as its controller's template does."""
    spec = {
        "restartPolicy": "OnFailure" if group.owner_kind == "Job" else "Always",
        "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirstWithHostNet" if group.profile.host_network else "ClusterFirst",
    }
    if group.service_account:
        spec["serviceAccountName"] = group.service_account
        spec["serviceAccount"] = group.service_account
    return spec


def pod_template(ctx: Context, group: PodGroup, template_labels: dict) -> dict:
    """The ``spec.template`` of the controller owning ``group``: what its pods were made from."""
    profile = group.profile
    spec: dict = {}
    volumes = _volumes(group)
    if volumes:
        spec["volumes"] = volumes
    if profile.init_containers:
        spec["initContainers"] = [_container(c, group, with_token=False) for c in profile.init_containers]
    spec["containers"] = [_container(c, group, with_token=False) for c in profile.containers]
    spec.update(_spec_shared_with_template(group))
    if profile.host_network:
        spec["hostNetwork"] = True
    spec["securityContext"] = {}
    spec["schedulerName"] = "default-scheduler"
    if group.node_indexes:
        spec["tolerations"] = [{"operator": "Exists"}]
    if profile.priority_class:
        spec["priorityClassName"] = profile.priority_class
    return {"metadata": {"labels": template_labels, "annotations": _pod_annotations(group)}, "spec": spec}


def pod_stream(plan: ClusterPlan, first_rv: int) -> Iterator[dict]:
    ctx = plan.ctx
    placement = Placement(plan)
    rv = first_rv
    for group in plan.pod_groups:
        template = _GroupTemplate(ctx, group)
        for index in range(group.count):
            yield _pod(ctx, plan, placement, group, template, index, str(rv))
            rv += 1


def _pod(ctx: Context, plan: ClusterPlan, placement: Placement, group: PodGroup, template: _GroupTemplate, index: int, rv: str) -> dict:
    name = pod_name(ctx, group, index)
    namespace = group.namespace
    uid = ctx.uid("pods", namespace, name)
    node, ip = placement.node_and_ip(group, index)
    created_at = group.created + (index * 13) % 600
    created = ctx.timestamp(created_at)
    started = ctx.timestamp(created_at + 2)
    ready_at = ctx.timestamp(created_at + 9 + index % 20)
    profile = group.profile
    token_suffix = ctx.suffix(group.first_index + index + 7_777_777).encode()
    pending = index in group.pending
    crashing = index in group.crashing

    metadata: dict = {"name": name}
    if group.owner_kind not in (None, "Node", "StatefulSet"):
        metadata["generateName"] = group.owner_name + "-"
    labels = dict(template.labels)
    if group.owner_kind == "StatefulSet":
        labels["statefulset.kubernetes.io/pod-name"] = name
        labels["apps.kubernetes.io/pod-index"] = str(index)
    metadata.update(namespace=namespace, uid=uid, resourceVersion=rv, creationTimestamp=created, labels=labels,
                    annotations=dict(template.annotations))
    if template.owner:
        metadata["ownerReferences"] = [dict(template.owner)]
    kubelet_time = ready_at
    status_fields = {"f:conditions": {}, "f:phase": {}, "f:startTime": {}} if not pending else {"f:conditions": {}}
    if ip:
        status_fields["f:podIP"] = {}
        status_fields["f:podIPs"] = {".": {}, "k:" + orjson.dumps({"ip": ip}).decode(): {".": {}, "f:ip": {}}}
        status_fields["f:hostIP"] = {}
        status_fields["f:containerStatuses"] = {}
    metadata["managedFields"] = [
        managed_entry(template.manager, "Update", "v1", created, orjson.loads(template.controller_fields)),
        managed_entry("kubelet" if node else "kube-scheduler", "Update", "v1", kubelet_time, {"f:status": status_fields}, "status"),
    ]

    containers = orjson.loads(template.containers.replace(TOKEN_VOLUME_PLACEHOLDER, token_suffix))
    spec: dict = {"volumes": orjson.loads(template.volumes)}
    if group.owner_kind != "Node":
        spec["volumes"].append(_token_volume(token_suffix.decode()))
    if profile.claim_template and group.owner_kind == "StatefulSet":
        spec["volumes"].insert(0, {"name": profile.claim_template,
                                   "persistentVolumeClaim": {"claimName": f"{profile.claim_template}-{name}"}})
    if template.init_containers:
        spec["initContainers"] = orjson.loads(template.init_containers.replace(TOKEN_VOLUME_PLACEHOLDER, token_suffix))
    spec["containers"] = containers
    spec.update(_spec_shared_with_template(group))
    if node:
        spec["nodeName"] = node.name
    if profile.host_network:
        spec["hostNetwork"] = True
    spec["securityContext"] = {}
    if group.owner_kind == "StatefulSet":
        spec["hostname"] = name
        spec["subdomain"] = group.owner_name
    spec["schedulerName"] = "default-scheduler"
    spec["tolerations"] = [{"key": k, "operator": "Exists", "effect": e, "tolerationSeconds": s} for k, e, s in DEFAULT_TOLERATIONS]
    if group.node_indexes:
        spec["tolerations"] = [{"operator": "Exists"}]
    if profile.priority_class:
        spec["priorityClassName"] = profile.priority_class
    spec["priority"] = template.priority
    spec["enableServiceLinks"] = True
    spec["preemptionPolicy"] = "PreemptLowerPriority"

    return {"metadata": metadata, "spec": spec, "status": _status(group, template, node, ip, pending, crashing, index, created, started, ready_at, uid)}


def _token_volume(suffix: str) -> dict:
    return {
        "name": f"kube-api-access-{suffix}",
        "projected": {
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
            ],
            "defaultMode": 420,
        },
    }


def _condition(type_: str, status: bool, when: str, reason: str | None = None, message: str | None = None) -> dict:
    condition = {"type": type_, "status": "True" if status else "False", "lastProbeTime": None, "lastTransitionTime": when}
    if reason:
        condition["reason"] = reason
    if message:
        condition["message"] = message
    return condition


def _status(group: PodGroup, template: _GroupTemplate, node: NodePlan | None, ip: str | None, pending: bool, crashing: bool,
            index: int, created: str, started: str, ready_at: str, uid: str) -> dict:
    qos = template.qos_class
    if pending:
        return {
            "phase": "Pending",
            "conditions": [_condition("PodScheduled", False, created, "Unschedulable",
                                      "0/12 nodes are available: 3 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, "
                                      "9 Insufficient cpu. preemption: 0/12 nodes are available: 3 Preemption is not helpful for scheduling.")],
            "qosClass": qos,
        }
    completed = group.completed
    ready = not (crashing or completed)
    not_ready_reason = "PodCompleted" if completed else "ContainersNotReady"
    not_ready_message = None if completed else f"containers with unready status: [{group.profile.containers[0].name}]"
    conditions = [
        _condition("PodReadyToStartContainers", not completed, started),
        _condition("Initialized", True, started, "PodCompleted" if completed else None),
        _condition("Ready", ready, ready_at, None if ready else not_ready_reason, None if ready else not_ready_message),
        _condition("ContainersReady", ready, ready_at, None if ready else not_ready_reason, None if ready else not_ready_message),
        _condition("PodScheduled", True, created),
    ]
    uid_hex = uid.replace("-", "")
    statuses = []
    for position, image in enumerate(template.images):
        container = group.profile.containers[position]
        container_id = f"containerd://{uid_hex}{uid_hex[position:]}{uid_hex[:position]}"
        status: dict = {"containerID": container_id, "image": image, "imageID": template.image_ids[image], "lastState": {},
                        "name": container.name, "ready": ready, "restartCount": 0, "started": ready}
        if completed:
            status["state"] = {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": started, "finishedAt": ready_at,
                                              "containerID": container_id}}
        elif crashing and position == 0:
            status["restartCount"] = 17 + index % 40
            status["lastState"] = {"terminated": {"exitCode": 1, "reason": "Error", "startedAt": started, "finishedAt": ready_at,
                                                  "containerID": container_id}}
            status["state"] = {"waiting": {"reason": "CrashLoopBackOff",
                                           "message": f"back-off 5m0s restarting failed container={container.name} pod={group.app}_{group.namespace}({uid})"}}
            status["ready"] = status["started"] = False
        else:
            status["state"] = {"running": {"startedAt": started}}
        statuses.append(status)
    status_body: dict = {"phase": "Succeeded" if completed else "Running", "conditions": conditions,
                         "hostIP": node.ip, "hostIPs": [{"ip": node.ip}], "podIP": ip, "podIPs": [{"ip": ip}], "startTime": created}
    if template.init_images:
        status_body["initContainerStatuses"] = [
            {"containerID": f"containerd://{uid_hex[::-1]}{uid_hex}", "image": image, "imageID": template.image_ids[image],
             "lastState": {}, "name": c.name, "ready": True, "restartCount": 0, "started": False,
             "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": created, "finishedAt": started,
                                      "containerID": f"containerd://{uid_hex[::-1]}{uid_hex}"}}}
            for image, c in zip(template.init_images, group.profile.init_containers)
        ]
    status_body["containerStatuses"] = statuses
    status_body["qosClass"] = qos
    return status_body
