//! # Spanlens Rust SDK
//!
//! Record every LLM call of a Rust application as an OpenTelemetry span that follows the
//! [OpenTelemetry GenAI semantic conventions](https://opentelemetry.io/docs/specs/semconv/gen-ai/),
//! together with the agent, tool, retrieval and workflow spans around it, and export them over
//! OTLP (gRPC or HTTP/protobuf, `https://` included) to a Spanlens collector — or to any OTLP
//! backend.
//!
//! ```no_run
//! use spanlens::{Message, Scope, Usage};
//!
//! #[spanlens::observe(as = "agent")]
//! async fn plan_trip(city: &str) -> anyhow::Result<String> {
//!     spanlens::current_trace().set_user_id("user-7"); // from anywhere inside the trace
//!     let llm = spanlens::chat("openai", "gpt-4o-mini")
//!         .temperature(0.2)
//!         .input_messages([Message::user(format!("Plan a day in {city}"))])
//!         .start();
//!     let answer = String::from("Alfama, then Belém."); // your model call
//!     llm.set_output_text(&answer);
//!     llm.set_usage(Usage::new(42, 17));
//!     llm.end();
//!     Ok(answer)
//! }
//!
//! #[tokio::main]
//! async fn main() -> anyhow::Result<()> {
//!     // 1. Setup, once: the guard flushes when dropped; everything else is global.
//!     let _guard = spanlens::builder()
//!         .endpoint("https://spanlens.internal:4317")
//!         .api_key("sk-project-key")
//!         .service_name("trip-bot")
//!         .init()?;
//!     // 2. Session for everything inside; 3. an agent span with an LLM span inside it.
//!     Scope::new().session_id("session-42").run(plan_trip("Lisbon")).await?;
//!     spanlens::score(spanlens::Score::boolean("helpful", true).session_id("session-42")).await?;
//!     // 4. Flush and stop, without blocking a runtime thread.
//!     spanlens::shutdown().await?;
//!     Ok(())
//! }
//! ```
//!
//! ## One way to do each thing
//!
//! | to … | use |
//! | --- | --- |
//! | set up | [`builder`]`()…`[`init`](SpanlensBuilder::init)`()` → a guard (flushes on drop) |
//! | record a model call | [`chat`] / [`llm`] / [`embeddings`] → [`LlmSpan`]; or `#[observe(as = "generation")]` and [`current_llm`] |
//! | record agents, tools, retrieval, steps | [`#[observe]`](macro@observe) on a function; [`observe()`] / [`try_observe`] around a future; [`observation`] for full control |
//! | fill the span you are in | [`current`] (innermost span), [`current_llm`] (innermost model call) — a [`SpanHandle`] |
//! | session, user, tags, metadata | [`Scope`] for a block; [`current_trace`] from inside a running trace |
//! | errors | [`SpanHandle::record_error`]`(&err)`; `Err` results of `#[observe]` / [`try_observe`] are recorded for you |
//! | scores | [`score`] / [`score_blocking`] with a [`Score`] |
//! | flush, stop | [`flush`], [`shutdown`] (async, off your runtime's threads); the guard's drop |
//! | carry the span into a task | [`spawn`] (or [`FutureExt::with_current_context`]) |
//!
//! Every setter takes `&self`; [`LlmSpan`] and [`Observation`] own their span (it ends on
//! `end()` or drop) and dereference to [`SpanHandle`], which [`current`] also returns.
//!
//! ## Features
//!
//! | feature | default | what |
//! | --- | --- | --- |
//! | `macros` | yes | [`#[observe]`](macro@observe) |
//! | `tls` | yes | `https://` endpoints (rustls with ring, Mozilla roots, extra CA: [`SpanlensBuilder::ca_certificate_pem`]) |
//! | `async-openai` | no | [`openai`]: chat completions, Responses API, embeddings for the `async-openai` client |
//! | `tracing` | no | `tracing_layer`: `tracing` spans (and libraries that trace with it, e.g. rig) in the same traces |
//!
//! ## What goes where
//!
//! | you call | attributes written (read by the Spanlens collector into columns) |
//! | --- | --- |
//! | [`chat`], [`llm`], [`embeddings`], `generation` observations | `gen_ai.operation.name`, `gen_ai.provider.name`, `gen_ai.request.*`, `gen_ai.input.messages`, `gen_ai.output.messages`, `gen_ai.tool.definitions`, `gen_ai.response.*`, `gen_ai.usage.*`, `gen_ai.response.time_to_first_chunk`, `gen_ai.request.stream`, `error.type` + span status |
//! | [`observe()`], [`observation`], [`#[observe]`](macro@observe) | agent: `gen_ai.operation.name=invoke_agent` + `gen_ai.agent.name`; tool: `execute_tool` + `gen_ai.tool.name` + `gen_ai.tool.call.arguments/result`; retrieval: `retrieval`; embedding: `embeddings`; generation/chain/guardrail/evaluator: `langfuse.observation.type`; input/output: `langfuse.observation.input/output`; metadata: `langfuse.observation.metadata.<key>` |
//! | [`Scope`], [`current_trace`] | `gen_ai.conversation.id` (session), `user.id`, `langfuse.trace.tags`, `langfuse.trace.metadata.<key>`, `langfuse.observation.prompt.name/version` |
//! | [`SpanlensBuilder`] | resource `service.name`, `service.version`, `deployment.environment.name` |
//!
//! The exact keys are constants in [`keys`].
//!
//! ## Async nesting
//!
//! Spans nest under the span that is *current* in the OpenTelemetry [`Context`] when they start.
//! [`observe()`], `#[observe]` and [`SpanHandle::in_scope`] make their span current while the
//! future is polled, across every `.await`. A task started with `tokio::spawn` does not inherit
//! the context by itself: use [`spawn`], or wrap the future with
//! [`FutureExt::with_current_context`] (re-exported here).
//!
//! ## Content capture and masking
//!
//! Inputs and outputs (messages, tool arguments and results, observation inputs/outputs) are
//! captured by default. [`SpanlensBuilder::capture_content`]`(false)` turns capture off;
//! [`SpanlensBuilder::mask`] installs a function applied to every captured text before it leaves
//! the process (see [`SpanlensBuilder::mask`] for exactly which strings it sees). Both also
//! apply, at export, to the content attributes of spans other instrumentation records on the
//! SDK's provider (e.g. `tracing` spans).
//!
//! ## Cost on the caller's thread
//!
//! Spans are handed to a batch span processor (a bounded queue drained by a background thread);
//! exporting never blocks the caller. When the queue is full, spans are dropped rather than
//! blocking. `examples/overhead.rs` measures the per-span cost (about 2–4 µs for a full LLM span
//! with content capture, release build).

