-- uid -> resourceVersion of a cluster's rows: read before listing, so unchanged objects are
-- neither serialized nor sent (the merge compares versions again under its lock).
SELECT uid::text, resource_version FROM {table} WHERE cluster_uid = %(cluster_uid)s
