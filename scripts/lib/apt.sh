# Sourced by the setup scripts: `apt_install PACKAGE...` installs Debian packages when running as
# root, and otherwise stops with the command to run. Callers define `log`.
apt_install() {
  if [ "$(id -u)" != 0 ]; then
    log "missing $*; install it with: sudo apt-get install -y $*"; exit 1
  fi
  log "installing $* (apt)"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}
