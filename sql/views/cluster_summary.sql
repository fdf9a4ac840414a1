-- One line per cluster: identity, nodes and how many objects of each seed kind it holds.
SELECT x.context_name,
       c.cluster_uid,
       c.kubernetes_version AS version,
       c.identity_source,
       c.node_count AS nodes,
       c.ready_node_count AS ready,
       (SELECT count(*) FROM k8s_namespaces t WHERE t.cluster_uid = c.cluster_uid) AS namespaces,
       (SELECT count(*) FROM k8s_pods t WHERE t.cluster_uid = c.cluster_uid) AS pods,
       (SELECT count(*) FROM k8s_deployments t WHERE t.cluster_uid = c.cluster_uid) AS deployments,
       (SELECT count(*) FROM k8s_services t WHERE t.cluster_uid = c.cluster_uid) AS services,
       (SELECT count(*) FROM k8s_crds t WHERE t.cluster_uid = c.cluster_uid) AS crds,
       to_char(c.last_synced_at, 'YYYY-MM-DD HH24:MI:SS') AS last_synced_at
FROM k8s_cluster_contexts x
JOIN k8s_clusters c USING (cluster_uid)
ORDER BY x.context_name
