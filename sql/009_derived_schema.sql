-- From here on the kind tables are derived from the catalog (k8s_assets/store/schema.py): a kind
-- table is created with k8s_assets_create_kind_table, a typed column the catalog gains is added
-- with the function below, and every derived statement is recorded in k8s_assets_schema_changes.

-- A typed column the catalog gained: on the kind table, on its history (the partitioned parent:
-- every partition) and in its as-of function, which lists the table's columns. The rows'
-- resource_version is cleared so that the next sync rewrites every row and fills the column.
CREATE FUNCTION k8s_assets_add_kind_column(tbl text, col text, typ text)
RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
    sql_type text := format_type(typ::regtype, NULL);
    hist     text;
BEGIN
    EXECUTE format('ALTER TABLE %I ADD COLUMN %I %s', tbl, col, sql_type);
    SELECT history_table INTO hist FROM k8s_history_tables WHERE kind = tbl;
    IF hist IS NOT NULL THEN
        EXECUTE format('ALTER TABLE %I ADD COLUMN %I %s', hist, col, sql_type);
        EXECUTE format(
            'CREATE OR REPLACE FUNCTION %I(ts timestamptz) RETURNS SETOF %I LANGUAGE sql STABLE AS %L',
            tbl || '_as_of', tbl,
            format('SELECT %s FROM %I WHERE valid_from <= ts AND (valid_to IS NULL OR valid_to > ts)',
                   k8s_assets_table_columns(tbl), hist));
    END IF;
    EXECUTE format('UPDATE %I SET resource_version = %L', tbl, '');
END
$fn$;
