//! Content capture: the masking hook and JSON rendering of captured values.

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use crate::state::State;

/// Whether content is being captured (the SDK is installed with content capture on), for
/// instrumentation that records content only when asked — e.g. rig:
/// `CompletionRequest::new(prompt).record_content_telemetry(spanlens::captures_content())`.
///
/// ```
/// assert!(!spanlens::captures_content()); // not installed
/// ```
pub fn captures_content() -> bool {
    crate::state::get().is_some_and(|s| s.capture_content)
}

/// Captures a value that is not `Serialize` by its `Debug` text, for the setters that take
/// `Serialize` ([`crate::SpanHandle::set_input`], [`crate::SpanHandle::set_output`],
/// [`crate::ObservationBuilder::input`]). `#[observe]` does this by itself.
///
/// ```
/// #[derive(Debug)]
/// struct Plan { steps: u8 }
/// let obs = spanlens::observation("plan", spanlens::ObservationType::Chain).start();
/// obs.set_output(&spanlens::debug(&Plan { steps: 3 })); // "Plan { steps: 3 }"
/// ```
pub fn debug<T: std::fmt::Debug + ?Sized>(value: &T) -> DebugText<'_, T> {
    DebugText(value)
}

/// A value captured by its `Debug` text (see [`debug`]); serializes as that string.
#[derive(Debug)]
pub struct DebugText<'a, T: ?Sized>(&'a T);

impl<T: std::fmt::Debug + ?Sized> Serialize for DebugText<'_, T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&format_args!("{:?}", self.0))
    }
}

/// A user-supplied masking function applied to every captured text.
pub(crate) type Mask = Arc<dyn Fn(&str) -> String + Send + Sync>;

/// Applies the mask to every string leaf of a JSON value (object keys are left alone).
pub(crate) fn mask_value(value: &mut Value, mask: &Mask) {
    match value {
        Value::String(s) => *s = mask(s),
        Value::Array(items) => items.iter_mut().for_each(|v| mask_value(v, mask)),
        Value::Object(map) => map.values_mut().for_each(|v| mask_value(v, mask)),
        _ => {}
    }
}

/// Renders a captured value as the text stored on the span: strings as-is (masked), anything else
/// as JSON with every string leaf masked. `None` when capture is off or serialization fails.
pub(crate) fn render<T: Serialize + ?Sized>(state: &State, value: &T) -> Option<String> {
    if !state.capture_content {
        return None;
    }
    match &state.mask {
        None => match serde_json::to_value(value).ok()? {
            Value::String(s) => Some(s),
            other => Some(other.to_string()),
        },
        Some(mask) => {
            let mut v = serde_json::to_value(value).ok()?;
            mask_value(&mut v, mask);
            match v {
                Value::String(s) => Some(s),
                other => Some(other.to_string()),
            }
        }
    }
}

/// Attributes that carry prompts, completions or tool payloads in the conventions the collector
/// reads (GenAI, OpenInference, Langfuse).
const CONTENT_KEYS: &[&str] = &[
    crate::keys::INPUT_MESSAGES,
    crate::keys::OUTPUT_MESSAGES,
    "gen_ai.system_instructions",
    crate::keys::TOOL_CALL_ARGUMENTS,
    crate::keys::TOOL_CALL_RESULT,
    crate::keys::OBSERVATION_INPUT,
    crate::keys::OBSERVATION_OUTPUT,
    "gen_ai.prompt",
    "gen_ai.completion",
    "input.value",
    "output.value",
];

/// The SDK's capture switch and mask, applied at export to the content attributes of spans
/// recorded by other instrumentation on the SDK's provider (`tracing` spans, e.g. rig's GenAI
/// spans): dropped when capture is off, every JSON string leaf (or the plain text) masked.
/// Spanlens's own spans are masked when recorded and pass unchanged.
pub(crate) struct ForeignContent {
    capture: bool,
    mask: Option<Mask>,
}

impl std::fmt::Debug for ForeignContent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForeignContent")
            .field("capture", &self.capture)
            .field("mask", &self.mask.as_ref().map(|_| "<fn>"))
            .finish()
    }
}

