"""Decoding list pages into column lists, reading only what a kind stores.

A list page is decoded in two steps. ``decode_page`` reads the page's own metadata (the
continue token first of all, so the next request can leave at once) and keeps each item as the
bytes it came as (``msgspec.Raw``); when stored versions are known it reads each item's keys
(uid, resourceVersion, name, namespace) instead, and an object still at its stored version
becomes a key-only row without being decoded further (``ProjectedRowBuilder.add_page``).

A changed object is decoded once, into a *projection*: nested ``TypedDict``s built from the
paths its kind's columns read (``Column.reads`` in ``k8s_assets.catalog.types``) plus the common metadata. msgspec
fills a TypedDict as a plain dict and skips every other key without building Python objects,
so the catalog's extractors run unchanged on a small dict. ``raw`` is the object's own bytes,
with ``metadata.managedFields`` cut out and ``apiVersion``/``kind`` put in front where missing.

What needs the whole object takes today's path (``RowBuilder``: ``orjson`` and the full dict):
kinds with ``redact`` (secrets, configmaps), an object whose bytes hold the NUL escape
(``replace_nul``), and an object whose projection does not fit (a declared path holding a value
of an unexpected type: the object is stored all the same, and the kind logs it once).

Every object goes through one guard (``RowBuilder.add`` and ``ProjectedRowBuilder.add_bytes``;
a ``try`` costs nothing in CPython 3.11 until something raises): an object whose fields break
an extractor is stored with that column NULL and ``raw`` whole (``unreadable_columns`` counts
them); an object whose common columns cannot be read (not an object, metadata not an object,
uid missing or not a string, name not a string, ...) or whose redaction failed is *set aside*
(``set_aside``: who it was and why, for ``k8s_rejected_objects``), never stored and never lost.
Each kind logs the first of each once.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Optional, TypedDict

import msgspec
import orjson

from k8s_assets.catalog.types import EACH, NUL_REPLACEMENT, Kind, Path, safe_text

log = logging.getLogger(__name__)


class RowBuilder:
    """Turns objects of one kind into column lists: common columns, then the kind's own."""

    def __init__(self, kind: Kind, cluster_uid: str, context_name: str,
                 known_versions: Mapping[str, str] | None = None):
        self.kind = kind
        self.cluster_uid = cluster_uid
        self.context_name = context_name
        self.columns: dict[str, list] = {name: [] for name in kind.row_columns}
        self._typed = [(self.columns[c.name].append, c.extract) for c in kind.columns]
        # uid -> resourceVersion already stored for this cluster. An object listed at that
        # same version becomes a key-only row (raw and the other columns None): it is neither
        # serialized nor extracted, and the merge never sends it (see io_manager).
        self.known_versions = known_versions or None
        self.unchanged = 0
        self.nul_replaced = 0
        self._key_only = [self.columns[name].append for name in kind.row_columns
                          if name not in _KEY_ONLY_FILLED]
        # Appended last for every row: its length is the number of complete rows (see _undo_partial_row).
        self._last_column = self.columns[kind.row_columns[-1]]
        self.unreadable_columns = 0  # objects stored with a column NULL that its extractor could not read
        self.set_aside: list[dict] = []  # objects not stored: who they were and why (k8s_rejected_objects)
        self._first_unreadable: str | None = None
        self._first_set_aside: str | None = None
        self._prepared: tuple | None = None

    def _append_identity(self, uid: str, name: str | None, namespace: str | None) -> None:
        """The columns every row has, a key-only one too: cluster, uid, context, name, namespace."""
        c = self.columns
        c["cluster_uid"].append(self.cluster_uid)
        c["uid"].append(uid)
        c["context_name"].append(self.context_name)
        c["name"].append(name)
        if self.kind.namespaced:
            c["namespace"].append(namespace)

    def _add_key_only(self, uid: str, version: str, name: str | None, namespace: str | None) -> None:
        self._append_identity(uid, name, namespace)
        self.columns["resource_version"].append(version)
        for append in self._key_only:
            append(None)
        self.unchanged += 1

    def add(self, item: dict) -> None:
        """One object, decoded whole. The guard of every object: whatever its fields, it is stored
        (a column its extractor cannot read is NULL) or set aside, and the rest of its kind goes on."""
        self._prepared = None  # (item, raw, nul_replaced) once the object is ready to be stored
        try:
            self._add_whole(item)
        except Exception as error:  # noqa: BLE001 - any field of any type: nothing may escape one object
            self._undo_partial_row()
            self._add_carefully(item, self._prepared, error)

    def _add_whole(self, item: dict):
        if self.known_versions is not None:
            metadata = item.get("metadata") or {}
            uid, version = metadata.get("uid"), metadata.get("resourceVersion")
            if version is not None and self.known_versions.get(uid) == version:
                self._add_key_only(uid, version, metadata.get("name"), metadata.get("namespace"))
                return
        metadata = item.setdefault("metadata", {})
        metadata.pop("managedFields", None)
        # Built-in list items carry no kind/apiVersion; stored objects should say what they are.
        item.setdefault("apiVersion", self.kind.api_version)
        item.setdefault("kind", self.kind.kind)
        if self.kind.redact is not None:
            item = self.kind.redact(item)
        # Bytes, not str: one non-ASCII character (an emoji in an annotation) makes a Python str
        # of the whole object 4 bytes per character; the UTF-8 bytes stay 1 per ASCII character
        # (measured on simulated pods: 17 KB held per pod as str, about 5 KB as bytes).
        raw = orjson.dumps(item)
        nul_replaced = False
        # orjson always writes NUL as this escape, so one byte search finds any NUL in any string
        # (keys included); the rare object that has one is rebuilt before any column is taken.
        if NUL_ESCAPE in raw:
            item, nul_replaced = replace_nul(item)
            if nul_replaced:
                raw = orjson.dumps(item)
                self.nul_replaced += 1
        self._prepared = (item, raw, nul_replaced)
        self._append_common(item["metadata"], raw, nul_replaced)
        for append, extract in self._typed:
            append(extract(item))

    def _append_common(self, metadata: dict, raw: bytes, nul_replaced: bool) -> None:
        """The common columns of a prepared object; raises UnreadableObject if they cannot be read."""
        uid, name, namespace, version, created = (
            metadata.get("uid"), metadata.get("name"), metadata.get("namespace"), metadata.get("resourceVersion"),
            metadata.get("creationTimestamp"))
        # One test of the usual case; the rare object that fails it is told why by common_columns_problem.
        if not (type(uid) is str and type(name) is str and (namespace is None or type(namespace) is str)
                and (version is None or type(version) is str) and (created is None or type(created) is str)
                and len(name) + len(namespace or "") < MAX_NAME_CHARS):
            raise UnreadableObject(common_columns_problem(metadata, self.kind.namespaced))
        self._append_identity(uid, name, namespace)
        c = self.columns
        labels = metadata.get("labels")
        c["labels"].append(orjson.dumps(labels).decode() if labels else None)
        annotations = metadata.get("annotations")
        c["annotations"].append(orjson.dumps(annotations).decode() if annotations else None)
        c["created_at"].append(created)
        c["resource_version"].append(version)
        c["raw"].append(raw)
        c["nul_replaced"].append(nul_replaced)

    # -- the slow path of an object that broke the fast one -----------------------------------

    def _undo_partial_row(self) -> None:
        """Drop what the failed object appended: every column back to the complete rows."""
        rows = len(self._last_column)
        for values in self.columns.values():
            del values[rows:]

    def _add_carefully(self, item: Any, prepared: tuple | None, error: Exception) -> None:
        """Store the object with each column that can be read (the others NULL), or set it aside."""
        if isinstance(error, UnreadableObject):
            self._set_aside(item, str(error))
            return
        problem = object_problem(item, self.kind.namespaced)
        if problem is None and prepared is None:
            # Redaction or serialization failed: what would be stored may still hold values it
            # must not, so nothing of it is stored.
            problem = f"the object could not be prepared for storing ({self._describe(error)})"
        if problem is not None:
            self._set_aside(item, problem)
            return
        item, raw, nul_replaced = prepared
        try:
            self._append_common(item["metadata"], raw, nul_replaced)
        except UnreadableObject as e:
            self._undo_partial_row()
            self._set_aside(item, str(e))
            return
        failed = []
        for column, (append, extract) in zip(self.kind.columns, self._typed):
            try:
                value = extract(item)
            except Exception as e:  # noqa: BLE001 - that column is NULL, the others are kept
                value = None
                failed.append(f"{column.name}: {self._describe(e)}")
            append(value)
        if not failed:  # every column read this time: stored whole
            return
        self.unreadable_columns += 1
        if self._first_unreadable is None:
            self._first_unreadable = "; ".join(failed)
            log.warning("%s: an object has fields its columns cannot read (%s, in %s); such objects are stored "
                        "with those columns NULL and raw whole", self.kind.resource, self._first_unreadable,
                        _who(item))

    def _set_aside(self, item: Any, problem: str) -> None:
        metadata = item.get("metadata") if isinstance(item, dict) else None
        metadata = metadata if isinstance(metadata, dict) else {}
        uid = metadata.get("uid")
        if not (isinstance(uid, str) and uid):
            # The rejection needs a key of its own: one from the object's content is the same
            # on the next sync while the object does not change.
            digest = hashlib.sha256(orjson.dumps(item, option=orjson.OPT_SORT_KEYS)).hexdigest()[:24]
            uid = f"unreadable-uid:{digest}"
        self.set_aside.append({
            "uid": safe_text(uid), "namespace": safe_text(metadata.get("namespace")),
            "name": safe_text(metadata.get("name")), "resource_version": safe_text(metadata.get("resourceVersion")),
            "error": safe_text(f"not stored: {problem}"),
        })
        if self._first_set_aside is None:
            self._first_set_aside = problem
            log.warning("%s: an object cannot be stored (%s, in %s); such objects are set aside "
                        "(k8s_rejected_objects) and the rest of the kind is stored", self.kind.resource, problem,
                        _who(item))

    def _describe(self, error: Exception) -> str:
        # The message of an error may quote the value it met; a redacted kind's values stay out of it.
        if self.kind.redact is not None:
            return type(error).__name__
        return f"{type(error).__name__}: {error}"[:300]


