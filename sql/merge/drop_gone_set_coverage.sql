-- Coverage rows of resources a shared table no longer has (CRDs deleted, kinds gone).
DELETE FROM k8s_sync_coverage
WHERE cluster_uid = %(cluster_uid)s AND kind LIKE %(prefix)s AND kind <> ALL (%(kinds)s)
