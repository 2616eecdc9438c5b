#!/usr/bin/env bash
# Makes sure PostgreSQL (127.0.0.1:5432, user postgres without a password), Redis
# (127.0.0.1:6379) and the brokers the destination tests publish to — RabbitMQ
# (127.0.0.1:5672, guest/guest), NATS with JetStream (127.0.0.1:4222) and Mosquitto
# (127.0.0.1:1883) — are reachable, and that Chromium is installed: reuses running ones,
# starts installed ones, and on a fresh Debian/Ubuntu machine installs them with apt. Says
# clearly what is missing when it cannot do any of that. `scripts/services.sh core` stops
# after PostgreSQL and Redis (all the service itself needs).
set -euo pipefail

log() { printf 'services: %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else log "need root for: $*"; return 1; fi; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_port PORT [SECONDS]
wait_port() {
  for _ in $(seq 1 $((${2:-30} * 2))); do port_open "$1" && return 0; sleep 0.5; done
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

ensure_rabbitmq() {
  if port_open 5672; then return 0; fi
  command -v rabbitmq-server >/dev/null || apt_install rabbitmq-server \
    || { log "RabbitMQ is not running and could not be installed"; exit 1; }
  log "starting RabbitMQ"
  as_root rabbitmq-server -detached >/dev/null 2>&1 || true
  # The Erlang VM takes a while to boot.
  wait_port 5672 120 || { log "RabbitMQ did not start listening on 127.0.0.1:5672"; exit 1; }
}

ensure_nats() {
  if port_open 4222; then return 0; fi
  command -v nats-server >/dev/null || apt_install nats-server \
    || { log "NATS is not running and could not be installed"; exit 1; }
  log "starting NATS with JetStream"
  local store=/var/lib/nats-server
  as_root mkdir -p "$store" 2>/dev/null || store=$(mktemp -d)
  as_root start-stop-daemon --start --oknodo --background --exec "$(command -v nats-server)" \
    -- -a 127.0.0.1 -p 4222 -js -sd "$store" -l /tmp/nats-server.log
  wait_port 4222 || { log "NATS did not start listening on 127.0.0.1:4222"; exit 1; }
}

ensure_mosquitto() {
  if port_open 1883; then return 0; fi
  command -v mosquitto >/dev/null || apt_install mosquitto \
    || { log "Mosquitto is not running and could not be installed"; exit 1; }
  log "starting Mosquitto"
  if [ -f /etc/mosquitto/mosquitto.conf ]; then
    as_root mosquitto -d -c /etc/mosquitto/mosquitto.conf
  else
    as_root mosquitto -d -p 1883
  fi
  wait_port 1883 || { log "Mosquitto did not start listening on 127.0.0.1:1883"; exit 1; }
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
# `scripts/services.sh core`: what the service itself needs (scripts/dev.sh); without it,
# everything the tests use as well.
if [ "${1:-all}" = core ]; then
  log "PostgreSQL :5432 and Redis :6379 are up on 127.0.0.1"
  exit 0
fi
ensure_rabbitmq
ensure_nats
ensure_mosquitto
ensure_chromium
log "PostgreSQL :5432, Redis :6379, RabbitMQ :5672, NATS :4222 and Mosquitto :1883 are up on 127.0.0.1; Chromium is $(command -v "${CHROMIUM:-chromium}")"
