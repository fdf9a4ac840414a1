"""Watches of a simulated cluster: ``GET <list path>?watch=1``, as kube-apiserver serves them.

A watch is a chunked ``200 application/json`` stream of one JSON event per line,
``{"type":"ADDED|MODIFIED|DELETED|BOOKMARK|ERROR","object":{...}}``, read from the store's
per-resource event log (:class:`k8s_assets.simulator.store.EventLog`). The store lock is held
only to take events from the log, never while writing to a socket.

Shapes observed on real servers (probes against kube-apiserver v1.37.2 and v1.20.2 built
by ``scripts/build-kube-servers.sh``; ``k8s_assets_tests/test_simulator_watch.py`` compares
them with the simulator's):

- A watch from a resourceVersion the watch cache no longer holds answers **HTTP 200** and
  one event ``{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},
  "status":"Failure","message":"too old resource version: 211 (215)","reason":"Expired",
  "code":410}}``, then ends. ``(215)`` is where the cache's window starts (after a restart:
  the revision it listed at). Without a restart, 1.37 served such watches from etcd's
  history instead (ADDED events for objects created since), even across a compaction:
  the simulator always answers 410 (``compact()`` plays compaction *and* cache restart).
- BOOKMARK: ``{"kind":"ConfigMap","apiVersion":"v1","metadata":{"resourceVersion":"214"}}``
  (v1.20 adds ``"creationTimestamp":null``). Real servers send one about every minute and
  one about 2 s before ``timeoutSeconds`` runs out; the simulator every ``bookmark_interval``
  seconds and right before the timeout ends the stream.
- Streaming list (``sendInitialEvents=true&resourceVersionMatch=NotOlderThan``, v1.37 with
  the WatchList gate on by default): ADDED events of the current objects, then (only with
  ``allowWatchBookmarks=true``) ``{"type":"BOOKMARK","object":{"kind":"ConfigMap",
  "apiVersion":"v1","metadata":{"resourceVersion":"214","annotations":
  {"k8s.io/initial-events-end":"true"}}}}`` carrying the current resourceVersion, then live
  events. v1.37 also sends that bookmark after the synthetic ADDED events of a *legacy* watch
  with resourceVersion unset or "0" when it allows bookmarks; with the gate off it does not.
- v1.37 answers 422 Invalid (``ListOptions.meta.k8s.io "" is invalid: ...``) for
  ``sendInitialEvents`` without ``resourceVersionMatch=NotOlderThan``, for
  ``resourceVersionMatch`` without ``sendInitialEvents``, and, with ``WatchList=false``, for
  any ``sendInitialEvents``: ``sendInitialEvents: Forbidden: sendInitialEvents is forbidden
  for watch unless the WatchList feature gate is enabled``.
- v1.20 predates sendInitialEvents: it ignores the parameter (``sendInitialEvents=true``
  alone is a legacy watch: ADDED events, no bookmark) but rejects ``resourceVersionMatch`` on
  any watch, so a streaming-list request gets 422 ``resourceVersionMatch: Forbidden:
  resourceVersionMatch is forbidden for watch`` (plus ``...forbidden unless resourceVersion
  is provided`` when resourceVersion is unset). The simulator does not model v1.20 here.
- A resourceVersion that is not a number: 500 with ``resourceVersion: Invalid value: "abc":
  strconv.ParseUint: parsing "abc": invalid syntax`` and no reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import orjson

from k8s_assets.simulator.store import ClusterStore, Snapshot, StatusError, WatchEvent, too_old

if TYPE_CHECKING:
    from k8s_assets.simulator.generator import ResourceType

# kube-apiserver gives a watch without timeoutSeconds 30-60 minutes (--min-request-timeout 1800).
DEFAULT_WATCH_TIMEOUT = 1800.0
# How often an idle watch wakes to see whether its client left or its connection was dropped.
IDLE_POLL_SECONDS = 0.2
# Initial events written per chunk.
EVENTS_PER_CHUNK = 500
INITIAL_EVENTS_END = "k8s.io/initial-events-end"


def _invalid(causes: list[tuple[str, str, str]]) -> StatusError:
    """A 422 about ListOptions, as apimachinery's validation words it: (field, reason, detail)."""
    prefix = {"FieldValueForbidden": "Forbidden", "FieldValueNotSupported": "Unsupported value"}
    texts = [f"{field}: {prefix[reason]}: {detail}" for field, reason, detail in causes]
    message = 'ListOptions.meta.k8s.io "" is invalid: ' + (texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]")
    details = {
        "group": "meta.k8s.io",
        "kind": "ListOptions",
        "causes": [
            {"reason": reason, "message": f"{prefix[reason]}: {detail}", "field": field} for field, reason, detail in causes
        ],
    }
    return StatusError(422, "Invalid", message, details)


