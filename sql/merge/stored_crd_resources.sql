-- (group, plural) of the CRDs last stored for the cluster: custom resources, when CRDs cannot be listed now.
SELECT "group", plural FROM k8s_crds
WHERE cluster_uid = %(cluster_uid)s AND "group" IS NOT NULL AND plural IS NOT NULL
