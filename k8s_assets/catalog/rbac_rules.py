"""The RBAC a sync or the watcher needs, rendered: ``deploy/rbac*.yaml`` from the catalog, or a
role from discovery.

``k8s-assets rbac`` prints one of two things, both read-only (``get`` and ``list``, never
``watch``, never a write):

- without ``--context``, the catalog's documents: the namespace and ServiceAccount
  ``k8s-assets``, ClusterRole ``k8s-assets-reader`` on exactly the kinds of
  ``catalog.KINDS``, and the ClusterRole ``k8s-assets-custom-resources`` the user fills with
  CRD groups. ``deploy/rbac.yaml`` (secrets mode ``keys``) and
  ``deploy/rbac-secrets-metadata.yaml`` (``metadata``) are this text, byte for byte
  (k8s_assets_tests/test_rbac.py fails when they drift);
- with ``--context``, the same namespace, ServiceAccount and ``k8s-assets-reader`` (with its
  binding), the role granting every listable resource the cluster serves, custom resources
  and aggregated APIs included. Same name as the catalog's role, so applying it over
  ``deploy/rbac.yaml`` replaces the reader role and applying the file again narrows it back:
  no second role is left behind.

Secrets follow the secrets mode exactly as the catalog lists them: a kind listed as
``PartialObjectMetadataList`` (Secrets with ``K8S_ASSETS_SECRETS=metadata``) is granted
``list`` alone, in a rule of its own; every other resource ``get`` and ``list``.

``k8s-assets rbac --watch`` prints the same for ``k8s-assets watch`` (``deploy/watcher.yaml``):
the same kinds and verbs plus ``watch`` (Secrets in ``metadata`` mode: ``list`` and ``watch``),
for a ServiceAccount and ClusterRole of its own, both ``k8s-assets-watcher``, so that the sync's
account (the code server and every run pod) never gains ``watch``. ``deploy/rbac-watch.yaml``
and ``deploy/rbac-watch-secrets-metadata.yaml`` are this text. The watcher watches the typed
kinds only (custom resources stay with the scheduled sync), so it has no custom-resource role;
with ``--context``, every resource the cluster serves with ``list`` is granted, plus ``watch``
where the cluster serves that verb.

The YAML is written here as text, not dumped, so that the files keep their comments and a
layout a reviewer can diff; a test loads every rendering back and compares it with the
documents it was made from.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from k8s_assets.catalog import KINDS, with_options
from k8s_assets.catalog.redaction import METADATA_ONLY
from k8s_assets.catalog.types import Kind

NAMESPACE = SERVICE_ACCOUNT = "k8s-assets"
READER_ROLE = "k8s-assets-reader"
CUSTOM_RESOURCES_ROLE = "k8s-assets-custom-resources"
# The watcher's ServiceAccount and ClusterRole (one name for both, as the reader's binding is
# named after its role): apart from the sync's, which keeps get and list.
WATCHER = "k8s-assets-watcher"
READ_VERBS = ("get", "list")
LIST_ONLY = ("list",)
WATCH = "watch"
RBAC_API = "rbac.authorization.k8s.io"
LABELS = {"app.kubernetes.io/name": "k8s-assets"}
WIDTH = 100  # longest line of a wrapped resource list
# The command that writes each shipped file, per secrets mode (named in the files and by the test).
SHIPPED = {"keys": "deploy/rbac.yaml", "metadata": "deploy/rbac-secrets-metadata.yaml"}
SHIPPED_WATCH = {"keys": "deploy/rbac-watch.yaml", "metadata": "deploy/rbac-watch-secrets-metadata.yaml"}
LIST_ONLY_COMMENT = "listed as PartialObjectMetadataList only: no values are sent"
LIST_WATCH_COMMENT = "listed and watched as PartialObjectMetadata only: no values are sent"

Grants = Mapping[tuple[str, str], tuple[str, ...]]  # (API group, resource plural) -> verbs


def regenerate_command(secrets: str, watch: bool = False) -> str:
    if watch:
        return f"k8s-assets rbac --watch --secrets {secrets} > {SHIPPED_WATCH[secrets]}"
    return f"k8s-assets rbac --secrets {secrets} > {SHIPPED[secrets]}"


@dataclass(frozen=True)
class Account:
    """Who a rendering is for: a ServiceAccount of NAMESPACE and the ClusterRole bound to it."""

    service_account: str
    role: str


READER = Account(SERVICE_ACCOUNT, READER_ROLE)
WATCHER_ACCOUNT = Account(WATCHER, WATCHER)


def account_for(watch: bool) -> Account:
    return WATCHER_ACCOUNT if watch else READER


@dataclass(frozen=True)
class Rule:
    group: str
    resources: tuple[str, ...]
    verbs: tuple[str, ...]

    def as_dict(self) -> dict:
        return {"apiGroups": [self.group], "resources": list(self.resources), "verbs": list(self.verbs)}


def verbs_of(kind: Kind, watch: bool = False) -> tuple[str, ...]:
    """What listing ``kind`` as configured needs: a metadata-only list needs ``list`` and nothing else;
    with ``watch``, what watching it needs too (the same plus ``watch``)."""
    verbs = LIST_ONLY if kind.accept == METADATA_ONLY else READ_VERBS
    return (*verbs, WATCH) if watch else verbs


def configured_kinds(secrets: str) -> tuple[Kind, ...]:
    return with_options(KINDS, secrets_metadata=secrets == "metadata")


def catalog_grants(secrets: str, watch: bool = False) -> dict[tuple[str, str], tuple[str, ...]]:
    """Exactly the kinds of the catalog, as listed (and with ``watch``, watched) in ``secrets`` mode."""
    return {(k.group, k.plural): verbs_of(k, watch) for k in configured_kinds(secrets)}


def discovered_grants(discovery, secrets: str, watch: bool = False) -> dict[tuple[str, str], tuple[str, ...]]:
    """Every resource ``discovery`` (a ``k8s_assets.kube.discovery.Discovery``) serves with the
    ``list`` verb, at any version, subresources excepted; a catalog kind's verbs as the catalog
    lists it in ``secrets`` mode, every other resource ``get`` and ``list``. With ``watch``,
    ``watch`` too on each resource served with that verb (at any of its versions)."""
    catalog = catalog_grants(secrets)
    grants: dict[tuple[str, str], tuple[str, ...]] = {}
    watchable: set[tuple[str, str]] = set()
    for resource in discovery.resources.values():
        if "/" in resource.plural or "list" not in resource.verbs:
            continue
        key = (resource.group, resource.plural)
        grants[key] = catalog.get(key, READ_VERBS)
        if WATCH in resource.verbs:
            watchable.add(key)
    if watch:
        grants = {key: (*verbs, WATCH) if key in watchable else verbs for key, verbs in grants.items()}
    return grants


def rules_of(grants: Grants) -> list[Rule]:
    """One rule per API group and verb set, groups sorted (core first), resources sorted; within
    a group the ``get, list`` rule comes before a ``list``-only one."""
    by_rule: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for (group, plural), verbs in grants.items():
        by_rule.setdefault((group, tuple(verbs)), []).append(plural)
    order = sorted(by_rule, key=lambda key: (key[0], -len(key[1]), key[1]))
    return [Rule(group, tuple(sorted(by_rule[(group, verbs)])), verbs) for group, verbs in order]


# -- documents ---------------------------------------------------------------------------------


def namespace_document() -> dict:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}


def service_account_document(name: str = SERVICE_ACCOUNT) -> dict:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": NAMESPACE},
            "automountServiceAccountToken": True}


def role_document(name: str, rules: list[Rule]) -> dict:
    return {"apiVersion": f"{RBAC_API}/v1", "kind": "ClusterRole",
            "metadata": {"name": name, "labels": dict(LABELS)}, "rules": [r.as_dict() for r in rules]}


def binding_document(role: str, service_account: str = SERVICE_ACCOUNT) -> dict:
    return {"apiVersion": f"{RBAC_API}/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": role, "labels": dict(LABELS)},
            "roleRef": {"apiGroup": RBAC_API, "kind": "ClusterRole", "name": role},
            "subjects": [{"kind": "ServiceAccount", "name": service_account, "namespace": NAMESPACE}]}


def documents(rules: list[Rule], *, custom_resources_role: bool, watch: bool = False) -> list[dict]:
    """What a rendering holds, as data (the test compares the rendered text with it)."""
    account = account_for(watch)
    docs = [namespace_document(), service_account_document(account.service_account),
            role_document(account.role, rules), binding_document(account.role, account.service_account)]
    if custom_resources_role:
        docs += [role_document(CUSTOM_RESOURCES_ROLE, []), binding_document(CUSTOM_RESOURCES_ROLE)]
    return docs


# -- text --------------------------------------------------------------------------------------

_PLAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


def _scalar(value: str) -> str:
    """A name as YAML: plain when it is a DNS-like name that YAML reads back as that string."""
    if _PLAIN.match(value) and value not in ("true", "false", "null", "yes", "no", "on", "off", "y", "n") \
            and not re.match(r"^[0-9.eE+-]+$", value):
        return value
    return json.dumps(value)  # a JSON string is a YAML double-quoted scalar


def _flow(prefix: str, items: Iterable[str], comment: str | None = None) -> list[str]:
    """``prefix[a, b, ...]``, wrapped under the first item at WIDTH columns."""
    items = [_scalar(i) for i in items]
    lines, line = [], prefix + "["
    indent = " " * len(line)
    for n, item in enumerate(items):
        last = n == len(items) - 1
        piece = item + ("]" if last else ",")
        if line.endswith(("[", ",")) and line != prefix + "[" and len(line) + 1 + len(piece) > WIDTH:
            lines.append(line)
            line = indent + piece
        else:
            line += ("" if line.endswith("[") else " ") + piece
    if not items:
        line += "]"
    if comment:
        line += f"  # {comment}"
    lines.append(line)
    return lines


def _comment_block(text: str) -> list[str]:
    return [f"# {line}".rstrip() for line in text.strip("\n").split("\n")]


def _metadata_lines(name: str, namespace: str | None = None, labels: bool = True) -> list[str]:
    lines = ["metadata:", f"  name: {_scalar(name)}"]
    if namespace is not None:
        lines.append(f"  namespace: {_scalar(namespace)}")
    if labels:
        lines.append("  labels:")
        lines += [f"    {key}: {_scalar(value)}" for key, value in LABELS.items()]
    return lines


def _role_lines(name: str, rules: list[Rule], empty_comment: str | None = None) -> list[str]:
    lines = [f"apiVersion: {RBAC_API}/v1", "kind: ClusterRole", *_metadata_lines(name)]
    if not rules:
        if empty_comment:
            lines += _comment_block(empty_comment)
        return [*lines, "rules: []"]
    lines.append("rules:")
    for rule in rules:
        lines += _flow("  - apiGroups: ", [rule.group])
        comment = {LIST_ONLY: LIST_ONLY_COMMENT, (*LIST_ONLY, WATCH): LIST_WATCH_COMMENT}.get(rule.verbs)
        lines += _flow("    resources: ", rule.resources, comment)
        lines += _flow("    verbs: ", rule.verbs)
    return lines


def _binding_lines(role: str, service_account: str = SERVICE_ACCOUNT) -> list[str]:
    return [f"apiVersion: {RBAC_API}/v1", "kind: ClusterRoleBinding", *_metadata_lines(role), "roleRef:",
            f"  apiGroup: {RBAC_API}", "  kind: ClusterRole", f"  name: {_scalar(role)}", "subjects:",
            "  - kind: ServiceAccount", f"    name: {_scalar(service_account)}", f"    namespace: {_scalar(NAMESPACE)}"]


CUSTOM_RESOURCES_EMPTY = """\
No rule by default (an empty apiGroups is invalid); add one naming your CRDs' groups:
  - apiGroups: [cert-manager.io, monitoring.coreos.com]
    resources: ["*"]
    verbs: [get, list]"""


def render(header: str, rules: list[Rule], *, custom_resources_role: bool, watch: bool = False) -> str:
    """The documents of :func:`documents` as YAML text, under ``header`` (comment lines)."""
    account = account_for(watch)
    blocks = [
        [*_comment_block(header), "apiVersion: v1", "kind: Namespace", *_metadata_lines(NAMESPACE, labels=False)],
        ["apiVersion: v1", "kind: ServiceAccount",
         *_metadata_lines(account.service_account, NAMESPACE, labels=False), "automountServiceAccountToken: true"],
        _role_lines(account.role, rules),
        _binding_lines(account.role, account.service_account),
    ]
    if custom_resources_role:
        blocks += [_role_lines(CUSTOM_RESOURCES_ROLE, [], CUSTOM_RESOURCES_EMPTY), _binding_lines(CUSTOM_RESOURCES_ROLE)]
    return "\n---\n".join("\n".join(block) for block in blocks) + "\n"


# -- the two renderings ------------------------------------------------------------------------

_GENERATED = """\
Generated from k8s_assets.catalog by k8s_assets/catalog/rbac_rules.py: do not edit by hand. After a change to
the catalog, regenerate both files (k8s_assets_tests/test_rbac.py fails while they drift):
  {keys}
  {metadata}"""

_CUSTOM_RESOURCES_NOTE = """\
Custom resources: RBAC cannot say "every custom resource but nothing else" (a rule with
apiGroups ["*"] would match the core group too, Secrets included), so ClusterRole
k8s-assets-custom-resources grants get/list on every resource of the API groups named in its
one rule. Put your CRDs' groups there:
  kubectl get crd -o jsonpath='{range .items[*]}{.spec.group}{"\\n"}{end}' | sort -u
