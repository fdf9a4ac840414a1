-- Namespaced rows of this cluster whose namespace has no k8s_namespaces row.
-- A namespace outlives its contents (it stays Terminating until they are gone), so a
-- missing namespace means lost rows -- unless the object was created after the namespaces
-- were listed (its namespace is then newer than the listing): those are counted apart.
WITH missing AS (
    SELECT t.namespace, t.name,
           (t.created_at IS NOT NULL AND t.created_at >= %(namespaces_listed_at)s) AS newer_than_listing
    FROM {table} t
    WHERE t.cluster_uid = %(cluster_uid)s
      AND t.namespace IS NOT NULL  -- shared tables: cluster-scoped resources' rows
      AND NOT EXISTS (SELECT 1 FROM k8s_namespaces n
                      WHERE n.cluster_uid = t.cluster_uid AND n.name = t.namespace)
)
SELECT count(*) FILTER (WHERE NOT newer_than_listing) OVER () AS offending,
       count(*) FILTER (WHERE newer_than_listing) OVER () AS created_after_namespace_listing,
       namespace,
       CASE WHEN newer_than_listing THEN NULL ELSE name END AS name,
       'namespace ' || namespace || ' not stored' AS detail
FROM missing
ORDER BY newer_than_listing, namespace, name
LIMIT 5
