"""Captures MLflow Tracing (mlflow-tracing, `mlflow.openai.autolog()`, exported over OTLP/HTTP)
for OpenAI chat calls against tools/fake_openai.py. Scenarios:

  a_simple    one chat call
  b_stream    a streamed chat call (with usage)
  d_fail      a call the provider answers with HTTP 500
  e_workflow  an AGENT span (@mlflow.trace) around two chat calls

Run by tests/capture/run.sh, which starts the fakes and the capture server.
"""
import json
import os
import time
import urllib.request

CAP = os.environ["CAPTURE_URL"]
os.environ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = CAP + "/v1/traces"
os.environ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"] = "http/protobuf"
os.environ["OTEL_SERVICE_NAME"] = "fixture-mlflow"
# Export each trace as it ends (no async queue), so scenarios stay apart.
os.environ["MLFLOW_ENABLE_ASYNC_TRACE_LOGGING"] = "false"
# MLflow exports through a BatchSpanProcessor: a short delay, so each scenario is sent alone.
os.environ["OTEL_BSP_SCHEDULE_DELAY"] = "100"

import mlflow  # noqa: E402
import openai  # noqa: E402

LIB = "mlflow"


def label(scenario):
    req = urllib.request.Request(CAP + "/_control/label", method="POST",
                                 data=json.dumps({"library": LIB, "scenario": scenario}).encode())
    urllib.request.urlopen(req).read()


def flush():
    time.sleep(1.0)


def main():
    mlflow.openai.autolog()
    client = openai.OpenAI(base_url=os.environ["FAKE_OPENAI_URL"], api_key="sk-fake", max_retries=0)

    def chat(prompt, **kw):
        return client.chat.completions.create(model="gpt-4o-mini", temperature=0.2, max_tokens=64,
                                              messages=[{"role": "user", "content": prompt}], **kw)

    label("a_simple")
    chat("Say hello to the fixture collector")
    flush()

    label("b_stream")
    for _ in chat("Stream a short greeting for the collector", stream=True, stream_options={"include_usage": True}):
        pass
    flush()

    label("d_fail")
    try:
        chat("Please FAIL this request")
    except openai.InternalServerError:
        pass
    flush()

    label("e_workflow")

    @mlflow.trace(name="fixture_agent", span_type="AGENT")
    def agent():
        chat("First step of the workflow")
        chat("Second step of the workflow")

    agent()
    flush()
    label("done")


if __name__ == "__main__":
    main()
