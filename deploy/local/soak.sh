#!/usr/bin/env bash
# Soak test of the reliability contract (not part of CI: it runs for minutes):
#   a local ClickHouse (chDB) and the collector (release build, durable spool),
#   spanlens-loadgen sending for MINUTES while, every 2-6 s, either the collector is killed
#   with SIGKILL and restarted on the same spool, or ClickHouse is stopped and started again;
#   then, with both up, waits for the spool to drain and proves exactly once: every trace the
#   collector acknowledged (logged by the load generator) is stored with all its spans, and no
#   span is stored twice. Prints the figures as JSON; exits 1 if anything was lost or doubled.
#
#   deploy/local/soak.sh [MINUTES]          (default 5)
# Environment: SOAK_NO_BUILD=1 (binaries already built), SOAK_KEEP=1 (keep the work dir),
# SOAK_SEED (chaos schedule; default: random), extra spanlens-loadgen flags in SOAK_LOADGEN_FLAGS.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
minutes=${1:-5}
RANDOM=${SOAK_SEED:-$$}

export SPANLENS_VENV=${SPANLENS_VENV:-$repo/.venv}
deploy/local/venv.sh
py="$SPANLENS_VENV/bin/python"
if [ -z "${SOAK_NO_BUILD:-}" ]; then
  cargo build --release --locked -p spanlens-collector -p spanlens-loadgen >&2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/spanlens-soak.XXXXXX")
free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ch_port=$(free_port); http_port=$(free_port); grpc_port=$(free_port)
ch_url="http://127.0.0.1:$ch_port"
ch_pid=""; collector_pid=""; loadgen_pid=""
say() { echo "soak: $*" >&2; }

wait_http() { # URL, what
  for _ in $(seq 1 300); do
    if "$py" -c "import urllib.request; urllib.request.urlopen('$1', timeout=1)" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  say "$2 did not come up"; return 1
}
start_clickhouse() {
  "$py" deploy/local/chdb_server.py --host 127.0.0.1 --port "$ch_port" --path "$work/clickhouse" >>"$work/clickhouse.log" 2>&1 &
  ch_pid=$!
  wait_http "$ch_url/ping" "ClickHouse"
}
stop_clickhouse() { kill -TERM "$ch_pid" 2>/dev/null || true; wait "$ch_pid" 2>/dev/null || true; }
start_collector() { # extra flags
  target/release/spanlens-collector run --clickhouse-url "$ch_url" --database soak \
    --http-listen "127.0.0.1:$http_port" --grpc-listen "127.0.0.1:$grpc_port" \
    --set "pipeline.spool_dir=$work/spool" "$@" >>"$work/collector.out" 2>>"$work/collector.log" &
  collector_pid=$!
  wait_http "http://127.0.0.1:$http_port/healthz" "the collector"
}
cleanup() {
  for pid in "$loadgen_pid" "$collector_pid" "$ch_pid"; do
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  if [ -n "${SOAK_KEEP:-}" ]; then say "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

start_clickhouse
start_collector # migrates
say "load for $minutes min; collector http://127.0.0.1:$http_port, ClickHouse $ch_url, work dir $work"
# shellcheck disable=SC2086
target/release/spanlens-loadgen --endpoint "http://127.0.0.1:$http_port" --duration-secs $((minutes * 60)) \
  --skip-stored --quiet --json --acked-traces "$work/acked.tsv" ${SOAK_LOADGEN_FLAGS:-} \
  >"$work/loadgen.json" 2>"$work/loadgen.log" &
loadgen_pid=$!

kills=0; clickhouse_restarts=0
while kill -0 "$loadgen_pid" 2>/dev/null; do
  sleep $((RANDOM % 5 + 2))
  kill -0 "$loadgen_pid" 2>/dev/null || break
  if [ $((RANDOM % 3)) -lt 2 ]; then
    kill -KILL "$collector_pid"; wait "$collector_pid" 2>/dev/null || true
    sleep "0.$((RANDOM % 10))"
    start_collector --set clickhouse.migrate_on_start=false # ClickHouse may be down
    kills=$((kills + 1))
  else
    stop_clickhouse
    sleep $((RANDOM % 4 + 1))
    start_clickhouse
    clickhouse_restarts=$((clickhouse_restarts + 1))
  fi
  say "collector kills $kills, ClickHouse restarts $clickhouse_restarts"
done
wait "$loadgen_pid" || { say "load generator failed:"; cat "$work/loadgen.log" >&2; exit 1; }
loadgen_pid=""

say "load done; waiting for the spool to drain"
"$py" - "$ch_url" "$work/acked.tsv" "$work/loadgen.json" "$kills" "$clickhouse_restarts" <<'PY'
import json, sys, time, urllib.request
url, acked_path, report_path, kills, restarts = sys.argv[1:]

def query(sql):
    req = urllib.request.Request(url + "/?database=soak", data=sql.encode(), method="POST")
    with urllib.request.urlopen(req, timeout=120) as r:
        return r.read().decode()

acked = {}
with open(acked_path) as f:
    for line in f:
        trace, spans = line.split("\t")
        acked[trace] = acked.get(trace, 0) + int(spans)
want = sum(acked.values())
# Drained: the stored count covers every acknowledged span and has stopped changing.
deadline, last, stable = time.time() + 900, -1, 0
while time.time() < deadline:
    n = int(query("SELECT count() FROM spans"))
    stable = stable + 1 if n == last else 0
    last = n
    if n >= want and stable >= 5:
        break
    time.sleep(2)
stored = {}
for line in query("SELECT trace_id, count() FROM spans GROUP BY trace_id FORMAT TabSeparated").splitlines():
    trace, n = line.split("\t")
    stored[trace] = int(n)
total, unique = map(int, query("SELECT count(), uniqExact(trace_id, span_id) FROM spans FORMAT TabSeparated").split())
lost = sum(max(0, spans - stored.get(trace, 0)) for trace, spans in acked.items())
report = json.load(open(report_path))
result = {
    "minutes_of_load": report.get("settings", {}).get("duration_secs", 0) / 60,
    "collector_kill9": int(kills),
    "clickhouse_restarts": int(restarts),
    "traces_acknowledged": len(acked),
    "spans_acknowledged": want,
    "spans_stored": total,
    "spans_lost": lost,
    "spans_stored_twice": total - unique,
    "spans_stored_not_acknowledged": total - (want - lost),
}
print(json.dumps(result, indent=2))
sys.exit(1 if lost or total != unique else 0)
PY
