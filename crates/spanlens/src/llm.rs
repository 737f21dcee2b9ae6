//! The typed LLM-call span (OpenTelemetry GenAI conventions), streaming included.

use std::borrow::Cow;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry::context::{FutureExt, WithContext};
use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer};
use opentelemetry::{Array, Context, KeyValue, StringValue, Value};
use serde::Serialize;

use crate::capture;
use crate::keys;
use crate::message::{Message, render_messages};
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
    fn merge(&mut self, other: Usage) {
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
    }
}

/// A chat-completion call: `llm(Operation::Chat, provider, model)`.
///
/// ```
/// use spanlens::{Message, Usage};
/// let mut span = spanlens::chat("openai", "gpt-4o-mini")
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
/// let mut span = spanlens::embeddings("openai", "text-embedding-3-small")
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
    /// [`LlmSpan::mark_first_token`] or [`LlmSpan::record_chunk`] implies it.
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
            let json = render_messages(messages.as_ref(), state.mask.as_ref());
            self.attrs.push(KeyValue::new(keys::INPUT_MESSAGES, json));
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
            self.attrs
                .push(KeyValue::new(keys::OBSERVATION_INPUT, text));
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

    /// Any other attribute (e.g. `gen_ai.request.seed`).
    ///
    /// ```
    /// let b = spanlens::chat("openai", "gpt-4o").attribute(opentelemetry::KeyValue::new("gen_ai.request.seed", 7));
    /// ```
    pub fn attribute(mut self, kv: KeyValue) -> Self {
        self.attrs.push(kv);
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
            return LlmSpan { inner: None };
        };
        let name = self.name.unwrap_or_else(|| {
            format!("{} {}", self.operation.as_str(), self.model.as_str()).into()
        });
        let mut attrs = self.attrs;
        attrs.push(KeyValue::new(keys::OPERATION_NAME, self.operation.as_str()));
        attrs.push(KeyValue::new(
            keys::PROVIDER_NAME,
            Value::String(self.provider),
        ));
        attrs.push(KeyValue::new(
            keys::REQUEST_MODEL,
            Value::String(self.model),
        ));
        if let Some(stream) = self.stream {
            attrs.push(KeyValue::new(keys::REQUEST_STREAM, stream));
        }
        let builder = state
            .tracer
            .span_builder(name)
            .with_kind(SpanKind::Client)
            .with_attributes(attrs);
        let cx = Context::map_current(|parent| {
            let span = state.tracer.build_with_context(builder, parent);
            parent.with_span(span)
        });
        let recording = cx.span().is_recording();
        LlmSpan {
            inner: Some(Box::new(Inner {
                recording,
                state,
                cx,
                started: Instant::now(),
                stream: self.stream,
                first_token: None,
                stream_text: String::new(),
                output: None,
                finish_reasons: Vec::new(),
                usage: Usage::default(),
                attrs: Vec::new(),
                error: None,
                ended: false,
            })),
        }
    }
}

/// A started LLM call. Record the response on it; it ends on [`LlmSpan::end`] or when dropped —
/// whatever was recorded so far (streamed text, usage, finish reasons) is written either way, so
/// a stream that ends early or errors still reports its partial output and usage.
///
/// Streaming:
///
/// ```
/// use spanlens::Usage;
/// let mut span = spanlens::chat("openai", "gpt-4o-mini").stream(true).start();
/// for chunk in ["Hel", "lo"] {
///     span.record_chunk(chunk); // the first call records time to first token
/// }
/// span.set_usage(Usage::new(5, 2));
/// span.set_finish_reasons(["stop"]);
/// span.end(); // output = [{"role":"assistant","parts":[{"type":"text","content":"Hello"}],"finish_reason":"stop"}]
/// ```
#[derive(Debug)]
pub struct LlmSpan {
    inner: Option<Box<Inner>>,
}

struct Inner {
    recording: bool,
    state: Arc<State>,
    cx: Context,
    started: Instant,
    stream: Option<bool>,
    first_token: Option<Duration>,
    stream_text: String,
    output: Option<String>,
    finish_reasons: Vec<String>,
    usage: Usage,
    attrs: Vec<KeyValue>,
    error: Option<(String, String)>,
    ended: bool,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmSpan")
            .field("recording", &self.recording)
            .field("usage", &self.usage)
            .finish_non_exhaustive()
    }
}

impl LlmSpan {
    fn live(&mut self) -> Option<&mut Inner> {
        self.inner.as_deref_mut().filter(|i| i.recording)
    }

    /// The context with this span current, to parent spans under it explicitly.
    ///
    /// ```
    /// let span = spanlens::chat("openai", "gpt-4o").start();
    /// let _g = span.context().attach();
    /// ```
    pub fn context(&self) -> Context {
        self.inner
            .as_ref()
            .map(|i| i.cx.clone())
            .unwrap_or_else(Context::current)
    }

