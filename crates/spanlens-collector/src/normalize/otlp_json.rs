//! OTLP/JSON → `ExportTraceServiceRequest` / `ExportLogsServiceRequest` /
//! `ExportMetricsServiceRequest` (one decoder, generic over the request type).
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
//! - non-finite attribute doubles as `"NaN"`, `"Infinity"`, `"-Infinity"` and doubles as numeric
//!   strings (attribute values, and the metric point fields `asDouble`, `sum`, `min`, `max`,
//!   `quantile`, `value`);
//! - `null` for any field (proto3 JSON: same as absent);
//! - enum names (`"SPAN_KIND_SERVER"`, `"STATUS_CODE_ERROR"`, `"SEVERITY_NUMBER_INFO"`,
//!   `"AGGREGATION_TEMPORALITY_DELTA"`) instead of integers.
//!
//! Anything else keeps the original error message (with line and column).

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use serde::de::DeserializeOwned;
use serde_json::Value as J;

/// An OTLP export request that can be read from OTLP/JSON.
pub trait OtlpJson: DeserializeOwned {
    /// Every attribute / body value of the request, for restoring non-finite doubles.
    fn for_each_value(&mut self, f: &mut dyn FnMut(&mut AnyValue));

    /// Whether the fast path may have dropped something without failing: serde gives `None`
    /// for a flattened oneof (a metric's data, a point's value) whose content it cannot read.
    fn maybe_dropped(&self) -> bool {
        false
    }
}

impl OtlpJson for ExportTraceServiceRequest {
    fn for_each_value(&mut self, f: &mut dyn FnMut(&mut AnyValue)) {
        for rs in &mut self.resource_spans {
            if let Some(resource) = &mut rs.resource {
                attrs(&mut resource.attributes, f);
            }
            for ss in &mut rs.scope_spans {
                if let Some(scope) = &mut ss.scope {
                    attrs(&mut scope.attributes, f);
                }
                for span in &mut ss.spans {
                    attrs(&mut span.attributes, f);
                    for event in &mut span.events {
                        attrs(&mut event.attributes, f);
                    }
                    for link in &mut span.links {
                        attrs(&mut link.attributes, f);
                    }
                }
            }
        }
    }
}

impl OtlpJson for ExportLogsServiceRequest {
    fn for_each_value(&mut self, f: &mut dyn FnMut(&mut AnyValue)) {
        for rl in &mut self.resource_logs {
            if let Some(resource) = &mut rl.resource {
                attrs(&mut resource.attributes, f);
            }
            for sl in &mut rl.scope_logs {
                if let Some(scope) = &mut sl.scope {
                    attrs(&mut scope.attributes, f);
                }
                for record in &mut sl.log_records {
                    attrs(&mut record.attributes, f);
                    if let Some(body) = &mut record.body {
                        f(body);
                    }
                }
            }
        }
    }
}

impl OtlpJson for ExportMetricsServiceRequest {
    fn maybe_dropped(&self) -> bool {
        use opentelemetry_proto::tonic::metrics::v1::metric::Data;
        self.resource_metrics
            .iter()
            .flat_map(|rm| &rm.scope_metrics)
            .flat_map(|sm| &sm.metrics)
            .any(|m| match &m.data {
                None => true,
                Some(Data::Gauge(g)) => g.data_points.iter().any(|p| p.value.is_none()),
                Some(Data::Sum(s)) => s.data_points.iter().any(|p| p.value.is_none()),
                _ => false,
            })
    }

    fn for_each_value(&mut self, f: &mut dyn FnMut(&mut AnyValue)) {
        use opentelemetry_proto::tonic::metrics::v1::metric::Data;
        for rm in &mut self.resource_metrics {
            if let Some(resource) = &mut rm.resource {
                attrs(&mut resource.attributes, f);
            }
            for sm in &mut rm.scope_metrics {
                if let Some(scope) = &mut sm.scope {
                    attrs(&mut scope.attributes, f);
                }
                for metric in &mut sm.metrics {
                    attrs(&mut metric.metadata, f);
                    // Each point type: its attributes and its exemplars' filtered attributes.
                    macro_rules! points {
                        ($points:expr) => {
                            for dp in $points {
                                attrs(&mut dp.attributes, f);
                                for e in &mut dp.exemplars {
                                    attrs(&mut e.filtered_attributes, f);
                                }
                            }
                        };
                    }
                    match &mut metric.data {
                        Some(Data::Gauge(g)) => points!(&mut g.data_points),
                        Some(Data::Sum(s)) => points!(&mut s.data_points),
                        Some(Data::Histogram(h)) => points!(&mut h.data_points),
                        Some(Data::ExponentialHistogram(h)) => points!(&mut h.data_points),
                        Some(Data::Summary(s)) => {
                            for dp in &mut s.data_points {
                                attrs(&mut dp.attributes, f);
                            }
                        }
                        None => {}
                    }
                }
            }
        }
    }
}

