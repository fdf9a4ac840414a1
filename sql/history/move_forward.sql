-- Objects that changed only at ignored paths: the open version takes the new values in place.
UPDATE {history} h SET ({columns}) = ({staged_columns})
FROM k8s_stage_rows s JOIN k8s_stage_versions v ON v.uid = s.uid
WHERE v.change = 'moved' AND h.cluster_uid = %(cluster_uid)s AND h.uid = s.uid AND h.valid_to IS NULL
