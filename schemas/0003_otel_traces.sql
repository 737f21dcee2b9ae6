-- OpenTelemetry-exporter-compatible names over `spans`, so the Grafana ClickHouse plugin's OTel
-- trace mode (datasource `traces.otelEnabled`, table `otel_traces`) and its "View trace" links
-- show our span trees unchanged. Column names follow the OTel ClickHouse exporter's otel_traces.
-- SpanAttributes carries the span's own unmapped attributes plus the first-class LLM columns
-- (model, tokens, cost, TTFT, session, user, prompt, input/output) under GenAI / spanlens keys,
-- so the trace view's span details show them. A plain view: nothing is stored twice, and
-- filters on Timestamp / TraceId reach the spans table's partition key, sort key and
-- trace_id bloom filter.
CREATE VIEW IF NOT EXISTS otel_traces AS
SELECT
    start_time AS Timestamp,
    trace_id AS TraceId,
    span_id AS SpanId,
    parent_span_id AS ParentSpanId,
    trace_state AS TraceState,
    name AS SpanName,
    kind AS SpanKind,
    service_name AS ServiceName,
    resource_attributes AS ResourceAttributes,
    scope_name AS ScopeName,
    scope_version AS ScopeVersion,
    mapUpdate(
        CAST(span_attributes, 'Map(String, String)'),
        mapFilter((k, v) -> v != '', map(
            'spanlens.project', toString(project),
            'spanlens.observation_type', toString(observation_type),
            'gen_ai.operation.name', toString(operation),
            'gen_ai.provider.name', toString(provider),
            'gen_ai.request.model', toString(request_model),
            'gen_ai.response.model', toString(response_model),
            'gen_ai.usage.input_tokens', ifNull(toString(input_tokens), ''),
            'gen_ai.usage.output_tokens', ifNull(toString(output_tokens), ''),
            'spanlens.usage.total_tokens', ifNull(toString(total_tokens), ''),
            'spanlens.usage.cached_tokens', ifNull(toString(cached_tokens), ''),
            'spanlens.usage.reasoning_tokens', ifNull(toString(reasoning_tokens), ''),
            'spanlens.cost.input', ifNull(toString(input_cost), ''),
            'spanlens.cost.output', ifNull(toString(output_cost), ''),
            'spanlens.cost.total', ifNull(toString(total_cost), ''),
            'spanlens.time_to_first_token_ms', ifNull(toString(time_to_first_token_ns / 1e6), ''),
            'spanlens.streaming', ifNull(toString(is_streaming), ''),
            'gen_ai.response.finish_reasons', if(empty(finish_reasons), '', arrayStringConcat(finish_reasons, ',')),
            'gen_ai.response.id', response_id,
            'gen_ai.request.temperature', ifNull(toString(temperature), ''),
            'gen_ai.request.max_tokens', ifNull(toString(max_tokens), ''),
            'gen_ai.request.top_p', ifNull(toString(top_p), ''),
            'session.id', session_id,
            'user.id', user_id,
            'spanlens.prompt.name', toString(prompt_name),
            'spanlens.prompt.version', toString(prompt_version),
            'spanlens.release', toString(release),
            'spanlens.tags', if(empty(tags), '', arrayStringConcat(tags, ',')),
            'error.type', toString(error_type),
            'gen_ai.input.messages', input,
            'gen_ai.output.messages', output
        ))
    ) AS SpanAttributes,
    duration_ns AS Duration,
    status_code AS StatusCode,
    status_message AS StatusMessage,
    events_time AS `Events.Timestamp`,
    events_name AS `Events.Name`,
    events_attributes AS `Events.Attributes`,
    links_trace_id AS `Links.TraceId`,
    links_span_id AS `Links.SpanId`,
    links_trace_state AS `Links.TraceState`,
    links_attributes AS `Links.Attributes`,
    project AS Project
FROM spans;

-- Trace id -> time range, as the exporter's otel_traces_trace_id_ts: the plugin's trace look-up
-- reads min(Start) / max(End) + 1 s here, then scans only that range of spans. One row per trace
-- per insert block (a trace split over batches has several rows; min/max covers them). Tiny, so
-- kept longer than the spans themselves.
CREATE TABLE IF NOT EXISTS otel_traces_trace_id_ts
(
    TraceId String CODEC(ZSTD(1)),
    Start   DateTime CODEC(Delta(4), ZSTD(1)),
    End     DateTime CODEC(Delta(4), ZSTD(1)),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.01) GRANULARITY 1
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(Start)
ORDER BY (TraceId, Start)
TTL Start + INTERVAL 400 DAY
SETTINGS index_granularity = 8192;

CREATE MATERIALIZED VIEW IF NOT EXISTS otel_traces_trace_id_ts_mv TO otel_traces_trace_id_ts AS
SELECT
    trace_id AS TraceId,
    toDateTime(min(start_time)) AS Start,
    toDateTime(max(start_time)) AS End
FROM spans
WHERE trace_id != ''
GROUP BY trace_id;
