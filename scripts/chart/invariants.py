"""Invariants every render of the agentry chart must keep, checked on the rendered manifests
(what the cluster would get), not on values.

Each check returns a list of problems; an empty list means the render is fine.
"""

from __future__ import annotations

import re
import tomllib

POD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "Pod"}
CONFIG_SECTIONS = {"hub", "node", "models", "tools", "templates"}
GO_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h)")
UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def parse_duration(text: str) -> float:
    """Returns the seconds of a Go/humantime duration such as `30s`, `1m30s`, `250ms`."""
    text = text.strip()
    parts = GO_DURATION.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise ValueError(f"not a duration: {text!r}")
    return sum(float(number) * UNIT_SECONDS[unit] for number, unit in parts)


def pod_spec(resource: dict) -> dict | None:
    """Returns the pod spec of a workload resource, or None."""
    if resource.get("kind") == "Pod":
        return resource.get("spec")
    if resource.get("kind") in POD_KINDS:
        return resource.get("spec", {}).get("template", {}).get("spec")
    return None


def component(render: list[dict], name: str) -> list[dict]:
    """Returns the Deployments labelled `app.kubernetes.io/component: name`."""
    return [
        item for item in render
        if item.get("kind") == "Deployment"
        and item.get("metadata", {}).get("labels", {}).get("app.kubernetes.io/component") == name
    ]


def flag(container: dict, name: str) -> str | None:
    """Returns the value of `--name=VALUE` (or `--name VALUE`) in a container's args."""
    args = [str(arg) for arg in container.get("args", [])]
    for index, arg in enumerate(args):
        if arg.startswith(f"--{name}="):
            return arg.split("=", 1)[1]
        if arg == f"--{name}" and index + 1 < len(args):
            return args[index + 1]
    return None


def listen_port(container: dict, name: str) -> int | None:
    """Returns the port of an address flag such as `--metrics-listen=0.0.0.0:7702`."""
    value = flag(container, name)
    return int(value.rsplit(":", 1)[1]) if value and ":" in value else None


def resolve_port(container: dict, port) -> int | None:
    """Returns a probe's port as a number, resolving a named container port."""
    if isinstance(port, int):
        return port
    for declared in container.get("ports", []):
        if declared.get("name") == port:
            return declared.get("containerPort")
    return None


def containers_and_images(render: list[dict]) -> list[str]:
    """Checks every container of every workload: a pinned image and resources set."""
    problems = []
    for item in render:
        spec = pod_spec(item)
        if spec is None:
            continue
        for container in spec.get("initContainers", []) + spec.get("containers", []):
            where = f"{item['kind']}/{item['metadata']['name']} container {container.get('name')}"
            image = str(container.get("image") or "")
            tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
            if "@sha256:" not in image and tag in ("", "latest"):
                problems.append(f"{where}: image {image!r} has no pinned tag (empty or `latest`)")
            resources = container.get("resources") or {}
            for section in ("requests", "limits"):
                missing = {"cpu", "memory"} - set((resources.get(section) or {}).keys())
                if missing:
                    problems.append(f"{where}: resources.{section} lacks {sorted(missing)}")
    return problems


def hub(render: list[dict], min_replicas: int) -> list[str]:
    """Checks the hub Deployment: replicas, gRPC health probes on the port it listens on, PDB."""
    hubs = component(render, "hub")
    if len(hubs) != 1:
        return [f"expected one hub Deployment, found {len(hubs)}"]
    deployment = hubs[0]
    problems = []
    replicas = deployment["spec"].get("replicas", 1)
    if replicas < min_replicas:
        problems.append(f"hub replicas {replicas} < {min_replicas}")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    grpc_port = listen_port(container, "listen")
    if grpc_port is None:
        problems.append("hub container has no --listen=ADDR:PORT flag")
    for probe_name in ("readinessProbe", "livenessProbe"):
        probe = container.get(probe_name)
        if not probe:
            problems.append(f"hub container has no {probe_name}")
        elif "grpc" in probe:
            port = resolve_port(container, probe["grpc"].get("port"))
            if port != grpc_port:
                problems.append(f"hub {probe_name} probes gRPC port {port}, the hub listens on {grpc_port}")
        elif "exec" in probe:
            command = [str(part) for part in probe["exec"].get("command", [])]
            if command[:2] != ["agentry", "health"] or "--http" in command:
                problems.append(f"hub {probe_name} exec {command} is not `agentry health` (gRPC)")
        else:
            problems.append(f"hub {probe_name} is neither a gRPC probe nor `agentry health`")
    problems += _pdb_covers(render, deployment, "hub")
    return problems


