"""The extractor vocabulary: small functions of an object that fill typed columns.

Each returns a function of the object that records the paths it reads (``reading``), so a
column built from them needs nothing more: ``col("x", "text", at("spec", "x"))``.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import orjson

from k8s_assets.catalog.types import EACH, Column, Extractor, col, reading, reads_of


def at(*path: str) -> Extractor:
    """The value at a path of keys, or None where any step is missing."""

    @reading(path)
    def get(obj: dict) -> Any:
        cur: Any = obj
        for key in path:
            if not isinstance(cur, dict):
                return None
            cur = cur.get(key)
            if cur is None:
                return None
        return cur

    return get


def as_json(extract: Extractor) -> Extractor:
    """Serialise a nested value for a jsonb column (None stays NULL)."""

    @reading(*reads_of(extract))
    def get(obj: dict) -> str | None:
        value = extract(obj)
        return None if value is None else orjson.dumps(value).decode()

    return get


def flag(extract: Extractor) -> Extractor:
    """A boolean field whose absence means false."""
    return reading(*reads_of(extract))(lambda obj: bool(extract(obj)))


def condition_true(condition_type: str, *path: str) -> Extractor:
    """True when the condition of that type in ``<path>.conditions`` has status True."""
    conditions = at(*path, "conditions")

    @reading((*path, "conditions", EACH, "type"), (*path, "conditions", EACH, "status"))
    def get(obj: dict) -> bool | None:
        for cond in conditions(obj) or ():
            if cond.get("type") == condition_type:
                return cond.get("status") == "True"
        return None

    return get


def container_images(*spec_path: str) -> Extractor:
    """Images of the init and regular containers of a pod spec at ``spec_path``."""
    spec = at(*spec_path)

    @reading(*((*spec_path, part, EACH, "image") for part in ("initContainers", "containers")))
    def get(obj: dict) -> list[str]:
        s = spec(obj) or {}
        return [
            c.get("image")
            for part in ("initContainers", "containers")
            for c in s.get(part) or ()
            if c.get("image")
        ]

    return get


def controller_owner(field_name: str) -> Extractor:
    """A field of the ownerReference that has controller: true."""

    @reading(("metadata", "ownerReferences", EACH, "controller"), ("metadata", "ownerReferences", EACH, field_name))
    def get(obj: dict) -> Any:
        for ref in (obj.get("metadata") or {}).get("ownerReferences") or ():
            if ref.get("controller"):
                return ref.get(field_name)
        return None

    return get


_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)$")
_SUFFIX = {
    "": Decimal(1), "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"),
    "k": Decimal(10) ** 3, "M": Decimal(10) ** 6, "G": Decimal(10) ** 9, "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15, "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30, "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60,
}


def parse_quantity(value: Any) -> Decimal | None:
    """A Kubernetes resource.Quantity ("250m", "16Gi", "1e3") as a Decimal; None if absent or malformed."""
    if value is None:
        return None
    m = _QUANTITY.match(str(value).strip())
    if not m or m.group(2) not in _SUFFIX:
        return None
    try:
        return Decimal(m.group(1)) * _SUFFIX[m.group(2)]
    except ArithmeticError:
        return None


def quantity(*path: str) -> Extractor:
    extract = at(*path)
    return reading(path)(lambda obj: parse_quantity(extract(obj)))


def whole_quantity(*path: str) -> Extractor:
    """A quantity rounded up to a whole number (bytes)."""
    q = quantity(*path)

    @reading(path)
    def get(obj: dict) -> int | None:
        value = q(obj)
        return None if value is None else int(value.to_integral_value(rounding="ROUND_CEILING"))

    return get


@reading(("metadata", "labels"))
def node_roles(obj: dict) -> list[str]:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    prefix = "node-role.kubernetes.io/"
    return sorted(k[len(prefix):] for k in labels if k.startswith(prefix))


_CONTAINER_STATUSES = at("status", "containerStatuses")
_CRD_VERSIONS = at("spec", "versions")


@reading(("status", "containerStatuses", EACH, "restartCount"))
def pod_restart_count(obj: dict) -> int:
    return sum(s.get("restartCount", 0) for s in _CONTAINER_STATUSES(obj) or ())


@reading(("spec", "versions", EACH, "name"), ("spec", "versions", EACH, "served"))
def crd_served_versions(obj: dict) -> list[str]:
    return [v["name"] for v in _CRD_VERSIONS(obj) or () if v.get("served")]


@reading(("spec", "versions", EACH, "name"), ("spec", "versions", EACH, "storage"))
def crd_storage_version(obj: dict) -> str | None:
    for v in _CRD_VERSIONS(obj) or ():
        if v.get("storage"):
            return v.get("name")
    return None


def constant(value: Any) -> Extractor:
    """The same value for every object (custom resources: the CRD's names); reads nothing."""
    return reading()(lambda obj: value)


def owner_columns() -> tuple[Column, ...]:
    """The controlling owner, for kinds a controller creates (pods, replicasets, jobs)."""
    return (
        col("owner_kind", "text", controller_owner("kind"), "Kind of the controlling ownerReference."),
        col("owner_name", "text", controller_owner("name")),
        col("owner_uid", "uuid", controller_owner("uid")),
    )



def as_text(extract: Extractor) -> Extractor:
    """An int-or-string value (``minAvailable: 1`` or ``"50%"``) as text."""

    @reading(*reads_of(extract))
    def get(obj: dict) -> str | None:
        value = extract(obj)
        return None if value is None else str(value)

    return get


def length_of(extract: Extractor) -> Extractor:
    @reading(*reads_of(extract))
    def get(obj: dict) -> int:
        return len(extract(obj) or ())

    return get


def annotation_true(key: str) -> Extractor:
    @reading(("metadata", "annotations"))
    def get(obj: dict) -> bool:
        return ((obj.get("metadata") or {}).get("annotations") or {}).get(key) == "true"

    return get


def label(key: str) -> Extractor:
    @reading(("metadata", "labels"))
    def get(obj: dict) -> str | None:
        return ((obj.get("metadata") or {}).get("labels") or {}).get(key)

    return get


def field_of_each(list_extract: Extractor, *path: str) -> Extractor:
    """One field of every element of a list: ``[rule.host for rule in spec.rules]``."""
    element = at(*path)

    @reading(*((*p, EACH, *path) for p in reads_of(list_extract)))
    def get(obj: dict) -> list | None:
        items = list_extract(obj)
        if items is None:
            return None
        return [v for v in (element(i) for i in items) if v is not None]

    return get


def distinct_field_of_each(list_extract: Extractor, *path: str) -> Extractor:
    values = field_of_each(list_extract, *path)

    @reading(*reads_of(values))
    def get(obj: dict) -> list | None:
        found = values(obj)
        return None if found is None else sorted(set(found))

    return get


def flattened(list_extract: Extractor, *path: str) -> Extractor:
    """Values of a list field of every element, flattened: ``spec.tls[].hosts[]``."""
    element = at(*path)

    @reading(*((*p, EACH, *path) for p in reads_of(list_extract)))
    def get(obj: dict) -> list | None:
        items = list_extract(obj)
        if items is None:
            return None
        return [v for i in items for v in element(i) or ()]

    return get


@reading(("endpoints", EACH, "conditions", "ready"))
def endpoints_ready(obj: dict) -> int:
    return sum(1 for e in obj.get("endpoints") or () if (e.get("conditions") or {}).get("ready") is not False)



def pod_template_images(*template_path: str) -> Extractor:
    return container_images(*template_path, "spec")


def first_of(*extracts: Extractor) -> Extractor:
    """The first value that is present: a field renamed between API versions
    (``assuredConcurrencyShares`` in flowcontrol v1beta1, ``nominalConcurrencyShares`` in v1)."""

    @reading(*(p for e in extracts for p in reads_of(e)))
    def get(obj: dict) -> Any:
        for extract in extracts:
            value = extract(obj)
            if value is not None:
                return value
        return None

    return get


def count_of_each(list_extract: Extractor, *path: str) -> Extractor:
    """The total length of a list field of every element: addresses over an Endpoints' subsets."""
    values = flattened(list_extract, *path)

    @reading(*reads_of(values))
    def get(obj: dict) -> int:
        return len(values(obj) or ())

    return get
