#!/usr/bin/env bash
# Runs every test: unit tests and the end-to-end suite against real PostgreSQL, Redis and
# HTTP receivers. Brings the services up first (scripts/services.sh). Each test gets its own
# database and Redis prefix, so the suite runs in parallel and can run again at once.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/services.sh

# The OpenAPI fuzz test (tests/tests/it/api_schemathesis.rs) runs schemathesis 4, kept in a
# virtualenv under target/ so it needs neither root nor a system pip.
tools=target/tools/schemathesis
if [ ! -x "$tools/bin/schemathesis" ]; then
  if ! python3 -m venv --help >/dev/null 2>&1; then
    echo "test: installing python3-venv for schemathesis" >&2
    if [ "$(id -u)" -eq 0 ]; then apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
    else sudo apt-get update -qq && sudo apt-get install -y -qq python3-venv >/dev/null; fi
  fi
  python3 -m venv "$tools"
  "$tools/bin/pip" install --quiet 'schemathesis>=4,<5'
fi
export SCHEMATHESIS="$PWD/$tools/bin/schemathesis"
# The destination tests (tests/tests/it/destinations.rs) run a stock RQ worker and moto's
# S3 server, from a virtualenv of their own; NATS restarts use the machine's nats-server.
brokers=target/tools/brokers
if [ ! -x "$brokers/bin/rq" ] || [ ! -x "$brokers/bin/moto_server" ]; then
  python3 -m venv "$brokers"
  "$brokers/bin/pip" install --quiet 'rq>=2,<4' 'moto[server]>=5,<6'
fi
export RQ="$PWD/$brokers/bin/rq" MOTO_SERVER="$PWD/$brokers/bin/moto_server"
export NATS_SERVER="${NATS_SERVER:-$(command -v nats-server)}"
# End-to-end tests start the real binaries for crash and start-up behaviour.
cargo build --workspace --bins
if cargo nextest --version >/dev/null 2>&1; then
  # Profiles are in .config/nextest.toml; `ci` (NEXTEST_PROFILE=ci, as .ci/run sets) also
  # writes a JUnit report. Said before the run, so nextest's summary stays the last line.
  if [ "${NEXTEST_PROFILE:-}" = ci ]; then
    echo "test: nextest profile ci: JUnit report (every test with its time) in $PWD/target/nextest/ci/junit.xml" >&2
  fi
  cargo nextest run --workspace --no-fail-fast "$@"
else
  echo "test: cargo-nextest not found, using cargo test (install it with: cargo install cargo-nextest --locked)" >&2
  if [ $# -gt 0 ]; then
    exec cargo test --workspace --no-fail-fast "$@"
  fi
  # cargo test runs the end-to-end binary (tests/tests/it) in one process, and these tests
  # read the process-wide metrics recorder exactly: each gets a process of its own
  # (nextest gives one to every test).
  apart=(metrics_api:: metrics_worker:: tenants_api::auth_failures_are_counted_by_reason)
  skips=()
  for name in "${apart[@]}"; do skips+=(--skip "$name"); done
  status=0
  cargo test --workspace --no-fail-fast -- "${skips[@]}" || status=$?
  for name in "${apart[@]}"; do
    cargo test -p hookrelay-tests --test it -- "$name" || status=$?
  done
  exit "$status"
fi
