"""Decoding only what is stored gives the rows that decoding whole objects gives.

The differential tests feed the same list pages, as the simulator serves them, to today's
row building on whole objects (``RowBuilder.add`` on ``orjson.loads``) and to the projected
decoder (``ProjectedRowBuilder.add_page``), for every catalog kind, every custom resource and
every generated object, and compare every column.
"""

from __future__ import annotations

import contextlib
import copy
import logging

import msgspec
import orjson
import pytest

from k8s_assets.catalog import KINDS, KINDS_BY_TABLE, redaction, types
from k8s_assets.catalog.generic import CUSTOM_RESOURCES, custom_resource_kind
from k8s_assets.kube.decoding import (ProjectedRowBuilder, RowBuilder, decode_page, projection_decoder, read_tree,
                                      stored_bytes)
from k8s_assets.simulator.generator import generate_cluster
from k8s_assets.simulator.server import SimulatedCluster

CLUSTER_UID = "6969bd07-59fe-506d-97d7-14f9be05f535"
PODS = KINDS_BY_TABLE["k8s_pods"]


@pytest.fixture(scope="module")
def cluster() -> SimulatedCluster:
    return SimulatedCluster(generate_cluster("differential", size="small", seed=7))


def served_pages(cluster: SimulatedCluster, resource: str, version: str, limit: int = 40) -> list[bytes]:
    """Every list page of a resource as the simulator's API server sends it (small pages: many of them)."""
    return cluster.store.list_pages(resource, version, limit)


def whole_object_rows(kind, pages: list[bytes], known=None) -> RowBuilder:
    rows = RowBuilder(kind, CLUSTER_UID, "ctx", known)
    for body in pages:
        for item in orjson.loads(body)["items"]:
            rows.add(item)
    return rows


def projected_rows(kind, pages: list[bytes], known=None) -> ProjectedRowBuilder:
    return ProjectedRowBuilder(kind, CLUSTER_UID, "ctx", known).add_page_bodies(pages)


def assert_same_rows(kind, expected: RowBuilder, got: ProjectedRowBuilder) -> None:
    assert list(got.columns) == list(expected.columns)
    jsonb = {name for name, sql_type in kind.sql_types.items() if sql_type == "jsonb"}
    for name, values in expected.columns.items():
        if name == "raw":
            continue
        if name in jsonb:  # the same JSON; labels and annotations keep the text the server sent
            assert [v and orjson.loads(v) for v in got.columns[name]] == [v and orjson.loads(v) for v in values], \
                f"{kind.table}.{name}"
        assert got.columns[name] == values or name in jsonb, f"{kind.table}.{name}"
        assert [type(v) for v in got.columns[name]] == [type(v) for v in values], f"{kind.table}.{name} types"
    for old, new in zip(expected.columns["raw"], got.columns["raw"], strict=True):
        assert (new is None) == (old is None)
        if old is not None:
            assert isinstance(new, bytes)
            assert orjson.loads(new) == orjson.loads(old), kind.table
            assert b"managedFields" not in new or b"managedFields" in old
    assert (got.unchanged, got.nul_replaced) == (expected.unchanged, expected.nul_replaced)


def custom_resource_kinds(cluster: SimulatedCluster):
    for crd in cluster.list("customresourcedefinitions.apiextensions.k8s.io"):
        spec = crd["spec"]
        storage = next(v["name"] for v in spec["versions"] if v["storage"])
        yield (f"{spec['names']['plural']}.{spec['group']}", storage,
               custom_resource_kind(spec["group"], storage, spec["names"]["plural"], spec["names"]["kind"],
                                    spec["scope"] == "Namespaced"))


def every_kind(cluster: SimulatedCluster):
    for kind in KINDS:
        yield kind.resource, kind.version, kind
    yield from custom_resource_kinds(cluster)


def test_every_kind_and_object_decodes_to_the_same_rows_as_the_whole_object(cluster):
    checked = {}
    for resource, version, kind in every_kind(cluster):
        pages = served_pages(cluster, resource, version)
        expected = whole_object_rows(kind, pages)
        got = projected_rows(kind, pages)
        assert_same_rows(kind, expected, got)
        assert got.decoded_whole == 0, f"{kind.table}: the projection did not fit a generated object"
        checked[resource] = len(expected.columns["uid"])
    assert len(checked) > len(KINDS) and all(checked.values()), checked
    assert sum(checked.values()) > 300


