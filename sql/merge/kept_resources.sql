-- Stored rows of a shared table's resources (CRDs, other served kinds) whose listing did not
-- complete this time: merged back unchanged.
SELECT {columns} FROM {table}
WHERE cluster_uid = %(cluster_uid)s
  AND ("group", plural) IN (SELECT * FROM unnest(%(groups)s::text[], %(plurals)s::text[]))