@dataclass(frozen=True)
class WatchOptions:
    resource_version: str  # "" when unset
    allow_bookmarks: bool
    timeout: float
    send_initial_events: bool | None

    @classmethod
    def parse(cls, query: dict[str, str], watch_list: bool, legacy: bool = False) -> WatchOptions:
        """The options of a watch request, validated the way kube-apiserver validates them.

        ``watch_list``: the WatchList feature gate. ``legacy``: ignore sendInitialEvents and
        resourceVersionMatch altogether (a plain watch, whatever they say).
        """
        resource_version = query.get("resourceVersion") or ""
        if resource_version and not resource_version.isdigit():
            raise StatusError(
                500, "", f'resourceVersion: Invalid value: "{resource_version}": strconv.ParseUint: '
                f'parsing "{resource_version}": invalid syntax'
            )
        raw_initial = query.get("sendInitialEvents")
        send_initial: bool | None = None if raw_initial in (None, "") else raw_initial in ("true", "1", "True")
        match = query.get("resourceVersionMatch") or ""
        if legacy:
            send_initial = None
        else:
            causes = []
            if send_initial is not None and match != "NotOlderThan":
                causes.append(("resourceVersionMatch", "FieldValueForbidden",
                               "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"))
            if send_initial is not None and not watch_list:
                causes.append(("sendInitialEvents", "FieldValueForbidden",
                               "sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled"))
            if match and send_initial is None:
                causes.append(("resourceVersionMatch", "FieldValueForbidden",
                               "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided"))
            elif match and match != "NotOlderThan":
                causes.append(("resourceVersionMatch", "FieldValueNotSupported",
                               f'"{match}": supported values: "NotOlderThan"'))
            if causes:
                raise _invalid(causes)
        try:
            timeout = float(query["timeoutSeconds"]) if query.get("timeoutSeconds") else DEFAULT_WATCH_TIMEOUT
        except ValueError:
            raise StatusError(400, "BadRequest", f"invalid timeoutSeconds {query['timeoutSeconds']!r}") from None
        allow = query.get("allowWatchBookmarks") in ("true", "1", "True")
        return cls(resource_version, allow, timeout if timeout > 0 else DEFAULT_WATCH_TIMEOUT, send_initial)


