"""sql/011_temporal_history.sql converts, in place, a database that main filled before it.

main as of MAIN_BEFORE_TEMPORAL (its code, from ``git archive``, run in a child process) migrates a
new database and merges four syncs of pods, nodes, deployments and configmaps into it: objects
created, updated, changed only at an ignored path, deleted and re-created. Its history holds every
current row twice (the open partitions). Every question the history answers (the as-of functions
at each moment, k8s_changes, the views, coverage) is asked before and after today's ``migrate``,
on PostgreSQL 18 and 15, and must get the same answer; then today's merge goes on with the
converted chains.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from k8s_assets.catalog import KINDS_BY_TABLE
from k8s_assets.dagster_edge.resources import PostgresResource
from k8s_assets.store.migrations import migrate
from k8s_assets_tests.fixtures_postgres import drop_database, fresh_database, skip_or_fail
from k8s_assets_tests.pipeline import query
from k8s_assets_tests.test_history import all_versions, merge, overlaps, with_uid
from k8s_assets_tests.test_io_manager import pod

ROOT = Path(__file__).resolve().parents[1]
# main before the history became temporal: the last commit whose history kept open versions.
MAIN_BEFORE_TEMPORAL = "e2ab3dab679e54b7c28b6febe13d1db7f7eea9d2"
CLUSTER = "7b0e7a52-3c3a-4f0c-9a43-1c5a3c1f0d11"

# Runs on main's code: migrate, one cluster, then each sync's listings merged as the IO manager does.
CHILD = """
import json, sys
import pandas as pd, psycopg
from k8s_assets.catalog import KINDS_BY_TABLE
from k8s_assets.dagster_edge.resources import PostgresResource
from k8s_assets.kube.cluster import CLUSTER_COLUMNS
from k8s_assets.kube.decoding import RowBuilder
from k8s_assets.kube.listing import to_frame
from k8s_assets.store.clusters import write_cluster
from k8s_assets.store.contract import KindListing
from k8s_assets.store.merge import merge
from k8s_assets.store.migrations import migrate

url, plan_file = sys.argv[1:]
plan = json.loads(open(plan_file).read())
connect = lambda: psycopg.connect(url)
migrate(url)
write_cluster(connect, pd.DataFrame([plan["cluster"]], columns=list(CLUSTER_COLUMNS), dtype=object))
moments = []
for listings in plan["syncs"]:
    for table, objects in listings.items():
        kind = KINDS_BY_TABLE[table]
        rows = RowBuilder(kind, plan["cluster"]["cluster_uid"], "ctx")
        for obj in objects:
            rows.add(obj)
        merge(connect, KindListing(kind, plan["cluster"]["cluster_uid"], "ctx", "complete",
                                   to_frame(kind, rows.columns)))
    with psycopg.connect(url) as conn:
        moments.append(conn.execute("SELECT clock_timestamp()").fetchone()[0].isoformat())
