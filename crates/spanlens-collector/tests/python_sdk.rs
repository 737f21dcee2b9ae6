//! The real OpenTelemetry Python SDK (tests/python/send_genai.py) sends GenAI chat spans over
//! OTLP HTTP/protobuf, HTTP/JSON and gRPC (plain and gzip); the stored rows must hold exactly
//! what it sent. It also sends chat spans without content plus GenAI event log records carrying
//! the prompt and completion (tests/python/send_genai_logs.py): the span rows must get them.

mod support;

use spanlens_collector::storage::row::SpanRow;
use support::TestCollector;

/// Runs the sender; returns the trace id it reports.
fn send(protocol: &str, endpoint: &str, gzip: bool, tag: &str) -> String {
    let mut args = vec!["--protocol", protocol, "--endpoint", endpoint, "--tag", tag];
    if gzip {
        args.push("--gzip");
    }
    let reply = support::run_python("send_genai.py", &args, &[]).unwrap();
    reply["trace_id"].as_str().unwrap().to_string()
}

fn assert_trace(rows: &[SpanRow], trace_id: &str, tag: &str) {
    let rows: Vec<&SpanRow> = rows.iter().filter(|r| r.trace_id == trace_id).collect();
    assert_eq!(rows.len(), 3, "trace {trace_id} ({tag})");
    let (agent, chat, failed) = (rows[0], rows[1], rows[2]);
    const T0: i64 = 1_764_000_000_000_000_000;

    assert_eq!(agent.name, "invoke_agent trip_planner");
    assert_eq!(agent.observation_type, "agent");
    assert_eq!(agent.parent_span_id, "");
    assert_eq!((agent.start_time, agent.duration_ns), (T0, 2_000_000_000));
    assert_eq!(agent.service_name, format!("py-{tag}"));
    assert_eq!(agent.environment, "test");
    assert_eq!(agent.scope_name, "spanlens.tests.python");

    assert_eq!(chat.parent_span_id, agent.span_id);
    assert_eq!(
        (chat.start_time, chat.duration_ns),
        (T0 + 100_000_000, 1_234_000_000)
    );
    assert_eq!(chat.kind, "Client");
    assert_eq!(chat.status_code, "Ok");
    assert_eq!(chat.observation_type, "llm");
    assert_eq!(chat.operation, "chat");
    assert_eq!(chat.provider, "openai");
    assert_eq!(chat.request_model, "gpt-4o-mini");
    assert_eq!(chat.response_model, "gpt-4o-mini-2024-07-18");
    assert_eq!(chat.response_id, format!("chatcmpl-{tag}"));
    assert_eq!(
        (chat.input_tokens, chat.output_tokens),
        (Some(42), Some(17))
    );
    assert_eq!(chat.temperature, Some(0.2));
    assert_eq!(chat.max_tokens, Some(300));
    assert_eq!(chat.finish_reasons, vec!["stop".to_string()]);
    // Cost from the bundled price table: gpt-4o-mini at $0.15 / $0.60 per million tokens.
    assert_eq!(chat.input_cost, Some(42.0 * 0.15 / 1e6));
    assert_eq!(chat.output_cost, Some(17.0 * 0.6 / 1e6));
    assert_eq!(chat.total_cost, Some(42.0 * 0.15 / 1e6 + 17.0 * 0.6 / 1e6));
    assert_eq!(agent.total_cost, None);
    assert!(
        chat.input
            .contains(&format!("Plan a trip to Lisbon ({tag})")),
        "{}",
        chat.input
    );
    assert!(chat.output.contains("Day 1: Alfama."), "{}", chat.output);

    assert_eq!(failed.parent_span_id, agent.span_id);
    assert_eq!(failed.status_code, "Error");
    assert_eq!(failed.status_message, "429 Too Many Requests");
    assert_eq!(failed.error_type, "RateLimitError");
    assert_eq!((failed.input_tokens, failed.output_tokens), (None, None));
    assert_eq!(failed.total_cost, None); // no tokens, no cost: NULL, never 0
}

