-- Objects listed at the version read before the merge's lock (key only, not sent) whose stored
-- row another writer of this cluster changed or deleted since: that writer's row is left as it is.
SELECT count(*)
FROM k8s_stage_keys k
LEFT JOIN {table} t ON t.cluster_uid = %(cluster_uid)s AND t.uid = k.uid
WHERE NOT k.sent AND (t.uid IS NULL OR t.resource_version IS DISTINCT FROM k.resource_version)
