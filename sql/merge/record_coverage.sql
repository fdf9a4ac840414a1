INSERT INTO k8s_sync_coverage AS c
    (cluster_uid, kind, context_name, status, listed_count, resource_version, message, synced_at, last_complete_at)
VALUES (%(cluster_uid)s, %(kind)s, %(context_name)s, %(status)s, %(listed_count)s, %(resource_version)s,
        %(message)s, now(), CASE WHEN %(status)s = 'complete' THEN now() END)
ON CONFLICT (cluster_uid, kind) DO UPDATE SET
    context_name     = EXCLUDED.context_name,
    status           = EXCLUDED.status,
    listed_count     = EXCLUDED.listed_count,
    resource_version = EXCLUDED.resource_version,
    message          = EXCLUDED.message,
    synced_at        = EXCLUDED.synced_at,
    last_complete_at = COALESCE(EXCLUDED.last_complete_at, c.last_complete_at)
RETURNING (SELECT status FROM k8s_sync_coverage
           WHERE cluster_uid = %(cluster_uid)s AND kind = %(kind)s) AS previous_status
