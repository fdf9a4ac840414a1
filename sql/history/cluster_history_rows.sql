-- Versions stored for one cluster (all partitions), and how many of them are open.
SELECT count(*), count(*) FILTER (WHERE valid_to IS NULL) FROM {history} WHERE cluster_uid = %(cluster_uid)s
