CREATE TEMP TABLE k8s_stage_keys (
    uid              uuid PRIMARY KEY,
    resource_version text NOT NULL
) ON COMMIT DROP
