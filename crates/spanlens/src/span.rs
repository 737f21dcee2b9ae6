//! The one span core behind [`crate::LlmSpan`], [`crate::Observation`] and [`current`]: what
//! a span has recorded so far (kept until it ends, so usage merges and streamed text adds up),
//! its place in the OpenTelemetry context, and the handle every setter lives on.

use std::fmt::Display;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use opentelemetry::context::{ContextGuard, FutureExt, WithContext};
use opentelemetry::trace::{SpanContext, SpanId, Status, TraceContextExt};
use opentelemetry::{Array, Context, Key, KeyValue, StringValue, Value};
use serde::Serialize;

use crate::capture;
use crate::keys;
use crate::llm::Usage;
use crate::message::{Message, render_messages};
use crate::observe::ObservationType;
use crate::state::{self, State};
use crate::trace::TraceShared;

/// What a Spanlens span records: a model call (typed LLM span, or a `generation`
/// observation), or another observation type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Llm,
    Observation(ObservationType),
}

impl Kind {
    fn is_llm(self) -> bool {
        matches!(
            self,
            Kind::Llm | Kind::Observation(ObservationType::Generation)
        )
    }

    fn input_key(self) -> &'static str {
        if self == Kind::Observation(ObservationType::Tool) {
            keys::TOOL_CALL_ARGUMENTS
        } else {
            keys::OBSERVATION_INPUT
        }
    }

    fn output_key(self) -> &'static str {
        if self == Kind::Observation(ObservationType::Tool) {
            keys::TOOL_CALL_RESULT
        } else {
            keys::OBSERVATION_OUTPUT
        }
    }
}

/// A span of this SDK while it runs: shared by its owner ([`crate::LlmSpan`] /
/// [`crate::Observation`]) and every [`SpanHandle`] to it (from [`current`]).
pub(crate) struct Shared {
    pub(crate) state: Arc<State>,
    kind: Kind,
    span_id: SpanId,
    started: Instant,
    pub(crate) trace: Arc<TraceShared>,
    record: Mutex<Record>,
}

/// The context entry of the innermost Spanlens span (and the innermost Spanlens model call).
pub(crate) struct Frame {
    pub(crate) span: Arc<Shared>,
    llm: Option<Arc<Shared>>,
}

/// Everything recorded on a span before it ends.
#[derive(Default)]
pub(crate) struct Record {
    pub(crate) provider: Option<StringValue>,
    pub(crate) request_model: Option<StringValue>,
    pub(crate) response_model: Option<StringValue>,
    pub(crate) response_id: Option<StringValue>,
    pub(crate) stream: Option<bool>,
    pub(crate) first_token: Option<Duration>,
    pub(crate) stream_text: String,
    pub(crate) input_messages: Option<String>,
    pub(crate) output_messages: Option<String>,
    pub(crate) input: Option<String>,
    pub(crate) output: Option<String>,
    pub(crate) finish_reasons: Vec<String>,
    pub(crate) usage: Usage,
    pub(crate) metadata: Vec<(String, String)>,
    pub(crate) attrs: Vec<KeyValue>,
    pub(crate) error: Option<(String, String)>,
    pub(crate) ended: bool,
}

