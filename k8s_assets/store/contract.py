"""The one typed contract from a listing to the store.

A listing of one kind (or of one shared table's resources) in one cluster becomes a
``KindListing``, made once by the asset that listed it, handed by Dagster to the IO manager as
the asset's output value, and merged by ``store.merge.merge``, which returns a ``MergeResult``.
The IO manager (the Dagster edge) turns the two into the materialization's metadata, once. A
kind listed by ``sync_kind`` carries its rows staged in the store's open merge, page by page, not
in memory (``staged``).
Nothing travels as string-keyed metadata on the way down, and the store never sees Dagster.
This is the split of Dagster's ``DbIOManager`` (the client and type handler below the manager)
with a typed slice in place of its ``TableSlice``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from k8s_assets.catalog.types import Kind

if TYPE_CHECKING:
    from k8s_assets.store.merge import StagedMerge

# complete: the rows are every object of the kind (a merge deletes the others); forbidden and
# not_served: nothing was seen, nothing is changed. A failed listing never reaches the store.
ListingStatus = Literal["complete", "forbidden", "not_served"]


@dataclass
class KindListing:
    """What one listing of one kind in one cluster saw."""

    kind: Kind
    cluster_uid: str
    context_name: str
    status: ListingStatus
    # One row per object, the kind's columns in order (object dtype: None stays None into COPY).
    # A row whose ``raw`` is None is key-only: the object is at the resourceVersion already stored.
    # Empty when the rows were staged page by page as they were listed (``staged``).
    rows: pd.DataFrame
    # Objects listed that cannot be rows (their common columns cannot be read): dicts of uid,
    # namespace, name, resource_version and error, recorded in k8s_rejected_objects.
    set_aside: list[dict] = field(default_factory=list)
    resource_version: str = ""  # of the list, for coverage (and a watch to start from)
    message: str = ""  # why it was forbidden or not served
    # What the listing measured, for people (pages, restarts, seconds, api_version, ...): shown in
    # the UI with the merge's counts, never read by the store.
    facts: dict[str, Any] = field(default_factory=dict)
    # The merge its pages were staged into while it listed (memory holds a page, not the kind),
    # for the IO manager to finish; None when the rows are in hand.
    staged: StagedMerge | None = None

    @property
    def listed(self) -> int:
        """Objects the listing returned: every row and every object set aside."""
        rows = self.staged.rows if self.staged is not None else len(self.rows)
        return rows + len(self.set_aside)


@dataclass
class MergeResult:
    """What a merge did."""

    previous_status: str  # of the kind's listing before this one ('' for the first)
    stored: int  # rows of the cluster in the table after the merge
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    # Rows stored with a typed column NULL because its value did not fit the column's SQL type,
    # and the first such column and why.
    unfit_columns: int = 0
    first_unfit: str | None = None
    # Key-only rows another writer changed after the listing read their version (left to it).
    left_to_other_writer: int = 0
    # Objects set aside or refused by the database (k8s_rejected_objects): dicts as ``set_aside``.
    rejected: list[dict] = field(default_factory=list)
    versions_opened: int = 0
    versions_closed: int = 0
    versions_moved_forward: int = 0
    history_rows_estimate: int = 0
