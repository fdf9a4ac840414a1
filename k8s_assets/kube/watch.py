"""Watching one kind of a cluster: a stream of events from a resourceVersion, as bytes.

``GET <list path>?watch=1&resourceVersion=<rv>&allowWatchBookmarks=true`` answers a stream of
JSON lines, ``{"type": "ADDED|MODIFIED|DELETED|BOOKMARK|ERROR", "object": {...}}``, for every
change after that resourceVersion; a BOOKMARK carries only a newer resourceVersion to resume
from. With ``sendInitialEvents=true&resourceVersionMatch=NotOlderThan`` (the streaming list,
KEP-3157, served by default from Kubernetes 1.34) the stream first sends the current state as
ADDED events, then a BOOKMARK annotated ``k8s.io/initial-events-end``: list and watch in one
request, without the paged list's memory on the API server.

Each event is kept as the object's own bytes (the decoding layer makes the row, as for a
list page), with its uid, resourceVersion and the time it arrived. The ways a watch ends are
classified for the caller: the server closed it (``timeoutSeconds``: resume), ``WatchExpired``
(410: the resourceVersion is older than the server keeps: list again), ``ListingForbidden`` and
``ListingNotServed`` (as for a list), ``WatchListRefused`` (the server knows the streaming list
but has it turned off: list, then watch), and ``ListingError`` for the rest (a dropped
connection, a server error: resume from the last resourceVersion seen).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import msgspec
import urllib3
from kubernetes import client as k8s_client

from k8s_assets.catalog.types import Kind
from k8s_assets.kube import credentials
from k8s_assets.kube.listing import ListingError, ListingForbidden, ListingNotServed, send_get, status_message

INITIAL_EVENTS_END = "k8s.io/initial-events-end"
CONNECT_TIMEOUT = 10.0
# Real API servers send a bookmark about once a minute, and end a watch after timeoutSeconds;
# a watch silent for longer than this is taken as a dead connection and resumed.
READ_TIMEOUT_MARGIN = 90.0


class WatchExpired(ListingError):
    """410: the watch's resourceVersion is older than what the server keeps; list again."""


class WatchListRefused(ListingError):
    """The server refused a streaming list (its WatchList feature is off): list, then watch."""


class _Metadata(msgspec.Struct):
    uid: Any = None
    resourceVersion: Any = None  # noqa: N815 - the API's name
    name: Any = None
    namespace: Any = None


class _Object(msgspec.Struct):
    metadata: _Metadata | None = None


class _BookmarkMetadata(msgspec.Struct):
    resourceVersion: Any = None  # noqa: N815
    annotations: dict[str, Any] | None = None


class _Bookmark(msgspec.Struct):
    metadata: _BookmarkMetadata | None = None


class _Envelope(msgspec.Struct):
    type: str
    object: msgspec.Raw = msgspec.Raw(b"null")


class _Status(msgspec.Struct):
    code: Any = None
    reason: Any = None
    message: Any = None


_ENVELOPE = msgspec.json.Decoder(_Envelope)
_OBJECT = msgspec.json.Decoder(_Object)
_BOOKMARK = msgspec.json.Decoder(_Bookmark)
_STATUS = msgspec.json.Decoder(_Status)


@dataclass(frozen=True)
class WatchEvent:
    type: str  # ADDED, MODIFIED, DELETED or BOOKMARK
    object: bytes  # the object as sent (a bookmark's is only its resourceVersion)
    uid: str | None
    resource_version: str | None
    arrived_at: dt.datetime  # UTC, when its line was read
    initial_events_end: bool = False
    name: str | None = None
    namespace: str | None = None  # the bookmark that ends a streaming list's initial state


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def decode_event(line: bytes, arrived_at: dt.datetime) -> WatchEvent:
    """One line of a watch; an ERROR event raises (410: ``WatchExpired``)."""
    try:
        envelope = _ENVELOPE.decode(line)
    except msgspec.DecodeError as e:
        raise ListingError(f"a watch event could not be read ({e}): {line[:200]!r}") from None
    body = bytes(envelope.object)
    if envelope.type == "ERROR":
        try:
            status = _STATUS.decode(body)
        except msgspec.DecodeError:
            status = _Status()
        message = f"the watch ended with an error: {status.message or body[:300]!r}"
        if status.code == 410:
            raise WatchExpired(message, status=410, reason=_text(status.reason))
        code = status.code if isinstance(status.code, int) else None
        raise ListingError(message, status=code, reason=_text(status.reason),
                           transient=code is None or code >= 500 or code == 429)
    if envelope.type == "BOOKMARK":
        try:
            metadata = _BOOKMARK.decode(body).metadata or _BookmarkMetadata()
        except msgspec.DecodeError as e:
            raise ListingError(f"a watch bookmark could not be read ({e})") from None
        end = str((metadata.annotations or {}).get(INITIAL_EVENTS_END, "")).lower() == "true"
        return WatchEvent("BOOKMARK", body, None, _text(metadata.resourceVersion), arrived_at, end)
    try:
        metadata = _OBJECT.decode(body).metadata or _Metadata()
    except msgspec.DecodeError:
        metadata = _Metadata()  # not an object: the row builder sets it aside and says why
    return WatchEvent(envelope.type, body, _text(metadata.uid), _text(metadata.resourceVersion), arrived_at,
                      name=_text(metadata.name), namespace=_text(metadata.namespace))


