"""Volumes, claims and storage classes."""

from __future__ import annotations

from k8s_assets.catalog.extractors import annotation_true, as_json, at, field_of_each, flag, whole_quantity
from k8s_assets.catalog.types import Kind, col

KINDS: tuple[Kind, ...] = (
    Kind(
        table="k8s_persistentvolumes", group="", version="v1", plural="persistentvolumes",
        kind="PersistentVolume", namespaced=False, area="storage",
        description="PersistentVolumes with capacity, phase, class and the claim they are bound to.",
        columns=(
            col("phase", "text", at("status", "phase")),
            col("capacity_bytes", "bigint", whole_quantity("spec", "capacity", "storage")),
            col("access_modes", "text[]", at("spec", "accessModes")),
            col("reclaim_policy", "text", at("spec", "persistentVolumeReclaimPolicy")),
            col("storage_class", "text", at("spec", "storageClassName")),
            col("volume_mode", "text", at("spec", "volumeMode")),
            col("claim_namespace", "text", at("spec", "claimRef", "namespace")),
            col("claim_name", "text", at("spec", "claimRef", "name")),
            col("csi_driver", "text", at("spec", "csi", "driver")),
        ),
    ),
    Kind(
        table="k8s_persistentvolumeclaims", group="", version="v1", plural="persistentvolumeclaims",
        kind="PersistentVolumeClaim", namespaced=True, area="storage",
        description="PersistentVolumeClaims with requested and bound capacity, class and volume.",
        columns=(
            col("phase", "text", at("status", "phase")),
            col("storage_class", "text", at("spec", "storageClassName")),
            col("volume_name", "text", at("spec", "volumeName")),
            col("requested_bytes", "bigint", whole_quantity("spec", "resources", "requests", "storage")),
            col("capacity_bytes", "bigint", whole_quantity("status", "capacity", "storage")),
            col("access_modes", "text[]", at("spec", "accessModes")),
            col("volume_mode", "text", at("spec", "volumeMode")),
        ),
    ),
    Kind(
        table="k8s_storageclasses", group="storage.k8s.io", version="v1", plural="storageclasses",
        kind="StorageClass", namespaced=False, area="storage",
        description="StorageClasses with provisioner, policies and which one is the default.",
        columns=(
            col("provisioner", "text", at("provisioner")),
            col("reclaim_policy", "text", at("reclaimPolicy")),
            col("volume_binding_mode", "text", at("volumeBindingMode")),
            col("allow_volume_expansion", "boolean", flag(at("allowVolumeExpansion"))),
            col("is_default", "boolean", annotation_true("storageclass.kubernetes.io/is-default-class")),
            col("parameters", "jsonb", as_json(at("parameters"))),
        ),
    ),
    Kind(
        table="k8s_csidrivers", group="storage.k8s.io", version="v1", plural="csidrivers", kind="CSIDriver",
        namespaced=False, area="storage",
        description="CSIDrivers: the storage drivers installed and how Kubernetes talks to them.",
        columns=(
            col("attach_required", "boolean", at("spec", "attachRequired")),
            col("pod_info_on_mount", "boolean", at("spec", "podInfoOnMount")),
            col("storage_capacity", "boolean", at("spec", "storageCapacity")),
            col("fs_group_policy", "text", at("spec", "fsGroupPolicy")),
            col("volume_lifecycle_modes", "text[]", at("spec", "volumeLifecycleModes"), "Persistent, Ephemeral."),
        ),
    ),
    Kind(
        table="k8s_csinodes", group="storage.k8s.io", version="v1", plural="csinodes", kind="CSINode",
        namespaced=False, area="storage",
        description="CSINodes: which CSI drivers each node runs (named like the node).",
        columns=(
            col("drivers", "text[]", field_of_each(at("spec", "drivers"), "name"), "Driver names."),
            col("driver_node_ids", "text[]", field_of_each(at("spec", "drivers"), "nodeID")),
        ),
    ),
    Kind(
        table="k8s_volumeattachments", group="storage.k8s.io", version="v1", plural="volumeattachments",
        kind="VolumeAttachment", namespaced=False, area="storage",
        description="VolumeAttachments: which volume a CSI attacher attached to which node.",
        columns=(
            col("attacher", "text", at("spec", "attacher")),
            col("node_name", "text", at("spec", "nodeName")),
            col("persistent_volume_name", "text", at("spec", "source", "persistentVolumeName")),
            col("attached", "boolean", flag(at("status", "attached"))),
            col("attach_error", "text", at("status", "attachError", "message")),
        ),
    ),
)
