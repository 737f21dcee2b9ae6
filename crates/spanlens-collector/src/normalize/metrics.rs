//! OTLP metrics → rows of the five metric tables (gauge, sum, histogram, exponential
//! histogram, summary), one flattening pass resource → scope → metric → data point, written
//! the way the OTel ClickHouse exporter writes its `otel_metrics_*` tables: attributes
//! stringified into maps, ids as lowercase hex, absent Sum / Min / Max as 0, `ServiceName` from
//! the resource's `service.name`.
//!
//! Values are stored as sent: delta points stay deltas, cumulative points stay running totals
//! (`AggregationTemporality`: 1 delta, 2 cumulative), so queries pick the right aggregation.
//!
//! A data point that cannot be stored faithfully is rejected alone and counted (OTLP partial
//! success, `rejected_data_points`); its neighbours are kept: a point of a metric without a
//! name, without a time, without a value, with more than [`MAX_SPAN_ATTRIBUTES`] attributes,
//! with bucket counts that do not match its bounds or its count, with bounds not strictly
//! increasing, an exponential scale outside [-10, 20], a quantile outside [0, 1], or an exemplar
//! whose trace / span id is malformed.

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::{
    Exemplar, ExponentialHistogramDataPoint, HistogramDataPoint, NumberDataPoint, SummaryDataPoint,
    exemplar, metric::Data, number_data_point,
};

use super::value::{as_text, attrs_to_map};
use super::{MAX_SPAN_ATTRIBUTES, Rejections};
use crate::storage::row::{
    Exemplars, ExponentialHistogramRow, GaugeRow, HistogramRow, MetricHead, PointHead, SumRow,
    SummaryRow,
};

/// The result of normalizing one metrics export request: rows per table.
#[derive(Debug, Default)]
pub struct NormalizedMetrics {
    pub gauge: Vec<GaugeRow>,
    pub sum: Vec<SumRow>,
    pub histogram: Vec<HistogramRow>,
    pub exponential_histogram: Vec<ExponentialHistogramRow>,
    pub summary: Vec<SummaryRow>,
    /// Data points rejected (OTLP `partial_success.rejected_data_points`).
    pub rejected_data_points: i64,
    /// Empty when nothing was rejected; otherwise the first few reasons.
    pub error_message: String,
}

impl NormalizedMetrics {
    /// Accepted data points (rows), all tables together.
    pub fn points(&self) -> usize {
        self.gauge.len()
            + self.sum.len()
            + self.histogram.len()
            + self.exponential_histogram.len()
            + self.summary.len()
    }
}

/// Normalizes one `ExportMetricsServiceRequest` (taken by value: attribute strings are moved).
pub fn normalize_metrics(request: ExportMetricsServiceRequest, project: &str) -> NormalizedMetrics {
    let mut out = NormalizedMetrics::default();
    let mut rejections = Rejections::default();
    for resource_metrics in request.resource_metrics {
        let resource_attrs = resource_metrics
            .resource
            .map(|r| r.attributes)
            .unwrap_or_default();
        let service_name = resource_attrs
            .iter()
            .find(|kv| kv.key == "service.name")
            .and_then(|kv| kv.value.as_ref()?.value.as_ref())
            .and_then(as_text)
            .map(|t| t.into_owned())
            .unwrap_or_default();
        let resource_attributes = attrs_to_map(resource_attrs);
        for scope_metrics in resource_metrics.scope_metrics {
            let scope = scope_metrics.scope.unwrap_or_default();
            let scope_attributes = attrs_to_map(scope.attributes);
            for metric in scope_metrics.metrics {
                let head = MetricHead {
                    project: project.to_string(),
                    resource_attributes: resource_attributes.clone(),
                    resource_schema_url: resource_metrics.schema_url.clone(),
                    scope_name: scope.name.clone(),
                    scope_version: scope.version.clone(),
                    scope_attributes: scope_attributes.clone(),
                    scope_dropped_attr_count: scope.dropped_attributes_count,
                    scope_schema_url: scope_metrics.schema_url.clone(),
                    service_name: service_name.clone(),
                    metric_name: metric.name,
                    metric_description: metric.description,
                    metric_unit: metric.unit,
                };
                if let Some(data) = metric.data {
                    add_metric(&mut out, &mut rejections, &head, data);
                }
            }
        }
    }
    (out.rejected_data_points, out.error_message) = rejections.finish("data point(s)");
    out
}

