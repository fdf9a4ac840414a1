"""Tests of the simulated-cluster generator: schema validity, determinism, references, realism."""

from __future__ import annotations

import base64
import itertools
import re
import uuid
from collections import Counter

import jsonschema
import kubernetes_validate
import orjson
import pytest

from k8s_assets.simulator.generator import (
    BUILTIN_RESOURCE_TYPES,
    SECRET_CANARY_PREFIX,
    ObjectStream,
    generate_cluster,
    size_spec,
)
from k8s_assets.simulator.generator_base import Context

KUBERNETES_SCHEMA_VERSION = "1.30"
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
BUILTIN_BY_KEY = {rt.key: rt for rt in BUILTIN_RESOURCE_TYPES}


@pytest.fixture(scope="module")
def tiny():
    return generate_cluster("unit-a", "tiny", seed=7)


@pytest.fixture(scope="module")
def objects(tiny) -> dict[str, list[dict]]:
    return {key: list(stream) for key, stream in tiny.objects.items()}


@pytest.fixture(scope="module")
def small_objects() -> dict[str, list[dict]]:
    return {key: list(stream) for key, stream in generate_cluster("unit-s", "small", seed=3).objects.items()}


def _dump(cluster) -> dict[str, list[bytes]]:
    return {key: [orjson.dumps(o) for o in stream] for key, stream in cluster.objects.items()}


# -- schema validity ------------------------------------------------------------------------


