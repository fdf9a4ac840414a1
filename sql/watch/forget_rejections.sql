-- Objects with a newer event in this batch are no longer rejected for an older version: their
-- rejection goes, as a complete listing forgets the objects it no longer refuses
-- (merge/forget_rejections.sql). Those this batch sets aside or the database refuses again are
-- recorded anew right after, in the same transaction.
DELETE FROM k8s_rejected_objects
WHERE cluster_uid = %(cluster_uid)s AND kind = %(kind)s AND uid = ANY (%(uids)s::text[])