/// Adds the rows of one metric's points; invalid points are rejected one by one.
fn add_metric(
    out: &mut NormalizedMetrics,
    rejections: &mut Rejections,
    head: &MetricHead,
    data: Data,
) {
    let mut reject = |i: usize, reason: String| {
        rejections.reject(|| format!("data point {i} of metric '{}': {reason}", head.metric_name));
    };
    match data {
        Data::Gauge(gauge) => {
            for (i, dp) in gauge.data_points.into_iter().enumerate() {
                match number_point(head, dp) {
                    Ok((point, value, exemplars)) => {
                        let mut row = GaugeRow::from_heads(head, point);
                        row.value = value;
                        row.set_exemplars(exemplars);
                        out.gauge.push(row);
                    }
                    Err(reason) => reject(i, reason),
                }
            }
        }
        Data::Sum(sum) => {
            for (i, dp) in sum.data_points.into_iter().enumerate() {
                match number_point(head, dp) {
                    Ok((point, value, exemplars)) => {
                        let mut row = SumRow::from_heads(head, point);
                        row.value = value;
                        row.aggregation_temporality = sum.aggregation_temporality;
                        row.is_monotonic = sum.is_monotonic;
                        row.set_exemplars(exemplars);
                        out.sum.push(row);
                    }
                    Err(reason) => reject(i, reason),
                }
            }
        }
        Data::Histogram(histogram) => {
            for (i, dp) in histogram.data_points.into_iter().enumerate() {
                match histogram_row(head, dp, histogram.aggregation_temporality) {
                    Ok(row) => out.histogram.push(row),
                    Err(reason) => reject(i, reason),
                }
            }
        }
        Data::ExponentialHistogram(histogram) => {
            for (i, dp) in histogram.data_points.into_iter().enumerate() {
                match exponential_histogram_row(head, dp, histogram.aggregation_temporality) {
                    Ok(row) => out.exponential_histogram.push(row),
                    Err(reason) => reject(i, reason),
                }
            }
        }
        Data::Summary(summary) => {
            for (i, dp) in summary.data_points.into_iter().enumerate() {
                match summary_row(head, dp) {
                    Ok(row) => out.summary.push(row),
                    Err(reason) => reject(i, reason),
                }
            }
        }
    }
}

/// The checks every point passes, then its series, times and flags.
fn point_head(
    head: &MetricHead,
    attributes: Vec<KeyValue>,
    start_time_unix_nano: u64,
    time_unix_nano: u64,
    flags: u32,
) -> Result<PointHead, String> {
    if head.metric_name.is_empty() {
        return Err("the metric has no name".into());
    }
    if time_unix_nano == 0 {
        return Err("time_unix_nano is missing".into());
    }
    if attributes.len() > MAX_SPAN_ATTRIBUTES {
        return Err(format!(
            "{} attributes exceed the limit of {MAX_SPAN_ATTRIBUTES}",
            attributes.len()
        ));
    }
    Ok(PointHead {
        attributes: attrs_to_map(attributes),
        start_time_unix: nanos(start_time_unix_nano),
        time_unix: nanos(time_unix_nano),
        flags,
    })
}

/// Unix nanoseconds as `DateTime64(9)` holds them (past year 2262 saturates).
fn nanos(t: u64) -> i64 {
    i64::try_from(t).unwrap_or(i64::MAX)
}