@pytest.mark.parametrize("resource_type", BUILTIN_RESOURCE_TYPES, ids=lambda rt: rt.key)
def test_builtin_objects_validate_against_official_schemas(objects, resource_type):
    items = objects[resource_type.key]
    assert items, f"the tiny cluster has no {resource_type.key}"
    # The first few plus a sample across the stream: pods and services vary by profile and type.
    sample = items[:3] + items[3::max(1, len(items) // 6)]
    for obj in sample:
        assert "kind" not in obj and "apiVersion" not in obj, "built-in list items carry no kind/apiVersion"
        typed = {"apiVersion": resource_type.api_version, "kind": resource_type.kind, **obj}
        kubernetes_validate.validate(typed, KUBERNETES_SCHEMA_VERSION, strict=True)


def test_every_service_type_and_secret_type_validates(small_objects):
    services = {s["spec"]["type"] + ("/headless" if s["spec"].get("clusterIP") == "None" else ""): s for s in small_objects["services"]}
    assert set(services) >= {"ClusterIP", "ClusterIP/headless", "NodePort", "LoadBalancer", "ExternalName"}
    secrets = {s["type"]: s for s in small_objects["secrets"]}
    assert set(secrets) >= {"Opaque", "kubernetes.io/tls", "kubernetes.io/dockerconfigjson", "kubernetes.io/service-account-token"}
    for obj in services.values():
        kubernetes_validate.validate({"apiVersion": "v1", "kind": "Service", **obj}, KUBERNETES_SCHEMA_VERSION, strict=True)
    for obj in secrets.values():
        kubernetes_validate.validate({"apiVersion": "v1", "kind": "Secret", **obj}, KUBERNETES_SCHEMA_VERSION, strict=True)


def test_custom_resources_validate_against_their_crd_schema(tiny, objects):
    crds = {crd["metadata"]["name"]: crd for crd in objects["customresourcedefinitions.apiextensions.k8s.io"]}
    for name, crd in crds.items():
        instances = objects[name]
        assert instances, f"no instances of {name}"
        storage = next(v for v in crd["spec"]["versions"] if v["storage"])
        schema = storage["schema"]["openAPIV3Schema"]
        for obj in instances:
            assert obj["apiVersion"] == f"{crd['spec']['group']}/{storage['name']}"
            assert obj["kind"] == crd["spec"]["names"]["kind"]
            jsonschema.validate(obj, schema)
            assert ("namespace" in obj["metadata"]) == (crd["spec"]["scope"] == "Namespaced")
    bad = dict(objects["widgets.example.com"][0], spec={"replicas": "three"})
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, crds["widgets.example.com"]["spec"]["versions"][1]["schema"]["openAPIV3Schema"])


def test_crd_schemas_have_every_property_type(objects):
    widgets = next(c for c in objects["customresourcedefinitions.apiextensions.k8s.io"] if c["metadata"]["name"] == "widgets.example.com")
    spec_schema = widgets["spec"]["versions"][-1]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    assert {p["type"] for p in spec_schema.values()} == {"string", "integer", "boolean", "number", "array", "object"}


# -- determinism and identity --------------------------------------------------------------


def test_same_arguments_give_byte_identical_objects():
    first = _dump(generate_cluster("same", "tiny", seed=5, extra_crds=3))
    second = _dump(generate_cluster("same", "tiny", seed=5, extra_crds=3))
    assert first == second


def test_streams_are_independent_of_consumption_order_and_reiterable():
    cluster = generate_cluster("order", "tiny", seed=2)
    forward = {key: [orjson.dumps(o) for o in cluster.objects[key]] for key in cluster.objects}
    backward = {key: [orjson.dumps(o) for o in cluster.objects[key]] for key in reversed(list(cluster.objects))}
    assert forward == backward


def test_different_names_or_seeds_differ_and_kube_system_uid_is_stable():
    base = generate_cluster("c1", "tiny", seed=1)
    other_seed = generate_cluster("c1", "tiny", seed=2)
    other_name = generate_cluster("c2", "tiny", seed=1)
    assert len({base.kube_system_uid, other_seed.kube_system_uid, other_name.kube_system_uid}) == 3
    assert generate_cluster("c1", "small", seed=1).kube_system_uid == base.kube_system_uid  # size does not change identity
    kube_system = next(ns for ns in base.objects["namespaces"] if ns["metadata"]["name"] == "kube-system")
    assert kube_system["metadata"]["uid"] == base.kube_system_uid
    uuid.UUID(base.kube_system_uid)
    base_uids = {o["metadata"]["uid"] for o in base.objects["pods"]}
    assert not base_uids & {o["metadata"]["uid"] for o in other_name.objects["pods"]}


def test_fast_uid_equals_uuid5():
    ctx = Context("uid-check", 4)
    for i in range(200):
        assert ctx.uid("pods", "ns", f"p-{i}") == str(uuid.uuid5(ctx.uid_namespace, f"pods/ns/p-{i}"))


def test_metadata_invariants(tiny, objects):
    resource_versions = []
    uids = set()
    namespaced = {rt.key: rt.namespaced for rt in tiny.resource_types}
    for key, items in objects.items():
        assert len(items) == tiny.count(key)
        names = Counter((o["metadata"].get("namespace"), o["metadata"]["name"]) for o in items)
        assert max(names.values(), default=1) == 1, f"duplicate names in {key}: {names.most_common(2)}"
        for obj in items:
            meta = obj["metadata"]
            assert meta["uid"] not in uids
            uids.add(meta["uid"])
            resource_versions.append(int(meta["resourceVersion"]))
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", meta["creationTimestamp"])
            assert ("namespace" in meta) == namespaced[key], (key, meta["name"])
            # Like the real ones, "default" service accounts own no fields, hence no managedFields.
            assert meta.get("managedFields") or (key, meta["name"]) == ("serviceaccounts", "default"), (key, meta["name"])
    assert sorted(resource_versions) == list(range(1, len(resource_versions) + 1))


# -- referential correctness ---------------------------------------------------------------


def _index(objects: dict[str, list[dict]]) -> dict[tuple[str, str], dict]:
    kinds = {rt.key: rt.kind for rt in BUILTIN_RESOURCE_TYPES}
    return {(kinds[key], o["metadata"]["uid"]): o for key, items in objects.items() if key in kinds for o in items}


def test_references_resolve(small_objects):
    by_kind_uid = _index(small_objects)
    namespaces = {ns["metadata"]["name"] for ns in small_objects["namespaces"]}
    nodes = {n["metadata"]["name"] for n in small_objects["nodes"]}
    owners_seen = Counter()
    for key, items in small_objects.items():
        for obj in items:
            meta = obj["metadata"]
            if "namespace" in meta:
                assert meta["namespace"] in namespaces
            for ref in meta.get("ownerReferences", ()):
                owner = by_kind_uid.get((ref["kind"], ref["uid"]))
                assert owner is not None, f"{key} {meta['name']}: dangling owner {ref}"
                assert owner["metadata"]["name"] == ref["name"]
                assert owner["metadata"].get("namespace") in (meta.get("namespace"), None)
                owners_seen[(key, ref["kind"])] += 1
    assert {("pods", "ReplicaSet"), ("pods", "StatefulSet"), ("pods", "DaemonSet"), ("pods", "Job"), ("pods", "Node"),
            ("replicasets.apps", "Deployment"), ("jobs.batch", "CronJob"),
            ("endpointslices.discovery.k8s.io", "Service")} <= set(owners_seen)
    pods = small_objects["pods"]
    assert any(not p["metadata"].get("ownerReferences") for p in pods), "no standalone pod"
    for pod in pods:
        if "nodeName" in pod["spec"]:
            assert pod["spec"]["nodeName"] in nodes
        else:
            assert pod["status"]["phase"] == "Pending"
    per_node = Counter(p["spec"].get("nodeName") for p in pods)
    assert max(v for k, v in per_node.items() if k) <= 110


def test_endpoint_slices_match_their_services_and_pods(small_objects):
    services = {(s["metadata"]["namespace"], s["metadata"]["name"]): s for s in small_objects["services"]}
    pods = {p["metadata"]["uid"]: p for p in small_objects["pods"]}
    for eps in small_objects["endpointslices.discovery.k8s.io"]:
        service = services[(eps["metadata"]["namespace"], eps["metadata"]["labels"]["kubernetes.io/service-name"])]
        assert eps["metadata"]["ownerReferences"][0]["uid"] == service["metadata"]["uid"]
        for endpoint in eps["endpoints"]:
            pod = pods[endpoint["targetRef"]["uid"]]
            assert endpoint["addresses"] == [pod["status"]["podIP"]]
            assert endpoint["nodeName"] == pod["spec"]["nodeName"]
            labels = pod["metadata"]["labels"]
            assert all(labels.get(k) == v for k, v in service["spec"]["selector"].items())



def test_endpoints_agree_with_endpoint_slices(small_objects):
    slices: dict = {}
    for eps in small_objects["endpointslices.discovery.k8s.io"]:
        key = (eps["metadata"]["namespace"], eps["metadata"]["labels"]["kubernetes.io/service-name"])
        for endpoint in eps["endpoints"]:
            slices.setdefault(key, set()).add((endpoint["addresses"][0], endpoint["conditions"]["ready"]))
    services = {(s["metadata"]["namespace"], s["metadata"]["name"]): s for s in small_objects["services"]}
    endpoints = {(e["metadata"]["namespace"], e["metadata"]["name"]): e for e in small_objects["endpoints"]}
    assert set(endpoints) == {k for k, s in services.items() if s["spec"].get("selector")} | {("default", "kubernetes")}
    for key, obj in endpoints.items():
        subsets = obj.get("subsets") or ()
        addresses = {(a["ip"], True) for s in subsets for a in s.get("addresses", ())}
        addresses |= {(a["ip"], False) for s in subsets for a in s.get("notReadyAddresses", ())}
        if key != ("default", "kubernetes"):
            assert addresses == slices.get(key, set()), key
    assert any(s.get("notReadyAddresses") for e in endpoints.values() for s in e.get("subsets") or ())


def test_cluster_objects_of_later_kinds_reference_what_exists(small_objects):
    nodes = {n["metadata"]["name"]: n for n in small_objects["nodes"]}
    node_leases = [lease for lease in small_objects["leases.coordination.k8s.io"]
                   if lease["metadata"]["namespace"] == "kube-node-lease"]
    assert sorted(lease["metadata"]["name"] for lease in node_leases) == sorted(nodes)
    csinodes = {c["metadata"]["name"]: c for c in small_objects["csinodes.storage.k8s.io"]}
    assert set(csinodes) == set(nodes)
    drivers = {d["metadata"]["name"] for d in small_objects["csidrivers.storage.k8s.io"]}
    assert drivers == {sc["provisioner"] for sc in small_objects["storageclasses.storage.k8s.io"]
                       if not sc["provisioner"].startswith("kubernetes.io/")}
    for name, csinode in csinodes.items():
        node_ids = orjson.loads(nodes[name]["metadata"]["annotations"]["csi.volume.kubernetes.io/nodeid"])
        assert {d["name"]: d["nodeID"] for d in csinode["spec"]["drivers"]} == node_ids
    volumes = {v["metadata"]["name"]: v for v in small_objects["persistentvolumes"]}
    pods = {(p["metadata"]["namespace"], p["metadata"]["name"]): p for p in small_objects["pods"]}
    attachments = small_objects["volumeattachments.storage.k8s.io"]
    assert attachments
    for attachment in attachments:
        volume = volumes[attachment["spec"]["source"]["persistentVolumeName"]]
        assert attachment["spec"]["attacher"] == volume["spec"]["csi"]["driver"] in drivers
        claim = volume["spec"]["claimRef"]
        pod = pods[(claim["namespace"], claim["name"].split("-", 1)[1])]
        assert attachment["spec"]["nodeName"] == pod["spec"]["nodeName"]
    classes = {c["metadata"]["name"] for c in small_objects["priorityclasses.scheduling.k8s.io"]}
    assert {p["spec"]["priorityClassName"] for p in small_objects["pods"] if "priorityClassName" in p["spec"]} <= classes
    levels = {p["metadata"]["name"] for p in small_objects["prioritylevelconfigurations.flowcontrol.apiserver.k8s.io"]}
    schemas = small_objects["flowschemas.flowcontrol.apiserver.k8s.io"]
    assert {f["spec"]["priorityLevelConfiguration"]["name"] for f in schemas} <= levels
    assert {"exempt", "catch-all"} <= {f["metadata"]["name"] for f in schemas} and {"exempt", "catch-all"} <= levels
    policies = {p["metadata"]["name"] for p in small_objects["validatingadmissionpolicies.admissionregistration.k8s.io"]}
    assert {b["spec"]["policyName"] for b in small_objects["validatingadmissionpolicybindings.admissionregistration.k8s.io"]} <= policies


def test_every_stateful_and_daemon_set_owns_the_revision_its_pods_carry(small_objects):
    revisions = small_objects["controllerrevisions.apps"]
    owners = {r["metadata"]["ownerReferences"][0]["uid"]: r for r in revisions}
    for key in ("statefulsets.apps", "daemonsets.apps"):
        for owner in small_objects[key]:
            revision = owners[owner["metadata"]["uid"]]
            assert revision["metadata"]["ownerReferences"][0]["controller"] is True
            hashes = {p["metadata"]["labels"]["controller-revision-hash"] for p in small_objects["pods"]
                      if any(r["uid"] == owner["metadata"]["uid"] for r in p["metadata"].get("ownerReferences", ()))}
            assert hashes == {revision["metadata"]["name"] if key == "statefulsets.apps"
                              else revision["metadata"]["name"].removeprefix(owner["metadata"]["name"] + "-")}
    assert len(revisions) == len(small_objects["statefulsets.apps"]) + len(small_objects["daemonsets.apps"])

def test_workload_status_matches_pods(small_objects):
    pods_by_owner = Counter()
    ready_by_owner = Counter()
    for pod in small_objects["pods"]:
        for ref in pod["metadata"].get("ownerReferences", ()):
            pods_by_owner[ref["uid"]] += 1
            ready = any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", ()))
            ready_by_owner[ref["uid"]] += ready
    rs_by_uid = {rs["metadata"]["uid"]: rs for rs in small_objects["replicasets.apps"]}
    for rs in rs_by_uid.values():
        assert pods_by_owner[rs["metadata"]["uid"]] == rs["spec"]["replicas"]
    for deployment in small_objects["deployments.apps"]:
        current = [rs for rs in rs_by_uid.values()
                   if rs["metadata"]["ownerReferences"][0]["uid"] == deployment["metadata"]["uid"] and rs["spec"]["replicas"]]
        assert len(current) == 1
        status = deployment["status"]
        assert status["replicas"] == status["updatedReplicas"] == deployment["spec"]["replicas"]
        assert status["readyReplicas"] == ready_by_owner[current[0]["metadata"]["uid"]]
    for sts in small_objects["statefulsets.apps"]:
        assert pods_by_owner[sts["metadata"]["uid"]] == sts["spec"]["replicas"]


# -- realism -------------------------------------------------------------------------------


def test_pods_are_realistic(small_objects):
    pods = small_objects["pods"]
    sizes = [len(orjson.dumps(p)) for p in pods]
    assert 3_000 <= sum(sizes) / len(sizes) <= 6_000
    phases = Counter(p["status"]["phase"] for p in pods)
    assert phases["Running"] and phases["Pending"] and phases["Succeeded"]
    waiting = [s for p in pods for s in p["status"].get("containerStatuses", ()) if "waiting" in s["state"]]
    assert any(s["state"]["waiting"]["reason"] == "CrashLoopBackOff" and s["restartCount"] > 0 for s in waiting)
    assert {p["status"]["qosClass"] for p in pods} == {"Guaranteed", "Burstable", "BestEffort"}
    assert any(len(p["spec"]["containers"]) > 1 for p in pods)
    assert any(p["spec"].get("initContainers") for p in pods)
    containers = [c for p in pods for c in p["spec"]["containers"]]
    assert any("readinessProbe" in c for c in containers) and any("livenessProbe" in c for c in containers)
    assert any("env" in c for c in containers)
    assert any("limits" not in c["resources"] for c in containers)
    images = {c["image"] for c in containers}
    assert any(i.startswith("docker.io/library/nginx:") for i in images)
    assert any("@sha256:" in i for i in images)
    assert any(re.match(r"^[a-z.]+:\d+/", i) for i in images), "no image from a registry with a port"
    assert any(i.startswith("registry.k8s.io/") for i in images)
    assert any(i.startswith("ghcr.io/") for i in images)


def test_qos_class_is_consistent_with_resources(small_objects):
    for pod in small_objects["pods"]:
        containers = pod["spec"]["containers"] + pod["spec"].get("initContainers", [])
        resources = [c["resources"] for c in containers]
        if not any(r.get("requests") or r.get("limits") for r in resources):
            expected = "BestEffort"
        elif all(r.get("limits", {}).get(k) and r.get("requests", r["limits"]).get(k) == r["limits"][k]
                 for r in resources for k in ("cpu", "memory")):
            expected = "Guaranteed"
        else:
            expected = "Burstable"
        assert pod["status"]["qosClass"] == expected, pod["metadata"]["name"]


def test_annotations_are_tricky_and_labels_are_valid(small_objects):
    annotation_text = "".join(v for items in small_objects.values() for o in items for v in (o["metadata"].get("annotations") or {}).values())
    assert '"' in annotation_text and "\\" in annotation_text and any(ord(c) > 0x2000 for c in annotation_text)
    for items in small_objects.values():
        for obj in items:
            for value in (obj["metadata"].get("labels") or {}).values():
                assert len(value) <= 63 and LABEL_VALUE.match(value), value
    deployment = small_objects["deployments.apps"][0]
    applied = orjson.loads(deployment["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"])
    assert applied["kind"] == "Deployment" and applied["spec"]["replicas"] == deployment["spec"]["replicas"]


def test_secrets_carry_the_canary_in_data_and_last_applied(tiny, objects):
    secrets = objects["secrets"]
    assert secrets
    for index, secret in enumerate(secrets):
        expected = f"{SECRET_CANARY_PREFIX}-{tiny.name}-{index}"
        assert base64.b64decode(secret["data"]["canary"]).decode() == expected
        for value in secret["data"].values():
            base64.b64decode(value, validate=True)
        applied = orjson.loads(secret["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"])
        assert applied["stringData"]["canary"] == expected
    # Nothing but secrets carries the canary.
    for key, items in objects.items():
        if key != "secrets":
            assert SECRET_CANARY_PREFIX.encode() not in b"".join(orjson.dumps(o) for o in items), key


def test_config_maps_have_several_keys_and_binary_data(objects):
    config_maps = objects["configmaps"]
    assert any(len(cm.get("data", {})) >= 3 for cm in config_maps)
    binary = [cm for cm in config_maps if "binaryData" in cm]
    assert binary and base64.b64decode(next(iter(binary[0]["binaryData"].values())))


# -- resource types and CRDs -----------------------------------------------------------------


def test_resource_types(tiny):
    keys = {rt.key for rt in tiny.resource_types}
    assert keys == set(tiny.objects)
    assert "events" not in keys
    by_key = {rt.key: rt for rt in tiny.resource_types}
    assert by_key["deployments.apps"].api_version == "apps/v1" and by_key["deployments.apps"].list_kind == "DeploymentList"
    assert "all" in by_key["pods"].categories and "all" not in by_key["configmaps"].categories
    octopi = by_key["octopi.zoo.example.com"]
    assert (octopi.plural, octopi.singular, octopi.kind, octopi.namespaced) == ("octopi", "octopus", "Octopus", True)
    assert by_key["widgets.example.com"].short_names == ("wd",)
    assert not by_key["clusterpolicies.policy.example.com"].namespaced
    backup_versions = sorted(rt.version for rt in tiny.resource_types if rt.key == "backups.ops.example.com")
    assert backup_versions == ["v1", "v1beta1"]
    assert tiny.storage_versions["backups.ops.example.com"] == "v1"
    widget_versions = [rt.version for rt in tiny.resource_types if rt.key == "widgets.example.com"]
    assert widget_versions == ["v1"], "an unserved CRD version must not be a resource type"
    assert tiny.custom_keys == {rt.key for rt in tiny.resource_types if rt.key not in BUILTIN_BY_KEY}


def test_extra_crds_are_well_formed():
    cluster = generate_cluster("many-crds", "tiny", extra_crds=2_000)
    crds = list(cluster.objects["customresourcedefinitions.apiextensions.k8s.io"])
    instances = sum(len(list(cluster.objects[crd["metadata"]["name"]])) for crd in crds)
    assert len(crds) == 2_004
    assert instances >= 2_000 * 1
    names = {crd["metadata"]["name"] for crd in crds}
    assert {"thing0s.gen0.example.com", "thing1999s.gen19.example.com"} <= names
    scopes = Counter(crd["spec"]["scope"] for crd in crds)
    assert scopes["Cluster"] > 900 and scopes["Namespaced"] > 900


# -- sizes and speed -------------------------------------------------------------------------


def test_sizes():
    assert size_spec("tiny").nodes == 2 and size_spec("small").nodes == 3
    large = size_spec("large")
    assert (large.pods, large.nodes, large.services) == (150_000, 5_000, 10_000)
    custom = size_spec(30_000)
    assert custom.nodes == 1_000 and custom.services == 2_000
    with pytest.raises(ValueError):
        size_spec("huge")


def test_tiny_cluster_is_small_and_serializable():
    # How fast generation is belongs to benchmarks/bench_simulator.py, not to a timed test.
    cluster = generate_cluster("speedy", "tiny")
    for stream in cluster.objects.values():
        for obj in stream:
            assert orjson.loads(orjson.dumps(obj)) == obj
    assert 15 <= cluster.count("pods") <= 30 and cluster.count("nodes") == 2


def test_pod_count_tracks_size_and_namespaces_stay_bounded():
    cluster = generate_cluster("sized", 3_000, seed=9)
    assert isinstance(cluster.objects["pods"], ObjectStream)
    assert 2_900 <= cluster.count("pods") <= 3_300
    assert abs(cluster.count("services") - 200) <= 20
    per_namespace = Counter(p["metadata"]["namespace"] for p in itertools.islice(cluster.objects["pods"], None))
    assert max(per_namespace.values()) <= 3_000
