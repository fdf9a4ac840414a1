"""Cluster infrastructure of a simulated cluster: nodes, namespaces, config, secrets, RBAC, policy.

Secrets carry a canary value (``SIMULATED-SECRET-CANARY-<cluster>-<index>``) in ``data``
and in their last-applied annotation, so tests can prove no secret value reaches a database.
"""

from __future__ import annotations

import base64
import hashlib

from k8s_assets.simulator.generator_base import (
    TRICKY_ANNOTATIONS,
    Context,
    applied_object,
    fields_v1,
    fields_v1_of_shape,
    last_applied,
    managed_entry,
)
from k8s_assets.simulator.generator_plan import ClusterPlan, NamespacePlan, NodePlan
from k8s_assets.simulator.generator_profiles import KUBERNETES_VERSION

SECRET_CANARY_PREFIX = "SIMULATED-SECRET-CANARY"


def _b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def _applied(ctx: Context, api_version: str, kind: str, resource: str, namespace: str | None, name: str, body: dict, created: int,
             rv: str, labels: dict | None = None, annotations: dict | None = None) -> dict:
    metadata: dict = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    metadata["labels"] = labels or {}
    metadata["annotations"] = annotations or {}
    obj = applied_object(api_version, kind, metadata, body, ctx.timestamp(created))
    obj["metadata"]["uid"] = ctx.uid(resource, namespace or "", name)
    obj["metadata"]["resourceVersion"] = rv
    return obj


# -- nodes and namespaces ---------------------------------------------------------------


