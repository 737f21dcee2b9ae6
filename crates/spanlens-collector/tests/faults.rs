//! Fault tests for the reliability contract, bounded in count and time. Under load:
//! ClickHouse stops and comes back; ClickHouse rejects inserts for a while; the collector is
//! killed with SIGKILL and restarted on the same spool. After each, every acknowledged span is
//! stored exactly once: none missing, none twice.

mod support;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use spanlens_collector::storage::clickhouse::server_client;
use support::{TestCollector, otlp, post};

const SPANS_PER_REQUEST: u64 = 20;

/// One request of SPANS_PER_REQUEST spans in trace `n`; returns (trace id hex, body).
fn request(n: u32) -> (String, Vec<u8>) {
    let mut trace_id = vec![0x5a; 16];
    trace_id[12..].copy_from_slice(&n.to_be_bytes());
    let spans = (0..SPANS_PER_REQUEST as u8)
        .map(|i| Span {
            trace_id: trace_id.clone(),
            span_id: vec![0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, i + 1],
            name: "chat gpt-4o-mini".into(),
            kind: 3,
            start_time_unix_nano: otlp::T0 + n as u64 * 1_000_000,
            end_time_unix_nano: otlp::T0 + n as u64 * 1_000_000 + 500_000,
            attributes: vec![
                otlp::s("gen_ai.operation.name", "chat"),
                otlp::s("gen_ai.request.model", "gpt-4o-mini"),
                otlp::s("gen_ai.input.messages", &"x".repeat(2000)),
            ],
            ..Default::default()
        })
        .collect();
    (hex::encode(&trace_id), otlp::request(spans).encode_to_vec())
}

/// Sends requests `range` to `http`; returns the trace ids acknowledged with 200.
async fn send(http: &str, range: std::ops::Range<u32>) -> Vec<String> {
    let mut acked = Vec::new();
    for n in range {
        let (trace, body) = request(n);
        let (status, _, _) = post(
            &format!("{http}/v1/traces"),
            &[("content-type", "application/x-protobuf")],
            body,
        )
        .await;
        if status == 200 {
            acked.push(trace);
        }
    }
    acked
}

/// Waits (bounded) until the stored rows stop changing and cover `acked`, then checks that
/// every acknowledged trace has all its spans exactly once and nothing is stored twice.
async fn assert_exactly_once(ch: &clickhouse::Client, acked: &[String]) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let want = acked.len() as u64 * SPANS_PER_REQUEST;
    loop {
        let n: u64 = ch
            .query("SELECT count() FROM spans")
            .fetch_one()
            .await
            .unwrap_or(0);
        if n >= want || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await; // let any straggler (a duplicate) land
    let (count, unique): (u64, u64) = ch
        .query("SELECT count(), uniqExact(trace_id, span_id) FROM spans")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(count, unique, "no span stored twice");
    let per_trace: HashMap<String, u64> = ch
        .query("SELECT trace_id, count() FROM spans GROUP BY trace_id")
        .fetch_all::<(String, u64)>()
        .await
        .unwrap()
        .into_iter()
        .collect();
    for trace in acked {
        assert_eq!(
            per_trace.get(trace),
            Some(&SPANS_PER_REQUEST),
            "acknowledged trace {trace} stored completely"
        );
    }
    assert!(
        per_trace.values().all(|&c| c == SPANS_PER_REQUEST),
        "no partial trace"
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A ClickHouse of this test's own (the local chDB server), so it can be stopped.
struct OwnClickHouse {
    child: support::ChildGuard,
    port: u16,
    data: PathBuf,
}

impl OwnClickHouse {
    fn start(port: u16, data: &Path) -> OwnClickHouse {
        let python = std::env::var("SPANLENS_PYTHON")
            .expect("SPANLENS_PYTHON (set by tests/run.sh): a venv with chdb-core");
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../deploy/local/chdb_server.py"
        );
        let mut child = Command::new(python)
            .args([
                script,
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--path",
            ])
            .arg(data)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chdb_server.py");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(
            line.contains("listening"),
            "chdb server did not start: {line:?}"
        );
        OwnClickHouse {
            child: support::ChildGuard(child),
            port,
            data: data.to_path_buf(),
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn stop(mut self) -> (u16, PathBuf) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        (self.port, self.data.clone())
    }
}

#[tokio::test]
async fn clickhouse_outage_loses_and_duplicates_nothing() {
    let data = std::env::temp_dir().join(support::unique_database("outage_ch"));
    let ch_server = OwnClickHouse::start(free_port(), &data);
    let mut config = support::test_config("outage");
    config.clickhouse.url = ch_server.url();
    config.pipeline.retry_initial_backoff_ms = 50;
    config.pipeline.retry_max_backoff_ms = 300;
    let t = TestCollector::start_with(config).await;
    let http = format!("http://{}", t.collector.http_addr);

    let mut acked = send(&http, 0..15).await;
    let (port, data) = ch_server.stop();
    acked.extend(send(&http, 15..30).await); // ClickHouse is down: the spool takes them
    assert_eq!(
        acked.len(),
        30,
        "every request is acknowledged while ClickHouse is down"
    );
    assert_eq!(support::get(&t.http_url("/readyz")).await.0, 503);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let ch_server = OwnClickHouse::start(port, &data);
    acked.extend(send(&http, 30..40).await);

    assert_exactly_once(&t.ch, &acked).await;
    let metrics = support::get(&t.http_url("/metrics")).await.1;
    let retries: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("spanlens_insert_retries_total "))
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(retries > 0, "the outage was seen and retried through");
    t.collector.shutdown().await;
    ch_server.stop();
    let _ = std::fs::remove_dir_all(&data);
}

