INSERT INTO k8s_sync_coverage_history (cluster_uid, kind, status, message, valid_from)
SELECT %(cluster_uid)s, %(kind)s, %(status)s, %(message)s, now()
WHERE NOT EXISTS (SELECT 1 FROM k8s_sync_coverage_history
                  WHERE cluster_uid = %(cluster_uid)s AND kind = %(kind)s AND valid_to IS NULL)
