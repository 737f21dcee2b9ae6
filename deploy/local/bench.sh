#!/usr/bin/env bash
# The Spanlens benchmark, on one machine. Two modes (BENCH_MODE):
#
# end-to-end (default): OTLP in → rows in ClickHouse
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
# collector-only: the collector alone, beside Rotel (a Rust OpenTelemetry collector, PyPI
# `rotel`, pinned in deploy/local/requirements-bench.txt, exporting to its blackhole)
#   Spanlens runs with no ClickHouse behind it (an unreachable URL, no migrations): its durable
#   spool, in the temp dir, absorbs everything. For each protocol (HTTP and gRPC) and each
#   collector, a fresh process per case, driven by the same spanlens-loadgen corpus and flags:
#     full       as fast as it answers (--concurrency senders): spans/s, CPU per 1k spans,
#                p50/p99 latency, peak RSS
#     overload   twice the load it sustained in `full` (2× the senders and 2× its spans/s
#                offered): peak RSS, what it rejected
#     half       half the load it sustained (--spans-per-sec): p99 latency
#   then one table (or, with --json, the reports as one JSON object).
#
#   BENCH_MODE=collector-only deploy/local/bench.sh [spanlens-loadgen flags...]
#   BENCH_MODE=collector-only BENCH_COLLECTORS=spanlens BENCH_PROTOCOLS=grpc deploy/local/bench.sh
#
#   Before / after: BENCH_BASELINE names another spanlens-collector binary (e.g. an earlier
#   commit's release build), run as collector "baseline"; with BENCH_ROUNDS=N every collector
#   runs N times, the collectors taking turns each round (rows "spanlens.r2" ...), so a machine
#   whose speed drifts affects both sides alike:
#   BENCH_MODE=collector-only BENCH_BASELINE=/tmp/old/spanlens-collector BENCH_ROUNDS=3 \
#     BENCH_COLLECTORS="baseline spanlens" BENCH_PROTOCOLS=http deploy/local/bench.sh
#
# Flags go to spanlens-loadgen (see `target/release/spanlens-loadgen --help`); later flags win
# (collector-only sets --protocol, --concurrency and --spans-per-sec per case: pass
# --concurrency through BENCH_CONCURRENCY instead).
# Environment:
#   BENCH_MODE            end-to-end (default) or collector-only
#   CLICKHOUSE_URL        end-to-end: use this ClickHouse instead of starting a local one
#   SPANLENS_VENV         virtualenv for the local ClickHouse and Rotel (default <repo>/.venv,
#                         made by venv.sh)
#   BENCH_DATABASE        end-to-end: database the collector writes to (default bench)
#   BENCH_TIMEOUT_SECS    hard limit for each load generator run (default 900)
#   BENCH_KEEP_DATA=1     keep the temp dir (ClickHouse data, logs, reports) and print where it is
#   BENCH_NO_BUILD=1      skip `cargo build --release` (re-run with the binaries already built)
#   BENCH_CASE_SECS       collector-only: seconds of sending per case (default 10)
#   BENCH_CONCURRENCY     collector-only: senders in the full and half cases (default 8)
#   BENCH_COLLECTORS      collector-only: which to run (default "spanlens rotel", with
#                         "baseline" first when BENCH_BASELINE is set)
#   BENCH_PROTOCOLS       collector-only: which protocols (default "http grpc")
#   BENCH_BASELINE        collector-only: a spanlens-collector binary run as "baseline"
#   BENCH_ROUNDS          collector-only: times each collector runs, in turns (default 1)
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

# Waits up to $2 seconds for anything to answer HTTP on URL $1 (any status: Rotel has no health
# endpoint) while process $3 is alive.
wait_listening() {
  local url=$1 secs=$2 pid=$3 what=$4
  for _ in $(seq 1 $((secs * 5))); do
    if curl -sS -m 1 -o /dev/null "$url" 2>/dev/null; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then
      say "$what exited before listening on $url"
      return 1
    fi
    sleep 0.2
  done
  say "$what did not listen on $url within ${secs}s"
  return 1
}

# Release binaries (the numbers only mean something for an optimized build).
build() {
  if [ "${BENCH_NO_BUILD:-0}" = 1 ]; then
    say "BENCH_NO_BUILD=1: using the existing target/release binaries"
  else
    say "building release binaries"
    cargo build --release -p spanlens-collector -p spanlens-loadgen >&2
  fi
}

