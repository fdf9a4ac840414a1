-- Coverage rows of CRDs the cluster no longer defines.
DELETE FROM k8s_sync_coverage
WHERE cluster_uid = %(cluster_uid)s AND kind LIKE %(prefix)s AND kind <> ALL (%(kinds)s)
