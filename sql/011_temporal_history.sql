-- Temporal history (docs/history.md): the current row is the open version, the way SQL:2011
-- system-versioned tables (MariaDB, SQL Server, the temporal_tables extension) keep it.
--
-- Until now each kind's history held an open version of every current row (the DEFAULT partition
-- k8s_<kind>_history_open): a second full copy of the table, raw included, written on every first
-- sync. From here on:
--   * the kind table has valid_from (when a sync first saw this version) and began ('first_seen',
--     'created', 'updated'): its rows are the open versions;
--   * k8s_<kind>_history holds only versions that ended (valid_to and ended NOT NULL), partitioned
--     by the UTC day they ended, as before; retention is unchanged;
--   * an update moves the stored row into the history and writes the new one; a delete moves it;
--     a first sync writes each object once.
-- The as-of functions, k8s_objects_as_of, k8s_changes and the views read the union of the two and
-- keep their contracts. This migration converts a database in place: the open versions' valid_from
-- and began move onto the current rows, and the open partitions go.

-- 1. Each kind table takes its open versions' valid_from and began; the open partitions go.
DO $convert$
DECLARE
    t record;
BEGIN
    FOR t IN SELECT kind, history_table FROM k8s_history_tables ORDER BY kind LOOP
        EXECUTE format('ALTER TABLE %I ADD COLUMN valid_from timestamptz, ADD COLUMN began text', t.kind);
        EXECUTE format(
            'UPDATE %I c SET valid_from = h.valid_from, began = h.began FROM %I h
             WHERE h.cluster_uid = c.cluster_uid AND h.uid = c.uid AND h.valid_to IS NULL',
            t.kind, t.history_table);
        -- A current row without an open version (none if the check history_matches_current held):
        -- its version is as old as its row.
        EXECUTE format('UPDATE %I SET valid_from = synced_at, began = ''first_seen'' WHERE valid_from IS NULL',
                       t.kind);
        EXECUTE format(
            'ALTER TABLE %I
                ALTER COLUMN valid_from SET DEFAULT now(), ALTER COLUMN valid_from SET NOT NULL,
                ALTER COLUMN began SET DEFAULT ''first_seen'', ALTER COLUMN began SET NOT NULL,
                ADD CONSTRAINT %I CHECK (began IN (''first_seen'', ''created'', ''updated''))',
            t.kind, t.kind || '_began');
        EXECUTE format('DROP TABLE IF EXISTS %I', t.history_table || '_open');
        EXECUTE format('ALTER TABLE %I ALTER COLUMN valid_to SET NOT NULL, ALTER COLUMN ended SET NOT NULL',
                       t.history_table);
    END LOOP;
END
$convert$;

-- 2. The as-of function of a kind: the current rows that had begun at ts, and the ended versions
-- valid at ts. One SQL statement, so the planner inlines it: filters reach the indexes, and the
-- history's day partitions that ended before ts are pruned.
CREATE FUNCTION k8s_assets_create_as_of(tbl text) RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
    cols text := k8s_assets_table_columns(tbl);
    hist text := tbl || '_history';
