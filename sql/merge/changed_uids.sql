-- Listed objects that are new or whose resourceVersion moved: only these are sent in full.
SELECT s.uid
FROM k8s_stage_keys s
LEFT JOIN {table} t ON t.cluster_uid = %(cluster_uid)s AND t.uid = s.uid
WHERE t.uid IS NULL OR t.resource_version IS DISTINCT FROM s.resource_version
