#!/usr/bin/env bash
# Runs the cluster benchmarks (release build, PostgreSQL + NATS JetStream) and rewrites
# docs/benchmarks.md with the figures, the machine and the command.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/services.sh)"
export AGENTRY_TEST_DATABASE_URL
cargo build --release -p agentry-test-util --bin agentry-bench >&2
args=("$@")
figures=$(./target/release/agentry-bench "${args[@]}")
echo "$figures"
{
  echo "# Benchmarks"
  echo
  echo "Latest figures from \`make bench\` (\`scripts/bench.sh${args[*]:+ ${args[*]}}\`): hub + nodes in one process"
  echo "(\`agentry-bench\`, crates/test-util/src/bin/agentry-bench.rs), PostgreSQL $(psql -V | awk '{print $3}') and"
  echo "nats-server $(nats-server --version | awk '{print $2}') on loopback, a zero-latency scripted OpenAI-compatible"
  echo "model server. Release build."
  echo
  echo "Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/Mem:/{print $2}') GiB RAM, $(date -u +%Y-%m-%d)."
  echo
  echo "$figures"
  echo
  cat docs/benchmarks-notes.md
} > docs/benchmarks.md
echo "wrote docs/benchmarks.md" >&2
