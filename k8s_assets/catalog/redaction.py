"""What never reaches the database: Secret values, ConfigMap values (unless turned on) and the
last-applied annotation that repeats them. A redactor rewrites an object before anything else
reads it; it receives the object without managedFields and keeps no reference to a value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
# Where a redacted object says what was removed; typed columns of secrets and configmaps
# read key names (and, for configmaps, sizes) from here, since the values are gone.
REDACTED = "k8sAssetsRedacted"


def redact_secret(obj: dict) -> dict:
    """A Secret without any value: key names stay, data/stringData and last-applied go."""
    data = obj.pop("data", None) or {}
    string_data = obj.pop("stringData", None) or {}
    metadata = obj.get("metadata") or {}
    annotations = metadata.get("annotations")
    dropped = ["data", "stringData"]
    if annotations and LAST_APPLIED in annotations:
        annotations = {k: v for k, v in annotations.items() if k != LAST_APPLIED}
        metadata["annotations"] = annotations or None
        dropped.append(f"metadata.annotations[{LAST_APPLIED}]")
    obj[REDACTED] = {"keys": sorted({*data, *string_data}), "removed": dropped}
    return obj


def _value_size(value: Any, binary: bool) -> int:
    if not isinstance(value, str):
        return 0
    if binary:  # base64: the decoded size
        return len(value) * 3 // 4 - value[-2:].count("=")
    return len(value.encode())


def configmap_redactor(keep_values: bool) -> Callable[[dict], dict]:
    """ConfigMaps carry key names and sizes; values (and last-applied) only with keep_values."""

    def redact(obj: dict) -> dict:
        data = obj.get("data") or {}
        binary = obj.get("binaryData") or {}
        sizes = {k: _value_size(v, False) for k, v in data.items()}
        sizes.update({k: _value_size(v, True) for k, v in binary.items()})
        summary: dict[str, Any] = {"keys": sorted(sizes), "sizes": sizes, "binaryKeys": sorted(binary)}
        if not keep_values:
            obj.pop("data", None)
            obj.pop("binaryData", None)
            removed = ["data", "binaryData"]
            metadata = obj.get("metadata") or {}
            annotations = metadata.get("annotations")
            if annotations and LAST_APPLIED in annotations:
                annotations = {k: v for k, v in annotations.items() if k != LAST_APPLIED}
                metadata["annotations"] = annotations or None
                removed.append(f"metadata.annotations[{LAST_APPLIED}]")
            summary["removed"] = removed
        obj[REDACTED] = summary
        return obj

    return redact



# K8S_ASSETS_SECRETS=metadata: the API server answers with PartialObjectMetadataList, so data,
# stringData, type and immutable never leave it. Key names are unknown then, and the typed
# columns that need more than metadata (type, keys, immutable) are NULL, not guessed.
METADATA_ONLY = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"


def redact_secret_metadata(obj: dict) -> dict:
    """A Secret listed as PartialObjectMetadata: only metadata arrived, less the last-applied
    annotation (kubectl apply puts the whole Secret, values included, there)."""
    metadata = obj.get("metadata") or {}
    annotations = metadata.get("annotations")
    removed = []
    if annotations and LAST_APPLIED in annotations:
        metadata["annotations"] = {k: v for k, v in annotations.items() if k != LAST_APPLIED} or None
        removed.append(f"metadata.annotations[{LAST_APPLIED}]")
    # The item says PartialObjectMetadata; the row is a Secret, of which only metadata was listed.
    return {"apiVersion": "v1", "kind": "Secret", "metadata": metadata,
            REDACTED: {"keys": None, "removed": removed, "listedAs": "PartialObjectMetadata"}}
