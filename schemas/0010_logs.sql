-- One row per OTLP log record, as the OTel ClickHouse exporter's otel_logs (plus the project).
-- Every record is kept here, including GenAI content events (gen_ai.client.inference.operation
-- .details, gen_ai.*.message, gen_ai.choice) whose prompt/completion the collector also joins
-- into their span's row; a record whose span never arrived is still queryable here by trace id.
-- `timestamp` is the record's time, else its observed time (GenAI SDKs often send only the
-- latter). Sort key: tenant, service, coarse time bucket — per-service log views and time-range
-- scans prune on it; trace look-ups use the trace_id bloom filter. Retention: `migrate` sets the
-- TTL from config (clickhouse.retention_days), as for spans.
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
    -- Derived at insert time, never sent by the collector.
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

-- OpenTelemetry-exporter-compatible names over `logs`, so the Grafana ClickHouse plugin's OTel
-- logs mode (table `otel_logs`) shows them unchanged. A plain view: nothing is stored twice.
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
