//! Traced calls of the [`async-openai`](https://docs.rs/async-openai) client (feature
//! `async-openai`): chat completions ([`chat`], [`chat_stream`]), the Responses API
//! ([`responses`], [`responses_stream`]) and embeddings ([`embeddings`]). Tool definitions
//! sent with a request are recorded as `gen_ai.tool.definitions`, tool calls and tool results
//! as message parts.
//!
//! [`chat`] and [`chat_stream`] call `client.chat().create(..)` / `.create_stream(..)` inside an
//! LLM span (see [`crate::chat`]) that records: provider `openai`, the request model,
//! temperature, max tokens (`max_completion_tokens`, else `max_tokens`), top-p, stream flag, the
//! input messages (text, images by URL, tool calls, tool results), and from the answer the
//! response model and id, the finish reasons, the output messages (text and tool calls), the
//! token usage (with cached and reasoning tokens) and — streaming — the time to the first chunk.
//! Errors are recorded with `error.type` = the HTTP status code for API errors, else the
//! `OpenAIError` variant (`Reqwest`, `JSONDeserialize`, `StreamError`, `InvalidArgument`, …).
//!
//! ```no_run
//! use async_openai::Client;
//! use async_openai::types::chat::{ChatCompletionRequestUserMessage, CreateChatCompletionRequestArgs};
//! use futures::StreamExt;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::new();
//! let request = CreateChatCompletionRequestArgs::default()
//!     .model("gpt-4o-mini")
//!     .messages([ChatCompletionRequestUserMessage::from("What is OTLP?").into()])
//!     .build()?;
//! let response = spanlens::openai::chat(&client, request.clone()).await?;
//!
//! // Streaming: the span ends when the stream ends (or records the partial answer when dropped).
//! let mut stream = spanlens::openai::chat_stream(&client, request).await?;
//! while let Some(chunk) = stream.next().await {
//!     let _chunk = chunk?;
//! }
//! # Ok(()) }
//! ```
//!
//! Streamed token usage is only sent by OpenAI when the request asks for it
//! (`stream_options.include_usage = true`); the wrapper does not change the request.

use std::pin::Pin;
use std::task::{Context, Poll};

use async_openai::Client;
use async_openai::config::Config;
use async_openai::error::OpenAIError;
use async_openai::types::chat::{
    ChatCompletionResponseStream, CompletionUsage, CreateChatCompletionRequest,
    CreateChatCompletionResponse, CreateChatCompletionStreamResponse,
};
use serde::Serialize;
use serde_json::Value;

use crate::{LlmSpan, LlmSpanBuilder, Message, Part, SpanHandle, Usage};

mod embeddings;
mod responses;

pub use embeddings::embeddings;
pub use responses::{
    ResponsesStream, record_responses_response, responses, responses_request_span, responses_stream,
};

/// The provider name recorded by [`chat`] and [`chat_stream`].
pub const PROVIDER: &str = "openai";

/// `client.chat().create(request)`, traced as an LLM span.
///
/// ```no_run
/// # async fn demo(client: async_openai::Client<async_openai::config::OpenAIConfig>,
/// #               request: async_openai::types::chat::CreateChatCompletionRequest) -> Result<(), async_openai::error::OpenAIError> {
/// let response = spanlens::openai::chat(&client, request).await?;
/// # Ok(()) }
/// ```
pub async fn chat<C: Config>(
    client: &Client<C>,
    request: CreateChatCompletionRequest,
) -> Result<CreateChatCompletionResponse, OpenAIError> {
    let span = request_span(PROVIDER, &request).start();
    let result = span.in_scope(client.chat().create(request)).await;
    match &result {
        Ok(response) => record_response(&span, response),
        Err(e) => record_openai_error(&span, e),
    }
    span.end();
    result
}

/// `client.chat().create_stream(request)`, traced as a streaming LLM span that follows the
/// returned [`ChatStream`]: time to first token at the first chunk, text and tool-call deltas
/// assembled into the output messages, usage and finish reasons as they arrive, errors; the span
/// ends with the stream, or — dropped early — records the partial answer and
/// `spanlens.stream.cancelled = true`.
///
/// ```no_run
/// # async fn demo(client: async_openai::Client<async_openai::config::OpenAIConfig>,
/// #               request: async_openai::types::chat::CreateChatCompletionRequest) -> Result<(), async_openai::error::OpenAIError> {
/// use futures::StreamExt;
/// let mut stream = spanlens::openai::chat_stream(&client, request).await?;
/// while let Some(chunk) = stream.next().await {
///     for choice in chunk?.choices {
///         print!("{}", choice.delta.content.unwrap_or_default());
///     }
/// }
/// # Ok(()) }
/// ```
pub async fn chat_stream<C: Config>(
    client: &Client<C>,
    request: CreateChatCompletionRequest,
) -> Result<ChatStream, OpenAIError> {
    let span = request_span(PROVIDER, &request).stream(true).start();
    match span.in_scope(client.chat().create_stream(request)).await {
        Ok(inner) => Ok(ChatStream {
            inner,
            span: Some(span),
            acc: StreamAcc::default(),
        }),
        Err(e) => {
            record_openai_error(&span, &e);
            span.end();
            Err(e)
        }
    }
}

