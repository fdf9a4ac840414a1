-- What the last listing of each kind saw in this cluster (complete, forbidden, not_served, failed).
SELECT kind, status, last_complete_at, synced_at
FROM k8s_sync_coverage
WHERE cluster_uid = %(cluster_uid)s
