-- Rebuild one cluster's k8s_container_images from its stored pods and pod templates.
WITH templates AS (
    SELECT cluster_uid, context_name, namespace, 'Deployment' AS kind, name, uid, raw -> 'spec' -> 'template' -> 'spec' AS spec
    FROM k8s_deployments WHERE cluster_uid = %(cluster_uid)s
    UNION ALL
    SELECT cluster_uid, context_name, namespace, 'StatefulSet', name, uid, raw -> 'spec' -> 'template' -> 'spec'
    FROM k8s_statefulsets WHERE cluster_uid = %(cluster_uid)s
    UNION ALL
    SELECT cluster_uid, context_name, namespace, 'DaemonSet', name, uid, raw -> 'spec' -> 'template' -> 'spec'
    FROM k8s_daemonsets WHERE cluster_uid = %(cluster_uid)s
    UNION ALL
    SELECT cluster_uid, context_name, namespace, 'CronJob', name, uid,
           raw -> 'spec' -> 'jobTemplate' -> 'spec' -> 'template' -> 'spec'
    FROM k8s_cronjobs WHERE cluster_uid = %(cluster_uid)s
    UNION ALL  -- Jobs and ReplicaSets a CronJob or Deployment controls are covered by that template
    SELECT cluster_uid, context_name, namespace, 'Job', name, uid, raw -> 'spec' -> 'template' -> 'spec'
    FROM k8s_jobs WHERE cluster_uid = %(cluster_uid)s AND owner_kind IS DISTINCT FROM 'CronJob'
    UNION ALL
    SELECT cluster_uid, context_name, namespace, 'ReplicaSet', name, uid, raw -> 'spec' -> 'template' -> 'spec'
    FROM k8s_replicasets WHERE cluster_uid = %(cluster_uid)s AND owner_kind IS DISTINCT FROM 'Deployment'
),
pods AS (
    SELECT w.cluster_uid, w.context_name, w.namespace, w.workload_kind AS kind, w.workload_name AS name,
           w.workload_uid AS uid, p.raw -> 'spec' AS spec
    FROM k8s_pod_workloads w
    JOIN k8s_pods p ON p.cluster_uid = w.cluster_uid AND p.uid = w.pod_uid
    WHERE w.cluster_uid = %(cluster_uid)s
),
-- A stored object may hold anything where its containers belong (decoding stores objects whose
-- fields have unexpected types, raw whole): only arrays of objects with a string name and image
-- are read, and only names a primary key entry can hold (a real image reference is far shorter).
containers AS (
    SELECT s.*, c.container_type, c.value ->> 'name' AS container, c.value ->> 'image' AS image
    FROM (SELECT *, 1 AS pods, false AS in_template FROM pods
          UNION ALL
          SELECT *, 0, true FROM templates) s
    CROSS JOIN LATERAL (
        SELECT 'init' AS container_type, value FROM jsonb_array_elements(k8s_assets_jsonb_array(s.spec -> 'initContainers'))
        UNION ALL
        SELECT 'container', value FROM jsonb_array_elements(k8s_assets_jsonb_array(s.spec -> 'containers'))
        UNION ALL
        SELECT 'ephemeral', value FROM jsonb_array_elements(k8s_assets_jsonb_array(s.spec -> 'ephemeralContainers'))
    ) c
    WHERE jsonb_typeof(c.value -> 'image') = 'string' AND jsonb_typeof(c.value -> 'name') = 'string'
      AND octet_length(c.value ->> 'image') <= 1000 AND octet_length(c.value ->> 'name') <= 1000
      AND octet_length(s.name) <= 1000
),
grouped AS (
    SELECT cluster_uid, min(context_name) AS context_name, namespace, kind, name, (array_agg(uid))[1] AS uid,
           container, min(container_type) AS container_type, image, sum(pods)::integer AS pods,
           bool_or(in_template) AS in_template
    FROM containers
    GROUP BY cluster_uid, namespace, kind, name, container, image
)
INSERT INTO k8s_container_images (cluster_uid, context_name, namespace, workload_kind, workload_name, workload_uid,
                                  container, container_type, image, registry, repository, tag, digest, pods,
                                  in_template)
SELECT g.cluster_uid, g.context_name, g.namespace, g.kind, g.name, g.uid, g.container, g.container_type, g.image,
       i.registry, i.repository, i.tag, i.digest, g.pods, g.in_template
FROM grouped g
CROSS JOIN LATERAL k8s_assets_parse_image(g.image) i
