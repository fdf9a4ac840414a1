-- Names held by more than one row of this cluster (a kind's objects are unique by
-- namespace and name); grouped along the (cluster_uid[, namespace], name) index.
WITH duplicated AS (
    SELECT {namespace} AS namespace, t.name, count(*) AS copies,
           string_agg(t.uid::text, ', ' ORDER BY t.uid) AS uids
    FROM {table} t
    WHERE t.cluster_uid = %(cluster_uid)s
    GROUP BY 1, 2
    HAVING count(*) > 1
)
SELECT sum(copies) OVER ()::bigint AS offending,
       count(*) OVER () AS duplicate_names,
       namespace, name,
       copies::text || ' rows: uids ' || uids AS detail
FROM duplicated
ORDER BY namespace, name
LIMIT 5
