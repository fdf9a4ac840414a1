-- Every served kind without a typed table (and not a custom resource): one table, filled from API
-- discovery (k8s_assets/other_resources.py). The columns are those of catalog.OTHER_RESOURCES.

SELECT k8s_assets_create_kind_table('k8s_other_resources', false, $$
    namespace  text,
    "group"    text NOT NULL,
    version    text NOT NULL,
    kind       text NOT NULL,
    plural     text NOT NULL,
    scope      text NOT NULL CHECK (scope IN ('Namespaced', 'Cluster')),
    owner_kind text,
    owner_name text,
    owner_uid  uuid
$$);
CREATE INDEX k8s_other_resources_group_plural ON k8s_other_resources ("group", plural, cluster_uid);
COMMENT ON TABLE k8s_other_resources IS
    'Every object of every listable kind a cluster serves that has no typed k8s_<kind> table and is not '
    'a custom resource (leases, endpoints, priorityclasses, ...), at the version API discovery prefers.';