class WatchStream:
    """One watch: the chunks of its response body, produced by :meth:`chunks`.

    ``chunks`` yields non-empty bytes to send, or ``b""`` when idle (the server then checks
    whether the client is still there). It returns when the watch ends: its timeout ran out
    (``ended_cleanly``), it expired (a 410 ERROR event was sent), or ``should_stop()`` said
    the connection is being dropped (``dropped``: no terminating chunk may follow).
    """

    def __init__(
        self,
        store: ClusterStore,
        rt: ResourceType,
        namespace: str | None,
        options: WatchOptions,
        watch_list: bool,
        bookmark_interval: float,
        should_stop: Callable[[], bool],
        expire: bool = False,
    ) -> None:
        self.store = store
        self.resource = store.resource(rt.key)
        self.version = rt.version
        self.api_version = rt.api_version
        self.kind = rt.kind
        self.namespace = namespace
        self.options = options
        self.bookmark_interval = max(0.01, bookmark_interval)
        self.should_stop = should_stop
        self.dropped = False
        self.ended_cleanly = False
        self.events_sent = 0
        self._watch_list = watch_list
        self._expire = expire  # an "expired" fault: answer as if the log had moved past the request
        self._started = time.monotonic()

    # -- serialization ------------------------------------------------------------------------

    def _line(self, type_: str, item: bytes) -> bytes:
        return b'{"type":"' + type_.encode() + b'","object":' + self.store.served_object(self.resource, self.version, item) + b"}\n"

    def _bookmark(self, resource_version: int, initial_events_end: bool = False) -> bytes:
        metadata: dict = {"resourceVersion": str(resource_version)}
        if initial_events_end:
            metadata["annotations"] = {INITIAL_EVENTS_END: "true"}
        body = {"kind": self.kind, "apiVersion": self.api_version, "metadata": metadata}
        return b'{"type":"BOOKMARK","object":' + orjson.dumps(body) + b"}\n"

    @staticmethod
    def _error(error: StatusError) -> bytes:
        return b'{"type":"ERROR","object":' + orjson.dumps(error.status()) + b"}\n"

    def _matches(self, event: WatchEvent, after_rv: int) -> bool:
        return event.resource_version > after_rv and (self.namespace is None or event.key[0] == self.namespace)

    # -- the stream ---------------------------------------------------------------------------

    def _start(self) -> tuple[Snapshot | None, int, int, StatusError | None]:
        """Under the lock: (snapshot for initial events or None, log position, resourceVersion now, error)."""
        options = self.options
        rv = options.resource_version
        with self.store.lock:
            now_rv = self.store.resource_version
            log = self.resource.events
            if options.send_initial_events is True or (options.send_initial_events is None and rv in ("", "0")):
                return self.store._current_snapshot(self.resource), log.end, now_rv, None
            if self._expire:
                return None, 0, now_rv, too_old(rv or 0, now_rv)
            if options.send_initial_events is False and rv in ("", "0"):
                return None, log.end, now_rv, None
            position = log.position_after(int(rv))
            if position is None:
                return None, 0, now_rv, too_old(rv, log.start_rv)
            return None, position, now_rv, None

    def chunks(self) -> Iterator[bytes]:
        options = self.options
        deadline = self._started + options.timeout
        snapshot, position, now_rv, error = self._start()
        if error is not None:
            yield self._error(error)
            return
        after_rv = int(options.resource_version or 0) if snapshot is None else 0
        if snapshot is not None:
            start, end = snapshot.bounds(self.namespace)
            for first in range(start, end, EVENTS_PER_CHUNK):
                items = snapshot.items[first : min(end, first + EVENTS_PER_CHUNK)]
                yield b"".join(self._line("ADDED", item) for item in items)
                self.events_sent += len(items)
            # v1.37 ends the initial events with a bookmark when bookmarks are allowed: for a
            # streaming list, and (gate on) for a legacy watch from "now" too.
            if options.allow_bookmarks and (options.send_initial_events is True or self._watch_list):
                yield self._bookmark(now_rv, initial_events_end=True)
        next_bookmark = time.monotonic() + self.bookmark_interval
        while True:
            with self.store.changed:
                events = self.resource.events.read(position)
                if events == [] and not self.should_stop():
                    wait = min(next_bookmark, deadline) - time.monotonic()
                    if wait > 0:
                        self.store.changed.wait(min(wait, IDLE_POLL_SECONDS))
                    events = self.resource.events.read(position)
                now_rv = self.store.resource_version
                start_rv = self.resource.events.start_rv
            if events is None:  # the log moved past this watch before it read everything
                yield self._error(too_old(max(after_rv, 0), start_rv))
                return
            position += len(events)
            lines = [self._line(e.type, e.item) for e in events if self._matches(e, after_rv)]
            for first in range(0, len(lines), EVENTS_PER_CHUNK):
                yield b"".join(lines[first : first + EVENTS_PER_CHUNK])
            self.events_sent += len(lines)
            if lines:
                after_rv = max(after_rv, events[-1].resource_version)
            if self.should_stop():
                self.dropped = True
                return
            now = time.monotonic()
            if now >= deadline:
                if options.allow_bookmarks:
                    yield self._bookmark(now_rv)
                self.ended_cleanly = True
                return
            if options.allow_bookmarks and now >= next_bookmark:
                yield self._bookmark(now_rv)
                next_bookmark = now + self.bookmark_interval
            else:
                yield b""


__all__ = ["DEFAULT_WATCH_TIMEOUT", "INITIAL_EVENTS_END", "WatchOptions", "WatchStream"]
