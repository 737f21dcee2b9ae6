//! Spans for the rest of an LLM application: agents, workflows (chains), tools, retrieval,
//! embeddings, guardrails, evaluators — with correct nesting across `.await` and spawned tasks.

use std::borrow::Cow;
use std::future::Future;
use std::sync::Arc;

use opentelemetry::context::{ContextGuard, FutureExt, WithContext};
use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue};
use serde::Serialize;

use crate::capture;
use crate::keys;
use crate::llm::short_type_name;
use crate::state::{self, State};

/// The kind of work a span records; decides the attributes that classify it.
///
/// | type | attributes | stored `observation_type` / `operation` |
/// | --- | --- | --- |
/// | `Agent` | `gen_ai.operation.name=invoke_agent`, `gen_ai.agent.name=<name>` | agent / invoke_agent |
/// | `Tool` | `gen_ai.operation.name=execute_tool`, `gen_ai.tool.name=<name>` | tool / execute_tool |
/// | `Retrieval` | `gen_ai.operation.name=retrieval` | retrieval / retrieval |
/// | `Embedding` | `gen_ai.operation.name=embeddings` | embedding / embeddings |
/// | `Generation` | `langfuse.observation.type=generation` | llm / chat |
/// | `Chain` | `langfuse.observation.type=chain` | chain / — |
/// | `Guardrail`, `Evaluator` | `langfuse.observation.type=guardrail`/`evaluator` | guardrail / evaluator |
/// | `Span` | — | span / — |
///
/// For model calls prefer the typed [`crate::chat`] API, which records models and tokens.
///
/// ```
/// assert_eq!(spanlens::ObservationType::Agent.as_str(), "agent");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObservationType {
    /// A plain step.
    Span,
    /// An agent run (`invoke_agent`).
    Agent,
    /// A workflow / chain of steps.
    Chain,
    /// A tool execution (`execute_tool`).
    Tool,
    /// A retrieval (vector search, reranking).
    Retrieval,
    /// An embeddings call without model details.
    Embedding,
    /// A model call without the typed API.
    Generation,
    /// A guardrail check.
    Guardrail,
    /// An evaluator (LLM-as-a-judge, heuristic).
    Evaluator,
}

impl ObservationType {
    /// Lower-case name (`span`, `agent`, `chain`, `tool`, `retrieval`, `embedding`,
    /// `generation`, `guardrail`, `evaluator`).
    ///
    /// ```
    /// assert_eq!(spanlens::ObservationType::Retrieval.as_str(), "retrieval");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            ObservationType::Span => "span",
            ObservationType::Agent => "agent",
            ObservationType::Chain => "chain",
            ObservationType::Tool => "tool",
            ObservationType::Retrieval => "retrieval",
            ObservationType::Embedding => "embedding",
            ObservationType::Generation => "generation",
            ObservationType::Guardrail => "guardrail",
            ObservationType::Evaluator => "evaluator",
        }
    }

    fn attributes(self, name: &str, attrs: &mut Vec<KeyValue>) {
        match self {
            ObservationType::Span => {}
            ObservationType::Agent => {
                attrs.push(KeyValue::new(keys::OPERATION_NAME, "invoke_agent"));
                attrs.push(KeyValue::new(keys::AGENT_NAME, name.to_string()));
            }
            ObservationType::Tool => {
                attrs.push(KeyValue::new(keys::OPERATION_NAME, "execute_tool"));
                attrs.push(KeyValue::new(keys::TOOL_NAME, name.to_string()));
            }
            ObservationType::Retrieval => {
                attrs.push(KeyValue::new(keys::OPERATION_NAME, "retrieval"))
            }
            ObservationType::Embedding => {
                attrs.push(KeyValue::new(keys::OPERATION_NAME, "embeddings"))
            }
            ObservationType::Generation
            | ObservationType::Chain
            | ObservationType::Guardrail
            | ObservationType::Evaluator => {
                attrs.push(KeyValue::new(keys::OBSERVATION_TYPE, self.as_str()))
            }
        }
    }

    fn input_key(self) -> &'static str {
        if self == ObservationType::Tool {
            keys::TOOL_CALL_ARGUMENTS
        } else {
            keys::OBSERVATION_INPUT
        }
    }

    fn output_key(self) -> &'static str {
        if self == ObservationType::Tool {
            keys::TOOL_CALL_RESULT
        } else {
            keys::OBSERVATION_OUTPUT
        }
    }
}

/// Starts describing an observation span; finish with [`ObservationBuilder::start`].
///
/// ```
/// use spanlens::ObservationType;
/// let tool = spanlens::observation("get_weather", ObservationType::Tool)
///     .input(&serde_json::json!({"city": "Paris"}))
///     .start();
/// tool.set_output(&"sunny, 21°C");
/// tool.end();
/// ```
pub fn observation(name: impl Into<Cow<'static, str>>, ty: ObservationType) -> ObservationBuilder {
    ObservationBuilder {
        state: state::get(),
        name: name.into(),
        ty,
        attrs: Vec::new(),
    }
}

