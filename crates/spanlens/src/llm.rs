//! The typed LLM-call span (OpenTelemetry GenAI conventions), streaming included.

use std::borrow::Cow;
use std::sync::Arc;

use opentelemetry::trace::{SpanKind, Tracer};
use opentelemetry::{Key, KeyValue, StringValue, Value};
use serde::Serialize;

use crate::capture;
use crate::keys;
use crate::message::{Message, render_messages};
use crate::span::{self, Kind, Record, SpanHandle};
use crate::state::{self, State};

/// What kind of model call a span records (`gen_ai.operation.name`).
///
/// ```
/// assert_eq!(spanlens::Operation::Chat.as_str(), "chat");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Chat completion (`chat`).
    Chat,
    /// Legacy text completion (`text_completion`).
    TextCompletion,
    /// Embeddings (`embeddings`).
    Embeddings,
    /// Multimodal content generation, e.g. Gemini (`generate_content`).
    GenerateContent,
}

impl Operation {
    /// The semantic-convention value.
    ///
    /// ```
    /// assert_eq!(spanlens::Operation::Embeddings.as_str(), "embeddings");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Chat => "chat",
            Operation::TextCompletion => "text_completion",
            Operation::Embeddings => "embeddings",
            Operation::GenerateContent => "generate_content",
        }
    }
}

/// Token usage reported by the provider. Unset fields are not written.
///
/// ```
/// let u = spanlens::Usage::new(1200, 300).cached(1000).reasoning(120);
/// assert_eq!(u.cache_read_input_tokens, Some(1000));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Input (prompt) tokens, cached ones included.
    pub input_tokens: Option<u64>,
    /// Output (completion) tokens, reasoning ones included.
    pub output_tokens: Option<u64>,
    /// Input tokens read from the prompt cache (`gen_ai.usage.cache_read.input_tokens`).
    pub cache_read_input_tokens: Option<u64>,
    /// Input tokens written to the prompt cache (`gen_ai.usage.cache_creation.input_tokens`).
    pub cache_creation_input_tokens: Option<u64>,
    /// Reasoning tokens (`gen_ai.usage.reasoning.output_tokens`).
    pub reasoning_tokens: Option<u64>,
}

impl Usage {
    /// Input and output tokens.
    ///
    /// ```
    /// assert_eq!(spanlens::Usage::new(3, 4).output_tokens, Some(4));
    /// ```
    pub fn new(input_tokens: u64, output_tokens: u64) -> Usage {
        Usage {
            input_tokens: Some(input_tokens),
            output_tokens: Some(output_tokens),
            ..Usage::default()
        }
    }

    /// Sets the cache-read input tokens.
    ///
    /// ```
    /// assert_eq!(spanlens::Usage::new(3, 4).cached(2).cache_read_input_tokens, Some(2));
    /// ```
    pub fn cached(mut self, tokens: u64) -> Usage {
        self.cache_read_input_tokens = Some(tokens);
        self
    }

    /// Sets the cache-creation input tokens.
    ///
    /// ```
    /// assert_eq!(spanlens::Usage::new(3, 4).cache_creation(1).cache_creation_input_tokens, Some(1));
    /// ```
    pub fn cache_creation(mut self, tokens: u64) -> Usage {
        self.cache_creation_input_tokens = Some(tokens);
        self
    }

    /// Sets the reasoning tokens.
    ///
    /// ```
    /// assert_eq!(spanlens::Usage::new(3, 4).reasoning(2).reasoning_tokens, Some(2));
    /// ```
    pub fn reasoning(mut self, tokens: u64) -> Usage {
        self.reasoning_tokens = Some(tokens);
        self
    }

    /// `other`'s set fields over this one's (usage often arrives in pieces while streaming).
    pub(crate) fn merge(&mut self, other: Usage) {
        self.input_tokens = other.input_tokens.or(self.input_tokens);
        self.output_tokens = other.output_tokens.or(self.output_tokens);
        self.cache_read_input_tokens = other
            .cache_read_input_tokens
            .or(self.cache_read_input_tokens);
        self.cache_creation_input_tokens = other
            .cache_creation_input_tokens
            .or(self.cache_creation_input_tokens);
        self.reasoning_tokens = other.reasoning_tokens.or(self.reasoning_tokens);
    }
}

