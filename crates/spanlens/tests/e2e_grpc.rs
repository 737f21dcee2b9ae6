//! SDK → collector (in-process, OTLP/gRPC, API key) → ClickHouse: the stored rows hold exactly
//! what the SDK recorded — the span tree across `.await` and `tokio::spawn`, tokens, time to
//! first token, streaming (completed, dropped early, failed), scope attributes, masking.
//!
//! Run with `cargo test -p spanlens --test e2e_grpc`.

#[path = "../../spanlens-collector/tests/support/mod.rs"]
mod support;

use std::pin::Pin;
use std::time::Duration;

use futures_core::Stream as _;

use serde_json::json;
use spanlens::{Message, ObservationType, Scope, Usage};
use spanlens_collector::config::ApiKeyConfig;
use spanlens_collector::storage::row::SpanRow;
use support::TestCollector;

/// A provider's stream error.
#[derive(Debug)]
struct StreamError(&'static str);
impl std::fmt::Display for StreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// A provider's rate-limit answer.
#[derive(Debug)]
struct RateLimitError;
impl std::fmt::Display for RateLimitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("429 Too Many Requests")
    }
}

/// A provider stream of text deltas.
struct Deltas(Vec<Result<&'static str, StreamError>>);
impl futures_core::Stream for Deltas {
    type Item = Result<&'static str, StreamError>;
    fn poll_next(
        mut self: Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        std::task::Poll::Ready(if self.0.is_empty() {
            None
        } else {
            Some(self.0.remove(0))
        })
    }
}

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

fn text(content: &str) -> String {
    json!([{"role": "assistant", "parts": [{"type": "text", "content": content}]}]).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_spans_arrive_as_typed_rows_over_grpc() {
    let mut config = support::test_config("sdk_grpc");
    config.auth.keys.push(ApiKeyConfig {
        project: "proj-sdk".into(),
        key_sha256: Some(spanlens_collector::auth::hash_key("sk-sdk-test")),
        ..Default::default()
    });
    let t = TestCollector::start_with(config).await;

    let guard = spanlens::builder()
        .endpoint(format!("http://{}", t.grpc_addr()))
        .api_key("sk-sdk-test")
        .service_name("sdk-e2e")
        .service_version("1.2.3")
        .environment("test")
        .batch_delay(Duration::from_millis(100))
        .mask(|s| s.replace("secret-token", "[masked]"))
        .init()
        .expect("init");

    let scope = Scope::new()
        .session_id("sess-1")
        .user_id("user-1")
        .tags(["e2e", "sdk"])
        .metadata("tenant", "acme")
        .prompt("trip-planner", "3");
    scope
        .run(spanlens::observe(
            "trip_planner",
            ObservationType::Agent,
            async {
                tokio::time::sleep(Duration::from_millis(2)).await;

                // A plain chat call, after an .await.
                let chat = spanlens::chat("openai", "gpt-4o-mini")
                    .temperature(0.2)
                    .max_tokens(300)
                    .top_p(0.9)
                    .input_messages([
                        Message::system("Be brief."),
                        Message::user("My token is secret-token"),
                    ])
                    .start();
                tokio::time::sleep(Duration::from_millis(5)).await;
                chat.set_response_model("gpt-4o-mini-2024-07-18");
                chat.set_response_id("chatcmpl-1");
                chat.set_finish_reasons(["stop"]);
                chat.set_output_text("Day 1: Alfama.");
                chat.set_usage(Usage::new(42, 17).cached(10).reasoning(5));
                chat.end();

                // A tool in a spawned task, with a nested span inside it; input and output set
                // on the current span from inside.
                let weather = spanlens::spawn(spanlens::observe(
                    "get_weather",
                    ObservationType::Tool,
                    async {
                        spanlens::current().set_input(&json!({"city": "Lisbon"}));
                        tokio::time::sleep(Duration::from_millis(2)).await;
                        spanlens::observe("lookup_cache", ObservationType::Span, async {
                            tokio::time::sleep(Duration::from_millis(1)).await;
                        })
                        .await;
                        let forecast = json!({"forecast": "sunny, secret-token"});
                        spanlens::current().set_output(&forecast);
                        forecast
                    },
                ));
                weather.await.unwrap();

                // A completed stream.
                let stream = spanlens::chat("anthropic", "claude-sonnet-4")
                    .name("stream_ok")
                    .stream(true)
                    .start();
                tokio::time::sleep(Duration::from_millis(40)).await;
                stream.record_chunk("Hel");
                tokio::time::sleep(Duration::from_millis(5)).await;
                stream.record_chunk("lo secret-token");
                stream.set_usage(Usage::new(20, 2));
                stream.set_finish_reasons(["end_turn"]);
                stream.end();

                // A stream the consumer dropped early: partial output and usage still recorded.
                {
                    let s = spanlens::chat("openai", "gpt-4o")
                        .name("stream_dropped")
                        .stream(true)
                        .start();
                    s.record_chunk("partial");
                    s.set_usage(Usage {
                        input_tokens: Some(9),
                        ..Usage::default()
                    });
                }

                // A wrapped provider stream that errors after one chunk.
                {
                    let span = spanlens::chat("openai", "gpt-4o")
                        .name("stream_wrapped")
                        .stream(true)
                        .start();
                    let mut s = span.wrap_stream(
                        Deltas(vec![Ok("par"), Err(StreamError("connection reset"))]),
                        |span, item| match item {
                            Ok(text) => span.record_chunk(text),
                            Err(e) => span.record_error(e),
                        },
                    );
                    let mut seen = 0;
                    while std::future::poll_fn(|cx| Pin::new(&mut s).poll_next(cx))
                        .await
                        .is_some()
                    {
                        seen += 1;
                    }
                    assert_eq!(seen, 2);
                }

                // A failed call.
                let failed = spanlens::chat("openai", "gpt-4o").name("failed").start();
                failed.record_error(&RateLimitError);
                drop(failed);

                // Retrieval and chain spans in a nested spawned workflow.
                let workflow = spanlens::spawn(spanlens::observe(
                    "workflow",
                    ObservationType::Chain,
                    async {
                        let inner = spanlens::spawn(async {
                            let r = spanlens::observation("rerank", ObservationType::Retrieval)
                                .input("query")
                                .start();
                            r.set_output(&["doc-1", "doc-2"]);
                            r.end();
                        });
                        inner.await.unwrap();
                    },
                ));
                workflow.await.unwrap();
            },
        ))
        .await;
    // Outside the scope: no session/user.
    spanlens::observe_sync("after_scope", ObservationType::Span, || ());

    spanlens::shutdown().await.expect("flush");
    drop(guard);

    let rows = t.spans(11).await;
    let agent = row(&rows, "trip_planner");
    let chat = row(&rows, "chat gpt-4o-mini");
    let weather = row(&rows, "get_weather");
    let lookup = row(&rows, "lookup_cache");
    let stream = row(&rows, "stream_ok");
    let dropped = row(&rows, "stream_dropped");
    let failed = row(&rows, "failed");
    let wrapped = row(&rows, "stream_wrapped");
    let workflow = row(&rows, "workflow");
    let rerank = row(&rows, "rerank");
    let after = row(&rows, "after_scope");

    // The tree: one trace, parents across .await and tokio::spawn.
    assert_eq!(agent.parent_span_id, "");
    for r in [chat, weather, stream, dropped, wrapped, failed, workflow] {
        assert_eq!(r.trace_id, agent.trace_id, "{}", r.name);
        assert_eq!(
            r.parent_span_id, agent.span_id,
            "{} under the agent",
            r.name
        );
    }
    assert_eq!(
        (lookup.trace_id.as_str(), lookup.parent_span_id.as_str()),
        (agent.trace_id.as_str(), weather.span_id.as_str())
    );
    assert_eq!(
        (rerank.trace_id.as_str(), rerank.parent_span_id.as_str()),
        (agent.trace_id.as_str(), workflow.span_id.as_str())
    );
    assert_ne!(after.trace_id, agent.trace_id);
    assert_eq!(after.parent_span_id, "");

    // Resource, API key → project.
    for r in &rows {
        assert_eq!(r.project, "proj-sdk", "{}", r.name);
        assert_eq!(r.service_name, "sdk-e2e");
        assert_eq!(r.release, "1.2.3");
        assert_eq!(r.environment, "test");
        assert_eq!(r.scope_name, "spanlens");
    }

    // Classification.
    let kinds: Vec<(&str, &str, &str)> = [
        agent, chat, weather, lookup, stream, workflow, rerank, after,
    ]
    .iter()
    .map(|r| {
        (
            r.name.as_str(),
            r.observation_type.as_str(),
            r.operation.as_str(),
        )
    })
    .collect();
    assert_eq!(
        kinds,
        vec![
            ("trip_planner", "agent", "invoke_agent"),
            ("chat gpt-4o-mini", "llm", "chat"),
            ("get_weather", "tool", "execute_tool"),
            ("lookup_cache", "span", ""),
            ("stream_ok", "llm", "chat"),
            ("workflow", "chain", ""),
            ("rerank", "retrieval", "retrieval"),
            ("after_scope", "span", ""),
        ]
    );
    assert_eq!(chat.kind, "Client");
    assert_eq!(agent.kind, "Internal");

    // The chat call: model, parameters, tokens, content (masked, exactly).
    assert_eq!(chat.provider, "openai");
    assert_eq!(chat.request_model, "gpt-4o-mini");
    assert_eq!(chat.response_model, "gpt-4o-mini-2024-07-18");
    assert_eq!(chat.response_id, "chatcmpl-1");
    assert_eq!(
        (chat.temperature, chat.max_tokens, chat.top_p),
        (Some(0.2), Some(300), Some(0.9))
    );
    assert_eq!(
        (
            chat.input_tokens,
            chat.output_tokens,
            chat.cached_tokens,
            chat.reasoning_tokens
        ),
        (Some(42), Some(17), Some(10), Some(5))
    );
    assert_eq!(chat.finish_reasons, vec!["stop".to_string()]);
    assert_eq!(
        chat.input,
        r#"[{"role":"system","parts":[{"type":"text","content":"Be brief."}]},{"role":"user","parts":[{"type":"text","content":"My token is [masked]"}]}]"#
    );
    assert_eq!(
        chat.output,
        r#"[{"role":"assistant","parts":[{"type":"text","content":"Day 1: Alfama."}],"finish_reason":"stop"}]"#
    );
    assert_eq!(
        (chat.is_streaming, chat.time_to_first_token_ns),
        (None, None)
    );
    assert_eq!(chat.status_code, "Unset");
    assert!(
        chat.duration_ns >= 5_000_000,
        "chat duration {}",
        chat.duration_ns
    );

    // Tool input/output, masked.
    assert_eq!(weather.input, r#"{"city":"Lisbon"}"#);
    assert_eq!(weather.output, r#"{"forecast":"sunny, [masked]"}"#);

    // The completed stream: TTFT (≥ the 40 ms before the first chunk, < the span), output, usage.
    assert_eq!(stream.provider, "anthropic");
    assert_eq!(stream.is_streaming, Some(true));
    let ttft = stream.time_to_first_token_ns.expect("ttft");
    assert!(
        ttft >= 40_000_000 && ttft < stream.duration_ns,
        "ttft {ttft} duration {}",
        stream.duration_ns
    );
    assert!(
        stream.duration_ns - ttft >= 5_000_000,
        "5 ms between first chunk and end"
    );
    assert_eq!(
        stream.output,
        r#"[{"role":"assistant","parts":[{"type":"text","content":"Hello [masked]"}],"finish_reason":"end_turn"}]"#
    );
    assert_eq!(
        (stream.input_tokens, stream.output_tokens),
        (Some(20), Some(2))
    );
    assert_eq!(stream.finish_reasons, vec!["end_turn".to_string()]);

    // Dropped early: partial output and the usage seen so far, flagged as cancelled, not an error.
    assert_eq!(dropped.is_streaming, Some(true));
    assert!(dropped.time_to_first_token_ns.is_some());
    assert_eq!(dropped.output, text("partial"));
    assert_eq!(
        (dropped.input_tokens, dropped.output_tokens),
        (Some(9), None)
    );
    assert_eq!(dropped.status_code, "Unset");
    assert!(
        dropped
            .span_attributes
            .contains(&("spanlens.stream.cancelled".to_string(), "true".to_string()))
    );

    // The wrapped stream that errored: ended with the stream, error recorded, partial output kept.
    assert_eq!(
        (wrapped.status_code.as_str(), wrapped.error_type.as_str()),
        ("Error", "StreamError")
    );
    assert_eq!(wrapped.status_message, "connection reset");
    assert_eq!(wrapped.output, text("par"));
    assert_eq!(wrapped.is_streaming, Some(true));
    assert!(wrapped.time_to_first_token_ns.is_some());
    assert!(
        wrapped
            .span_attributes
            .iter()
            .all(|(k, _)| k != "spanlens.stream.cancelled")
    );

    // Failed.
    assert_eq!(failed.status_code, "Error");
    assert_eq!(failed.status_message, "429 Too Many Requests");
    assert_eq!(failed.error_type, "RateLimitError");
    assert_eq!(failed.output, "");

    // Retrieval input/output (a string input is stored as-is).
    assert_eq!(rerank.input, "query");
    assert_eq!(rerank.output, r#"["doc-1","doc-2"]"#);

    // The scope reached every span inside it — also the spawned ones — and none outside.
    for r in [
        agent, chat, weather, lookup, stream, dropped, wrapped, failed, workflow, rerank,
    ] {
        assert_eq!(r.session_id, "sess-1", "{}", r.name);
        assert_eq!(r.user_id, "user-1", "{}", r.name);
        assert_eq!(
            r.tags,
            vec!["e2e".to_string(), "sdk".to_string()],
            "{}",
            r.name
        );
        assert_eq!(
            r.metadata,
            vec![("tenant".to_string(), "acme".to_string())],
            "{}",
            r.name
        );
        assert_eq!(
            (r.prompt_name.as_str(), r.prompt_version.as_str()),
            ("trip-planner", "3"),
            "{}",
            r.name
        );
    }
    assert_eq!(
        (after.session_id.as_str(), after.user_id.as_str()),
        ("", "")
    );
    assert!(after.tags.is_empty() && after.metadata.is_empty());

    t.shutdown().await;
}
