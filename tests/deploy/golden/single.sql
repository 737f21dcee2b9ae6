-- spanlens-collector migrate --print: topology single, cluster 'spanlens', database spanlens

-- bookkeeping
CREATE DATABASE IF NOT EXISTS spanlens;

CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32, name String, checksum String, applied_at DateTime64(3) DEFAULT now64(3)) ENGINE = MergeTree ORDER BY version;

-- 0001_spans.sql
CREATE TABLE IF NOT EXISTS spans
(
    project                 LowCardinality(String) CODEC(ZSTD(1)),
    start_time              DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    duration_ns             UInt64 CODEC(T64, ZSTD(1)),
    trace_id                String CODEC(ZSTD(1)),
    span_id                 String CODEC(ZSTD(1)),
    parent_span_id          String CODEC(ZSTD(1)),
    trace_state             String CODEC(ZSTD(1)),
    name                    LowCardinality(String) CODEC(ZSTD(1)),
    kind                    LowCardinality(String) CODEC(ZSTD(1)),
    service_name            LowCardinality(String) CODEC(ZSTD(1)),
    scope_name              LowCardinality(String) CODEC(ZSTD(1)),
    scope_version           LowCardinality(String) CODEC(ZSTD(1)),
    environment             LowCardinality(String) CODEC(ZSTD(1)),
    release                 LowCardinality(String) CODEC(ZSTD(1)),
    status_code             LowCardinality(String) CODEC(ZSTD(1)),
    status_message          String CODEC(ZSTD(1)),
    error_type              LowCardinality(String) CODEC(ZSTD(1)),
    observation_type        LowCardinality(String) CODEC(ZSTD(1)),
    operation               LowCardinality(String) CODEC(ZSTD(1)),
    provider                LowCardinality(String) CODEC(ZSTD(1)),
    request_model           LowCardinality(String) CODEC(ZSTD(1)),
    response_model          LowCardinality(String) CODEC(ZSTD(1)),
    input_tokens            Nullable(UInt64) CODEC(ZSTD(1)),
    output_tokens           Nullable(UInt64) CODEC(ZSTD(1)),
    total_tokens            Nullable(UInt64) CODEC(ZSTD(1)),
    cached_tokens           Nullable(UInt64) CODEC(ZSTD(1)),
    reasoning_tokens        Nullable(UInt64) CODEC(ZSTD(1)),
    input_cost              Nullable(Float64) CODEC(ZSTD(1)),
    output_cost             Nullable(Float64) CODEC(ZSTD(1)),
    total_cost              Nullable(Float64) CODEC(ZSTD(1)),
    time_to_first_token_ns  Nullable(UInt64) CODEC(ZSTD(1)),
    is_streaming            Nullable(Bool) CODEC(ZSTD(1)),
    finish_reasons          Array(LowCardinality(String)) CODEC(ZSTD(1)),
    response_id             String CODEC(ZSTD(1)),
    temperature             Nullable(Float64) CODEC(ZSTD(1)),
    max_tokens              Nullable(UInt64) CODEC(ZSTD(1)),
    top_p                   Nullable(Float64) CODEC(ZSTD(1)),
    input                   String CODEC(ZSTD(3)),
    output                  String CODEC(ZSTD(3)),
    session_id              String CODEC(ZSTD(1)),
    user_id                 String CODEC(ZSTD(1)),
    prompt_name             LowCardinality(String) CODEC(ZSTD(1)),
    prompt_version          LowCardinality(String) CODEC(ZSTD(1)),
    tags                    Array(LowCardinality(String)) CODEC(ZSTD(1)),
    metadata                Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    span_attributes         Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    resource_attributes     Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    events_time             Array(DateTime64(9)) CODEC(ZSTD(1)),
    events_name             Array(LowCardinality(String)) CODEC(ZSTD(1)),
    events_attributes       Array(Map(LowCardinality(String), String)) CODEC(ZSTD(1)),
    links_trace_id          Array(String) CODEC(ZSTD(1)),
    links_span_id           Array(String) CODEC(ZSTD(1)),
    links_trace_state       Array(String) CODEC(ZSTD(1)),
    links_attributes        Array(Map(LowCardinality(String), String)) CODEC(ZSTD(1)),
    input_length            UInt32 MATERIALIZED lengthUTF8(input),
    output_length           UInt32 MATERIALIZED lengthUTF8(output),
    input_preview           String MATERIALIZED substringUTF8(input, 1, 256) CODEC(ZSTD(1)),
    output_preview          String MATERIALIZED substringUTF8(output, 1, 256) CODEC(ZSTD(1)),
    ingested_at             DateTime64(3) MATERIALIZED now64(3) CODEC(Delta(8), ZSTD(1)),

    INDEX idx_trace_id trace_id TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_session_id session_id TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_user_id user_id TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_keys mapKeys(span_attributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_values mapValues(span_attributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_duration duration_ns TYPE minmax GRANULARITY 1
)
ENGINE = MergeTree
PARTITION BY toDate(start_time)
ORDER BY (project, toStartOfHour(start_time), cityHash64(trace_id), start_time)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, non_replicated_deduplication_window = 10000;

-- 0002_scores.sql
CREATE TABLE IF NOT EXISTS scores
(
    project         LowCardinality(String) CODEC(ZSTD(1)),
    score_id        String CODEC(ZSTD(1)),
    trace_id        String CODEC(ZSTD(1)),
    span_id         String CODEC(ZSTD(1)),
    session_id      String CODEC(ZSTD(1)),
    name            LowCardinality(String) CODEC(ZSTD(1)),
    data_type       LowCardinality(String) CODEC(ZSTD(1)),
    value           Nullable(Float64) CODEC(ZSTD(1)),
    string_value    String CODEC(ZSTD(1)),
    comment         String CODEC(ZSTD(3)),
    source          LowCardinality(String) CODEC(ZSTD(1)),
    timestamp       DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    metadata        Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    updated_at      DateTime64(9) CODEC(Delta(8), ZSTD(1)),

    INDEX idx_trace_id trace_id TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_name name TYPE set(100) GRANULARITY 1
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (project, score_id)
SETTINGS index_granularity = 8192;

-- 0003_otel_traces.sql
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

-- 0004_rollup_1m.sql
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

-- 0005_rollup_1h.sql
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

-- 0006_usage_1h.sql
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

-- 0007_llm_calls.sql
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

-- 0010_logs.sql
CREATE TABLE IF NOT EXISTS logs
(
    project              LowCardinality(String) CODEC(ZSTD(1)),
    timestamp            DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    observed_timestamp   DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    trace_id             String CODEC(ZSTD(1)),
    span_id              String CODEC(ZSTD(1)),
    trace_flags          UInt8 CODEC(T64, ZSTD(1)),
    severity_text        LowCardinality(String) CODEC(ZSTD(1)),
    severity_number      UInt8 CODEC(T64, ZSTD(1)),
    service_name         LowCardinality(String) CODEC(ZSTD(1)),
    event_name           LowCardinality(String) CODEC(ZSTD(1)),
    body                 String CODEC(ZSTD(3)),
    resource_attributes  Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    scope_name           LowCardinality(String) CODEC(ZSTD(1)),
    scope_version        LowCardinality(String) CODEC(ZSTD(1)),
    scope_attributes     Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    log_attributes       Map(LowCardinality(String), String) CODEC(ZSTD(3)),
    ingested_at          DateTime64(3) MATERIALIZED now64(3) CODEC(Delta(8), ZSTD(1)),

    INDEX idx_trace_id trace_id TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_event_name event_name TYPE set(256) GRANULARITY 4,
    INDEX idx_log_attr_keys mapKeys(log_attributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_keys mapKeys(resource_attributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_severity severity_number TYPE minmax GRANULARITY 1,
    INDEX idx_body body TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8
)
ENGINE = MergeTree
PARTITION BY toDate(timestamp)
ORDER BY (project, service_name, toStartOfHour(timestamp), timestamp)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, non_replicated_deduplication_window = 10000;

CREATE VIEW IF NOT EXISTS otel_logs AS
SELECT
    timestamp AS Timestamp,
    toDateTime(timestamp) AS TimestampTime,
    trace_id AS TraceId,
    span_id AS SpanId,
    trace_flags AS TraceFlags,
    severity_text AS SeverityText,
    severity_number AS SeverityNumber,
    service_name AS ServiceName,
    body AS Body,
    resource_attributes AS ResourceAttributes,
    scope_name AS ScopeName,
    scope_version AS ScopeVersion,
    scope_attributes AS ScopeAttributes,
    log_attributes AS LogAttributes,
    event_name AS EventName,
    project AS Project
FROM logs;

-- 0020_metrics.sql
CREATE TABLE IF NOT EXISTS otel_metrics_gauge
(
    Project                LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttributes     Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ResourceSchemaUrl      String CODEC(ZSTD(1)),
    ScopeName              String CODEC(ZSTD(1)),
    ScopeVersion           String CODEC(ZSTD(1)),
    ScopeAttributes        Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeDroppedAttrCount  UInt32 CODEC(ZSTD(1)),
    ScopeSchemaUrl         String CODEC(ZSTD(1)),
    ServiceName            LowCardinality(String) CODEC(ZSTD(1)),
    MetricName             LowCardinality(String) CODEC(ZSTD(1)),
    MetricDescription      String CODEC(ZSTD(1)),
    MetricUnit             LowCardinality(String) CODEC(ZSTD(1)),
    Attributes             Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    StartTimeUnix          DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TimeUnix               DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    Flags                  UInt32 CODEC(ZSTD(1)),
    Value                  Float64 CODEC(ZSTD(1)),
    Exemplars Nested (
        FilteredAttributes Map(LowCardinality(String), String),
        TimeUnix DateTime64(9),
        Value Float64,
        SpanId String,
        TraceId String
    ) CODEC(ZSTD(1)),
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_key mapKeys(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_value mapValues(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1
)
ENGINE = MergeTree
PARTITION BY toDate(TimeUnix)
ORDER BY (Project, ServiceName, MetricName, toStartOfHour(TimeUnix), cityHash64(Attributes), TimeUnix)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS otel_metrics_sum
(
    Project                LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttributes     Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ResourceSchemaUrl      String CODEC(ZSTD(1)),
    ScopeName              String CODEC(ZSTD(1)),
    ScopeVersion           String CODEC(ZSTD(1)),
    ScopeAttributes        Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeDroppedAttrCount  UInt32 CODEC(ZSTD(1)),
    ScopeSchemaUrl         String CODEC(ZSTD(1)),
    ServiceName            LowCardinality(String) CODEC(ZSTD(1)),
    MetricName             LowCardinality(String) CODEC(ZSTD(1)),
    MetricDescription      String CODEC(ZSTD(1)),
    MetricUnit             LowCardinality(String) CODEC(ZSTD(1)),
    Attributes             Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    StartTimeUnix          DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TimeUnix               DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    Flags                  UInt32 CODEC(ZSTD(1)),
    Value                  Float64 CODEC(ZSTD(1)),
    AggregationTemporality Int32 CODEC(ZSTD(1)),
    IsMonotonic            Bool CODEC(ZSTD(1)),
    Exemplars Nested (
        FilteredAttributes Map(LowCardinality(String), String),
        TimeUnix DateTime64(9),
        Value Float64,
        SpanId String,
        TraceId String
    ) CODEC(ZSTD(1)),
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_key mapKeys(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_value mapValues(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1
)
ENGINE = MergeTree
PARTITION BY toDate(TimeUnix)
ORDER BY (Project, ServiceName, MetricName, toStartOfHour(TimeUnix), cityHash64(Attributes), TimeUnix)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS otel_metrics_histogram
(
    Project                LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttributes     Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ResourceSchemaUrl      String CODEC(ZSTD(1)),
    ScopeName              String CODEC(ZSTD(1)),
    ScopeVersion           String CODEC(ZSTD(1)),
    ScopeAttributes        Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeDroppedAttrCount  UInt32 CODEC(ZSTD(1)),
    ScopeSchemaUrl         String CODEC(ZSTD(1)),
    ServiceName            LowCardinality(String) CODEC(ZSTD(1)),
    MetricName             LowCardinality(String) CODEC(ZSTD(1)),
    MetricDescription      String CODEC(ZSTD(1)),
    MetricUnit             LowCardinality(String) CODEC(ZSTD(1)),
    Attributes             Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    StartTimeUnix          DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TimeUnix               DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    Flags                  UInt32 CODEC(ZSTD(1)),
    Count                  UInt64 CODEC(Delta(8), ZSTD(1)),
    Sum                    Float64 CODEC(ZSTD(1)),
    BucketCounts           Array(UInt64) CODEC(ZSTD(1)),
    ExplicitBounds         Array(Float64) CODEC(ZSTD(1)),
    Min                    Float64 CODEC(ZSTD(1)),
    Max                    Float64 CODEC(ZSTD(1)),
    AggregationTemporality Int32 CODEC(ZSTD(1)),
    Exemplars Nested (
        FilteredAttributes Map(LowCardinality(String), String),
        TimeUnix DateTime64(9),
        Value Float64,
        SpanId String,
        TraceId String
    ) CODEC(ZSTD(1)),
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_key mapKeys(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_value mapValues(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1
)
ENGINE = MergeTree
PARTITION BY toDate(TimeUnix)
ORDER BY (Project, ServiceName, MetricName, toStartOfHour(TimeUnix), cityHash64(Attributes), TimeUnix)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS otel_metrics_exponential_histogram
(
    Project                LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttributes     Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ResourceSchemaUrl      String CODEC(ZSTD(1)),
    ScopeName              String CODEC(ZSTD(1)),
    ScopeVersion           String CODEC(ZSTD(1)),
    ScopeAttributes        Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeDroppedAttrCount  UInt32 CODEC(ZSTD(1)),
    ScopeSchemaUrl         String CODEC(ZSTD(1)),
    ServiceName            LowCardinality(String) CODEC(ZSTD(1)),
    MetricName             LowCardinality(String) CODEC(ZSTD(1)),
    MetricDescription      String CODEC(ZSTD(1)),
    MetricUnit             LowCardinality(String) CODEC(ZSTD(1)),
    Attributes             Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    StartTimeUnix          DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TimeUnix               DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    Flags                  UInt32 CODEC(ZSTD(1)),
    Count                  UInt64 CODEC(Delta(8), ZSTD(1)),
    Sum                    Float64 CODEC(ZSTD(1)),
    Scale                  Int32 CODEC(ZSTD(1)),
    ZeroCount              UInt64 CODEC(ZSTD(1)),
    PositiveOffset         Int32 CODEC(ZSTD(1)),
    PositiveBucketCounts   Array(UInt64) CODEC(ZSTD(1)),
    NegativeOffset         Int32 CODEC(ZSTD(1)),
    NegativeBucketCounts   Array(UInt64) CODEC(ZSTD(1)),
    Min                    Float64 CODEC(ZSTD(1)),
    Max                    Float64 CODEC(ZSTD(1)),
    AggregationTemporality Int32 CODEC(ZSTD(1)),
    Exemplars Nested (
        FilteredAttributes Map(LowCardinality(String), String),
        TimeUnix DateTime64(9),
        Value Float64,
        SpanId String,
        TraceId String
    ) CODEC(ZSTD(1)),
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_key mapKeys(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_value mapValues(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1
)
ENGINE = MergeTree
PARTITION BY toDate(TimeUnix)
ORDER BY (Project, ServiceName, MetricName, toStartOfHour(TimeUnix), cityHash64(Attributes), TimeUnix)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS otel_metrics_summary
(
    Project                LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttributes     Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ResourceSchemaUrl      String CODEC(ZSTD(1)),
    ScopeName              String CODEC(ZSTD(1)),
    ScopeVersion           String CODEC(ZSTD(1)),
    ScopeAttributes        Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeDroppedAttrCount  UInt32 CODEC(ZSTD(1)),
    ScopeSchemaUrl         String CODEC(ZSTD(1)),
    ServiceName            LowCardinality(String) CODEC(ZSTD(1)),
    MetricName             LowCardinality(String) CODEC(ZSTD(1)),
    MetricDescription      String CODEC(ZSTD(1)),
    MetricUnit             LowCardinality(String) CODEC(ZSTD(1)),
    Attributes             Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    StartTimeUnix          DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TimeUnix               DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    Flags                  UInt32 CODEC(ZSTD(1)),
    Count                  UInt64 CODEC(Delta(8), ZSTD(1)),
    Sum                    Float64 CODEC(ZSTD(1)),
    ValueAtQuantiles Nested (
        Quantile Float64,
        Value Float64
    ) CODEC(ZSTD(1)),
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_key mapKeys(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_value mapValues(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1
)
ENGINE = MergeTree
PARTITION BY toDate(TimeUnix)
ORDER BY (Project, ServiceName, MetricName, toStartOfHour(TimeUnix), cityHash64(Attributes), TimeUnix)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, non_replicated_deduplication_window = 10000;

-- 0021_spans_cache_creation.sql
ALTER TABLE spans ADD COLUMN IF NOT EXISTS cache_creation_tokens Nullable(UInt64) CODEC(ZSTD(1)) AFTER cached_tokens;

-- 0022_spans_preview_without_blobs.sql
ALTER TABLE spans MODIFY COLUMN input_preview String MATERIALIZED substringUTF8(replaceRegexpAll(input, '[A-Za-z0-9+/=_-]{200,}', '…'), 1, 256) CODEC(ZSTD(1));

ALTER TABLE spans MODIFY COLUMN output_preview String MATERIALIZED substringUTF8(replaceRegexpAll(output, '[A-Za-z0-9+/=_-]{200,}', '…'), 1, 256) CODEC(ZSTD(1));

-- 0040_rollups_cache_creation.sql
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

-- 0041_spans_compact_insert_parts.sql
ALTER TABLE spans MODIFY SETTING min_bytes_for_wide_part = 67108864;

