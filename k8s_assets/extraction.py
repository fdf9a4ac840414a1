"""Listing kinds from a cluster as raw JSON pages, and turning them into table columns.

We read pages with the kubernetes client's own request machinery (auth, TLS, exec
plugins) but skip its typed models: ``orjson`` on the raw page is 4-7x faster, and only
the column values and one serialized string per object are kept, never the parsed trees
(the cyclic GC, not the parser, dominates when millions of dicts stay alive).

Retries: urllib3 (configured in ``api_client``) retries 429 (both forms carry Retry-After),
5xx, connection errors and read timeouts per request, with backoff and a bounded
Retry-After. A body cut mid-response is retried here; an expired continue token (410)
restarts the list from the start, so every result is one consistent snapshot.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import orjson
import pandas as pd
import urllib3
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from urllib3.util.retry import Retry

from k8s_assets import credentials
from k8s_assets.catalog import Kind
from k8s_assets.config import ConfigError, read_kubeconfig

log = logging.getLogger(__name__)

MAX_RETRY_AFTER_SECONDS = 30.0
LIST_RESTARTS = 3
BODY_READ_RETRIES = 3


class ListingError(RuntimeError):
    """A listing failed or was cut off; nothing it returned may be used to delete rows."""

    def __init__(self, message: str, *, status: int | None = None, reason: str | None = None, transient: bool = True):
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.transient = transient


class ListingForbidden(ListingError):
    """RBAC denied the listing (403)."""


class ListingNotServed(ListingError):
    """The cluster does not serve this resource (404 on its list path)."""


class BodyCutError(ListingError):
    """The connection broke while the body was read; urllib3 does not retry this, we do."""


class BoundedRetry(Retry):
    """urllib3's Retry, with the server's Retry-After capped so one answer cannot stall a sync."""

    def get_retry_after(self, response):  # noqa: D102 - urllib3 hook
        value = super().get_retry_after(response)
        return None if value is None else min(value, MAX_RETRY_AFTER_SECONDS)


def request_retries() -> Retry:
    return BoundedRetry(
        total=6,
        connect=3,
        read=2,
        status=4,
        backoff_factor=0.25,
        backoff_max=10,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=frozenset({"GET"}),
        respect_retry_after_header=True,
        raise_on_status=False,
    )


def api_client(kubeconfig: tuple[Path, ...], context_name: str) -> k8s_client.ApiClient:
    """A client for one context, built by the kubernetes client from the merged kubeconfig, or
    for the pod's own cluster when the context is ``in-cluster`` (see k8s_assets.credentials)."""
    configuration = k8s_client.Configuration()
    try:
        if context_name == credentials.IN_CLUSTER and not any(c.get("name") == context_name
                                                               for c in read_kubeconfig(kubeconfig)["contexts"]):
            credentials.load_in_cluster(configuration)
        else:
            credentials.load_kubeconfig_context(configuration, lambda: read_kubeconfig(kubeconfig), context_name)
    except k8s_config.ConfigException as e:
        raise ConfigError("KUBECONFIG", f"context {context_name!r}: {e}") from None
    configuration.retries = request_retries()
    return k8s_client.ApiClient(configuration)


def _status_message(status: int, body: bytes) -> tuple[str, str | None]:
    """The message and reason of a Status error body, or the plain text a server sent."""
    try:
        payload = orjson.loads(body)
        if isinstance(payload, dict) and payload.get("kind") == "Status":
            return payload.get("message") or f"HTTP {status}", payload.get("reason")
    except orjson.JSONDecodeError:
        pass
    text = body[:300].decode("utf-8", "replace").strip()
    return text or f"HTTP {status}", None


