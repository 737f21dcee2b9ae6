//! OTLP/HTTP receiver end to end: protobuf, JSON and gzip bodies land as exact rows in
//! ClickHouse; bad requests get a clear 4xx naming the problem and the collector keeps serving.

mod support;

use std::io::Write;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;
use support::{TestCollector, assert_agent_with_chat, otlp, post};

const PROTOBUF: (&str, &str) = ("content-type", "application/x-protobuf");
const JSON: (&str, &str) = ("content-type", "application/json");

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// The same request as `otlp::agent_with_chat(3)`, written as spec OTLP/JSON by hand: hex ids,
/// lowerCamelCase, enum numbers, 64-bit integers as strings.
const JSON_BODY: &str = r#"{"resourceSpans":[{"resource":{"attributes":[
 {"key":"service.name","value":{"stringValue":"checkout-bot"}},
 {"key":"deployment.environment.name","value":{"stringValue":"staging"}}]},
 "scopeSpans":[{"scope":{"name":"test-scope","version":"1.2"},"spans":[
 {"traceId":"ababababababababababababababab03","spanId":"cdcdcdcdcdcdcd01","name":"invoke_agent helper","kind":1,
  "startTimeUnixNano":"1764000000000000000","endTimeUnixNano":"1764000002000000000",
  "attributes":[{"key":"gen_ai.operation.name","value":{"stringValue":"invoke_agent"}},
                {"key":"gen_ai.agent.name","value":{"stringValue":"helper"}}]},
 {"traceId":"ababababababababababababababab03","spanId":"cdcdcdcdcdcdcd02","parentSpanId":"cdcdcdcdcdcdcd01",
  "name":"chat gpt-4o-mini","kind":3,
  "startTimeUnixNano":"1764000000500000000","endTimeUnixNano":"1764000001750000000",
  "attributes":[{"key":"gen_ai.operation.name","value":{"stringValue":"chat"}},
   {"key":"gen_ai.provider.name","value":{"stringValue":"openai"}},
   {"key":"gen_ai.request.model","value":{"stringValue":"gpt-4o-mini"}},
   {"key":"gen_ai.response.model","value":{"stringValue":"gpt-4o-mini-2024-07-18"}},
   {"key":"gen_ai.usage.input_tokens","value":{"intValue":"11"}},
   {"key":"gen_ai.usage.output_tokens","value":{"intValue":7}},
   {"key":"gen_ai.input.messages","value":{"stringValue":"[{\"role\":\"user\",\"parts\":[{\"type\":\"text\",\"content\":\"What is OTLP?\"}]}]"}},
   {"key":"gen_ai.output.messages","value":{"stringValue":"[{\"role\":\"assistant\",\"parts\":[{\"type\":\"text\",\"content\":\"A protocol.\"}],\"finish_reason\":\"stop\"}]"}},
   {"key":"gen_ai.response.finish_reasons","value":{"arrayValue":{"values":[{"stringValue":"stop"}]}}},
   {"key":"http.route","value":{"stringValue":"/chat"}}],
  "status":{"code":1}}]}]}]}"#;

#[tokio::test]
async fn protobuf_json_and_gzip_bodies_become_exact_rows() {
    let t = TestCollector::start("http_ok").await;
    let url = t.http_url("/v1/traces");

    let (status, headers, body) =
        post(&url, &[PROTOBUF], otlp::agent_with_chat(1).encode_to_vec()).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(headers["content-type"], "application/x-protobuf");
    assert_eq!(
        ExportTraceServiceResponse::decode(&body[..]).unwrap(),
        ExportTraceServiceResponse::default()
    );

    let gz = gzip(&otlp::agent_with_chat(2).encode_to_vec());
    let (status, _, body) = post(&url, &[PROTOBUF, ("content-encoding", "gzip")], gz).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));

    let (status, headers, body) = post(&url, &[JSON], JSON_BODY.as_bytes().to_vec()).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(headers["content-type"], "application/json");
    let reply: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(
        reply.get("partialSuccess").is_none_or(|p| p.is_null()),
        "{reply}"
    );

    let gz = gzip(JSON_BODY.replace("ab03", "ab04").as_bytes());
    let (status, _, _) = post(&url, &[JSON, ("content-encoding", "gzip")], gz).await;
    assert_eq!(status, 200);

    // The Langfuse SDK's export path is the same receiver.
    let langfuse = t.http_url("/api/public/otel/v1/traces");
    let (status, _, _) = post(
        &langfuse,
        &[PROTOBUF],
        otlp::agent_with_chat(5).encode_to_vec(),
    )
    .await;
    assert_eq!(status, 200);

    let rows = t.spans(10).await;
    for trace in 1..=5 {
        assert_agent_with_chat(&rows, trace);
    }
    t.shutdown().await;
}