def node(render: list[dict]) -> list[str]:
    """Checks the node Deployment: grace period above --shutdown-grace, /readyz and /healthz
    probes on the metrics port, a workspace volume, no database credentials."""
    nodes = component(render, "node")
    if len(nodes) != 1:
        return [f"expected one node Deployment, found {len(nodes)}"]
    deployment = nodes[0]
    spec = deployment["spec"]["template"]["spec"]
    container = spec["containers"][0]
    problems = []
    grace_text = flag(container, "shutdown-grace")
    termination = spec.get("terminationGracePeriodSeconds", 30)
    if grace_text is None:
        problems.append("node container has no --shutdown-grace flag")
    else:
        try:
            grace = parse_duration(grace_text)
            if not termination > grace:
                problems.append(
                    f"node terminationGracePeriodSeconds {termination} must exceed "
                    f"--shutdown-grace {grace_text} ({grace:g}s): runs would be killed, not handed back"
                )
        except ValueError as error:
            problems.append(f"node --shutdown-grace: {error}")
    metrics_port = listen_port(container, "metrics-listen")
    for probe_name, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        http = (container.get(probe_name) or {}).get("httpGet")
        if not http:
            problems.append(f"node container has no HTTP {probe_name}")
            continue
        if http.get("path") != path:
            problems.append(f"node {probe_name} path {http.get('path')!r} is not {path}")
        if resolve_port(container, http.get("port")) != metrics_port:
            problems.append(f"node {probe_name} port {http.get('port')} is not the metrics listener {metrics_port}")
    mounts = {mount["mountPath"]: mount["name"] for mount in container.get("volumeMounts", [])}
    volumes = {volume["name"]: volume for volume in spec.get("volumes", [])}
    workspace = volumes.get(mounts.get(flag(container, "workspace-root") or "", ""), {})
    if "emptyDir" not in workspace:
        problems.append("node --workspace-root is not an emptyDir volume")
    env_names = {env.get("name") for env in container.get("env", [])}
    if "AGENTRY_DATABASE_URL" in env_names:
        problems.append("node container has AGENTRY_DATABASE_URL: nodes never hold database credentials")
    return problems


def security(render: list[dict]) -> list[str]:
    """Checks the agentry pods run as non-root 10001, read-only root, no capabilities."""
    problems = []
    for deployment in component(render, "hub") + component(render, "node"):
        spec = deployment["spec"]["template"]["spec"]
        pod = spec.get("securityContext", {})
        for container in spec["containers"]:
            where = f"Deployment/{deployment['metadata']['name']} container {container['name']}"
            context = {**pod, **container.get("securityContext", {})}
            if not context.get("runAsNonRoot") or context.get("runAsUser") != 10001:
                problems.append(f"{where}: must run as non-root user 10001")
            if context.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{where}: allowPrivilegeEscalation must be false")
            if "ALL" not in (context.get("capabilities") or {}).get("drop", []):
                problems.append(f"{where}: capabilities must drop ALL")
            if context.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{where}: readOnlyRootFilesystem must be true")
            env = {item.get("name"): item.get("value") for item in container.get("env", [])}
            annotations = deployment["spec"]["template"]["metadata"].get("annotations") or {}
            if env.get("AGENTRY_CONFIG") != "/etc/agentry/agentry.toml" or "checksum/config" not in annotations:
                problems.append(f"{where}: needs AGENTRY_CONFIG and the checksum/config annotation")
    return problems


def config(render: list[dict]) -> list[str]:
    """Checks the ConfigMap's agentry.toml parses and has only sections the binaries know."""
    maps = [item for item in render if item.get("kind") == "ConfigMap" and "agentry.toml" in item.get("data", {})]
    if len(maps) != 1:
        return [f"expected one ConfigMap with agentry.toml, found {len(maps)}"]
    try:
        parsed = tomllib.loads(maps[0]["data"]["agentry.toml"])
    except tomllib.TOMLDecodeError as error:
        return [f"values.config is not valid TOML: {error}"]
    unknown = set(parsed) - CONFIG_SECTIONS
    return [f"values.config has unknown sections {sorted(unknown)}"] if unknown else []


def selectors(render: list[dict]) -> list[str]:
    """Checks every Service, PDB and autoscaler points at pods or a Deployment of the render."""
    pod_labels = [
        item["spec"]["template"]["metadata"].get("labels", {})
        for item in render if item.get("kind") in POD_KINDS - {"Pod"}
    ]
    deployments = {item["metadata"]["name"] for item in render if item.get("kind") == "Deployment"}
    problems = []
    for item in render:
        where = f"{item['kind']}/{item['metadata']['name']}"
        selector = None
        if item["kind"] == "Service":
            selector = item["spec"].get("selector")
        elif item["kind"] == "PodDisruptionBudget":
            selector = item["spec"]["selector"].get("matchLabels")
        elif item["kind"] == "HorizontalPodAutoscaler":
            if item["spec"]["scaleTargetRef"]["name"] not in deployments:
                problems.append(f"{where}: scaleTargetRef names no Deployment of the release")
        if selector is not None and not any(selector.items() <= labels.items() for labels in pod_labels):
            problems.append(f"{where}: selector {selector} matches no pod template")
    return problems


def _pdb_covers(render: list[dict], deployment: dict, name: str) -> list[str]:
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    for item in render:
        if item.get("kind") == "PodDisruptionBudget":
            if item["spec"]["selector"].get("matchLabels", {}).items() <= labels.items():
                return []
    return [f"no PodDisruptionBudget covers the {name} pods"]
