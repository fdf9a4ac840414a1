"""How traffic reaches workloads: services, endpoint slices, ingresses, network policies."""

from __future__ import annotations

from k8s_assets.catalog.extractors import (
    annotation_true, as_json, at, count_of_each, endpoints_ready, field_of_each, flattened, label, length_of,
)
from k8s_assets.catalog.types import EACH, Kind, col

KINDS: tuple[Kind, ...] = (
    Kind(
        table="k8s_services", group="", version="v1", plural="services", kind="Service",
        namespaced=True, area="networking",
        description="Services with type, cluster IP, ports and selector.",
        columns=(
            col("type", "text", at("spec", "type")),
            col("cluster_ip", "text", at("spec", "clusterIP")),
            col("external_ips", "text[]", at("spec", "externalIPs")),
            col("load_balancer_ingress", "jsonb", as_json(at("status", "loadBalancer", "ingress"))),
            col("ports", "jsonb", as_json(at("spec", "ports"))),
            col("selector", "jsonb", as_json(at("spec", "selector"))),
        ),
    ),
    Kind(
        table="k8s_endpointslices", group="discovery.k8s.io", version="v1", plural="endpointslices",
        kind="EndpointSlice", namespaced=True, area="networking",
        older_versions=("v1beta1",),
        description="EndpointSlices with their service, address type and endpoint counts.",
        indexes=(("namespace", "service_name"),),
        columns=(
            col("service_name", "text", label("kubernetes.io/service-name")),
            col("address_type", "text", at("addressType")),
            col("endpoint_count", "integer", length_of(at("endpoints"))),
            col("ready_endpoint_count", "integer", endpoints_ready),
            col("addresses", "text[]", flattened(at("endpoints"), "addresses")),
            col("ports", "jsonb", as_json(at("ports"))),
        ),
    ),
    Kind(
        table="k8s_ingresses", group="networking.k8s.io", version="v1", plural="ingresses", kind="Ingress",
        namespaced=True, area="networking",
        description="Ingresses with class, hosts, TLS hosts and rules.",
        columns=(
            col("ingress_class", "text", at("spec", "ingressClassName")),
            col("hosts", "text[]", field_of_each(at("spec", "rules"), "host")),
            col("tls_hosts", "text[]", flattened(at("spec", "tls"), "hosts")),
            col("load_balancer_ingress", "jsonb", as_json(at("status", "loadBalancer", "ingress"))),
            col("default_backend", "jsonb", as_json(at("spec", "defaultBackend"))),
            col("rules", "jsonb", as_json(at("spec", "rules"))),
        ),
    ),
    Kind(
        table="k8s_ingressclasses", group="networking.k8s.io", version="v1", plural="ingressclasses",
        kind="IngressClass", namespaced=False, area="networking",
        description="IngressClasses with their controller and which one is the default.",
        columns=(
            col("controller", "text", at("spec", "controller")),
            col("is_default", "boolean", annotation_true("ingressclass.kubernetes.io/is-default-class")),
            col("parameters", "jsonb", as_json(at("spec", "parameters"))),
        ),
    ),
    Kind(
        table="k8s_networkpolicies", group="networking.k8s.io", version="v1", plural="networkpolicies",
        kind="NetworkPolicy", namespaced=True, area="networking",
        description="NetworkPolicies with their pod selector, policy types and rules.",
        columns=(
            col("pod_selector", "jsonb", as_json(at("spec", "podSelector"))),
            col("policy_types", "text[]", at("spec", "policyTypes")),
            col("ingress_rule_count", "integer", length_of(at("spec", "ingress"))),
            col("egress_rule_count", "integer", length_of(at("spec", "egress"))),
            col("ingress", "jsonb", as_json(at("spec", "ingress"))),
            col("egress", "jsonb", as_json(at("spec", "egress"))),
        ),
    ),
    Kind(
        table="k8s_endpoints", group="", version="v1", plural="endpoints", kind="Endpoints",
        namespaced=True, area="networking",
        description="Endpoints (the core API's, one per service, next to EndpointSlices) with address counts.",
        columns=(
            col("address_count", "integer", count_of_each(at("subsets"), "addresses"), "Ready addresses."),
            col("not_ready_address_count", "integer", count_of_each(at("subsets"), "notReadyAddresses")),
            col("ips", "text[]", lambda o: [
                a.get("ip") for s in o.get("subsets") or () for a in s.get("addresses") or () if a.get("ip")
            ], "IPs of the ready addresses.", reads=[("subsets", EACH, "addresses", EACH, "ip")]),
            col("ports", "jsonb", as_json(flattened(at("subsets"), "ports"))),
        ),
    ),
)
