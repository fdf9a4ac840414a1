"""deploy/: one pod per cluster sync, on the official Dagster Helm chart.

* A real launch: a Dagster instance whose run launcher is dagster-k8s's ``K8sRunLauncher``,
  configured as deploy/helm-values.yaml makes the chart configure it, launches a run of
  ``k8s_sync`` for one context from a real gRPC code server of ``k8s_assets.definitions``
  (started as the chart starts the user deployment), against a real kube-apiserver. The server
  has no kubelet, so the Job it creates is what is checked: image, command, env, secrets, the
  ServiceAccount, the context, the namespace.
* deploy/helm-values.yaml uses only keys the chart has.
* deploy/Dockerfile's install path, done in a fresh venv as the Dockerfile does it.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import subprocess
import time
import uuid
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
import yaml

from k8s_assets.dagster_edge.schedules import CONTEXT_TAG, K8S_CONFIG_TAG, SCHEDULE_NAME, label_value, run_tags
from k8s_assets_tests.fixtures_install import clean_env, run
from k8s_assets_tests.fixtures_kube import ADMIN, CURRENT, free_port
from k8s_assets_tests.fixtures_postgres import fresh_database

dagster_k8s = pytest.importorskip("dagster_k8s", reason="pip install '.[k8s]'")

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"
# `helm install dagster dagster/dagster -n k8s-assets`: the release name contains the chart's,
# so the chart's fullname is the release name.
RELEASE = "dagster"
NAMESPACE = "k8s-assets"
IMAGE = "registry.example.com/k8s-assets:0.1.0"
CHART_DAGSTER_HOME = "/opt/dagster/dagster_home"  # the chart's default global.dagsterHome
SYNC_JOB = "k8s_sync"


# -- the image: deploy/Dockerfile's install, in a fresh venv (fixtures_install.venv) ---------------

def image_env(venv: Path, **extra) -> dict:
    """The image's environment: its venv first on PATH, nothing of the repository."""
    return clean_env(f"{venv / 'bin'}:/usr/bin:/bin", VIRTUAL_ENV=str(venv), **extra)


def test_dockerfile_installs_the_pinned_wheel_and_serves_the_code_location(venv, tmp_path):
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    # Multi-stage: the wheel is built in one stage, only the wheel is installed in the other.
    assert len(re.findall(r"^FROM ", dockerfile, re.M)) == 2 and "COPY --from=wheel /dist/" in dockerfile
    # A non-root user, numeric so that Kubernetes' runAsNonRoot can verify it.
    (user,) = re.findall(r"^USER (\S+)", dockerfile, re.M)
    assert user.split(":")[0].isdigit() and int(user.split(":")[0]) != 0
    assert not re.search(r"^ENTRYPOINT", dockerfile, re.M), "the chart's args must be the whole command"

    python = venv / "bin" / "python"
    versions = run([python, "-c", "import importlib.metadata as m, json; print(json.dumps({d: m.version(d) for d in "
                    "('dagster', 'dagster-k8s', 'dagster-postgres', 'dagster-webserver', 'kubernetes', 'sqlalchemy')}))"],
                   env=image_env(venv), cwd=tmp_path)
    assert versions.returncode == 0, versions.stderr
    found = json.loads(versions.stdout)
    assert found["dagster"] == "1.13.27" and found["dagster-webserver"] == "1.13.27"
    assert found["dagster-k8s"] == "0.29.27" and found["dagster-postgres"] == "0.29.27"
    # dagster-k8s 0.29.27 fails on the kubernetes 37 client's models ("Dict[str, str]"); its own pin keeps 36.
    assert int(found["kubernetes"].split(".")[0]) < 37
    assert found["sqlalchemy"].startswith("2.0.")

    # The command the chart runs loads the code location from the installed package.
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "current-context": "a",
                                          "clusters": [{"name": "a", "cluster": {"server": "https://127.0.0.1:1"}}],
                                          "users": [{"name": "a", "user": {"token": "unused"}}],
                                          "contexts": [{"name": "a", "context": {"cluster": "a", "user": "a"}}]}))
    loaded = run([venv / "bin" / "dagster", "definitions", "validate", "-m", "k8s_assets.definitions"],
                 env=image_env(venv, KUBECONFIG=kubeconfig, DAGSTER_HOME=tmp_path), cwd=tmp_path, timeout=300)
    assert loaded.returncode == 0, loaded.stdout[-2000:] + loaded.stderr[-3000:]
    where = run([python, "-c", "import k8s_assets; print(k8s_assets.__file__)"], env=image_env(venv), cwd=tmp_path)
    assert where.stdout.strip().startswith(str(venv)), where.stdout


