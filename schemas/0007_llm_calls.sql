-- A narrow copy of every LLM call's identity and attributes (hashed trace / span ids, start time,
-- service, environment, provider, model, prompt), fed by a materialized view on spans. Scores
-- point at a trace or a span; the quality dashboard joins them to these rows to break scores
-- down by model and prompt version, reading a few fixed-width columns per call instead of the
-- spans table's string ids. Kept 400 days, so scores stay attributable after spans expire.
CREATE TABLE IF NOT EXISTS llm_calls
(
    project             LowCardinality(String),
    start_time          DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    trace_hash          UInt64 CODEC(ZSTD(1)),
    span_hash           UInt64 CODEC(ZSTD(1)),
    service_name        LowCardinality(String),
    environment         LowCardinality(String),
    provider            LowCardinality(String),
    model               LowCardinality(String),
    prompt_name         LowCardinality(String),
    prompt_version      LowCardinality(String)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(start_time)
ORDER BY (project, toStartOfDay(start_time), trace_hash, start_time)
TTL toDateTime(start_time) + INTERVAL 400 DAY
SETTINGS index_granularity = 8192;

CREATE MATERIALIZED VIEW IF NOT EXISTS llm_calls_mv TO llm_calls AS
SELECT
    s.project AS project,
    s.start_time AS start_time,
    cityHash64(s.trace_id) AS trace_hash,
    cityHash64(s.span_id) AS span_hash,
    s.service_name AS service_name,
    s.environment AS environment,
    s.provider AS provider,
    if(s.request_model = '', s.response_model, s.request_model) AS model,
    s.prompt_name AS prompt_name,
    s.prompt_version AS prompt_version
FROM spans AS s
WHERE s.observation_type = 'llm';
