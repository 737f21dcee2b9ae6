//! Content capture: the masking hook and JSON rendering of captured values.

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use crate::state::State;

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
