"""Listing kinds from a cluster as raw JSON pages, and turning them into table columns.

We read pages with the kubernetes client's own request machinery (auth, TLS, exec
plugins) but skip its typed models, and decode only what a kind stores (``decoding``:
msgspec projections, each object's own bytes for ``raw``); only the column values and one
serialized object per row are kept, never parsed trees (the cyclic GC, not the parser,
dominates when millions of dicts stay alive).

The wire and the CPU overlap: a listing's pages are fetched by one thread of its own, which
asks for the next page as soon as the current one's continue token is read, while the
caller's thread turns the current page into rows (at most one page waits).

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
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from urllib.parse import urlencode

import orjson
import pandas as pd
import urllib3
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from urllib3.util.retry import Retry

from k8s_assets.catalog.types import Kind
from k8s_assets.kube import credentials
from k8s_assets.kube.config import ConfigError, read_kubeconfig
from k8s_assets.kube.decoding import DecodedPage, PageNotJSON, ProjectedRowBuilder, decode_page

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


def sleep_between_tries(seconds: float) -> None:
    """Every wait between tries of a listing: urllib3's backoff and Retry-After (``BoundedRetry``)
    and ours before reading a cut page again. One module-level function so that tests replace it
    and count the waits instead of waiting them."""
    time.sleep(seconds)


class BoundedRetry(Retry):
    """urllib3's Retry, with the server's Retry-After capped so one answer cannot stall a sync.

    Its waits are urllib3's own (same decisions, same amounts), taken through ``sleep_between_tries``.
    """

    def get_retry_after(self, response):  # noqa: D102 - urllib3 hook
        value = super().get_retry_after(response)
        return None if value is None else min(value, MAX_RETRY_AFTER_SECONDS)

    def sleep_for_retry(self, response) -> bool:  # noqa: D102 - urllib3's, waiting through sleep_between_tries
        retry_after = self.get_retry_after(response)
        if retry_after:
            sleep_between_tries(retry_after)
            return True
        return False

    def _sleep_backoff(self) -> None:  # urllib3's (1.26 and 2.x), waiting through sleep_between_tries
        backoff = self.get_backoff_time()
        if backoff > 0:
            sleep_between_tries(backoff)


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


def api_client(kubeconfig: tuple[Path, ...], context_name: str, connections: int | None = None) -> k8s_client.ApiClient:
    """A client for one context, built by the kubernetes client from the merged kubeconfig, or
    for the pod's own cluster when the context is ``in-cluster`` (see k8s_assets.kube.credentials).
    ``connections``: how many requests it keeps open at once (a watcher holds one per kind)."""
    configuration = k8s_client.Configuration()
    if connections is not None:
        configuration.connection_pool_maxsize = max(configuration.connection_pool_maxsize, connections)
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


def status_message(status: int, body: bytes) -> tuple[str, str | None]:
    """The message and reason of a Status error body, or the plain text a server sent."""
    try:
        payload = orjson.loads(body)
        if isinstance(payload, dict) and payload.get("kind") == "Status":
            return payload.get("message") or f"HTTP {status}", payload.get("reason")
    except orjson.JSONDecodeError:
        pass
    text = body[:300].decode("utf-8", "replace").strip()
    return text or f"HTTP {status}", None


def send_get(api: k8s_client.ApiClient, path: str, query: list[tuple[str, str]] | None = None,
             timeout: float | urllib3.Timeout | None = None, accept: str | None = None) -> urllib3.BaseHTTPResponse:
    """GET a path through the client's own connection pool (TLS, proxy, our retries), body unread.

    We go below ``ApiClient.call_api`` because its signature changed in kubernetes 37, while
    dagster-k8s (the K8sRunLauncher) still requires kubernetes<37; the pool manager and
    ``Configuration.auth_settings()`` are the same in both. ``auth_settings()`` runs the client's
    ``refresh_api_key_hook``, which renews exec-plugin tokens near their expiry, so the
    Authorization header is taken anew for every attempt. ``timeout``: seconds for the whole
    request, or a ``urllib3.Timeout`` (a watch bounds each read, not the stream).
    """
    configuration = api.configuration
    headers = {**api.default_headers, "Accept": accept or "application/json"}
    for auth in configuration.auth_settings().values():
        if auth["in"] == "header" and auth["value"]:
            headers[auth["key"]] = auth["value"]
    url = configuration.host + path + ("?" + urlencode(query) if query else "")
    return api.rest_client.pool_manager.request(
        "GET", url, headers=headers, preload_content=False,
        timeout=timeout if isinstance(timeout, urllib3.Timeout) else urllib3.Timeout(total=timeout) if timeout else None,
    )


def get_json(api: k8s_client.ApiClient, path: str, query: list[tuple[str, str]] | None = None,
             timeout: float | None = None, accept: str | None = None,
             parse: bool = True) -> tuple[int, dict | None, bytes]:
    """GET a path; returns (status, parsed JSON or None, raw body). Network errors raise ListingError.

    ``parse=False`` leaves a 2xx body unparsed (list pages are decoded by ``decoding``).
    A 401 reloads the context's credentials once and repeats the request (k8s_assets.kube.credentials):
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
    if 200 <= response.status < 300 and parse:
        return response.status, orjson.loads(body), body
    return response.status, None, body


