//! Spans for the rest of an LLM application: agents, workflows (chains), tools, retrieval,
//! embeddings, guardrails, evaluators — with correct nesting across `.await` and spawned tasks.

use std::borrow::Cow;
use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;

use opentelemetry::context::FutureExt;
use opentelemetry::trace::{SpanKind, Tracer};
use opentelemetry::{Key, KeyValue, Value};
use serde::Serialize;

use crate::capture;
use crate::keys;
use crate::span::{self, Kind, Record, SpanHandle};
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
        input: None,
        attrs: Vec::new(),
    }
}

/// Runs `fut` inside a new span of type `ty`, current across every `.await` of `fut`; spans
/// started inside nest under it, and code inside can fill it through [`crate::current`]. The
/// span ends when `fut` completes or is dropped. The output is not inspected: for a future
/// that returns a `Result`, [`try_observe`] records an `Err` as the span's error.
///
/// ```no_run
/// use spanlens::ObservationType;
/// # async fn search(q: &str) -> Vec<String> { vec![] }
/// # async fn demo() {
/// let docs = spanlens::observe("vector_search", ObservationType::Retrieval, async {
///     let docs = search("otlp").await;
///     spanlens::current().set_output(&docs);
///     docs
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
    let out = obs.in_scope(fut).await;
    obs.end();
    out
}

/// [`observe`] for a future returning `Result<T, E>`: an `Err` is recorded as the span's error
/// (status `Error` with the error's `Display` text, `error.type` = its type name).
///
/// ```no_run
/// use spanlens::ObservationType;
/// # async fn fetch(city: &str) -> Result<String, std::io::Error> { Ok(String::new()) }
/// # async fn demo() -> anyhow::Result<()> {
/// let forecast = spanlens::try_observe("get_weather", ObservationType::Tool, async {
///     let forecast = fetch("Lisbon").await?;
///     Ok::<_, anyhow::Error>(forecast)
/// })
/// .await?;
/// # Ok(()) }
/// ```
pub async fn try_observe<F, T, E>(
    name: impl Into<Cow<'static, str>>,
    ty: ObservationType,
    fut: F,
) -> Result<T, E>
where
    F: Future<Output = Result<T, E>>,
    E: Display,
{
    let obs = observation(name, ty).start();
    let out = obs.in_scope(fut).await;
    if let Err(e) = &out {
        obs.record_error(e);
    }
    obs.end();
    out
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
        let _guard = obs.attach();
        f()
    };
    obs.end();
    out
}

/// `tokio::spawn` that carries the current context (span, [`crate::Scope`], trace values) into
/// the task, so spans started in it nest under the spawning span and [`crate::current`] works
/// in it. Must be called within a Tokio runtime.
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
    input: Option<String>,
    attrs: Vec<KeyValue>,
}

impl ObservationBuilder {
    /// The input, serialized to JSON (strings as-is), masked, unless content capture is off.
    /// Tool spans write `gen_ai.tool.call.arguments`, others `langfuse.observation.input`. For
    /// a non-`Serialize` value pass `spanlens::debug(&value)`.
    ///
    /// ```
    /// let b = spanlens::observation("lookup", spanlens::ObservationType::Tool).input(&("a", 1));
    /// ```
    pub fn input<T: Serialize + ?Sized>(mut self, input: &T) -> Self {
        if let Some(state) = &self.state {
            self.input = capture::render(state, input);
        }
        self
    }

    /// Any other attribute (e.g. `gen_ai.tool.call.id`; values: strings, numbers, booleans).
    ///
    /// ```
    /// let b = spanlens::observation("t", spanlens::ObservationType::Tool)
    ///     .attribute(spanlens::keys::TOOL_CALL_ID, "call_1");
    /// ```
    pub fn attribute(mut self, key: impl Into<Key>, value: impl Into<Value>) -> Self {
        self.attrs.push(KeyValue::new(key, value));
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
            return Observation {
                handle: Some(crate::span::current_none()),
            };
        };
        let mut attrs = self.attrs;
        self.ty.attributes(&self.name, &mut attrs);
        let record = Record {
            input: self.input,
            ..Record::default()
        };
        let name = self.name;
        let handle = span::start(
            state,
            Kind::Observation(self.ty),
            record,
            |state, parent| {
                let builder = state
                    .tracer
                    .span_builder(name)
                    .with_kind(SpanKind::Internal)
                    .with_attributes(attrs);
                state.tracer.build_with_context(builder, parent)
            },
        );
        Observation {
            handle: Some(handle),
        }
    }
}

/// A started observation span: a [`SpanHandle`] (every setter) that owns its span; it ends on
/// [`Observation::end`] or when dropped.
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
    /// `None` only after `end`.
    handle: Option<SpanHandle>,
}

impl std::ops::Deref for Observation {
    type Target = SpanHandle;
    fn deref(&self) -> &SpanHandle {
        self.handle.as_ref().expect("present until end")
    }
}

impl Observation {
    /// Ends the span now.
    ///
    /// ```
    /// spanlens::observation("s", spanlens::ObservationType::Span).start().end();
    /// ```
    pub fn end(mut self) {
        if let Some(handle) = self.handle.take() {
            handle.finish(true);
        }
    }
}

impl Drop for Observation {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            handle.finish(true);
        }
    }
}
