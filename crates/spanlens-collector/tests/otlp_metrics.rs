//! OTLP metrics end to end: real captures (OpenLIT, opentelemetry-instrumentation-openai-v2,
//! OpenLLMetry — cumulative histograms and counters) and the real OpenTelemetry Python SDK
//! (every instrument kind, delta and cumulative) go through a running collector into the
//! `otel_metrics_*` tables, and the stored rows must be exactly what was sent.
//!
//! The expected rows of the captures are built here from their OTLP/JSON files with
//! serde_json alone (not through opentelemetry-proto or the collector's decoder), so a decoding
//! or flattening mistake cannot hide in both sides.

mod support;

use std::path::PathBuf;
use std::process::Command;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use prost::Message;
use serde_json::Value as J;
use spanlens_collector::auth::hash_key;
use spanlens_collector::config::ApiKeyConfig;
use spanlens_collector::storage::row::{
    AttrMap, ExponentialHistogramRow, GaugeRow, HistogramRow, SumRow,
};
use support::fixtures::{fixtures_dir, read_json};
use support::{TestCollector, post};

/// Transports, each under its own project.
const PROTOBUF: &str = "protobuf";
const JSON: &str = "json";
const GZIP: &str = "gzip";
const GRPC: &str = "grpc";

fn bearer(project: &str) -> String {
    format!("sk-metrics-{project}")
}

async fn start(prefix: &str, projects: &[&str]) -> TestCollector {
    let mut config = support::test_config(prefix);
    for project in projects {
        config.auth.keys.push(ApiKeyConfig {
            project: project.to_string(),
            key_sha256: Some(hash_key(&bearer(project))),
            ..Default::default()
        });
    }
    TestCollector::start_with(config).await
}

/// Every `*.metrics.pb` capture with its `.json` twin.
fn captures() -> Vec<(PathBuf, PathBuf)> {
    let mut out = Vec::new();
    for lib in std::fs::read_dir(fixtures_dir()).unwrap() {
        for file in std::fs::read_dir(lib.unwrap().path()).unwrap() {
            let pb = file.unwrap().path();
            if pb.to_string_lossy().ends_with(".metrics.pb") {
                out.push((pb.clone(), pb.with_extension("json")));
            }
        }
    }
    out.sort();
    out
}

/// POSTs an export body; the reply must be 200 with the given number of rejected points.
async fn post_metrics(t: &TestCollector, project: &str, headers: &[(&str, &str)], body: Vec<u8>) {
    let auth = format!("Bearer {}", bearer(project));
    let mut all = vec![("authorization", auth.as_str())];
    all.extend_from_slice(headers);
    let (status, _, reply) = post(&t.http_url("/v1/metrics"), &all, body).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&reply));
    let json = headers.contains(&("content-type", "application/json"));
    let reply: ExportMetricsServiceResponse = if json {
        serde_json::from_slice(&reply).unwrap()
    } else {
        ExportMetricsServiceResponse::decode(reply.as_slice()).unwrap()
    };
    assert_eq!(reply.partial_success, None, "{project}");
}

