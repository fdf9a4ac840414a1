"""Simulated Kubernetes clusters for tests, demos and benchmarks.

A :class:`Simulator` serves several generated clusters from one process, each on its own
loopback port with its own bearer token, and writes a kubeconfig with one context per
cluster, the way kind or k3d hand you a local cluster::

    with Simulator(clusters=("dev", "prod"), size="tiny") as sim:
        kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig")
        sim["dev"].modify("pods", name, namespace, mutate=...)
        sim["prod"].inject(Fault("forbidden", resource="secrets"))

``k8s-assets simulate --kubeconfig PATH`` runs the same thing from the command line.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Iterator
from os import PathLike
from pathlib import Path

from k8s_assets.simulator.faults import Fault
from k8s_assets.simulator.kubeconfig import KubeconfigEntry, TLSMaterial, write_kubeconfig
from k8s_assets.simulator.server import ServedRequest, SimulatedCluster

__all__ = ["Fault", "ServedRequest", "SimulatedCluster", "Simulator"]

DEFAULT_CLUSTERS = ("dev", "staging", "prod")


class _UnreachableContext:
    """A kubeconfig context whose port is held but never listened on: connections are refused."""

    def __init__(self, name: str) -> None:
        self.name = name
        # A bound socket that never listens keeps the port from being reused while
        # answering every connection attempt with a reset (connection refused).
        self._reserved = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._reserved.bind(("127.0.0.1", 0))
        self.port = self._reserved.getsockname()[1]

    def close(self) -> None:
        self._reserved.close()


class Simulator:
    """Several simulated clusters served from this process (threads), one port each."""

    def __init__(
        self,
        clusters: Iterable[str] = DEFAULT_CLUSTERS,
        size: str | int = "small",
        seed: int = 1,
        tls: bool = True,
        extra_crds: int = 0,
    ) -> None:
        self.size = size
        self.seed = seed
        self.tls = TLSMaterial.generate() if tls else None
        self._server_context = self.tls.server_context() if self.tls else None
        self._client_context = self.tls.client_context() if self.tls else None
        self.clusters: dict[str, SimulatedCluster] = {}
        self._unreachable: dict[str, _UnreachableContext] = {}
        self._started = False
        for name in clusters:
            self._build_cluster(name, size, seed, extra_crds)

    def _build_cluster(self, name: str, size: str | int, seed: int, extra_crds: int) -> SimulatedCluster:
        from k8s_assets.simulator.generator import generate_cluster

        if name in self.clusters or name in self._unreachable:
            raise ValueError(f"a context named {name!r} already exists")
        generated = generate_cluster(name, size=size, seed=seed, extra_crds=extra_crds)
        cluster = SimulatedCluster(generated, self._server_context, self._client_context)
        self.clusters[name] = cluster
        return cluster

    def __getitem__(self, name: str) -> SimulatedCluster:
        return self.clusters[name]

    def __iter__(self) -> Iterator[SimulatedCluster]:
        return iter(self.clusters.values())

    def __enter__(self) -> Simulator:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        """Serve every cluster; returns once each answers ``/version``."""
        self._started = True
        for cluster in self.clusters.values():
            cluster.start()

    def stop(self) -> None:
        self._started = False
        for cluster in self.clusters.values():
            cluster.stop()
        for unreachable in self._unreachable.values():
            unreachable.close()
        self._unreachable.clear()

    def add_cluster(
        self, name: str, size: str | int = "tiny", seed: int | None = None, extra_crds: int = 0
    ) -> SimulatedCluster:
        """A cluster added at runtime; it is served at once if the simulator is running."""
        cluster = self._build_cluster(name, size, self.seed if seed is None else seed, extra_crds)
        if self._started:
            cluster.start()
        return cluster

    def add_unreachable_context(self, name: str) -> str:
        """A kubeconfig context whose server refuses connections; returns its server URL."""
        if name in self.clusters or name in self._unreachable:
            raise ValueError(f"a context named {name!r} already exists")
        self._unreachable[name] = _UnreachableContext(name)
        return self._unreachable_server(self._unreachable[name])

    def _unreachable_server(self, unreachable: _UnreachableContext) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{unreachable.port}"

    def kubeconfig_entries(self) -> list[KubeconfigEntry]:
        ca_pem = self.tls.ca_pem if self.tls else None
        entries = [
            KubeconfigEntry(
                c.context_name, c.kubeconfig_cluster_name, c.kubeconfig_user_name, c.server, c.token, ca_pem
            )
            for c in self.clusters.values()
        ]
        for name, unreachable in self._unreachable.items():
            entries.append(
                KubeconfigEntry(
                    name,
                    f"{name}-apiserver",
                    f"{name}-admin",
                    self._unreachable_server(unreachable),
                    "unreachable-cluster-token",
                    ca_pem,
                )
            )
        return entries

    def write_kubeconfig(self, path: str | PathLike) -> Path:
        """Write a kubeconfig with one context per cluster (the first is current); returns the path."""
        return write_kubeconfig(path, self.kubeconfig_entries())
