-- What each staged (new or changed) row is to the history: created, updated, or moved (only
-- ignored paths changed: the stored version goes on, with the new values, instead of a new one
-- beginning).
CREATE TEMP TABLE k8s_stage_versions ON COMMIT DROP AS
SELECT s.uid,
       CASE WHEN t.uid IS NULL THEN 'created'
            WHEN %(ignored_paths)s::jsonb IS NOT NULL
                 AND k8s_assets_without_paths(t.raw, %(ignored_paths)s::jsonb)
                     = k8s_assets_without_paths(s.raw, %(ignored_paths)s::jsonb) THEN 'moved'
            ELSE 'updated' END AS change,
       t.valid_from, t.began
FROM k8s_stage_rows s
LEFT JOIN {table} t ON t.cluster_uid = %(cluster_uid)s AND t.uid = s.uid
WHERE t.uid IS NULL OR t.resource_version IS DISTINCT FROM s.resource_version
