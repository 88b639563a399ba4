#!/usr/bin/env bash
# The Python SDK (sdk/python): test it, or regenerate its gRPC code.
#
#   scripts/sdk-python.sh [test]    in a fresh venv, `pip install ./sdk/python` (a real install) and
#                                   sdk/python/requirements-dev.txt, then
#                                   (a) regenerate the stubs into a temp dir and diff them against
#                                       the checked-in sdk/python/src/agentry/v1,
#                                   (b) mypy --strict on the installed package, the tests and
#                                       the examples (docs/sdk.md's),
#                                   (c) pytest sdk/python/tests against the installed package
#                                       (unit tests, and the conformance scenario against real
#                                       `agentry dev` processes, sync and asyncio),
#                                   (d) the same tests on Python 3.10 (the oldest supported) and
#                                       3.13, each in a fresh venv, when the machine has them
#                                       (on PATH or pyenv's).
#   scripts/sdk-python.sh generate  regenerate sdk/python/src/agentry/v1 from proto/agentry/v1
#                                   (types.proto and hub.proto; never node.proto) with the tools
#                                   pinned in requirements-dev.txt, kept in a venv under
#                                   ${AGENTRY_CACHE:-~/.cache/agentry}/sdk/python-tools.
#
# Environment: AGENTRY_BIN and AGENTRY_SCRIPTED_MODEL_BIN (default target/debug/agentry and
# target/debug/agentry-scripted-model; build them with
# `cargo build -p agentry -p agentry-test-util --bins`), PYTHON (default python3, 3.10+),
# PYENV_ROOT (where (d) also looks for interpreters; default ~/.pyenv).
set -euo pipefail
caller=$(pwd)
cd "$(dirname "$0")/.."
repo=$(pwd)
sdk=sdk/python
requirements=$sdk/requirements-dev.txt
python=${PYTHON:-python3}
protos=(agentry/v1/types.proto agentry/v1/hub.proto)
# The oldest Python the package supports (pyproject's requires-python) and the newest it is
# tested on.
oldest=3.10
newest=3.13
build_hint="cargo build -p agentry -p agentry-test-util --bins"

log() { echo "sdk-python: $*" >&2; }
die() { log "$*"; exit 1; }

# Runs a command with its output kept aside; shows the output only when the command fails.
quiet() {
  local out status=0
  out=$(mktemp)
  "$@" >"$out" 2>&1 || status=$?
  if [ "$status" -ne 0 ]; then cat "$out" >&2; fi
  rm -f "$out"
  return "$status"
}

# make_venv DIR: a new venv at DIR (replacing one there).
make_venv() {
  quiet "$python" -m venv --clear "$1" \
    || die "'$python -m venv' failed (on Debian: apt-get install python3-venv)"
}

# generate_into PYTHON OUT: the generated modules of the protos under OUT/agentry/v1, made with
# the grpcio-tools and mypy-protobuf installed next to PYTHON.
generate_into() {
  local py=$1 out=$2
  mkdir -p "$out"
  PATH="$(dirname "$py"):$PATH" quiet "$py" -m grpc_tools.protoc -I proto \
    --python_out="$out" --grpc_python_out="$out" \
    --mypy_out=quiet:"$out" --mypy_grpc_out=quiet:"$out" "${protos[@]}"
}

generate() {
  local cache=${AGENTRY_CACHE:-$HOME/.cache/agentry}
  local venv=$cache/sdk/python-tools stamp want
  stamp=$venv/requirements.sha256
  want=$(sha256sum "$requirements" | cut -d' ' -f1)
  if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    log "installing the generators into $venv"
    mkdir -p "$(dirname "$venv")"
    make_venv "$venv"
    quiet "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$requirements"
    echo "$want" >"$stamp"
  fi
  local out
  out=$(mktemp -d "${TMPDIR:-/tmp}/agentry-sdk-python-gen.XXXXXX")
  # shellcheck disable=SC2064 # expand now: $out is local
  trap "rm -rf '$out'" EXIT
  generate_into "$venv/bin/python" "$out"
  # Replace every generated module (one of a deleted proto goes too); __init__.py is ours.
  find "$sdk/src/agentry/v1" -maxdepth 1 -name '*_pb2*.py*' -delete
  cp "$out"/agentry/v1/*_pb2*.py* "$sdk/src/agentry/v1/"
  log "generate: $(ls "$sdk/src/agentry/v1" | grep -c '_pb2') files written to $sdk/src/agentry/v1 from ${protos[*]}"
}

# run_pytest VENV LABEL: pytest on sdk/python/tests with VENV's Python, from a directory where
# the source tree is not importable (the conftest checks the package came from the venv).
run_pytest() {
  local venv=$1 label=$2 report status=0
  report=$(mktemp "$tmp/pytest.XXXXXX")
  (cd "$tmp" && AGENTRY_SDK_EXPECT_INSTALLED=1 PYTHONDONTWRITEBYTECODE=1 "$venv/bin/pytest" \
    -c "$repo/$sdk/pyproject.toml" --rootdir "$repo/$sdk" -p no:cacheprovider -q -rfE \
    "$repo/$sdk/tests") >"$report" 2>&1 || status=$?
  if [ "$status" -ne 0 ]; then
    cat "$report" >&2
    die "pytest on $label failed (exit $status)"
  fi
  log "pytest on $label: $(tail -n 1 "$report" | tr -d '=' | sed 's/^ *//;s/ *$//')"
}

