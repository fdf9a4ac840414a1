"""Coverage: what each listing of each kind saw (``k8s_sync_coverage``) and since when
(``k8s_sync_coverage_history``), also for forbidden, unserved and failed listings, which change
no rows and no versions. A shared table (custom or other resources) has one row per resource,
its kind being ``<table>:<resource>``.
"""

from __future__ import annotations

from k8s_assets.catalog.types import Kind
from k8s_assets.store.database import Connect, sql_text

CUSTOM_RESOURCE_COVERAGE_PREFIX = "k8s_custom_resources:"


OTHER_RESOURCE_COVERAGE_PREFIX = "k8s_other_resources:"


def record_coverage(cur, kind: Kind, cluster_uid: str, context_name: str, status: str,
                    listed_count: int | None, resource_version: str | None, message: str | None) -> str | None:
    """Upsert what the last listing of a kind saw, and its coverage history; returns the status it replaced."""
    return record_coverage_of(cur, kind.table, cluster_uid, context_name, status, listed_count, resource_version,
                              message)


def record_coverage_of(cur, coverage_kind: str, cluster_uid: str, context_name: str, status: str,
                       listed_count: int | None, resource_version: str | None, message: str | None) -> str | None:
    """As record_coverage, for any coverage kind (a CRD's is ``k8s_custom_resources:<plural>.<group>``)."""
    params = {"cluster_uid": cluster_uid, "kind": coverage_kind, "context_name": context_name, "status": status,
              "listed_count": listed_count, "resource_version": resource_version or None, "message": message}
    previous = cur.execute(sql_text("merge/record_coverage.sql"), params).fetchone()[0]
    cur.execute(sql_text("history/close_coverage.sql"), params)
    cur.execute(sql_text("history/open_coverage.sql"), params)
    return previous


def record_failed_listing(connect: Connect, kind: Kind, cluster_uid: str, context_name: str,
                          message: str) -> None:
    """A failed listing changes no rows, but coverage must say that the last attempt failed."""
    with connect() as conn, conn.transaction():
        record_coverage(conn.cursor(), kind, cluster_uid, context_name, "failed", None, None, message[:2000])


def record_set_coverage(connect: Connect, table: str, cluster_uid: str, context_name: str,
                        outcomes: list[tuple[str, str, int | None, str | None]]) -> None:
    """One k8s_sync_coverage row (and coverage history) per resource of a shared table (custom or
    other resources), as (kind, status, listed, message), the kind being ``<table>:<resource>``;
    rows of the table's resources not among them are removed and their coverage periods end."""
    kinds = [kind for kind, _, _, _ in outcomes]
    prefix = table.replace("_", r"\_") + ":%"
    with connect() as conn, conn.transaction():
        cur = conn.cursor()
        for kind, status, listed, message in outcomes:
            record_coverage_of(cur, kind, cluster_uid, context_name, status, listed, None, message)
        cur.execute(sql_text("merge/drop_gone_set_coverage.sql"),
                    {"cluster_uid": cluster_uid, "prefix": prefix, "kinds": kinds})
        cur.execute(sql_text("history/close_gone_set_coverage.sql"),
                    {"cluster_uid": cluster_uid, "prefix": prefix, "kinds": kinds})