A group left out is not an error: its CRDs are recorded as forbidden in k8s_sync_coverage
and their stored rows are kept. Or let `k8s-assets rbac --context NAME | kubectl apply -f -`
write a reader role for everything that cluster serves, custom resources included."""

CATALOG_HEADERS = {
    "keys": """\
Least privilege for k8s-assets: what one cluster needs to grant for a complete sync.

  kubectl apply -f deploy/rbac.yaml

k8s-assets only ever lists (GET with ?limit and ?continue) and reads the kube-system
namespace for the cluster's identity: get and list, never watch, never a write.
ClusterRole k8s-assets-reader names exactly the kinds of k8s_assets.catalog.KINDS. Secrets
are listed with their values (the values are dropped before anything is stored); to never
receive them at all, run with K8S_ASSETS_SECRETS=metadata and apply
deploy/rbac-secrets-metadata.yaml instead of this file (see docs/security.md).
""",
    "metadata": """\
Least privilege for k8s-assets with K8S_ASSETS_SECRETS=metadata: apply this file instead
of deploy/rbac.yaml (same names, so applying it over rbac.yaml replaces the reader role).

  kubectl apply -f deploy/rbac-secrets-metadata.yaml

With K8S_ASSETS_SECRETS=metadata, Secrets are listed as PartialObjectMetadataList: the API
server sends names, labels and annotations, never data. The only difference from rbac.yaml is
that Secrets get `list` alone (nothing here ever GETs one Secret). RBAC cannot do more:
the metadata-only list is authorized as an ordinary `list` on secrets (the Accept header is
not part of the authorization request; k8s_assets_tests/test_rbac.py proves both on a real
server), so this role would also let a client that asks for full objects read values. What
keeps values on the server is the mode of the client; what this file adds is one verb less.
""",
}


WATCH_HEADERS = {
    "keys": """\
