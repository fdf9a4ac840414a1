"""Settings from the environment and the YAML file; kubeconfig contexts and their merge."""

import pytest
import yaml

from k8s_assets.kube.config import ConfigError, kube_contexts, load_settings


def kubeconfig(path, contexts: list[str], server="https://127.0.0.1:6443"):
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": f"{c}-cluster", "cluster": {"server": server}} for c in contexts],
        "users": [{"name": f"{c}-user", "user": {"token": f"secret-{c}"}} for c in contexts],
        "contexts": [{"name": c, "context": {"cluster": f"{c}-cluster", "user": f"{c}-user"}} for c in contexts],
    }))
    return path


def test_defaults_select_every_context_and_every_kind(tmp_path):
    path = kubeconfig(tmp_path / "k", ["a", "b"])
    settings = load_settings({"KUBECONFIG": str(path)})
    assert [c.name for c in kube_contexts(settings)] == ["a", "b"]
    assert settings.database_url is None and settings.page_size == 500
    assert "k8s_pods" in {k.table for k in settings.kinds}


def test_colon_separated_kubeconfig_merges_first_definition_wins(tmp_path):
    first = kubeconfig(tmp_path / "one", ["shared", "only-one"], server="https://first")
    second = kubeconfig(tmp_path / "two", ["shared", "only-two"], server="https://second")
    settings = load_settings({"KUBECONFIG": f"{first}:{tmp_path / 'missing'}:{second}"})
    contexts = {c.name: c for c in kube_contexts(settings)}
    assert sorted(contexts) == ["only-one", "only-two", "shared"]
    assert contexts["shared"].server == "https://first"


def test_context_globs_select_contexts(tmp_path):
    path = kubeconfig(tmp_path / "k", ["prod-eu", "prod-us", "dev"])
    settings = load_settings({"KUBECONFIG": str(path), "K8S_ASSETS_CONTEXTS": "prod-*, dev"})
    assert [c.name for c in kube_contexts(settings)] == ["prod-eu", "prod-us", "dev"]
    settings = load_settings({"KUBECONFIG": str(path), "K8S_ASSETS_CONTEXTS": "prod-e?"})
    assert [c.name for c in kube_contexts(settings)] == ["prod-eu"]


def test_resources_accept_plural_table_and_group_names(tmp_path):
    settings = load_settings({"K8S_ASSETS_RESOURCES": "pods,k8s_namespaces,deployments.apps"})
    assert [k.table for k in settings.kinds] == ["k8s_namespaces", "k8s_pods", "k8s_deployments"]


@pytest.mark.parametrize(("key", "value", "fragment"), [
    ("K8S_ASSETS_RESOURCES", "pods,gizmos", "gizmos"),
    ("K8S_ASSETS_DATABASE_URL", "mysql://u:hunter2@h/db", "mysql"),
    ("K8S_ASSETS_PAGE_SIZE", "-3", "-3"),
    ("K8S_ASSETS_REQUEST_TIMEOUT", "soon", "soon"),
    ("K8S_ASSETS_SCHEDULE", "hourly", "cron"),
])
def test_bad_values_name_their_key(key, value, fragment):
    with pytest.raises(ConfigError) as error:
        load_settings({key: value})
    assert error.value.key == key and str(error.value).startswith(key) and fragment in str(error.value)
    assert "hunter2" not in str(error.value)


def test_yaml_file_supplies_the_same_keys_and_environment_wins(tmp_path):
    config = tmp_path / "k8s-assets.yaml"
    config.write_text(yaml.safe_dump({"K8S_ASSETS_CONTEXTS": ["a*", "b"], "K8S_ASSETS_PAGE_SIZE": 50}))
    settings = load_settings({"K8S_ASSETS_CONFIG": str(config)})
    assert settings.context_patterns == ("a*", "b") and settings.page_size == 50
    settings = load_settings({"K8S_ASSETS_CONFIG": str(config), "K8S_ASSETS_PAGE_SIZE": "7"})
    assert settings.page_size == 7


def test_yaml_file_errors_name_the_file_key(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text(yaml.safe_dump({"K8S_ASSETS_CONTEXT": "typo"}))
    with pytest.raises(ConfigError, match="K8S_ASSETS_CONFIG: unknown key.*K8S_ASSETS_CONTEXT"):
        load_settings({"K8S_ASSETS_CONFIG": str(config)})
    with pytest.raises(ConfigError, match="K8S_ASSETS_CONFIG: cannot read"):
        load_settings({"K8S_ASSETS_CONFIG": str(tmp_path / "absent.yaml")})


def test_malformed_kubeconfig_is_a_kubeconfig_error(tmp_path):
    path = tmp_path / "k"
    path.write_text("contexts: [unclosed")
    with pytest.raises(ConfigError, match="^KUBECONFIG"):
        kube_contexts(load_settings({"KUBECONFIG": str(path)}))


def test_secrets_mode_metadata_lists_secrets_as_metadata_and_keys_is_the_default(tmp_path):
    from k8s_assets.catalog.redaction import METADATA_ONLY

    path = kubeconfig(tmp_path / "k", ["a"])
    secrets = {s.secrets: next(k for k in s.kinds if k.table == "k8s_secrets")
               for s in (load_settings({"KUBECONFIG": str(path)}),
                         load_settings({"KUBECONFIG": str(path), "K8S_ASSETS_SECRETS": "metadata"}))}
    assert secrets["keys"].accept is None and secrets["metadata"].accept == METADATA_ONLY
    listed = {"metadata": {"name": "s", "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}}}
    stored = secrets["metadata"].redact(listed)
    assert stored["metadata"]["annotations"] is None and stored["kind"] == "Secret"
    assert [c.extract(stored) for c in secrets["metadata"].columns] == [None, None, None]
    with pytest.raises(ConfigError, match="K8S_ASSETS_SECRETS"):
        load_settings({"KUBECONFIG": str(path), "K8S_ASSETS_SECRETS": "values"})