#[tokio::test]
async fn rejected_inserts_for_a_while_lose_and_duplicate_nothing() {
    let mut config = support::test_config("rejecting");
    config.pipeline.retry_initial_backoff_ms = 50;
    config.pipeline.retry_max_backoff_ms = 300;
    let t = TestCollector::start_with(config).await;
    let http = format!("http://{}", t.collector.http_addr);

    let mut acked = send(&http, 0..10).await;
    t.wait_for_count("SELECT count() FROM spans", 10 * SPANS_PER_REQUEST)
        .await;
    // While the table is detached every insert fails (UNKNOWN_TABLE); nothing may be lost.
    t.ch.query("DETACH TABLE spans").execute().await.unwrap();
    acked.extend(send(&http, 10..25).await);
    tokio::time::sleep(Duration::from_millis(800)).await;
    t.ch.query("ATTACH TABLE spans").execute().await.unwrap();
    acked.extend(send(&http, 25..30).await);
    assert_eq!(acked.len(), 30);
    assert_exactly_once(&t.ch, &acked).await;
    t.shutdown().await;
}

#[tokio::test]
async fn kill_9_mid_load_then_restart_loses_and_duplicates_nothing() {
    let config = support::test_config("kill9");
    let spool = PathBuf::from(&config.pipeline.spool_dir);
    const FAST_BATCHES: [&str; 4] = [
        "--set",
        "pipeline.batch_max_age_ms=50",
        "--set",
        "pipeline.batch_max_rows=200",
    ];
    let (mut child, http) = support::start_binary(
        env!("CARGO_BIN_EXE_spanlens-collector"),
        &config,
        &FAST_BATCHES,
    );

    // Load from 4 concurrent senders; SIGKILL once enough requests were acknowledged.
    let senders: Vec<_> = (0..4u32)
        .map(|s| {
            let http = http.clone();
            tokio::spawn(async move {
                let mut acked = Vec::new();
                for n in (s * 1000)..(s * 1000 + 60) {
                    let (trace, body) = request(n);
                    let attempt = tokio::time::timeout(
                        Duration::from_secs(5),
                        support::try_post(
                            &format!("{http}/v1/traces"),
                            &[("content-type", "application/x-protobuf")],
                            body,
                        ),
                    )
                    .await;
                    match attempt {
                        Ok(Some(200)) => acked.push(trace),
                        Ok(Some(_)) => {}
                        _ => break, // the collector is gone
                    }
                }
                acked
            })
        })
        .collect();
    let ch = server_client(&config.clickhouse).with_database(&config.clickhouse.database);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let stored: u64 = ch
            .query("SELECT count() FROM spans")
            .fetch_one()
            .await
            .unwrap_or(0);
        if stored >= 40 * SPANS_PER_REQUEST || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        Command::new("kill")
            .args(["-KILL", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let _ = child.wait();
    let mut acked = Vec::new();
    for sender in senders {
        acked.extend(sender.await.unwrap());
    }
    assert!(
        acked.len() >= 40,
        "load was running when the collector was killed"
    );

    // Restart on the same spool: it replays what was acknowledged but not yet written.
    let (mut child, _http) = support::start_binary(
        env!("CARGO_BIN_EXE_spanlens-collector"),
        &config,
        &FAST_BATCHES,
    );
    assert_exactly_once(&ch, &acked).await;
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    ch.query(&format!("DROP DATABASE {}", config.clickhouse.database))
        .execute()
        .await
        .unwrap();
    let _ = std::fs::remove_dir_all(spool.parent().unwrap());
}
