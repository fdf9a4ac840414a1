"""The object store of one simulated cluster: pre-serialized objects and list snapshots.

Objects are kept only as compact JSON bytes (orjson), keyed by (namespace, name) like
etcd keys, so memory stays proportional to the JSON served. A list is served from a
*snapshot*: an immutable, sorted tuple of item bytes taken at one resourceVersion and
rebuilt lazily after changes. A page is ``header + b",".join(items[a:b]) + footer``;
no JSON is rebuilt per request. Continue tokens name the snapshot they page through, so
every page of a list is consistent; a token whose snapshot was evicted gets 410 Expired
with an inconsistent token in ``metadata.continue``, as kube-apiserver does.

Every change bumps the cluster-wide resourceVersion, like an etcd revision, and is kept
in a bounded per-resource event log (the object bytes and the kind of change) that watches
read from; ``changed`` (a Condition on the store lock) wakes them.
"""

from __future__ import annotations

import base64
import bisect
import contextlib
import random
import re
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import orjson

from k8s_assets.simulator.generator import ResourceType

# Snapshots kept per resource for continue tokens; older ones answer 410 Expired.
RETAINED_SNAPSHOTS = 8
# Changes kept per resource for watches; a watch from an older resourceVersion answers 410.
EVENT_LOG_SIZE = 100_000

EXPIRED_TOKEN_MESSAGE = (
    "The provided continue parameter is too old to display a consistent list result. "
    "You can start a new list without the continue parameter, or use the continue token in "
    "this response to retrieve the remainder of the results. Continuing with the provided "
    "token results in an inconsistent list - objects that were created, modified, or deleted "
    "between the time the first chunk was returned and now may show up in the list."
)
EXPIRED_LIST_MESSAGE = "The resourceVersion for the provided list is too old."

ObjectKey = tuple[str, str]  # (namespace or "", name)


class StatusError(Exception):
    """An API error, rendered by the server as a ``Status`` object."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        details: dict | None = None,
        continue_token: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.continue_token = continue_token

    def status(self) -> dict:
        # Field order follows apimachinery's Status so the bytes look like the real thing.
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {"continue": self.continue_token} if self.continue_token else {},
            "status": "Failure",
            "message": self.message,
        }
        if self.reason:  # kube-apiserver leaves it out of some 500s
            body["reason"] = self.reason
        if self.details is not None:
            body["details"] = self.details
        body["code"] = self.code
        return body


def not_found(plural: str, name: str, group: str = "") -> StatusError:
    details = {"name": name, "group": group, "kind": plural} if group else {"name": name, "kind": plural}
    resource = f"{plural}.{group}" if group else plural
    return StatusError(404, "NotFound", f'{resource} "{name}" not found', details)


def bad_request(message: str) -> StatusError:
    return StatusError(400, "BadRequest", message)


@dataclass(frozen=True)
class ContinueToken:
    """Where the next page of a list starts. ``snapshot_id == -1``: the latest data (inconsistent)."""

    resource_version: int
    snapshot_id: int
    offset: int
    start: ObjectKey
    page: int

    def encode(self) -> str:
        raw = orjson.dumps(
            {
                "v": "meta.k8s.io/v1",
                "rv": self.resource_version,
                "sid": self.snapshot_id,
                "off": self.offset,
                "start": list(self.start),
                "page": self.page,
            }
        )
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    @classmethod
    def decode(cls, token: str) -> ContinueToken:
        try:
            fields = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            return cls(
                int(fields["rv"]),
                int(fields["sid"]),
                int(fields["off"]),
                (str(fields["start"][0]), str(fields["start"][1])),
                int(fields["page"]),
            )
        except (ValueError, KeyError, IndexError, TypeError) as error:
            raise bad_request(f"continue key is not valid: {error}") from None

    def inconsistent(self) -> ContinueToken:
        """The token a 410 offers: continue from the same key in whatever data is current."""
        return ContinueToken(-1, -1, 0, self.start, self.page)


class Snapshot:
    """An immutable view of one resource at one resourceVersion, shared by all its pages."""

    __slots__ = ("snapshot_id", "resource_version", "keys", "items", "namespace_ranges", "_items_by_version")

    def __init__(self, snapshot_id: int, resource_version: int, objects: dict[ObjectKey, bytes]) -> None:
        self.snapshot_id = snapshot_id
        self.resource_version = resource_version
        self.keys: tuple[ObjectKey, ...] = tuple(sorted(objects))
        self.items: tuple[bytes, ...] = tuple(objects[key] for key in self.keys)
        # Keys are sorted by namespace first, so each namespace is one contiguous range.
        self.namespace_ranges: dict[str, tuple[int, int]] = {}
        start = 0
        for index in range(1, len(self.keys) + 1):
            if index == len(self.keys) or self.keys[index][0] != self.keys[start][0]:
                self.namespace_ranges[self.keys[start][0]] = (start, index)
                start = index
        self._items_by_version: dict[bytes, tuple[bytes, ...]] = {}

    def bounds(self, namespace: str | None) -> tuple[int, int]:
        if namespace is None:
            return 0, len(self.items)
        return self.namespace_ranges.get(namespace, (0, 0))

    def items_with_prefix(self, storage_prefix: bytes, served_prefix: bytes) -> tuple[bytes, ...]:
        """Items re-labelled for another served version (built once per version, on demand)."""
        if served_prefix == storage_prefix:
            return self.items
        rewritten = self._items_by_version.get(served_prefix)
        if rewritten is None:
            cut = len(storage_prefix)
            rewritten = tuple(served_prefix + item[cut:] for item in self.items)
            self._items_by_version[served_prefix] = rewritten
        return rewritten


def _kube_version_priority(version: str) -> tuple:
    """Sort key putting versions in kube-apiserver's preference order (v2 > v1 > v1beta2 > v1alpha1)."""
    match = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if not match:
        return (3, 0, 0, version)
    stability = {None: 0, "beta": 1, "alpha": 2}[match.group(2)]
    return (stability, -int(match.group(1)), -int(match.group(3) or 0), version)


