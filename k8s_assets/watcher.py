"""``k8s-assets watch``: keep each cluster's inventory and history current to the event.

Per context, the watcher resolves the cluster (``describe_cluster``, stored like the sync's
``k8s_clusters`` row), then watches every selected typed kind in a thread of its own:

* **where to start.** From the resourceVersion the kind's watch last applied (``k8s_watch_state``),
  so a restarted watcher lists nothing; else from a complete listing merged like the scheduled
  sync's (the staged merge: every page, or a streaming list's initial events, into COPY, one
  transaction, stale rows deleted). Servers from 1.27 are asked for a streaming list
  (``sendInitialEvents``); one that refuses it (its WatchList gate off) or an older one is listed
  in pages, then watched from the list's resourceVersion.
* **events** are kept as rows (decoded once, as a list page's items) in a per-kind buffer, and a
  per-cluster applier writes each kind's buffer as one batch every ``batch_seconds`` or
  ``batch_events`` (``store.watched.apply_batch``: the merge's write, the history's versions, the
  watch's resourceVersion and lag, one transaction). A full buffer stops its reader: a slow
  database slows the watch, never grows memory. A batch the database refused is tried again.
* **every way a watch ends**: the server's ``timeoutSeconds`` or a dropped connection resumes
  from the last resourceVersion received (bookmarks keep it fresh); 410 Gone lists the kind again
  and resumes; forbidden records it in the watch state, keeps the rows and tries again later;
  a kind the cluster stops serving is left to the scheduled sync.
* **Dagster** hears of each kind's applied events as a runless materialization of its partition,
  at most every ``report_seconds`` (the UI's freshness); the checks stay with the scheduled sync,
  which also stays the reconciler (objects deleted while no watch ran, coverage).

Why a process of its own and not a Dagster run: a run is meant to end (run monitoring, pool
slots, retries and run timeouts all assume it), and one that never ends holds a pool slot and
shows as forever in progress. The watcher is supervised by what runs it (a Deployment,
``deploy/watcher.yaml``, or systemd) and by the ``watch_keeping_up`` check of every scheduled sync.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import pandas as pd

from k8s_assets.catalog.generic import CUSTOM_RESOURCES, custom_resource_kind, is_shared_table
from k8s_assets.catalog.types import Kind
from k8s_assets.kube.cluster import describe_cluster
from k8s_assets.kube.config import KubeContext, Settings, contexts_in
from k8s_assets.kube.custom_resources import CRDS, list_crds
from k8s_assets.kube.decoding import ProjectedRowBuilder
from k8s_assets.kube.discovery import Discovery, discover
from k8s_assets.kube.listing import (ListingError, ListingForbidden, ListingNotServed, api_client, empty_frame,
                                     list_kind, take_frame)
from k8s_assets.kube.watch import WatchEvent, WatchExpired, WatchListRefused, WatchStream
from k8s_assets.store.clusters import write_cluster
from k8s_assets.store.contract import KindListing
from k8s_assets.store.database import Connect
from k8s_assets.store.merge import StagedMerge, merge
from k8s_assets.store.versions import stored_versions
from k8s_assets.store.watched import (AppliedBatch, WatchBatch, analyze_if_never_analyzed, apply_batch, resource_uids,
                                      resume_from, stored_rows, write_state)

log = logging.getLogger(__name__)

STREAMING_LIST_SINCE = (1, 27)  # servers before it ignore sendInitialEvents (and send no end bookmark)
INITIAL_CHUNK_ROWS = 500
ONE_MICROSECOND = dt.timedelta(microseconds=1)


@dataclass(frozen=True)
class WatchOptions:
    # A kind's events are applied this long after the first of them arrived (more join meanwhile),
    # or as soon as batch_events are waiting. 2 s (the first design) put the lag's p99 at 2.1 s.
    batch_seconds: float = 0.25
    batch_events: int = 5000
    max_pending_events: int = 20_000  # a kind's reader waits when this many are not applied yet
    timeout_seconds: int = 300  # each watch request's timeoutSeconds (then it resumes)
    report_seconds: float = 5.0  # at most one Dagster materialization per kind and partition this often
    heartbeat_seconds: float = 30.0  # an idle kind's bookmark is recorded at most this often
    retry_delay: float = 1.0  # first wait after a failed watch or batch, doubled up to max_retry_delay
    # After an API server outage the watch resumes at most this long after the server is back (then
    # a 410 relist): 15 s keeps recovery within the 30 s target (benchmarks/bench_watch_real.py).
    max_retry_delay: float = 15.0
    forbidden_retry_seconds: float = 300.0  # a forbidden kind is tried again after this long
    streaming_list: bool | None = None  # None: ask servers from 1.27, fall back when refused
    listings: int = 4  # complete listings at once, over every cluster (each holds a database connection)
    start_retry_seconds: float = 60.0  # a context that could not be reached is tried again this often


Report = Callable[[str, Kind, "KindTotals"], None]


@dataclass
class KindTotals:
    """What a kind's batches did since its last report to Dagster."""

    events: int = 0
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    outdated: int = 0
    rejected: int = 0
    batches: int = 0
    stored: int = 0
    lag_p99: float = 0.0
    lag_max: float = 0.0
    resource_version: str | None = None

    def add(self, applied: AppliedBatch, resource_version: str | None) -> None:
        self.events += applied.events
        self.inserted += applied.inserted
        self.updated += applied.updated
        self.deleted += applied.deleted
        self.outdated += applied.outdated
        self.rejected += applied.rejected
        self.batches += 1
        if applied.stored is not None:
            self.stored = applied.stored
        self.lag_p99 = max(self.lag_p99, applied.lag_p99 or 0.0)
        self.lag_max = max(self.lag_max, applied.lag_max or 0.0)
        self.resource_version = resource_version or self.resource_version


