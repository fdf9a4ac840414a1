"""Coverage of a kind forbidden by RBAC, container images, and the SQL views, against a simulated cluster."""

import dagster as dg
import pytest

from k8s_assets.simulator import Fault
from k8s_assets_tests.pipeline import cluster_uid_of, definitions, materialization_metadata, query, stored_uids, sync


@pytest.mark.parametrize(("image", "parts"), [
    ("nginx", ("docker.io", "library/nginx", "latest", None)),
    ("nginx:1.27", ("docker.io", "library/nginx", "1.27", None)),
    ("bitnami/redis:7", ("docker.io", "bitnami/redis", "7", None)),
    ("registry.local:5000/team/app:2.1", ("registry.local:5000", "team/app", "2.1", None)),
    ("registry.local:5000/app", ("registry.local:5000", "app", "latest", None)),
    ("ghcr.io/org/tool@sha256:abc", ("ghcr.io", "org/tool", None, "sha256:abc")),
    ("quay.io/x/y:v1@sha256:def", ("quay.io", "x/y", "v1", "sha256:def")),
    ("localhost/img", ("localhost", "img", "latest", None)),
])
def test_image_references_are_split(database_url, image, parts):
    assert query(database_url, "SELECT * FROM k8s_assets_parse_image(%s)", (image,)) == [parts]


def test_forbidden_kind_is_recorded_keeps_rows_and_fails_the_check(fresh_simulator, tmp_path, database_url):
    sim = fresh_simulator(clusters=("one",))
    defs = definitions(sim.write_kubeconfig(tmp_path / "kubeconfig"), database_url,
                       resources_env={"K8S_ASSETS_RESOURCES": "secrets,configmaps"})
    with dg.DagsterInstance.ephemeral() as instance:
        assert sync(defs, instance, "one").success
        cluster_uid = cluster_uid_of(database_url, "one")
        before = stored_uids(database_url, "k8s_secrets", cluster_uid)
        assert before
        sim["one"].inject(Fault("forbidden", resource="secrets"))
        result = sync(defs, instance, "one")
    assert stored_uids(database_url, "k8s_secrets", cluster_uid) == before
    assert query(database_url, "SELECT kind, status, last_complete_at IS NOT NULL FROM k8s_sync_coverage "
                               "ORDER BY kind") == [("k8s_configmaps", "complete", True),
                                                    ("k8s_secrets", "forbidden", True)]
    assert materialization_metadata(result, "k8s_secrets")["listing_status"] == "forbidden"
    checks = {e.event_specific_data.asset_key.path[-1]: e.event_specific_data
              for e in result.all_events if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
              and e.event_specific_data.check_name == "visible_kind_not_forbidden"}
    assert checks["k8s_secrets"].passed is False and checks["k8s_configmaps"].passed is True
    assert checks["k8s_secrets"].severity == dg.AssetCheckSeverity.ERROR


def test_images_and_views(simulator, simulator_kubeconfig, database_url):
    defs = definitions(simulator_kubeconfig, database_url)
    with dg.DagsterInstance.ephemeral() as instance:
        assert sync(defs, instance, "alpha").success
    cluster = simulator["alpha"]
    cluster_uid = cluster_uid_of(database_url, "alpha")
    pods = cluster.list("pods")
    # Every pod container appears under its workload with its image.
    expected = set()
    rs_owner = {r["metadata"]["uid"]: r["metadata"].get("ownerReferences", [{}])[0]
                for resource in ("replicasets.apps", "jobs.batch") for r in cluster.list(resource)}
    for pod in pods:
        owner = next((o for o in pod["metadata"].get("ownerReferences") or () if o.get("controller")), None)
        kind, name = (owner["kind"], owner["name"]) if owner else ("Pod", pod["metadata"]["name"])
        if owner and owner["kind"] in ("ReplicaSet", "Job") and rs_owner.get(owner["uid"], {}).get("kind"):
            kind, name = rs_owner[owner["uid"]]["kind"], rs_owner[owner["uid"]]["name"]
        for c in pod["spec"]["containers"]:
            expected.add((pod["metadata"]["namespace"], kind, name, c["name"], c["image"]))
    stored = set(query(database_url, "SELECT namespace, workload_kind, workload_name, container, image "
                                     "FROM k8s_container_images WHERE cluster_uid = %s AND pods > 0 "
                                     "AND container_type = 'container'", (cluster_uid,)))
    assert stored == expected
    assert query(database_url, "SELECT count(*) FROM k8s_container_images WHERE registry IS NULL OR repository IS NULL") \
        == [(0,)]
    # Owner chain: pods of Deployments resolve through their ReplicaSet.
    chains = query(database_url, "SELECT owner_kind, workload_kind, owner_chain FROM k8s_pod_workloads "
                                 "WHERE cluster_uid = %s AND owner_kind = 'ReplicaSet'", (cluster_uid,))
    assert chains and all(w == "Deployment" and c.count(" -> ") == 2 for _, w, c in chains)
    assert query(database_url, "SELECT count(*) FROM k8s_pod_workloads WHERE owner_missing") == [(0,)]
    # Not-ready pods are exactly the pods without a true Ready condition that have not succeeded.
    not_ready = {p["metadata"]["uid"] for p in pods
                 if p["status"].get("phase") != "Succeeded"
                 and not any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", ()))}
    assert {str(u) for (u,) in query(database_url, "SELECT pod_uid FROM k8s_pods_not_ready")} == not_ready
    # Node allocation: each node's pod count and allocatable agree with the pods placed on it.
    rows = query(database_url, "SELECT node_name, pods, allocatable_cpu, cpu_requests FROM k8s_node_allocation "
                               "WHERE cluster_uid = %s", (cluster_uid,))
    assert len(rows) == len(cluster.list("nodes"))
    placed = {}
    for p in pods:
        if p["spec"].get("nodeName") and p["status"].get("phase") not in ("Succeeded", "Failed"):
            placed[p["spec"]["nodeName"]] = placed.get(p["spec"]["nodeName"], 0) + 1
    assert {n: c for n, c, _, _ in rows if c} == placed
    assert all(a > 0 and r >= 0 for _, _, a, r in rows)
