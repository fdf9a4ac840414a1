"""Objects for a real API server: at least one of every catalog kind, created through the
official client, so the server assigns uids, resourceVersions, defaults and managedFields.

Each manifest names its catalog table; it is created at the catalog's version or, on an older
server, at the first of the kind's ``older_versions`` the server serves (CronJob at
batch/v1beta1 on 1.20), which is what a user of such a cluster has.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from cryptography.hazmat.primitives import serialization
from kubernetes import client as k8s_client
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import ResourceNotFoundError

from k8s_assets.catalog import KINDS_BY_TABLE
from k8s_assets.catalog.types import Kind
from k8s_assets.kube.listing import iter_pages

NAMESPACES = ("team-a", "team-b")
# Catalog kinds a server version does not serve (at the catalog's version nor an older one):
# populate skips them and a sync records them not_served. Versions not named serve every kind.
NOT_SERVED = {"v1.20.2": frozenset({"k8s_validatingadmissionpolicies", "k8s_validatingadmissionpolicybindings"})}
# ResourceQuota and LimitRange admission act on every pod of their namespace (a quota without
# status, which only the controller manager fills, refuses every pod): they get one of their own.
QUOTA_NAMESPACE = "team-quota"
LABELS = {"app.kubernetes.io/name": "shop", "tier": "web"}
IMAGE = "registry.example.com/shop/web:1.4.2"
NUL_ANNOTATIONS = {"note": "nul\u0000inside", "emoji": "🚀 déploiement", "big": "z" * 200_000}


def container(name: str = "web", image: str = IMAGE) -> dict:
    return {"name": name, "image": image, "args": ["--port=8080"],
            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}}}


def pod_template(labels: dict | None = None) -> dict:
    return {"metadata": {"labels": labels or LABELS}, "spec": {"containers": [container()]}}


def workload_spec(extra: dict | None = None) -> dict:
    return {"selector": {"matchLabels": LABELS}, "template": pod_template(), **(extra or {})}


def namespaced(table: str, name: str, body: dict, namespace: str = "team-a") -> tuple[str, dict]:
    return table, {"metadata": {"name": name, "namespace": namespace, "labels": {"owner": "k8s-assets-tests"}},
                   **body}


def cluster_scoped(table: str, name: str, body: dict) -> tuple[str, dict]:
    return table, {"metadata": {"name": name, "labels": {"owner": "k8s-assets-tests"}}, **body}


def webhook(name: str) -> dict:
    # Matches a resource nobody creates, so the API server never calls it.
    return {"name": name, "admissionReviewVersions": ["v1"], "sideEffects": "None", "failurePolicy": "Ignore",
            "clientConfig": {"url": "https://webhook.example.invalid/check"},
            "rules": [{"apiGroups": ["nothing.example.com"], "apiVersions": ["v1"], "operations": ["CREATE"],
                       "resources": ["nothings"]}]}


def crd(group: str, plural: str, kind: str, scope: str, versions: list[tuple[str, bool]],
        properties: dict) -> tuple[str, dict]:
    schema = {"openAPIV3Schema": {"type": "object", "properties": {
        "spec": {"type": "object", "properties": properties}}}}
    return cluster_scoped("k8s_crds", f"{plural}.{group}", {"spec": {
        "group": group, "scope": scope,
        "names": {"plural": plural, "singular": kind.lower(), "kind": kind, "listKind": f"{kind}List"},
        "versions": [{"name": v, "served": True, "storage": storage, "schema": schema} for v, storage in versions],
    }})


# Custom resource definitions: a multi-version CRD whose first served version is not the
# storage version, an irregular plural, and a cluster-scoped one.
CRDS = [
    crd("ops.example.com", "backups", "Backup", "Namespaced", [("v1beta1", False), ("v1", True)],
        {"schedule": {"type": "string"}, "retainDays": {"type": "integer"}}),
    crd("zoo.example.com", "octopi", "Octopus", "Namespaced", [("v1", True)],
        {"arms": {"type": "integer"}}),
    crd("infra.example.com", "regions", "Region", "Cluster", [("v1", True)],
        {"provider": {"type": "string"}}),
]

CUSTOM_RESOURCES = [
    ("ops.example.com/v1", "Backup", {"metadata": {"name": "nightly", "namespace": "team-a"},
                                      "spec": {"schedule": "0 3 * * *", "retainDays": 14}}),
    ("ops.example.com/v1beta1", "Backup", {"metadata": {"name": "hourly", "namespace": "team-b"},
                                           "spec": {"schedule": "0 * * * *", "retainDays": 1}}),
    ("zoo.example.com/v1", "Octopus", {"metadata": {"name": "paul", "namespace": "team-a"}, "spec": {"arms": 8}}),
    ("infra.example.com/v1", "Region", {"metadata": {"name": "eu-west"}, "spec": {"provider": "metal"}}),
]
# The server validates custom resources against the CRD's schema: this one it refuses (422).
INVALID_CUSTOM_RESOURCE = ("zoo.example.com/v1", "Octopus",
                           {"metadata": {"name": "bad", "namespace": "team-a"}, "spec": {"arms": "eight"}})


def manifests() -> list[tuple[str, dict]]:
    """(catalog table, object) for every built-in kind, in an order the server accepts."""
    out: list[tuple[str, dict]] = [cluster_scoped("k8s_namespaces", ns, {}) for ns in (*NAMESPACES, QUOTA_NAMESPACE)]
    out += [cluster_scoped("k8s_nodes", f"node-{i}", {"spec": {"podCIDR": f"10.1.{i}.0/24"}}) for i in (1, 2)]
    out += [
        namespaced("k8s_deployments", "web", {"spec": workload_spec({"replicas": 3})}),
        namespaced("k8s_statefulsets", "db", {"spec": workload_spec({"serviceName": "db", "replicas": 1})}),
        namespaced("k8s_daemonsets", "agent", {"spec": workload_spec()}),
        namespaced("k8s_jobs", "migrate", {"spec": {"template": {
            "metadata": {"labels": {"job": "migrate"}},
            "spec": {"restartPolicy": "Never", "containers": [container("migrate")]}}}}),
        namespaced("k8s_cronjobs", "report", {"spec": {"schedule": "*/30 * * * *", "jobTemplate": {"spec": {
            "template": {"spec": {"restartPolicy": "OnFailure", "containers": [container("report")]}}}}}}),
        namespaced("k8s_services", "web", {"spec": {"selector": LABELS, "ports": [{"port": 80, "targetPort": 8080}]}}),
        namespaced("k8s_endpointslices", "web-abc", {
            "addressType": "IPv4", "endpoints": [{"addresses": ["10.1.1.5"], "conditions": {"ready": True}}],
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}),
        cluster_scoped("k8s_ingressclasses", "nginx", {"spec": {"controller": "k8s.io/ingress-nginx"}}),
        namespaced("k8s_ingresses", "web", {"spec": {"ingressClassName": "nginx", "rules": [
            {"host": "shop.example.com", "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {
                "service": {"name": "web", "port": {"number": 80}}}}]}}]}}),
        namespaced("k8s_networkpolicies", "deny-all", {"spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}),
        namespaced("k8s_configmaps", "settings", {"data": {"LOG_LEVEL": "debug", "emoji": "✓"}}),
        namespaced("k8s_secrets", "db-password", {"type": "Opaque", "stringData": {"password": "CANARY-REAL-42"}}),
        namespaced("k8s_serviceaccounts", "web", {}),
        namespaced("k8s_roles", "pod-reader", {"rules": [{"apiGroups": [""], "resources": ["pods"],
                                                          "verbs": ["get", "list"]}]}),
        namespaced("k8s_rolebindings", "web-reads-pods", {
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader"},
            "subjects": [{"kind": "ServiceAccount", "name": "web", "namespace": "team-a"}]}),
        cluster_scoped("k8s_clusterroles", "inventory-reader", {"rules": [
            {"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list"]}]}),
        cluster_scoped("k8s_clusterrolebindings", "web-inventory", {
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "inventory-reader"},
            "subjects": [{"kind": "ServiceAccount", "name": "web", "namespace": "team-a"}]}),
        cluster_scoped("k8s_storageclasses", "fast", {"provisioner": "example.com/fast", "reclaimPolicy": "Delete"}),
        cluster_scoped("k8s_persistentvolumes", "pv-1", {"spec": {
            "capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteOnce"], "storageClassName": "fast",
            "hostPath": {"path": "/srv/pv-1"}}}),
        namespaced("k8s_persistentvolumeclaims", "data", {"spec": {
            "accessModes": ["ReadWriteOnce"], "storageClassName": "fast",
            "resources": {"requests": {"storage": "5Gi"}}}}),
        namespaced("k8s_poddisruptionbudgets", "web", {"spec": {"minAvailable": 2, "selector": {"matchLabels": LABELS}}}),
        namespaced("k8s_horizontalpodautoscalers", "web", {"spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 2, "maxReplicas": 10,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                                                          "target": {"type": "Utilization", "averageUtilization": 70}}}]}}),
        namespaced("k8s_resourcequotas", "compute", {"spec": {"hard": {"pods": "20", "requests.cpu": "4"}}},
                   QUOTA_NAMESPACE),
        namespaced("k8s_limitranges", "defaults", {"spec": {"limits": [
            {"type": "Container", "default": {"memory": "256Mi"}, "defaultRequest": {"memory": "128Mi"}}]}},
                   QUOTA_NAMESPACE),
        cluster_scoped("k8s_validatingwebhookconfigurations", "policy-check",
                       {"webhooks": [webhook("validate.policy.example.com")]}),
        cluster_scoped("k8s_mutatingwebhookconfigurations", "defaults-inject",
                       {"webhooks": [webhook("mutate.defaults.example.com")]}),
        # Kinds the API server does not create itself (it creates FlowSchemas, PriorityLevelConfigurations,
        # the system PriorityClasses and, from 1.26, its identity Lease; with no endpoint reconciler
        # and no controller manager, no Endpoints and no ControllerRevisions).
        namespaced("k8s_leases", "shop-leader", {"spec": {
            "holderIdentity": "web-0_4b9f", "leaseDurationSeconds": 15, "leaseTransitions": 2,
            "acquireTime": "2024-03-01T10:00:00.000000Z", "renewTime": "2024-03-01T10:05:00.250000Z"}}),
        cluster_scoped("k8s_priorityclasses", "shop-high", {
            "value": 1_000_000, "preemptionPolicy": "Never", "description": "Checkout: first in line, preempts nobody."}),
        cluster_scoped("k8s_runtimeclasses", "gvisor", {
            "handler": "runsc", "overhead": {"podFixed": {"cpu": "250m", "memory": "64Mi"}},
            "scheduling": {"nodeSelector": {"sandbox": "gvisor"}}}),
        namespaced("k8s_replicationcontrollers", "legacy", {"spec": {
            "replicas": 0, "selector": {"app": "legacy"},
            "template": {"metadata": {"labels": {"app": "legacy"}}, "spec": {"containers": [container("legacy")]}}}}),
        namespaced("k8s_endpoints", "web", {"subsets": [{
            "addresses": [{"ip": "10.1.1.5", "nodeName": "node-1"}, {"ip": "10.1.2.7"}],
            "notReadyAddresses": [{"ip": "10.1.1.9"}],
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}]}),
        cluster_scoped("k8s_csidrivers", "ebs.csi.example.com", {"spec": {
            "attachRequired": True, "podInfoOnMount": False, "volumeLifecycleModes": ["Persistent"],
            "fsGroupPolicy": "File"}}),
        cluster_scoped("k8s_csinodes", "node-1", {"spec": {"drivers": [
            {"name": "ebs.csi.example.com", "nodeID": "i-0123456789abcdef0", "topologyKeys": ["topology.example.com/zone"]}]}}),
        cluster_scoped("k8s_volumeattachments", "csi-3f2a9c", {"spec": {
            "attacher": "ebs.csi.example.com", "nodeName": "node-1", "source": {"persistentVolumeName": "pv-1"}}}),
        cluster_scoped("k8s_certificatesigningrequests", "zoe-client", {"spec": {
            "request": certificate_request("zoe"), "signerName": "kubernetes.io/kube-apiserver-client",
            "expirationSeconds": 86_400, "usages": ["digital signature", "client auth"]}}),
        # Served from 1.30 (v1): an older server records them not_served and populate skips them.
        cluster_scoped("k8s_validatingadmissionpolicies", "replica-limit", {"spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": [{"apiGroups": ["nothing.example.com"], "apiVersions": ["v1"],
                                                    "operations": ["CREATE", "UPDATE"], "resources": ["nothings"]}]},
            "validations": [{"expression": "object.spec.replicas <= 100", "message": "at most 100 replicas"}]}}),
        cluster_scoped("k8s_validatingadmissionpolicybindings", "replica-limit-everywhere", {"spec": {
            "policyName": "replica-limit", "validationActions": ["Deny", "Audit"]}}),
        *CRDS,
    ]
    return out


def certificate_request(common_name: str) -> str:
    """A real PKCS#10 request, base64 PEM (the API server parses it)."""
    import base64

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    csr = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                   x509.NameAttribute(NameOID.ORGANIZATION_NAME, "shop-developers")])).sign(key, hashes.SHA256())
    return base64.b64encode(csr.public_bytes(serialization.Encoding.PEM)).decode()