impl Record {
    /// The attributes this record adds to its span, in one batch.
    fn attributes(&mut self, kind: Kind, state: &State, completed: bool) -> Vec<KeyValue> {
        let mut attrs = std::mem::take(&mut self.attrs);
        for (key, value) in [
            (keys::PROVIDER_NAME, self.provider.take()),
            (keys::REQUEST_MODEL, self.request_model.take()),
            (keys::RESPONSE_MODEL, self.response_model.take()),
            (keys::RESPONSE_ID, self.response_id.take()),
        ] {
            if let Some(v) = value {
                attrs.push(KeyValue::new(key, Value::String(v)));
            }
        }
        if let Some(stream) = self.stream {
            attrs.push(KeyValue::new(keys::REQUEST_STREAM, stream));
        }
        if let Some(ttft) = self.first_token {
            attrs.push(KeyValue::new(
                keys::RESPONSE_TIME_TO_FIRST_CHUNK,
                ttft.as_secs_f64(),
            ));
        }
        if !self.finish_reasons.is_empty() {
            let reasons = self
                .finish_reasons
                .iter()
                .map(|r| StringValue::from(r.clone()))
                .collect();
            attrs.push(KeyValue::new(
                keys::RESPONSE_FINISH_REASONS,
                Value::Array(Array::String(reasons)),
            ));
        }
        if let Some(input) = self.input_messages.take() {
            attrs.push(KeyValue::new(keys::INPUT_MESSAGES, input));
        }
        if let Some(input) = self.input.take() {
            attrs.push(KeyValue::new(kind.input_key(), input));
        }
        let output_messages = self.output_messages.take().or_else(|| {
            (!self.stream_text.is_empty()).then(|| {
                let mut m = Message::assistant(std::mem::take(&mut self.stream_text));
                m.finish_reason = self.finish_reasons.first().cloned();
                render_messages(std::slice::from_ref(&m), state.mask.as_ref())
            })
        });
        if let Some(output) = output_messages {
            attrs.push(KeyValue::new(keys::OUTPUT_MESSAGES, output));
        }
        if let Some(output) = self.output.take() {
            attrs.push(KeyValue::new(kind.output_key(), output));
        }
        let u = self.usage;
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
        for (k, v) in self.metadata.drain(..) {
            attrs.push(KeyValue::new(
                format!("{}{k}", keys::OBSERVATION_METADATA_PREFIX),
                v,
            ));
        }
        if !completed && self.stream == Some(true) && self.error.is_none() {
            attrs.push(KeyValue::new(keys::STREAM_CANCELLED, true));
        }
        if let Some((error_type, _)) = &self.error {
            attrs.push(KeyValue::new(keys::ERROR_TYPE, error_type.clone()));
        }
        attrs
    }
}

/// Starts a Spanlens span under the current context: the span (built by `build`, with the
/// parent context), its record, and the context with both current.
pub(crate) fn start(
    state: Arc<State>,
    kind: Kind,
    record: Record,
    build: impl FnOnce(&State, &Context) -> opentelemetry_sdk::trace::Span,
) -> SpanHandle {
    Context::map_current(|parent| {
        let span = crate::scope::starting_own_span(|| build(&state, parent));
        use opentelemetry::trace::Span as _;
        let span_context: SpanContext = span.span_context().clone();
        let recording = span.is_recording();
        let cx = parent.with_span(span);
        if !recording {
            return SpanHandle {
                cx,
                target: Target::None,
            };
        }
        let frame = parent.get::<Frame>();
        let trace = frame
            .map(|f| f.span.trace.clone())
            .unwrap_or_else(|| Arc::new(TraceShared::default()));
        let shared = Arc::new(Shared {
            state,
            kind,
            span_id: span_context.span_id(),
            started: Instant::now(),
            trace,
            record: Mutex::new(record),
        });
        let llm = if kind.is_llm() {
            Some(shared.clone())
        } else {
            frame.and_then(|f| f.llm.clone())
        };
        let cx = cx.with_value(Frame {
            span: shared.clone(),
            llm,
        });
        SpanHandle {
            cx,
            target: Target::Own(shared),
        }
    })
}

/// A handle that records nothing, for spans started before `init`.
pub(crate) fn current_none() -> SpanHandle {
    SpanHandle {
        cx: Context::current(),
        target: Target::None,
    }
}

/// A handle to a running span: everything a span can record, callable from anywhere that has
/// the handle (all setters take `&self`). [`crate::LlmSpan`] and [`crate::Observation`] are
/// handles that also own their span (it ends with them); [`current`] and [`current_llm`] give
/// one to the span the calling code runs in.
///
/// Setters on a span that is not recording (sampled out, SDK not installed, already ended) do
/// nothing. Content setters (input, output, messages) follow the SDK's capture switch and mask.
///
/// ```
/// use spanlens::{ObservationType, Usage};
/// let obs = spanlens::observation("summarize", ObservationType::Generation).start();
/// {
///     let _g = obs.attach();
///     // anywhere below, e.g. in a helper that does not know about `obs`:
///     let span = spanlens::current();
///     span.set_model("gpt-4o-mini");
///     span.set_usage(Usage::new(120, 40));
///     span.set_output_text("A short summary.");
///     span.set_metadata("chunk", "3");
/// }
/// obs.end();
/// ```
#[derive(Clone)]
pub struct SpanHandle {
    cx: Context,
    target: Target,
}

