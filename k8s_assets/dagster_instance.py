"""Dagster's own storage (runs, events, schedules) in the inventory's PostgreSQL.

``dagster.yaml`` names :class:`InventoryPostgresStorage`, so every Dagster process (``dagster
dev``, the webserver, the daemon, run workers) finds the same database the inventory uses:

* ``K8S_ASSETS_DATABASE_URL`` when it is set (a ``postgresql://`` URL), else
* the database URL from the ``K8S_ASSETS_CONFIG`` file, else
* the embedded PostgreSQL under ``K8S_ASSETS_HOME`` (default ``.k8s-assets``), started on demand.

That is why a bare ``dagster dev`` in the repository root works with nothing configured.
The URL is resolved in each process and never stored in run records or shown in the UI.
"""

from __future__ import annotations

from dagster._serdes import ConfigurableClassData
from dagster_postgres.storage import DagsterPostgresStorage


def inventory_database_url() -> str:
    from k8s_assets import database
    from k8s_assets.config import load_settings

    return database.database_url(load_settings())


class InventoryPostgresStorage(DagsterPostgresStorage):
    """dagster-postgres storage whose URL comes from the k8s-assets settings (see module doc)."""

    @classmethod
    def config_type(cls) -> dict:
        return {}

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value) -> InventoryPostgresStorage:
        return cls(postgres_url=inventory_database_url(), inst_data=inst_data)
