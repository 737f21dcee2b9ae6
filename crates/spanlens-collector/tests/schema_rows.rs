//! The row structs and schemas/*.sql are one model: same column names, order and types.
//! Checked against the live ClickHouse: DESCRIBE for names/order, and a round trip of fully
//! populated rows (our RowBinary encoder in, the clickhouse crate's validating reader out).

mod support;

use bytes::Bytes;
use clickhouse::Row;
use spanlens_collector::config::ClickHouseConfig;
use spanlens_collector::storage::clickhouse::{ClickHouse, server_client};
use spanlens_collector::storage::migrate::{MIGRATIONS, migrate};
use spanlens_collector::storage::row::{
    Exemplars, ExponentialHistogramRow, GaugeRow, HistogramRow, LogRow, MetricHead, PointHead,
    ScoreRow, SpanRow, SumRow, SummaryRow, Table,
};
use spanlens_collector::storage::rowbinary::encode_row;

fn config(prefix: &str) -> ClickHouseConfig {
    ClickHouseConfig {
        url: support::local::clickhouse_url(),
        database: support::unique_database(prefix),
        ..ClickHouseConfig::default()
    }
}

/// Inserts a RowBinary `body` as the writer does: the body prepared once, then sent.
async fn insert(cfg: &ClickHouseConfig, table: &str, columns: &[&str], body: Vec<u8>, token: &str) {
    let ch = ClickHouse::new(cfg).unwrap();
    let body = ch.insert_body(Bytes::from(body));
    ch.insert_rowbinary(table, columns, &body, token)
        .await
        .unwrap();
}

async fn insertable_columns(ch: &clickhouse::Client, table: &str) -> Vec<String> {
    ch.query("SELECT name FROM system.columns WHERE database = currentDatabase() AND table = ? AND default_kind NOT IN ('MATERIALIZED', 'ALIAS') ORDER BY position")
        .bind(table)
        .fetch_all()
        .await
        .unwrap()
}

fn full_span() -> SpanRow {
    let map = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
    SpanRow {
        project: "p1".into(),
        start_time: 1_764_000_000_123_456_789,
        duration_ns: 1_500_000_000,
        trace_id: "0af7651916cd43dd8448eb211c80319c".into(),
        span_id: "b7ad6b7169203331".into(),
        parent_span_id: "00f067aa0ba902b7".into(),
        trace_state: "k=v".into(),
        name: "chat gpt-4o".into(),
        kind: "Client".into(),
        service_name: "svc".into(),
        scope_name: "scope".into(),
        scope_version: "1.0".into(),
        environment: "prod".into(),
        release: "v1".into(),
        status_code: "Error".into(),
        status_message: "boom".into(),
        error_type: "TimeoutError".into(),
        observation_type: "llm".into(),
        operation: "chat".into(),
        provider: "openai".into(),
        request_model: "gpt-4o".into(),
        response_model: "gpt-4o-2024-08-06".into(),
        input_tokens: Some(12),
        output_tokens: Some(34),
        total_tokens: Some(46),
        cached_tokens: Some(5),
        cache_creation_tokens: Some(3),
        reasoning_tokens: None,
        input_cost: Some(0.25),
        output_cost: Some(0.5),
        total_cost: Some(0.75),
        time_to_first_token_ns: Some(250_000_000),
        is_streaming: Some(true),
        finish_reasons: vec!["stop".into()],
        response_id: "chatcmpl-1".into(),
        temperature: Some(0.7),
        max_tokens: Some(256),
        top_p: None,
        input: r#"[{"role":"user","content":"héllo"}]"#.into(),
        output: r#"[{"role":"assistant","content":"hi"}]"#.into(),
        session_id: "s1".into(),
        user_id: "u1".into(),
        prompt_name: "greet".into(),
        prompt_version: "3".into(),
        tags: vec!["a".into(), "b".into()],
        metadata: map("m", "1"),
        span_attributes: map("http.method", "POST"),
        resource_attributes: map("host.name", "h").into(),
        events_time: vec![1_764_000_000_200_000_000],
        events_name: vec!["exception".into()],
        events_attributes: vec![map("exception.type", "TimeoutError")],
        links_trace_id: vec!["1af7651916cd43dd8448eb211c80319c".into()],
        links_span_id: vec!["c7ad6b7169203331".into()],
        links_trace_state: vec![String::new()],
        links_attributes: vec![map("l", "x")],
    }
}

