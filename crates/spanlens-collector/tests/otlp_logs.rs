//! OTLP logs end to end: every log record lands in the `logs` table; the prompt / completion of
//! GenAI content events is joined into its span's row, whichever of the two arrives first
//! (OTLP/HTTP protobuf and JSON, OTLP/gRPC LogsService).

mod support;

use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, InstrumentationScope, KeyValue, KeyValueList, any_value::Value,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use spanlens_collector::auth::hash_key;
use spanlens_collector::config::{ApiKeyConfig, Config};
use spanlens_collector::normalize::normalize_traces;
use spanlens_collector::storage::row::{LogRow, SpanRow};
use support::{TestCollector, otlp, post};

const PROTOBUF: (&str, &str) = ("content-type", "application/x-protobuf");
const JSON: (&str, &str) = ("content-type", "application/json");

/// The otel-openai-v2 scenarios that exported GenAI log records.
const SCENARIOS: [&str; 5] = ["a_simple", "b_stream", "c_tools", "d_fail", "e_workflow"];

fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/otlp/otel-openai-v2")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn fixture_traces(scenario: &str) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest::decode(fixture(&format!("{scenario}.pb")).as_slice()).unwrap()
}

/// The fixture spans as opentelemetry-util-genai sends them with content capture set to
/// EVENT_ONLY: the messages travel only in the log records.
fn without_content(mut request: ExportTraceServiceRequest) -> ExportTraceServiceRequest {
    const CONTENT: [&str; 3] = [
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.system_instructions",
    ];
    for span in request
        .resource_spans
        .iter_mut()
        .flat_map(|rs| &mut rs.scope_spans)
        .flat_map(|ss| &mut ss.spans)
    {
        span.attributes
            .retain(|kv| !CONTENT.contains(&kv.key.as_str()));
    }
    request
}

fn bearer(project: &str) -> String {
    format!("key-of-{project}")
}

fn config_with_projects(prefix: &str, projects: &[&str], window_ms: u64) -> Config {
    let mut config = support::test_config(prefix);
    config.pipeline.content_join_window_ms = window_ms;
    for project in projects {
        config.auth.keys.push(ApiKeyConfig {
            project: project.to_string(),
            key_sha256: Some(hash_key(&bearer(project))),
            ..Default::default()
        });
    }
    config
}

async fn send(
    t: &TestCollector,
    path: &str,
    project: &str,
    content_type: (&str, &str),
    body: Vec<u8>,
) -> Vec<u8> {
    let auth = format!("Bearer {}", bearer(project));
    let (status, _, reply) = post(
        &t.http_url(path),
        &[content_type, ("authorization", &auth)],
        body,
    )
    .await;
    assert_eq!(
        status,
        200,
        "{path} for {project}: {}",
        String::from_utf8_lossy(&reply)
    );
    reply
}

async fn spans_of(t: &TestCollector, project: &str) -> Vec<SpanRow> {
    t.ch.query("SELECT ?fields FROM spans WHERE project = ? ORDER BY start_time, span_id")
        .bind(project)
        .fetch_all()
        .await
        .unwrap()
}

async fn logs_of(t: &TestCollector, project: &str) -> Vec<LogRow> {
    t.ch.query("SELECT ?fields FROM logs WHERE project = ? ORDER BY timestamp, span_id")
        .bind(project)
        .fetch_all()
        .await
        .unwrap()
}

async fn count(t: &TestCollector, sql: &str, expected: u64) -> u64 {
    t.wait_for_count(sql, expected).await
}

/// What the span path stores for the fixture's own spans (which carry the messages too).
fn reference_rows() -> Vec<SpanRow> {
    SCENARIOS
        .iter()
        .flat_map(|s| normalize_traces(fixture_traces(s), "ref").rows)
        .collect()
}

const A_SIMPLE_INPUT: &str =
    r#"[{"role":"user","parts":[{"content":"Say hello to the fixture collector","type":"text"}]}]"#;
const A_SIMPLE_OUTPUT: &str = r#"[{"role":"assistant","parts":[{"content":"echo: Say hello to the fixture collector","type":"text"}],"finish_reason":"stop"}]"#;