class PendingEvents:
    """One kind's events not applied yet, as rows: filled by the kind's reader, taken by the applier."""

    def __init__(self, kind: Kind, cluster_uid: str, context_name: str, options: WatchOptions,
                 wake: threading.Condition):
        self.kind, self.cluster_uid, self.context_name = kind, cluster_uid, context_name
        self.options = options
        self._wake = wake  # the cluster applier's: told when a batch is due sooner
        self._lock = threading.Condition()
        self.resource_version: str | None = None
        self.bookmarked_at = 0.0  # monotonic time of a bookmark not recorded yet (0: none)
        self.peak = 0  # the most events ever waiting at once (never above max_pending_events)
        self._last_arrival = dt.datetime.min.replace(tzinfo=dt.timezone.utc)
        self._reset()

    def _reset(self) -> None:
        self._rows = ProjectedRowBuilder(self.kind, self.cluster_uid, self.context_name)
        self._valid_from: list[dt.datetime] = []
        self._deleted: list[tuple[str, str, dt.datetime]] = []
        self._order: list[tuple[str, int]] = []
        self._arrivals: list[dt.datetime] = []
        self.first_at: float | None = None  # monotonic arrival of the oldest event waiting

    def __len__(self) -> int:
        return len(self._arrivals)

    def add(self, event: WatchEvent, stopping: threading.Event) -> None:
        """Buffer one ADDED, MODIFIED or DELETED event; waits while the buffer is full."""
        with self._lock:
            while len(self._arrivals) >= self.options.max_pending_events and not stopping.is_set():
                self._lock.wait(1.0)
            # The events of one chunk arrive at one instant, yet each begins a version that must
            # end after it began (valid_from < valid_to, or a point-in-time query never sees it):
            # each event of the kind arrives at least a microsecond (the database's resolution)
            # after the one before it, across batches and resumed streams.
            arrived_at = max(event.arrived_at, self._last_arrival + ONE_MICROSECOND)
            self._last_arrival = arrived_at
            if event.type == "DELETED":
                if event.uid is not None and event.resource_version is not None:
                    self._order.append(("deleted", len(self._deleted)))
                    self._deleted.append((event.uid, event.resource_version, arrived_at))
            else:
                before = len(self._rows.columns["uid"])
                self._rows.add_bytes(event.object)
                if len(self._rows.columns["uid"]) > before:
                    self._order.append(("row", before))
                    self._valid_from.append(arrived_at)
            self._arrivals.append(arrived_at)
            self.peak = max(self.peak, len(self._arrivals))
            if event.resource_version is not None:
                self.resource_version = event.resource_version
            first = self.first_at is None
            if first:
                self.first_at = time.monotonic()
            due = len(self._arrivals) >= self.options.batch_events
        if first or due:
            with self._wake:
                self._wake.notify()

    def bookmark(self, resource_version: str | None) -> None:
        if resource_version is None:
            return
        with self._lock:
            self.resource_version = resource_version
            self.bookmarked_at = self.bookmarked_at or time.monotonic()

    def due_in(self, now: float) -> float | None:
        """Seconds until this kind's batch is due (0: now), or None with nothing waiting."""
        with self._lock:
            if not self._arrivals:
                return None
            if len(self._arrivals) >= self.options.batch_events:
                return 0.0
            return max(0.0, self.first_at + self.options.batch_seconds - now)

    def take(self, coverage_kind: str) -> WatchBatch | None:
        """The waiting events as one batch (the buffer empties, the reader may go on)."""
        with self._lock:
            if not self._arrivals:
                return None
            frame = take_frame(self.kind, self._rows.columns)
            frame["valid_from"] = pd.Series(self._valid_from, dtype=object)
            batch = WatchBatch(self.kind, self.cluster_uid, self.context_name, coverage_kind, frame,
                               deleted=self._deleted, order=self._order, set_aside=list(self._rows.set_aside),
                               resource_version=self.resource_version, arrivals=self._arrivals)
            self._reset()
            self.bookmarked_at = 0.0
            self._lock.notify_all()
            return batch

    def take_bookmark(self) -> str | None:
        """A bookmark's resourceVersion to record for an idle kind (the heartbeat), once."""
        with self._lock:
            if self._arrivals or not self.bookmarked_at:
                return None
            self.bookmarked_at = 0.0
            return self.resource_version

    def discard(self) -> None:
        """Forget the events waiting (a relist is about to write the kind's whole state)."""
        with self._lock:
            self._reset()
            self._lock.notify_all()


