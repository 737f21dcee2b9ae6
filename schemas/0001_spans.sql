-- One row per span. Spans are immutable, so the table is append-only (no FINAL, no read-time
-- dedup). Sort key: tenant, coarse time bucket, hashed trace id — per-project dashboards prune on
-- the first two, trace look-ups on the third (plus the trace_id bloom filter).
-- Retention: `migrate` sets the TTL from config (clickhouse.retention_days; default none, like the
-- OTel ClickHouse exporter, so replayed or back-dated spans are never dropped on arrival).
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
    -- Derived at insert time, never sent by the collector: keep long text out of hot queries.
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
