-- The comments of the named tables ('' as the column) and of their columns.
SELECT c.relname, coalesce(a.attname, ''), d.description
FROM pg_description d
JOIN pg_class c ON c.oid = d.objoid AND d.classoid = 'pg_class'::regclass
LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = d.objsubid AND d.objsubid > 0
WHERE c.relnamespace = current_schema()::regnamespace AND c.relname = ANY (%(tables)s)