#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

mod capture;
pub mod keys;
mod llm;
mod message;
mod observe;
#[cfg(feature = "async-openai")]
#[cfg_attr(docsrs, doc(cfg(feature = "async-openai")))]
pub mod openai;
#[doc(hidden)]
pub mod __private {
    pub use crate::private::*;
}
mod private;
mod scope;
mod score;
mod setup;
mod span;
mod state;
mod tls;
mod trace;
#[cfg(feature = "tracing")]
mod tracing_bridge;

pub use capture::{DebugText, captures_content, debug};
pub use llm::{LlmSpan, LlmSpanBuilder, LlmStream, Operation, Usage, chat, embeddings, llm};
pub use message::{Message, Part};
pub use observe::{
    Observation, ObservationBuilder, ObservationType, observation, observe, observe_sync, spawn,
    try_observe,
};
pub use scope::{Scope, ScopeProcessor};
pub use score::{Score, ScoreValue};
pub use setup::{
    Error, Protocol, Spanlens, SpanlensBuilder, builder, flush, flush_blocking, score,
    score_blocking, shutdown,
};
pub use span::{SpanHandle, current, current_llm};
pub use trace::{TraceHandle, current_trace};
#[cfg(feature = "tracing")]
#[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
pub use tracing_bridge::{TRACING_SCOPE, tracing_layer};

/// The OpenTelemetry context type spans are carried in (re-exported from `opentelemetry`).
pub use opentelemetry::Context;
/// Attach a [`Context`] to a future (re-exported from `opentelemetry`): `fut.with_current_context()`
/// carries the current span into a spawned task.
pub use opentelemetry::context::FutureExt;
/// The underlying OpenTelemetry crates, for advanced use (custom processors, extra attributes).
pub use {opentelemetry, opentelemetry_sdk};

/// Attribute that wraps a function (sync or `async`) in an observation span, in the spirit of
/// Langfuse's `@observe`: the span is named after the function, nests under the current span,
/// is current while the body runs (across `.await`), records the arguments as input (a JSON
/// object `{"arg": value}`) and the return value as output, and an `Err` as an error
/// (`error.type` = the error's type name, status message = its `Display`).
///
/// Each argument and the return value are captured with `serde_json` when their type is
/// `Serialize`, else with `Debug` (as a string), else as `"<type name>"`. `self` and
/// destructuring patterns are not captured. Capture follows the SDK's switch and mask
/// ([`SpanlensBuilder::capture_content`], [`SpanlensBuilder::mask`]).
///
/// Options: `name = "…"` (default: the function name), `as = "agent" | "tool" | "chain" |
/// "workflow" | "retrieval" | "embedding" | "generation" | "guardrail" | "evaluator" | "span"`
/// (default `span`), `capture_input = false`, `capture_output = false`.
///
/// ```
/// #[spanlens::observe(as = "tool")]
/// fn get_weather(city: &str, days: u32) -> Result<String, std::io::Error> {
///     Ok(format!("{city}: sunny for {days} days"))
/// }
///
/// #[spanlens::observe(name = "planner", as = "agent", capture_output = false)]
/// async fn plan(request: String) -> String {
///     get_weather("Lisbon", 2).unwrap_or_default()
/// }
/// # assert_eq!(get_weather("Paris", 1).unwrap(), "Paris: sunny for 1 days");
/// ```
#[cfg(feature = "macros")]
pub use spanlens_macros::observe;
