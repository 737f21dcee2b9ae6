//! Session, user, tags, metadata and prompt set once for a scope and carried to every span in it.

use std::cell::Cell;
use std::future::Future;
use std::time::Duration;

use opentelemetry::context::{ContextGuard, FutureExt, WithContext};
use opentelemetry::{Array, Context, KeyValue, StringValue, Value};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanProcessor};

use crate::keys;
use crate::span::Frame;
use crate::trace::TraceShared;

/// Attributes every span inside a scope gets: session id, user id, tags, metadata, prompt name
/// and version.
///
/// A scope is a value in the OpenTelemetry [`Context`]; every span started while it is current —
/// by this SDK or by any other OpenTelemetry instrumentation using the tracer provider
/// [`crate::SpanlensBuilder::init`] built — carries its attributes (the provider's
/// [`ScopeProcessor`] copies them at span start). Scopes nest: an inner scope inherits the outer
/// one's values, replaces the ones it sets, adds its tags and merges its metadata.
///
/// ```no_run
/// use spanlens::Scope;
/// # async fn handle_request() {}
/// # async fn demo() {
/// // async code: the scope is current while the future runs, across .await
/// Scope::new()
///     .session_id("session-42")
///     .user_id("user-7")
///     .tags(["beta", "checkout"])
///     .metadata("tenant", "acme")
///     .prompt("trip-planner", "3")
///     .run(handle_request())
///     .await;
///
/// // sync code: current until the guard drops
/// let _guard = Scope::new().user_id("user-7").attach();
/// # }
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scope {
    session_id: Option<String>,
    user_id: Option<String>,
    tags: Vec<String>,
    metadata: Vec<(String, String)>,
    prompt_name: Option<String>,
    prompt_version: Option<String>,
}

/// The resolved scope stored in the context: the merged values plus the attributes to copy.
#[derive(Debug)]
pub(crate) struct ScopeValue {
    scope: Scope,
    attributes: Vec<KeyValue>,
}

impl Scope {
    /// An empty scope.
    ///
    /// ```
    /// assert_eq!(spanlens::Scope::new(), spanlens::Scope::default());
    /// ```
    pub fn new() -> Scope {
        Scope::default()
    }

    /// Session (conversation) id: written as `gen_ai.conversation.id`.
    ///
    /// ```
    /// let s = spanlens::Scope::new().session_id("s-1");
    /// ```
    pub fn session_id(mut self, id: impl Into<String>) -> Scope {
        self.session_id = Some(id.into());
        self
    }

    /// End-user id: written as `user.id`.
    ///
    /// ```
    /// let s = spanlens::Scope::new().user_id("u-1");
    /// ```
    pub fn user_id(mut self, id: impl Into<String>) -> Scope {
        self.user_id = Some(id.into());
        self
    }

    /// Adds one tag (`langfuse.trace.tags`).
    ///
    /// ```
    /// let s = spanlens::Scope::new().tag("beta");
    /// ```
    pub fn tag(mut self, tag: impl Into<String>) -> Scope {
        let tag = tag.into();
        if !self.tags.contains(&tag) {
            self.tags.push(tag);
        }
        self
    }