fn number_point(
    head: &MetricHead,
    dp: NumberDataPoint,
) -> Result<(PointHead, f64, Exemplars), String> {
    let value = match dp.value {
        Some(number_data_point::Value::AsDouble(d)) => d,
        Some(number_data_point::Value::AsInt(i)) => i as f64,
        None => return Err("the data point has no value (asDouble / asInt)".into()),
    };
    let exemplars = exemplars(dp.exemplars)?;
    let point = point_head(
        head,
        dp.attributes,
        dp.start_time_unix_nano,
        dp.time_unix_nano,
        dp.flags,
    )?;
    Ok((point, value, exemplars))
}

fn histogram_row(
    head: &MetricHead,
    dp: HistogramDataPoint,
    temporality: i32,
) -> Result<HistogramRow, String> {
    if !dp.bucket_counts.is_empty() {
        if dp.bucket_counts.len() != dp.explicit_bounds.len() + 1 {
            return Err(format!(
                "{} bucket counts for {} explicit bounds (must be one more)",
                dp.bucket_counts.len(),
                dp.explicit_bounds.len()
            ));
        }
        check_bucket_total(dp.count, &dp.bucket_counts)?;
    }
    if !dp.explicit_bounds.windows(2).all(|w| w[0] < w[1]) {
        return Err("explicit bounds are not strictly increasing".into());
    }
    let exemplars = exemplars(dp.exemplars)?;
    let point = point_head(
        head,
        dp.attributes,
        dp.start_time_unix_nano,
        dp.time_unix_nano,
        dp.flags,
    )?;
    let mut row = HistogramRow::from_heads(head, point);
    row.count = dp.count;
    row.sum = dp.sum.unwrap_or_default();
    row.bucket_counts = dp.bucket_counts;
    row.explicit_bounds = dp.explicit_bounds;
    row.min = dp.min.unwrap_or_default();
    row.max = dp.max.unwrap_or_default();
    row.aggregation_temporality = temporality;
    row.set_exemplars(exemplars);
    Ok(row)
}

/// The bucket counts must add up to the point's count (a sum past u64 cannot).
fn check_bucket_total<'a>(
    count: u64,
    counts: impl IntoIterator<Item = &'a u64>,
) -> Result<(), String> {
    let total = counts
        .into_iter()
        .try_fold(0u64, |sum, c| sum.checked_add(*c))
        .ok_or_else(|| format!("bucket counts add up to more than {}", u64::MAX))?;
    if total != count {
        return Err(format!(
            "bucket counts add up to {total}, but count is {count}"
        ));
    }
    Ok(())
}

fn exponential_histogram_row(
    head: &MetricHead,
    dp: ExponentialHistogramDataPoint,
    temporality: i32,
) -> Result<ExponentialHistogramRow, String> {
    if !(-10..=20).contains(&dp.scale) {
        return Err(format!("scale {} is outside [-10, 20]", dp.scale));
    }
    let positive = dp.positive.unwrap_or_default();
    let negative = dp.negative.unwrap_or_default();
    let counts = std::iter::once(&dp.zero_count)
        .chain(&positive.bucket_counts)
        .chain(&negative.bucket_counts);
    check_bucket_total(dp.count, counts)?;
    let exemplars = exemplars(dp.exemplars)?;
    let point = point_head(
        head,
        dp.attributes,
        dp.start_time_unix_nano,
        dp.time_unix_nano,
        dp.flags,
    )?;
    let mut row = ExponentialHistogramRow::from_heads(head, point);
    row.count = dp.count;
    row.sum = dp.sum.unwrap_or_default();
    row.scale = dp.scale;
    row.zero_count = dp.zero_count;
    row.positive_offset = positive.offset;
    row.positive_bucket_counts = positive.bucket_counts;
    row.negative_offset = negative.offset;
    row.negative_bucket_counts = negative.bucket_counts;
    row.min = dp.min.unwrap_or_default();
    row.max = dp.max.unwrap_or_default();
    row.aggregation_temporality = temporality;
    row.set_exemplars(exemplars);
    Ok(row)
}

