"""What runs in a simulated cluster: container images and the workload profiles built from them.

A profile is the shape of one kind of workload (an nginx web tier, an API with a sidecar
and a migration init container, a Postgres StatefulSet, a node agent...). Profiles are
immutable and shared by every workload of that kind; per-workload values (names, image
tags, replica counts) are decided by the planner.
"""

from __future__ import annotations

from dataclasses import dataclass

KUBERNETES_VERSION = "v1.30.2"


@dataclass(frozen=True)
class Container:
    name: str
    image: str  # "{app}" and "{tag}" are filled in per workload
    ports: tuple[tuple[str, int, str], ...] = ()  # (name, port, protocol)
    env: tuple[tuple[str, str], ...] = ()
    requests: tuple[tuple[str, str], ...] = ()
    limits: tuple[tuple[str, str], ...] = ()
    probe_port: int | None = None  # HTTP probes on this port, None: no probes
    probe_path: str = "/healthz"
    liveness: bool = True  # False: readiness probe only
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    mounts: tuple[tuple[str, str], ...] = ()  # (volume name, mount path)
    privileged: bool = False


@dataclass(frozen=True)
class Profile:
    key: str
    controller: str  # Deployment, StatefulSet, DaemonSet, CronJob, Pod (standalone), Static
    containers: tuple[Container, ...]
    init_containers: tuple[Container, ...] = ()
    service_port: int | None = None  # None: nothing to expose
    host_network: bool = False
    config_volume: bool = False  # mounts the workload's own ConfigMap
    uses_secret: bool = False  # env from the workload's own Secret
    claim_template: str | None = None  # StatefulSet volumeClaimTemplate name
    priority_class: str | None = None
    component: str = "app"

    @property
    def qos_class(self) -> str:
        """The QoS class Kubernetes derives from the containers' resources."""
        everything = self.containers + self.init_containers
        if not any(c.requests or c.limits for c in everything):
            return "BestEffort"
        guaranteed = all(
            dict(c.limits).get(r) and dict(c.requests or c.limits).get(r) == dict(c.limits).get(r)
            for c in everything
            for r in ("cpu", "memory")
        )
        return "Guaranteed" if guaranteed else "Burstable"


def _res(cpu: str | None, memory: str | None) -> tuple[tuple[str, str], ...]:
    return tuple((k, v) for k, v in (("cpu", cpu), ("memory", memory)) if v)


_APP_ENV = (("LOG_LEVEL", "info"), ("OTEL_SERVICE_NAME", "{app}"), ("FEATURE_FLAGS", 'beta,"quoted",path=C:\\tmp'))