#[tokio::test]
async fn rows_match_schema_and_round_trip() {
    let cfg = config("schema");
    migrate(&cfg).await.unwrap();
    let ch = server_client(&cfg).unwrap().with_database(&cfg.database);

    assert_eq!(
        insertable_columns(&ch, "spans").await,
        SpanRow::COLUMN_NAMES
    );
    assert_eq!(
        insertable_columns(&ch, "scores").await,
        ScoreRow::COLUMN_NAMES
    );

    let rows = vec![
        full_span(),
        SpanRow {
            span_id: "b7ad6b7169203332".into(),
            ..SpanRow::default()
        },
    ];
    let mut body = Vec::new();
    for row in &rows {
        encode_row(&mut body, row).unwrap();
    }
    insert(&cfg, "spans", SpanRow::COLUMN_NAMES, body, "t1").await;
    let back: Vec<SpanRow> = ch
        .clone()
        .with_validation(true)
        .query("SELECT ?fields FROM spans ORDER BY span_id")
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(back, rows);

    let (len, preview): (u32, String) = ch
        .query("SELECT input_length, input_preview FROM spans WHERE span_id = 'b7ad6b7169203331'")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(len, 35); // characters, not bytes
    assert_eq!(preview, full_span().input);

    let score = ScoreRow {
        project: "p1".into(),
        score_id: "sc1".into(),
        trace_id: "0af7651916cd43dd8448eb211c80319c".into(),
        name: "helpfulness".into(),
        data_type: "NUMERIC".into(),
        value: Some(0.9),
        comment: "good".into(),
        source: "API".into(),
        timestamp: 1_764_000_000_000_000_000,
        metadata: vec![("k".into(), "v".into())],
        updated_at: 1_764_000_000_000_000_001,
        ..ScoreRow::default()
    };
    let mut body = Vec::new();
    encode_row(&mut body, &score).unwrap();
    insert(&cfg, "scores", ScoreRow::COLUMN_NAMES, body, "s1").await;
    let back: Vec<ScoreRow> = ch
        .clone()
        .with_validation(true)
        .query("SELECT ?fields FROM scores")
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(back, vec![score]);

    assert_eq!(insertable_columns(&ch, "logs").await, LogRow::COLUMN_NAMES);
    let log = LogRow {
        project: "p1".into(),
        timestamp: 1_764_000_000_123_456_789,
        observed_timestamp: 1_764_000_000_123_456_999,
        trace_id: "0af7651916cd43dd8448eb211c80319c".into(),
        span_id: "b7ad6b7169203331".into(),
        trace_flags: 1,
        severity_text: "INFO".into(),
        severity_number: 9,
        service_name: "svc".into(),
        event_name: "gen_ai.client.inference.operation.details".into(),
        body: r#"{"content":"héllo"}"#.into(),
        resource_attributes: vec![("service.name".into(), "svc".into())].into(),
        scope_name: "scope".into(),
        scope_version: "1.0".into(),
        scope_attributes: vec![("s".into(), "1".into())],
        log_attributes: vec![
            ("gen_ai.input.messages".into(), "[]".into()),
            ("k".into(), "v".into()),
        ],
    };
    let logs = vec![
        log.clone(),
        LogRow {
            span_id: "b7ad6b7169203332".into(),
            ..LogRow::default()
        },
    ];
    let mut body = Vec::new();
    for row in &logs {
        encode_row(&mut body, row).unwrap();
    }
    insert(&cfg, "logs", LogRow::COLUMN_NAMES, body, "l1").await;
    let back: Vec<LogRow> = ch
        .clone()
        .with_validation(true)
        .query("SELECT ?fields FROM logs ORDER BY span_id")
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(back, logs);
    // The exporter-compatible view reads the same record.
    let (body, event): (String, String) = ch
        .query("SELECT Body, EventName FROM otel_logs WHERE SpanId = 'b7ad6b7169203331'")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!((body, event), (log.body, log.event_name));

    ch.query(&format!("DROP DATABASE {}", cfg.database))
        .execute()
        .await
        .unwrap();
}

#[tokio::test]
async fn migrate_is_idempotent_and_sets_retention() {
    let mut cfg = config("migrate");
    cfg.retention_days = 7;
    let first = migrate(&cfg).await.unwrap();
    assert_eq!(first.applied.len(), MIGRATIONS.len());
    let second = migrate(&cfg).await.unwrap();
    assert!(second.applied.is_empty());
    assert_eq!(second.already_applied, MIGRATIONS.len());

    let ch = server_client(&cfg).unwrap().with_database(&cfg.database);
    let recorded: u64 = ch
        .query("SELECT count() FROM schema_migrations")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(recorded, MIGRATIONS.len() as u64);
    let create: String = ch
        .query("SELECT create_table_query FROM system.tables WHERE database = currentDatabase() AND name = 'spans'")
        .fetch_one()
        .await
        .unwrap();
    assert!(create.contains("toIntervalDay(7)"), "{create}");
    let create_logs: String = ch
        .query("SELECT create_table_query FROM system.tables WHERE database = currentDatabase() AND name = 'logs'")
        .fetch_one()
        .await
        .unwrap();
    assert!(
        create_logs.contains("TTL toDateTime(timestamp) + toIntervalDay(7)"),
        "{create_logs}"
    );

    cfg.retention_days = 0;
    migrate(&cfg).await.unwrap();
    let create: String = ch
        .query("SELECT create_table_query FROM system.tables WHERE database = currentDatabase() AND name = 'spans'")
        .fetch_one()
        .await
        .unwrap();
    assert!(!create.contains(" TTL "), "{create}");
    let create_logs: String = ch
        .query("SELECT create_table_query FROM system.tables WHERE database = currentDatabase() AND name = 'logs'")
        .fetch_one()
        .await
        .unwrap();
    assert!(!create_logs.contains(" TTL "), "{create_logs}");
    ch.query(&format!("DROP DATABASE {}", cfg.database))
        .execute()
        .await
        .unwrap();
}