fn summary_row(head: &MetricHead, dp: SummaryDataPoint) -> Result<SummaryRow, String> {
    if let Some(q) = dp
        .quantile_values
        .iter()
        .find(|q| !(0.0..=1.0).contains(&q.quantile))
    {
        return Err(format!("quantile {} is outside [0, 1]", q.quantile));
    }
    let point = point_head(
        head,
        dp.attributes,
        dp.start_time_unix_nano,
        dp.time_unix_nano,
        dp.flags,
    )?;
    let mut row = SummaryRow::from_heads(head, point);
    row.count = dp.count;
    row.sum = dp.sum;
    (row.quantiles, row.quantile_values) = dp
        .quantile_values
        .into_iter()
        .map(|q| (q.quantile, q.value))
        .unzip();
    Ok(row)
}

fn exemplars(list: Vec<Exemplar>) -> Result<Exemplars, String> {
    let mut out = Exemplars::default();
    for (j, e) in list.into_iter().enumerate() {
        let id = |id: &[u8], len: usize, what: &str| -> Result<String, String> {
            match id.len() {
                0 => Ok(String::new()),
                n if n == len => Ok(if id.iter().all(|b| *b == 0) {
                    String::new()
                } else {
                    hex::encode(id)
                }),
                n => Err(format!(
                    "exemplar {j}: {what} must be empty or {len} bytes, got {n}"
                )),
            }
        };
        out.trace_id.push(id(&e.trace_id, 16, "trace_id")?);
        out.span_id.push(id(&e.span_id, 8, "span_id")?);
        out.time_unix.push(nanos(e.time_unix_nano));
        out.value.push(match e.value {
            Some(exemplar::Value::AsDouble(d)) => d,
            Some(exemplar::Value::AsInt(i)) => i as f64,
            None => 0.0,
        });
        out.filtered_attributes
            .push(attrs_to_map(e.filtered_attributes));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, any_value};
    use opentelemetry_proto::tonic::metrics::v1::{
        Gauge, Histogram, Metric, ResourceMetrics, ScopeMetrics, Sum, Summary,
        summary_data_point::ValueAtQuantile,
    };
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use prost::Message;
    use serde_json::Value as J;

    use super::*;
    use crate::normalize::otlp_json::decode_json_metrics;

    fn fixtures() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/otlp")
    }

    /// Every `*.metrics.pb` capture with its `.json` twin.
    fn captures() -> Vec<(PathBuf, PathBuf)> {
        let mut out = Vec::new();
        for lib in std::fs::read_dir(fixtures()).unwrap() {
            for file in std::fs::read_dir(lib.unwrap().path()).unwrap() {
                let pb = file.unwrap().path();
                if pb.to_string_lossy().ends_with(".metrics.pb") {
                    out.push((pb.clone(), pb.with_extension("json")));
                }
            }
        }
        out.sort();
        assert!(out.len() >= 16, "metrics captures: {out:?}");
        out
    }

    fn from_pb(path: &Path) -> NormalizedMetrics {
        let bytes = std::fs::read(path).unwrap();
        normalize_metrics(
            ExportMetricsServiceRequest::decode(&bytes[..]).unwrap(),
            "p",
        )
    }

    fn from_json(path: &Path) -> NormalizedMetrics {
        let bytes = std::fs::read(path).unwrap();
        normalize_metrics(decode_json_metrics(&bytes).unwrap(), "p")
    }

    fn attr<'a>(map: &'a [(String, String)], key: &str) -> Option<&'a str> {
        map.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Protobuf and OTLP/JSON give the same rows; one row per data point the JSON lists.
    #[test]
    fn every_capture_decodes_the_same_from_protobuf_and_json() {
        for (pb, json) in captures() {
            let a = from_pb(&pb);
            let b = from_json(&json);
            let ctx = pb.display();
            assert_eq!(a.rejected_data_points, 0, "{ctx}: {}", a.error_message);
            assert_eq!(a.gauge, b.gauge, "{ctx}");
            assert_eq!(a.sum, b.sum, "{ctx}");
            assert_eq!(a.histogram, b.histogram, "{ctx}");
            assert_eq!(a.exponential_histogram, b.exponential_histogram, "{ctx}");
            assert_eq!(a.summary, b.summary, "{ctx}");
            let doc: J = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
            let listed: usize = doc["resourceMetrics"][0]["scopeMetrics"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|sm| sm["metrics"].as_array().unwrap())
                .map(|m| {
                    [
                        "gauge",
                        "sum",
                        "histogram",
                        "exponentialHistogram",
                        "summary",
                    ]
                    .iter()
                    .filter_map(|k| m[*k]["dataPoints"].as_array())
                    .map(Vec::len)
                    .sum::<usize>()
                })
                .sum();
            assert_eq!(a.points(), listed, "{ctx}");
        }
    }

    /// The first scenario of a run is the only call so far, so its cumulative
    /// gen_ai.client.token.usage points are that call's tokens — the ones expected.json records
    /// from the API's answer.
    #[test]
    fn token_usage_histograms_hold_the_calls_tokens() {
        for lib in ["openlit", "otel-openai-v2", "traceloop"] {
            let dir = fixtures().join(lib);
            let rows = from_pb(&dir.join("a_simple.metrics.pb")).histogram;
            let expected: J =
                serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();
            let call = &expected["scenarios"]["a_simple"]["llm_calls"][0];
            for (token_type, key) in [("input", "input_tokens"), ("output", "output_tokens")] {
                let point = rows
                    .iter()
                    .find(|r| {
                        r.metric_name == "gen_ai.client.token.usage"
                            && attr(&r.attributes, "gen_ai.token.type") == Some(token_type)
                    })
                    .unwrap_or_else(|| panic!("{lib}: no {token_type} token usage point"));
                assert_eq!(point.count, 1, "{lib} {token_type}");
                assert_eq!(point.sum, call[key].as_f64().unwrap(), "{lib} {token_type}");
                assert_eq!((point.min, point.max), (point.sum, point.sum), "{lib}");
                assert_eq!(point.aggregation_temporality, 2, "{lib}: cumulative");
                assert_eq!(
                    attr(&point.attributes, "gen_ai.response.model"),
                    call["response_model"].as_str(),
                    "{lib}"
                );
            }
        }
    }

    /// OpenLLMetry with delta temporality (tests/capture): one run of four Anthropic calls is
    /// one delta point per series, and its token sums are the calls' token counts as the same
    /// library's spans record them.
    #[test]
    fn traceloop_delta_token_usage_adds_up_to_its_spans() {
        let dir = fixtures().join("traceloop-anthropic");
        let n = from_pb(&dir.join("run1.metrics.pb"));
        let expected: J =
            serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();
        let mut spans = (0u64, 0u64, 0u64);
        for scenario in expected["scenarios"].as_object().unwrap().values() {
            for call in scenario["llm_calls"].as_array().unwrap() {
                if call["span_name"] != "anthropic.chat" {
                    continue; // the Anthropic SDK's own spans are not this library's
                }
                let data = |f: &str| {
                    call["differs_from_truth"][f]["data"]
                        .as_u64()
                        .or(call[f].as_u64())
                        .unwrap()
                };
                spans = (
                    spans.0 + 1,
                    spans.1 + data("input_tokens"),
                    spans.2 + data("output_tokens"),
                );
            }
        }
        assert_eq!(spans.0, 4);
        for (token_type, want) in [("input", spans.1), ("output", spans.2)] {
            let point = n
                .histogram
                .iter()
                .find(|r| {
                    r.metric_name == "gen_ai.client.token.usage"
                        && attr(&r.attributes, "gen_ai.token.type") == Some(token_type)
                })
                .unwrap();
            assert_eq!(point.aggregation_temporality, 1, "delta");
            assert_eq!(
                (point.count, point.sum),
                (spans.0, want as f64),
                "{token_type}"
            );
        }
        let choices = n
            .sum
            .iter()
            .find(|r| r.metric_name == "gen_ai.client.generation.choices");
        let choices = choices.unwrap();
        assert_eq!((choices.value, choices.aggregation_temporality), (4.0, 1));
        assert!(choices.is_monotonic);
    }

    /// One point in full, against the capture's JSON read by eye.
    #[test]
    fn openlit_point_in_full() {
        let n = from_pb(&fixtures().join("openlit/a_simple.metrics.pb"));
        let row = n
            .histogram
            .iter()
            .find(|r| r.metric_name == "gen_ai.client.operation.duration")
            .unwrap();
        assert_eq!(row.project, "p");
        assert_eq!(row.service_name, "fixture-openlit");
        assert_eq!(
            attr(&row.resource_attributes, "deployment.environment"),
            Some("fixtures")
        );
        assert_eq!(
            (row.scope_name.as_str(), row.scope_version.as_str()),
            ("openlit.otel.metrics", "0.1.0")
        );
        assert_eq!(row.metric_description, "GenAI operation duration");
        assert_eq!(row.metric_unit, "s");
        assert_eq!(attr(&row.attributes, "server.port"), Some("18080"));
        assert_eq!(
            attr(&row.attributes, "gen_ai.request.model"),
            Some("gpt-4o-mini")
        );
        assert_eq!(row.start_time_unix, 1_795_594_719_360_934_625);
        assert_eq!(row.time_unix, 1_795_594_719_666_054_066);
        assert_eq!(row.count, 1);
        assert_eq!(row.sum, 0.011230945587158203);
        assert_eq!(row.bucket_counts.len(), 15);
        assert_eq!(row.bucket_counts[1], 1);
        assert_eq!(row.explicit_bounds[..3], [0.01, 0.02, 0.04]);
        assert_eq!(row.exemplars_trace_id, ["126b29cc4b9a2772bd6bc7feaf4e5e16"]);
        assert_eq!(row.exemplars_span_id, ["378551905d7f06c1"]);
        assert_eq!(row.exemplars_time_unix, [1_795_594_719_360_903_109]);
        assert_eq!(row.exemplars_value, [0.011230945587158203]);
        // The httpx histogram's exemplar is an int.
        let http = n
            .histogram
            .iter()
            .find(|r| r.metric_name == "http.client.duration")
            .unwrap();
        assert_eq!(http.exemplars_value, [2.0]);
        assert_eq!(http.resource_schema_url, "");
        assert_eq!(
            http.scope_schema_url,
            "https://opentelemetry.io/schemas/1.11.0"
        );
    }

    #[test]
    fn traceloop_counter_is_a_monotonic_cumulative_sum() {
        let n = from_pb(&fixtures().join("traceloop/a_simple.metrics.pb"));
        assert_eq!(n.sum.len(), 2);
        for row in &n.sum {
            assert_eq!(row.metric_name, "gen_ai.client.generation.choices");
            assert_eq!(row.metric_unit, "choice");
            assert_eq!(row.value, 1.0);
            assert!(row.is_monotonic);
            assert_eq!(row.aggregation_temporality, 2);
        }
    }

    fn s(key: &str, v: &str) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(v.into())),
            }),
            ..Default::default()
        }
    }

    fn number(t: u64, v: Option<number_data_point::Value>) -> NumberDataPoint {
        NumberDataPoint {
            time_unix_nano: t,
            value: v,
            attributes: vec![s("k", "v")],
            ..Default::default()
        }
    }

    fn request(metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
        ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(Resource {
                    attributes: vec![s("service.name", "svc")],
                    ..Default::default()
                }),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(InstrumentationScope {
                        name: "scope".into(),
                        ..Default::default()
                    }),
                    metrics,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    fn metric(name: &str, data: Data) -> Metric {
        Metric {
            name: name.into(),
            data: Some(data),
            ..Default::default()
        }
    }

    #[test]
    fn bad_points_are_rejected_alone_with_the_reason() {
        use number_data_point::Value::{AsDouble, AsInt};
        let good_hist = HistogramDataPoint {
            time_unix_nano: 5,
            count: 3,
            sum: Some(6.0),
            bucket_counts: vec![1, 2],
            explicit_bounds: vec![1.0],
            ..Default::default()
        };
        let req = request(vec![
            metric(
                "g",
                Data::Gauge(Gauge {
                    data_points: vec![
                        number(1, Some(AsDouble(0.5))),
                        number(2, None),
                        number(0, Some(AsInt(1))),
                    ],
                }),
            ),
            metric(
                "",
                Data::Sum(Sum {
                    data_points: vec![number(3, Some(AsInt(1)))],
                    aggregation_temporality: 1,
                    is_monotonic: true,
                }),
            ),
            metric(
                "h",
                Data::Histogram(Histogram {
                    data_points: vec![
                        good_hist.clone(),
                        HistogramDataPoint {
                            bucket_counts: vec![1, 1, 1],
                            ..good_hist.clone()
                        },
                        HistogramDataPoint {
                            count: 4,
                            ..good_hist.clone()
                        },
                        HistogramDataPoint {
                            exemplars: vec![Exemplar {
                                trace_id: vec![1; 3],
                                ..Default::default()
                            }],
                            ..good_hist.clone()
                        },
                    ],
                    aggregation_temporality: 1,
                }),
            ),
            metric(
                "q",
                Data::Summary(Summary {
                    data_points: vec![SummaryDataPoint {
                        time_unix_nano: 9,
                        quantile_values: vec![ValueAtQuantile {
                            quantile: 1.5,
                            value: 1.0,
                        }],
                        ..Default::default()
                    }],
                }),
            ),
        ]);
        let n = normalize_metrics(req, "p");
        assert_eq!(n.gauge.len(), 1);
        assert_eq!(n.gauge[0].value, 0.5);
        assert_eq!(n.gauge[0].service_name, "svc");
        assert_eq!(n.gauge[0].attributes, vec![("k".into(), "v".into())]);
        assert!(n.sum.is_empty());
        assert_eq!(n.histogram.len(), 1);
        assert_eq!(n.histogram[0].aggregation_temporality, 1);
        assert_eq!(n.histogram[0].bucket_counts, [1, 2]);
        assert!(n.summary.is_empty());
        assert_eq!(n.rejected_data_points, 7);
        assert_eq!(
            n.error_message,
            "data point 1 of metric 'g': the data point has no value (asDouble / asInt); \
             data point 2 of metric 'g': time_unix_nano is missing; \
             data point 0 of metric '': the metric has no name; \
             data point 1 of metric 'h': 3 bucket counts for 1 explicit bounds (must be one more); \
             data point 2 of metric 'h': bucket counts add up to 3, but count is 4; \
             and 2 more invalid data point(s)"
        );
    }

    #[test]
    fn json_enum_names_and_string_doubles_are_read() {
        let body = br#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"c","sum":{
            "aggregationTemporality":"AGGREGATION_TEMPORALITY_DELTA","isMonotonic":true,
            "dataPoints":[{"timeUnixNano":"7","asDouble":"2.5"}]}}]}]}]}"#;
        let n = normalize_metrics(decode_json_metrics(body).unwrap(), "p");
        assert_eq!(n.sum.len(), 1, "{}", n.error_message);
        assert_eq!(n.sum[0].value, 2.5);
        assert_eq!(n.sum[0].aggregation_temporality, 1);
        assert_eq!(n.sum[0].time_unix, 7);
    }
}