#[derive(Clone)]
enum Target {
    /// A Spanlens span: setters fill its record, written when it ends.
    Own(Arc<Shared>),
    /// A recording span of other instrumentation (e.g. a `tracing` span): setters write
    /// attributes right away.
    Foreign,
    /// Nothing to record on.
    None,
}

impl std::fmt::Debug for SpanHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let target = match &self.target {
            Target::Own(s) => format!("{:?}", s.kind),
            Target::Foreign => "foreign".into(),
            Target::None => "none".into(),
        };
        f.debug_struct("SpanHandle")
            .field("target", &target)
            .finish_non_exhaustive()
    }
}

/// A handle to the innermost span the calling code runs in — a Spanlens span, or a span of
/// other OpenTelemetry instrumentation on the same provider (a `tracing` span through
/// [`crate::tracing_layer`]: its setters then write attributes at once). Works wherever the
/// context is carried: inside [`crate::observe()`] and `#[observe]` functions across every
/// `.await`, in tasks started with [`crate::spawn`], in synchronous code under
/// [`SpanHandle::attach`]. Outside any span the handle does nothing.
///
/// ```
/// #[spanlens::observe(as = "retrieval")]
/// fn search(query: &str) -> Vec<String> {
///     let hits = vec![format!("doc about {query}")];
///     spanlens::current().set_metadata("index", "docs-v2");
///     hits
/// }
/// # search("otlp");
/// ```
pub fn current() -> SpanHandle {
    Context::map_current(|cx| {
        let span = cx.span();
        let target = match cx.get::<Frame>() {
            Some(frame) if frame.span.span_id == span.span_context().span_id() => {
                Target::Own(frame.span.clone())
            }
            _ if span.is_recording() => Target::Foreign,
            _ => Target::None,
        };
        SpanHandle {
            cx: cx.clone(),
            target,
        }
    })
}

/// A handle to the innermost Spanlens *model call* the calling code runs in: an LLM span
/// ([`crate::chat`], [`crate::llm`], [`crate::embeddings`], the `openai` wrappers) or a
/// `generation` observation (`#[observe(as = "generation")]`) — also from a tool or a
/// `tracing` span nested inside it. Does nothing when there is none.
///
/// ```
/// use spanlens::Usage;
///
/// #[spanlens::observe(as = "generation")]
/// async fn summarize(text: String) -> String {
///     let summary = format!("{} words", text.split_whitespace().count());
///     record_usage(); // a helper deep inside: finds the generation
///     summary
/// }
///
/// fn record_usage() {
///     let llm = spanlens::current_llm();
///     llm.set_provider("openai");
///     llm.set_model("gpt-4o-mini");
///     llm.set_usage(Usage::new(200, 12));
/// }
/// ```
pub fn current_llm() -> SpanHandle {
    Context::map_current(|cx| {
        let target = match cx.get::<Frame>().and_then(|f| f.llm.clone()) {
            Some(llm) => Target::Own(llm),
            None => Target::None,
        };
        SpanHandle {
            cx: cx.clone(),
            target,
        }
    })
}

impl SpanHandle {
    /// Applies `f` to the record: an own span's (written when it ends), or — on another
    /// instrumentation's span — a fresh one written to that span right away.
    fn update(&self, f: impl FnOnce(&mut Record, &State)) {
        match &self.target {
            Target::Own(shared) => {
                let mut record = lock(&shared.record);
                if !record.ended {
                    f(&mut record, &shared.state);
                }
            }
            Target::Foreign => {
                let Some(state) = state::get() else { return };
                let mut record = Record::default();
                f(&mut record, &state);
                let span = self.cx.span();
                let kind = Kind::Observation(ObservationType::Span);
                span.set_attributes(record.attributes(kind, &state, true));
                if let Some((_, message)) = record.error {
                    span.set_status(Status::error(message));
                }
            }
            Target::None => {}
        }
    }