def served(dynamic: DynamicClient, table: str) -> bool:
    try:
        resource_for(dynamic, KINDS_BY_TABLE[table])
    except LookupError:
        return False
    return True


def resource_for(dynamic: DynamicClient, kind: Kind):
    """The client's resource for a catalog kind at the newest version of its shape the server serves."""
    for version in (kind.version, *kind.older_versions):
        api_version = f"{kind.group}/{version}" if kind.group else version
        try:
            return dynamic.resources.get(api_version=api_version, kind=kind.kind)
        except ResourceNotFoundError:
            continue
    raise LookupError(f"the server serves {kind.resource} at none of {kind.version}, {kind.older_versions}")


def list_objects(api: k8s_client.ApiClient, kind: Kind, version: str) -> list[dict]:
    """Every object of a kind as the server lists it at ``version`` (pages of 500, our own pager)."""
    items = []
    for page, _ in iter_pages(api, replace(kind, version=version), 500, 60.0):
        items += page.get("items") or ()
    return items


def create(dynamic: DynamicClient, table: str, obj: dict) -> dict:
    kind = KINDS_BY_TABLE[table]
    resource = resource_for(dynamic, kind)
    obj = copy.deepcopy(obj)
    obj.update(apiVersion=resource.group_version, kind=kind.kind)
    return resource.create(body=obj, namespace=obj["metadata"].get("namespace")).to_dict()


