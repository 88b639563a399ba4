#!/usr/bin/env bash
# Checks the Helm chart offline, as CI does: helm lint, values schema, renders of the defaults and
# of every ci/*-values.yaml, Kubernetes schema validation of each manifest, the chart's
# invariants and the README's values table (scripts/chart/check.py says what exactly).
#
#   scripts/chart-check.sh [CHART_DIR]     # default: charts/agentry; exit 1 naming each failure
#   scripts/chart-check.sh --python        # prints the checker's Python (for scripts/chart/*.py)
#
# No helm binary: PyPI `helm-python-sdk` embeds Helm v4's Go SDK. It and `kubernetes-validate`
# are installed once, pinned, into a virtualenv under ~/.cache/agentry/chart-venv (PyPI is the
# only network access, and only on the first run); python3-venv comes from apt when missing.
set -euo pipefail
log() { echo "chart-check: $*" >&2; }
# shellcheck source=scripts/lib/apt.sh
. "$(dirname "$0")/lib/apt.sh"

ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${AGENTRY_CHART_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/agentry/chart-venv}
PINS="helm-python-sdk==0.2.2 kubernetes-validate==1.37.0 PyYAML==6.0.4"

command -v python3 >/dev/null || apt_install python3

# Creates the virtualenv unless one with these pins exists; concurrent runs wait on a lock.
ensure_venv() {
  [ -x "$VENV/bin/python" ] && [ "$(cat "$VENV/.pins" 2>/dev/null)" = "$PINS" ] && return 0
  mkdir -p "$(dirname "$VENV")"
  if command -v flock >/dev/null; then
    exec 9>"$VENV.lock"
    flock 9
    [ -x "$VENV/bin/python" ] && [ "$(cat "$VENV/.pins" 2>/dev/null)" = "$PINS" ] && return 0
  fi
  python3 -c 'import ensurepip, venv' 2>/dev/null || apt_install python3-venv
  log "installing $PINS into $VENV (PyPI, once)"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  # shellcheck disable=SC2086
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check $PINS >&2
  echo "$PINS" >"$VENV/.pins"
}

ensure_venv
if [ "${1:-}" = --python ]; then
  echo "$VENV/bin/python"
  exit 0
fi
CHART_DIR=${1:-$ROOT/charts/agentry}
exec "$VENV/bin/python" "$ROOT/scripts/chart/check.py" "$CHART_DIR"
