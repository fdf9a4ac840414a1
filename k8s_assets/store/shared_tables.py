"""Shared tables (custom resources, every other served kind): one table, many resources.

A resource whose listing did not complete keeps its stored rows: they are read back here and
merged again unchanged with the resources that were listed. Resources are (group, plural).
"""

from __future__ import annotations

from collections.abc import Iterable

from psycopg import sql

from k8s_assets.catalog.types import Kind
from k8s_assets.store.database import Connect, sql_template, sql_text

# Values COPY can take back as they are: jsonb and uuids as text.
_AS_TEXT = {"uid", "cluster_uid", "labels", "annotations", "raw", "spec", "status", "created_at", "owner_uid"}


def kept_rows(connect: Connect, table: Kind, cluster_uid: str, resources: Iterable[tuple[str, str]]) -> dict[str, list]:
    """Stored rows of the resources (group, plural) whose listing did not complete, by column."""
    names = table.row_columns
    columns: dict[str, list] = {name: [] for name in names}
    resources = list(resources)
    if not resources:
        return columns
    select = sql_template("merge/kept_resources.sql", table=sql.Identifier(table.table), columns=sql.SQL(", ").join(
        sql.SQL("{}::text").format(sql.Identifier(c)) if c in _AS_TEXT else sql.Identifier(c) for c in names))
    with connect() as conn:
        for row in conn.execute(select, {"cluster_uid": cluster_uid, "groups": [g for g, _ in resources],
                                         "plurals": [p for _, p in resources]}):
            for name, value in zip(names, row):
                columns[name].append(value)
    return columns


def stored_resources(connect: Connect, table: Kind, cluster_uid: str) -> list[tuple[str, str, str, str]]:
    """(group, plural, kind, scope) of every resource with rows of the cluster in the table."""
    with connect() as conn:
        return conn.execute(sql_template("merge/stored_resources.sql", table=sql.Identifier(table.table)),
                            {"cluster_uid": cluster_uid}).fetchall()


def stored_crd_resources(connect: Connect, cluster_uid: str) -> set[tuple[str, str]]:
    """(group, plural) of the CRDs last stored for the cluster."""
    with connect() as conn:
        return {(g, p) for g, p in conn.execute(sql_text("merge/stored_crd_resources.sql"),
                                                {"cluster_uid": cluster_uid})}
