"""The plan of a simulated cluster: which objects exist and how they relate, without their bodies.

Planning is eager but cheap (small records, one per controller, not per pod), so counts,
names, UIDs and placements are known before any object is built. Object bodies are then
built lazily, in any order, from these records by the ``generator_*`` builder modules.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass, field

from k8s_assets.simulator.generator_base import Context
from k8s_assets.simulator.generator_profiles import (
    APP_PROFILE_WEIGHTS,
    APP_WORDS,
    NAMESPACE_WORDS,
    PROFILES,
    STATIC_PROFILES,
    Profile,
)

MAX_PODS_PER_NODE = 110
MAX_PODS_PER_APP_NAMESPACE = 3_000
ENDPOINTS_PER_SLICE = 100
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


@dataclass(frozen=True)
class SizeSpec:
    pods: int
    nodes: int
    app_namespaces: int
    services: int


SIZES: dict[str, dict] = {
    "tiny": {"pods": 20, "nodes": 2, "app_namespaces": 2, "services": 10},
    "small": {"pods": 80, "nodes": 3, "app_namespaces": 4, "services": 16},
    "medium": {"pods": 10_000, "nodes": 300, "app_namespaces": 160, "services": 700},
    "large": {"pods": 150_000, "nodes": 5_000, "app_namespaces": 2_500, "services": 10_000},
}


def size_spec(size: str | int) -> SizeSpec:
    """A preset by name, or about ``size`` pods with everything else in proportion."""
    if isinstance(size, str) and not size.isdigit():
        if size not in SIZES:
            raise ValueError(f"unknown size {size!r}; presets: {', '.join(SIZES)} or a pod count")
        return SizeSpec(**SIZES[size])
    pods = int(size)
    if pods < 1:
        raise ValueError(f"size must be at least 1 pod, got {pods}")
    return SizeSpec(
        pods=pods,
        nodes=max(2, -(-pods // 30)),
        app_namespaces=min(2_500, max(2, pods // 60, -(-pods // MAX_PODS_PER_APP_NAMESPACE))),
        services=max(10, pods // 15),
    )


@dataclass(frozen=True, slots=True)
class NodePlan:
    index: int
    name: str
    uid: str
    control_plane: bool
    zone: str
    pool: str
    instance_type: str
    ip: str
    pod_cidr_prefix: str  # "10.64.3." -- pods on this node get <prefix><slot>
    ready: bool
    unschedulable: bool
    created: int


@dataclass(frozen=True, slots=True)
class NamespacePlan:
    name: str
    uid: str
    created: int
    is_app: bool


@dataclass(slots=True)
class PodGroup:
    """Pods sharing one controlling owner (or one standalone pod)."""

    namespace: str
    app: str  # app.kubernetes.io/name of the pods
    profile: Profile
    owner_kind: str | None  # ReplicaSet, StatefulSet, DaemonSet, Job, Node or None
    owner_name: str
    owner_uid: str
    count: int
    created: int
    tag: str
    revision_hash: str  # pod-template-hash or controller-revision-hash
    service_account: str | None
    first_index: int = 0  # position of the first pod among all pods of the cluster
    first_slot: int = -1  # round-robin scheduling slot, -1: placed on explicit nodes
    node_indexes: tuple[int, ...] = ()  # DaemonSet and static pods: one pod per node
    pending: frozenset[int] = frozenset()
    crashing: frozenset[int] = frozenset()
    completed: bool = False  # pods of finished Jobs


@dataclass(slots=True)
class ReplicaSetPlan:
    name: str
    uid: str
    template_hash: str
    replicas: int
    revision: int
    tag: str
    created: int


@dataclass(slots=True)
class JobPlan:
    name: str
    uid: str
    created: int
    pods: PodGroup


@dataclass(slots=True)
class ServicePlan:
    namespace: str
    name: str
    uid: str
    type: str  # ClusterIP, NodePort, LoadBalancer, ExternalName; headless is ClusterIP + cluster_ip "None"
    cluster_ip: str
    ports: tuple[tuple[str, int, int, str], ...]  # (name, port, targetPort, protocol)
    selector: dict | None
    created: int
    pod_groups: tuple[PodGroup, ...] = ()
    external_name: str | None = None
    ingress: bool = False

    @property
    def slice_count(self) -> int:
        if self.selector is None:
            return 0
        endpoints = sum(g.count for g in self.pod_groups)
        return max(1, -(-endpoints // ENDPOINTS_PER_SLICE))


@dataclass(slots=True)
class Workload:
    namespace: str
    name: str
    profile: Profile
    uid: str
    replicas: int
    created: int
    tag: str
    pods: PodGroup | None = None
    replica_sets: list[ReplicaSetPlan] = field(default_factory=list)  # deployments, current last
    jobs: list[JobPlan] = field(default_factory=list)  # cronjobs
    services: list[ServicePlan] = field(default_factory=list)
    hpa: bool = False
    pdb: bool = False
    binary_config: bool = False

    @property
    def kind(self) -> str:
        return self.profile.controller

    @property
    def ready_replicas(self) -> int:
        if self.pods is None:
            return 0
        return self.pods.count - len(self.pods.pending | self.pods.crashing)


@dataclass
class ClusterPlan:
    ctx: Context
    spec: SizeSpec
    nodes: list[NodePlan]
    namespaces: list[NamespacePlan]
    workloads: list[Workload] = field(default_factory=list)
    pod_groups: list[PodGroup] = field(default_factory=list)
    services: list[ServicePlan] = field(default_factory=list)
    pod_total: int = 0
    slot_total: int = 0

    @property
    def workers(self) -> list[NodePlan]:
        return [n for n in self.nodes if not n.control_plane] or self.nodes

    @property
    def app_namespaces(self) -> list[NamespacePlan]:
        return [ns for ns in self.namespaces if ns.is_app]

    def of_kind(self, kind: str) -> list[Workload]:
        return [w for w in self.workloads if w.kind == kind]

    def add_pods(self, group: PodGroup, scheduled_round_robin: bool = True) -> PodGroup:
        group.first_index = self.pod_total
        self.pod_total += group.count
        if scheduled_round_robin:
            group.first_slot = self.slot_total
            self.slot_total += group.count
        self.pod_groups.append(group)
        return group


# ---------------------------------------------------------------------------------------


def plan_cluster(ctx: Context, spec: SizeSpec) -> ClusterPlan:
    rng = ctx.rng("plan")
    plan = ClusterPlan(ctx, spec, _plan_nodes(ctx, spec, rng), _plan_namespaces(ctx, spec))
    _ServicePlanner(plan).plan_default_services()
    _plan_system_workloads(plan, rng)
    _plan_app_workloads(plan, rng)
    _ServicePlanner(plan).plan_app_services(rng)
    return plan


_POOLS = (("general", "m6i.2xlarge", 6), ("highmem", "r6i.2xlarge", 2), ("spot", "m6a.2xlarge", 2))
_ZONES = ("a", "b", "c")


def _plan_nodes(ctx: Context, spec: SizeSpec, rng: random.Random) -> list[NodePlan]:
    control_planes = 0 if spec.nodes == 1 else (1 if spec.nodes <= 10 else 3)
    pool_weights = [w for _, _, w in _POOLS]
    nodes = []
    for index in range(spec.nodes):
        control_plane = index < control_planes
        pool, instance_type, _ = ("control-plane", "m6i.xlarge", 0) if control_plane else rng.choices(_POOLS, pool_weights)[0]
        name = f"{ctx.dns_name}-{pool}-{ctx.suffix(index)}"
        # One NotReady and one cordoned worker once the cluster is big enough to have them.
        nodes.append(
            NodePlan(
                index=index,
                name=name,
                uid=ctx.uid("nodes", "", name),
                control_plane=control_plane,
                zone=f"eu-west-1{_ZONES[index % 3]}",
                pool=pool,
                instance_type=instance_type,
                ip=f"10.0.{(index + 10) // 256}.{(index + 10) % 256}",
                pod_cidr_prefix=f"10.{64 + index // 256}.{index % 256}.",
                ready=not (spec.nodes >= 10 and index == spec.nodes - 2),
                unschedulable=spec.nodes >= 20 and index == spec.nodes - 1,
                created=60 if control_plane else 600 + index * 7,
            )
        )
    return nodes


def _plan_namespaces(ctx: Context, spec: SizeSpec) -> list[NamespacePlan]:
    system = list(SYSTEM_NAMESPACES) + ["ingress-nginx"] + (["monitoring"] if spec.nodes >= 3 else [])
    names = [(n, False) for n in system]
    for i in range(spec.app_namespaces):
        word = NAMESPACE_WORDS[i % len(NAMESPACE_WORDS)]
        names.append((word if i < len(NAMESPACE_WORDS) else f"{word}-{i // len(NAMESPACE_WORDS) + 1}", True))
    return [
        NamespacePlan(name, ctx.uid("namespaces", "", name), 0 if not is_app else 3_600 + i * 5, is_app)
        for i, (name, is_app) in enumerate(names)
    ]


def _system_deployment(plan: ClusterPlan, namespace: str, profile_key: str, replicas: int, name: str | None = None) -> Workload:
    profile = PROFILES[profile_key]
    workload = _workload(plan, namespace, name or profile_key, profile, replicas, created=120, tag="", revision=1)
    plan.workloads.append(workload)
    return workload


def _plan_system_workloads(plan: ClusterPlan, rng: random.Random) -> None:
    ctx, nodes = plan.ctx, plan.nodes
    for node in nodes:
        if node.control_plane:
            for component in STATIC_PROFILES:
                plan.add_pods(
                    PodGroup("kube-system", component, STATIC_PROFILES[component], "Node", node.name, node.uid, 1, node.created,
                             "", "", None, node_indexes=(node.index,)),
                    scheduled_round_robin=False,
                )
    all_nodes = tuple(n.index for n in nodes)
    daemonsets = [("kube-system", "kube-proxy")] + ([("monitoring", "node-exporter")] if plan.spec.nodes >= 3 else [])
    for namespace, key in daemonsets:
        workload = _workload(plan, namespace, key, PROFILES[key], len(nodes), created=300, tag="", revision=1)
        workload.pods = plan.add_pods(
            PodGroup(namespace, key, workload.profile, "DaemonSet", key, workload.uid, len(nodes), 300, "",
                     ctx.suffix(hash_of(key), 10), key, node_indexes=all_nodes),
            scheduled_round_robin=False,
        )
        plan.workloads.append(workload)
    _system_deployment(plan, "kube-system", "coredns", max(2, plan.spec.nodes // 128))
    _system_deployment(plan, "kube-system", "metrics-server", 1)
    _system_deployment(plan, "ingress-nginx", "ingress-nginx", max(1, plan.spec.nodes // 200), "ingress-nginx-controller")
    if plan.spec.nodes >= 3:
        _system_deployment(plan, "monitoring", "kube-state-metrics", 1)
        _system_deployment(plan, "monitoring", "prometheus", 2 if plan.spec.nodes >= 10 else 1)


def hash_of(text: str) -> int:
    """A stable small integer for a string (Python's hash() is salted per process)."""
    return zlib.crc32(text.encode()) % 1_000_003


def _workload(plan: ClusterPlan, namespace: str, name: str, profile: Profile, replicas: int, created: int, tag: str, revision: int,
              crash_rate: float = 0.0, pending_rate: float = 0.0, rng: random.Random | None = None) -> Workload:
    """A Deployment, StatefulSet or CronJob with its replica sets / jobs and their pod groups."""
    ctx = plan.ctx
    resource = {"Deployment": "deployments", "StatefulSet": "statefulsets", "DaemonSet": "daemonsets", "CronJob": "cronjobs", "Pod": "pods"}
    uid = ctx.uid(resource[profile.controller], namespace, name)
    workload = Workload(namespace, name, profile, uid, replicas, created, tag)
    sa = name if profile.controller != "Pod" else "default"
    if profile.controller == "Deployment":
        # Old revisions stay as ReplicaSets scaled to zero (revisionHistoryLimit).
        for rev in range(max(1, revision - 2), revision + 1):
            rs_hash = ctx.suffix(hash_of(f"{namespace}/{name}") * 16 + rev, 10)
            rs_name = f"{name}-{rs_hash}"
            current = rev == revision
            workload.replica_sets.append(
                ReplicaSetPlan(rs_name, ctx.uid("replicasets", namespace, rs_name), rs_hash, replicas if current else 0, rev,
                               tag if current else _older_tag(tag, revision - rev), created + (rev - 1) * 86_400)
            )
        current = workload.replica_sets[-1]
        pending, crashing = _failures(replicas, pending_rate, crash_rate, rng)
        workload.pods = plan.add_pods(PodGroup(namespace, name, profile, "ReplicaSet", current.name, current.uid, replicas,
                                               current.created + 30, tag, current.template_hash, sa,
                                               pending=pending, crashing=crashing))
    elif profile.controller == "StatefulSet":
        pending, crashing = _failures(replicas, pending_rate, crash_rate, rng)
        workload.pods = plan.add_pods(PodGroup(namespace, name, profile, "StatefulSet", name, uid, replicas, created + 30, tag,
                                               f"{name}-{ctx.suffix(hash_of(name) + revision, 10)}", sa,
                                               pending=pending, crashing=crashing))
    elif profile.controller == "CronJob":
        for run in range(replicas):
            job_created = plan.ctx.now_offset - (replicas - run) * 86_400
            job_name = f"{name}-{(ctx.born + job_created) // 60}"  # the CronJob controller's naming
            job_uid = ctx.uid("jobs", namespace, job_name)
            group = plan.add_pods(PodGroup(namespace, name, profile, "Job", job_name, job_uid, 1, job_created, tag, "", sa, completed=True))
            workload.jobs.append(JobPlan(job_name, job_uid, job_created, group))
    elif profile.controller == "Pod":
        workload.pods = plan.add_pods(PodGroup(namespace, name, profile, None, name, uid, 1, created, tag, "", sa))
    return workload


def _failures(replicas: int, pending_rate: float, crash_rate: float, rng: random.Random | None) -> tuple[frozenset, frozenset]:
    if rng is None or not (pending_rate or crash_rate):
        return frozenset(), frozenset()
    pending, crashing = set(), set()
    for i in range(replicas):
        draw = rng.random()
        if draw < pending_rate:
            pending.add(i)
        elif draw < pending_rate + crash_rate:
            crashing.add(i)
    return frozenset(pending), frozenset(crashing)


def _older_tag(tag: str, steps_back: int) -> str:
    major, minor, patch = (int(p) for p in tag.lstrip("v").split("."))
    return f"v{major}.{max(0, minor - steps_back)}.{patch}"


def _plan_app_workloads(plan: ClusterPlan, rng: random.Random) -> None:
    namespaces = plan.app_namespaces
    keys = [k for k, _ in APP_PROFILE_WEIGHTS]
    weights = [w for _, w in APP_PROFILE_WEIGHTS]
    budget = max(0, plan.spec.pods - plan.pod_total)
    showcase = namespaces[0].name
    # The first app namespace always holds one of everything tests look for: a pending pod,
    # a crash-looping pod, a StatefulSet with volumes, a CronJob's jobs, a standalone pod.
    web = _app(plan, showcase, "storefront-web", "web", 2, rng, revision=3)
    web.pods.pending = frozenset({1})
    web.binary_config = True
    web.hpa = True
    api = _app(plan, showcase, "payments-api", "api", 2, rng, revision=2)
    api.pods.crashing = frozenset({0})
    api.pdb = True
    _app(plan, showcase, "ledger-db", "postgres", 1, rng)
    _app(plan, showcase, "nightly-report", "report", 3 if budget >= 20 else 1, rng)
    _app(plan, showcase, "toolbox", "toolbox", 1, rng)

    remaining = max(0, plan.spec.pods - plan.pod_total)
    per_namespace = [remaining // len(namespaces) + (1 if i < remaining % len(namespaces) else 0) for i in range(len(namespaces))]
    per_namespace[0] = 0  # the showcase already used its share
    if len(namespaces) > 1:
        per_namespace[1] += remaining - sum(per_namespace)
    for namespace, share in zip(namespaces, per_namespace):
        share = min(share, MAX_PODS_PER_APP_NAMESPACE)
        used_names: set[str] = set()
        while share > 0:
            key = rng.choices(keys, weights)[0]
            profile = PROFILES[key]
            if profile.controller == "StatefulSet":
                replicas = rng.choice((1, 3, 3))
            elif profile.controller == "CronJob":
                replicas = 3
            else:
                replicas = rng.choice((1, 2, 2, 3, 3, 3, 4, 5, 6, 8, 10, 12))
            replicas = min(replicas, share)
            name = _unique_name(rng, key, used_names)
            workload = _app(plan, namespace.name, name, key, replicas, rng, revision=rng.randint(1, 5),
                            pending_rate=0.006, crash_rate=0.015)
            workload.hpa = key in ("web", "api", "frontend") and replicas >= 2 and rng.random() < 0.15
            workload.pdb = profile.controller != "CronJob" and replicas >= 2 and rng.random() < 0.3
            share -= replicas
        if namespace.name != showcase and rng.random() < 0.1:
            _app(plan, namespace.name, "toolbox", "toolbox", 1, rng)


def _unique_name(rng: random.Random, key: str, used: set[str]) -> str:
    base = f"{rng.choice(APP_WORDS)}-{ {'web': 'web', 'api': 'api', 'worker': 'worker', 'frontend': 'ui', 'postgres': 'db', 'redis': 'cache', 'report': 'report'}[key]}"
    name, n = base, 1
    while name in used:
        n += 1
        name = f"{base}-{n}"
    used.add(name)
    return name


def _app(plan: ClusterPlan, namespace: str, name: str, key: str, replicas: int, rng: random.Random, revision: int = 1,
         pending_rate: float = 0.0, crash_rate: float = 0.0) -> Workload:
    tag = f"v{rng.randint(1, 3)}.{rng.randint(revision, 20)}.{rng.randint(0, 9)}"
    created = 36_000 + rng.randrange(0, plan.ctx.now_offset // 2)
    workload = _workload(plan, namespace, name, PROFILES[key], replicas, created, tag, revision, crash_rate, pending_rate, rng)
    plan.workloads.append(workload)
    return workload


class _ServicePlanner:
    """Allocates cluster IPs and decides which workloads are exposed, and how."""

    def __init__(self, plan: ClusterPlan) -> None:
        self.plan = plan

    def _add(self, workload: Workload | None, namespace: str, name: str, type_: str, ports, selector, headless=False,
             external_name=None, ingress=False) -> ServicePlan:
        plan = self.plan
        index = len(plan.services)
        cluster_ip = "None" if headless else ("10.96.0.1" if name == "kubernetes" else "10.96.0.10" if name == "kube-dns" else
                                             f"10.{96 + (index + 16) // 65536}.{(index + 16) // 256 % 256}.{(index + 16) % 256}")
        service = ServicePlan(namespace, name, plan.ctx.uid("services", namespace, name), type_, cluster_ip, tuple(ports),
                              selector, workload.created if workload else 30,
                              (workload.pods,) if workload and workload.pods and selector else (), external_name, ingress)
        plan.services.append(service)
        if workload is not None:
            workload.services.append(service)
        return service

    def plan_default_services(self) -> None:
        self._add(None, "default", "kubernetes", "ClusterIP", [("https", 443, 6443, "TCP")], None)

    def _expose(self, workload: Workload, type_: str, name: str | None = None, headless: bool = False, ingress: bool = False) -> None:
        profile = workload.profile
        container = profile.containers[0]
        if profile.key == "coredns":
            ports = [("dns", 53, 53, "UDP"), ("dns-tcp", 53, 53, "TCP"), ("metrics", 9153, 9153, "TCP")]
        elif profile.key == "ingress-nginx":
            ports = [("http", 80, 80, "TCP"), ("https", 443, 443, "TCP")]
        else:
            ports = [(container.ports[0][0], profile.service_port, container.ports[0][1], "TCP")]
        self._add(workload, workload.namespace, name or workload.name, type_, ports, {"app.kubernetes.io/name": workload.name},
                  headless=headless, ingress=ingress)

    def plan_app_services(self, rng: random.Random) -> None:
        plan = self.plan
        exposed: set[str] = set()
        for workload in plan.workloads:
            if workload.profile.service_port is None:
                continue
            key = workload.profile.key
            if key == "coredns":
                self._expose(workload, "ClusterIP", "kube-dns")
            elif key == "ingress-nginx":
                self._expose(workload, "LoadBalancer")
                self._add(workload, workload.namespace, "ingress-nginx-controller-admission", "ClusterIP",
                          [("https-webhook", 443, 8443, "TCP")], {"app.kubernetes.io/name": workload.name})
            elif workload.kind in ("StatefulSet", "DaemonSet") or workload.namespace in SYSTEM_NAMESPACES + ("monitoring",):
                self._expose(workload, "ClusterIP", headless=workload.kind == "StatefulSet")
            else:
                continue
            exposed.add(workload.uid)
        showcase = plan.app_namespaces[0].name
        for workload in plan.workloads:
            if workload.namespace == showcase and workload.kind == "Deployment" and workload.uid not in exposed:
                self._expose(workload, "NodePort" if workload.profile.key == "api" else "ClusterIP", ingress=workload.profile.key == "web")
                exposed.add(workload.uid)
        self._add(None, showcase, "legacy-billing", "ExternalName", [("https", 443, 443, "TCP")], None,
                  external_name="billing.legacy.example.com")
        candidates = [w for w in plan.workloads if w.kind == "Deployment" and w.profile.service_port and w.uid not in exposed]
        wanted = max(0, plan.spec.services - len(plan.services))
        chosen = sorted(rng.sample(range(len(candidates)), min(wanted, len(candidates))))
        for workload in (candidates[i] for i in chosen):
            draw = rng.random()
            type_ = "NodePort" if draw < 0.06 else "LoadBalancer" if draw < 0.09 else "ClusterIP"
            self._expose(workload, type_, ingress=workload.profile.key in ("web", "frontend") and rng.random() < 0.4)
