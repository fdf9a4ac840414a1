-- History: every version of every object, each cluster as it was at any moment (docs/history.md).
--
-- Per kind table k8s_<kind> there is k8s_<kind>_history: the table's columns, plus valid_from,
-- valid_to (NULL while current), began ('first_seen', 'created', 'updated') and ended
-- ('updated', 'deleted'). It is partitioned by RANGE (valid_to):
--   * k8s_<kind>_history_open, the DEFAULT partition, holds the open versions (valid_to IS NULL),
--     one per current row; its CHECK (valid_to IS NULL) lets day partitions be created without
--     scanning it;
--   * k8s_<kind>_history_YYYYMMDD holds the versions that ended on that UTC day.
-- Retention therefore drops whole days of ended versions (DROP TABLE of a partition, never a
-- row-by-row DELETE), and never touches an open version: an as-of query for any moment after
-- the retention horizon stays exact, because every version valid then ended after it.

CREATE TABLE k8s_history_tables (
    kind          text PRIMARY KEY,              -- the current table, e.g. k8s_pods
    history_table text NOT NULL UNIQUE,          -- k8s_pods_history
    namespaced    boolean NOT NULL,
    kept_since    timestamptz                    -- versions that ended before this were dropped; NULL: none
);
COMMENT ON TABLE k8s_history_tables IS
    'One row per kind table with a history; kept_since says from when on the history is complete '
    '(retention dropped the versions that ended earlier).';

CREATE TABLE k8s_history_partitions (
    partition_name text PRIMARY KEY,
    history_table  text NOT NULL REFERENCES k8s_history_tables (history_table) ON DELETE CASCADE,
    day            date NOT NULL,                -- UTC day on which the versions it holds ended
    UNIQUE (history_table, day)
);

-- Coverage has history too: one row per period in which a kind's listings of a cluster had one status.
CREATE TABLE k8s_sync_coverage_history (
    cluster_uid uuid NOT NULL REFERENCES k8s_clusters (cluster_uid) ON DELETE CASCADE,
    kind        text NOT NULL,
    status      text NOT NULL CHECK (status IN ('complete', 'forbidden', 'not_served', 'failed')),
    message     text,
    valid_from  timestamptz NOT NULL,
    valid_to    timestamptz,
    PRIMARY KEY (cluster_uid, kind, valid_from)
);
CREATE UNIQUE INDEX k8s_sync_coverage_history_open ON k8s_sync_coverage_history (cluster_uid, kind)
    WHERE valid_to IS NULL;
INSERT INTO k8s_sync_coverage_history (cluster_uid, kind, status, message, valid_from)
SELECT cluster_uid, kind, status, message, coalesce(last_complete_at, synced_at) FROM k8s_sync_coverage;

-- The columns of a kind table, in order, quoted: what its history and as-of function repeat.
CREATE FUNCTION k8s_assets_table_columns(tbl text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum)
    FROM pg_attribute WHERE attrelid = tbl::regclass AND attnum > 0 AND NOT attisdropped
$$;

-- Creates the missing day partitions of a history table for [first_day, first_day + days).
-- Called before a merge (in a transaction of its own: creating a partition locks the parent)
-- and by the retention step, for a week ahead, so a merge never has to create one.
CREATE FUNCTION k8s_assets_ensure_history_partitions(hist text, first_day date, days integer)
RETURNS integer LANGUAGE plpgsql AS $fn$
DECLARE
    d       date;
    part    text;
    created integer := 0;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM generate_series(first_day, first_day + days - 1, interval '1 day') g(day)
                   WHERE NOT EXISTS (SELECT 1 FROM k8s_history_partitions p
                                     WHERE p.history_table = hist AND p.day = g.day::date)) THEN
        RETURN 0;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('k8s_history_partitions'), hashtext(hist));
    FOR d IN SELECT g::date FROM generate_series(first_day, first_day + days - 1, interval '1 day') g LOOP
        part := hist || '_' || to_char(d, 'YYYYMMDD');
        CONTINUE WHEN EXISTS (SELECT 1 FROM k8s_history_partitions WHERE partition_name = part);
        EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)', part, hist,
                       d::timestamp AT TIME ZONE 'UTC', (d + 1)::timestamp AT TIME ZONE 'UTC');
        INSERT INTO k8s_history_partitions (partition_name, history_table, day) VALUES (part, hist, d);
        created := created + 1;
    END LOOP;
    RETURN created;
