//! Traced Responses API calls (`client.responses().create(..)` / `.create_stream(..)`).

use std::pin::Pin;
use std::task::{Context, Poll};

use async_openai::Client;
use async_openai::config::Config;
use async_openai::error::OpenAIError;
use async_openai::types::responses::{
    CreateResponse, Response, ResponseStream, ResponseStreamEvent,
};
use serde_json::Value;

use super::{PROVIDER, f32_to_f64, parse_arguments, record_openai_error, to_json};
use crate::{LlmSpan, LlmSpanBuilder, Message, Part, SpanHandle, Usage};

/// `client.responses().create(request)`, traced as an LLM span: provider `openai`, the request
/// model, temperature, max output tokens, top-p, the input (instructions as a system message,
/// messages, function calls and their outputs), the tool definitions; from the answer the
/// response model and id, the output (text, reasoning summaries, function calls) as one
/// assistant message, a finish reason (`tool_calls` when the model called a function, the
/// `incomplete_details.reason` of an incomplete response, else `stop`), usage with cached and
/// reasoning tokens. Errors as in [`super::chat`].
///
/// ```no_run
/// use async_openai::types::responses::CreateResponseArgs;
/// # async fn demo(client: async_openai::Client<async_openai::config::OpenAIConfig>) -> Result<(), async_openai::error::OpenAIError> {
/// let request = CreateResponseArgs::default()
///     .model("gpt-4.1-mini")
///     .input("What is OTLP?")
///     .build()?;
/// let response = spanlens::openai::responses(&client, request).await?;
/// # Ok(()) }
/// ```
pub async fn responses<C: Config>(
    client: &Client<C>,
    request: CreateResponse,
) -> Result<Response, OpenAIError> {
    let span = responses_request_span(PROVIDER, &request).start();
    let result = span.in_scope(client.responses().create(request)).await;
    match &result {
        Ok(response) => record_responses_response(&span, response),
        Err(e) => record_openai_error(&span, e),
    }
    span.end();
    result
}

/// `client.responses().create_stream(request)`, traced as a streaming LLM span that follows the
/// returned [`ResponsesStream`]: time to first token at the first output delta (text or
/// function-call arguments), the text deltas as they arrive, and everything of [`responses`]
/// from the final `response.completed` / `response.incomplete` / `response.failed` event; the
/// span ends with the stream, or — dropped early — records the text seen so far and
/// `spanlens.stream.cancelled = true`.
///
/// ```no_run
/// # async fn demo(client: async_openai::Client<async_openai::config::OpenAIConfig>,
/// #               request: async_openai::types::responses::CreateResponse) -> Result<(), async_openai::error::OpenAIError> {
/// use async_openai::types::responses::ResponseStreamEvent;
/// use futures::StreamExt;
/// let mut stream = spanlens::openai::responses_stream(&client, request).await?;
/// while let Some(event) = stream.next().await {
///     if let ResponseStreamEvent::ResponseOutputTextDelta(delta) = event? {
///         print!("{}", delta.delta);
///     }
/// }
/// # Ok(()) }
/// ```
pub async fn responses_stream<C: Config>(
    client: &Client<C>,
    request: CreateResponse,
) -> Result<ResponsesStream, OpenAIError> {
    let span = responses_request_span(PROVIDER, &request)
        .stream(true)
        .start();
    match span
        .in_scope(client.responses().create_stream(request))
        .await
    {
        Ok(inner) => Ok(ResponsesStream {
            inner,
            span: Some(span),
        }),
        Err(e) => {
            record_openai_error(&span, &e);
            span.end();
            Err(e)
        }
    }
}

/// An LLM span builder filled from a Responses API `request`, for calls [`responses`] does not
/// cover (another provider name, a custom client); complete it with
/// [`record_responses_response`] / [`super::record_openai_error`].
///
/// ```
/// use async_openai::types::responses::CreateResponseArgs;
/// let request = CreateResponseArgs::default().model("gpt-4.1-mini").input("Hi").build().unwrap();
/// let span = spanlens::openai::responses_request_span("azure.ai.openai", &request).start();
/// span.end();
/// ```
pub fn responses_request_span(provider: &'static str, request: &CreateResponse) -> LlmSpanBuilder {
    let mut b = crate::chat(provider, request.model.clone().unwrap_or_default());
    if let Some(t) = request.temperature {
        b = b.temperature(f32_to_f64(t));
    }
    if let Some(n) = request.max_output_tokens {
        b = b.max_tokens(u64::from(n));
    }
    if let Some(p) = request.top_p {
        b = b.top_p(f32_to_f64(p));
    }
    if let Some(s) = request.stream {
        b = b.stream(s);
    }
    if let Some(tools) = &request.tools {
        b = b.tool_definitions(tools);
    }
    let mut messages = Vec::new();
    if let Some(instructions) = &request.instructions {
        messages.push(Message::system(instructions.clone()));
    }
    match to_json(&request.input) {
        Value::String(text) => messages.push(Message::user(text)),
        Value::Array(items) => messages.extend(items.iter().filter_map(input_item)),
        _ => {}
    }
    b.input_messages(messages)
}

/// Records a Responses API answer on `span`: response model and id, output, finish reason,
/// usage; a failed response's error.
pub fn record_responses_response(span: &SpanHandle, response: &Response) {
    record_response_json(span, &to_json(response));
}