NUL_ESCAPE = b"\\u0000"


def replace_nul(value):
    """``value`` with every NUL in its strings (keys too) replaced; and whether any was."""
    if isinstance(value, str):
        return (value.replace("\x00", NUL_REPLACEMENT), True) if "\x00" in value else (value, False)
    if isinstance(value, dict):
        replaced = False
        out = {}
        for key, item in value.items():
            key, key_replaced = replace_nul(key)
            out[key], item_replaced = replace_nul(item)
            replaced = replaced or key_replaced or item_replaced
        return out, replaced
    if isinstance(value, list):
        pairs = [replace_nul(item) for item in value]
        return [item for item, _ in pairs], any(r for _, r in pairs)
    return value, False


class UnreadableObject(ValueError):
    """An object whose common columns cannot be read: it is set aside, not stored."""


# A name and namespace longer than this (in characters; far beyond Kubernetes' 253) would not fit
# the kind table's (cluster_uid, namespace, name) index, whose entries hold at most 2704 bytes.
MAX_NAME_CHARS = 600


def common_columns_problem(metadata: dict, namespaced: bool) -> str:
    """Why a metadata object's common columns cannot be stored."""
    uid, name, namespace, version = (metadata.get("uid"), metadata.get("name"), metadata.get("namespace"),
                                     metadata.get("resourceVersion"))
    if not isinstance(uid, str):
        return "metadata.uid is missing" if uid is None else f"metadata.uid is {_json_type(uid)}, not a string"
    if not isinstance(name, str):
        return "metadata.name is missing" if name is None else f"metadata.name is {_json_type(name)}, not a string"
    if namespace is not None and not isinstance(namespace, str):
        return f"metadata.namespace is {_json_type(namespace)}, not a string"
    if version is not None and not isinstance(version, str):
        return f"metadata.resourceVersion is {_json_type(version)}, not a string"
    created = metadata.get("creationTimestamp")
    if created is not None and not isinstance(created, str):
        return f"metadata.creationTimestamp is {_json_type(created)}, not a string"
    if len(name) + len(namespace or "") >= MAX_NAME_CHARS:
        return f"metadata.name and namespace are {len(name) + len(namespace or '')} characters long"
    return "its common columns cannot be read"