END
$fn$;

-- Drops the day partitions of ended versions older than the retention (0 days: all of them,
-- today's included), records the new horizon in kept_since, returns what was dropped.
CREATE FUNCTION k8s_assets_drop_history(keep_days integer)
RETURNS TABLE (history_table text, partition_name text, day date)
LANGUAGE plpgsql AS $fn$
DECLARE
    cutoff timestamptz := CASE WHEN keep_days = 0
                               THEN (((now() AT TIME ZONE 'UTC')::date + 1)::timestamp AT TIME ZONE 'UTC')
                               ELSE now() - keep_days * interval '1 day' END;
    p      record;
BEGIN
    FOR p IN SELECT k.history_table, k.partition_name, k.day FROM k8s_history_partitions k
             WHERE ((k.day + 1)::timestamp AT TIME ZONE 'UTC') <= cutoff
             ORDER BY k.history_table, k.day LOOP
        EXECUTE format('DROP TABLE %I', p.partition_name);
        DELETE FROM k8s_history_partitions k WHERE k.partition_name = p.partition_name;
        UPDATE k8s_history_tables t
        SET kept_since = greatest(t.kept_since, (p.day + 1)::timestamp AT TIME ZONE 'UTC')
        WHERE t.history_table = p.history_table;
        history_table := p.history_table; partition_name := p.partition_name; day := p.day;
        RETURN NEXT;
    END LOOP;
END
$fn$;

-- Creates k8s_<kind>_history for a kind table, its open partition, indexes, foreign key and the
-- as-of function k8s_<kind>_as_of(ts) returning the kind table's own row type; the rows
-- already stored become open versions (began 'first_seen', valid_from their synced_at).
CREATE FUNCTION k8s_assets_create_history(tbl text) RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
    hist       text := tbl || '_history';
    cols       text := k8s_assets_table_columns(tbl);
    namespaced boolean := EXISTS (SELECT 1 FROM pg_attribute
                                  WHERE attrelid = tbl::regclass AND attname = 'namespace' AND NOT attisdropped);
BEGIN
    EXECUTE format(
        'CREATE TABLE %I (
            LIKE %I INCLUDING DEFAULTS INCLUDING COMPRESSION,
            valid_from timestamptz NOT NULL,
            valid_to   timestamptz,
            began      text NOT NULL CHECK (began IN (''first_seen'', ''created'', ''updated'')),
            ended      text CHECK (ended IN (''updated'', ''deleted'')),
            CHECK ((valid_to IS NULL) = (ended IS NULL)),
            FOREIGN KEY (cluster_uid) REFERENCES k8s_clusters (cluster_uid) ON DELETE CASCADE
        ) PARTITION BY RANGE (valid_to)', hist, tbl);
    EXECUTE format('CREATE TABLE %I PARTITION OF %I (CHECK (valid_to IS NULL)) DEFAULT', hist || '_open', hist);
    EXECUTE format('CREATE INDEX %I ON %I (cluster_uid, uid, valid_from)', hist || '_uid', hist);
    IF namespaced THEN
        EXECUTE format('CREATE INDEX %I ON %I (namespace, valid_from)', hist || '_namespace', hist);
    END IF;
    EXECUTE format('INSERT INTO %I (%s, valid_from, began) SELECT %s, synced_at, ''first_seen'' FROM %I',
                   hist, cols, cols, tbl);
    EXECUTE format(
        'CREATE FUNCTION %I(ts timestamptz) RETURNS SETOF %I LANGUAGE sql STABLE AS %L',
        tbl || '_as_of', tbl,
        format('SELECT %s FROM %I WHERE valid_from <= ts AND (valid_to IS NULL OR valid_to > ts)', cols, hist));
    EXECUTE format('COMMENT ON FUNCTION %I(timestamptz) IS %L', tbl || '_as_of',
                   'The rows ' || tbl || ' held at a moment, from ' || hist || '. Check k8s_coverage_as_of(ts) '
                   'for kinds that were forbidden, not yet synced or dropped by retention then.');
    INSERT INTO k8s_history_tables (kind, history_table, namespaced) VALUES (tbl, hist, namespaced);
    PERFORM k8s_assets_refresh_changes_view();
END
$fn$;

-- k8s_changes: one row per change of any object of any kind, across clusters. A version that
-- began 'updated' is joined to its predecessor (which ended at the same instant: both are set
-- by the same merge) for the old resourceVersion and the top-level parts that differ.
CREATE FUNCTION k8s_assets_refresh_changes_view() RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
    branches text;
BEGIN
    SELECT string_agg(format($q$
        SELECT h.valid_from AS changed_at, h.cluster_uid, h.context_name, h.raw ->> 'kind' AS kind, %2$L AS kind_table,
               %3$s AS namespace, h.name, h.uid, h.began AS change,
               p.resource_version AS old_resource_version, h.resource_version AS new_resource_version,
               CASE WHEN h.began = 'updated' THEN array_remove(ARRAY[
                   CASE WHEN h.raw -> 'spec' IS DISTINCT FROM p.raw -> 'spec' THEN 'spec' END,
                   CASE WHEN h.raw -> 'status' IS DISTINCT FROM p.raw -> 'status' THEN 'status' END,
                   CASE WHEN h.labels IS DISTINCT FROM p.labels THEN 'labels' END,
                   CASE WHEN h.annotations IS DISTINCT FROM p.annotations THEN 'annotations' END,
                   CASE WHEN h.raw -> 'metadata' -> 'ownerReferences'
                             IS DISTINCT FROM p.raw -> 'metadata' -> 'ownerReferences' THEN 'owner' END,
                   CASE WHEN h.raw - 'metadata' - 'spec' - 'status' IS DISTINCT FROM p.raw - 'metadata' - 'spec' - 'status'
                        THEN 'other' END], NULL) END AS changed_parts
        FROM %1$I h
        LEFT JOIN %1$I p ON h.began = 'updated' AND p.cluster_uid = h.cluster_uid AND p.uid = h.uid
                        AND p.valid_to = h.valid_from
        UNION ALL
        SELECT h.valid_to, h.cluster_uid, h.context_name, h.raw ->> 'kind', %2$L, %3$s, h.name, h.uid, 'deleted',
               h.resource_version, NULL, NULL
        FROM %1$I h WHERE h.ended = 'deleted' AND h.valid_to IS NOT NULL$q$,
        history_table, kind, CASE WHEN namespaced THEN 'h.namespace' ELSE 'NULL::text' END),
        E'\nUNION ALL' ORDER BY kind)
    INTO branches FROM k8s_history_tables;
    EXECUTE 'CREATE OR REPLACE VIEW k8s_changes AS ' || branches;
    COMMENT ON VIEW k8s_changes IS
        'Every change of every object: changed_at (when a sync first saw it), cluster, context, kind, namespace, '
        'name, change (first_seen: there when history began; created, updated, deleted), old and new '
        'resourceVersion, and for updates the top-level parts that changed (spec, status, labels, '
        'annotations, owner, other).';
END
$fn$;

-- Every kind created from now on gets its history with its table: adding a kind stays one line.
ALTER FUNCTION k8s_assets_create_kind_table(text, boolean, text) RENAME TO k8s_assets_create_kind_table_without_history;
CREATE FUNCTION k8s_assets_create_kind_table(tbl text, namespaced boolean, typed_columns text)
RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM k8s_assets_create_kind_table_without_history(tbl, namespaced, typed_columns);
    PERFORM k8s_assets_create_history(tbl);
END
$fn$;

-- The history of every kind table that exists (each has resource_version and raw).
SELECT k8s_assets_create_history(c.relname)
FROM pg_class c
WHERE c.relkind = 'r' AND c.relnamespace = 'public'::regnamespace AND c.relname LIKE 'k8s\_%'
  AND c.relname NOT LIKE '%\_history%'
  AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'resource_version')
  AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'raw')
