"""The merge, against a real PostgreSQL: inserts, updates, stale deletes, rollbacks, coverage."""

import threading
import time
import uuid
from datetime import UTC, datetime

import pandas as pd
import psycopg
import pytest

from k8s_assets.catalog import KINDS_BY_TABLE
from k8s_assets.dagster_edge.io_manager import PostgresMergeIOManager, merge_metadata
from k8s_assets.dagster_edge.resources import PostgresResource
from k8s_assets.kube.cluster import CLUSTER_COLUMNS, identity_from
from k8s_assets.kube.decoding import RowBuilder
from k8s_assets.kube.listing import to_frame
from k8s_assets.store.clusters import write_cluster
from k8s_assets.store.contract import KindListing
from k8s_assets.store.versions import stored_versions

PODS = KINDS_BY_TABLE["k8s_pods"]


def pod(name: str, rv: int, namespace: str = "default", node: str | None = "node-1") -> dict:
    return {
        "metadata": {
            "name": name, "namespace": namespace, "uid": str(uuid.uuid5(uuid.NAMESPACE_OID, f"{namespace}/{name}")),
            "resourceVersion": str(rv), "creationTimestamp": "2026-01-02T03:04:05Z",
            "labels": {"app": name}, "annotations": {"note": 'quotes " and \\ backslashes, ünïcode'},
            "managedFields": [{"manager": "kubectl"}],
        },
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": f"nginx:{rv}"}]},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                   "containerStatuses": [{"restartCount": 2}]},
    }


def frame_of(kind, cluster_uid: str, objects: list[dict], context_name: str = "ctx") -> pd.DataFrame:
    rows = RowBuilder(kind, cluster_uid, context_name)
    for obj in objects:
        rows.add(obj)
    return to_frame(kind, rows.columns)


@pytest.fixture
def database_url(any_database_url) -> str:
    """The merge is where servers differ (COPY, ON CONFLICT, TOAST): every test runs on PG 18 and 15."""
    return any_database_url


@pytest.fixture
def io_manager(database_url) -> PostgresMergeIOManager:
    return PostgresMergeIOManager(postgres=PostgresResource(url=database_url))


@pytest.fixture
def cluster_uid(io_manager) -> str:
    identity = identity_from(str(uuid.uuid4()), "https://127.0.0.1:6443")
    row = {"cluster_uid": identity.cluster_uid, "context_name": "ctx", "cluster_name": "c", "server": "https://x",
           "kubernetes_version": "v1.30.0", "kube_system_uid": identity.kube_system_uid,
           "identity_source": identity.source, "last_synced_at": datetime.now(UTC)}
    write_cluster(io_manager.postgres.connect, pd.DataFrame([row], columns=list(CLUSTER_COLUMNS), dtype=object))
    return identity.cluster_uid


def rows(url: str, table: str = "k8s_pods") -> dict[str, tuple]:
    with psycopg.connect(url) as conn:
        return {name: (rv, xmin) for name, rv, xmin in
                conn.execute(f"SELECT name, resource_version, xmin::text FROM {table}")}


def merged(io_manager: PostgresMergeIOManager, frame: pd.DataFrame, status: str = "complete",
           cluster_uid: str | None = None) -> dict:
    """Merge a listing of ``frame`` through the IO manager; the merge's metadata and what it set aside."""
    cluster = cluster_uid or str(frame["cluster_uid"].iloc[0])
    context = frame["context_name"].iloc[0] if len(frame) else "ctx"
    result = io_manager.merge(KindListing(PODS, cluster, context, status, frame))
    return {**merge_metadata(result), "rejected_objects": result.rejected,
            "left_to_other_writer": result.left_to_other_writer}


def test_first_merge_inserts_every_row_with_typed_columns(io_manager, cluster_uid, database_url):
    counts = merged(io_manager, frame_of(PODS, cluster_uid, [pod("a", 1), pod("b", 2, node=None)]))
    assert (counts["inserted"], counts["dagster/row_count"]) == (2, 2)
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT phase, node_name, ready, restart_count, images, annotations->>'note',"
                           " raw->'metadata' ? 'managedFields', raw->>'kind' FROM k8s_pods WHERE name='a'").fetchone()
    assert row == ("Running", "node-1", True, 2, ["nginx:1"], 'quotes " and \\ backslashes, ünïcode', False, "Pod")


