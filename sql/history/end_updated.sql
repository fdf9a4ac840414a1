-- The stored rows of updated objects are versions that end when the new version was seen (the
-- staged valid_from: now() for a listing, the event's arrival for a watch): they move into the
-- history before the upsert overwrites them.
INSERT INTO {history} ({columns}, valid_to, ended)
SELECT {stored_columns}, GREATEST(s.valid_from, t.valid_from), 'updated'
FROM {table} t JOIN k8s_stage_versions v ON v.uid = t.uid AND v.change = 'updated'
JOIN k8s_stage_rows s ON s.uid = t.uid
WHERE t.cluster_uid = %(cluster_uid)s