/// Runs `fut` inside a new span of type `ty`, current across every `.await` of `fut`; spans
/// started inside nest under it. The span ends when `fut` completes or is dropped.
///
/// ```no_run
/// use spanlens::ObservationType;
/// # async fn search(q: &str) -> Vec<String> { vec![] }
/// # async fn demo() {
/// let docs = spanlens::observe("vector_search", ObservationType::Retrieval, async {
///     search("otlp").await
/// })
/// .await;
/// # }
/// ```
pub async fn observe<F: Future>(
    name: impl Into<Cow<'static, str>>,
    ty: ObservationType,
    fut: F,
) -> F::Output {
    let obs = observation(name, ty).start();
    let out = fut.with_context(obs.context()).await;
    obs.end();
    out
}

/// [`observe`] that also records `input` and the future's output (both serialized to JSON,
/// masked, unless content capture is off).
///
/// ```no_run
/// use spanlens::ObservationType;
/// # async fn demo() {
/// let sum = spanlens::observe_with_io("add", ObservationType::Tool, &(2, 3), async { 2 + 3 }).await;
/// # }
/// ```
pub fn observe_with_io<N, I, F>(
    name: N,
    ty: ObservationType,
    input: &I,
    fut: F,
) -> impl Future<Output = F::Output> + use<N, I, F>
where
    N: Into<Cow<'static, str>>,
    I: Serialize + ?Sized,
    F: Future,
    F::Output: Serialize,
{
    // Rendered now, so the returned future does not borrow `input` (it can be spawned).
    let input = state::get().and_then(|state| capture::render(&state, input));
    let name = name.into();
    async move {
        let mut builder = observation(name, ty);
        if let Some(input) = input {
            builder.attrs.push(KeyValue::new(ty.input_key(), input));
        }
        let obs = builder.start();
        let out = fut.with_context(obs.context()).await;
        obs.set_output(&out);
        obs.end();
        out
    }
}

/// Runs synchronous `f` inside a new span of type `ty`.
///
/// ```
/// let n = spanlens::observe_sync("parse", spanlens::ObservationType::Span, || 40 + 2);
/// assert_eq!(n, 42);
/// ```
pub fn observe_sync<R>(
    name: impl Into<Cow<'static, str>>,
    ty: ObservationType,
    f: impl FnOnce() -> R,
) -> R {
    let obs = observation(name, ty).start();
    let out = {
        let _guard = obs.context().attach();
        f()
    };
    obs.end();
    out
}

/// `tokio::spawn` that carries the current context (span and [`crate::Scope`]) into the task,
/// so spans started in it nest under the spawning span. Must be called within a Tokio runtime.
///
/// ```no_run
/// use spanlens::ObservationType;
/// # async fn demo() {
/// spanlens::observe("fan_out", ObservationType::Agent, async {
///     let h = spanlens::spawn(spanlens::observe("worker", ObservationType::Tool, async { 1 }));
///     h.await.unwrap()
/// })
/// .await;
/// # }
/// ```
pub fn spawn<F>(fut: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(fut.with_current_context())
}

/// Request side of an observation span (see [`observation`]).
#[derive(Debug)]
#[must_use = "call .start() to start the span"]
pub struct ObservationBuilder {
    state: Option<Arc<State>>,
    name: Cow<'static, str>,
    ty: ObservationType,
    attrs: Vec<KeyValue>,
}

impl ObservationBuilder {
    /// The input, serialized to JSON (strings as-is), masked, unless content capture is off.
    /// Tool spans write `gen_ai.tool.call.arguments`, others `langfuse.observation.input`.
    ///
    /// ```
    /// let b = spanlens::observation("lookup", spanlens::ObservationType::Tool).input(&("a", 1));
    /// ```
    pub fn input<T: Serialize + ?Sized>(mut self, input: &T) -> Self {
        if let Some(state) = &self.state
            && let Some(text) = capture::render(state, input)
        {
            self.attrs.push(KeyValue::new(self.ty.input_key(), text));
        }
        self
    }

    /// A metadata entry for this span only (`langfuse.observation.metadata.<key>`).
    ///
    /// ```
    /// let b = spanlens::observation("step", spanlens::ObservationType::Span).metadata("retries", "2");
    /// ```
    pub fn metadata(mut self, key: &str, value: impl Into<String>) -> Self {
        self.attrs.push(KeyValue::new(
            format!("langfuse.observation.metadata.{key}"),
            value.into(),
        ));
        self
    }

    /// Any other attribute (e.g. `gen_ai.tool.call.id`).
    ///
    /// ```
    /// let b = spanlens::observation("t", spanlens::ObservationType::Tool)
    ///     .attribute(opentelemetry::KeyValue::new(spanlens::keys::TOOL_CALL_ID, "call_1"));
    /// ```
    pub fn attribute(mut self, kv: KeyValue) -> Self {
        self.attrs.push(kv);
        self
    }