    /// Whether setters on this handle record anything.
    ///
    /// ```
    /// assert!(!spanlens::current().is_recording()); // no span here
    /// ```
    pub fn is_recording(&self) -> bool {
        !matches!(self.target, Target::None)
    }

    /// The context with this span current, to parent work under it explicitly.
    ///
    /// ```
    /// let span = spanlens::chat("openai", "gpt-4o").start();
    /// let _g = span.context().attach();
    /// ```
    pub fn context(&self) -> Context {
        self.cx.clone()
    }

    /// Runs `fut` with this span current (spans started inside nest under it), across every
    /// `.await`.
    ///
    /// ```no_run
    /// # async fn demo() {
    /// let obs = spanlens::observation("step", spanlens::ObservationType::Chain).start();
    /// obs.in_scope(async { /* nested spans */ }).await;
    /// # }
    /// ```
    pub fn in_scope<F: Future>(&self, fut: F) -> WithContext<F> {
        fut.with_context(self.cx.clone())
    }

    /// Makes this span current for synchronous code until the guard drops.
    ///
    /// ```
    /// let obs = spanlens::observation("s", spanlens::ObservationType::Span).start();
    /// let _g = obs.attach();
    /// ```
    pub fn attach(&self) -> ContextGuard {
        self.cx.clone().attach()
    }

    /// The span's trace id (32 hex digits), e.g. to link a score or a log line; `None` when
    /// there is no valid span.
    ///
    /// ```
    /// assert_eq!(spanlens::current().trace_id(), None);
    /// ```
    pub fn trace_id(&self) -> Option<String> {
        let span = self.cx.span();
        let sc = span.span_context();
        sc.is_valid().then(|| sc.trace_id().to_string())
    }

    /// The span's id (16 hex digits); `None` when there is no valid span.
    ///
    /// ```
    /// assert_eq!(spanlens::current().span_id(), None);
    /// ```
    pub fn span_id(&self) -> Option<String> {
        let span = self.cx.span();
        let sc = span.span_context();
        sc.is_valid().then(|| sc.span_id().to_string())
    }

    /// The input: JSON (strings as-is), masked, unless content capture is off. Tool spans write
    /// `gen_ai.tool.call.arguments`, others `langfuse.observation.input`. For a non-`Serialize`
    /// value pass `spanlens::debug(&value)`.
    ///
    /// ```
    /// let obs = spanlens::observation("lookup", spanlens::ObservationType::Tool).start();
    /// obs.set_input(&serde_json::json!({"city": "Paris"}));
    /// ```
    pub fn set_input<T: Serialize + ?Sized>(&self, input: &T) {
        self.update(|r, state| {
            if let Some(text) = capture::render(state, input) {
                r.input = Some(text);
            }
        });
    }

    /// The output: JSON (strings as-is), masked, unless content capture is off. Tool spans write
    /// `gen_ai.tool.call.result`, others `langfuse.observation.output`. For a non-`Serialize`
    /// value pass `spanlens::debug(&value)`.
    ///
    /// ```
    /// let obs = spanlens::observation("s", spanlens::ObservationType::Retrieval).start();
    /// obs.set_output(&vec!["doc-1", "doc-2"]);
    /// ```
    pub fn set_output<T: Serialize + ?Sized>(&self, output: &T) {
        self.update(|r, state| {
            if let Some(text) = capture::render(state, output) {
                r.output = Some(text);
            }
        });
    }

    /// [`SpanHandle::set_output`] unless the span already has an output (the `#[observe]`
    /// return value yields to what the body set).
    pub(crate) fn set_default_output<T: Serialize + ?Sized>(&self, output: &T) {
        self.update(|r, state| {
            let has_output =
                r.output.is_some() || r.output_messages.is_some() || !r.stream_text.is_empty();
            if !has_output && let Some(text) = capture::render(state, output) {
                r.output = Some(text);
            }
        });
    }

