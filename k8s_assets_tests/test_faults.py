"""Faults, each made to happen at one precise point, against a real kube-apiserver and a real PostgreSQL.

* PostgreSQL crashes (``pg_ctl -m immediate stop``) after a kind's merge wrote its rows and before
  it committed; a ``k8s-assets sync`` is SIGKILLed while its merge waits on the kind's lock;
* kube-apiserver is killed between two pages of a listing (and restarted, or not);
* an API server that accepts connections and never answers, next to a healthy context and one
  whose CA file does not exist;
* the database does not answer at all when ``k8s-assets sync`` starts.

What must hold: each kind is stored whole, all as before the fault or all as after it; a listing
that failed deletes nothing; the next sync is complete; nothing is left holding a lock or a pool
slot; ``k8s-assets sync`` prints one line per context and exits non-zero.

Every fault is triggered from inside the code path it interrupts (a wrapper around the function
that writes or fetches) or by an event the test waits for (a backend waiting on a lock), never
after a sleep. Run with ``-s`` for one ``FAULT`` line per test, with rows before and after.

One PostgreSQL 15 server (Debian's binaries, initdb in a temporary directory) and one
kube-apiserver serve the whole module; they are the module's own, since the tests crash and
kill them.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import psycopg
import pytest
import yaml
from kubernetes import client as k8s_client
from psycopg import sql

from k8s_assets.dagster_edge.assets import SYNC_POOL
from k8s_assets.kube import listing as kube_listing
from k8s_assets.simulator import Simulator
from k8s_assets.store import database
from k8s_assets.store import merge as store_merge
from k8s_assets.store import migrations
from k8s_assets.store.database import sql_text
from k8s_assets.sync import failure_reason
from k8s_assets_tests.fixtures_kube import CURRENT, RealKubeServer, real_server
from k8s_assets_tests.fixtures_postgres import DEBIAN_PG_BIN, skip_or_fail
from k8s_assets_tests.pipeline import cluster_uid_of, definitions, materialization_metadata, query, sync

# Four kinds are enough for every fault here and keep each sync to seconds. In catalog order,
# which is the order of the merges: namespaces, services, configmaps, secrets.
KINDS = {"k8s_namespaces": "namespaces", "k8s_services": "services", "k8s_configmaps": "configmaps",
         "k8s_secrets": "secrets"}
RESOURCES_ENV = {"K8S_ASSETS_RESOURCES": ",".join(KINDS.values())}
NAMESPACE = "faults"
CONFIGMAPS = 12
PAGE_SIZE = 5  # 12 configmaps: three pages, so there is a "between two pages"
# Generous upper bounds for "something happened", never the thing asserted short.
PATIENCE = 300.0


def fault_line(name: str, text: str) -> None:
    """The one summary line a test prints (``pytest -s``), for the lead to quote."""
    print(f"\nFAULT {name}: {text}", flush=True)


# -- PostgreSQL of the module's own -----------------------------------------------------------


class OwnPostgres:
    """Debian's PostgreSQL 15 in a temporary directory, on a private socket, to crash at will."""

    def __init__(self, base: Path):
        self.base, self.data, self.sockets = base, base / "data", base / "sock"
        self.as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.numbers = iter(range(1, 1000))

    @property
    def server_url(self) -> str:
        return f"postgresql://postgres@/postgres?host={self.sockets}"

    def _pg_ctl(self, *args: str) -> None:
        subprocess.run([*self.as_postgres, str(DEBIAN_PG_BIN / "pg_ctl"), "-D", str(self.data), *args],
                       check=True, capture_output=True, timeout=PATIENCE)

    def init(self) -> None:
        self.sockets.mkdir(parents=True)
        if self.as_postgres:
            for path in (self.base, self.sockets):
                shutil.chown(path, "postgres")
        subprocess.run([*self.as_postgres, str(DEBIAN_PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres",
                        "--auth=trust", "-E", "UTF8"], check=True, capture_output=True, timeout=PATIENCE)

    def start(self) -> None:
        self._pg_ctl("-w", "-l", str(self.base / "log"), "-o", f"-k {self.sockets} -h '' -c fsync=off", "start")

    def crash(self) -> None:
        """What a power cut or a SIGKILL of the postmaster does: no checkpoint, connections cut."""
        self._pg_ctl("-w", "-m", "immediate", "stop")

    def stop(self) -> None:
        self._pg_ctl("-w", "-m", "fast", "stop")

    def new_database(self) -> str:
        name = f"faults_{next(self.numbers)}"
        with psycopg.connect(self.server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        url = f"postgresql://postgres@/{name}?host={self.sockets}"
        migrations.migrate(url)
        return url

    def backends(self, url: str) -> int:
        """Client connections to the database of ``url`` other than the one asking."""
        (count,) = query(url, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                              "AND backend_type = 'client backend' AND pid <> pg_backend_pid()")[0]
        return count


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[OwnPostgres]:
    if not (DEBIAN_PG_BIN / "postgres").exists():
        skip_or_fail("Debian PostgreSQL 15 is not installed (apt-get install postgresql-15)")
    # Under /tmp, not pytest's 0700 directory: the server runs as the postgres user.
    server = OwnPostgres(Path(tempfile.mkdtemp(prefix="k8s-assets-faults-pg-")))
    server.init()
    server.start()
    try:
        yield server
    finally:
        try:
            server.stop()
        finally:
            shutil.rmtree(server.base, ignore_errors=True)


def advisory_locks(url: str) -> list[tuple]:
    """Advisory locks held or awaited on the database, by anyone but the asker."""
    return query(url, "SELECT pid, granted FROM pg_locks WHERE locktype = 'advisory' AND database = "
                      "(SELECT oid FROM pg_database WHERE datname = current_database()) AND pid <> pg_backend_pid()")


# -- kube-apiserver of the module's own, and its objects ----------------------------------------


@pytest.fixture(scope="module")
def kube(tmp_path_factory) -> Iterator[RealKubeServer]:
    for server in real_server(CURRENT, tmp_path_factory):
        populate(server)
        yield server


@pytest.fixture(scope="module")
def kubeconfig(kube, tmp_path_factory) -> Path:
    return kube.write_kubeconfig(tmp_path_factory.mktemp("faults-kubeconfig") / "kubeconfig")


def populate(server: RealKubeServer) -> None:
    core = k8s_client.CoreV1Api(server.api_client())
    core.create_namespace({"metadata": {"name": NAMESPACE}})
    for i in range(CONFIGMAPS):
        core.create_namespaced_config_map(NAMESPACE, {"metadata": {"name": f"config-{i}"}, "data": {"i": str(i)}})
    for i in range(3):
        core.create_namespaced_secret(NAMESPACE, {"metadata": {"name": f"secret-{i}"}, "stringData": {"k": "v"}})
        core.create_namespaced_service(NAMESPACE, {"metadata": {"name": f"svc-{i}"}, "spec": {
            "ports": [{"port": 80 + i}], "selector": {"app": f"svc-{i}"}}})


def change_everything(server: RealKubeServer, tag: str) -> None:
    """A change in every kind, deletions included, so that 'as before' and 'as after' differ everywhere."""
    core = k8s_client.CoreV1Api(server.api_client())
    core.create_namespace({"metadata": {"name": f"{NAMESPACE}-{tag}"}})
    core.create_namespaced_service(NAMESPACE, {"metadata": {"name": f"svc-{tag}"}, "spec": {"ports": [{"port": 80}]}})
    core.create_namespaced_secret(NAMESPACE, {"metadata": {"name": f"secret-{tag}"}, "stringData": {"k": "v"}})
    core.create_namespaced_config_map(NAMESPACE, {"metadata": {"name": f"config-{tag}"}, "data": {"new": "yes"}})
    names = sorted(c.metadata.name for c in core.list_namespaced_config_map(NAMESPACE).items)
    core.patch_namespaced_config_map(names[0], NAMESPACE, {"metadata": {"labels": {"changed": tag}}})
    core.delete_namespaced_config_map(names[1], NAMESPACE)


def listed(server: RealKubeServer) -> dict[str, dict[str, str]]:
    """uid -> resourceVersion of each kind, as the API server has them now."""
    core = k8s_client.CoreV1Api(server.api_client())
    lists = {"k8s_namespaces": core.list_namespace(), "k8s_services": core.list_service_for_all_namespaces(),
             "k8s_configmaps": core.list_config_map_for_all_namespaces(),
             "k8s_secrets": core.list_secret_for_all_namespaces()}
    return {table: {o.metadata.uid: o.metadata.resource_version for o in found.items} for table, found in lists.items()}


def stored(url: str, cluster_uid: str) -> dict[str, dict[str, str]]:
    return {table: dict(query(url, f"SELECT uid::text, resource_version FROM {table} WHERE cluster_uid = %s",
                              (cluster_uid,)))
            for table in KINDS}


def whole(now: dict, before: dict, after: dict) -> dict[str, str]:
    """For each kind: 'old' or 'new' if it is stored exactly as before or as after; 'MIXED' otherwise."""
    assert all(before[t] != after[t] for t in KINDS), "the change must show in every kind"
    return {t: "old" if now[t] == before[t] else "new" if now[t] == after[t] else "MIXED" for t in KINDS}


def counts(rows: dict) -> str:
    return " ".join(f"{t.removeprefix('k8s_')}={len(v)}" for t, v in rows.items())


def states(found: dict[str, str]) -> str:
    return ", ".join(f"{t.removeprefix('k8s_')} {state}" for t, state in found.items())


# -- Dagster ------------------------------------------------------------------------------------


@contextmanager
def pooled_instance(tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    """A Dagster instance with the pool of dagster.yaml, so the sync claims a slot as in production
    (in a SQLite directory: the PostgreSQL under test crashes, Dagster's own records must not)."""
    (tmp_path / "dagster").mkdir()
    with dg.DagsterInstance.local_temp(str(tmp_path / "dagster"), overrides={
            "concurrency": {"pools": {"default_limit": 4, "granularity": "op"}}}) as instance:
        yield instance


def claimed_slots(instance: dg.DagsterInstance) -> int:
    return instance.event_log_storage.get_concurrency_info(SYNC_POOL).active_slot_count


def cli_env(kubeconfig: Path, url: str, home: Path, **more: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "K8S_ASSETS_CONFIG")}
    return {**env, **RESOURCES_ENV, "KUBECONFIG": str(kubeconfig), "K8S_ASSETS_DATABASE_URL": url,
            "K8S_ASSETS_HOME": str(home), **more}


def k8s_assets(*args: str) -> list[str]:
    return [sys.executable, "-m", "k8s_assets", *args]


# -- PostgreSQL crashes mid-merge ---------------------------------------------------------------


def test_postgres_crash_mid_merge_keeps_each_kind_whole_and_the_next_sync_completes(
        own_postgres, kube, kubeconfig, tmp_path, monkeypatch):
    url = own_postgres.new_database()
    context = kube.context()
    defs = definitions(kubeconfig, url, resources_env=RESOURCES_ENV)
    with pooled_instance(tmp_path) as instance:
        assert sync(defs, instance, context).success
        cluster_uid = cluster_uid_of(url, context)
        before = stored(url, cluster_uid)
        assert before == listed(kube)
        change_everything(kube, "crash")
        after = listed(kube)

        # The crash: configmaps' merge has upserted and deleted its rows and written their
        # versions, in its transaction, under its advisory lock; PostgreSQL dies before COMMIT.
        at_crash = {}
        apply_staged = store_merge.StagedMerge._apply

        def crash_before_commit(staged, *args):
            result = apply_staged(staged, *args)
            if staged.kind.table == "k8s_configmaps" and not at_crash:
                at_crash["advisory_locks"] = len(advisory_locks(url))
                at_crash["slots"] = claimed_slots(instance)
                own_postgres.crash()
            return result

        monkeypatch.setattr(store_merge.StagedMerge, "_apply", crash_before_commit)
        crashed = sync(defs, instance, context)
        monkeypatch.setattr(store_merge.StagedMerge, "_apply", apply_staged)
        assert at_crash == {"advisory_locks": 1, "slots": 1}, "the merge held its lock and the run its slot"
        assert not crashed.success
        reason = failure_reason(crashed)  # what `k8s-assets sync` would print
        assert reason.startswith("OperationalError: ") and "\n" not in reason, reason
        assert claimed_slots(instance) == 0, "the failed run gave its pool slot back"

        own_postgres.start()
        assert advisory_locks(url) == []
        kept = stored(url, cluster_uid)
        # Merged and committed before the crash: new; the crashed merge and what came after it: old.
        assert whole(kept, before, after) == {"k8s_namespaces": "new", "k8s_services": "new",
                                              "k8s_configmaps": "old", "k8s_secrets": "old"}
        ((ended_versions,),) = query(url, "SELECT count(*) FROM k8s_configmaps_history WHERE cluster_uid = %s",
                                     (cluster_uid,))
        assert ended_versions == 0, "the versions rolled back with the rows"

        resynced = sync(defs, instance, context)
        assert resynced.success
        final = stored(url, cluster_uid)
        assert final == listed(kube)
        assert advisory_locks(url) == [] and claimed_slots(instance) == 0
        fault_line("postgres-crash-mid-merge", (
            f"PostgreSQL stopped -m immediate inside the k8s_configmaps merge (rows written, lock held, "
            f"{at_crash['slots']} pool slot claimed), before COMMIT; rows before: {counts(before)}; after "
            f"the crash: {counts(kept)} ({states(whole(kept, before, after))}); run failed, 0 slots and 0 "
            f"advisory locks left; reason printed: {reason!r}; next sync ok: {counts(final)} = the API server"))
    assert own_postgres.backends(url) == 0


def test_a_killed_sync_leaves_no_lock_and_the_next_sync_frees_its_slot(own_postgres, kube, kubeconfig, tmp_path,
                                                                       monkeypatch):
    """``k8s-assets sync`` SIGKILLed inside a merge, without a daemon: its lock goes with its
    connection, its kinds are whole, and the next ``k8s-assets sync`` on the host ends the dead
    run and frees its pool slot (with a daemon, run monitoring does: test_schedules.py)."""
    url = own_postgres.new_database()
    env = cli_env(kubeconfig, url, tmp_path / "home")
    first = subprocess.run(k8s_assets("sync"), env=env, cwd=tmp_path, capture_output=True, text=True,
                           timeout=PATIENCE)
    assert first.returncode == 0, first.stdout + first.stderr[-3000:]
    context = kube.context()
    cluster_uid = cluster_uid_of(url, context)
    before = stored(url, cluster_uid)
    change_everything(kube, "kill")
    after = listed(kube)

    # The test holds configmaps' merge lock, so the sync stops inside that merge's transaction,
    # waiting; that wait, seen in pg_locks, is when it is killed.
    with psycopg.connect(url) as holder:
        holder.execute(sql_text("merge/lock.sql"), {"table": "k8s_configmaps", "cluster_uid": cluster_uid})
        sync_process = subprocess.Popen(k8s_assets("sync"), env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + PATIENCE
            while not any(not granted for _, granted in advisory_locks(url)):
                assert sync_process.poll() is None, sync_process.communicate()
                assert time.monotonic() < deadline, "the sync never reached the configmaps merge"
                time.sleep(0.2)
        finally:
            sync_process.send_signal(signal.SIGKILL)
            sync_process.communicate()
        holder.rollback()

    # The killed sync's backend sees its client gone and ends, releasing what it held.
    deadline = time.monotonic() + PATIENCE
    while advisory_locks(url):
        assert time.monotonic() < deadline, f"advisory locks left behind: {advisory_locks(url)}"
        time.sleep(0.2)
    kept = stored(url, cluster_uid)
    assert whole(kept, before, after) == {"k8s_namespaces": "new", "k8s_services": "new",
                                          "k8s_configmaps": "old", "k8s_secrets": "old"}

    monkeypatch.setenv("K8S_ASSETS_DATABASE_URL", url)  # the instance's storage (dagster_edge/instance.py)
    with dg.DagsterInstance.from_config(str(tmp_path / "home" / "dagster")) as instance:
        (killed,) = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
        left_behind = claimed_slots(instance)
        assert left_behind == 1, "a SIGKILLed run keeps its slot until something frees it"

        next_sync = subprocess.run(k8s_assets("sync"), env=env, cwd=tmp_path, capture_output=True, text=True,
                                   timeout=PATIENCE)
        assert next_sync.returncode == 0, next_sync.stdout + next_sync.stderr[-3000:]
        assert f"run {killed.run_id} of a sync killed on this host was marked failed" in next_sync.stderr
        assert instance.get_run_by_id(killed.run_id).status == dg.DagsterRunStatus.FAILURE
        assert claimed_slots(instance) == 0
    final = stored(url, cluster_uid)
    assert final == listed(kube)
    assert advisory_locks(url) == []
    assert own_postgres.backends(url) == 0
    fault_line("sync-killed-mid-merge", (
        f"k8s-assets sync SIGKILLed while its k8s_configmaps merge waited for the lock; rows before: "
        f"{counts(before)}; after the kill: {counts(kept)} (namespaces, services new; configmaps, secrets old); "
        f"advisory locks released with its connection; run left STARTED holding {left_behind} slot; next "
        f"k8s-assets sync (no daemon) marked it FAILURE, freed the slot, exit {next_sync.returncode}: "
        f"{counts(final)} = the API server"))


# -- kube-apiserver killed between two pages ----------------------------------------------------


def test_apiserver_killed_between_pages(own_postgres, kube, kubeconfig, tmp_path, monkeypatch):
    """kube-apiserver SIGKILLed between page 1 and page 2 of configmaps, three ways:

    1. left down for the rest of the sync: the listing fails, its rows are kept (nothing deleted);
    2. restarted once the page-2 request has failed: the kind's retry lists again and completes;
    3. restarted before page 2 is asked for: the continue token works on the new process.
    """
    url = own_postgres.new_database()
    context = kube.context()
    env = {**RESOURCES_ENV, "K8S_ASSETS_PAGE_SIZE": str(PAGE_SIZE)}
    defs = definitions(kubeconfig, url, resources_env=env)
    # One more try, at once: what the RetryPolicy's tries do, without its 10 s backoff.
    retrying = definitions(kubeconfig, url, resources_env=env, retry_policy=dg.RetryPolicy(max_retries=1))
    get_page = kube_listing._get_page

    def between_pages(events: dict, restart: str | None):
        """_get_page that kills the API server before configmaps' page 2 is requested, and
        restarts it before that request ('before') or after it failed ('after')."""
        def get_page_with_fault(api, kind, path, query_, timeout, page_number):
            if kind.table != "k8s_configmaps" or page_number != 2 or "killed" in events:
                return get_page(api, kind, path, query_, timeout, page_number)
            kube.kill_apiserver()
            events["killed"] = True
            if restart == "before":
                kube.restart_apiserver()
            try:
                return get_page(api, kind, path, query_, timeout, page_number)
            except kube_listing.ListingError as e:
                events["failed"] = str(e)
                if restart == "after":
                    kube.restart_apiserver()
                raise
        return get_page_with_fault

    @contextmanager
    def fault(events: dict, restart: str | None):
        monkeypatch.setattr(kube_listing, "_get_page", between_pages(events, restart))
        try:
            yield
        finally:
            monkeypatch.setattr(kube_listing, "_get_page", get_page)
            if restart is None:
                kube.restart_apiserver()

    with pooled_instance(tmp_path) as instance:
        assert sync(defs, instance, context).success
        cluster_uid = cluster_uid_of(url, context)
        before = stored(url, cluster_uid)
        change_everything(kube, "pages")
        after = listed(kube)

        down = {}
        with fault(down, restart=None):
            failed = sync(retrying, instance, context)
        assert "Connection refused" in down["failed"] and not failed.success
        reason = failure_reason(failed)
        assert "2 asset(s) failed (k8s_configmaps, k8s_secrets)" in reason and "\n" not in reason, reason
        kept = stored(url, cluster_uid)
        assert whole(kept, before, after) == {"k8s_namespaces": "new", "k8s_services": "new",
                                              "k8s_configmaps": "old", "k8s_secrets": "old"}
        ((coverage,),) = query(url, "SELECT status FROM k8s_sync_coverage WHERE cluster_uid = %s AND kind = "
                                    "'k8s_configmaps'", (cluster_uid,))
        assert coverage == "failed"

        change_everything(kube, "retried")
        retried_events = {}
        with fault(retried_events, restart="after"):
            retried = sync(retrying, instance, context)
        assert "Connection refused" in retried_events["failed"]
        assert retried.success
        after_retry = stored(url, cluster_uid)
        assert after_retry == listed(kube)

        change_everything(kube, "bounced")
        bounced = {}
        with fault(bounced, restart="before"):
            recovered = sync(defs, instance, context)
        assert "failed" not in bounced and recovered.success
        final = stored(url, cluster_uid)
        assert final == listed(kube)
        configmaps = materialization_metadata(recovered, "k8s_configmaps")
        assert configmaps["pages"] >= 3
        assert claimed_slots(instance) == 0
    assert advisory_locks(url) == [] and own_postgres.backends(url) == 0
    token = ("the continue token was accepted by the new process" if configmaps["list_restarts"] == 0
             else "the continue token had expired, the list restarted")
    fault_line("apiserver-killed-between-pages", (
        f"kube-apiserver SIGKILLed between pages 1 and 2 of configmaps (page size {PAGE_SIZE}); rows before: "
        f"{counts(before)}; left down: sync FAILED (page 2: connection refused), rows kept {counts(kept)} "
        f"(configmaps, secrets as before, coverage 'failed'), reason {reason[:90]!r}…; restarted after page 2 "
        f"failed: the kind's retry listed again, sync ok, {counts(after_retry)} = the API server; restarted "
        f"before page 2: {token}, sync ok, {configmaps['pages']} pages, {configmaps['list_restarts']} list "
        f"restarts, "
        f"{counts(final)} = the API server"))


# -- k8s-assets sync: one line per context; a server that never answers -------------------------


@contextmanager
def silent_server() -> Iterator[int]:
    """A port that accepts TCP connections (the kernel's backlog does) and never answers a byte."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        yield listener.getsockname()[1]


def kubeconfig_with_faulty_contexts(simulator: Simulator, path: Path, silent_port: int) -> Path:
    """The simulator's context, plus one whose CA file does not exist and one whose server never answers."""
    simulator.write_kubeconfig(path)
    doc = yaml.safe_load(path.read_text())
    (cluster,), (context,) = doc["clusters"], doc["contexts"]
    broken = {k: v for k, v in cluster["cluster"].items() if k != "certificate-authority-data"}
    doc["clusters"] += [
        {"name": "broken-cert", "cluster": {**broken, "certificate-authority": "/nonexistent/ca.crt"}},
        {"name": "silent", "cluster": {**cluster["cluster"], "server": f"https://127.0.0.1:{silent_port}"}},
    ]
    doc["contexts"] += [{"name": name, "context": {**context["context"], "cluster": name}}
                        for name in ("broken-cert", "silent")]
    path.write_text(yaml.safe_dump(doc))
    return path


def test_sync_prints_one_line_per_context_and_a_silent_server_times_out(own_postgres, fresh_simulator, tmp_path):
    url = own_postgres.new_database()
    simulator = fresh_simulator(clusters=("healthy",), tls=True)
    token = simulator.kubeconfig_entries()[0].token
    with silent_server() as port:
        kubeconfig = kubeconfig_with_faulty_contexts(simulator, tmp_path / "kubeconfig", port)
        # One more try, soon: the policy's default waits (10 s, 20 s, 40 s) would prove nothing more.
        env = cli_env(kubeconfig, url, tmp_path / "home", K8S_ASSETS_REQUEST_TIMEOUT="2", K8S_ASSETS_RETRIES="1",
                      K8S_ASSETS_RETRY_DELAY="0.1")
        started = time.monotonic()
        done = subprocess.run(k8s_assets("sync"), env=env, cwd=tmp_path, capture_output=True, text=True,
                              timeout=PATIENCE * 2)
        took = time.monotonic() - started
    lines = done.stdout.splitlines()
    assert done.returncode == 1, done.stdout + done.stderr[-3000:]
    # One line per context, in kubeconfig order.
    assert [line.split(":")[0] for line in lines] == ["synced healthy", "synced broken-cert", "synced silent"], lines
    healthy, broken, silent = lines
    assert broken.endswith("KUBECONFIG: context 'broken-cert': File does not exist: /nonexistent/ca.crt")
    assert " FAILED in " in broken
    assert healthy.startswith("synced healthy: ok in ")
    # Ended by K8S_ASSETS_REQUEST_TIMEOUT on every try, then by the RetryPolicy giving up.
    assert " FAILED in " in silent and "timed out" in silent and "timeout=2.0" in silent, silent
    assert silent.endswith("(Exceeded max_retries of 1)"), silent
    # The tracebacks went to the event log, not the terminal; no credential reached either.
    assert "Traceback" not in done.stderr + done.stdout and "Stack Trace" not in done.stderr
    assert token and token not in done.stdout + done.stderr
    cluster_uid = cluster_uid_of(url, "healthy")
    healthy_rows = {t: len(v) for t, v in stored(url, cluster_uid).items()}
    assert healthy_rows["k8s_configmaps"] == len(simulator["healthy"].list("configmaps"))
    (failures,) = query(url, "SELECT count(*) FROM event_logs WHERE dagster_event_type = 'STEP_FAILURE'")
    assert failures[0] >= 2, "the failures' tracebacks are in Dagster's event log"
    assert own_postgres.backends(url) == 0
    fault_line("one-line-per-context", (
        f"kubeconfig with a healthy simulated context, one whose CA file is missing and one whose server "
        f"accepts and never answers (K8S_ASSETS_REQUEST_TIMEOUT=2, K8S_ASSETS_RETRIES=1): exit {done.returncode} after {took:.0f}s, "
        f"{len(lines)} lines: " + " | ".join(lines)))


# -- the database does not answer at start -------------------------------------------------------


def test_sync_with_an_unreachable_database_fails_in_one_line(tmp_path, fresh_simulator):
    simulator = fresh_simulator(clusters=("one",))
    kubeconfig = simulator.write_kubeconfig(tmp_path / "kubeconfig")
    password = "s3cret-never-printed"
    with silent_server() as port:
        env = cli_env(kubeconfig, f"postgresql://inventory:{password}@127.0.0.1:{port}/inventory", tmp_path / "home")
        started = time.monotonic()
        done = subprocess.run(k8s_assets("sync"), env=env, cwd=tmp_path, capture_output=True, text=True,
                              timeout=120)
        took = time.monotonic() - started
    assert done.returncode == 3, done.stdout + done.stderr[-3000:]
    assert took < 60
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"k8s-assets: cannot connect to PostgreSQL at 127.0.0.1:{port} (database inventory, "
                           "user inventory): "), line
    assert password not in done.stderr
    fault_line("database-unreachable", (
        f"K8S_ASSETS_DATABASE_URL pointing at a port that accepts and never answers: exit {done.returncode} after "
        f"{took:.0f}s (connect timeout {database.CONNECT_TIMEOUT}s), one line: {line}"))
