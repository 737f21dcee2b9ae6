//! GenAI evaluation results become scores on the evaluated span: the real OpenTelemetry Python
//! SDK (tests/python/send_evaluations.py) sends a chat span with one `gen_ai.evaluation.result`
//! span event, two such log records and one OpenLIT-style record (the attributes as a JSON body),
//! and the `scores` table must hold exactly four scores on that span, next to the span and the
//! records themselves.

mod support;

use std::process::Command;

use spanlens_collector::auth::hash_key;
use spanlens_collector::config::ApiKeyConfig;
use spanlens_collector::storage::row::ScoreRow;
use support::TestCollector;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evaluation_results_become_scores_on_the_evaluated_span() {
    let mut config = support::test_config("evals");
    config.auth.keys.push(ApiKeyConfig {
        project: "evals".into(),
        key_sha256: Some(hash_key("sk-evals")),
        ..Default::default()
    });
    let t = TestCollector::start_with(config).await;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/python/send_evaluations.py"
    );
    let out = Command::new(support::local::python())
        .args([script, "--endpoint", &t.http_url(""), "--key", "sk-evals"])
        .output()
        .expect("run send_evaluations.py");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ids: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let (trace_id, span_id) = (
        ids["trace_id"].as_str().unwrap().to_string(),
        ids["span_id"].as_str().unwrap().to_string(),
    );

    let n = t
        .wait_for_count("SELECT count() FROM scores FINAL", 4)
        .await;
    assert_eq!(n, 4);
    let scores: Vec<ScoreRow> =
        t.ch.query("SELECT ?fields FROM scores FINAL ORDER BY name")
            .fetch_all()
            .await
            .unwrap();
    let summary: Vec<_> = scores
        .iter()
        .map(|s| {
            (
                s.name.as_str(),
                s.data_type.as_str(),
                s.value,
                s.string_value.as_str(),
                s.comment.as_str(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "faithfulness",
                "CATEGORICAL",
                None,
                "ERROR",
                "evaluation failed: TimeoutError"
            ),
            (
                "hallucination",
                "CATEGORICAL",
                None,
                "no",
                "grounded in the context"
            ),
            (
                "relevance",
                "NUMERIC",
                Some(0.9),
                "relevant",
                "answers the question"
            ),
            ("toxicity", "NUMERIC", Some(0.1), "no", "polite"),
        ]
    );
    for s in &scores {
        assert_eq!(
            (s.project.as_str(), s.trace_id.as_str(), s.span_id.as_str()),
            ("evals", trace_id.as_str(), span_id.as_str()),
            "{}",
            s.name
        );
        assert_eq!(s.source, "EVAL");
        assert_eq!(s.session_id, "");
        assert!(s.timestamp > 1_700_000_000_000_000_000, "{}", s.name);
    }
    assert_eq!(
        scores[0].metadata,
        vec![("error.type".to_string(), "TimeoutError".to_string())]
    );
    assert_eq!(
        scores[3].metadata,
        vec![(
            "gen_ai.response.id".to_string(),
            "chatcmpl-eval-1".to_string()
        )]
    );
    // The span and the records are stored too; the span event stays on the span.
    let span = t.spans(1).await.remove(0);
    assert_eq!(span.span_id, span_id);
    assert_eq!(span.events_name, ["gen_ai.evaluation.result"]);
    let logs = t.wait_for_count("SELECT count() FROM logs", 3).await;
    assert_eq!(logs, 3);
    t.shutdown().await;
}

/// A result that names only the evaluated response (`gen_ai.response.id`, no span context)
/// becomes a score on the span of that response, received earlier.
#[tokio::test]
async fn a_result_naming_only_the_response_goes_to_its_span() {
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    use prost::Message;
    use support::otlp;

    let t = TestCollector::start("evals_by_response").await;
    let mut trace = otlp::agent_with_chat(7);
    let chat = &mut trace.resource_spans[0].scope_spans[0].spans[1];
    chat.attributes
        .push(otlp::s("gen_ai.response.id", "chatcmpl-77"));
    let proto = [("content-type", "application/x-protobuf")];
    let (status, _, _) =
        support::post(&t.http_url("/v1/traces"), &proto, trace.encode_to_vec()).await;
    assert_eq!(status, 200);

    let record = LogRecord {
        time_unix_nano: otlp::T0 + 5_000_000_000,
        event_name: "gen_ai.evaluation.result".into(),
        attributes: vec![
            otlp::s("gen_ai.evaluation.name", "relevance"),
            otlp::kv(
                "gen_ai.evaluation.score.value",
                opentelemetry_proto::tonic::common::v1::any_value::Value::DoubleValue(0.75),
            ),
            otlp::s("gen_ai.response.id", "chatcmpl-77"),
        ],
        ..Default::default()
    };
    let logs = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![record],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let (status, _, _) = support::post(&t.http_url("/v1/logs"), &proto, logs.encode_to_vec()).await;
    assert_eq!(status, 200);

    assert_eq!(
        t.wait_for_count("SELECT count() FROM scores FINAL", 1)
            .await,
        1
    );
    let score: ScoreRow =
        t.ch.query("SELECT ?fields FROM scores FINAL")
            .fetch_one()
            .await
            .unwrap();
    assert_eq!(
        (score.trace_id, score.span_id),
        (
            hex::encode(otlp::trace_id(7)),
            hex::encode(otlp::span_id(2))
        )
    );
    assert_eq!(
        (score.name.as_str(), score.value),
        ("relevance", Some(0.75))
    );
    assert_eq!(score.timestamp, (otlp::T0 + 5_000_000_000) as i64);
    t.shutdown().await;
}
