-- Where one watch stands after a batch (or a bookmark, or a change of status).
INSERT INTO k8s_watch_state AS w
    (cluster_uid, kind, context_name, status, message, resource_version, listed_at, events_applied,
     last_event_at, applied_at, lag_p50_seconds, lag_p99_seconds, lag_max_seconds, heartbeat_at)
VALUES (%(cluster_uid)s, %(kind)s, %(context_name)s, %(status)s, %(message)s, %(resource_version)s,
        %(listed_at)s, %(events)s, %(last_event_at)s, CASE WHEN %(events)s > 0 THEN clock_timestamp() END,
        %(lag_p50)s, %(lag_p99)s, %(lag_max)s, clock_timestamp())
ON CONFLICT (cluster_uid, kind) DO UPDATE SET
    context_name     = EXCLUDED.context_name,
    status           = EXCLUDED.status,
    message          = EXCLUDED.message,
    resource_version = COALESCE(EXCLUDED.resource_version, w.resource_version),
    listed_at        = COALESCE(EXCLUDED.listed_at, w.listed_at),
    events_applied   = w.events_applied + EXCLUDED.events_applied,
    last_event_at    = COALESCE(EXCLUDED.last_event_at, w.last_event_at),
    applied_at       = COALESCE(EXCLUDED.applied_at, w.applied_at),
    lag_p50_seconds  = COALESCE(EXCLUDED.lag_p50_seconds, w.lag_p50_seconds),
    lag_p99_seconds  = COALESCE(EXCLUDED.lag_p99_seconds, w.lag_p99_seconds),
    lag_max_seconds  = COALESCE(EXCLUDED.lag_max_seconds, w.lag_max_seconds),
    heartbeat_at     = EXCLUDED.heartbeat_at