def get_json(api: k8s_client.ApiClient, path: str, query: list[tuple[str, str]] | None = None,
             timeout: float | None = None, accept: str | None = None) -> tuple[int, dict | None, bytes]:
    """GET a path; returns (status, parsed JSON or None, raw body). Network errors raise ListingError.

    A 401 reloads the context's credentials once and repeats the request (k8s_assets.credentials):
    a token can be refused before the client's own refresh thinks it expired.
    """
    response = _send_get(api, path, query, timeout, accept)
    if response.status == 401 and _reload_credentials(api, path):
        response.read()  # frees the connection for the second attempt
        response = _send_get(api, path, query, timeout, accept)
    try:
        body = response.read()
    except (urllib3.exceptions.HTTPError, OSError) as e:
        raise BodyCutError(f"GET {path}: the response body was cut off: {_describe_network_error(e)}") from e
    if 200 <= response.status < 300:
        return response.status, orjson.loads(body), body
    return response.status, None, body


def _send_get(api: k8s_client.ApiClient, path: str, query: list[tuple[str, str]] | None, timeout: float | None,
              accept: str | None):
    # Serialized per attempt: the Authorization header is taken (and refreshed) here.
    method, url, headers, _, _ = api.param_serialize(
        "GET", path, query_params=query or [], header_params={"Accept": accept or "application/json"},
        auth_settings=["BearerToken"],
    )
    try:
        return api.call_api(method, url, header_params=headers, _request_timeout=timeout)
    except (urllib3.exceptions.HTTPError, OSError, k8s_client.ApiException) as e:
        # urllib3 has already retried connection errors and timeouts.
        raise ListingError(f"GET {path} failed: {_describe_network_error(e)}") from e


def _reload_credentials(api: k8s_client.ApiClient, path: str) -> bool:
    try:
        reloaded = credentials.force_refresh(api.configuration)
    except k8s_config.ConfigException as e:
        raise ConfigError("KUBECONFIG", f"reloading credentials after a 401 on GET {path} failed: {e}") from None
    if reloaded:
        log.warning("GET %s was refused as unauthorized (401); reloaded the credentials, trying once more", path)
    return reloaded


def _describe_network_error(e: BaseException) -> str:
    reason = getattr(e, "reason", None)
    return f"{type(e).__name__}: {reason or e}"


@dataclass
class Listing:
    """The result of listing one kind completely."""

    columns: dict[str, list]
    count: int
    pages: int
    resource_version: str | None
    restarts: int
    seconds: float
    unchanged: int = 0  # key-only rows: listed at the version known_versions gave
    nul_replaced: int = 0  # objects stored with U+FFFD for the NUL characters PostgreSQL cannot hold


ProgressLog = Callable[[str], None]