# Starts spanlens-collector on $grpc_port / $http_port with its spool in $1, writing to ClickHouse
# $2 (database $database); further arguments go to `run`. Its write-ahead spool goes to the temp
# dir: a run must not share (or replay) the spool of a development collector or of an earlier
# run. SPANLENS_VENV is this script's, not collector config.
start_spanlens() {
  local spool=$1 url=$2 binary=${collector_binary:-target/release/spanlens-collector}
  shift 2
  env -u SPANLENS_VENV SPANLENS_PIPELINE__SPOOL_DIR="${SPANLENS_PIPELINE__SPOOL_DIR:-$spool}" \
    "$binary" run --clickhouse-url "$url" --database "$database" \
    --grpc-listen "127.0.0.1:$grpc_port" --http-listen "127.0.0.1:$http_port" "$@" \
    >>"$workdir/collector.log" 2>&1 &
  collector_pid=$!
}

# Runs spanlens-loadgen with the given flags, in the background and waited for, so that Ctrl-C /
# SIGTERM reach this script's trap at once. Returns its exit status.
run_loadgen() {
  local status=0
  timeout --signal=TERM --kill-after=10 "$limit" target/release/spanlens-loadgen "$@" &
  loadgen_pid=$!
  wait "$loadgen_pid" || status=$?
  loadgen_pid=""
  if [ "$status" = 124 ]; then
    say "load generator exceeded BENCH_TIMEOUT_SECS=$limit"
  fi
  return "$status"
}

read -r ch_port grpc_port http_port < <(free_ports 3)

end_to_end() {
  # 1. ClickHouse.
  local clickhouse_url
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

  # 2. Release binaries.
  build

  # 3. Collector.
  say "starting spanlens-collector: OTLP gRPC 127.0.0.1:$grpc_port, HTTP 127.0.0.1:$http_port → $clickhouse_url/$database"
  start_spanlens "$workdir/spool" "$clickhouse_url"
  wait_http "http://127.0.0.1:$http_port/readyz" 120 "$collector_pid" "collector"
  say "collector ready (pid $collector_pid)"

  # 4. Load. The endpoint follows --protocol; the caller's flags come last and win.
  local endpoint="http://127.0.0.1:$http_port" prev="" arg
  for arg in "$@"; do
    if [ "$arg" = --protocol=grpc ] || { [ "$prev" = --protocol ] && [ "$arg" = grpc ]; }; then
      endpoint="http://127.0.0.1:$grpc_port"
    elif [ "$arg" = --protocol=http ] || { [ "$prev" = --protocol ] && [ "$arg" = http ]; }; then
      endpoint="http://127.0.0.1:$http_port"
    fi
    prev=$arg
  done
  local loadgen_args=(--endpoint "$endpoint" --clickhouse-url "$clickhouse_url" --database "$database"
    --collector-pid "$collector_pid")
  if [ -n "$ch_pid" ]; then
    loadgen_args+=(--clickhouse-pid "$ch_pid")
  fi
  run_loadgen "${loadgen_args[@]}" "$@"
}

# Starts collector $1 (spanlens | baseline | rotel) for one collector-only case named $2.
start_alone() {
  local which=$1 case_name=$2
  echo "== $which $case_name" >>"$workdir/collector.log"
  case $which in
    spanlens | baseline)
      local collector_binary=target/release/spanlens-collector
      [ "$which" = baseline ] && collector_binary=$BENCH_BASELINE
      # Port 1 refuses connections: every batch stays in the spool (never deleted, never sent).
      start_spanlens "$workdir/spool-$case_name" http://127.0.0.1:1 \
        --set clickhouse.migrate_on_start=false
      wait_http "http://127.0.0.1:$http_port/healthz" 60 "$collector_pid" "spanlens-collector"
      ;;
    rotel)
      "$rotel" start --exporter blackhole \
        --otlp-http-endpoint "127.0.0.1:$http_port" --otlp-grpc-endpoint "127.0.0.1:$grpc_port" \
        --pid-file "$workdir/rotel.pid" --log-file "$workdir/rotel-agent.log" \
        >>"$workdir/collector.log" 2>&1 &
      collector_pid=$!
      wait_listening "http://127.0.0.1:$http_port/" 60 "$collector_pid" "rotel-agent"
      ;;
  esac
}

