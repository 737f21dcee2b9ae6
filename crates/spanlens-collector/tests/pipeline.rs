//! The one ingest path end to end: interleaved spans and log records make one insert per
//! table, not one per run of records; without a spool (`pipeline.spool_dir = ""`) the same
//! path runs over a memory log, drains into ClickHouse on shutdown and answers 429 when full.

mod support;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, any_value::Value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use spanlens_collector::collector::Collector;
use spanlens_collector::config::Config;
use support::{TestCollector, otlp, post};

const PROTOBUF: (&str, &str) = ("content-type", "application/x-protobuf");
const PER_REQUEST: u64 = 10;

/// Request `n` of spans: 10 plain (non-LLM) spans of its own trace.
fn spans(n: u64) -> Vec<u8> {
    let mut trace_id = vec![0x7c; 16];
    trace_id[8..].copy_from_slice(&n.to_be_bytes());
    let spans = (0..PER_REQUEST as u8)
        .map(|i| Span {
            trace_id: trace_id.clone(),
            span_id: vec![0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, i + 1],
            name: "handle order".into(),
            kind: 2,
            start_time_unix_nano: otlp::T0 + n * 1_000_000,
            end_time_unix_nano: otlp::T0 + n * 1_000_000 + 500_000,
            ..Default::default()
        })
        .collect();
    otlp::request(spans).encode_to_vec()
}

/// Request `n` of log records: 10 plain records.
fn logs(n: u64) -> Vec<u8> {
    let records = (0..PER_REQUEST)
        .map(|i| LogRecord {
            time_unix_nano: otlp::T0 + n * 1_000_000 + i,
            severity_number: 9,
            body: Some(AnyValue {
                value: Some(Value::StringValue(format!("order {n} step {i}"))),
            }),
            ..Default::default()
        })
        .collect();
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

/// Sends `requests` trace requests and as many logs requests, alternating; all must be 200.
async fn send_interleaved(http: &str, requests: std::ops::Range<u64>) {
    for n in requests {
        for (path, body) in [("/v1/traces", spans(n)), ("/v1/logs", logs(n))] {
            let (status, _, reply) = post(&format!("{http}{path}"), &[PROTOBUF], body).await;
            assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&reply));
        }
    }
}

/// GET /metrics (through hyper: the harness has POST helpers only).
async fn metrics(http: &str) -> String {
    use http_body_util::{BodyExt, Empty};
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Empty<bytes::Bytes>>();
    let url = format!("{http}/metrics").parse().unwrap();
    let response = client.get(url).await.expect("GET /metrics");
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8_lossy(&body).into_owned()
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
}

/// Batches flush only when full (500 rows) in these tests: the age limit is an hour.
fn full_batches_only(mut config: Config) -> Config {
    config.pipeline.batch_max_rows = 500;
    config.pipeline.batch_max_age_ms = 3_600_000;
    config.pipeline.content_join_window_ms = 0;
    config
}

#[tokio::test]
async fn interleaved_spans_and_log_records_make_one_insert_per_table() {
    let t = TestCollector::start_with(full_batches_only(support::test_config("interleave"))).await;
    let http = format!("http://{}", t.collector.http_addr);
    // 50 trace requests and 50 logs requests, alternating: 100 spool records, 500 rows each.
    send_interleaved(&http, 0..50).await;
    assert_eq!(
        t.wait_for_count("SELECT count() FROM spans", 500).await,
        500
    );
    assert_eq!(t.wait_for_count("SELECT count() FROM logs", 500).await, 500);
    let text = metrics(&http).await;
    assert_eq!(metric(&text, "spanlens_batches_written_total"), 2, "{text}");
    assert_eq!(
        metric(&text, "spanlens_rows_written_total{table=\"spans\"}"),
        500
    );
    assert_eq!(
        metric(&text, "spanlens_rows_written_total{table=\"logs\"}"),
        500
    );
    t.shutdown().await;
}

#[tokio::test]
async fn without_a_spool_the_same_path_drains_everything_on_shutdown() {
    let mut config = full_batches_only(support::test_config("memlog"));
    config.pipeline.spool_dir = String::new();
    let collector = Collector::start(config.clone()).await.unwrap();
    let http = format!("http://{}", collector.http_addr);
    // 620 rows a table: one full batch each, the rest waits (an hour) until shutdown.
    send_interleaved(&http, 0..62).await;
    let text = metrics(&http).await;
    assert_eq!(metric(&text, "spanlens_spool_bytes"), 0, "no spool");
    collector.shutdown().await;
    let ch = support::server_client_for(&config);
    for table in ["spans", "logs"] {
        let sql = format!("SELECT count() FROM {table}");
        let n: u64 = ch.query(&sql).fetch_one().await.unwrap();
        assert_eq!(n, 620, "{table}");
    }
    let drop = format!("DROP DATABASE {}", config.clickhouse.database);
    ch.query(&drop).execute().await.unwrap();
}

#[tokio::test]
async fn without_a_spool_a_full_memory_log_answers_429() {
    let mut config = support::test_config("memfull");
    config.pipeline.spool_dir = String::new();
    // ClickHouse unreachable: nothing is ever committed, so the log fills.
    config.clickhouse.url = "http://127.0.0.1:1".into();
    config.clickhouse.migrate_on_start = false;
    config.pipeline.queue_max_bytes = 16 << 10;
    config.pipeline.batch_max_bytes = 16 << 10;
    let collector = Collector::start(config).await.unwrap();
    let http = format!("http://{}", collector.http_addr);
    let mut accepted = 0;
    let refusal = loop {
        let (status, headers, reply) =
            post(&format!("{http}/v1/logs"), &[PROTOBUF], logs(accepted)).await;
        match status {
            200 if accepted < 100 => accepted += 1,
            _ => break (status, headers, reply),
        }
    };
    let (status, headers, reply) = refusal;
    assert_eq!(status, 429, "{}", String::from_utf8_lossy(&reply));
    assert!(accepted > 0, "some requests fit before the log was full");
    assert!(headers.contains_key("retry-after"));
    let text = metrics(&http).await;
    assert!(metric(&text, "spanlens_queue_bytes") > 0, "{text}");
    assert_eq!(metric(&text, "spanlens_queue_max_bytes"), 16 << 10);
    assert_eq!(
        metric(
            &text,
            "spanlens_log_records_rejected_total{reason=\"busy\"}"
        ),
        PER_REQUEST
    );
    // No shutdown: without a spool it would wait for ClickHouse to take the rows.
}
