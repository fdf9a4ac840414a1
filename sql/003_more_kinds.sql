-- The built-in kinds a platform team asks about, one table each (catalog.KINDS after the seed six).
-- Typed columns match catalog.KINDS (test_catalog checks). Secrets and ConfigMaps store no values
-- unless configured: see catalog.redact_secret and catalog.configmap_redactor.

SELECT k8s_assets_create_kind_table('k8s_replicasets', true, $$
    replicas           integer,
    ready_replicas     integer,
    available_replicas integer,
    images             text[],
    template_hash      text,
    owner_kind         text,
    owner_name         text,
    owner_uid          uuid
$$);
CREATE INDEX k8s_replicasets_owner_uid ON k8s_replicasets (cluster_uid, owner_uid);

SELECT k8s_assets_create_kind_table('k8s_statefulsets', true, $$
    replicas               integer,
    ready_replicas         integer,
    current_replicas       integer,
    updated_replicas       integer,
    service_name           text,
    images                 text[],
    update_strategy        text,
    volume_claim_templates text[],
    selector               jsonb
$$);

SELECT k8s_assets_create_kind_table('k8s_daemonsets', true, $$
    desired_number_scheduled integer,
    current_number_scheduled integer,
    number_ready             integer,
    number_available         integer,
    number_misscheduled      integer,
    updated_number_scheduled integer,
    images                   text[],
    update_strategy          text,
    node_selector            jsonb,
    selector                 jsonb
$$);

SELECT k8s_assets_create_kind_table('k8s_jobs', true, $$
    completions     integer,
    parallelism     integer,
    active          integer,
    succeeded       integer,
    failed          integer,
    complete        boolean,
    start_time      timestamptz,
    completion_time timestamptz,
    images          text[],
    owner_kind      text,
    owner_name      text,
    owner_uid       uuid
$$);
CREATE INDEX k8s_jobs_owner_uid ON k8s_jobs (cluster_uid, owner_uid);

SELECT k8s_assets_create_kind_table('k8s_cronjobs', true, $$
    schedule             text,
    time_zone            text,
    suspend              boolean,
    concurrency_policy   text,
    active_jobs          integer,
    last_schedule_time   timestamptz,
    last_successful_time timestamptz,
    images               text[]
$$);

SELECT k8s_assets_create_kind_table('k8s_endpointslices', true, $$
    service_name         text,
    address_type         text,
    endpoint_count       integer,
    ready_endpoint_count integer,
    addresses            text[],
    ports                jsonb
$$);

SELECT k8s_assets_create_kind_table('k8s_ingresses', true, $$
    ingress_class         text,
    hosts                 text[],
    tls_hosts             text[],
    load_balancer_ingress jsonb,
    default_backend       jsonb,
    rules                 jsonb
$$);

SELECT k8s_assets_create_kind_table('k8s_ingressclasses', false, $$
    controller text,
    is_default boolean,
    parameters jsonb
$$);

SELECT k8s_assets_create_kind_table('k8s_networkpolicies', true, $$
    pod_selector       jsonb,
    policy_types       text[],
    ingress_rule_count integer,
    egress_rule_count  integer,
    ingress            jsonb,
    egress             jsonb
$$);

SELECT k8s_assets_create_kind_table('k8s_configmaps', true, $$
    keys        text[],
    binary_keys text[],
    key_sizes   jsonb,
    total_bytes bigint,
    immutable   boolean,
    data        jsonb
$$);

SELECT k8s_assets_create_kind_table('k8s_secrets', true, $$
    type      text,
    keys      text[],
    immutable boolean
$$);

SELECT k8s_assets_create_kind_table('k8s_serviceaccounts', true, $$
    automount_token    boolean,
    secret_names       text[],
    image_pull_secrets text[]
$$);

SELECT k8s_assets_create_kind_table('k8s_roles', true, $$
    rule_count integer,
    rules      jsonb
$$);

SELECT k8s_assets_create_kind_table('k8s_rolebindings', true, $$
    role_kind     text,
    role_name     text,
    subject_kinds text[],
    subject_names text[],
    subjects      jsonb
$$);

SELECT k8s_assets_create_kind_table('k8s_clusterroles', false, $$
    rule_count       integer,
    rules            jsonb,
    aggregation_rule jsonb
$$);

SELECT k8s_assets_create_kind_table('k8s_clusterrolebindings', false, $$
    role_kind     text,
    role_name     text,
    subject_kinds text[],
    subject_names text[],
    subjects      jsonb
$$);

SELECT k8s_assets_create_kind_table('k8s_persistentvolumes', false, $$
    phase           text,
    capacity_bytes  bigint,
    access_modes    text[],
    reclaim_policy  text,
    storage_class   text,
    volume_mode     text,
    claim_namespace text,
    claim_name      text,
    csi_driver      text
$$);

SELECT k8s_assets_create_kind_table('k8s_persistentvolumeclaims', true, $$
    phase           text,
    storage_class   text,
    volume_name     text,
    requested_bytes bigint,
    capacity_bytes  bigint,
    access_modes    text[],
    volume_mode     text
$$);

SELECT k8s_assets_create_kind_table('k8s_storageclasses', false, $$
    provisioner            text,
    reclaim_policy         text,
    volume_binding_mode    text,
    allow_volume_expansion boolean,
    is_default             boolean,
    parameters             jsonb
$$);

SELECT k8s_assets_create_kind_table('k8s_poddisruptionbudgets', true, $$
    min_available       text,
    max_unavailable     text,
    current_healthy     integer,
    desired_healthy     integer,
    disruptions_allowed integer,
    expected_pods       integer,
    selector            jsonb
$$);

SELECT k8s_assets_create_kind_table('k8s_horizontalpodautoscalers', true, $$
    target_kind      text,
    target_name      text,
    min_replicas     integer,
    max_replicas     integer,
    current_replicas integer,
    desired_replicas integer,
    metrics          jsonb
$$);

SELECT k8s_assets_create_kind_table('k8s_resourcequotas', true, $$
    hard      jsonb,
    used      jsonb,
    spec_hard jsonb,
    scopes    text[]
$$);

SELECT k8s_assets_create_kind_table('k8s_limitranges', true, $$
    limit_types text[],
    limits      jsonb
$$);

SELECT k8s_assets_create_kind_table('k8s_validatingwebhookconfigurations', false, $$
    webhook_count    integer,
    webhook_names    text[],
    failure_policies text[],
    services         text[],
    urls             text[],
    webhooks         jsonb
$$);

SELECT k8s_assets_create_kind_table('k8s_mutatingwebhookconfigurations', false, $$
    webhook_count    integer,
    webhook_names    text[],
    failure_policies text[],
    services         text[],
    urls             text[],
    webhooks         jsonb
$$);

CREATE INDEX k8s_endpointslices_service ON k8s_endpointslices (cluster_uid, namespace, service_name);
