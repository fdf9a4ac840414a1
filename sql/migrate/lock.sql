-- Every migrating process takes the same session lock; the others wait, then find nothing to do.
SELECT pg_advisory_lock(%s)
