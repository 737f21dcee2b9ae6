//! SIGTERM drains: the collector binary, with a batch age far beyond the test, holds accepted
//! spans in memory; on SIGTERM it must write every one of them before exiting.

mod support;

use prost::Message;
use spanlens_collector::storage::clickhouse::server_client;
use support::{otlp, post};

#[tokio::test]
async fn sigterm_flushes_every_accepted_span() {
    let config = support::test_config("sigterm");
    let database = config.clickhouse.database.clone();
    let (mut child, http) = support::start_binary(
        env!("CARGO_BIN_EXE_spanlens-collector"),
        &config,
        &["--set", "pipeline.batch_max_age_ms=600000"],
    );

    for trace in 1..=3 {
        let (status, _, _) = post(
            &format!("{http}/v1/traces"),
            &[("content-type", "application/x-protobuf")],
            otlp::agent_with_chat(trace).encode_to_vec(),
        )
        .await;
        assert_eq!(status, 200);
    }
    let ch = server_client(&config.clickhouse)
        .unwrap()
        .with_database(&database);
    let before: u64 = ch
        .query("SELECT count() FROM spans")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(
        before, 0,
        "nothing is written before the batch age or shutdown"
    );

    support::stop_gracefully(&mut child);

    let after: u64 = ch
        .query("SELECT count() FROM spans")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(after, 6);
    ch.query(&format!("DROP DATABASE {database}"))
        .execute()
        .await
        .unwrap();
}
