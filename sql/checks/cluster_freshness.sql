-- When the cluster this context reaches was last synced, and how long ago (database clock).
SELECT c.cluster_uid, c.last_synced_at, x.last_synced_at AS context_last_synced_at,
       extract(epoch FROM now() - c.last_synced_at)::float8 AS age_seconds
FROM k8s_cluster_contexts x
JOIN k8s_clusters c ON c.cluster_uid = x.cluster_uid
WHERE x.context_name = %(context_name)s