print(json.dumps(moments))
"""


@pytest.fixture(scope="module")
def main_before_temporal(tmp_path_factory) -> Path:
    """main's tree at MAIN_BEFORE_TEMPORAL (code and SQL), from this clone's git history."""
    tree = tmp_path_factory.mktemp("main-before-temporal")
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", MAIN_BEFORE_TEMPORAL, "k8s_assets", "sql"],
                             capture_output=True)
    if archive.returncode != 0:
        skip_or_fail(f"git archive {MAIN_BEFORE_TEMPORAL[:7]} failed (a clone without that history?): "
                     f"{archive.stderr.decode().strip()}")
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    return tree


@pytest.fixture(params=["embedded-18", "debian-15"])
def empty_database_url(request) -> str:
    server = "embedded_server_url" if request.param == "embedded-18" else "debian15_server_url"
    url = fresh_database(request.getfixturevalue(server))
    yield url
    drop_database(url)


def node(name: str, rv: int, heartbeat: str, ready: str = "True") -> dict:
    return {"kind": "Node",
            "metadata": {"name": name, "uid": str(uuid.uuid5(uuid.NAMESPACE_OID, f"node/{name}")),
                         "resourceVersion": str(rv), "labels": {"pool": "a"}},
            "spec": {},
            "status": {"conditions": [{"type": "Ready", "status": ready, "lastHeartbeatTime": heartbeat,
                                       "lastTransitionTime": "2026-01-01T00:00:00Z"}]}}


def deployment(name: str, rv: int, image: str) -> dict:
    return {"kind": "Deployment",
            "metadata": {"name": name, "namespace": "shop", "uid": str(uuid.uuid5(uuid.NAMESPACE_OID, f"d/{name}")),
                         "resourceVersion": str(rv), "labels": {"app": name}},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "app", "image": image}]}}},
            "status": {"readyReplicas": 2}}


def configmap(name: str, rv: int, data: dict) -> dict:
    return {"kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "shop", "uid": str(uuid.uuid5(uuid.NAMESPACE_OID, f"cm/{name}")),
                         "resourceVersion": str(rv)},
            "data": data}


def syncs() -> list[dict]:
    """Four syncs: every way a version begins and ends, an ignored-path change among them."""
    recreated = with_uid(pod("web", 40), str(uuid.uuid5(uuid.NAMESPACE_OID, "web, again")))
    web2 = pod("web", 20)
    web2["metadata"]["labels"] = {"app": "web", "tier": "front"}
    return [
        {"k8s_pods": [pod("web", 10), pod("db", 11), pod("cache", 12)],
         "k8s_nodes": [node("n1", 1, "2026-01-01T00:00:00Z"), node("n2", 2, "2026-01-01T00:00:00Z")],
         "k8s_deployments": [deployment("shop", 1, "shop:1"), deployment("cart", 2, "cart:1")],
         "k8s_configmaps": [configmap("settings", 1, {"a": "1"})]},
        {"k8s_pods": [web2, pod("db", 11), pod("cache", 12), pod("queue", 21)],
         "k8s_nodes": [node("n1", 3, "2026-01-01T00:05:00Z"), node("n2", 4, "2026-01-01T00:05:00Z", "False")],
         "k8s_deployments": [deployment("shop", 3, "shop:2"), deployment("cart", 2, "cart:1")],
         "k8s_configmaps": [configmap("settings", 2, {"a": "2"}), configmap("flags", 3, {"x": "on"})]},
        {"k8s_pods": [web2, pod("db", 30), pod("queue", 21)],
         "k8s_nodes": [node("n1", 5, "2026-01-01T00:10:00Z"), node("n2", 4, "2026-01-01T00:05:00Z", "False")],
         "k8s_deployments": [deployment("shop", 4, "shop:3")],
         "k8s_configmaps": [configmap("settings", 2, {"a": "2"})]},
        {"k8s_pods": [recreated, pod("db", 30), pod("queue", 21)],
         "k8s_nodes": [node("n1", 5, "2026-01-01T00:10:00Z")],
         "k8s_deployments": [deployment("shop", 4, "shop:3"), deployment("cart", 9, "cart:2")],
         "k8s_configmaps": [configmap("settings", 5, {"a": "3"})]},
    ]


def answers(url: str, moments: list[str]) -> dict:
    """What the history says: each kind as of each moment (whole rows as JSON, less the version
    columns the kind tables gained), every change, the views and coverage."""
    result = {}
    for table in ("k8s_pods", "k8s_nodes", "k8s_deployments", "k8s_configmaps"):
        for i, ts in enumerate(moments):
            result[f"{table}_as_of_{i}"] = query(
                url, f"SELECT to_jsonb(a) - 'valid_from' - 'began' FROM {table}_as_of(%s) a ORDER BY uid", (ts,))
            result[f"{table}_objects_as_of_{i}"] = query(
                url, "SELECT uid, name, resource_version, valid_from FROM k8s_objects_as_of(%s, %s) ORDER BY uid",
                (table, ts))
    result["changes"] = query(url, "SELECT * FROM k8s_changes ORDER BY changed_at, kind_table, uid, change")
    result["rollouts"] = query(url, "SELECT * FROM k8s_image_rollouts ORDER BY rolled_out_at, workload_name")
    result["pods_per_day"] = query(url, "SELECT * FROM k8s_namespace_pods_per_day ORDER BY day, namespace")
    result["deleted"] = query(url, "SELECT * FROM k8s_deleted_last_day ORDER BY deleted_at, uid")
    result["coverage"] = [query(url, "SELECT * FROM k8s_coverage_as_of(%s) ORDER BY kind", (ts,)) for ts in moments]
    return result


def test_a_database_filled_by_main_is_converted_in_place_and_answers_as_before(main_before_temporal,
                                                                               empty_database_url, tmp_path):
    url = empty_database_url
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"syncs": syncs(), "cluster": {
        "cluster_uid": CLUSTER, "context_name": "ctx", "cluster_name": "c", "server": "https://x",
        "kubernetes_version": "v1.30.0", "kube_system_uid": CLUSTER, "identity_source": "kube-system",
        "last_synced_at": "2026-12-05T00:00:00+00:00"}}))
    env = {**os.environ, "PYTHONPATH": str(main_before_temporal)}
    filled = subprocess.run([sys.executable, "-c", CHILD, url, str(plan)], cwd=main_before_temporal, env=env,
                            capture_output=True, text=True, timeout=600)
    assert filled.returncode == 0, filled.stderr[-3000:]
    moments = json.loads(filled.stdout.strip().splitlines()[-1])

    # main's history: one open version per current row, in the open partitions.
    assert query(url, "SELECT count(*) FROM k8s_pods_history_open") == query(url, "SELECT count(*) FROM k8s_pods")
    ended = {t: query(url, f"SELECT count(*) FROM {t}_history WHERE valid_to IS NOT NULL")[0][0]
             for t in ("k8s_pods", "k8s_nodes", "k8s_deployments", "k8s_configmaps")}
    assert ended == {"k8s_pods": 4, "k8s_nodes": 2, "k8s_deployments": 3, "k8s_configmaps": 1}
    open_starts = query(url, "SELECT uid, valid_from, began FROM k8s_pods_history_open ORDER BY uid")
    before = answers(url, moments)

    applied = migrate(url)
    assert applied[0] == "011_temporal_history.sql", applied

    # The open versions are the rows now; the history keeps exactly the versions that ended.
    assert query(url, "SELECT to_regclass('k8s_pods_history_open')") == [(None,)]
    assert {t: query(url, f"SELECT count(*) FROM {t}_history")[0][0] for t in ended} == ended
    assert query(url, "SELECT uid, valid_from, began FROM k8s_pods ORDER BY uid") == open_starts
    after = answers(url, moments)
    assert after.keys() == before.keys()
    for question in before:
        assert after[question] == before[question], question
    assert before["changes"] and before["rollouts"] and before["deleted"]

    # Today's merge goes on with the converted chains: db (first seen, then updated) changes again,
    # queue goes, and the check finds no object with two versions valid at once.
    postgres = PostgresResource(url=url)
    db = pod("db", 50)
    counts = merge(postgres, KINDS_BY_TABLE["k8s_pods"], CLUSTER, [syncs()[3]["k8s_pods"][0], db])
    assert (counts["updated"], counts["deleted"], counts["versions_closed"]) == (1, 1, 2)
    assert all_versions(url, "k8s_pods", "resource_version, began, ended", "name = 'db'") == [
        ("11", "first_seen", "updated"), ("30", "updated", "updated"), ("50", "updated", None)]
    assert query(url, "SELECT old_resource_version, new_resource_version FROM k8s_changes WHERE name = 'db' "
                      "AND change = 'updated' ORDER BY changed_at") == [("11", "30"), ("30", "50")]
    for table in ended:
        assert overlaps(url, KINDS_BY_TABLE[table], CLUSTER) == 0