def sort_versions(versions: Iterable[str]) -> list[str]:
    return sorted(set(versions), key=_kube_version_priority)


@dataclass(frozen=True)
class WatchEvent:
    """One change of one object, as a watch serves it: ``item`` is the stored bytes (a
    DELETED event's item carries the deletion's resourceVersion)."""

    resource_version: int
    type: str  # ADDED, MODIFIED, DELETED
    key: ObjectKey
    item: bytes


class EventLog:
    """The changes of one resource, oldest first, bounded like a watch cache's window.

    Positions are absolute (they survive trimming): event ``p`` lives at ``events[p - offset]``.
    Every change with resourceVersion > ``start_rv`` is still here; older ones are forgotten.
    Trimming happens in steps (``size`` to ``size + size // 8``), so appends stay O(1).
    """

    def __init__(self, size: int, start_rv: int) -> None:
        self.size = max(1, size)
        self.events: list[WatchEvent] = []
        self.rvs: list[int] = []
        self.offset = 0
        self.start_rv = start_rv

    @property
    def end(self) -> int:
        """The position just past the newest event."""
        return self.offset + len(self.events)

    def append(self, event: WatchEvent) -> None:
        self.events.append(event)
        self.rvs.append(event.resource_version)
        if len(self.events) > self.size + self.size // 8:
            drop = len(self.events) - self.size
            self.start_rv = self.rvs[drop - 1]
            del self.events[:drop]
            del self.rvs[:drop]
            self.offset += drop

    def forget(self, start_rv: int, expire_readers: bool = False) -> None:
        """Forget every event (a compaction): watches from before ``start_rv`` now expire.
        ``expire_readers``: open watches expire too, even those that read every event."""
        self.offset = self.end + (1 if expire_readers else 0)
        self.events.clear()
        self.rvs.clear()
        self.start_rv = start_rv

    def position_after(self, resource_version: int) -> int | None:
        """Where a watch from ``resource_version`` starts reading, or None if that is too old."""
        if resource_version < self.start_rv:
            return None
        return self.offset + bisect.bisect_right(self.rvs, resource_version)

    def read(self, position: int) -> list[WatchEvent] | None:
        """Events from ``position`` on, or None if some of them were already forgotten."""
        if position < self.offset:
            return None
        return self.events[position - self.offset :]