async fn grpc_export(
    t: &TestCollector,
    project: &str,
    request: ExportMetricsServiceRequest,
) -> ExportMetricsServiceResponse {
    let mut client = MetricsServiceClient::connect(format!("http://{}", t.grpc_addr()))
        .await
        .expect("gRPC connect")
        .send_compressed(tonic::codec::CompressionEncoding::Gzip);
    let mut request = tonic::Request::new(request);
    let key = format!("Bearer {}", bearer(project)).parse().unwrap();
    request.metadata_mut().insert("authorization", key);
    client
        .export(request)
        .await
        .expect("gRPC export")
        .into_inner()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

// ------------------------------------------------------------------------------------------------
// Expected rows from OTLP/JSON, read with serde_json only
// ------------------------------------------------------------------------------------------------

fn text(v: &J) -> String {
    if let Some(s) = v["stringValue"].as_str() {
        s.to_string()
    } else if let Some(b) = v["boolValue"].as_bool() {
        b.to_string()
    } else if let Some(i) = v.get("intValue") {
        i.as_str().map_or_else(|| i.to_string(), str::to_string)
    } else if let Some(d) = v["doubleValue"].as_f64() {
        d.to_string()
    } else {
        panic!("attribute value kind not used by the captures: {v}")
    }
}

fn attrs(list: &J) -> AttrMap {
    list.as_array()
        .map(|a| {
            a.iter()
                .map(|kv| (kv["key"].as_str().unwrap().to_string(), text(&kv["value"])))
                .collect()
        })
        .unwrap_or_default()
}

fn nanos(v: &J) -> i64 {
    v.as_str()
        .map_or_else(|| v.as_i64().unwrap(), |s| s.parse().unwrap())
}

fn uint(v: &J) -> u64 {
    v.as_str()
        .map_or_else(|| v.as_u64().unwrap(), |s| s.parse().unwrap())
}

fn number(point: &J) -> f64 {
    match (point.get("asDouble"), point.get("asInt")) {
        (Some(d), _) => d.as_f64().unwrap(),
        (None, Some(i)) => uint(i) as f64,
        (None, None) => panic!("point without value: {point}"),
    }
}

/// What the expected rows of one point share, and its exemplars.
struct Expected {
    histogram: Vec<HistogramRow>,
    sum: Vec<SumRow>,
}

fn expected_rows(doc: &J, project: &str) -> Expected {
    let mut out = Expected {
        histogram: Vec::new(),
        sum: Vec::new(),
    };
    for rm in doc["resourceMetrics"].as_array().unwrap() {
        let resource_attributes = attrs(&rm["resource"]["attributes"]);
        let service_name = resource_attributes
            .iter()
            .find(|(k, _)| k == "service.name")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        for sm in rm["scopeMetrics"].as_array().unwrap() {
            for m in sm["metrics"].as_array().unwrap() {
                macro_rules! head {
                    ($row:ident, $p:expr) => {
                        $row {
                            project: project.into(),
                            resource_attributes: resource_attributes.clone(),
                            resource_schema_url: rm["schemaUrl"].as_str().unwrap_or("").into(),
                            scope_name: sm["scope"]["name"].as_str().unwrap_or("").into(),
                            scope_version: sm["scope"]["version"].as_str().unwrap_or("").into(),
                            scope_schema_url: sm["schemaUrl"].as_str().unwrap_or("").into(),
                            service_name: service_name.clone(),
                            metric_name: m["name"].as_str().unwrap().into(),
                            metric_description: m["description"].as_str().unwrap_or("").into(),
                            metric_unit: m["unit"].as_str().unwrap_or("").into(),
                            attributes: attrs(&$p["attributes"]),
                            start_time_unix: nanos(&$p["startTimeUnixNano"]),
                            time_unix: nanos(&$p["timeUnixNano"]),
                            exemplars_filtered_attributes: exemplars(&$p, |e| {
                                attrs(&e["filteredAttributes"])
                            }),
                            exemplars_time_unix: exemplars(&$p, |e| nanos(&e["timeUnixNano"])),
                            exemplars_value: exemplars(&$p, number),
                            exemplars_span_id: exemplars(&$p, |e| {
                                e["spanId"].as_str().unwrap_or("").to_string()
                            }),
                            exemplars_trace_id: exemplars(&$p, |e| {
                                e["traceId"].as_str().unwrap_or("").to_string()
                            }),
                            ..Default::default()
                        }
                    };
                }
                if let Some(h) = m.get("histogram") {
                    for p in h["dataPoints"].as_array().unwrap() {
                        let mut row = head!(HistogramRow, p);
                        row.count = uint(&p["count"]);
                        row.sum = p["sum"].as_f64().unwrap_or(0.0);
                        row.bucket_counts = p["bucketCounts"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(uint)
                            .collect();
                        row.explicit_bounds = p["explicitBounds"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|b| b.as_f64().unwrap())
                            .collect();
                        row.min = p["min"].as_f64().unwrap_or(0.0);
                        row.max = p["max"].as_f64().unwrap_or(0.0);
                        row.aggregation_temporality =
                            h["aggregationTemporality"].as_i64().unwrap() as i32;
                        out.histogram.push(row);
                    }
                } else if let Some(s) = m.get("sum") {
                    for p in s["dataPoints"].as_array().unwrap() {
                        let mut row = head!(SumRow, p);
                        row.value = number(p);
                        row.aggregation_temporality =
                            s["aggregationTemporality"].as_i64().unwrap() as i32;
                        row.is_monotonic = s["isMonotonic"].as_bool().unwrap_or(false);
                        out.sum.push(row);
                    }
                } else {
                    panic!("metric type not in the captures: {}", m["name"]);
                }
            }
        }
    }
    out
}

fn exemplars<T>(point: &J, f: impl Fn(&J) -> T) -> Vec<T> {
    point["exemplars"]
        .as_array()
        .map(|a| a.iter().map(f).collect())
        .unwrap_or_default()
}

/// Rows in a stable order (the tables' order is not the send order).
fn sorted<R: Clone>(rows: &[R], key: impl Fn(&R) -> (String, i64, i64, String)) -> Vec<R> {
    let mut rows = rows.to_vec();
    rows.sort_by_key(|r| key(r));
    rows
}

fn hist_key(r: &HistogramRow) -> (String, i64, i64, String) {
    (
        r.metric_name.clone(),
        r.time_unix,
        r.start_time_unix,
        format!("{:?}", r.attributes),
    )
}

fn sum_key(r: &SumRow) -> (String, i64, i64, String) {
    (
        r.metric_name.clone(),
        r.time_unix,
        r.start_time_unix,
        format!("{:?}", r.attributes),
    )
}

async fn fetch<R>(t: &TestCollector, table: &str, project: &str) -> Vec<R>
where
    R: clickhouse::RowOwned + clickhouse::RowRead,
{
    t.ch.query(&format!("SELECT ?fields FROM {table} WHERE Project = ?"))
        .bind(project)
        .fetch_all::<R>()
        .await
        .unwrap_or_else(|e| panic!("{table}: {e}"))
}

// ------------------------------------------------------------------------------------------------
// Tests
// ------------------------------------------------------------------------------------------------

/// Every metrics capture, sent as protobuf, OTLP/JSON, gzipped protobuf and over gRPC (gzip),
/// is stored exactly — every point of every metric, with its exemplars — under each project.
#[tokio::test]
async fn captured_genai_metrics_are_stored_exactly_over_every_transport() {
    let projects = [PROTOBUF, JSON, GZIP, GRPC];
    let t = start("metrics_fixtures", &projects).await;
    let captures = captures();
    assert!(captures.len() >= 16, "metrics captures: {captures:?}");
    let mut want_hist = Vec::new();
    let mut want_sum = Vec::new();
    for (pb, json) in &captures {
        let pb_bytes = std::fs::read(pb).unwrap();
        let json_bytes = std::fs::read(json).unwrap();
        let proto = [("content-type", "application/x-protobuf")];
        post_metrics(&t, PROTOBUF, &proto, pb_bytes.clone()).await;
        post_metrics(
            &t,
            JSON,
            &[("content-type", "application/json")],
            json_bytes,
        )
        .await;
        let gz = [
            ("content-type", "application/x-protobuf"),
            ("content-encoding", "gzip"),
        ];
        post_metrics(&t, GZIP, &gz, gzip(&pb_bytes)).await;
        let request = ExportMetricsServiceRequest::decode(pb_bytes.as_slice()).unwrap();
        assert_eq!(grpc_export(&t, GRPC, request).await.partial_success, None);
        let expected = expected_rows(&read_json(json), "");
        want_hist.extend(expected.histogram);
        want_sum.extend(expected.sum);
    }
    assert!(want_hist.len() > 100 && want_sum.len() > 30);

    let total = (want_hist.len() + want_sum.len()) as u64 * projects.len() as u64;
    let stored = t
        .wait_for_count(
            "SELECT assumeNotNull((SELECT count() FROM otel_metrics_histogram) + (SELECT count() FROM otel_metrics_sum))",
            total,
        )
        .await;
    assert_eq!(stored, total);
    for project in projects {
        let mut hist = fetch::<HistogramRow>(&t, "otel_metrics_histogram", project).await;
        let mut sum = fetch::<SumRow>(&t, "otel_metrics_sum", project).await;
        hist.iter_mut().for_each(|r| r.project.clear());
        sum.iter_mut().for_each(|r| r.project.clear());
        assert_eq!(
            sorted(&hist, hist_key),
            sorted(&want_hist, hist_key),
            "{project}: histograms"
        );
        assert_eq!(
            sorted(&sum, sum_key),
            sorted(&want_sum, sum_key),
            "{project}: sums"
        );
    }

    t.shutdown().await;
}

/// The Python SDK's sender (tests/python/send_metrics.py) for one protocol and temporality.
fn send_with_python_sdk(t: &TestCollector, protocol: &str, temporality: &str, project: &str) {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/python/send_metrics.py"
    );
    let endpoint = match protocol {
        "grpc" => t.grpc_addr().to_string(),
        _ => t.http_url(""),
    };
    let out = Command::new(support::local::python())
        .args([script, "--endpoint", &endpoint, "--protocol", protocol])
        .args(["--temporality", temporality, "--key", &bearer(project)])
        .output()
        .expect("run send_metrics.py");
    assert!(
        out.status.success(),
        "send_metrics.py {protocol} {temporality}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn sorted_attrs(map: &AttrMap) -> AttrMap {
    let mut m = map.clone();
    m.sort();
    m
}

/// The default explicit bucket bounds of the OTel SDKs, and counts with a 1 at each index.
const DEFAULT_BOUNDS: [f64; 15] = [
    0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0, 7500.0,
    10000.0,
];
fn ones_at(len: usize, at: &[usize]) -> Vec<u64> {
    (0..len).map(|i| u64::from(at.contains(&i))).collect()
}

/// Every instrument kind from the real Python SDK, over three transports, delta and cumulative:
/// the stored points are exactly what the SDK aggregated (see send_metrics.py for the values).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_metrics_delta_and_cumulative() {
    let runs = [
        ("http/protobuf", "delta", "sdk_delta"),
        ("grpc", "cumulative", "sdk_cumulative"),
        ("http/json", "cumulative", "sdk_json"),
    ];
    let projects: Vec<&str> = runs.iter().map(|r| r.2).collect();
    let t = start("metrics_sdk", &projects).await;
    for (protocol, temporality, project) in runs {
        send_with_python_sdk(&t, protocol, temporality, project);
    }
    // Per run: 2 counters × 2 rounds, 2 token histograms, 2 exponential, 2 gauge points.
    t.wait_for_count("SELECT count() FROM otel_metrics_gauge", 6)
        .await;
    let n = t
        .wait_for_count("SELECT count() FROM otel_metrics_exponential_histogram", 6)
        .await;
    assert_eq!(n, 6);

    for (protocol, temporality, project) in runs {
        let ctx = format!("{protocol} {temporality}");
        let delta = temporality == "delta";
        let code = if delta { 1 } else { 2 };
        let by_time = |mut rows: Vec<SumRow>, name: &str| {
            rows.retain(|r| r.metric_name == name);
            rows.sort_by_key(|r| r.time_unix);
            rows
        };
        let sums = fetch::<SumRow>(&t, "otel_metrics_sum", project).await;
        assert_eq!(sums.len(), 4, "{ctx}");
        let requests = by_time(sums.clone(), "gen_ai.requests");
        let queue = by_time(sums, "queue.depth");
        let values = |rows: &[SumRow]| rows.iter().map(|r| r.value).collect::<Vec<_>>();
        assert_eq!(
            values(&requests),
            if delta { [3.0, 4.0] } else { [3.0, 7.0] },
            "{ctx}"
        );
        assert_eq!(
            values(&queue),
            if delta { [5.0, -2.0] } else { [5.0, 3.0] },
            "{ctx}"
        );
        for r in requests.iter().chain(&queue) {
            assert_eq!(r.aggregation_temporality, code, "{ctx}");
            assert_eq!(r.is_monotonic, r.metric_name == "gen_ai.requests", "{ctx}");
            assert_eq!(r.service_name, "metrics-sdk");
            assert_eq!(
                (r.scope_name.as_str(), r.scope_version.as_str()),
                ("spanlens.test", "1.0")
            );
        }
        assert_eq!(requests[0].metric_unit, "{request}");
        assert_eq!(requests[0].metric_description, "LLM requests");
        assert_eq!(
            requests[0].attributes,
            vec![(
                "gen_ai.request.model".to_string(),
                "gpt-4o-mini".to_string()
            )]
        );
        // A delta point starts where the previous one ended; cumulative points share a start.
        if delta {
            assert_eq!(requests[1].start_time_unix, requests[0].time_unix, "{ctx}");
        } else {
            assert_eq!(
                requests[1].start_time_unix, requests[0].start_time_unix,
                "{ctx}"
            );
        }

        let mut tokens = fetch::<HistogramRow>(&t, "otel_metrics_histogram", project).await;
        tokens.sort_by_key(|r| r.time_unix);
        assert_eq!(tokens.len(), 2, "{ctx}");
        let (first, second) = (&tokens[0], &tokens[1]);
        assert_eq!(first.metric_name, "gen_ai.client.token.usage");
        assert_eq!(
            sorted_attrs(&first.attributes),
            vec![
                (
                    "gen_ai.request.model".to_string(),
                    "gpt-4o-mini".to_string()
                ),
                ("gen_ai.token.type".to_string(), "input".to_string()),
            ]
        );
        assert_eq!(
            (first.count, first.sum, first.min, first.max),
            (2, 110.0, 10.0, 100.0)
        );
        assert_eq!(first.explicit_bounds, DEFAULT_BOUNDS);
        assert_eq!(
            first.bucket_counts,
            ones_at(16, &[2, 6]),
            "{ctx}: 10 ≤ 10, 100 ≤ 100"
        );
        if delta {
            assert_eq!(
                (second.count, second.sum, second.min, second.max),
                (1, 1000.0, 1000.0, 1000.0)
            );
            assert_eq!(second.bucket_counts, ones_at(16, &[10]));
        } else {
            assert_eq!(
                (second.count, second.sum, second.min, second.max),
                (3, 1110.0, 10.0, 1000.0)
            );
            assert_eq!(second.bucket_counts, ones_at(16, &[2, 6, 10]));
        }
        assert!(tokens.iter().all(|r| r.aggregation_temporality == code));

        // Exponential: the SDK picks the largest scale (≤ 20) at which the values fit in 160
        // buckets. Value v falls in bucket ceil(log2(v) · 2^scale) − 1. Round 1: 0.5 and 2 span
        // buckets −65 (offset) … 63 at scale 6; 0 goes to the zero bucket.
        let mut exp =
            fetch::<ExponentialHistogramRow>(&t, "otel_metrics_exponential_histogram", project)
                .await;
        exp.sort_by_key(|r| r.time_unix);
        let (first, second) = (&exp[0], &exp[1]);
        assert_eq!(first.metric_name, "gen_ai.client.operation.duration");
        assert_eq!(
            (
                first.count,
                first.sum,
                first.zero_count,
                first.min,
                first.max
            ),
            (3, 2.5, 1, 0.0, 2.0)
        );
        assert_eq!((first.scale, first.positive_offset), (6, -65), "{ctx}");
        assert_eq!(
            first.positive_bucket_counts,
            ones_at(160, &[0, 128]),
            "{ctx}"
        );
        assert!(first.negative_bucket_counts.iter().all(|c| *c == 0));
        if delta {
            // Round 2 alone: one value, 4 = 2^2 → bucket 2·2^20 − 1 at scale 20.
            assert_eq!((second.count, second.sum, second.zero_count), (1, 4.0, 0));
            assert_eq!((second.scale, second.positive_offset), (20, 2_097_151));
            assert_eq!(second.positive_bucket_counts, [1]);
        } else {
            // All four values: 0.5 … 4 no longer fit at scale 6; at scale 5 they are buckets
            // −33, 31 and 63.
            assert_eq!(
                (
                    second.count,
                    second.sum,
                    second.zero_count,
                    second.min,
                    second.max
                ),
                (4, 6.5, 1, 0.0, 4.0)
            );
            assert_eq!((second.scale, second.positive_offset), (5, -33));
            assert_eq!(second.positive_bucket_counts, ones_at(160, &[0, 64, 96]));
        }
        assert!(exp.iter().all(|r| r.aggregation_temporality == code));

        let mut gauge = fetch::<GaugeRow>(&t, "otel_metrics_gauge", project).await;
        gauge.sort_by_key(|r| r.time_unix);
        let values: Vec<f64> = gauge.iter().map(|r| r.value).collect();
        assert_eq!(values, [21.5, 22.0], "{ctx}");
        assert_eq!(gauge[0].metric_unit, "Cel");
    }
    t.shutdown().await;
}

/// Bad points are rejected alone (partial success with the reason, counted in /metrics);
/// their neighbours are stored. A body that is not OTLP is a 400 naming the message.
#[tokio::test]
async fn bad_points_are_rejected_alone() {
    let t = start("metrics_bad", &[PROTOBUF, GRPC]).await;
    let body = br#"{"resourceMetrics":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"svc"}}]},
        "scopeMetrics":[{"metrics":[{"name":"latency","unit":"s","histogram":{"aggregationTemporality":1,"dataPoints":[
          {"timeUnixNano":"1764000000000000000","count":"2","sum":3,"bucketCounts":["1","1"],"explicitBounds":[1]},
          {"timeUnixNano":"1764000000000000000","count":"5","sum":3,"bucketCounts":["1","1"],"explicitBounds":[1]}
        ]}}]}]}]}"#;
    let auth = format!("Bearer {}", bearer(PROTOBUF));
    let headers = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    let (status, _, reply) = post(&t.http_url("/v1/metrics"), &headers, body.to_vec()).await;
    assert_eq!(status, 200);
    let reply: J = serde_json::from_slice(&reply).unwrap();
    assert_eq!(
        reply["partialSuccess"],
        serde_json::json!({
            "rejectedDataPoints": 1,
            "errorMessage": "data point 1 of metric 'latency': bucket counts add up to 2, but count is 5"
        })
    );
    let n = t
        .wait_for_count("SELECT count() FROM otel_metrics_histogram", 1)
        .await;
    assert_eq!(n, 1);
    let row: (u64, f64, String) =
        t.ch.query("SELECT Count, Sum, ServiceName FROM otel_metrics_histogram")
            .fetch_one()
            .await
            .unwrap();
    assert_eq!(row, (2, 3.0, "svc".to_string()));

    let (status, _, reply) = post(
        &t.http_url("/v1/metrics"),
        &[
            ("authorization", auth.as_str()),
            ("content-type", "application/x-protobuf"),
        ],
        b"\xff\xff not protobuf".to_vec(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        String::from_utf8_lossy(&reply)
            .contains("invalid OTLP protobuf ExportMetricsServiceRequest"),
        "{}",
        String::from_utf8_lossy(&reply)
    );
    let (_, text) = support::get(&t.http_url("/metrics")).await;
    assert!(
        text.contains("spanlens_metric_points_rejected_total{reason=\"invalid_point\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("spanlens_metric_points_accepted_total 1\n"),
        "{text}"
    );
    t.shutdown().await;
}

/// Proto3 JSON writes non-finite doubles as the strings `"NaN"`, `"Infinity"` and
/// `"-Infinity"`; wherever a metric point holds a double they are accepted and stored as
/// ClickHouse Float64 nan / inf / -inf (checked as ClickHouse prints them).
#[tokio::test]
async fn non_finite_doubles_in_otlp_json_are_stored_as_nan_and_inf() {
    let t = start("metrics_non_finite", &[JSON]).await;
    let body = br#"{"resourceMetrics":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"svc"}}]},
      "scopeMetrics":[{"metrics":[
        {"name":"g","gauge":{"dataPoints":[{"timeUnixNano":"1764000000000000000","asDouble":"NaN",
          "exemplars":[{"timeUnixNano":"1764000000000000000","asDouble":"-Infinity"}]}]}},
        {"name":"s","sum":{"aggregationTemporality":2,"dataPoints":[{"timeUnixNano":"1764000000000000000","asDouble":"Infinity"}]}},
        {"name":"h","histogram":{"aggregationTemporality":1,"dataPoints":[{"timeUnixNano":"1764000000000000000","count":"2",
          "sum":"-Infinity","min":"NaN","max":"Infinity","bucketCounts":["1","0","1"],"explicitBounds":["-Infinity",1.5],
          "exemplars":[{"timeUnixNano":"1764000000000000000","asDouble":"NaN"}]}]}},
        {"name":"e","exponentialHistogram":{"aggregationTemporality":1,"dataPoints":[{"timeUnixNano":"1764000000000000000",
          "count":"1","zeroCount":"1","scale":0,"sum":"NaN","min":"-Infinity","max":"Infinity"}]}},
        {"name":"q","summary":{"dataPoints":[{"timeUnixNano":"1764000000000000000","count":"3","sum":"Infinity",
          "quantileValues":[{"quantile":0.5,"value":"NaN"},{"quantile":"1","value":"-Infinity"}]}]}}
      ]}]}]}"#;
    let auth = format!("Bearer {}", bearer(JSON));
    let headers = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    let (status, _, reply) = post(&t.http_url("/v1/metrics"), &headers, body.to_vec()).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&reply));
    let reply: J = serde_json::from_slice(&reply).unwrap();
    assert_eq!(reply["partialSuccess"], J::Null, "no point rejected");
    for table in [
        "gauge",
        "sum",
        "histogram",
        "exponential_histogram",
        "summary",
    ] {
        let sql = format!("SELECT count() FROM otel_metrics_{table} WHERE Project = 'json'");
        assert_eq!(t.wait_for_count(&sql, 1).await, 1, "{table}");
    }
    let row = |table: &str, columns: &str| {
        let ch = t.ch.clone();
        let sql = format!(
            "SELECT toString(tuple({columns})) FROM otel_metrics_{table} WHERE Project = 'json'"
        );
        async move {
            ch.query(&sql)
                .fetch_one::<String>()
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
        }
    };
    assert_eq!(row("gauge", "Value, Exemplars.Value").await, "(nan,[-inf])");
    assert_eq!(row("sum", "Value").await, "(inf)");
    assert_eq!(
        row(
            "histogram",
            "Sum, Min, Max, ExplicitBounds, Exemplars.Value"
        )
        .await,
        "(-inf,nan,inf,[-inf,1.5],[nan])"
    );
    assert_eq!(
        row("exponential_histogram", "Sum, Min, Max").await,
        "(nan,-inf,inf)"
    );
    assert_eq!(
        row(
            "summary",
            "Sum, ValueAtQuantiles.Quantile, ValueAtQuantiles.Value"
        )
        .await,
        "(inf,[0.5,1],[nan,-inf])"
    );
    t.shutdown().await;
}