/// Starts describing an LLM call: `operation`, provider (`openai`, `anthropic`, `aws.bedrock`,
/// …) and request model. Finish with [`LlmSpanBuilder::start`].
///
/// ```
/// let span = spanlens::llm(spanlens::Operation::TextCompletion, "openai", "gpt-3.5-turbo-instruct").start();
/// ```
pub fn llm(
    operation: Operation,
    provider: impl Into<StringValue>,
    request_model: impl Into<StringValue>,
) -> LlmSpanBuilder {
    LlmSpanBuilder {
        state: state::get(),
        operation,
        provider: provider.into(),
        model: request_model.into(),
        name: None,
        attrs: Vec::new(),
        stream: None,
        input_messages: None,
        input: None,
    }
}

/// A chat-completion call: `llm(Operation::Chat, provider, model)`.
///
/// ```
/// use spanlens::{Message, Usage};
/// let span = spanlens::chat("openai", "gpt-4o-mini")
///     .temperature(0.2)
///     .max_tokens(300)
///     .input_messages([Message::system("Be brief."), Message::user("What is OTLP?")])
///     .start();
/// span.set_response_model("gpt-4o-mini-2024-07-18");
/// span.set_output_text("A protocol.");
/// span.set_finish_reasons(["stop"]);
/// span.set_usage(Usage::new(11, 7));
/// span.end();
/// ```
pub fn chat(
    provider: impl Into<StringValue>,
    request_model: impl Into<StringValue>,
) -> LlmSpanBuilder {
    llm(Operation::Chat, provider, request_model)
}

/// An embeddings call: `llm(Operation::Embeddings, provider, model)`.
///
/// ```
/// let span = spanlens::embeddings("openai", "text-embedding-3-small")
///     .input_value(&["first text", "second text"])
///     .start();
/// span.set_usage(spanlens::Usage { input_tokens: Some(8), ..Default::default() });
/// ```
pub fn embeddings(
    provider: impl Into<StringValue>,
    request_model: impl Into<StringValue>,
) -> LlmSpanBuilder {
    llm(Operation::Embeddings, provider, request_model)
}

/// Request side of an LLM span (see [`chat`]).
#[derive(Debug)]
#[must_use = "call .start() to start the span"]
pub struct LlmSpanBuilder {
    state: Option<Arc<State>>,
    operation: Operation,
    provider: StringValue,
    model: StringValue,
    name: Option<Cow<'static, str>>,
    attrs: Vec<KeyValue>,
    stream: Option<bool>,
    input_messages: Option<String>,
    input: Option<String>,
}

impl LlmSpanBuilder {
    /// Span name (default `"{operation} {model}"`, as the conventions name it).
    ///
    /// ```
    /// let b = spanlens::chat("openai", "gpt-4o").name("summarize");
    /// ```
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// `gen_ai.request.temperature`.
    ///
    /// ```
    /// let b = spanlens::chat("openai", "gpt-4o").temperature(0.7);
    /// ```
    pub fn temperature(mut self, t: f64) -> Self {
        self.attrs.push(KeyValue::new(keys::REQUEST_TEMPERATURE, t));
        self
    }

    /// `gen_ai.request.max_tokens`.
    ///
    /// ```
    /// let b = spanlens::chat("openai", "gpt-4o").max_tokens(512);
    /// ```
    pub fn max_tokens(mut self, n: u64) -> Self {
        self.attrs
            .push(KeyValue::new(keys::REQUEST_MAX_TOKENS, n as i64));
        self
    }

    /// `gen_ai.request.top_p`.
    ///
    /// ```
    /// let b = spanlens::chat("openai", "gpt-4o").top_p(0.9);
    /// ```
    pub fn top_p(mut self, p: f64) -> Self {
        self.attrs.push(KeyValue::new(keys::REQUEST_TOP_P, p));
        self
    }

    /// Marks the call as streamed (`gen_ai.request.stream`). Calling
    /// [`SpanHandle::mark_first_token`] or [`SpanHandle::record_chunk`] implies it.
    ///
    /// ```
    /// let b = spanlens::chat("openai", "gpt-4o").stream(true);
    /// ```
    pub fn stream(mut self, stream: bool) -> Self {
        self.stream = Some(stream);
        self
    }

    /// The messages sent (`gen_ai.input.messages`), masked, unless content capture is off.
    ///
    /// ```
    /// let b = spanlens::chat("openai", "gpt-4o").input_messages(vec![spanlens::Message::user("hi")]);
    /// ```
    pub fn input_messages(mut self, messages: impl AsRef<[Message]>) -> Self {
        if let Some(state) = &self.state
            && state.capture_content
        {
            self.input_messages = Some(render_messages(messages.as_ref(), state.mask.as_ref()));
        }
        self
    }

