"""Operating the pipeline in Dagster: the schedule, new and removed contexts, pools, retries."""

from __future__ import annotations

import datetime as dt
import importlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import dagster as dg
import psycopg
import pytest
import yaml

from k8s_assets.dagster_edge.assets import SYNC_POOL
from k8s_assets.dagster_edge.cluster_sync import SYNC_STEP
from k8s_assets.dagster_edge.schedules import CONTEXT_TAG, SCHEDULE_NAME
from k8s_assets.definitions import RETRY_POLICY, SYNC_JOB
from k8s_assets_tests.pipeline import definitions, query, sync

REPO = Path(__file__).resolve().parent.parent
TICK = dt.datetime(2026, 1, 5, 13, 0, tzinfo=dt.timezone.utc)
ZERO_DELAY = dg.RetryPolicy(max_retries=3, delay=0)


def write_kubeconfig(path: Path, contexts: list[str]) -> Path:
    """A kubeconfig whose contexts point nowhere: enough to load definitions and evaluate schedules."""
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": c, "cluster": {"server": "https://127.0.0.1:1"}} for c in contexts],
        "users": [{"name": c, "user": {"token": "t"}} for c in contexts],
        "contexts": [{"name": c, "context": {"cluster": c, "user": c}} for c in contexts],
        "current-context": contexts[0] if contexts else "",
    }))
    return path


def evaluate(defs: dg.Definitions, instance: dg.DagsterInstance | None = None, when: dt.datetime = TICK):
    repository = defs.get_repository_def()
    schedule = repository.get_schedule_def(SCHEDULE_NAME)
    with dg.build_schedule_context(instance=instance, scheduled_execution_time=when,
                                   repository_def=repository) as context:
        return schedule.evaluate_tick(context)


def requested(defs: dg.Definitions, instance: dg.DagsterInstance | None = None) -> list[str]:
    return [r.partition_key for r in evaluate(defs, instance).run_requests]


# -- the schedule ---------------------------------------------------------------------------


def test_schedule_requests_one_run_per_context(tmp_path):
    contexts = ["dev", "staging", "prod"]
    defs = definitions(write_kubeconfig(tmp_path / "kubeconfig", contexts), "postgresql://unused")
    schedule = defs.get_repository_def().get_schedule_def(SCHEDULE_NAME)
    assert schedule.cron_schedule == "0 * * * *"  # hourly by default
    assert schedule.job_name == SYNC_JOB
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING

    requests = evaluate(defs).run_requests
    assert [r.partition_key for r in requests] == contexts
    assert [r.run_key for r in requests] == [f"{c}:{TICK.isoformat()}" for c in contexts]
    assert [r.tags[CONTEXT_TAG] for r in requests] == contexts
    # Each request is a whole-context run of the sync job: every kind of one partition.
    job = defs.resolve_job_def(SYNC_JOB)
    assert set(job.partitions_def.get_partition_keys()) == set(contexts)
    assert all(r.asset_selection is None and r.job_name in (None, SYNC_JOB) for r in requests)
    # The next tick gets new run keys, so it is not deduplicated against this one.
    later = evaluate(defs, when=TICK + dt.timedelta(hours=1)).run_requests
    assert {r.run_key for r in later}.isdisjoint({r.run_key for r in requests})


def test_schedule_cron_is_configurable(tmp_path):
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", ["dev"])
    defs = definitions(kubeconfig, "postgresql://unused", resources_env={"K8S_ASSETS_SCHEDULE": "*/15 * * * *"})
    assert defs.get_repository_def().get_schedule_def(SCHEDULE_NAME).cron_schedule == "*/15 * * * *"


def test_no_context_skips_the_tick(tmp_path):
    defs = definitions(write_kubeconfig(tmp_path / "kubeconfig", []), "postgresql://unused")
    data = evaluate(defs)
    assert not data.run_requests and "no kubeconfig context" in data.skip_message


# -- new and removed contexts -------------------------------------------------------------