ORDER BY c.relname;

-- Each kind's coverage at a moment: complete, forbidden, not_served, failed (the listing failed;
-- the rows shown are those of the last complete listing), not_synced (no listing of the kind in
-- that cluster had happened yet) or history_dropped (retention dropped versions that may have
-- been valid then). Custom resource kinds ('k8s_custom_resources:<plural>.<group>') are listed too.
CREATE FUNCTION k8s_coverage_as_of(ts timestamptz)
RETURNS TABLE (cluster_uid uuid, context_name text, kind text, status text, message text, since timestamptz)
LANGUAGE sql STABLE AS $$
    WITH kinds AS (
        SELECT kind FROM k8s_history_tables
        UNION
        SELECT DISTINCT kind FROM k8s_sync_coverage_history
    )
    SELECT c.cluster_uid, c.context_name, k.kind,
           CASE WHEN ts < t.kept_since THEN 'history_dropped'
                WHEN v.status IS NULL THEN 'not_synced'
                ELSE v.status END,
           v.message, v.valid_from
    FROM k8s_clusters c
    CROSS JOIN kinds k
    LEFT JOIN k8s_history_tables t ON t.kind = split_part(k.kind, ':', 1)
    LEFT JOIN LATERAL (
        SELECT h.status, h.message, h.valid_from FROM k8s_sync_coverage_history h
        WHERE h.cluster_uid = c.cluster_uid AND h.kind = k.kind
          AND h.valid_from <= ts AND (h.valid_to IS NULL OR h.valid_to > ts)
    ) v ON true
