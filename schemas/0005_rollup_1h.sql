-- Hourly rollup, the same measures and key as spans_1m, fed from spans_1m's inserts (a cascade:
-- an insert into spans fills spans_1m, whose block is folded into hours here). A 7-day panel
-- reads ~60x fewer rows and merges ~60x fewer quantile states. Dashboards read whole hours
-- inside the range from here and the partial hours at the edges from spans_1m, so the numbers
-- are exactly those of spans_1m; time series use it when their interval is a whole number of
-- hours. Kept 400 days.
CREATE TABLE IF NOT EXISTS spans_1h
(
    project             LowCardinality(String),
    hour                DateTime CODEC(Delta(4), ZSTD(1)),
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
PARTITION BY toYYYYMM(hour)
ORDER BY (project, hour, service_name, environment, provider, model, observation_type)
TTL hour + INTERVAL 400 DAY
SETTINGS index_granularity = 8192;

CREATE MATERIALIZED VIEW IF NOT EXISTS spans_1h_mv TO spans_1h AS
SELECT
    m.project AS project,
    toStartOfHour(m.minute) AS hour,
    m.service_name AS service_name,
    m.environment AS environment,
    m.provider AS provider,
    m.model AS model,
    m.observation_type AS observation_type,
    sum(m.spans) AS spans,
    sum(m.errors) AS errors,
    sum(m.input_tokens) AS input_tokens,
    sum(m.output_tokens) AS output_tokens,
    sum(m.total_tokens) AS total_tokens,
    sum(m.cached_tokens) AS cached_tokens,
    sum(m.reasoning_tokens) AS reasoning_tokens,
    sum(m.known_cost) AS known_cost,
    sum(m.costed_spans) AS costed_spans,
    sum(m.duration_ns) AS duration_ns,
    sum(m.generating_ns) AS generating_ns,
    sum(m.streamed_spans) AS streamed_spans,
    quantilesTDigestMergeState(0.5, 0.9, 0.95, 0.99)(m.latency_ns) AS latency_ns,
    quantilesTDigestMergeState(0.5, 0.9, 0.95, 0.99)(m.ttft_ns) AS ttft_ns
FROM spans_1m AS m
GROUP BY project, hour, service_name, environment, provider, model, observation_type;
