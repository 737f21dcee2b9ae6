-- Hourly LLM usage per user and session (LLM and embedding calls only): calls, tokens and cost
-- by project, hour, user, session, service, environment, provider and model, fed by a
-- materialized view on spans. The cost dashboard's per-user and per-session tables read whole
-- hours from here and the partial hours at the range edges from spans, so they stay exact while
-- reading one row per session-hour instead of one per call. `known_cost` sums known costs
-- only; `costed_calls` counts them (a model without a price has a NULL cost, not 0). Kept 400 days.
CREATE TABLE IF NOT EXISTS usage_1h
(
    project             LowCardinality(String),
    hour                DateTime CODEC(Delta(4), ZSTD(1)),
    user_id             String CODEC(ZSTD(1)),
    session_id          String CODEC(ZSTD(1)),
    service_name        LowCardinality(String),
    environment         LowCardinality(String),
    provider            LowCardinality(String),
    model               LowCardinality(String),
    calls               SimpleAggregateFunction(sum, UInt64),
    input_tokens        SimpleAggregateFunction(sum, UInt64),
    output_tokens       SimpleAggregateFunction(sum, UInt64),
    total_tokens        SimpleAggregateFunction(sum, UInt64),
    cached_tokens       SimpleAggregateFunction(sum, UInt64),
    known_cost          SimpleAggregateFunction(sum, Float64),
    costed_calls        SimpleAggregateFunction(sum, UInt64),
    first_call          SimpleAggregateFunction(min, DateTime64(9)),
    last_call           SimpleAggregateFunction(max, DateTime64(9))
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (project, hour, user_id, session_id, service_name, environment, provider, model)
TTL hour + INTERVAL 400 DAY
SETTINGS index_granularity = 8192;

CREATE MATERIALIZED VIEW IF NOT EXISTS usage_1h_mv TO usage_1h AS
SELECT
    s.project AS project,
    toStartOfHour(s.start_time) AS hour,
    s.user_id AS user_id,
    s.session_id AS session_id,
    s.service_name AS service_name,
    s.environment AS environment,
    s.provider AS provider,
    if(s.request_model = '', s.response_model, s.request_model) AS model,
    count() AS calls,
    sum(ifNull(s.input_tokens, 0)) AS input_tokens,
    sum(ifNull(s.output_tokens, 0)) AS output_tokens,
    sum(coalesce(s.total_tokens, ifNull(s.input_tokens, 0) + ifNull(s.output_tokens, 0))) AS total_tokens,
    sum(ifNull(s.cached_tokens, 0)) AS cached_tokens,
    sum(ifNull(s.total_cost, 0)) AS known_cost,
    countIf(s.total_cost IS NOT NULL) AS costed_calls,
    min(s.start_time) AS first_call,
    max(s.start_time) AS last_call
FROM spans AS s
WHERE s.observation_type IN ('llm', 'embedding')
GROUP BY project, hour, user_id, session_id, service_name, environment, provider, model;
