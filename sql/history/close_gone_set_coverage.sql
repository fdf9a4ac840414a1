-- Coverage periods of resources a shared table no longer has (CRDs deleted, kinds gone) end now.
UPDATE k8s_sync_coverage_history SET valid_to = now()
WHERE cluster_uid = %(cluster_uid)s AND kind LIKE %(prefix)s AND kind <> ALL (%(kinds)s) AND valid_to IS NULL
