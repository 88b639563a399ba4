#!/usr/bin/env bash
# The TypeScript SDK (sdk/typescript, npm package @agentry/cloud): its checks, and the
# regeneration of its protobuf code (src/gen/, checked in) from proto/agentry/v1.
#
#   scripts/sdk-typescript.sh [test]    npm ci; fail when src/gen is not what `buf generate`
#                                       makes now ("generated code is stale: run make sdk");
#                                       tsc --noEmit (src, test and examples/, docs/sdk.md's); npm test (unit tests and the conformance
#                                       scenario of sdk/conformance against a real `agentry dev`);
#                                       the same tests on Node.js 18.20 and 24 (from the npm
#                                       registry's `node` package)
#   scripts/sdk-typescript.sh generate  npm ci when node_modules is missing or older than
#                                       package-lock.json; npm run generate
#
# Needs Node.js with npm (20+ to build; with an older one the script fetches Node.js 20 from the
# npm registry), and registry access for `npm ci` (versions pinned by
# package-lock.json, buf 1.47.2 and protoc-gen-es included). `test` runs the binaries named by
# AGENTRY_BIN and AGENTRY_SCRIPTED_MODEL_BIN, by default target/debug/agentry and
# target/debug/agentry-scripted-model (`cargo build -p agentry -p agentry-test-util --bins`).
set -euo pipefail

mode=${1:-test}
case "$mode" in
  test | generate) ;;
  *)
    echo "usage: scripts/sdk-typescript.sh [test|generate]" >&2
    exit 2
    ;;
esac

# Binary paths given relative to the caller's directory stay valid after the cd below.
for var in AGENTRY_BIN AGENTRY_SCRIPTED_MODEL_BIN; do
  value=${!var:-}
  if [ -n "$value" ] && [ "${value#/}" = "$value" ]; then
    export "$var=$PWD/$value"
  fi
done

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
sdk=sdk/typescript
# Node.js versions the tests also run on: the oldest line package.json's `engines` allows, and
# the newest LTS.
node_versions=(18.20.8 24.21.0)
# The Node.js that builds and generates when the machine's is older than 20.
node_build=20.20.2

command -v node >/dev/null && command -v npm >/dev/null || {
  echo "sdk-typescript: node and npm are needed (scripts/tool-deps.sh installs them)" >&2
  exit 1
}
# Building and generating need Node.js 20 or later (protoc-gen-es). An older system Node.js
# (Debian 12 ships 18) is kept for the rest of the machine: Node.js 20 from the npm registry's
# `node` package goes first on PATH for this script only.
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  node20=${AGENTRY_CACHE:-$HOME/.cache/agentry}/sdk/node-$node_build
  if [ ! -x "$node20/node_modules/.bin/node" ]; then
    echo "sdk-typescript: $(node --version) is older than 20; installing Node.js $node_build into $node20" >&2
    npm install --prefix "$node20" --no-audit --no-fund --loglevel=error "node@$node_build" >/dev/null
  fi
  export PATH="$node20/node_modules/.bin:$PATH"
fi

npm_ci() {
  # Scripts off: `prepare` would build the package, which must not be needed to regenerate it.
  (cd "$sdk" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
}

if [ "$mode" = generate ]; then
  if [ ! -f "$sdk/node_modules/.package-lock.json" ] || [ "$sdk/package-lock.json" -nt "$sdk/node_modules/.package-lock.json" ]; then
    npm_ci
  fi
  (cd "$sdk" && npm run --silent generate)
  echo "sdk-typescript: regenerated $sdk/src/gen"
  exit 0
fi

npm_ci

# (a) The checked-in generated code is what the pinned generator makes from proto/ now.
fresh=$(mktemp -d)
trap 'rm -rf "$fresh"' EXIT
(cd "$sdk" && PATH="$PWD/node_modules/.bin:$PATH" buf generate --template buf.gen.yaml --output "$fresh")
if ! diff -r "$fresh/src/gen" "$sdk/src/gen"; then
  echo "sdk-typescript: generated code is stale: run make sdk" >&2
  exit 1
fi

# (b) Types, strict, the tests included.
(cd "$sdk" && npx --no-install tsc --noEmit)

# (c) Unit tests and the conformance scenario. The hub, token and TLS files come from the tests,
# not from the caller's environment.
test_env=(env -u AGENTRY_HUB -u AGENTRY_TOKEN -u AGENTRY_CA -u AGENTRY_CLIENT_CERT -u AGENTRY_CLIENT_KEY -u RUST_LOG)
(cd "$sdk" && "${test_env[@]}" npm test --silent)

# (d) The same compiled tests on the oldest Node.js line the package supports and the newest
# LTS, with Node.js binaries from the npm registry (the `node` package; cached by npm).
for version in "${node_versions[@]}"; do
  (cd "$sdk" && "${test_env[@]}" npm exec --yes --package="node@$version" -- \
    node --test --test-reporter=tap build/test/*.test.js >"$fresh/node-$version.out" 2>&1) || {
    cat "$fresh/node-$version.out" >&2
    echo "sdk-typescript: the tests failed on Node.js $version" >&2
    exit 1
  }
  echo "sdk-typescript: the tests pass on Node.js $version ($(grep -E '^# (pass|fail) ' "$fresh/node-$version.out" | tr '\n' ' '))"
done
echo "sdk-typescript: ok"