    /// A non-chat input (embedding texts, a raw prompt) as JSON (`langfuse.observation.input`),
    /// masked, unless content capture is off.
    ///
    /// ```
    /// let b = spanlens::embeddings("openai", "text-embedding-3-small").input_value(&["a", "b"]);
    /// ```
    pub fn input_value<T: Serialize + ?Sized>(mut self, value: &T) -> Self {
        if let Some(state) = &self.state
            && let Some(text) = capture::render(state, value)
        {
            self.input = Some(text);
        }
        self
    }

    /// The tools offered to the model (`gen_ai.tool.definitions`, a JSON array such as
    /// `[{"type":"function","name":…,"description":…,"parameters":{…}}]`), masked, unless
    /// content capture is off.
    ///
    /// ```
    /// let b = spanlens::chat("openai", "gpt-4o").tool_definitions(&serde_json::json!([
    ///     {"type": "function", "name": "get_weather", "parameters": {"type": "object"}}
    /// ]));
    /// ```
    pub fn tool_definitions<T: Serialize + ?Sized>(mut self, tools: &T) -> Self {
        if let Some(state) = &self.state
            && let Some(text) = capture::render(state, tools)
        {
            self.attrs.push(KeyValue::new(keys::TOOL_DEFINITIONS, text));
        }
        self
    }

    /// Prompt name and version for this call only (see also [`crate::Scope::prompt`]).
    ///
    /// ```
    /// let b = spanlens::chat("openai", "gpt-4o").prompt("summarize", "7");
    /// ```
    pub fn prompt(mut self, name: impl Into<String>, version: impl Into<String>) -> Self {
        self.attrs
            .push(KeyValue::new(keys::PROMPT_NAME, name.into()));
        self.attrs
            .push(KeyValue::new(keys::PROMPT_VERSION, version.into()));
        self
    }

    /// Any other attribute (e.g. `gen_ai.request.seed`; values: strings, numbers, booleans).
    ///
    /// ```
    /// let b = spanlens::chat("openai", "gpt-4o").attribute("gen_ai.request.seed", 7);
    /// ```
    pub fn attribute(mut self, key: impl Into<Key>, value: impl Into<Value>) -> Self {
        self.attrs.push(KeyValue::new(key, value));
        self
    }

    /// Starts the span as a child of the current span (a `CLIENT` span).
    ///
    /// ```
    /// let span = spanlens::chat("anthropic", "claude-sonnet-4").start();
    /// drop(span); // ends it
    /// ```
    pub fn start(self) -> LlmSpan {
        let Some(state) = self.state else {
            return LlmSpan {
                handle: Some(crate::span::current_none()),
            };
        };
        let name = self.name.unwrap_or_else(|| {
            format!("{} {}", self.operation.as_str(), self.model.as_str()).into()
        });
        let mut attrs = self.attrs;
        attrs.push(KeyValue::new(keys::OPERATION_NAME, self.operation.as_str()));
        let record = Record {
            provider: Some(self.provider),
            request_model: Some(self.model),
            stream: self.stream,
            input_messages: self.input_messages,
            input: self.input,
            ..Record::default()
        };
        let handle = span::start(state, Kind::Llm, record, |state, parent| {
            let builder = state
                .tracer
                .span_builder(name)
                .with_kind(SpanKind::Client)
                .with_attributes(attrs);
            state.tracer.build_with_context(builder, parent)
        });
        LlmSpan {
            handle: Some(handle),
        }
    }
}

/// A started LLM call: a [`SpanHandle`] (every setter: response model, usage, output, …) that
/// owns its span. It ends on [`LlmSpan::end`] or when dropped — whatever was recorded so far
/// (streamed text, usage, finish reasons) is written either way, so a stream that ends early or
/// errors still reports its partial output and usage (and `spanlens.stream.cancelled`).
///
/// Streaming:
///
/// ```
/// use spanlens::Usage;
/// let span = spanlens::chat("openai", "gpt-4o-mini").stream(true).start();
/// for chunk in ["Hel", "lo"] {
///     span.record_chunk(chunk); // the first call records time to first token
/// }
/// span.set_usage(Usage::new(5, 2));
/// span.set_finish_reasons(["stop"]);
/// span.end(); // output = [{"role":"assistant","parts":[{"type":"text","content":"Hello"}],"finish_reason":"stop"}]
/// ```
#[derive(Debug)]
pub struct LlmSpan {
    /// `None` only after `end`.
    handle: Option<SpanHandle>,
}