impl ForeignContent {
    /// `None` when there is nothing to do (capture on, no mask).
    pub(crate) fn new(capture: bool, mask: Option<Mask>) -> Option<ForeignContent> {
        (!capture || mask.is_some()).then_some(ForeignContent { capture, mask })
    }

    pub(crate) fn apply(&self, spans: &mut [opentelemetry_sdk::trace::SpanData]) {
        let is_content = |kv: &opentelemetry::KeyValue| CONTENT_KEYS.contains(&kv.key.as_str());
        for span in spans
            .iter_mut()
            .filter(|s| s.instrumentation_scope.name() != crate::setup::SCOPE_NAME)
        {
            if !self.capture {
                span.attributes.retain(|kv| !is_content(kv));
                // Content sent as events (older GenAI conventions: gen_ai.user.message, …).
                span.events
                    .events
                    .retain(|e| !e.name.starts_with("gen_ai."));
            } else if let Some(mask) = &self.mask {
                for kv in span.attributes.iter_mut().filter(|kv| is_content(kv)) {
                    kv.value = masked(&kv.value, mask);
                }
                // Events are free text (`tracing` events, content events): every string masked.
                for event in &mut span.events.events {
                    event.name = mask(&event.name).into();
                    for kv in &mut event.attributes {
                        if let opentelemetry::Value::String(_) = kv.value {
                            kv.value = masked(&kv.value, mask);
                        }
                    }
                }
            }
        }
    }
}

