//! `spanlens::openai` beyond chat completions, end to end: embeddings, the Responses API plain
//! (the model calls a tool; tool definitions recorded) and streamed (the answer from the tool
//! output), run by `async-openai` against a fake OpenAI server started here; the spans go to the
//! in-process collector and the stored rows are checked exactly.
//!
//! `cargo test -p spanlens --features async-openai --test openai_apis`

#[path = "../../spanlens-collector/tests/support/mod.rs"]
mod support;

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::types::embeddings::CreateEmbeddingRequestArgs;
use async_openai::types::responses::{CreateResponse, OutputItem, ResponseStreamEvent};
use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::Response;
use futures::StreamExt;
use serde_json::{Value, json};
use spanlens_collector::storage::row::SpanRow;
use support::TestCollector;

const MODEL: &str = "gpt-4.1-mini";
const RESPONSE_MODEL: &str = "gpt-4.1-mini-2025-04-14";
const FIRST_DELTA_DELAY: Duration = Duration::from_millis(30);

fn response_body(id: &str, output: Value, usage: Value) -> Value {
    json!({"id": id, "object": "response", "created_at": 1_764_000_000, "status": "completed",
           "model": RESPONSE_MODEL, "output": output, "usage": usage})
}

fn function_call_answer() -> Value {
    response_body(
        "resp_1",
        json!([{"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "get_weather",
                "arguments": "{\"city\":\"Lisbon\"}", "status": "completed"}]),
        json!({"input_tokens": 80, "input_tokens_details": {"cached_tokens": 64},
               "output_tokens": 18, "output_tokens_details": {"reasoning_tokens": 6}, "total_tokens": 98}),
    )
}