/// Every stored span of `project` has the content the span path gives the original fixture
/// spans, and every log record is in the logs table.
async fn assert_joined(t: &TestCollector, project: &str) {
    let reference = reference_rows();
    assert_eq!(reference.len(), 7);
    let n = count(
        t,
        &format!("SELECT count() FROM spans WHERE project = '{project}'"),
        7,
    )
    .await;
    assert_eq!(n, 7, "{project}: span rows");
    let rows = spans_of(t, project).await;
    for want in &reference {
        let got = rows
            .iter()
            .find(|r| r.span_id == want.span_id)
            .expect("span stored");
        assert_eq!(got.input, want.input, "{project}: input of {}", want.name);
        assert_eq!(
            got.output, want.output,
            "{project}: output of {}",
            want.name
        );
        assert_eq!(
            got.finish_reasons, want.finish_reasons,
            "{project}: finish reasons of {}",
            want.name
        );
        assert_eq!(got.input_tokens, want.input_tokens);
    }
    let a = rows
        .iter()
        .find(|r| r.span_id == "0e85da89b5ebe200")
        .unwrap();
    assert_eq!(
        (a.input.as_str(), a.output.as_str()),
        (A_SIMPLE_INPUT, A_SIMPLE_OUTPUT)
    );
    let failed = rows
        .iter()
        .find(|r| r.span_id == "5121a9c56e863782")
        .unwrap();
    assert_eq!(failed.status_code, "Error");
    assert!(
        failed.input.contains("\"role\":\"user\""),
        "{}",
        failed.input
    );
    assert_eq!(failed.output, "");
    // The agent span has no content of its own and gets none.
    let agent = rows
        .iter()
        .find(|r| r.span_id == "b02ac35d9eafabfa")
        .unwrap();
    assert_eq!((agent.input.as_str(), agent.output.as_str()), ("", ""));

    let n = count(
        t,
        &format!("SELECT count() FROM logs WHERE project = '{project}'"),
        6,
    )
    .await;
    assert_eq!(n, 6, "{project}: one log row per record");
    let logs = logs_of(t, project).await;
    let first = logs
        .iter()
        .find(|l| l.span_id == "0e85da89b5ebe200")
        .unwrap();
    assert_eq!(
        first.event_name,
        "gen_ai.client.inference.operation.details"
    );
    assert_eq!(first.trace_id, "078311ac70788f135e454ec50caef75e");
    assert_eq!(
        (first.timestamp, first.observed_timestamp),
        (1_795_594_593_678_005_431, 1_795_594_593_678_005_431)
    );
    assert_eq!(first.service_name, "fixture-otel-openai-v2");
    assert_eq!(first.trace_flags, 3);
    assert!(first.log_attributes.contains(&(
        "gen_ai.input.messages".to_string(),
        A_SIMPLE_INPUT.to_string()
    )));
    assert!(
        logs.iter()
            .all(|l| l.event_name == "gen_ai.client.inference.operation.details")
    );
}