def test_resync_updates_changed_inserts_new_deletes_gone_and_leaves_unchanged_untouched(
        io_manager, cluster_uid, database_url):
    merged(io_manager, frame_of(PODS, cluster_uid, [pod("a", 1), pod("b", 2), pod("c", 3)]))
    before = rows(database_url)
    second = frame_of(PODS, cluster_uid, [pod("a", 1), pod("b", 7), pod("d", 8)])
    counts = merged(io_manager, second)
    assert {k: counts[k] for k in ("inserted", "updated", "deleted", "unchanged")} == \
        {"inserted": 1, "updated": 1, "deleted": 1, "unchanged": 1}
    after = rows(database_url)
    assert sorted(after) == ["a", "b", "d"]
    assert after["a"] == before["a"], "an unchanged row must not be rewritten (same xmin)"
    assert after["b"][0] == "7" and after["b"][1] != before["b"][1]


def test_forbidden_listing_keeps_rows_and_records_coverage(io_manager, cluster_uid, database_url):
    merged(io_manager, frame_of(PODS, cluster_uid, [pod("a", 1), pod("b", 2)]))
    empty = frame_of(PODS, cluster_uid, [])
    counts = merged(io_manager, empty, "forbidden", cluster_uid)
    assert counts["deleted"] == 0 and counts["dagster/row_count"] == 2
    assert counts["previous_listing_status"] == "complete"
    assert sorted(rows(database_url)) == ["a", "b"]
    with psycopg.connect(database_url) as conn:
        status, last_complete = conn.execute(
            "SELECT status, last_complete_at FROM k8s_sync_coverage WHERE kind = 'k8s_pods'").fetchone()
    assert status == "forbidden" and last_complete is not None


def test_database_error_mid_merge_rolls_back_everything(io_manager, cluster_uid, database_url):
    merged(io_manager, frame_of(PODS, cluster_uid, [pod("a", 1), pod("b", 2)]))
    before = rows(database_url)
    with psycopg.connect(database_url) as conn:
        conn.execute("""
            CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN IF NEW.name = 'poison' THEN RAISE EXCEPTION 'disk on fire'; END IF; RETURN NEW; END $$;
            CREATE TRIGGER refuse_poison BEFORE INSERT OR UPDATE ON k8s_pods
                FOR EACH ROW EXECUTE FUNCTION refuse_poison();""")
    bad = frame_of(PODS, cluster_uid, [pod("a", 5), pod("poison", 6)])  # 'b' would be deleted, 'a' updated
    with pytest.raises(psycopg.errors.RaiseException, match="disk on fire"):
        merged(io_manager, bad)
    assert rows(database_url) == before
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM k8s_sync_coverage").fetchone()[0] == 1


def test_concurrent_merges_of_one_table_and_cluster_wait_for_each_other(io_manager, cluster_uid, database_url):
    """The advisory lock per (table, cluster): a second writer waits until the first commits."""
    frame = frame_of(PODS, cluster_uid, [pod("a", 1)])
    with psycopg.connect(database_url) as holder:
        holder.execute("SELECT pg_advisory_xact_lock(hashtext('k8s_pods'), hashtext(%s::text))", (cluster_uid,))
        merging = threading.Thread(target=merged, args=(io_manager, frame))
        merging.start()
        # Wait until the merge's session is seen waiting for that advisory lock (whenever that
        # is on a busy machine): then it provably waits, rather than having not yet started.
        assert waiting_for_an_advisory_lock(database_url, merging), "the merge did not wait for the lock"
        assert merging.is_alive()
        assert rows(database_url) == {}
        holder.commit()  # releases the lock
        merging.join(timeout=30)
    assert not merging.is_alive() and sorted(rows(database_url)) == ["a"]