impl std::ops::Deref for LlmSpan {
    type Target = SpanHandle;
    fn deref(&self) -> &SpanHandle {
        self.handle.as_ref().expect("present until end")
    }
}

impl LlmSpan {
    /// Wraps a provider's response stream: every item marks the first token (once) and is
    /// passed to `on_item` to record text, usage, finish reasons or errors on the span; the span
    /// is current while the stream is polled, ends when the stream ends, and — if the stream is
    /// dropped before its end — records what was seen so far (see [`LlmSpan`]).
    ///
    /// ```
    /// use std::pin::Pin;
    /// use std::task::{Context, Poll};
    ///
    /// // A provider stream of text deltas (here: two chunks).
    /// struct Deltas(Vec<Result<String, String>>);
    /// impl futures_core::Stream for Deltas {
    ///     type Item = Result<String, String>;
    ///     fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
    ///         Poll::Ready(if self.0.is_empty() { None } else { Some(self.0.remove(0)) })
    ///     }
    /// }
    ///
    /// let span = spanlens::chat("openai", "gpt-4o-mini").stream(true).start();
    /// let stream = span.wrap_stream(Deltas(vec![Ok("Hel".into()), Ok("lo".into())]), |span, item| match item {
    ///     Ok(text) => span.record_chunk(text),
    ///     Err(e) => span.record_error(e),
    /// });
    /// // consume `stream` as usual (e.g. with StreamExt::next); the span ends with it.
    /// # drop(stream);
    /// ```
    pub fn wrap_stream<S, F>(self, stream: S, on_item: F) -> LlmStream<S, F>
    where
        S: futures_core::Stream + Unpin,
        F: FnMut(&LlmSpan, &S::Item) + Unpin,
    {
        LlmStream {
            inner: stream,
            span: Some(self),
            on_item,
        }
    }

    /// Ends the span now (the normal end of a call or of a fully consumed stream).
    ///
    /// ```
    /// spanlens::chat("openai", "gpt-4o").start().end();
    /// ```
    pub fn end(mut self) {
        if let Some(handle) = self.handle.take() {
            handle.finish(true);
        }
    }
}

impl Drop for LlmSpan {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            handle.finish(false);
        }
    }
}

/// A stream wrapped by [`LlmSpan::wrap_stream`]: yields the inner stream's items unchanged.
pub struct LlmStream<S, F> {
    inner: S,
    span: Option<LlmSpan>,
    on_item: F,
}

impl<S: std::fmt::Debug, F> std::fmt::Debug for LlmStream<S, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmStream")
            .field("inner", &self.inner)
            .field("span", &self.span)
            .finish_non_exhaustive()
    }
}

impl<S, F> futures_core::Stream for LlmStream<S, F>
where
    S: futures_core::Stream + Unpin,
    F: FnMut(&LlmSpan, &S::Item) + Unpin,
{
    type Item = S::Item;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<S::Item>> {
        use std::task::Poll;
        let this = self.get_mut();
        let _guard = this.span.as_ref().map(|s| s.attach());
        match std::pin::Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(Some(item)) => {
                if let Some(span) = this.span.as_ref() {
                    span.mark_first_token();
                    (this.on_item)(span, &item);
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

/// `std::io::Error` → `Error`; `my_crate::ApiError<T>` → `ApiError`.
pub(crate) fn short_type_name<T: ?Sized>() -> String {
    let full = std::any::type_name::<T>();
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_merge_keeps_earlier_fields() {
        let mut u = Usage::new(10, 0);
        u.merge(Usage {
            output_tokens: Some(5),
            reasoning_tokens: Some(2),
            ..Usage::default()
        });
        assert_eq!(u, Usage::new(10, 5).reasoning(2));
    }

    #[test]
    fn short_type_names() {
        assert_eq!(short_type_name::<std::io::Error>(), "Error");
        assert_eq!(short_type_name::<Vec<std::io::Error>>(), "Vec");
        assert_eq!(short_type_name::<u8>(), "u8");
    }

    #[test]
    fn spans_are_no_ops_before_init() {
        let s = chat("openai", "gpt-4o")
            .input_messages([Message::user("x")])
            .start();
        s.record_chunk("y");
        assert!(!s.is_recording());
    }
}
