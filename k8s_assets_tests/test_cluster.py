"""Cluster identity: kube-system UID first, the normalised server URL as a recorded fallback."""

import uuid

import pytest

from k8s_assets.kube.cluster import CLUSTER_UID_NAMESPACE, identity_from, normalise_server_url


def test_identity_is_uuid5_of_the_kube_system_uid_whatever_the_url():
    kube_system = "5f0c8a3e-1111-4222-8333-944445555666"
    a = identity_from(kube_system, "https://127.0.0.1:6443")
    b = identity_from(kube_system, "https://api.prod.example.com")
    assert a == b and a.source == "kube-system"
    assert a.cluster_uid == str(uuid.uuid5(CLUSTER_UID_NAMESPACE, kube_system))


def test_two_local_clusters_behind_one_url_do_not_collide():
    server = "https://127.0.0.1:6443"
    assert identity_from(str(uuid.uuid4()), server).cluster_uid != identity_from(str(uuid.uuid4()), server).cluster_uid


def test_fallback_hashes_the_normalised_url_and_says_so():
    a = identity_from(None, "HTTPS://API.Example.com:443/")
    b = identity_from(None, "https://api.example.com")
    assert a == b and a.source == "server-url" and a.kube_system_uid is None
    assert identity_from(None, "https://api.example.com:8443").cluster_uid != a.cluster_uid


@pytest.mark.parametrize(("url", "normal"), [
    ("https://Example.COM:443/", "https://example.com"),
    ("http://example.com:80", "http://example.com"),
    ("https://10.0.0.1:6443/k8s/clusters/c-1/", "https://10.0.0.1:6443/k8s/clusters/c-1"),
])
def test_normalise_server_url(url, normal):
    assert normalise_server_url(url) == normal