def _send_get(api: k8s_client.ApiClient, path: str, query: list[tuple[str, str]] | None, timeout: float | None,
              accept: str | None) -> urllib3.BaseHTTPResponse:
    try:
        return send_get(api, path, query, timeout, accept)
    except (urllib3.exceptions.HTTPError, OSError) as e:
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
    unreadable_columns: int = 0  # objects stored with a column NULL that its extractor could not read
    set_aside: list[dict] = field(default_factory=list)  # objects not stored: who and why (decoding)


ProgressLog = Callable[[str], None]


class RowSink(Protocol):
    """Where a listing puts its rows as the pages arrive (the store's staged merge), so that
    memory holds a page, not a kind."""

    def add(self, frame: pd.DataFrame) -> None:
        """One page's rows (the kind's row columns, object dtype)."""

    def restart(self) -> None:
        """The listing starts over (its continue token expired): forget the rows added so far."""


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
        page = orjson.loads(_get_page(api, kind, path, query, timeout, page_number))
        yield page, page_number
        token = (page.get("metadata") or {}).get("continue")
        if not token:
            return


class _Expired(Exception):
    pass


def _get_page(api, kind: Kind, path: str, query, timeout: float, page_number: int) -> bytes:
    """The body of one list page; an error answer raises, classified."""
    for attempt in range(1, BODY_READ_RETRIES + 1):
        try:
            status, _, body = get_json(api, path, query, timeout, accept=kind.accept, parse=False)
        except BodyCutError:
            if attempt == BODY_READ_RETRIES:
                raise
            log.warning("%s page %d: response cut off, retrying (%d/%d)", kind.resource, page_number,
                        attempt, BODY_READ_RETRIES)
            sleep_between_tries(0.2 * attempt)
            continue
        if 200 <= status < 300:
            return body
        message, reason = status_message(status, body)
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


def iter_decoded_pages(api: k8s_client.ApiClient, kind: Kind, page_size: int, timeout: float,
                       version: str | None = None, *, keys_only: bool = False,
                       prefetch: bool = True) -> Iterator[tuple[DecodedPage, int]]:
    """Like ``iter_pages``, with pages decoded by ``decoding.decode_page`` (items as bytes or keys).

    With ``prefetch`` one thread of this listing fetches and decodes page n+1 while the caller
    works on page n; the thread ends with the listing, whether it completed, failed or was
    closed. ``prefetch=False`` fetches each page when the previous one is done (benchmarks).
    """
    path = kind.list_path(version)

    def fetch(token: str | None, page_number: int) -> DecodedPage:
        query = [("limit", str(page_size))]
        if token:
            query.append(("continue", token))
        body = _get_page(api, kind, path, query, timeout, page_number)
        try:
            return decode_page(body, keys_only)
        except PageNotJSON as e:
            raise ListingError(f"listing {kind.resource}: page {page_number} could not be read: {e}") from None

    page_number = 1
    if not prefetch:
        token = None
        while True:
            page = fetch(token, page_number)
            token = page.continue_token
            yield page, page_number
            if not token:
                return
            page_number += 1
    with ThreadPoolExecutor(1, thread_name_prefix=f"list-{kind.plural}") as fetcher:
        pending = fetcher.submit(fetch, None, page_number)
        try:
            while pending is not None:
                page = pending.result()
                token = page.continue_token
                pending = fetcher.submit(fetch, token, page_number + 1) if token else None
                yield page, page_number
                page_number += 1
        finally:
            # Closed or failed early: a request not yet sent is dropped, one in flight is waited for
            # (leaving the with block), so no thread outlives the listing.
            if pending is not None:
                pending.cancel()