def object_problem(item: Any, namespaced: bool) -> str | None:
    """Why an object cannot be stored at all, or None when its common columns can be read."""
    if not isinstance(item, dict):
        return f"the object is {_json_type(item)}, not an object"
    metadata = item.get("metadata")
    if not isinstance(metadata, dict):
        return f"metadata is {_json_type(metadata)}, not an object"
    uid, name, namespace, version = (metadata.get("uid"), metadata.get("name"), metadata.get("namespace"),
                                     metadata.get("resourceVersion"))
    created = metadata.get("creationTimestamp")
    if (isinstance(uid, str) and isinstance(name, str) and (namespace is None or isinstance(namespace, str))
            and (version is None or isinstance(version, str)) and (created is None or isinstance(created, str))
            and len(name) + len(namespace or "") < MAX_NAME_CHARS):
        return None
    return common_columns_problem(metadata, namespaced)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "a number",
            float: "a number"}.get(type(value), type(value).__name__)




def _keys_of(item: bytes) -> Any:
    """What can be read of an item's keys when it cannot be decoded whole (for its rejection)."""
    try:
        keyed = msgspec.json.decode(item, type=_KeyedItem)
    except msgspec.DecodeError:
        return {"unreadable": item[:200].decode("utf-8", "replace")}
    keys = keyed.metadata or _ItemKeys()
    return {"metadata": {"uid": keys.uid, "name": keys.name, "namespace": keys.namespace,
                         "resourceVersion": keys.resourceVersion}}


