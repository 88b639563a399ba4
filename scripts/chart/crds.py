"""Structural checks of the custom resources the chart renders.

kubernetes-validate only knows the built-in Kubernetes kinds, so ServiceMonitor (Prometheus
Operator), ScaledObject (KEDA) and HTTPRoute (Gateway API) are checked here instead: the fields
the chart sets, their types, the spec keys each CRD accepts, and that what they point at (a
Service port, a Deployment) exists in the same render. This is a smaller check than the CRDs'
OpenAPI schemas, which are not available offline.
"""

from __future__ import annotations

import re

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
DURATION = re.compile(r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$")

# apiVersion/kind -> spec keys the CRD accepts (a subset of each CRD's schema: what a chart uses).
SPEC_KEYS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): {
        "endpoints", "selector", "namespaceSelector", "jobLabel", "targetLabels", "podTargetLabels",
        "sampleLimit", "attachMetadata",
    },
    ("keda.sh/v1alpha1", "ScaledObject"): {
        "scaleTargetRef", "minReplicaCount", "maxReplicaCount", "pollingInterval", "cooldownPeriod",
        "idleReplicaCount", "initialCooldownPeriod", "advanced", "fallback", "triggers",
    },
    ("gateway.networking.k8s.io/v1", "HTTPRoute"): {"parentRefs", "hostnames", "rules"},
}


def is_custom(resource: dict) -> bool:
    """Returns whether `resource` is one of the custom kinds checked here."""
    return (resource.get("apiVersion"), resource.get("kind")) in SPEC_KEYS


def check(resource: dict, render: list[dict]) -> list[str]:
    """Returns the problems of one custom resource; `render` is every resource of its release."""
    key = (resource.get("apiVersion"), resource.get("kind"))
    problems = []
    name = resource.get("metadata", {}).get("name", "")
    if not isinstance(name, str) or not DNS_LABEL.match(name):
        problems.append(f"metadata.name {name!r} is not a DNS-1123 label")
    spec = resource.get("spec")
    if not isinstance(spec, dict):
        return problems + ["spec is missing or not a mapping"]
    unknown = set(spec) - SPEC_KEYS[key]
    if unknown:
        problems.append(f"unknown spec keys {sorted(unknown)}")
    checker = {
        "ServiceMonitor": _service_monitor,
        "ScaledObject": _scaled_object,
        "HTTPRoute": _http_route,
    }[key[1]]
    return problems + checker(spec, render)


def _services(render: list[dict]) -> list[dict]:
    return [item for item in render if item.get("kind") == "Service"]


def _service_monitor(spec: dict, render: list[dict]) -> list[str]:
    problems = []
    labels = spec.get("selector", {}).get("matchLabels")
    if not isinstance(labels, dict) or not labels:
        return ["spec.selector.matchLabels must be a non-empty mapping"]
    selected = [
        service for service in _services(render)
        if labels.items() <= service.get("metadata", {}).get("labels", {}).items()
    ]
    if not selected:
        problems.append(f"spec.selector {labels} selects no Service of the release")
    port_names = {port.get("name") for service in selected for port in service["spec"]["ports"]}
    endpoints = spec.get("endpoints")
    if not isinstance(endpoints, list) or not endpoints:
        return problems + ["spec.endpoints must be a non-empty list"]
    for index, endpoint in enumerate(endpoints):
        where = f"spec.endpoints[{index}]"
        if endpoint.get("port") not in port_names:
            problems.append(f"{where}.port {endpoint.get('port')!r} is no port of the selected Services")
        if not str(endpoint.get("path", "/metrics")).startswith("/"):
            problems.append(f"{where}.path must start with /")
        interval = endpoint.get("interval")
        if interval is not None and not DURATION.match(str(interval)):
            problems.append(f"{where}.interval {interval!r} is not a Prometheus duration")
    return problems


def _scaled_object(spec: dict, render: list[dict]) -> list[str]:
    problems = []
    target = spec.get("scaleTargetRef", {}).get("name")
    deployments = {item["metadata"]["name"] for item in render if item.get("kind") == "Deployment"}
    if target not in deployments:
        problems.append(f"spec.scaleTargetRef.name {target!r} is no Deployment of the release")
    low, high = spec.get("minReplicaCount", 0), spec.get("maxReplicaCount")
    if not isinstance(low, int) or not isinstance(high, int) or low > high or high < 1:
        problems.append(f"minReplicaCount {low!r} / maxReplicaCount {high!r} are not 0 <= min <= max, max >= 1")
    for field in ("pollingInterval", "cooldownPeriod"):
        if field in spec and not isinstance(spec[field], int):
            problems.append(f"spec.{field} must be an integer")
    triggers = spec.get("triggers")
    if not isinstance(triggers, list) or not triggers:
        return problems + ["spec.triggers must be a non-empty list"]
    for index, trigger in enumerate(triggers):
        where = f"spec.triggers[{index}]"
        metadata = trigger.get("metadata", {})
        # KEDA reads trigger metadata as a map of strings: numbers must be quoted.
        for key, value in metadata.items():
            if not isinstance(value, str):
                problems.append(f"{where}.metadata.{key} must be a string, got {value!r}")
        if trigger.get("type") != "prometheus":
            problems.append(f"{where}.type {trigger.get('type')!r}: the chart scales on the prometheus trigger")
            continue
        for required in ("serverAddress", "query", "threshold"):
            if not metadata.get(required):
                problems.append(f"{where}.metadata.{required} is missing")
        if not str(metadata.get("serverAddress", "")).startswith(("http://", "https://")):
            problems.append(f"{where}.metadata.serverAddress must be an http(s) URL")
        try:
            if float(metadata.get("threshold", "")) <= 0:
                problems.append(f"{where}.metadata.threshold must be positive")
        except ValueError:
            problems.append(f"{where}.metadata.threshold {metadata.get('threshold')!r} is not a number")
        query = str(metadata.get("query", ""))
        if query.count("(") != query.count(")") or query.count("{") != query.count("}"):
            problems.append(f"{where}.metadata.query has unbalanced brackets: {query}")
    return problems


def _http_route(spec: dict, render: list[dict]) -> list[str]:
    problems = []
    parents = spec.get("parentRefs")
    if not isinstance(parents, list) or not parents or not all(ref.get("name") for ref in parents):
        problems.append("spec.parentRefs must be a non-empty list of refs with a name")
    hostnames = spec.get("hostnames", [])
    if not isinstance(hostnames, list) or not all(isinstance(host, str) for host in hostnames):
        problems.append("spec.hostnames must be a list of strings")
    ports = {
        (service["metadata"]["name"], port.get("port"))
        for service in _services(render) for port in service["spec"]["ports"]
    }
    rules = spec.get("rules")
    if not isinstance(rules, list) or not rules:
        return problems + ["spec.rules must be a non-empty list"]
    for index, rule in enumerate(rules):
        for ref in rule.get("backendRefs", []):
            if (ref.get("name"), ref.get("port")) not in ports:
                problems.append(
                    f"spec.rules[{index}].backendRefs {ref.get('name')}:{ref.get('port')} is no Service port of the release"
                )
        for match in rule.get("matches", []):
            path = match.get("path", {})
            if path and path.get("type") not in ("Exact", "PathPrefix", "RegularExpression"):
                problems.append(f"spec.rules[{index}].matches path type {path.get('type')!r} is invalid")
    return problems
