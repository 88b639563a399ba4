#!/usr/bin/env bash
# `make demo-cloud`: a cluster of separate processes on real services — PostgreSQL, NATS
# JetStream, one hub and 3 nodes (`agentry hub serve`, `agentry node join`) — with the local
# LLM. Spawns six agents, which round-robin placement spreads over the nodes, and a sample team
# flow (a lead delegating to sub-agents, deploy/demo/agentry.toml) whose trace it follows live;
# prints the traces, `agentry ps`, `agentry tree` and `agentry nodes`, checks that at least six
# agents completed on all three nodes, then stops every process it started — unless KEEP=1,
# which leaves the cluster up until Ctrl-C.
#
# Secured like production (docs/security.md): `agentry certs dev` makes a CA, the hub's
# certificate and one per node; the hub serves TLS on gRPC and HTTP, admits nodes only with their
# certificate (mutual TLS), and every client call carries a bearer token from an auth file (an
# admin token for the demo's commands, a viewer token printed for the web console).
#
# Idempotent: a run starts from a fresh database and stops what an earlier, interrupted run
# left behind (its process ids are in .agentry/demo-cloud/pids). Ports: AGENTRY_DEMO_CLOUD_PORT
# (default 7710) for the hub's gRPC, the next four for the hub's HTTP and the nodes' metrics.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
port=${AGENTRY_DEMO_CLOUD_PORT:-7710}
data=.agentry/demo-cloud
model=openai:qwen2.5-coder-1.5b

# Processes an interrupted earlier run left: stop them before their ports are needed again.
if [ -f "$data/pids" ]; then
  while read -r pid; do
    if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q 'agentry \(hub serve\|node join\)'; then
      echo "== stopping process $pid left by an earlier run" >&2
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 100); do [ -e "/proc/$pid" ] || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done <"$data/pids"
fi
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

echo "== certificates and tokens (agentry certs dev, agentry token hash)" >&2
certs=$data/certs
"$bin" certs dev --dir "$certs" --node node-1 --node node-2 --node node-3 >/dev/null
new_token() { "$bin" token hash --generate --output json | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])'; }
admin_token=$(new_token)
viewer_token=$(new_token)
cat >"$data/auth.toml" <<EOF
[[token]]
name = "demo-admin"
sha256 = "$(printf %s "$admin_token" | "$bin" token hash)"
role = "admin"

[[token]]
name = "demo-viewer"
sha256 = "$(printf %s "$viewer_token" | "$bin" token hash)"
role = "viewer"
tenant = "default"
EOF
chmod 600 "$data/auth.toml"
export AGENTRY_CA=$certs/ca.pem AGENTRY_TOKEN=$admin_token

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -f "$data/pids"
  echo "== stopped the hub and the 3 nodes" >&2
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
started() { pids+=("$1"); echo "$1" >>"$data/pids"; }

export AGENTRY_HUB=https://127.0.0.1:$port AGENTRY_NATS_URL
http=https://127.0.0.1:$((port + 1))
echo "== hub: $AGENTRY_HUB (gRPC; log $data/hub.log)" >&2
"$bin" hub serve --config deploy/demo/agentry.toml --listen "127.0.0.1:$port" \
  --database-url "$AGENTRY_DATABASE_URL_BASE/$database" --nats-url "$AGENTRY_NATS_URL" \
  --metrics-listen "127.0.0.1:$((port + 1))" --tls-cert "$certs/hub.pem" --tls-key "$certs/hub-key.pem" \
  --tls-client-ca "$certs/ca.pem" --auth-file "$data/auth.toml" >"$data/hub.log" 2>&1 &
started $!
for i in 1 2 3; do
  "$bin" node join --hub "$AGENTRY_HUB" --name "node-$i" --slots 2 --labels "zone=demo-$i" \
    --workspace-root "$data/node-$i" --metrics-listen "127.0.0.1:$((port + 1 + i))" \
    --tls-ca "$certs/ca.pem" --tls-cert "$certs/node-node-$i.pem" --tls-key "$certs/node-node-$i-key.pem" \
    >"$data/node-$i.log" 2>&1 &
  started $!
done
for _ in $(seq 150); do
  [ "$("$bin" nodes --output json 2>/dev/null | grep -c '"ready"' || true)" -ge 3 ] && break
  sleep 0.2
done
"$bin" health >/dev/null
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
  # `--tool-choice required`: the first answer must be a tool call (the model server constrains it
  # to the tools' JSON), so the small local model runs bash rather than guessing.
  agents+=("$("$bin" spawn --model "$model" --tools bash --tool-choice required --max-iterations 5 \
    --system "You are a precise assistant. Use the bash tool, then answer in one sentence." --input "$question")")
done
echo "== spawned ${#agents[@]} agents; the scheduler spreads them over the nodes" >&2

echo; echo "== team flow: demo_lead delegates to shell agents (followed live)"
# `team run --follow` prints the lead's ids, then its trace and its sub-agents' (indented) live.
"$bin" team run demo_lead --model "$model" --follow \
  --input "How many CPU cores does this machine have, and which kernel does it run?" | tee "$data/team.txt" ||
  echo "== the lead's run did not complete (its trace is above)" >&2
lead=$(sed -n '1s/^agent \([^ ]*\) run .*/\1/p' "$data/team.txt")

for _ in $(seq 600); do
  active=$("$bin" ps --output json | grep -cE '"status": ?"(queued|running|waiting_children)"' || true)
  [ "$active" -eq 0 ] && break
  sleep 1
done
for agent in "${agents[@]}"; do
  echo; echo "== trace of agent $agent"
  "$bin" trace "$agent"
done
echo; echo "== the team's tree"; "$bin" tree "$lead"
echo; "$bin" ps; echo; "$bin" nodes

# The demo's own check: the six agents completed, on all three nodes.
summary=$("$bin" ps --output json | python3 -c '
import json, sys
agents = {a: True for a in sys.argv[1:]}
runs = [row["latest_run"] or {} for row in json.load(sys.stdin) if row["agent_id"] in agents]
done = [run for run in runs if run.get("status") == "completed"]
print(len(done), len({run["node_id"] for run in done}))' "${agents[@]}")
read -r completed nodes <<<"$summary"
echo
echo "== $completed of ${#agents[@]} agents completed, on $nodes nodes" >&2
echo "== hub: $AGENTRY_HUB (TLS, CA $AGENTRY_CA, mutual TLS for nodes, tokens in $data/auth.toml)" >&2
echo "== web console: $http/ (trust $AGENTRY_CA; viewer token: $viewer_token)   metrics: $http/metrics" >&2
echo "== the audit log's latest records:" >&2; "$bin" audit --limit 5 >&2
echo "== node metrics: http://127.0.0.1:$((port + 2))/metrics http://127.0.0.1:$((port + 3))/metrics http://127.0.0.1:$((port + 4))/metrics" >&2
if [ "$completed" -lt 6 ] || [ "$nodes" -lt 3 ]; then
  echo "== demo-cloud: expected 6 agents completed across 3 nodes; logs are in $data/" >&2
  exit 1
fi
if [ "${KEEP:-0}" = 1 ]; then
  echo "== KEEP=1: the cluster stays up; open the console, press Ctrl-C to stop it" >&2
  trap 'exit 0' INT TERM
  wait "${pids[0]}"
fi