@pytest.fixture
def reload_code_location(monkeypatch):
    """What a code-location reload does: import k8s_assets.definitions again, in a new environment."""
    import k8s_assets.definitions as module

    def reload(env: dict[str, str]) -> dg.Definitions:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        return importlib.reload(module).defs

    yield reload
    monkeypatch.undo()
    importlib.reload(module)


def test_context_added_to_kubeconfig_is_synced_after_a_reload(tmp_path, reload_code_location, capsys):
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", ["dev", "prod"])
    env = {"KUBECONFIG": str(kubeconfig), "K8S_ASSETS_DATABASE_URL": "postgresql://unused"}
    loaded = reload_code_location(env)
    assert requested(loaded) == ["dev", "prod"]

    # The user adds a context to the kubeconfig. Until the code location is reloaded it is
    # not a partition, so the running code location's tick cannot request it (and says so).
    write_kubeconfig(kubeconfig, ["dev", "prod", "edge"])
    capsys.readouterr()
    stale = evaluate(loaded)
    assert [r.partition_key for r in stale.run_requests] == ["dev", "prod"]
    # The tick's log (the UI shows it under the tick) names the context and the step to take.
    warnings = [line for line in capsys.readouterr().err.splitlines() if "WARNING" in line]
    assert any("edge" in line and "reload the code location" in line for line in warnings), warnings

    # The documented step: reload the code location. The next tick syncs the new context.
    reloaded = reload_code_location(env)
    assert reloaded.resolve_job_def(SYNC_JOB).partitions_def.get_partition_keys() == ["dev", "prod", "edge"]
    assert requested(reloaded) == ["dev", "prod", "edge"]


def test_context_removed_from_kubeconfig_is_no_longer_synced(tmp_path, reload_code_location):
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", ["dev", "prod"])
    env = {"KUBECONFIG": str(kubeconfig), "K8S_ASSETS_DATABASE_URL": "postgresql://unused"}
    loaded = reload_code_location(env)
    write_kubeconfig(kubeconfig, ["dev"])
    # Even before a reload, the tick reads the kubeconfig and requests no run for "prod".
    assert requested(loaded) == ["dev"]
    # After a reload "prod" is no partition at all.
    assert reload_code_location(env).resolve_job_def(SYNC_JOB).partitions_def.get_partition_keys() == ["dev"]


# -- concurrency: the pool ------------------------------------------------------------------

SYNC_IN_SUBPROCESS = textwrap.dedent("""
    import sys
    from pathlib import Path
    import dagster as dg
    from k8s_assets_tests.pipeline import definitions, sync
    kubeconfig, url, home, context = sys.argv[1:5]
    defs = definitions(Path(kubeconfig), url, resources_env={"K8S_ASSETS_RESOURCES": "pods"})
    with dg.DagsterInstance.from_config(home) as instance:
        result = sync(defs, instance, context)
    print("RUN_ID", result.run_id)
    sys.exit(0 if result.success else 1)
""")


def start_logged(command: list[str], log: Path, env: dict, **popen_options) -> subprocess.Popen:
    """A child process writing to a file, not a pipe: a run blocked writing to a pipe nobody is
    reading yet would keep its pool slot while another run waits for it."""
    with log.open("w") as out:
        return subprocess.Popen(command, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, **popen_options)


def sync_command(kubeconfig: Path, database_url: str, home: Path, context: str) -> list[str]:
    return [sys.executable, "-c", SYNC_IN_SUBPROCESS, str(kubeconfig), database_url, str(home), context]


