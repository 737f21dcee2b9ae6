//! `examples/agent.rs` end to end: the agent (two `async-openai` chat calls — the second one
//! streamed — around a tool call) runs against a fake OpenAI-compatible server started here,
//! its spans go over OTLP/gRPC to an in-process collector, and the stored tree is checked
//! exactly.
//!
//! `cargo test -p spanlens --features async-openai --test example_agent`

#[path = "../../spanlens-collector/tests/support/mod.rs"]
mod support;

#[path = "../examples/agent.rs"]
#[allow(dead_code)]
mod agent;

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::Response;
use futures::StreamExt;
use serde_json::{Value, json};
use spanlens_collector::storage::row::SpanRow;
use support::TestCollector;

const RESPONSE_MODEL: &str = "gpt-4o-mini-2024-07-18";
/// Delay before the first streamed chunk (the TTFT floor) and between chunks.
const FIRST_CHUNK_DELAY: Duration = Duration::from_millis(30);
const CHUNK_DELAY: Duration = Duration::from_millis(5);

/// The fake `/v1/chat/completions`: a non-streaming request gets a `get_weather` tool call, a
/// streaming one gets the answer as SSE chunks (text, finish reason, usage, `[DONE]`). Request
/// bodies are kept for the assertions.
async fn start_fake_openai(requests: Arc<Mutex<Vec<Value>>>) -> String {
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(move |body: Bytes| {
            let requests = requests.clone();
            async move {
                let request: Value = serde_json::from_slice(&body).expect("JSON request");
                let stream = request["stream"] == json!(true);
                requests.lock().unwrap().push(request);
                if stream {
                    streamed_answer()
                } else {
                    tool_call_answer()
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/v1")
}

fn tool_call_answer() -> Response {
    let body = json!({
        "id": "chatcmpl-fake-1", "object": "chat.completion", "created": 1_764_000_000, "model": RESPONSE_MODEL,
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": null,
            "tool_calls": [{"id": "call_1", "type": "function",
                            "function": {"name": "get_weather", "arguments": "{\"city\":\"Lisbon\"}"}}]}}],
        "usage": {"prompt_tokens": 57, "completion_tokens": 12, "total_tokens": 69,
                  "prompt_tokens_details": {"cached_tokens": 32}}
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

fn streamed_answer() -> Response {
    let chunk = |choices: Value, usage: Value| {
        json!({"id": "chatcmpl-fake-2", "object": "chat.completion.chunk", "created": 1_764_000_001,
               "model": RESPONSE_MODEL, "choices": choices, "usage": usage})
    };
    let delta = |delta: Value, finish: Value| json!([{"index": 0, "delta": delta, "finish_reason": finish}]);
    let events: Vec<String> = vec![
        chunk(
            delta(json!({"role": "assistant", "content": ""}), Value::Null),
            Value::Null,
        ),
        chunk(
            delta(json!({"content": "Sunny and 24°C"}), Value::Null),
            Value::Null,
        ),
        chunk(
            delta(
                json!({"content": " in Lisbon: wear a T-shirt."}),
                Value::Null,
            ),
            Value::Null,
        ),
        chunk(delta(json!({}), json!("stop")), Value::Null),
        chunk(
            json!([]),
            json!({"prompt_tokens": 90, "completion_tokens": 15, "total_tokens": 105}),
        ),
    ]
    .into_iter()
    .map(|c| format!("data: {c}\n\n"))
    .chain(["data: [DONE]\n\n".to_string()])
    .collect();
    let body =
        futures::stream::iter(events.into_iter().enumerate()).then(|(i, event)| async move {
            tokio::time::sleep(if i == 0 {
                FIRST_CHUNK_DELAY
            } else {
                CHUNK_DELAY
            })
            .await;
            Ok::<_, Infallible>(event)
        });
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .body(Body::from_stream(body))
        .unwrap()
}

fn parsed(json_text: &str) -> Value {
    serde_json::from_str(json_text).unwrap_or_else(|e| panic!("not JSON ({e}): {json_text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_agent_stores_one_agent_two_llm_calls_and_a_tool() {
    let t = TestCollector::start("sdk_example_agent").await;
    let requests = Arc::new(Mutex::new(Vec::new()));
    let base = start_fake_openai(requests.clone()).await;

    let _guard = spanlens::builder()
        .endpoint(format!("http://{}", t.grpc_addr()))
        .service_name("weather-agent")
        .batch_delay(Duration::from_millis(100))
        .init()
        .expect("init");
    let client = Client::with_config(
        OpenAIConfig::new()
            .with_api_base(base)
            .with_api_key("sk-fake"),
    );
    let answer = agent::run(
        &client,
        "What should I wear in Lisbon today?",
        "sess-agent",
        "user-agent",
    )
    .await
    .expect("agent run");
    assert_eq!(answer, "Sunny and 24°C in Lisbon: wear a T-shirt.");
    spanlens::shutdown().await.expect("flush");

    // The fake server saw the tool result in the second request.
    let requests = requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1]["messages"][3]["role"], "tool");
    assert_eq!(requests[1]["stream"], true);

    let rows: Vec<SpanRow> = t.spans(4).await;
    let names: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r.name.as_str(), r.observation_type.as_str()))
        .collect();
    assert_eq!(
        names,
        vec![
            ("weather_agent", "agent"),
            ("chat gpt-4o-mini", "llm"),
            ("get_weather", "tool"),
            ("chat gpt-4o-mini", "llm"),
        ],
        "rows by start time"
    );
    let (agent, plan, tool, answer_llm) = (&rows[0], &rows[1], &rows[2], &rows[3]);

    // The tree: one root, three children in order, not overlapping.
    assert_eq!(agent.parent_span_id, "");
    assert_eq!(agent.operation, "invoke_agent");
    for r in [plan, tool, answer_llm] {
        assert_eq!(r.trace_id, agent.trace_id, "{}", r.name);
        assert_eq!(
            r.parent_span_id, agent.span_id,
            "{} under the agent",
            r.name
        );
    }
    let end = |r: &SpanRow| r.start_time + r.duration_ns as i64;
    assert!(
        end(plan) <= tool.start_time && end(tool) <= answer_llm.start_time,
        "plan → tool → answer"
    );
    assert!(end(answer_llm) <= end(agent));

    // Session and user on every span; the service.
    for r in &rows {
        assert_eq!(
            (r.session_id.as_str(), r.user_id.as_str()),
            ("sess-agent", "user-agent"),
            "{}",
            r.name
        );
        assert_eq!(r.service_name, "weather-agent");
        assert_eq!(r.status_code, "Unset", "{}", r.name);
    }

    let system = json!({"role": "system", "parts": [{"type": "text", "content": "You are a weather assistant. Use tools."}]});
    let user = json!({"role": "user", "parts": [{"type": "text", "content": "What should I wear in Lisbon today?"}]});
    let call = json!({"role": "assistant", "parts": [{"type": "tool_call", "id": "call_1", "name": "get_weather", "arguments": {"city": "Lisbon"}}]});
    let weather = json!({"city": "Lisbon", "forecast": "sunny", "celsius": 24});

    // LLM call 1: the tool decision, non-streaming.
    assert_eq!(
        (
            plan.operation.as_str(),
            plan.provider.as_str(),
            plan.kind.as_str()
        ),
        ("chat", "openai", "Client")
    );
    assert_eq!(
        (plan.request_model.as_str(), plan.response_model.as_str()),
        ("gpt-4o-mini", RESPONSE_MODEL)
    );
    assert_eq!(plan.response_id, "chatcmpl-fake-1");
    assert_eq!(
        (plan.temperature, plan.max_tokens, plan.top_p),
        (Some(0.0), Some(200), None)
    );
    assert_eq!(
        (plan.input_tokens, plan.output_tokens, plan.cached_tokens),
        (Some(57), Some(12), Some(32))
    );
    assert_eq!(plan.finish_reasons, vec!["tool_calls".to_string()]);
    assert_eq!(
        (plan.is_streaming, plan.time_to_first_token_ns),
        (None, None)
    );
    assert_eq!(parsed(&plan.input), json!([system, user]));
    let mut call_out = call.clone();
    call_out["finish_reason"] = json!("tool_calls");
    assert_eq!(parsed(&plan.output), json!([call_out]));

    // The tools offered (Chat Completions' `function` wrapper flattened, GenAI style).
    let tools = plan
        .span_attributes
        .iter()
        .find(|(k, _)| k == "gen_ai.tool.definitions")
        .map(|(_, v)| parsed(v))
        .expect("tool definitions");
    assert_eq!(
        tools,
        json!([{"type": "function", "name": "get_weather", "description": "Current weather for a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}])
    );

    // The tool: arguments in, result out.
    assert_eq!(tool.operation, "execute_tool");
    assert_eq!(parsed(&tool.input), json!({"city": "Lisbon"}));
    assert_eq!(parsed(&tool.output), weather);

    // LLM call 2: the answer, streamed.
    assert_eq!(
        (
            answer_llm.request_model.as_str(),
            answer_llm.response_model.as_str()
        ),
        ("gpt-4o-mini", RESPONSE_MODEL)
    );
    assert_eq!(answer_llm.response_id, "chatcmpl-fake-2");
    assert_eq!(
        (answer_llm.temperature, answer_llm.max_tokens),
        (Some(0.0), None)
    );
    assert_eq!(
        (
            answer_llm.input_tokens,
            answer_llm.output_tokens,
            answer_llm.cached_tokens
        ),
        (Some(90), Some(15), None)
    );
    assert_eq!(answer_llm.finish_reasons, vec!["stop".to_string()]);
    assert_eq!(answer_llm.is_streaming, Some(true));
    let ttft = answer_llm.time_to_first_token_ns.expect("ttft");
    assert!(
        ttft >= FIRST_CHUNK_DELAY.as_nanos() as u64 && ttft < answer_llm.duration_ns,
        "ttft {ttft}"
    );
    let tool_result = json!({"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1", "response": weather.to_string()}]});
    assert_eq!(
        parsed(&answer_llm.input),
        json!([system, user, call, tool_result])
    );
    assert_eq!(
        parsed(&answer_llm.output),
        json!([{"role": "assistant", "parts": [{"type": "text", "content": "Sunny and 24°C in Lisbon: wear a T-shirt."}], "finish_reason": "stop"}])
    );
    assert!(
        answer_llm
            .span_attributes
            .iter()
            .all(|(k, _)| k != "spanlens.stream.cancelled")
    );

    t.shutdown().await;
}
