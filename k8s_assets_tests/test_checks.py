"""The asset checks: a simulated cluster synced through Dagster passes every check; then
Postgres is corrupted directly and exactly the right checks fail, with the right counts and
examples -- through ``dagster.materialize`` and through ``dagster asset materialize``.

One cluster is synced once per module; each corruption test changes the database, runs the
checks alone for the partition, and puts the database back.
"""

import contextlib
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import dagster as dg
import psycopg
import pytest
from dagster._serdes import deserialize_value

from k8s_assets.catalog import KINDS_BY_TABLE
from k8s_assets.dagster_edge import checks
from k8s_assets.simulator import Simulator
from k8s_assets.store.migrations import migrate
from k8s_assets_tests.fixtures_postgres import fresh_database
from k8s_assets_tests.pipeline import cluster_uid_of, definitions, query, sync

REPO = Path(__file__).resolve().parent.parent
CONTEXT = "one"
CLI_KINDS = "namespaces,nodes,pods,replicasets,deployments"


def execute(url: str, *statements: tuple[str, tuple | dict | None] | str) -> None:
    with psycopg.connect(url) as conn:
        for s in statements:
            statement, params = (s, None) if isinstance(s, str) else s
            conn.execute(statement, params)


def outcomes(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    found = {e.asset_check_key.to_user_string(): e for e in result.get_asset_check_evaluations()
             if e.asset_check_key.name in checks.CHECKS}  # not other modules' checks
    assert found, "no check was evaluated"
    return found


def failing(result) -> dict[str, dict]:
    return {key: {k: v.value for k, v in e.metadata.items()} for key, e in outcomes(result).items() if not e.passed}


@pytest.fixture(scope="module")
def env(embedded_server_url, tmp_path_factory):
    """A tiny simulated cluster "one", synced once into its own database (checks included)."""
    url = fresh_database(embedded_server_url)
    migrate(url)
    with Simulator(clusters=(CONTEXT,), size="tiny") as sim:
        kubeconfig = sim.write_kubeconfig(tmp_path_factory.mktemp("checks") / "kubeconfig")
        defs = definitions(kubeconfig, url)
        # Dagster's sqlite event log commits once per event: keep it in memory (tmpfs) so the
        # 180 check evaluations per run cost milliseconds, not a disk flush each.
        shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
        with tempfile.TemporaryDirectory(dir=shm) as home, dg.instance_for_test(temp_dir=home) as instance:
            result = sync(defs, instance, CONTEXT)
            yield {"url": url, "sim": sim, "kubeconfig": kubeconfig, "defs": defs, "instance": instance,
                   "sync": result, "cluster_uid": cluster_uid_of(url, CONTEXT)}


def our_check_keys(env) -> set[dg.AssetCheckKey]:
    graph = env["defs"].resolve_job_def("k8s_sync").asset_layer.asset_graph
    return {k for k in graph.asset_check_keys if k.name in checks.CHECKS}


def run_checks(env) -> dg.ExecuteInProcessResult:
    """Every check, alone (no asset is re-materialized), for partition "one"."""
    defs = env["defs"]
    return dg.materialize(
        [*defs.assets, *defs.asset_checks], selection=dg.AssetSelection.all_asset_checks(),
        tags={"dagster/partition": CONTEXT}, instance=env["instance"], resources=defs.resources,
        raise_on_error=False,
    )


@contextlib.contextmanager
def saved(url: str, table: str, where: str, params: tuple):
    """Copy the rows matching ``where`` aside and put them back afterwards (they may be deleted)."""
    backup = f"backup_{uuid.uuid4().hex[:8]}"
    execute(url, (f"CREATE TABLE {backup} AS SELECT * FROM {table} WHERE {where}", params))
    try:
        yield
    finally:
        execute(url, (f"DELETE FROM {table} WHERE {where}", params),
                f"INSERT INTO {table} SELECT * FROM {backup}", f"DROP TABLE {backup}")


def insert_copy(url: str, table: str, uid: str, **changes) -> str:
    """Insert a copy of row ``uid`` with a new uid and the given column values; returns the new uid."""
    new_uid = str(uuid.uuid4())
    columns = query(url, "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                         "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum", (table,))
    values = {"uid": new_uid, **changes}
    select = ", ".join(f"CAST(%({c})s AS {t})" if c in values else c for c, t in columns)
    columns = [c for c, _ in columns]
    execute(url, (f"INSERT INTO {table} ({', '.join(columns)}) SELECT {select} FROM {table} WHERE uid = %(src)s",
                  {**values, "src": uid}))
    return new_uid


# ---------------------------------------------------------------------------


def test_a_correct_sync_passes_every_check(env):
    result = env["sync"]
    assert result.success
    found = outcomes(result)
    assert len(found) == len(our_check_keys(env)), "every check of every kind is evaluated in the sync"
    assert {key: e.description for key, e in found.items() if not e.passed} == {}
    for key, e in found.items():
        assert e.partition == CONTEXT, key
        assert e.metadata.get("cluster_uid", dg.MetadataValue.text("")).value == env["cluster_uid"], (key, e.metadata)
    pods = found["k8s_pods:row_count_matches_listing"].metadata
    assert pods["listed"].value == pods["stored"].value > 0
    assert pods["materialized_in_this_run"].value == "true"
    owners = found["k8s_pods:controller_owners_resolve"].metadata
    assert owners["owner_references"].value > 0, "the simulator's pods have controllers to resolve"
    assert owners["unchecked_references"].value == 0
    assert found["k8s_replicasets:controller_owners_resolve"].metadata["owner_references"].value > 0


def test_corruptions_fail_exactly_their_checks_with_counts_and_examples(env):
    """Five corruptions in four tables, one run of the checks: each fails its own checks only.

    * k8s_pods: two pods in a namespace that does not exist, one old, one created just now
      (its namespace may be newer than the namespace listing: not counted);
    * k8s_deployments: a second row with an existing (namespace, name) and a new uid;
    * k8s_serviceaccounts: a row of a cluster_uid missing from k8s_clusters (foreign key off);
    * k8s_configmaps: three rows dropped;
    * k8s_pods_history: a version of a current pod that ended after the pod's current version began.
    """
    url, cluster_uid = env["url"], env["cluster_uid"]
    (pod_uid,) = query(url, "SELECT uid::text FROM k8s_pods WHERE cluster_uid = %s ORDER BY uid LIMIT 1",
                       (cluster_uid,))[0]
    detached = dict(namespace="no-such-namespace", owner_kind=None, owner_name=None, owner_uid=None,
                    node_name=None, raw='{"metadata": {}}')
    orphans = [insert_copy(url, "k8s_pods", pod_uid, name="orphan", created_at="2020-01-01T00:00:00Z", **detached),
               insert_copy(url, "k8s_pods", pod_uid, name="just-created", created_at="now", **detached)]
    namespace, name, uid = query(url, "SELECT namespace, name, uid::text FROM k8s_deployments "
                                      "WHERE cluster_uid = %s ORDER BY namespace, name LIMIT 1", (cluster_uid,))[0]
    duplicate = insert_copy(url, "k8s_deployments", uid)
    stranger = str(uuid.uuid4())
    (sa_uid,) = query(url, "SELECT uid::text FROM k8s_serviceaccounts WHERE cluster_uid = %s LIMIT 1", (cluster_uid,))[0]
    with psycopg.connect(url) as conn:
        conn.execute("SET session_replication_role = replica")  # no foreign key triggers
        columns = [c for (c,) in conn.execute("SELECT column_name FROM information_schema.columns WHERE "
                                              "table_name = 'k8s_serviceaccounts' ORDER BY ordinal_position")]
        select = ", ".join("%(cluster)s" if c == "cluster_uid" else c for c in columns)
        conn.execute(f"INSERT INTO k8s_serviceaccounts SELECT {select} FROM k8s_serviceaccounts WHERE uid = %(uid)s",
                     {"cluster": stranger, "uid": sa_uid})
    dropped = [u for (u,) in query(url, "SELECT uid::text FROM k8s_configmaps WHERE cluster_uid = %s "
                                        "ORDER BY uid LIMIT 3", (cluster_uid,))]
    # A version of a current pod that ended after the pod's current version began: two versions
    # valid at once.
    with psycopg.connect(url) as conn:
        columns = ", ".join(c for (c,) in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'k8s_pods'"))
        conn.execute(f"INSERT INTO k8s_pods_history ({columns}, valid_to, ended) "
                     f"SELECT {columns}, now(), 'updated' FROM k8s_pods WHERE uid = %s", (pod_uid,))
    try:
        with saved(url, "k8s_configmaps", "uid = ANY(%s::uuid[])", (dropped,)):
            execute(url, ("DELETE FROM k8s_configmaps WHERE uid = ANY(%s::uuid[])", (dropped,)))
            result = run_checks(env)
    finally:
        execute(url, ("DELETE FROM k8s_pods WHERE uid = ANY(%s::uuid[])", (orphans,)),
                ("DELETE FROM k8s_deployments WHERE uid = %s", (duplicate,)),
                ("DELETE FROM k8s_serviceaccounts WHERE cluster_uid = %s", (stranger,)),
                ("DELETE FROM k8s_pods_history WHERE uid = %s", (pod_uid,)))
    assert not result.success, "blocking checks failed"
    failed = failing(result)
    assert set(failed) == {
        "k8s_pods:rows_reference_namespace", "k8s_pods:row_count_matches_listing",
        "k8s_deployments:names_unique", "k8s_deployments:row_count_matches_listing",
        "k8s_serviceaccounts:rows_reference_cluster",
        "k8s_configmaps:row_count_matches_listing",
        "k8s_pods:history_matches_current",
    }
    found = outcomes(result)
    assert all(found[k].severity == dg.AssetCheckSeverity.ERROR and found[k].blocking for k in failed)

    overlap = failed["k8s_pods:history_matches_current"]
    assert overlap["offending_rows"] == 1 and "after the current version" in overlap["examples"], overlap

    orphan = failed["k8s_pods:rows_reference_namespace"]
    assert (orphan["offending_rows"], orphan["created_after_namespace_listing"]) == (1, 1)
    assert orphan["examples"] == "no-such-namespace/orphan: namespace no-such-namespace not stored"
    pods = failed["k8s_pods:row_count_matches_listing"]
    assert (pods["difference"], pods["stored"] - pods["listed"], pods["offending_rows"]) == (2, 2, 2)

    unique = failed["k8s_deployments:names_unique"]
    assert (unique["offending_rows"], unique["duplicate_names"]) == (2, 1)
    assert unique["examples"].startswith(f"{namespace}/{name}: 2 rows: uids ")
    assert duplicate in unique["examples"] and uid in unique["examples"]
    assert failed["k8s_deployments:row_count_matches_listing"]["difference"] == 1

    strangers = failed["k8s_serviceaccounts:rows_reference_cluster"]
    assert strangers["offending_rows"] == 1 and f"cluster_uid {stranger}" in strangers["examples"]
    # The stranger's rows are another cluster's: this cluster's count is still right.
    assert found["k8s_serviceaccounts:row_count_matches_listing"].passed

    configmaps = failed["k8s_configmaps:row_count_matches_listing"]
    assert (configmaps["difference"], configmaps["offending_rows"], configmaps["listed"] - configmaps["stored"]) == (-3, 3, 3)
    assert "3 rows missing" in found["k8s_configmaps:row_count_matches_listing"].description


def test_a_deleted_namespace_fails_every_kind_with_rows_in_it(env):
    url, cluster_uid = env["url"], env["cluster_uid"]
    namespace = "kube-system"
    expected = {}
    # Every asset of the sync (one step computes them all, each an asset of its own).
    for key in env["defs"].resolve_job_def("k8s_sync").asset_layer.asset_graph.get_all_asset_keys():
        table = key.path[-1]
        if table in KINDS_BY_TABLE and KINDS_BY_TABLE[table].namespaced:
            (n,) = query(url, f"SELECT count(*) FROM {table} WHERE cluster_uid = %s AND namespace = %s",
                         (cluster_uid, namespace))[0]
            if n:
                expected[f"{table}:rows_reference_namespace"] = n
    assert "k8s_pods:rows_reference_namespace" in expected
    where, params = "cluster_uid = %s AND name = %s", (cluster_uid, namespace)
    with saved(url, "k8s_namespaces", where, params):
        execute(url, (f"DELETE FROM k8s_namespaces WHERE {where}", params))
        result = run_checks(env)
    failed = failing(result)
    assert set(failed) == {*expected, "k8s_namespaces:row_count_matches_listing"}
    for key, n in expected.items():
        assert failed[key]["offending_rows"] == n, key
        examples = failed[key]["examples"].splitlines()
        assert len(examples) == min(n, 5) and all(e.startswith(f"{namespace}/") for e in examples), key
    assert failed["k8s_namespaces:row_count_matches_listing"]["difference"] == -1


def test_dangling_references_and_staleness_warn_without_failing_the_run(env):
    """Owner and node references are warnings (the owner or node may have been deleted between
    two listings); staleness is an error that does not block. None fails the run."""
    url, cluster_uid = env["url"], env["cluster_uid"]
    pod, replicaset, slice_ = (
        query(url, f"SELECT uid::text, namespace, name FROM {t} WHERE cluster_uid = %s AND {c} "
                   "ORDER BY namespace, name LIMIT 1", (cluster_uid,))[0]
        for t, c in (("k8s_pods", "owner_kind = 'ReplicaSet' AND node_name IS NOT NULL"),
                     ("k8s_replicasets", "owner_kind = 'Deployment'"),
                     ("k8s_endpointslices", "raw->'metadata' ? 'ownerReferences'"))
    )
    gone = str(uuid.uuid4())
    with (saved(url, "k8s_pods", "uid = %s::uuid", (pod[0],)),
          saved(url, "k8s_replicasets", "uid = %s::uuid", (replicaset[0],)),
          saved(url, "k8s_endpointslices", "uid = %s::uuid", (slice_[0],)),
          saved(url, "k8s_sync_coverage", "cluster_uid = %s AND kind = 'k8s_secrets'", (cluster_uid,))):
        execute(
            url,
            ("UPDATE k8s_pods SET owner_uid = %s, node_name = 'node-that-was-removed' WHERE uid = %s",
             (gone, pod[0])),
            ("UPDATE k8s_replicasets SET owner_uid = %s WHERE uid = %s", (gone, replicaset[0])),
            # An object without typed owner columns: the reference is read from raw.
            ("UPDATE k8s_endpointslices SET raw = jsonb_set(raw, '{metadata,ownerReferences,0,uid}', to_jsonb(%s::text))"
             " WHERE uid = %s", (gone, slice_[0])),
            ("UPDATE k8s_sync_coverage SET status = 'failed', last_complete_at = now() - interval '5 hours' "
             "WHERE cluster_uid = %s AND kind = 'k8s_secrets'", (cluster_uid,)),
        )
        ((synced_at,),) = query(url, "SELECT last_synced_at FROM k8s_clusters WHERE cluster_uid = %s", (cluster_uid,))
        try:
            execute(url, ("UPDATE k8s_clusters SET last_synced_at = now() - interval '3 hours' WHERE cluster_uid = %s",
                          (cluster_uid,)))
            result = run_checks(env)
        finally:
            execute(url, ("UPDATE k8s_clusters SET last_synced_at = %s WHERE cluster_uid = %s", (synced_at, cluster_uid)))
    assert result.success, "warnings and non-blocking errors do not fail the run"
    failed = failing(result)
    assert set(failed) == {"k8s_pods:controller_owners_resolve", "k8s_pods:scheduled_on_stored_node",
                           "k8s_replicasets:controller_owners_resolve", "k8s_endpointslices:controller_owners_resolve",
                           "k8s_clusters:synced_recently"}
    found = outcomes(result)
    for key, row in (("k8s_pods:controller_owners_resolve", pod), ("k8s_replicasets:controller_owners_resolve", replicaset),
                     ("k8s_endpointslices:controller_owners_resolve", slice_)):
        assert found[key].severity == dg.AssetCheckSeverity.WARN and not found[key].blocking
        assert failed[key]["offending_rows"] == 1, key
        assert failed[key]["examples"].startswith(f"{row[1]}/{row[2]}: owner ") and gone in failed[key]["examples"]
    node = failed["k8s_pods:scheduled_on_stored_node"]
    assert node["offending_rows"] == 1
    assert node["examples"] == f"{pod[1]}/{pod[2]}: node node-that-was-removed not stored"
    fresh = failed["k8s_clusters:synced_recently"]
    assert found["k8s_clusters:synced_recently"].severity == dg.AssetCheckSeverity.ERROR
    assert not found["k8s_clusters:synced_recently"].blocking
    assert fresh["max_age_seconds"] == 2 * 3600 and 3 * 3600 <= fresh["age_seconds"] < 3 * 3600 + 600
    assert fresh["stale_kinds"] == 1 and fresh["examples"].startswith("k8s_secrets: last complete listing 5:00")


def test_forbidden_listing_skips_the_count_check(env):
    """A listing that was forbidden keeps the rows of the last complete one: not a count error."""
    url, cluster_uid = env["url"], env["cluster_uid"]
    defs, instance = env["defs"], env["instance"]
    instance.report_runless_asset_event(dg.AssetMaterialization(
        asset_key="k8s_secrets", partition=CONTEXT,
        metadata={"listing_status": "forbidden", "listed": 0, "cluster_uid": cluster_uid},
    ))
    try:
        result = dg.materialize(
            [*defs.assets, *defs.asset_checks],
            selection=dg.AssetSelection.checks(dg.AssetCheckKey(dg.AssetKey("k8s_secrets"), "row_count_matches_listing")),
            tags={"dagster/partition": CONTEXT}, instance=instance, resources=defs.resources, raise_on_error=False,
        )
    finally:
        # Later checks compare with a complete listing again.
        instance.report_runless_asset_event(dg.AssetMaterialization(
            asset_key="k8s_secrets", partition=CONTEXT,
            metadata={"listing_status": "complete", "cluster_uid": cluster_uid,
                      "listed": query(url, "SELECT count(*) FROM k8s_secrets WHERE cluster_uid = %s",
                                      (cluster_uid,))[0][0]},
        ))
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.passed and evaluation.metadata["skipped"].value == "listing_status=forbidden"
    assert query(url, "SELECT count(*) > 0 FROM k8s_secrets WHERE cluster_uid = %s", (cluster_uid,)) == [(True,)]


def test_checks_through_the_dagster_cli(env, embedded_server_url):
    """`dagster asset materialize` with the repository's dagster.yaml (Dagster's storage in the
    same Postgres): every check passes; after a namespace row is deleted, syncing only the pods
    (which does not restore namespaces) fails the blocking namespace check: rc=1."""
    url = fresh_database(embedded_server_url)
    migrate(url)
    # A few kinds keep the run short; the checks are built for whatever kinds are selected.
    environment = {**os.environ, "KUBECONFIG": str(env["kubeconfig"]), "K8S_ASSETS_DATABASE_URL": url,
                   "DAGSTER_HOME": str(REPO), "PYTHONWARNINGS": "ignore", "K8S_ASSETS_RESOURCES": CLI_KINDS}

    def materialize(select: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "k8s_assets.definitions",
             "--select", select, "--partition", CONTEXT],
            cwd=REPO, env=environment, capture_output=True, text=True, timeout=240,
        )

    def evaluations(run: subprocess.CompletedProcess) -> dict[str, bool]:
        found = {}
        for line in (run.stdout + run.stderr).splitlines():
            if not any(f"'{name}'" in line for name in checks.CHECKS):
                continue
            if "ASSET_CHECK_EVALUATION" in line and "Asset check '" in line:
                text = line.split("Asset check '", 1)[1]
                check, rest = text.split("' on '", 1)
                asset, verdict = rest.split("' ", 1)
                found[f"{asset}:{check}"] = verdict.startswith("passed")
        return found

    first = materialize("*")
    assert first.returncode == 0, first.stderr[-3000:]
    passed = evaluations(first)
    tables = ["k8s_clusters", *(f"k8s_{k}" for k in CLI_KINDS.split(","))]
    assert {k.split(":")[0] for k in passed} == set(tables)
    assert {k.split(":")[1] for k in passed} == set(checks.CHECKS)
    assert all(passed.values()), [k for k, ok in passed.items() if not ok]

    cluster_uid = cluster_uid_of(url, CONTEXT)
    namespace, pods_in_it = query(url, "SELECT namespace, count(*) FROM k8s_pods WHERE cluster_uid = %s "
                                       "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1", (cluster_uid,))[0]
    assert pods_in_it > 0
    execute(url, ("DELETE FROM k8s_namespaces WHERE cluster_uid = %s AND name = %s", (cluster_uid, namespace)))
    second = materialize("k8s_pods")
    assert second.returncode == 1, second.stdout[-3000:]
    verdicts = evaluations(second)
    assert verdicts["k8s_pods:rows_reference_namespace"] is False
    assert {k for k, ok in verdicts.items() if not ok} == {"k8s_pods:rows_reference_namespace"}
    assert verdicts["k8s_pods:row_count_matches_listing"] is True
    output = second.stdout + second.stderr
    assert "1 blocking asset check failed with ERROR severity" in output
    # The CLI stored the failed evaluation in the same Postgres (dagster.yaml).
    ((event,),) = query(url, "SELECT evaluation_event FROM asset_check_executions WHERE check_name = "
                          "'rows_reference_namespace' AND asset_key LIKE '%%k8s_pods%%' AND execution_status = 'FAILED'")
    evaluation = deserialize_value(event, dg.EventLogEntry).dagster_event.event_specific_data
    assert evaluation.metadata["offending_rows"].value == pods_in_it
    assert evaluation.metadata["examples"].value.startswith(f"{namespace}/")