@contextmanager
def gc_paused():
    """Parsed pages are freed by reference counting; the cyclic GC only slows bulk parsing."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class RowBuilder:
    """Turns objects of one kind into column lists: common columns, then the kind's own."""

    def __init__(self, kind: Kind, cluster_uid: str, context_name: str,
                 known_versions: Mapping[str, str] | None = None):
        self.kind = kind
        self.cluster_uid = cluster_uid
        self.context_name = context_name
        self.columns: dict[str, list] = {name: [] for name in frame_columns(kind)}
        self._typed = [(self.columns[c.name].append, c.extract) for c in kind.columns]
        # uid -> resourceVersion already stored for this cluster. An object listed at that
        # same version becomes a key-only row (raw and the other columns None): it is neither
        # serialized nor extracted, and the merge never sends it (see io_manager).
        self.known_versions = known_versions or None
        self.unchanged = 0
        self.nul_replaced = 0
        self._key_only = [self.columns[name].append for name in frame_columns(kind)
                          if name not in _KEY_ONLY_FILLED]

    def _add_key_only(self, metadata: dict, uid: str, version: str) -> None:
        c = self.columns
        c["cluster_uid"].append(self.cluster_uid)
        c["uid"].append(uid)
        c["context_name"].append(self.context_name)
        c["name"].append(metadata.get("name"))
        if self.kind.namespaced:
            c["namespace"].append(metadata.get("namespace"))
        c["resource_version"].append(version)
        for append in self._key_only:
            append(None)
        self.unchanged += 1

    def add(self, item: dict) -> None:
        if self.known_versions is not None:
            metadata = item.get("metadata") or {}
            uid, version = metadata.get("uid"), metadata.get("resourceVersion")
            if version is not None and self.known_versions.get(uid) == version:
                self._add_key_only(metadata, uid, version)
                return
        metadata = item.setdefault("metadata", {})
        metadata.pop("managedFields", None)
        # Built-in list items carry no kind/apiVersion; stored objects should say what they are.
        item.setdefault("apiVersion", self.kind.api_version)
        item.setdefault("kind", self.kind.kind)
        if self.kind.redact is not None:
            item = self.kind.redact(item)
        # Bytes, not str: one non-ASCII character (an emoji in an annotation) makes a Python str
        # of the whole object 4 bytes per character; the UTF-8 bytes stay 1 per ASCII character
        # (measured on simulated pods: 17 KB held per pod as str, about 5 KB as bytes).
        raw = orjson.dumps(item)
        nul_replaced = False
        # orjson always writes NUL as this escape, so one byte search finds any NUL in any string
        # (keys included); the rare object that has one is rebuilt before any column is taken.
        if NUL_ESCAPE in raw:
            item, nul_replaced = replace_nul(item)
            if nul_replaced:
                raw = orjson.dumps(item)
                self.nul_replaced += 1
        metadata = item["metadata"]
        c = self.columns
        c["cluster_uid"].append(self.cluster_uid)
        c["uid"].append(metadata.get("uid"))
        c["context_name"].append(self.context_name)
        c["name"].append(metadata.get("name"))
        if self.kind.namespaced:
            c["namespace"].append(metadata.get("namespace"))
        labels = metadata.get("labels")
        c["labels"].append(orjson.dumps(labels).decode() if labels else None)
        annotations = metadata.get("annotations")
        c["annotations"].append(orjson.dumps(annotations).decode() if annotations else None)
        c["created_at"].append(metadata.get("creationTimestamp"))
        c["resource_version"].append(metadata.get("resourceVersion"))
        c["raw"].append(raw)
        c["nul_replaced"].append(nul_replaced)
        for append, extract in self._typed:
            append(extract(item))


NUL_ESCAPE = b"\\u0000"
# What a NUL becomes: PostgreSQL's text and jsonb cannot hold U+0000 (and refuse the whole COPY),
# so it is stored as U+FFFD, the Unicode replacement character, and the row says nul_replaced.
NUL_REPLACEMENT = "\ufffd"


def replace_nul(value):
    """``value`` with every NUL in its strings (keys too) replaced; and whether any was."""
    if isinstance(value, str):
        return (value.replace("\x00", NUL_REPLACEMENT), True) if "\x00" in value else (value, False)
    if isinstance(value, dict):
        replaced = False
        out = {}
        for key, item in value.items():
            key, key_replaced = replace_nul(key)
            out[key], item_replaced = replace_nul(item)
            replaced = replaced or key_replaced or item_replaced
        return out, replaced
    if isinstance(value, list):
        pairs = [replace_nul(item) for item in value]
        return [item for item, _ in pairs], any(r for _, r in pairs)
    return value, False


# Columns a key-only row (an object already stored at the listed version) carries.
_KEY_ONLY_FILLED = frozenset({"cluster_uid", "uid", "context_name", "name", "namespace", "resource_version"})


def frame_columns(kind: Kind) -> tuple[str, ...]:
    """Columns of the DataFrame a kind asset returns: the table's, less what the database sets."""
    return tuple(c for c in kind.column_names if c != "synced_at")


def iter_pages(api: k8s_client.ApiClient, kind: Kind, page_size: int, timeout: float,
               version: str | None = None) -> Iterator[tuple[dict, int]]:
    """Yield (list page, page number) of one consistent listing; restarts on 410 are the caller's."""
    path = kind.list_path(version)
    token: str | None = None
    page_number = 0
    while True:
        page_number += 1
        query = [("limit", str(page_size))]
        if token:
            query.append(("continue", token))
        page = _get_page(api, kind, path, query, timeout, page_number)
        yield page, page_number
        token = (page.get("metadata") or {}).get("continue")
        if not token:
            return


