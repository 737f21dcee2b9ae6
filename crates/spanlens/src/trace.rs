//! Trace-level attributes set from inside a running trace: [`current_trace`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use opentelemetry::Context;

use crate::scope::Scope;
use crate::span::Frame;

/// The trace-level values shared by every Spanlens span of one trace (created by its outermost
/// Spanlens span, carried in the context like the span itself).
#[derive(Debug, Default)]
pub(crate) struct TraceShared {
    values: Mutex<Scope>,
    /// Set once anything was set, so untouched traces cost no lock at span end.
    touched: AtomicBool,
}

impl TraceShared {
    /// The values set so far, if any.
    pub(crate) fn values(&self) -> Option<Scope> {
        self.touched.load(Ordering::Acquire).then(|| {
            self.values
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone()
        })
    }

    fn update(&self, f: impl FnOnce(Scope) -> Scope) {
        let mut values = self.values.lock().unwrap_or_else(|p| p.into_inner());
        *values = f(std::mem::take(&mut *values));
        self.touched.store(true, Ordering::Release);
    }
}

/// Session, user, tags and metadata of the trace the calling code runs in, set from anywhere
/// inside it (Langfuse's `update_current_trace`). Get it with [`current_trace`].
///
/// The values go on every span of the trace that ends after the call — the outermost Spanlens
/// span (usually the root) and the spans still running included — and on every span started
/// later in it; they override a [`Scope`]'s values. Spans that ended before the call keep what
/// they had. "The trace" is everything under the outermost Spanlens span (an `observe`, an
/// `#[observe]` function, an LLM span) the code runs in, across `.await` and
/// [`crate::spawn`]ed tasks. Outside any Spanlens span the handle does nothing.
///
/// ```
/// #[spanlens::observe(as = "agent")]
/// fn handle(request: &str) -> String {
///     // e.g. after authenticating the caller, deep inside the request:
///     spanlens::current_trace()
///         .set_user_id("user-7")
///         .set_session_id("session-42")
///         .add_tags(["beta"])
///         .set_metadata("plan", "pro");
///     format!("answered {request}")
/// }
/// # handle("hi");
/// ```
#[derive(Debug, Clone)]
pub struct TraceHandle {
    trace: Option<Arc<TraceShared>>,
}

/// The trace the calling code runs in (see [`TraceHandle`]).
///
/// ```
/// assert!(!spanlens::current_trace().is_recording()); // not inside a span
/// ```
pub fn current_trace() -> TraceHandle {
    TraceHandle {
        trace: Context::map_current(|cx| cx.get::<Frame>().map(|f| f.span.trace.clone())),
    }
}

impl TraceHandle {
    fn update(&self, f: impl FnOnce(Scope) -> Scope) -> &Self {
        if let Some(trace) = &self.trace {
            trace.update(f);
        }
        self
    }

    /// Whether the handle belongs to a trace (else its setters do nothing).
    ///
    /// ```
    /// assert!(!spanlens::current_trace().is_recording());
    /// ```
    pub fn is_recording(&self) -> bool {
        self.trace.is_some()
    }

    /// Session (conversation) id: `gen_ai.conversation.id`.
    ///
    /// ```
    /// spanlens::current_trace().set_session_id("session-42");
    /// ```
    pub fn set_session_id(&self, id: impl Into<String>) -> &Self {
        let id = id.into();
        self.update(|s| s.session_id(id))
    }

    /// End-user id: `user.id`.
    ///
    /// ```
    /// spanlens::current_trace().set_user_id("user-7");
    /// ```
    pub fn set_user_id(&self, id: impl Into<String>) -> &Self {
        let id = id.into();
        self.update(|s| s.user_id(id))
    }

    /// Adds tags (`langfuse.trace.tags`).
    ///
    /// ```
    /// spanlens::current_trace().add_tags(["beta", "checkout"]);
    /// ```
    pub fn add_tags<I, T>(&self, tags: I) -> &Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        let tags: Vec<String> = tags.into_iter().map(Into::into).collect();
        self.update(|s| s.tags(tags))
    }

    /// A trace metadata entry (`langfuse.trace.metadata.<key>`); a later value for the same key
    /// wins.
    ///
    /// ```
    /// spanlens::current_trace().set_metadata("tenant", "acme");
    /// ```
    pub fn set_metadata(&self, key: impl Into<String>, value: impl Into<String>) -> &Self {
        let (key, value) = (key.into(), value.into());
        self.update(|s| s.metadata(key, value))
    }
}
