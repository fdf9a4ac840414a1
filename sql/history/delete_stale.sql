-- Only ever run after a complete listing: rows of this cluster the listing no longer contains
-- are deleted, and their open versions end as 'deleted' (the history keeps them).
WITH gone AS (
    DELETE FROM {table} t
    WHERE t.cluster_uid = %(cluster_uid)s
      AND NOT EXISTS (SELECT 1 FROM k8s_stage_keys s WHERE s.uid = t.uid)
    RETURNING t.uid
), closed AS (
    UPDATE {history} h SET valid_to = now(), ended = 'deleted'
    FROM gone
    WHERE h.cluster_uid = %(cluster_uid)s AND h.uid = gone.uid AND h.valid_to IS NULL
    RETURNING 1
)
SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM closed)
