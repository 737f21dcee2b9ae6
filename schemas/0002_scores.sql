-- Scores (evals, human feedback, user ratings). Mutable: a re-sent score with the same id
-- replaces the old one (ReplacingMergeTree on updated_at; read with FINAL or argMax).
-- Not partitioned by time, so a replacement always lands in the same partition as the original.
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