    /// Runs `fut` with this span current (spans started inside nest under it).
    ///
    /// ```no_run
    /// # async fn demo() {
    /// let span = spanlens::chat("openai", "gpt-4o").start();
    /// span.in_scope(async { /* … */ }).await;
    /// # }
    /// ```
    pub fn in_scope<F: Future>(&self, fut: F) -> WithContext<F> {
        fut.with_context(self.context())
    }

    /// `gen_ai.response.model`: the model version that answered.
    ///
    /// ```
    /// let mut s = spanlens::chat("openai", "gpt-4o").start();
    /// s.set_response_model("gpt-4o-2024-08-06");
    /// ```
    pub fn set_response_model(&mut self, model: impl Into<StringValue>) {
        if let Some(i) = self.live() {
            i.attrs.push(KeyValue::new(
                keys::RESPONSE_MODEL,
                Value::String(model.into()),
            ));
        }
    }

    /// `gen_ai.response.id`.
    ///
    /// ```
    /// let mut s = spanlens::chat("openai", "gpt-4o").start();
    /// s.set_response_id("chatcmpl-123");
    /// ```
    pub fn set_response_id(&mut self, id: impl Into<StringValue>) {
        if let Some(i) = self.live() {
            i.attrs
                .push(KeyValue::new(keys::RESPONSE_ID, Value::String(id.into())));
        }
    }

