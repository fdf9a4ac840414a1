SELECT count(*) FROM {table} WHERE cluster_uid = %(cluster_uid)s
