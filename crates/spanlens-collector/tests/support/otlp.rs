//! Builders for OTLP requests used by the receiver tests: one GenAI chat span under an agent span.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, any_value,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    ResourceSpans, ScopeSpans, Span, Status, span, status,
};

pub const T0: u64 = 1_764_000_000_000_000_000;

pub fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}
pub fn s(key: &str, v: &str) -> KeyValue {
    kv(key, any_value::Value::StringValue(v.into()))
}
pub fn i(key: &str, v: i64) -> KeyValue {
    kv(key, any_value::Value::IntValue(v))
}
pub fn strings(key: &str, v: &[&str]) -> KeyValue {
    let values = v
        .iter()
        .map(|x| AnyValue {
            value: Some(any_value::Value::StringValue(x.to_string())),
        })
        .collect();
    kv(key, any_value::Value::ArrayValue(ArrayValue { values }))
}

pub fn trace_id(n: u8) -> Vec<u8> {
    let mut id = vec![0xab; 16];
    id[15] = n;
    id
}
pub fn span_id(n: u8) -> Vec<u8> {
    let mut id = vec![0xcd; 8];
    id[7] = n;
    id
}

/// An `invoke_agent` span (id 1) with a `chat` child (id 2) that used gpt-4o-mini:
/// 11 input / 7 output tokens, 1.25 s long, current GenAI semconv names.
pub fn agent_with_chat(trace: u8) -> ExportTraceServiceRequest {
    let agent = Span {
        trace_id: trace_id(trace),
        span_id: span_id(1),
        name: "invoke_agent helper".into(),
        kind: span::SpanKind::Internal as i32,
        start_time_unix_nano: T0,
        end_time_unix_nano: T0 + 2_000_000_000,
        attributes: vec![
            s("gen_ai.operation.name", "invoke_agent"),
            s("gen_ai.agent.name", "helper"),
        ],
        ..Default::default()
    };
    let chat = Span {
        trace_id: trace_id(trace),
        span_id: span_id(2),
        parent_span_id: span_id(1),
        name: "chat gpt-4o-mini".into(),
        kind: span::SpanKind::Client as i32,
        start_time_unix_nano: T0 + 500_000_000,
        end_time_unix_nano: T0 + 1_750_000_000,
        attributes: vec![
            s("gen_ai.operation.name", "chat"),
            s("gen_ai.provider.name", "openai"),
            s("gen_ai.request.model", "gpt-4o-mini"),
            s("gen_ai.response.model", "gpt-4o-mini-2024-07-18"),
            i("gen_ai.usage.input_tokens", 11),
            i("gen_ai.usage.output_tokens", 7),
            s(
                "gen_ai.input.messages",
                r#"[{"role":"user","parts":[{"type":"text","content":"What is OTLP?"}]}]"#,
            ),
            s(
                "gen_ai.output.messages",
                r#"[{"role":"assistant","parts":[{"type":"text","content":"A protocol."}],"finish_reason":"stop"}]"#,
            ),
            strings("gen_ai.response.finish_reasons", &["stop"]),
            s("http.route", "/chat"),
        ],
        status: Some(Status {
            code: status::StatusCode::Ok as i32,
            message: String::new(),
        }),
        ..Default::default()
    };
    request(vec![agent, chat])
}

pub fn request(spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    s("service.name", "checkout-bot"),
                    s("deployment.environment.name", "staging"),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "test-scope".into(),
                    version: "1.2".into(),
                    ..Default::default()
                }),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}
