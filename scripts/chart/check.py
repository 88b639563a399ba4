#!/usr/bin/env python3
"""Checks a Helm chart offline, as CI does (run through scripts/chart-check.sh, which provides
the Python packages): lint, values schema, renders, Kubernetes schemas, invariants, README.

    python scripts/chart/check.py CHART_DIR

1. `helm lint --strict` (Helm v4's SDK through helm-python-sdk): errors fail, with the chart
   defaults and with each `ci/*-values.yaml`.
2. Each ci values file validates against values.schema.json, and the schema rejects an unknown
   key at the top level and inside every object it declares strict.
3. The chart renders with its defaults and each ci values file (templates that must refuse
   values, such as KEDA and an HPA together or an image tag `latest`, must fail).
4. Every rendered manifest validates against the Kubernetes OpenAPI schemas in strict mode
   (kubernetes-validate) at the oldest supported and the newest known Kubernetes version;
   ServiceMonitor, ScaledObject and HTTPRoute are CRDs it cannot know: scripts/chart/crds.py
   checks their structure instead.
5. Invariants (scripts/chart/invariants.py) on every render, and coverage: across the renders
   every optional resource (Ingress, HTTPRoute, ServiceMonitor, HPA, ScaledObject, subcharts)
   appears at least once.
6. The README's values table is current (scripts/chart/readme.py --check).

Prints `FAIL <file>: <check>: <problem>` lines and exits 1 on any failure.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import helm_python as helm
import kubernetes_validate
import yaml
from kubernetes_validate.utils import SchemaNotFoundError, ValidationError

sys.path.insert(0, str(Path(__file__).resolve().parent))
import crds  # noqa: E402
import invariants  # noqa: E402

RELEASE, NAMESPACE = "agentry-ci", "agentry"
KUBE_VERSIONS = ("1.27.0", kubernetes_validate.utils.latest_version())
EXPECTED_KINDS = {
    "Deployment", "Service", "ConfigMap", "ServiceAccount", "PodDisruptionBudget", "Secret",
    "Ingress", "HTTPRoute", "ServiceMonitor", "HorizontalPodAutoscaler", "ScaledObject",
    "StatefulSet", "Pod",
}
MUST_FAIL = {
    "image.tag latest": {"image": {"tag": "latest"}},
    "autoscaling and keda together": {"autoscaling": {"enabled": True}, "keda": {"enabled": True}},
}


class Report:
    """Collects failures; every line names the file (values file or template) and the check."""

    def __init__(self) -> None:
        self.failures: list[str] = []

    def fail(self, where: str, check: str, problem: str) -> None:
        line = f"FAIL {where}: {check}: {problem}".rstrip()
        self.failures.append(line)
        print(line, file=sys.stderr)

    def ok(self, what: str) -> None:
        print(f"ok   {what}", file=sys.stderr)


def load_values(path: Path, report: Report) -> dict | None:
    try:
        return yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        report.fail(str(path), "yaml", str(error))
        return None


def lint(chart_dir: Path, cases: dict[str, dict | None], report: Report) -> None:
    for label, values in cases.items():
        result = helm.lint(str(chart_dir), values, strict=True)
        for message in result.get("messages", []):
            if message.get("severity") == 2:
                print(f"warn {label}: helm lint: {message.get('path')}: {message.get('error')}", file=sys.stderr)
        for error in result.get("errors", []):
            report.fail(label, "helm lint", str(error).strip())
        if not result.get("errors"):
            report.ok(f"helm lint ({label})")


def schema(chart: helm.Chart, cases: dict[str, dict | None], report: Report) -> None:
    for label, values in cases.items():
        try:
            chart.validate_schema(values or {})
            report.ok(f"values schema ({label})")
        except helm.HelmError as error:
            report.fail(label, "values.schema.json", str(error).strip())
    declared = chart.schema or {}
    if declared.get("additionalProperties") is not False:
        report.fail("values.schema.json", "strict schema", "top level lacks additionalProperties: false")
    probes = {"<top level>": {"unknownValueKey": True}}
    for key, sub in (declared.get("properties") or {}).items():
        if isinstance(sub, dict) and sub.get("additionalProperties") is False:
            probes[key] = {key: {"unknownValueKey": True}}
    for where, values in probes.items():
        try:
            chart.validate_schema(values)
            report.fail("values.schema.json", "strict schema", f"an unknown key under {where} is accepted")
        except helm.HelmValuesError:
            pass
    report.ok(f"values schema rejects unknown keys ({len(probes)} objects probed)")


def render(chart_dir: Path, label: str, values: dict | None, report: Report) -> list[dict] | None:
    # A fresh load per render: rendering drops disabled subcharts from the loaded chart in place
    # (Helm's dependency processing), so a reused handle would never render them again.
    try:
        with helm.Chart.load(str(chart_dir)) as chart:
            rendered = chart.render(values=values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    except helm.HelmError as error:
        report.fail(label, "render", str(error).strip())
        return None
    resources = []
    for template, text in sorted(rendered.items()):
        if template.endswith("NOTES.txt"):
            if "port-forward" not in text or "--hub" not in text:
                report.fail(f"{label} {template}", "NOTES.txt", "must say how to reach the hub (port-forward, --hub)")
            continue
        try:
            documents = [doc for doc in yaml.safe_load_all(text) if doc]
        except yaml.YAMLError as error:
            report.fail(f"{label} {template}", "rendered YAML", str(error))
            continue
        for document in documents:
            document.setdefault("metadata", {})
            document["__template"] = template
            resources.append(document)
    return resources


def validate(label: str, resources: list[dict], report: Report) -> None:
    clean = [{key: value for key, value in item.items() if key != "__template"} for item in resources]
    for item, resource in zip(resources, clean):
        where = f"{label} {item['__template']}"
        name = f"{resource.get('kind')}/{resource['metadata'].get('name')}"
        if crds.is_custom(resource):
            for problem in crds.check(resource, clean):
                report.fail(where, f"{name} (CRD structure)", problem)
            continue
        for version in KUBE_VERSIONS:
            try:
                kubernetes_validate.validate(resource, version, strict=True)
            except ValidationError as error:
                path = ".".join(str(part) for part in error.path)
                report.fail(where, f"{name} kubernetes-validate {version}", f"{path}: {error.message}")
            except SchemaNotFoundError as error:
                report.fail(where, f"{name} kubernetes-validate {version}", f"no schema: {error.message}")
    report.ok(f"{label}: {len(resources)} manifests validated")


def check_invariants(label: str, resources: list[dict], report: Report) -> None:
    clean = [{key: value for key, value in item.items() if key != "__template"} for item in resources]
    checks = {
        "images and resources": invariants.containers_and_images(clean),
        "hub": invariants.hub(clean, min_replicas=2),
        "node": invariants.node(clean),
        "security": invariants.security(clean),
        "config": invariants.config(clean),
        "selectors": invariants.selectors(clean),
    }
    for check, problems in checks.items():
        for problem in problems:
            report.fail(label, f"invariant {check}", problem)
    if not any(checks.values()):
        report.ok(f"{label}: invariants")


def main() -> int:
    chart_dir = Path(sys.argv[1] if len(sys.argv) > 1 else "charts/agentry").resolve()
    report = Report()
    if not (chart_dir / "Chart.yaml").is_file():
        report.fail(str(chart_dir), "chart", "no Chart.yaml")
        return 1
    cases: dict[str, dict | None] = {f"{chart_dir.name}/values.yaml (defaults)": None}
    for path in sorted((chart_dir / "ci").glob("*-values.yaml")):
        values = load_values(path, report)
        if values is not None:
            cases[f"{chart_dir.name}/ci/{path.name}"] = values
    if len(cases) < 4:
        report.fail(f"{chart_dir.name}/ci", "ci values", "expected default, production and keda values files")
    lint(chart_dir, cases, report)
    try:
        chart = helm.Chart.load(str(chart_dir))
    except helm.HelmError as error:
        report.fail(str(chart_dir), "load", str(error).strip())
        return 1
    schema(chart, cases, report)
    kinds: set[str] = set()
    for label, values in cases.items():
        resources = render(chart_dir, label, values, report)
        if resources is None:
            continue
        kinds |= {item.get("kind") for item in resources}
        validate(label, resources, report)
        check_invariants(label, resources, report)
    production = [label for label in cases if "production" in label]
    if not production:
        report.fail(f"{chart_dir.name}/ci", "ci values", "no production-values.yaml")
    if kinds and EXPECTED_KINDS - kinds:
        report.fail(f"{chart_dir.name}/ci", "coverage", f"no values file renders {sorted(EXPECTED_KINDS - kinds)}")
    for reason, values in MUST_FAIL.items():
        try:
            with helm.Chart.load(str(chart_dir)) as fresh:
                fresh.render(values=values, name=RELEASE, namespace=NAMESPACE)
            report.fail(chart_dir.name, "refusals", f"renders although it must refuse {reason}")
        except helm.HelmError:
            report.ok(f"refuses {reason}")
    readme = subprocess.run(
        [sys.executable, str(Path(__file__).resolve().parent / "readme.py"), "--check", str(chart_dir)],
        capture_output=True, text=True,
    )
    if readme.returncode != 0:
        report.fail(f"{chart_dir.name}/README.md", "readme.py --check", readme.stderr.strip())
    else:
        report.ok("README values table is current")
    chart.close()
    if report.failures:
        print(f"chart-check: {len(report.failures)} failure(s) in {chart_dir}", file=sys.stderr)
        return 1
    print(f"chart-check: {chart_dir} passed", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
