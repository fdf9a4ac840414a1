-- The cluster a kubeconfig context reached when it was last synced, and whether that
-- cluster still has its k8s_clusters row (the foreign key says it must).
SELECT x.cluster_uid, c.cluster_uid IS NOT NULL AS cluster_stored
FROM k8s_cluster_contexts x
LEFT JOIN k8s_clusters c ON c.cluster_uid = x.cluster_uid
WHERE x.context_name = %(context_name)s
