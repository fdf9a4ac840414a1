-- The open versions of updated objects end now (they move to today's partition).
UPDATE {history} h SET valid_to = now(), ended = 'updated'
FROM k8s_stage_versions v
WHERE v.change = 'updated' AND h.cluster_uid = %(cluster_uid)s AND h.uid = v.uid AND h.valid_to IS NULL