    /// The messages sent to the model (`gen_ai.input.messages`), masked, unless content capture
    /// is off.
    ///
    /// ```
    /// let llm = spanlens::chat("openai", "gpt-4o").start();
    /// llm.set_input_messages([spanlens::Message::user("hi")]);
    /// ```
    pub fn set_input_messages(&self, messages: impl AsRef<[Message]>) {
        self.update(|r, state| {
            if state.capture_content {
                r.input_messages = Some(render_messages(messages.as_ref(), state.mask.as_ref()));
            }
        });
    }

    /// The messages the model returned (`gen_ai.output.messages`), masked, unless content
    /// capture is off.
    ///
    /// ```
    /// let llm = spanlens::chat("openai", "gpt-4o").start();
    /// llm.set_output_messages([spanlens::Message::assistant("Hi!").with_finish_reason("stop")]);
    /// ```
    pub fn set_output_messages(&self, messages: impl AsRef<[Message]>) {
        self.update(|r, state| {
            if state.capture_content {
                r.output_messages = Some(render_messages(messages.as_ref(), state.mask.as_ref()));
            }
        });
    }

    /// The answer as one assistant text message (its finish reason is the first of
    /// [`SpanHandle::set_finish_reasons`], when set).
    ///
    /// ```
    /// let llm = spanlens::chat("openai", "gpt-4o").start();
    /// llm.set_output_text("Hi!");
    /// ```
    pub fn set_output_text(&self, text: &str) {
        self.update(|r, state| {
            if state.capture_content {
                r.stream_text.clear();
                r.stream_text.push_str(text);
                r.output_messages = None;
            }
        });
    }

    /// The provider (`gen_ai.provider.name`: `openai`, `anthropic`, `aws.bedrock`, …).
    ///
    /// ```
    /// let g = spanlens::observation("draft", spanlens::ObservationType::Generation).start();
    /// g.set_provider("anthropic");
    /// ```
    pub fn set_provider(&self, provider: impl Into<StringValue>) {
        let provider = provider.into();
        self.update(|r, _| r.provider = Some(provider));
    }

    /// The requested model (`gen_ai.request.model`).
    ///
    /// ```
    /// let g = spanlens::observation("draft", spanlens::ObservationType::Generation).start();
    /// g.set_model("claude-sonnet-4");
    /// ```
    pub fn set_model(&self, model: impl Into<StringValue>) {
        let model = model.into();
        self.update(|r, _| r.request_model = Some(model));
    }

    /// The model version that answered (`gen_ai.response.model`).
    ///
    /// ```
    /// let llm = spanlens::chat("openai", "gpt-4o").start();
    /// llm.set_response_model("gpt-4o-2024-08-06");
    /// ```
    pub fn set_response_model(&self, model: impl Into<StringValue>) {
        let model = model.into();
        self.update(|r, _| r.response_model = Some(model));
    }

    /// `gen_ai.response.id`.
    ///
    /// ```
    /// let llm = spanlens::chat("openai", "gpt-4o").start();
    /// llm.set_response_id("chatcmpl-123");
    /// ```
    pub fn set_response_id(&self, id: impl Into<StringValue>) {
        let id = id.into();
        self.update(|r, _| r.response_id = Some(id));
    }

