-- Rows of a history table over all its partitions and clusters, as the planner last counted them:
-- free, where an exact count per cluster would read every version at scale.
SELECT coalesce(sum(greatest(c.reltuples, 0)), 0)::bigint
FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = %(history_table)s::regclass