@dataclass
class KindWatch:
    """One kind of one cluster (or one custom resource's CRD): its reader thread's state."""

    kind: Kind
    coverage_kind: str  # the kind's table, or k8s_custom_resources:<plural>.<group> (its watch state row)
    pending: PendingEvents
    totals: KindTotals = field(default_factory=KindTotals)
    reported_at: float = 0.0
    stream: WatchStream | None = None
    listings: int = 0  # complete listings made (the first, and one per 410)
    resumed: int = 0  # watches started from a resourceVersion
    expired: int = 0  # 410s
    status: str = "starting"
    retry_batch: WatchBatch | None = None  # a batch the database refused, tried again before the next
    retry_delay: float = 0.0  # the reader's wait after its next failure (doubled per failure in a row)


class ClusterWatcher:
    """Every selected kind of one context: a reader per kind and one applier."""

    def __init__(self, context: KubeContext, settings: Settings, connect: Connect, options: WatchOptions,
                 report: Report | None = None, kinds: Sequence[Kind] | None = None,
                 listing_slots: threading.Semaphore | None = None):
        self.context = context
        self.settings = settings
        self.connect = connect
        self.options = options
        self.report = report
        chosen = kinds if kinds is not None else settings.kinds
        self.kinds = [k for k in chosen if not is_shared_table(k)]
        # As in the scheduled sync, custom resources come with their CRDs: no name in
        # K8S_ASSETS_RESOURCES selects k8s_custom_resources on its own.
        self.custom_resources = any(k.table in (CRDS.table, CUSTOM_RESOURCES.table) for k in chosen)
        self.stopping = threading.Event()
        self._wake = threading.Condition()
        self._threads: list[threading.Thread] = []
        self.watches: dict[str, KindWatch] = {}
        self.cluster_uid: str | None = None
        self.streaming_list = options.streaming_list
        # Shared by every cluster of a Watcher: a restart of many clusters lists a few kinds at a
        # time, so the database connections the listings hold stay bounded, however many clusters.
        self._listing = listing_slots or threading.Semaphore(options.listings)

    @property
    def name(self) -> str:
        return self.context.name

    def start(self) -> None:
        """Resolve the cluster and start watching (returns at once; errors reaching it raise)."""
        self.api = api_client(self.settings.kubeconfig, self.name, connections=len(self.kinds) + 4)
        frame = describe_cluster(self.api, self.context, self.settings.request_timeout)
        self.cluster_uid = write_cluster(self.connect, frame).cluster_uid
        if self.streaming_list is None:
            self.streaming_list = serves_streaming_lists(frame["kubernetes_version"].iloc[0])
        discovery = self._discovery()
        for kind in self.kinds:
            version = discovery.version_for(kind) if discovery is not None else kind.version
            if version is None:
                log.info("%s: %s is not served; not watched", self.name, kind.resource)
                continue
            self._add_watch(kind if version == kind.version else replace(kind, version=version), kind.table)
        if self.custom_resources:
            # The CRDs served now; one created later is watched from the watcher's next start (and
            # synced by the scheduled sync meanwhile).
            for crd in list_crds(self.api, self.settings.page_size, self.settings.request_timeout):
                version = crd.version_to_list(discovery)
                if version is not None:
                    self._add_watch(custom_resource_kind(crd.group, version, crd.plural, crd.kind, crd.namespaced),
                                    f"{CUSTOM_RESOURCES.table}:{crd.resource}")
        for key, watch in self.watches.items():
            thread = threading.Thread(target=self._read, args=(watch,), name=f"watch-{self.name}-{key}", daemon=True)
            self._threads.append(thread)
        applier = threading.Thread(target=self._apply_loop, name=f"apply-{self.name}", daemon=True)
        self._threads.append(applier)
        for thread in self._threads:
            thread.start()

    def _add_watch(self, kind: Kind, coverage_kind: str) -> None:
        pending = PendingEvents(kind, self.cluster_uid, self.name, self.options, self._wake)
        self.watches[coverage_kind] = KindWatch(kind, coverage_kind, pending)

    def _discovery(self) -> Discovery | None:
        try:
            return discover(self.api, timeout=self.settings.request_timeout)
        except ListingError as e:
            log.warning("%s: API discovery failed (%s); watching each kind at its catalog version", self.name, e)
            return None

    def stop(self, timeout: float = 30.0) -> None:
        """Stop reading, apply what was received, record the watches as stopped."""
        self.stopping.set()
        for watch in self.watches.values():
            if watch.stream is not None:
                watch.stream.close()
        with self._wake:
            self._wake.notify_all()
        for thread in self._threads:
            thread.join(timeout)

    # -- a kind's reader ------------------------------------------------------------------

    def _read(self, watch: KindWatch) -> None:
        kind = watch.kind
        watch.retry_delay = self.options.retry_delay
        resource_version = resume_from(self.connect, self.cluster_uid, watch.coverage_kind)
        while not self.stopping.is_set():
            events = None
            try:
                if resource_version is None:
                    watch.status = "listing"
                    events, resource_version = self._list(watch)
                else:
                    watch.stream = WatchStream(self.api, kind, resource_version=resource_version,
                                               timeout_seconds=self.options.timeout_seconds, version=kind.version)
                    watch.resumed += 1
                    events = iter(watch.stream)
                    if watch.status != "watching":
                        # Started, or back after a failure: the state says so now, not at the first
                        # event or heartbeat (an idle kind would read 'stopped' or 'relisting' meanwhile,
                        # and the watch_keeping_up check fail).
                        self._record(watch, "watching", None)
                watch.status = "watching"
                # The server answers again: the next failure waits the shortest delay. (Kept at
                # the longest after an outage, every later dropped watch waited that long.)
                watch.retry_delay = self.options.retry_delay
                for event in events:
                    if self.stopping.is_set():
                        break
                    if event.type == "BOOKMARK":
                        watch.pending.bookmark(event.resource_version)
                    else:
                        watch.pending.add(event, self.stopping)
                    resource_version = event.resource_version or resource_version
                # the server ended the watch (timeoutSeconds): resume at once
            except WatchExpired as e:
                watch.expired += 1
                log.info("%s: %s: %s; listing it again", self.name, kind.resource, e)
                resource_version = None
            except WatchListRefused as e:
                log.info("%s: %s; listing in pages, then watching", self.name, e)
                self.streaming_list = False
                resource_version = None
            except ListingForbidden as e:
                watch.status = "forbidden"
                self._record(watch, "forbidden", str(e))
                log.warning("%s: %s; its rows are kept, trying again in %.0fs", self.name, e,
                            self.options.forbidden_retry_seconds)
                self.stopping.wait(self.options.forbidden_retry_seconds)
                resource_version = None
            except ListingNotServed as e:
                watch.status = "not_served"
                log.info("%s: %s; left to the scheduled sync", self.name, e)
                return
            except Exception as e:  # noqa: BLE001 - network, server or database: wait, then resume
                if self.stopping.is_set():
                    break
                watch.status = "retrying"
                log.warning("%s: watching %s: %s: %s; resuming in %.1fs", self.name, kind.resource,
                            type(e).__name__, e, watch.retry_delay)
                self.stopping.wait(watch.retry_delay)
                watch.retry_delay = min(watch.retry_delay * 2, self.options.max_retry_delay)
            finally:
                if watch.stream is not None:
                    watch.stream.close()
                    watch.stream = None
                if events is not None and hasattr(events, "close"):
                    events.close()

    def _list(self, watch: KindWatch):
        """A complete listing of the kind merged as the sync's (stale rows deleted, coverage), then the
        events after it: the rest of a streaming list's stream, or a new watch from the list's version."""
        with self._listing:
            return self._list_now(watch)

    def _list_now(self, watch: KindWatch):
        kind = watch.kind
        watch.pending.discard()  # the listing writes the kind's whole state
        self._record(watch, "relisting", None)
        if is_shared_table(kind):
            return self._list_shared(watch)
        known = stored_versions(self.connect, kind, self.cluster_uid)
        staged = StagedMerge(self.connect, kind, self.cluster_uid, self.name)
        try:
            if self.streaming_list:
                watch.stream = WatchStream(self.api, kind, resource_version=None, initial_events=True,
                                           timeout_seconds=self.options.timeout_seconds, version=kind.version)
                events = iter(watch.stream)
                rows = ProjectedRowBuilder(kind, self.cluster_uid, self.name, known)
                resource_version = None
                for event in events:
                    if event.type == "BOOKMARK":
                        if event.initial_events_end:
                            resource_version = event.resource_version
                            break
                        continue
                    rows.add_keyed_bytes(event.object, event.uid, event.resource_version, event.name,
                                         event.namespace)
                    if len(rows.columns["uid"]) >= INITIAL_CHUNK_ROWS:
                        staged.add(take_frame(kind, rows.columns))
                    if self.stopping.is_set():
                        raise ListingError("stopped during the streaming list")
                if resource_version is None:
                    raise ListingError(f"the streaming list of {kind.resource} ended before its initial state did")
                staged.add(take_frame(kind, rows.columns))
                set_aside = rows.set_aside
            else:
                listing = list_kind(self.api, kind, self.cluster_uid, self.name, page_size=self.settings.page_size,
                                    timeout=self.settings.request_timeout, known_versions=known, sink=staged,
                                    version=kind.version)
                resource_version = listing.resource_version
                set_aside = listing.set_aside
                events = None
        except BaseException:
            staged.abort()
            raise
        result = merge(self.connect, KindListing(kind, self.cluster_uid, self.name, "complete", empty_frame(kind),
                                                 set_aside=list(set_aside), resource_version=resource_version or "",
                                                 staged=staged))
        watch.listings += 1
        analyze_if_never_analyzed(self.connect, kind)
        write_state(self.connect, self.cluster_uid, watch.coverage_kind, self.name, "watching",
                    resource_version=resource_version, listed_at=dt.datetime.now(dt.timezone.utc))
        log.info("%s: %s listed (%d stored: %d new, %d changed, %d deleted); watching from %s", self.name,
                 kind.resource, result.stored, result.inserted, result.updated, result.deleted, resource_version)
        if events is None:
            watch.stream = WatchStream(self.api, kind, resource_version=resource_version,
                                       timeout_seconds=self.options.timeout_seconds, version=kind.version)
            events = iter(watch.stream)
        return events, resource_version

    def _list_shared(self, watch: KindWatch):
        """One resource of a shared table (a CRD's instances): listed page by page into batches of
        upserts, then watched from the list's version. Its rows the listing did not return are
        deleted as the events the watch missed (a 410 relist after an API server restart: objects
        deleted meanwhile), each version ended when the listing ended; other resources' rows are
        not touched."""
        kind = watch.kind
        sink = _BatchSink(self.connect, watch, self.cluster_uid, self.name)
        listing = list_kind(self.api, kind, self.cluster_uid, self.name, page_size=self.settings.page_size,
                            timeout=self.settings.request_timeout, sink=sink, version=kind.version)
        sink.delete_unlisted(listing.resource_version)
        watch.listings += 1
        write_state(self.connect, self.cluster_uid, watch.coverage_kind, self.name, "watching",
                    resource_version=listing.resource_version, listed_at=dt.datetime.now(dt.timezone.utc))
        watch.stream = WatchStream(self.api, kind, resource_version=listing.resource_version,
                                   timeout_seconds=self.options.timeout_seconds, version=kind.version)
        return iter(watch.stream), listing.resource_version

    def _record(self, watch: KindWatch, status: str, message: str | None) -> None:
        try:
            write_state(self.connect, self.cluster_uid, watch.coverage_kind, self.name, status, message=message)
        except Exception as e:  # noqa: BLE001 - the watch goes on; the state is written again later
            log.warning("%s: recording the watch of %s as %s failed: %s", self.name, watch.kind.resource, status, e)

    # -- the cluster's applier --------------------------------------------------------------

    def _apply_loop(self) -> None:
        delay = self.options.retry_delay
        last_heartbeat = time.monotonic()
        while True:
            stopping = self.stopping.is_set()
            now = time.monotonic()
            due = {t: w.pending.due_in(now) for t, w in self.watches.items()}
            ready = [t for t, d in due.items() if d is not None and (d == 0.0 or stopping)]
            failed = False
            for table in ready:
                try:
                    self._apply(self.watches[table])
                    delay = self.options.retry_delay
                except Exception as e:  # noqa: BLE001 - kept and tried again: nothing is lost
                    failed = True
                    log.warning("%s: applying events of %s failed (%s: %s); trying again in %.1fs", self.name,
                                table, type(e).__name__, e, delay)
            if now - last_heartbeat >= self.options.heartbeat_seconds:
                last_heartbeat = now
                self._heartbeats()
            self._report_due(final=stopping)
            if stopping and not failed and all(w.pending.due_in(now) is None for w in self.watches.values()):
                readers = [t for t in self._threads if t.name.startswith("watch-")]
                if not any(t.is_alive() for t in readers):
                    self._record_stopped()
                    return
            if failed:
                if self.stopping.wait(delay) and stopping:
                    # Stopping with a batch the database keeps refusing: give up after a few tries.
                    delay = min(delay * 2, self.options.max_retry_delay)
                    if delay >= self.options.max_retry_delay:
                        log.error("%s: stopping with events not applied (the database refuses them); they "
                                  "are listed again on the next start", self.name)
                        return
                else:
                    delay = min(delay * 2, self.options.max_retry_delay)
                continue
            waits = [d for d in (w.pending.due_in(time.monotonic()) for w in self.watches.values()) if d is not None]
            timeout = min([*waits, self.options.heartbeat_seconds, 0.5 if stopping else self.options.report_seconds])
            with self._wake:
                self._wake.wait(timeout)

    def _apply(self, watch: KindWatch) -> None:
        batch = watch.retry_batch or watch.pending.take(watch.coverage_kind)
        if batch is None:
            return
        watch.retry_batch = batch
        # The cluster's row count is what a report says; counted when reporting, not per batch.
        applied = apply_batch(self.connect, batch, count_stored=False)
        watch.retry_batch = None
        watch.totals.add(applied, batch.resource_version)

    def _heartbeats(self) -> None:
        for key, watch in self.watches.items():
            resource_version = watch.pending.take_bookmark()
            if resource_version is not None:
                try:
                    write_state(self.connect, self.cluster_uid, key, self.name, "watching",
                                resource_version=resource_version)
                except Exception as e:  # noqa: BLE001
                    log.warning("%s: recording the bookmark of %s failed: %s", self.name, key, e)

    def _report_due(self, final: bool) -> None:
        if self.report is None:
            return
        now = time.monotonic()
        for watch in self.watches.values():
            if watch.totals.events and (final or now - watch.reported_at >= self.options.report_seconds):
                totals, watch.totals = watch.totals, KindTotals()
                watch.reported_at = now
                try:
                    totals.stored = stored_rows(self.connect, watch.kind, self.cluster_uid)
                    self.report(self.name, watch.kind, totals)
                except Exception as e:  # noqa: BLE001 - Dagster's storage down: the inventory goes on
                    log.warning("%s: reporting %s to Dagster failed: %s", self.name, watch.kind.table, e)

    def _record_stopped(self) -> None:
        for key, watch in self.watches.items():
            if watch.status == "watching":
                # Where it stopped: the last bookmark (events before it were all applied above).
                resource_version = watch.pending.take_bookmark()
                try:
                    write_state(self.connect, self.cluster_uid, key, self.name, "stopped",
                                resource_version=resource_version)
                except Exception as e:  # noqa: BLE001 - the next start resumes from the last batch's version
                    log.warning("%s: recording the watch of %s as stopped failed: %s", self.name, key, e)


