-- The column lists of the indexes of the named tables (an expression index lists NULL).
SELECT c.relname, array_agg(a.attname ORDER BY k.ord)
FROM pg_index i
JOIN pg_class c ON c.oid = i.indrelid
CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k (attnum, ord)
LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
WHERE c.relnamespace = current_schema()::regnamespace AND c.relname = ANY (%(tables)s)
GROUP BY c.relname, i.indexrelid
