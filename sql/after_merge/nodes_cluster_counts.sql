-- After nodes are merged, keep the cluster's node counts in step, in the same transaction.
UPDATE k8s_clusters c
SET node_count       = n.total,
    ready_node_count = n.ready
FROM (SELECT count(*) AS total, count(*) FILTER (WHERE ready) AS ready
      FROM k8s_nodes WHERE cluster_uid = %(cluster_uid)s) n
WHERE c.cluster_uid = %(cluster_uid)s;
