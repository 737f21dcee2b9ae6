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
//! - doubles as strings, wherever OTLP has a double: `"NaN"`, `"Infinity"`, `"-Infinity"` (the
//!   only way proto3 JSON writes non-finite doubles) and numeric strings — an attribute's
//!   `doubleValue` (traces, logs, metrics) and the metric point fields `asDouble` (points and
//!   exemplars), `sum`, `min`, `max`, `explicitBounds`, `zeroThreshold`, and a summary's
//!   `quantile` / `value`;
//! - `null` for any field (proto3 JSON: same as absent);
//! - enum names (`"SPAN_KIND_SERVER"`, `"STATUS_CODE_ERROR"`, `"SEVERITY_NUMBER_INFO"`,
//!   `"AGGREGATION_TEMPORALITY_DELTA"`) instead of integers.
//!
//! Anything else keeps the original error message (with line and column). A metric whose data
//! serde reads as absent because it cannot parse it (a flattened oneof) is refused too, naming
//! the metric, instead of being stored as a metric without points.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::metrics::v1::{Exemplar, Gauge, Sum};
use serde::de::DeserializeOwned;
use serde_json::Value as J;

/// An OTLP export request that can be read from OTLP/JSON.
pub trait OtlpJson: DeserializeOwned {
    /// Every attribute / body value of the request, for restoring non-finite doubles.
    fn for_each_value(&mut self, f: &mut dyn FnMut(&mut AnyValue));

    /// Every double field of the request's data points (none outside metrics), for restoring
    /// non-finite doubles.
    fn for_each_point_double(&mut self, _f: &mut dyn FnMut(&mut f64)) {}

    /// Whether the fast path may have dropped something without failing: serde gives `None`
    /// for a flattened oneof (a metric's data, a point's value) whose content it cannot read.
    fn maybe_dropped(&self) -> bool {
        false
    }

