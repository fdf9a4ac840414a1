"""No object can block its kind, whatever the types of its fields.

Real objects of every catalog kind (and of every custom resource) as the simulator generates
them are mutated by Hypothesis: any field, at any path (inside lists too), replaced by null, a
string, a number, a list, an object, a huge (>= 200 KB) value or a NUL-laden value. Every kind
is then decoded as a sync decodes it (``ProjectedRowBuilder`` on list pages) and merged through
the real merge into real PostgreSQL, all examples' objects of a kind in one merge, in two
rounds: a cluster's first sync (COPY straight into the table) and a re-sync of the same objects
changed and mutated anew (staged, upserted, versions written). The
property: every merge succeeds, and every listed object is stored or set aside, none lost and
none counted twice (rows stored + set aside and not stored == listed, which is what the
``row_count_matches_listing`` check asks). The container images are then derived from what
was stored, as the images asset does.

Run with ``-s`` to see, per kind, how many objects were mutated, stored and set aside.
"""

from __future__ import annotations

import functools
import hashlib
import json
import uuid
from collections import Counter, defaultdict

import orjson
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from psycopg import sql

from k8s_assets.catalog import KINDS
from k8s_assets.catalog.generic import CUSTOM_RESOURCES, custom_resource_kind
from k8s_assets.catalog.types import Kind
from k8s_assets.dagster_edge.resources import PostgresResource
from k8s_assets.kube.cluster import CLUSTER_COLUMNS
from k8s_assets.kube.decoding import ProjectedRowBuilder
from k8s_assets.kube.listing import to_frame
from k8s_assets.simulator.generator import generate_cluster
from k8s_assets.simulator.server import SimulatedCluster
from k8s_assets.store.clusters import write_cluster
from k8s_assets.store.contract import KindListing
from k8s_assets.store.database import sql_template
from k8s_assets.store.images import rebuild_images
from k8s_assets.store.merge import merge
from k8s_assets.store.versions import stored_versions

# Objects of each kind mutated per example, in each of the two rounds (a first sync, a re-sync).
# All examples' objects of a kind are merged at once, so the test costs one merge per kind and
# round whatever EXAMPLES is (about 15 s on a loaded 2-core machine).
OBJECTS_PER_KIND = 4
EXAMPLES = 6
HUGE = 200 * 1024


