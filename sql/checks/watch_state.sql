-- Each watched kind of the context's cluster (k8s-assets watch): its status, the lag of its last
-- batch, and how long since the API server was last heard from on it.
SELECT w.kind, w.status, w.lag_p99_seconds, extract(epoch FROM now() - w.heartbeat_at)::float8 AS silent_seconds,
       w.message
FROM k8s_watch_state w
JOIN k8s_cluster_contexts c ON c.cluster_uid = w.cluster_uid
WHERE c.context_name = %(context_name)s
ORDER BY w.kind
