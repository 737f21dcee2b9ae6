//! SIGTERM drains: the collector binary, with a batch age far beyond the test, holds accepted
//! spans in memory; on SIGTERM it must write every one of them before exiting.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use prost::Message;
use spanlens_collector::storage::clickhouse::server_client;
use support::{otlp, post};

#[tokio::test]
async fn sigterm_flushes_every_accepted_span() {
    let config = support::test_config("sigterm");
    let database = config.clickhouse.database.clone();
    let mut child = Command::new(env!("CARGO_BIN_EXE_spanlens-collector"))
        .args(["run", "--clickhouse-url", &config.clickhouse.url, "--database", &database])
        .args(["--grpc-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"])
        .args(["--set", "pipeline.batch_max_age_ms=600000"])
        .args(["--set", &format!("pipeline.spool_dir={}", config.pipeline.spool_dir)])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the collector binary");

    // The ready line names the bound addresses.
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut ready = String::new();
    stdout.read_line(&mut ready).unwrap();
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let http = ready
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no HTTP address in ready line {ready:?}"))
        .to_string();

    for trace in 1..=3 {
        let (status, _, _) =
            post(&format!("{http}/v1/traces"), &[("content-type", "application/x-protobuf")], otlp::agent_with_chat(trace).encode_to_vec()).await;
        assert_eq!(status, 200);
    }
    let ch = server_client(&config.clickhouse).with_database(&database);
    let before: u64 = ch.query("SELECT count() FROM spans").fetch_one().await.unwrap();
    assert_eq!(before, 0, "nothing is written before the batch age or shutdown");

    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("collector did not exit within 30 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status}");

    let after: u64 = ch.query("SELECT count() FROM spans").fetch_one().await.unwrap();
    assert_eq!(after, 6);
    ch.query(&format!("DROP DATABASE {database}")).execute().await.unwrap();
}