/// SSE: created, two text deltas (the first after FIRST_DELTA_DELAY), completed with usage.
fn streamed_answer() -> Response {
    let message = json!({"type": "message", "id": "msg_2", "status": "completed", "role": "assistant",
                         "content": [{"type": "output_text", "text": "Sunny, 24°C: a T-shirt.", "annotations": []}]});
    let created = json!({"id": "resp_2", "object": "response", "created_at": 1_764_000_001,
                         "status": "in_progress", "model": RESPONSE_MODEL, "output": []});
    let delta = |seq: u64, text: &str| {
        json!({"type": "response.output_text.delta", "sequence_number": seq, "item_id": "msg_2",
               "output_index": 0, "content_index": 0, "delta": text})
    };
    let events = [
        json!({"type": "response.created", "sequence_number": 0, "response": created}),
        delta(1, "Sunny, 24°C"),
        delta(2, ": a T-shirt."),
        json!({"type": "response.completed", "sequence_number": 3, "response": response_body(
            "resp_2", json!([message]),
            json!({"input_tokens": 120, "input_tokens_details": {"cached_tokens": 0},
                   "output_tokens": 9, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 129}))}),
    ];
    let body = futures::stream::iter(events.into_iter().enumerate()).then(|(i, e)| async move {
        if i == 1 {
            tokio::time::sleep(FIRST_DELTA_DELAY).await;
        }
        let ty = e["type"].as_str().unwrap().to_string();
        Ok::<_, Infallible>(format!("event: {ty}\ndata: {e}\n\n"))
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .body(Body::from_stream(body))
        .unwrap()
}

fn json_response(v: Value) -> Response {
    Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(v.to_string()))
        .unwrap()
}

/// The fake OpenAI server: `/v1/responses` (JSON, or SSE when `stream` is true) and
/// `/v1/embeddings`; request bodies are kept.
async fn start_fake_openai(requests: Arc<Mutex<Vec<Value>>>) -> String {
    let kept = requests.clone();
    let app = axum::Router::new()
        .route(
            "/v1/responses",
            axum::routing::post(move |body: Bytes| {
                let requests = kept.clone();
                async move {
                    let request: Value = serde_json::from_slice(&body).unwrap();
                    let stream = request["stream"] == json!(true);
                    requests.lock().unwrap().push(request);
                    if stream {
                        streamed_answer()
                    } else {
                        json_response(function_call_answer())
                    }
                }
            }),
        )
        .route(
            "/v1/embeddings",
            axum::routing::post(move |body: Bytes| {
                let requests = requests.clone();
                async move {
                    requests
                        .lock()
                        .unwrap()
                        .push(serde_json::from_slice(&body).unwrap());
                    json_response(json!({"object": "list", "model": "text-embedding-3-small",
                        "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2, 0.3]},
                                 {"object": "embedding", "index": 1, "embedding": [0.3, 0.2, 0.1]}],
                        "usage": {"prompt_tokens": 6, "total_tokens": 6}}))
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/v1")
}

#[spanlens::observe(as = "tool")]
async fn get_weather(city: String) -> Value {
    json!({"city": city, "celsius": 24})
}

/// Embeds two texts, asks the model (it calls `get_weather`), runs the tool, streams the answer.
#[spanlens::observe(as = "agent", capture_input = false)]
async fn weather_agent(client: &Client<OpenAIConfig>) -> anyhow::Result<String> {
    let embedding = CreateEmbeddingRequestArgs::default()
        .model("text-embedding-3-small")
        .input(["Lisbon weather", "Porto weather"])
        .build()?;
    spanlens::openai::embeddings(client, embedding).await?;

    // Requests as JSON, in the shape the OpenAI docs show (async-openai deserializes them).
    let request: CreateResponse = serde_json::from_value(json!({
        "model": MODEL,
        "instructions": "You are a weather assistant.",
        "input": "What should I wear in Lisbon?",
        "tools": [{"type": "function", "name": "get_weather", "description": "Current weather for a city",
                   "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}],
        "temperature": 0.0,
        "max_output_tokens": 200
    }))?;
    let response = spanlens::openai::responses(client, request).await?;
    let Some(OutputItem::FunctionCall(call)) = response.output.first().cloned() else {
        anyhow::bail!("expected a function call: {:?}", response.output);
    };
    let args: Value = serde_json::from_str(&call.arguments)?;
    let weather = get_weather(args["city"].as_str().unwrap_or_default().into()).await;

    let request: CreateResponse = serde_json::from_value(json!({
        "model": MODEL,
        "input": [
            {"role": "user", "content": "What should I wear in Lisbon?"},
            {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
            {"type": "function_call_output", "call_id": call.call_id, "output": weather.to_string()}
        ]
    }))?;
    let mut stream = spanlens::openai::responses_stream(client, request).await?;
    let mut answer = String::new();
    while let Some(event) = stream.next().await {
        if let ResponseStreamEvent::ResponseOutputTextDelta(delta) = event? {
            answer.push_str(&delta.delta);
        }
    }
    Ok(answer)
}

fn parsed(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn attribute<'a>(row: &'a SpanRow, key: &str) -> Option<&'a str> {
    row.span_attributes
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embeddings_and_responses_api_plain_and_streamed() {
    let t = TestCollector::start("sdk_openai_apis").await;
    let requests = Arc::new(Mutex::new(Vec::new()));
    let base = start_fake_openai(requests.clone()).await;
    let _guard = spanlens::builder()
        .endpoint(format!("http://{}", t.grpc_addr()))
        .service_name("sdk-openai-apis")
        .batch_delay(Duration::from_millis(100))
        .init()
        .expect("init");
    let client = Client::with_config(
        OpenAIConfig::new()
            .with_api_base(base)
            .with_api_key("sk-fake"),
    );
    let answer = weather_agent(&client).await.expect("agent");
    assert_eq!(answer, "Sunny, 24°C: a T-shirt.");
    spanlens::shutdown().await.expect("flush");
    assert_eq!(requests.lock().unwrap().len(), 3);

    let rows = t.spans(5).await;
    let names: Vec<(&str, &str, &str)> = rows
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
        names,
        vec![
            ("weather_agent", "agent", "invoke_agent"),
            (
                "embeddings text-embedding-3-small",
                "embedding",
                "embeddings"
            ),
            ("chat gpt-4.1-mini", "llm", "chat"),
            ("get_weather", "tool", "execute_tool"),
            ("chat gpt-4.1-mini", "llm", "chat"),
        ]
    );
    let (agent, embed, plan, tool, streamed) = (&rows[0], &rows[1], &rows[2], &rows[3], &rows[4]);
    for r in [embed, plan, tool, streamed] {
        assert_eq!(r.parent_span_id, agent.span_id, "{}", r.name);
        assert_eq!(r.status_code, "Unset", "{}", r.name);
    }

    // Embeddings: texts in, input tokens, dimensions of the vectors.
    assert_eq!(
        (embed.provider.as_str(), embed.request_model.as_str()),
        ("openai", "text-embedding-3-small")
    );
    assert_eq!(
        parsed(&embed.input),
        json!(["Lisbon weather", "Porto weather"])
    );
    assert_eq!((embed.input_tokens, embed.output_tokens), (Some(6), None));
    assert_eq!(
        attribute(embed, "gen_ai.embeddings.dimension.count"),
        Some("3")
    );

    // Responses API, plain: parameters, instructions + input, tool definitions, the function call.
    let system = json!({"role": "system", "parts": [{"type": "text", "content": "You are a weather assistant."}]});
    let user = json!({"role": "user", "parts": [{"type": "text", "content": "What should I wear in Lisbon?"}]});
    let call = json!({"type": "tool_call", "id": "call_1", "name": "get_weather", "arguments": {"city": "Lisbon"}});
    assert_eq!(
        (
            plan.request_model.as_str(),
            plan.response_model.as_str(),
            plan.response_id.as_str()
        ),
        (MODEL, RESPONSE_MODEL, "resp_1")
    );
    assert_eq!((plan.temperature, plan.max_tokens), (Some(0.0), Some(200)));
    assert_eq!(parsed(&plan.input), json!([system, user]));
    assert_eq!(
        parsed(&plan.output),
        json!([{"role": "assistant", "parts": [call], "finish_reason": "tool_calls"}])
    );
    assert_eq!(plan.finish_reasons, vec!["tool_calls".to_string()]);
    assert_eq!(
        (
            plan.input_tokens,
            plan.output_tokens,
            plan.cached_tokens,
            plan.reasoning_tokens
        ),
        (Some(80), Some(18), Some(64), Some(6))
    );
    let tools = parsed(attribute(plan, "gen_ai.tool.definitions").expect("tool definitions"));
    assert_eq!(
        (
            &tools[0]["type"],
            &tools[0]["name"],
            &tools[0]["description"]
        ),
        (
            &json!("function"),
            &json!("get_weather"),
            &json!("Current weather for a city")
        )
    );
    assert_eq!(
        tools[0]["parameters"]["properties"]["city"]["type"],
        "string"
    );
    assert_eq!(plan.is_streaming, None);

    // The tool.
    assert_eq!(parsed(&tool.input), json!({"city": "Lisbon"}));
    assert_eq!(
        parsed(&tool.output),
        json!({"city": "Lisbon", "celsius": 24})
    );

    // Responses API, streamed: the function call and its output in the input, TTFT, the answer.
    let tool_result = json!({"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1",
                                                        "response": json!({"city": "Lisbon", "celsius": 24}).to_string()}]});
    assert_eq!(
        parsed(&streamed.input),
        json!([user, {"role": "assistant", "parts": [call]}, tool_result])
    );
    assert_eq!(streamed.response_id, "resp_2");
    assert_eq!(streamed.is_streaming, Some(true));
    let ttft = streamed.time_to_first_token_ns.expect("ttft");
    assert!(
        ttft >= FIRST_DELTA_DELAY.as_nanos() as u64 && ttft < streamed.duration_ns,
        "ttft {ttft}"
    );
    assert_eq!(
        parsed(&streamed.output),
        json!([{"role": "assistant", "parts": [{"type": "text", "content": "Sunny, 24°C: a T-shirt."}], "finish_reason": "stop"}])
    );
    assert_eq!(
        (streamed.input_tokens, streamed.output_tokens),
        (Some(120), Some(9))
    );
    assert_eq!(streamed.finish_reasons, vec!["stop".to_string()]);

    t.shutdown().await;
}