    /// What serde read as absent although `doc` (the repaired body) has it — a flattened oneof
    /// whose content it could not parse — described for the error reply.
    fn unread(&self, _doc: &J) -> Option<String> {
        None
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
    fn unread(&self, doc: &J) -> Option<String> {
        let in_doc = doc["resourceMetrics"]
            .as_array()?
            .iter()
            .flat_map(|rm| rm["scopeMetrics"].as_array().into_iter().flatten())
            .flat_map(|sm| sm["metrics"].as_array().into_iter().flatten());
        let decoded = self
            .resource_metrics
            .iter()
            .flat_map(|rm| &rm.scope_metrics)
            .flat_map(|sm| &sm.metrics);
        in_doc.zip(decoded).find_map(|(json, metric)| {
            let (kind, why) = unreadable_data(json)?;
            metric
                .data
                .is_none()
                .then(|| format!("metric '{}': its {kind} cannot be read: {why}", metric.name))
        })
    }

    fn maybe_dropped(&self) -> bool {
        use opentelemetry_proto::tonic::metrics::v1::metric::Data;
        self.resource_metrics
            .iter()
            .flat_map(|rm| &rm.scope_metrics)
            .flat_map(|sm| &sm.metrics)
            .any(|m| match &m.data {
                None => true,
                Some(Data::Gauge(Gauge { data_points }) | Data::Sum(Sum { data_points, .. })) => {
                    data_points
                        .iter()
                        .any(|p| p.value.is_none() || valueless(&p.exemplars))
                }
                Some(Data::Histogram(h)) => h.data_points.iter().any(|p| valueless(&p.exemplars)),
                Some(Data::ExponentialHistogram(h)) => {
                    h.data_points.iter().any(|p| valueless(&p.exemplars))
                }
                Some(Data::Summary(_)) => false,
            })
    }

    fn for_each_point_double(&mut self, f: &mut dyn FnMut(&mut f64)) {
        use opentelemetry_proto::tonic::metrics::v1::metric::Data;
        use opentelemetry_proto::tonic::metrics::v1::number_data_point;
        let metrics = self
            .resource_metrics
            .iter_mut()
            .flat_map(|rm| &mut rm.scope_metrics)
            .flat_map(|sm| &mut sm.metrics);
        for metric in metrics {
            match &mut metric.data {
                Some(Data::Gauge(Gauge { data_points }) | Data::Sum(Sum { data_points, .. })) => {
                    for dp in data_points {
                        if let Some(number_data_point::Value::AsDouble(d)) = &mut dp.value {
                            f(d);
                        }
                        exemplar_doubles(&mut dp.exemplars, f);
                    }
                }
                Some(Data::Histogram(h)) => {
                    for dp in &mut h.data_points {
                        [&mut dp.sum, &mut dp.min, &mut dp.max]
                            .into_iter()
                            .flatten()
                            .for_each(&mut *f);
                        dp.explicit_bounds.iter_mut().for_each(&mut *f);
                        exemplar_doubles(&mut dp.exemplars, f);
                    }
                }
                Some(Data::ExponentialHistogram(h)) => {
                    for dp in &mut h.data_points {
                        [&mut dp.sum, &mut dp.min, &mut dp.max]
                            .into_iter()
                            .flatten()
                            .for_each(&mut *f);
                        f(&mut dp.zero_threshold);
                        exemplar_doubles(&mut dp.exemplars, f);
                    }
                }
                Some(Data::Summary(s)) => {
                    for dp in &mut s.data_points {
                        f(&mut dp.sum);
                        for q in &mut dp.quantile_values {
                            f(&mut q.quantile);
                            f(&mut q.value);
                        }
                    }
                }
                None => {}
            }
        }
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

/// A metric's data in OTLP/JSON that does not decode: its kind and the reason.
fn unreadable_data(metric: &J) -> Option<(&'static str, String)> {
    use opentelemetry_proto::tonic::metrics::v1::{ExponentialHistogram, Histogram, Summary};
    use serde::Deserialize;
    const KINDS: [&str; 5] = [
        "gauge",
        "sum",
        "histogram",
        "exponentialHistogram",
        "summary",
    ];
    let (kind, data) = KINDS.iter().find_map(|k| Some((*k, metric.get(*k)?)))?;
    let error = match kind {
        "gauge" => Gauge::deserialize(data).err(),
        "sum" => Sum::deserialize(data).err(),
        "histogram" => Histogram::deserialize(data).err(),
        "exponentialHistogram" => ExponentialHistogram::deserialize(data).err(),
        _ => Summary::deserialize(data).err(),
    };
    Some((kind, error?.to_string()))
}

/// Whether an exemplar lacks its value (serde's reading of a value it could not parse).
fn valueless(exemplars: &[Exemplar]) -> bool {
    exemplars.iter().any(|e| e.value.is_none())
}

fn exemplar_doubles(list: &mut [Exemplar], f: &mut dyn FnMut(&mut f64)) {
    use opentelemetry_proto::tonic::metrics::v1::exemplar;
    for e in list {
        if let Some(exemplar::Value::AsDouble(d)) = &mut e.value {
            f(d);
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
        // Read again with the repairs. A metric without data is legal and reads the same; a
        // value serde skipped that the repairs cannot read either is an error, not a metric
        // dropped in silence.
        Ok(_) => lenient(bytes).map_err(|e| format!("invalid OTLP/JSON: {e}")),
        Err(first) => lenient(bytes).map_err(|_| format!("invalid OTLP/JSON: {first}")),
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

fn lenient<T: OtlpJson>(bytes: &[u8]) -> Result<T, String> {
    let mut doc: J = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let sentinels = Sentinels::absent_from(&doc);
    let mut non_finite = false;
    fix(&mut doc, &sentinels, &mut non_finite);
    let mut request = T::deserialize(&doc).map_err(|e| e.to_string())?;
    if let Some(unread) = request.unread(&doc) {
        return Err(unread);
    }
    if non_finite {
        request.for_each_value(&mut |v| restore_value(v, &sentinels));
        request.for_each_point_double(&mut |d| sentinels.restore(d));
    }
    Ok(request)
}

/// Stand-ins for `NaN`, `Infinity` and `-Infinity`, which serde_json cannot hold: three finite
/// doubles that appear nowhere in the document, written where the strings were and turned back
/// into the non-finite values after decoding.
struct Sentinels([f64; 3]);

impl Sentinels {
    const NON_FINITE: [(&'static str, f64); 3] = [
        ("NaN", f64::NAN),
        ("Infinity", f64::INFINITY),
        ("-Infinity", f64::NEG_INFINITY),
    ];

    fn absent_from(doc: &J) -> Sentinels {
        let mut present = std::collections::HashSet::new();
        numbers(doc, &mut |n| {
            present.insert(n.to_bits());
        });
        // Subnormal doubles: no exporter writes them, and the loop steps past any that appear.
        let mut free = (1u64..).filter(|bits| !present.contains(bits));
        Sentinels(std::array::from_fn(|_| {
            f64::from_bits(free.next().expect("unbounded"))
        }))
    }

    /// The stand-in for a proto3 JSON double written as a string, if it is a non-finite one.
    fn stand_in(&self, text: &str) -> Option<J> {
        let i = Self::NON_FINITE
            .iter()
            .position(|(name, _)| *name == text)?;
        serde_json::Number::from_f64(self.0[i]).map(J::Number)
    }

    fn restore(&self, d: &mut f64) {
        if let Some(i) = self.0.iter().position(|s| s.to_bits() == d.to_bits()) {
            *d = Self::NON_FINITE[i].1;
        }
    }
}

fn numbers(node: &J, f: &mut dyn FnMut(f64)) {
    match node {
        J::Number(n) => n.as_f64().into_iter().for_each(f),
        J::Array(items) => items.iter().for_each(|v| numbers(v, f)),
        J::Object(map) => map.values().for_each(|v| numbers(v, f)),
        _ => {}
    }
}

/// A double written as a string (proto3 JSON allows `"NaN"`, `"Infinity"`, `"-Infinity"` and
/// numeric strings) as a JSON number; `None` when `text` is no double.
fn string_double(text: &str, sentinels: &Sentinels, non_finite: &mut bool) -> Option<J> {
    let text = text.trim();
    if let Some(stand_in) = sentinels.stand_in(text) {
        *non_finite = true;
        return Some(stand_in);
    }
    let n = text.parse::<f64>().ok()?;
    serde_json::Number::from_f64(n).map(J::Number)
}

fn fix(node: &mut J, sentinels: &Sentinels, non_finite: &mut bool) {
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
                    if DOUBLES.contains(&key.as_str())
                        && let Some(n) = string_double(s, sentinels, non_finite)
                    {
                        *value = n;
                        continue;
                    }
                }
                if key == "explicitBounds"
                    && let J::Array(bounds) = value
                {
                    for bound in bounds {
                        if let J::String(s) = bound
                            && let Some(n) = string_double(s, sentinels, non_finite)
                        {
                            *bound = n;
                        }
                    }
                    continue;
                }
                fix(value, sentinels, non_finite);
            }
        }
        J::Array(items) => items.iter_mut().for_each(|v| fix(v, sentinels, non_finite)),
        _ => {}
    }
}

/// The OTLP fields of type double (besides the repeated `explicitBounds`): an attribute's
/// `doubleValue` and the metric point fields. Protobuf JSON may write each as a string.
const DOUBLES: [&str; 8] = [
    "doubleValue",
    "asDouble",
    "sum",
    "min",
    "max",
    "zeroThreshold",
    "quantile",
    "value",
];

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

fn restore_value(v: &mut AnyValue, sentinels: &Sentinels) {
    match &mut v.value {
        Some(Value::DoubleValue(d)) => sentinels.restore(d),
        Some(Value::ArrayValue(arr)) => arr
            .values
            .iter_mut()
            .for_each(|v| restore_value(v, sentinels)),
        Some(Value::KvlistValue(kvl)) => {
            attrs(&mut kvl.values, &mut |v| restore_value(v, sentinels))
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::metrics::v1::metric::Data;
    use opentelemetry_proto::tonic::metrics::v1::{Metric, exemplar, number_data_point};

    fn metrics(json: &str) -> Vec<Metric> {
        let body =
            format!(r#"{{"resourceMetrics":[{{"scopeMetrics":[{{"metrics":[{json}]}}]}}]}}"#);
        let request =
            decode_json_metrics(body.as_bytes()).unwrap_or_else(|e| panic!("{body}: {e}"));
        request.resource_metrics[0].scope_metrics[0].metrics.clone()
    }

    /// Bit-exact comparison (NaN equals NaN).
    fn same(actual: &[f64], expected: &[f64]) -> bool {
        actual.len() == expected.len()
            && actual
                .iter()
                .zip(expected)
                .all(|(a, e)| a.to_bits() == e.to_bits() || (a.is_nan() && e.is_nan()))
    }

    const T: &str = r#""timeUnixNano":"1""#;

    #[test]
    fn non_finite_doubles_as_strings_in_every_metric_point_field() {
        let (nan, inf, ninf) = (f64::NAN, f64::INFINITY, f64::NEG_INFINITY);
        let got = metrics(&format!(
            r#"{{"name":"g","gauge":{{"dataPoints":[{{{T},"asDouble":"NaN","exemplars":[{{"asDouble":"-Infinity"}}],
                 "attributes":[{{"key":"a","value":{{"doubleValue":"Infinity"}}}}]}}]}}}},
               {{"name":"s","sum":{{"dataPoints":[{{{T},"asDouble":"Infinity"}},{{{T},"asDouble":" 2.5"}}]}}}},
               {{"name":"h","histogram":{{"dataPoints":[{{{T},"count":"3","sum":"-Infinity","min":"NaN","max":"Infinity",
                 "bucketCounts":["1","1","1"],"explicitBounds":["-Infinity","Infinity"],"exemplars":[{{"asDouble":"NaN"}}]}}]}}}},
               {{"name":"e","exponentialHistogram":{{"dataPoints":[{{{T},"sum":"NaN","min":"-Infinity","max":"Infinity","zeroThreshold":"Infinity"}}]}}}},
               {{"name":"q","summary":{{"dataPoints":[{{{T},"sum":"Infinity","quantileValues":[{{"quantile":"0.5","value":"NaN"}},{{"quantile":1,"value":"-Infinity"}}]}}]}}}}"#
        ));
        let mut doubles = Vec::new();
        for m in got {
            match m.data.expect("data") {
                Data::Gauge(g) => {
                    let p = &g.data_points[0];
                    let Some(number_data_point::Value::AsDouble(v)) = p.value else {
                        panic!("gauge value {:?}", p.value)
                    };
                    let Some(exemplar::Value::AsDouble(x)) = p.exemplars[0].value else {
                        panic!("exemplar {:?}", p.exemplars)
                    };
                    let Some(Value::DoubleValue(a)) = p.attributes[0].value.clone().unwrap().value
                    else {
                        panic!("attribute {:?}", p.attributes)
                    };
                    doubles.extend([v, x, a]);
                }
                Data::Sum(s) => doubles.extend(s.data_points.iter().map(|p| match p.value {
                    Some(number_data_point::Value::AsDouble(v)) => v,
                    other => panic!("sum value {other:?}"),
                })),
                Data::Histogram(h) => {
                    let p = &h.data_points[0];
                    doubles.extend([p.sum.unwrap(), p.min.unwrap(), p.max.unwrap()]);
                    doubles.extend(&p.explicit_bounds);
                    let Some(exemplar::Value::AsDouble(x)) = p.exemplars[0].value else {
                        panic!("exemplar {:?}", p.exemplars)
                    };
                    doubles.push(x);
                }
                Data::ExponentialHistogram(h) => {
                    let p = &h.data_points[0];
                    doubles.extend([p.sum.unwrap(), p.min.unwrap(), p.max.unwrap()]);
                    doubles.push(p.zero_threshold);
                }
                Data::Summary(s) => {
                    let p = &s.data_points[0];
                    doubles.push(p.sum);
                    for q in &p.quantile_values {
                        doubles.extend([q.quantile, q.value]);
                    }
                }
            }
        }
        let expected = [
            nan, ninf, inf, // gauge: value, exemplar, attribute
            inf, 2.5, // sum points
            ninf, nan, inf, ninf, inf, nan, // histogram: sum, min, max, bounds, exemplar
            nan, ninf, inf, inf, // exponential histogram: sum, min, max, zero threshold
            inf, 0.5, nan, 1.0, ninf, // summary: sum, quantiles
        ];
        assert!(same(&doubles, &expected), "{doubles:?}");
    }

    #[test]
    fn stand_ins_never_collide_with_numbers_in_the_body() {
        // The first candidate stand-ins are the smallest subnormals: written as numbers, they
        // stay numbers.
        let tiny = [f64::from_bits(1), f64::from_bits(2)];
        let got = metrics(&format!(
            r#"{{"name":"g","gauge":{{"dataPoints":[{{{T},"asDouble":{:e}}},{{{T},"asDouble":{:e}}},{{{T},"asDouble":"NaN"}},{{{T},"asDouble":"Infinity"}}]}}}}"#,
            tiny[0], tiny[1]
        ));
        let Some(Data::Gauge(g)) = &got[0].data else {
            panic!("{got:?}")
        };
        let values: Vec<f64> = g
            .data_points
            .iter()
            .map(|p| match p.value {
                Some(number_data_point::Value::AsDouble(v)) => v,
                other => panic!("{other:?}"),
            })
            .collect();
        assert!(
            same(&values, &[tiny[0], tiny[1], f64::NAN, f64::INFINITY]),
            "{values:?}"
        );
    }

    #[test]
    fn a_string_that_is_no_double_is_still_refused() {
        let body = br#"{"resourceMetrics":[{"resource":{"attributes":[{"key":"a","value":{"doubleValue":"lots"}}]}}]}"#;
        let err = decode_json_metrics(body).unwrap_err();
        assert!(err.starts_with("invalid OTLP/JSON: "), "{err}");
        // In a metric's data (a flattened oneof serde reads as absent): refused, not dropped.
        let body = format!(
            r#"{{"resourceMetrics":[{{"scopeMetrics":[{{"metrics":[{{"name":"h","histogram":{{"dataPoints":[{{{T},"sum":"lots"}}]}}}}]}}]}}]}}"#
        );
        let err = decode_json_metrics(body.as_bytes()).unwrap_err();
        assert!(
            err.starts_with("invalid OTLP/JSON: metric 'h': its histogram cannot be read: ")
                && err.contains("\"lots\""),
            "{err}"
        );
        // Without data at all, a metric is legal.
        assert!(metrics(r#"{"name":"empty"}"#)[0].data.is_none());
    }
}
