"""Rows read back: a partition's rows of a table, for assets downstream of it."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
from psycopg import sql

from k8s_assets.store.clusters import CLUSTERS_TABLE
from k8s_assets.store.database import Connect, sql_template, sql_text

def load_rows(connect: Connect, table: str, contexts: Iterable[str]) -> pd.DataFrame:
    """The rows of the clusters the contexts reach (for k8s_clusters: the contexts' clusters)."""
    if table == CLUSTERS_TABLE:
        statement = sql.SQL(sql_text("merge/load_clusters.sql"))
    else:
        statement = sql_template("merge/load_partition_rows.sql", table=sql.Identifier(table))
    with connect() as conn:
        cur = conn.execute(statement, {"contexts": list(contexts)})
        names = [d.name for d in cur.description]
        return pd.DataFrame(cur.fetchall(), columns=names, dtype=object)
