-- Staged rows are new or changed by construction; the WHERE guards a race with another context
-- of the same cluster that wrote the same version first (then the row is left as it is).
WITH written AS (
    INSERT INTO {table} AS t ({columns})
    SELECT {columns} FROM k8s_stage_rows
    ON CONFLICT (cluster_uid, uid) DO UPDATE SET {assignments}
    WHERE t.resource_version IS DISTINCT FROM EXCLUDED.resource_version
    RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM written
