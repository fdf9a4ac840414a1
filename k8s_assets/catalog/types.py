"""What a catalog entry is made of: a Kind (one Kubernetes resource, one table, one asset) and
its typed Columns, each a name, a SQL type (the only place a column is typed: the table's DDL is
derived from it, see ``k8s_assets.store.schema``) and a function of the raw object.

Extractors run once per object on the hot path of a sync, so they are plain dictionary lookups.
Each column also knows the object paths it reads (``Column.reads``): extraction decodes only
those paths (``k8s_assets.kube.decoding``), never the whole object. The vocabulary in
``k8s_assets.catalog.extractors`` records its paths itself; a hand-written extractor names its
paths in its ``col(..., reads=...)`` line.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

Extractor = Callable[[dict], Any]
# A path of keys into an object; "[]" stands for every element of an array.
Path = tuple[str, ...]
EACH = "[]"


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str
    extract: Extractor
    description: str = ""
    # Every path the extractor may read below (a path covers everything under it).
    reads: tuple[Path, ...] = ()


def reading(*paths: Path) -> Callable[[Extractor], Extractor]:
    """Marks an extractor with the paths it reads, for the decoder (see ``Column.reads``)."""

    def mark(extract: Extractor) -> Extractor:
        extract.reads = tuple(paths)
        return extract

    return mark


def reads_of(extract: Extractor) -> tuple[Path, ...]:
    """The paths an extractor of the vocabulary reads (a combinator passes them on)."""
    try:
        return extract.reads
    except AttributeError:
        raise TypeError(f"{extract!r} does not say which paths it reads; mark it with @reading(...)") from None


# Columns every kind table has, in this order, ahead of its typed columns.
# (name, sql type, description); values are filled by extraction, not by extractors.
COMMON_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("cluster_uid", "uuid", "Stable cluster identity (UUID5 of the kube-system namespace UID)."),
    ("uid", "uuid", "metadata.uid of the object."),
    ("context_name", "text", "Kubeconfig context that last wrote this row."),
    ("name", "text", "metadata.name."),
    ("namespace", "text", "metadata.namespace (namespaced kinds only)."),
    ("labels", "jsonb", "metadata.labels."),
    ("annotations", "jsonb", "metadata.annotations."),
    ("created_at", "timestamptz", "metadata.creationTimestamp."),
    ("resource_version", "text", "metadata.resourceVersion; a changed value means a changed object."),
    ("raw", "jsonb", "The whole object without metadata.managedFields (redacted for secrets)."),
    ("nul_replaced", "boolean", "True when NUL characters in the object's strings were stored as U+FFFD "
                                "(PostgreSQL text and jsonb cannot hold NUL)."),
    ("synced_at", "timestamptz", "When this row was last written (unchanged objects are not rewritten)."),
)


@dataclass(frozen=True)
class Kind:
    """One Kubernetes resource, synced into one table by one asset."""

    table: str  # also the asset name
    group: str  # "" for the core group
    version: str  # version to list when discovery does not say otherwise
    plural: str
    kind: str
    namespaced: bool
    area: str  # Dagster asset group: cluster, workloads, networking, config, rbac, storage, extensions
    description: str
    columns: tuple[Column, ...] = ()
    # Older versions of the same shape (the typed columns read the same paths), listed, newest
    # first, by clusters that do not serve ``version`` yet: CronJob at batch/v1beta1 before 1.21.
    older_versions: tuple[str, ...] = ()
    # Rewrites an object before it is stored (for example to drop secret values).
    # It receives the object without managedFields and must not keep references to secrets.
    redact: Callable[[dict], dict] | None = None
    # A SQL file in sql/after_merge/ run in the merge transaction, with %(cluster_uid)s.
    after_merge: str | None = None
    # The resource must be served by the cluster's discovery to be listed; built-in kinds
    # a cluster does not serve are skipped and recorded, not an error.
    tags: tuple[str, ...] = field(default=())
    # Paths (tuples of keys; "[]" is every element of an array) whose changes alone do not make
    # a new version in the kind's history: the open version moves forward instead. For fields
    # that change constantly and that nobody asks the history about (docs/history.md).
    ignored_paths: tuple[tuple[str, ...], ...] = ()
    # The Accept header of its list requests, when not plain JSON (Secrets in metadata mode).
    accept: str | None = None
    # Shared tables (k8s_other_resources): opt-in resources (OPT_IN_RESOURCES names) listed too.
    include: tuple[str, ...] = ()
    # Secondary indexes beyond the key and the name index every kind table has; each is a tuple
    # of typed columns, indexed after cluster_uid: (("node_name",),) is (cluster_uid, node_name).
    indexes: tuple[tuple[str, ...], ...] = ()

    @property
    def resource(self) -> str:
        """kubectl-style resource name: ``pods``, ``deployments.apps``."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def list_path(self, version: str | None = None) -> str:
        """Path that lists every object of this kind across all namespaces."""
        v = version or self.version
        prefix = f"/apis/{self.group}/{v}" if self.group else f"/api/{v}"
        return f"{prefix}/{self.plural}"

    @property
    def column_names(self) -> tuple[str, ...]:
        common = [c for c, _, _ in COMMON_COLUMNS if self.namespaced or c != "namespace"]
        return (*common, *(c.name for c in self.columns))

    @property
    def row_columns(self) -> tuple[str, ...]:
        """The columns of a listing's rows: the table's, less synced_at (the database sets it)."""
        return tuple(c for c in self.column_names if c != "synced_at")

    @property
    def sql_types(self) -> dict[str, str]:
        common = {c: t for c, t, _ in COMMON_COLUMNS if self.namespaced or c != "namespace"}
        return {**common, **{c.name: c.sql_type for c in self.columns}}


def col(name: str, sql_type: str, extract: Extractor, description: str = "", *,
        reads: Iterable[Path] | None = None) -> Column:
    """A typed column; ``reads`` names the paths of a hand-written extractor (the vocabulary knows its own)."""
    if reads is None:
        reads = getattr(extract, "reads", None)
        if reads is None:
            raise TypeError(f"column {name!r}: a hand-written extractor must say which paths it reads "
                            "(col(..., reads=[(\"spec\", \"field\"), ...]))")
    return Column(name, sql_type, extract, description, tuple(tuple(p) for p in reads))



# What a NUL becomes: PostgreSQL's text and jsonb cannot hold U+0000 (and refuse the whole COPY),
# so it is stored as U+FFFD, the Unicode replacement character, and the row says nul_replaced.
NUL_REPLACEMENT = "\ufffd"


def safe_text(value: Any, limit: int = 500) -> str | None:
    """A value as text k8s_rejected_objects can hold: no NUL, bounded (a key may be 200 KB long)."""
    if value is None:
        return None
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    if len(text) > limit:
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]
        text = f"{text[:limit - 40]}... ({len(text)} characters, sha256 {digest})"
    return text.replace("\x00", NUL_REPLACEMENT)
