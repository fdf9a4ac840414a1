-- Scheduled rows of this cluster (node_name set) whose node has no k8s_nodes row.
SELECT count(*) OVER () AS offending, {namespace} AS namespace, t.name,
       'node ' || t.node_name || ' not stored' AS detail
FROM {table} t
WHERE t.cluster_uid = %(cluster_uid)s
  AND t.node_name IS NOT NULL AND t.node_name <> ''
  AND NOT EXISTS (SELECT 1 FROM k8s_nodes n WHERE n.cluster_uid = t.cluster_uid AND n.name = t.node_name)
ORDER BY 2, 3
LIMIT 5