# find_python MINOR: the path of a working python<MINOR> interpreter, on PATH or under pyenv's
# root (a pyenv shim on PATH for a version that is not selected does not run); empty when none.
find_python() {
  local candidate
  for candidate in "$(command -v "python$1" 2>/dev/null || true)" \
    $(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$1".*/bin/python"$1" 2>/dev/null | sort -rV); do
    if [ -n "$candidate" ] && "$candidate" -c 'import venv' >/dev/null 2>&1; then
      echo "$candidate"
      return
    fi
  done
}

# absolute PATH: PATH made absolute against the caller's directory.
absolute() { case $1 in /*) echo "$1" ;; *) echo "$caller/$1" ;; esac; }

run_tests() {
  export AGENTRY_BIN AGENTRY_SCRIPTED_MODEL_BIN
  AGENTRY_BIN=$(absolute "${AGENTRY_BIN:-$repo/target/debug/agentry}")
  AGENTRY_SCRIPTED_MODEL_BIN=$(absolute "${AGENTRY_SCRIPTED_MODEL_BIN:-$repo/target/debug/agentry-scripted-model}")
  for bin in "$AGENTRY_BIN" "$AGENTRY_SCRIPTED_MODEL_BIN"; do
    [ -x "$bin" ] || die "$bin is missing: run \`$build_hint\` (or set AGENTRY_BIN / AGENTRY_SCRIPTED_MODEL_BIN)"
  done

  local tmp venv started=$SECONDS
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/agentry-sdk-python.XXXXXX")
  # shellcheck disable=SC2064 # expand now: $tmp is local
  trap "rm -rf '$tmp'" EXIT
  venv=$tmp/venv
  make_venv "$venv"
  quiet "$venv/bin/python" -m pip install -q --disable-pip-version-check "./$sdk" -r "$requirements"
  local version
  version=$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("agentry-cloud"))')
  log "install: agentry-cloud $version and the dev tools in a fresh venv ($((SECONDS - started))s)"

  # (a) The checked-in generated code is what the pinned tools make of the protos today.
  generate_into "$venv/bin/python" "$tmp/gen"
  if ! diff -r -x __init__.py -x __pycache__ "$tmp/gen/agentry/v1" "$sdk/src/agentry/v1" >"$tmp/gen.diff"; then
    head -n 40 "$tmp/gen.diff" >&2
    die "generated code is stale: run make sdk"
  fi
  log "generated code: current ($(ls "$tmp/gen/agentry/v1" | wc -l) files match)"

  # (b) Type check what pip installed (from a directory where the source tree is not importable),
  # and the tests against it.
  local mypy=("$venv/bin/mypy" --strict --python-version "$oldest" --cache-dir "$tmp/mypy-cache")
  (cd "$tmp" && quiet "${mypy[@]}" -p agentry)
  (cd "$tmp" && quiet "${mypy[@]}" "$repo/$sdk/tests")
  (cd "$tmp" && quiet "${mypy[@]}" "$repo/$sdk/examples")
  log "mypy --strict (for Python $oldest): the installed agentry package, $sdk/tests and $sdk/examples pass"

  # (c) The tests, importing the installed package (the conftest checks it is not src/).
  run_pytest "$venv" "$("$venv/bin/python" -V)"

  # (d) The tests again on the oldest and newest Pythons the package supports, when this machine
  # has them (on PATH, or pyenv's): a fresh venv each, the package and the pinned pytest only.
  local minor interpreter
  for minor in "$oldest" "$newest"; do
    interpreter=$(find_python "$minor")
    if [ -z "$interpreter" ]; then
      log "python$minor not found (on PATH or under pyenv): the run on it is left out"
      continue
    fi
    [ "$("$interpreter" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" = "$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" ] && continue
    make_venv "$tmp/venv-$minor"
    quiet "$tmp/venv-$minor/bin/python" -m pip install -q --disable-pip-version-check "./$sdk" \
      $(grep -E '^pytest' "$requirements")
    run_pytest "$tmp/venv-$minor" "$("$interpreter" -V)"
  done
  log "test: passed in $((SECONDS - started))s"
}

case ${1:-test} in
  test) run_tests ;;
  generate) generate ;;
  *) die "usage: scripts/sdk-python.sh [test|generate]" ;;
esac
