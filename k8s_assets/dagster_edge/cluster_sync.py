"""One step per cluster: every asset of a kubeconfig context, and every check, in one Dagster step.

A run of ``k8s_sync`` for one partition used to be about 100 steps (k8s_clusters, one per kind,
one integrity check step per kind, the references, freshness, custom resources, images); each
step costs Dagster's start-up, events and a pool slot claim, which dominated a small cluster's
sync. Here one ``multi_asset`` built from the catalog computes them all, while every table stays
an asset of its own (its spec, materialization, metadata and checks, selectable alone):

* ``can_subset=True``: Dagster tells the step which assets and checks are selected, and only
  those are listed and evaluated. With only checks selected nothing is listed; with
  ``k8s_clusters`` not selected the context's cluster is read from the inventory;
* each kind is yielded as ``Output(frame, output_name=<table>)``; Dagster hands it to the IO
  manager (the merge) before the step continues, and the kind's checks are evaluated right
  after, so memory holds about one kind's frame at a time;
* failure isolation, as when each kind had a step: a kind whose listing fails is retried
  within the step with the job's ``RetryPolicy`` (same tries and backoff) when the error is
  transient, not at all when it is a data or configuration error; then the other kinds go on,
  and the step fails at the end naming the kinds that failed. A failed listing changes no rows
  (``record_failed_listing``). What depended on a failed kind, or on a kind whose blocking
  check failed, is skipped, as Dagster skips downstream steps;
* an error raised while merging (by the IO manager) ends the step at once, as Dagster gives
  the step no way to go on; the step's own ``RetryPolicy`` then runs it again, and a retry skips
  the assets already materialized by the earlier attempt of the same run;
* the pool ``k8s_cluster_sync`` is claimed once: one slot per syncing cluster.
"""


import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeVar

import dagster as dg
import pandas as pd

from k8s_assets.catalog.generic import CUSTOM_RESOURCES, OTHER_RESOURCES
from k8s_assets.catalog.types import Kind
from k8s_assets.dagster_edge import checks
from k8s_assets.dagster_edge.assets import SYNC_POOL, cluster_spec, describe_context, kind_spec, sync_kind
from k8s_assets.dagster_edge.custom_resources import custom_resources_spec, sync_custom_resources
from k8s_assets.dagster_edge.images import derive_images, images_spec
from k8s_assets.dagster_edge.other_resources import sync_other_resources
from k8s_assets.dagster_edge.resources import KubernetesResource, PostgresResource
from k8s_assets.kube.custom_resources import CRDS
from k8s_assets.kube.failures import fail_fast_unless_transient
from k8s_assets.store.clusters import CLUSTERS_TABLE, cluster_of_context
from k8s_assets.store.contract import KindListing
from k8s_assets.store.images import IMAGES_TABLE, SOURCE_TABLES

SYNC_STEP = "k8s_cluster_sync"


def sleep_before_retry(seconds: float) -> None:
    """The wait before a kind is tried again under the retry policy: one module-level function
    so that tests count the waits instead of waiting them."""
    time.sleep(seconds)

T = TypeVar("T")


def asset_dependencies(kinds: Sequence[Kind]) -> dict[str, set[str]]:
    """Table -> the tables it is computed from, for every asset of the step (the lineage in the UI)."""
    tables = {k.table for k in kinds}
    deps: dict[str, set[str]] = {CLUSTERS_TABLE: set(), **{k.table: {CLUSTERS_TABLE} for k in kinds}}
    if CRDS.table in tables:
        deps[CUSTOM_RESOURCES.table] = {CLUSTERS_TABLE, CRDS.table}
    if "k8s_pods" in tables:
        deps[IMAGES_TABLE] = {CLUSTERS_TABLE, *(t for t in SOURCE_TABLES if t in tables)}
    return deps


# What each output is (the IO manager's input): the cluster's one-row frame, nothing for the images
# (derived in PostgreSQL), and a listing (store.contract.KindListing) for every other asset.
OUTPUT_TYPES = {CLUSTERS_TABLE: pd.DataFrame, IMAGES_TABLE: dg.Nothing}