fn attrs(attrs: &mut [KeyValue], f: &mut dyn FnMut(&mut AnyValue)) {
    for kv in attrs {
        if let Some(v) = &mut kv.value {
            f(v);
        }
    }
}

/// Decodes an OTLP/JSON export body (see the module doc for the accepted encodings).
pub fn decode_json<T: OtlpJson>(bytes: &[u8]) -> Result<T, String> {
    match serde_json::from_slice::<T>(bytes) {
        Ok(request) if !request.maybe_dropped() => Ok(request),
        // Read again with the repairs; if that fails too, the fast path's reading stands (a
        // metric without data is legal, a point without a value is rejected downstream).
        Ok(request) => Ok(lenient(bytes).unwrap_or(request)),
        Err(first) => lenient(bytes).ok_or_else(|| format!("invalid OTLP/JSON: {first}")),
    }
}

/// Decodes an OTLP/JSON trace export body.
#[cfg(test)]
pub fn decode_json_traces(bytes: &[u8]) -> Result<ExportTraceServiceRequest, String> {
    decode_json(bytes)
}

/// Decodes an OTLP/JSON logs export body.
#[cfg(test)]
pub fn decode_json_logs(bytes: &[u8]) -> Result<ExportLogsServiceRequest, String> {
    decode_json(bytes)
}

/// Decodes an OTLP/JSON metrics export body.
#[cfg(test)]
pub fn decode_json_metrics(bytes: &[u8]) -> Result<ExportMetricsServiceRequest, String> {
    decode_json(bytes)
}

/// Placeholder strings that carry non-finite doubles through serde_json (which cannot hold
/// them); restored to `DoubleValue` after decoding.
const NAN: &str = "\u{0}spanlens:NaN";
const POS_INF: &str = "\u{0}spanlens:+Inf";
const NEG_INF: &str = "\u{0}spanlens:-Inf";

fn lenient<T: OtlpJson>(bytes: &[u8]) -> Option<T> {
    let mut doc: J = serde_json::from_slice(bytes).ok()?;
    let mut non_finite = false;
    fix(&mut doc, &mut non_finite);
    let mut request: T = serde_json::from_value(doc).ok()?;
    if non_finite {
        request.for_each_value(&mut restore_value);
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
                        "severityNumber" => severity_number(s),
                        "aggregationTemporality" => aggregation_temporality(s),
                        _ => None,
                    };
                    if let Some(code) = code {
                        *value = J::from(code);
                        continue;
                    }
                    if POINT_DOUBLES.contains(&key.as_str())
                        && let Some(n) = s
                            .trim()
                            .parse::<f64>()
                            .ok()
                            .and_then(serde_json::Number::from_f64)
                    {
                        *value = J::Number(n);
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

/// Metric data point fields that are doubles (protobuf JSON may write them as strings).
const POINT_DOUBLES: [&str; 6] = ["asDouble", "sum", "min", "max", "quantile", "value"];

fn aggregation_temporality(name: &str) -> Option<i32> {
    Some(match name {
        "AGGREGATION_TEMPORALITY_UNSPECIFIED" => 0,
        "AGGREGATION_TEMPORALITY_DELTA" => 1,
        "AGGREGATION_TEMPORALITY_CUMULATIVE" => 2,
        _ => return None,
    })
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

/// `SEVERITY_NUMBER_INFO` → 9, … (the OTLP `SeverityNumber` enum).
fn severity_number(name: &str) -> Option<i32> {
    const LEVELS: [&str; 6] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];
    let rest = name.strip_prefix("SEVERITY_NUMBER_")?;
    if rest == "UNSPECIFIED" {
        return Some(0);
    }
    let level = rest.trim_end_matches(|c: char| c.is_ascii_digit());
    let n: i32 = match &rest[level.len()..] {
        "" => 1,
        digits => digits.parse().ok().filter(|n| (2..=4).contains(n))?,
    };
    let base = LEVELS.iter().position(|l| *l == level)? as i32 * 4;
    Some(base + n)
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
        Some(Value::KvlistValue(kvl)) => attrs(&mut kvl.values, &mut restore_value),
        _ => {}
    }
}
