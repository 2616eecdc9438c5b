#!/usr/bin/env bash
# Runs hookrelay locally: PostgreSQL and Redis (reused, started or installed), then the
# api and one worker with a development key. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/services.sh core
cargo build --workspace --bins

export API_KEYS="${API_KEYS:-dev-key}"
# Only this machine can reach a development api with a known key; HOST=0.0.0.0 opens it.
export HOST="${HOST:-127.0.0.1}"
export PORT="${PORT:-8080}"
export METRICS_ADDR="${METRICS_ADDR:-127.0.0.1:9090}"
# Local receivers usually live on localhost.
export ALLOW_PRIVATE_TARGETS="${ALLOW_PRIVATE_TARGETS:-true}"

target/debug/hookrelay-api & api=$!
target/debug/hookrelay-worker & worker=$!
trap 'kill -TERM $api $worker 2>/dev/null; wait' INT TERM EXIT

for _ in $(seq 1 60); do
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
  kill -0 $api 2>/dev/null || { echo "dev: hookrelay-api exited; see its output above" >&2; exit 1; }
  sleep 0.5
done
cat <<MSG

  hookrelay is running
    API:      http://$HOST:$PORT   (docs: http://$HOST:$PORT/docs)
    API key:  $API_KEYS              (send: Authorization: Bearer $API_KEYS)
    Worker:   metrics at http://$METRICS_ADDR/metrics
  Ctrl-C stops both.

MSG
wait
