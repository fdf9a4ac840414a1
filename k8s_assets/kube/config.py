"""Configuration and kubeconfig contexts.

Settings come from the environment and, for the same keys, from an optional YAML file
named by ``K8S_ASSETS_CONFIG`` (the environment wins). A bad value raises
``ConfigError`` naming the key, before anything is synced.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from k8s_assets import catalog
from k8s_assets.catalog.types import Kind
from k8s_assets.kube import credentials

DEFAULT_KUBECONFIG = "~/.kube/config"
DEFAULT_HISTORY_DAYS = 30
HISTORY_DAYS = "K8S_ASSETS_HISTORY_DAYS"
SECRETS = "K8S_ASSETS_SECRETS"
# keys: Secrets are listed whole and their values dropped before anything is stored (type and
# key names kept); metadata: listed as PartialObjectMetadataList, values never leave the server.
SECRETS_MODES = ("keys", "metadata")


class ConfigError(ValueError):
    """A configuration value is missing or malformed; the message names the key."""

    def __init__(self, key: str, problem: str):
        self.key = key
        super().__init__(f"{key}: {problem}")


@dataclass(frozen=True)
class Settings:
    kubeconfig: tuple[Path, ...]
    database_url: str | None
    context_patterns: tuple[str, ...]
    kinds: tuple[Kind, ...]
    home: Path  # where the embedded Postgres keeps its data when no database URL is given
    page_size: int
    request_timeout: float
    schedule: str
    configmap_values: bool = False  # K8S_ASSETS_CONFIGMAP_VALUES: store ConfigMap values, not only keys and sizes
    history_days: int | None = DEFAULT_HISTORY_DAYS  # K8S_ASSETS_HISTORY_DAYS; None keeps every version
    secrets: str = "keys"  # K8S_ASSETS_SECRETS: keys (values dropped on our side) or metadata (never sent)
    retries: int = 3  # K8S_ASSETS_RETRIES: more tries after a network or server error (0: none)
    retry_delay: float = 10.0  # K8S_ASSETS_RETRY_DELAY: seconds before the first of them, doubled for each next

    @property
    def kubeconfig_env(self) -> str:
        """The kubeconfig paths as the colon-separated value KUBECONFIG expects."""
        return os.pathsep.join(str(p) for p in self.kubeconfig)


@dataclass(frozen=True)
class KubeContext:
    """A kubeconfig context, read without running any credential plugin."""

    name: str
    cluster_name: str
    user_name: str
    server: str
    namespace: str | None = None


KEYS = (
    "KUBECONFIG",
    "K8S_ASSETS_DATABASE_URL",
    "K8S_ASSETS_CONTEXTS",
    "K8S_ASSETS_RESOURCES",
    "K8S_ASSETS_HOME",
    "K8S_ASSETS_PAGE_SIZE",
    "K8S_ASSETS_REQUEST_TIMEOUT",
    "K8S_ASSETS_RETRIES",
    "K8S_ASSETS_RETRY_DELAY",
    "K8S_ASSETS_SCHEDULE",
    "K8S_ASSETS_CONFIGMAP_VALUES",
    HISTORY_DAYS,
    SECRETS,
)


def _read_config_file(environ: Mapping[str, str]) -> dict[str, str]:
    path = environ.get("K8S_ASSETS_CONFIG")
    if not path:
        return {}
    try:
        data = yaml.safe_load(Path(path).expanduser().read_text()) or {}
    except OSError as e:
        raise ConfigError("K8S_ASSETS_CONFIG", f"cannot read {path}: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise ConfigError("K8S_ASSETS_CONFIG", f"{path} is not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError("K8S_ASSETS_CONFIG", f"{path} must hold a mapping of keys to values")
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise ConfigError("K8S_ASSETS_CONFIG", f"unknown key(s) {', '.join(unknown)} in {path}")
    return {k: ",".join(map(str, v)) if isinstance(v, list) else str(v) for k, v in data.items()}


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(p.strip() for p in (value or "").split(",") if p.strip())


def _number(key: str, value: str, kind: type, zero_allowed: bool = False) -> int | float:
    """A number of the key's kind: above 0, or 0 and above where 0 means something (none)."""
    expected = "a number, 0 or more" if zero_allowed else "a positive number"
    try:
        number = kind(value)
    except ValueError:
        raise ConfigError(key, f"expected {expected}, got {value!r}") from None
    if number < 0 or (number == 0 and not zero_allowed):
        raise ConfigError(key, f"expected {expected}, got {value!r}")
    return number


def _database_url(value: str | None) -> str | None:
    if not value:
        return None
    scheme = urlsplit(value).scheme
    if scheme not in ("postgresql", "postgres"):
        # Never echo the URL: it may carry a password.
        raise ConfigError(
            "K8S_ASSETS_DATABASE_URL", f"expected a postgresql:// URL, got scheme {scheme or 'none'!r}"
        )
    return value


def _boolean(key: str, value: str) -> bool:
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off", ""):
        return False
    raise ConfigError(key, f"expected true or false, got {value!r}")