def create_pods(dynamic: DynamicClient, count: int, owner: dict | None = None, namespace: str = "team-a",
                prefix: str = "web", threads: int = 8, annotations: dict | None = None) -> None:
    """``count`` pods, created by ``threads`` clients at once (the server is the bottleneck)."""
    pods = dynamic.resources.get(api_version="v1", kind="Pod")
    owner_refs = [] if owner is None else [{
        "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}]

    def one(i: int) -> None:
        body = {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": f"{prefix}-{i}", "namespace": namespace, "labels": LABELS,
                             "ownerReferences": owner_refs, "annotations": annotations or {}},
                "spec": {"containers": [container()], "nodeName": f"node-{1 + i % 2}"}}
        pods.create(body=body, namespace=namespace)

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, range(count)))


def served_resource(dynamic: DynamicClient, api_version: str, kind: str, timeout: float = 180.0):
    """A resource the server may only just serve (a CRD becomes Established asynchronously).

    Waits on that condition, asking discovery again; the server gives no signal a client could
    wait on instead. ``timeout`` is only what ends the wait for a server that never serves it:
    far beyond the second or so it takes, so a loaded machine cannot make it the verdict."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return dynamic.resources.get(api_version=api_version, kind=kind)
        except ResourceNotFoundError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
            dynamic.resources.invalidate_cache()


def create_custom_resources(dynamic: DynamicClient, objects: Iterable[tuple[str, str, dict]]) -> None:
    for api_version, kind, body in objects:
        resource = served_resource(dynamic, api_version, kind)
        resource.create(body={"apiVersion": api_version, "kind": kind, **body},
                        namespace=body["metadata"].get("namespace"))


def grant_reader(dynamic: DynamicClient, user: str, namespace: str) -> None:
    """``user`` may read everything in ``namespace``, and the kube-system namespace object
    (the cluster's identity), nothing else."""
    rbac = "rbac.authorization.k8s.io/v1"
    objects = [
        ("Role", {"metadata": {"name": "read-all", "namespace": namespace},
                  "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list"]}]}),
        ("RoleBinding", {"metadata": {"name": f"{user}-reads-all", "namespace": namespace},
                         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "read-all"},
                         "subjects": [{"kind": "User", "name": user, "apiGroup": "rbac.authorization.k8s.io"}]}),
        ("ClusterRole", {"metadata": {"name": "read-cluster-identity"},
                         "rules": [{"apiGroups": [""], "resources": ["namespaces"], "resourceNames": ["kube-system"],
                                    "verbs": ["get"]}]}),
        ("ClusterRoleBinding", {"metadata": {"name": f"{user}-reads-identity"},
                                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                            "name": "read-cluster-identity"},
                                "subjects": [{"kind": "User", "name": user, "apiGroup": "rbac.authorization.k8s.io"}]}),
    ]
    for kind, body in objects:
        resource = dynamic.resources.get(api_version=rbac, kind=kind)
        resource.create(body={"apiVersion": rbac, "kind": kind, **body}, namespace=body["metadata"].get("namespace"))