def instance_home(tmp_path: Path, default_limit: int | None, run_monitoring: dict | None = None) -> Path:
    """A DAGSTER_HOME holding the repository's dagster.yaml (default_limit and run_monitoring
    settings changed if asked)."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    config = yaml.safe_load((REPO / "dagster.yaml").read_text())
    if default_limit is not None:
        config["concurrency"]["pools"]["default_limit"] = default_limit
    config["run_monitoring"].update(run_monitoring or {})
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    return home


def step_windows(instance: dg.DagsterInstance, run_id: str) -> dict[str, tuple[float, float]]:
    starts, ends = {}, {}
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None:
            continue
        if event.event_type == dg.DagsterEventType.STEP_START:
            starts[record.step_key] = record.timestamp
        elif event.event_type in (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE):
            ends[record.step_key] = record.timestamp
    return {key: (starts[key], ends[key]) for key in starts}


def test_repository_dagster_yaml_limits_the_sync_pool_to_4(tmp_path, database_url, monkeypatch):
    monkeypatch.setenv("K8S_ASSETS_DATABASE_URL", database_url)
    with dg.DagsterInstance.from_config(str(instance_home(tmp_path, None))) as instance:
        from dagster_postgres.run_storage import PostgresRunStorage

        assert isinstance(instance.run_storage, PostgresRunStorage)
        pool_config = instance.get_concurrency_config().pool_config
        assert pool_config.default_pool_limit == 4
        assert pool_config.pool_granularity.value == "op"
        assert instance.run_monitoring_enabled and instance.run_monitoring_max_runtime_seconds == 7200
        assert instance.run_monitoring_settings["free_slots_after_run_end_seconds"] == 60
        # The run queue looks for a free slot every second (benchmarks/results/capacity.md).
        assert instance.run_coordinator.dequeue_interval_seconds == 1


def test_dagster_storage_holds_its_connections_until_the_instance_is_disposed(tmp_path, database_url, monkeypatch):
    """A run writes ~1,100 events: on one held connection each, not a new one each; and a process
    that makes many instances (this test session) keeps none of one it is done with."""
    monkeypatch.setenv("K8S_ASSETS_DATABASE_URL", database_url)

    def dagster_backends() -> list[tuple]:
        # Client backends only: an autovacuum worker on this database (it comes when it will)
        # is not a connection of Dagster's.
        return query(database_url, "SELECT pid, backend_start FROM pg_stat_activity "
                                   "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                                   "AND backend_type = 'client backend'")

    with dg.DagsterInstance.from_config(str(instance_home(tmp_path, None))) as instance:
        instance.get_runs(limit=1)
        instance.get_latest_materialization_event(dg.AssetKey("k8s_pods"))
        held = dagster_backends()
        assert len(held) == 2, held  # one for runs, one for events
        for _ in range(20):
            instance.get_runs(limit=1)
            instance.get_latest_materialization_event(dg.AssetKey("k8s_pods"))
        assert dagster_backends() == held, "the same two connections served every statement"
    deadline = time.monotonic() + 60  # a closed connection's backend ends a moment later
    while dagster_backends() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert dagster_backends() == [], "disposing the instance closed its connections"


def test_the_event_log_remembers_a_table_it_found_and_asks_again_for_one_it_did_not(tmp_path, database_url,
                                                                                   monkeypatch):
    """dagster-postgres asks the catalog whether asset_check_executions exists before every check
    event; the answer is remembered once it is yes, never while it is no."""
    monkeypatch.setenv("K8S_ASSETS_DATABASE_URL", database_url)
    with dg.DagsterInstance.from_config(str(instance_home(tmp_path, None))) as instance:
        storage = instance.event_log_storage
        assert storage.supports_asset_checks
        assert not storage.has_table("k8s_assets_probe")
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("CREATE TABLE k8s_assets_probe (id int)")
        assert storage.has_table("k8s_assets_probe"), "a table not found before is asked about again"
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("DROP TABLE k8s_assets_probe")
        assert storage.has_table("k8s_assets_probe"), "a table found is remembered, not asked about"


@pytest.mark.parametrize("limit", [1, 4])
def test_pool_limit_of_one_runs_two_partitions_one_after_the_other(limit, fresh_simulator, tmp_path, database_url,
                                                                   monkeypatch):
    """Each cluster's pod list is held open by the simulator until the test lets it go, so
    "at the same time" is a fact the test observes (both requests in flight), not a guess
    about how long a slow answer takes on this machine."""
    from k8s_assets.dagster_edge.schedules import ensure_pool
    from k8s_assets.simulator import Fault

    sim = fresh_simulator(clusters=("one", "two"))
    held = {name: sim[name].inject(Fault("slow", resource="pods", delay=600)) for name in ("one", "two")}
    kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig")
    home = instance_home(tmp_path, limit)
    monkeypatch.setenv("K8S_ASSETS_DATABASE_URL", database_url)
    with dg.DagsterInstance.from_config(str(home)) as instance:  # creates Dagster's tables once
        ensure_pool(instance, _NullLog())
        assert instance.event_log_storage.get_concurrency_info(SYNC_POOL).slot_count == limit

        env = {**os.environ, "PYTHONPATH": str(REPO), "DAGSTER_HOME": str(home)}
        logs = {name: tmp_path / f"run-{name}.log" for name in ("one", "two")}
        runs = {name: start_logged(sync_command(kubeconfig, database_url, home, name), logs[name], env)
                for name in ("one", "two")}
        try:
            if limit == 1:
                # Whichever run gets the slot lists pods and is held there; the other waits
                # for the slot, says so, and has not asked for a pod.
                first = wait_for(lambda: next((n for n, f in held.items() if f.held), None),
                                 "neither run reached its pod listing", logs)
                second = "two" if first == "one" else "one"
                wait_for(lambda: "Step blocked by limit for pool k8s_cluster_sync" in logs[second].read_text(),
                         f"run {second} did not wait for the pool's slot", logs)
                assert held[second].held == 0, "both runs listed pods with one slot"
                held[first].release()
                assert held[second].wait_held(1, timeout=300), f"run {second} never listed pods"
                held[second].release()
            else:
                # The control: with 4 slots both runs are inside their sync step at once.
                for name, fault in held.items():
                    assert fault.wait_held(1, timeout=300), f"run {name} never listed pods"
                for fault in held.values():
                    fault.release()
            for p in runs.values():
                p.wait(timeout=300)
        except (subprocess.TimeoutExpired, TimeoutError, AssertionError) as e:
            pytest.fail(f"{e}; what was waiting on what:\n" + waiting_state(database_url, list(logs.values())))
        finally:
            for fault in held.values():
                fault.release()
            for p in runs.values():
                if p.poll() is None:
                    p.kill()
                    p.wait()
        outputs = [log.read_text() for log in logs.values()]
        assert [p.returncode for p in runs.values()] == [0, 0], outputs
        run_ids = [next(line.split()[1] for line in out.splitlines() if line.startswith("RUN_ID")) for out in outputs]
        one, two = (step_windows(instance, run_id) for run_id in run_ids)

    defs = definitions(kubeconfig, database_url, resources_env={"K8S_ASSETS_RESOURCES": "pods"})
    pooled = {a.op.name for a in defs.assets if isinstance(a, dg.AssetsDefinition) and a.op.pool == SYNC_POOL}
    # One step per cluster holds the pool's slot for the whole sync.
    assert {SYNC_STEP} == pooled == set(one) == set(two)
    overlapping = [(a, b) for a, (s1, e1) in one.items() for b, (s2, e2) in two.items()
                   if a in pooled and b in pooled and s1 < e2 and s2 < e1]
    if limit == 1:
        # One slot: no step of one cluster's run overlaps any step of the other's.
        assert not overlapping, (one, two)
    else:
        assert (SYNC_STEP, SYNC_STEP) in overlapping, (one, two)


def wait_for(condition, failure: str, logs, timeout: float = 300.0):
    """Poll ``condition`` until it is truthy; the timeout is only a bound for a run that hangs."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise TimeoutError(failure)
        time.sleep(0.2)
    return value


