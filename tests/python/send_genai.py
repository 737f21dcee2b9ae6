"""Sends GenAI chat spans to a collector with the real OpenTelemetry Python SDK.

One trace per run: an `invoke_agent` span with a `chat` child carrying the current GenAI
semantic-convention attributes, with explicit start/end times so durations are exact.
Protocols: http/protobuf and grpc use the SDK's own OTLP exporters; http/json uses the SDK's
OTLP encoder and posts spec OTLP/JSON (hex ids, lowerCamelCase), since the Python SDK ships no
JSON exporter. Prints {"trace_id": "..."} on success; exits non-zero if the export failed.
"""
import argparse
import base64
import json
import sys
import urllib.request

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind, Status, StatusCode

T0 = 1_764_000_000_000_000_000


class OtlpJsonExporter(SpanExporter):
    """OTLP/HTTP JSON: the SDK's protobuf encoding rendered as spec JSON (ids as hex)."""

    def __init__(self, endpoint, gzip=False):
        self.endpoint = endpoint
        self.gzip = gzip

    def export(self, spans):
        from google.protobuf.json_format import MessageToDict
        from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

        # camelCase, enums as integers (as the OTLP/JSON spec asks); bytes come out as base64.
        body = MessageToDict(encode_spans(spans), use_integers_for_enums=True)

        def hexify(obj):
            if isinstance(obj, dict):
                return {k: (base64.b64decode(v).hex() if k in ("traceId", "spanId", "parentSpanId") and isinstance(v, str) else hexify(v)) for k, v in obj.items()}
            if isinstance(obj, list):
                return [hexify(v) for v in obj]
            return obj

        data = json.dumps(hexify(body)).encode()
        headers = {"Content-Type": "application/json"}
        if self.gzip:
            import gzip as gz
            data = gz.compress(data)
            headers["Content-Encoding"] = "gzip"
        req = urllib.request.Request(self.endpoint, data=data, headers=headers, method="POST")
        with urllib.request.urlopen(req, timeout=10) as resp:
            ok = resp.status == 200
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE

    def shutdown(self):
        pass


class Recording(SpanExporter):
    """Wraps an exporter and remembers whether every export succeeded."""

    def __init__(self, inner):
        self.inner = inner
        self.failed = False

    def export(self, spans):
        try:
            result = self.inner.export(spans)
        except Exception:
            self.failed = True
            raise
        if result != SpanExportResult.SUCCESS:
            self.failed = True
        return result

    def shutdown(self):
        self.inner.shutdown()


def exporter_for(protocol, endpoint, gzip):
    if protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http import Compression
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        return OTLPSpanExporter(endpoint=endpoint + "/v1/traces", compression=Compression.Gzip if gzip else Compression.NoCompression, timeout=10)
    if protocol == "http/json":
        return OtlpJsonExporter(endpoint + "/v1/traces", gzip=gzip)
    if protocol == "grpc":
        import grpc
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        # https://host:port: TLS with the CA (and client certificate) from the standard
        # OTEL_EXPORTER_OTLP_CERTIFICATE / _CLIENT_CERTIFICATE / _CLIENT_KEY variables.
        insecure = not endpoint.startswith("https://")
        return OTLPSpanExporter(endpoint=endpoint, insecure=insecure, compression=grpc.Compression.Gzip if gzip else grpc.Compression.NoCompression, timeout=10)
    raise SystemExit(f"unknown protocol {protocol}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--protocol", required=True, choices=["http/protobuf", "http/json", "grpc"])
    ap.add_argument("--endpoint", required=True, help="http(s)://host:port (HTTP) or host:port / https://host:port (gRPC)")
    ap.add_argument("--gzip", action="store_true")
    ap.add_argument("--tag", required=True, help="distinguishes this run's service and prompt")
    args = ap.parse_args()

    exporter = Recording(exporter_for(args.protocol, args.endpoint, args.gzip))
    provider = TracerProvider(resource=Resource.create({"service.name": f"py-{args.tag}", "deployment.environment.name": "test"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("spanlens.tests.python", "1.0")

    agent = tracer.start_span("invoke_agent trip_planner", kind=SpanKind.INTERNAL, start_time=T0,
                              attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "trip_planner"})
    ctx = trace.set_span_in_context(agent)
    chat = tracer.start_span("chat gpt-4o-mini", context=ctx, kind=SpanKind.CLIENT, start_time=T0 + 100_000_000, attributes={
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.request.temperature": 0.2,
        "gen_ai.request.max_tokens": 300,
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "gen_ai.response.id": f"chatcmpl-{args.tag}",
        "gen_ai.response.finish_reasons": ["stop"],
        "gen_ai.usage.input_tokens": 42,
        "gen_ai.usage.output_tokens": 17,
        "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [{"type": "text", "content": f"Plan a trip to Lisbon ({args.tag})"}]}]),
        "gen_ai.output.messages": json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": "Day 1: Alfama."}], "finish_reason": "stop"}]),
    })
    chat.set_status(Status(StatusCode.OK))
    chat.end(end_time=T0 + 1_334_000_000)
    failing = tracer.start_span("chat gpt-4o-mini", context=ctx, kind=SpanKind.CLIENT, start_time=T0 + 1_400_000_000, attributes={
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o-mini",
        "error.type": "RateLimitError",
    })
    failing.set_status(Status(StatusCode.ERROR, "429 Too Many Requests"))
    failing.end(end_time=T0 + 1_500_000_000)
    agent.end(end_time=T0 + 2_000_000_000)

    provider.force_flush()
    provider.shutdown()
    if exporter.failed:
        print("export failed", file=sys.stderr)
        sys.exit(1)
    print(json.dumps({"trace_id": format(agent.get_span_context().trace_id, "032x")}))


if __name__ == "__main__":
    main()
