SELECT x.context_name, c.cluster_uid, c.cluster_name, c.server, c.kubernetes_version,
       c.kube_system_uid, c.identity_source, c.node_count, c.ready_node_count, c.last_synced_at
FROM k8s_cluster_contexts x JOIN k8s_clusters c USING (cluster_uid)
WHERE x.context_name = ANY (%(contexts)s)
