-- After a complete listing: objects refused before and not refused now were stored, changed or deleted.
DELETE FROM k8s_rejected_objects
WHERE cluster_uid = %(cluster_uid)s AND kind = %(kind)s AND uid <> ALL (%(uids)s::text[])