#[tokio::test]
async fn python_sdk_over_http_protobuf_json_and_grpc() {
    let t = TestCollector::start("python").await;
    let http = format!("http://{}", t.collector.http_addr);
    let grpc = format!("http://{}", t.grpc_addr());
    let runs = [
        ("http/protobuf", &http, false, "pb"),
        ("http/protobuf", &http, true, "pbgz"),
        ("http/json", &http, false, "json"),
        ("http/json", &http, true, "jsongz"),
        ("grpc", &grpc, false, "grpc"),
        ("grpc", &grpc, true, "grpcgz"),
    ];
    let mut sent = Vec::new();
    for (protocol, endpoint, gzip, tag) in runs {
        let (protocol, endpoint, tag) = (protocol.to_string(), endpoint.clone(), tag.to_string());
        let trace_id = tokio::task::spawn_blocking({
            let tag = tag.clone();
            move || send(&protocol, &endpoint, gzip, &tag)
        })
        .await
        .unwrap();
        sent.push((trace_id, tag));
    }
    let rows = t.spans(3 * sent.len() as u64).await;
    for (trace_id, tag) in &sent {
        assert_trace(&rows, trace_id, tag);
    }
    t.shutdown().await;
}

/// Runs the logs sender; returns (trace id, span id) of its chat span.
fn send_logs(protocol: &str, endpoint: &str, style: &str, order: &str) -> (String, String) {
    let args = [
        "--protocol",
        protocol,
        "--endpoint",
        endpoint,
        "--style",
        style,
        "--order",
        order,
        "--service",
        "py-genai-bot",
    ];
    let reply = support::run_python("send_genai_logs.py", &args, &[]).unwrap();
    (
        reply["trace_id"].as_str().unwrap().to_string(),
        reply["span_id"].as_str().unwrap().to_string(),
    )
}

#[tokio::test]
async fn python_sdk_genai_event_logs_fill_their_spans() {
    let mut config = support::test_config("python_logs");
    config.pipeline.content_join_window_ms = 30_000;
    let t = TestCollector::start_with(config).await;
    let http = format!("http://{}", t.collector.http_addr);
    let grpc = t.grpc_addr().to_string();
    // The first run is logs-first (which also makes the service known); the later spans-first
    // runs wait for their records, which follow at once.
    let runs = [
        ("http/protobuf", &http, "events", "logs-first"),
        ("http/protobuf", &http, "details", "spans-first"),
        ("grpc", &grpc, "details", "logs-first"),
        ("grpc", &grpc, "events", "spans-first"),
    ];
    let started = std::time::Instant::now();
    let mut sent = Vec::new();
    for (protocol, endpoint, style, order) in runs {
        let (protocol, endpoint) = (protocol.to_string(), endpoint.clone());
        let ids =
            tokio::task::spawn_blocking(move || send_logs(&protocol, &endpoint, style, order))
                .await
                .unwrap();
        sent.push((ids, style, order));
    }
    let rows = t.spans(sent.len() as u64).await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(25),
        "spans were released by the window, not their logs"
    );
    for ((trace_id, span_id), style, order) in &sent {
        let row = rows
            .iter()
            .find(|r| &r.trace_id == trace_id && &r.span_id == span_id)
            .expect("chat span stored");
        let (input, output) = match *style {
            "details" => (
                r#"[{"role":"user","parts":[{"type":"text","content":"What is OTLP?"}]}]"#,
                r#"[{"role":"assistant","parts":[{"type":"text","content":"A protocol."}],"finish_reason":"stop"}]"#,
            ),
            _ => (
                r#"[{"role":"user","content":"What is OTLP?"}]"#,
                r#"[{"role":"assistant","content":"A protocol.","index":0,"finish_reason":"stop"}]"#,
            ),
        };
        assert_eq!(
            (row.input.as_str(), row.output.as_str()),
            (input, output),
            "{style} {order}"
        );
        assert_eq!(
            (row.observation_type.as_str(), row.service_name.as_str()),
            ("llm", "py-genai-bot")
        );
    }
    let logs = t
        .wait_for_count(
            "SELECT count() FROM logs WHERE service_name = 'py-genai-bot' AND span_id != ''",
            6,
        )
        .await;
    assert_eq!(logs, 6, "1 details record or 2 event records per run");
    t.shutdown().await;
}
