#!/usr/bin/env bash
# Makes sure PostgreSQL (127.0.0.1:5432, user postgres without a password) and Redis
# (127.0.0.1:6379) are reachable, and that Chromium is installed: reuses running ones,
# starts installed ones, and on a fresh Debian/Ubuntu machine installs them with apt. Says
# clearly what is missing when it cannot do any of that.
set -euo pipefail

log() { printf 'services: %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else log "need root for: $*"; return 1; fi; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  for _ in $(seq 1 60); do port_open "$1" && return 0; sleep 0.5; done
  return 1
}

apt_install() {
  command -v apt-get >/dev/null || { log "apt-get not found: install $* by hand"; return 1; }
  log "installing $* with apt-get"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

ensure_postgres() {
  if port_open 5432; then return 0; fi
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    apt_install postgresql postgresql-contrib || { log "PostgreSQL is not running and could not be installed"; exit 1; }
    # Local development and tests connect as postgres over TCP without a password.
    for hba in /etc/postgresql/*/main/pg_hba.conf; do
      as_root sed -i -E 's/^(host\s+all\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s+)\S+/\1trust/' "$hba"
    done
  fi
  local version
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  log "starting PostgreSQL $version"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null \
    || as_root pg_ctlcluster "$version" main start
  wait_port 5432 || { log "PostgreSQL did not start listening on 127.0.0.1:5432"; exit 1; }
}

ensure_redis() {
  if port_open 6379; then return 0; fi
  command -v redis-server >/dev/null || apt_install redis-server \
    || { log "Redis is not running and could not be installed"; exit 1; }
  log "starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
  wait_port 6379 || { log "Redis did not start listening on 127.0.0.1:6379"; exit 1; }
}

# The console's end-to-end tests drive a headless Chromium (tests/src/browser.rs): the
# system's `chromium`, or the browser `CHROMIUM` names.
ensure_chromium() {
  local chromium=${CHROMIUM:-chromium}
  if command -v "$chromium" >/dev/null; then return 0; fi
  if [ -n "${CHROMIUM:-}" ]; then
    log "CHROMIUM=$CHROMIUM is not an executable: the console tests will fail"; exit 1
  fi
  apt_install chromium || { log "Chromium is missing and could not be installed: the console tests will fail"; exit 1; }
}

ensure_toolchain() {
  if ! command -v cargo >/dev/null; then
    log "cargo not found: install Rust 1.85 or newer with rustup (https://rustup.rs), then run this again"
    log "(Debian's own cargo package is too old for edition 2024)"
    exit 1
  fi
}

ensure_toolchain
ensure_postgres
ensure_redis
ensure_chromium
log "PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379 are up, Chromium is $(command -v "${CHROMIUM:-chromium}")"