def test_with_known_versions_unchanged_objects_are_key_only_rows_as_before(cluster):
    for resource, version, kind in every_kind(cluster):
        pages = served_pages(cluster, resource, version)
        objects = [item for body in pages for item in orjson.loads(body)["items"]]
        # Every other object is stored at its version, one more at an older version.
        known = {o["metadata"]["uid"]: o["metadata"]["resourceVersion"] for o in objects[::2]}
        if len(objects) > 1:
            known[objects[1]["metadata"]["uid"]] = "1"
        expected = whole_object_rows(kind, pages, known)
        got = projected_rows(kind, pages, known)
        assert_same_rows(kind, expected, got)
        assert got.unchanged == len(objects[::2])


def test_all_known_reads_no_item_beyond_its_keys(cluster):
    pages = served_pages(cluster, "pods", "v1")
    known = {o["metadata"]["uid"]: o["metadata"]["resourceVersion"]
             for body in pages for o in orjson.loads(body)["items"]}
    rows = ProjectedRowBuilder(PODS, CLUSTER_UID, "ctx", known)
    for body in pages:
        page = decode_page(body, keys_only=True)
        rows.add_page(page)
        assert page.raw_items is None, "an unchanged page must not be decoded into items"
    assert rows.unchanged == len(known) and set(rows.columns["raw"]) == {None}


# ---------------------------------------------------------------------------
# Hostile objects: NUL, very large, non-ASCII, fields of unexpected types.


def pod(name: str = "p", **extra) -> dict:
    obj = {
        "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}", "resourceVersion": "5",
                     "creationTimestamp": "2026-01-02T03:04:05Z", "labels": {"app": name},
                     "annotations": {"note": "plain"},
                     "ownerReferences": [{"kind": "ReplicaSet", "name": "rs", "uid": "u1", "controller": True}],
                     "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:metadata": {}}}]},
        "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "nginx:1"}]},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                   "containerStatuses": [{"restartCount": 3}]},
    }
    for path, value in extra.items():
        *parents, last = path.split("__")
        node = obj
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    return obj


def page_of(*objects: dict) -> bytes:
    return orjson.dumps({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "9"},
                         "items": list(objects)})


def both_ways(kind, *objects: dict) -> tuple[RowBuilder, ProjectedRowBuilder]:
    body = page_of(*objects)
    expected = whole_object_rows(kind, [body])
    got = projected_rows(kind, [body])
    assert_same_rows(kind, expected, got)
    return expected, got


def test_nul_in_values_and_keys_is_replaced_as_before():
    hostile = pod("nul", metadata__annotations={"k\x00ey": "va\x00lue"}, status__phase="Run\x00ning")
    _, got = both_ways(PODS, pod("a"), hostile, pod("b"))
    assert got.columns["nul_replaced"] == [False, True, False] and got.nul_replaced == 1
    raw = orjson.loads(got.columns["raw"][1])
    assert raw["metadata"]["annotations"] == {"k\ufffdey": "va\ufffdlue"} and raw["status"]["phase"] == "Run\ufffdning"
    assert b"\\u0000" not in got.columns["raw"][1] and got.columns["phase"][1] == "Run\ufffdning"


def test_a_large_annotation_and_non_ascii_text_survive_byte_for_byte():
    large = "x" * 200_000
    text = 'Zahlungsdienst für "Überweisungen" — 決済サービス 🚀 \\ path'
    _, got = both_ways(PODS, pod("big", metadata__annotations={"big": large, "text": text}),
                       pod("emoji🚀", metadata__labels={"team": "zürich"}))
    raw = orjson.loads(got.columns["raw"][0])
    assert raw["metadata"]["annotations"] == {"big": large, "text": text}
    assert orjson.loads(got.columns["annotations"][0]) == {"big": large, "text": text}
    assert got.columns["name"][1] == "emoji🚀" and orjson.loads(got.columns["labels"][1]) == {"team": "zürich"}
    # raw is the object's own bytes: UTF-8 as sent, not escaped or re-encoded.
    assert text.replace("\\", "\\\\").replace('"', '\\"').encode() in got.columns["raw"][0]
    assert len(got.columns["raw"][0]) < 201_000


def test_a_field_of_an_unexpected_type_at_a_declared_path_falls_back_and_is_stored(caplog):
    # Values today's extractors read as missing (a path through a non-object gives None).
    odd = [pod("odd1", status=["a list where an object belongs"]), pod("odd2", status="a string")]
    with caplog.at_level(logging.WARNING, logger="k8s_assets.kube.decoding"):
        expected, got = both_ways(PODS, pod("a"), *odd, pod("b"))
    assert got.columns["name"] == ["a", "odd1", "odd2", "b"] and got.decoded_whole == 2
    assert got.columns["ready"] == [True, None, None, True] and got.columns["node_name"] == ["n1"] * 4
    assert orjson.loads(got.columns["raw"][2])["status"] == "a string"
    assert len([r for r in caplog.records if "unexpected type" in r.getMessage()]) == 1, "logged once per kind"


