#!/usr/bin/env bash
# The whole test suite, on a fresh machine too: creates the Python virtualenv (chDB engine and the
# real OpenTelemetry Python SDK for end-to-end tests), starts the project's local ClickHouse
# server on a free port with a throwaway data directory (unless CLICKHOUSE_URL points at a real
# ClickHouse), then runs the chDB server's own tests, every cargo test in the workspace, the
# Grafana dashboard tests (dashboards/tests) and the deploy tests (tests/deploy: Helm chart,
# compose files, Dockerfile, cluster DDL; their tools come from deploy/tools/install.sh). Node
# (npm) must be installed for the Langfuse JS SDK tests.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

export SPANLENS_VENV=${SPANLENS_VENV:-$repo/.venv}
deploy/local/venv.sh tests/requirements.txt tests/deploy/requirements.txt
py="$SPANLENS_VENV/bin/python"
export SPANLENS_PYTHON="$py"
# The current Langfuse Python SDK conflicts with the 2.x SDK in the virtualenv: installed apart,
# used through PYTHONPATH by the read-API test.
export SPANLENS_LANGFUSE_CURRENT="$SPANLENS_VENV/langfuse-current"
want=$(sha256sum <tests/requirements-langfuse-current.txt | cut -d' ' -f1)
if [ "$(cat "$SPANLENS_LANGFUSE_CURRENT/.requirements.sha256" 2>/dev/null)" != "$want" ]; then
  rm -rf "$SPANLENS_LANGFUSE_CURRENT"
  "$py" -m pip install --disable-pip-version-check -q --target "$SPANLENS_LANGFUSE_CURRENT" -r tests/requirements-langfuse-current.txt
  echo "$want" >"$SPANLENS_LANGFUSE_CURRENT/.requirements.sha256"
fi
# Node senders (the Langfuse JS SDK v3): exact versions from tests/js/package-lock.json.
if [ ! -d tests/js/node_modules ] || [ tests/js/package-lock.json -nt tests/js/node_modules ]; then
  npm ci --prefix tests/js --no-audit --no-fund --silent
fi

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
  echo "tests: local ClickHouse (chDB) at $CLICKHOUSE_URL"
else
  echo "tests: using ClickHouse at $CLICKHOUSE_URL"
fi

echo "== chDB server tests"
"$py" -m unittest discover -s deploy/local -p 'test_*.py'
echo "== cargo tests"
# --all-features: the SDK's optional async-openai instrumentation and its agent example are tested too.
cargo test --workspace --all-features --locked "$@"
echo "== dashboard tests (after cargo: they migrate with the freshly built spanlens-collector)"
"$py" -m unittest discover -s dashboards/tests -p 'test_*.py'
echo "== deploy tests (Helm chart, compose, Dockerfile, cluster DDL; uses the collector binary cargo built)"
SPANLENS_TOOLS_BIN=$(deploy/tools/install.sh) "$py" -m unittest discover -s tests/deploy -p 'test_*.py'
