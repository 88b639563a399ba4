#!/usr/bin/env bash
# Makes sure what tools need is installed: bubblewrap (the default sandbox of `bash` and MCP
# stdio servers) and, for the tests, promtool (Debian `prometheus`: `promtool check metrics` on the
# hub's and nodes' /metrics), Node.js with the pinned npm MCP servers, and Python's venv and pip
# (the Python SDK's tests install it into a fresh venv; scripts/sdk-python.sh).
# Prints `export` lines:
#
#   eval "$(scripts/tool-deps.sh)"     # sets AGENTRY_MCP_DIR
#   scripts/tool-deps.sh sandbox       # bubblewrap only, prints nothing (make demo)
set -euo pipefail
log() { echo "tool-deps: $*" >&2; }
# shellcheck source=scripts/lib/apt.sh
. "$(dirname "$0")/lib/apt.sh"

command -v bwrap >/dev/null || apt_install bubblewrap
[ "${1:-}" = sandbox ] && exit 0
command -v promtool >/dev/null || apt_install prometheus
command -v node >/dev/null && command -v npm >/dev/null || apt_install nodejs npm
python3 -c 'import ensurepip, venv' 2>/dev/null || apt_install python3-venv python3-pip
echo "export AGENTRY_MCP_DIR=$("$(dirname "$0")/mcp-servers.sh")"