/// The message of an OTLP/HTTP error reply (a google.rpc.Status, JSON or protobuf).
fn status_message(headers: &http::HeaderMap, body: &[u8]) -> String {
    if headers["content-type"] == "application/json" {
        let status: serde_json::Value = serde_json::from_slice(body).expect("JSON Status");
        assert_eq!(status["code"], 3, "INVALID_ARGUMENT");
        status["message"].as_str().unwrap().to_string()
    } else {
        String::from_utf8_lossy(body).into_owned() // field 2 of the protobuf holds the text as is
    }
}

#[tokio::test]
async fn bad_requests_get_a_clear_4xx_and_the_collector_keeps_serving() {
    let mut config = support::test_config("http_bad");
    config.receiver.max_body_bytes = 64 * 1024;
    let t = TestCollector::start_with(config).await;
    let url = t.http_url("/v1/traces");

    // (what, request headers, body, expected status, expected text in the reply)
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<u8>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            "malformed protobuf",
            vec![PROTOBUF],
            vec![0x0a, 0xff, 0xff, 0x01, 0x02],
            400,
            "invalid OTLP protobuf",
        ),
        (
            "malformed JSON",
            vec![JSON],
            b"{\"resourceSpans\": [".to_vec(),
            400,
            "invalid OTLP/JSON",
        ),
        (
            "JSON of the wrong shape",
            vec![JSON],
            br#"{"resourceSpans": 5}"#.to_vec(),
            400,
            "invalid OTLP/JSON",
        ),
        (
            "wrong content type",
            vec![("content-type", "text/plain")],
            b"hello".to_vec(),
            415,
            "unsupported Content-Type \"text/plain\"",
        ),
        (
            "missing content type",
            vec![],
            b"hello".to_vec(),
            415,
            "unsupported Content-Type",
        ),
        (
            "unknown content encoding",
            vec![PROTOBUF, ("content-encoding", "br")],
            vec![1],
            415,
            "unsupported Content-Encoding \"br\"",
        ),
        (
            "corrupt gzip",
            vec![PROTOBUF, ("content-encoding", "gzip")],
            b"not gzip".to_vec(),
            400,
            "invalid gzip body",
        ),
        (
            "oversized body",
            vec![PROTOBUF],
            vec![0u8; 100 * 1024],
            413,
            "exceeds the limit of 65536 bytes",
        ),
        (
            "gzip bomb",
            vec![PROTOBUF, ("content-encoding", "gzip")],
            gzip(&vec![0u8; 1 << 20]),
            413,
            "decompressed body exceeds the limit",
        ),
    ];
    for (what, headers, body, want_status, want_message) in cases {
        let (status, reply_headers, reply) = post(&url, &headers, body).await;
        let text = status_message(&reply_headers, &reply);
        assert_eq!(status, want_status, "{what}: {text}");
        assert!(
            text.contains(want_message),
            "{what}: reply {text:?} should contain {want_message:?}"
        );
    }

    // Still serving, and nothing from the bad requests was stored.
    let (status, _, _) = post(&url, &[PROTOBUF], otlp::agent_with_chat(1).encode_to_vec()).await;
    assert_eq!(status, 200);
    let rows = t.spans(2).await;
    assert_agent_with_chat(&rows, 1);

    let (status, metrics) = support::get(&t.http_url("/metrics")).await;
    assert_eq!(status, 200);
    for line in [
        "spanlens_requests_rejected_total{reason=\"bad_request\"} 9",
        "spanlens_spans_received_total 2",
        "spanlens_spans_accepted_total 2",
        "spanlens_rows_written_total{table=\"spans\"} 2",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "missing {line:?} in\n{metrics}"
        );
    }
    t.shutdown().await;
}

