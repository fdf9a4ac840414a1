SELECT cluster_uid FROM k8s_cluster_contexts WHERE context_name = %(context_name)s