/// An LLM span builder filled from `request` (model, parameters, stream flag, input messages),
/// for calls that [`chat`] does not cover (another provider name, a custom client). Complete it
/// with [`record_response`] / [`record_openai_error`].
///
/// ```
/// use async_openai::types::chat::{ChatCompletionRequestUserMessage, CreateChatCompletionRequestArgs};
/// let request = CreateChatCompletionRequestArgs::default()
///     .model("llama-3.1-8b")
///     .temperature(0.2)
///     .messages([ChatCompletionRequestUserMessage::from("Hi").into()])
///     .build()
///     .unwrap();
/// let mut span = spanlens::openai::request_span("groq", &request).start();
/// span.end();
/// ```
pub fn request_span(
    provider: &'static str,
    request: &CreateChatCompletionRequest,
) -> LlmSpanBuilder {
    let mut b = crate::chat(provider, request.model.clone());
    if let Some(t) = request.temperature {
        b = b.temperature(f32_to_f64(t));
    }
    #[allow(deprecated)] // `max_tokens`: still sent by many OpenAI-compatible clients
    let max_tokens = request.max_completion_tokens.or(request.max_tokens);
    if let Some(n) = max_tokens {
        b = b.max_tokens(u64::from(n));
    }
    if let Some(p) = request.top_p {
        b = b.top_p(f32_to_f64(p));
    }
    if let Some(s) = request.stream {
        b = b.stream(s);
    }
    if let Some(tools) = &request.tools {
        b = b.tool_definitions(&chat_tool_definitions(&to_json(tools)));
    }
    let messages: Vec<Message> = request
        .messages
        .iter()
        .map(|m| message_from_openai(&to_json(m)))
        .collect();
    b.input_messages(messages)
}

/// Chat Completions tools (`[{"type":"function","function":{name,description,parameters}}]`)
/// → GenAI tool definitions (`[{"type":"function",name,description,parameters}]`).
fn chat_tool_definitions(tools: &Value) -> Value {
    let defs = tools
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            let mut def = t
                .get("function")
                .or_else(|| t.get("custom"))
                .cloned()
                .unwrap_or_else(|| t.clone());
            if let Some(obj) = def.as_object_mut() {
                let ty = t.get("type").cloned().unwrap_or(Value::from("function"));
                obj.insert("type".into(), ty);
            }
            def
        })
        .collect();
    Value::Array(defs)
}

/// Records a (non-streaming) response on `span`: response model and id, finish reasons, output
/// messages, usage.
pub fn record_response(span: &SpanHandle, response: &CreateChatCompletionResponse) {
    span.set_response_model(response.model.clone());
    span.set_response_id(response.id.clone());
    let mut reasons = Vec::new();
    let mut output = Vec::new();
    for choice in &response.choices {
        let reason = choice.finish_reason.as_ref().map(enum_str);
        let mut m = message_from_openai(&to_json(&choice.message));
        m.finish_reason = reason.clone();
        output.push(m);
        reasons.extend(reason);
    }
    if !reasons.is_empty() {
        span.set_finish_reasons(reasons);
    }
    span.set_output_messages(output);
    if let Some(u) = &response.usage {
        span.set_usage(usage(u));
    }
}

/// Records an `async-openai` error on `span` (`error.type` = HTTP status code for API errors,
/// else the variant name).
pub fn record_openai_error(span: &SpanHandle, error: &OpenAIError) {
    let kind = match error {
        OpenAIError::ApiError(e) => e.status_code.as_u16().to_string(),
        OpenAIError::Reqwest(_) => "Reqwest".into(),
        OpenAIError::JSONDeserialize(..) => "JSONDeserialize".into(),
        OpenAIError::StreamError(_) => "StreamError".into(),
        OpenAIError::InvalidArgument(_) => "InvalidArgument".into(),
        #[allow(unreachable_patterns)]
        _ => "OpenAIError".into(),
    };
    span.record_error_as(kind, error.to_string());
}

fn usage(u: &CompletionUsage) -> Usage {
    let mut usage = Usage::new(u64::from(u.prompt_tokens), u64::from(u.completion_tokens));
    if let Some(cached) = u
        .prompt_tokens_details
        .as_ref()
        .and_then(|d| d.cached_tokens)
    {
        usage = usage.cached(u64::from(cached));
    }
    if let Some(reasoning) = u
        .completion_tokens_details
        .as_ref()
        .and_then(|d| d.reasoning_tokens)
    {
        usage = usage.reasoning(u64::from(reasoning));
    }
    usage
}

