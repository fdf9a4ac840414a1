-- Answers without joins: container images, workloads with their owner chain, requests and
-- limits against node allocatable, and pods that are not ready. Examples: docs/queries.md.

-- A Kubernetes resource.Quantity ('250m', '128Mi', '1e3') as numeric; NULL when malformed.
CREATE FUNCTION k8s_assets_quantity(q text) RETURNS numeric
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $fn$
DECLARE
    m text[];
BEGIN
    m := regexp_match(btrim(q), '^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$');
    IF m IS NULL THEN
        RETURN NULL;
    END IF;
    RETURN m[1]::numeric * CASE coalesce(m[2], '')
        WHEN '' THEN 1 WHEN 'n' THEN 1e-9 WHEN 'u' THEN 1e-6 WHEN 'm' THEN 1e-3
        WHEN 'k' THEN 1e3 WHEN 'M' THEN 1e6 WHEN 'G' THEN 1e9 WHEN 'T' THEN 1e12 WHEN 'P' THEN 1e15 WHEN 'E' THEN 1e18
        WHEN 'Ki' THEN 1024::numeric WHEN 'Mi' THEN 1024::numeric ^ 2 WHEN 'Gi' THEN 1024::numeric ^ 3
        WHEN 'Ti' THEN 1024::numeric ^ 4 WHEN 'Pi' THEN 1024::numeric ^ 5 WHEN 'Ei' THEN 1024::numeric ^ 6
    END;
EXCEPTION WHEN others THEN
    RETURN NULL;
END
$fn$;

-- An image reference split the way container runtimes read it: registry (docker.io when the
-- first path part is not a host), repository (library/ added for Docker Hub official images),
-- tag (latest when neither tag nor digest is given) and digest (after @).
CREATE FUNCTION k8s_assets_parse_image(image text, OUT registry text, OUT repository text, OUT tag text,
                                       OUT digest text)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $fn$
DECLARE
    ref   text := btrim(image);
    first text;
BEGIN
    IF ref IS NULL OR ref = '' THEN
        RETURN;
    END IF;
    IF position('@' IN ref) > 0 THEN
        digest := substr(ref, position('@' IN ref) + 1);
        ref := left(ref, position('@' IN ref) - 1);
    END IF;
    tag := substring(ref FROM ':([^/:]+)$');
    IF tag IS NOT NULL THEN
        ref := left(ref, length(ref) - length(tag) - 1);
    END IF;
    first := split_part(ref, '/', 1);
    IF position('/' IN ref) > 0 AND (first ~ '[.:]' OR first = 'localhost') THEN
        registry := first;
        repository := substr(ref, length(first) + 2);
    ELSE
        registry := 'docker.io';
        repository := ref;
    END IF;
    IF registry IN ('index.docker.io', 'registry-1.docker.io') THEN
        registry := 'docker.io';
    END IF;
    IF registry = 'docker.io' AND position('/' IN repository) = 0 THEN
        repository := 'library/' || repository;
    END IF;
    IF tag IS NULL AND digest IS NULL THEN
        tag := 'latest';
    END IF;
END
$fn$;

-- Every pod with the workload that ultimately controls it: pod -> ReplicaSet -> Deployment,
-- pod -> Job -> CronJob, pod -> StatefulSet / DaemonSet / Node (static pods); a pod without a
-- controller is its own workload.
CREATE VIEW k8s_pod_workloads AS
SELECT p.cluster_uid,
       p.context_name,
       p.namespace,
       p.name AS pod_name,
       p.uid AS pod_uid,
       p.node_name,
       p.phase,
       p.ready,
       p.owner_kind,
       p.owner_name,
       coalesce(rs.owner_kind, j.owner_kind, p.owner_kind, 'Pod') AS workload_kind,
       coalesce(rs.owner_name, j.owner_name, p.owner_name, p.name) AS workload_name,
       coalesce(rs.owner_uid, j.owner_uid, p.owner_uid, p.uid) AS workload_uid,
       concat_ws(' -> ', 'Pod/' || p.name, p.owner_kind || '/' || p.owner_name,
                 coalesce(rs.owner_kind, j.owner_kind) || '/' || coalesce(rs.owner_name, j.owner_name)) AS owner_chain,
       (p.owner_uid IS NOT NULL AND p.owner_kind IN ('ReplicaSet', 'Job', 'StatefulSet', 'DaemonSet')
        AND rs.uid IS NULL AND j.uid IS NULL AND ss.uid IS NULL AND ds.uid IS NULL) AS owner_missing
FROM k8s_pods p
LEFT JOIN k8s_replicasets rs
       ON p.owner_kind = 'ReplicaSet' AND rs.cluster_uid = p.cluster_uid AND rs.uid = p.owner_uid
LEFT JOIN k8s_jobs j
       ON p.owner_kind = 'Job' AND j.cluster_uid = p.cluster_uid AND j.uid = p.owner_uid
LEFT JOIN k8s_statefulsets ss
       ON p.owner_kind = 'StatefulSet' AND ss.cluster_uid = p.cluster_uid AND ss.uid = p.owner_uid
LEFT JOIN k8s_daemonsets ds
       ON p.owner_kind = 'DaemonSet' AND ds.cluster_uid = p.cluster_uid AND ds.uid = p.owner_uid;
