"""Listing over the wire with the prefetch thread, against the simulator: same rows, same faults."""

from __future__ import annotations

import threading

import pytest

from k8s_assets.catalog import KINDS_BY_TABLE
from k8s_assets.kube import listing as kube_listing
from k8s_assets.kube.listing import (LIST_RESTARTS, MAX_RETRY_AFTER_SECONDS, ListingError, ListingForbidden, api_client,
                                     iter_decoded_pages, list_kind)
from k8s_assets.simulator.faults import Fault

PODS = KINDS_BY_TABLE["k8s_pods"]
CLUSTER_UID = "6969bd07-59fe-506d-97d7-14f9be05f535"


@pytest.fixture
def cluster(fresh_simulator, tmp_path):
    sim = fresh_simulator(clusters=("one",), size="small")
    api = api_client((sim.write_kubeconfig(tmp_path / "kubeconfig"),), "one")
    return sim["one"], api


@pytest.fixture
def waits(monkeypatch) -> list[float]:
    """The waits between tries (urllib3's backoff and Retry-After, ours for a cut page), counted
    instead of slept: the tests say how long the client would wait, and wait for nothing."""
    waited: list[float] = []
    monkeypatch.setattr(kube_listing, "sleep_between_tries", waited.append)
    return waited


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
    # The server holds page 2 until released: its hold is the signal that the prefetch thread
    # asked for it, and while it is held page 3 cannot be asked for (its continue token is in
    # page 2). The delay only bounds a broken test; no verdict waits on it.
    page_two = sim_cluster.inject(Fault("slow", resource="pods", page=2, delay=120.0))
    pages = iter_decoded_pages(api, PODS, 7, 30.0)
    try:
        first, number = next(pages)
        assert number == 1 and first.continue_token
        assert page_two.wait_held(1), "page 2 was not asked for until the caller asked for it"
        # Page 2 was asked for before the caller asked for it, and no further.
        assert [q.get("continue") for q in pod_list_requests(sim_cluster)] == [None, first.continue_token]
    finally:
        page_two.release()
        pages.close()
    assert not fetchers(), "closing the listing ends its thread"


@pytest.mark.parametrize("fault, error, waited", [
    (Fault("forbidden", resource="pods", page=3), ListingForbidden, []),  # not retried
    # urllib3's four status retries: exponential backoff (factor 0.25; no wait before the first)
    (Fault("internal_error", resource="pods", page=3), ListingError, [0.5, 1.0, 2.0]),
    (Fault("cut", resource="pods", page=3), ListingError, [0.2, 0.4]),  # read again twice, after a pause
])
def test_a_failed_page_fails_the_listing_and_leaves_no_thread(cluster, waits, fault, error, waited):
    sim_cluster, api = cluster
    sim_cluster.inject(fault)
    with pytest.raises(error):
        # The default request timeout: a short one could expire on a busy machine and add
        # urllib3's read retries (and their waits) to what the fault itself causes.
        list_kind(api, PODS, CLUSTER_UID, "one", page_size=7)
    assert waits == waited
    assert not fetchers()


@pytest.mark.parametrize("fault, waited", [
    (Fault("throttle_text", resource="pods", page=2, times=2, retry_after=3), [3, 3]),
    (Fault("throttle_status", resource="pods", page=2, times=1, retry_after=7), [7]),
    # A server asking for more than MAX_RETRY_AFTER_SECONDS gets that much, not what it asked.
    (Fault("throttle_text", resource="pods", page=2, times=1, retry_after=3600), [MAX_RETRY_AFTER_SECONDS]),
])
def test_a_throttled_page_is_asked_again_after_the_retry_after_it_gave(cluster, waits, fault, waited):
    sim_cluster, api = cluster
    sim_cluster.inject(fault)
    listing = list_kind(api, PODS, CLUSTER_UID, "one", page_size=7)
    assert listing.count == len(sim_cluster.list("pods"))
    assert waits == waited
    assert [r.status for r in sim_cluster.requests if r.path == "/api/v1/pods"].count(429) == len(waited)


def test_an_expired_token_restarts_the_whole_list_and_a_cut_page_is_read_again(cluster, waits):
    sim_cluster, api = cluster
    sim_cluster.inject(Fault("expired", resource="pods", page=3, times=1))
    sim_cluster.inject(Fault("cut", resource="pods", page=2, times=1))
    listing = list_kind(api, PODS, CLUSTER_UID, "one", page_size=7)
    assert listing.restarts == 1 and listing.count == len(sim_cluster.list("pods"))
    assert waits == [0.2], "the cut page was read again after one pause; a restart does not wait"
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


class RecordingSink:
    """What the store's staged merge is to a listing: it takes each page's rows as they arrive."""

    def __init__(self):
        self.frames = []
        self.restarts = 0

    def add(self, frame):
        self.frames.append(frame)

    def restart(self):
        self.restarts += 1
        self.frames.clear()


def test_pages_flow_into_a_sink_one_page_at_a_time_and_a_relist_starts_it_over(cluster):
    sim_cluster, api = cluster
    sim_cluster.inject(Fault("expired", resource="pods", page=3, times=1))
    sink = RecordingSink()
    listing = list_kind(api, PODS, CLUSTER_UID, "one", page_size=7, sink=sink)
    pods = sim_cluster.list("pods")
    assert listing.restarts == sink.restarts == 1, "the two pages before the 410 were forgotten"
    assert [len(f) for f in sink.frames] == [len(pods[i:i + 7]) for i in range(0, len(pods), 7)]
    assert sorted(u for f in sink.frames for u in f["uid"]) == sorted(p["metadata"]["uid"] for p in pods)
    assert all(list(f.columns) == list(PODS.row_columns) for f in sink.frames)
    assert listing.count == len(pods) and all(values == [] for values in listing.columns.values()), \
        "nothing is held beyond the page being added"