def _who(item: Any) -> str:
    """namespace/name of an object for a log line, as far as it can be read."""
    metadata = item.get("metadata") if isinstance(item, dict) else None
    if not isinstance(metadata, dict):
        return "an object without readable metadata"
    return "/".join(safe_text(v, 100) for v in (metadata.get("namespace"), metadata.get("name")) if v is not None) \
        or "an object without a name"


# Columns a key-only row (an object already stored at the listed version) carries.
_KEY_ONLY_FILLED = frozenset({"cluster_uid", "uid", "context_name", "name", "namespace", "resource_version"})



# ---------------------------------------------------------------------------
# The projection: only the paths a kind reads.

# What every row takes from an object, whatever its kind (the common columns), and whether the
# object names its own apiVersion and kind (list items of built-in kinds do not).
COMMON_READS: tuple[Path, ...] = (
    ("apiVersion",), ("kind",),
    ("metadata", "uid"), ("metadata", "resourceVersion"), ("metadata", "name"), ("metadata", "namespace"),
    ("metadata", "labels"), ("metadata", "annotations"), ("metadata", "creationTimestamp"),
)
# Kept as the bytes it came as, to find and cut it out of the object's bytes (see stored_bytes).
MANAGED_FIELDS: Path = ("metadata", "managedFields")
LABELS: Path = ("metadata", "labels")
ANNOTATIONS: Path = ("metadata", "annotations")

_LEAF = "leaf"
_RAW = "raw"


