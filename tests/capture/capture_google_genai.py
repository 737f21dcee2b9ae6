"""Captures the official OpenTelemetry instrumentation of the Google Gen AI SDK
(opentelemetry-instrumentation-google-genai) against tools/fake_gemini.py:

  a_simple  one generate_content call
  b_stream  generate_content_stream
  d_fail    a call the API answers with HTTP 500

Run by tests/capture/run.sh, which starts the fakes and the capture server.
"""
import json
import os
import time
import urllib.request

# Current GenAI conventions, message content on the spans.
os.environ["OTEL_SEMCONV_STABILITY_OPT_IN"] = "gen_ai_latest_experimental"
os.environ["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] = "SPAN_ONLY"

from opentelemetry import trace  # noqa: E402
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: E402
from opentelemetry.instrumentation.google_genai import GoogleGenAiSdkInstrumentor  # noqa: E402
from opentelemetry.sdk.resources import Resource  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402

CAP = os.environ["CAPTURE_URL"]
LIB = "google-genai"


def label(scenario):
    req = urllib.request.Request(CAP + "/_control/label", method="POST",
                                 data=json.dumps({"library": LIB, "scenario": scenario}).encode())
    urllib.request.urlopen(req).read()


def main():
    provider = TracerProvider(resource=Resource.create({"service.name": "fixture-" + LIB,
                                                       "deployment.environment": "fixtures"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=CAP + "/v1/traces")))
    trace.set_tracer_provider(provider)
    GoogleGenAiSdkInstrumentor().instrument(tracer_provider=provider)

    from google import genai
    from google.genai import types

    client = genai.Client(api_key="fake-key", http_options=types.HttpOptions(
        base_url=os.environ["FAKE_GEMINI_URL"], api_version="v1beta", retry_options=types.HttpRetryOptions(attempts=1)))

    label("a_simple")
    client.models.generate_content(model="gemini-2.5-flash", contents="Say hello to the fixture collector",
                                   config=types.GenerateContentConfig(temperature=0.2))
    time.sleep(0.3)

    label("b_stream")
    for _ in client.models.generate_content_stream(model="gemini-2.5-flash",
                                                   contents="Stream a short greeting for the collector"):
        pass
    time.sleep(0.3)

    label("d_fail")
    try:
        client.models.generate_content(model="gemini-2.5-flash", contents="Please FAIL this request")
    except Exception:  # the SDK's ServerError
        pass
    time.sleep(0.3)
    label("done")


if __name__ == "__main__":
    main()
