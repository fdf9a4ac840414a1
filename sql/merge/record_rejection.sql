INSERT INTO k8s_rejected_objects AS r
    (cluster_uid, kind, uid, context_name, namespace, name, resource_version, error)
VALUES (%(cluster_uid)s, %(kind)s, %(uid)s, %(context_name)s, %(namespace)s, %(name)s, %(resource_version)s,
        %(error)s)
ON CONFLICT (cluster_uid, kind, uid) DO UPDATE SET
    context_name     = EXCLUDED.context_name,
    namespace        = EXCLUDED.namespace,
    name             = EXCLUDED.name,
    resource_version = EXCLUDED.resource_version,
    error            = EXCLUDED.error,
    rejected_at      = now()