def waiting_for_an_advisory_lock(database_url: str, thread: threading.Thread, timeout: float = 120.0) -> bool:
    """Whether a session comes to wait for an advisory lock while ``thread`` runs; ``timeout`` only
    stops a broken test hanging and is never the verdict."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(database_url, autocommit=True) as conn:
        while thread.is_alive() and time.monotonic() < deadline:
            if conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = "
                            "(SELECT oid FROM pg_database WHERE datname = current_database())").fetchone()[0]:
                return True
            time.sleep(0.05)
    return False


def test_merge_is_scoped_to_its_cluster(io_manager, cluster_uid, database_url):
    other = identity_from(str(uuid.uuid4()), "https://other").cluster_uid
    row = {"cluster_uid": other, "context_name": "other", "cluster_name": "o", "server": "https://o",
           "kubernetes_version": "v1.30.0", "kube_system_uid": None, "identity_source": "server-url",
           "last_synced_at": datetime.now(UTC)}
    write_cluster(io_manager.postgres.connect, pd.DataFrame([row], dtype=object))
    merged(io_manager, frame_of(PODS, cluster_uid, [pod("a", 1)]))
    merged(io_manager, frame_of(PODS, other, [pod("z", 1)], context_name="other"))
    # A complete listing of the first cluster that no longer holds 'a' must not touch 'z'.
    merged(io_manager, frame_of(PODS, cluster_uid, [pod("b", 2)]))
    assert sorted(rows(database_url)) == ["b", "z"]
    loaded = io_manager.load_rows("k8s_pods", ["other"])
    assert loaded["name"].tolist() == ["z"]
    assert io_manager.load_rows("k8s_clusters", ["ctx"])["cluster_uid"].astype(str).tolist() == [cluster_uid]


# Re-sync with known versions: objects listed at their stored version are neither serialized nor sent.


def known_frame(cluster_uid: str, objects: list[dict], known: dict[str, str]) -> tuple[pd.DataFrame, int]:
    builder = RowBuilder(PODS, cluster_uid, "ctx", known_versions=known)
    for obj in objects:
        builder.add(obj)
    return to_frame(PODS, builder.columns), builder.unchanged


def test_unchanged_objects_become_key_only_rows_and_the_merge_leaves_them_untouched(
        io_manager, cluster_uid, database_url):
    merged(io_manager, frame_of(PODS, cluster_uid, [pod("a", 1), pod("b", 2), pod("c", 3)]))
    before = rows(database_url)
    known = stored_versions(io_manager.postgres.connect, PODS, cluster_uid)
    assert sorted(known.values()) == ["1", "2", "3"]
    second, unchanged = known_frame(cluster_uid, [pod("a", 1), pod("b", 7), pod("d", 8)], known)
    assert unchanged == 1
    key_only = second[second["name"] == "a"].iloc[0]
    assert key_only["raw"] is None and key_only["resource_version"] == "1" and key_only["namespace"] == "default"
    counts = merged(io_manager, second)
    assert (counts["inserted"], counts["updated"], counts["deleted"], counts["unchanged"]) == (1, 1, 1, 1)
    after = rows(database_url)
    assert after["a"] == before["a"] and after["b"][0] == "7" and set(after) == {"a", "b", "d"}
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT raw->'spec'->'containers'->0->>'image' FROM k8s_pods WHERE name='b'"
                            ).fetchone() == ("nginx:7",)


def test_a_key_only_row_whose_stored_version_moved_meanwhile_is_left_to_the_other_writer(
        io_manager, cluster_uid, database_url):
    merged(io_manager, frame_of(PODS, cluster_uid, [pod("a", 1), pod("b", 2)]))
    known = stored_versions(io_manager.postgres.connect, PODS, cluster_uid)
    # Another context of the same cluster writes a newer "a" after our versions were read.
    newer = frame_of(PODS, cluster_uid, [pod("a", 5), pod("b", 2)])
    merged(io_manager, newer)
    ours, _ = known_frame(cluster_uid, [pod("a", 1), pod("b", 2)], known)
    counts = merged(io_manager, ours)
    assert counts["left_to_other_writer"] == 1 and counts["updated"] == 0
    assert rows(database_url)["a"][0] == "5"


def test_key_only_rows_for_a_cluster_without_rows_are_refused(io_manager, cluster_uid):
    frame, _ = known_frame(cluster_uid, [pod("a", 1)], {pod("a", 1)["metadata"]["uid"]: "1"})
    with pytest.raises(ValueError, match="list again"):
        merged(io_manager, frame)


# -- hostile objects -----------------------------------------------------------------------

BIG_ANNOTATION = "x" * 200_000


def hostile(name: str, rv: int) -> dict:
    obj = pod(name, rv)
    obj["metadata"]["annotations"].update({"note": "nul\u0000inside", "big": BIG_ANNOTATION, "emoji": "🚀 ünï"})
    obj["metadata"]["labels"]["k\u0000ey"] = "v"
    obj["spec"]["containers"][0]["args"] = ["--flag=\u0000"]
    return obj


def refused(name: str, rv: int) -> dict:
    """A pod whose restartCount does not fit the integer column: PostgreSQL refuses the row."""
    obj = pod(name, rv)
    obj["status"]["containerStatuses"][0]["restartCount"] = 2 ** 40
    return obj


def rejections(url: str) -> list[tuple]:
    return query_all(url, "SELECT kind, name, resource_version, error FROM k8s_rejected_objects ORDER BY name")


def query_all(url: str, statement: str, params=None) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(statement, params).fetchall()


def test_nul_anywhere_is_stored_as_replacement_character_and_flagged(io_manager, cluster_uid, database_url):
    frame = frame_of(PODS, cluster_uid, [pod("plain", 1), hostile("hostile", 2)])
    counts = merged(io_manager, frame)
    assert (counts["inserted"], counts["rejected"], counts["dagster/row_count"]) == (2, 0, 2)
    stored = dict((name, rest) for name, *rest in query_all(
        database_url, "SELECT name, nul_replaced, annotations->>'note', labels ? 'k\ufffdey', "
                      "raw->'spec'->'containers'->0->'args'->>0, length(annotations->>'big'), "
                      "annotations->>'emoji' FROM k8s_pods"))
    assert stored["hostile"] == [True, "nul\ufffdinside", True, "--flag=\ufffd", 200_000, "🚀 ünï"]
    assert stored["plain"][0] is False


def test_an_object_the_database_refuses_is_set_aside_and_the_rest_merges(io_manager, cluster_uid, database_url):
    first = frame_of(PODS, cluster_uid, [pod("a", 1), refused("bad", 2), pod("c", 3)])
    counts = merged(io_manager, first)
    assert (counts["inserted"], counts["rejected"], counts["dagster/row_count"]) == (2, 1, 2)
    assert [r["name"] for r in counts["rejected_objects"]] == ["bad"]
    ((kind, name, version, error),) = rejections(database_url)
    assert (kind, name, version) == ("k8s_pods", "bad", "2") and "out of range" in error

    # Re-sync: the refused object is fixed, a stored object's new version is refused. The fixed one
    # is stored, the stored one keeps its old version, and nothing is deleted for being refused.
    second = frame_of(PODS, cluster_uid, [refused("a", 4), pod("bad", 5), pod("c", 3)])
    counts = merged(io_manager, second)
    assert {k: counts[k] for k in ("inserted", "updated", "deleted", "unchanged", "rejected")} == \
        {"inserted": 1, "updated": 0, "deleted": 0, "unchanged": 1, "rejected": 1}
    assert {n: rv for n, (rv, _) in rows(database_url).items()} == {"a": "1", "bad": "5", "c": "3"}
    assert [(name, version) for _, name, version, _ in rejections(database_url)] == [("a", "4")]

    # Fixed everywhere: no rejection is left on record.
    third = frame_of(PODS, cluster_uid, [pod("a", 6), pod("bad", 5), pod("c", 3)])
    assert merged(io_manager, third)["rejected"] == 0
    assert rejections(database_url) == []


def test_many_refused_objects_fail_the_merge_and_change_nothing(io_manager, cluster_uid, database_url):
    from k8s_assets.store.copy import MAX_REJECTED, RefusedRows

    merged(io_manager, frame_of(PODS, cluster_uid, [pod("kept", 1)]))
    before = rows(database_url)
    bad = frame_of(PODS, cluster_uid, [refused(f"bad-{i}", i) for i in range(MAX_REJECTED + 1)])
    with pytest.raises(RefusedRows, match="refused more than"):
        merged(io_manager, bad)
    assert rows(database_url) == before and rejections(database_url) == []


def test_our_connections_say_who_they_are(database_url):
    """pg_stat_activity tells k8s-assets' connections (and one left open) from everyone else's."""
    from k8s_assets.store import database

    with database.connect(database_url) as conn:
        assert conn.execute("SELECT current_setting('application_name')").fetchone() == (database.APPLICATION_NAME,)
    with database.connect(database_url + "&application_name=mine" if "?" in database_url
                          else database_url + "?application_name=mine") as conn:
        assert conn.execute("SELECT current_setting('application_name')").fetchone() == ("mine",)
