-- Objects PostgreSQL cannot take as they are.
--
-- NUL (U+0000) is legal inside Kubernetes JSON strings but neither text nor jsonb can hold it, and
-- one such string made the whole COPY of a kind fail. Extraction now stores each NUL as U+FFFD
-- and marks the row nul_replaced. Any object the database still refuses is set aside by the merge
-- and recorded in k8s_rejected_objects, so it never blocks the rest of its kind.

DO $$
DECLARE
    tbl text;
BEGIN
    -- Every kind table: the tables k8s_assets_create_kind_table made (they alone have raw and
    -- resource_version next to the (cluster_uid, uid) key).
    FOR tbl IN
        SELECT c.table_name FROM information_schema.columns c
        JOIN information_schema.tables t USING (table_schema, table_name)
        WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
          AND c.column_name IN ('raw', 'resource_version', 'uid', 'cluster_uid')
        GROUP BY c.table_name HAVING count(*) = 4
    LOOP
        EXECUTE format('ALTER TABLE %I ADD COLUMN nul_replaced boolean NOT NULL DEFAULT false', tbl);
    END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION k8s_assets_create_kind_table(tbl text, namespaced boolean, typed_columns text)
RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
    EXECUTE format(
        'CREATE TABLE %I (
            cluster_uid      uuid NOT NULL REFERENCES k8s_clusters (cluster_uid) ON DELETE CASCADE,
            uid              uuid NOT NULL,
            context_name     text NOT NULL,
            name             text NOT NULL,
            %s
            labels           jsonb,
            annotations      jsonb,
            created_at       timestamptz,
            resource_version text NOT NULL,
            raw              jsonb NOT NULL,
            nul_replaced     boolean NOT NULL DEFAULT false,
            synced_at        timestamptz NOT NULL DEFAULT now(),
            %s,
            PRIMARY KEY (cluster_uid, uid)
        )',
        tbl,
        CASE WHEN namespaced THEN 'namespace text NOT NULL,' ELSE '' END,
        typed_columns);
    IF namespaced THEN
        EXECUTE format('CREATE INDEX %I ON %I (cluster_uid, namespace, name)', tbl || '_namespace_name', tbl);
    ELSE
        EXECUTE format('CREATE INDEX %I ON %I (cluster_uid, name)', tbl || '_name', tbl);
    END IF;
    IF EXISTS (SELECT 1 FROM pg_settings
               WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)) THEN
        EXECUTE format('ALTER TABLE %I ALTER COLUMN raw SET COMPRESSION lz4', tbl);
    END IF;
END
$fn$;

CREATE TABLE k8s_rejected_objects (
    cluster_uid       uuid NOT NULL REFERENCES k8s_clusters (cluster_uid) ON DELETE CASCADE,
    kind              text NOT NULL,           -- the table name, e.g. k8s_pods
    uid               text NOT NULL,           -- text: a malformed uid is one reason to refuse an object
    context_name      text NOT NULL,
    namespace         text,
    name              text,
    resource_version  text,
    error             text NOT NULL,           -- what PostgreSQL said
    first_rejected_at timestamptz NOT NULL DEFAULT now(),
    rejected_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cluster_uid, kind, uid)
);
COMMENT ON TABLE k8s_rejected_objects IS
    'Objects the last complete listing of a kind returned but the database refused (a value out of '
    'range for its column, for example). They are set aside so the rest of the kind merges; a stored '
    'older version of such an object is kept. Each sync tries them again and replaces this list.';
