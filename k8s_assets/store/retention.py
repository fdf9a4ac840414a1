"""Retention: dropping the day partitions of versions that ended too long ago."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from k8s_assets.store.database import Connect, sql_text

@dataclass(frozen=True)
class DroppedPartition:
    history_table: str
    partition_name: str
    day: Any


def drop_expired_history(connect: Connect, keep_days: int | None) -> list[DroppedPartition]:
    """Drop the day partitions of versions that ended more than ``keep_days`` ago (0: all ended
    versions; None: keep everything), and make sure the coming week's partitions exist."""
    with connect() as conn:
        with conn.transaction():
            conn.execute(sql_text("history/ensure_all_partitions.sql"))
        if keep_days is None:
            return []
        with conn.transaction():
            return [DroppedPartition(*row) for row in
                    conn.execute(sql_text("history/drop_expired.sql"), {"keep_days": keep_days}).fetchall()]


def history_sizes(connect: Connect) -> list[tuple[str, str, Any, int]]:
    """(kind, history table, kept_since, bytes) of every history table."""
    with connect() as conn:
        return conn.execute(sql_text("history/size.sql")).fetchall()