COMMENT ON VIEW k8s_pod_workloads IS
    'Each pod with its owner chain resolved (pod -> replicaset -> deployment, pod -> job -> cronjob, ...).';

-- Per pod: requests and limits the scheduler counts, max(sum of containers, largest init container).
CREATE VIEW k8s_pod_resources AS
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
    FROM jsonb_array_elements(coalesce(p.raw -> 'spec' -> 'containers', '[]')) x
) c ON true
LEFT JOIN LATERAL (
    SELECT max(k8s_assets_quantity(x -> 'resources' -> 'requests' ->> 'cpu')) AS cpu_requests,
           max(k8s_assets_quantity(x -> 'resources' -> 'limits' ->> 'cpu')) AS cpu_limits,
           max(k8s_assets_quantity(x -> 'resources' -> 'requests' ->> 'memory')) AS memory_requests,
           max(k8s_assets_quantity(x -> 'resources' -> 'limits' ->> 'memory')) AS memory_limits
    FROM jsonb_array_elements(coalesce(p.raw -> 'spec' -> 'initContainers', '[]')) x
) i ON true;
COMMENT ON VIEW k8s_pod_resources IS 'Requests and limits of each pod as the scheduler counts them (cores, bytes).';

-- Per node: what its running and pending pods request and limit against what it can allocate.
CREATE VIEW k8s_node_allocation AS
SELECT n.cluster_uid,
       n.context_name,
       n.name AS node_name,
       n.ready,
       n.roles,
       n.allocatable_cpu,
       n.allocatable_memory_bytes,
       n.allocatable_pods,
       count(r.pod_uid)::integer AS pods,
       coalesce(sum(r.cpu_requests), 0) AS cpu_requests,
       coalesce(sum(r.cpu_limits), 0) AS cpu_limits,
       coalesce(sum(r.memory_requests_bytes), 0) AS memory_requests_bytes,
       coalesce(sum(r.memory_limits_bytes), 0) AS memory_limits_bytes,
       round(100 * coalesce(sum(r.cpu_requests), 0) / nullif(n.allocatable_cpu, 0), 1) AS cpu_requests_pct,
       round(100 * coalesce(sum(r.cpu_limits), 0) / nullif(n.allocatable_cpu, 0), 1) AS cpu_limits_pct,
       round(100 * coalesce(sum(r.memory_requests_bytes), 0) / nullif(n.allocatable_memory_bytes, 0), 1)
           AS memory_requests_pct,
       round(100 * coalesce(sum(r.memory_limits_bytes), 0) / nullif(n.allocatable_memory_bytes, 0), 1)
           AS memory_limits_pct,
       round(100.0 * count(r.pod_uid) / nullif(n.allocatable_pods, 0), 1) AS pods_pct
FROM k8s_nodes n
LEFT JOIN k8s_pod_resources r
       ON r.cluster_uid = n.cluster_uid AND r.node_name = n.name
      AND r.phase IS DISTINCT FROM 'Succeeded' AND r.phase IS DISTINCT FROM 'Failed'
GROUP BY n.cluster_uid, n.uid;
COMMENT ON VIEW k8s_node_allocation IS
    'Requests and limits of the non-terminated pods on each node against its allocatable CPU, memory and pods.';

-- Pods that should be serving but are not: not Ready, and not finished (Succeeded).
CREATE VIEW k8s_pods_not_ready AS
SELECT w.cluster_uid,
       w.context_name,
       w.namespace,
       w.pod_name,
       w.pod_uid,
       w.node_name,
       w.phase,
       coalesce(
           (SELECT coalesce(s -> 'state' -> 'waiting' ->> 'reason', s -> 'state' -> 'terminated' ->> 'reason')
            FROM jsonb_array_elements(coalesce(p.raw -> 'status' -> 'containerStatuses', '[]')) s
            WHERE NOT coalesce((s ->> 'ready')::boolean, false)
              AND (s -> 'state' ? 'waiting' OR s -> 'state' ? 'terminated')
            LIMIT 1),
           (SELECT c ->> 'reason' FROM jsonb_array_elements(coalesce(p.raw -> 'status' -> 'conditions', '[]')) c
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

-- One row per cluster, namespace, workload, container and image, from pods and pod templates.
CREATE TABLE k8s_container_images (
    cluster_uid    uuid NOT NULL REFERENCES k8s_clusters (cluster_uid) ON DELETE CASCADE,
    context_name   text NOT NULL,
    namespace      text NOT NULL,
    workload_kind  text NOT NULL,             -- Deployment, StatefulSet, DaemonSet, CronJob, Job, ReplicaSet, Node, Pod
    workload_name  text NOT NULL,
    workload_uid   uuid,
    container      text NOT NULL,
    container_type text NOT NULL CHECK (container_type IN ('init', 'container', 'ephemeral')),
    image          text NOT NULL,
    registry       text,
    repository     text,
    tag            text,
    digest         text,
    pods           integer NOT NULL,          -- pods running this container with this image
    in_template    boolean NOT NULL,          -- the workload's pod template names this image
    synced_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cluster_uid, namespace, workload_kind, workload_name, container, image)
);
CREATE INDEX k8s_container_images_repository ON k8s_container_images (registry, repository, tag);
COMMENT ON TABLE k8s_container_images IS
    'Container images per cluster, namespace, workload and container, from pods and pod templates, '
    'with registry, repository, tag and digest split out. Rebuilt per cluster after each sync.';
