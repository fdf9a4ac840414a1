-- New versions of created and updated objects begin now.
INSERT INTO {history} ({columns}, valid_from, began)
SELECT {staged_columns}, now(), v.change
FROM k8s_stage_rows s JOIN k8s_stage_versions v ON v.uid = s.uid
WHERE v.change IN ('created', 'updated')