def test_daemon_frees_the_slot_of_a_killed_run(fresh_simulator, tmp_path, database_url, monkeypatch):
    """A sync killed mid-step keeps its slot; the daemon's run monitoring gives it back."""
    from k8s_assets.dagster_edge.schedules import ensure_pool
    from k8s_assets.simulator import Fault

    sim = fresh_simulator(clusters=("one",))
    held = sim["one"].inject(Fault("slow", resource="pods", delay=600))  # until the run is killed
    kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig")
    # The repository's settings, with limits and a poll interval a test can wait for.
    home = instance_home(tmp_path, 1, run_monitoring={"max_runtime_seconds": 5, "free_slots_after_run_end_seconds": 1,
                                                      "poll_interval_seconds": 2})
    env = {**os.environ, "PYTHONPATH": str(REPO), "DAGSTER_HOME": str(home), "KUBECONFIG": str(kubeconfig),
           "K8S_ASSETS_DATABASE_URL": database_url, "K8S_ASSETS_RESOURCES": "pods",
           "K8S_ASSETS_SCHEDULE": "0 0 1 1 *"}  # no tick while the daemon runs

    monkeypatch.setenv("K8S_ASSETS_DATABASE_URL", database_url)

    def claimed() -> list[tuple]:
        return query(database_url, "SELECT run_id, step_key FROM concurrency_slots WHERE run_id IS NOT NULL")

    with dg.DagsterInstance.from_config(str(home)) as instance:
        ensure_pool(instance, _NullLog())
    run = start_logged(sync_command(kubeconfig, database_url, home, "one"), tmp_path / "run.log", env)
    try:
        deadline = time.monotonic() + 120
        while not any(step == SYNC_STEP for _, step in claimed()):
            assert run.poll() is None and time.monotonic() < deadline, (tmp_path / "run.log").read_text()
            time.sleep(0.5)
    finally:
        run.kill()
        run.wait()
    [(run_id, _)] = claimed()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.STARTED  # nobody told Dagster

    daemon = start_logged(["dagster-daemon", "run", "-w", "workspace.yaml"], tmp_path / "daemon.log", env,
                          start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while claimed():
            assert daemon.poll() is None, (tmp_path / "daemon.log").read_text()[-3000:]
            assert time.monotonic() < deadline, ("the daemon did not free the slot:\n"
                                                 + (tmp_path / "daemon.log").read_text()[-3000:])
            time.sleep(1)
    finally:
        daemon.terminate()
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        try:  # the daemon's own children (its code server), should any outlive it
            os.killpg(daemon.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        daemon.wait()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE

    # The one slot is free again: the next sync of the cluster runs.
    held.release()
    sim["one"].clear_faults()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        defs = definitions(kubeconfig, database_url, resources_env={"K8S_ASSETS_RESOURCES": "pods"})
        assert sync(defs, instance, "one").success


def waiting_state(database_url: str, logs: list[Path]) -> str:
    """Dagster's slot and queue rows, the server's non-idle sessions and each run's last lines."""
    parts = []
    with psycopg.connect(database_url, autocommit=True) as conn:
        for title, statement in [
            ("concurrency_slots", "SELECT id, run_id, step_key, deleted FROM concurrency_slots"),
            ("pending_steps", "SELECT run_id, step_key, assigned_timestamp, create_timestamp FROM pending_steps"),
            ("sessions", "SELECT pid, state, wait_event_type, wait_event, left(query, 160) FROM pg_stat_activity "
                         "WHERE datname = current_database() AND state <> 'idle' AND pid <> pg_backend_pid()"),
            ("ungranted locks", "SELECT pid, locktype, mode, relation::regclass, objid FROM pg_locks "
                                "WHERE NOT granted"),
        ]:
            parts.append(f"{title}: {conn.execute(statement).fetchall()}")
    for log in logs:
        parts.append(f"{log.name}, last lines:\n" + "\n".join(log.read_text().splitlines()[-15:]))
    return "\n".join(parts)


class _NullLog:
    def warning(self, message: str) -> None:
        raise AssertionError(message)


# -- retries --------------------------------------------------------------------------------


def events_of(result: dg.ExecuteInProcessResult, event_type: dg.DagsterEventType) -> list:
    return [e for e in result.all_events if e.event_type == event_type]


def test_retry_policy_backs_off_exponentially_with_jitter(tmp_path):
    assert RETRY_POLICY.max_retries == 3 and RETRY_POLICY.delay == 10
    assert RETRY_POLICY.backoff == dg.Backoff.EXPONENTIAL and RETRY_POLICY.jitter == dg.Jitter.PLUS_MINUS
    defs = definitions(write_kubeconfig(tmp_path / "kubeconfig", ["dev"]), "postgresql://unused",
                       retry_policy=RETRY_POLICY)
    syncing = [a for a in defs.assets if isinstance(a, dg.AssetsDefinition) and a.op.pool == SYNC_POOL]
    assert [a.op.name for a in syncing] == [SYNC_STEP] and syncing[0].op.retry_policy == RETRY_POLICY


def test_retry_policy_comes_from_the_settings(tmp_path):
    from k8s_assets.definitions import build_definitions
    from k8s_assets.kube.config import ConfigError, load_settings

    kubeconfig = str(write_kubeconfig(tmp_path / "kubeconfig", ["dev"]))

    def step_policy(**env: str):
        defs = build_definitions(load_settings({"KUBECONFIG": kubeconfig, **env}))
        (syncing,) = [a for a in defs.assets if isinstance(a, dg.AssetsDefinition) and a.op.pool == SYNC_POOL]
        return syncing.op.retry_policy

    assert step_policy() == RETRY_POLICY
    assert step_policy(K8S_ASSETS_RETRIES="1", K8S_ASSETS_RETRY_DELAY="0.5") == dg.RetryPolicy(
        max_retries=1, delay=0.5, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)
    assert step_policy(K8S_ASSETS_RETRIES="0") is None
    with pytest.raises(ConfigError, match="K8S_ASSETS_RETRIES: expected a number, 0 or more, got '-1'"):
        step_policy(K8S_ASSETS_RETRIES="-1")


def test_transient_api_failure_is_retried_with_the_retry_policy(fresh_simulator, tmp_path, database_url):
    from k8s_assets.simulator import Fault

    sim = fresh_simulator(clusters=("one",))
    # Five 500s in a row outlast the client's own retries (5 requests per page), so the pods'
    # listing fails once; the step tries the kind again under the retry policy and the fault is gone.
    sim["one"].inject(Fault("internal_error", resource="pods", times=5))
    defs = definitions(sim.write_kubeconfig(tmp_path / "kubeconfig"), database_url, retry_policy=ZERO_DELAY,
                       resources_env={"K8S_ASSETS_RESOURCES": "pods"})
    with dg.DagsterInstance.ephemeral() as instance:
        result = sync(defs, instance, "one")
        messages = [record.user_message for record in instance.all_logs(result.run_id)]
    assert result.success
    # Only the kind is tried again, within the one step: nothing else is listed twice.
    assert not events_of(result, dg.DagsterEventType.STEP_UP_FOR_RETRY)
    retried = [m for m in messages if "trying again" in m]
    assert len(retried) == 1 and retried[0].startswith("k8s_pods: ") and "attempt 2 of 4" in retried[0], retried
    assert len(sim["one"].list("pods")) == \
        psycopg.connect(database_url).execute("SELECT count(*) FROM k8s_pods").fetchone()[0]


def test_dropped_database_connection_is_retried(fresh_simulator, tmp_path, database_url):
    from k8s_assets.dagster_edge.io_manager import PostgresMergeIOManager
    from k8s_assets.dagster_edge.resources import KubernetesResource, PostgresResource
    from k8s_assets.definitions import build_definitions
    from k8s_assets.kube.config import load_settings

    class DropsFirstConnection(PostgresResource):
        def connect(self):
            if not DROPPED:
                DROPPED.append(True)
                raise psycopg.OperationalError("server closed the connection unexpectedly")
            return super().connect()

    DROPPED: list[bool] = []
    sim = fresh_simulator(clusters=("one",))
    kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig")
    settings = load_settings({"KUBECONFIG": str(kubeconfig), "K8S_ASSETS_RESOURCES": "pods"})
    postgres = DropsFirstConnection(url=database_url)
    defs = build_definitions(settings, retry_policy=ZERO_DELAY, resources={
        "kubernetes": KubernetesResource(kubeconfig=str(kubeconfig)),
        "postgres": postgres, "io_manager": PostgresMergeIOManager(postgres=postgres)})
    with dg.DagsterInstance.ephemeral() as instance:
        result = sync(defs, instance, "one")
    assert DROPPED and result.success
    retried = events_of(result, dg.DagsterEventType.STEP_UP_FOR_RETRY)
    assert len(retried) == 1 and "server closed the connection" in str(retried[0].event_specific_data.error)


@pytest.mark.parametrize("breakage", ["context_removed", "kubeconfig_not_yaml", "wrong_token"])
def test_permanent_failures_fail_fast_with_a_clear_message(breakage, fresh_simulator, tmp_path, database_url):
    sim = fresh_simulator(clusters=("one",))
    kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig")
    defs = definitions(kubeconfig, database_url, retry_policy=ZERO_DELAY,
                       resources_env={"K8S_ASSETS_RESOURCES": "pods"})
    config = yaml.safe_load(kubeconfig.read_text())
    # The partition was loaded; then the kubeconfig changed under the running code location.
    if breakage == "context_removed":
        config["contexts"] = []
        kubeconfig.write_text(yaml.safe_dump(config))
        expected = "no context named 'one'"
    elif breakage == "kubeconfig_not_yaml":
        kubeconfig.write_text("clusters: [unclosed\n")
        expected = "is not valid YAML"
    else:
        config["users"][0]["user"]["token"] = "not-the-token"
        kubeconfig.write_text(yaml.safe_dump(config))
        expected = "401"
    with dg.DagsterInstance.ephemeral() as instance:
        result = sync(defs, instance, "one")
    assert not result.success
    assert not events_of(result, dg.DagsterEventType.STEP_UP_FOR_RETRY)
    (failure,) = events_of(result, dg.DagsterEventType.STEP_FAILURE)
    assert failure.step_key == SYNC_STEP
    message = failure.event_specific_data.error.message
    assert expected in message and "'one'" in message, message


def test_a_data_error_fails_fast_without_retries(fresh_simulator, tmp_path, database_url):
    """More objects refused than can be set aside one by one: the merge fails once, not four times."""
    from k8s_assets.store.copy import MAX_REJECTED

    sim = fresh_simulator(clusters=("one",))
    cluster = sim["one"]
    template = cluster.list("pods")[0]
    for i in range(MAX_REJECTED + 1):
        pod = {**template, "metadata": {"name": f"bad-{i}", "namespace": template["metadata"]["namespace"]},
               "status": {**template.get("status", {}), "containerStatuses": [{"restartCount": 2 ** 40}]}}
        cluster.create("pods", pod)
    defs = definitions(sim.write_kubeconfig(tmp_path / "kubeconfig"), database_url, retry_policy=ZERO_DELAY,
                       resources_env={"K8S_ASSETS_RESOURCES": "pods"})
    with dg.DagsterInstance.ephemeral() as instance:
        result = sync(defs, instance, "one")
    assert not result.success
    assert not events_of(result, dg.DagsterEventType.STEP_UP_FOR_RETRY)
    (failure,) = events_of(result, dg.DagsterEventType.STEP_FAILURE)
    assert failure.step_key == SYNC_STEP
    assert "refused more than" in failure.event_specific_data.error.message
    assert psycopg.connect(database_url).execute("SELECT count(*) FROM k8s_pods").fetchone()[0] == 0


def test_failures_are_classified_from_real_errors(database_url, tmp_path):
    from k8s_assets.kube.config import ConfigError
    from k8s_assets.kube.failures import is_transient
    from k8s_assets.kube.listing import ListingError

    with psycopg.connect(database_url) as conn:
        with pytest.raises(psycopg.DataError) as data_error:
            conn.execute("SELECT 'not a number'::integer")
    with pytest.raises(psycopg.OperationalError) as unreachable:
        psycopg.connect("postgresql://nobody@127.0.0.1:1/none", connect_timeout=2)
    with pytest.raises(FileNotFoundError) as missing:
        (tmp_path / "gone.sql").read_text()
    assert not is_transient(data_error.value)
    assert not is_transient(missing.value)
    assert not is_transient(ConfigError("KUBECONFIG", "no such context"))
    assert not is_transient(ListingError("401", status=401, transient=False))
    assert is_transient(unreachable.value)
    assert is_transient(ListingError("503", status=503))
    assert is_transient(ConnectionResetError())
