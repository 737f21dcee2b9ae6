#!/usr/bin/env bash
# Regenerates the captured fixtures of tests/fixtures/otlp/ that this folder makes: each library
# in its own virtualenv (.venv-capture/<name>, from requirements/<name>.txt — capture-only
# packages, never needed by the test suite), driven against the fake providers in tools/, its
# OTLP captured by tools/capture_server.py and turned into a fixture folder by build_fixture.py.
#   tests/capture/run.sh logfire-anthropic
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
here="$repo/tests/capture"
py="${SPANLENS_VENV:-$repo/.venv}/bin/python"   # the project venv: opentelemetry-proto for building
work=$(mktemp -d -t spanlens-capture.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; [ -n "${KEEP_CAPTURE:-}" ] || rm -rf "$work"; }
trap cleanup EXIT

free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cap=$(free_port); anth=$(free_port); oai=$(free_port); gem=$(free_port)
"$py" "$here/tools/capture_server.py" --port "$cap" --outdir "$work/raw" >"$work/capture.log" 2>&1 & pids+=($!)
"$py" "$here/tools/fake_anthropic.py" --port "$anth" --log "$work/anthropic.jsonl" >/dev/null 2>&1 & pids+=($!)
"$py" "$here/tools/fake_openai.py" --port "$oai" --log "$work/openai.jsonl" >/dev/null 2>&1 & pids+=($!)
"$py" "$here/tools/fake_gemini.py" --port "$gem" --log "$work/gemini.jsonl" >/dev/null 2>&1 & pids+=($!)
sleep 1
export CAPTURE_URL="http://127.0.0.1:$cap" FAKE_ANTHROPIC_URL="http://127.0.0.1:$anth" FAKE_OPENAI_URL="http://127.0.0.1:$oai/v1"
export FAKE_GEMINI_URL="http://127.0.0.1:$gem"

venv() {
  local name=$1
  if [ ! -x "$repo/.venv-capture/$name/bin/python" ]; then
    python3 -m venv "$repo/.venv-capture/$name"
    # A "# constraints: FILE" line resolves the packages against FILE (a capture's pip freeze).
    local constraints; constraints=$(sed -n 's/^# constraints: //p' "$here/requirements/$name.txt")
    "$repo/.venv-capture/$name/bin/pip" install -q -r "$here/requirements/$name.txt" \
      ${constraints:+-c "$repo/$constraints"}
  fi
  echo "$repo/.venv-capture/$name/bin/python"
}

# The Anthropic Python SDK traces its own calls (scope com.anthropic.sdk.python, no content)
# whenever a global TracerProvider is set, next to the instrumentation's span.
anthropic_fixture() {  # library-name venv-name capture-flag llm-scope description [builder flags]
  local vpy; vpy=$(venv "$2")
  "$vpy" "$here/capture_anthropic.py" --library "$3"
  "$py" "$here/build_fixture.py" --raw "$work/raw" --library "$1" --provider anthropic \
    --provider-log "$work/anthropic.jsonl" --out "$repo/tests/fixtures/otlp/$1" --llm-scope "$4" \
    --llm-scope com.anthropic.sdk.python --no-content-scope com.anthropic.sdk.python \
    --finish-reason-attr --description "$5" --python "$vpy" --packages anthropic logfire traceloop-sdk \
    --scenario a_simple --scenario b_stream --scenario g_cache --scenario h_cache_hit "${@:6}"
}

openai_fixture() {  # library script llm-scope other-role description [builder flags]
  local vpy; vpy=$(venv "$1")
  "$vpy" "$here/$2"
  "$py" "$here/build_fixture.py" --raw "$work/raw" --library "$1" --provider openai \
    --provider-log "$work/openai.jsonl" --out "$repo/tests/fixtures/otlp/$1" --llm-scope "$3" \
    --other-role "$4" --description "$5" --python "$vpy" --packages openai pydantic-ai-slim \
    langchain-openai langchain-core openinference-instrumentation-langchain openai-agents \
    openinference-instrumentation-openai-agents "${@:6}"
}

node_fixture() {  # library script llm-scope other-role description [builder flags]
  local dir="$here/node"
  [ -d "$dir/node_modules" ] || (cd "$dir" && npm ci --no-audit --no-fund)
  node "$dir/$2"
  "$py" "$here/build_fixture.py" --raw "$work/raw" --library "$1" --provider openai \
    --provider-log "$work/openai.jsonl" --out "$repo/tests/fixtures/otlp/$1" --llm-scope "$3" \
    --other-role "$4" --description "$5" --npm-package "$dir/package.json" "${@:6}"
}