@functools.lru_cache(maxsize=None)
def _huge_text(seed: int) -> str:
    """About 200 KB of hex that compresses poorly (as an index entry would have to hold it)."""
    digest = hashlib.sha256(str(seed).encode()).digest()
    chunks = []
    for _ in range(HUGE // 64 + 1):
        digest = hashlib.sha256(digest).digest()
        chunks.append(digest.hex())
    return "".join(chunks)


_leaves = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=5))
HOSTILE_VALUES = st.one_of(
    st.none(),
    st.text(max_size=8),
    st.integers(-2**70, 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.lists(_leaves, max_size=3),
    st.dictionaries(st.text(max_size=4), _leaves, max_size=3),
    st.integers(0, 9).map(_huge_text),
    st.integers(0, 9).map(lambda seed: {f"k{i}": _huge_text(seed + i)[:HUGE // 4] for i in range(5)}),
    st.integers(0, 9).map(lambda seed: [_huge_text(seed)]),
    st.text(max_size=4).map(lambda s: f"{s}\x00{s}\x00"),
    st.text(max_size=4).map(lambda s: {f"key\x00{s}": f"value\x00{s}"}),
)


def paths_of(value, prefix=()) -> list[tuple]:
    """Every path to a value in a JSON document (keys and list indexes), the document itself excluded."""
    found = []
    if isinstance(value, dict):
        for key, child in value.items():
            found.append((*prefix, key))
            found += paths_of(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found.append((*prefix, index))
            found += paths_of(child, (*prefix, index))
    return found


def replaced(document, path: tuple, value):
    """A copy of ``document`` with the value at ``path`` replaced."""
    if not path:
        return value
    copy = list(document) if isinstance(document, list) else dict(document)
    copy[path[0]] = replaced(document[path[0]], path[1:], value)
    return copy


@st.composite
def mutated(draw, obj: dict) -> tuple[dict, tuple]:
    """The object with one or two fields replaced by hostile values; and the first path replaced."""
    first = None
    for _ in range(draw(st.integers(1, 2))):
        paths = paths_of(obj)
        path = paths[draw(st.integers(0, len(paths) - 1))]
        obj = replaced(obj, path, draw(HOSTILE_VALUES))
        first = first or path
    return obj, first


def page_bodies(kind: Kind, objects: list[dict], page_size: int = 4) -> list[bytes]:
    """List pages as an API server writes them (compact UTF-8 JSON; Python's json writes any integer)."""
    pages = []
    for start in range(0, len(objects), page_size):
        page = {"kind": f"{kind.kind}List", "apiVersion": kind.api_version, "metadata": {"resourceVersion": "9"},
                "items": objects[start:start + page_size]}
        pages.append(json.dumps(page, separators=(",", ":"), ensure_ascii=False).encode())
    return pages


@pytest.fixture(scope="module")
def generated() -> dict:
    """The first objects of every catalog kind and of every custom resource, as the simulator serves them."""
    cluster = SimulatedCluster(generate_cluster("hostile", size="small", seed=11))
    kinds: dict[str, tuple[Kind, list[dict]]] = {}
    for kind in KINDS:
        pages = cluster.store.list_pages(kind.resource, kind.version, 50)
        kinds[kind.table] = (kind, [item for body in pages for item in orjson.loads(body)["items"]])
    for crd in cluster.list("customresourcedefinitions.apiextensions.k8s.io"):
        spec = crd["spec"]
        storage = next(v["name"] for v in spec["versions"] if v["storage"])
        resource = f"{spec['names']['plural']}.{spec['group']}"
        kind = custom_resource_kind(spec["group"], storage, spec["names"]["plural"], spec["names"]["kind"],
                                    spec["scope"] == "Namespaced")
        pages = cluster.store.list_pages(resource, storage, 50)
        kinds[f"cr:{resource}"] = (kind, [item for body in pages for item in orjson.loads(body)["items"]])
    assert all(objects for _, objects in kinds.values()), [name for name, (_, o) in kinds.items() if not o]
    return kinds


def merge_round(postgres: PostgresResource, cluster_uid: str, batches: dict, totals: dict) -> None:
    """Decode and merge every kind's mutated objects as one sync would; check each kind balances."""
    custom_columns: dict[str, list] = {}
    custom_set_aside: list[dict] = []
    custom_listed: list[dict] = []
    for name, (kind, objects) in batches.items():
        is_custom = name.startswith("cr:")
        known = None if is_custom else stored_versions(postgres.connect, kind, cluster_uid) or None
        rows = ProjectedRowBuilder(kind, cluster_uid, "hostile", known).add_page_bodies(page_bodies(kind, objects))
        totals[kind.table]["mutated"] += len(objects)
        totals[kind.table]["unreadable_columns"] += rows.unreadable_columns
        if is_custom:  # one table, one merge for every CRD's instances (as the custom resources asset does)
            for column, values in rows.columns.items():
                custom_columns.setdefault(column, []).extend(values)
            custom_set_aside += rows.set_aside
            custom_listed += objects
            continue
        merge_and_check(postgres, kind, cluster_uid, to_frame(kind, rows.columns), list(rows.set_aside), objects,
                        kind.table, totals)
    merge_and_check(postgres, CUSTOM_RESOURCES, cluster_uid, to_frame(CUSTOM_RESOURCES, custom_columns),
                    custom_set_aside, custom_listed, CUSTOM_RESOURCES.table, totals)
    rebuild_images(postgres.connect, cluster_uid)


def merge_and_check(postgres: PostgresResource, kind: Kind, cluster_uid: str, frame: pd.DataFrame,
                    set_aside_objects: list[dict], objects: list[dict], name: str, totals: dict) -> None:
    listed = len(objects)
    listing = KindListing(kind, cluster_uid, "hostile", "complete", frame, set_aside=set_aside_objects)
    assert listing.listed == listed, (kind.table, listing.listed, listed)
    result = merge(postgres.connect, listing)
    metadata = {"rejected": len(result.rejected), "unfit_columns": result.unfit_columns}
    with postgres.connect() as conn:
        stored = conn.execute(sql_template("checks/row_count.sql", table=sql.Identifier(kind.table)),
                              {"cluster_uid": cluster_uid}).fetchone()[0]
        set_aside = conn.execute(sql_template("checks/rejected_unstored.sql", table=sql.Identifier(kind.table)),
                                 {"cluster_uid": cluster_uid, "kind": kind.table}).fetchone()[0]
        stored_uids = {str(u) for (u,) in conn.execute(
            sql.SQL("SELECT uid FROM {} WHERE cluster_uid = %s").format(sql.Identifier(kind.table)), (cluster_uid,))}
        rejected_uids = {u for (u,) in conn.execute(
            "SELECT uid FROM k8s_rejected_objects WHERE cluster_uid = %s AND kind = %s", (cluster_uid, kind.table))}
    # None lost, none counted twice: each listed object is a stored row or a rejection, not both
    # (the row_count_matches_listing check's sum) ...
    assert stored + set_aside == listed, (kind.table, stored, set_aside, listed, metadata)
    assert metadata["rejected"] >= set_aside
    # ... and each object still known by its uid is found under it, stored or set aside.
    for obj in objects:
        uid = obj.get("metadata", {}).get("uid") if isinstance(obj.get("metadata"), dict) else None
        if isinstance(uid, str) and len(uid) == 36:
            assert uid in stored_uids or uid in rejected_uids, (kind.table, uid)
    totals[name]["unfit_columns"] += metadata["unfit_columns"]
    totals[name]["set_aside"] += metadata["rejected"]
    totals[name]["stored"] += listed - metadata["rejected"]


def new_cluster(postgres: PostgresResource) -> str:
    cluster_uid = str(uuid.uuid4())
    write_cluster(postgres.connect, pd.DataFrame([{
        "cluster_uid": cluster_uid, "context_name": f"hostile-{cluster_uid[:8]}", "cluster_name": "hostile",
        "server": "https://hostile.invalid", "kubernetes_version": "v1.30.0", "kube_system_uid": None,
        "identity_source": "server-url", "last_synced_at": pd.Timestamp.now(tz="UTC")}],
        columns=list(CLUSTER_COLUMNS), dtype=object))
    return cluster_uid


def as_copy(obj: dict, example: int, version_step: int = 0) -> dict:
    """The object as a distinct object of its own for each example (uid and name), at a later
    resourceVersion by ``version_step`` (a re-sync then sends it: the merge's staged path)."""
    copy = orjson.loads(orjson.dumps(obj))
    metadata = copy["metadata"]
    metadata["uid"] = str(uuid.uuid5(uuid.UUID(metadata["uid"]), str(example)))
    metadata["name"] = f"{metadata['name']}-x{example}"
    metadata["resourceVersion"] = str(int(metadata["resourceVersion"]) + version_step)
    return copy


def every_kind_merges(database_url: str, objects_by_kind: dict, examples: int, source: str) -> dict:
    """Hypothesis mutates the objects, ``examples`` times; all mutated objects of a kind are then
    merged together (one merge per kind and round: the cost is bounded by the kinds, not the examples)."""
    rounds: list[dict[str, tuple[Kind, list[dict]]]] = [
        {name: (kind, []) for name, (kind, _) in objects_by_kind.items()} for _ in range(2)]
    numbers = iter(range(examples * 10))

    # No shrinking: the objects of one example are merged with the others', and a failure names
    # the kind and the error.
    @settings(derandomize=True, max_examples=examples, deadline=None, database=None,
              phases=(Phase.explicit, Phase.generate),
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(data=st.data())
    def mutate_every_kind(data):
        example = next(numbers)
        for number, version_step in enumerate((0, 100_000)):  # first sync, then a re-sync of changed objects
            for name, (kind, objects) in objects_by_kind.items():
                rounds[number][name][1].extend(
                    data.draw(mutated(as_copy(o, example, version_step)), label=f"{name} {i}")[0]
                    for i, o in enumerate(objects[:OBJECTS_PER_KIND]))

    mutate_every_kind()
    postgres = PostgresResource(url=database_url)
    cluster_uid = new_cluster(postgres)
    totals: dict[str, Counter] = defaultdict(Counter)
    for batches in rounds:
        merge_round(postgres, cluster_uid, batches, totals)
    # NULL columns: objects stored with a column NULL, because its extractor failed (decoding) or
    # its value did not fit the column's SQL type (the merge).
    print(f"\n{source}\n{'kind':36} {'mutated':>8} {'stored':>7} {'set aside':>10} {'NULL: extractor':>16} "
          f"{'NULL: unfit':>12}")
    for name in sorted(totals):
        t = totals[name]
        print(f"{name:36} {t['mutated']:>8} {t['stored']:>7} {t['set_aside']:>10} {t['unreadable_columns']:>16} "
              f"{t['unfit_columns']:>12}")
    return totals


def test_every_kind_merges_whatever_the_types_of_its_objects_fields(database_url, generated):
    totals = every_kind_merges(database_url, generated, EXAMPLES, "simulated objects")
    assert set(totals) == {k.table for k in KINDS} | {CUSTOM_RESOURCES.table}
    assert all(sum(t[outcome] for t in totals.values()) > 0 for outcome in
               ("set_aside", "unreadable_columns", "unfit_columns")), "the mutations should reach every outcome"


def real_objects_by_kind(api) -> dict[str, tuple[Kind, list[dict]]]:
    """The objects of every kind a real server serves (at the newest version of the kind's shape),
    and of every custom resource, as it lists them."""
    from dataclasses import replace

    from k8s_assets.kube.listing import ListingNotServed
    from k8s_assets_tests.real_objects import list_objects

    found: dict[str, tuple[Kind, list[dict]]] = {}
    for kind in KINDS:
        for version in (kind.version, *kind.older_versions):
            try:
                objects = list_objects(api, kind, version)
            except ListingNotServed:
                continue
            if objects:
                found[kind.table] = (replace(kind, version=version), objects)
            break
    for crd in found["k8s_crds"][1]:
        spec = crd["spec"]
        storage = next(v["name"] for v in spec["versions"] if v.get("storage"))
        kind = custom_resource_kind(spec["group"], storage, spec["names"]["plural"], spec["names"]["kind"],
                                    spec["scope"] == "Namespaced")
        objects = list_objects(api, kind, storage)
        if objects:
            found[f"cr:{kind.resource}"] = (kind, objects)
    return found


def test_real_server_objects_of_every_kind_merge_whatever_their_types(real_kube, database_url):
    """The same property on objects a real kube-apiserver wrote (Go's encoder, real managedFields,
    the defaults it fills in), each kind at the version the server serves."""
    from k8s_assets_tests.real_objects import NOT_SERVED, populate_once

    populate_once(real_kube)
    objects_by_kind = real_objects_by_kind(real_kube.api_client())
    totals = every_kind_merges(database_url, objects_by_kind, 3, f"objects of kube-apiserver {real_kube.version}")
    served = {k.table for k in KINDS} - NOT_SERVED.get(real_kube.version, frozenset())
    assert set(totals) == served | {CUSTOM_RESOURCES.table}, "populate creates every kind the server serves"


# ---------------------------------------------------------------------------
# The reproductions of issue 17, through the Dagster pipeline against a simulated cluster.


@pytest.fixture
def instance():
    import dagster as dg

    with dg.DagsterInstance.ephemeral() as instance:
        yield instance


def test_oddly_typed_pods_never_fail_the_pods_asset(fresh_simulator, tmp_path, database_url, instance):
    """spec.containers as a string and a restartCount of "five" used to fail k8s_pods (AttributeError,
    TypeError) and leave every other pod of the cluster unsynced; a uid that is a number cannot be
    stored at all. Now the first two are stored with those columns NULL, the third is set aside, every
    other pod is stored, and the checks pass."""
    from k8s_assets_tests.pipeline import cluster_uid_of, definitions, materialization_metadata, query, sync

    sim = fresh_simulator(clusters=("one",))
    cluster = sim["one"]
    template = cluster.list("pods")[0]

    def pod_like(name: str, mutate) -> dict:
        new = orjson.loads(orjson.dumps(template))
        new["metadata"] = {"name": name, "namespace": template["metadata"]["namespace"]}
        mutate(new)
        return cluster.create("pods", new)

    oops = pod_like("containers-oops", lambda p: p["spec"].update(containers="oops"))
    five = pod_like("restarts-five", lambda p: p["status"].update(
        containerStatuses=[{**p["status"]["containerStatuses"][0], "restartCount": "five"}]))
    numeric_uid = pod_like("uid-a-number", lambda p: p["metadata"].update(uid=5))
    defs = definitions(sim.write_kubeconfig(tmp_path / "kubeconfig"), database_url,
                       resources_env={"K8S_ASSETS_RESOURCES": "namespaces,nodes,pods"})
    result = sync(defs, instance, "one")
    assert result.success
    cluster_uid = cluster_uid_of(database_url, "one")
    served = cluster.list("pods")
    stored = {str(uid): (images, restarts, raw_containers) for uid, images, restarts, raw_containers in query(
        database_url, "SELECT uid, images, restart_count, raw->'spec'->'containers' FROM k8s_pods "
                      "WHERE cluster_uid = %s", (cluster_uid,))}
    assert set(stored) == {p["metadata"]["uid"] for p in served} - {5}, "every other pod is stored"
    assert stored[oops["metadata"]["uid"]][0] is None and stored[oops["metadata"]["uid"]][2] == "oops"
    assert stored[five["metadata"]["uid"]][1] is None and stored[five["metadata"]["uid"]][0], \
        "restart_count NULL, the images of the same pod still read"
    ((uid, name, error),) = query(database_url, "SELECT uid, name, error FROM k8s_rejected_objects "
                                                "WHERE cluster_uid = %s", (cluster_uid,))
    assert (name, error) == ("uid-a-number", "not stored: metadata.uid is a number, not a string")
    assert uid.startswith("unreadable-uid:") and numeric_uid["metadata"]["uid"] == 5
    metadata = materialization_metadata(result, "k8s_pods")
    assert (metadata["listed"], metadata["rejected"], metadata["unreadable_columns"]) == (len(served), 1, 2)
    assert "uid-a-number" in metadata["rejected_examples"]
    pod_checks = [c for c in result.get_asset_check_evaluations() if c.asset_key.path[-1] == "k8s_pods"]
    assert pod_checks and all(c.passed for c in pod_checks), [(c.check_name, c.passed) for c in pod_checks]
