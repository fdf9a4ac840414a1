"""Migrations: the numbered SQL files of ``sql/``, then the kind tables derived from the catalog.

Numbered migrations hold what is written by hand (core tables, functions, views, generic
tables); the typed kind tables are derived from the catalog by ``k8s_assets.schema``. Numbers
002 and 003 once created the first kind tables by hand; they are recorded as applied in older
databases and derived from the catalog now (after 001 in a new database).
"""

from __future__ import annotations

import functools
import logging
import re
from importlib.resources.abc import Traversable

from k8s_assets.store import schema
from k8s_assets.store.database import SQL_DIR, connect, sql_text

MIGRATION_FILE = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")
# Any constant: all migrating processes take the same lock.
MIGRATION_LOCK_KEY = 0x6B3861_73736574
# The migration that defines how a kind table is made (k8s_assets_create_kind_table).
CORE_MIGRATION = 1

log = logging.getLogger(__name__)


def _derive(conn) -> list[str]:
    """The derived statements applied, as one line (each is in k8s_assets_schema_changes)."""
    derived = schema.apply(conn)
    for change in derived.changes:
        log.info("derived from the catalog: %s: %s", change.kind, change.change)
    return [summary(derived.changes)] if derived.changes else []


def summary(changes) -> str:
    """``catalog: created k8s_leases; added k8s_pods.qos_class; 2 comments`` (counts past a few names)."""
    def named(verb: str, names: list[str]) -> list[str]:
        if not names:
            return []
        return [f"{verb} {', '.join(names)}" if len(names) <= 3 else f"{verb} {len(names)}"]

    created = [c.kind for c in changes if c.change == "create table"]
    columns = [f"{c.kind}.{c.change.split()[2]}" for c in changes if c.change.startswith("add column")]
    indexes = [c.kind for c in changes if c.change.startswith("add index")]
    comments = sum(c.change.startswith("comment") for c in changes)
    parts = [*named("created", created), *named("added", columns), *named("indexed", indexes)]
    parts += [f"{comments} comments"] if comments else []
    return "catalog: " + "; ".join(parts)


def migration_files() -> list[tuple[int, Traversable]]:
    found = []
    for path in sorted(SQL_DIR.iterdir(), key=lambda p: p.name):
        m = MIGRATION_FILE.match(path.name)
        if m and path.is_file():
            found.append((int(m.group(1)), path))
    numbers = [n for n, _ in found]
    if len(set(numbers)) != len(numbers):
        raise RuntimeError(f"two migrations share a number in {SQL_DIR}")
    return found


def migrate(url: str) -> list[str]:
    """Apply the migrations not yet recorded, each in its own transaction; return their names.

    Then the kind tables are brought to the catalog (``k8s_assets.schema``): the derived
    statements are applied in one transaction and recorded in ``k8s_assets_schema_changes``.

    Safe to call from many processes at once: an advisory lock lets one apply them while
    the others wait and then find nothing to do.
    """
    applied: list[str] = []
    with connect(url, autocommit=True) as conn:
        conn.execute(sql_text("migrate/lock.sql"), (MIGRATION_LOCK_KEY,))
        try:
            conn.execute(sql_text("migrate/create_migrations_table.sql"))
            done = {row[0] for row in conn.execute(sql_text("migrate/applied_versions.sql"))}
            for number, path in migration_files():
                if number in done:
                    continue
                with conn.transaction():
                    conn.execute(path.read_text(encoding="utf-8"))
                    conn.execute(sql_text("migrate/record_migration.sql"), (number, path.name))
                log.info("applied migration %s", path.name)
                applied.append(path.name)
                if number == CORE_MIGRATION:
                    # A new database: the catalog's tables exist before the migrations that use them.
                    applied += _derive(conn)
            applied += _derive(conn)
        finally:
            conn.execute(sql_text("migrate/unlock.sql"), (MIGRATION_LOCK_KEY,))
    return applied


@functools.cache
def ensure_migrated(url: str) -> None:
    """Migrate once per process per database."""
    migrate(url)


def pending(url: str) -> list[str]:
    """What ``migrate`` would apply, changing nothing: numbered migrations by name, then the
    statements derived from the catalog (for a database already past 001; a new one gets every
    catalog table after 001)."""
    with connect(url) as conn:
        conn.execute(sql_text("migrate/create_migrations_table.sql"))
        done = {row[0] for row in conn.execute(sql_text("migrate/applied_versions.sql"))}
        lines = [f"numbered migration {path.name}" for number, path in migration_files() if number not in done]
        if CORE_MIGRATION not in done:
            lines.append("the catalog's kind tables, derived after 001")
        else:
            derived = schema.plan(conn)
            lines += [f"-- {c.kind}: {c.change}\n{c.statement.as_string(conn)};" for c in derived.changes]
            lines += [f"-- kept (the catalog no longer names it; never dropped): {k}" for k in derived.kept]
        conn.rollback()
    return lines
