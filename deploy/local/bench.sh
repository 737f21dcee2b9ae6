#!/usr/bin/env bash
# The Spanlens benchmark, end to end on one machine:
#   local ClickHouse (chDB behind deploy/local/chdb_server.py, fresh temp data dir, free port)
#   → release build of spanlens-collector and spanlens-loadgen
#   → collector on free ports, database "bench" (migrations applied at start)
#   → spanlens-loadgen drives it with realistic LLM traces and prints the report
#   → collector and ClickHouse stopped (SIGTERM, by PID; only what this script started).
#
#   deploy/local/bench.sh [spanlens-loadgen flags...]
#   deploy/local/bench.sh --duration-secs 60 --concurrency 16
#   deploy/local/bench.sh --protocol grpc --json > bench.json
#
# Flags go to spanlens-loadgen (see `target/release/spanlens-loadgen --help`); later flags win.
# Environment:
#   CLICKHOUSE_URL        use this ClickHouse instead of starting a local one
#   SPANLENS_VENV         virtualenv for the local ClickHouse (default <repo>/.venv, made by venv.sh)
#   BENCH_DATABASE        database the collector writes to (default bench)
#   BENCH_TIMEOUT_SECS    hard limit for the load generator run (default 900)
#   BENCH_KEEP_DATA=1     keep the temp dir (ClickHouse data, logs) and print where it is
#   BENCH_NO_BUILD=1      skip `cargo build --release` (re-run with the binaries already built)
#   SPANLENS_*            collector configuration, e.g. SPANLENS_PIPELINE__BATCH_MAX_ROWS=50000
# Progress and logs go to stderr; the report (or JSON with --json) to stdout.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"

export SPANLENS_VENV=${SPANLENS_VENV:-$repo/.venv}
database=${BENCH_DATABASE:-bench}
limit=${BENCH_TIMEOUT_SECS:-900}
workdir=$(mktemp -d "${TMPDIR:-/tmp}/spanlens-bench.XXXXXX")
ch_pid=""
collector_pid=""
loadgen_pid=""

say() { echo "bench: $*" >&2; }

# Stops a process this script started: SIGTERM, up to $2 seconds to exit, then SIGKILL.
stop_pid() {
  local pid=$1 grace=$2 what=$3
  [ -n "$pid" ] || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 $((grace * 10))); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "$what (pid $pid) did not stop within ${grace}s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local status=$?
  # The load generator (when interrupted), then the collector: it drains its queue into ClickHouse
  # on SIGTERM.
  stop_pid "$loadgen_pid" 15 "load generator"
  stop_pid "$collector_pid" 30 "collector"
  stop_pid "$ch_pid" 15 "local ClickHouse"
  if [ "${BENCH_KEEP_DATA:-0}" = 1 ]; then
    say "kept $workdir (ClickHouse data, collector.log, clickhouse.log)"
  elif [ "$status" != 0 ] && [ -d "$workdir" ]; then
    for log in "$workdir"/collector.log "$workdir"/clickhouse.log; do
      if [ -s "$log" ]; then
        say "$(basename "$log") (first 30 and last 20 lines):"
        if [ "$(wc -l <"$log")" -le 50 ]; then cat "$log" >&2; else head -n 30 "$log" >&2; echo "  ..." >&2; tail -n 20 "$log" >&2; fi
      fi
    done
    rm -rf "$workdir"
  else
    rm -rf "$workdir"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# N distinct free loopback ports (all sockets held open together, so they differ).
free_ports() {
  python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# Waits up to $2 seconds for URL $1 to answer 2xx while process $3 is alive.
wait_http() {
  local url=$1 secs=$2 pid=$3 what=$4
  for _ in $(seq 1 $((secs * 5))); do
    if curl -fsS -m 1 "$url" >/dev/null 2>&1; then return 0; fi
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
      say "$what exited before answering on $url"
      return 1
    fi
    sleep 0.2
  done
  say "$what did not answer on $url within ${secs}s"
  return 1
}

read -r ch_port grpc_port http_port < <(free_ports 3)

# 1. ClickHouse.
if [ -n "${CLICKHOUSE_URL:-}" ]; then
  clickhouse_url=$CLICKHOUSE_URL
  say "using ClickHouse at $clickhouse_url (database $database)"
  curl -fsS -m 5 "$clickhouse_url/ping" >/dev/null || { say "ClickHouse at $clickhouse_url does not answer /ping"; exit 1; }
else
  deploy/local/venv.sh
  clickhouse_url="http://127.0.0.1:$ch_port"
  say "starting local ClickHouse (chDB) on $clickhouse_url, data in $workdir/clickhouse"
  "$SPANLENS_VENV/bin/python" deploy/local/chdb_server.py --host 127.0.0.1 --port "$ch_port" \
    --path "$workdir/clickhouse" >"$workdir/clickhouse.log" 2>&1 &
  ch_pid=$!
  wait_http "$clickhouse_url/ping" 60 "$ch_pid" "local ClickHouse"
fi

# 2. Release binaries (the numbers only mean something for an optimized build).
if [ "${BENCH_NO_BUILD:-0}" = 1 ]; then
  say "BENCH_NO_BUILD=1: using the existing target/release binaries"
else
  say "building release binaries"
  cargo build --release -p spanlens-collector -p spanlens-loadgen >&2
fi

# 3. Collector.
say "starting spanlens-collector: OTLP gRPC 127.0.0.1:$grpc_port, HTTP 127.0.0.1:$http_port → $clickhouse_url/$database"
# Its write-ahead spool goes to the temp dir too: a run must not share (or replay) the spool of a
# development collector or of an earlier run. SPANLENS_VENV is this script's, not collector config.
env -u SPANLENS_VENV SPANLENS_PIPELINE__SPOOL_DIR="${SPANLENS_PIPELINE__SPOOL_DIR:-$workdir/spool}" \
  target/release/spanlens-collector run --clickhouse-url "$clickhouse_url" --database "$database" \
  --grpc-listen "127.0.0.1:$grpc_port" --http-listen "127.0.0.1:$http_port" >"$workdir/collector.log" 2>&1 &
collector_pid=$!
wait_http "http://127.0.0.1:$http_port/readyz" 120 "$collector_pid" "collector"
say "collector ready (pid $collector_pid)"

# 4. Load. The endpoint follows --protocol; the caller's flags come last and win.
endpoint="http://127.0.0.1:$http_port"
prev=""
for arg in "$@"; do
  if [ "$arg" = --protocol=grpc ] || { [ "$prev" = --protocol ] && [ "$arg" = grpc ]; }; then
    endpoint="http://127.0.0.1:$grpc_port"
  elif [ "$arg" = --protocol=http ] || { [ "$prev" = --protocol ] && [ "$arg" = http ]; }; then
    endpoint="http://127.0.0.1:$http_port"
  fi
  prev=$arg
done
loadgen_args=(--endpoint "$endpoint" --clickhouse-url "$clickhouse_url" --database "$database"
  --collector-pid "$collector_pid")
if [ -n "$ch_pid" ]; then
  loadgen_args+=(--clickhouse-pid "$ch_pid")
fi
# In the background and waited for, so that Ctrl-C / SIGTERM reach this script's trap at once.
timeout --signal=TERM --kill-after=10 "$limit" target/release/spanlens-loadgen "${loadgen_args[@]}" "$@" &
loadgen_pid=$!
status=0
wait "$loadgen_pid" || status=$?
loadgen_pid=""
if [ "$status" = 124 ]; then
  say "load generator exceeded BENCH_TIMEOUT_SECS=$limit"
fi
exit "$status"
