-- Every listed object's key; sent: its row was staged in full too (false: listed at the version
-- read before the lock, key only).
CREATE TEMP TABLE k8s_stage_keys (
    uid              uuid PRIMARY KEY,
    resource_version text NOT NULL,
    sent             boolean NOT NULL DEFAULT true
) ON COMMIT DROP
