"""Cluster infrastructure of a simulated cluster: nodes, namespaces, config, secrets, RBAC, policy.

Secrets carry a canary value (``SIMULATED-SECRET-CANARY-<cluster>-<index>``) in ``data``
and in their last-applied annotation, so tests can prove no secret value reaches a database.
"""

from __future__ import annotations

import base64

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