class _BatchSink:
    """A listing's pages applied as batches of upserts (``list_kind``'s sink), for shared tables."""

    def __init__(self, connect: Connect, watch: KindWatch, cluster_uid: str, context_name: str):
        self.connect, self.watch, self.cluster_uid, self.context_name = connect, watch, cluster_uid, context_name
        self.listed: set[str] = set()  # uids of the objects listed

    def add(self, frame: pd.DataFrame) -> None:
        if not len(frame):
            return
        self.listed.update(str(uid) for uid in frame["uid"])
        now = dt.datetime.now(dt.timezone.utc)
        frame["valid_from"] = pd.Series([now] * len(frame), dtype=object)
        apply_batch(self.connect, WatchBatch(self.watch.kind, self.cluster_uid, self.context_name,
                                             self.watch.coverage_kind, frame,
                                             order=[("row", i) for i in range(len(frame))]))

    def restart(self) -> None:
        """Upserts are idempotent: the pages of the listing's next attempt overwrite these."""
        self.listed.clear()

    def delete_unlisted(self, resource_version: str | None) -> None:
        """Delete the resource's stored objects the complete listing did not return, as DELETED
        events at the listing's resourceVersion (a row stored at a newer one is kept)."""
        kind = self.watch.kind
        gone = sorted(resource_uids(self.connect, kind, self.cluster_uid) - self.listed)
        if not gone:
            return
        now = dt.datetime.now(dt.timezone.utc)
        rows = empty_frame(kind)
        rows["valid_from"] = pd.Series([], dtype=object)
        apply_batch(self.connect, WatchBatch(kind, self.cluster_uid, self.context_name, self.watch.coverage_kind,
                                             rows, deleted=[(uid, resource_version or "", now) for uid in gone],
                                             order=[("deleted", i) for i in range(len(gone))],
                                             resource_version=resource_version))