Least privilege for `k8s-assets watch` (deploy/watcher.yaml): what one cluster needs to grant
for the watcher to keep its inventory current.

  kubectl apply -f deploy/rbac-watch.yaml

The watcher lists each kind once (in pages, or as a streaming list: a watch with
sendInitialEvents) and then watches it, and reads the kube-system namespace for the cluster's
identity: get, list and watch, never a write. ClusterRole k8s-assets-watcher names exactly the
kinds of k8s_assets.catalog.KINDS, as deploy/rbac.yaml does, with `watch` added. It is bound
to a ServiceAccount of its own, k8s-assets-watcher: the sync's account k8s-assets (the code
server and every run pod) keeps get and list, and never gains `watch`. Custom resources are
not watched (the scheduled sync lists them), so there is no custom-resource role here. With
K8S_ASSETS_SECRETS=metadata, apply deploy/rbac-watch-secrets-metadata.yaml instead.
""",
    "metadata": """\
Least privilege for `k8s-assets watch` with K8S_ASSETS_SECRETS=metadata: apply this file
instead of deploy/rbac-watch.yaml (same names, so applying it over that file replaces the role).

  kubectl apply -f deploy/rbac-watch-secrets-metadata.yaml

As deploy/rbac-secrets-metadata.yaml for the sync: Secrets get `list` and `watch`, no `get`
(they are listed and watched as PartialObjectMetadata: names, labels and annotations, never
data); every other kind get, list and watch. ClusterRole and ServiceAccount k8s-assets-watcher,
apart from the sync's k8s-assets, which never gains `watch`.
""",
}


def render_catalog(secrets: str = "keys", watch: bool = False) -> str:
    """``deploy/rbac.yaml`` (``keys``) or ``deploy/rbac-secrets-metadata.yaml`` (``metadata``);
    with ``watch``, ``deploy/rbac-watch.yaml`` or ``deploy/rbac-watch-secrets-metadata.yaml``."""
    generated = _GENERATED.format(keys=regenerate_command("keys", watch),
                                  metadata=regenerate_command("metadata", watch))
    rules = rules_of(catalog_grants(secrets, watch))
    if watch:
        return render(f"{WATCH_HEADERS[secrets]}{generated}", rules, custom_resources_role=False, watch=True)
    header = f"{CATALOG_HEADERS[secrets]}{generated}\n\n{_CUSTOM_RESOURCES_NOTE}"
    return render(header, rules, custom_resources_role=True)


_DISCOVERED_HEADER = """\
k8s-assets: read-only access to everything context {context} serves (secrets mode {secrets}).

  k8s-assets rbac --context {context} --secrets {secrets} | kubectl apply -f -

