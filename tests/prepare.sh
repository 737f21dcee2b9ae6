#!/usr/bin/env bash
# Installs what the tests run besides cargo, each step only when its pinned inputs changed (fast
# and silent when up to date). Called by tests/run.sh, and by the cargo test harness
# (crates/spanlens-collector/tests/support/local.rs) for the steps a test binary needs, so that a
# bare `cargo test` in a fresh clone works.
#
#   tests/prepare.sh [venv] [langfuse-current] [node]     (no argument: all three)
#
# venv              ${SPANLENS_VENV:-<repo>/.venv}: chDB engine, the OpenTelemetry and Langfuse v2
#                   Python SDKs, the deploy tests' packages (deploy/local/venv.sh)
# langfuse-current  $SPANLENS_VENV/langfuse-current: the current Langfuse Python SDK, which
#                   conflicts with the 2.x SDK in the virtualenv, installed apart (used through
#                   PYTHONPATH by the read-API test); needs the venv step first
# node              tests/js/node_modules: the Langfuse JS SDK v3, exact versions from
#                   tests/js/package-lock.json (needs npm)
#
# Not safe to run twice at once on one checkout: the harness takes a file lock around it.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
venv=${SPANLENS_VENV:-$repo/.venv}

steps=("$@")
if [ ${#steps[@]} -eq 0 ]; then steps=(venv langfuse-current node); fi
for step in "${steps[@]}"; do
  case "$step" in
    venv)
      SPANLENS_VENV="$venv" deploy/local/venv.sh tests/requirements.txt tests/deploy/requirements.txt
      ;;
    langfuse-current)
      target="$venv/langfuse-current"
      want=$(sha256sum <tests/requirements-langfuse-current.txt | cut -d' ' -f1)
      if [ "$(cat "$target/.requirements.sha256" 2>/dev/null)" != "$want" ]; then
        rm -rf "$target"
        "$venv/bin/python" -m pip install --disable-pip-version-check -q --target "$target" \
          -r tests/requirements-langfuse-current.txt
        echo "$want" >"$target/.requirements.sha256"
      fi
      ;;
    node)
      if [ ! -d tests/js/node_modules ] || [ tests/js/package-lock.json -nt tests/js/node_modules ]; then
        command -v npm >/dev/null || { echo "prepare.sh: npm is needed for tests/js (the Langfuse JS SDK tests)" >&2; exit 1; }
        npm ci --prefix tests/js --no-audit --no-fund --silent
      fi
      ;;
    *)
      echo "prepare.sh: unknown step '$step' (venv, langfuse-current, node)" >&2
      exit 2
      ;;
  esac
done
