"""Captures what an instrumentation library sends for Anthropic Messages calls (against
tools/fake_anthropic.py) to the capture server: --library traceloop (OpenLLMetry's
opentelemetry-instrumentation-anthropic through traceloop-sdk) or logfire
(logfire.instrument_anthropic). Scenarios:

  a_simple     one message
  b_stream     the same, streamed
  g_cache      a system prompt block marked cache_control: the fake reports its words as
               cache_creation_input_tokens (and input_tokens without them, as the API does)
  h_cache_hit  the same with CACHE_HIT in the system prompt: reported as cache_read_input_tokens

Run by tests/capture/run.sh, which starts the fakes and the capture server.
"""
import argparse
import json
import os
import time
import urllib.request

CAP = os.environ["CAPTURE_URL"]
FAKE = os.environ["FAKE_ANTHROPIC_URL"]
SYSTEM_CACHED = "You are the fixture assistant. Answer briefly and politely, in one short line of plain text."


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--library", choices=["traceloop", "logfire"], required=True)
    args = ap.parse_args()
    lib = args.library + "-anthropic"

    if args.library == "traceloop":
        # Its metrics as delta points (the OTLP exporter's own setting): the other captures'
        # metrics are cumulative.
        os.environ["OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE"] = "delta"
        from traceloop.sdk import Traceloop

        Traceloop.init(app_name="fixture-" + lib, api_endpoint=CAP, disable_batch=True,
                       resource_attributes={"deployment.environment": "fixtures"})

        def flush():
            time.sleep(0.5)
    else:
        import logfire

        os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = CAP
        logfire.configure(service_name="fixture-" + lib, send_to_logfire=False, console=False,
                          environment="fixtures")
        logfire.instrument_anthropic()

        def flush():
            logfire.force_flush()
            time.sleep(0.3)

    import anthropic

    client = anthropic.Anthropic(base_url=FAKE, api_key="sk-ant-fake", max_retries=0)

    def label(scenario):
        req = urllib.request.Request(CAP + "/_control/label", method="POST",
                                     data=json.dumps({"library": lib, "scenario": scenario}).encode())
        urllib.request.urlopen(req).read()

    label("a_simple")
    r = client.messages.create(model="claude-sonnet-4-5", max_tokens=64,
                               messages=[{"role": "user", "content": "Say hello to the fixture collector"}])
    print("a_simple", r.id, r.model, r.usage)
    flush()

    label("b_stream")
    with client.messages.stream(model="claude-sonnet-4-5", max_tokens=64,
                                messages=[{"role": "user", "content": "Stream a short greeting for the collector"}]) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    print("b_stream", final.id, final.usage, text)
    flush()

    for scenario, system, prompt in (
        ("g_cache", SYSTEM_CACHED, "Use the cached instructions please"),
        ("h_cache_hit", SYSTEM_CACHED + " CACHE_HIT", "Use the cached instructions again"),
    ):
        label(scenario)
        r = client.messages.create(
            model="claude-sonnet-4-5", max_tokens=64,
            system=[{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}],
            messages=[{"role": "user", "content": prompt}])
        print(scenario, r.id, r.usage)
        flush()
    label("done")


if __name__ == "__main__":
    main()
