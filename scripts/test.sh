#!/usr/bin/env bash
# Runs every test: unit tests and the end-to-end suite against real PostgreSQL, Redis and
# HTTP receivers. Brings the services up first (scripts/services.sh). Each test gets its own
# database and Redis prefix, so the suite runs in parallel and can run again at once.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/services.sh
# End-to-end tests start the real binaries for crash and start-up behaviour.
cargo build --workspace --bins
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
else
  echo "test: cargo-nextest not found, using cargo test (install it with: cargo install cargo-nextest --locked)" >&2
  cargo test --workspace --no-fail-fast "$@"
fi