mlflow_fixture() {
  local vpy; vpy=$(venv mlflow)
  "$vpy" "$here/capture_mlflow.py"
  "$py" "$here/build_fixture.py" --raw "$work/raw" --library mlflow --provider openai \
    --provider-log "$work/openai.jsonl" --out "$repo/tests/fixtures/otlp/mlflow" \
    --llm-scope mlflow.tracing.provider --llm-marker 'mlflow.spanType="CHAT_MODEL"' \
    --other-role parent/workflow --python "$vpy" --packages mlflow-tracing openai \
    --description "mlflow-tracing with mlflow.openai.autolog(), exported over OTLP (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)" \
    --scenario a_simple --scenario b_stream --scenario d_fail --scenario e_workflow
}

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(logfire-anthropic traceloop-anthropic mlflow pydantic-ai langchain-openinference langchain-traceloop openai-agents vercel-ai langfuse-js google-genai)
for target in "${targets[@]}"; do
  # Each library's fixture is built from the provider requests of its own run.
  : >"$work/openai.jsonl"
  : >"$work/anthropic.jsonl"
  : >"$work/gemini.jsonl"
  case "$target" in
    logfire-anthropic) anthropic_fixture logfire-anthropic logfire logfire logfire.anthropic \
      "pydantic logfire instrument_anthropic(): Anthropic Messages, prompt caching (cache writes and reads)" ;;
    traceloop-anthropic) anthropic_fixture traceloop-anthropic traceloop-anthropic traceloop \
      opentelemetry.instrumentation.anthropic \
      "traceloop-sdk (OpenLLMetry) with its opentelemetry-instrumentation-anthropic: Anthropic Messages, prompt caching" \
      --ttft-scope com.anthropic.sdk.python ;;
    mlflow) mlflow_fixture ;;
    pydantic-ai) openai_fixture pydantic-ai capture_pydantic_ai.py pydantic-ai parent/workflow \
      "pydantic-ai's own instrumentation (Agent.instrument_all()): agent runs on OpenAI's chat API" \
      --llm-marker 'gen_ai.operation.name=chat' --finish-reason-attr \
      --scenario a_simple --scenario b_stream --scenario c_tools ;;
    openai-agents) openai_fixture openai-agents capture_openai_agents.py \
      openinference.instrumentation.openai_agents parent/workflow \
      "OpenAI Agents SDK (Chat Completions model) through openinference-instrumentation-openai-agents" \
      --llm-marker 'openinference.span.kind=LLM' --finish-reason-attr --scenario a_simple --scenario c_tools ;;
    vercel-ai) node_fixture vercel-ai capture_vercel_ai.mjs ai parent/workflow \
      "Vercel AI SDK (ai + @ai-sdk/openai, chat model) experimental_telemetry, OpenTelemetry JS SDK OTLP/HTTP" \
      --llm-marker 'ai.operationId=ai.generateText.doGenerate' --llm-marker 'ai.operationId=ai.streamText.doStream' \
      --ttft-scope ai --finish-reason-attr --scenario a_simple --scenario b_stream ;;
    langfuse-js) node_fixture langfuse-js capture_langfuse_js.mjs langfuse-sdk parent/workflow \
      "Langfuse JS SDK (@langfuse/otel LangfuseSpanProcessor + @langfuse/openai observeOpenAI), OTel based" \
      --llm-marker 'langfuse.observation.type=generation' --finish-reason-attr --ttft-scope langfuse-sdk \
      --scenario a_simple --scenario b_stream --scenario e_workflow ;;
    google-genai)
      vpy=$(venv google-genai)
      "$vpy" "$here/capture_google_genai.py"
      "$py" "$here/build_fixture.py" --raw "$work/raw" --library google-genai --provider gcp.gemini \
        --provider-log "$work/gemini.jsonl" --out "$repo/tests/fixtures/otlp/google-genai" \
        --llm-scope opentelemetry.instrumentation.google_genai --python "$vpy" --finish-reason-attr \
        --ttft-scope opentelemetry.instrumentation.google_genai \
        --packages google-genai opentelemetry-instrumentation-google-genai \
        --description "opentelemetry-instrumentation-google-genai (official OTel GenAI instrumentation of the Google Gen AI SDK)" \
        --scenario a_simple --scenario b_stream --scenario d_fail ;;
    langchain-openinference) openai_fixture langchain-openinference capture_langchain_openinference.py \
      openinference.instrumentation.langchain parent/workflow \
      "LangChain (langchain-openai ChatOpenAI) through openinference-instrumentation-langchain" \
      --llm-marker 'openinference.span.kind=LLM' --finish-reason-attr \
      --scenario a_simple --scenario b_stream --scenario e_workflow ;;
    langchain-traceloop) openai_fixture langchain-traceloop capture_langchain_traceloop.py \
      opentelemetry.instrumentation.langchain parent/workflow \
      "LangChain (langchain-openai ChatOpenAI) through OpenLLMetry: traceloop-sdk's opentelemetry-instrumentation-langchain" \
      --llm-marker 'gen_ai.operation.name=chat' --finish-reason-attr \
      --scenario a_simple --scenario b_stream --scenario c_tools --scenario e_workflow ;;
    *) echo "unknown target $target" >&2; exit 2 ;;
  esac
done
