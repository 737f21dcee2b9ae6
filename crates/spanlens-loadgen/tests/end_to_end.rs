//! The load generator against a real collector and the tests' ClickHouse (CLICKHOUSE_URL, or a
//! local one this test binary starts): every span of the corpus is accepted and stored, over both
//! transports, with whole trees and fresh ids when bodies are reused.

#[path = "../../spanlens-collector/tests/support/local.rs"]
mod local;

use std::time::{SystemTime, UNIX_EPOCH};

use local::clickhouse_url;
use spanlens_collector::collector::Collector;
use spanlens_collector::config::Config;

async fn loadgen(args: &[&str]) -> serde_json::Value {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_spanlens-loadgen"))
        .args(args)
        .output()
        .await
        .expect("run spanlens-loadgen");
    assert!(
        out.status.success(),
        "loadgen failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("--json prints JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corpus_is_accepted_and_stored_whole_over_http_and_grpc() {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let database = format!("t_loadgen_{nanos:x}_{}", std::process::id());
    let mut config = Config::default();
    config.clickhouse.url = clickhouse_url();
    config.clickhouse.database = database.clone();
    config.receiver.grpc_listen = "127.0.0.1:0".parse().unwrap();
    config.receiver.http_listen = "127.0.0.1:0".parse().unwrap();
    config.pipeline.batch_max_age_ms = 100;
    // A spool of this test's own, removed at the end (the default is .data/spool under the cwd).
    let scratch = std::env::temp_dir().join(&database);
    config.pipeline.spool_dir = scratch.join("spool").display().to_string();
    let collector = Collector::start(config).await.expect("collector starts");
    let pid = std::process::id().to_string();
    let url = clickhouse_url();

    let mut total_stored = 0;
    for (protocol, endpoint) in [
        ("http", format!("http://{}", collector.http_addr)),
        ("grpc", format!("http://{}", collector.grpc_addr)),
    ] {
        // 3 distinct bodies, 7 requests: requests 3..7 reuse bodies with re-keyed ids.
        let report = loadgen(&[
            "--protocol",
            protocol,
            "--endpoint",
            &endpoint,
            "--clickhouse-url",
            &url,
            "--database",
            &database,
            "--max-requests",
            "7",
            "--pool-bodies",
            "3",
            "--spans-per-request",
            "40",
            "--concurrency",
            "2",
            "--settle-secs",
            "10",
            "--collector-pid",
            &pid,
            "--json",
            "--quiet",
        ])
        .await;
        let spans = &report["spans"];
        assert_eq!(report["requests"]["accepted"], 7, "{protocol}: {report:#}");
        assert_eq!(spans["accepted"], spans["sent"], "{protocol}: {report:#}");
        assert_eq!(spans["stored"], spans["accepted"], "{protocol}: {report:#}");
        assert_eq!(spans["all_stored"], true);
        assert!(spans["sent"].as_u64().unwrap() >= 7 * 40);
        assert_eq!(report["errors"], serde_json::json!([]), "{protocol}");
        assert_eq!(report["latency_ms"]["count"], 7);
        assert!(
            report["throughput"]["stored_spans_per_sec"]
                .as_f64()
                .unwrap()
                > 0.0
        );
        assert!(report["collector"]["peak_rss_mib"].as_f64().unwrap() > 0.0);
        total_stored += spans["stored"].as_u64().unwrap();
    }

    let ch = clickhouse::Client::default()
        .with_url(&url)
        .with_database(&database);
    let count = |sql: &'static str| {
        let ch = ch.clone();
        async move { ch.query(sql).fetch_one::<u64>().await.expect(sql) }
    };
    assert_eq!(count("SELECT count() FROM spans").await, total_stored);
    assert_eq!(
        count("SELECT uniqExact(trace_id, span_id) FROM spans").await,
        total_stored,
        "ids are fresh on every reuse"
    );
    assert_eq!(
        count("SELECT countIf(parent_span_id = '') FROM spans").await,
        count("SELECT uniqExact(trace_id) FROM spans").await,
        "one root per trace"
    );
    assert_eq!(
        count(
            "SELECT count() FROM spans AS c WHERE c.parent_span_id != '' AND \
             (c.trace_id, c.parent_span_id) NOT IN (SELECT trace_id, span_id FROM spans)"
        )
        .await,
        0,
        "every parent is stored in the same trace"
    );
    assert!(
        count("SELECT countIf(operation = 'chat' AND input_tokens > 0 AND length(input) > 500) FROM spans").await > 0
    );
    assert!(count("SELECT countIf(operation = 'execute_tool') FROM spans").await > 0);

    // Offered load: 400 spans/s for 2 s is ~20 requests of ~40 spans spread over the 2 s, where
    // two free-running senders would send hundreds.
    let endpoint = format!("http://{}", collector.http_addr);
    let report = loadgen(&[
        "--endpoint",
        &endpoint,
        "--skip-stored",
        "--spans-per-sec",
        "400",
        "--duration-secs",
        "2",
        "--pool-bodies",
        "3",
        "--spans-per-request",
        "40",
        "--concurrency",
        "2",
        "--json",
        "--quiet",
    ])
    .await;
    let accepted = report["spans"]["accepted"].as_u64().unwrap();
    assert!((600..=900).contains(&accepted), "{report:#}");
    assert!(
        report["throughput"]["send_secs"].as_f64().unwrap() > 1.5,
        "{report:#}"
    );
    assert_eq!(report["settings"]["spans_per_sec"], 400.0);

    collector.shutdown().await;
    let _ = std::fs::remove_dir_all(&scratch);
    let _ = ch
        .query(&format!("DROP DATABASE IF EXISTS {database}"))
        .execute()
        .await;
}