fn record_response_json(span: &SpanHandle, response: &Value) {
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(String::from);
    if let Some(model) = text(response, "model") {
        span.set_response_model(model);
    }
    if let Some(id) = text(response, "id") {
        span.set_response_id(id);
    }
    let items = response.get("output").and_then(Value::as_array);
    let parts: Vec<Part> = items.into_iter().flatten().flat_map(output_parts).collect();
    let called_tool = parts.iter().any(|p| matches!(p, Part::ToolCall { .. }));
    let reason = match response.get("status").and_then(Value::as_str) {
        _ if called_tool => Some("tool_calls".to_string()),
        Some("completed") => Some("stop".to_string()),
        Some("incomplete") => response
            .pointer("/incomplete_details/reason")
            .and_then(Value::as_str)
            .map(String::from),
        _ => None,
    };
    if let Some(reason) = &reason {
        span.set_finish_reasons([reason.clone()]);
    }
    if !parts.is_empty() {
        let mut message = Message::new("assistant", parts);
        message.finish_reason = reason;
        span.set_output_messages([message]);
    }
    if let Some(u) = response.get("usage").filter(|u| u.is_object()) {
        let n = |ptr: &str| u.pointer(ptr).and_then(Value::as_u64);
        span.set_usage(Usage {
            input_tokens: n("/input_tokens"),
            output_tokens: n("/output_tokens"),
            cache_read_input_tokens: n("/input_tokens_details/cached_tokens"),
            cache_creation_input_tokens: None,
            reasoning_tokens: n("/output_tokens_details/reasoning_tokens"),
        });
    }
    if let Some(error) = response.get("error").filter(|e| e.is_object()) {
        record_error_json(span, error);
    }
}

/// An `error` object (`{"code": …, "message": …}`) as the span's error.
fn record_error_json(span: &SpanHandle, error: &Value) {
    let field = |k: &str| error.get(k).and_then(Value::as_str).unwrap_or_default();
    let kind = match field("code") {
        "" => "ResponseError",
        code => code,
    };
    span.record_error_as(kind.to_string(), field("message").to_string());
}

/// A Responses API input item → a message (messages, function calls, function call outputs).
fn input_item(item: &Value) -> Option<Message> {
    let ty = item
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("message");
    let text = |k: &str| item.get(k).and_then(Value::as_str).unwrap_or_default();
    match ty {
        "message" => {
            let parts = match item.get("content") {
                Some(Value::String(s)) => vec![Part::text(s.clone())],
                Some(Value::Array(parts)) => parts.iter().filter_map(content_part).collect(),
                _ => Vec::new(),
            };
            Some(Message::new(text("role"), parts))
        }
        "function_call" => Some(Message::new(
            "assistant",
            vec![Part::tool_call(
                text("call_id"),
                text("name"),
                parse_arguments(text("arguments")),
            )],
        )),
        "function_call_output" => {
            let output = item.get("output").cloned().unwrap_or(Value::Null);
            Some(Message::new(
                "tool",
                vec![Part::tool_response(text("call_id"), output)],
            ))
        }
        _ => None,
    }
}

/// A content part of a message (input or output) → a GenAI part; images only by URL.
fn content_part(part: &Value) -> Option<Part> {
    let text = |k: &str| part.get(k).and_then(Value::as_str);
    match text("type")? {
        "input_text" | "output_text" | "text" => text("text").map(Part::text),
        "refusal" => text("refusal").map(Part::text),
        "input_image" => text("image_url")
            .filter(|url| !url.starts_with("data:"))
            .map(|url| Part::Uri {
                modality: "image".into(),
                uri: url.into(),
                mime_type: None,
            }),
        _ => None,
    }
}

/// An output item → its parts (message text, reasoning summary, function call).
fn output_parts(item: &Value) -> Vec<Part> {
    let text = |k: &str| item.get(k).and_then(Value::as_str).unwrap_or_default();
    match text("type") {
        "message" => item
            .get("content")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(content_part)
            .collect(),
        "reasoning" => item
            .get("summary")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|s| s.get("text")?.as_str())
            .map(|t| Part::Reasoning { content: t.into() })
            .collect(),
        "function_call" => vec![Part::tool_call(
            text("call_id"),
            text("name"),
            parse_arguments(text("arguments")),
        )],
        _ => Vec::new(),
    }
}

/// The stream returned by [`responses_stream`]: yields `async-openai`'s events unchanged while
/// the span follows them.
pub struct ResponsesStream {
    inner: ResponseStream,
    span: Option<LlmSpan>,
}

impl std::fmt::Debug for ResponsesStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponsesStream")
            .field("span", &self.span)
            .finish_non_exhaustive()
    }
}

fn on_event(span: &SpanHandle, event: &ResponseStreamEvent) {
    let event = to_json(event);
    match event
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
    {
        "response.output_text.delta" => span.record_chunk(
            event
                .get("delta")
                .and_then(Value::as_str)
                .unwrap_or_default(),
        ),
        "response.function_call_arguments.delta" | "response.reasoning_summary_text.delta" => {
            span.mark_first_token()
        }
        "response.completed" | "response.incomplete" | "response.failed" => {
            if let Some(response) = event.get("response") {
                record_response_json(span, response);
            }
        }
        "error" => record_error_json(span, &event),
        _ => {}
    }
}

impl futures_core::Stream for ResponsesStream {
    type Item = Result<ResponseStreamEvent, OpenAIError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        match this.inner.as_mut().poll_next(cx) {
            Poll::Ready(Some(item)) => {
                if let Some(span) = &this.span {
                    match &item {
                        Ok(event) => on_event(span, event),
                        Err(e) => record_openai_error(span, e),
                    }
                }
                Poll::Ready(Some(item))
            }
            Poll::Ready(None) => {
                if let Some(span) = this.span.take() {
                    span.end();
                }
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}
