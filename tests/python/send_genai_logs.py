"""Sends one GenAI chat call as a span WITHOUT content plus GenAI event log records that carry
the prompt and completion, with the real OpenTelemetry Python SDK (traces + logs) and its OTLP
exporters — the way instrumentations that capture content "as events only" send it.

The log records are emitted inside the span, so the SDK stamps them with its trace and span id.
Styles:
  details  one `gen_ai.client.inference.operation.details` record with structured
           `gen_ai.input.messages` / `gen_ai.output.messages` attributes (opentelemetry-util-genai);
  events   `gen_ai.user.message` + `gen_ai.choice` records with the message in the body
           (opentelemetry-instrumentation-openai-v2 < 2.0).
Spans and records are collected in memory and exported in the order asked for (logs-first or
spans-first), each with the SDK's own OTLP exporter (http/protobuf or grpc).
Prints {"trace_id": "...", "span_id": "..."}; exits non-zero if an export failed.
"""
import argparse
import json
import sys

from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, LogRecordExportResult, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

PROMPT = "What is OTLP?"
COMPLETION = "A protocol."


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", required=True, help="http://host:port (OTLP/HTTP base) or host:port (gRPC)")
    p.add_argument("--protocol", choices=["http/protobuf", "grpc"], required=True)
    p.add_argument("--style", choices=["details", "events"], required=True)
    p.add_argument("--order", choices=["logs-first", "spans-first"], required=True)
    p.add_argument("--service", required=True)
    args = p.parse_args()

    resource = Resource.create({"service.name": args.service})
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    records = InMemoryLogRecordExporter()
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(records))
    logger = logger_provider.get_logger("opentelemetry.instrumentation.openai_v2")

    tracer = tracer_provider.get_tracer("opentelemetry.instrumentation.openai_v2")
    with tracer.start_as_current_span("chat gpt-4o-mini", kind=SpanKind.CLIENT) as span:
        span.set_attribute("gen_ai.operation.name", "chat")
        span.set_attribute("gen_ai.provider.name", "openai")
        span.set_attribute("gen_ai.request.model", "gpt-4o-mini")
        span.set_attribute("gen_ai.usage.input_tokens", 11)
        span.set_attribute("gen_ai.usage.output_tokens", 3)
        span.set_attribute("gen_ai.response.finish_reasons", ["stop"])
        if args.style == "details":
            logger.emit(
                event_name="gen_ai.client.inference.operation.details",
                attributes={
                    "gen_ai.operation.name": "chat",
                    "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.input.messages": [{"role": "user", "parts": [{"type": "text", "content": PROMPT}]}],
                    "gen_ai.output.messages": [
                        {"role": "assistant", "parts": [{"type": "text", "content": COMPLETION}], "finish_reason": "stop"}
                    ],
                },
            )
        else:
            logger.emit(event_name="gen_ai.user.message", attributes={"gen_ai.system": "openai"}, body={"content": PROMPT})
            logger.emit(
                event_name="gen_ai.choice",
                attributes={"gen_ai.system": "openai"},
                body={"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": COMPLETION}},
            )
        ctx = span.get_span_context()

    if args.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        span_exporter = OTLPSpanExporter(endpoint=args.endpoint, insecure=True)
        log_exporter = OTLPLogExporter(endpoint=args.endpoint, insecure=True)
    else:
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        span_exporter = OTLPSpanExporter(endpoint=f"{args.endpoint}/v1/traces")
        log_exporter = OTLPLogExporter(endpoint=f"{args.endpoint}/v1/logs")

    def export_spans():
        if span_exporter.export(spans.get_finished_spans()) != SpanExportResult.SUCCESS:
            sys.exit("span export failed")

    def export_logs():
        if log_exporter.export(records.get_finished_logs()) != LogRecordExportResult.SUCCESS:
            sys.exit("log export failed")

    for step in (export_logs, export_spans) if args.order == "logs-first" else (export_spans, export_logs):
        step()
    print(json.dumps({"trace_id": format(ctx.trace_id, "032x"), "span_id": format(ctx.span_id, "016x")}))


if __name__ == "__main__":
    main()