def serves_streaming_lists(kubernetes_version: str | None) -> bool:
    """Whether to ask for a streaming list: servers from 1.27 know sendInitialEvents (and refuse
    it when their WatchList gate is off); older ones ignore it and send no end bookmark."""
    if not kubernetes_version:
        return False
    digits = kubernetes_version.lstrip("v").split(".")
    try:
        major, minor = int(digits[0]), int("".join(c for c in digits[1] if c.isdigit()) or 0)
    except (IndexError, ValueError):
        return False
    return (major, minor) >= STREAMING_LIST_SINCE


def dagster_report(instance) -> Report:
    """Report a kind's applied events as a runless materialization of its partition (the UI's freshness)."""
    import dagster as dg

    from k8s_assets.dagster_edge.checks import WATCH_SOURCE

    lock = threading.Lock()

    def report(context_name: str, kind: Kind, totals: KindTotals) -> None:
        metadata = {
            "source": WATCH_SOURCE, "events": totals.events, "batches": totals.batches, "inserted": totals.inserted,
            "updated": totals.updated, "deleted": totals.deleted, "outdated_events": totals.outdated,
            "rejected": totals.rejected, "stored": totals.stored,
            "lag_p99_seconds": round(totals.lag_p99, 3), "lag_max_seconds": round(totals.lag_max, 3),
            "resource_version": totals.resource_version or "",
        }
        with lock:
            instance.report_runless_asset_event(dg.AssetMaterialization(
                asset_key=kind.table, partition=context_name, metadata=metadata,
                description=f"{totals.events} watch events of {kind.resource} applied"))

    return report