BEGIN
    EXECUTE format(
        'CREATE OR REPLACE FUNCTION %I(ts timestamptz) RETURNS SETOF %I LANGUAGE sql STABLE AS %L',
        tbl || '_as_of', tbl,
        format('SELECT %s FROM %I WHERE valid_from <= ts
                UNION ALL
                SELECT %s FROM %I WHERE valid_from <= ts AND valid_to > ts', cols, tbl, cols, hist));
    EXECUTE format('COMMENT ON FUNCTION %I(timestamptz) IS %L', tbl || '_as_of',
                   'The rows ' || tbl || ' held at a moment: its current rows that had begun then and the '
                   'ended versions of ' || hist || ' valid then. Check k8s_coverage_as_of(ts) for kinds that '
                   'were forbidden, not yet synced or dropped by retention then.');
END
$fn$;

SELECT k8s_assets_create_as_of(kind) FROM k8s_history_tables ORDER BY kind;

-- 3. A kind created from now on: its table gains the version columns, its history holds ended versions.
CREATE OR REPLACE FUNCTION k8s_assets_create_history(tbl text) RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
    hist       text := tbl || '_history';
    namespaced boolean := EXISTS (SELECT 1 FROM pg_attribute
                                  WHERE attrelid = tbl::regclass AND attname = 'namespace' AND NOT attisdropped);
BEGIN
    EXECUTE format(
        'ALTER TABLE %I
            ADD COLUMN valid_from timestamptz NOT NULL DEFAULT now(),
            ADD COLUMN began text NOT NULL DEFAULT ''first_seen''
                CONSTRAINT %I CHECK (began IN (''first_seen'', ''created'', ''updated''))',
        tbl, tbl || '_began');
    EXECUTE format(
        'CREATE TABLE %I (
            LIKE %I INCLUDING DEFAULTS INCLUDING COMPRESSION,
            valid_to   timestamptz NOT NULL,
            ended      text NOT NULL CHECK (ended IN (''updated'', ''deleted'')),
            FOREIGN KEY (cluster_uid) REFERENCES k8s_clusters (cluster_uid) ON DELETE CASCADE
        ) PARTITION BY RANGE (valid_to)', hist, tbl);
    EXECUTE format('CREATE INDEX %I ON %I (cluster_uid, uid, valid_from)', hist || '_uid', hist);
    IF namespaced THEN
        EXECUTE format('CREATE INDEX %I ON %I (namespace, valid_from)', hist || '_namespace', hist);
    END IF;
    INSERT INTO k8s_history_tables (kind, history_table, namespaced) VALUES (tbl, hist, namespaced);
    PERFORM k8s_assets_create_as_of(tbl);
    PERFORM k8s_assets_refresh_changes_view();
END
$fn$;

-- 4. A typed column the catalog gained: on the kind table, its history and its as-of function. The
-- rows' resource_version is cleared so that the next sync rewrites every row and fills the column.
CREATE OR REPLACE FUNCTION k8s_assets_add_kind_column(tbl text, col text, typ text)
RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
    sql_type text := format_type(typ::regtype, NULL);
    hist     text;
BEGIN
    EXECUTE format('ALTER TABLE %I ADD COLUMN %I %s', tbl, col, sql_type);
    SELECT history_table INTO hist FROM k8s_history_tables WHERE kind = tbl;
    IF hist IS NOT NULL THEN
        EXECUTE format('ALTER TABLE %I ADD COLUMN %I %s', hist, col, sql_type);
        PERFORM k8s_assets_create_as_of(tbl);
    END IF;
    EXECUTE format('UPDATE %I SET resource_version = %L', tbl, '');
END
$fn$;

-- 5. Any kind at a moment, by name, with the columns every kind shares.
CREATE OR REPLACE FUNCTION k8s_objects_as_of(kind_table text, ts timestamptz)
RETURNS TABLE (cluster_uid uuid, uid uuid, context_name text, namespace text, name text,
               resource_version text, raw jsonb, valid_from timestamptz)
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    h   record;
    gap record;
    ns  text;
BEGIN
    SELECT * INTO h FROM k8s_history_tables t WHERE t.kind = kind_table;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no history for %: not a kind table (see k8s_history_tables)', kind_table;
    END IF;
    FOR gap IN SELECT * FROM k8s_coverage_as_of(ts) c WHERE c.kind = kind_table AND c.status <> 'complete' LOOP
        RAISE NOTICE '% of % (%) at %: %', kind_table, gap.context_name, gap.cluster_uid, ts, gap.status;
    END LOOP;
    ns := CASE WHEN h.namespaced THEN 'namespace' ELSE 'NULL::text' END;
    RETURN QUERY EXECUTE format(
        'SELECT cluster_uid, uid, context_name, %1$s, name, resource_version, raw, valid_from FROM %2$I
         WHERE valid_from <= $1
         UNION ALL
         SELECT cluster_uid, uid, context_name, %1$s, name, resource_version, raw, valid_from FROM %3$I
         WHERE valid_from <= $1 AND valid_to > $1',
        ns, h.kind, h.history_table) USING ts;
END
$fn$;

-- 6. k8s_changes: every version of every kind (current and ended) is a change when it began; an
-- ended version that ended 'deleted' is one more. An 'updated' version's predecessor is the ended
-- version that ended at the instant it began (both written by the same merge).
CREATE OR REPLACE FUNCTION k8s_assets_refresh_changes_view() RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
    branches text;
BEGIN
    SELECT string_agg(format($q$
        SELECT v.valid_from AS changed_at, v.cluster_uid, v.context_name, v.raw ->> 'kind' AS kind, %2$L AS kind_table,
               %3$s AS namespace, v.name, v.uid, v.began AS change,
               p.resource_version AS old_resource_version, v.resource_version AS new_resource_version,
               CASE WHEN v.began = 'updated' THEN array_remove(ARRAY[
                   CASE WHEN v.raw -> 'spec' IS DISTINCT FROM p.raw -> 'spec' THEN 'spec' END,
                   CASE WHEN v.raw -> 'status' IS DISTINCT FROM p.raw -> 'status' THEN 'status' END,
                   CASE WHEN v.labels IS DISTINCT FROM p.labels THEN 'labels' END,
                   CASE WHEN v.annotations IS DISTINCT FROM p.annotations THEN 'annotations' END,
                   CASE WHEN v.raw -> 'metadata' -> 'ownerReferences'
                             IS DISTINCT FROM p.raw -> 'metadata' -> 'ownerReferences' THEN 'owner' END,
                   CASE WHEN v.raw - 'metadata' - 'spec' - 'status' IS DISTINCT FROM p.raw - 'metadata' - 'spec' - 'status'
                        THEN 'other' END], NULL) END AS changed_parts
        FROM (SELECT cluster_uid, uid, context_name, %4$s, name, resource_version, raw, labels, annotations,
                     valid_from, began FROM %5$I
              UNION ALL
              SELECT cluster_uid, uid, context_name, %4$s, name, resource_version, raw, labels, annotations,
                     valid_from, began FROM %1$I) v
        LEFT JOIN %1$I p ON v.began = 'updated' AND p.cluster_uid = v.cluster_uid AND p.uid = v.uid
                        AND p.valid_to = v.valid_from
        UNION ALL
        SELECT h.valid_to, h.cluster_uid, h.context_name, h.raw ->> 'kind', %2$L, %6$s, h.name, h.uid, 'deleted',
               h.resource_version, NULL, NULL
        FROM %1$I h WHERE h.ended = 'deleted'$q$,
        history_table, kind, CASE WHEN namespaced THEN 'v.namespace' ELSE 'NULL::text' END,
        CASE WHEN namespaced THEN 'namespace' ELSE 'NULL::text AS namespace' END, kind,
        CASE WHEN namespaced THEN 'h.namespace' ELSE 'NULL::text' END),
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

SELECT k8s_assets_refresh_changes_view();

-- 7. The views over versions read the current rows and the ended versions.
CREATE OR REPLACE VIEW k8s_image_rollouts AS
WITH versions AS (
    SELECT 'Deployment' AS workload_kind, cluster_uid, uid, context_name, namespace, name, images, valid_from, began,
           NULL::timestamptz AS valid_to FROM k8s_deployments
    UNION ALL
    SELECT 'Deployment', cluster_uid, uid, context_name, namespace, name, images, valid_from, began, valid_to
    FROM k8s_deployments_history
    UNION ALL
    SELECT 'StatefulSet', cluster_uid, uid, context_name, namespace, name, images, valid_from, began, NULL
    FROM k8s_statefulsets
    UNION ALL
    SELECT 'StatefulSet', cluster_uid, uid, context_name, namespace, name, images, valid_from, began, valid_to
    FROM k8s_statefulsets_history
    UNION ALL
    SELECT 'DaemonSet', cluster_uid, uid, context_name, namespace, name, images, valid_from, began, NULL
    FROM k8s_daemonsets
    UNION ALL
    SELECT 'DaemonSet', cluster_uid, uid, context_name, namespace, name, images, valid_from, began, valid_to
    FROM k8s_daemonsets_history
)
SELECT h.valid_from AS rolled_out_at, h.cluster_uid, h.context_name, h.workload_kind, h.namespace,
       h.name AS workload_name, h.began, p.images AS previous_images, h.images
FROM versions h
LEFT JOIN versions p ON h.began = 'updated' AND p.workload_kind = h.workload_kind AND p.cluster_uid = h.cluster_uid
                    AND p.uid = h.uid AND p.valid_to = h.valid_from
WHERE p.uid IS NULL OR h.images IS DISTINCT FROM p.images;

CREATE OR REPLACE VIEW k8s_namespace_pods_per_day AS
WITH versions AS (
    SELECT cluster_uid, uid, context_name, namespace, valid_from, NULL::timestamptz AS valid_to FROM k8s_pods
    UNION ALL
    SELECT cluster_uid, uid, context_name, namespace, valid_from, valid_to FROM k8s_pods_history
), days AS (
    SELECT d::date AS day
    FROM generate_series((SELECT min(valid_from) AT TIME ZONE 'UTC' FROM versions)::date,
                         (now() AT TIME ZONE 'UTC')::date, interval '1 day') d
)
SELECT d.day, h.cluster_uid, max(h.context_name) AS context_name, h.namespace, count(DISTINCT h.uid) AS pods
FROM days d
JOIN versions h ON h.valid_from < ((d.day + 1)::timestamp AT TIME ZONE 'UTC')
               AND (h.valid_to IS NULL OR h.valid_to > (d.day::timestamp AT TIME ZONE 'UTC'))
GROUP BY d.day, h.cluster_uid, h.namespace;
