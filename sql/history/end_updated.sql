-- The stored rows of updated objects are versions that end now: they move into the history
-- (today's partition) before the upsert overwrites them.
INSERT INTO {history} ({columns}, valid_to, ended)
SELECT {stored_columns}, now(), 'updated'
FROM {table} t JOIN k8s_stage_versions v ON v.uid = t.uid AND v.change = 'updated'
WHERE t.cluster_uid = %(cluster_uid)s
