//! The current-span API end to end: code inside observations fills them through
//! `spanlens::current()`, `current_llm()` and `current_trace()` — across `.await`, in
//! `spanlens::spawn`ed tasks, in helpers that never see a span handle — and the stored rows
//! hold exactly that: a `generation` function's model, usage and output, metadata, errors from
//! `Err` results (`#[observe]`, `try_observe`), `Debug` capture, and session / user / tags /
//! metadata set on the trace from deep inside it (over a `Scope`'s values).
//!
//! `cargo test -p spanlens --test e2e_current`

#[path = "../../spanlens-collector/tests/support/mod.rs"]
mod support;

use std::time::Duration;

use serde_json::json;
use spanlens::{ObservationType, Scope, Usage};
use spanlens_collector::storage::row::SpanRow;
use support::TestCollector;

#[derive(Debug)]
struct QuotaExceeded {
    limit: u32,
}
impl std::fmt::Display for QuotaExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "quota of {} calls exceeded", self.limit)
    }
}

/// Not `Serialize`: captured by its `Debug` text.
#[derive(Debug)]
#[allow(dead_code)] // read through Debug only
struct Plan {
    steps: u8,
}

#[spanlens::observe(name = "handle_question", as = "agent")]
async fn handle(question: String) -> anyhow::Result<String> {
    spanlens::current().set_metadata("route", "/ask");
    // Ends before the user is known: keeps what it had.
    let cached = lookup_cache(&question);
    tokio::time::sleep(Duration::from_millis(2)).await;

    // The user becomes known deep inside the trace, in a spawned task.
    spanlens::spawn(identify_caller()).await?;

    let plan = spanlens::observation("plan", ObservationType::Chain).start();
    plan.set_output(&spanlens::debug(&Plan { steps: 3 }));
    plan.end();

    let summary = summarize(question.clone()).await;

    let flaky: anyhow::Result<()> =
        spanlens::try_observe("flaky_search", ObservationType::Tool, async {
            tokio::time::sleep(Duration::from_millis(1)).await;
            anyhow::bail!("upstream timed out")
        })
        .await;
    assert!(flaky.is_err());
    assert!(call_quota(7).is_err());
    Ok(format!("{summary} ({cached})"))
}

#[spanlens::observe(as = "tool")]
fn lookup_cache(key: &str) -> String {
    format!("miss:{key}")
}

async fn identify_caller() {
    tokio::time::sleep(Duration::from_millis(1)).await;
    spanlens::current_trace()
        .set_user_id("user-9")
        .set_session_id("sess-9")
        .add_tags(["vip"])
        .set_metadata("plan", "pro");
}

/// A model call written as a plain function: the body fills the LLM fields.
#[spanlens::observe(as = "generation", capture_input = false)]
async fn summarize(text: String) -> String {
    tokio::time::sleep(Duration::from_millis(3)).await;
    let words = spanlens::spawn(count_words(text)).await.unwrap();
    let summary = format!("{words} words");
    record_model_answer(&summary);
    summary
}

/// A helper that never sees the span: it finds the model call it runs in.
fn record_model_answer(answer: &str) {
    let llm = spanlens::current_llm();
    llm.set_provider("openai");
    llm.set_model("gpt-4o-mini");
    llm.set_response_model("gpt-4o-mini-2024-07-18");
    llm.set_usage(Usage::new(120, 8).cached(64));
    llm.set_output_text(answer);
    llm.set_finish_reasons(["stop"]);
}

/// A tool inside the generation, in a spawned task: `current_llm` still reaches the generation.
#[spanlens::observe(as = "tool")]
async fn count_words(text: String) -> usize {
    tokio::time::sleep(Duration::from_millis(1)).await;
    let n = text.split_whitespace().count();
    spanlens::current_llm().set_metadata("words", n.to_string());
    n
}

#[spanlens::observe(as = "tool")]
fn call_quota(limit: u32) -> Result<u32, QuotaExceeded> {
    Err(QuotaExceeded { limit })
}

fn row<'a>(rows: &'a [SpanRow], name: &str) -> &'a SpanRow {
    let found: Vec<&SpanRow> = rows.iter().filter(|r| r.name == name).collect();
    assert_eq!(found.len(), 1, "one span named {name:?}");
    found[0]
}

fn map(entries: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = entries
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    v.sort();
    v
}