def list_kind(api: k8s_client.ApiClient, kind: Kind, cluster_uid: str, context_name: str, *,
              page_size: int = 500, timeout: float = 60.0, version: str | None = None,
              progress: ProgressLog | None = None, known_versions: Mapping[str, str] | None = None,
              prefetch: bool = True, sink: RowSink | None = None) -> Listing:
    """List every object of a kind, completely, into column lists, or page by page into ``sink``
    (then ``Listing.columns`` stays empty and memory holds a page).

    ``known_versions`` (uid -> resourceVersion stored for this cluster, e.g. from
    ``store.versions.stored_versions``) makes objects listed at their stored version key-only
    rows: a re-sync then reads only their keys, nothing else of them.

    Raises ListingForbidden, ListingNotServed or ListingError; never returns a partial list (a
    sink has then seen part of one, and must not use it: the merge rolls it back).
    """
    started = time.monotonic()
    progress = progress or log.info
    for restart in range(LIST_RESTARTS + 1):
        if restart and sink is not None:
            sink.restart()
        rows = ProjectedRowBuilder(kind, cluster_uid, context_name, known_versions)
        count = pages = 0
        resource_version = None
        try:
            with gc_paused(), closing(iter_decoded_pages(api, kind, page_size, timeout, version,
                                                         keys_only=rows.keys_suffice, prefetch=prefetch)) as listing:
                for page, pages in listing:
                    count += len(page)
                    rows.add_page(page)
                    if sink is not None:
                        sink.add(take_frame(kind, rows.columns))
                    resource_version = page.meta.resourceVersion
                    if pages % 20 == 0:
                        remaining = page.meta.remainingItemCount
                        progress(f"{kind.resource}: {count} objects in {pages} pages"
                                 + (f", about {remaining} to go" if remaining is not None else ""))
        except _Expired as e:
            if restart == LIST_RESTARTS:
                raise ListingError(f"listing {kind.resource} kept expiring (410) after {restart} restarts: {e}",
                                   status=410, reason="Expired") from None
            progress(f"{kind.resource}: continue token expired on page {pages + 1}; restarting the list")
            continue
        return Listing(rows.columns, count, pages, resource_version, restart, time.monotonic() - started,
                       unchanged=rows.unchanged, nul_replaced=rows.nul_replaced,
                       unreadable_columns=rows.unreadable_columns, set_aside=rows.set_aside)
    raise AssertionError("unreachable")


def to_frame(kind: Kind, columns: dict[str, list]) -> pd.DataFrame:
    """A listing's rows. Object dtype throughout: missing integers stay None, not NaN, all the way into COPY."""
    return pd.DataFrame({name: pd.Series(values, dtype=object) for name, values in columns.items()},
                        columns=list(kind.row_columns))


def take_frame(kind: Kind, columns: dict[str, list]) -> pd.DataFrame:
    """The rows built so far as a frame, the builder's lists emptied for the next page (cleared in
    place: the builder holds their bound ``append`` methods)."""
    frame = to_frame(kind, columns)
    for values in columns.values():
        values.clear()
    return frame


def empty_frame(kind: Kind) -> pd.DataFrame:
    return to_frame(kind, {name: [] for name in kind.row_columns})