    /// Adds tags.
    ///
    /// ```
    /// let s = spanlens::Scope::new().tags(["a", "b"]);
    /// ```
    pub fn tags<I, T>(self, tags: I) -> Scope
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        tags.into_iter().fold(self, |s, t| s.tag(t))
    }

    /// Adds a metadata entry (`langfuse.trace.metadata.<key>`); a later value for the same key wins.
    ///
    /// ```
    /// let s = spanlens::Scope::new().metadata("tenant", "acme");
    /// ```
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Scope {
        let (key, value) = (key.into(), value.into());
        match self.metadata.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = value,
            None => self.metadata.push((key, value)),
        }
        self
    }

    /// Prompt name and version (`langfuse.observation.prompt.name` / `.version`).
    ///
    /// ```
    /// let s = spanlens::Scope::new().prompt("summarize", "7");
    /// ```
    pub fn prompt(mut self, name: impl Into<String>, version: impl Into<String>) -> Scope {
        self.prompt_name = Some(name.into());
        self.prompt_version = Some(version.into());
        self
    }

    /// The scope in effect in the current context (the merge of all enclosing scopes), if any.
    ///
    /// ```
    /// use spanlens::Scope;
    /// assert_eq!(Scope::current(), None);
    /// let _g = Scope::new().user_id("u").attach();
    /// assert_eq!(Scope::current(), Some(Scope::new().user_id("u")));
    /// ```
    pub fn current() -> Option<Scope> {
        Context::map_current(|cx| cx.get::<ScopeValue>().map(|v| v.scope.clone()))
    }

    /// This scope merged over `outer`: outer values stay unless this one sets them.
    fn merged_over(self, outer: Option<&Scope>) -> Scope {
        let Some(outer) = outer else { return self };
        let mut merged = outer.clone();
        if self.session_id.is_some() {
            merged.session_id = self.session_id;
        }
        if self.user_id.is_some() {
            merged.user_id = self.user_id;
        }
        if self.prompt_name.is_some() {
            merged.prompt_name = self.prompt_name;
            merged.prompt_version = self.prompt_version;
        }
        let merged = self.tags.into_iter().fold(merged, |s, t| s.tag(t));
        self.metadata
            .into_iter()
            .fold(merged, |s, (k, v)| s.metadata(k, v))
    }

    fn attributes(&self) -> Vec<KeyValue> {
        let mut attrs = Vec::new();
        if let Some(v) = &self.session_id {
            attrs.push(KeyValue::new(keys::CONVERSATION_ID, v.clone()));
        }
        if let Some(v) = &self.user_id {
            attrs.push(KeyValue::new(keys::USER_ID, v.clone()));
        }
        if !self.tags.is_empty() {
            let tags: Vec<StringValue> = self
                .tags
                .iter()
                .map(|t| StringValue::from(t.clone()))
                .collect();
            attrs.push(KeyValue::new(keys::TAGS, Value::Array(Array::String(tags))));
        }
        for (k, v) in &self.metadata {
            attrs.push(KeyValue::new(
                format!("{}{k}", keys::METADATA_PREFIX),
                v.clone(),
            ));
        }
        if let Some(v) = &self.prompt_name {
            attrs.push(KeyValue::new(keys::PROMPT_NAME, v.clone()));
        }
        if let Some(v) = &self.prompt_version {
            attrs.push(KeyValue::new(keys::PROMPT_VERSION, v.clone()));
        }
        attrs
    }

    /// The current context with this scope (merged over the current one) added.
    ///
    /// ```
    /// let cx = spanlens::Scope::new().session_id("s").context();
    /// let _g = cx.attach();
    /// assert!(spanlens::Scope::current().is_some());
    /// ```
    pub fn context(self) -> Context {
        Context::map_current(|cx| {
            let scope = self.merged_over(cx.get::<ScopeValue>().map(|v| &v.scope));
            let attributes = scope.attributes();
            cx.with_value(ScopeValue { scope, attributes })
        })
    }

    /// Makes the scope current for synchronous code until the guard drops.
    ///
    /// ```
    /// {
    ///     let _g = spanlens::Scope::new().session_id("s").attach();
    ///     assert!(spanlens::Scope::current().is_some());
    /// }
    /// assert!(spanlens::Scope::current().is_none());
    /// ```
    pub fn attach(self) -> ContextGuard {
        self.context().attach()
    }

    /// Runs `fut` with the scope current (across every `.await` of `fut`).
    ///
    /// ```no_run
    /// # async fn demo() {
    /// spanlens::Scope::new().user_id("u").run(async { /* spans here carry user.id */ }).await;
    /// # }
    /// ```
    pub fn run<F: Future>(self, fut: F) -> WithContext<F> {
        fut.with_context(self.context())
    }
}

thread_local! {
    /// Set while this SDK starts one of its own spans (see [`ScopeProcessor`]).
    static STARTING_OWN_SPAN: Cell<bool> = const { Cell::new(false) };
}

