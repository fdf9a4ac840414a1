"""Listing over the wire with the prefetch thread, against the simulator: same rows, same faults."""

from __future__ import annotations

import threading
import time

import pytest

from k8s_assets.catalog import KINDS_BY_TABLE
from k8s_assets.extraction import (
    LIST_RESTARTS,
    ListingError,
    ListingForbidden,
    api_client,
    iter_decoded_pages,
    list_kind,
)
from k8s_assets.simulator.faults import Fault

PODS = KINDS_BY_TABLE["k8s_pods"]
CLUSTER_UID = "6969bd07-59fe-506d-97d7-14f9be05f535"


@pytest.fixture
def cluster(fresh_simulator, tmp_path):
    sim = fresh_simulator(clusters=("one",), size="small")
    api = api_client((sim.write_kubeconfig(tmp_path / "kubeconfig"),), "one")
    return sim["one"], api


def fetchers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("list-")]


def pod_list_requests(cluster) -> list[dict]:
    return [r.query for r in cluster.requests if r.path == "/api/v1/pods"]


def test_prefetch_gives_the_same_rows_as_one_page_after_another(cluster):
    sim_cluster, api = cluster
    one_by_one = list_kind(api, PODS, CLUSTER_UID, "one", page_size=7, prefetch=False)
    overlapped = list_kind(api, PODS, CLUSTER_UID, "one", page_size=7)
    assert overlapped.count == one_by_one.count == len(sim_cluster.list("pods")) and overlapped.pages > 5
    assert overlapped.columns == one_by_one.columns
    assert not fetchers()


def test_the_next_page_is_requested_while_the_current_one_is_worked_on(cluster):
    sim_cluster, api = cluster
    sim_cluster.clear_requests()
    pages = iter_decoded_pages(api, PODS, 7, 10.0)
    first, number = next(pages)
    assert number == 1 and first.continue_token
    deadline = time.monotonic() + 10
    while len(pod_list_requests(sim_cluster)) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    # Page 2 was asked for before the caller asked for it, and no further.
    assert [q.get("continue") for q in pod_list_requests(sim_cluster)] == [None, first.continue_token]
    pages.close()
    assert not fetchers(), "closing the listing ends its thread"


@pytest.mark.parametrize("fault, error", [
    (Fault("forbidden", resource="pods", page=3), ListingForbidden),
    (Fault("internal_error", resource="pods", page=3), ListingError),
    (Fault("cut", resource="pods", page=3), ListingError),
])
def test_a_failed_page_fails_the_listing_and_leaves_no_thread(cluster, fault, error):
    sim_cluster, api = cluster
    sim_cluster.inject(fault)
    with pytest.raises(error):
        list_kind(api, PODS, CLUSTER_UID, "one", page_size=7, timeout=2.0)
    assert not fetchers()


def test_an_expired_token_restarts_the_whole_list_and_a_cut_page_is_read_again(cluster):
    sim_cluster, api = cluster
    sim_cluster.inject(Fault("expired", resource="pods", page=3, times=1))
    sim_cluster.inject(Fault("cut", resource="pods", page=2, times=1))
    listing = list_kind(api, PODS, CLUSTER_UID, "one", page_size=7)
    assert listing.restarts == 1 and listing.count == len(sim_cluster.list("pods"))
    assert len(set(listing.columns["uid"])) == listing.count, "nothing listed twice"


def test_expiring_forever_gives_up_after_the_restarts(cluster):
    sim_cluster, api = cluster
    sim_cluster.inject(Fault("expired", resource="pods", page=2))
    with pytest.raises(ListingError, match="kept expiring") as failed:
        list_kind(api, PODS, CLUSTER_UID, "one", page_size=7)
    assert failed.value.status == 410
    assert sum(1 for q in pod_list_requests(sim_cluster) if not q.get("continue")) == LIST_RESTARTS + 1
    assert not fetchers()


def test_known_versions_make_key_only_rows_over_the_wire(cluster):
    sim_cluster, api = cluster
    pods = sim_cluster.list("pods")
    known = {p["metadata"]["uid"]: p["metadata"]["resourceVersion"] for p in pods[:-3]}
    listing = list_kind(api, PODS, CLUSTER_UID, "one", page_size=7, known_versions=known)
    assert listing.unchanged == len(pods) - 3 and listing.count == len(pods)
    assert sum(r is not None for r in listing.columns["raw"]) == 3
