"""Churn: a thread that keeps changing one resource of a simulated cluster at a steady rate.

``with cluster.churn(200, resource="pods", seed=1) as churn: ...`` creates, modifies and
deletes objects while the block runs, the way deployments rolling, pods restarting and jobs
finishing churn a real cluster, so watchers and syncers have live changes to keep up with.

- New objects are copies of existing ones (the generator's own objects: generated pods with
  their owners, containers, volumes and status) under a new name in the same (existing)
  namespace, with a fresh uid and creationTimestamp.
- Modifications change what real churn changes: an annotation and a label, and for pods
  the containers' restartCount and a condition's lastTransitionTime.
- Deletions pick a random object. With equal create and delete ratios (the default) the
  count stays about where it was; when nothing is left to modify or delete, it creates.

Rate control does not trust ``sleep``: each round computes how many changes are due since
the start (``elapsed * events_per_second``), makes them, then waits for the next one to fall
due. Each change holds the store lock only for itself, never for the whole round: a watch
serving events (which takes the same lock to read the event log) would otherwise wait for the
round, and under CPU contention the churn thread holding the lock while descheduled starved the
watch (at 2,000 changes/s the serving thread spent over half its time waiting for the lock, and
the generator, not the watcher, set the pace).

Every change is recorded as ``ChurnRecord(resource, type, uid, resource_version, time)``
(``time.time()`` right after the change) in a bounded, thread-safe deque and, if given,
passed to ``on_change`` (called in the churn thread, outside the store lock).
"""

from __future__ import annotations

import collections
import random
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, NamedTuple

import orjson

if TYPE_CHECKING:
    from k8s_assets.simulator.store import ClusterStore, ObjectKey

CHURN_RECORD_SIZE = 1_000_000
# At most this many changes per batch: a churn that fell behind catches up in bounded steps.
MAX_BATCH = 1_000
CHURN_ANNOTATION = "simulator.k8s-assets.io/churn"


class ChurnRecord(NamedTuple):
    resource: str
    type: str  # ADDED, MODIFIED, DELETED (the watch event it causes)
    uid: str
    resource_version: int
    time: float  # time.time() just after the change