$$;

-- Any kind at a moment, by name ('k8s_pods'), with the columns every kind shares; raises a
-- NOTICE for every cluster whose coverage of that kind was not complete then.
CREATE FUNCTION k8s_objects_as_of(kind_table text, ts timestamptz)
RETURNS TABLE (cluster_uid uuid, uid uuid, context_name text, namespace text, name text,
               resource_version text, raw jsonb, valid_from timestamptz)
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    h   record;
    gap record;
BEGIN
    SELECT * INTO h FROM k8s_history_tables t WHERE t.kind = kind_table;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no history for %: not a kind table (see k8s_history_tables)', kind_table;
    END IF;
    FOR gap IN SELECT * FROM k8s_coverage_as_of(ts) c WHERE c.kind = kind_table AND c.status <> 'complete' LOOP
        RAISE NOTICE '% of % (%) at %: %', kind_table, gap.context_name, gap.cluster_uid, ts, gap.status;
    END LOOP;
    RETURN QUERY EXECUTE format(
        'SELECT cluster_uid, uid, context_name, %s, name, resource_version, raw, valid_from FROM %I
         WHERE valid_from <= $1 AND (valid_to IS NULL OR valid_to > $1)',
        CASE WHEN h.namespaced THEN 'namespace' ELSE 'NULL::text' END, h.history_table) USING ts;
END
$fn$;

-- Image rollouts: every version of a workload whose images differ from its previous version
-- (first_seen and created versions too: the images it started with).
CREATE VIEW k8s_image_rollouts AS
SELECT h.valid_from AS rolled_out_at, h.cluster_uid, h.context_name, 'Deployment' AS workload_kind, h.namespace,
       h.name AS workload_name, h.began, p.images AS previous_images, h.images
FROM k8s_deployments_history h
LEFT JOIN k8s_deployments_history p ON h.began = 'updated' AND p.cluster_uid = h.cluster_uid AND p.uid = h.uid
                                   AND p.valid_to = h.valid_from