/// The writer's retry: one prepared body sent again with the same token is stored once, its
/// row exactly as encoded, whether the body is LZ4-compressed (`Content-Encoding: lz4`) or
/// plain RowBinary.
#[tokio::test]
async fn a_retried_batch_is_stored_once() {
    for compression in [true, false] {
        let cfg = ClickHouseConfig {
            compression,
            ..config("dedup")
        };
        migrate(&cfg).await.unwrap();
        let mut rowbinary = Vec::new();
        encode_row(&mut rowbinary, &full_span()).unwrap();
        let ch = ClickHouse::new(&cfg).unwrap();
        let body = ch.insert_body(Bytes::from(rowbinary));
        for token in ["same-token", "same-token", "other-token"] {
            ch.insert_rowbinary("spans", SpanRow::COLUMN_NAMES, &body, token)
                .await
                .unwrap();
        }
        let back: Vec<SpanRow> = ch
            .client()
            .clone()
            .with_validation(true)
            .query("SELECT ?fields FROM spans")
            .fetch_all()
            .await
            .unwrap();
        assert_eq!(
            back,
            [full_span(), full_span()],
            "compression {compression}"
        );
        ch.client()
            .query(&format!("DROP DATABASE {}", cfg.database))
            .execute()
            .await
            .unwrap();
    }
}

/// Inserts `rows` as the pipeline does (RowBinary, the table's columns) and reads them back
/// through the validating reader.
async fn round_trip<R>(cfg: &ClickHouseConfig, table: Table, rows: Vec<R>)
where
    R: clickhouse::RowOwned + clickhouse::RowRead + serde::Serialize + PartialEq + std::fmt::Debug,
{
    let ch = server_client(cfg).unwrap().with_database(&cfg.database);
    assert_eq!(
        insertable_columns(&ch, table.name()).await,
        table.columns(),
        "{}",
        table.name()
    );
    let mut body = Vec::new();
    for row in &rows {
        encode_row(&mut body, row).unwrap();
    }
    insert(cfg, table.name(), table.columns(), body, table.name()).await;
    let back: Vec<R> = ch
        .with_validation(true)
        .query(&format!(
            "SELECT ?fields FROM {} ORDER BY TimeUnix",
            table.name()
        ))
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(back, rows, "{}", table.name());
}