PROFILES: dict[str, Profile] = {
    # -- system --------------------------------------------------------------------------
    "coredns": Profile(
        "coredns", "Deployment",
        (Container(
            "coredns", "registry.k8s.io/coredns/coredns:v1.11.1",
            ports=(("dns", 53, "UDP"), ("dns-tcp", 53, "TCP"), ("metrics", 9153, "TCP")),
            requests=_res("100m", "70Mi"), limits=_res(None, "170Mi"),
            probe_port=8181, probe_path="/ready", args=("-conf", "/etc/coredns/Corefile"),
            mounts=(("config-volume", "/etc/coredns"),),
        ),),
        service_port=53, priority_class="system-cluster-critical", component="dns",
    ),
    "metrics-server": Profile(
        "metrics-server", "Deployment",
        (Container(
            "metrics-server", "registry.k8s.io/metrics-server/metrics-server:v0.7.1",
            ports=(("https", 10250, "TCP"),), requests=_res("100m", "200Mi"),
            probe_port=10250, probe_path="/readyz",
            args=("--cert-dir=/tmp", "--secure-port=10250", "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname"),
        ),),
        service_port=443, priority_class="system-cluster-critical", component="metrics",
    ),
    "ingress-nginx": Profile(
        "ingress-nginx", "Deployment",
        (Container(
            "controller",
            "registry.k8s.io/ingress-nginx/controller:v1.10.1@sha256:e24f39d3eed6bcc239a56f20098878845f62baa34b9f2be2fd2c38ce9fb0f29e",
            ports=(("http", 80, "TCP"), ("https", 443, "TCP"), ("webhook", 8443, "TCP")),
            env=(("LD_PRELOAD", "/usr/local/lib/libmimalloc.so"),),
            requests=_res("100m", "90Mi"), probe_port=10254,
            args=("/nginx-ingress-controller", "--election-id=ingress-nginx-leader", "--controller-class=k8s.io/ingress-nginx"),
        ),),
        service_port=80, component="controller",
    ),
    "kube-state-metrics": Profile(
        "kube-state-metrics", "Deployment",
        (Container(
            "kube-state-metrics", "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.12.0",
            ports=(("http-metrics", 8080, "TCP"), ("telemetry", 8081, "TCP")),
            requests=_res("10m", "32Mi"), limits=_res("100m", "256Mi"), probe_port=8080, probe_path="/livez",
        ),),
        service_port=8080, component="metrics",
    ),
    "prometheus": Profile(
        "prometheus", "StatefulSet",
        (
            Container(
                "prometheus", "quay.io/prometheus/prometheus:v2.52.0",
                ports=(("web", 9090, "TCP"),), requests=_res("500m", "2Gi"), limits=_res("2", "4Gi"),
                probe_port=9090, probe_path="/-/ready",
                args=("--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.retention.time=15d"),
                mounts=(("data", "/prometheus"),),
            ),
            Container(
                "config-reloader", "quay.io/prometheus-operator/prometheus-config-reloader:v0.74.0",
                requests=_res("10m", "25Mi"), limits=_res("50m", "50Mi"),
            ),
        ),
        service_port=9090, claim_template="data", component="monitoring",
    ),
    "kube-proxy": Profile(
        "kube-proxy", "DaemonSet",
        (Container(
            "kube-proxy", f"registry.k8s.io/kube-proxy:{KUBERNETES_VERSION}",
            command=("/usr/local/bin/kube-proxy", "--config=/var/lib/kube-proxy/config.conf", "--hostname-override=$(NODE_NAME)"),
            mounts=(("kube-proxy", "/var/lib/kube-proxy"), ("xtables-lock", "/run/xtables.lock"), ("lib-modules", "/lib/modules")),
            privileged=True,
        ),),
        host_network=True, priority_class="system-node-critical", component="proxy",
    ),
    "node-exporter": Profile(
        "node-exporter", "DaemonSet",
        (Container(
            "node-exporter", "quay.io/prometheus/node-exporter:v1.8.1",
            ports=(("metrics", 9100, "TCP"),), requests=_res("50m", "64Mi"), limits=_res("250m", "180Mi"),
            probe_port=9100, probe_path="/",
            args=("--path.procfs=/host/proc", "--path.sysfs=/host/sys", "--web.listen-address=[$(HOST_IP)]:9100"),
            mounts=(("proc", "/host/proc"), ("sys", "/host/sys")),
        ),),
        service_port=9100, host_network=True, priority_class="system-node-critical", component="metrics",
    ),
    # -- applications ----------------------------------------------------------------------
    "web": Profile(
        "web", "Deployment",
        (Container(
            "nginx", "docker.io/library/nginx:1.27",
            ports=(("http", 80, "TCP"),),
            requests=_res("50m", "64Mi"), limits=_res("200m", "128Mi"), probe_port=80, probe_path="/", liveness=False,
            mounts=(("config", "/etc/nginx/conf.d"),),
        ),),
        service_port=80, config_volume=True, component="frontend",
    ),
    "api": Profile(
        "api", "Deployment",
        (
            Container(
                "api", "ghcr.io/acme/{app}:{tag}",
                ports=(("http", 8080, "TCP"),), env=_APP_ENV[::2],
                requests=_res("250m", "256Mi"), limits=_res("250m", "256Mi"), probe_port=8080,
                mounts=(("config", "/etc/app"),),
            ),
            Container(
                "envoy", "docker.io/envoyproxy/envoy:v1.30.1", args=("--log-level", "warn"),
                requests=_res("100m", "64Mi"), limits=_res("100m", "64Mi"),
            ),
        ),
        service_port=8080, config_volume=True, uses_secret=True, component="backend",
    ),
    "worker": Profile(
        "worker", "Deployment",
        (Container(
            "worker", "registry.local:5000/team/{app}:{tag}", env=_APP_ENV[:2],
            command=("/usr/local/bin/worker",), args=("--queue", "{app}", "--concurrency=8"),
        ),),
        uses_secret=True, component="worker",
    ),
    "frontend": Profile(
        "frontend", "Deployment",
        (Container(
            "storefront", "ghcr.io/acme/storefront@sha256:6b3c7d4f2a9e8b1c0d5f7a3e9c2b8d4f1a6e0c3b7d9f2a5e8c1b4d7f0a3e6c9b",
            ports=(("http", 3000, "TCP"),), requests=_res("100m", "128Mi"), probe_port=3000, liveness=False,
        ),),
        init_containers=(Container("wait-for-api", "docker.io/library/busybox:1.36", command=("sh", "-c", "until nc -z api 8080; do sleep 2; done")),),
        service_port=3000, component="frontend",
    ),
    "postgres": Profile(
        "postgres", "StatefulSet",
        (Container(
            "postgres", "docker.io/library/postgres:16.3",
            ports=(("postgresql", 5432, "TCP"),), env=(("PGDATA", "/var/lib/postgresql/data/pgdata"), ("POSTGRES_DB", "{app}")),
            requests=_res("500m", "1Gi"), limits=_res("500m", "1Gi"), mounts=(("data", "/var/lib/postgresql/data"),),
        ),),
        init_containers=(Container(
            "init-permissions", "docker.io/library/busybox:1.36", command=("sh", "-c", "chown -R 999:999 /var/lib/postgresql/data"),
            requests=_res("10m", "16Mi"), limits=_res("10m", "16Mi"), mounts=(("data", "/var/lib/postgresql/data"),),
        ),),
        service_port=5432, uses_secret=True, claim_template="data", component="database",
    ),
    "redis": Profile(
        "redis", "StatefulSet",
        (Container(
            "redis", "docker.io/library/redis:7.2.4-alpine", ports=(("redis", 6379, "TCP"),),
            args=("--appendonly", "yes"), requests=_res("100m", "128Mi"), limits=_res(None, "512Mi"),
            mounts=(("data", "/data"),),
        ),),
        service_port=6379, claim_template="data", component="cache",
    ),
    "report": Profile(
        "report", "CronJob",
        (Container("report", "registry.local:5000/ops/{app}:{tag}", env=_APP_ENV[:2], command=("/bin/report", "--since=24h")),),
        component="batch",
    ),
    "toolbox": Profile(
        "toolbox", "Pod",
        (Container("toolbox", "docker.io/library/busybox:1.36", command=("sleep", "infinity")),),
        component="debug",
    ),
}

