#!/usr/bin/env bash
# Makes sure PostgreSQL and NATS (JetStream) are installed and reachable, installing the Debian
# packages and starting private instances when needed. Prints `export` lines for the URLs:
#
#   eval "$(scripts/services.sh)"     # sets AGENTRY_TEST_DATABASE_URL, AGENTRY_DATABASE_URL_BASE, AGENTRY_NATS_URL
#
# PostgreSQL: uses 127.0.0.1:5432 (user postgres, db test) when it accepts password-less
# connections; otherwise starts a throw-away trust-auth cluster under $AGENTRY_SERVICES_DIR on
# port 54329. NATS: uses 127.0.0.1:4222 when it answers; otherwise starts nats-server -js on 4222.
set -euo pipefail

services_dir=${AGENTRY_SERVICES_DIR:-$HOME/.cache/agentry/services}
mkdir -p "$services_dir"
log() { echo "services: $*" >&2; }

# shellcheck source=scripts/lib/apt.sh
. "$(dirname "$0")/lib/apt.sh"

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

ensure_postgres() {
  command -v psql >/dev/null && [ -n "$(pg_bin)" ] || apt_install postgresql
  if psql "postgres://postgres@127.0.0.1:5432/test" -Atqc 'select 1' >/dev/null 2>&1; then
    echo "postgres://postgres@127.0.0.1:5432"; return
  fi
  if ! psql "postgres://postgres@127.0.0.1:5432/postgres" -Atqc 'select 1' >/dev/null 2>&1; then
    # The machine's cluster may just be stopped: try starting it (trust auth is not guaranteed).
    if command -v pg_ctlcluster >/dev/null && ls /etc/postgresql >/dev/null 2>&1; then
      pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start >/dev/null 2>&1 || true
    fi
  fi
  if psql "postgres://postgres@127.0.0.1:5432/postgres" -Atqc 'select 1' >/dev/null 2>&1; then
    psql "postgres://postgres@127.0.0.1:5432/postgres" -Atqc 'create database test' >/dev/null 2>&1 || true
    echo "postgres://postgres@127.0.0.1:5432"; return
  fi
  local dir="$services_dir/postgres" port=54329 bin; bin=$(pg_bin)
  if ! psql "postgres://postgres@127.0.0.1:$port/test" -Atqc 'select 1' >/dev/null 2>&1; then
    log "starting a private PostgreSQL on 127.0.0.1:$port ($dir)"
    local run_as=()
    if [ "$(id -u)" = 0 ]; then run_as=(runuser -u postgres --); chown -R postgres "$services_dir" 2>/dev/null || mkdir -p "$dir"; fi
    mkdir -p "$dir"; [ "$(id -u)" = 0 ] && chown postgres "$dir"
    [ -f "$dir/PG_VERSION" ] || "${run_as[@]}" "$bin/initdb" -D "$dir" -A trust -U postgres --no-sync >/dev/null
    "${run_as[@]}" "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
    psql "postgres://postgres@127.0.0.1:$port/postgres" -Atqc 'create database test' >/dev/null 2>&1 || true
  fi
  echo "postgres://postgres@127.0.0.1:$port"
}

nats_binary() { command -v nats-server || { [ -x /usr/sbin/nats-server ] && echo /usr/sbin/nats-server; } || true; }

ensure_nats() {
  [ -n "$(nats_binary)" ] || apt_install nats-server
  if ! (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null; then
    log "starting nats-server -js on 127.0.0.1:4222 ($services_dir/nats)"
    mkdir -p "$services_dir/nats"
    nohup "$(nats_binary)" -js -a 127.0.0.1 -p 4222 -sd "$services_dir/nats" \
      -l "$services_dir/nats/server.log" >/dev/null 2>&1 &
    for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null && break; sleep 0.1; done
  fi
  echo "nats://127.0.0.1:4222"
}

pg_base=$(ensure_postgres)
nats_url=$(ensure_nats)
echo "export AGENTRY_TEST_DATABASE_URL=$pg_base/test"
echo "export AGENTRY_DATABASE_URL_BASE=$pg_base"
echo "export AGENTRY_NATS_URL=$nats_url"
