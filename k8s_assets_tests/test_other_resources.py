"""Which served resources k8s_other_resources lists: the rules, on discovery as v1.20 and v1.37 serve it.
(The real servers prove the whole sync: test_real_server.py.)"""

from k8s_assets.dagster_edge.other_resources import plan
from k8s_assets.kube.discovery import Discovery, ServedResource

LIST = ("get", "list", "watch")


def discovery(*resources: tuple[str, str, str, str, bool, tuple[str, ...]]) -> Discovery:
    served = {(g, v, p): ServedResource(g, v, p, k, ns, verbs) for g, v, p, k, ns, verbs in resources}
    versions: dict[str, list[str]] = {}
    for g, v, _, _, _, _ in resources:
        if v not in versions.setdefault(g, []):
            versions[g].append(v)
    return Discovery({g: tuple(v) for g, v in versions.items()}, served)


SERVED = discovery(
    ("", "v1", "pods", "Pod", True, LIST),                       # typed
    ("", "v1", "endpoints", "Endpoints", True, LIST),            # typed
    ("", "v1", "podtemplates", "PodTemplate", True, LIST),
    ("", "v1", "events", "Event", True, LIST),                   # opt-in
    ("", "v1", "componentstatuses", "ComponentStatus", False, LIST),
    ("", "v1", "bindings", "Binding", True, ("create",)),        # not listable
    ("apiregistration.k8s.io", "v1", "apiservices", "APIService", False, LIST),
    ("apiregistration.k8s.io", "v1beta1", "apiservices", "APIService", False, LIST),
    ("coordination.k8s.io", "v1", "leases", "Lease", True, LIST),  # typed
    ("events.k8s.io", "v1", "events", "Event", True, LIST),      # opt-in, same objects as core events
    ("extensions", "v1beta1", "ingresses", "Ingress", True, LIST),  # same objects as k8s_ingresses
    ("networking.k8s.io", "v1", "ingresses", "Ingress", True, LIST),
    ("networking.k8s.io", "v1beta1", "ingresses", "Ingress", True, LIST),
    ("scheduling.k8s.io", "v1", "priorityclasses", "PriorityClass", False, LIST),  # typed
    ("metrics.k8s.io", "v1beta1", "pods", "PodMetrics", True, LIST),  # another kind: its own objects
    ("zoo.example.com", "v1", "octopi", "Octopus", True, LIST),  # a CRD
)
CRDS = {("zoo.example.com", "octopi")}


def names(found) -> list[str]:
    return [t.resource for t in found.listed]


def test_discovery_decides_and_typed_custom_and_opt_in_resources_are_left_out():
    found = plan(SERVED, CRDS)
    assert names(found) == ["podtemplates", "apiservices.apiregistration.k8s.io", "pods.metrics.k8s.io"]
    assert found.left_out == {
        "componentstatuses": "deprecated virtual resource: its objects have no uid",
        "events": "opt-in (K8S_ASSETS_RESOURCES)",
        "events.events.k8s.io": "opt-in (K8S_ASSETS_RESOURCES)",
        "ingresses.extensions": "the same objects as k8s_ingresses (another group)",
    }
    # Listed at the version the group prefers (first in discovery).
    (apiservices,) = [t for t in found.listed if t.plural == "apiservices"]
    assert apiservices.version_to_list(SERVED) == "v1" and not apiservices.namespaced


def test_events_when_named_and_once_when_both_names_are():
    assert "events" in names(plan(SERVED, CRDS, include=("events",)))
    both = plan(SERVED, CRDS, include=("events", "events.events.k8s.io"))
    assert "events.events.k8s.io" in names(both) and "events" not in names(both)
    assert both.left_out["events"] == "the same objects as events.events.k8s.io, listed there"
