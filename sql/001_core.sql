-- Core tables: clusters, the kubeconfig contexts that reach them, and what each sync could see.

CREATE TABLE k8s_clusters (
    cluster_uid        uuid PRIMARY KEY,
    context_name       text NOT NULL,          -- the context that last synced this cluster
    cluster_name       text,                   -- the kubeconfig cluster entry of that context
    server             text,
    kubernetes_version text,
    kube_system_uid    uuid,
    identity_source    text NOT NULL CHECK (identity_source IN ('kube-system', 'server-url')),
    node_count         integer,
    ready_node_count   integer,
    first_synced_at    timestamptz NOT NULL DEFAULT now(),
    last_synced_at     timestamptz NOT NULL
);
COMMENT ON TABLE k8s_clusters IS
    'One row per Kubernetes cluster. cluster_uid is UUID5 of the kube-system namespace UID '
    '(the OpenTelemetry k8s.cluster.uid convention), or of the API server URL where kube-system '
    'cannot be read (identity_source says which). DELETE a row to forget a cluster and everything in it.';

CREATE TABLE k8s_cluster_contexts (
    context_name   text PRIMARY KEY,
    cluster_uid    uuid NOT NULL REFERENCES k8s_clusters (cluster_uid) ON DELETE CASCADE,
    cluster_name   text,
    server         text,
    last_synced_at timestamptz NOT NULL
);
CREATE INDEX k8s_cluster_contexts_cluster_uid ON k8s_cluster_contexts (cluster_uid);
COMMENT ON TABLE k8s_cluster_contexts IS
    'Every kubeconfig context that reached a cluster; several contexts may share one cluster.';

CREATE TABLE k8s_sync_coverage (
    cluster_uid      uuid NOT NULL REFERENCES k8s_clusters (cluster_uid) ON DELETE CASCADE,
    kind             text NOT NULL,            -- the table name, e.g. k8s_pods
    context_name     text NOT NULL,
    status           text NOT NULL CHECK (status IN ('complete', 'forbidden', 'not_served', 'failed')),
    listed_count     integer,
    resource_version text,
    message          text,
    synced_at        timestamptz NOT NULL,
    last_complete_at timestamptz,              -- the last time this kind was listed completely
    PRIMARY KEY (cluster_uid, kind)
);
COMMENT ON TABLE k8s_sync_coverage IS
    'For each cluster and kind, whether the last sync listed it completely, was forbidden, '
    'was not served by the cluster, or failed. Forbidden is not the same as empty.';

-- Creates a kind table with the columns every kind shares, its key, its foreign key to the
-- cluster and its indexes; typed_columns is the kind's own column list. Identifiers are quoted
-- with format('%I'); the column list comes from our own migrations, never from user input.
CREATE FUNCTION k8s_assets_create_kind_table(tbl text, namespaced boolean, typed_columns text)
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
    -- lz4 halves the cost of storing whole objects (PostgreSQL 14+ built with lz4).
    IF EXISTS (SELECT 1 FROM pg_settings
               WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)) THEN
        EXECUTE format('ALTER TABLE %I ALTER COLUMN raw SET COMPRESSION lz4', tbl);
    END IF;
END
$fn$;