#[tokio::test]
async fn otel_openai_v2_fixture_content_joins_in_either_order() {
    // A long window: the spans-first half must be released by the content, not by the clock.
    let t = TestCollector::start_with(config_with_projects(
        "logs_fixture",
        &["logs_first", "spans_first"],
        30_000,
    ))
    .await;

    // Logs first (protobuf), then spans without content: merged on arrival, never held.
    for scenario in SCENARIOS {
        send(
            &t,
            "/v1/logs",
            "logs_first",
            PROTOBUF,
            fixture(&format!("{scenario}.logs.pb")),
        )
        .await;
    }
    let started = Instant::now();
    for scenario in SCENARIOS {
        send(
            &t,
            "/v1/traces",
            "logs_first",
            PROTOBUF,
            without_content(fixture_traces(scenario)).encode_to_vec(),
        )
        .await;
    }
    assert_joined(&t, "logs_first").await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "logs-first spans were held: {:?}",
        started.elapsed()
    );

    // Spans first. The service is known once it has sent content logs: a_simple's logs (JSON
    // this time) and spans go first, then the other spans wait until their logs come.
    send(
        &t,
        "/v1/logs",
        "spans_first",
        JSON,
        fixture("a_simple.logs.json"),
    )
    .await;
    send(
        &t,
        "/v1/traces",
        "spans_first",
        PROTOBUF,
        without_content(fixture_traces("a_simple")).encode_to_vec(),
    )
    .await;
    let started = Instant::now();
    for scenario in &SCENARIOS[1..] {
        send(
            &t,
            "/v1/traces",
            "spans_first",
            PROTOBUF,
            without_content(fixture_traces(scenario)).encode_to_vec(),
        )
        .await;
    }
    // Only a_simple's chat span and the agent span (not an LLM call: never held) are stored:
    // once those two are, and the join counts the 5 other LLM spans as held.
    t.wait_for_count("SELECT count() FROM spans WHERE project = 'spans_first'", 2)
        .await;
    support::wait_for_metric(&t.http_url(""), "spanlens_content_join_held_spans", 5).await;
    let stored: Vec<String> = spans_of(&t, "spans_first")
        .await
        .into_iter()
        .map(|r| r.span_id)
        .collect();
    assert_eq!(
        stored,
        vec![
            "0e85da89b5ebe200".to_string(),
            "b02ac35d9eafabfa".to_string()
        ],
        "held spans are not written yet"
    );
    for scenario in &SCENARIOS[1..] {
        send(
            &t,
            "/v1/logs",
            "spans_first",
            JSON,
            fixture(&format!("{scenario}.logs.json")),
        )
        .await;
    }
    assert_joined(&t, "spans_first").await;
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "held spans waited for the window: {:?}",
        started.elapsed()
    );

    let metrics = support::get(&t.http_url("/metrics")).await.1;
    for line in [
        "spanlens_log_records_received_total 12",
        "spanlens_log_records_accepted_total 12",
        "spanlens_rows_written_total{table=\"logs\"} 12",
        "spanlens_rows_written_total{table=\"spans\"} 14",
        // logs_first: 6 spans found waiting content; spans_first: a_simple's likewise, 5 held.
        "spanlens_content_join_spans_held_total 5",
        "spanlens_content_join_spans_merged_total 12",
        "spanlens_content_join_held_expired_total 0",
        "spanlens_content_join_held_spans 0",
        "spanlens_content_join_waiting_content 0",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "missing {line:?} in\n{metrics}"
        );
    }
    t.shutdown().await;
}

// ---- old-style GenAI events (opentelemetry-instrumentation-openai-v2 < 2.0) -----------------

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}
fn s(key: &str, v: &str) -> KeyValue {
    kv(key, Value::StringValue(v.into()))
}
fn kvlist(entries: Vec<KeyValue>) -> Value {
    Value::KvlistValue(KeyValueList { values: entries })
}

/// A chat span of service `service` with model and usage but no content attributes.
fn chat_span(trace: u8, span: u8) -> Span {
    Span {
        trace_id: otlp::trace_id(trace),
        span_id: otlp::span_id(span),
        name: "chat gpt-4o-mini".into(),
        kind: 3,
        start_time_unix_nano: otlp::T0 + span as u64,
        end_time_unix_nano: otlp::T0 + 1_000_000_000,
        attributes: vec![
            s("gen_ai.operation.name", "chat"),
            s("gen_ai.system", "openai"),
            s("gen_ai.request.model", "gpt-4o-mini"),
            kv("gen_ai.usage.input_tokens", Value::IntValue(11)),
        ],
        ..Default::default()
    }
}

fn traces(service: &str, spans: Vec<Span>) -> ExportTraceServiceRequest {
    let mut request = otlp::request(spans);
    request.resource_spans[0].resource = Some(Resource {
        attributes: vec![s("service.name", service)],
        ..Default::default()
    });
    request
}

