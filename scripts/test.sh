#!/usr/bin/env bash
# Runs the whole test suite: makes sure PostgreSQL, NATS, bubblewrap, the npm MCP servers,
# Chromium with playwright-core and the local LLM are available (installing them when missing),
# then runs every test with cargo-nextest.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo >/dev/null || { echo "test: cargo not found; install Rust with rustup" >&2; exit 1; }
cargo nextest --version >/dev/null 2>&1 || cargo install --locked cargo-nextest

eval "$(scripts/services.sh)"
export AGENTRY_TEST_DATABASE_URL AGENTRY_NATS_URL
# bubblewrap (the default tool sandbox) and the npm MCP servers of the interop tests.
eval "$(scripts/tool-deps.sh)"
export AGENTRY_MCP_DIR
# Debian's chromium and the pinned npm playwright-core of the web console's browser tests.
eval "$(scripts/browser-deps.sh)"
export AGENTRY_CHROMIUM AGENTRY_PLAYWRIGHT_DIR
# The real-model test uses the 0.5B model; start it once here so the download/build (first run
# only) is not charged to a test's time.
eval "$(scripts/local-llm.sh start 0.5b --port 8091 | sed 's/^/export AGENTRY_TEST_LLM_/')"
export AGENTRY_TEST_LLM_OPENAI_BASE_URL

cargo nextest run --workspace --no-fail-fast "$@"
