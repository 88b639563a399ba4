#!/usr/bin/env bash
# Installs the MCP servers the interop tests run (pinned npm packages) when they are missing,
# then prints the directory they are installed in (the only line on stdout):
#
#   dir="$(scripts/mcp-servers.sh)"    # default: ~/.cache/agentry/mcp-servers, or $AGENTRY_MCP_DIR
#   node "$dir/node_modules/@modelcontextprotocol/server-everything/dist/index.js" stdio
#
# Idempotent: when every package is present at its pinned version nothing is downloaded and
# nothing is printed on stderr.
set -euo pipefail

# Outside the checkout: bubblewrap hides the host's /tmp, where a checkout may live, and the
# servers run in the sandbox.
mcp_dir=${AGENTRY_MCP_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/agentry/mcp-servers}
log() { echo "mcp-servers: $*" >&2; }

# Bump together with the expectations of crates/runtime/tests/mcp.rs.
packages=(
  "@modelcontextprotocol/server-everything@2026.8.31"
  "@modelcontextprotocol/server-filesystem@2026.8.31"
)

installed_version() {
  local manifest="$mcp_dir/node_modules/$1/package.json"
  [ -f "$manifest" ] || return 0
  node -p "require(process.argv[1]).version" "$manifest" 2>/dev/null || true
}

missing_packages() {
  missing=()
  for package in "${packages[@]}"; do
    [ "$(installed_version "${package%@*}")" = "${package##*@}" ] || missing+=("$package")
  done
}

missing_packages
if [ "${#missing[@]}" -gt 0 ]; then
  command -v node >/dev/null && command -v npm >/dev/null || {
    log "node and npm are needed to install ${missing[*]}; install them (Debian: apt-get install -y nodejs npm)"
    exit 1
  }
  mkdir -p "$mcp_dir"
  # Test processes may run this concurrently: one installs, the others wait and find it done.
  exec 9>"$mcp_dir/.install.lock"
  flock 9
  missing_packages
fi

if [ "${#missing[@]}" -gt 0 ]; then
  # A package.json of its own keeps npm from walking up into another project.
  [ -f "$mcp_dir/package.json" ] || echo '{"private": true}' >"$mcp_dir/package.json"
  log "installing ${missing[*]} into $mcp_dir"
  npm install --prefix "$mcp_dir" --no-audit --no-fund --loglevel=error --save-exact "${missing[@]}" >&2
fi

echo "$mcp_dir"