/// The log records openai-v2 < 2.0 emits for one call: system and user messages (event name in
/// the `event.name` attribute, as older SDKs send it) and the choice (in `event_name`).
fn old_style_records(trace: u8, span: u8) -> Vec<LogRecord> {
    let record = |name: &str, in_attribute: bool, body: Value| LogRecord {
        time_unix_nano: otlp::T0 + 100,
        observed_time_unix_nano: otlp::T0 + 200,
        trace_id: otlp::trace_id(trace),
        span_id: otlp::span_id(span),
        flags: 1,
        severity_number: 9,
        event_name: if in_attribute {
            String::new()
        } else {
            name.into()
        },
        attributes: if in_attribute {
            vec![s("gen_ai.system", "openai"), s("event.name", name)]
        } else {
            vec![s("gen_ai.system", "openai")]
        },
        body: Some(AnyValue { value: Some(body) }),
        ..Default::default()
    };
    vec![
        record(
            "gen_ai.system.message",
            true,
            kvlist(vec![s("content", "Answer in one word.")]),
        ),
        record(
            "gen_ai.user.message",
            true,
            kvlist(vec![s("content", "What is OTLP?")]),
        ),
        record(
            "gen_ai.choice",
            false,
            kvlist(vec![
                kv("index", Value::IntValue(0)),
                s("finish_reason", "stop"),
                kv(
                    "message",
                    kvlist(vec![s("role", "assistant"), s("content", "Protocol.")]),
                ),
            ]),
        ),
    ]
}

fn logs(service: &str, records: Vec<LogRecord>) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![s("service.name", service)],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope {
                    name: "opentelemetry.instrumentation.openai_v2".into(),
                    ..Default::default()
                }),
                log_records: records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

const OLD_INPUT: &str = r#"[{"role":"system","content":"Answer in one word."},{"role":"user","content":"What is OTLP?"}]"#;
const OLD_OUTPUT: &str =
    r#"[{"role":"assistant","content":"Protocol.","index":0,"finish_reason":"stop"}]"#;

async fn wait_span(t: &TestCollector, project: &str, span: u8) -> SpanRow {
    let id = hex::encode(otlp::span_id(span));
    let sql = format!("SELECT count() FROM spans WHERE project = '{project}' AND span_id = '{id}'");
    assert_eq!(count(t, &sql, 1).await, 1, "span {id} of {project} stored");
    spans_of(t, project)
        .await
        .into_iter()
        .find(|r| r.span_id == id)
        .unwrap()
}

