"""API discovery: which group/versions a cluster serves, and which resources each holds.

One legacy discovery pass (``/api``, ``/apis``, then ``/api/v1`` and ``/apis/<g>/<v>``, all
``Accept: application/json``, the same walk the Python DynamicClient does) per cluster per
run, cached in the process: every kind asset of a partition asks the same question.

A built-in kind is listed at the catalog's version when the cluster serves it there, else at
the group's preferred version that serves the resource; a kind the cluster does not serve is
skipped (``not_served`` coverage), not an error. Custom resources take group, version, kind,
plural and scope from here and from the CRDs, never from guesses.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from kubernetes import client as k8s_client

from k8s_assets.catalog.types import Kind
from k8s_assets.kube.listing import ListingError, get_json, status_message

log = logging.getLogger(__name__)

# Per-group/version documents are fetched with this many requests in flight.
DISCOVERY_CONCURRENCY = 4
CACHE_SECONDS = 300.0
CACHE_ENTRIES = 64


@dataclass(frozen=True)
class ServedResource:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    verbs: tuple[str, ...]

    @property
    def listable(self) -> bool:
        return not self.verbs or "list" in self.verbs


@dataclass(frozen=True)
class Discovery:
    """What one cluster serves. ``versions`` of a group are in the server's preference order."""

    group_versions: dict[str, tuple[str, ...]]  # group ("" for core) -> versions, preferred first
    resources: dict[tuple[str, str, str], ServedResource]  # (group, version, plural) -> resource
    failed: tuple[tuple[str, str], ...] = ()  # (group, version) whose document could not be read

    def served_versions(self, group: str, plural: str) -> list[str]:
        """Versions at which ``plural.group`` is served and listable, preferred first."""
        return [v for v in self.group_versions.get(group, ())
                if (r := self.resources.get((group, v, plural))) is not None and r.listable]

    def version_for(self, kind: Kind) -> str | None:
        """The version to list a catalog kind at, or None when the cluster does not serve it."""
        versions = self.served_versions(kind.group, kind.plural)
        for version in (kind.version, *kind.older_versions):
            if version in versions:
                return version
        if versions:
            # Another shape (autoscaling/v1 for an autoscaling/v2 kind): raw is whole, typed
            # columns whose paths differ stay empty.
            return versions[0]
        if any(group == kind.group for group, _ in self.failed):
            return kind.version  # discovery of its group failed: try the catalog's version anyway
        return None

    def resource(self, group: str, version: str, plural: str) -> ServedResource | None:
        return self.resources.get((group, version, plural))


def _group_version_path(group: str, version: str) -> str:
    return f"/apis/{group}/{version}" if group else f"/api/{version}"


def _fetch(api: k8s_client.ApiClient, path: str, timeout: float) -> dict:
    status, payload, body = get_json(api, path, timeout=timeout)
    if payload is None:
        message, reason = status_message(status, body)
        raise ListingError(f"discovery GET {path} failed with HTTP {status}: {message}", status=status,
                           reason=reason, transient=status >= 500 or status == 429)
    return payload


def discover(api: k8s_client.ApiClient, timeout: float = 30.0) -> Discovery:
    """Walk legacy discovery. A failing group/version is recorded, the rest still counts."""
    core = _fetch(api, "/api", timeout)
    groups = _fetch(api, "/apis", timeout)
    group_versions: dict[str, tuple[str, ...]] = {"": tuple(core.get("versions") or ())}
    for group in groups.get("groups") or ():
        versions = [v["version"] for v in group.get("versions") or ()]
        preferred = (group.get("preferredVersion") or {}).get("version")
        if preferred in versions:
            versions.remove(preferred)
            versions.insert(0, preferred)
        group_versions[group["name"]] = tuple(versions)

    pairs = [(g, v) for g, versions in group_versions.items() for v in versions]
    resources: dict[tuple[str, str, str], ServedResource] = {}
    failed: list[tuple[str, str]] = []

    def fetch_pair(pair: tuple[str, str]) -> tuple[tuple[str, str], dict | None]:
        try:
            return pair, _fetch(api, _group_version_path(*pair), timeout)
        except ListingError as e:
            log.warning("discovery of %s failed: %s", "/".join(p for p in pair if p), e)
            return pair, None

    with ThreadPoolExecutor(DISCOVERY_CONCURRENCY, thread_name_prefix="discovery") as pool:
        for (group, version), document in pool.map(fetch_pair, pairs):
            if document is None:
                failed.append((group, version))
                continue
            for r in document.get("resources") or ():
                name = r.get("name") or ""
                if "/" in name:  # subresources: pods/log, deployments/scale
                    continue
                resources[(group, version, name)] = ServedResource(
                    group, version, name, r.get("kind") or "", bool(r.get("namespaced")), tuple(r.get("verbs") or ()))
    return Discovery(group_versions, resources, tuple(failed))


_cache: OrderedDict[tuple, tuple[float, Discovery]] = OrderedDict()
_cache_lock = threading.Lock()
_key_locks: dict[tuple, threading.Lock] = {}


def cached_discovery(api: k8s_client.ApiClient, cache_key: tuple, timeout: float = 30.0,
                     max_age: float = CACHE_SECONDS) -> Discovery:
    """``discover`` once per ``cache_key`` (context and run) per process; concurrent callers wait."""
    with _cache_lock:
        lock = _key_locks.setdefault(cache_key, threading.Lock())
    with lock:
        with _cache_lock:
            hit = _cache.get(cache_key)
            if hit is not None and time.monotonic() - hit[0] < max_age:
                return hit[1]
        found = discover(api, timeout)
        with _cache_lock:
            _cache[cache_key] = (time.monotonic(), found)
            _cache.move_to_end(cache_key)
            while len(_cache) > CACHE_ENTRIES:
                old, _ = _cache.popitem(last=False)
                _key_locks.pop(old, None)
        return found


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()
        _key_locks.clear()
