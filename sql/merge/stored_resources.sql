-- The resources of a shared table that have rows of the cluster, with kind and scope as last stored.
SELECT DISTINCT ON ("group", plural) "group", plural, kind, scope
FROM {table}
WHERE cluster_uid = %(cluster_uid)s
ORDER BY "group", plural, synced_at DESC
