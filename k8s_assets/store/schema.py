"""The kind tables, derived from the catalog: the catalog is the schema.

A typed kind's table (its columns, its indexes, its comments, and through
``k8s_assets_create_kind_table`` its history and as-of function) is never typed in a migration:
``plan`` compares each catalog entry with the database and returns the statements that bring
the database to the catalog; ``apply`` runs them in one transaction and records each one in
``k8s_assets_schema_changes`` with the digest of the catalog it came from. ``k8s-assets
migrate`` applies them after the numbered migrations (and, in a new database, right after
``001_core.sql``, so that later numbered migrations see the tables); ``k8s-assets migrate
--plan`` prints them without applying.

What is derived: a missing table (created with the columns every kind has, its typed columns,
its history and as-of function), a missing typed column (added to the table, its history and
its as-of function; the next sync refills the rows), a missing index, a table or column
comment that differs from the catalog's description. What is never derived, because it could
lose data or guess: dropping a column or a table the catalog no longer names (they stay, and
``plan`` says so), and changing a column's type (a ``SchemaConflict`` names it: that needs a
hand-written numbered migration). Generic tables (custom resources) carry hand-written
constraints and views; they stay numbered migrations.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass

import psycopg
from psycopg import sql

from k8s_assets import catalog
from k8s_assets.catalog.types import COMMON_COLUMNS, Kind
from k8s_assets.store.database import column_list, sql_text
from k8s_assets.store.versions import VERSION_COLUMNS


class SchemaConflict(Exception):
    """The database holds a column of another type than the catalog says: not derivable."""


@dataclass(frozen=True)
class Change:
    kind: str  # the kind's table
    change: str  # what it does, for people: "create table", "add column images text[]"
    statement: sql.Composable


@dataclass(frozen=True)
class Plan:
    digest: str  # of the catalog the changes were derived from
    changes: tuple[Change, ...]
    kept: tuple[str, ...]  # columns the database has and the catalog no longer names (never dropped)

    def statements(self, conn: psycopg.Connection) -> list[str]:
        return [c.statement.as_string(conn) for c in self.changes]


def catalog_digest(kinds: Iterable[Kind]) -> str:
    """A short digest of what the catalog says about tables (not extractors): names, types, indexes."""
    shape = [(k.table, k.namespaced, [(c.name, c.sql_type, c.description) for c in k.columns],
              [list(i) for i in k.indexes], k.description) for k in sorted(kinds, key=lambda k: k.table)]
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:16]


def _index_name(kind: Kind, columns: tuple[str, ...]) -> str:
    return f"{kind.table}_{'_'.join(columns)}"[:63]


def _typed_columns(kind: Kind) -> sql.Composable:
    return sql.SQL(",\n").join(
        sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(c.sql_type)) for c in kind.columns)


def plan(conn: psycopg.Connection, kinds: Iterable[Kind] = catalog.KINDS) -> Plan:
    """What the database needs to match the catalog's typed kinds."""
    kinds = tuple(kinds)
    tables = [k.table for k in kinds]
    live_columns: dict[str, dict[str, str]] = {}
    for table, column, sql_type in conn.execute(sql_text("schema/live_columns.sql"), {"tables": tables}):
        live_columns.setdefault(table, {})[column] = sql_type
    live_indexes: dict[str, set[tuple[str, ...]]] = {}
    for table, columns in conn.execute(sql_text("schema/live_indexes.sql"), {"tables": tables}):
        live_indexes.setdefault(table, set()).add(tuple(columns))
    live_comments = {(t, c): d for t, c, d in conn.execute(sql_text("schema/live_comments.sql"), {"tables": tables})}
    spelled = dict(conn.execute(sql_text("schema/type_names.sql"),
                                {"types": sorted({c.sql_type for k in kinds for c in k.columns})}))

    changes: list[Change] = []
    kept: list[str] = []
    for kind in kinds:
        table = sql.Identifier(kind.table)
        live = live_columns.get(kind.table)
        if live is None:
            changes.append(Change(kind.table, "create table", sql.SQL("SELECT k8s_assets_create_kind_table({}, {}, {})").format(
                sql.Literal(kind.table), sql.Literal(kind.namespaced), sql.Literal(_typed_columns(kind).as_string(conn)))))
        else:
            for column in kind.columns:
                have = live.get(column.name)
                want = spelled[column.sql_type]
                if have is None:
                    changes.append(Change(kind.table, f"add column {column.name} {want}", sql.SQL(
                        "SELECT k8s_assets_add_kind_column({}, {}, {})").format(
                        sql.Literal(kind.table), sql.Literal(column.name), sql.Literal(column.sql_type))))
                elif have != want:
                    raise SchemaConflict(
                        f"{kind.table}.{column.name} is {have} in the database and {want} in the catalog: "
                        "a type change is not derived; write a numbered migration in sql/ that converts it")
            known = {c for c, _, _ in COMMON_COLUMNS} | set(VERSION_COLUMNS) | {c.name for c in kind.columns}
            kept += [f"{kind.table}.{c}" for c in live if c not in known]
        for columns in kind.indexes:
            if ("cluster_uid", *columns) not in live_indexes.get(kind.table, set()):
                changes.append(Change(kind.table, f"add index on {', '.join(columns)}", sql.SQL(
                    "CREATE INDEX {} ON {} ({})").format(
                    sql.Identifier(_index_name(kind, columns)), table,
                    column_list(("cluster_uid", *columns)))))
        if live_comments.get((kind.table, "")) != kind.description:
            changes.append(Change(kind.table, "comment on table", sql.SQL("COMMENT ON TABLE {} IS {}").format(
                table, sql.Literal(kind.description))))
        for column in kind.columns:
            if column.description and live_comments.get((kind.table, column.name)) != column.description:
                changes.append(Change(kind.table, f"comment on column {column.name}", sql.SQL(
                    "COMMENT ON COLUMN {}.{} IS {}").format(table, sql.Identifier(column.name),
                                                             sql.Literal(column.description))))
    return Plan(catalog_digest(kinds), tuple(changes), tuple(kept))


def apply(conn: psycopg.Connection, kinds: Iterable[Kind] = catalog.KINDS) -> Plan:
    """Bring the database to the catalog in one transaction, recording every statement."""
    with conn.transaction():
        conn.execute(sql_text("schema/create_changes_table.sql"))
        derived = plan(conn, kinds)
        for change in derived.changes:
            conn.execute(change.statement)
            conn.execute(sql_text("schema/record_change.sql"),
                         (derived.digest, change.kind, change.change, change.statement.as_string(conn)))
    return derived
