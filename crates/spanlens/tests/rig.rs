//! rig (rig-core) end to end. rig records every model call as a `tracing` span that follows the
//! OpenTelemetry GenAI conventions, so Spanlens integrates it through `spanlens::tracing_layer`
//! rather than wrapping it: a rig chat call inside an `observe` agent runs against a fake
//! OpenAI server started here; its span nests under the agent, carries the trace values set with
//! `current_trace()`, and the content rig records is masked by the SDK's mask before export.
//! The stored rows are checked.
//!
//! `cargo test -p spanlens --features tracing --test rig`

#[path = "../../spanlens-collector/tests/support/mod.rs"]
mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use rig_core::client::CompletionClient as _;
use rig_core::completion::CompletionModel as _;
use rig_core::providers::openai;
use serde_json::{Value, json};
use spanlens::ObservationType;
use spanlens_collector::storage::row::SpanRow;
use support::TestCollector;
use tracing_subscriber::layer::SubscriberExt as _;

const RESPONSE_MODEL: &str = "gpt-4o-mini-2024-07-18";

/// The fake `/v1/responses` (JSON); request bodies are kept.
async fn start_fake_openai(requests: Arc<Mutex<Vec<Value>>>) -> String {
    let app = axum::Router::new().route(
        "/v1/responses",
        axum::routing::post(move |body: Bytes| {
            let requests = requests.clone();
            async move {
                requests
                    .lock()
                    .unwrap()
                    .push(serde_json::from_slice(&body).unwrap());
                let body = json!({
                    "id": "resp_rig_1", "object": "response", "created_at": 1_764_000_000,
                    "status": "completed", "model": RESPONSE_MODEL,
                    "output": [{"type": "message", "id": "msg_1", "status": "completed", "role": "assistant",
                                "content": [{"type": "output_text", "annotations": [],
                                             "text": "Lisbon: sunny. Your code secret-42 is safe."}]}],
                    "usage": {"input_tokens": 31, "input_tokens_details": {"cached_tokens": 0},
                              "output_tokens": 11, "output_tokens_details": {"reasoning_tokens": 0},
                              "total_tokens": 42}
                });
                ([(axum::http::header::CONTENT_TYPE, "application/json")], body.to_string())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/v1")
}

fn row<'a>(rows: &'a [SpanRow], scope: &str) -> &'a SpanRow {
    let found: Vec<&SpanRow> = rows.iter().filter(|r| r.scope_name == scope).collect();
    assert_eq!(found.len(), 1, "one span of scope {scope:?}: {rows:#?}");
    found[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rig_calls_become_llm_rows_under_sdk_spans() {
    let t = TestCollector::start("sdk_rig").await;
    let requests = Arc::new(Mutex::new(Vec::new()));
    let base = start_fake_openai(requests.clone()).await;
    let guard = spanlens::builder()
        .endpoint(format!("http://{}", t.grpc_addr()))
        .service_name("sdk-rig")
        .batch_delay(Duration::from_millis(100))
        .mask(|text| text.replace("secret-42", "[masked]"))
        .init()
        .expect("init");
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry().with(spanlens::tracing_layer(&guard)),
    )
    .expect("subscriber");

    let client = openai::Client::builder()
        .api_key("sk-fake")
        .base_url(&base)
        .build()
        .expect("rig client"); // the Responses API
    let model = client.completion_model("gpt-4o-mini");
    let answer = spanlens::observe("trip_agent", ObservationType::Agent, async {
        spanlens::current_trace()
            .set_session_id("sess-rig")
            .set_user_id("user-rig");
        let mut request = model
            .completion_request("Weather in Lisbon? My code is secret-42.")
            .record_content_telemetry(spanlens::captures_content())
            .build();
        // rig's telemetry reads the system instructions from the (legacy) `preamble` field only.
        request.preamble = Some("Be brief. Never repeat the code secret-42.".into());
        model.completion(request).await
    })
    .await
    .expect("rig call");
    assert!(format!("{answer:?}").contains("Lisbon: sunny"));
    spanlens::shutdown().await.expect("flush");
    assert_eq!(requests.lock().unwrap().len(), 1);

    let rows = t.spans(2).await;
    let agent = row(&rows, "spanlens");
    let llm = row(&rows, spanlens::TRACING_SCOPE);
    assert_eq!(agent.name, "trip_agent");
    assert_eq!(
        (llm.trace_id.as_str(), llm.parent_span_id.as_str()),
        (agent.trace_id.as_str(), agent.span_id.as_str())
    );
    assert_eq!(
        (
            llm.observation_type.as_str(),
            llm.operation.as_str(),
            llm.provider.as_str()
        ),
        ("llm", "chat", "openai")
    );
    assert_eq!(
        (llm.request_model.as_str(), llm.response_model.as_str()),
        ("gpt-4o-mini", RESPONSE_MODEL)
    );
    assert_eq!(llm.response_id, "resp_rig_1");
    assert_eq!((llm.input_tokens, llm.output_tokens), (Some(31), Some(11)));
    assert!(llm.total_cost.is_some(), "priced");
    for r in [agent, llm] {
        assert_eq!(
            (r.session_id.as_str(), r.user_id.as_str()),
            ("sess-rig", "user-rig"),
            "{}",
            r.name
        );
    }
    // With content opted in, rig (0.41, Responses API) records the system instructions of a
    // direct model call (messages only through its agent APIs): they arrive masked by the SDK
    // before they left the process.
    assert_eq!(
        llm.input,
        json!([{"type": "text", "content": "Be brief. Never repeat the code [masked]."}])
            .to_string()
    );
    // Also in rig's own `tracing` events (its TRACE log of the response body became a span
    // event: no level filter in this test).
    assert!(
        llm.events_name
            .iter()
            .any(|e| e.contains("[masked] is safe")),
        "{:?}",
        llm.events_name
    );
    let everything = format!("{llm:?}");
    assert!(!everything.contains("secret-42"), "{everything}");

    drop(guard);
    t.shutdown().await;
}
