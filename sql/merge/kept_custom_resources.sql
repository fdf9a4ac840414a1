-- Stored instances of CRDs whose listing did not complete this time: merged back unchanged.
SELECT {columns} FROM k8s_custom_resources
WHERE cluster_uid = %(cluster_uid)s
  AND ("group", plural) IN (SELECT * FROM unnest(%(groups)s::text[], %(plurals)s::text[]))
