-- The uids of one resource's rows of a cluster in a shared table (a CRD's instances): what a
-- relist compares with what it listed, to end the versions of objects gone meanwhile.
SELECT uid::text FROM {table}
WHERE cluster_uid = %(cluster_uid)s AND "group" = %(group)s AND plural = %(plural)s