def build_node(ctx: Context, node: NodePlan, rv: str) -> dict:
    labels = {
        "beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": node.name, "kubernetes.io/os": "linux",
        "node.kubernetes.io/instance-type": node.instance_type, "topology.kubernetes.io/region": "eu-west-1",
        "topology.kubernetes.io/zone": node.zone, "example.com/node-pool": node.pool,
    }
    if node.control_plane:
        labels["node-role.kubernetes.io/control-plane"] = ""
    else:
        labels["node-role.kubernetes.io/worker"] = ""
    annotations = {"node.alpha.kubernetes.io/ttl": "0", "volumes.kubernetes.io/controller-managed-attach-detach": "true",
                   "kubeadm.alpha.kubernetes.io/cri-socket": "unix:///var/run/containerd/containerd.sock",
                   "csi.volume.kubernetes.io/nodeid": f'{{"ebs.csi.aws.com":"i-0{node.uid.replace("-", "")[:16]}"}}'}
    created = ctx.timestamp(node.created)
    heartbeat = ctx.timestamp(ctx.now_offset - 40)
    spec: dict = {"podCIDR": node.pod_cidr_prefix + "0/24", "podCIDRs": [node.pod_cidr_prefix + "0/24"],
                  "providerID": f"aws:///{node.zone}/i-0{node.uid.replace('-', '')[:16]}"}
    if node.control_plane:
        spec["taints"] = [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]
    if node.unschedulable:
        spec["unschedulable"] = True
        spec["taints"] = [{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule", "timeAdded": heartbeat}]
    if not node.ready:
        spec["taints"] = [{"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule", "timeAdded": heartbeat},
                          {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute", "timeAdded": heartbeat}]
    pressure = [
        (kind, "False", reason, message) for kind, reason, message in (
            ("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        )
    ]
    ready = ("Ready", "True", "KubeletReady", "kubelet is posting ready status") if node.ready else \
        ("Ready", "Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status.")
    conditions = [{"type": t, "status": s, "lastHeartbeatTime": heartbeat, "lastTransitionTime": created, "reason": r, "message": m}
                  for t, s, r, m in pressure + [ready]]
    memory_kib = 32_408_816 if node.instance_type.startswith("m6") else 65_023_452
    if node.instance_type == "m6i.xlarge":
        memory_kib = 16_044_284
    cpus = 4 if node.instance_type == "m6i.xlarge" else 8
    status = {
        "capacity": {"cpu": str(cpus), "ephemeral-storage": "104845292Ki", "hugepages-1Gi": "0", "hugepages-2Mi": "0",
                     "memory": f"{memory_kib}Ki", "pods": "110"},
        "allocatable": {"cpu": f"{cpus * 1000 - 90}m", "ephemeral-storage": "95551679124", "hugepages-1Gi": "0", "hugepages-2Mi": "0",
                        "memory": f"{memory_kib - 1_000_000}Ki", "pods": "110"},
        "conditions": conditions,
        "addresses": [{"type": "InternalIP", "address": node.ip}, {"type": "InternalDNS", "address": f"ip-{node.ip.replace('.', '-')}.eu-west-1.compute.internal"},
                      {"type": "Hostname", "address": node.name}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": {"machineID": node.uid.replace("-", ""), "systemUUID": node.uid.upper(), "bootID": ctx.uid("boot", "", node.name),
                     "kernelVersion": "6.1.94-99.176.amzn2023.x86_64", "osImage": "Amazon Linux 2023.5.20240624",
                     "containerRuntimeVersion": "containerd://1.7.11", "kubeletVersion": KUBERNETES_VERSION,
                     "kubeProxyVersion": KUBERNETES_VERSION, "operatingSystem": "linux", "architecture": "amd64"},
        "images": [{"names": [f"registry.k8s.io/kube-proxy@sha256:{ctx.hex_digest(1)}", f"registry.k8s.io/kube-proxy:{KUBERNETES_VERSION}"],
                    "sizeBytes": 29_020_473},
                   {"names": [f"quay.io/prometheus/node-exporter@sha256:{ctx.hex_digest(2)}", "quay.io/prometheus/node-exporter:v1.8.1"],
                    "sizeBytes": 11_725_154}],
    }
    metadata = {"name": node.name, "uid": node.uid, "resourceVersion": rv, "creationTimestamp": created, "labels": labels,
                "annotations": annotations}
    metadata["managedFields"] = [
        managed_entry("kubelet", "Update", "v1", created, fields_v1({"metadata": {"annotations": annotations, "labels": labels}})),
        managed_entry("kube-controller-manager", "Update", "v1", created, fields_v1({"spec": {"podCIDR": "", "podCIDRs": []}})),
        managed_entry("kubelet", "Update", "v1", heartbeat, fields_v1_of_shape(("Node", "status"), {"status": status}), "status"),
    ]
    return {"metadata": metadata, "spec": spec, "status": status}


def build_namespace(ctx: Context, namespace: NamespacePlan, rv: str) -> dict:
    labels = {"kubernetes.io/metadata.name": namespace.name}
    created = ctx.timestamp(namespace.created)
    if namespace.is_app:
        labels.update({"team": namespace.name.split("-")[0], "pod-security.kubernetes.io/enforce": "baseline"})
        body = {"spec": {"finalizers": ["kubernetes"]}}
        obj = applied_object("v1", "Namespace", {"name": namespace.name, "labels": labels, "annotations": dict(TRICKY_ANNOTATIONS)}, body,
                             created, {"phase": "Active"})
    else:
        metadata = {"name": namespace.name, "creationTimestamp": created, "labels": labels,
                    "managedFields": [managed_entry("kube-apiserver", "Update", "v1", created, fields_v1({"metadata": {"labels": labels}}))]}
        obj = {"metadata": metadata, "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}
    meta = obj["metadata"]
    obj["metadata"] = {"name": meta.pop("name"), "uid": namespace.uid, "resourceVersion": rv, **meta}
    return obj


# -- config maps and secrets --------------------------------------------------------------


def config_map_records(plan: ClusterPlan) -> list[tuple[str, str, str]]:
    """(namespace, name, flavour) per ConfigMap."""
    records = [(ns.name, "kube-root-ca.crt", "root-ca") for ns in plan.namespaces]
    records += [("kube-system", "coredns", "coredns"), ("kube-system", "kube-proxy", "kube-proxy"),
                ("kube-system", "kubeadm-config", "kubeadm"), ("kube-public", "cluster-info", "cluster-info")]
    records += [(w.namespace, f"{w.name}-config", "binary" if w.binary_config else "app") for w in plan.workloads if w.profile.config_volume]
    return records


def build_config_map(ctx: Context, record: tuple[str, str, str], rv: str) -> dict:
    namespace, name, flavour = record
    body: dict
    if flavour == "root-ca":
        body = {"data": {"ca.crt": _fake_pem(ctx, "CERTIFICATE", 0)}}
        annotations = {"kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."}
        created = ctx.timestamp(60)
        metadata = {"name": name, "namespace": namespace, "uid": ctx.uid("configmaps", namespace, name), "resourceVersion": rv,
                    "creationTimestamp": created, "annotations": annotations}
        metadata["managedFields"] = [managed_entry("kube-controller-manager", "Update", "v1", created,
                                                   fields_v1({"data": body["data"], "metadata": {"annotations": annotations}}))]
        return {"metadata": metadata, **body}
    if flavour == "coredns":
        body = {"data": {"Corefile": ".:53 {\n    errors\n    health {\n       lameduck 5s\n    }\n    ready\n    kubernetes cluster.local in-addr.arpa ip6.arpa {\n       pods insecure\n       fallthrough in-addr.arpa ip6.arpa\n       ttl 30\n    }\n    prometheus :9153\n    forward . /etc/resolv.conf {\n       max_concurrent 1000\n    }\n    cache 30\n    loop\n    reload\n    loadbalance\n}\n"}}
    elif flavour == "kube-proxy":
        body = {"data": {"config.conf": "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: iptables\nclusterCIDR: 10.64.0.0/10\n",
                         "kubeconfig.conf": "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: https://10.0.0.10:6443\n  name: default\n"}}
    elif flavour == "kubeadm":
        body = {"data": {"ClusterConfiguration": f"apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\nclusterName: {ctx.dns_name}\nkubernetesVersion: {KUBERNETES_VERSION}\nnetworking:\n  podSubnet: 10.64.0.0/10\n  serviceSubnet: 10.96.0.0/12\n"}}
    elif flavour == "cluster-info":
        body = {"data": {"kubeconfig": f"apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: {_b64(_fake_pem(ctx, 'CERTIFICATE', 0))[:120]}\n    server: https://{ctx.dns_name}.example.com:6443\n  name: \"\"\n"}}
    else:
        app = name.removesuffix("-config")
        body = {"data": {
            "app.properties": f"service.name={app}\nlog.level=info\nhttp.port=8080\ncache.ttl=300\n",
            "features.json": '{"newCheckout": true, "banner": "Grüße aus \\"Berlin\\" 🎉", "regions": ["eu-west-1", "eu-central-1"]}',
            "nginx.conf": "server {\n  listen 80;\n  location / { root /usr/share/nginx/html; }\n  location /healthz { return 200 'ok'; }\n}\n",
            "LOG_FORMAT": "json",
        }}
        if flavour == "binary":
            body["binaryData"] = {"favicon.ico": _b64(bytes(range(64)) * 4)}
    return _applied(ctx, "v1", "ConfigMap", "configmaps", namespace, name, body, 3_700, rv,
                    labels={"app.kubernetes.io/part-of": namespace}, annotations={"example.com/description": TRICKY_ANNOTATIONS[1][1]})


def _fake_pem(ctx: Context, label: str, number: int, lines: int = 6) -> str:
    rng = ctx.rng(f"pem:{label}:{number}")
    body = base64.b64encode(rng.randbytes(48 * lines)).decode()
    wrapped = "\n".join(body[i:i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN {label}-----\n{wrapped}\n-----END {label}-----\n"


def secret_records(plan: ClusterPlan) -> list[tuple[int, str, str, str]]:
    """(index, namespace, name, type) per Secret; the index numbers the canary."""
    records = [("ingress-nginx", "ingress-nginx-admission", "kubernetes.io/tls")]
    for ns in plan.app_namespaces:
        records.append((ns.name, "regcred", "kubernetes.io/dockerconfigjson"))
        records.append((ns.name, "ci-deployer-token", "kubernetes.io/service-account-token"))
    records += [(w.namespace, f"{w.name}-secrets", "Opaque") for w in plan.workloads if w.profile.uses_secret]
    records += [(s.namespace, f"{s.name}-tls", "kubernetes.io/tls") for s in plan.services if s.ingress]
    return [(index, *record) for index, record in enumerate(records)]


def canary(ctx: Context, index: int) -> str:
    return f"{SECRET_CANARY_PREFIX}-{ctx.name}-{index}"


def build_secret(ctx: Context, record: tuple[int, str, str, str], rv: str) -> dict:
    index, namespace, name, type_ = record
    rng = ctx.rng(f"secret:{index}")
    secret_canary = canary(ctx, index)
    annotations: dict = {}
    if type_ == "kubernetes.io/tls":
        plain = {"tls.crt": _fake_pem(ctx, "CERTIFICATE", index, 4), "tls.key": _fake_pem(ctx, "PRIVATE KEY", index, 3)}
    elif type_ == "kubernetes.io/dockerconfigjson":
        auth = _b64(f"robot$ci:{rng.getrandbits(96):024x}")
        plain = {".dockerconfigjson": f'{{"auths":{{"registry.local:5000":{{"auth":"{auth}"}},"ghcr.io":{{"auth":"{auth}"}}}}}}'}
    elif type_ == "kubernetes.io/service-account-token":
        annotations = {"kubernetes.io/service-account.name": "ci-deployer",
                       "kubernetes.io/service-account.uid": ctx.uid("serviceaccounts", namespace, "ci-deployer")}
        plain = {"namespace": namespace, "ca.crt": _fake_pem(ctx, "CERTIFICATE", 0, 3),
                 "token": "eyJhbGciOiJSUzI1NiJ9." + _b64(f'{{"sub":"system:serviceaccount:{namespace}:ci-deployer"}}').rstrip("=") + "." + f"{rng.getrandbits(256):064x}"}
    else:
        plain = {"password": f"{rng.getrandbits(128):032x}", "username": name.removesuffix("-secrets"),
                 "url": f"postgres://app:{rng.getrandbits(64):016x}@db:5432/app?sslmode=require"}
    plain["canary"] = secret_canary
    data = {key: _b64(value) for key, value in plain.items()}
    # kubectl apply of a manifest with stringData: the plaintext lands in the annotation, as in real life.
    applied_meta = {"name": name, "namespace": namespace, "annotations": annotations}
    body_applied = {"stringData": plain, "type": type_}
    created = ctx.timestamp(3_800 + index)
    all_annotations = {**annotations, "kubectl.kubernetes.io/last-applied-configuration": last_applied("v1", "Secret", applied_meta, body_applied)}
    metadata = {"name": name, "namespace": namespace, "uid": ctx.uid("secrets", namespace, name), "resourceVersion": rv,
                "creationTimestamp": created, "annotations": all_annotations}
    metadata["managedFields"] = [managed_entry("kubectl-client-side-apply", "Update", "v1", created,
                                               fields_v1({"data": data, "metadata": {"annotations": all_annotations}, "type": ""}))]
    return {"metadata": metadata, "data": data, "type": type_}


# -- identities and RBAC ------------------------------------------------------------------


def service_account_records(plan: ClusterPlan) -> list[tuple[str, str]]:
    records = [(ns.name, "default") for ns in plan.namespaces]
    records += [(ns.name, "ci-deployer") for ns in plan.app_namespaces]
    seen = set(records)
    for group in plan.pod_groups:
        account = (group.namespace, group.service_account)
        if group.service_account and account not in seen:
            seen.add(account)
            records.append(account)
    return records


def build_service_account(ctx: Context, record: tuple[str, str], rv: str) -> dict:
    namespace, name = record
    uid = ctx.uid("serviceaccounts", namespace, name)
    if name == "default":
        created = ctx.timestamp(60)
        metadata = {"name": name, "namespace": namespace, "uid": uid, "resourceVersion": rv, "creationTimestamp": created}
        return {"metadata": metadata}
    obj = _applied(ctx, "v1", "ServiceAccount", "serviceaccounts", namespace, name, {"automountServiceAccountToken": name != "ci-deployer"},
                   3_650, rv, labels={"app.kubernetes.io/name": name})
    if name == "ci-deployer":
        obj["secrets"] = [{"name": "ci-deployer-token"}]
    return obj


_RULE_SETS = {
    "developer": [{"apiGroups": ["", "apps", "batch"], "resources": ["pods", "pods/log", "deployments", "jobs", "configmaps"],
                   "verbs": ["get", "list", "watch"]},
                  {"apiGroups": [""], "resources": ["pods/portforward"], "verbs": ["create"]}],
    "deployer": [{"apiGroups": ["apps"], "resources": ["deployments", "statefulsets"], "verbs": ["get", "list", "patch", "update"]}],
    "kube-proxy": [{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["kube-proxy"], "verbs": ["get"]}],
    "extension-apiserver-authentication-reader": [{"apiGroups": [""], "resources": ["configmaps"],
                                                   "resourceNames": ["extension-apiserver-authentication"], "verbs": ["get", "list", "watch"]}],
}


def role_records(plan: ClusterPlan) -> list[tuple[str, str]]:
    records = [("kube-system", "kube-proxy"), ("kube-system", "extension-apiserver-authentication-reader")]
    for ns in plan.app_namespaces:
        records += [(ns.name, "developer"), (ns.name, "deployer")]
    return records


def build_role(ctx: Context, record: tuple[str, str], rv: str) -> dict:
    namespace, name = record
    return _applied(ctx, "rbac.authorization.k8s.io/v1", "Role", "roles", namespace, name, {"rules": _RULE_SETS[name]}, 3_660, rv,
                    labels={"app.kubernetes.io/managed-by": "kubectl"})


def build_role_binding(ctx: Context, record: tuple[str, str], rv: str) -> dict:
    namespace, role = record
    if role == "developer":
        subjects = [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": f"oidc:{namespace}-developers"},
                    {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "zoë.müller@example.com"}]
    elif role == "deployer":
        subjects = [{"kind": "ServiceAccount", "name": "ci-deployer", "namespace": namespace}]
    else:
        subjects = [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "system:bootstrappers:kubeadm:default-node-token"}]
    body = {"roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role}, "subjects": subjects}
    return _applied(ctx, "rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings", namespace, f"{role}-binding", body, 3_670, rv)


_CLUSTER_ROLES = {
    "cluster-admin": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}, {"nonResourceURLs": ["*"], "verbs": ["*"]}],
    "admin": [{"apiGroups": ["", "apps", "batch", "networking.k8s.io"], "resources": ["*"], "verbs": ["*"]}],
    "edit": [{"apiGroups": ["", "apps", "batch"], "resources": ["pods", "deployments", "jobs", "services", "configmaps", "secrets"],
              "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]}],
    "view": [{"apiGroups": ["", "apps", "batch"], "resources": ["pods", "deployments", "jobs", "services", "configmaps"],
              "verbs": ["get", "list", "watch"]}],
    "system:coredns": [{"apiGroups": [""], "resources": ["endpoints", "services", "pods", "namespaces"], "verbs": ["list", "watch"]},
                       {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]}],
    "system:metrics-server": [{"apiGroups": [""], "resources": ["nodes/metrics"], "verbs": ["get"]},
                              {"apiGroups": [""], "resources": ["pods", "nodes"], "verbs": ["get", "list", "watch"]}],
    "ingress-nginx": [{"apiGroups": ["networking.k8s.io"], "resources": ["ingresses", "ingressclasses"], "verbs": ["get", "list", "watch"]},
                      {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses/status"], "verbs": ["update"]}],
    "k8s-assets-reader": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list"]}],
}
_CLUSTER_ROLE_BINDINGS = {
    "cluster-admin": ("cluster-admin", [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "system:masters"}]),
    "system:coredns": ("system:coredns", [{"kind": "ServiceAccount", "name": "coredns", "namespace": "kube-system"}]),
    "system:metrics-server": ("system:metrics-server", [{"kind": "ServiceAccount", "name": "metrics-server", "namespace": "kube-system"}]),
    "ingress-nginx": ("ingress-nginx", [{"kind": "ServiceAccount", "name": "ingress-nginx-controller", "namespace": "ingress-nginx"}]),
    "k8s-assets-reader": ("k8s-assets-reader", [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "k8s-assets"}]),
}


def cluster_role_records(plan: ClusterPlan) -> list[str]:
    return list(_CLUSTER_ROLES)


def build_cluster_role(ctx: Context, name: str, rv: str) -> dict:
    labels = {"kubernetes.io/bootstrapping": "rbac-defaults"} if ":" in name or name in ("cluster-admin", "admin", "edit", "view") else {}
    body: dict = {"rules": _CLUSTER_ROLES[name]}
    if name in ("admin", "edit", "view"):
        body["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": {f"rbac.authorization.k8s.io/aggregate-to-{name}": "true"}}]}
    return _applied(ctx, "rbac.authorization.k8s.io/v1", "ClusterRole", "clusterroles", None, name, body, 30, rv, labels=labels)


def cluster_role_binding_records(plan: ClusterPlan) -> list[str]:
    return list(_CLUSTER_ROLE_BINDINGS)


def build_cluster_role_binding(ctx: Context, name: str, rv: str) -> dict:
    role, subjects = _CLUSTER_ROLE_BINDINGS[name]
    body = {"roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role}, "subjects": subjects}
    return _applied(ctx, "rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "clusterrolebindings", None, name, body, 30, rv)


# -- storage, networking and policy -------------------------------------------------------

_STORAGE_CLASSES = {
    "standard": ("kubernetes.io/no-provisioner", {}, "WaitForFirstConsumer", False),
    "premium-rwo": ("ebs.csi.aws.com", {"type": "gp3", "iops": "6000", "encrypted": "true"}, "WaitForFirstConsumer", True),
    "fast-ssd": ("ebs.csi.aws.com", {"type": "io2", "iopsPerGB": "50"}, "Immediate", True),
}


def storage_class_records(plan: ClusterPlan) -> list[str]:
    return list(_STORAGE_CLASSES)


def build_storage_class(ctx: Context, name: str, rv: str) -> dict:
    provisioner, parameters, binding, expandable = _STORAGE_CLASSES[name]
    body: dict = {"provisioner": provisioner, "reclaimPolicy": "Delete", "volumeBindingMode": binding,
                  "allowVolumeExpansion": expandable}
    if parameters:
        body["parameters"] = parameters
    annotations = {"storageclass.kubernetes.io/is-default-class": "true"} if name == "premium-rwo" else {}
    return _applied(ctx, "storage.k8s.io/v1", "StorageClass", "storageclasses", None, name, body, 40, rv, annotations=annotations)


def ingress_class_records(plan: ClusterPlan) -> list[str]:
    return ["nginx", "internal-nginx"]


def build_ingress_class(ctx: Context, name: str, rv: str) -> dict:
    body = {"spec": {"controller": "k8s.io/ingress-nginx"}}
    annotations = {"ingressclass.kubernetes.io/is-default-class": "true"} if name == "nginx" else {}
    return _applied(ctx, "networking.k8s.io/v1", "IngressClass", "ingressclasses", None, name, body, 200, rv,
                    labels={"app.kubernetes.io/name": "ingress-nginx"}, annotations=annotations)


def network_policy_records(plan: ClusterPlan) -> list[tuple[str, str]]:
    return [(ns.name, policy) for ns in plan.app_namespaces for policy in ("default-deny-ingress", "allow-from-ingress-nginx")]


def build_network_policy(ctx: Context, record: tuple[str, str], rv: str) -> dict:
    namespace, name = record
    if name == "default-deny-ingress":
        spec = {"podSelector": {}, "policyTypes": ["Ingress"]}
    else:
        spec = {"podSelector": {"matchExpressions": [{"key": "app.kubernetes.io/component", "operator": "In", "values": ["frontend", "backend"]}]},
                "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}],
                             "ports": [{"protocol": "TCP", "port": 8080}, {"protocol": "TCP", "port": "http"}]}],
                "policyTypes": ["Ingress"]}
    return _applied(ctx, "networking.k8s.io/v1", "NetworkPolicy", "networkpolicies", namespace, name, {"spec": spec}, 3_690, rv)


def namespace_records(plan: ClusterPlan) -> list[str]:
    return [ns.name for ns in plan.app_namespaces]


def build_resource_quota(ctx: Context, namespace: str, rv: str) -> dict:
    hard = {"limits.memory": "200Gi", "requests.cpu": "100", "requests.memory": "100Gi", "pods": "3000", "services.loadbalancers": "5"}
    obj = _applied(ctx, "v1", "ResourceQuota", "resourcequotas", namespace, "compute", {"spec": {"hard": hard}}, 3_695, rv)
    obj["status"] = {"hard": hard, "used": {"limits.memory": "12Gi", "requests.cpu": "5250m", "requests.memory": "9Gi", "pods": "31",
                                            "services.loadbalancers": "0"}}
    return obj


def build_limit_range(ctx: Context, namespace: str, rv: str) -> dict:
    spec = {"limits": [{"type": "Container", "default": {"cpu": "500m", "memory": "512Mi"},
                        "defaultRequest": {"cpu": "100m", "memory": "128Mi"}, "max": {"cpu": "4", "memory": "8Gi"}},
                       {"type": "PersistentVolumeClaim", "max": {"storage": "100Gi"}, "min": {"storage": "1Gi"}}]}
    return _applied(ctx, "v1", "LimitRange", "limitranges", namespace, "defaults", {"spec": spec}, 3_696, rv)


_WEBHOOKS = {
    "validating": ("ingress-nginx-admission", "acme-policy-validating"),
    "mutating": ("acme-policy-mutating",),
}


def webhook_records(flavour: str) -> list[str]:
    return list(_WEBHOOKS[flavour])


def build_webhook_configuration(ctx: Context, name: str, rv: str, flavour: str) -> dict:
    namespace, service = ("ingress-nginx", "ingress-nginx-controller-admission") if name.startswith("ingress") else ("kube-system", "metrics-server")
    resources = (["networking.k8s.io"], ["v1"], ["ingresses"]) if name.startswith("ingress") else (["", "apps"], ["v1"], ["pods", "deployments"])
    hook = {
        "name": f"{'validate' if flavour == 'validating' else 'mutate'}.{name}.example.com",
        "clientConfig": {"service": {"namespace": namespace, "name": service, "path": f"/{flavour}", "port": 443},
                         "caBundle": _b64(_fake_pem(ctx, "CERTIFICATE", 1, 3))},
        "rules": [{"operations": ["CREATE", "UPDATE"], "apiGroups": resources[0], "apiVersions": resources[1],
                   "resources": resources[2], "scope": "*"}],
        "failurePolicy": "Fail" if flavour == "validating" else "Ignore",
        "matchPolicy": "Equivalent",
        "namespaceSelector": {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kube-system"]}]},
        "objectSelector": {},
        "sideEffects": "None",
        "timeoutSeconds": 10,
        "admissionReviewVersions": ["v1"],
    }
    if flavour == "mutating":
        hook["reinvocationPolicy"] = "Never"
    kind = "ValidatingWebhookConfiguration" if flavour == "validating" else "MutatingWebhookConfiguration"
    resource = "validatingwebhookconfigurations" if flavour == "validating" else "mutatingwebhookconfigurations"
    return _applied(ctx, "admissionregistration.k8s.io/v1", kind, resource, None, name, {"webhooks": [hook]}, 250, rv,
                    labels={"app.kubernetes.io/name": name})


# -- leases, scheduling and runtime classes -----------------------------------------------


def _micro(ctx: Context, offset: int, micros: int) -> str:
    """A MicroTime (``2024-05-01T10:00:00.123456Z``), as leases carry."""
    return ctx.timestamp(offset)[:-1] + f".{micros % 1_000_000:06d}Z"


def _control_planes(plan: ClusterPlan) -> list[NodePlan]:
    return [n for n in plan.nodes if n.control_plane] or plan.nodes[:1]


def _apiserver_identity(node: NodePlan) -> str:
    # kube-apiserver names its identity lease apiserver-<base32 of a hash of its hostname>.
    digest = hashlib.sha256(node.name.encode()).digest()
    return "apiserver-" + base64.b32encode(digest).decode().lower().rstrip("=")[:26]


def lease_records(plan: ClusterPlan) -> list[tuple[str, str, str, NodePlan]]:
    """(namespace, name, flavour, node) per Lease: a heartbeat per node, leader elections, API server identities."""
    records = [("kube-node-lease", node.name, "node", node) for node in plan.nodes]
    leader = _control_planes(plan)[0]
    records += [("kube-system", name, "leader", leader) for name in ("kube-controller-manager", "kube-scheduler")]
    records += [("kube-system", _apiserver_identity(node), "apiserver", node) for node in _control_planes(plan)]
    return records


def build_lease(ctx: Context, record: tuple[str, str, str, NodePlan], rv: str) -> dict:
    namespace, name, flavour, node = record
    now = ctx.now_offset
    labels: dict = {}
    owners: list = []
    if flavour == "node":
        created = ctx.timestamp(node.created)
        # A NotReady node stopped renewing its lease an hour ago.
        spec = {"holderIdentity": node.name, "leaseDurationSeconds": 40,
                "renewTime": _micro(ctx, now - (5 if node.ready else 3_600), node.index * 7_919)}
        owners = [{"apiVersion": "v1", "kind": "Node", "name": node.name, "uid": node.uid}]
        manager = "kubelet"
    elif flavour == "leader":
        created = ctx.timestamp(60)
        spec = {"holderIdentity": f"{node.name}_{ctx.uid('leader', name, node.name)}", "leaseDurationSeconds": 15,
                "acquireTime": _micro(ctx, now - 86_400 * 3, 123_456), "renewTime": _micro(ctx, now - 2, 654_321),
                "leaseTransitions": 4 if name == "kube-controller-manager" else 3}
        manager = name
    else:
        created = ctx.timestamp(node.created)
        labels = {"apiserver.kubernetes.io/identity": "kube-apiserver", "kubernetes.io/hostname": node.name}
        spec = {"holderIdentity": f"{name}_{ctx.uid('apiserver', '', node.name)}", "leaseDurationSeconds": 3_600,
                "renewTime": _micro(ctx, now - 7, 424_242)}
        manager = "kube-apiserver"
    metadata: dict = {"name": name, "namespace": namespace, "uid": ctx.uid("leases", namespace, name), "resourceVersion": rv,
                      "creationTimestamp": created}
    owned_meta: dict = {}
    if labels:
        metadata["labels"] = owned_meta["labels"] = labels
    if owners:
        metadata["ownerReferences"] = owned_meta["ownerReferences"] = owners
    fields = fields_v1({**({"metadata": owned_meta} if owned_meta else {}), "spec": spec})
    metadata["managedFields"] = [managed_entry(manager, "Update", "coordination.k8s.io/v1", spec["renewTime"][:19] + "Z", fields)]
    return {"metadata": metadata, "spec": spec}


_SYSTEM_PRIORITY_CLASSES = {
    "system-cluster-critical": (2_000_000_000, "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary."),
    "system-node-critical": (2_000_001_000, "Used for system critical pods that must not be moved from their current node."),
}
_APP_PRIORITY_CLASSES = {
    "business-critical": (1_000_000, "PreemptLowerPriority", "Customer-facing services: scheduled first, may preempt batch work."),
    "batch-low": (-100, "Never", "Reports and other batch jobs: wait for room, never preempt anything."),
}


def priority_class_records(plan: ClusterPlan) -> list[str]:
    return [*_SYSTEM_PRIORITY_CLASSES, *_APP_PRIORITY_CLASSES]


def build_priority_class(ctx: Context, name: str, rv: str) -> dict:
    if name in _SYSTEM_PRIORITY_CLASSES:
        value, description = _SYSTEM_PRIORITY_CLASSES[name]
        created = ctx.timestamp(5)
        body = {"value": value, "description": description, "preemptionPolicy": "PreemptLowerPriority"}
        metadata = {"name": name, "uid": ctx.uid("priorityclasses", "", name), "resourceVersion": rv, "generation": 1,
                    "creationTimestamp": created,
                    "managedFields": [managed_entry("kube-apiserver", "Update", "scheduling.k8s.io/v1", created, fields_v1(body))]}
        return {"metadata": metadata, **body}
    value, policy, description = _APP_PRIORITY_CLASSES[name]
    body = {"value": value, "globalDefault": False, "description": description, "preemptionPolicy": policy}
    obj = _applied(ctx, "scheduling.k8s.io/v1", "PriorityClass", "priorityclasses", None, name, body, 3_000, rv,
                   labels={"app.kubernetes.io/managed-by": "kubectl"})
    obj["metadata"]["generation"] = 1
    return obj


_RUNTIME_CLASSES = {
    "runc": {"handler": "runc"},
    "gvisor": {"handler": "runsc", "overhead": {"podFixed": {"cpu": "250m", "memory": "64Mi"}},
               "scheduling": {"nodeSelector": {"example.com/node-pool": "general"}}},
}


def runtime_class_records(plan: ClusterPlan) -> list[str]:
    return list(_RUNTIME_CLASSES)


def build_runtime_class(ctx: Context, name: str, rv: str) -> dict:
    return _applied(ctx, "node.k8s.io/v1", "RuntimeClass", "runtimeclasses", None, name, dict(_RUNTIME_CLASSES[name]), 320, rv,
                    labels={"app.kubernetes.io/managed-by": "kubectl"})


# -- CSI ------------------------------------------------------------------------------------


def _is_csi(provisioner: str) -> bool:
    return "." in provisioner and not provisioner.startswith("kubernetes.io/")


def csi_driver_records(plan: ClusterPlan | None = None) -> list[str]:
    """One CSIDriver per CSI provisioner of a storage class."""
    return sorted({p for p, *_ in _STORAGE_CLASSES.values() if _is_csi(p)})


def build_csi_driver(ctx: Context, name: str, rv: str) -> dict:
    spec = {"attachRequired": True, "podInfoOnMount": False, "volumeLifecycleModes": ["Persistent"],
            "storageCapacity": False, "fsGroupPolicy": "ReadWriteOnceWithFSType", "requiresRepublish": False,
            "seLinuxMount": False}
    return _applied(ctx, "storage.k8s.io/v1", "CSIDriver", "csidrivers", None, name, {"spec": spec}, 45, rv,
                    labels={"app.kubernetes.io/name": "aws-ebs-csi-driver", "app.kubernetes.io/component": "csi-driver"})


def csi_node_id(node: NodePlan) -> str:
    """The EC2 instance ID the EBS driver reports for a node (also in the node's csi nodeid annotation)."""
    return f"i-0{node.uid.replace('-', '')[:16]}"


def build_csi_node(ctx: Context, node: NodePlan, rv: str) -> dict:
    created = ctx.timestamp(node.created + 20)
    annotations = {"storage.alpha.kubernetes.io/migrated-plugins":
                   "kubernetes.io/aws-ebs,kubernetes.io/azure-disk,kubernetes.io/azure-file,kubernetes.io/cinder,"
                   "kubernetes.io/gce-pd,kubernetes.io/portworx-volume,kubernetes.io/vsphere-volume"}
    owner = {"apiVersion": "v1", "kind": "Node", "name": node.name, "uid": node.uid}
    spec = {"drivers": [{"name": driver, "nodeID": csi_node_id(node), "topologyKeys": ["kubernetes.io/os", "topology.ebs.csi.aws.com/zone"],
                         "allocatable": {"count": 25}} for driver in csi_driver_records()]}
    metadata = {"name": node.name, "uid": ctx.uid("csinodes", "", node.name), "resourceVersion": rv, "creationTimestamp": created,
                "annotations": annotations, "ownerReferences": [owner]}
    metadata["managedFields"] = [managed_entry("kubelet", "Update", "storage.k8s.io/v1", created,
                                               fields_v1({"metadata": {"annotations": annotations, "ownerReferences": [owner]},
                                                          "spec": spec}))]
    return {"metadata": metadata, "spec": spec}


def volume_attachment_name(volume: str, attacher: str, node: str) -> str:
    """The CSI attacher's naming: csi-<sha256 of volume, attacher and node>."""
    return "csi-" + hashlib.sha256(f"{volume}{attacher}{node}".encode()).hexdigest()


def build_volume_attachment(ctx: Context, record: tuple[str, str, NodePlan, int], rv: str) -> dict:
    volume, attacher, node, created_offset = record
    name = volume_attachment_name(volume, attacher, node.name)
    created = ctx.timestamp(created_offset)
    annotations = {"csi.alpha.kubernetes.io/node-id": csi_node_id(node)}
    spec = {"attacher": attacher, "nodeName": node.name, "source": {"persistentVolumeName": volume}}
    status = {"attached": True, "attachmentMetadata": {"devicePath": f"/dev/xvda{'abcdefghijklmnopqrstuvwxyz'[int(ctx.uid('va', '', name)[:2], 16) % 26]}"}}
    finalizers = [f"external-attacher/{attacher.replace('.', '-')}"]
    metadata = {"name": name, "uid": ctx.uid("volumeattachments", "", name), "resourceVersion": rv, "creationTimestamp": created,
                "annotations": annotations, "finalizers": finalizers}
    metadata["managedFields"] = [
        managed_entry("kube-controller-manager", "Update", "storage.k8s.io/v1", created, fields_v1({"spec": spec})),
        managed_entry("csi-attacher", "Update", "storage.k8s.io/v1", created,
                      fields_v1({"metadata": {"annotations": annotations, "finalizers": finalizers}})),
        managed_entry("csi-attacher", "Update", "storage.k8s.io/v1", created, fields_v1({"status": status}), "status"),
    ]
    return {"metadata": metadata, "spec": spec, "status": status}


# -- certificate signing requests ---------------------------------------------------------


def csr_records(plan: ClusterPlan) -> list[tuple[int, str, NodePlan | None]]:
    """(number, flavour, node): kubelet serving certificates of a few nodes, a node's bootstrap client
    certificate, and a person's client certificate pending and one denied."""
    records: list[tuple[int, str, NodePlan | None]] = [(i, "kubelet-serving", node) for i, node in enumerate(plan.nodes[:3])]
    records.append((3, "kubelet-client", plan.nodes[-1]))
    records += [(4, "user-pending", None), (5, "user-denied", None)]
    return records


def build_csr(ctx: Context, record: tuple[int, str, NodePlan | None], rv: str) -> dict:
    number, flavour, node = record
    name = f"csr-{ctx.suffix(number + 424_242)}"
    request = _b64(_fake_pem(ctx, "CERTIFICATE REQUEST", 100 + number, 4))
    if flavour == "kubelet-serving":
        spec = {"request": request, "signerName": "kubernetes.io/kubelet-serving", "usages": ["digital signature", "server auth"],
                "username": f"system:node:{node.name}", "groups": ["system:nodes", "system:authenticated"]}
        created_at, approver = node.created + 30, ("AutoApproved", "kubelet-serving-cert-approver", "Auto-approving kubelet serving certificate after SubjectAccessReview.")
    elif flavour == "kubelet-client":
        spec = {"request": request, "signerName": "kubernetes.io/kube-apiserver-client-kubelet",
                "usages": ["digital signature", "client auth"], "username": "system:bootstrap:abcdef",
                "groups": ["system:bootstrappers", "system:bootstrappers:kubeadm:default-node-token", "system:authenticated"]}
        created_at, approver = node.created + 5, ("AutoApproved", "kube-controller-manager", "Auto approving kubelet client certificate after SubjectAccessReview.")
    else:
        user = "zoë.müller@example.com" if flavour == "user-pending" else "contractor@example.net"
        spec = {"request": request, "signerName": "kubernetes.io/kube-apiserver-client", "expirationSeconds": 86_400,
                "usages": ["client auth"], "username": user, "groups": ["oidc:developers", "system:authenticated"]}
        created_at, approver = ctx.now_offset - 3_600 * (2 + number), None
    created = ctx.timestamp(created_at)
    metadata: dict = {"name": name, "uid": ctx.uid("certificatesigningrequests", "", name), "resourceVersion": rv,
                      "creationTimestamp": created}
    body_fields = {k: v for k, v in spec.items() if k not in ("username", "groups")}
    managed = [managed_entry("kubelet" if node else "kubectl-create", "Update", "certificates.k8s.io/v1", created,
                             fields_v1({"spec": body_fields}))]
    obj: dict = {"metadata": metadata, "spec": spec}
    decided = ctx.timestamp(created_at + 2)
    if approver:
        reason, manager, message = approver
        status = {"conditions": [{"type": "Approved", "status": "True", "reason": reason, "message": message,
                                  "lastUpdateTime": decided, "lastTransitionTime": decided}],
                  "certificate": _b64(_fake_pem(ctx, "CERTIFICATE", 200 + number, 8))}
        obj["status"] = status
        managed.append(managed_entry(manager, "Update", "certificates.k8s.io/v1", decided,
                                     fields_v1({"status": {"conditions": status["conditions"]}}), "approval"))
        managed.append(managed_entry("kube-controller-manager", "Update", "certificates.k8s.io/v1", decided,
                                     fields_v1({"status": {"certificate": ""}}), "status"))
    elif flavour == "user-denied":
        status = {"conditions": [{"type": "Denied", "status": "True", "reason": "NotAnEmployee",
                                  "message": "Client certificates are issued to employees only.",
                                  "lastUpdateTime": decided, "lastTransitionTime": decided}]}
        obj["status"] = status
        managed.append(managed_entry("kubectl", "Update", "certificates.k8s.io/v1", decided, fields_v1({"status": status}), "approval"))
    metadata["managedFields"] = managed
    return obj


# -- API priority and fairness: a 1.30 server's defaults -----------------------------------

_ALL_RESOURCES = {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"], "clusterScope": True, "namespaces": ["*"]}
_ALL_NON_RESOURCES = {"verbs": ["*"], "nonResourceURLs": ["*"]}
_EVERYONE = [{"kind": "Group", "group": {"name": "system:unauthenticated"}}, {"kind": "Group", "group": {"name": "system:authenticated"}}]
_LEASES = {"verbs": ["*"], "apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "namespaces": ["*"]}

# name -> (priority level, matching precedence, distinguisher or None, subjects, resource rules, non-resource rules)
_FLOW_SCHEMAS = {
    "exempt": ("exempt", 1, None, [{"kind": "Group", "group": {"name": "system:masters"}}], [_ALL_RESOURCES], [_ALL_NON_RESOURCES]),
    "probes": ("exempt", 2, None, _EVERYONE, None, [{"verbs": ["get"], "nonResourceURLs": ["/healthz", "/readyz", "/livez"]}]),
    "system-leader-election": ("leader-election", 100, "ByUser", [
        {"kind": "User", "user": {"name": "system:kube-controller-manager"}}, {"kind": "User", "user": {"name": "system:kube-scheduler"}},
        {"kind": "ServiceAccount", "serviceAccount": {"namespace": "kube-system", "name": "*"}}],
        [{**_LEASES, "verbs": ["get", "create", "update"]}], None),
    "endpoint-controller": ("workload-high", 150, "ByUser", [
        {"kind": "User", "user": {"name": "system:kube-controller-manager"}},
        {"kind": "ServiceAccount", "serviceAccount": {"namespace": "kube-system", "name": "endpoint-controller"}}],
        [{"verbs": ["get", "create", "update"], "apiGroups": [""], "resources": ["endpoints"], "namespaces": ["*"]}], None),
    "workload-leader-election": ("leader-election", 200, "ByUser", [
        {"kind": "ServiceAccount", "serviceAccount": {"namespace": "kube-system", "name": "*"}}],
        [{**_LEASES, "verbs": ["get", "create", "update"]}], None),
    "system-node-high": ("node-high", 400, "ByUser", [{"kind": "Group", "group": {"name": "system:nodes"}}],
                         [{"verbs": ["*"], "apiGroups": [""], "resources": ["nodes", "nodes/status"], "clusterScope": True, "namespaces": ["*"]},
                          _LEASES], None),
    "system-nodes": ("system", 500, "ByUser", [{"kind": "Group", "group": {"name": "system:nodes"}}], [_ALL_RESOURCES], [_ALL_NON_RESOURCES]),
    "kube-controller-manager": ("workload-high", 800, "ByNamespace", [{"kind": "User", "user": {"name": "system:kube-controller-manager"}}],
                                [_ALL_RESOURCES], [_ALL_NON_RESOURCES]),
    "kube-scheduler": ("workload-high", 800, "ByNamespace", [{"kind": "User", "user": {"name": "system:kube-scheduler"}}],
                       [_ALL_RESOURCES], [_ALL_NON_RESOURCES]),
    "kube-system-service-accounts": ("workload-high", 900, "ByNamespace", [
        {"kind": "ServiceAccount", "serviceAccount": {"namespace": "kube-system", "name": "*"}}], [_ALL_RESOURCES], [_ALL_NON_RESOURCES]),
    "service-accounts": ("workload-low", 9_000, "ByUser", [{"kind": "Group", "group": {"name": "system:serviceaccounts"}}],
                         [_ALL_RESOURCES], [_ALL_NON_RESOURCES]),
    "global-default": ("global-default", 9_900, "ByUser", _EVERYONE, [_ALL_RESOURCES], [_ALL_NON_RESOURCES]),
    "catch-all": ("catch-all", 10_000, "ByUser", _EVERYONE, [_ALL_RESOURCES], [_ALL_NON_RESOURCES]),
}
# name -> (shares, lendable percent, (queues, hand size, queue length limit) or None to reject); "exempt" is Exempt.
_PRIORITY_LEVELS = {
    "exempt": (0, 0, None),
    "system": (30, 33, (64, 6, 50)),
    "node-high": (40, 25, (64, 6, 50)),
    "leader-election": (10, 0, (16, 4, 50)),
    "workload-high": (40, 50, (128, 6, 50)),
    "workload-low": (100, 90, (128, 6, 50)),
    "global-default": (20, 50, (128, 6, 50)),
    "catch-all": (5, 0, None),
}
_APF = "flowcontrol.apiserver.k8s.io/v1"
_APF_ANNOTATIONS = {"apf.kubernetes.io/autoupdate-spec": "true"}


def flow_schema_records(plan: ClusterPlan) -> list[str]:
    return list(_FLOW_SCHEMAS)


def build_flow_schema(ctx: Context, name: str, rv: str) -> dict:
    level, precedence, distinguisher, subjects, resource_rules, non_resource_rules = _FLOW_SCHEMAS[name]
    spec: dict = {"priorityLevelConfiguration": {"name": level}, "matchingPrecedence": precedence}
    if distinguisher:
        spec["distinguisherMethod"] = {"type": distinguisher}
    rule: dict = {"subjects": subjects}
    if resource_rules:
        rule["resourceRules"] = resource_rules
    if non_resource_rules:
        rule["nonResourceRules"] = non_resource_rules
    spec["rules"] = [rule]
    created = ctx.timestamp(3)
    status = {"conditions": [{"type": "Dangling", "status": "False", "lastTransitionTime": created, "reason": "Found",
                              "message": f'This FlowSchema references the PriorityLevelConfiguration object named "{level}" and it exists'}]}
    producer_fields = fields_v1({"metadata": {"annotations": _APF_ANNOTATIONS},
                                 "spec": {k: ({} if k == "rules" else v) for k, v in spec.items()}})
    producer_fields["f:spec"]["f:rules"] = {}  # an atomic list
    metadata = {"name": name, "uid": ctx.uid("flowschemas", "", name), "resourceVersion": rv, "generation": 1,
                "creationTimestamp": created, "annotations": dict(_APF_ANNOTATIONS), "managedFields": [
                    managed_entry("api-priority-and-fairness-config-consumer-v1", "Apply", _APF, created,
                                  fields_v1({"status": status}), "status"),
                    managed_entry("api-priority-and-fairness-config-producer-v1", "Update", _APF, created, producer_fields),
                ]}
    return {"metadata": metadata, "spec": spec, "status": status}


def priority_level_records(plan: ClusterPlan) -> list[str]:
    return list(_PRIORITY_LEVELS)


def build_priority_level(ctx: Context, name: str, rv: str) -> dict:
    shares, lendable, queuing = _PRIORITY_LEVELS[name]
    if name == "exempt":
        spec: dict = {"type": "Exempt", "exempt": {"nominalConcurrencyShares": shares, "lendablePercent": lendable}}
        owned = {"f:exempt": {".": {}, "f:lendablePercent": {}, "f:nominalConcurrencyShares": {}}, "f:type": {}}
    else:
        response: dict = {"type": "Reject"}
        if queuing:
            queues, hand, length = queuing
            response = {"type": "Queue", "queuing": {"queues": queues, "handSize": hand, "queueLengthLimit": length}}
        spec = {"type": "Limited", "limited": {"nominalConcurrencyShares": shares, "limitResponse": response, "lendablePercent": lendable}}
        owned = {"f:limited": {".": {}, "f:lendablePercent": {}, "f:limitResponse": fields_v1(response, 2),
                               "f:nominalConcurrencyShares": {}}, "f:type": {}}
    created = ctx.timestamp(3)
    metadata = {"name": name, "uid": ctx.uid("prioritylevelconfigurations", "", name), "resourceVersion": rv, "generation": 1,
                "creationTimestamp": created, "annotations": dict(_APF_ANNOTATIONS), "managedFields": [
                    managed_entry("api-priority-and-fairness-config-producer-v1", "Update", _APF, created,
                                  {**fields_v1({"metadata": {"annotations": _APF_ANNOTATIONS}}), "f:spec": owned}),
                ]}
    return {"metadata": metadata, "spec": spec, "status": {}}


# -- validating admission policies ------------------------------------------------------------

_POLICY = "require-part-of-label"


def admission_policy_records(plan: ClusterPlan) -> list[str]:
    return [_POLICY]


def build_admission_policy(ctx: Context, name: str, rv: str) -> dict:
    spec = {
        "failurePolicy": "Fail",
        "matchConstraints": {
            "resourceRules": [{"apiGroups": ["apps"], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
                               "resources": ["deployments", "statefulsets"], "scope": "*"}],
            "matchPolicy": "Equivalent", "namespaceSelector": {}, "objectSelector": {},
        },
        "validations": [{"expression": "has(object.metadata.labels) && 'app.kubernetes.io/part-of' in object.metadata.labels",
                         "message": "every workload names the application it is part of (app.kubernetes.io/part-of)",
                         "reason": "Invalid"}],
    }
    created = 3_100
    obj = _applied(ctx, "admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy", "validatingadmissionpolicies", None, name,
                   {"spec": spec}, created, rv, labels={"app.kubernetes.io/part-of": "platform-policies"})
    obj["metadata"]["generation"] = 1
    obj["status"] = {"observedGeneration": 1, "typeChecking": {}}
    obj["metadata"]["managedFields"].append(
        managed_entry("kube-controller-manager", "Update", "admissionregistration.k8s.io/v1", ctx.timestamp(created + 1),
                      fields_v1({"status": obj["status"]}), "status"))
    return obj


def admission_policy_binding_records(plan: ClusterPlan) -> list[str]:
    return [f"{_POLICY}-apps"]


def build_admission_policy_binding(ctx: Context, name: str, rv: str) -> dict:
    spec = {"policyName": _POLICY, "validationActions": ["Deny"],
            "matchResources": {"namespaceSelector": {"matchExpressions": [
                {"key": "pod-security.kubernetes.io/enforce", "operator": "Exists"}]},
                "objectSelector": {}, "matchPolicy": "Equivalent"}}
    obj = _applied(ctx, "admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding", "validatingadmissionpolicybindings",
                   None, name, {"spec": spec}, 3_101, rv, labels={"app.kubernetes.io/part-of": "platform-policies"})
    obj["metadata"]["generation"] = 1
    return obj
