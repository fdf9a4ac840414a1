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

from dagster._serdes import ConfigurableClassData
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
    from k8s_assets.store import database
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
