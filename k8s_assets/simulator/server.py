"""The HTTP(S) API server of one simulated cluster, and the cluster's Python API.

A :class:`SimulatedCluster` owns an object store, its discovery documents, its faults and
a stdlib ``ThreadingHTTPServer`` (HTTP/1.1 keep-alive) on a loopback port. It answers the
paths real clients use: ``/version``, legacy and aggregated discovery, lists (all
namespaces or one, paginated), watches (``k8s_assets.simulator.watch``) and GETs of single
objects, with the Status error shapes, headers and content negotiation of kube-apiserver.
"""

from __future__ import annotations

import collections
import contextlib
import hmac
import http.client
import secrets
import select
import socket
import socketserver
import ssl
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlsplit

import orjson

from k8s_assets.simulator.churn import CHURN_RECORD_SIZE, Churn, ChurnRecord
from k8s_assets.simulator.faults import Fault, FaultSet
from k8s_assets.simulator.generator import BUILTIN_RESOURCE_TYPES, GeneratedCluster, ResourceType
from k8s_assets.simulator.store import (
    EVENT_LOG_SIZE,
    EXPIRED_LIST_MESSAGE,
    EXPIRED_TOKEN_MESSAGE,
    ClusterStore,
    ContinueToken,
    StatusError,
    bad_request,
    sort_versions,
)
from k8s_assets.simulator.watch import WatchOptions, WatchStream

KUBERNETES_VERSION = {
    "major": "1",
    # The kubectl dispatcher runs the kubectl binary matching this minor version.
    "minor": "30",
    "gitVersion": "v1.30.13",
    "gitCommit": "50af91c466658b6a33d123fae8a487db1630971c",
    "gitTreeState": "clean",
    "buildDate": "2025-05-15T08:06:22Z",
    "goVersion": "go1.23.8",
    "compiler": "gc",
    "platform": "linux/amd64",
}

CRD_KEY = "customresourcedefinitions.apiextensions.k8s.io"
SERVICE_ACCOUNT_USER = "system:serviceaccount:k8s-assets:inventory"
AGGREGATED_DISCOVERY_VERSIONS = ("v2", "v2beta1")
THROTTLE_TEXT = b"Too many requests, please try again later.\n"
REQUEST_LOG_SIZE = 10_000
# An unresponsive fault gives up on its own after this long, so threads cannot pile up forever.
UNRESPONSIVE_LIMIT_SECONDS = 600.0
UNAUTHORIZED = StatusError(401, "Unauthorized", "Unauthorized")
PATH_NOT_FOUND = StatusError(404, "NotFound", "the server could not find the requested resource", {})


class ServedRequest(NamedTuple):
    method: str
    path: str
    query: dict[str, str]
    status: int | None  # None: the server never answered (an unresponsive fault)


class Response(NamedTuple):
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    watch: WatchStream | None = None  # a watch: 200 and a chunked stream instead of ``body``


