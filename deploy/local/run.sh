#!/usr/bin/env bash
# The main job on a developer machine: the local ClickHouse (chDB engine behind a ClickHouse-HTTP
# server, data in .data/clickhouse) on 127.0.0.1:8123, then the collector in the foreground
# (migrations applied at start) with OTLP gRPC on 4317 and OTLP HTTP on 4318.
# CLICKHOUSE_URL=http://host:8123 uses that ClickHouse instead; a ClickHouse already answering
# on 127.0.0.1:8123 is reused. Extra arguments go to `spanlens-collector run`.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"

export SPANLENS_VENV=${SPANLENS_VENV:-$repo/.venv}
started_pid=""
cleanup() {
  if [ -n "$started_pid" ]; then kill "$started_pid" 2>/dev/null || true; wait "$started_pid" 2>/dev/null || true; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ping() { curl -fsS -m 1 "$1/ping" >/dev/null 2>&1; }

if [ -z "${CLICKHOUSE_URL:-}" ]; then
  export CLICKHOUSE_URL="http://127.0.0.1:8123"
  if ping "$CLICKHOUSE_URL"; then
    echo "run: reusing the ClickHouse already answering at $CLICKHOUSE_URL"
  else
    deploy/local/venv.sh
    mkdir -p .data
    "$SPANLENS_VENV/bin/python" deploy/local/chdb_server.py --host 127.0.0.1 --port 8123 --path "$repo/.data/clickhouse" &
    started_pid=$!
    for _ in $(seq 1 150); do
      ping "$CLICKHOUSE_URL" && break
      kill -0 "$started_pid" 2>/dev/null || { echo "run: local ClickHouse failed to start" >&2; exit 1; }
      sleep 0.2
    done
    ping "$CLICKHOUSE_URL" || { echo "run: local ClickHouse did not answer on $CLICKHOUSE_URL" >&2; exit 1; }
  fi
fi

cargo build --release --locked -p spanlens-collector
echo "run: ClickHouse HTTP $CLICKHOUSE_URL | OTLP gRPC 127.0.0.1:4317 | OTLP HTTP http://127.0.0.1:4318"
target/release/spanlens-collector run --clickhouse-url "$CLICKHOUSE_URL" "$@" &
collector=$!
# Forward Ctrl-C / SIGTERM to the collector so it drains its queue before we stop ClickHouse.
trap 'kill -TERM $collector 2>/dev/null; wait $collector; exit 0' INT TERM
wait $collector