def populate_once(server, pods: int = 20) -> dict:
    """``populate`` a session's server the first time any test module asks (several modules share it)."""
    if getattr(server, "populated", None) is None:
        server.populated = populate(server.api_client(), pods=pods)
    return server.populated


def populate(api: k8s_client.ApiClient, pods: int = 20) -> dict:
    """Create every catalog kind the server serves, a Deployment -> ReplicaSet -> Pods chain, one pod with hostile
    annotations, CRDs and their custom resources; returns what the tests need to know."""
    dynamic = DynamicClient(api)
    created = {}
    for table, obj in manifests():
        if served(dynamic, table):
            created.setdefault(table, []).append(create(dynamic, table, obj))
    # What the controller manager would record: the revision each StatefulSet and DaemonSet is at.
    for owner_table, kind in (("k8s_statefulsets", "StatefulSet"), ("k8s_daemonsets", "DaemonSet")):
        owner = created[owner_table][0]
        template = owner["spec"]["template"]
        created.setdefault("k8s_controllerrevisions", []).append(create(dynamic, "k8s_controllerrevisions", {
            "metadata": {"name": f"{owner['metadata']['name']}-7c9d6b5f4", "namespace": "team-a",
                         "labels": {**LABELS, "controller-revision-hash": "7c9d6b5f4"},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": kind, "name": owner["metadata"]["name"],
                                              "uid": owner["metadata"]["uid"], "controller": True,
                                              "blockOwnerDeletion": True}]},
            "data": {"spec": {"template": {"$patch": "replace", **template}}}, "revision": 1}))
    deployment = created["k8s_deployments"][0]
    replicaset = create(dynamic, "k8s_replicasets", {
        "metadata": {"name": "web-5d8f7", "namespace": "team-a", "labels": LABELS,
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                                          "uid": deployment["metadata"]["uid"], "controller": True}]},
        "spec": workload_spec({"replicas": 3})})
    create_pods(dynamic, pods, owner=replicaset)
    create_pods(dynamic, 1, prefix="hostile", annotations=NUL_ANNOTATIONS)
    create_custom_resources(dynamic, CUSTOM_RESOURCES)
    grant_reader(dynamic, "reader", "team-a")
    return {"dynamic": dynamic, "replicaset": replicaset}