class Watcher:
    """Every chosen context, each in a ClusterWatcher; one failing to start does not stop the others."""

    def __init__(self, settings: Settings, contexts: Sequence[str], connect: Connect,
                 options: WatchOptions | None = None, report: Report | None = None):
        self.settings = settings
        self.options = options or WatchOptions()
        chosen = [c for c in contexts_in(settings.kubeconfig) if c.name in set(contexts)]
        listing_slots = threading.Semaphore(self.options.listings)
        self.clusters = [ClusterWatcher(c, settings, connect, self.options, report, listing_slots=listing_slots)
                         for c in chosen]
        self.failed: dict[str, str] = {}
        self.started: set[str] = set()

    def start(self) -> list[ClusterWatcher]:
        """Start every context not started yet; returns those started now. One that cannot be
        reached is named in ``failed`` (and tried again by the next call)."""
        started = []
        for cluster in self.clusters:
            if cluster.name in self.started:
                continue
            try:
                cluster.start()
            except Exception as e:  # noqa: BLE001 - reported per context; the others go on
                self.failed[cluster.name] = f"{type(e).__name__}: {e}"
                continue
            self.failed.pop(cluster.name, None)
            self.started.add(cluster.name)
            started.append(cluster)
        return started

    def stop(self) -> None:
        for cluster in self.clusters:
            if cluster.name in self.started:
                cluster.stop()


