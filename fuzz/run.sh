#!/usr/bin/env bash
# Runs the fuzz targets (fuzz/README.md): every corpus file, then each property for a fixed
# number of cases. Usage: fuzz/run.sh [CASES] [TARGET...]
#   CASES    cases per property (AGENTRY_FUZZ_CASES; default 256, what CI runs)
#   TARGET   hub_requests, commit_payload, config, trace_import (default: all four)
# AGENTRY_FUZZ_SEED=N makes the generation repeatable.
set -euo pipefail
cd "$(dirname "$0")/.."

export AGENTRY_FUZZ_CASES="${1:-${AGENTRY_FUZZ_CASES:-256}}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(hub_requests commit_payload config trace_import)

for target in "${targets[@]}"; do
  case "$target" in
    hub_requests) cargo nextest run -p agent-hub --test fuzz_requests --test fuzz_requests_live --test fuzz_credentials ;;
    commit_payload) cargo nextest run -p agent-hub --test fuzz_commit ;;
    config) cargo nextest run -p agentry --bin agentry config::fuzz ;;
    trace_import) cargo nextest run -p agentry --test fuzz_trace_import ;;
    *) echo "fuzz/run.sh: unknown target $target (hub_requests, commit_payload, config, trace_import)" >&2; exit 2 ;;
  esac
done
