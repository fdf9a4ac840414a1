-- Serialises concurrent merges of one table for one cluster (two runs of the same partition,
-- or two contexts that reach the same cluster); released when the transaction ends.
SELECT pg_advisory_xact_lock(hashtext(%(table)s), hashtext(%(cluster_uid)s::text))
