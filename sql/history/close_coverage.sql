-- A new status of a kind's listings ends its open coverage period (open_coverage.sql begins the next).
UPDATE k8s_sync_coverage_history SET valid_to = now()
WHERE cluster_uid = %(cluster_uid)s AND kind = %(kind)s AND valid_to IS NULL AND status <> %(status)s
