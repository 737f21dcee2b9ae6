-- Cache-write input tokens (spans.cache_creation_tokens, 0021) in the rollups, next to the cache
-- reads: spans_1m and its hourly cascade spans_1h, and usage_1h. Dashboards split input tokens
-- into uncached / cache read / cache write from these. The columns are added first, then each
-- view's query is replaced in place (MODIFY QUERY: no moment without a view, so no insert is
-- missed); the hourly view before the per-minute one, so spans_1h never lacks a column that
-- spans_1m's blocks carry. Rollup rows written before this migration hold 0 cache-write tokens.
ALTER TABLE spans_1m ADD COLUMN IF NOT EXISTS cache_creation_tokens SimpleAggregateFunction(sum, UInt64) AFTER cached_tokens;
ALTER TABLE spans_1h ADD COLUMN IF NOT EXISTS cache_creation_tokens SimpleAggregateFunction(sum, UInt64) AFTER cached_tokens;
ALTER TABLE usage_1h ADD COLUMN IF NOT EXISTS cache_creation_tokens SimpleAggregateFunction(sum, UInt64) AFTER cached_tokens;

ALTER TABLE spans_1h_mv MODIFY QUERY
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
    sum(m.cache_creation_tokens) AS cache_creation_tokens,
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

ALTER TABLE spans_1m_mv MODIFY QUERY
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
    sum(ifNull(s.cache_creation_tokens, 0)) AS cache_creation_tokens,
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

ALTER TABLE usage_1h_mv MODIFY QUERY
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
    sum(ifNull(s.cache_creation_tokens, 0)) AS cache_creation_tokens,
    sum(ifNull(s.total_cost, 0)) AS known_cost,
    countIf(s.total_cost IS NOT NULL) AS costed_calls,
    min(s.start_time) AS first_call,
    max(s.start_time) AS last_call
FROM spans AS s
WHERE s.observation_type IN ('llm', 'embedding')
GROUP BY project, hour, user_id, session_id, service_name, environment, provider, model;
