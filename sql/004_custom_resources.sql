-- Custom resources: one table for every instance of every served CRD, and one view per CRD
-- with the top-level properties of its spec schema as typed columns.

SELECT k8s_assets_create_kind_table('k8s_custom_resources', false, $$
    namespace text,
    "group"   text NOT NULL,
    version   text NOT NULL,
    kind      text NOT NULL,
    plural    text NOT NULL,
    scope     text NOT NULL CHECK (scope IN ('Namespaced', 'Cluster')),
    spec      jsonb,
    status    jsonb
$$);
CREATE INDEX k8s_custom_resources_group_plural ON k8s_custom_resources ("group", plural, cluster_uid);
COMMENT ON TABLE k8s_custom_resources IS
    'Every instance of every CustomResourceDefinition a cluster serves, listed once per CRD at its '
    'storage version. group, version, kind, plural and scope come from the CRD and API discovery. '
    'Each CRD also has a view k8s_cr_<group>_<plural> (see k8s_cr_views).';

-- jsonb -> typed values that never raise: a value of the wrong JSON type becomes NULL, so one odd
-- object cannot break SELECT * on a view.
CREATE FUNCTION k8s_assets_jsonb_bigint(v jsonb) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN jsonb_typeof(v) = 'number' AND v::text ~ '^-?[0-9]{1,18}$' THEN v::text::bigint END
$$;
CREATE FUNCTION k8s_assets_jsonb_numeric(v jsonb) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN jsonb_typeof(v) = 'number' THEN v::text::numeric END
$$;
CREATE FUNCTION k8s_assets_jsonb_boolean(v jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN jsonb_typeof(v) = 'boolean' THEN v::text::boolean END
$$;
CREATE FUNCTION k8s_assets_jsonb_text(v jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN jsonb_typeof(v) = 'string' THEN v #>> '{}' WHEN v IS NULL OR jsonb_typeof(v) = 'null' THEN NULL
                ELSE v::text END
$$;

-- An identifier from free text: lower snake_case, [a-z0-9_] only, at most 63 bytes.
CREATE FUNCTION k8s_assets_snake(name text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT left(trim(BOTH '_' FROM regexp_replace(
               lower(regexp_replace(regexp_replace(name, '([a-z0-9])([A-Z])', '\1_\2', 'g'),
                                    '([A-Z]+)([A-Z][a-z])', '\1_\2', 'g')),
               '[^a-z0-9]+', '_', 'g')), 63)
$$;

CREATE TABLE k8s_cr_views (
    view_name  text PRIMARY KEY,
    "group"    text NOT NULL,
    plural     text NOT NULL,
    kind       text NOT NULL,
    version    text,                       -- the storage version whose schema gave the columns
    columns    text[] NOT NULL,            -- the typed spec columns, in order
    definition text NOT NULL,              -- the SELECT the view runs; unchanged: not recreated
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE ("group", plural)
);
COMMENT ON TABLE k8s_cr_views IS
    'One view per CustomResourceDefinition (group, plural) over k8s_custom_resources, with the '
    'top-level spec properties of the CRD''s storage-version schema as typed columns.';

-- (Re)creates the view of every CRD known in k8s_crds (the most recently synced definition of
-- each group/plural across clusters), and drops views of CRDs no cluster has any more. A view
-- is only rebuilt when its definition changed, so a re-sync of 2,000 unchanged CRDs is cheap.
-- Serialised by an advisory transaction lock. Returns the number of views created or dropped.
CREATE FUNCTION k8s_assets_refresh_cr_views() RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE
    crd        record;
    prop       record;
    base_cols  text[] := ARRAY['cluster_uid', 'uid', 'context_name', 'namespace', 'name', 'version',
                               'labels', 'annotations', 'created_at', 'spec', 'status'];
    used       text[];
    cols       text[];
    selects    text;
    col_name   text;
    expr       text;
    vname      text;
    definition text;
    existing   record;
    changed    integer := 0;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('k8s_cr_views'), 0);
    FOR crd IN
        SELECT DISTINCT ON (c."group", c.plural)
               c."group", c.plural, c.kind, c.storage_version,
               (SELECT v -> 'schema' -> 'openAPIV3Schema' -> 'properties' -> 'spec' -> 'properties'
                FROM jsonb_array_elements(c.raw -> 'spec' -> 'versions') v
                WHERE (v ->> 'storage')::boolean
                LIMIT 1) AS props
        FROM k8s_crds c
        WHERE c."group" IS NOT NULL AND c.plural IS NOT NULL
        ORDER BY c."group", c.plural, c.synced_at DESC
    LOOP
        used := base_cols;
        cols := ARRAY[]::text[];
        selects := '';
        FOR prop IN
            SELECT key, value FROM jsonb_each(CASE WHEN jsonb_typeof(crd.props) = 'object' THEN crd.props END)
            ORDER BY key
        LOOP
            col_name := k8s_assets_snake(prop.key);
            IF col_name = '' OR col_name = ANY (used) THEN
                col_name := left('spec_' || col_name, 63);
            END IF;
            CONTINUE WHEN col_name = ANY (used);
            used := used || col_name;
            cols := cols || col_name;
            expr := CASE
                WHEN (prop.value ->> 'x-kubernetes-int-or-string')::boolean
                    THEN format('k8s_assets_jsonb_text(r.spec -> %L)', prop.key)
                WHEN prop.value ->> 'type' = 'string' THEN format('(r.spec ->> %L)', prop.key)
                WHEN prop.value ->> 'type' = 'integer' THEN format('k8s_assets_jsonb_bigint(r.spec -> %L)', prop.key)
                WHEN prop.value ->> 'type' = 'number' THEN format('k8s_assets_jsonb_numeric(r.spec -> %L)', prop.key)
                WHEN prop.value ->> 'type' = 'boolean' THEN format('k8s_assets_jsonb_boolean(r.spec -> %L)', prop.key)
                ELSE format('(r.spec -> %L)', prop.key)
            END;
            selects := selects || format(', %s AS %I', expr, col_name);
        END LOOP;
        definition := format(
            'SELECT r.cluster_uid, r.uid, r.context_name, r.namespace, r.name, r.version%s, r.labels, '
            'r.annotations, r.created_at, r.spec, r.status FROM k8s_custom_resources r '
            'WHERE r."group" = %L AND r.plural = %L',
            selects, crd."group", crd.plural);

        SELECT * INTO existing FROM k8s_cr_views WHERE "group" = crd."group" AND plural = crd.plural;
        IF FOUND AND existing.definition = definition THEN
            CONTINUE;
        END IF;
        IF FOUND THEN
            vname := existing.view_name;
        ELSE
            vname := 'k8s_cr_' || regexp_replace(lower(crd."group" || '_' || crd.plural), '[^a-z0-9]+', '_', 'g');
            IF octet_length(vname) > 63
               OR EXISTS (SELECT 1 FROM k8s_cr_views WHERE view_name = vname)
               OR EXISTS (SELECT 1 FROM pg_class WHERE relname = vname AND relnamespace = current_schema()::regnamespace) THEN
                -- Too long for an identifier, or taken: a stable hash keeps it unique.
                vname := left(vname, 54) || '_' || left(md5(crd."group" || '/' || crd.plural), 8);
            END IF;
        END IF;
        EXECUTE format('DROP VIEW IF EXISTS %I', vname);
        EXECUTE format('CREATE VIEW %I AS %s', vname, definition);
        EXECUTE format('COMMENT ON VIEW %I IS %L', vname,
                       format('%s (%s/%s) custom resources of every cluster; typed columns from the CRD''s spec schema.',
                              crd.kind, crd."group", crd.storage_version));
        INSERT INTO k8s_cr_views (view_name, "group", plural, kind, version, columns, definition)
        VALUES (vname, crd."group", crd.plural, crd.kind, crd.storage_version, cols, definition)
        ON CONFLICT ("group", plural) DO UPDATE SET
            kind = EXCLUDED.kind, version = EXCLUDED.version, columns = EXCLUDED.columns,
            definition = EXCLUDED.definition, updated_at = now();
        changed := changed + 1;
    END LOOP;

    FOR existing IN
        SELECT v.view_name FROM k8s_cr_views v
        WHERE NOT EXISTS (SELECT 1 FROM k8s_crds c WHERE c."group" = v."group" AND c.plural = v.plural)
    LOOP
        EXECUTE format('DROP VIEW IF EXISTS %I', existing.view_name);
        DELETE FROM k8s_cr_views WHERE view_name = existing.view_name;
        changed := changed + 1;
    END LOOP;
    RETURN changed;
END
$fn$;