def pool_size(contexts: int, options: WatchOptions) -> int:
    """Connections the watcher's pool may open: the listings at once, an applier per cluster and
    two for watch states, at most MAX_CONNECTIONS (appliers then wait their turn for one)."""
    return min(options.listings + contexts + 2, MAX_CONNECTIONS)


MAX_CONNECTIONS = 32  # of PostgreSQL's default max_connections of 100, leaving the syncs theirs


def run_watch(patterns: Sequence[str] = (), options: WatchOptions | None = None) -> int:
    """``k8s-assets watch``: watch the chosen contexts until SIGINT or SIGTERM; 1 if any could not start."""
    import signal
    import sys

    import dagster as dg

    from k8s_assets.dagster_edge.instance import instance_home
    from k8s_assets.kube.config import load_settings
    from k8s_assets.store import database
    from k8s_assets.sync import one_line, prepare_database, select_contexts

    settings = load_settings()
    contexts = select_contexts(settings, patterns)
    options = options or WatchOptions()
    url = prepare_database(settings)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    with database.open_pool(url, max_size=pool_size(len(contexts), options)) as pool, \
            dg.DagsterInstance.from_config(str(instance_home(settings))) as instance:
        watcher = Watcher(settings, contexts, pool.connection, options, dagster_report(instance))

        def start() -> None:
            for cluster in watcher.start():
                print(f"watching {cluster.name}: {len(cluster.watches)} kinds, "
                      f"{'streaming lists' if cluster.streaming_list else 'lists then watches'}", flush=True)
            for name, why in watcher.failed.items():
                print(f"watching {name}: FAILED: {one_line(why)}; trying again in {options.start_retry_seconds:.0f}s",
                      file=sys.stderr, flush=True)

        start()
        try:
            # A context that could not be reached (its API server down, a credential not yet
            # valid) is tried again, as a sync would be on its next schedule tick.
            while watcher.failed and not stop.wait(options.start_retry_seconds):
                start()
            stop.wait()
        finally:
            watcher.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    print("stopped: every event received was applied", flush=True)
    return 1 if watcher.failed else 0