def test_a_key_of_an_unexpected_type_reads_the_page_whole():
    """A numeric name fails the page's key decode; the page is then read item by item, as before,
    and the object whose name is not a string is set aside by both paths alike."""
    odd = pod("odd")
    odd["metadata"]["name"] = 12
    body = page_of(pod("a"), odd)
    known = {"uid-a": "5"}
    expected = whole_object_rows(PODS, [body], known)
    got = projected_rows(PODS, [body], known)
    assert_same_rows(PODS, expected, got)
    assert got.columns["name"] == ["a"] and got.unchanged == 1
    assert got.set_aside == expected.set_aside
    assert [(r["name"], r["error"]) for r in got.set_aside] == [
        ("12", "not stored: metadata.name is a number, not a string")]


def test_redacted_kinds_take_the_whole_object_and_never_keep_a_value():
    secrets = KINDS_BY_TABLE["k8s_secrets"]
    secret = {"metadata": {"name": "s", "namespace": "d", "uid": "u", "resourceVersion": "1",
                           "annotations": {redaction.LAST_APPLIED: "CANARY"}, "managedFields": []},
              "data": {"k": "Q0FOQVJZ"}, "type": "Opaque"}
    _, got = both_ways(secrets, secret)
    assert b"CANARY" not in got.columns["raw"][0] and b"Q0FOQVJZ" not in got.columns["raw"][0]
    assert got.columns["keys"] == [["k"]]


def test_objects_without_kind_get_it_and_custom_resources_keep_theirs():
    widget = custom_resource_kind("example.com", "v1", "widgets", "Widget", True)
    cr = {"apiVersion": "example.com/v1", "kind": "Widget",
          "metadata": {"name": "w", "namespace": "d", "uid": "u", "resourceVersion": "1", "managedFields": []},
          "spec": {"managedFields": [], "size": 3}}
    _, got = both_ways(widget, cr, {"metadata": {"name": "bare", "uid": "u2", "resourceVersion": "2"}})
    first, second = (orjson.loads(r) for r in got.columns["raw"])
    assert first["spec"] == {"managedFields": [], "size": 3} and "managedFields" not in first["metadata"]
    assert (second["apiVersion"], second["kind"]) == ("example.com/v1", "Widget")
    assert got.columns["raw"][0].count(b'"apiVersion"') == 1


@pytest.mark.parametrize("item, managed", [
    (b'{"metadata":{"name":"a","managedFields":[{"m":1}]},"spec":{}}', b'[{"m":1}]'),
    (b'{"metadata":{"managedFields":[{"m":1}],"name":"a"}}', b'[{"m":1}]'),
    (b'{"metadata":{"managedFields":[]}}', b'[]'),
    # a key of that name earlier in the object (an annotation) is not the one cut
    (b'{"metadata":{"annotations":{"managedFields":"[]"},"managedFields":[]}}', b'[]'),
    # whitespace (not what API servers send): the general way
    (b'{"metadata": {"name": "a", "managedFields": [1]}, "spec": {}}', b'[1]'),
])
def test_managed_fields_are_cut_out_of_the_bytes(item, managed):
    decoded = msgspec.json.decode(item, type=dict[str, dict[str, msgspec.Raw]])
    out = stored_bytes(item, decoded["metadata"]["managedFields"], b'"apiVersion":"v1","kind":"Pod"')
    expected = orjson.loads(item)
    del expected["metadata"]["managedFields"]
    assert orjson.loads(out) == {"apiVersion": "v1", "kind": "Pod", **expected}


def test_the_projection_keeps_declared_paths_and_skips_the_rest():
    decoder = projection_decoder(frozenset({("spec", "containers", "[]", "image"), ("status", "phase"),
                                            ("spec", "selector")}))
    obj = decoder.decode(orjson.dumps({
        "metadata": {"name": "a", "managedFields": [1], "generation": 4},
        "spec": {"containers": [{"image": "x", "env": [1]}, None], "selector": {"a": {"b": [1]}}, "other": 1},
        "status": {"phase": "P", "podIP": "1.2.3.4"}}))
    assert obj["spec"] == {"containers": [{"image": "x"}, None], "selector": {"a": {"b": [1]}}}
    assert obj["status"] == {"phase": "P"} and "generation" not in obj["metadata"]
    assert "kind" not in obj, "a missing key stays missing"
    assert read_tree([("a", "b"), ("a",), ("a", "c", "d")]) == {"a": "leaf"}


