SELECT count(*) FILTER (WHERE status = 'complete'), count(*) FILTER (WHERE status = 'forbidden'),
       count(*) FILTER (WHERE status = 'not_served'), count(*) FILTER (WHERE status = 'failed')
FROM k8s_sync_coverage
WHERE (kind = %(kind)s OR kind LIKE %(prefix)s)
  AND (%(context)s::text IS NULL
       OR cluster_uid = (SELECT cluster_uid FROM k8s_cluster_contexts WHERE context_name = %(context)s))