fn sorted(mut v: Vec<(String, String)>) -> Vec<(String, String)> {
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn current_span_llm_and_trace_updates_are_stored() {
    let t = TestCollector::start("sdk_current").await;
    let _guard = spanlens::builder()
        .endpoint(format!("http://{}", t.grpc_addr()))
        .service_name("sdk-current")
        .batch_delay(Duration::from_millis(100))
        .init()
        .expect("init");
    assert!(!spanlens::current().is_recording(), "no span outside");

    let answer = Scope::new()
        .session_id("scope-session")
        .tags(["scoped"])
        .run(handle("three little words".into()))
        .await
        .expect("handled");
    assert_eq!(answer, "3 words (miss:three little words)");
    spanlens::shutdown().await.expect("flush");

    let rows = t.spans(7).await;
    let root = row(&rows, "handle_question");
    let early = row(&rows, "lookup_cache");
    let plan = row(&rows, "plan");
    let generation = row(&rows, "summarize");
    let words = row(&rows, "count_words");
    let flaky = row(&rows, "flaky_search");
    let quota = row(&rows, "call_quota");
    assert_eq!(root.parent_span_id, "");
    for r in [early, plan, generation, flaky, quota] {
        assert_eq!(r.parent_span_id, root.span_id, "{} under the root", r.name);
    }
    assert_eq!(words.parent_span_id, generation.span_id);

    // The generation: filled by a helper through current_llm(), and by a spawned tool.
    assert_eq!(
        (
            generation.observation_type.as_str(),
            generation.operation.as_str()
        ),
        ("llm", "chat")
    );
    assert_eq!(
        (
            generation.provider.as_str(),
            generation.request_model.as_str(),
            generation.response_model.as_str()
        ),
        ("openai", "gpt-4o-mini", "gpt-4o-mini-2024-07-18")
    );
    assert_eq!(
        (
            generation.input_tokens,
            generation.output_tokens,
            generation.cached_tokens
        ),
        (Some(120), Some(8), Some(64))
    );
    assert_eq!(generation.finish_reasons, vec!["stop".to_string()]);
    // The output the body set wins over the function's return value.
    assert_eq!(
        generation.output,
        json!([{"role": "assistant", "parts": [{"type": "text", "content": "3 words"}], "finish_reason": "stop"}]).to_string()
    );
    assert_eq!(generation.input, "", "capture_input = false");
    assert!(generation.total_cost.is_some(), "a known model is priced");

    // Trace values set in a spawned task reach every span that ended afterwards — the root
    // included — over the scope's session; tags add up; metadata merges.
    for r in [root, plan, generation, words, flaky, quota] {
        assert_eq!(
            (r.session_id.as_str(), r.user_id.as_str()),
            ("sess-9", "user-9"),
            "{}",
            r.name
        );
        assert_eq!(
            r.tags,
            vec!["scoped".to_string(), "vip".to_string()],
            "{}",
            r.name
        );
    }
    // The span that ended before: the scope's values only.
    assert_eq!(
        (early.session_id.as_str(), early.user_id.as_str()),
        ("scope-session", "")
    );
    assert_eq!(early.tags, vec!["scoped".to_string()]);
    assert_eq!(
        sorted(root.metadata.clone()),
        map(&[("plan", "pro"), ("route", "/ask")])
    );
    assert_eq!(
        sorted(generation.metadata.clone()),
        map(&[("plan", "pro"), ("words", "3")])
    );

    // Errors from Err results; Debug capture; the macro's output capture.
    assert_eq!(
        (
            flaky.status_code.as_str(),
            flaky.error_type.as_str(),
            flaky.status_message.as_str()
        ),
        ("Error", "Error", "upstream timed out")
    );
    assert_eq!(
        (
            quota.status_code.as_str(),
            quota.error_type.as_str(),
            quota.status_message.as_str()
        ),
        ("Error", "QuotaExceeded", "quota of 7 calls exceeded")
    );
    assert_eq!(quota.input, r#"{"limit":7}"#);
    assert_eq!(plan.output, "Plan { steps: 3 }");
    assert_eq!(early.output, "miss:three little words");
    assert_eq!(root.output, "3 words (miss:three little words)");
    assert_eq!(root.status_code, "Unset");
    assert_eq!(words.output, "3");

    t.shutdown().await;
}