    /// `gen_ai.response.finish_reasons`, one per choice.
    ///
    /// ```
    /// let llm = spanlens::chat("openai", "gpt-4o").start();
    /// llm.set_finish_reasons(["stop"]);
    /// ```
    pub fn set_finish_reasons<I, T>(&self, reasons: I)
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        let reasons = reasons.into_iter().map(Into::into).collect();
        self.update(|r, _| r.finish_reasons = reasons);
    }

    /// Token usage; set fields replace earlier ones, unset fields keep them (usage often
    /// arrives in pieces while streaming).
    ///
    /// ```
    /// let llm = spanlens::chat("openai", "gpt-4o").start();
    /// llm.set_usage(spanlens::Usage::new(100, 20).cached(64));
    /// ```
    pub fn set_usage(&self, usage: Usage) {
        self.update(|r, _| r.usage.merge(usage));
    }

    /// Records time to first token now (only the first call counts) and marks the call as
    /// streamed.
    ///
    /// ```
    /// let llm = spanlens::chat("openai", "gpt-4o").start();
    /// llm.mark_first_token();
    /// ```
    pub fn mark_first_token(&self) {
        if let Target::Own(shared) = &self.target {
            let started = shared.started;
            self.update(|r, _| {
                if r.first_token.is_none() {
                    r.first_token = Some(started.elapsed());
                    r.stream.get_or_insert(true);
                }
            });
        }
    }

    /// One streamed text chunk: marks the first token on the first call and appends the text to
    /// the output recorded when the span ends.
    ///
    /// ```
    /// let llm = spanlens::chat("openai", "gpt-4o").stream(true).start();
    /// llm.record_chunk("Hel");
    /// llm.record_chunk("lo");
    /// ```
    pub fn record_chunk(&self, text: &str) {
        self.mark_first_token();
        self.update(|r, state| {
            if state.capture_content {
                r.stream_text.push_str(text);
            }
        });
    }

    /// A metadata entry for this span (`langfuse.observation.metadata.<key>`, stored in the
    /// row's `metadata` map); a later value for the same key wins.
    ///
    /// ```
    /// let obs = spanlens::observation("step", spanlens::ObservationType::Span).start();
    /// obs.set_metadata("retries", "2");
    /// ```
    pub fn set_metadata(&self, key: impl Into<String>, value: impl Into<String>) {
        let (key, value) = (key.into(), value.into());
        self.update(
            |r, _| match r.metadata.iter_mut().find(|(k, _)| *k == key) {
                Some(entry) => entry.1 = value,
                None => r.metadata.push((key, value)),
            },
        );
    }

    /// Any other attribute, e.g. `set_attribute("gen_ai.request.seed", 7)` (values: strings,
    /// numbers, booleans).
    ///
    /// ```
    /// let obs = spanlens::observation("s", spanlens::ObservationType::Retrieval).start();
    /// obs.set_attribute("retrieval.top_k", 5);
    /// ```
    pub fn set_attribute(&self, key: impl Into<Key>, value: impl Into<Value>) {
        let kv = KeyValue::new(key, value);
        self.update(|r, _| r.attrs.push(kv));
    }

    /// Records a failure: span status `Error` with the error's `Display` text as the message,
    /// `error.type` = the error's type name (`std::io::Error` → `Error`, `MyError` →
    /// `MyError`). The last recorded error wins.
    ///
    /// ```
    /// let llm = spanlens::chat("openai", "gpt-4o").start();
    /// llm.record_error(&std::io::Error::other("connection reset"));
    /// ```
    pub fn record_error<E: Display + ?Sized>(&self, error: &E) {
        self.record_error_as(crate::llm::short_type_name::<E>(), error.to_string());
    }

    /// [`SpanHandle::record_error`] with an explicit `error.type` (a low-cardinality class such
    /// as an HTTP status), for instrumentation code.
    pub(crate) fn record_error_as(&self, error_type: impl Into<String>, message: String) {
        let error_type = error_type.into();
        self.update(|r, _| r.error = Some((error_type, message)));
    }

    /// Ends the span once: writes the record and the trace attributes, ends the OTel span.
    pub(crate) fn finish(&self, completed: bool) {
        let span = self.cx.span();
        let Target::Own(shared) = &self.target else {
            span.end();
            return;
        };
        let mut record = lock(&shared.record);
        if record.ended {
            return;
        }
        record.ended = true;
        let mut attrs = record.attributes(shared.kind, &shared.state, completed);
        crate::scope::trace_attributes(&self.cx, &shared.trace, &mut attrs);
        if let Some((_, message)) = record.error.take() {
            span.set_status(Status::error(message));
        }
        drop(record);
        span.set_attributes(attrs);
        span.end();
    }
}

fn lock(m: &Mutex<Record>) -> MutexGuard<'_, Record> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