    /// Starts the span as a child of the current span.
    ///
    /// ```
    /// let obs = spanlens::observation("step", spanlens::ObservationType::Chain).start();
    /// obs.end();
    /// ```
    pub fn start(self) -> Observation {
        let Some(state) = self.state else {
            return Observation { inner: None };
        };
        let mut attrs = self.attrs;
        self.ty.attributes(&self.name, &mut attrs);
        let builder = state
            .tracer
            .span_builder(self.name)
            .with_kind(SpanKind::Internal)
            .with_attributes(attrs);
        let cx = Context::map_current(|parent| {
            let span = state.tracer.build_with_context(builder, parent);
            parent.with_span(span)
        });
        let recording = cx.span().is_recording();
        Observation {
            inner: Some(Box::new(ObsInner {
                recording,
                state,
                cx,
                ty: self.ty,
            })),
        }
    }
}

/// A started observation span; ends on [`Observation::end`] or when dropped.
///
/// ```no_run
/// use spanlens::ObservationType;
/// # async fn run_agent() -> String { String::new() }
/// # async fn demo() {
/// let agent = spanlens::observation("planner", ObservationType::Agent).input(&"plan a trip").start();
/// let answer = agent.in_scope(run_agent()).await; // spans inside nest under `agent`
/// agent.set_output(&answer);
/// agent.end();
/// # }
/// ```
#[derive(Debug)]
pub struct Observation {
    inner: Option<Box<ObsInner>>,
}

struct ObsInner {
    recording: bool,
    state: Arc<State>,
    cx: Context,
    ty: ObservationType,
}

impl std::fmt::Debug for ObsInner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observation")
            .field("type", &self.ty)
            .field("recording", &self.recording)
            .finish_non_exhaustive()
    }
}

impl Observation {
    fn live(&self) -> Option<&ObsInner> {
        self.inner.as_deref().filter(|i| i.recording)
    }

    /// The context with this span current.
    ///
    /// ```
    /// let obs = spanlens::observation("s", spanlens::ObservationType::Span).start();
    /// let child_parent = obs.context();
    /// ```
    pub fn context(&self) -> Context {
        self.inner
            .as_ref()
            .map(|i| i.cx.clone())
            .unwrap_or_else(Context::current)
    }

    /// Runs `fut` with this span current.
    ///
    /// ```no_run
    /// # async fn demo() {
    /// let obs = spanlens::observation("s", spanlens::ObservationType::Chain).start();
    /// obs.in_scope(async { /* nested spans */ }).await;
    /// # }
    /// ```
    pub fn in_scope<F: Future>(&self, fut: F) -> WithContext<F> {
        fut.with_context(self.context())
    }

    /// Makes this span current for synchronous code until the guard drops.
    ///
    /// ```
    /// let obs = spanlens::observation("s", spanlens::ObservationType::Span).start();
    /// let _g = obs.attach();
    /// ```
    pub fn attach(&self) -> ContextGuard {
        self.context().attach()
    }

    /// Records the output (JSON, strings as-is, masked, unless content capture is off).
    /// Tool spans write `gen_ai.tool.call.result`, others `langfuse.observation.output`.
    ///
    /// ```
    /// let obs = spanlens::observation("s", spanlens::ObservationType::Span).start();
    /// obs.set_output(&vec!["doc-1", "doc-2"]);
    /// ```
    pub fn set_output<T: Serialize + ?Sized>(&self, output: &T) {
        if let Some(i) = self.live()
            && let Some(text) = capture::render(&i.state, output)
        {
            i.cx.span()
                .set_attribute(KeyValue::new(i.ty.output_key(), text));
        }
    }

    /// Sets any attribute.
    ///
    /// ```
    /// let obs = spanlens::observation("s", spanlens::ObservationType::Retrieval).start();
    /// obs.set_attribute(opentelemetry::KeyValue::new("retrieval.top_k", 5));
    /// ```
    pub fn set_attribute(&self, kv: KeyValue) {
        if let Some(i) = self.live() {
            i.cx.span().set_attribute(kv);
        }
    }

    /// Records a failure: status `Error` with `message`, and `error.type`.
    ///
    /// ```
    /// let obs = spanlens::observation("s", spanlens::ObservationType::Tool).start();
    /// obs.record_error("timeout", "tool did not answer in 5 s");
    /// ```
    pub fn record_error(&self, error_type: impl Into<String>, message: impl Into<String>) {
        if let Some(i) = self.live() {
            let span = i.cx.span();
            span.set_attribute(KeyValue::new(keys::ERROR_TYPE, error_type.into()));
            span.set_status(Status::error(message.into()));
        }
    }

    /// [`Observation::record_error`] from an error value (type name, `Display`).
    ///
    /// ```
    /// let obs = spanlens::observation("s", spanlens::ObservationType::Tool).start();
    /// obs.record_error_from(&std::io::Error::other("boom"));
    /// ```
    pub fn record_error_from<E: std::error::Error + ?Sized>(&self, error: &E) {
        self.record_error(short_type_name::<E>(), error.to_string());
    }

    /// Ends the span now.
    ///
    /// ```
    /// spanlens::observation("s", spanlens::ObservationType::Span).start().end();
    /// ```
    pub fn end(self) {}
}

impl Drop for Observation {
    fn drop(&mut self) {
        if let Some(i) = &self.inner {
            i.cx.span().end();
        }
    }
}
