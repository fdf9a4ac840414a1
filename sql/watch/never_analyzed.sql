-- Whether a table was never analyzed (nor vacuumed): reltuples is -1 until the first ANALYZE,
-- VACUUM or CREATE INDEX gives it an estimate.
SELECT c.reltuples < 0
FROM pg_class c
WHERE c.oid = to_regclass(quote_ident(%(table)s))