Written by `k8s-assets rbac --context {context}` from the cluster's API discovery: ClusterRole
k8s-assets-reader grants get and list on every resource it serves with the list verb ({count}
resources in {groups} API groups, custom resources and aggregated APIs included), so a sync as
ServiceAccount k8s-assets/k8s-assets is complete for every kind. It has the name of the reader
role of deploy/rbac.yaml: applying this replaces that role, applying the file narrows it back.
{secrets_line}Run it again after CRDs or API groups are added: a resource served later is
forbidden until then (recorded as such in k8s_sync_coverage; its stored rows are kept)."""

_SECRETS_LINES = {
    "keys": "Secrets: get and list, as in deploy/rbac.yaml (values are dropped before storing).\n",
    "metadata": "Secrets: list alone, as in deploy/rbac-secrets-metadata.yaml (K8S_ASSETS_SECRETS=metadata).\n",
}


_DISCOVERED_WATCH_HEADER = """\
k8s-assets watch: read and watch access to everything context {context} serves (secrets mode {secrets}).

  k8s-assets rbac --watch --context {context} --secrets {secrets} | kubectl apply -f -

Written by `k8s-assets rbac --watch --context {context}` from the cluster's API discovery:
ClusterRole k8s-assets-watcher grants get and list on every resource it serves with the list
verb, and watch on those it serves with the watch verb ({count} resources in {groups} API
groups, custom resources and aggregated APIs included), to ServiceAccount
k8s-assets/k8s-assets-watcher. It has the name of the role of deploy/rbac-watch.yaml: applying
this replaces that role, applying the file narrows it back. The sync's account k8s-assets is
not touched (it never gains watch).
{secrets_line}Run it again after CRDs or API groups are added."""

_WATCH_SECRETS_LINES = {
    "keys": "Secrets: get, list and watch, as in deploy/rbac-watch.yaml.\n",
    "metadata": "Secrets: list and watch, as in deploy/rbac-watch-secrets-metadata.yaml (K8S_ASSETS_SECRETS=metadata).\n",
}


def render_discovered(discovery, context: str, secrets: str = "keys", watch: bool = False) -> str:
    """The namespace, ServiceAccount, reader role and binding for what ``discovery`` serves; with
    ``watch``, the watcher's (ServiceAccount and role k8s-assets-watcher, plus ``watch``)."""
    grants = discovered_grants(discovery, secrets, watch)
    template, lines = (_DISCOVERED_WATCH_HEADER, _WATCH_SECRETS_LINES) if watch else (_DISCOVERED_HEADER,
                                                                                      _SECRETS_LINES)
    header = template.format(context=context, secrets=secrets, count=len(grants),
                             groups=len({group for group, _ in grants}), secrets_line=lines[secrets])
    failed = sorted("/".join(p for p in pair if p) for pair in discovery.failed)
    if failed:
        header += ("\n\nIncomplete: the discovery of these group/versions failed, their resources are not "
                   "granted here:\n  " + ", ".join(failed))
    return render(header, rules_of(grants), custom_resources_role=False, watch=watch)
