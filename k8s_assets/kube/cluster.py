"""Cluster identity: one stable ``cluster_uid`` per cluster, whatever context reaches it.

``cluster_uid`` is UUID5 of the kube-system namespace UID (OpenTelemetry's
``k8s.cluster.uid`` is that UID itself; hashing it into our own namespace keeps the key
ours while staying stable). Two contexts that reach one cluster share a row; two local
clusters behind the same ``https://127.0.0.1:6443`` do not collide. Where kube-system
cannot be read, the normalised API server URL is hashed instead, and the row says so.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pandas as pd
from kubernetes import client as k8s_client

from k8s_assets.kube.config import KubeContext
from k8s_assets.kube.listing import ListingError, get_json, status_message

log = logging.getLogger(__name__)

# Fixed namespace for our UUID5s; changing it would change every cluster_uid.
CLUSTER_UID_NAMESPACE = uuid.UUID("6f1d3c2e-9a57-5b0e-8c34-1b7e0d8a4f21")

CLUSTER_COLUMNS = (
    "cluster_uid", "context_name", "cluster_name", "server", "kubernetes_version",
    "kube_system_uid", "identity_source", "last_synced_at",
)


class ClusterUnreachable(ListingError):
    """The API server did not answer or refused our credentials."""


@dataclass(frozen=True)
class ClusterIdentity:
    cluster_uid: str
    kube_system_uid: str | None
    source: str  # "kube-system" or "server-url"


def normalise_server_url(server: str) -> str:
    parts = urlsplit(server.strip())
    scheme = (parts.scheme or "https").lower()
    host = (parts.hostname or "").lower()
    default_port = {"https": 443, "http": 80}.get(scheme)
    port = f":{parts.port}" if parts.port and parts.port != default_port else ""
    path = parts.path.rstrip("/")
    return f"{scheme}://{host}{port}{path}"


def read_path(value, *keys: str):
    """The value at a path of keys of a JSON answer, or None where a step is missing or not an object."""
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def is_uuid(value) -> bool:
    try:
        uuid.UUID(value)
    except (TypeError, ValueError, AttributeError):
        return False
    return True


def identity_from(kube_system_uid: str | None, server: str) -> ClusterIdentity:
    if kube_system_uid:
        return ClusterIdentity(str(uuid.uuid5(CLUSTER_UID_NAMESPACE, kube_system_uid)), kube_system_uid, "kube-system")
    return ClusterIdentity(str(uuid.uuid5(CLUSTER_UID_NAMESPACE, normalise_server_url(server))), None, "server-url")


def describe_cluster(api: k8s_client.ApiClient, context: KubeContext, timeout: float) -> pd.DataFrame:
    """One row for k8s_clusters: identity, version and where it was reached from."""
    try:
        status, version, body = get_json(api, "/version", timeout=timeout)
    except ListingError as e:
        raise ClusterUnreachable(f"context {context.name!r}: the API server at {context.server} did not answer: "
                                 f"{e}") from e
    if version is None:
        message, _ = status_message(status, body)
        raise ClusterUnreachable(f"context {context.name!r}: GET /version answered HTTP {status}: {message}",
                                 status=status, transient=status >= 500)
    status, namespace, body = get_json(api, "/api/v1/namespaces/kube-system", timeout=timeout)
    if status == 401:
        raise ClusterUnreachable(f"context {context.name!r}: the API server refused the credentials (401)",
                                 status=401, transient=False)
    if status >= 500 or status == 429:
        message, _ = status_message(status, body)
        raise ClusterUnreachable(f"context {context.name!r}: reading kube-system failed with HTTP {status}: "
                                 f"{message}", status=status)
    # 403/404: kube-system cannot be read; fall back to the server URL, recorded as such. So does a
    # kube-system whose uid is not a UUID (k8s_clusters.kube_system_uid holds one), and the row says so.
    kube_system_uid = read_path(namespace, "metadata", "uid")
    if kube_system_uid is not None and not is_uuid(kube_system_uid):
        log.warning("context %r: kube-system's metadata.uid is not a UUID; the cluster is identified by its "
                    "API server URL", context.name)
        kube_system_uid = None
    identity = identity_from(kube_system_uid, context.server)
    git_version = read_path(version, "gitVersion")
    row = {
        "cluster_uid": identity.cluster_uid,
        "context_name": context.name,
        "cluster_name": context.cluster_name,
        "server": context.server,
        "kubernetes_version": git_version if isinstance(git_version, str) else None,
        "kube_system_uid": identity.kube_system_uid,
        "identity_source": identity.source,
        "last_synced_at": datetime.now(UTC),
    }
    return pd.DataFrame([row], columns=list(CLUSTER_COLUMNS), dtype=object)