#[tokio::test]
async fn old_style_message_events_fill_a_span_without_content() {
    let t = TestCollector::start_with(config_with_projects(
        "logs_old",
        &["logs_first", "spans_first"],
        30_000,
    ))
    .await;

    // Logs first: all three records, then the span.
    send(
        &t,
        "/v1/logs",
        "logs_first",
        PROTOBUF,
        logs("old-bot", old_style_records(1, 2)).encode_to_vec(),
    )
    .await;
    send(
        &t,
        "/v1/traces",
        "logs_first",
        PROTOBUF,
        traces("old-bot", vec![chat_span(1, 2)]).encode_to_vec(),
    )
    .await;
    let row = wait_span(&t, "logs_first", 2).await;
    assert_eq!(
        (row.input.as_str(), row.output.as_str()),
        (OLD_INPUT, OLD_OUTPUT)
    );
    assert_eq!(row.finish_reasons, vec!["stop".to_string()]);
    assert_eq!(
        (
            row.observation_type.as_str(),
            row.provider.as_str(),
            row.input_tokens
        ),
        ("llm", "openai", Some(11))
    );
    // The message events stay in the logs table, bodies as JSON text.
    let sql = "SELECT count() FROM logs WHERE project = 'logs_first'";
    assert_eq!(count(&t, sql, 3).await, 3);
    let stored = logs_of(&t, "logs_first").await;
    let mut events: Vec<(String, String)> = stored
        .iter()
        .map(|l| (l.event_name.clone(), l.body.clone()))
        .collect();
    events.sort();
    assert_eq!(
        events,
        vec![
            ("gen_ai.choice".into(), r#"{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"Protocol."}}"#.into()),
            ("gen_ai.system.message".into(), r#"{"content":"Answer in one word."}"#.into()),
            ("gen_ai.user.message".into(), r#"{"content":"What is OTLP?"}"#.into()),
        ]
    );
    assert!(stored.iter().all(|l| l.timestamp == (otlp::T0 + 100) as i64
        && l.severity_number == 9
        && l.service_name == "old-bot"));

    // Spans first, over gRPC LogsService: an earlier call makes the service known, then the
    // span waits; its messages come in two exports (prompt, then choice).
    let mut grpc = LogsServiceClient::connect(format!("http://{}", t.grpc_addr()))
        .await
        .unwrap();
    let grpc_logs = |request: ExportLogsServiceRequest| {
        let mut request = tonic::Request::new(request);
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {}", bearer("spans_first")).parse().unwrap(),
        );
        request
    };
    let reply = grpc
        .export(grpc_logs(logs("old-bot", old_style_records(2, 1))))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.partial_success, None);
    send(
        &t,
        "/v1/traces",
        "spans_first",
        PROTOBUF,
        traces("old-bot", vec![chat_span(2, 1)]).encode_to_vec(),
    )
    .await;
    wait_span(&t, "spans_first", 1).await;

    send(
        &t,
        "/v1/traces",
        "spans_first",
        PROTOBUF,
        traces("old-bot", vec![chat_span(3, 2)]).encode_to_vec(),
    )
    .await;
    let mut records = old_style_records(3, 2);
    let choice = records.pop().unwrap();
    let offered = "spanlens_content_join_content_total";
    let metrics = support::get(&t.http_url("/metrics")).await.1;
    let before = support::metric(&metrics, offered);
    grpc.export(grpc_logs(logs("old-bot", records)))
        .await
        .unwrap();
    // The join took the prompt (one content item: the records of one span in one export) and
    // still holds the span.
    support::wait_for_metric(&t.http_url(""), offered, before + 1).await;
    let metrics = support::get(&t.http_url("/metrics")).await.1;
    assert_eq!(
        support::metric(&metrics, "spanlens_content_join_held_spans"),
        1,
        "the prompt alone does not complete the held span"
    );
    assert_eq!(spans_of(&t, "spans_first").await.len(), 1);
    grpc.export(grpc_logs(logs("old-bot", vec![choice])))
        .await
        .unwrap();
    let row = wait_span(&t, "spans_first", 2).await;
    assert_eq!(
        (row.input.as_str(), row.output.as_str()),
        (OLD_INPUT, OLD_OUTPUT)
    );
    assert_eq!(row.finish_reasons, vec!["stop".to_string()]);
    t.shutdown().await;
}

#[tokio::test]
async fn a_non_genai_record_is_only_in_the_logs_table() {
    let t = TestCollector::start("logs_plain").await;
    let record = LogRecord {
        time_unix_nano: otlp::T0 + 5,
        observed_time_unix_nano: otlp::T0 + 6,
        severity_number: 17,
        severity_text: "ERROR".into(),
        body: Some(AnyValue {
            value: Some(Value::StringValue("payment provider timed out".into())),
        }),
        attributes: vec![
            s("code.function", "charge"),
            kv("attempt", Value::IntValue(3)),
        ],
        trace_id: otlp::trace_id(7),
        span_id: otlp::span_id(2),
        flags: 1,
        ..Default::default()
    };
    // JSON body, gzip: the same decoder and limits as /v1/traces.
    let json = serde_json::to_vec(&logs("checkout-bot", vec![record])).unwrap();
    let reply = send(&t, "/v1/logs", "default", JSON, json).await;
    let reply: serde_json::Value = serde_json::from_slice(&reply).unwrap();
    assert!(
        reply.get("partialSuccess").is_none_or(|p| p.is_null()),
        "{reply}"
    );
    // The span of the same ids, without content: written at once, untouched.
    let mut request = otlp::agent_with_chat(7);
    let chat = &mut request.resource_spans[0].scope_spans[0].spans[1];
    chat.attributes.retain(|kv| !kv.key.ends_with(".messages"));
    send(
        &t,
        "/v1/traces",
        "default",
        PROTOBUF,
        request.encode_to_vec(),
    )
    .await;

    assert_eq!(count(&t, "SELECT count() FROM logs", 1).await, 1);
    let stored = logs_of(&t, "default").await;
    assert_eq!(
        stored,
        vec![LogRow {
            project: "default".into(),
            timestamp: (otlp::T0 + 5) as i64,
            observed_timestamp: (otlp::T0 + 6) as i64,
            trace_id: hex::encode(otlp::trace_id(7)),
            span_id: hex::encode(otlp::span_id(2)),
            trace_flags: 1,
            severity_text: "ERROR".into(),
            severity_number: 17,
            service_name: "checkout-bot".into(),
            event_name: String::new(),
            body: "payment provider timed out".into(),
            resource_attributes: vec![("service.name".into(), "checkout-bot".into())].into(),
            scope_name: "opentelemetry.instrumentation.openai_v2".into(),
            scope_version: String::new(),
            scope_attributes: vec![],
            log_attributes: vec![
                ("code.function".into(), "charge".into()),
                ("attempt".into(), "3".into())
            ],
        }]
    );
    let rows = t.spans(2).await;
    let chat = rows
        .iter()
        .find(|r| r.span_id == hex::encode(otlp::span_id(2)))
        .unwrap();
    assert_eq!((chat.input.as_str(), chat.output.as_str()), ("", ""));
    t.shutdown().await;
}

#[tokio::test]
async fn spans_wait_only_when_their_service_sends_content_and_shutdown_writes_held_spans() {
    let t = TestCollector::start_with(config_with_projects("logs_hold", &["p"], 60_000)).await;
    // "old-bot" sends content logs; "plain-bot" never does.
    send(
        &t,
        "/v1/logs",
        "p",
        PROTOBUF,
        logs("old-bot", old_style_records(1, 1)).encode_to_vec(),
    )
    .await;
    let started = Instant::now();
    send(
        &t,
        "/v1/traces",
        "p",
        PROTOBUF,
        traces("plain-bot", vec![chat_span(2, 1)]).encode_to_vec(),
    )
    .await;
    wait_span(&t, "p", 1).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a span of a service without content logs waited {:?}",
        started.elapsed()
    );

    // A span of the content-sending service waits (60 s window)...
    send(
        &t,
        "/v1/traces",
        "p",
        PROTOBUF,
        traces("old-bot", vec![chat_span(3, 2)]).encode_to_vec(),
    )
    .await;
    support::wait_for_metric(&t.http_url(""), "spanlens_content_join_held_spans", 1).await;
    assert_eq!(spans_of(&t, "p").await.len(), 1, "held");
    let metrics = support::get(&t.http_url("/metrics")).await.1;
    assert!(
        metrics.contains("\nspanlens_content_join_held_spans 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("\nspanlens_content_join_waiting_content 1\n"),
        "{metrics}"
    );

    // ...and a graceful shutdown writes it, unmerged, instead of losing it.
    let TestCollector {
        collector,
        config,
        ch,
    } = t;
    collector.shutdown().await;
    let rows: Vec<SpanRow> = ch
        .query("SELECT ?fields FROM spans ORDER BY span_id")
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (rows[1].span_id.as_str(), rows[1].input.as_str()),
        (hex::encode(otlp::span_id(2)).as_str(), "")
    );
    let _ = ch
        .query(&format!(
            "DROP DATABASE IF EXISTS {}",
            config.clickhouse.database
        ))
        .execute()
        .await;
}

