"""Dagster resources: the Kubernetes contexts and the PostgreSQL database.

Neither resource's config holds a secret: kubeconfig credentials stay in the kubeconfig
files (read per run by the kubernetes client), and a database URL with a password is
passed as ``dg.EnvVar`` so the UI shows the variable's name, never its value.
"""


import functools
import os
from contextlib import AbstractContextManager
from pathlib import Path

import dagster as dg
import psycopg
from kubernetes import client as k8s_client
from psycopg_pool import ConnectionPool
from pydantic import PrivateAttr

from k8s_assets.kube.config import ConfigError, KubeContext, contexts_in
from k8s_assets.store import database, migrations


@functools.lru_cache(maxsize=64)
def _cached_api_client(kubeconfig: tuple[Path, ...], context_name: str) -> k8s_client.ApiClient:
    """One client per context per process: its connection pool (and TLS sessions) serve every
    kind of a sync. Expiring credentials are refreshed by the client's own hook."""
    from k8s_assets.kube.listing import api_client

    return api_client(kubeconfig, context_name)


class KubernetesResource(dg.ConfigurableResource):
    """Reaches the clusters of a kubeconfig, one API client per context."""

    kubeconfig: str = ""  # colon-separated like KUBECONFIG; empty means ~/.kube/config
    page_size: int = 500
    request_timeout: float = 60.0

    @property
    def kubeconfig_paths(self) -> tuple[Path, ...]:
        value = self.kubeconfig or "~/.kube/config"
        return tuple(Path(p).expanduser() for p in value.split(os.pathsep) if p)

    def context(self, name: str) -> KubeContext:
        for ctx in contexts_in(self.kubeconfig_paths):
            if ctx.name == name:
                return ctx
        raise ConfigError("KUBECONFIG", f"no context named {name!r} in {self.kubeconfig or '~/.kube/config'}")

    def api_client(self, context_name: str) -> k8s_client.ApiClient:
        return _cached_api_client(self.kubeconfig_paths, context_name)


class PostgresResource(dg.ConfigurableResource):
    """The inventory database; with no URL, the embedded PostgreSQL under ``home``."""

    url: str | None = None
    home: str = ".k8s-assets"

    def resolved_url(self) -> str:
        # A URL from the K8S_ASSETS_CONFIG file is read here, at run time, so it never
        # becomes part of the resource config the UI displays.
        from k8s_assets.kube.config import load_settings

        url = self.url or load_settings().database_url
        url = url or database.embedded_database_url(str(Path(self.home).expanduser().resolve()))
        migrations.ensure_migrated(url)
        return url

    # The run's connection pool: opened when a run starts using this resource and closed when
    # it ends (Dagster's resource lifecycle), never left open in the process after the run.
    _pool: ConnectionPool | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._pool = database.open_pool(self.resolved_url())

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def connect(self) -> AbstractContextManager[psycopg.Connection]:
        """``with postgres.connect() as conn``: committed on a clean exit, rolled back on error.

        Inside a run the connection comes from the run's pool; outside one (a script or a test
        calling the store directly) it is a connection of its own, closed on exit.
        """
        if self._pool is None:
            return database.connect(self.resolved_url())
        return self._pool.connection()