# -- the chart's values ------------------------------------------------------------------------

def helm_values() -> dict:
    return yaml.safe_load((DEPLOY / "helm-values.yaml").read_text())


def code_deployment(values: dict) -> dict:
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    return deployment


# -- what the chart renders from the values (templates/helpers/instance/_run-launcher.tpl and
# -- charts/dagster-user-deployments/templates/helpers/_helpers.tpl, k8sContainerContext) -------

def chart_run_launcher_config(values: dict) -> dict:
    """The ``run_launcher.config`` the chart writes into the instance ConfigMap."""
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    config = {
        "load_incluster_config": launcher["loadInclusterConfig"],
        "job_namespace": launcher.get("jobNamespace") or NAMESPACE,
        "image_pull_policy": launcher["imagePullPolicy"],
        "service_account_name": RELEASE,  # the chart's own account (serviceAccount.name)
        "dagster_home": values.get("global", {}).get("dagsterHome", CHART_DAGSTER_HOME),
        "instance_config_map": f"{RELEASE}-instance",
        "postgres_password_secret": values["global"]["postgresqlSecretName"],
    }
    named = {"envConfigMaps": "env_config_maps", "envSecrets": "env_secrets"}
    for key, name in named.items():
        if launcher.get(key):
            config[name] = [entry["name"] for entry in launcher[key]]
    plain = {"envVars": "env_vars", "volumeMounts": "volume_mounts", "volumes": "volumes", "labels": "labels",
             "resources": "resources", "schedulerName": "scheduler_name", "securityContext": "security_context"}
    for key, name in plain.items():
        if launcher.get(key):
            config[name] = launcher[key]
    if launcher.get("failPodOnRunFailure"):
        config["fail_pod_on_run_failure"] = True
    run_config_keys = {"containerConfig": "container_config", "podSpecConfig": "pod_spec_config",
                       "podTemplateSpecMetadata": "pod_template_spec_metadata",
                       "jobSpecConfig": "job_spec_config", "jobMetadata": "job_metadata"}
    if launcher.get("runK8sConfig"):
        config["run_k8s_config"] = {run_config_keys[k]: v for k, v in launcher["runK8sConfig"].items()}
    return config


def chart_container_context(values: dict) -> dict:
    """The container context the chart hands the code server (includeConfigInLaunchedRuns)."""
    deployment = code_deployment(values)
    k8s = {
        "image_pull_policy": deployment["image"]["pullPolicy"],
        "env_config_maps": [f"{RELEASE}-{deployment['name']}-user-env"],
        "env_secrets": [entry["name"] for entry in deployment.get("envSecrets", [])],
        "namespace": NAMESPACE,
        "service_account_name": values["dagster-user-deployments"].get("serviceAccount", {}).get("name")
        or f"{RELEASE}-user-deployments",
        "env": deployment.get("env", []),
        "run_k8s_config": {"pod_spec_config": {"automount_service_account_token": True}},
    }
    for key, name in {"volumeMounts": "volume_mounts", "volumes": "volumes", "labels": "labels",
                      "resources": "resources"}.items():
        if deployment.get(key):
            k8s[name] = deployment[key]
    return {"k8s": k8s}


# -- the launch ------------------------------------------------------------------------------

