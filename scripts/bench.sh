#!/usr/bin/env bash
# Runs the cluster benchmarks (release build, PostgreSQL + NATS JetStream) and rewrites
# docs/benchmarks.md with the figures, the machine and the command.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/services.sh)"
export AGENTRY_TEST_DATABASE_URL
# The failover and bytes-per-step benchmarks run the `agentry` binary as hub and node processes.
# Built separately so that `agentry` is the product build (no features unified with test-util's).
cargo build --release -p agentry >&2
cargo build --release -p agentry-test-util --bin agentry-bench >&2
args=("$@")
target_dir=${CARGO_TARGET_DIR:-target}
figures=$("$target_dir/release/agentry-bench" --agentry "$target_dir/release/agentry" "${args[@]}")
echo "$figures"
{
  echo "# Benchmarks"
  echo
  echo "Latest figures from \`make bench\` (\`scripts/bench.sh${args[*]:+ ${args[*]}}\`): \`agentry-bench\`"
  echo "(crates/test-util/src/bin/agentry-bench/), release build, PostgreSQL $(psql -V | awk '{print $3}') and"
  echo "nats-server $(nats-server --version | awk '{print $2}') on loopback, a scripted OpenAI-compatible model server."
  echo "Spawn and one-step runs: hub + nodes in one process, zero-latency model. Failover and bytes"
  echo "per step: \`agentry hub serve\` and \`agentry node join\` processes. Settings are in each row."
  echo
  echo "Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/Mem:/{print $2}') GiB RAM, $(date -u +%Y-%m-%d)."
  echo
  echo "$figures"
  echo
  cat docs/benchmarks-notes.md
} > docs/benchmarks.md
echo "wrote docs/benchmarks.md" >&2
