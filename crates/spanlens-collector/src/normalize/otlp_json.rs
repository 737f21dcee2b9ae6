//! OTLP/JSON → `ExportTraceServiceRequest`.
//!
//! The fast path is opentelemetry-proto's own `with-serde` decoding, which handles spec
//! OTLP/JSON (hex ids, lowerCamelCase, int64 as strings or numbers) and decodes every fixture
//! capture. It rejects a few encodings that the protobuf JSON mapping (which OTLP/JSON follows)
//! allows and that real exporters produce; when the fast path fails, the body is normalised
//! once and decoded again:
//!
//! - an empty array / kvlist written as `{"arrayValue":{}}` / `{"kvlistValue":{}}` (proto3 JSON
//!   omits empty repeated fields, so this is how Go/Java/JS exporters write `[]`; opentelemetry-
//!   proto wants `"values"`);
//! - non-finite doubles as `"NaN"`, `"Infinity"`, `"-Infinity"` and doubles as numeric strings;
//! - `null` for any field (proto3 JSON: same as absent);
//! - enum names (`"SPAN_KIND_SERVER"`, `"STATUS_CODE_ERROR"`) instead of integers.
//!
//! Anything else keeps the original error message (with line and column).

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use serde_json::Value as J;

/// Decodes an OTLP/JSON trace export body (see the module doc for the accepted encodings).
pub fn decode_json_traces(bytes: &[u8]) -> Result<ExportTraceServiceRequest, String> {
    match serde_json::from_slice::<ExportTraceServiceRequest>(bytes) {
        Ok(request) => Ok(request),
        Err(first) => lenient(bytes).ok_or_else(|| format!("invalid OTLP/JSON: {first}")),
    }
}

/// Placeholder strings that carry non-finite doubles through serde_json (which cannot hold
/// them); restored to `DoubleValue` after decoding.
const NAN: &str = "\u{0}spanlens:NaN";
const POS_INF: &str = "\u{0}spanlens:+Inf";
const NEG_INF: &str = "\u{0}spanlens:-Inf";

fn lenient(bytes: &[u8]) -> Option<ExportTraceServiceRequest> {
    let mut doc: J = serde_json::from_slice(bytes).ok()?;
    let mut non_finite = false;
    fix(&mut doc, &mut non_finite);
    let mut request: ExportTraceServiceRequest = serde_json::from_value(doc).ok()?;
    if non_finite {
        restore_non_finite(&mut request);
    }
    Some(request)
}

fn fix(node: &mut J, non_finite: &mut bool) {
    match node {
        J::Object(map) => {
            map.retain(|_, v| !v.is_null());
            for key in ["arrayValue", "kvlistValue"] {
                if let Some(J::Object(inner)) = map.get_mut(key) {
                    inner
                        .entry("values")
                        .or_insert_with(|| J::Array(Vec::new()));
                }
            }
            if let Some(J::String(s)) = map.get("doubleValue") {
                let replacement = match s.trim() {
                    "NaN" => Some(J::String(NAN.into())),
                    "Infinity" => Some(J::String(POS_INF.into())),
                    "-Infinity" => Some(J::String(NEG_INF.into())),
                    other => {
                        if let Some(n) = other
                            .parse::<f64>()
                            .ok()
                            .and_then(serde_json::Number::from_f64)
                        {
                            map.insert("doubleValue".into(), J::Number(n));
                        }
                        None
                    }
                };
                if let Some(marker) = replacement {
                    *non_finite = true;
                    map.remove("doubleValue");
                    map.insert("stringValue".into(), marker);
                }
            }
            for (key, value) in map.iter_mut() {
                if let J::String(s) = value {
                    let code = match key.as_str() {
                        "kind" => span_kind_code(s),
                        "code" => status_code(s),
                        _ => None,
                    };
                    if let Some(code) = code {
                        *value = J::from(code);
                        continue;
                    }
                }
                fix(value, non_finite);
            }
        }
        J::Array(items) => items.iter_mut().for_each(|v| fix(v, non_finite)),
        _ => {}
    }
}

fn span_kind_code(name: &str) -> Option<i32> {
    Some(match name {
        "SPAN_KIND_UNSPECIFIED" => 0,
        "SPAN_KIND_INTERNAL" => 1,
        "SPAN_KIND_SERVER" => 2,
        "SPAN_KIND_CLIENT" => 3,
        "SPAN_KIND_PRODUCER" => 4,
        "SPAN_KIND_CONSUMER" => 5,
        _ => return None,
    })
}

fn status_code(name: &str) -> Option<i32> {
    Some(match name {
        "STATUS_CODE_UNSET" => 0,
        "STATUS_CODE_OK" => 1,
        "STATUS_CODE_ERROR" => 2,
        _ => return None,
    })
}

fn restore_non_finite(request: &mut ExportTraceServiceRequest) {
    for rs in &mut request.resource_spans {
        if let Some(resource) = &mut rs.resource {
            restore_attrs(&mut resource.attributes);
        }
        for ss in &mut rs.scope_spans {
            if let Some(scope) = &mut ss.scope {
                restore_attrs(&mut scope.attributes);
            }
            for span in &mut ss.spans {
                restore_attrs(&mut span.attributes);
                for event in &mut span.events {
                    restore_attrs(&mut event.attributes);
                }
                for link in &mut span.links {
                    restore_attrs(&mut link.attributes);
                }
            }
        }
    }
}

fn restore_attrs(attrs: &mut [KeyValue]) {
    for kv in attrs {
        if let Some(v) = &mut kv.value {
            restore_value(v);
        }
    }
}

fn restore_value(v: &mut AnyValue) {
    match &mut v.value {
        Some(Value::StringValue(s)) => {
            let d = match s.as_str() {
                NAN => f64::NAN,
                POS_INF => f64::INFINITY,
                NEG_INF => f64::NEG_INFINITY,
                _ => return,
            };
            v.value = Some(Value::DoubleValue(d));
        }
        Some(Value::ArrayValue(arr)) => arr.values.iter_mut().for_each(restore_value),
        Some(Value::KvlistValue(kvl)) => restore_attrs(&mut kvl.values),
        _ => {}
    }
}
