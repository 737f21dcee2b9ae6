"""Sends OTLP metrics to a collector with the real OpenTelemetry Python SDK.

Every instrument kind, recorded in two collection rounds (two exports), with the temporality
asked for: a Counter (monotonic sum), an UpDownCounter (non-monotonic sum), a Histogram
(explicit buckets), a Histogram aggregated as an exponential histogram (a View), and a
synchronous Gauge.

    round 1: counter +3, up-down +5, histogram 10 and 100, exponential 0, 0.5 and 2, gauge 21.5
    round 2: counter +4, up-down -2, histogram 1000, exponential 4, gauge 22

Protocols: http/protobuf and grpc use the SDK's own OTLP exporters; http/json encodes with the
SDK's OTLP encoder and posts spec OTLP/JSON (hex ids), as the SDK ships no JSON exporter.
Exits non-zero if an export failed.
"""
import argparse
import base64
import json
import sys
import urllib.request

from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider, UpDownCounter
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    MetricExporter,
    MetricExportResult,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource

TEMPORALITY = {"delta": AggregationTemporality.DELTA, "cumulative": AggregationTemporality.CUMULATIVE}


class OtlpJsonExporter(MetricExporter):
    """OTLP/HTTP JSON: the SDK's protobuf encoding rendered as spec JSON (ids as hex)."""

    def __init__(self, endpoint, headers, temporality):
        super().__init__(preferred_temporality=temporality)
        self.endpoint = endpoint
        self.headers = headers

    def export(self, metrics_data, timeout_millis=10_000, **kwargs):
        from google.protobuf.json_format import MessageToDict
        from opentelemetry.exporter.otlp.proto.common._internal.metrics_encoder import encode_metrics

        body = MessageToDict(encode_metrics(metrics_data), use_integers_for_enums=True)

        def hexify(obj):
            if isinstance(obj, dict):
                return {k: (base64.b64decode(v).hex() if k in ("traceId", "spanId") and isinstance(v, str) else hexify(v)) for k, v in obj.items()}
            if isinstance(obj, list):
                return [hexify(v) for v in obj]
            return obj

        req = urllib.request.Request(
            self.endpoint,
            data=json.dumps(hexify(body)).encode(),
            headers={"Content-Type": "application/json", **self.headers},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            reply = json.loads(resp.read() or b"{}")
            ok = resp.status == 200 and not reply.get("partialSuccess")
        return MetricExportResult.SUCCESS if ok else MetricExportResult.FAILURE

    def force_flush(self, timeout_millis=10_000):
        return True

    def shutdown(self, timeout_millis=30_000, **kwargs):
        pass


def exporter(args):
    temporality = {kind: TEMPORALITY[args.temporality] for kind in (Counter, UpDownCounter, Histogram)}
    headers = {"authorization": f"Bearer {args.key}"}
    if args.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

        return OTLPMetricExporter(endpoint=args.endpoint, insecure=True, headers=headers, preferred_temporality=temporality)
    if args.protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

        return OTLPMetricExporter(endpoint=args.endpoint + "/v1/metrics", headers=headers, preferred_temporality=temporality)
    return OtlpJsonExporter(args.endpoint + "/v1/metrics", headers, temporality)


class Recording:
    """Wraps an exporter and remembers whether every export succeeded."""

    def __init__(self, inner):
        self.inner = inner
        self.failed = False

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def export(self, metrics_data, timeout_millis=10_000, **kwargs):
        result = self.inner.export(metrics_data, timeout_millis=timeout_millis)
        if result != MetricExportResult.SUCCESS:
            self.failed = True
        return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--protocol", choices=["http/protobuf", "http/json", "grpc"], required=True)
    parser.add_argument("--temporality", choices=sorted(TEMPORALITY), required=True)
    parser.add_argument("--key", required=True)
    args = parser.parse_args()

    recording = Recording(exporter(args))
    # Exports only when flushed: one export per round.
    reader = PeriodicExportingMetricReader(recording, export_interval_millis=3_600_000)
    # No shutdown (it would export a third time): exactly the two rounds are sent.
    provider = MeterProvider(
        shutdown_on_exit=False,
        resource=Resource.create({"service.name": "metrics-sdk", "run": f"{args.protocol} {args.temporality}"}),
        metric_readers=[reader],
        views=[
            View(instrument_name="gen_ai.client.operation.duration", aggregation=ExponentialBucketHistogramAggregation()),
        ],
    )
    meter = provider.get_meter("spanlens.test", "1.0")
    model = {"gen_ai.request.model": "gpt-4o-mini"}
    requests = meter.create_counter("gen_ai.requests", unit="{request}", description="LLM requests")
    queue = meter.create_up_down_counter("queue.depth", unit="{request}")
    tokens = meter.create_histogram("gen_ai.client.token.usage", unit="{token}")
    duration = meter.create_histogram("gen_ai.client.operation.duration", unit="s")
    temperature = meter.create_gauge("gpu.temperature", unit="Cel")

    requests.add(3, model)
    queue.add(5)
    for v in (10, 100):
        tokens.record(v, {**model, "gen_ai.token.type": "input"})
    for v in (0, 0.5, 2.0):
        duration.record(v, model)
    temperature.set(21.5)
    provider.force_flush()

    requests.add(4, model)
    queue.add(-2)
    tokens.record(1000, {**model, "gen_ai.token.type": "input"})
    duration.record(4.0, model)
    temperature.set(22.0)
    provider.force_flush()

    if recording.failed:
        print("export failed", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