def status_response(error: StatusError, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    return Response(error.code, orjson.dumps(error.status()), headers=headers)


def _force_close(sock: socket.socket) -> None:
    """Shut a connection down under any thread still using it (plain or TLS alike)."""
    with contextlib.suppress(OSError, ValueError):
        with socket.fromfd(sock.fileno(), socket.AF_INET, socket.SOCK_STREAM) as duplicate:
            duplicate.shutdown(socket.SHUT_RDWR)


# -- discovery ----------------------------------------------------------------------------------


def _names_and_categories(rt: ResourceType) -> dict:
    """shortNames and categories, present only when the type has them, in both discovery formats."""
    extra: dict[str, Any] = {}
    if rt.short_names:
        extra["shortNames"] = list(rt.short_names)
    if rt.categories:
        extra["categories"] = list(rt.categories)
    return extra


class Discovery:
    """Discovery documents, serialized once from the cluster's resource types."""

    def __init__(self, resource_types: list[ResourceType]) -> None:
        self.by_path: dict[tuple[str, str, str], ResourceType] = {}
        versions_by_group: dict[str, list[str]] = {}
        types_by_group_version: dict[tuple[str, str], list[ResourceType]] = {}
        for rt in resource_types:
            self.by_path[(rt.group, rt.version, rt.plural)] = rt
            versions_by_group.setdefault(rt.group, []).append(rt.version)
            types_by_group_version.setdefault((rt.group, rt.version), []).append(rt)
        self.group_versions = {group: sort_versions(versions) for group, versions in versions_by_group.items()}

        self.resource_lists = {
            (group, version): orjson.dumps(
                {
                    "kind": "APIResourceList",
                    "apiVersion": "v1",
                    "groupVersion": f"{group}/{version}" if group else version,
                    "resources": [self._legacy_resource(rt) for rt in types],
                }
            )
            for (group, version), types in types_by_group_version.items()
        }
        named_groups = [group for group in self.group_versions if group]
        self.groups = {group: self._legacy_group(group) for group in named_groups}
        self.group_list = orjson.dumps(
            {"kind": "APIGroupList", "apiVersion": "v1", "groups": [self.groups[group] for group in named_groups]}
        )
        self.group_documents = {
            group: orjson.dumps({"kind": "APIGroup", "apiVersion": "v1", **body}) for group, body in self.groups.items()
        }
        self.aggregated = {
            (prefix, version): orjson.dumps(
                {
                    "kind": "APIGroupDiscoveryList",
                    "apiVersion": f"apidiscovery.k8s.io/{version}",
                    "metadata": {},
                    "items": [self._aggregated_group(group, types_by_group_version) for group in groups],
                }
            )
            for prefix, groups in (("api", [""]), ("apis", named_groups))
            for version in AGGREGATED_DISCOVERY_VERSIONS
        }

    @staticmethod
    def _legacy_resource(rt: ResourceType) -> dict:
        return {
            "name": rt.plural,
            "singularName": rt.singular,
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": list(rt.verbs),
            **_names_and_categories(rt),
        }

    def _legacy_group(self, group: str) -> dict:
        versions = [{"groupVersion": f"{group}/{v}", "version": v} for v in self.group_versions[group]]
        return {"name": group, "versions": versions, "preferredVersion": versions[0]}

    def _aggregated_group(self, group: str, types_by_group_version: dict) -> dict:
        versions = []
        for version in self.group_versions[group]:
            resources = []
            for rt in types_by_group_version[(group, version)]:
                resources.append({
                    "resource": rt.plural,
                    "responseKind": {"group": group, "version": version, "kind": rt.kind},
                    "scope": "Namespaced" if rt.namespaced else "Cluster",
                    "singularResource": rt.singular,
                    "verbs": list(rt.verbs),
                    **_names_and_categories(rt),
                })
            versions.append({"version": version, "resources": resources, "freshness": "Current"})
        return {"metadata": {"name": group}, "versions": versions}


def negotiated_discovery_version(accept: str | None) -> str | None:
    """The aggregated discovery version to answer, or None for legacy discovery.

    Like kube-apiserver, take the first media type in the client's order that the server
    can produce; clients tell the formats apart by the echoed Content-Type.
    """
    for media_range in (accept or "").split(","):
        media_type, *parameters = (part.strip() for part in media_range.split(";"))
        if media_type not in ("application/json", "application/*", "*/*"):
            continue
        params = dict(p.split("=", 1) for p in parameters if "=" in p)
        if params.get("g") == "apidiscovery.k8s.io" and params.get("as") == "APIGroupDiscoveryList":
            if params.get("v") in AGGREGATED_DISCOVERY_VERSIONS:
                return params["v"]
            continue
        if "as" not in params:
            return None
    return None


def aggregated_content_type(version: str) -> str:
    return f"application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList"


# -- HTTP plumbing ---------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Idle keep-alive connections are dropped after this long.
    timeout = 120
    server: _ClusterHTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Requests are recorded in ``SimulatedCluster.requests`` instead of stderr."""

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        cluster = self.server.cluster
        url = urlsplit(self.path)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        if self.command not in ("GET", "HEAD"):
            self.close_connection = True  # the unread request body would corrupt the next request
        response, fault = cluster.answer(self.command, url.path, query, self.headers)
        if fault is not None and fault.kind == "unresponsive":
            cluster.record(ServedRequest(self.command, url.path, query, None))
            self._wait_for_client_to_leave()
            return
        cluster.record(ServedRequest(self.command, url.path, query, response.status))
        if fault is not None and fault.kind == "slow":
            fault.hold()  # after recording it: a test sees the request while its answer is held
        if response.watch is not None:
            self._stream(response, cut=fault is not None and fault.kind == "cut")
            return
        self._send(response, cut=fault is not None and fault.kind == "cut")

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_GET  # answered with 405 by SimulatedCluster.answer

    def _send_headers(self, response: Response) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Audit-Id", str(uuid.uuid4()))
        self.send_header("Cache-Control", "no-cache, private")
        for name, value in self.server.cluster.flow_control_headers:
            self.send_header(name, value)
        for name, value in response.headers:
            self.send_header(name, value)

    def _stream(self, response: Response, cut: bool = False) -> None:
        """A watch: chunked events as they happen, until the watch ends, the client leaves or
        the connection is dropped. Any write error ends it (the client is gone)."""
        stream = response.watch
        assert stream is not None
        self._send_headers(response)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunks = stream.chunks()
        try:
            for chunk in chunks:
                if chunk:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    if cut:  # one chunk, then the connection drops mid-stream
                        break
                elif self._client_gone():
                    break
            else:
                if not stream.dropped:
                    self.wfile.write(b"0\r\n\r\n")
                    return
        except (OSError, ValueError):
            pass
        finally:
            chunks.close()
        self.close_connection = True
        _force_close(self.connection)

    def _client_gone(self) -> bool:
        """Whether the client of a watch left: it sends nothing during a watch, so anything
        readable (end of file, a TLS close_notify) means it closed or gave up."""
        try:
            return _readable(self.connection, 0)
        except (OSError, ValueError):
            return True

    def _send(self, response: Response, cut: bool = False) -> None:
        self._send_headers(response)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if cut:
            # Promise the whole body, send half, and drop the connection mid-stream.
            self.wfile.write(response.body[: len(response.body) // 2])
            self.close_connection = True
            _force_close(self.connection)
        elif self.command != "HEAD":
            self.wfile.write(response.body)

    def _wait_for_client_to_leave(self) -> None:
        self.close_connection = True
        deadline = time.monotonic() + UNRESPONSIVE_LIMIT_SECONDS
        while time.monotonic() < deadline:
            if _readable(self.connection, 0.2):
                try:
                    if not self.connection.recv(1):
                        return
                except (OSError, ssl.SSLError):
                    return


def _readable(connection: socket.socket, timeout: float) -> bool:
    """Whether ``connection`` has something to read (or hung up) within ``timeout`` seconds.
    poll, not select: select refuses descriptors from 1024 on (ValueError), which a simulator
    serving some 1,000 watches reaches; every watch on such a descriptor then looked as if its
    client had left and was dropped at its first idle moment (benchmarks/bench_watch_clusters.py)."""
    poller = select.poll()
    poller.register(connection, select.POLLIN | select.POLLPRI)
    return bool(poller.poll(timeout * 1000))


class _ClusterHTTPServer(ThreadingHTTPServer):
    allow_reuse_address = True

    def __init__(self, port: int, cluster: SimulatedCluster, ssl_context: ssl.SSLContext | None) -> None:
        self.cluster = cluster
        self.ssl_context = ssl_context
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host name (a DNS lookup); loopback needs none.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def finish_request(self, request: socket.socket, client_address: Any) -> None:
        # The TLS handshake runs here, in the connection's own thread, not in the accept loop.
        if self.ssl_context is not None:
            request.settimeout(30)
            try:
                request = self.ssl_context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return
        with self.connections_lock:
            self.connections.add(request)
        try:
            self.RequestHandlerClass(request, client_address, self)
        finally:
            with self.connections_lock:
                self.connections.discard(request)
            if self.ssl_context is not None:
                request.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up mid-request (timeouts, cut faults) are expected, not errors."""

    def drop_connections(self) -> None:
        with self.connections_lock:
            connections = list(self.connections)
        for connection in connections:
            _force_close(connection)

    def open_connections(self) -> int:
        with self.connections_lock:
            return len(self.connections)


# -- the cluster --------------------------------------------------------------------------------


def _storage_versions(resource_types: list[ResourceType], store_crds: list[dict]) -> dict[str, str]:
    """Storage version per resource key: from the CRDs for custom resources, else the preferred one."""
    versions: dict[str, list[str]] = {}
    for rt in resource_types:
        versions.setdefault(rt.key, []).append(rt.version)
    storage = {key: sort_versions(found)[0] for key, found in versions.items()}
    for crd in store_crds:
        spec = crd.get("spec", {})
        key = f"{spec.get('names', {}).get('plural')}.{spec.get('group')}"
        for version in spec.get("versions", ()):
            if version.get("storage") and key in storage:
                storage[key] = version["name"]
    return storage


class SimulatedCluster:
    """One simulated Kubernetes cluster: its objects, its API server and its faults."""

    def __init__(
        self,
        generated: GeneratedCluster,
        tls_server_context: ssl.SSLContext | None = None,
        tls_client_context: ssl.SSLContext | None = None,
        event_log_size: int = EVENT_LOG_SIZE,
    ) -> None:
        self.name = generated.name
        self.context_name = generated.name
        self.kubeconfig_cluster_name = f"{generated.name}-apiserver"
        self.kubeconfig_user_name = f"{generated.name}-admin"
        self.token = secrets.token_urlsafe(32)
        self.kube_system_uid = generated.kube_system_uid
        self.resource_types = list(generated.resource_types)
        self._tls_server_context = tls_server_context
        self._tls_client_context = tls_client_context

        builtin_keys = {rt.key for rt in BUILTIN_RESOURCE_TYPES}
        objects = dict(generated.objects)
        crds = list(objects.pop(CRD_KEY, ()))
        self.store = ClusterStore(
            self.resource_types,
            _storage_versions(self.resource_types, crds),
            custom_keys={rt.key for rt in self.resource_types if rt.key not in builtin_keys},
            seed=generated.seed,
            event_log_size=event_log_size,
        )
        if CRD_KEY in self.store.resources:
            self.store.load(CRD_KEY, crds)
        for key, items in objects.items():
            self.store.load(key, items)
        self.discovery = Discovery(self.resource_types)

        flow_schema_uid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{generated.name}/flowschema/exempt"))
        priority_level_uid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{generated.name}/prioritylevel/exempt"))
        self.flow_control_headers = (
            ("X-Kubernetes-Pf-Flowschema-Uid", flow_schema_uid),
            ("X-Kubernetes-Pf-Prioritylevel-Uid", priority_level_uid),
        )
        self._faults = FaultSet()
        self._requests: collections.deque[ServedRequest] = collections.deque(maxlen=REQUEST_LOG_SIZE)
        self.port: int | None = None
        self._http_server: _ClusterHTTPServer | None = None
        self._serve_thread: threading.Thread | None = None
        # Watches: the WatchList feature gate (streaming lists, sendInitialEvents), how often a
        # watch that allows bookmarks gets one (real servers: about a minute), and a counter
        # every dropped connection bumps so open watches end.
        self.watch_list = True
        self.bookmark_interval = 1.0
        self._drops = 0

    def __repr__(self) -> str:
        return f"SimulatedCluster(name={self.name!r}, server={self.server!r})"

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def server(self) -> str:
        scheme = "https" if self._tls_server_context is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._http_server is not None

    def start(self) -> None:
        """Serve on the cluster's port (a free one the first time) and wait until it answers."""
        if self._http_server is not None:
            return
        self._http_server = _ClusterHTTPServer(self.port or 0, self, self._tls_server_context)
        self.port = self._http_server.server_address[1]
        self._serve_thread = threading.Thread(
            target=self._http_server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"simulator-{self.name}",
            daemon=True,
        )
        self._serve_thread.start()
        self._wait_until_answering()

    def _wait_until_answering(self, timeout: float = 10.0) -> None:
        if self._tls_server_context is not None:
            connection: http.client.HTTPConnection = http.client.HTTPSConnection(
                "127.0.0.1", self.port, timeout=timeout, context=self._tls_client_context
            )
        else:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request("GET", "/version")
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"simulated cluster {self.name} answered /version with {response.status}")
        finally:
            connection.close()

    def stop(self) -> None:
        """Stop answering: new connections are refused and open ones are dropped."""
        http_server, self._http_server = self._http_server, None
        if http_server is None:
            return
        self.clear_faults()  # answers held responses
        http_server.shutdown()
        http_server.server_close()
        self._end_watches()
        http_server.drop_connections()
        if self._serve_thread is not None:
            self._serve_thread.join()

    def drop_connections(self) -> None:
        """Drop every open connection (watches included) and keep serving new ones, like a
        load balancer or an API server restart cutting clients off."""
        self._end_watches()
        if self._http_server is not None:
            self._http_server.drop_connections()

    def _end_watches(self) -> None:
        with self.store.changed:
            self._drops += 1
            self.store.changed.notify_all()

    @property
    def open_connections(self) -> int:
        """Connections the server holds open (keep-alive, watches): tests wait for this to fall."""
        return self._http_server.open_connections() if self._http_server is not None else 0

    # -- Python API for tests -----------------------------------------------------------------

    @property
    def resource_version(self) -> int:
        return self.store.resource_version

    def list(self, resource: str) -> list[dict]:
        return [orjson.loads(item) for item in self.store.all_items(resource)]

    def get(self, resource: str, name: str, namespace: str | None = None) -> dict | None:
        item = self.store.get(resource, name, namespace)
        return None if item is None else orjson.loads(item)

    def create(self, resource: str, obj: dict) -> dict:
        return self.store.create(resource, obj)

    def replace_all(self, resource: str, objects: Iterable[dict]) -> None:
        self.store.replace_all(resource, objects)

    def modify(
        self, resource: str, name: str, namespace: str | None = None, mutate: Callable[[dict], dict | None] = lambda o: o
    ) -> dict:
        return self.store.modify(resource, name, namespace, mutate)

    def delete(self, resource: str, name: str, namespace: str | None = None) -> dict:
        return self.store.delete(resource, name, namespace)

    @contextlib.contextmanager
    def batch(self) -> Iterator[SimulatedCluster]:
        with self.store.batch():
            yield self

    def compact(self) -> None:
        """Forget the whole event log (an etcd compaction plus a watch cache restart): a watch
        from any earlier resourceVersion gets a 410 Expired ERROR event."""
        self.store.compact()

    def churn(
        self,
        events_per_second: float,
        resource: str = "pods",
        seed: int = 0,
        create: float = 0.25,
        modify: float = 0.5,
        delete: float = 0.25,
        on_change: Callable[[ChurnRecord], None] | None = None,
        record_size: int = CHURN_RECORD_SIZE,
    ) -> Churn:
        """Creates, modifies and deletes objects of ``resource`` at ``events_per_second``, in a
        thread, while used as a context manager (``with cluster.churn(50) as churn: ...``);
        see :class:`k8s_assets.simulator.churn.Churn`."""
        return Churn(self.store, resource, events_per_second, seed=seed, create=create, modify=modify,
                     delete=delete, on_change=on_change, record_size=record_size)

    def inject(self, fault: Fault) -> Fault:
        if fault.resource is not None:
            self.store.resource(fault.resource)  # fail fast on a misspelt key
        return self._faults.add(fault)

    def clear_faults(self) -> None:
        self._faults.clear()

    def stop_serving(self, resource: str) -> None:
        """Serve ``resource`` no more, like a cluster without that API (an older release, a
        removed CRD version): it leaves discovery and its paths answer 404 NotFound."""
        if not any(rt.key == resource for rt in self.resource_types):
            raise KeyError(f"{resource!r} is not served by {self.name!r}")
        self.resource_types = [rt for rt in self.resource_types if rt.key != resource]
        self.discovery = Discovery(self.resource_types)

    @property
    def requests(self) -> list[ServedRequest]:
        return list(self._requests)

    def clear_requests(self) -> None:
        self._requests.clear()

    def record(self, request: ServedRequest) -> None:
        self._requests.append(request)

    # -- request handling ---------------------------------------------------------------------

    def answer(self, method: str, path: str, query: dict[str, str], headers: Any) -> tuple[Response, Fault | None]:
        """The response to one request, and the fault (if any) the transport must still apply."""
        path = path.rstrip("/") or "/"  # kube-apiserver serves "/version/" (the Python client's path) too
        try:
            if path == "/version":
                return Response(200, orjson.dumps(KUBERNETES_VERSION)), None
            if path in ("/healthz", "/livez", "/readyz"):
                return Response(200, b"ok", "text/plain; charset=utf-8"), None
            if not self._authorized(headers.get("Authorization")):
                raise UNAUTHORIZED
            if method not in ("GET", "HEAD"):
                raise StatusError(405, "MethodNotAllowed", f"the simulator serves reads only, not {method}", {})
            return self._route(path, query, headers)
        except StatusError as error:
            return status_response(error), None
        except Exception as error:  # a simulator bug: answer like kube-apiserver would, and say why
            traceback.print_exc()
            return status_response(StatusError(500, "InternalError", f"Internal error occurred: {error!r}")), None

    def _authorized(self, authorization: str | None) -> bool:
        scheme, _, credentials = (authorization or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(credentials.strip().encode(), self.token.encode())

    def _route(self, path: str, query: dict[str, str], headers: Any) -> tuple[Response, Fault | None]:
        parts = [part for part in path.split("/") if part]
        if parts[:1] == ["api"]:
            group, rest = "", parts[1:]
            if not rest:
                return self._discovery_root("api", headers), None
        elif parts[:1] == ["apis"]:
            if len(parts) == 1:
                return self._discovery_root("apis", headers), None
            group, rest = parts[1], parts[2:]
            if not rest:
                if group not in self.discovery.group_documents:
                    raise PATH_NOT_FOUND
                return Response(200, self.discovery.group_documents[group]), None
        else:
            raise PATH_NOT_FOUND
        version, rest = rest[0], rest[1:]
        if not rest:
            if (group, version) not in self.discovery.resource_lists:
                raise PATH_NOT_FOUND
            return Response(200, self.discovery.resource_lists[(group, version)]), None

        namespace = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
        if len(rest) > 2:
            raise PATH_NOT_FOUND  # subresources are not simulated
        resource_type = self.discovery.by_path.get((group, version, rest[0]))
        if resource_type is None or (namespace is not None and not resource_type.namespaced):
            raise PATH_NOT_FOUND
        name = rest[1] if len(rest) == 2 else None
        if name is not None and resource_type.namespaced and namespace is None:
            raise PATH_NOT_FOUND
        if name is None:
            return self._list(resource_type, namespace, query)
        return self._get(resource_type, namespace, name)

    def _discovery_root(self, prefix: str, headers: Any) -> Response:
        version = negotiated_discovery_version(headers.get("Accept"))
        vary = (("Vary", "Accept"),)
        if version is not None:
            return Response(200, self.discovery.aggregated[(prefix, version)], aggregated_content_type(version), vary)
        if prefix == "apis":
            return Response(200, self.discovery.group_list, headers=vary)
        api_versions = {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": f"127.0.0.1:{self.port}"}],
        }
        return Response(200, orjson.dumps(api_versions), headers=vary)

    def _list(self, rt: ResourceType, namespace: str | None, query: dict[str, str]) -> tuple[Response, Fault | None]:
        if query.get("watch") in ("1", "true", "True"):
            return self._watch(rt, namespace, query)
        if query.get("labelSelector") or query.get("fieldSelector"):
            raise bad_request("label and field selectors are not supported by the k8s-assets simulator")
        try:
            limit = int(query.get("limit") or 0)
        except ValueError:
            raise bad_request(f"invalid limit {query['limit']!r}") from None
        token = ContinueToken.decode(query["continue"]) if query.get("continue") else None
        if token is not None and query.get("resourceVersion") not in (None, "", "0"):
            raise bad_request("specifying resource version is not allowed when using continue")
        page = token.page if token is not None else 1
        fault = self._faults.take(rt.key, page)
        if fault is not None:
            error = self._fault_error(fault, rt, "list", namespace, None, token)
            if error is not None:
                return error, None
        return Response(200, self.store.list_page(rt.key, rt.version, namespace, limit, token)), fault

    def _watch(self, rt: ResourceType, namespace: str | None, query: dict[str, str]) -> tuple[Response, Fault | None]:
        """A watch (label and field selectors are ignored). Faults naming the resource apply as to
        a GET: error faults answer instead, "expired" as the ERROR event a real watch sends."""
        options = WatchOptions.parse(query, self.watch_list)
        fault = self._faults.take(rt.key, None)
        if fault is not None and fault.kind != "expired":
            error = self._fault_error(fault, rt, "watch", namespace, None, None)
            if error is not None:
                return error, None
        drops = self._drops
        stream = WatchStream(
            self.store, rt, namespace, options, self.watch_list, self.bookmark_interval,
            should_stop=lambda: self._drops != drops, expire=fault is not None and fault.kind == "expired",
        )
        return Response(200, b"", watch=stream), fault

    def _get(self, rt: ResourceType, namespace: str | None, name: str) -> tuple[Response, Fault | None]:
        fault = self._faults.take(rt.key, None)
        if fault is not None:
            error = self._fault_error(fault, rt, "get", namespace, name, None)
            if error is not None:
                return error, None
        return Response(200, self.store.single_object(rt.key, rt.version, name, namespace)), fault

    def _fault_error(
        self,
        fault: Fault,
        rt: ResourceType,
        verb: str,
        namespace: str | None,
        name: str | None,
        token: ContinueToken | None,
    ) -> Response | None:
        """The error response a fault replaces the answer with (None: transport-level faults)."""
        retry_after = (("Retry-After", str(fault.retry_after)),)
        if fault.kind == "forbidden":
            resource = f"{rt.plural}.{rt.group}" if rt.group else rt.plural
            subject = f'{resource} "{name}"' if name else resource
            scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
            message = (
                f'{subject} is forbidden: User "{SERVICE_ACCOUNT_USER}" cannot {verb} resource "{rt.plural}" '
                f'in API group "{rt.group}" {scope}'
            )
            details = {key: value for key, value in (("name", name), ("group", rt.group), ("kind", rt.plural)) if value}
            return status_response(StatusError(403, "Forbidden", message, details))
        if fault.kind == "throttle_text":
            headers = (("X-Content-Type-Options", "nosniff"), *retry_after)
            return Response(429, THROTTLE_TEXT, "text/plain; charset=utf-8", headers)
        if fault.kind == "throttle_status":
            error = StatusError(
                429,
                "TooManyRequests",
                "Too many requests, please try again later.",
                {"retryAfterSeconds": fault.retry_after},
            )
            return status_response(error, retry_after)
        if fault.kind == "internal_error":
            cause = "etcdserver: request timed out"
            error = StatusError(
                500, "InternalError", f"Internal error occurred: {cause}", {"causes": [{"message": cause}]}
            )
            return status_response(error)
        if fault.kind == "expired":
            if token is None:
                return status_response(StatusError(410, "Expired", EXPIRED_LIST_MESSAGE))
            new_token = token.inconsistent().encode()
            return status_response(StatusError(410, "Expired", EXPIRED_TOKEN_MESSAGE, continue_token=new_token))
        return None

