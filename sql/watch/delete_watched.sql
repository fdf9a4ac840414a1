-- DELETED events: each row moves into the history as a version that ended 'deleted' when its
-- event arrived (never before the version began). A row the scheduled sync wrote at a newer
-- resourceVersion than the event's is left alone.
WITH events AS (
    SELECT * FROM unnest(%(uids)s::uuid[], %(versions)s::text[], %(arrived)s::timestamptz[])
        AS e(uid, resource_version, arrived_at)
), gone AS (
    DELETE FROM {table} t
    USING events e
    WHERE t.cluster_uid = %(cluster_uid)s AND t.uid = e.uid
      AND NOT (t.resource_version ~ '^[0-9]+$' AND e.resource_version ~ '^[0-9]+$'
               AND t.resource_version::numeric > e.resource_version::numeric)
    RETURNING t.*, e.arrived_at
), ended AS (
    INSERT INTO {history} ({columns}, valid_to, ended)
    SELECT {columns}, GREATEST(arrived_at, valid_from), 'deleted' FROM gone
    RETURNING 1
)
SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM ended)