def _history_days(file_values: Mapping[str, str], environ: Mapping[str, str]) -> int | None:
    """Days of ended versions to keep: a whole number >= 0; empty keeps every version.

    Unlike the other keys, an empty value is a choice here (keep all), not "unset".
    """
    if HISTORY_DAYS in environ:
        value = environ[HISTORY_DAYS]
    elif HISTORY_DAYS in file_values:
        value = file_values[HISTORY_DAYS]
    else:
        return DEFAULT_HISTORY_DAYS
    text = str(value).strip()
    if text in ("", "None"):  # "None": an empty YAML value
        return None
    try:
        days = int(text)
    except ValueError:
        raise ConfigError(HISTORY_DAYS, f"expected a whole number of days (0 or more) or empty, got {value!r}") from None
    if days < 0:
        raise ConfigError(HISTORY_DAYS, f"expected a whole number of days (0 or more) or empty, got {value!r}")
    return days


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    environ = os.environ if environ is None else environ
    file_values = _read_config_file(environ)
    values = {**file_values, **{k: environ[k] for k in KEYS if environ.get(k)}}

    kubeconfig = tuple(
        Path(p).expanduser() for p in values.get("KUBECONFIG", DEFAULT_KUBECONFIG).split(os.pathsep) if p
    )
    try:
        kinds = catalog.select_kinds(_split(values.get("K8S_ASSETS_RESOURCES")))
    except ValueError as e:
        raise ConfigError("K8S_ASSETS_RESOURCES", str(e)) from None
    configmap_values = _boolean("K8S_ASSETS_CONFIGMAP_VALUES", values.get("K8S_ASSETS_CONFIGMAP_VALUES", "false"))
    secrets = values.get(SECRETS, "keys").strip().lower()
    if secrets not in SECRETS_MODES:
        raise ConfigError(SECRETS, f"expected one of {', '.join(SECRETS_MODES)}, got {values[SECRETS]!r}")
    kinds = catalog.with_options(kinds, configmap_values=configmap_values, secrets_metadata=secrets == "metadata")
    schedule = values.get("K8S_ASSETS_SCHEDULE", "0 * * * *")
    if len(schedule.split()) != 5:
        raise ConfigError("K8S_ASSETS_SCHEDULE", f"expected a five-field cron expression, got {schedule!r}")

    return Settings(
        kubeconfig=kubeconfig,
        database_url=_database_url(values.get("K8S_ASSETS_DATABASE_URL")),
        context_patterns=_split(values.get("K8S_ASSETS_CONTEXTS")) or ("*",),
        kinds=kinds,
        home=Path(values.get("K8S_ASSETS_HOME", ".k8s-assets")).expanduser().resolve(),
        page_size=int(_number("K8S_ASSETS_PAGE_SIZE", values.get("K8S_ASSETS_PAGE_SIZE", "500"), int)),
        request_timeout=float(
            _number("K8S_ASSETS_REQUEST_TIMEOUT", values.get("K8S_ASSETS_REQUEST_TIMEOUT", "60"), float)
        ),
        schedule=schedule,
        configmap_values=configmap_values,
        history_days=_history_days(file_values, environ),
        secrets=secrets,
        retries=int(_number("K8S_ASSETS_RETRIES", values.get("K8S_ASSETS_RETRIES", "3"), int, zero_allowed=True)),
        retry_delay=float(_number("K8S_ASSETS_RETRY_DELAY", values.get("K8S_ASSETS_RETRY_DELAY", "10"),
                                        float, zero_allowed=True)),
    )


def read_kubeconfig(paths: tuple[Path, ...]) -> dict:
    """Merge kubeconfig files the way kubectl does: the first file to define a name wins.

    Missing files are skipped (as kubectl does for KUBECONFIG entries); a file that is
    not valid YAML raises ConfigError naming KUBECONFIG.
    """
    merged: dict = {"apiVersion": "v1", "kind": "Config", "clusters": [], "users": [], "contexts": []}
    seen: dict[str, set[str]] = {"clusters": set(), "users": set(), "contexts": set()}
    for path in paths:
        if not path.is_file():
            continue
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as e:
            raise ConfigError("KUBECONFIG", f"{path} is not valid YAML: {e}") from None
        if not isinstance(data, dict):
            raise ConfigError("KUBECONFIG", f"{path} is not a kubeconfig file")
        for section in ("clusters", "users", "contexts"):
            for entry in data.get(section) or ():
                name = (entry or {}).get("name")
                if name and name not in seen[section]:
                    seen[section].add(name)
                    merged[section].append(entry)
        if "current-context" not in merged and data.get("current-context"):
            merged["current-context"] = data["current-context"]
    return merged


def kube_contexts(settings: Settings) -> list[KubeContext]:
    """The kubeconfig contexts selected by K8S_ASSETS_CONTEXTS, in kubeconfig order."""
    return contexts_in(settings.kubeconfig, settings.context_patterns)


def contexts_in(kubeconfig: tuple[Path, ...], patterns: tuple[str, ...] = ("*",)) -> list[KubeContext]:
    """The contexts of a (merged) kubeconfig whose names match any of the glob patterns, and,
    inside a pod, ``in-cluster``: the pod's own cluster through its service account (last, and
    only if the kubeconfig has no context of that name)."""
    config = read_kubeconfig(kubeconfig)
    servers = {c["name"]: (c.get("cluster") or {}).get("server", "") for c in config["clusters"]}
    contexts = []
    for entry in config["contexts"]:
        ctx = entry.get("context") or {}
        name = entry["name"]
        if any(fnmatch.fnmatchcase(name, p) for p in patterns):
            cluster = ctx.get("cluster", "")
            contexts.append(
                KubeContext(
                    name=name,
                    cluster_name=cluster,
                    user_name=ctx.get("user", ""),
                    server=servers.get(cluster, ""),
                    namespace=ctx.get("namespace"),
                )
            )
    pod = credentials.in_cluster()
    taken = {entry["name"] for entry in config["contexts"]}
    if pod is not None and credentials.IN_CLUSTER not in taken and any(
            fnmatch.fnmatchcase(credentials.IN_CLUSTER, p) for p in patterns):
        contexts.append(KubeContext(name=credentials.IN_CLUSTER, cluster_name=credentials.IN_CLUSTER,
                                    user_name="serviceaccount", server=pod.server))
    return contexts


def context_names(settings: Settings) -> list[str]:
    return [c.name for c in kube_contexts(settings)]
