-- Objects whose fields have unexpected types (issue 17).
--
-- Decoding now stores an object whose fields its columns cannot read (that column NULL, raw
-- whole) instead of failing its kind, so raw may hold anything anywhere: a string where the
-- containers belong, "yes" where a boolean belongs. SQL that reads raw during a sync (the custom
-- resource views refreshed after each merge, the container images) and the views over raw must
-- not fail on such an object: they read arrays only where there is one, booleans only when they
-- are JSON true, and CRD names only when they can be names.

-- The value when it is a JSON array, else an empty one (jsonb_array_elements fails on anything else).
CREATE FUNCTION k8s_assets_jsonb_array(value jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
    SELECT CASE WHEN jsonb_typeof(value) = 'array' THEN value ELSE '[]'::jsonb END
$fn$;

CREATE OR REPLACE FUNCTION k8s_assets_refresh_cr_views() RETURNS integer
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
                FROM jsonb_array_elements(k8s_assets_jsonb_array(c.raw -> 'spec' -> 'versions')) v
                WHERE v -> 'storage' = 'true'::jsonb
                LIMIT 1) AS props
        FROM k8s_crds c
        -- A CRD stored with names no Kubernetes name can be (longer than a DNS subdomain: the
        -- ("group", plural) key of k8s_cr_views cannot hold 200 KB) or without a kind gets no view.
        WHERE c."group" IS NOT NULL AND c.plural IS NOT NULL AND c.kind IS NOT NULL
          AND octet_length(c."group") <= 253 AND octet_length(c.plural) <= 253
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
                WHEN prop.value -> 'x-kubernetes-int-or-string' = 'true'::jsonb
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


CREATE OR REPLACE VIEW k8s_pod_resources AS
SELECT p.cluster_uid, p.namespace, p.name AS pod_name, p.uid AS pod_uid, p.node_name, p.phase,
       greatest(coalesce(c.cpu_requests, 0), coalesce(i.cpu_requests, 0)) AS cpu_requests,
       greatest(coalesce(c.cpu_limits, 0), coalesce(i.cpu_limits, 0)) AS cpu_limits,
       greatest(coalesce(c.memory_requests, 0), coalesce(i.memory_requests, 0)) AS memory_requests_bytes,
       greatest(coalesce(c.memory_limits, 0), coalesce(i.memory_limits, 0)) AS memory_limits_bytes
FROM k8s_pods p
LEFT JOIN LATERAL (
    SELECT sum(k8s_assets_quantity(x -> 'resources' -> 'requests' ->> 'cpu')) AS cpu_requests,
           sum(k8s_assets_quantity(x -> 'resources' -> 'limits' ->> 'cpu')) AS cpu_limits,
           sum(k8s_assets_quantity(x -> 'resources' -> 'requests' ->> 'memory')) AS memory_requests,
           sum(k8s_assets_quantity(x -> 'resources' -> 'limits' ->> 'memory')) AS memory_limits
    FROM jsonb_array_elements(k8s_assets_jsonb_array(p.raw -> 'spec' -> 'containers')) x
) c ON true
LEFT JOIN LATERAL (
    SELECT max(k8s_assets_quantity(x -> 'resources' -> 'requests' ->> 'cpu')) AS cpu_requests,
           max(k8s_assets_quantity(x -> 'resources' -> 'limits' ->> 'cpu')) AS cpu_limits,
           max(k8s_assets_quantity(x -> 'resources' -> 'requests' ->> 'memory')) AS memory_requests,
           max(k8s_assets_quantity(x -> 'resources' -> 'limits' ->> 'memory')) AS memory_limits
    FROM jsonb_array_elements(k8s_assets_jsonb_array(p.raw -> 'spec' -> 'initContainers')) x
) i ON true;
COMMENT ON VIEW k8s_pod_resources IS 'Requests and limits of each pod as the scheduler counts them (cores, bytes).';

CREATE OR REPLACE VIEW k8s_pods_not_ready AS
SELECT w.cluster_uid,
       w.context_name,
       w.namespace,
       w.pod_name,
       w.pod_uid,
       w.node_name,
       w.phase,
       coalesce(
           (SELECT coalesce(s -> 'state' -> 'waiting' ->> 'reason', s -> 'state' -> 'terminated' ->> 'reason')
            FROM jsonb_array_elements(k8s_assets_jsonb_array(p.raw -> 'status' -> 'containerStatuses')) s
            WHERE s -> 'ready' IS DISTINCT FROM 'true'::jsonb
              AND (s -> 'state' ? 'waiting' OR s -> 'state' ? 'terminated')
            LIMIT 1),
           (SELECT c ->> 'reason' FROM jsonb_array_elements(k8s_assets_jsonb_array(p.raw -> 'status' -> 'conditions')) c
            WHERE c ->> 'type' IN ('PodScheduled', 'Ready') AND c ->> 'status' = 'False' AND c ? 'reason'
            ORDER BY c ->> 'type' LIMIT 1),
           p.raw -> 'status' ->> 'reason') AS reason,
       p.restart_count,
       w.workload_kind,
       w.workload_name,
       p.created_at,
       now() - coalesce(p.started_at, p.created_at) AS not_ready_for_at_most
FROM k8s_pod_workloads w
JOIN k8s_pods p ON p.cluster_uid = w.cluster_uid AND p.uid = w.pod_uid
WHERE p.ready IS NOT TRUE AND p.phase IS DISTINCT FROM 'Succeeded';
COMMENT ON VIEW k8s_pods_not_ready IS
    'Pods that are not Ready and not Succeeded, with the first reason found and the workload they belong to.';