/// A string attribute value masked: every string leaf of a JSON object or array, else the text.
fn masked(value: &opentelemetry::Value, mask: &Mask) -> opentelemetry::Value {
    let text = value.as_str();
    let masked = match serde_json::from_str::<Value>(&text) {
        Ok(mut json) if json.is_object() || json.is_array() => {
            mask_value(&mut json, mask);
            json.to_string()
        }
        _ => mask(&text),
    };
    opentelemetry::Value::from(masked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Message, Part, render_messages};

    #[test]
    fn mask_sees_content_strings_only() {
        let mask: Mask = Arc::new(|s: &str| format!("<{s}>"));
        let messages = [
            Message::user("hi"),
            Message::new(
                "assistant",
                vec![
                    Part::tool_call("c1", "search", serde_json::json!({"q": "otlp", "n": 3})),
                    Part::Reasoning {
                        content: "think".into(),
                    },
                ],
            ),
            Message::new(
                "tool",
                vec![Part::tool_response("c1", serde_json::json!(["r1"]))],
            ),
        ];
        assert_eq!(
            render_messages(&messages, Some(&mask)),
            concat!(
                r#"[{"role":"user","parts":[{"type":"text","content":"<hi>"}]},"#,
                r#"{"role":"assistant","parts":[{"type":"tool_call","id":"c1","name":"search","arguments":{"n":3,"q":"<otlp>"}},"#,
                r#"{"type":"reasoning","content":"<think>"}]},"#,
                r#"{"role":"tool","parts":[{"type":"tool_call_response","id":"c1","response":["<r1>"]}]}]"#
            )
            .replace(r#"{"n":3,"q":"<otlp>"}"#, &serde_json::json!({"q": "<otlp>", "n": 3}).to_string())
        );
        assert_eq!(
            render_messages(&messages[..1], None),
            r#"[{"role":"user","parts":[{"type":"text","content":"hi"}]}]"#
        );
    }

    #[test]
    fn render_keeps_strings_raw_and_masks_json_leaves() {
        use opentelemetry::trace::TracerProvider as _;
        let tracer = opentelemetry_sdk::trace::SdkTracerProvider::builder()
            .build()
            .tracer("t");
        let mask: Mask = Arc::new(|s: &str| s.replace("secret", "***"));
        let state = State {
            tracer: tracer.clone(),
            capture_content: true,
            mask: Some(mask),
        };
        assert_eq!(render(&state, "a secret").as_deref(), Some("a ***"));
        assert_eq!(
            render(&state, &serde_json::json!({"k": ["secret", 1]})).as_deref(),
            Some(r#"{"k":["***",1]}"#)
        );
        let off = State {
            tracer,
            capture_content: false,
            mask: None,
        };
        assert_eq!(render(&off, "a secret"), None);
    }

    /// A finished span of `scope` with a content attribute, a plain one and two events.
    fn span_of(scope: &'static str) -> opentelemetry_sdk::trace::SpanData {
        use opentelemetry::trace::{Event, SpanContext, SpanId, SpanKind, Status};
        use opentelemetry::{InstrumentationScope, KeyValue};
        let event = |name: &'static str, attrs: Vec<KeyValue>| {
            Event::new(name, std::time::SystemTime::UNIX_EPOCH, attrs, 0)
        };
        opentelemetry_sdk::trace::SpanData {
            span_context: SpanContext::empty_context(),
            parent_span_id: SpanId::INVALID,
            parent_span_is_remote: false,
            span_kind: SpanKind::Client,
            name: "chat".into(),
            start_time: std::time::SystemTime::UNIX_EPOCH,
            end_time: std::time::SystemTime::UNIX_EPOCH,
            attributes: vec![
                KeyValue::new(
                    "gen_ai.input.messages",
                    r#"[{"role":"user","parts":[{"type":"text","content":"my secret"}]}]"#,
                ),
                KeyValue::new("gen_ai.system_instructions", "keep the secret"),
                KeyValue::new("gen_ai.request.model", "secret-model"),
            ],
            dropped_attributes_count: 0,
            events: {
                let mut events = opentelemetry_sdk::trace::SpanEvents::default();
                events.events = vec![
                    event(
                        "gen_ai.user.message",
                        vec![KeyValue::new("content", "a secret")],
                    ),
                    event("response: secret", vec![KeyValue::new("n", 1)]),
                ];
                events
            },
            links: opentelemetry_sdk::trace::SpanLinks::default(),
            status: Status::Unset,
            instrumentation_scope: InstrumentationScope::builder(scope).build(),
        }
    }

    fn attrs(span: &opentelemetry_sdk::trace::SpanData) -> Vec<(String, String)> {
        span.attributes
            .iter()
            .map(|kv| (kv.key.to_string(), kv.value.to_string()))
            .collect()
    }

    #[test]
    fn foreign_content_follows_the_capture_switch_and_the_mask() {
        assert!(ForeignContent::new(true, None).is_none(), "nothing to do");

        let mut spans = vec![span_of("rig"), span_of(crate::setup::SCOPE_NAME)];
        ForeignContent::new(false, None).unwrap().apply(&mut spans);
        assert_eq!(
            attrs(&spans[0]),
            vec![("gen_ai.request.model".into(), "secret-model".into())]
        );
        let names: Vec<&str> = spans[0].events.events.iter().map(|e| &*e.name).collect();
        assert_eq!(names, vec!["response: secret"]);
        assert_eq!(
            attrs(&spans[1]),
            attrs(&span_of("x")),
            "own spans untouched"
        );

        let mask: Mask = Arc::new(|s: &str| s.replace("secret", "***"));
        let mut spans = vec![span_of("rig")];
        ForeignContent::new(true, Some(mask))
            .unwrap()
            .apply(&mut spans);
        let masked = attrs(&spans[0]);
        assert_eq!(
            serde_json::from_str::<Value>(&masked[0].1).unwrap(),
            serde_json::json!([{"role": "user", "parts": [{"type": "text", "content": "my ***"}]}])
        );
        assert_eq!(
            masked[1..],
            [
                ("gen_ai.system_instructions".into(), "keep the ***".into()),
                ("gen_ai.request.model".into(), "secret-model".into()),
            ]
        );
        let events: Vec<(String, Vec<String>)> = spans[0]
            .events
            .events
            .iter()
            .map(|e| {
                let values = e.attributes.iter().map(|kv| kv.value.to_string()).collect();
                (e.name.to_string(), values)
            })
            .collect();
        assert_eq!(
            events,
            vec![
                ("gen_ai.user.message".into(), vec!["a ***".into()]),
                ("response: ***".into(), vec!["1".into()]),
            ]
        );
    }
}
