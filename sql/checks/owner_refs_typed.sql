-- The controlling owner reference of each row, from the kind's owner_* columns.
SELECT t.cluster_uid, {namespace} AS namespace, t.name,
       t.owner_kind, t.owner_name, t.owner_uid
FROM {table} t
WHERE t.cluster_uid = %(cluster_uid)s
  AND t.owner_uid IS NOT NULL