WHERE p.uid IS NULL OR h.images IS DISTINCT FROM p.images
UNION ALL
SELECT h.valid_from, h.cluster_uid, h.context_name, 'StatefulSet', h.namespace, h.name, h.began, p.images, h.images
FROM k8s_statefulsets_history h
LEFT JOIN k8s_statefulsets_history p ON h.began = 'updated' AND p.cluster_uid = h.cluster_uid AND p.uid = h.uid
                                    AND p.valid_to = h.valid_from
WHERE p.uid IS NULL OR h.images IS DISTINCT FROM p.images
UNION ALL
SELECT h.valid_from, h.cluster_uid, h.context_name, 'DaemonSet', h.namespace, h.name, h.began, p.images, h.images
FROM k8s_daemonsets_history h
LEFT JOIN k8s_daemonsets_history p ON h.began = 'updated' AND p.cluster_uid = h.cluster_uid AND p.uid = h.uid
                                  AND p.valid_to = h.valid_from
WHERE p.uid IS NULL OR h.images IS DISTINCT FROM p.images;
COMMENT ON VIEW k8s_image_rollouts IS
    'Each version of a Deployment, StatefulSet or DaemonSet whose images differ from the version before it.';

-- Pods per namespace per UTC day: the pods that existed at any time of that day (as far as the
-- history knows: from the first version on, and never before kept_since).
CREATE VIEW k8s_namespace_pods_per_day AS
WITH days AS (
    SELECT d::date AS day
    FROM generate_series((SELECT min(valid_from) AT TIME ZONE 'UTC' FROM k8s_pods_history)::date,
                         (now() AT TIME ZONE 'UTC')::date, interval '1 day') d
)
SELECT d.day, h.cluster_uid, max(h.context_name) AS context_name, h.namespace, count(DISTINCT h.uid) AS pods
FROM days d
JOIN k8s_pods_history h ON h.valid_from < ((d.day + 1)::timestamp AT TIME ZONE 'UTC')
                       AND (h.valid_to IS NULL OR h.valid_to > (d.day::timestamp AT TIME ZONE 'UTC'))
GROUP BY d.day, h.cluster_uid, h.namespace;

CREATE VIEW k8s_deleted_last_day AS
SELECT changed_at AS deleted_at, cluster_uid, context_name, kind, kind_table, namespace, name, uid,
       old_resource_version AS last_resource_version
FROM k8s_changes
WHERE change = 'deleted' AND changed_at > now() - interval '1 day';

-- Noise: a new resourceVersion whose object differs from the stored one only at a kind's
-- ignored paths (catalog.Kind.ignored_paths) moves the open version forward instead of making
-- a new one. A path is a JSON array of keys; "[]" stands for every element of an array.
CREATE FUNCTION k8s_assets_without_path(doc jsonb, path text[]) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $fn$
DECLARE
    head text := path[1];
    rest text[] := path[2:];
BEGIN
    IF doc IS NULL OR head IS NULL THEN
        RETURN doc;
    END IF;
    IF head = '[]' THEN
        IF jsonb_typeof(doc) <> 'array' THEN
            RETURN doc;
        END IF;
        RETURN coalesce((SELECT jsonb_agg(k8s_assets_without_path(e, rest) ORDER BY i)
                         FROM jsonb_array_elements(doc) WITH ORDINALITY a(e, i)), '[]'::jsonb);
    END IF;
    IF jsonb_typeof(doc) <> 'object' OR NOT doc ? head THEN
        RETURN doc;
    END IF;
    IF cardinality(rest) = 0 THEN
        RETURN doc - head;
    END IF;
    RETURN jsonb_set(doc, ARRAY[head], k8s_assets_without_path(doc -> head, rest));
END
$fn$;

CREATE FUNCTION k8s_assets_without_paths(doc jsonb, paths jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $fn$
DECLARE
    p jsonb;
BEGIN
    FOR p IN SELECT jsonb_array_elements(paths) LOOP
        doc := k8s_assets_without_path(doc, ARRAY(SELECT jsonb_array_elements_text(p)));
    END LOOP;
    RETURN doc;
END
$fn$;
