-- Rows stored for one cluster (an index-only count on the (cluster_uid, uid) primary key).
SELECT count(*) FROM {table} WHERE cluster_uid = %(cluster_uid)s
