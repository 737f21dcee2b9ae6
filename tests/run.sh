#!/usr/bin/env bash
# The whole test suite, on a fresh machine too: installs what the tests use besides cargo
# (tests/prepare.sh: the Python virtualenv with the chDB engine and the real OpenTelemetry and
# Langfuse SDKs, the current Langfuse SDK apart, the Langfuse JS SDK from tests/js; Node's npm
# must be installed), then runs the chDB server's own tests, every cargo test in the workspace,
# the Grafana dashboard tests (dashboards/tests) and the deploy tests (tests/deploy: Helm chart,
# compose files, Dockerfile, cluster DDL; their tools come from deploy/tools/install.sh).
#
# The cargo tests need nothing from this script: each test binary uses CLICKHOUSE_URL when set
# (a real ClickHouse), or else starts the project's local ClickHouse (deploy/local/chdb_server.py)
# for itself, and finds the virtualenv and SDKs through tests/prepare.sh
# (crates/spanlens-collector/tests/support/local.rs). So a single test runs by hand with plain
# `cargo test -p spanlens-collector --test scores`. Only the dashboard tests get a ClickHouse
# from here: the local one on a free port with a throwaway data directory, unless CLICKHOUSE_URL
# points at a real ClickHouse.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

export SPANLENS_VENV=${SPANLENS_VENV:-$repo/.venv}
tests/prepare.sh
py="$SPANLENS_VENV/bin/python"

echo "== chDB server tests"
"$py" -m unittest discover -s deploy/local -p 'test_*.py'
echo "== cargo tests"
# --all-features: the SDK's optional async-openai instrumentation and its agent example are tested too.
cargo test --workspace --all-features --locked "$@"

started_pid=""
data_dir=""
cleanup() {
  if [ -n "$started_pid" ]; then kill "$started_pid" 2>/dev/null || true; wait "$started_pid" 2>/dev/null || true; fi
  if [ -n "$data_dir" ]; then rm -rf "$data_dir"; fi
}
trap cleanup EXIT

if [ -z "${CLICKHOUSE_URL:-}" ]; then
  data_dir=$(mktemp -d -t spanlens-test-ch.XXXXXX)
  port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$py" deploy/local/chdb_server.py --host 127.0.0.1 --port "$port" --path "$data_dir/data" >"$data_dir/server.log" 2>&1 &
  started_pid=$!
  export CLICKHOUSE_URL="http://127.0.0.1:$port"
  for _ in $(seq 1 150); do
    if "$py" -c "import urllib.request,sys; urllib.request.urlopen('$CLICKHOUSE_URL/ping', timeout=1)" 2>/dev/null; then break; fi
    if ! kill -0 "$started_pid" 2>/dev/null; then cat "$data_dir/server.log"; echo "local ClickHouse failed to start" >&2; exit 1; fi
    sleep 0.2
  done
  echo "tests: local ClickHouse (chDB) for the dashboard tests at $CLICKHOUSE_URL"
else
  echo "tests: using ClickHouse at $CLICKHOUSE_URL"
fi

echo "== dashboard tests (after cargo: they migrate with the freshly built spanlens-collector)"
"$py" -m unittest discover -s dashboards/tests -p 'test_*.py'
echo "== deploy tests (Helm chart, compose, Dockerfile, cluster DDL; uses the collector binary cargo built)"
SPANLENS_TOOLS_BIN=$(deploy/tools/install.sh) "$py" -m unittest discover -s tests/deploy -p 'test_*.py'
