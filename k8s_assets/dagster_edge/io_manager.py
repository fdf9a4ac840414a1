"""The IO manager: the Dagster edge of the store, after the split of Dagster's ``DbIOManager``.

An asset's output value is a ``KindListing`` (k8s_assets/store/contract.py): the store merges it
(``store.merge.merge``) and returns a ``MergeResult``; here, and only here, the two become the
materialization's metadata (the listing's facts, the merge's counts, a Markdown table of what
was set aside). ``k8s_clusters`` is a one-row DataFrame. ``load_input`` reads a partition's rows
back. No SQL lives here.
"""

import time
from collections.abc import Iterable

import dagster as dg
import pandas as pd

from k8s_assets.dagster_edge.resources import PostgresResource
from k8s_assets.kube.failures import fail_fast_unless_transient
from k8s_assets.store.clusters import CLUSTERS_TABLE, write_cluster
from k8s_assets.store.contract import KindListing, MergeResult
from k8s_assets.store.merge import merge
from k8s_assets.store.rows import load_rows

TABLE_KEY = "k8s_assets/table"
# Metadata keys the checks read back from a materialization (checks.row_count_matches_listing).
LISTING_STATUS = "listing_status"  # complete | forbidden | not_served
LISTED = "listed"
CLUSTER_UID = "cluster_uid"
MAX_EXAMPLES = 5


def listing_metadata(listing: KindListing) -> dict:
    """What the listing saw, as the UI shows it."""
    metadata: dict = {CLUSTER_UID: listing.cluster_uid, "context_name": listing.context_name,
                      LISTING_STATUS: listing.status, LISTED: listing.listed if listing.status == "complete" else 0}
    if listing.message:
        metadata["listing_message"] = listing.message
    if listing.status == "complete":
        metadata["resource_version"] = listing.resource_version
    return {**metadata, **listing.facts}


def merge_metadata(result: MergeResult) -> dict:
    """What the merge did, as the UI shows it."""
    metadata = {
        "previous_listing_status": result.previous_status, "inserted": result.inserted, "updated": result.updated,
        "deleted": result.deleted, "unchanged": result.unchanged, "unfit_columns": result.unfit_columns,
        "rejected": len(result.rejected), "dagster/row_count": result.stored,
        "versions_opened": result.versions_opened, "versions_closed": result.versions_closed,
        "versions_moved_forward": result.versions_moved_forward,
        "history_rows_estimate": result.history_rows_estimate,
    }
    if result.left_to_other_writer:
        metadata["left_to_other_writer"] = result.left_to_other_writer
    if result.rejected:
        metadata["rejected_examples"] = dg.MetadataValue.md(rejection_table(result.rejected[:MAX_EXAMPLES]))
    return metadata


def rejection_table(rejected: list[dict]) -> str:
    lines = ["| namespace | name | uid | error |", "|---|---|---|---|"]
    lines += [f"| {r['namespace'] or ''} | {r['name']} | {r['uid']} | {(r['error'] or '').replace('|', '/')} |"
              for r in rejected]
    return "\n".join(lines)


class PostgresMergeIOManager(dg.ConfigurableIOManager):
    """Merges each asset's listing into the FK-linked inventory schema; loads a partition's rows back."""

    postgres: dg.ResourceDependency[PostgresResource]

    # -- output -------------------------------------------------------------------------

    def handle_output(self, context: dg.OutputContext, obj: KindListing | pd.DataFrame) -> None:
        table = (context.definition_metadata or {})[TABLE_KEY]
        started = time.monotonic()
        partition = context.partition_key if context.has_partition_key else ""
        with fail_fast_unless_transient(f"merging {table} of context {partition!r}"):
            if table == CLUSTERS_TABLE:
                written = write_cluster(self.postgres.connect, obj)
                metadata = {"cluster_uid": written.cluster_uid, "identity_source": written.identity_source,
                            "new_cluster": written.new_cluster, "dagster/row_count": 1}
            else:
                result = self.merge(obj)
                self.log_merge(context, table, result)
                metadata = {**listing_metadata(obj), **merge_metadata(result)}
        metadata["merge_seconds"] = round(time.monotonic() - started, 3)
        context.add_output_metadata(metadata)

    def merge(self, listing: KindListing) -> MergeResult:
        return merge(self.postgres.connect, listing)

    @staticmethod
    def log_merge(context: dg.OutputContext, table: str, result: MergeResult) -> None:
        if result.first_unfit:
            context.log.warning(f"{table}: {result.unfit_columns} objects have a value that does not fit its "
                                f"column's type (the first: {result.first_unfit}); they are stored with that "
                                "column NULL and raw whole")
        if result.rejected:
            context.log.warning(f"{table}: {len(result.rejected)} objects could not be stored (their fields cannot "
                                "be read, or the database refused them); they were set aside "
                                "(k8s_rejected_objects) and the rest merged:\n"
                                + "\n".join(f"  {r['namespace'] or ''}/{r['name']} ({r['uid']}): {r['error']}"
                                            for r in result.rejected[:MAX_EXAMPLES]))

    # -- input --------------------------------------------------------------------------

    def load_input(self, context: dg.InputContext) -> pd.DataFrame:
        table = (context.upstream_output.definition_metadata or {})[TABLE_KEY]
        contexts = list(context.asset_partition_keys) if context.has_asset_partitions else []
        return self.load_rows(table, contexts)

    def load_rows(self, table: str, contexts: Iterable[str]) -> pd.DataFrame:
        return load_rows(self.postgres.connect, table, contexts)
