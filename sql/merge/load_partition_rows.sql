-- The rows a partition (kubeconfig context) owns: those of the cluster its context reaches.
SELECT t.* FROM {table} t
JOIN k8s_cluster_contexts x ON x.cluster_uid = t.cluster_uid
WHERE x.context_name = ANY (%(contexts)s)