class CodeServer:
    """`dagster code-server start`, as the chart runs the user deployment (codeServerArgs)."""

    def __init__(self, venv: Path, args: list[str], env: dict, log: Path):
        self.port = free_port()
        self.log = log
        command = [venv / "bin" / "dagster", "code-server", "start", "-h", "127.0.0.1",
                   "-p", str(self.port), *args]
        with log.open("wb") as out:
            # Started outside the repository: the code server adds its working directory to sys.path.
            self.process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=log.parent,
                                            stdin=subprocess.DEVNULL, start_new_session=True)

    def wait_until_loaded(self, timeout: float = 240.0) -> None:
        from dagster._grpc.client import DagsterGrpcClient

        client = DagsterGrpcClient(port=self.port, host="127.0.0.1")
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"code server exited {self.process.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                response = client.list_repositories()
                if "k8s_assets.definitions" in str(response) or "__repository__" in str(response):
                    return
                last = response
            except Exception as e:  # still starting: the port is not open or the code not loaded
                last = e
            time.sleep(1.0)
        raise AssertionError(f"code server not loaded after {timeout}s ({last}):\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# What the daemon's run queue does with a queued run it may start (QueuedRunCoordinatorDaemon).
DEQUEUE = """
import sys
from dagster import DagsterInstance
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import WorkspaceFileTarget

workspace, run_id = sys.argv[1:]
with DagsterInstance.get() as instance, WorkspaceProcessContext(instance, WorkspaceFileTarget([workspace])) as process:
    instance.launch_run(run_id, process.create_request_context())
"""


def postgres_db_config(url: str) -> dict:
    """dagster-postgres's ``postgres_db`` for a test database, as the chart writes it: the password
    from DAGSTER_PG_PASSWORD. The test server listens on a Unix socket (``?host=<directory>``),
    which libpq takes from the ``host`` parameter."""
    parts = urlsplit(url)
    config = {"username": parts.username or "postgres", "password": {"env": "DAGSTER_PG_PASSWORD"},
              "hostname": parts.hostname or "localhost", "port": parts.port or 5432,
              "db_name": parts.path.lstrip("/")}
    socket_dir = dict(parse_qsl(parts.query)).get("host")
    if socket_dir:
        (socket,) = [p for p in Path(socket_dir).glob(".s.PGSQL.*") if p.is_socket()]
        config.update(port=int(socket.name.rsplit(".", 1)[1]), params={"host": socket_dir})
    return config


def trimmed(job: dict) -> dict:
    """The Job as `kubectl get job -o yaml` shows it, without what the server adds and with the
    (long, serialized) run argument shortened."""
    job = json.loads(json.dumps(job))
    for key in ("managedFields", "uid", "resourceVersion", "creationTimestamp", "generation"):
        job["metadata"].pop(key, None)
    job.pop("status", None)
    container = job["spec"]["template"]["spec"]["containers"][0]
    container["args"] = [a if len(a) < 80 else a[:60] + f"… ({len(a)} characters)" for a in container["args"]]
    return job


@pytest.mark.parametrize("real_kube", [CURRENT], indirect=True)
def test_k8s_run_launcher_creates_the_sync_job(real_kube, venv, embedded_server_url, tmp_path, monkeypatch):
    import dagster as dg
    from dagster._core.instance.ref import InstanceRef
    from kubernetes import client as k8s_client
    from kubernetes.client.rest import ApiException

    values = helm_values()
    api = real_kube.api_client()
    core, batch = k8s_client.CoreV1Api(api), k8s_client.BatchV1Api(api)
    try:
        core.create_namespace(k8s_client.V1Namespace(metadata=k8s_client.V1ObjectMeta(name=NAMESPACE)))
    except ApiException as e:
        if e.status != 409:
            raise
    kubeconfig = real_kube.write_kubeconfig(tmp_path / "kubeconfig")
    context = real_kube.context()

    # The instance as the chart's ConfigMap sets it: Dagster's storage in PostgreSQL with the
    # password from DAGSTER_PG_PASSWORD (a Secret in the chart), and the chart's run launcher,
    # pointed at the test server from outside instead of in-cluster.
    database = postgres_db_config(fresh_database(embedded_server_url))
    password_canary = f"pg-password-{uuid.uuid4().hex}"
    launcher_config = {**chart_run_launcher_config(values), "load_incluster_config": False,
                       "kubeconfig_file": str(kubeconfig)}
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump({
        "storage": {"postgres": {"postgres_db": database}},
        "run_launcher": {"module": "dagster_k8s", "class": "K8sRunLauncher", "config": launcher_config},
        "telemetry": {"enabled": False},
    }))

    deployment = code_deployment(values)
    server = CodeServer(venv, [*deployment["codeServerArgs"], "--container-image", IMAGE,
                                     "--container-context", json.dumps(chart_container_context(values))],
                        image_env(venv, KUBECONFIG=kubeconfig), tmp_path / "code-server.log")
    try:
        server.wait_until_loaded()
        workspace = tmp_path / "workspace.yaml"
        workspace.write_text(yaml.safe_dump({"load_from": [{"grpc_server": {
            "host": "127.0.0.1", "port": server.port, "location_name": "k8s_assets"}}]}))

        # The tags the schedule gives this context's run (its partition among them).
        monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
        for key in [k for k in os.environ if k.startswith("K8S_ASSETS_")]:
            monkeypatch.delenv(key)
        from k8s_assets.definitions import build_definitions

        repository = build_definitions().get_repository_def()
        tick_time = datetime.datetime(2026, 11, 30, 10, tzinfo=datetime.timezone.utc)
        with dg.build_schedule_context(scheduled_execution_time=tick_time, repository_def=repository) as tick_context:
            tick = repository.get_schedule_def(SCHEDULE_NAME).evaluate_tick(tick_context)
        (request,) = [r for r in tick.run_requests if r.partition_key == context]
        assert request.tags.items() >= run_tags(context).items()
        assert request.tags["dagster/partition"] == context

        run_id = str(uuid.uuid4())
        # The daemon's image holds dagster-k8s too: here, the same venv.
        env = image_env(venv, DAGSTER_HOME=home, DAGSTER_PG_PASSWORD=password_canary)
        submitted = subprocess.run(
            [venv / "bin" / "dagster", "job", "launch", "-w", str(workspace), "-j", SYNC_JOB,
             "--run-id", run_id, "--tags", json.dumps(request.tags)],
            env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
        assert submitted.returncode == 0, submitted.stdout[-3000:] + submitted.stderr[-5000:]
        # The run is queued, as under the chart's QueuedRunCoordinator; take it off the queue the
        # way the daemon does: the instance launches it through its run launcher.
        dequeued = subprocess.run([venv / "bin" / "python", "-c", DEQUEUE, str(workspace), run_id],
                                  env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
        assert dequeued.returncode == 0, dequeued.stdout[-3000:] + dequeued.stderr[-5000:]
    finally:
        server.stop()

    monkeypatch.setenv("DAGSTER_PG_PASSWORD", password_canary)
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        run = instance.get_run_by_id(run_id)
        events = [e.dagster_event.message for e in instance.all_logs(run_id) if e.is_dagster_event]
    assert run is not None and run.job_name == SYNC_JOB
    assert run.tags["dagster/partition"] == context
    assert "[K8sRunLauncher] Kubernetes run worker job created" in events, events[-5:]

    job = batch.read_namespaced_job(f"dagster-run-{run_id}", NAMESPACE)
    job_dict = api.sanitize_for_serialization(job)
    pod = job.spec.template.spec
    (container,) = pod.containers

    # The image the code server reported, running `dagster api execute_run` for this run.
    assert container.image == IMAGE
    assert container.args[:3] == ["dagster", "api", "execute_run"]
    execute_run = json.loads(container.args[3])
    assert run_id in container.args[3] and "k8s_assets" in container.args[3], execute_run
    # Each sync reads the cluster as deploy/rbac.yaml's ServiceAccount, in the release namespace.
    assert pod.service_account_name == "k8s-assets"
    assert job.metadata.namespace == NAMESPACE
    # The run and its context, findable with kubectl.
    labels = job.metadata.labels
    assert labels["dagster/run-id"] == run_id and labels["dagster/job"] == SYNC_JOB
    assert labels[CONTEXT_TAG] == context and job.metadata.annotations[CONTEXT_TAG] == context
    assert job.spec.template.metadata.labels[CONTEXT_TAG] == context

    env = {e.name: e for e in container.env}
    assert env["DAGSTER_RUN_JOB_NAME"].value == SYNC_JOB
    assert env["DAGSTER_HOME"].value == CHART_DAGSTER_HOME
    assert env["KUBECONFIG"].value == "/etc/k8s-assets/kubeconfig/config"
    assert env["K8S_ASSETS_CONTEXTS"].value == "*"
    # Credentials only by reference: the PostgreSQL password from its Secret, the inventory URL
    # from the Secret in envFrom; no plain value, argument or label carries either.
    assert env["DAGSTER_PG_PASSWORD"].value is None
    assert env["DAGSTER_PG_PASSWORD"].value_from.secret_key_ref.name == "dagster-postgresql-secret"
    assert "K8S_ASSETS_DATABASE_URL" not in env
    assert "k8s-assets-database" in {s.secret_ref.name for s in container.env_from if s.secret_ref}
    serialized = json.dumps(job_dict)
    assert password_canary not in serialized
    assert real_kube.tokens[ADMIN] not in serialized
    # The run launcher's resources, sized for a sync (the user deployment sets none that would win).
    assert api.sanitize_for_serialization(container.resources) == values["runLauncher"]["config"]["k8sRunLauncher"]["resources"]
    # The kubeconfig reaches the pod as a mounted Secret.
    volumes = {v.name: v for v in pod.volumes}
    assert volumes["kubeconfig"].secret.secret_name == "k8s-assets-kubeconfig"
    assert {m.name: m.mount_path for m in container.volume_mounts}["kubeconfig"] == "/etc/k8s-assets/kubeconfig"

    shown = yaml.safe_dump(trimmed(job_dict), sort_keys=False, width=120)
    (tmp_path / "job.yaml").write_text(shown)
    print(f"\nkubectl get job dagster-run-{run_id} -n {NAMESPACE} -o yaml (trimmed):\n{shown}")


def test_context_label_is_valid_for_any_context_name():
    """An EKS context name is no valid label value; the Job would be refused with it."""
    valid = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
    for name in ("prod", "arn:aws:eks:eu-west-1:123456789012:cluster/prod-eu",
                 "gke_my-project_europe-west1_prod", "-odd-" * 30, "in-cluster"):
        value = label_value(name)
        assert valid.match(value) and len(value) <= 63, (name, value)
        config = json.loads(run_tags(name)[K8S_CONFIG_TAG])
        assert config["job_metadata"]["annotations"][CONTEXT_TAG] == name
        assert config["pod_template_spec_metadata"]["labels"][CONTEXT_TAG] == value
    assert label_value("prod-eu") == "prod-eu"


def test_default_instance_keeps_the_default_run_launcher():
    """The repository's dagster.yaml launches runs as subprocesses: the K8sRunLauncher is only
    configured by the Helm chart, so every other test and `dagster dev` are unchanged."""
    instance = yaml.safe_load((REPO / "k8s_assets" / "dagster.yaml").read_text())
    assert "run_launcher" not in instance


# -- deploy/helm-values.yaml against the chart ---------------------------------------------------

ANY = object()  # a subtree the chart passes through (Kubernetes objects, free-form config)
# The keys of the official chart (dagster-io/dagster, helm/dagster): its values schema models
# (schema/charts/dagster/values.py and subschema/{global_,postgresql,run_launcher,daemon,
# concurrency}.py, dagster_user_deployments/subschema/user_deployments.py) and the templates
# that read them (templates/helpers/instance/_run-launcher.tpl, _run-coordinator.tpl, _concurrency.tpl,
# configmap-instance.yaml's run_monitoring). Only the keys deploy/helm-values.yaml may use.
CHART_KEYS = {
    "global": {"postgresqlSecretName": str, "dagsterHome": str, "serviceAccountName": str, "celeryConfigSecretName": str},
    "postgresql": {"enabled": bool, "image": ANY, "postgresqlHost": str, "postgresqlUsername": str,
                   "postgresqlPassword": str, "postgresqlDatabase": str, "postgresqlParams": ANY,
                   "postgresqlScheme": str, "service": {"port": int}},
    "generatePostgresqlPasswordSecret": bool,
    "dagster-user-deployments": {
        "enabled": bool, "enableSubchart": bool, "imagePullSecrets": ANY,
        "serviceAccount": {"create": bool, "name": str, "annotations": ANY},
        "deployments": [{
            "name": str, "image": {"repository": str, "tag": str, "pullPolicy": str}, "port": int,
            "dagsterApiGrpcArgs": [str], "codeServerArgs": [str], "includeConfigInLaunchedRuns": {"enabled": bool},
            "env": ANY, "envConfigMaps": [{"name": str}], "envSecrets": [{"name": str}], "annotations": ANY,
            "nodeSelector": ANY, "affinity": ANY, "tolerations": ANY, "podSecurityContext": ANY,
            "securityContext": ANY, "resources": ANY, "livenessProbe": ANY, "readinessProbe": ANY,
            "startupProbe": ANY, "labels": ANY, "volumeMounts": ANY, "volumes": ANY, "schedulerName": str,
        }],
    },
    "runLauncher": {"type": str, "config": {"k8sRunLauncher": {
        "image": ANY, "imagePullPolicy": str, "jobNamespace": str, "loadInclusterConfig": bool, "kubeconfigFile": str,
        "envConfigMaps": [{"name": str}], "envSecrets": [{"name": str}], "envVars": [str], "volumeMounts": ANY,
        "volumes": ANY, "labels": ANY, "failPodOnRunFailure": bool, "resources": ANY, "schedulerName": str,
        "securityContext": ANY,
        "runK8sConfig": {"containerConfig": ANY, "podSpecConfig": ANY, "podTemplateSpecMetadata": ANY,
                         "jobSpecConfig": ANY, "jobMetadata": ANY},
    }}},
    "concurrency": {"enabled": bool, "pools": {"defaultLimit": int, "granularity": str, "opGranularityRunBuffer": int},
                    "runs": {"maxConcurrentRuns": int, "tagConcurrencyLimits": ANY}},
    "dagsterDaemon": {
        "enabled": bool,
        "runCoordinator": {"enabled": bool, "type": str, "config": {"queuedRunCoordinator": {
            "maxConcurrentRuns": int, "tagConcurrencyLimits": ANY, "dequeueIntervalSeconds": int,
            "dequeueUseThreads": bool, "dequeueNumWorkers": int}}},
        "runMonitoring": {"enabled": bool, "startTimeoutSeconds": int, "cancelTimeoutSeconds": int,
                          "maxResumeRunAttempts": int, "pollIntervalSeconds": int, "freeSlotsAfterRunEndSeconds": int},
    },
    "telemetry": {"enabled": bool},
}


def unknown_keys(value, allowed, path: str = "") -> list[str]:
    """Where ``value`` has a key the chart does not know, or a value of the wrong kind."""
    if allowed is ANY:
        return []
    if isinstance(allowed, dict):
        if not isinstance(value, dict):
            return [f"{path}: expected a mapping"]
        problems = [f"{path}.{k}".lstrip(".") + ": not a key of the chart" for k in value if k not in allowed]
        return problems + [p for k, v in value.items() if k in allowed
                           for p in unknown_keys(v, allowed[k], f"{path}.{k}")]
    if isinstance(allowed, list):
        if not isinstance(value, list):
            return [f"{path}: expected a list"]
        return [p for i, item in enumerate(value) for p in unknown_keys(item, allowed[0], f"{path}[{i}]")]
    return [] if isinstance(value, allowed) else [f"{path}: expected {allowed.__name__}, got {value!r}"]


def test_helm_values_use_only_chart_keys_and_match_the_instance_config():
    values = helm_values()
    assert unknown_keys(values, CHART_KEYS) == []
    assert unknown_keys({"runLauncher": {"typo": 1}}, CHART_KEYS) == ["runLauncher.typo: not a key of the chart"]

    # Each context's run is a pod of its own, reading the cluster as deploy/rbac.yaml's account.
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    assert values["dagster-user-deployments"]["serviceAccount"] == {"create": False, "name": "k8s-assets"}
    assert launcher["jobNamespace"] == NAMESPACE
    # The code location served as the chart's user deployment.
    deployment = code_deployment(values)
    assert deployment["codeServerArgs"][:2] == ["--module-name", "k8s_assets.definitions"]
    assert deployment["includeConfigInLaunchedRuns"]["enabled"] is True
    # External PostgreSQL, passwords and the inventory URL only from Secrets.
    assert values["postgresql"]["enabled"] is False and "postgresqlPassword" not in values["postgresql"]
    assert values["generatePostgresqlPasswordSecret"] is False
    plain_env = {e["name"]: e.get("value") for e in deployment["env"]}
    assert "K8S_ASSETS_DATABASE_URL" not in plain_env
    assert {"name": "k8s-assets-database"} in deployment["envSecrets"]
    # The kubeconfig Secret is mounted where KUBECONFIG points.
    (mount,) = [m for m in deployment["volumeMounts"] if m["name"] == "kubeconfig"]
    assert Path(plain_env["KUBECONFIG"]).parent == Path(mount["mountPath"])

    # The same pool limit and run monitoring as the repository's dagster.yaml.
    instance = yaml.safe_load((REPO / "k8s_assets" / "dagster.yaml").read_text())
    pools = values["concurrency"]["pools"]
    assert values["concurrency"]["enabled"] is True
    assert pools["defaultLimit"] == instance["concurrency"]["pools"]["default_limit"]
    assert pools["granularity"] == instance["concurrency"]["pools"]["granularity"]
    monitoring = values["dagsterDaemon"]["runMonitoring"]
    assert monitoring["enabled"] is instance["run_monitoring"]["enabled"] is True
    assert monitoring["freeSlotsAfterRunEndSeconds"] == instance["run_monitoring"]["free_slots_after_run_end_seconds"]
    coordinator = values["dagsterDaemon"]["runCoordinator"]
    assert coordinator["config"]["queuedRunCoordinator"]["dequeueIntervalSeconds"] == \
        instance["run_coordinator"]["config"]["dequeue_interval_seconds"]