def build_sync_assets(kinds: Sequence[Kind], partitions_def: dg.PartitionsDefinition, schedule: str = "0 * * * *",
                      retry_policy: dg.RetryPolicy | None = None) -> dg.AssetsDefinition:
    """The one step syncing a context: k8s_clusters, every selected kind, custom resources and
    images as assets of their own, with every check as a check spec of the same step."""
    kinds = tuple(kinds)
    deps = asset_dependencies(kinds)
    specs = [cluster_spec(), *(kind_spec(k) for k in kinds)]
    check_specs = checks.check_specs(kinds, partitions_def, schedule)
    if CUSTOM_RESOURCES.table in deps:
        specs.append(custom_resources_spec())
        check_specs += checks.generic_specs(CUSTOM_RESOURCES.table, partitions_def)
    if IMAGES_TABLE in deps:
        specs.append(images_spec())
    # The images are derived in PostgreSQL: nothing goes through the IO manager for them.
    outs = {spec.key.path[-1]: dg.AssetOut.from_spec(
                spec, dagster_type=OUTPUT_TYPES.get(spec.key.path[-1], KindListing),
                is_required=False)
            for spec in specs}

    @dg.multi_asset(
        name=SYNC_STEP,
        outs=outs,
        internal_asset_deps={table: {dg.AssetKey(d) for d in upstream} for table, upstream in deps.items()},
        check_specs=check_specs,
        can_subset=True,
        partitions_def=partitions_def,
        pool=SYNC_POOL,
        retry_policy=retry_policy,
        description="Syncs one kubeconfig context (partition): its cluster, every selected kind, custom "
                    "resources, every other served kind and container images, each merged and checked in turn.",
    )
    def k8s_cluster_sync(context: dg.AssetExecutionContext, kubernetes: KubernetesResource,
                         postgres: PostgresResource) -> Iterator:
        yield from ClusterSync(context, kinds, kubernetes, postgres, schedule, retry_policy).run()

    return k8s_cluster_sync