/// `0.2f32` → `0.2f64` (not `0.20000000298…`).
fn f32_to_f64(v: f32) -> f64 {
    v.to_string().parse().unwrap_or(f64::from(v))
}

fn to_json<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// The serde name of a unit enum value (`FinishReason::ToolCalls` → `tool_calls`).
fn enum_str<T: Serialize>(v: &T) -> String {
    match to_json(v) {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

/// An OpenAI chat message (request or response, as JSON) → GenAI parts.
fn message_from_openai(v: &Value) -> Message {
    let role = v.get("role").and_then(Value::as_str).unwrap_or("assistant");
    let mut parts = Vec::new();
    if role == "tool" {
        let id = v
            .get("tool_call_id")
            .and_then(Value::as_str)
            .map(String::from);
        let response = match v.get("content") {
            Some(Value::Array(items)) => Value::String(
                items
                    .iter()
                    .filter_map(|p| p.get("text")?.as_str())
                    .collect(),
            ),
            Some(c) => c.clone(),
            None => Value::Null,
        };
        parts.push(Part::ToolCallResponse { id, response });
    } else {
        match v.get("content") {
            Some(Value::String(s)) => parts.push(Part::text(s.clone())),
            Some(Value::Array(items)) => {
                for p in items {
                    match p.get("type").and_then(Value::as_str) {
                        Some("text") => {
                            parts.extend(p.get("text").and_then(Value::as_str).map(Part::text))
                        }
                        Some("refusal") => {
                            parts.extend(p.get("refusal").and_then(Value::as_str).map(Part::text))
                        }
                        Some("image_url") => {
                            if let Some(url) = p.pointer("/image_url/url").and_then(Value::as_str) {
                                // Inline (base64 `data:`) images are not copied into the span.
                                if !url.starts_with("data:") {
                                    parts.push(Part::Uri {
                                        modality: "image".into(),
                                        uri: url.into(),
                                        mime_type: None,
                                    });
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
        if let Some(refusal) = v.get("refusal").and_then(Value::as_str) {
            parts.push(Part::text(refusal));
        }
        for call in v
            .get("tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let id = call.get("id").and_then(Value::as_str).unwrap_or_default();
            if let Some(f) = call.get("function") {
                let name = f.get("name").and_then(Value::as_str).unwrap_or_default();
                let args = f
                    .get("arguments")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                parts.push(Part::tool_call(id, name, parse_arguments(args)));
            } else if let Some(c) = call.get("custom") {
                let name = c.get("name").and_then(Value::as_str).unwrap_or_default();
                parts.push(Part::tool_call(
                    id,
                    name,
                    c.get("input").cloned().unwrap_or(Value::Null),
                ));
            }
        }
        if let Some(f) = v.get("function_call").filter(|f| f.is_object()) {
            let name = f.get("name").and_then(Value::as_str).unwrap_or_default();
            let args = f
                .get("arguments")
                .and_then(Value::as_str)
                .unwrap_or_default();
            parts.push(Part::ToolCall {
                id: None,
                name: name.into(),
                arguments: parse_arguments(args),
            });
        }
    }
    let mut m = Message::new(role, parts);
    m.name = v.get("name").and_then(Value::as_str).map(String::from);
    m
}

/// Tool-call arguments are a JSON text: stored as JSON when they parse, else as the string.
fn parse_arguments(args: &str) -> Value {
    if args.is_empty() {
        return Value::Null;
    }
    serde_json::from_str(args).unwrap_or_else(|_| Value::String(args.into()))
}

/// The stream returned by [`chat_stream`]: yields `async-openai`'s chunks unchanged while the
/// span follows them.
pub struct ChatStream {
    inner: ChatCompletionResponseStream,
    span: Option<LlmSpan>,
    acc: StreamAcc,
}

impl std::fmt::Debug for ChatStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatStream")
            .field("span", &self.span)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct StreamAcc {
    seen_first: bool,
    response_model_set: bool,
    response_id_set: bool,
    choices: Vec<ChoiceAcc>,
}

#[derive(Default)]
struct ChoiceAcc {
    role: Option<String>,
    text: String,
    tool_calls: Vec<ToolCallAcc>,
    finish_reason: Option<String>,
}

#[derive(Default)]
struct ToolCallAcc {
    id: String,
    name: String,
    arguments: String,
}

impl StreamAcc {
    fn on_chunk(&mut self, span: &LlmSpan, chunk: &CreateChatCompletionStreamResponse) {
        if !self.response_model_set && !chunk.model.is_empty() {
            span.set_response_model(chunk.model.clone());
            self.response_model_set = true;
        }
        if !self.response_id_set && !chunk.id.is_empty() {
            span.set_response_id(chunk.id.clone());
            self.response_id_set = true;
        }
        for choice in &chunk.choices {
            let i = choice.index as usize;
            if self.choices.len() <= i {
                self.choices.resize_with(i + 1, ChoiceAcc::default);
            }
            let acc = &mut self.choices[i];
            let delta = &choice.delta;
            if let Some(role) = &delta.role {
                acc.role = Some(enum_str(role));
            }
            if let Some(text) = &delta.content {
                acc.text.push_str(text);
            }
            if let Some(refusal) = &delta.refusal {
                acc.text.push_str(refusal);
            }
            for call in delta.tool_calls.iter().flatten() {
                let j = call.index as usize;
                if acc.tool_calls.len() <= j {
                    acc.tool_calls.resize_with(j + 1, ToolCallAcc::default);
                }
                let t = &mut acc.tool_calls[j];
                if let Some(id) = &call.id {
                    t.id.clone_from(id);
                }
                if let Some(f) = &call.function {
                    if let Some(name) = &f.name {
                        t.name.push_str(name);
                    }
                    if let Some(args) = &f.arguments {
                        t.arguments.push_str(args);
                    }
                }
            }
            if let Some(reason) = &choice.finish_reason {
                acc.finish_reason = Some(enum_str(reason));
            }
        }
        if let Some(u) = &chunk.usage {
            span.set_usage(usage(u));
        }
    }

    /// Writes the assembled output messages and finish reasons onto the span.
    fn finish(&mut self, span: &LlmSpan) {
        let choices = std::mem::take(&mut self.choices);
        let reasons: Vec<String> = choices
            .iter()
            .filter_map(|c| c.finish_reason.clone())
            .collect();
        if !reasons.is_empty() {
            span.set_finish_reasons(reasons);
        }
        let output: Vec<Message> = choices
            .into_iter()
            .filter(|c| !c.text.is_empty() || !c.tool_calls.is_empty())
            .map(|c| {
                let mut parts = Vec::new();
                if !c.text.is_empty() {
                    parts.push(Part::text(c.text));
                }
                for t in c.tool_calls {
                    parts.push(Part::tool_call(t.id, t.name, parse_arguments(&t.arguments)));
                }
                let mut m = Message::new(c.role.unwrap_or_else(|| "assistant".into()), parts);
                m.finish_reason = c.finish_reason;
                m
            })
            .collect();
        if !output.is_empty() {
            span.set_output_messages(output);
        }
    }
}

impl futures_core::Stream for ChatStream {
    type Item = Result<CreateChatCompletionStreamResponse, OpenAIError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        match this.inner.as_mut().poll_next(cx) {
            Poll::Ready(Some(item)) => {
                if let Some(span) = this.span.as_mut() {
                    if !this.acc.seen_first {
                        this.acc.seen_first = true;
                        span.mark_first_token();
                    }
                    match &item {
                        Ok(chunk) => this.acc.on_chunk(span, chunk),
                        Err(e) => record_openai_error(span, e),
                    }
                }
                Poll::Ready(Some(item))
            }
            Poll::Ready(None) => {
                if let Some(span) = this.span.take() {
                    this.acc.finish(&span);
                    span.end();
                }
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for ChatStream {
    fn drop(&mut self) {
        // Dropped before the end: record the partial answer; the span marks itself cancelled.
        if let Some(span) = self.span.take() {
            self.acc.finish(&span);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn openai_messages_become_parts() {
        let assistant = json!({"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Lisbon\"}"}}
        ]});
        assert_eq!(
            message_from_openai(&assistant),
            Message::new(
                "assistant",
                vec![Part::tool_call(
                    "call_1",
                    "get_weather",
                    json!({"city": "Lisbon"})
                )]
            )
        );
        let tool = json!({"role": "tool", "tool_call_id": "call_1", "content": "sunny"});
        assert_eq!(
            message_from_openai(&tool),
            Message::new("tool", vec![Part::tool_response("call_1", json!("sunny"))])
        );
        let user = json!({"role": "user", "name": "ana", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": "https://x/cat.png"}},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
        ]});
        let mut expected = Message::new(
            "user",
            vec![
                Part::text("What is this?"),
                Part::Uri {
                    modality: "image".into(),
                    uri: "https://x/cat.png".into(),
                    mime_type: None,
                },
            ],
        );
        expected.name = Some("ana".into());
        assert_eq!(message_from_openai(&user), expected);
        assert_eq!(parse_arguments("not json"), json!("not json"));
        assert_eq!(f32_to_f64(0.2), 0.2);
    }
}
