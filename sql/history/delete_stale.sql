-- Only ever run after a complete listing: rows of this cluster the listing no longer contains
-- are deleted and move into the history as versions that ended 'deleted'.
WITH gone AS (
    DELETE FROM {table} t
    WHERE t.cluster_uid = %(cluster_uid)s
      AND NOT EXISTS (SELECT 1 FROM k8s_stage_keys s WHERE s.uid = t.uid)
    RETURNING t.*
), ended AS (
    INSERT INTO {history} ({columns}, valid_to, ended)
    SELECT {columns}, now(), 'deleted' FROM gone
    RETURNING 1
)
SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM ended)
