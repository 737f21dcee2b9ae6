//! OTLP `AnyValue` → text, the way Spanlens stores attribute values in `Map(String, String)`
//! columns, plus the small typed readers the mapping table uses.
//!
//! Stringification (same for span, resource, event and link attributes):
//! - string: as-is (moved, never copied);
//! - int: decimal; bool: `true` / `false`;
//! - double: shortest round-trip text, JavaScript/ES6 style (`0.2`, `1`, `1e-7`, `1e+21`) — the
//!   same text the OTel ClickHouse exporter writes; NaN / ±infinity as `NaN` / `Infinity` /
//!   `-Infinity`;
//! - array / kvlist: JSON text (`["a",1]`, `{"k":"v"}`), bytes inside them as base64 strings;
//! - bytes: JSON text, i.e. a quoted base64 string (`"AAEC"`);
//! - empty value: empty string.

use base64::Engine;
use base64::prelude::BASE64_STANDARD;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};

/// Takes the value out of an attribute and renders it as text (strings are moved, not copied).
pub fn take_as_string(value: Option<AnyValue>) -> String {
    match value.and_then(|v| v.value) {
        None => String::new(),
        Some(Value::StringValue(s)) => s,
        Some(other) => render(&other),
    }
}

/// Renders a (non-moved) value as text; see the module doc for the format.
pub fn value_to_string(value: &Value) -> String {
    match value {
        Value::StringValue(s) => s.clone(),
        other => render(other),
    }
}

fn render(value: &Value) -> String {
    match value {
        Value::StringValue(s) => s.clone(),
        Value::BoolValue(b) => if *b { "true" } else { "false" }.to_string(),
        Value::IntValue(i) => i.to_string(),
        Value::DoubleValue(d) => format_double(*d),
        Value::StringValueStrindex(i) => i.to_string(),
        Value::ArrayValue(_) | Value::KvlistValue(_) | Value::BytesValue(_) => {
            let mut out = Vec::with_capacity(64);
            write_json(value, &mut out);
            // write_json only ever writes valid UTF-8.
            String::from_utf8(out).unwrap_or_default()
        }
    }
}

/// ES6 Number-to-string style (what Go's pcommon `AsString` and JavaScript print).
pub fn format_double(d: f64) -> String {
    if d.is_nan() {
        return "NaN".to_string();
    }
    if d.is_infinite() {
        return if d > 0.0 { "Infinity" } else { "-Infinity" }.to_string();
    }
    let abs = d.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = format!("{d:e}");
        // Rust writes `1e21`; ES6 writes `1e+21`.
        match s.find('e') {
            Some(pos) if !s[pos + 1..].starts_with('-') => {
                format!("{}e+{}", &s[..pos], &s[pos + 1..])
            }
            _ => s,
        }
    } else {
        format!("{d}")
    }
}

/// Writes an `AnyValue` as JSON. Non-finite doubles become `null` (JSON has no NaN).
pub fn write_json(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::StringValue(s) => write_json_str(s, out),
        Value::BoolValue(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::IntValue(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Value::StringValueStrindex(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Value::DoubleValue(d) => {
            if d.is_finite() {
                // serde_json prints the shortest round-trip representation (ryu).
                let _ = serde_json::to_writer(&mut *out, d);
            } else {
                out.extend_from_slice(b"null");
            }
        }
        Value::BytesValue(b) => {
            // Base64 needs no JSON escaping.
            out.push(b'"');
            out.extend_from_slice(BASE64_STANDARD.encode(b).as_bytes());
            out.push(b'"');
        }
        Value::ArrayValue(arr) => {
            out.push(b'[');
            for (i, v) in arr.values.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_opt_json(v.value.as_ref(), out);
            }
            out.push(b']');
        }
        Value::KvlistValue(kv) => {
            out.push(b'{');
            for (i, KeyValue { key, value, .. }) in kv.values.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json_str(key, out);
                out.push(b':');
                write_opt_json(value.as_ref().and_then(|v| v.value.as_ref()), out);
            }
            out.push(b'}');
        }
    }
}