def test_every_catalog_column_declares_what_it_reads():
    for kind in (*KINDS, CUSTOM_RESOURCES):
        for column in kind.columns:
            assert isinstance(column.reads, tuple), (kind.table, column.name)
    with pytest.raises(TypeError, match="must say which paths it reads"):
        types.col("x", "text", lambda o: o.get("x"))
    assert types.col("x", "text", lambda o: o.get("x"), reads=[("x",)]).reads == (("x",),)


def test_extractors_read_only_what_they_declare():
    """Each column's value on an object pruned to its declared paths equals the value on the whole object."""
    cluster = SimulatedCluster(generate_cluster("declared", size="tiny", seed=3))
    for resource, version, kind in every_kind(cluster):
        if kind.redact is not None:
            continue
        for body in served_pages(cluster, resource, version, limit=500):
            for item in orjson.loads(body)["items"]:
                whole = copy.deepcopy(item)
                for column in kind.columns:
                    pruned = projection_decoder(frozenset(column.reads)).decode(orjson.dumps(item))
                    assert column.extract(pruned) == column.extract(whole), (kind.table, column.name)


def test_labels_and_annotations_as_a_go_server_writes_them_are_the_same_json():
    """Go escapes <, > and & as \\u003c...: the text differs from orjson's, the JSON does not."""
    body = (b'{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"9"},"items":[{"metadata":'
            b'{"name":"go","namespace":"d","uid":"u","resourceVersion":"1","labels":{"a":"b"},'
            b'"annotations":{"html":"\\u003cb\\u003e \\u0026 \\u2028","empty":""},"managedFields":[{"m":1}]},'
            b'"spec":{"nodeName":"n"},"status":{}}]}')
    expected = whole_object_rows(PODS, [body])
    got = projected_rows(PODS, [body])
    assert_same_rows(PODS, expected, got)
    assert orjson.loads(got.columns["annotations"][0]) == {"html": "<b> & \u2028", "empty": ""}
    assert b"managedFields" not in got.columns["raw"][0]


# ---------------------------------------------------------------------------
# The same differential on pages a real kube-apiserver writes (Go's encoder, real managedFields).


def real_pages(api, kind) -> list[bytes] | None:
    from dataclasses import replace

    from k8s_assets.kube.listing import ListingNotServed, _get_page

    for version in (kind.version, *kind.older_versions):
        listed = replace(kind, version=version)
        pages, token = [], None
        try:
            while True:
                query = [("limit", "3")] + ([("continue", token)] if token else [])
                pages.append(_get_page(api, listed, listed.list_path(), query, 30.0, len(pages) + 1))
                token = orjson.loads(pages[-1])["metadata"].get("continue")
                if not token:
                    return pages
        except ListingNotServed:
            continue
    return None


def test_real_server_pages_decode_to_the_same_rows(real_kube):
    from kubernetes.dynamic import DynamicClient
    from kubernetes.dynamic.exceptions import ConflictError, NotFoundError

    from k8s_assets_tests.real_objects import NUL_ANNOTATIONS

    api = real_kube.api_client()
    dynamic = DynamicClient(api)
    namespace = "decode-differential"
    with contextlib.suppress(ConflictError):  # an earlier run against this server made it
        dynamic.resources.get(api_version="v1", kind="Namespace").create(body={"metadata": {"name": namespace}})
    pods = dynamic.resources.get(api_version="v1", kind="Pod")
    pods.create(namespace=namespace, body={
        "metadata": {"name": "hostile", "annotations": {**NUL_ANNOTATIONS, "html": "<b> & </b>"},
                     "labels": {"team": "zurich"}},
        "spec": {"containers": [{"name": "c", "image": "registry.example.com/a:1"}]}})
    pods.create(namespace=namespace, body={
        "metadata": {"name": "plain", "annotations": {"emoji": "🚀"}},
        "spec": {"containers": [{"name": "c", "image": "registry.example.com/a:1"}]}})
    # The server is shared by the session's real-server tests, which count its pods: the two
    # made here go again (at once: no kubelet waits for them).
    try:
        listed = 0
        for kind in KINDS:
            pages = real_pages(api, kind)
            if pages is None:
                continue
            expected = whole_object_rows(kind, pages)
            got = projected_rows(kind, pages)
            assert_same_rows(kind, expected, got)
            assert got.decoded_whole == 0, kind.table
            listed += len(got.columns["uid"])
            if kind.table == "k8s_pods":
                assert got.nul_replaced >= 1
                cut = [r for r in got.columns["raw"] if r is not None and b"managedFields" not in r]
                assert cut and all(b'"apiVersion":"v1","kind":"Pod"' in r for r in cut)
        assert listed > 50
    finally:
        for name in ("hostile", "plain"):
            with contextlib.suppress(NotFoundError):
                pods.delete(name=name, namespace=namespace, body={"gracePeriodSeconds": 0})
