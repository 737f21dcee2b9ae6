//! Content capture: the masking hook and JSON rendering of captured values.

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use crate::state::State;

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
}