def read_tree(paths: Iterable[Path], raw: Iterable[Path] = ()) -> dict:
    """Paths as a tree of keys; a path that is a prefix of another covers it (its value is taken whole).

    Leaves at a ``raw`` path are kept as the bytes they came as (``msgspec.Raw``), not decoded.
    """
    raw = set(raw)
    tree: dict = {}
    for path in sorted(set(paths) | raw, key=len):
        node = tree
        for depth, key in enumerate(path):
            child = node.get(key)
            if child in (_LEAF, _RAW):
                break
            if depth == len(path) - 1:
                node[key] = _RAW if path in raw else _LEAF
            else:
                node = node.setdefault(key, {})
    return tree


def _projection_type(node: Any, name: str) -> Any:
    if node == _LEAF:
        return Any
    if node == _RAW:
        return msgspec.Raw
    if EACH in node:
        if len(node) > 1:  # read both as an array and as an object: take the value as it is
            return Any
        return Optional[list[_projection_type(node[EACH], name + "_item")]]
    fields = {key: _projection_type(child, f"{name}_{index}") for index, (key, child) in enumerate(node.items())}
    # total=False: a key missing from the object stays missing in the dict, as extractors expect.
    return Optional[TypedDict(name, fields, total=False)]


@lru_cache(maxsize=64)
def projection_decoder(paths: frozenset[Path]) -> msgspec.json.Decoder:
    """A decoder of objects into dicts holding only ``paths`` (built once per set of paths).

    managedFields, and labels and annotations when no column reads them, stay undecoded
    (``msgspec.Raw``): the labels and annotations columns take their JSON text as it came.
    """
    raw = [MANAGED_FIELDS, *(p for p in (LABELS, ANNOTATIONS) if not _covers(paths, p))]
    top = _projection_type(read_tree((*COMMON_READS, *paths), raw), "Projection")
    # The object itself is never null; strip the Optional of the top level.
    (top_type,) = [t for t in top.__args__ if t is not type(None)]
    return msgspec.json.Decoder(top_type)


def _covers(paths: Iterable[Path], path: Path) -> bool:
    """Whether a column reads ``path``, something in it, or something it is in."""
    return any(p[:len(path)] == path or path[:len(p)] == p for p in paths)


def kind_reads(kind: Kind) -> frozenset[Path]:
    return frozenset(path for column in kind.columns for path in column.reads)


# ---------------------------------------------------------------------------
# Pages: their metadata, and their items as bytes or as keys.


class PageMeta(msgspec.Struct):
    resourceVersion: Any = None
    continue_: Any = msgspec.field(default=None, name="continue")
    remainingItemCount: Any = None


class _RawPage(msgspec.Struct):
    metadata: Optional[PageMeta] = None
    items: Optional[list[msgspec.Raw]] = None


class _ItemKeys(msgspec.Struct):
    uid: Optional[str] = None
    resourceVersion: Optional[str] = None
    name: Optional[str] = None
    namespace: Optional[str] = None


class _KeyedItem(msgspec.Struct):
    metadata: Optional[_ItemKeys] = None


class _KeyedPage(msgspec.Struct):
    metadata: Optional[PageMeta] = None
    items: Optional[list[_KeyedItem]] = None


_RAW_PAGE = msgspec.json.Decoder(_RawPage)
_KEYED_PAGE = msgspec.json.Decoder(_KeyedPage)


class PageNotJSON(ValueError):
    """A 2xx list answer that is not a JSON list page."""


@dataclass
class DecodedPage:
    """One list page: its metadata, and its items as bytes (``raw_items``) or keys (``keys``)."""

    body: bytes
    meta: PageMeta
    raw_items: list[msgspec.Raw] | None = None  # None when keys were read instead
    keys: list[_KeyedItem] | None = None

    @property
    def continue_token(self) -> str | None:
        return self.meta.continue_ or None

    def __len__(self) -> int:
        return len(self.keys if self.keys is not None else self.raw_items)

    def items(self) -> list[msgspec.Raw]:
        if self.raw_items is None:
            self.raw_items = _decode(_RAW_PAGE, self.body).items or []
        return self.raw_items


