"""The catalog is the schema: kind tables are derived from catalog entries, recorded, and never lose data."""

from __future__ import annotations

from dataclasses import replace

import dagster as dg
import psycopg
import pytest

from k8s_assets import cli
from k8s_assets.store import schema
from k8s_assets.catalog import KINDS, KINDS_BY_TABLE
from k8s_assets.catalog.extractors import at
from k8s_assets.catalog.types import Kind, col
from k8s_assets.store.migrations import migrate
from k8s_assets_tests.pipeline import cluster_uid_of, definitions, query, sync

WIDGETS = Kind(
    table="k8s_test_widgets", group="example.com", version="v1", plural="widgets", kind="Widget",
    namespaced=True, area="extensions", description="Widgets, a kind the catalog gains in this test.",
    columns=(col("size", "integer", at("spec", "size"), "spec.size."),),
    indexes=(("size",),),
)


def columns_of(url: str, table: str) -> dict[str, str]:
    return dict(query(url, "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                           "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped", (table,)))


def test_a_migrated_database_is_the_catalog_and_says_where_each_table_came_from(database_url):
    with psycopg.connect(database_url) as conn:
        derived = schema.plan(conn)
    assert derived.changes == () and derived.kept == ()
    recorded = query(database_url, "SELECT kind, catalog_digest FROM k8s_assets_schema_changes WHERE change = 'create table'")
    assert {kind for kind, _ in recorded} == {k.table for k in KINDS}
    assert {digest for _, digest in recorded} == {schema.catalog_digest(KINDS)}
    # Descriptions are the tables' and columns' comments, for \d+ in psql.
    (comment,) = query(database_url, "SELECT obj_description('k8s_pods'::regclass, 'pg_class')")[0]
    assert comment == KINDS_BY_TABLE["k8s_pods"].description
    assert ("cluster_uid", "node_name") in {tuple(c) for (c,) in query(
        database_url, "SELECT array_agg(a.attname ORDER BY k.ord) FROM pg_index i "
                      "CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY k (n, ord) "
                      "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n "
                      "WHERE i.indrelid = 'k8s_pods'::regclass GROUP BY i.indexrelid")}


def test_a_kind_and_a_column_the_catalog_gains_are_derived_with_history_and_recorded(database_url):
    with psycopg.connect(database_url, autocommit=True) as conn:
        created = schema.apply(conn, (*KINDS, WIDGETS))
        assert [(c.kind, c.change) for c in created.changes] == [
            ("k8s_test_widgets", "create table"), ("k8s_test_widgets", "add index on size"),
            ("k8s_test_widgets", "comment on table"), ("k8s_test_widgets", "comment on column size")]
        assert "k8s_assets_create_kind_table('k8s_test_widgets', true, '\"size\" integer')" in created.statements(conn)[0]
        # With its history and as-of function, like every kind.
        cluster = "00000000-0000-0000-0000-000000000001"
        conn.execute("INSERT INTO k8s_clusters (cluster_uid, context_name, identity_source, last_synced_at) "
                     "VALUES (%s, 'c', 'server-url', now())", (cluster,))
        conn.execute("INSERT INTO k8s_test_widgets (cluster_uid, uid, context_name, name, namespace, resource_version, "
                     "raw, size) VALUES (%s, gen_random_uuid(), 'c', 'w', 'ns', '7', '{}', 3)", (cluster,))
        # Its version 7 ended and version 8 is current.
        conn.execute("SELECT k8s_assets_ensure_history_partitions('k8s_test_widgets_history', "
                     "(now() AT TIME ZONE 'UTC')::date, 2)")
        conn.execute("INSERT INTO k8s_test_widgets_history SELECT *, clock_timestamp(), 'updated' FROM k8s_test_widgets")
        conn.execute("UPDATE k8s_test_widgets SET resource_version = '8', valid_from = clock_timestamp(), "
                     "began = 'updated'")

        grown = replace(WIDGETS, columns=(*WIDGETS.columns, col("color", "text", at("spec", "color"), "spec.color.")))
        added = schema.apply(conn, (*KINDS, grown))
        assert [c.change for c in added.changes] == ["add column color text", "comment on column color"]
        assert conn.execute("SELECT name, size, color, resource_version FROM k8s_test_widgets").fetchall() == [
            ("w", 3, None, "")], "the next sync rewrites the row and fills the new column"
        assert conn.execute("SELECT name, color FROM k8s_test_widgets_as_of(now())").fetchall() == [("w", None)]
        assert conn.execute("SELECT resource_version, color FROM k8s_test_widgets_as_of("
                            "(SELECT valid_from FROM k8s_test_widgets_history))").fetchall() == [("7", None)]
        assert "color" in columns_of(database_url, "k8s_test_widgets_history")
        recorded = conn.execute("SELECT kind, change, catalog_digest FROM k8s_assets_schema_changes "
                                "WHERE kind = 'k8s_test_widgets' ORDER BY id").fetchall()
        assert [c for _, c, _ in recorded] == ["create table", "add index on size", "comment on table",
                                               "comment on column size", "add column color text",
                                               "comment on column color"]
        assert recorded[-1][2] == schema.catalog_digest((*KINDS, grown)) != recorded[0][2]

        # Nothing more to do; a column the catalog drops is kept, never dropped.
        assert schema.plan(conn, (*KINDS, grown)).changes == ()
        shrunk = schema.plan(conn, (*KINDS, WIDGETS))
        assert shrunk.changes == () and shrunk.kept == ("k8s_test_widgets.color",)
        # A changed type is not guessed: one line that says what to do.
        retyped = replace(WIDGETS, columns=(col("size", "bigint", at("spec", "size")),))
        with pytest.raises(schema.SchemaConflict, match=r"^k8s_test_widgets.size is integer in the database and "
                                                        r"bigint in the catalog: .*numbered migration"):
            schema.plan(conn, (*KINDS, retyped))


def test_a_column_missing_from_a_synced_database_is_added_by_migrate_and_filled_by_the_next_sync(
        fresh_simulator, tmp_path, database_url, capsys, monkeypatch):
    sim = fresh_simulator(clusters=("one",))
    defs = definitions(sim.write_kubeconfig(tmp_path / "kubeconfig"), database_url,
                       resources_env={"K8S_ASSETS_RESOURCES": "namespaces,pods"})
    with dg.DagsterInstance.ephemeral() as instance:
        assert sync(defs, instance, "one").success
        cluster_uid = cluster_uid_of(database_url, "one")
        expected = dict(query(database_url, "SELECT uid, qos_class FROM k8s_pods"))
        assert expected and all(expected.values())
        # A database from before the catalog had k8s_pods.qos_class.
        with psycopg.connect(database_url) as conn:
            conn.execute("ALTER TABLE k8s_pods_history DROP COLUMN qos_class")
            conn.execute("ALTER TABLE k8s_pods DROP COLUMN qos_class")

        monkeypatch.setenv("K8S_ASSETS_DATABASE_URL", database_url)
        assert cli.main(["migrate", "--plan"]) == 0
        shown = capsys.readouterr().out
        assert "-- k8s_pods: add column qos_class text\nSELECT k8s_assets_add_kind_column('k8s_pods', 'qos_class', 'text');" in shown
        assert "qos_class" not in "".join(columns_of(database_url, "k8s_pods")), "--plan changes nothing"

        assert migrate(database_url) == ["catalog: added k8s_pods.qos_class"]
        assert dict(query(database_url, "SELECT uid, qos_class FROM k8s_pods")) == dict.fromkeys(expected)
        assert sync(defs, instance, "one").success
    assert dict(query(database_url, "SELECT uid, qos_class FROM k8s_pods WHERE cluster_uid = %s", (cluster_uid,))) == expected
    assert query(database_url, "SELECT count(*) FROM k8s_pods_as_of(now()) WHERE qos_class IS NOT NULL") == [(len(expected),)]
