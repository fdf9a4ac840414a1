INSERT INTO k8s_cluster_contexts (context_name, cluster_uid, cluster_name, server, last_synced_at)
VALUES (%(context_name)s, %(cluster_uid)s, %(cluster_name)s, %(server)s, %(last_synced_at)s)
ON CONFLICT (context_name) DO UPDATE SET
    cluster_uid    = EXCLUDED.cluster_uid,
    cluster_name   = EXCLUDED.cluster_name,
    server         = EXCLUDED.server,
    last_synced_at = EXCLUDED.last_synced_at
