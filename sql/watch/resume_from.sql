-- The resourceVersion a watch of this kind last applied, if it was watching when it last wrote
-- (a watch that failed, was forbidden or was relisting starts again from a listing).
SELECT resource_version FROM k8s_watch_state
WHERE cluster_uid = %(cluster_uid)s AND kind = %(kind)s AND status IN ('watching', 'stopped') AND resource_version IS NOT NULL