# One collector-only case: collector $1, its row label $2 (the collector, or collector.rN in
# round N), protocol $3, case $4, further flags for the load generator; its JSON report goes to
# $workdir/reports/<label>-<protocol>-<case>.json.
run_alone() {
  local which=$1 label=$2 protocol=$3 case_name=$4 endpoint
  shift 4
  local name="$label-$protocol-$case_name"
  start_alone "$which" "$name"
  endpoint="http://127.0.0.1:$http_port"
  [ "$protocol" = grpc ] && endpoint="http://127.0.0.1:$grpc_port"
  say "$name: $which (pid $collector_pid), $protocol"
  local status=0
  run_loadgen --endpoint "$endpoint" --skip-stored --collector-pid "$collector_pid" \
    --duration-secs "$case_secs" --quiet "${loadgen_flags[@]}" --protocol "$protocol" --json "$@" \
    >"$workdir/reports/$name.json" || status=$?
  stop_pid "$collector_pid" 15 "$which"
  collector_pid=""
  if [ -d "$workdir/spool-$name" ]; then
    say "$name: spool held $(du -sm "$workdir/spool-$name" | cut -f1) MiB (pipeline.spool_max_bytes caps it)"
    rm -rf "$workdir/spool-$name"
  fi
  return "$status"
}

# The accepted spans/s in report $1.
accepted_rate() {
  python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["throughput"]["accepted_spans_per_sec"])' "$1"
}

collector_only() {
  local json=0 arg
  loadgen_flags=()
  for arg in "$@"; do
    if [ "$arg" = --json ]; then json=1; else loadgen_flags+=("$arg"); fi
  done
  case_secs=${BENCH_CASE_SECS:-10}
  local concurrency=${BENCH_CONCURRENCY:-8} rounds=${BENCH_ROUNDS:-1} which protocol full round label
  local collectors=${BENCH_COLLECTORS:-${BENCH_BASELINE:+baseline }spanlens rotel}
  local protocols=${BENCH_PROTOCOLS:-http grpc}
  for which in $collectors; do
    case $which in spanlens | baseline | rotel) ;; *) say "BENCH_COLLECTORS: unknown collector $which (spanlens, baseline, rotel)"; exit 2 ;; esac
  done
  if [[ " $collectors " == *" baseline "* ]] && [ ! -x "${BENCH_BASELINE:-}" ]; then
    say "collector baseline: BENCH_BASELINE must name an executable spanlens-collector (got '${BENCH_BASELINE:-}')"
    exit 2
  fi
  [[ $rounds =~ ^[1-9][0-9]*$ ]] || { say "BENCH_ROUNDS must be a positive integer, not $rounds"; exit 2; }
  if [[ " $collectors " == *" rotel "* ]]; then
    deploy/local/venv.sh deploy/local/requirements-bench.txt
    rotel=$("$SPANLENS_VENV/bin/python" -c 'import os, rotel; print(os.path.join(os.path.dirname(rotel.__file__), "rotel-agent"))')
    [ -x "$rotel" ] || { say "no rotel-agent binary at $rotel"; exit 1; }
  fi
  build
  mkdir -p "$workdir/reports"
  # The spool takes every accepted span (~3 KiB each: 10 s at 100k spans/s is ~3 GiB); its
  # default 1 GiB cap would turn into 503s and cap the rate. Up to 8 GiB, at most half the free
  # disk; each case's spool is removed when it ends.
  local free_bytes
  free_bytes=$(($(df -Pk "$workdir" | awk 'NR == 2 {print $4}') * 1024))
  export SPANLENS_PIPELINE__SPOOL_MAX_BYTES=${SPANLENS_PIPELINE__SPOOL_MAX_BYTES:-$(( free_bytes / 2 < 8 << 30 ? free_bytes / 2 : 8 << 30 ))}
  say "spool cap $((SPANLENS_PIPELINE__SPOOL_MAX_BYTES >> 20)) MiB per case"
  for protocol in $protocols; do
    for round in $(seq "$rounds"); do
      for which in $collectors; do
        label=$which
        [ "$rounds" -gt 1 ] && label="$which.r$round"
        run_alone "$which" "$label" "$protocol" full --concurrency "$concurrency"
        full=$(accepted_rate "$workdir/reports/$label-$protocol-full.json")
        run_alone "$which" "$label" "$protocol" overload --concurrency $((2 * concurrency)) \
          --spans-per-sec "$(python3 -c "print(2 * $full)")"
        run_alone "$which" "$label" "$protocol" half --concurrency "$concurrency" \
          --spans-per-sec "$(python3 -c "print($full / 2)")"
      done
    done
  done
  if [ "$json" = 1 ]; then
    python3 deploy/local/bench_table.py --json "$workdir"/reports/*.json
  else
    python3 deploy/local/bench_table.py "$workdir"/reports/*.json
  fi
}

case ${BENCH_MODE:-end-to-end} in
  end-to-end) end_to_end "$@" ;;
  collector-only) collector_only "$@" ;;
  *) say "BENCH_MODE must be end-to-end or collector-only, not ${BENCH_MODE}"; exit 2 ;;
esac