def _decode(decoder: msgspec.json.Decoder, body: bytes):
    try:
        return decoder.decode(body)
    except msgspec.DecodeError as e:  # ValidationError included: the page is not a list page
        # Not the body itself in the message: it may be a page of secrets.
        raise PageNotJSON(f"the list page ({len(body)} bytes) is not a JSON list: {e}") from None


def decode_page(body: bytes, keys_only: bool) -> DecodedPage:
    """The page's metadata, and its items' keys (``keys_only``) or bytes."""
    if keys_only:
        try:
            page = _KEYED_PAGE.decode(body)
        except msgspec.ValidationError:
            # A key of an unexpected type (a number for a name): read these items whole instead.
            keys_only = False
        except msgspec.DecodeError as e:
            raise PageNotJSON(f"the list page ({len(body)} bytes) is not JSON: {e}") from None
        else:
            return DecodedPage(body, page.metadata or PageMeta(), keys=page.items or [])
    page = _decode(_RAW_PAGE, body)
    return DecodedPage(body, page.metadata or PageMeta(), raw_items=page.items or [])


# ---------------------------------------------------------------------------
# raw: the object's bytes, without managedFields, saying what it is.

_MANAGED_FIELDS_KEY = b'"managedFields":'


def stored_bytes(item: bytes, managed_fields: msgspec.Raw | None, missing_head: bytes) -> bytes:
    """``item`` with ``metadata.managedFields`` cut out and ``missing_head`` (``"apiVersion":..,"kind":..``) put first.

    Measured against the other two ways (benchmarks/results/decode.md): decoding the object's top
    level and its metadata as ``dict[str, Raw]`` and encoding them again costs about seven times
    more; leaving managedFields to the merge (``raw #- '{metadata,managedFields}'``) costs no less
    here (the bytes are copied once either way), sends a third more bytes through COPY and keeps
    them in memory until the merge. The key is found by a byte search and checked against the
    value msgspec located, so a key of that name elsewhere (an annotation, a custom resource's
    spec) is never the one cut. One join of memoryview slices: the object is copied once.
    """
    parts = _parts_without_managed_fields(item, managed_fields) if managed_fields is not None else None
    if parts is None:
        if managed_fields is not None:
            item = _reencoded_without_managed_fields(item)
        parts = [memoryview(item)]
    if missing_head:
        first = parts[0]
        if len(parts) == 1 and bytes(first) == b"{}":
            return b"{" + missing_head + b"}"
        parts[0] = first[1:]
        parts[:0] = (b"{", missing_head, b",")
    return b"".join(parts)


def _parts_without_managed_fields(item: bytes, value: msgspec.Raw) -> list[memoryview] | None:
    size = len(value)
    start = item.find(_MANAGED_FIELDS_KEY)
    while start != -1:
        value_start = start + len(_MANAGED_FIELDS_KEY)
        end = value_start + size
        if item.startswith(value, value_start):
            whole = memoryview(item)
            before, after = item[start - 1:start], item[end:end + 1]
            # Compact JSON, as API servers write it; anything else is encoded again instead.
            if before == b"," and after in (b",", b"}"):
                return [whole[:start - 1], whole[end:]]
            if before == b"{" and after == b",":
                return [whole[:start], whole[end + 1:]]
            if before == b"{" and after == b"}":
                return [whole[:start], whole[end:]]
            return None
        start = item.find(_MANAGED_FIELDS_KEY, start + 1)
    return None


_RAW_MEMBERS = msgspec.json.Decoder(dict[str, msgspec.Raw])
_ENCODER = msgspec.json.Encoder()


def _reencoded_without_managed_fields(item: bytes) -> bytes:
    """The slower, general way: the top level and metadata as raw members, encoded again without it."""
    members = _RAW_MEMBERS.decode(item)
    metadata = _RAW_MEMBERS.decode(members["metadata"])
    metadata.pop("managedFields", None)
    members["metadata"] = msgspec.Raw(_ENCODER.encode(metadata))
    return _ENCODER.encode(members)


