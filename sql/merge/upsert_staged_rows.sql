-- Staged rows are new or changed by construction; the WHERE guards a race with another context
-- of the same cluster that wrote the same version first (then the row is left as it is). A new
-- version begins when it was seen (the staged valid_from: now() for a listing, the event's arrival
-- for a watch, never before the stored version began); a row whose change touched only ignored
-- paths keeps its version's start.
WITH written AS (
    INSERT INTO {table} AS t ({columns}, valid_from, began)
    SELECT {staged_columns},
           CASE WHEN v.change = 'moved' THEN v.valid_from ELSE GREATEST(s.valid_from, v.valid_from) END,
           CASE WHEN v.change = 'moved' THEN v.began ELSE v.change END
    FROM k8s_stage_rows s JOIN k8s_stage_versions v ON v.uid = s.uid
    ON CONFLICT (cluster_uid, uid) DO UPDATE SET {assignments}
    WHERE t.resource_version IS DISTINCT FROM EXCLUDED.resource_version
    RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM written
