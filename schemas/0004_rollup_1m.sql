-- Per-minute rollup of spans for dashboards over long ranges: counts, errors, tokens, cost,
-- summed durations and mergeable latency / time-to-first-token quantile states (t-digest), by
-- project, service, environment, provider, model and observation type. Fed by a materialized
-- view on every insert into spans; read with sum() and quantilesTDigestMerge(...) grouped by any
-- subset of the key. `model` is the requested model, or the response model when only that was
-- reported (OpenInference, Langfuse); dashboards use the same expression on raw spans.
-- known_cost sums the costs that are known; costed_spans counts them (a model without a price
-- has a NULL cost, not 0). Spans are immutable and the collector deduplicates retried batches,
-- so sums stay exact.
-- Kept 400 days (longer than spans usually are): long-range panels outlive span retention.
CREATE TABLE IF NOT EXISTS spans_1m
(
    project             LowCardinality(String),
    minute              DateTime CODEC(Delta(4), ZSTD(1)),
    service_name        LowCardinality(String),
    environment         LowCardinality(String),
    provider            LowCardinality(String),
    model               LowCardinality(String),
    observation_type    LowCardinality(String),
    spans               SimpleAggregateFunction(sum, UInt64),
    errors              SimpleAggregateFunction(sum, UInt64),
    input_tokens        SimpleAggregateFunction(sum, UInt64),
    output_tokens       SimpleAggregateFunction(sum, UInt64),
    total_tokens        SimpleAggregateFunction(sum, UInt64),
    cached_tokens       SimpleAggregateFunction(sum, UInt64),
    reasoning_tokens    SimpleAggregateFunction(sum, UInt64),
    known_cost          SimpleAggregateFunction(sum, Float64),
    costed_spans        SimpleAggregateFunction(sum, UInt64),
    duration_ns         SimpleAggregateFunction(sum, UInt64),
    generating_ns       SimpleAggregateFunction(sum, UInt64),
    streamed_spans      SimpleAggregateFunction(sum, UInt64),
    latency_ns          AggregateFunction(quantilesTDigest(0.5, 0.9, 0.95, 0.99), UInt64),
    ttft_ns             AggregateFunction(quantilesTDigest(0.5, 0.9, 0.95, 0.99), UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (project, minute, service_name, environment, provider, model, observation_type)
TTL minute + INTERVAL 400 DAY
SETTINGS index_granularity = 8192;

-- ttft_ns only sees spans that report a time to first token (-If skips the others);
-- generating_ns sums the durations of spans that report output tokens (tokens/s = tokens / time).
CREATE MATERIALIZED VIEW IF NOT EXISTS spans_1m_mv TO spans_1m AS
SELECT
    s.project AS project,
    toStartOfMinute(s.start_time) AS minute,
    s.service_name AS service_name,
    s.environment AS environment,
    s.provider AS provider,
    if(s.request_model = '', s.response_model, s.request_model) AS model,
    s.observation_type AS observation_type,
    count() AS spans,
    countIf(s.status_code = 'Error') AS errors,
    sum(ifNull(s.input_tokens, 0)) AS input_tokens,
    sum(ifNull(s.output_tokens, 0)) AS output_tokens,
    sum(coalesce(s.total_tokens, ifNull(s.input_tokens, 0) + ifNull(s.output_tokens, 0))) AS total_tokens,
    sum(ifNull(s.cached_tokens, 0)) AS cached_tokens,
    sum(ifNull(s.reasoning_tokens, 0)) AS reasoning_tokens,
    sum(ifNull(s.total_cost, 0)) AS known_cost,
    countIf(s.total_cost IS NOT NULL) AS costed_spans,
    sum(s.duration_ns) AS duration_ns,
    sumIf(s.duration_ns, ifNull(s.output_tokens, 0) > 0) AS generating_ns,
    countIf(ifNull(s.is_streaming, false)) AS streamed_spans,
    quantilesTDigestState(0.5, 0.9, 0.95, 0.99)(s.duration_ns) AS latency_ns,
    quantilesTDigestStateIf(0.5, 0.9, 0.95, 0.99)(ifNull(s.time_to_first_token_ns, 0), s.time_to_first_token_ns IS NOT NULL) AS ttft_ns
FROM spans AS s
GROUP BY project, minute, service_name, environment, provider, model, observation_type;
