#!/usr/bin/env bash
# Makes sure what the web console's browser tests (crates/cli/tests/console.rs) need is
# installed: Debian's `chromium` and the pinned npm `playwright-core` (which downloads no
# browser: the tests drive Debian's chromium through it). Prints `export` lines:
#
#   eval "$(scripts/browser-deps.sh)"   # sets AGENTRY_CHROMIUM and AGENTRY_PLAYWRIGHT_DIR
#
# AGENTRY_PLAYWRIGHT_DIR is the directory holding `node_modules/playwright-core` (default
# ~/.cache/agentry/browser). Idempotent: when everything is present nothing is downloaded and
# nothing is printed on stderr.
set -euo pipefail
log() { echo "browser-deps: $*" >&2; }
# shellcheck source=scripts/lib/apt.sh
. "$(dirname "$0")/lib/apt.sh"

# Bump deliberately: the console tests' scripts use its API (chromium.launch, page, DataTransfer).
playwright_version=1.65.1
browser_dir=${AGENTRY_PLAYWRIGHT_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/agentry/browser}

command -v chromium >/dev/null || apt_install chromium
command -v node >/dev/null && command -v npm >/dev/null || apt_install nodejs npm

installed_version() {
  local manifest="$browser_dir/node_modules/playwright-core/package.json"
  [ -f "$manifest" ] || return 0
  node -p "require(process.argv[1]).version" "$manifest" 2>/dev/null || true
}

if [ "$(installed_version)" != "$playwright_version" ]; then
  mkdir -p "$browser_dir"
  # Test processes may run this concurrently: one installs, the others wait and find it done.
  exec 9>"$browser_dir/.install.lock"
  flock 9
  if [ "$(installed_version)" != "$playwright_version" ]; then
    # A package.json of its own keeps npm from walking up into another project.
    [ -f "$browser_dir/package.json" ] || echo '{"private": true}' >"$browser_dir/package.json"
    log "installing playwright-core@$playwright_version into $browser_dir"
    npm install --prefix "$browser_dir" --no-audit --no-fund --loglevel=error --save-exact \
      "playwright-core@$playwright_version" >&2
  fi
fi

echo "export AGENTRY_CHROMIUM=$(command -v chromium)"
echo "export AGENTRY_PLAYWRIGHT_DIR=$browser_dir"