class WatchStream:
    """One watch request of one kind; iterate for its events, ``close()`` from any thread to end it.

    ``resource_version`` None with ``initial_events`` is a streaming list of the current state;
    None without it is a watch from "now" (no initial state: only for tests)."""

    def __init__(self, api: k8s_client.ApiClient, kind: Kind, *, resource_version: str | None,
                 initial_events: bool = False, timeout_seconds: int = 300, version: str | None = None):
        self.kind = kind
        self.path = kind.list_path(version)
        query = [("watch", "1"), ("allowWatchBookmarks", "true"), ("timeoutSeconds", str(timeout_seconds))]
        if initial_events:
            query += [("sendInitialEvents", "true"), ("resourceVersionMatch", "NotOlderThan")]
        if resource_version:
            query.append(("resourceVersion", resource_version))
        self._closed = threading.Event()
        timeout = urllib3.Timeout(connect=CONNECT_TIMEOUT, read=timeout_seconds + READ_TIMEOUT_MARGIN)
        self._response = self._open(api, query, timeout, initial_events)

    def _open(self, api, query, timeout, initial_events: bool) -> urllib3.BaseHTTPResponse:
        for attempt in (1, 2):
            try:
                response = send_get(api, self.path, query, timeout, accept=self.kind.accept)
            except (urllib3.exceptions.HTTPError, OSError) as e:
                raise ListingError(f"watching {self.kind.resource} failed to start: {type(e).__name__}: "
                                   f"{getattr(e, 'reason', None) or e}") from e
            if response.status == 200:
                return response
            body = response.read()
            if response.status == 401 and attempt == 1 and credentials.force_refresh(api.configuration):
                continue
            message, reason = status_message(response.status, body)
            raise self._refusal(response.status, reason, message, initial_events)
        raise AssertionError("unreachable")

    def _refusal(self, status: int, reason: str | None, message: str, initial_events: bool) -> ListingError:
        resource = self.kind.resource
        if status == 410:
            return WatchExpired(f"watching {resource}: {message}", status=410, reason=reason)
        if status == 403:
            return ListingForbidden(f"watching {resource} is forbidden: {message}", status=403, reason=reason,
                                    transient=False)
        if status == 404:
            return ListingNotServed(f"{resource} is not served by this cluster ({self.path}): {message}",
                                    status=404, reason=reason, transient=False)
        if initial_events and status in (400, 422):
            return WatchListRefused(f"the server refused a streaming list of {resource}: {message}",
                                    status=status, reason=reason, transient=False)
        return ListingError(f"watching {resource} failed with HTTP {status}: {message}", status=status,
                            reason=reason, transient=status >= 500 or status == 429 or status == 401)

    def __iter__(self) -> Iterator[WatchEvent]:
        pending = b""
        try:
            for chunk in self._response.stream(64 * 1024, decode_content=True):
                arrived_at = dt.datetime.now(dt.timezone.utc)
                lines = (pending + chunk).split(b"\n")
                pending = lines.pop()
                for line in lines:
                    if line.strip():
                        yield decode_event(line, arrived_at)
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as e:
            if self._closed.is_set():
                return
            raise ListingError(f"the watch of {self.kind.resource} broke off: {type(e).__name__}: "
                               f"{getattr(e, 'reason', None) or e}") from e
        finally:
            # Never back to the pool: a watch's connection is only good for its own stream.
            self._response.close()
        if pending.strip() and not self._closed.is_set():
            yield decode_event(pending, dt.datetime.now(dt.timezone.utc))

    def close(self) -> None:
        """End the stream now (another thread's iteration returns)."""
        if self._closed.is_set():
            return
        self._closed.set()
        shutdown = getattr(self._response, "shutdown", None)  # urllib3 >= 2.3: unblocks a pending read
        try:
            if shutdown is not None:
                shutdown()
            self._response.close()
        except (RuntimeError, ValueError, OSError):  # already ended, or its socket already closed
            pass
