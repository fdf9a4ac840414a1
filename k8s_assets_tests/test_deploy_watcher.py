"""deploy/watcher.yaml: `k8s-assets watch` as one Deployment per shard, next to the Helm release.

* The manifest against what it must agree with: deploy/Dockerfile's image (its venv's
  ``k8s-assets``, its DAGSTER_HOME and user), deploy/helm-values.yaml (the code location's image,
  Secrets, kubeconfig mount and security context; the chart's instance ConfigMap and PostgreSQL
  password Secret, mounted as the chart mounts them) and deploy/rbac-watch.yaml (the watcher's
  own ServiceAccount). Shards: replicas 1, Recreate, disjoint K8S_ASSETS_CONTEXTS.
* Valid Kubernetes objects: kubernetes-validate's schemas (strict), and a server-side dry-run
  apply against a real kube-apiserver v1.37.2, with deploy/rbac-watch.yaml.
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from kubernetes import client as k8s_client
from kubernetes.dynamic import DynamicClient

from k8s_assets.catalog import rbac_rules
from k8s_assets_tests.fixtures_kube import CURRENT

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"
NAMESPACE = "k8s-assets"
RELEASE = "dagster"  # `helm install dagster ...`: the chart's fullname (test_deploy.py)
SCHEMA_VERSION = kubernetes_validate.latest_version()
SHARDS = {"shard-a": "prod-*", "shard-b": "staging-*,dev-*"}


def watcher_documents() -> list[dict]:
    return [d for d in yaml.safe_load_all((DEPLOY / "watcher.yaml").read_text()) if d]


def helm_values() -> dict:
    return yaml.safe_load((DEPLOY / "helm-values.yaml").read_text())


def code_deployment() -> dict:
    (deployment,) = helm_values()["dagster-user-deployments"]["deployments"]
    return deployment


def dockerfile_env() -> dict[str, str]:
    text = (DEPLOY / "Dockerfile").read_text().split("\nFROM ")[-1]  # the final stage
    (block,) = re.findall(r"^ENV ((?:.*\\\n)*.*)$", text, re.M)
    return dict(pair.split("=", 1) for pair in block.replace("\\\n", " ").split())


def container_of(deployment: dict) -> dict:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def test_one_deployment_per_shard_never_two_watchers_of_one_shard():
    docs = watcher_documents()
    assert {d["kind"] for d in docs} == {"Deployment"}
    shards = {}
    for deployment in docs:
        meta, spec = deployment["metadata"], deployment["spec"]
        assert deployment["apiVersion"] == "apps/v1" and meta["namespace"] == NAMESPACE
        assert spec["replicas"] == 1
        assert spec["strategy"] == {"type": "Recreate"}  # the old pod is gone before the new one starts
        labels = spec["template"]["metadata"]["labels"]
        assert spec["selector"]["matchLabels"] == labels == meta["labels"]
        env = {e["name"]: e for e in container_of(deployment)["env"]}
        shards[labels["k8s-assets/shard"]] = env["K8S_ASSETS_CONTEXTS"]["value"]
        assert meta["name"] == f"k8s-assets-watcher-{labels['k8s-assets/shard']}"
    assert shards == SHARDS
    # Disjoint selections: no context is watched by two shards.
    patterns = {shard: [p.strip() for p in value.split(",")] for shard, value in shards.items()}
    for name in ("prod-eu", "prod-us-1", "staging-eu", "dev-alice", "in-cluster", "qa-1"):
        matched = [s for s, ps in patterns.items() if any(fnmatch.fnmatchcase(name, p) for p in ps)]
        assert len(matched) <= 1, (name, matched)


def test_the_watcher_runs_the_code_locations_image_with_its_configuration():
    values, code = helm_values(), code_deployment()
    image_env = dockerfile_env()
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    code_env = {e["name"]: e.get("value") for e in code["env"]}
    for deployment in watcher_documents():
        pod = deployment["spec"]["template"]["spec"]
        container = container_of(deployment)
        # The image the code location runs, its venv's console script (no ENTRYPOINT to go around).
        assert container["image"] == f"{code['image']['repository']}:{code['image']['tag']}"
        assert container["command"] == ["k8s-assets", "watch"] and scripts["k8s-assets"] == "k8s_assets.cli:main"
        assert image_env["PATH"].startswith(image_env["VIRTUAL_ENV"] + "/bin:")
        assert "args" not in container

        # Its own ServiceAccount (deploy/rbac-watch.yaml), not the sync's.
        assert pod["serviceAccountName"] == rbac_rules.WATCHER != rbac_rules.SERVICE_ACCOUNT
        assert pod["automountServiceAccountToken"] is True
        for path in ("rbac-watch.yaml", "rbac-watch-secrets-metadata.yaml"):
            accounts = [d for d in yaml.safe_load_all((DEPLOY / path).read_text()) if d and d["kind"] == "ServiceAccount"]
            assert [(a["metadata"]["name"], a["metadata"]["namespace"]) for a in accounts] == [(rbac_rules.WATCHER, NAMESPACE)]

        env = {e["name"]: e for e in container["env"]}
        # The inventory: the code location's Secret, never a plain value.
        assert "K8S_ASSETS_DATABASE_URL" not in env
        assert [s["secretRef"]["name"] for s in container["envFrom"]] == [s["name"] for s in code["envSecrets"]]
        # The kubeconfig: the code location's Secret, mounted where KUBECONFIG points, as there.
        assert env["KUBECONFIG"]["value"] == code_env["KUBECONFIG"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        mounts = {m["name"]: m for m in container["volumeMounts"]}
        (code_volume,) = [v for v in code["volumes"] if v["name"] == "kubeconfig"]
        (code_mount,) = [m for m in code["volumeMounts"] if m["name"] == "kubeconfig"]
        assert volumes["kubeconfig"] == code_volume and mounts["kubeconfig"] == code_mount
        # The Dagster instance: the chart's ConfigMap at $DAGSTER_HOME/dagster.yaml, as the chart
        # mounts it in its daemon and dagster-k8s in run pods, with the password it reads.
        dagster_home = env["DAGSTER_HOME"]["value"]
        assert dagster_home == image_env["DAGSTER_HOME"] == values.get("global", {}).get(
            "dagsterHome", "/opt/dagster/dagster_home")
        assert volumes["dagster-instance"] == {"name": "dagster-instance",
                                               "configMap": {"name": f"{RELEASE}-instance"}}
        assert mounts["dagster-instance"] == {"name": "dagster-instance", "mountPath": f"{dagster_home}/dagster.yaml",
                                              "subPath": "dagster.yaml", "readOnly": True}
        assert env["DAGSTER_PG_PASSWORD"] == {"name": "DAGSTER_PG_PASSWORD", "valueFrom": {"secretKeyRef": {
            "name": values["global"]["postgresqlSecretName"], "key": "postgresql-password"}}}
        assert not [e for e in container["env"] if "value" in e and re.search(r"://[^/]*:[^/]*@", e["value"])]

        # Non-root as the code location; resources of its own.
        assert pod["securityContext"].items() >= code["podSecurityContext"].items()
        assert container["securityContext"] == code["securityContext"]
        resources = container["resources"]
        assert resources["requests"].keys() == {"cpu", "memory"} and "memory" in resources["limits"]
        # Long enough to apply what was received: the default 30 s is not (one batch per kind of
        # every context of the shard, context after context).
        assert pod["terminationGracePeriodSeconds"] >= 120


def test_the_manifests_are_valid_kubernetes_objects():
    for path in ("watcher.yaml", "rbac-watch.yaml", "rbac-watch-secrets-metadata.yaml"):
        for doc in yaml.safe_load_all((DEPLOY / path).read_text()):
            if doc:
                kubernetes_validate.validate(doc, SCHEMA_VERSION, strict=True)
    broken = watcher_documents()[0]
    broken["spec"]["template"]["spec"]["terminationGracePeriod"] = 180
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, SCHEMA_VERSION, strict=True)


@pytest.mark.parametrize("real_kube", [CURRENT], indirect=True)
def test_the_manifests_pass_a_server_side_dry_run(real_kube):
    """`kubectl apply --server-side --dry-run=server -f deploy/rbac-watch.yaml -f deploy/watcher.yaml`:
    admission and validation of the real server, nothing stored (the namespace excepted)."""
    api = real_kube.api_client()
    dynamic = DynamicClient(api)
    rbac_docs = [d for d in yaml.safe_load_all((DEPLOY / "rbac-watch.yaml").read_text()) if d]
    namespace = [d for d in rbac_docs if d["kind"] == "Namespace"]
    for doc in namespace:  # a namespaced dry-run needs its namespace
        dynamic.resources.get(api_version="v1", kind="Namespace").server_side_apply(
            body=doc, name=doc["metadata"]["name"], field_manager="k8s-assets-tests", force_conflicts=True)
    applied = {}
    for doc in [*rbac_docs, *watcher_documents()]:
        resource = dynamic.resources.get(api_version=doc["apiVersion"], kind=doc["kind"])
        result = resource.server_side_apply(body=doc, name=doc["metadata"]["name"],
                                            namespace=doc["metadata"].get("namespace"),
                                            field_manager="k8s-assets-tests", force_conflicts=True, dry_run="All")
        applied[(doc["kind"], doc["metadata"]["name"])] = result.to_dict()
    deployments = {name: obj for (kind, name), obj in applied.items() if kind == "Deployment"}
    assert sorted(deployments) == [f"k8s-assets-watcher-{shard}" for shard in sorted(SHARDS)]
    for name, obj in deployments.items():
        # The server kept Recreate (no rollingUpdate defaulted in) and the grace period.
        assert obj["spec"]["strategy"] == {"type": "Recreate"}
        assert obj["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 180
        with pytest.raises(k8s_client.ApiException) as missing:  # dry-run: nothing was stored
            k8s_client.AppsV1Api(api).read_namespaced_deployment(name, NAMESPACE)
        assert missing.value.status == 404
