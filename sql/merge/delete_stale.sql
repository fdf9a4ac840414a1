-- Only ever run after a complete listing: rows of this cluster the listing no longer contains.
DELETE FROM {table} t
WHERE t.cluster_uid = %(cluster_uid)s
  AND NOT EXISTS (SELECT 1 FROM k8s_stage_keys s WHERE s.uid = t.uid)
