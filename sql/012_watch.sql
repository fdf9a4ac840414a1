-- The watcher (k8s-assets watch, k8s_assets/watcher.py): where each watch of each cluster's kind
-- stands, written in the same transaction as each batch of events it applies. A restarted
-- watcher resumes from resource_version; the watch_keeping_up check reads the lag and the heartbeat.

CREATE TABLE k8s_watch_state (
    cluster_uid      uuid NOT NULL REFERENCES k8s_clusters (cluster_uid) ON DELETE CASCADE,
    -- The kind's table, or <table>:<plural>.<group> for one resource of a shared table (as in
    -- k8s_sync_coverage).
    kind             text NOT NULL,
    context_name     text NOT NULL,
    status           text NOT NULL CHECK (status IN ('watching', 'relisting', 'forbidden', 'failed', 'stopped')),
    message          text,
    -- Of the last event or bookmark applied: a watch resumes after it.
    resource_version text,
    -- When this watch began from a complete listing (or a streaming list's initial events).
    listed_at        timestamptz,
    events_applied   bigint NOT NULL DEFAULT 0,
    -- The arrival of the newest event applied, and when its batch committed.
    last_event_at    timestamptz,
    applied_at       timestamptz,
    -- Lag of the last batch: from an event's arrival to its batch's commit, in seconds.
    lag_p50_seconds  double precision,
    lag_p99_seconds  double precision,
    lag_max_seconds  double precision,
    -- The last sign of life from the API server (an event, a bookmark, a new watch), so an idle
    -- kind is told from a dead watch.
    heartbeat_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cluster_uid, kind)
);
COMMENT ON TABLE k8s_watch_state IS
    'One row per watched kind (or shared-table resource) of each cluster: the resourceVersion the '
    'watch resumes from, the events applied, and the lag from an event''s arrival to its commit.';
