-- A watch event at or below the stored row's resourceVersion changes nothing: the scheduled sync
-- (or another context of the same cluster) already wrote that version or a newer one. Versions
-- are compared as the etcd revisions every kube-apiserver gives; any other form is applied.
DELETE FROM k8s_stage_rows s
USING {table} t
WHERE t.cluster_uid = %(cluster_uid)s AND t.uid = s.uid
  AND t.resource_version ~ '^[0-9]+$' AND s.resource_version ~ '^[0-9]+$'
  AND t.resource_version::numeric >= s.resource_version::numeric
