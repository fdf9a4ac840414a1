"""Dagster's own storage (runs, events, schedules) in the inventory's PostgreSQL.

``dagster.yaml`` names :class:`InventoryPostgresStorage`, so every Dagster process (``dagster
dev``, the webserver, the daemon, run workers) finds the same database the inventory uses:

* ``K8S_ASSETS_DATABASE_URL`` when it is set (a ``postgresql://`` URL), else
* the database URL from the ``K8S_ASSETS_CONFIG`` file, else
* the embedded PostgreSQL under ``K8S_ASSETS_HOME`` (default ``.k8s-assets``), started on demand.

That is why a bare ``dagster dev`` in the repository root works with nothing configured.
The URL is resolved in each process and never stored in run records or shown in the UI.

The instance config ships in the package (``k8s_assets/dagster.yaml``; the repository root's
``dagster.yaml`` links to it). :func:`instance_home` gives the ``k8s-assets`` commands a
``DAGSTER_HOME`` holding it wherever they are started.
"""

from __future__ import annotations

import importlib.resources
import os
import tempfile
from pathlib import Path

import sqlalchemy
from dagster._serdes import ConfigurableClassData
from dagster_postgres.event_log import PostgresEventLogStorage
from dagster_postgres.run_storage import PostgresRunStorage
from dagster_postgres.storage import DagsterPostgresStorage

INSTANCE_CONFIG = "dagster.yaml"


def instance_config() -> str:
    """The text of the packaged instance config (storage, the ``k8s_cluster_sync`` pool, run monitoring)."""
    return importlib.resources.files("k8s_assets").joinpath(INSTANCE_CONFIG).read_text(encoding="utf-8")


def instance_home(settings, cwd: Path | None = None) -> Path:
    """The ``DAGSTER_HOME`` for ``k8s-assets dev``, ``sync`` and ``demo``.

    ``DAGSTER_HOME`` when it is set; else the working directory when it holds a
    ``dagster.yaml`` (the repository root); else ``$K8S_ASSETS_HOME/dagster``, where the
    packaged instance config is written (again whenever it differs, e.g. after an upgrade).
    """
    if os.environ.get("DAGSTER_HOME"):
        return Path(os.environ["DAGSTER_HOME"])
    cwd = Path.cwd() if cwd is None else cwd
    if (cwd / INSTANCE_CONFIG).is_file():
        return cwd.resolve()
    home = Path(settings.home) / "dagster"
    home.mkdir(parents=True, exist_ok=True)
    text = instance_config()
    target = home / INSTANCE_CONFIG
    if not target.is_file() or target.read_text(encoding="utf-8") != text:
        # Write aside and rename: another command starting at the same moment reads either
        # the old file or the new one, never half of it.
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=home, prefix=".dagster.yaml.",
                                         delete=False) as new:
            new.write(text)
        os.replace(new.name, target)
    return home


def inventory_database_url() -> str:
    from k8s_assets.kube.config import load_settings
    from k8s_assets.store import database

    return database.database_url(load_settings())


def _commit_without_waiting_for_the_disk(connection, _record) -> None:
    """``synchronous_commit = off`` for Dagster's run and event writes, on their connection only.

    Every event is its own transaction; waiting for its WAL flush made each of a run's ~1,100
    event writes pay a disk sync. With it off PostgreSQL still never corrupts or half-applies a
    transaction: a crash can lose the events of the last moments (at most three times
    ``wal_writer_delay``, 0.6 s by default), after which run monitoring fails the run as it does
    for a killed run worker. The inventory's own writes keep the server's setting.
    """
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")
    connection.commit()


class _HeldConnection:
    """A dagster-postgres storage that holds one pooled connection instead of opening one per
    statement, and closes it when the instance is disposed.

    dagster-postgres connects anew for every statement (``NullPool``) everywhere but in the
    webserver; a sync run writes hundreds of events, and a profile of a demo-size run counted
    2,321 connections, a third of its time. We use Dagster's own switch, the one
    ``dagster-webserver`` throws (``optimize_for_webserver``: a pool of one connection, four
    more when threads overlap), with no statement timeout (0: a run's writes must not be cut
    off the way a UI query may be). ``DagsterInstance.dispose`` (the end of a ``with`` block)
    disposes the run and event-log storages, and we close the pool there: a process that makes
    many instances (a test session) keeps no connection of one it is done with.
    """

    def hold_connection(self) -> None:
        self.optimize_for_webserver(statement_timeout=0, pool_recycle=3600, max_overflow=4)
        sqlalchemy.event.listen(self._engine, "connect", _commit_without_waiting_for_the_disk)

    def dispose(self) -> None:
        super().dispose()
        self._engine.dispose()


class InventoryRunStorage(_HeldConnection, PostgresRunStorage):
    pass


class InventoryEventLogStorage(_HeldConnection, PostgresEventLogStorage):
    """The event log on a held connection, remembering which of Dagster's tables exist.

    Before it writes each check event, dagster-postgres asks the catalog whether the table
    ``asset_check_executions`` exists (``supports_asset_checks``): 614 catalog queries in a
    demo-size run. Dagster caches its secondary-index answers the same way. Tables are added by
    ``dagster instance migrate`` and never dropped under a running process, so a table once
    found is remembered; one not found is asked about again.
    """

    def __init__(self, *args, **kwargs):
        self._tables_found: set[str] = set()  # before dagster-postgres' __init__, which may ask
        super().__init__(*args, **kwargs)

    def has_table(self, table_name: str) -> bool:
        if table_name not in self._tables_found and super().has_table(table_name):
            self._tables_found.add(table_name)
        return table_name in self._tables_found


class InventoryPostgresStorage(DagsterPostgresStorage):
    """dagster-postgres storage whose URL comes from the k8s-assets settings (see module doc).

    Runs and events hold a pooled connection (:class:`_HeldConnection`); the schedule storage,
    which ``DagsterInstance.dispose`` never disposes, keeps dagster-postgres' connection per
    statement (it writes a few rows per tick, not per event).
    """

    def __init__(self, postgres_url: str, inst_data: ConfigurableClassData | None = None):
        super().__init__(postgres_url, inst_data=inst_data)
        # dagster-postgres made its storages (creating or upgrading Dagster's tables on the
        # way); ours replace the run and event-log ones, with the tables already there.
        self._run_storage = InventoryRunStorage(postgres_url, should_autocreate_tables=False)
        self._event_log_storage = InventoryEventLogStorage(postgres_url, should_autocreate_tables=False)
        for storage in (self._run_storage, self._event_log_storage):
            storage.hold_connection()

    @classmethod
    def config_type(cls) -> dict:
        return {}

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value) -> InventoryPostgresStorage:
        return cls(postgres_url=inventory_database_url(), inst_data=inst_data)
