#!/usr/bin/env python3
"""Generates the values table of a chart's README from the `# --` comments of values.yaml
(helm-docs style), and checks it is current.

    scripts/chart/readme.py --check [CHART_DIR]   # exit 1 when README.md is stale or a value is undocumented
    scripts/chart/readme.py --write [CHART_DIR]   # regenerate the table in README.md

A comment `# -- TEXT` (continued by following `#` lines) documents the key on the next line;
`# -- (TYPE) TEXT` overrides the inferred type. A documented key whose value is a mapping covers
its children, so every leaf of values.yaml must be documented by itself or an ancestor. The
table sits between the `<!-- values:begin -->` and `<!-- values:end -->` markers of README.md;
the rest of the README is hand-written.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import yaml

BEGIN, END = "<!-- values:begin -->", "<!-- values:end -->"
KEY_LINE = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z0-9_.-]+):(?P<rest>.*)$")
TYPE_PREFIX = re.compile(r"^\((?P<type>[a-z]+)\)\s*")


def documented_keys(text: str) -> list[tuple[tuple[str, ...], str]]:
    """Returns `(key path, description)` of every key with a `# --` comment, in file order."""
    rows = []
    stack: list[tuple[int, str]] = []
    pending: list[str] | None = None
    block_indent: int | None = None
    for line in text.splitlines():
        indent = len(line) - len(line.lstrip(" "))
        if block_indent is not None:
            if line.strip() == "" or indent > block_indent:
                continue
            block_indent = None
        stripped = line.strip()
        if stripped.startswith("# --"):
            pending = [stripped[4:].strip()]
            continue
        if stripped.startswith("#"):
            if pending is not None:
                pending.append(stripped[1:].strip())
            continue
        if stripped == "":
            pending = None
            continue
        match = KEY_LINE.match(line)
        if not match or stripped.startswith("-"):
            continue
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, match["key"]))
        if pending is not None:
            rows.append((tuple(key for _, key in stack), " ".join(pending).strip()))
            pending = None
        if match["rest"].strip() in ("|", ">", "|-", ">-", "|+", ">+"):
            block_indent = indent
    return rows


def leaves(value, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Returns the paths of every leaf (scalar, list, or empty mapping) of a values tree."""
    if isinstance(value, dict) and value:
        return [leaf for key, child in value.items() for leaf in leaves(child, path + (str(key),))]
    return [path]


def infer_type(value) -> str:
    """Returns the helm-docs type name of a default value."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "list"
    return "string"


def lookup(values: dict, path: tuple[str, ...]):
    for key in path:
        values = values[key]
    return values


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table(chart_dir: Path) -> tuple[str, list[str]]:
    """Returns the markdown values table and the problems (undocumented values)."""
    text = (chart_dir / "values.yaml").read_text()
    values = yaml.safe_load(text) or {}
    rows = documented_keys(text)
    documented = {path for path, _ in rows}
    problems = [
        f"values.yaml: `{'.'.join(leaf)}` has no `# --` comment (on it or a parent key)"
        for leaf in leaves(values)
        if not any(leaf[: length] in documented for length in range(1, len(leaf) + 1))
    ]
    lines = ["| Key | Type | Default | Description |", "|-----|------|---------|-------------|"]
    for path, description in rows:
        default = lookup(values, path)
        kind = infer_type(default)
        typed = TYPE_PREFIX.match(description)
        if typed:
            kind, description = typed["type"], description[typed.end():]
        shown = json.dumps(default, ensure_ascii=False, separators=(", ", ": "))
        lines.append(f"| `{'.'.join(path)}` | {kind} | `{cell(shown)}` | {cell(description)} |")
    return "\n".join(lines) + "\n", problems


def splice(readme: str, generated: str) -> str | None:
    """Returns the README with the table between the markers replaced, None without markers."""
    start, end = readme.find(BEGIN), readme.find(END)
    if start < 0 or end < start:
        return None
    return readme[: start + len(BEGIN)] + "\n" + generated + readme[end:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="fail when README.md is stale")
    mode.add_argument("--write", action="store_true", help="regenerate the table in README.md")
    parser.add_argument("chart_dir", nargs="?", default=str(Path(__file__).resolve().parents[2] / "charts/agentry"))
    args = parser.parse_args()
    chart_dir = Path(args.chart_dir)
    generated, problems = table(chart_dir)
    for problem in problems:
        print(f"readme: {problem}", file=sys.stderr)
    readme_path = chart_dir / "README.md"
    current = readme_path.read_text() if readme_path.exists() else ""
    updated = splice(current, generated)
    if updated is None:
        print(f"readme: {readme_path} lacks the {BEGIN} / {END} markers", file=sys.stderr)
        return 1
    if args.write:
        if updated != current:
            readme_path.write_text(updated)
            print(f"readme: wrote {readme_path}", file=sys.stderr)
        return 1 if problems else 0
    if updated != current:
        print(
            f"readme: {readme_path} is stale (values.yaml changed): run scripts/chart/readme.py --write",
            file=sys.stderr,
        )
        return 1
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