class ClusterSync:
    """One execution of the step: what is selected, what failed, what is left to do."""

    def __init__(self, context: dg.AssetExecutionContext, kinds: tuple[Kind, ...], kubernetes: KubernetesResource,
                 postgres: PostgresResource, schedule: str, retry_policy: dg.RetryPolicy | None):
        self.context = context
        self.kinds = kinds
        self.kubernetes = kubernetes
        self.postgres = postgres
        self.schedule = schedule
        self.retry_policy = retry_policy
        self.partition = context.partition_key
        self.selected = {key.path[-1] for key in context.selected_asset_keys}
        self.wanted_checks = set(context.selected_asset_check_keys)
        self.failed: dict[str, str] = {}  # table -> why its listing or derivation failed
        self.skipped: dict[str, str] = {}  # table -> the upstream failure it was not computed for
        self.blocked: set[str] = set()  # tables with a failed blocking check
        self.done = self.materialized_by_earlier_attempts()

    def run(self) -> Iterator:
        cluster_uid = yield from self.cluster()
        for kind in self.kinds:
            sync = sync_other_resources if kind.table == OTHER_RESOURCES.table else sync_kind
            yield from self.asset(kind.table, lambda kind=kind, sync=sync: sync(self.context, kind, cluster_uid,
                                                                                self.kubernetes, self.postgres))
            if self.evaluates(kind.table):
                yield from self.checked(checks.integrity_results(
                    kind, self.wanted_names(kind.table), self.partition, cluster_uid, self.context.instance,
                    self.context.run.run_id, self.postgres))
        if CUSTOM_RESOURCES.table in self.selected:
            yield from self.asset(CUSTOM_RESOURCES.table, lambda: sync_custom_resources(
                self.context, cluster_uid, self.kubernetes, self.postgres), upstream=[CRDS.table])
        if self.evaluates(CUSTOM_RESOURCES.table):
            yield from self.checked(checks.generic_results(
                CUSTOM_RESOURCES, self.wanted_names(CUSTOM_RESOURCES.table), self.partition, cluster_uid, self.postgres))
        if IMAGES_TABLE in self.selected:
            sources = [t for t in SOURCE_TABLES if t in {k.table for k in self.kinds}]
            yield from self.asset(IMAGES_TABLE, lambda: derive_images(self.partition, cluster_uid, self.postgres),
                                  upstream=sources)
        references = {key for key in self.wanted_checks if self.evaluates(key.asset_key.path[-1])}
        yield from self.checked(checks.reference_results(self.kinds, references, self.partition, cluster_uid,
                                                         self.postgres))
        yield from self.checked(checks.cluster_results(self.kinds, self.wanted_checks, self.partition, self.postgres,
                                                       self.schedule))
        self.fail_if_anything_failed()

    # -- assets ---------------------------------------------------------------------------

    def cluster(self) -> Iterator:
        """Describe the context's cluster when k8s_clusters is selected, else read it from the inventory.

        Every kind needs it, so a failure here ends the step (and the step's RetryPolicy applies).
        """
        if CLUSTERS_TABLE in self.selected and CLUSTERS_TABLE not in self.done:
            frame = describe_context(self.partition, self.kubernetes)
            cluster_uid = str(frame["cluster_uid"].iloc[0])
            yield dg.Output(frame, output_name=CLUSTERS_TABLE)
            return cluster_uid
        with fail_fast_unless_transient(f"reading the cluster of context {self.partition!r}"):
            cluster_uid = cluster_of_context(self.postgres.connect, self.partition)
        # Only checks selected: nothing is listed, and the checks say so if the context has no cluster.
        if cluster_uid is None and self.selected - {CLUSTERS_TABLE}:
            raise dg.Failure(f"no k8s_clusters row for context {self.partition!r}: materialize k8s_clusters first",
                             allow_retries=False)
        return cluster_uid

    def asset(self, table: str, compute: Callable[[], dg.Output | dg.MaterializeResult],
              upstream: Iterable[str] = ()) -> Iterator:
        """Compute one selected asset and yield it (the IO manager merges it before this continues)."""
        if table not in self.selected or table in self.done:
            return
        broken = [t for t in upstream if t in self.failed or t in self.skipped or t in self.blocked]
        if broken:
            self.skipped[table] = ", ".join(broken)
            self.context.log.error(f"{table} is not computed: {', '.join(broken)} failed or failed a blocking "
                                   "check in this run")
            return
        result = self.retried(table, compute)
        if result is not None:
            try:
                yield result
            finally:
                # The IO manager finished (committed) a staged merge; if the step ended before it
                # could (an error in between, the run cancelled), the merge is rolled back here
                # rather than hold its connection and lock until the process ends.
                value = getattr(result, "value", None)
                if isinstance(value, KindListing) and value.staged is not None:
                    value.staged.abort()

    def retried(self, table: str, compute: Callable[[], T]) -> T | None:
        """``compute()``, tried again after a transient error as the RetryPolicy would retry a step;
        None (and the table recorded as failed) when it still fails or fails for good."""
        policy = self.retry_policy
        tries = 1 + (policy.max_retries if policy else 0)
        for attempt in range(1, tries + 1):
            try:
                with fail_fast_unless_transient(f"syncing {table} of context {self.partition!r}"):
                    return compute()
            except dg.Failure as failure:  # deterministic: trying again would fail the same way
                self.failed[table] = failure.description or str(failure)
            except Exception as error:  # noqa: BLE001 - transient (fail_fast_unless_transient decided)
                self.failed[table] = f"{type(error).__name__}: {error}"
                if attempt < tries:
                    delay = policy.calculate_delay(attempt)
                    self.context.log.warning(f"{table}: {self.failed.pop(table)}; trying again in {delay:.1f}s "
                                             f"(attempt {attempt + 1} of {tries})")
                    sleep_before_retry(max(0.0, delay))
                    continue
            self.context.log.error(f"{table} failed in context {self.partition!r}; the other kinds go on. "
                                   f"{self.failed[table]}")
            return None
        return None

    def materialized_by_earlier_attempts(self) -> set[str]:
        """Tables an earlier attempt of this step materialized in this run: a retry does not redo them."""
        if self.context.retry_number == 0:
            return set()
        records = self.context.instance.get_records_for_run(
            self.context.run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
        done = {r.event_log_entry.dagster_event.asset_key.path[-1] for r in records}
        if done:
            self.context.log.info(f"retry {self.context.retry_number}: already materialized in this run, not "
                                  f"synced again: {', '.join(sorted(done))}")
        return done

    # -- checks ---------------------------------------------------------------------------

    def wanted_names(self, table: str) -> set[str]:
        return {key.name for key in self.wanted_checks if key.asset_key.path[-1] == table}

    def evaluates(self, table: str) -> bool:
        """Checks of a table are evaluated unless it failed, was skipped or was checked by an earlier attempt."""
        return table not in self.failed and table not in self.skipped and table not in self.done

    def checked(self, results: Iterable[dg.AssetCheckResult]) -> Iterator[dg.AssetCheckResult]:
        for result in results:
            if checks.is_blocking_failure(result):
                self.blocked.add(result.asset_key.path[-1])
            yield result

    def fail_if_anything_failed(self) -> None:
        """Fail the step, after every other asset was stored, naming what failed and what was skipped.

        Each failure was already retried (or was not worth retrying), so the step is not run again.
        Failed blocking checks alone are left to Dagster, which fails the step for them.
        """
        if not self.failed and not self.skipped:
            return
        lines = [f"{table}: {why}" for table, why in sorted(self.failed.items())]
        lines += [f"{table}: not computed, {upstream} failed" for table, upstream in sorted(self.skipped.items())]
        if self.blocked:
            lines.append(f"blocking checks failed on: {', '.join(sorted(self.blocked))}")
        raise dg.Failure(
            description=f"context {self.partition!r}: {len(self.failed)} asset(s) failed "
                        f"({', '.join(sorted(self.failed)) or 'none'}), every other selected asset was stored.\n"
                        + "\n".join(lines),
            allow_retries=False,
            metadata={"failed_assets": ", ".join(sorted(self.failed)),
                      "skipped_assets": ", ".join(sorted(self.skipped)), "retried": False},
        )