# Control-plane static pods, one of each per control-plane node (kubeadm layout).
STATIC_PROFILES: dict[str, Profile] = {
    name: Profile(
        name, "Static",
        (Container(name, image, command=command, requests=_res(cpu, None), probe_port=port, mounts=(("k8s-certs", "/etc/kubernetes/pki"),)),),
        host_network=True, priority_class="system-node-critical", component=name,
    )
    for name, image, cpu, port, command in (
        ("etcd", "registry.k8s.io/etcd:3.5.12-0", "100m", 2381,
         ("etcd", "--data-dir=/var/lib/etcd", "--listen-client-urls=https://127.0.0.1:2379")),
        ("kube-apiserver", f"registry.k8s.io/kube-apiserver:{KUBERNETES_VERSION}", "250m", 6443,
         ("kube-apiserver", "--secure-port=6443", "--service-cluster-ip-range=10.96.0.0/12")),
        ("kube-controller-manager", f"registry.k8s.io/kube-controller-manager:{KUBERNETES_VERSION}", "200m", 10257,
         ("kube-controller-manager", "--leader-elect=true", "--allocate-node-cidrs=true")),
        ("kube-scheduler", f"registry.k8s.io/kube-scheduler:{KUBERNETES_VERSION}", "100m", 10259,
         ("kube-scheduler", "--leader-elect=true", "--kubeconfig=/etc/kubernetes/scheduler.conf")),
    )
}

# Application profiles by how often they appear in app namespaces.
APP_PROFILE_WEIGHTS: tuple[tuple[str, int], ...] = (
    ("web", 10), ("api", 3), ("worker", 8), ("frontend", 4), ("postgres", 2), ("redis", 2), ("report", 2),
)

APP_WORDS = (
    "checkout", "payments", "ledger", "search", "catalog", "orders", "billing", "identity", "notifications",
    "inventory", "pricing", "shipping", "reviews", "recommendations", "analytics", "gateway", "profile",
    "media", "fraud", "loyalty", "cart", "invoices", "reporting", "auth", "audit", "export", "import",
)
NAMESPACE_WORDS = (
    "team-a", "payments", "storefront", "platform", "data", "ml", "growth", "risk", "logistics", "support",
    "marketing", "finance", "search", "identity", "mobile", "partners", "ops", "sandbox", "staging", "edge",
)
