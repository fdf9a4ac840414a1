-- The six kinds of the original plugin. Typed columns match catalog.KINDS (test_catalog checks).

SELECT k8s_assets_create_kind_table('k8s_namespaces', false, $$
    phase text
$$);

SELECT k8s_assets_create_kind_table('k8s_nodes', false, $$
    ready                    boolean,
    roles                    text[],
    kubelet_version          text,
    os                       text,
    arch                     text,
    os_image                 text,
    container_runtime        text,
    capacity_cpu             numeric,
    capacity_memory_bytes    bigint,
    capacity_pods            integer,
    allocatable_cpu          numeric,
    allocatable_memory_bytes bigint,
    allocatable_pods         integer,
    unschedulable            boolean,
    taints                   jsonb,
    provider_id              text
$$);

SELECT k8s_assets_create_kind_table('k8s_pods', true, $$
    phase           text,
    node_name       text,
    pod_ip          text,
    host_ip         text,
    qos_class       text,
    ready           boolean,
    restart_count   integer,
    images          text[],
    service_account text,
    priority_class  text,
    started_at      timestamptz,
    owner_kind      text,
    owner_name      text,
    owner_uid       uuid
$$);
CREATE INDEX k8s_pods_node_name ON k8s_pods (cluster_uid, node_name);
CREATE INDEX k8s_pods_owner_uid ON k8s_pods (cluster_uid, owner_uid);

SELECT k8s_assets_create_kind_table('k8s_deployments', true, $$
    replicas           integer,
    ready_replicas     integer,
    available_replicas integer,
    updated_replicas   integer,
    images             text[],
    strategy           text,
    selector           jsonb,
    paused             boolean
$$);

SELECT k8s_assets_create_kind_table('k8s_services', true, $$
    type                  text,
    cluster_ip            text,
    external_ips          text[],
    load_balancer_ingress jsonb,
    ports                 jsonb,
    selector              jsonb
$$);

SELECT k8s_assets_create_kind_table('k8s_crds', false, $$
    "group"         text,
    kind            text,
    plural          text,
    scope           text,
    versions        text[],
    storage_version text
$$);
