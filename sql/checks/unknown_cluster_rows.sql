-- Rows written by this context whose cluster_uid has no k8s_clusters row.
-- The distinct cluster_uids of the table are found with a loose index scan over the
-- (cluster_uid, uid) primary key: one index probe per cluster, not one per row.
WITH RECURSIVE ids AS (
    (SELECT t.cluster_uid FROM {table} t ORDER BY t.cluster_uid LIMIT 1)
    UNION ALL
    SELECT (SELECT t.cluster_uid FROM {table} t WHERE t.cluster_uid > ids.cluster_uid
            ORDER BY t.cluster_uid LIMIT 1)
    FROM ids
    WHERE ids.cluster_uid IS NOT NULL
), unknown AS (
    SELECT ids.cluster_uid FROM ids
    WHERE ids.cluster_uid IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM k8s_clusters c WHERE c.cluster_uid = ids.cluster_uid)
)
SELECT count(*) OVER () AS offending, {namespace} AS namespace, t.name,
       'cluster_uid ' || t.cluster_uid::text AS detail
FROM {table} t
JOIN unknown u ON u.cluster_uid = t.cluster_uid
WHERE t.context_name = %(context_name)s
ORDER BY 2, 3
LIMIT 5