# ---------------------------------------------------------------------------
# Rows from projected objects.

# What orjson's path stores as NULL (a falsy value), written as JSON.
_EMPTY_JSON = (b"{}", b"null", b"[]", b'""', b"0", b"false")


def _json_text(value: Any) -> str | None:
    """A jsonb column's text: as it came when left undecoded, else as orjson writes it; empty is NULL."""
    if isinstance(value, msgspec.Raw):
        text = bytes(value)
        return None if text in _EMPTY_JSON else text.decode()
    return orjson.dumps(value).decode() if value else None


class ProjectedRowBuilder(RowBuilder):
    """A RowBuilder fed with list pages as bytes: decodes only what its kind stores.

    Fills the same columns with the same values as ``RowBuilder.add`` on the whole object
    (``test_decoding`` compares them for every kind and every object the simulator makes).
    """

    def __init__(self, kind: Kind, cluster_uid: str, context_name: str,
                 known_versions: Mapping[str, str] | None = None):
        super().__init__(kind, cluster_uid, context_name, known_versions)
        self._projection = projection_decoder(kind_reads(kind))
        self._whole_objects = kind.redact is not None
        self._head = orjson.dumps({"apiVersion": kind.api_version, "kind": kind.kind})[1:-1]
        self._api_version_head = orjson.dumps({"apiVersion": kind.api_version})[1:-1]
        self._kind_head = orjson.dumps({"kind": kind.kind})[1:-1]
        self.decoded_whole = 0  # objects that took the slow path for a projection that did not fit
        self._first_misfit: str | None = None
        c = self.columns
        self._common = (c["cluster_uid"].append, c["uid"].append, c["context_name"].append, c["name"].append,
                        c["labels"].append, c["annotations"].append, c["created_at"].append,
                        c["resource_version"].append, c["raw"].append, c["nul_replaced"].append)
        self._namespace = c["namespace"].append if kind.namespaced else None
        self._key_only_names = [name for name in c if name not in _KEY_ONLY_FILLED]

    @property
    def keys_suffice(self) -> bool:
        """Whether pages should be read as keys first: only when stored versions are known."""
        return self.known_versions is not None

    def add_page(self, page: DecodedPage) -> None:
        known = self.known_versions
        # One search of the page spares one per object (a NUL is rare).
        may_hold_nul = NUL_ESCAPE in page.body
        if page.keys is None:
            for raw in page.raw_items:
                self.add_bytes(bytes(raw), may_hold_nul)
            page.raw_items = None  # the Raw items hold the page's buffer: let it go with the page
            return
        unchanged: list[_ItemKeys] = []  # consecutive objects at their stored version, added at once
        for index, item in enumerate(page.keys):
            keys = item.metadata
            if keys is not None and keys.resourceVersion is not None and known.get(keys.uid) == keys.resourceVersion:
                unchanged.append(keys)
                continue
            if unchanged:
                self._add_key_only_rows(unchanged)
                unchanged = []
            self.add_bytes(bytes(page.items()[index]), may_hold_nul)
        if unchanged:
            self._add_key_only_rows(unchanged)
        page.raw_items = None

    def add_page_bodies(self, bodies: Iterable[bytes]) -> ProjectedRowBuilder:
        """Pages received before (tests and benchmarks hold them in memory), decoded here."""
        for body in bodies:
            self.add_page(decode_page(body, keys_only=self.keys_suffice))
        return self

    def _add_key_only_rows(self, keys: list[_ItemKeys]) -> None:
        """What ``_add_key_only`` does for each, column by column (a re-sync is mostly these)."""
        count = len(keys)
        c = self.columns
        c["cluster_uid"].extend([self.cluster_uid] * count)
        c["uid"].extend([k.uid for k in keys])
        c["context_name"].extend([self.context_name] * count)
        c["name"].extend([k.name for k in keys])
        if self._namespace is not None:
            c["namespace"].extend([k.namespace for k in keys])
        c["resource_version"].extend([k.resourceVersion for k in keys])
        nothing = [None] * count
        for name in self._key_only_names:
            c[name].extend(nothing)
        self.unchanged += count

    def add_keyed_bytes(self, item: bytes, uid: str | None, resource_version: str | None, name: str | None,
                        namespace: str | None) -> None:
        """One object whose keys were read already (a streaming list's event): a key-only row when
        it is at its stored version, else as ``add_bytes``."""
        known = self.known_versions
        if (known is not None and uid is not None and resource_version is not None
                and known.get(uid) == resource_version and isinstance(name, str)):
            self._add_key_only(uid, resource_version, name, namespace if isinstance(namespace, str) else None)
        else:
            self.add_bytes(item)

    def add_bytes(self, item: bytes, may_hold_nul: bool = True) -> None:
        """One list item, as the bytes it came as. The guard of the projected path: an object that
        breaks it is decoded whole and goes through ``add``, which stores it or sets it aside."""
        try:
            self._add_projected(item, may_hold_nul)
        except Exception:  # noqa: BLE001 - any field of any type: nothing may escape one object
            self._undo_partial_row()
            self._add_whole_bytes(item)

    def _add_whole_bytes(self, item: bytes) -> None:
        try:
            obj = orjson.loads(item)
        except orjson.JSONDecodeError as e:  # JSON msgspec read but orjson does not (a number out of range)
            self._set_aside(_keys_of(item), f"the object cannot be decoded: {e}")
            return
        self.add(obj)

    def _add_projected(self, item: bytes, may_hold_nul: bool) -> None:
        if self._whole_objects or (may_hold_nul and NUL_ESCAPE in item):
            self._add_whole_bytes(item)
            return
        try:
            obj = self._projection.decode(item)
        except msgspec.ValidationError as e:
            self._misfit(obj_error=e)
            self._add_whole_bytes(item)
            return
        metadata = obj.get("metadata")
        if metadata is None:
            self._add_whole_bytes(item)  # whatever today's path makes of an object without metadata
            return
        uid, version = metadata.get("uid"), metadata.get("resourceVersion")
        if self.known_versions is not None and version is not None and self.known_versions.get(uid) == version:
            self._add_key_only(uid, version, metadata.get("name"), metadata.get("namespace"))
            return
        managed_fields = metadata.pop("managedFields", None)
        head = b""
        if "apiVersion" not in obj:
            obj["apiVersion"] = self.kind.api_version
            head = self._api_version_head
        if "kind" not in obj:
            obj["kind"] = self.kind.kind
            head = self._head if head else self._kind_head
        name_, namespace, created = metadata.get("name"), metadata.get("namespace"), metadata.get("creationTimestamp")
        # The test of _append_common: an object that fails it is told why (and set aside) by ``add``.
        if not (type(uid) is str and type(name_) is str and (namespace is None or type(namespace) is str)
                and (version is None or type(version) is str) and (created is None or type(created) is str)
                and len(name_) + len(namespace or "") < MAX_NAME_CHARS):
            raise UnreadableObject("common columns")
        raw = stored_bytes(item, managed_fields, head)
        (cluster_uid, uid_, context_name, name, labels_, annotations_, created_at, resource_version, raw_,
         nul_replaced) = self._common
        cluster_uid(self.cluster_uid)
        uid_(uid)
        context_name(self.context_name)
        name(name_)
        if self._namespace is not None:
            self._namespace(namespace)
        labels_(_json_text(metadata.get("labels")))
        annotations_(_json_text(metadata.get("annotations")))
        created_at(created)
        resource_version(version)
        raw_(raw)
        nul_replaced(False)
        for append, extract in self._typed:
            append(extract(obj))

    def _misfit(self, obj_error: Exception) -> None:
        self.decoded_whole += 1
        if self._first_misfit is None:
            self._first_misfit = str(obj_error)
            log.warning("%s: an object has a field of an unexpected type (%s); such objects are decoded whole "
                        "(slower, stored all the same)", self.kind.resource, obj_error)
