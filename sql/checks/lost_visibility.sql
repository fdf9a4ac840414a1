-- Kinds (and, for custom resources, CRDs) of the context's cluster that were listed completely
-- before and are forbidden now: RBAC was narrowed and their rows stopped being current.
SELECT v.kind, coalesce(x.context_name, v.context_name), v.last_complete_at, v.synced_at, v.message
FROM k8s_sync_coverage v
LEFT JOIN k8s_clusters x ON x.cluster_uid = v.cluster_uid
WHERE (v.kind = %(kind)s OR v.kind LIKE %(prefix)s)
  AND (%(context)s::text IS NULL
       OR v.cluster_uid = (SELECT cluster_uid FROM k8s_cluster_contexts WHERE context_name = %(context)s))
  AND v.status = 'forbidden' AND v.last_complete_at IS NOT NULL
ORDER BY 2, 1