class Churn:
    """The churn of one resource; a context manager running its thread (see module doc)."""

    def __init__(
        self,
        store: ClusterStore,
        resource: str,
        events_per_second: float,
        seed: int = 0,
        create: float = 0.25,
        modify: float = 0.5,
        delete: float = 0.25,
        on_change: Callable[[ChurnRecord], None] | None = None,
        record_size: int = CHURN_RECORD_SIZE,
    ) -> None:
        if events_per_second <= 0:
            raise ValueError("events_per_second must be positive")
        if min(create, modify, delete) < 0 or create + modify + delete <= 0:
            raise ValueError("create, modify and delete are non-negative ratios, not all zero")
        self.store = store
        self.resource = resource
        self.resource_store = store.resource(resource)  # fails fast on a misspelt key
        self.events_per_second = float(events_per_second)
        self.weights = (create, modify, delete)
        self.on_change = on_change
        self._random = random.Random(seed)
        self._records: collections.deque[ChurnRecord] = collections.deque(maxlen=record_size)
        self._records_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._keys: list[ObjectKey] = []
        self._index: dict[ObjectKey, int] = {}
        self._serial = 0
        self.counts = collections.Counter[str]()
        self.done = 0
        self.error: BaseException | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def __enter__(self) -> Churn:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("this churn already ran")
        with self.store.lock:
            for key in self.resource_store.objects:
                self._add_key(key)
        if not self._keys:
            raise ValueError(f"churn needs at least one {self.resource} object to copy")
        self._thread = threading.Thread(target=self._run, name=f"churn-{self.resource}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.error is not None:
            raise RuntimeError(f"the churn thread failed: {self.error!r}") from self.error

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def records(self) -> list[ChurnRecord]:
        """Every recorded change so far (the newest ``record_size``), oldest first."""
        with self._records_lock:
            return list(self._records)

    def make(self, changes: int) -> list[ChurnRecord]:
        """Exactly ``changes`` changes now, in the caller's thread and without the rate: a test's
        counted, seeded churn (the same seed makes the same changes). Not with a running thread."""
        if self._thread is not None:
            raise RuntimeError("this churn runs in its thread")
        with self.store.lock:
            for key in self.resource_store.objects:
                self._add_key(key)
        made: list[ChurnRecord] = []
        while changes > 0:
            step = self._batch(min(changes, MAX_BATCH))
            changes -= min(changes, MAX_BATCH)
            for record in step:
                if self.on_change is not None:
                    self.on_change(record)
            made += step
        return made

    def wait_for(self, changes: int, timeout: float = 120.0) -> bool:
        """Until at least ``changes`` changes were made; the timeout only stops a broken test hanging."""
        deadline = time.monotonic() + timeout
        while self.done < changes and time.monotonic() < deadline and self.running:
            time.sleep(0.01)
        return self.done >= changes

    # -- the thread -----------------------------------------------------------------------------

    def _run(self) -> None:
        started = time.monotonic()
        try:
            while not self._stop.is_set():
                due = int((time.monotonic() - started) * self.events_per_second) - self.done
                if due <= 0:
                    next_due = started + (self.done + 1) / self.events_per_second
                    self._stop.wait(min(0.1, max(0.001, next_due - time.monotonic())))
                    continue
                made = self._batch(min(due, MAX_BATCH))
                for record in made:
                    if self.on_change is not None:
                        self.on_change(record)
        except BaseException as error:  # reported by stop()
            self.error = error

    def _batch(self, count: int) -> list[ChurnRecord]:
        made = []
        for _ in range(count):  # each change takes the store lock itself (see the module doc)
            record = self._one_change()
            self.done += 1
            if record is not None:
                made.append(record)
                self.counts[record.type] += 1
        with self._records_lock:
            self._records.extend(made)
        return made

    def _one_change(self) -> ChurnRecord | None:
        kind = self._random.choices(("create", "modify", "delete"), self.weights)[0]
        if not self._keys:
            kind = "create"
        if kind == "create":
            return self._create()
        key = self._keys[self._random.randrange(len(self._keys))]
        try:
            if kind == "modify":
                obj = self.store.modify(self.resource, key[1], key[0] or None, self._mutate)
                type_ = "MODIFIED"
            else:
                obj = self.store.delete(self.resource, key[1], key[0] or None)
                self._remove_key(key)
                type_ = "DELETED"
        except KeyError:  # deleted by someone else meanwhile
            self._remove_key(key)
            return None
        return self._record(type_, obj)

    def _create(self) -> ChurnRecord | None:
        with self.store.lock:
            if self._keys:
                template_key = self._keys[self._random.randrange(len(self._keys))]
                template = self.resource_store.objects.get(template_key)
            else:
                template = None
            if template is None:
                template = next(iter(self.resource_store.objects.values()), None)
        if template is None:
            return None
        obj = orjson.loads(template)
        metadata = obj["metadata"]
        self._serial += 1
        base = metadata["name"][:40].rstrip("-.")
        metadata["name"] = f"{base}-churn-{self._serial:x}-{self._random.getrandbits(20):05x}"
        for field in ("uid", "resourceVersion", "creationTimestamp", "deletionTimestamp", "generateName"):
            metadata.pop(field, None)
        try:
            created = self.store.create(self.resource, obj)
        except (ValueError, LookupError):  # a name taken, a namespace gone
            return None
        self._add_key((metadata.get("namespace") or "", metadata["name"]))
        return self._record("ADDED", created)

    def _mutate(self, obj: dict) -> None:
        now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        metadata = obj["metadata"]
        generation = int((metadata.get("annotations") or {}).get(CHURN_ANNOTATION, "0")) + 1
        metadata.setdefault("annotations", {})[CHURN_ANNOTATION] = str(generation)
        metadata.setdefault("labels", {})["churn-generation"] = str(generation % 7)
        status = obj.get("status")
        if isinstance(status, dict):
            for container in status.get("containerStatuses") or ():
                container["restartCount"] = int(container.get("restartCount") or 0) + 1
            conditions = status.get("conditions") or ()
            if conditions:
                conditions[self._random.randrange(len(conditions))]["lastTransitionTime"] = now

    def _record(self, type_: str, obj: dict) -> ChurnRecord:
        metadata = obj["metadata"]
        return ChurnRecord(self.resource, type_, metadata.get("uid", ""), int(metadata["resourceVersion"]), time.time())

    def _add_key(self, key: ObjectKey) -> None:
        if key not in self._index:
            self._index[key] = len(self._keys)
            self._keys.append(key)

    def _remove_key(self, key: ObjectKey) -> None:
        index = self._index.pop(key, None)
        if index is None:
            return
        last = self._keys.pop()
        if index < len(self._keys):
            self._keys[index] = last
            self._index[last] = index