def too_old(resource_version: int | str, start_rv: int) -> StatusError:
    """What kube-apiserver's watch cache answers (as an ERROR event) for a watch from before its window."""
    return StatusError(410, "Expired", f"too old resource version: {resource_version} ({start_rv})")


class ResourceStore:
    """All objects of one resource (one key, possibly several served versions)."""

    def __init__(self, resource_types: list[ResourceType], storage_version: str) -> None:
        first = resource_types[0]
        self.key = first.key
        self.group = first.group
        self.plural = first.plural
        self.kind = first.kind
        self.namespaced = first.namespaced
        self.types_by_version = {rt.version: rt for rt in resource_types}
        self.storage_version = storage_version
        self.objects: dict[ObjectKey, bytes] = {}
        self.snapshots: OrderedDict[int, Snapshot] = OrderedDict()
        self.dirty = True
        self.events = EventLog(EVENT_LOG_SIZE, 0)

    def api_version(self, version: str) -> str:
        return f"{self.group}/{version}" if self.group else version

    def item_prefix(self, version: str) -> bytes:
        """How a custom resource item starts when served at ``version`` (apiVersion comes first)."""
        return b'{"apiVersion":' + orjson.dumps(self.api_version(version)) + b","


class ClusterStore:
    """Every resource of one cluster, its resourceVersion counter, and the lock guarding both.

    ``custom_keys`` are resources whose items carry ``kind``/``apiVersion`` (custom
    resources); built-in list items carry neither, as on a real cluster.
    """

    def __init__(
        self,
        resource_types: list[ResourceType],
        storage_versions: dict[str, str],
        custom_keys: set[str],
        seed: int,
        event_log_size: int = EVENT_LOG_SIZE,
    ) -> None:
        self.lock = threading.RLock()
        # Notified (under ``lock``) on every change, compaction and dropped connection: wakes watches.
        self.changed = threading.Condition(self.lock)
        self.resource_version = 0
        self._snapshot_ids = 0
        self._batch_depth = 0
        self._random = random.Random(seed)
        self.custom_keys = custom_keys
        by_key: dict[str, list[ResourceType]] = {}
        for rt in resource_types:
            by_key.setdefault(rt.key, []).append(rt)
        self.resources = {key: ResourceStore(types, storage_versions[key]) for key, types in by_key.items()}
        for store in self.resources.values():
            store.events = EventLog(event_log_size, 0)

    # -- loading and serialization ---------------------------------------------------------

    def resource(self, key: str) -> ResourceStore:
        try:
            return self.resources[key]
        except KeyError:
            raise KeyError(f"unknown resource {key!r}; known: {sorted(self.resources)}") from None

    def _serialize(self, store: ResourceStore, obj: dict) -> bytes:
        if store.key in self.custom_keys:
            # apiVersion first, always at the storage version, so other served versions
            # can be produced by swapping a fixed prefix instead of re-encoding.
            rest = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
            obj = {"apiVersion": store.api_version(store.storage_version), "kind": store.kind, **rest}
        else:
            obj = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
        return orjson.dumps(obj)

    @staticmethod
    def _object_key(store: ResourceStore, obj: dict) -> ObjectKey:
        metadata = obj.get("metadata") or {}
        name = metadata.get("name")
        if not name:
            raise ValueError(f"{store.key} object has no metadata.name")
        namespace = metadata.get("namespace") or ""
        if store.namespaced and not namespace:
            raise ValueError(f"{store.key} is namespaced; {name!r} needs metadata.namespace")
        if not store.namespaced and namespace:
            raise ValueError(f"{store.key} is cluster-scoped; {name!r} must not have a namespace")
        return namespace, name

    def load(self, key: str, objects: Iterable[dict]) -> None:
        """Take generated objects as they are (they already carry uid and resourceVersion).

        Loading is not a change a watch sees: the resource's event log starts after it, so a
        watch from an earlier resourceVersion expires (like a watch cache built from a list),
        and so do open watches of the resource (they get a 410 ERROR event).
        """
        store = self.resource(key)
        with self.lock:
            for obj in objects:
                store.objects[self._object_key(store, obj)] = self._serialize(store, obj)
                self.resource_version = max(self.resource_version, int(obj["metadata"]["resourceVersion"]))
            store.dirty = True
            store.events.forget(self.resource_version, expire_readers=True)
            self.changed.notify_all()

    def replace_all(self, key: str, objects: Iterable[dict]) -> None:
        """Serve exactly ``objects`` (as they are: uids, resourceVersions, managedFields) for ``key``;
        how a test serves a real server's objects to compare the two."""
        store = self.resource(key)
        with self.lock:
            store.objects.clear()
            store.dirty = True
            # A new revision, so the replacement's event log starts after every earlier watch
            # position: open watches of this resource then expire (410) rather than miss it.
            self._next_resource_version()
            self.load(key, objects)
            self._current_snapshot(store)

    # -- changes ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Hold the lock across many changes; lists see all of them or none."""
        with self.lock:
            self._batch_depth += 1
            try:
                yield
            finally:
                self._batch_depth -= 1
                if self._batch_depth == 0:
                    for store in self.resources.values():
                        if store.dirty:
                            self._current_snapshot(store)

    def _next_resource_version(self) -> int:
        self.resource_version += 1
        return self.resource_version

    def _record(self, store: ResourceStore, type_: str, object_key: ObjectKey, item: bytes) -> None:
        store.events.append(WatchEvent(self.resource_version, type_, object_key, item))
        self.changed.notify_all()

    def compact(self) -> None:
        """Forget every resource's event log (an etcd compaction plus a watch cache restart):
        a watch from any resourceVersion before the current one answers 410 Expired."""
        with self.lock:
            for store in self.resources.values():
                store.events.forget(self.resource_version)
            self.changed.notify_all()

    def create(self, key: str, obj: dict) -> dict:
        store = self.resource(key)
        obj = orjson.loads(orjson.dumps(obj))  # a private deep copy
        with self.lock:
            object_key = self._object_key(store, obj)
            if object_key in store.objects:
                raise ValueError(f'{key} "{object_key[1]}" already exists')
            if object_key[0] and ("", object_key[0]) not in self.resource("namespaces").objects:
                raise LookupError(f'namespaces "{object_key[0]}" not found')
            metadata = obj["metadata"]
            metadata.setdefault("uid", str(uuid.UUID(int=self._random.getrandbits(128), version=4)))
            metadata.setdefault("creationTimestamp", datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
            metadata["resourceVersion"] = str(self._next_resource_version())
            item = self._serialize(store, obj)
            store.objects[object_key] = item
            store.dirty = True
            self._record(store, "ADDED", object_key, item)
        return orjson.loads(item)  # outside the lock: watches serving events wait for it

    def modify(self, key: str, name: str, namespace: str | None, mutate: Callable[[dict], dict | None]) -> dict:
        store = self.resource(key)
        with self.lock:
            object_key = (namespace or "", name)
            current = store.objects.get(object_key)
            if current is None:
                raise KeyError(f'{key} "{name}" not found' + (f' in namespace "{namespace}"' if namespace else ""))
            obj = orjson.loads(current)
            identity = (obj["metadata"].get("uid"), self._object_key(store, obj))
            obj = mutate(obj) or obj
            if (obj["metadata"].get("uid"), self._object_key(store, obj)) != identity:
                raise ValueError("modify must not change metadata.name, metadata.namespace or metadata.uid")
            obj["metadata"]["resourceVersion"] = str(self._next_resource_version())
            item = self._serialize(store, obj)
            store.objects[object_key] = item
            store.dirty = True
            self._record(store, "MODIFIED", object_key, item)
        return orjson.loads(item)  # outside the lock: watches serving events wait for it

    def delete(self, key: str, name: str, namespace: str | None) -> dict:
        """Remove an object; returns its last state, carrying the deletion's resourceVersion
        (what a DELETED watch event serves)."""
        store = self.resource(key)
        with self.lock:
            object_key = (namespace or "", name)
            item = store.objects.pop(object_key, None)
            if item is None:
                raise KeyError(f'{key} "{name}" not found' + (f' in namespace "{namespace}"' if namespace else ""))
            obj = orjson.loads(item)
            obj["metadata"]["resourceVersion"] = str(self._next_resource_version())
            store.dirty = True
            self._record(store, "DELETED", object_key, self._serialize(store, obj))
            return obj

    # -- reads --------------------------------------------------------------------------------

    def get(self, key: str, name: str, namespace: str | None) -> bytes | None:
        store = self.resource(key)
        with self.lock:
            return store.objects.get((namespace or "", name))

    def all_items(self, key: str) -> tuple[bytes, ...]:
        with self.lock:
            return self._current_snapshot(self.resource(key)).items

    def _current_snapshot(self, store: ResourceStore) -> Snapshot:
        if store.dirty or not store.snapshots:
            self._snapshot_ids += 1
            snapshot = Snapshot(self._snapshot_ids, self.resource_version, store.objects)
            store.snapshots[snapshot.snapshot_id] = snapshot
            while len(store.snapshots) > RETAINED_SNAPSHOTS:
                store.snapshots.popitem(last=False)
            store.dirty = False
        return next(reversed(store.snapshots.values()))

    def expire_snapshots(self, key: str) -> None:
        """Forget every retained snapshot of a resource, so outstanding continue tokens expire."""
        with self.lock:
            store = self.resource(key)
            store.snapshots.clear()
            store.dirty = True

    def list_page(
        self,
        key: str,
        version: str,
        namespace: str | None,
        limit: int | None,
        token: ContinueToken | None,
    ) -> bytes:
        """One page of a list as complete JSON bytes."""
        store = self.resource(key)
        with self.lock:
            if token is None:
                snapshot = self._current_snapshot(store)
                list_rv, page = self.resource_version, 1
                start, end = snapshot.bounds(namespace)
            elif token.snapshot_id == -1:  # an inconsistent token from a 410: latest data
                snapshot = self._current_snapshot(store)
                list_rv, page = self.resource_version, token.page
                low, end = snapshot.bounds(namespace)
                start = max(low, bisect.bisect_left(snapshot.keys, token.start, low, end))
            else:
                snapshot = store.snapshots.get(token.snapshot_id)
                if snapshot is None:
                    raise StatusError(410, "Expired", EXPIRED_TOKEN_MESSAGE, continue_token=token.inconsistent().encode())
                list_rv, page = token.resource_version, token.page
                low, end = snapshot.bounds(namespace)
                start = token.offset
                if not low <= start <= end:
                    raise bad_request("continue key does not belong to this list")
        if store.key in self.custom_keys:
            items = snapshot.items_with_prefix(store.item_prefix(store.storage_version), store.item_prefix(version))
        else:
            items = snapshot.items
        stop = end if not limit else min(end, start + limit)
        metadata: dict[str, Any] = {"resourceVersion": str(list_rv)}
        if stop < end:
            metadata["continue"] = ContinueToken(list_rv, snapshot.snapshot_id, stop, snapshot.keys[stop], page + 1).encode()
            metadata["remainingItemCount"] = end - stop
        header = b'{"kind":%s,"apiVersion":%s,"metadata":%s,"items":[' % (
            orjson.dumps(store.kind + "List"),
            orjson.dumps(store.api_version(version)),
            orjson.dumps(metadata),
        )
        return header + b",".join(items[start:stop]) + b"]}"

    def list_pages(self, key: str, version: str, limit: int) -> list[bytes]:
        """Every page of one complete list, as the server sends them (benchmarks, tests of decoding)."""
        pages, token = [], None
        while True:
            pages.append(self.list_page(key, version, None, limit, token))
            following = orjson.loads(pages[-1])["metadata"].get("continue")
            if not following:
                return pages
            token = ContinueToken.decode(following)

    def single_object(self, key: str, version: str, name: str, namespace: str | None) -> bytes:
        """A GET of one object: unlike list items, built-ins carry kind and apiVersion here."""
        store = self.resource(key)
        item = self.get(key, name, namespace)
        if item is None:
            raise not_found(store.plural, name, store.group)
        return self.served_object(store, version, item)

    def served_object(self, store: ResourceStore, version: str, item: bytes) -> bytes:
        """Stored item bytes as served on their own (a GET, a watch event) at ``version``."""
        if store.key in self.custom_keys:
            storage_prefix = store.item_prefix(store.storage_version)
            return store.item_prefix(version) + item[len(storage_prefix) :]
        head = b'{"kind":%s,"apiVersion":%s' % (orjson.dumps(store.kind), orjson.dumps(store.api_version(version)))
        return head + (b"," + item[1:] if item != b"{}" else b"}")
