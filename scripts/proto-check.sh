#!/usr/bin/env bash
# The proto's checks, run by the test suite: `buf lint`, then `buf breaking` — no change to
# proto/agentry/v1 may break a client or a node built from the previous release.
#
#   scripts/proto-check.sh [--against INPUT] [DIR]
#
# DIR (default: the repository) holds buf.yaml and proto/. The base of `buf breaking`, unless
# --against names a buf input: the newest release tag (v*) when there is one, else the merge
# base with origin/main when this branch is not main, else the previous commit (HEAD~1) — so
# every commit of main is checked against its parent. buf comes from npm (pinned, cached by npx).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
buf=(npx --yes @bufbuild/buf@1.47.2)
against=""
if [ "${1:-}" = "--against" ]; then against=$2; shift 2; fi
dir=${1:-$repo}
cd "$dir"

command -v npx >/dev/null || { echo "proto-check: npx not found (install nodejs and npm)" >&2; exit 1; }
"${buf[@]}" lint

if [ -z "$against" ]; then
  git rev-parse --git-dir >/dev/null 2>&1 || { echo "proto-check: $dir is not a git checkout; pass --against" >&2; exit 1; }
  tag=$(git describe --tags --abbrev=0 --match 'v*' 2>/dev/null || true)
  base=""
  if [ -n "$tag" ]; then
    base=$tag
  elif git rev-parse --verify -q origin/main >/dev/null && [ "$(git merge-base HEAD origin/main)" != "$(git rev-parse HEAD)" ]; then
    base=$(git merge-base HEAD origin/main)
  elif git rev-parse --verify -q HEAD~1 >/dev/null; then
    base=HEAD~1
  else
    echo "proto-check: no base to compare with (no v* tag, no parent commit; a shallow clone?); pass --against" >&2
    exit 1
  fi
  against=".git#ref=$base"
  echo "proto-check: buf breaking against $base" >&2
fi
"${buf[@]}" breaking --against "$against"
echo "proto-check: lint and breaking passed" >&2
