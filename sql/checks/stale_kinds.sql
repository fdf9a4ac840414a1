-- Selected kinds whose listings keep failing: the last attempt failed and the last complete
-- listing is older than the allowed age (or never happened). Forbidden and not-served kinds
-- are not stale: the cluster says they cannot be listed.
SELECT kind, status, last_complete_at,
       extract(epoch FROM now() - last_complete_at)::float8 AS age_seconds
FROM k8s_sync_coverage
WHERE cluster_uid = %(cluster_uid)s
  AND kind = ANY (%(kinds)s::text[])
  AND status = 'failed'
  AND (last_complete_at IS NULL OR last_complete_at < now() - %(max_age)s)
ORDER BY kind
