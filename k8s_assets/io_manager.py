"""The IO manager: a thin Dagster adapter over the inventory (k8s_assets/inventory.py).

It hands each asset's DataFrame and the listing's output metadata to ``inventory.merge_kind``
(the merge, its versions, coverage and rejections, in one transaction) and turns the counts
into output metadata; ``load_input`` reads a partition's rows back. No SQL lives here.
"""

import time
from collections.abc import Iterable

import dagster as dg
import pandas as pd

from k8s_assets.catalog import KINDS_BY_TABLE
from k8s_assets.catalog.types import Kind
from k8s_assets.failures import fail_fast_unless_transient
from k8s_assets.inventory import (  # noqa: F401  (re-exported: the assets' and tests' names for these)
    CLUSTER_UID,
    CLUSTERS_TABLE,
    FIRST_UNFIT,
    LISTED,
    LISTING_MESSAGE,
    LISTING_STATUS,
    MAX_EXAMPLES,
    MAX_REJECTED,
    RESOURCE_VERSION,
    UNFIT_COLUMNS,
    RefusedRows,
    load_rows,
    merge_kind,
    plain,
    record_failed_listing,
    rejection_table,
    stored_versions,
    write_cluster,
)
from k8s_assets.resources import PostgresResource

TABLE_KEY = "k8s_assets/table"


class PostgresMergeIOManager(dg.ConfigurableIOManager):
    """Merges kind DataFrames into the FK-linked inventory schema; loads a partition's rows back."""

    postgres: dg.ResourceDependency[PostgresResource]

    # -- output -------------------------------------------------------------------------

    def handle_output(self, context: dg.OutputContext, obj: pd.DataFrame) -> None:
        table = (context.definition_metadata or {})[TABLE_KEY]
        started = time.monotonic()
        partition = context.partition_key if context.has_partition_key else ""
        with fail_fast_unless_transient(f"merging {table} of context {partition!r}"):
            if table == CLUSTERS_TABLE:
                metadata = self._write_cluster(obj)
            else:
                listing = {k: plain(v) for k, v in (context.output_metadata or {}).items()}
                metadata = self.merge(KINDS_BY_TABLE[table], obj, listing)
        first_unfit = metadata.pop(FIRST_UNFIT, None)
        if first_unfit:
            context.log.warning(f"{table}: {metadata.get(UNFIT_COLUMNS)} objects have a value that does not fit its "
                                f"column's type (the first: {first_unfit}); they are stored with that column NULL "
                                "and raw whole")
        rejected = metadata.pop("rejected_objects", None)
        if rejected:
            context.log.warning(f"{table}: {len(rejected)} objects could not be stored (their fields cannot be read, "
                                "or the database refused them); they were set aside (k8s_rejected_objects) and "
                                "the rest merged:\n"
                                + "\n".join(f"  {r['namespace'] or ''}/{r['name']} ({r['uid']}): {r['error']}"
                                            for r in rejected[:MAX_EXAMPLES]))
            metadata["rejected_examples"] = dg.MetadataValue.md(rejection_table(rejected[:MAX_EXAMPLES]))
        metadata["merge_seconds"] = round(time.monotonic() - started, 3)
        context.add_output_metadata(metadata)

    def _write_cluster(self, frame: pd.DataFrame) -> dict:
        return write_cluster(self.postgres, frame)

    def merge(self, kind: Kind, frame: pd.DataFrame, listing: dict) -> dict:
        """Merge one kind's frame for one cluster, with its versions (inventory.merge_kind)."""
        return merge_kind(self.postgres, kind, frame, listing)

    # -- input --------------------------------------------------------------------------

    def load_input(self, context: dg.InputContext) -> pd.DataFrame:
        table = (context.upstream_output.definition_metadata or {})[TABLE_KEY]
        contexts = list(context.asset_partition_keys) if context.has_asset_partitions else []
        return self.load_rows(table, contexts)

    def load_rows(self, table: str, contexts: Iterable[str]) -> pd.DataFrame:
        return load_rows(self.postgres, table, contexts)
