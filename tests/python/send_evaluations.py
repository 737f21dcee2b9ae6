"""Sends one GenAI chat span and four evaluation results about it, with the real OpenTelemetry
Python SDK (traces + logs) and its OTLP/HTTP exporters, in every shape `gen_ai.evaluation.result`
arrives in:

  relevance       a span event on the chat span (value 0.9, label "relevant", explanation);
  hallucination   a log record, event_name gen_ai.evaluation.result, emitted inside the span
                  (label "no" only);
  toxicity        what OpenLIT's evaluators send by default: a Python `logging` record through
                  the SDK's LoggingHandler whose body is the attributes as a JSON string (no event
                  name), emitted inside the span (value 0.1, label "no", response id);
  faithfulness    a failed evaluation: event record with error.type only.

Prints {"trace_id": "...", "span_id": "..."}; exits non-zero if an export failed.
"""
import argparse
import json
import logging
import sys

from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, LogRecordExportResult, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", required=True, help="http://host:port (OTLP/HTTP base)")
    p.add_argument("--key", required=True)
    args = p.parse_args()

    resource = Resource.create({"service.name": "eval-app"})
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    records = InMemoryLogRecordExporter()
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(records))
    logger = logger_provider.get_logger("spanlens.test.evals")
    # OpenLIT's transport: stdlib logging → the SDK's LoggingHandler.
    openlit_logger = logging.getLogger("openlit.evals.otel")
    openlit_logger.addHandler(LoggingHandler(level=logging.DEBUG, logger_provider=logger_provider))
    openlit_logger.setLevel(logging.DEBUG)

    tracer = tracer_provider.get_tracer("spanlens.test")
    with tracer.start_as_current_span("chat gpt-4o-mini", kind=SpanKind.CLIENT) as span:
        span.set_attribute("gen_ai.operation.name", "chat")
        span.set_attribute("gen_ai.provider.name", "openai")
        span.set_attribute("gen_ai.request.model", "gpt-4o-mini")
        span.set_attribute("gen_ai.response.id", "chatcmpl-eval-1")
        span.add_event(
            "gen_ai.evaluation.result",
            {
                "gen_ai.evaluation.name": "relevance",
                "gen_ai.evaluation.score.value": 0.9,
                "gen_ai.evaluation.score.label": "relevant",
                "gen_ai.evaluation.explanation": "answers the question",
            },
        )
        logger.emit(
            event_name="gen_ai.evaluation.result",
            attributes={
                "gen_ai.evaluation.name": "hallucination",
                "gen_ai.evaluation.score.label": "no",
                "gen_ai.evaluation.explanation": "grounded in the context",
            },
        )
        openlit_logger.info(
            json.dumps(
                {
                    "gen_ai.evaluation.name": "toxicity",
                    "gen_ai.evaluation.score.value": 0.1,
                    "gen_ai.evaluation.score.label": "no",
                    "gen_ai.evaluation.explanation": "polite",
                    "gen_ai.response.id": "chatcmpl-eval-1",
                }
            )
        )
        logger.emit(
            event_name="gen_ai.evaluation.result",
            attributes={"gen_ai.evaluation.name": "faithfulness", "error.type": "TimeoutError"},
        )
        ctx = span.get_span_context()

    headers = {"authorization": f"Bearer {args.key}"}
    if OTLPLogExporter(endpoint=f"{args.endpoint}/v1/logs", headers=headers).export(
        records.get_finished_logs()
    ) != LogRecordExportResult.SUCCESS:
        sys.exit("log export failed")
    if OTLPSpanExporter(endpoint=f"{args.endpoint}/v1/traces", headers=headers).export(
        spans.get_finished_spans()
    ) != SpanExportResult.SUCCESS:
        sys.exit("span export failed")
    print(json.dumps({"trace_id": format(ctx.trace_id, "032x"), "span_id": format(ctx.span_id, "016x")}))


if __name__ == "__main__":
    main()
