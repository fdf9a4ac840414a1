-- Objects the cluster has of a kind, as the inventory knows them: the last complete listing's
-- count, moved by the objects a watch added and deleted since (store/watched.py).
SELECT listed_count FROM k8s_sync_coverage
WHERE cluster_uid = %(cluster_uid)s AND kind = %(kind)s AND status = 'complete'
