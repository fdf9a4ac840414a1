"""Building blocks shared by the generator modules: identities, clock, names and metadata.

Everything here is a pure function of the cluster's :class:`Context`, so any object stream
can be produced in any order (or twice) and still yield the same bytes.
"""

from __future__ import annotations

import hashlib
import random
import time
import uuid

import orjson

# Alphabet of the random suffixes Kubernetes controllers append to generated names
# (apimachinery's rand.String: no vowels, no confusable digits).
NAME_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"

# Two base-27 digits at a time: entry i is the suffix characters of digits (i % 27, i // 27).
_SUFFIX_PAIRS = tuple(NAME_SUFFIX_ALPHABET[i % 27] + NAME_SUFFIX_ALPHABET[i // 27] for i in range(729))

# Clusters are "born" somewhere in 2024; objects are created during the following months.
EPOCH_2024 = 1_704_067_200
CLUSTER_AGE_SECONDS = 300 * 86_400

# Annotation values that exercise JSON escaping and UTF-8 downstream: quotes, backslashes,
# non-Latin scripts, emoji. Annotation values may hold anything; label values may not.
TRICKY_ANNOTATIONS = (
    ("example.com/owner", "Zoë Müller-Łukasiewicz <zoe@example.com>"),
    ("example.com/description", 'Zahlungsdienst für "Überweisungen" — 決済サービス; path C:\\srv\\data\\ 🚀'),
    ("example.com/runbook", 'see "https://runbooks.example.com/a?b=1&c=2" \\ café ñandú ∑≠∞'),
)


class Context:
    """Identity and clock of one simulated cluster, derived only from (name, seed)."""

    def __init__(self, name: str, seed: int) -> None:
        self.name = name
        self.seed = seed
        rng = random.Random(f"{name}:{seed}")
        self.uid_namespace = uuid.UUID(int=rng.getrandbits(128), version=4)
        self.born = EPOCH_2024 + rng.randrange(0, 180 * 86_400)
        self.now_offset = CLUSTER_AGE_SECONDS
        self.name_salt = rng.getrandbits(24)
        self.dns_name = dns_label(name)

    def rng(self, purpose: str) -> random.Random:
        """An independent random stream, so one object stream never depends on another's draws."""
        return random.Random(f"{self.name}:{self.seed}:{purpose}")

    def uid(self, resource: str, namespace: str, name: str) -> str:
        """A stable UID: the same object of the same cluster always gets the same one.

        Equal to ``str(uuid.uuid5(self.uid_namespace, "<resource>/<namespace>/<name>"))``,
        formatted by hand because uuid.UUID objects cost several times more (150,000 pods).
        """
        digest = hashlib.sha1(self.uid_namespace.bytes + f"{resource}/{namespace}/{name}".encode()).hexdigest()
        variant = "89ab"[int(digest[16], 16) & 3]
        return f"{digest[:8]}-{digest[8:12]}-5{digest[13:16]}-{variant}{digest[17:20]}-{digest[20:32]}"

    def timestamp(self, offset_seconds: int) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.born + offset_seconds))

    def suffix(self, number: int, length: int = 5) -> str:
        """A generated-name suffix, unique per number for number < 27**length."""
        # An affine map with a multiplier coprime to 27 is a bijection: no two numbers collide.
        mixed = (number * 11_400_714_819_323_198_485 + self.name_salt) % 27**length
        chars = []
        for _ in range(length // 2):
            mixed, pair = divmod(mixed, 729)
            chars.append(_SUFFIX_PAIRS[pair])
        if length % 2:
            chars.append(NAME_SUFFIX_ALPHABET[mixed])
        return "".join(chars)

    def hex_digest(self, number: int, length: int = 64) -> str:
        """Deterministic hex, e.g. for image digests and container IDs."""
        return (uuid.uuid5(self.uid_namespace, str(number)).hex * (length // 32 + 1))[:length]


def dns_label(text: str) -> str:
    cleaned = "".join(c if c.isalnum() and c.isascii() else "-" for c in text.lower()).strip("-")
    return cleaned[:40].strip("-") or "cluster"


def fields_v1(value: dict, depth: int = 0) -> dict:
    """The managedFields ``fieldsV1`` set owning every field of ``value`` (an object body).

    Maps become ``f:<key>``; lists of maps become ``k:{<merge key>}`` entries keyed by the
    conventional merge key (name, containerPort, type, ip, ...); other lists are atomic.
    Like the API server, top-level sections (``f:spec``) carry no ``"."`` self-marker.
    """
    out: dict = {".": {}} if depth > 1 else {}
    for key, item in value.items():
        if isinstance(item, list) and item and isinstance(item[0], dict) and _merge_key(item[0]):
            out[f"f:{key}"] = {_merge_key(element): fields_v1(element, 2) for element in item}
        elif isinstance(item, dict):
            out[f"f:{key}"] = fields_v1(item, depth + 1)
        else:
            out[f"f:{key}"] = {}
    return out


_SHAPE_CACHE: dict[tuple, bytes] = {}


def fields_v1_of_shape(shape_key: tuple, value: dict) -> dict:
    """``fields_v1(value)`` for values whose field set is fully determined by ``shape_key``.

    Computing a field set walks the whole object; controllers stamp out thousands of
    objects of the same shape, so the set is computed once per shape and a fresh copy returned.
    """
    encoded = _SHAPE_CACHE.get(shape_key)
    if encoded is None:
        encoded = _SHAPE_CACHE[shape_key] = orjson.dumps(fields_v1(value))
    return orjson.loads(encoded)


# Checked in this order: a port has a name too, but its merge key is containerPort.
_MERGE_KEYS = ("uid", "containerPort", "port", "mountPath", "devicePath", "name", "type", "ip", "key")


def _merge_key(element: dict) -> str:
    for key in _MERGE_KEYS:
        if key in element:
            if key == "containerPort":
                return "k:" + orjson.dumps({"containerPort": element[key], "protocol": element.get("protocol", "TCP")}).decode()
            if key == "port" and "protocol" in element:
                return "k:" + orjson.dumps({"port": element[key], "protocol": element["protocol"]}).decode()
            return "k:" + orjson.dumps({key: element[key]}).decode()
    return ""  # no merge key: an atomic list, owned as a whole


def managed_entry(manager: str, operation: str, api_version: str, time_str: str, fields: dict, subresource: str | None = None) -> dict:
    entry = {
        "manager": manager,
        "operation": operation,
        "apiVersion": api_version,
        "time": time_str,
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
    }
    if subresource:
        entry["subresource"] = subresource
    return entry


def last_applied(api_version: str, kind: str, metadata: dict, body: dict) -> str:
    """The ``kubectl.kubernetes.io/last-applied-configuration`` value: sorted compact JSON plus newline."""
    manifest = {"apiVersion": api_version, "kind": kind, "metadata": metadata, **body}
    return orjson.dumps(manifest, option=orjson.OPT_SORT_KEYS).decode() + "\n"


def applied_object(
    api_version: str,
    kind: str,
    metadata: dict,
    body: dict,
    created: str,
    status: dict | None = None,
    status_manager: str | None = None,
    status_time: str | None = None,
    shape_key: tuple | None = None,
) -> dict:
    """An object created with ``kubectl apply``: last-applied annotation and matching managedFields.

    ``metadata`` holds name/namespace/labels/annotations as applied; uid, resourceVersion
    and creationTimestamp are filled by the caller's stream. ``shape_key``, when given,
    names the shape of ``body`` and ``status`` so their field sets are computed once.
    """
    applied_meta = {k: v for k, v in metadata.items() if k in ("name", "namespace", "labels", "annotations")}
    applied_meta["annotations"] = dict(metadata.get("annotations") or {})
    annotation = last_applied(api_version, kind, applied_meta, body)
    annotations = {**(metadata.get("annotations") or {}), "kubectl.kubernetes.io/last-applied-configuration": annotation}
    meta = {**metadata, "annotations": annotations, "creationTimestamp": created}
    owned_meta = {"annotations": annotations}
    if metadata.get("labels"):
        owned_meta["labels"] = metadata["labels"]
    body_fields = fields_v1_of_shape((*shape_key, "body"), body) if shape_key else fields_v1(body)
    managed = [
        managed_entry(
            "kubectl-client-side-apply", "Update", api_version, created, {**fields_v1({"metadata": owned_meta}), **body_fields}
        )
    ]
    obj = {"metadata": meta, **body}
    if status is not None:
        obj["status"] = status
        if status_manager:
            status_fields = (fields_v1_of_shape((*shape_key, "status", *status), {"status": status}) if shape_key
                             else fields_v1({"status": status}))
            managed.append(managed_entry(status_manager, "Update", api_version, status_time or created, status_fields, "status"))
    meta["managedFields"] = managed
    return obj