fn write_opt_json(value: Option<&Value>, out: &mut Vec<u8>) {
    match value {
        Some(v) => write_json(v, out),
        None => out.extend_from_slice(b"null"),
    }
}

pub fn write_json_str(s: &str, out: &mut Vec<u8>) {
    // serde_json's string escaping is correct and fast; writing into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// `AnyValue` → `serde_json::Value` (used where a structured attribute must be merged or
/// inspected, e.g. rebuilding message lists).
pub fn to_json_value(value: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        Value::StringValue(s) => J::String(s.clone()),
        Value::BoolValue(b) => J::Bool(*b),
        Value::IntValue(i) => J::from(*i),
        Value::StringValueStrindex(i) => J::from(*i),
        Value::DoubleValue(d) => serde_json::Number::from_f64(*d)
            .map(J::Number)
            .unwrap_or(J::Null),
        Value::BytesValue(b) => J::String(BASE64_STANDARD.encode(b)),
        Value::ArrayValue(arr) => J::Array(
            arr.values
                .iter()
                .map(|v| v.value.as_ref().map(to_json_value).unwrap_or(J::Null))
                .collect(),
        ),
        Value::KvlistValue(kv) => J::Object(
            kv.values
                .iter()
                .map(|kv| {
                    let v = kv
                        .value
                        .as_ref()
                        .and_then(|v| v.value.as_ref())
                        .map(to_json_value);
                    (kv.key.clone(), v.unwrap_or(J::Null))
                })
                .collect(),
        ),
    }
}

// ---- typed readers used by the mapping table -------------------------------------------------

/// A non-empty string view of a scalar value (strings borrowed; numbers/bools rendered).
pub fn as_text(value: &Value) -> Option<std::borrow::Cow<'_, str>> {
    use std::borrow::Cow;
    match value {
        Value::StringValue(s) if !s.is_empty() => Some(Cow::Borrowed(s.as_str())),
        Value::StringValue(_) => None,
        Value::ArrayValue(a) if a.values.is_empty() => None,
        Value::KvlistValue(k) if k.values.is_empty() => None,
        other => Some(Cow::Owned(render(other))),
    }
}

pub fn as_u64(value: &Value) -> Option<u64> {
    match value {
        Value::IntValue(i) => u64::try_from(*i).ok(),
        Value::DoubleValue(d) => f64_to_u64(*d),
        Value::StringValue(s) => parse_u64(s),
        _ => None,
    }
}

pub fn as_f64(value: &Value) -> Option<f64> {
    match value {
        Value::DoubleValue(d) if d.is_finite() => Some(*d),
        Value::IntValue(i) => Some(*i as f64),
        Value::StringValue(s) => parse_f64(s),
        _ => None,
    }
}

pub fn as_bool(value: &Value) -> Option<bool> {
    match value {
        Value::BoolValue(b) => Some(*b),
        Value::StringValue(s) => parse_bool(s),
        _ => None,
    }
}

pub fn f64_to_u64(d: f64) -> Option<u64> {
    (d.is_finite() && d >= 0.0 && d.fract() == 0.0 && d < 1.8e19).then_some(d as u64)
}

pub fn parse_u64(s: &str) -> Option<u64> {
    let s = s.trim();
    s.parse::<u64>()
        .ok()
        .or_else(|| s.parse::<f64>().ok().and_then(f64_to_u64))
}

pub fn parse_f64(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok().filter(|d| d.is_finite())
}

pub fn parse_bool(s: &str) -> Option<bool> {
    match s.trim() {
        t if t.eq_ignore_ascii_case("true") => Some(true),
        t if t.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// Stringifies a list of attributes into an `AttrMap`, moving keys and string values.
pub fn attrs_to_map(attrs: Vec<KeyValue>) -> Vec<(String, String)> {
    attrs
        .into_iter()
        .map(|kv| (kv.key, take_as_string(kv.value)))
        .collect()
}