#[tokio::test]
async fn a_held_span_is_released_at_the_end_of_the_window() {
    let t = TestCollector::start_with(config_with_projects("logs_window", &["p"], 700)).await;
    send(
        &t,
        "/v1/logs",
        "p",
        PROTOBUF,
        logs("old-bot", old_style_records(1, 1)).encode_to_vec(),
    )
    .await;
    let started = Instant::now();
    send(
        &t,
        "/v1/traces",
        "p",
        PROTOBUF,
        traces("old-bot", vec![chat_span(2, 1)]).encode_to_vec(),
    )
    .await;
    let row = wait_span(&t, "p", 1).await;
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(700),
        "released after {waited:?}, before the window"
    );
    assert_eq!(row.input, "");
    let metrics = support::get(&t.http_url("/metrics")).await.1;
    assert!(
        metrics.contains("\nspanlens_content_join_held_expired_total 1\n"),
        "{metrics}"
    );
    t.shutdown().await;
}

#[tokio::test]
async fn logs_receiver_errors_and_partial_success() {
    let t = TestCollector::start("logs_errors").await;
    let url = t.http_url("/v1/logs");
    let (status, _, body) = post(&url, &[PROTOBUF], vec![0x0a, 0xff, 0xff, 0x01]).await;
    assert_eq!(status, 400);
    assert!(
        String::from_utf8_lossy(&body).contains("invalid OTLP protobuf ExportLogsServiceRequest")
    );
    let (status, _, body) = post(&url, &[JSON], b"{\"resourceLogs\": 5}".to_vec()).await;
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("invalid OTLP/JSON"));
    let (status, _, _) = post(&url, &[("content-type", "text/plain")], b"x".to_vec()).await;
    assert_eq!(status, 415);

    let mut records = old_style_records(1, 1);
    records[1].span_id = vec![1, 2, 3];
    let (status, _, body) = post(&url, &[PROTOBUF], logs("bot", records).encode_to_vec()).await;
    assert_eq!(status, 200);
    let partial = ExportLogsServiceResponse::decode(&body[..])
        .unwrap()
        .partial_success
        .expect("partial_success");
    assert_eq!(partial.rejected_log_records, 1);
    assert_eq!(
        partial.error_message,
        "log record 1 of scope 'opentelemetry.instrumentation.openai_v2': span_id must be empty or 8 bytes, got 3"
    );
    assert_eq!(count(&t, "SELECT count() FROM logs", 2).await, 2);
    let metrics = support::get(&t.http_url("/metrics")).await.1;
    assert!(
        metrics.contains("spanlens_log_records_rejected_total{reason=\"invalid_record\"} 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("spanlens_requests_rejected_total{reason=\"bad_request\"} 3\n"),
        "{metrics}"
    );
    t.shutdown().await;
}