    /// `gen_ai.response.finish_reasons`, one per choice.
    ///
    /// ```
    /// let mut s = spanlens::chat("openai", "gpt-4o").start();
    /// s.set_finish_reasons(["stop"]);
    /// ```
    pub fn set_finish_reasons<I, T>(&mut self, reasons: I)
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        if let Some(i) = self.live() {
            i.finish_reasons = reasons.into_iter().map(Into::into).collect();
        }
    }

    /// Token usage; set fields replace earlier ones, unset fields keep them.
    ///
    /// ```
    /// let mut s = spanlens::chat("openai", "gpt-4o").start();
    /// s.set_usage(spanlens::Usage::new(100, 20).cached(64));
    /// ```
    pub fn set_usage(&mut self, usage: Usage) {
        if let Some(i) = self.live() {
            i.usage.merge(usage);
        }
    }

    /// The messages returned (`gen_ai.output.messages`), masked, unless content capture is off.
    ///
    /// ```
    /// let mut s = spanlens::chat("openai", "gpt-4o").start();
    /// s.set_output_messages(&[spanlens::Message::assistant("Hi!").with_finish_reason("stop")]);
    /// ```
    pub fn set_output_messages(&mut self, messages: impl AsRef<[Message]>) {
        if let Some(i) = self.live()
            && i.state.capture_content
        {
            i.output = Some(render_messages(messages.as_ref(), i.state.mask.as_ref()));
        }
    }

    /// The answer as one assistant text message (its finish reason is the first of
    /// [`LlmSpan::set_finish_reasons`], when set).
    ///
    /// ```
    /// let mut s = spanlens::chat("openai", "gpt-4o").start();
    /// s.set_output_text("Hi!");
    /// ```
    pub fn set_output_text(&mut self, text: &str) {
        if let Some(i) = self.live()
            && i.state.capture_content
        {
            i.stream_text.clear();
            i.stream_text.push_str(text);
            i.output = None;
        }
    }

    /// Records time to first token now (only the first call counts) and marks the call as
    /// streamed.
    ///
    /// ```
    /// let mut s = spanlens::chat("openai", "gpt-4o").start();
    /// s.mark_first_token();
    /// ```
    pub fn mark_first_token(&mut self) {
        if let Some(i) = self.live()
            && i.first_token.is_none()
        {
            i.first_token = Some(i.started.elapsed());
            i.stream.get_or_insert(true);
        }
    }

    /// One streamed text chunk: marks the first token on the first call, and appends the text
    /// to the output recorded when the span ends.
    ///
    /// ```
    /// let mut s = spanlens::chat("openai", "gpt-4o").stream(true).start();
    /// s.record_chunk("Hel");
    /// s.record_chunk("lo");
    /// ```
    pub fn record_chunk(&mut self, text: &str) {
        self.mark_first_token();
        if let Some(i) = self.live()
            && i.state.capture_content
        {
            i.stream_text.push_str(text);
        }
    }

    /// Records a failure: span status `Error` with `message`, and `error.type` (a low-cardinality
    /// class such as `RateLimitError`, `timeout`, or an HTTP status code).
    ///
    /// ```
    /// let mut s = spanlens::chat("openai", "gpt-4o").start();
    /// s.record_error("RateLimitError", "429 Too Many Requests");
    /// ```
    pub fn record_error(&mut self, error_type: impl Into<String>, message: impl Into<String>) {
        if let Some(i) = self.live() {
            i.error = Some((error_type.into(), message.into()));
        }
    }

    /// [`LlmSpan::record_error`] from an error value: `error.type` is the error's type name,
    /// the message its `Display`.
    ///
    /// ```
    /// let mut s = spanlens::chat("openai", "gpt-4o").start();
    /// let err = std::io::Error::other("connection reset");
    /// s.record_error_from(&err); // error.type = "Error" (std::io::Error), message "connection reset"
    /// ```
    pub fn record_error_from<E: std::error::Error + ?Sized>(&mut self, error: &E) {
        self.record_error(short_type_name::<E>(), error.to_string());
    }

    /// Wraps a provider's response stream: every item marks the first token (once) and is
    /// passed to `on_item` to record text, usage, finish reasons or errors on the span; the span
    /// is current while the stream is polled, ends when the stream ends, and — if the stream is
    /// dropped before its end — records what was seen so far (see [`LlmSpan`]).
    ///
    /// ```
    /// use std::pin::Pin;
    /// use std::task::{Context, Poll};
    /// use spanlens::Usage;
    ///
    /// // A provider stream of text deltas (here: two chunks, then the usage).
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
    ///     Err(e) => span.record_error("StreamError", e.clone()),
    /// });
    /// // consume `stream` as usual (e.g. with StreamExt::next); the span ends with it.
    /// # drop(stream);
    /// ```
    pub fn wrap_stream<S, F>(self, stream: S, on_item: F) -> LlmStream<S, F>
    where
        S: futures_core::Stream + Unpin,
        F: FnMut(&mut LlmSpan, &S::Item) + Unpin,
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
        self.finish(true);
    }

    fn finish(&mut self, completed: bool) {
        let Some(i) = self.inner.as_deref_mut() else {
            return;
        };
        if i.ended {
            return;
        }
        i.ended = true;
        let span = i.cx.span();
        if !i.recording {
            span.end();
            return;
        }
        let mut attrs = std::mem::take(&mut i.attrs);
        if let Some(stream) = i.stream {
            attrs.push(KeyValue::new(keys::REQUEST_STREAM, stream));
        }
        if let Some(ttft) = i.first_token {
            attrs.push(KeyValue::new(
                keys::RESPONSE_TIME_TO_FIRST_CHUNK,
                ttft.as_secs_f64(),
            ));
        }
        if !i.finish_reasons.is_empty() {
            let reasons: Vec<StringValue> = i
                .finish_reasons
                .iter()
                .map(|r| StringValue::from(r.clone()))
                .collect();
            attrs.push(KeyValue::new(
                keys::RESPONSE_FINISH_REASONS,
                Value::Array(Array::String(reasons)),
            ));
        }
        let output = i.output.take().or_else(|| {
            (!i.stream_text.is_empty()).then(|| {
                let mut m = Message::assistant(std::mem::take(&mut i.stream_text));
                m.finish_reason = i.finish_reasons.first().cloned();
                render_messages(std::slice::from_ref(&m), i.state.mask.as_ref())
            })
        });
        if let Some(output) = output {
            attrs.push(KeyValue::new(keys::OUTPUT_MESSAGES, output));
        }
        let u = i.usage;
        for (key, value) in [
            (keys::USAGE_INPUT_TOKENS, u.input_tokens),
            (keys::USAGE_OUTPUT_TOKENS, u.output_tokens),
            (
                keys::USAGE_CACHE_READ_INPUT_TOKENS,
                u.cache_read_input_tokens,
            ),
            (
                keys::USAGE_CACHE_CREATION_INPUT_TOKENS,
                u.cache_creation_input_tokens,
            ),
            (keys::USAGE_REASONING_OUTPUT_TOKENS, u.reasoning_tokens),
        ] {
            if let Some(v) = value {
                attrs.push(KeyValue::new(key, i64::try_from(v).unwrap_or(i64::MAX)));
            }
        }
        if !completed && i.stream == Some(true) && i.error.is_none() {
            attrs.push(KeyValue::new(keys::STREAM_CANCELLED, true));
        }
        if let Some((error_type, message)) = i.error.take() {
            attrs.push(KeyValue::new(keys::ERROR_TYPE, error_type));
            span.set_status(Status::error(message));
        }
        span.set_attributes(attrs);
        span.end();
    }
}

impl Drop for LlmSpan {
    fn drop(&mut self) {
        self.finish(false);
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
    F: FnMut(&mut LlmSpan, &S::Item) + Unpin,
{
    type Item = S::Item;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<S::Item>> {
        use std::task::Poll;
        let this = self.get_mut();
        let _guard = this
            .span
            .as_ref()
            .and_then(|s| s.inner.as_ref())
            .map(|i| i.cx.clone().attach());
        match std::pin::Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(Some(item)) => {
                if let Some(span) = this.span.as_mut() {
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
        let mut s = chat("openai", "gpt-4o")
            .input_messages([Message::user("x")])
            .start();
        s.record_chunk("y");
        assert!(s.inner.is_none());
    }
}
