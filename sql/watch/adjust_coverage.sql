-- Objects the watch added and deleted since the last complete listing: the coverage's count stays
-- the number of objects the cluster has, which the row_count_matches_listing check compares
-- with the stored rows, in the same transaction as the rows.
UPDATE k8s_sync_coverage
SET listed_count = listed_count + %(added)s - %(deleted)s
WHERE cluster_uid = %(cluster_uid)s AND kind = %(kind)s AND status = 'complete' AND listed_count IS NOT NULL
