#!/usr/bin/env bash
# The deploy tests alone (tests/run.sh runs them too, after the cargo tests that build the
# collector binary they use): installs the pinned tools and the Python packages, then
#   tests/deploy/run.sh [unittest names, e.g. test_helm test_compose.ComposeTest]
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
py=$(deploy/local/venv.sh --print-python tests/requirements.txt tests/deploy/requirements.txt)
export SPANLENS_TOOLS_BIN=${SPANLENS_TOOLS_BIN:-$(deploy/tools/install.sh)}
cd tests/deploy
if [ $# -gt 0 ]; then
  exec "$py" -m unittest "$@"
fi
exec "$py" -m unittest discover -s . -p 'test_*.py'
