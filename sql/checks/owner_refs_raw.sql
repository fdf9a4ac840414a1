-- The controlling owner reference (controller: true) of each row, from the stored object.
SELECT t.cluster_uid, {namespace} AS namespace, t.name,
       r.ref->>'kind' AS owner_kind, r.ref->>'name' AS owner_name,
       CASE WHEN length(r.ref->>'uid') = 36 AND r.ref->>'uid' ~* '^[0-9a-f-]+$'
            THEN (r.ref->>'uid')::uuid END AS owner_uid
FROM {table} t
CROSS JOIN LATERAL jsonb_array_elements(
    CASE WHEN jsonb_typeof(t.raw->'metadata'->'ownerReferences') = 'array'
         THEN t.raw->'metadata'->'ownerReferences' END) AS r(ref)
WHERE t.cluster_uid = %(cluster_uid)s
  AND t.raw->'metadata' ? 'ownerReferences'
  AND (r.ref->>'controller') = 'true'
