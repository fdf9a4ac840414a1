"""Credentials of a context: kubeconfig users (tokens, exec plugins) and the pod's own service account.

What the kubernetes client already does, and we rely on:

- ``load_kube_config_from_dict`` runs a kubeconfig ``exec`` plugin (``ExecProvider``: EKS
  ``aws eks get-token``, GKE ``gke-gcloud-auth-plugin``, AKS ``kubelogin``) and keeps its
  ``expirationTimestamp``. It installs ``Configuration.refresh_api_key_hook``, which the client
  calls before every request: once the token is within 5 minutes of its expiry
  (``EXPIRY_SKEW_PREVENTION_DELAY``) the plugin runs again. A plugin whose tokens live less
  than 5 minutes therefore runs before every request; one that gives no
  ``expirationTimestamp`` never runs again.
- ``InClusterConfigLoader`` reads the service account token file, and its hook re-reads the
  file once a minute (``_token_refresh_period``), so a bound token that the kubelet rotates
  (at 80% of its lifetime, one hour by default) is picked up without a restart.

What we add: a way to reload a context's credentials on demand. The client refreshes only on
its own clock; a token can be refused before that clock says so (a plugin that gives no
expiry, clock skew, a token revoked or rotated early). ``extraction.get_json`` then reloads
once (``force_refresh``) and repeats the request; a 401 with freshly loaded credentials is a
configuration error and fails at once. Tokens are never logged and never put in metadata:
messages name the context, never what it authenticates with.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes.config import incluster_config

# The context of the cluster a pod runs in, next to the kubeconfig's contexts.
IN_CLUSTER = "in-cluster"

# Where load_incluster_config reads them; module attributes so a test can point elsewhere.
SERVICE_TOKEN_FILENAME = incluster_config.SERVICE_TOKEN_FILENAME
SERVICE_CERT_FILENAME = incluster_config.SERVICE_CERT_FILENAME

Reload = Callable[[k8s_client.Configuration], None]
_reloads: weakref.WeakKeyDictionary[k8s_client.Configuration, Reload] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class InCluster:
    """The service account of the pod we run in, as load_incluster_config would find it."""

    server: str
    token_file: str
    ca_file: str


def in_cluster(environ: Mapping[str, str] | None = None) -> InCluster | None:
    """The pod's cluster, or None when not running in a pod (the same tests as load_incluster_config)."""
    environ = os.environ if environ is None else environ
    host = environ.get(incluster_config.SERVICE_HOST_ENV_NAME)
    port = environ.get(incluster_config.SERVICE_PORT_ENV_NAME)
    if not host or not port:
        return None
    if not (os.path.isfile(SERVICE_TOKEN_FILENAME) and os.path.isfile(SERVICE_CERT_FILENAME)):
        return None
    return InCluster(f"https://{incluster_config._join_host_port(host, port)}", SERVICE_TOKEN_FILENAME,
                     SERVICE_CERT_FILENAME)


def load_in_cluster(configuration: k8s_client.Configuration, environ: Mapping[str, str] | None = None) -> None:
    """Configure for the pod's cluster; the client's own hook re-reads a rotated token file."""
    loader = incluster_config.InClusterConfigLoader(
        token_filename=SERVICE_TOKEN_FILENAME, cert_filename=SERVICE_CERT_FILENAME,
        environ=os.environ if environ is None else environ)
    loader.load_and_set(configuration)

    def reload(config: k8s_client.Configuration) -> None:
        loader._read_token_file()  # the hook would, a minute later; a 401 cannot wait for it
        loader._set_config(config)

    _reloads[configuration] = reload


def load_kubeconfig_context(configuration: k8s_client.Configuration, read_kubeconfig: Callable[[], dict],
                            context: str) -> None:
    """Configure from one kubeconfig context; a reload reads the files again (a token rewritten
    there counts) and runs its exec plugin again.

    ``persist_config=False`` keeps refreshed tokens out of the user's files.
    """

    def load(config: k8s_client.Configuration) -> None:
        k8s_config.load_kube_config_from_dict(read_kubeconfig(), context=context, client_configuration=config,
                                              persist_config=False)

    load(configuration)
    _reloads[configuration] = load


def force_refresh(configuration: k8s_client.Configuration) -> bool:
    """Reload the credentials now (run the exec plugin, re-read the token file); False if unknown how.

    Errors of the reload itself (a plugin that fails) surface as ConfigException.
    """
    reload = _reloads.get(configuration)
    if reload is None:
        return False
    reload(configuration)
    return True
