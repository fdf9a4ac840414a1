SELECT EXISTS (SELECT 1 FROM {table} WHERE cluster_uid = %(cluster_uid)s)