class _Expired(Exception):
    pass


def _get_page(api, kind: Kind, path: str, query, timeout: float, page_number: int) -> dict:
    for attempt in range(1, BODY_READ_RETRIES + 1):
        try:
            status, payload, body = get_json(api, path, query, timeout, accept=kind.accept)
        except BodyCutError:
            if attempt == BODY_READ_RETRIES:
                raise
            log.warning("%s page %d: response cut off, retrying (%d/%d)", kind.resource, page_number,
                        attempt, BODY_READ_RETRIES)
            time.sleep(0.2 * attempt)
            continue
        if payload is not None:
            return payload
        message, reason = _status_message(status, body)
        if status == 410:
            raise _Expired(message)
        if status == 403:
            raise ListingForbidden(f"listing {kind.resource} is forbidden: {message}", status=403,
                                   reason=reason, transient=False)
        if status == 404:
            raise ListingNotServed(f"{kind.resource} is not served by this cluster ({path}): {message}",
                                   status=404, reason=reason, transient=False)
        if status == 401:
            # get_json has already reloaded the credentials once: a fresh credential refused is
            # a configuration error, not something a retry fixes.
            raise ListingError(f"listing {kind.resource} was refused as unauthorized (401), also with freshly "
                               "loaded credentials: check the context's credentials", status=401, reason=reason,
                               transient=False)
        raise ListingError(f"listing {kind.resource} failed on page {page_number} with HTTP {status}: {message}",
                           status=status, reason=reason, transient=status >= 500 or status == 429)
    raise AssertionError("unreachable")


def list_kind(api: k8s_client.ApiClient, kind: Kind, cluster_uid: str, context_name: str, *,
              page_size: int = 500, timeout: float = 60.0, version: str | None = None,
              progress: ProgressLog | None = None, known_versions: Mapping[str, str] | None = None) -> Listing:
    """List every object of a kind, completely, into column lists.

    ``known_versions`` (uid -> resourceVersion stored for this cluster, e.g. from
    ``io_manager.stored_versions``) makes objects listed at their stored version key-only
    rows: a re-sync then pays only for parsing them, not for serializing them again.

    Raises ListingForbidden, ListingNotServed or ListingError; never returns a partial list.
    """
    started = time.monotonic()
    progress = progress or log.info
    for restart in range(LIST_RESTARTS + 1):
        rows = RowBuilder(kind, cluster_uid, context_name, known_versions)
        count = pages = 0
        resource_version = None
        try:
            with gc_paused():
                for page, pages in iter_pages(api, kind, page_size, timeout, version):
                    items = page.get("items") or ()
                    for item in items:
                        rows.add(item)
                    count += len(items)
                    resource_version = (page.get("metadata") or {}).get("resourceVersion")
                    if pages % 20 == 0:
                        remaining = (page.get("metadata") or {}).get("remainingItemCount")
                        progress(f"{kind.resource}: {count} objects in {pages} pages"
                                 + (f", about {remaining} to go" if remaining is not None else ""))
        except _Expired as e:
            if restart == LIST_RESTARTS:
                raise ListingError(f"listing {kind.resource} kept expiring (410) after {restart} restarts: {e}",
                                   status=410, reason="Expired") from None
            progress(f"{kind.resource}: continue token expired on page {pages + 1}; restarting the list")
            continue
        return Listing(rows.columns, count, pages, resource_version, restart, time.monotonic() - started,
                       unchanged=rows.unchanged, nul_replaced=rows.nul_replaced)
    raise AssertionError("unreachable")


def to_frame(kind: Kind, columns: dict[str, list]) -> pd.DataFrame:
    """Object dtype throughout: missing integers stay None, not NaN, all the way into COPY."""
    return pd.DataFrame({name: pd.Series(values, dtype=object) for name, values in columns.items()},
                        columns=list(frame_columns(kind)))


def empty_frame(kind: Kind) -> pd.DataFrame:
    return to_frame(kind, {name: [] for name in frame_columns(kind)})
