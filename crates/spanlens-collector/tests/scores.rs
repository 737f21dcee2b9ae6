//! Scores end to end: POST /v1/scores (Spanlens SDK shape) and /api/public/scores (the Langfuse
//! SDK's captured request) land in the scores table; a re-sent score replaces the old one;
//! invalid scores get a 400 naming the problem and nothing of that request is stored. Scores
//! take the spool like spans (a ClickHouse outage during score writes: tests/faults.rs).

mod support;

use support::{TestCollector, post};

const JSON: (&str, &str) = ("content-type", "application/json");
const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";

#[tokio::test]
async fn scores_are_stored_replaced_and_validated() {
    let t = TestCollector::start("scores").await;
    let url = t.http_url("/v1/scores");

    let body = format!(
        r#"[{{"id":"s1","name":"helpfulness","value":0.5,"trace_id":"{TRACE}","span_id":"b7ad6b7169203331","comment":"meh","source":"EVAL"}},
            {{"name":"thumbs","value":true,"trace_id":"{TRACE}"}}]"#
    );
    let (status, _, reply) = post(&url, &[JSON], body.into_bytes()).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&reply));

    // Re-sent with a new value: replaces s1.
    let again = format!(
        r#"{{"id":"s1","name":"helpfulness","value":0.9,"trace_id":"{TRACE}","comment":"better","source":"EVAL"}}"#
    );
    assert_eq!(post(&url, &[JSON], again.into_bytes()).await.0, 200);

    // The Langfuse Python SDK's own request body (captured), on Langfuse's path.
    let langfuse = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/otlp/langfuse/e_workflow.other.json"
    ))
    .unwrap();
    let (status, _, reply) = post(&t.http_url("/api/public/scores"), &[JSON], langfuse).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&reply));

    // Invalid: the whole request is refused with the reason.
    let bad = format!(
        r#"[{{"name":"ok","value":1,"trace_id":"{TRACE}"}},{{"name":"x","value":"NaN-ish","data_type":"NUMERIC","trace_id":"{TRACE}"}}]"#
    );
    let (status, _, reply) = post(&url, &[JSON], bad.into_bytes()).await;
    assert_eq!(status, 400);
    assert!(
        String::from_utf8_lossy(&reply).contains("score 1: value"),
        "{}",
        String::from_utf8_lossy(&reply)
    );

    // A 200 means spooled; the writer inserts them shortly after.
    t.wait_for_count("SELECT count() FROM scores FINAL", 3)
        .await;
    let rows: Vec<(String, String, String, Option<f64>, String, String)> = t
        .ch
        .query("SELECT score_id, name, data_type, value, comment, trace_id FROM scores FINAL ORDER BY name")
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_eq!(
        rows[0],
        (
            "s1".into(),
            "helpfulness".into(),
            "NUMERIC".into(),
            Some(0.9),
            "better".into(),
            TRACE.into()
        )
    );
    assert_eq!(
        (rows[1].1.as_str(), rows[1].2.as_str(), rows[1].3),
        ("thumbs", "BOOLEAN", Some(1.0))
    );
    assert_eq!(
        rows[2],
        (
            "e1a5e41307afac8c".into(),
            "user_feedback".into(),
            "NUMERIC".into(),
            Some(1.0),
            "thumbs up".into(),
            "c6f2daab2ca90a758062062d8b137ce2".into()
        )
    );
    t.shutdown().await;
}