/// Runs `start` (which starts a Spanlens span) so that [`ScopeProcessor`] leaves the span to
/// the SDK, which writes the scope and trace attributes when the span ends.
pub(crate) fn starting_own_span<R>(start: impl FnOnce() -> R) -> R {
    STARTING_OWN_SPAN.set(true);
    let out = start();
    STARTING_OWN_SPAN.set(false);
    out
}

/// The scope and trace attributes of a span started in `cx`: the current [`Scope`], with the
/// values set through [`crate::current_trace`] over it.
pub(crate) fn trace_attributes(cx: &Context, trace: &TraceShared, attrs: &mut Vec<KeyValue>) {
    let scope = cx.get::<ScopeValue>();
    match trace.values() {
        None => {
            if let Some(scope) = scope {
                attrs.extend(scope.attributes.iter().cloned());
            }
        }
        Some(values) => attrs.extend(values.merged_over(scope.map(|s| &s.scope)).attributes()),
    }
}

/// The span processor that copies the current [`Scope`]'s attributes (and the trace's, see
/// [`crate::current_trace`]) onto every span other instrumentation starts; Spanlens's own spans
/// get them when they end.
///
/// [`crate::SpanlensBuilder::init`] installs it. Add it yourself only when you build your own
/// tracer provider:
///
/// ```
/// use opentelemetry_sdk::trace::SdkTracerProvider;
/// let provider = SdkTracerProvider::builder().with_span_processor(spanlens::ScopeProcessor).build();
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ScopeProcessor;

impl SpanProcessor for ScopeProcessor {
    fn on_start(&self, span: &mut opentelemetry_sdk::trace::Span, cx: &Context) {
        use opentelemetry::trace::Span as _;
        // Spanlens spans write these attributes when they end (with the latest trace values).
        if STARTING_OWN_SPAN.get() || !span.is_recording() {
            return;
        }
        let mut attrs = Vec::new();
        match cx.get::<Frame>() {
            Some(frame) => trace_attributes(cx, &frame.span.trace, &mut attrs),
            None => {
                if let Some(scope) = cx.get::<ScopeValue>() {
                    attrs.extend(scope.attributes.iter().cloned());
                }
            }
        }
        if !attrs.is_empty() {
            span.set_attributes(attrs);
        }
    }

    fn on_end(&self, _span: SpanData) {}

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr_map(scope: &Scope) -> Vec<(String, String)> {
        scope
            .attributes()
            .into_iter()
            .map(|kv| (kv.key.to_string(), kv.value.to_string()))
            .collect()
    }

    #[test]
    fn inner_scope_overrides_adds_tags_and_merges_metadata() {
        let _outer = Scope::new()
            .session_id("s-outer")
            .user_id("u-1")
            .tags(["a", "b"])
            .metadata("tenant", "acme")
            .metadata("tier", "free")
            .attach();
        let _inner = Scope::new()
            .session_id("s-inner")
            .tags(["b", "c"])
            .metadata("tier", "pro")
            .attach();
        let current = Scope::current().unwrap();
        assert_eq!(
            current,
            Scope::new()
                .session_id("s-inner")
                .user_id("u-1")
                .tags(["a", "b", "c"])
                .metadata("tenant", "acme")
                .metadata("tier", "pro")
        );
        assert_eq!(
            attr_map(&current),
            vec![
                ("gen_ai.conversation.id".into(), "s-inner".into()),
                ("user.id".into(), "u-1".into()),
                ("langfuse.trace.tags".into(), r#"["a","b","c"]"#.into()),
                ("langfuse.trace.metadata.tenant".into(), "acme".into()),
                ("langfuse.trace.metadata.tier".into(), "pro".into()),
            ]
        );
    }

    #[test]
    fn prompt_replaces_name_and_version_together() {
        let _outer = Scope::new().prompt("a", "1").attach();
        let _inner = Scope::new().prompt("b", "2").attach();
        let attrs = attr_map(&Scope::current().unwrap());
        assert_eq!(
            attrs,
            vec![
                ("langfuse.observation.prompt.name".into(), "b".into()),
                ("langfuse.observation.prompt.version".into(), "2".into())
            ]
        );
    }
}
