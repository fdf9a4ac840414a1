INSERT INTO k8s_clusters AS c
    (cluster_uid, context_name, cluster_name, server, kubernetes_version, kube_system_uid,
     identity_source, last_synced_at)
VALUES (%(cluster_uid)s, %(context_name)s, %(cluster_name)s, %(server)s, %(kubernetes_version)s,
        %(kube_system_uid)s, %(identity_source)s, %(last_synced_at)s)
ON CONFLICT (cluster_uid) DO UPDATE SET
    context_name       = EXCLUDED.context_name,
    cluster_name       = EXCLUDED.cluster_name,
    server             = EXCLUDED.server,
    kubernetes_version = EXCLUDED.kubernetes_version,
    kube_system_uid    = EXCLUDED.kube_system_uid,
    identity_source    = EXCLUDED.identity_source,
    last_synced_at     = EXCLUDED.last_synced_at
RETURNING (xmax = 0) AS inserted