/// A held span was acknowledged: `kill -9` while it waits must not lose it. The restarted
/// collector finds it in the hold log and writes it (unmerged), once.
#[tokio::test]
async fn a_held_span_survives_kill_9_and_is_written_once() {
    let config = support::test_config("held_kill9");
    let window = ["--set", "pipeline.content_join_window_ms=60000"];
    let bin = env!("CARGO_BIN_EXE_spanlens-collector");
    let (mut child, http) = support::start_binary(bin, &config, &window);
    let content = logs("old-bot", old_style_records(1, 1)).encode_to_vec();
    assert_eq!(
        post(&format!("{http}/v1/logs"), &[PROTOBUF], content)
            .await
            .0,
        200
    );
    let held = traces("old-bot", vec![chat_span(3, 2)]).encode_to_vec();
    assert_eq!(
        post(&format!("{http}/v1/traces"), &[PROTOBUF], held)
            .await
            .0,
        200
    );
    let ch = support::server_client_for(&config);
    support::wait_for_metric(&http, "spanlens_content_join_held_spans", 1).await;
    let stored: u64 = ch
        .query("SELECT count() FROM spans")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(stored, 0, "the span waits for its content");
    child.kill().unwrap();
    let _ = child.wait();

    let (mut restarted, _) = support::start_binary(bin, &config, &window);
    let deadline = Instant::now() + Duration::from_secs(20);
    let rows: Vec<(String, String)> = loop {
        let rows = ch
            .query("SELECT span_id, input FROM spans")
            .fetch_all()
            .await
            .unwrap();
        if !rows.is_empty() || Instant::now() > deadline {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Everything the restarted collector holds or queues is written by a graceful stop: a second
    // copy would be stored by then.
    support::stop_gracefully(&mut restarted);
    let again: u64 = ch
        .query("SELECT count() FROM spans")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(rows, [(hex::encode(otlp::span_id(2)), String::new())]);
    assert_eq!(again, 1, "written once");
    support::drop_database(&config).await;
}
