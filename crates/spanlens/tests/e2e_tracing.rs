//! SDK + `tracing` (feature `tracing`) → collector → ClickHouse: with `spanlens::tracing_layer`,
//! `tracing` spans and SDK spans land in one trace, nested exactly as written, across `.await`.
//!
//! Run with `cargo test -p spanlens --all-features --test e2e_tracing`.

#[path = "../../spanlens-collector/tests/support/mod.rs"]
mod support;

use std::time::Duration;

use spanlens::{ObservationType, Usage};
use spanlens_collector::storage::row::SpanRow;
use support::TestCollector;
use tracing::Instrument as _;
use tracing_subscriber::layer::SubscriberExt as _;

fn row<'a>(rows: &'a [SpanRow], name: &str) -> &'a SpanRow {
    let found: Vec<&SpanRow> = rows.iter().filter(|r| r.name == name).collect();
    assert_eq!(
        found.len(),
        1,
        "exactly one span named {name:?}; names: {:?}",
        rows.iter().map(|r| &r.name).collect::<Vec<_>>()
    );
    found[0]
}

/// A model call whose HTTP request is a `tracing` span: code inside the `tracing` span fills the
/// generation (`current_llm`) and the `tracing` span itself (`current`).
#[spanlens::observe(as = "generation", capture_input = false, capture_output = false)]
async fn call_model() {
    spanlens::current_trace().set_user_id("user-tr");
    async {
        tokio::time::sleep(Duration::from_millis(2)).await;
        let llm = spanlens::current_llm();
        llm.set_provider("openai");
        llm.set_model("gpt-4o-mini");
        llm.set_usage(Usage::new(11, 4));
        spanlens::current().set_metadata("http.status", "200");
    }
    .instrument(tracing::info_span!("http_request"))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracing_and_sdk_spans_nest_as_written() {
    let t = TestCollector::start("sdk_tracing").await;
    let spanlens = spanlens::builder()
        .endpoint(format!("http://{}", t.grpc_addr()))
        .service_name("sdk-tracing-e2e")
        .batch_delay(Duration::from_millis(100))
        .init()
        .expect("init");
    // Global: the runtime's worker threads poll the futures.
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry().with(spanlens::tracing_layer(&spanlens)),
    )
    .expect("subscriber");

    // 1. tracing span → SDK chat span (started after an .await inside the instrumented future).
    async {
        tokio::time::sleep(Duration::from_millis(2)).await;
        let chat = spanlens::chat("openai", "gpt-4o-mini").start();
        tokio::time::sleep(Duration::from_millis(2)).await;
        chat.set_output_text("hi");
        chat.set_usage(Usage::new(3, 1));
        chat.end();
        // Synchronously too: a tracing span entered with in_scope → an SDK span.
        tracing::info_span!("sync_step").in_scope(|| {
            spanlens::observe_sync("sync_tool", ObservationType::Tool, || ());
        });
    }
    .instrument(tracing::info_span!("handle_request", route = "/chat"))
    .await;

    // 2. SDK agent (observe) → tracing span → SDK tool span, across .await at every level.
    spanlens::observe("agent", ObservationType::Agent, async {
        tokio::time::sleep(Duration::from_millis(2)).await;
        async {
            tokio::time::sleep(Duration::from_millis(2)).await;
            spanlens::observe("search", ObservationType::Tool, async {
                tokio::time::sleep(Duration::from_millis(2)).await;
            })
            .await;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        .instrument(tracing::info_span!("plan_step"))
        .await;
        tokio::time::sleep(Duration::from_millis(1)).await;
    })
    .await;

    // 3. The current-span API inside a tracing span.
    call_model().await;

    spanlens::shutdown().await.expect("flush");
    drop(spanlens);

    let rows = t.spans(9).await;
    let generation = row(&rows, "call_model");
    let http = row(&rows, "http_request");
    assert_eq!(http.parent_span_id, generation.span_id);
    assert_eq!(
        (
            generation.observation_type.as_str(),
            generation.provider.as_str(),
            generation.request_model.as_str()
        ),
        ("llm", "openai", "gpt-4o-mini")
    );
    assert_eq!(
        (generation.input_tokens, generation.output_tokens),
        (Some(11), Some(4))
    );
    assert_eq!(
        http.metadata,
        vec![("http.status".to_string(), "200".to_string())]
    );
    assert!(generation.metadata.is_empty());
    for r in [generation, http] {
        assert_eq!(r.user_id, "user-tr", "{}", r.name);
    }
    let rows: Vec<SpanRow> = rows
        .into_iter()
        .filter(|r| r.name != "call_model" && r.name != "http_request")
        .collect();
    let request = row(&rows, "handle_request");
    let chat = row(&rows, "chat gpt-4o-mini");
    let sync_step = row(&rows, "sync_step");
    let sync_tool = row(&rows, "sync_tool");
    let agent = row(&rows, "agent");
    let plan = row(&rows, "plan_step");
    let search = row(&rows, "search");

    // Tree 1: handle_request (tracing, root) → chat (SDK); → sync_step (tracing) → sync_tool (SDK).
    assert_eq!(request.parent_span_id, "");
    for (child, parent) in [
        (chat, request),
        (sync_step, request),
        (sync_tool, sync_step),
    ] {
        assert_eq!(child.trace_id, request.trace_id, "{}", child.name);
        assert_eq!(
            child.parent_span_id, parent.span_id,
            "{} under {}",
            child.name, parent.name
        );
    }

    // Tree 2: agent (SDK, root) → plan_step (tracing) → search (SDK).
    assert_eq!(agent.parent_span_id, "");
    assert_ne!(agent.trace_id, request.trace_id);
    for (child, parent) in [(plan, agent), (search, plan)] {
        assert_eq!(child.trace_id, agent.trace_id, "{}", child.name);
        assert_eq!(
            child.parent_span_id, parent.span_id,
            "{} under {}",
            child.name, parent.name
        );
    }
    // Span ids are real and distinct.
    let mut ids: Vec<&str> = rows.iter().map(|r| r.span_id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 7);

    // Who recorded what: tracing spans under their own scope, same resource.
    for r in [request, sync_step, plan] {
        assert_eq!(r.scope_name, spanlens::TRACING_SCOPE, "{}", r.name);
        assert_eq!(r.observation_type, "span", "{}", r.name);
    }
    for r in [chat, sync_tool, agent, search] {
        assert_eq!(r.scope_name, "spanlens", "{}", r.name);
    }
    for r in &rows {
        assert_eq!(r.service_name, "sdk-tracing-e2e", "{}", r.name);
    }
    assert_eq!(
        (chat.observation_type.as_str(), chat.input_tokens),
        ("llm", Some(3))
    );
    assert_eq!(
        (
            agent.observation_type.as_str(),
            search.observation_type.as_str()
        ),
        ("agent", "tool")
    );
    // The tracing span's field arrives as an attribute.
    assert!(
        request
            .span_attributes
            .contains(&("route".to_string(), "/chat".to_string())),
        "{:?}",
        request.span_attributes
    );
    // Durations cover the awaited children.
    assert!(plan.duration_ns >= search.duration_ns && agent.duration_ns >= plan.duration_ns);

    t.shutdown().await;
}