#[tokio::test]
async fn an_invalid_span_is_rejected_alone_with_partial_success() {
    let t = TestCollector::start("http_partial").await;
    let mut request = otlp::agent_with_chat(1);
    let spans = &mut request.resource_spans[0].scope_spans[0].spans;
    let mut bad = spans[1].clone();
    bad.trace_id = vec![1, 2, 3, 4, 5];
    spans.push(bad);

    let (status, _, body) = post(
        &t.http_url("/v1/traces"),
        &[PROTOBUF],
        request.encode_to_vec(),
    )
    .await;
    assert_eq!(status, 200);
    let partial = ExportTraceServiceResponse::decode(&body[..])
        .unwrap()
        .partial_success
        .expect("partial_success");
    assert_eq!(partial.rejected_spans, 1);
    assert!(
        partial.error_message.contains("trace_id"),
        "{}",
        partial.error_message
    );

    let rows = t.spans(2).await;
    assert_agent_with_chat(&rows, 1);
    let metrics = support::get(&t.http_url("/metrics")).await.1;
    assert!(
        metrics.contains("spanlens_spans_rejected_total{reason=\"invalid_span\"} 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("spanlens_spans_received_total 3\n"),
        "{metrics}"
    );
    assert_scraped_as_openmetrics(&t.http_url("/metrics")).await;
    t.shutdown().await;
}

/// /metrics as Prometheus reads it: the official Python client's strict OpenMetrics parser
/// takes the whole exposition (content type, `# EOF`, counter and histogram samples), and the
/// counts of the request above come out with their names, types, HELP and labels.
async fn assert_scraped_as_openmetrics(url: &str) {
    let url = url.to_string();
    let scraped =
        tokio::task::spawn_blocking(move || support::run_python("scrape_metrics.py", &[&url], &[]))
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("{e}"));
    let family = |name: &str| scraped["families"][name].clone();
    assert_eq!(
        family("spanlens_spans_received"),
        serde_json::json!({
            "type": "counter",
            "help": "Spans decoded from OTLP requests.",
            "samples": [["spanlens_spans_received_total", {}, 3]],
        })
    );
    let rejected = family("spanlens_spans_rejected");
    assert_eq!(rejected["type"], "counter");
    assert!(
        rejected["samples"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!([
                "spanlens_spans_rejected_total",
                {"reason": "invalid_span"},
                1
            ])),
        "{rejected}"
    );
    assert_eq!(family("spanlens_queue_max_bytes")["type"], "gauge");
    assert_eq!(family("spanlens_spool_io_errors")["type"], "counter");
    let histogram = family("spanlens_insert_duration_seconds");
    assert_eq!(histogram["type"], "histogram");
    let sample = |name: &str, le: Option<&str>| {
        histogram["samples"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s[0] == name && le.is_none_or(|le| s[1]["le"] == le))
            .map(|s| s[2].clone())
            .unwrap_or_else(|| panic!("no {name} {le:?} in {histogram}"))
    };
    assert_eq!(
        sample("spanlens_insert_duration_seconds_bucket", Some("+Inf")),
        sample("spanlens_insert_duration_seconds_count", None)
    );
}

#[tokio::test]
async fn health_and_readiness() {
    let t = TestCollector::start("http_health").await;
    assert_eq!(support::get(&t.http_url("/healthz")).await.0, 200);
    assert_eq!(
        support::get(&t.http_url("/readyz")).await,
        (200, "ready\n".to_string())
    );
    t.shutdown().await;

    // Not ready when ClickHouse is unreachable: a collector pointed at a closed port.
    let mut config = support::test_config("http_unready");
    config.clickhouse.migrate_on_start = false;
    config.clickhouse.url = "http://127.0.0.1:9".into();
    let t = TestCollector::start_with(config).await;
    let (status, body) = support::get(&t.http_url("/readyz")).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("ClickHouse unreachable"), "{body}");
    t.collector.shutdown().await;
}

#[tokio::test]
async fn request_bytes_in_flight_are_bounded_with_429() {
    let mut config = support::test_config("http_inflight");
    config.receiver.max_body_bytes = 64 * 1024;
    config.receiver.max_inflight_bytes = 200_000; // room for one 60 kB request (3x reserved)
    let t = TestCollector::start_with(config).await;
    let body = otlp::agent_with_chat(1).encode_to_vec();

    // A slow client: headers announce 60 000 bytes, the body trickles (holds its reservation).
    let slow = support::slow_request(t.collector.http_addr, 60_000).await;

    let (status, headers, reply) =
        post(&t.http_url("/v1/traces"), &[PROTOBUF], vec![0u8; 60_000]).await;
    assert_eq!(status, 429, "{}", String::from_utf8_lossy(&reply));
    assert_eq!(headers["retry-after"], "1");
    assert!(String::from_utf8_lossy(&reply).contains("too many request bytes in flight"));

    drop(slow); // the reservation is released once the server sees the connection closed
    let url = t.http_url("/v1/traces");
    let (status, _, _) = support::retry_while(
        || post(&url, &[PROTOBUF], body.clone()),
        |(status, _, _)| *status == 429,
    )
    .await;
    assert_eq!(status, 200);
    t.spans(2).await;
    t.shutdown().await;
}