#[tokio::test]
async fn metric_rows_match_schema_and_round_trip() {
    let cfg = config("metric_rows");
    migrate(&cfg).await.unwrap();
    let map = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
    let head = MetricHead {
        project: "p1".into(),
        resource_attributes: map("service.name", "svc"),
        resource_schema_url: "https://opentelemetry.io/schemas/1.26.0".into(),
        scope_name: "openlit.otel.metrics".into(),
        scope_version: "0.1.0".into(),
        scope_attributes: map("s", "1"),
        scope_dropped_attr_count: 2,
        scope_schema_url: "https://opentelemetry.io/schemas/1.11.0".into(),
        service_name: "svc".into(),
        metric_name: "gen_ai.client.token.usage".into(),
        metric_description: "tokens".into(),
        metric_unit: "{token}".into(),
    };
    let point = |t: i64| PointHead {
        attributes: map("gen_ai.token.type", "input"),
        start_time_unix: t - 1_000_000_000,
        time_unix: t,
        flags: 1,
    };
    let exemplars = Exemplars {
        filtered_attributes: vec![map("k", "v"), Vec::new()],
        time_unix: vec![1_764_000_000_123_456_789, 1_764_000_000_223_456_789],
        value: vec![6.0, 0.25],
        span_id: vec!["b7ad6b7169203331".into(), String::new()],
        trace_id: vec!["0af7651916cd43dd8448eb211c80319c".into(), String::new()],
    };
    let t0 = 1_764_000_000_999_999_999;

    let mut gauge = GaugeRow::from_heads(&head, point(t0));
    gauge.value = -1.5;
    gauge.set_exemplars(exemplars.clone());
    round_trip(&cfg, Table::MetricsGauge, vec![GaugeRow::default(), gauge]).await;

    let mut sum = SumRow::from_heads(&head, point(t0));
    sum.value = 7.0;
    sum.aggregation_temporality = 1;
    sum.is_monotonic = true;
    sum.set_exemplars(exemplars.clone());
    round_trip(&cfg, Table::MetricsSum, vec![sum]).await;

    let mut hist = HistogramRow::from_heads(&head, point(t0));
    hist.count = 3;
    hist.sum = 1110.0;
    hist.bucket_counts = vec![0, 1, 2];
    hist.explicit_bounds = vec![5.0, 10.0];
    hist.min = 10.0;
    hist.max = 1000.0;
    hist.aggregation_temporality = 2;
    hist.set_exemplars(exemplars.clone());
    round_trip(&cfg, Table::MetricsHistogram, vec![hist]).await;

    let mut exp = ExponentialHistogramRow::from_heads(&head, point(t0));
    exp.count = 4;
    exp.sum = 6.5;
    exp.scale = 5;
    exp.zero_count = 1;
    exp.positive_offset = -33;
    exp.positive_bucket_counts = vec![1, 0, 2];
    exp.negative_offset = 4;
    exp.negative_bucket_counts = vec![3];
    exp.min = -8.0;
    exp.max = 4.0;
    exp.aggregation_temporality = 1;
    exp.set_exemplars(exemplars);
    round_trip(&cfg, Table::MetricsExponentialHistogram, vec![exp]).await;

    let mut summary = SummaryRow::from_heads(&head, point(t0));
    summary.count = 10;
    summary.sum = 12.5;
    summary.quantiles = vec![0.5, 0.99];
    summary.quantile_values = vec![1.0, 3.5];
    round_trip(&cfg, Table::MetricsSummary, vec![summary]).await;

    server_client(&cfg)
        .unwrap()
        .query(&format!("DROP DATABASE {}", cfg.database))
        .execute()
        .await
        .unwrap();
}

/// A multimodal message keeps its inline image in `input`, but the preview shows the text.
#[tokio::test]
async fn previews_leave_out_inline_binary_data() {
    let cfg = config("preview");
    migrate(&cfg).await.unwrap();
    let image = "iVBORw0KGgoAAAANSUhEUgAA".repeat(20); // 480 base64 characters
    let input = format!(
        r#"[{{"role":"user","parts":[{{"type":"blob","mime_type":"image/png","content":"{image}"}},{{"type":"text","content":"What is in the picture?"}}]}}]"#
    );
    let row = SpanRow {
        input: input.clone(),
        ..full_span()
    };
    let mut body = Vec::new();
    encode_row(&mut body, &row).unwrap();
    insert(&cfg, "spans", SpanRow::COLUMN_NAMES, body, "p1").await;
    let ch = server_client(&cfg).unwrap().with_database(&cfg.database);
    let (stored, preview): (String, String) = ch
        .query("SELECT input, input_preview FROM spans")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(stored, input, "the part is kept as sent");
    assert_eq!(
        preview,
        r#"[{"role":"user","parts":[{"type":"blob","mime_type":"image/png","content":"…"},{"type":"text","content":"What is in the picture?"}]}]"#
    );
    ch.query(&format!("DROP DATABASE {}", cfg.database))
        .execute()
        .await
        .unwrap();
}

/// Metric batches deduplicate like span batches: a retried (same-token) insert is stored once.
#[tokio::test]
async fn a_retried_metric_batch_is_stored_once() {
    let cfg = config("metric_dedup");
    migrate(&cfg).await.unwrap();
    let head = MetricHead {
        project: "p1".into(),
        metric_name: "gen_ai.client.token.usage".into(),
        ..MetricHead::default()
    };
    let point = PointHead {
        time_unix: 1_764_000_000_000_000_000,
        ..PointHead::default()
    };
    let mut row = HistogramRow::from_heads(&head, point);
    row.count = 1;
    row.bucket_counts = vec![0, 1];
    row.explicit_bounds = vec![16.0];
    let mut body = Vec::new();
    encode_row(&mut body, &row).unwrap();
    let table = Table::MetricsHistogram;
    let ch = ClickHouse::new(&cfg).unwrap();
    let body = ch.insert_body(Bytes::from(body));
    for token in ["same-token", "same-token", "other-token"] {
        ch.insert_rowbinary(table.name(), table.columns(), &body, token)
            .await
            .unwrap();
    }
    let n: u64 = ch
        .client()
        .query("SELECT count() FROM otel_metrics_histogram")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(n, 2);
    ch.client()
        .query(&format!("DROP DATABASE {}", cfg.database))
        .execute()
        .await
        .unwrap();
}
