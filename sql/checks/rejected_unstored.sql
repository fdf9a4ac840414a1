-- Objects the last complete listing returned that the database refused and holds no version of:
-- they were listed but cannot be among the stored rows.
SELECT count(*) FROM k8s_rejected_objects r
WHERE r.cluster_uid = %(cluster_uid)s AND r.kind = %(kind)s
  AND NOT EXISTS (SELECT 1 FROM {table} t WHERE t.cluster_uid = r.cluster_uid AND t.uid::text = r.uid)
