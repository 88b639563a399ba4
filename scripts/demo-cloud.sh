#!/usr/bin/env bash
# `make demo-cloud`: a cluster of separate processes on real services — PostgreSQL, NATS
# JetStream, one hub and 3 nodes (`agentry hub serve`, `agentry node join`) — with the local
# LLM. Spawns several agents, which round-robin placement spreads over the nodes, prints their
# traces, `agentry ps` and `agentry nodes`, then stops every process it started — unless
# KEEP=1, which leaves the cluster up (the web console's URL is printed) until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
port=${AGENTRY_DEMO_CLOUD_PORT:-7710}
data=.agentry/demo-cloud
rm -rf "$data"; mkdir -p "$data"

echo "== services: PostgreSQL and NATS (installed/started when missing)" >&2
eval "$(scripts/services.sh)"
# bubblewrap: the default sandbox of the agents' bash calls (Landlock is the fallback).
scripts/tool-deps.sh sandbox
database=agentry_demo_cloud
psql "$AGENTRY_DATABASE_URL_BASE/postgres" -qc "drop database if exists $database with (force)" >/dev/null
psql "$AGENTRY_DATABASE_URL_BASE/postgres" -qc "create database $database" >/dev/null

echo "== building agentry" >&2
cargo build -q -p agentry
# Where cargo put it: CARGO_TARGET_DIR when set (relative to the repository), else target/.
target_dir=${CARGO_TARGET_DIR:-target}
[[ $target_dir = /* ]] || target_dir=$repo/$target_dir
bin=$target_dir/debug/agentry
eval "export $(scripts/local-llm.sh start 1.5b)"

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  echo "== stopped hub and nodes" >&2
}
trap cleanup EXIT

export AGENTRY_HUB=http://127.0.0.1:$port AGENTRY_NATS_URL
console=http://127.0.0.1:$((port + 1))/
echo "== hub on 127.0.0.1:$port (log: $data/hub.log), metrics on ${console}metrics" >&2
echo "== web console: $console" >&2
"$bin" hub serve --listen "127.0.0.1:$port" --database-url "$AGENTRY_DATABASE_URL_BASE/$database" \
  --nats-url "$AGENTRY_NATS_URL" --metrics-listen "127.0.0.1:$((port + 1))" >"$data/hub.log" 2>&1 &
pids+=($!)
for i in 1 2 3; do
  echo "== node-$i metrics on http://127.0.0.1:$((port + 1 + i))/metrics" >&2
  "$bin" node join --hub "$AGENTRY_HUB" --name "node-$i" --slots 2 --labels "zone=demo-$i" \
    --workspace-root "$data/node-$i" --metrics-listen "127.0.0.1:$((port + 1 + i))" >"$data/node-$i.log" 2>&1 &
  pids+=($!)
done
for _ in $(seq 150); do
  [ "$("$bin" nodes --output json 2>/dev/null | grep -c '"ready"' || true)" -ge 3 ] && break
  sleep 0.2
done
"$bin" nodes

questions=(
  "Use the bash tool to print the current date in UTC, then tell me the weekday."
  "Use the bash tool to compute 17 * 23 with shell arithmetic, then answer with the result."
  "Use the bash tool to count the lines of $repo/Cargo.toml, then answer with the number."
  "Use the bash tool to list the directory $repo/crates, then say how many entries it has."
  "Use the bash tool to print the kernel name with uname -s, then answer with it."
  "Use the bash tool to print the hostname, then answer with it."
)
agents=()
for question in "${questions[@]}"; do
  agents+=("$("$bin" spawn --model openai:qwen2.5-coder-1.5b --tools bash --max-iterations 5 \
    --system "You are a precise assistant. Use the bash tool, then answer in one sentence." --input "$question")")
done
echo "== spawned ${#agents[@]} agents; waiting for their runs" >&2
for _ in $(seq 600); do
  active=$("$bin" ps --output json | grep -cE '"status": ?"(queued|running)"' || true)
  [ "$active" -eq 0 ] && break
  sleep 1
done
for agent in "${agents[@]}"; do
  echo; echo "== trace of agent $agent"
  "$bin" trace "$agent"
done
echo; "$bin" ps; echo; "$bin" nodes
echo; echo "== web console: $console" >&2
if [ "${KEEP:-0}" = 1 ]; then
  echo "== KEEP=1: the cluster stays up; open the console, press Ctrl-C to stop it" >&2
  trap 'exit 0' INT TERM
  wait "${pids[0]}"
fi
