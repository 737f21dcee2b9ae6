//! Tests for normalization.
//!
//! 1. Fixture tests, table-driven over `tests/fixtures/otlp/*/expected.json` (real captures
//!    from six instrumentation libraries): every scenario is decoded from protobuf AND from
//!    OTLP/JSON, both must give identical rows, and every fact of expected.json is asserted.
//! 2. Unit tests: id validation, attribute stringification, events/links, and the convention
//!    edge cases the fixtures do not exercise.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList, any_value::Value,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span};
use prost::Message;
use serde_json::Value as J;

use super::otlp_json::decode_json_traces;
use super::table::{Col, OBSERVATION_TYPES, RULES};
use super::*;
use crate::storage::row::SpanRow;

// ================================================================================================
// Fixture tests
// ================================================================================================

// Where the fixtures are and how expected.json's values translate into columns: shared with the
// end-to-end fixture test (tests/fixtures_e2e.rs).
#[path = "../../tests/support/fixtures.rs"]
pub(super) mod fixture_support;
use fixture_support::{
    expected_kind, expected_observation_type, expected_operation, expected_status, fixtures_dir,
    libraries, read_json,
};

/// Decodes a scenario's trace files (protobuf and JSON), normalizes both and checks they agree.
fn load_rows(dir: &Path, files: &J, ctx: &str) -> Vec<SpanRow> {
    let names = |key: &str| -> Vec<String> {
        files[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (pbs, jsons) = (names("traces_pb"), names("traces_json"));
    assert!(!pbs.is_empty(), "{ctx}: no traces_pb");
    assert_eq!(
        pbs.len(),
        jsons.len(),
        "{ctx}: one JSON file per protobuf file"
    );
    let mut all = Vec::new();
    for (pb_name, json_name) in pbs.iter().zip(&jsons) {
        let pb_bytes = std::fs::read(dir.join(pb_name)).unwrap();
        // Where the library gzipped its export, the .pb.gz must be the same payload.
        let gz = dir.join(format!("{pb_name}.gz"));
        if gz.is_file() {
            use std::io::Read;
            let mut unzipped = Vec::new();
            flate2::read::GzDecoder::new(std::fs::File::open(&gz).unwrap())
                .read_to_end(&mut unzipped)
                .unwrap();
            assert_eq!(unzipped, pb_bytes, "{ctx}: {pb_name}.gz is not {pb_name}");
        }
        let from_pb = ExportTraceServiceRequest::decode(pb_bytes.as_slice())
            .unwrap_or_else(|e| panic!("{ctx}: {pb_name}: {e}"));
        let from_json = decode_json_traces(&std::fs::read(dir.join(json_name)).unwrap())
            .unwrap_or_else(|e| panic!("{ctx}: {json_name}: {e}"));
        assert_eq!(
            from_pb, from_json,
            "{ctx}: {pb_name} and {json_name} decode to different requests"
        );
        let a = normalize_traces(from_pb, "proj");
        let b = normalize_traces(from_json, "proj");
        assert_eq!(a.rejected_spans, 0, "{ctx}: {}", a.error_message);
        assert!(a.error_message.is_empty(), "{ctx}");
        assert_eq!(
            a.rows, b.rows,
            "{ctx}: protobuf and JSON give different rows"
        );
        all.extend(a.rows);
    }
    all
}

fn opt_str(v: &J) -> Option<&str> {
    v.as_str()
}

fn row_by_id<'a>(rows: &'a [SpanRow], span_id: &str, ctx: &str) -> &'a SpanRow {
    rows.iter()
        .find(|r| r.span_id == span_id)
        .unwrap_or_else(|| panic!("{ctx}: no row for span {span_id}"))
}

fn assert_text(actual: &str, expected: &J, what: &str, ctx: &str) {
    assert_eq!(actual, opt_str(expected).unwrap_or(""), "{ctx}: {what}");
}

fn assert_u64(actual: Option<u64>, expected: &J, what: &str, ctx: &str) {
    assert_eq!(actual, expected.as_u64(), "{ctx}: {what}");
}

#[test]
fn fixtures_all_libraries_and_scenarios() {
    let libs = libraries();
    assert!(
        libs.len() >= 6,
        "expected the six fixture libraries, found {libs:?}"
    );
    let mut scenarios_checked = 0;
    let mut calls_checked = 0;
    for dir in libs {
        let expected = read_json(&dir.join("expected.json"));
        let lib = expected["library"].as_str().unwrap().to_string();
        let scenarios = expected["scenarios"].as_object().expect("scenarios");
        assert!(!scenarios.is_empty(), "{lib}: no scenarios");
        for (scenario, exp) in scenarios {
            let ctx = format!("{lib}/{scenario}");
            let rows = load_rows(&dir, &exp["files"], &ctx);
            check_scenario(&rows, exp, &ctx);
            calls_checked += exp["llm_calls"].as_array().map_or(0, Vec::len);
            scenarios_checked += 1;
        }
    }
    assert!(
        scenarios_checked >= 25,
        "only {scenarios_checked} scenarios checked"
    );
    assert!(
        calls_checked >= 25,
        "only {calls_checked} LLM calls checked"
    );
}

fn check_scenario(rows: &[SpanRow], exp: &J, ctx: &str) {
    // Shape of the scenario.
    assert_eq!(
        rows.len() as u64,
        exp["span_count"].as_u64().unwrap(),
        "{ctx}: span_count"
    );
    let traces: BTreeSet<&str> = rows.iter().map(|r| r.trace_id.as_str()).collect();
    assert_eq!(
        traces.len() as u64,
        exp["trace_count"].as_u64().unwrap(),
        "{ctx}: trace_count"
    );
    let names_by_id: BTreeMap<&str, &str> = rows
        .iter()
        .map(|r| (r.span_id.as_str(), r.name.as_str()))
        .collect();

    for row in rows {
        assert!(
            OBSERVATION_TYPES.contains(&row.observation_type.as_str()),
            "{ctx}: {}",
            row.observation_type
        );
        assert_eq!(row.project, "proj");
        assert!(row.duration_ns > 0, "{ctx}: duration");
        assert!(!row.service_name.is_empty(), "{ctx}: service_name");
        // Every library but OpenInference records the deployment environment somewhere.
        let has_env = row
            .resource_attributes
            .iter()
            .chain(&row.span_attributes)
            .any(|(k, _)| k.contains("environment"));
        assert_eq!(
            row.environment,
            if has_env { "fixtures" } else { "" },
            "{ctx}: environment"
        );
    }

    // The span tree.
    let llm_calls: Vec<&J> = exp["llm_calls"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    for s in exp["spans"].as_array().expect("spans") {
        let span_id = s["span_id"].as_str().unwrap();
        let row = row_by_id(rows, span_id, ctx);
        let sctx = format!("{ctx} span {} ({span_id})", s["name"]);
        assert_eq!(row.name, s["name"].as_str().unwrap(), "{sctx}: name");
        assert_eq!(
            row.trace_id,
            s["trace_id"].as_str().unwrap(),
            "{sctx}: trace_id"
        );
        assert_text(
            &row.parent_span_id,
            &s["parent_span_id"],
            "parent_span_id",
            &sctx,
        );
        let parent_name = names_by_id.get(row.parent_span_id.as_str()).copied();
        assert_eq!(
            parent_name,
            opt_str(&s["parent_name"]),
            "{sctx}: parent name"
        );
        assert_eq!(
            row.kind,
            expected_kind(s["kind"].as_str().unwrap()),
            "{sctx}: kind"
        );
        assert_eq!(
            row.scope_name,
            s["scope"].as_str().unwrap(),
            "{sctx}: scope"
        );
        assert_eq!(
            row.status_code,
            expected_status(s["status"].as_str().unwrap()),
            "{sctx}: status"
        );
        let call = llm_calls
            .iter()
            .find(|c| c["span_id"] == s["span_id"])
            .copied();
        assert_eq!(
            row.observation_type,
            expected_observation_type(s["role"].as_str().unwrap(), call, &row.name),
            "{sctx}: observation_type"
        );
    }

    // Every LLM call.
    for call in &llm_calls {
        let span_id = call["span_id"].as_str().unwrap();
        let row = row_by_id(rows, span_id, ctx);
        let c = format!("{ctx} call {span_id}");
        assert_eq!(
            row.name,
            call["span_name"].as_str().unwrap(),
            "{c}: span_name"
        );
        let parent_name = names_by_id.get(row.parent_span_id.as_str()).copied();
        assert_eq!(
            parent_name,
            opt_str(&call["parent_span_name"]),
            "{c}: parent_span_name"
        );
        assert_text(
            &row.request_model,
            fixture_support::data_value(call, "request_model"),
            "request_model",
            &c,
        );
        assert_text(
            &row.response_model,
            fixture_support::data_value(call, "response_model"),
            "response_model",
            &c,
        );
        assert_text(&row.provider, &call["provider"], "provider", &c);
        assert_eq!(
            row.operation,
            expected_operation(call["operation"].as_str().unwrap()),
            "{c}: operation"
        );
        // Where the library's count differs from the API's, the data's count is stored.
        let tokens = |f| fixture_support::data_value(call, f);
        assert_u64(row.input_tokens, tokens("input_tokens"), "input_tokens", &c);
        assert_u64(
            row.output_tokens,
            tokens("output_tokens"),
            "output_tokens",
            &c,
        );
        assert_u64(row.total_tokens, &call["total_tokens"], "total_tokens", &c);
        // Cache parts, where the capture's expected.json records them (prompt caching).
        if call.get("cached_tokens").is_some() {
            assert_u64(
                row.cached_tokens,
                &call["cached_tokens"],
                "cached_tokens",
                &c,
            );
            let created = &call["cache_creation_tokens"];
            assert_u64(
                row.cache_creation_tokens,
                created,
                "cache_creation_tokens",
                &c,
            );
        }
        assert_eq!(
            row.is_streaming,
            call["streamed"].as_bool(),
            "{c}: streamed"
        );
        assert_eq!(
            row.time_to_first_token_ns.is_some(),
            call["ttft_present"].as_bool().unwrap(),
            "{c}: ttft_present"
        );
        if let Some(ttft) = row.time_to_first_token_ns {
            assert!(
                ttft <= row.duration_ns,
                "{c}: ttft {ttft} > duration {}",
                row.duration_ns
            );
        }
        let differs = &call["differs_from_truth"];
        match opt_str(fixture_support::traces_only_value(call, "prompt_contains")) {
            Some(p) => {
                assert!(
                    row.input.contains(p),
                    "{c}: input {:?} lacks {p:?}",
                    row.input
                );
                // Consumed into `input`, so not stored a second time in the attribute map.
                for (k, v) in &row.span_attributes {
                    assert!(
                        !v.contains(p),
                        "{c}: prompt text also kept in span attribute {k}"
                    );
                }
            }
            None if differs["prompt"].is_object()
                || fixture_support::known_absent(call, "prompt", true) =>
            {
                assert_eq!(row.input, "", "{c}: data has no prompt")
            }
            None => {}
        }
        match opt_str(fixture_support::traces_only_value(
            call,
            "completion_contains",
        )) {
            Some(p) => assert!(
                row.output.contains(p),
                "{c}: output {:?} lacks {p:?}",
                row.output
            ),
            None if differs["completion"].is_object()
                || fixture_support::known_absent(call, "completion", true) =>
            {
                assert_eq!(row.output, "", "{c}: data has no completion")
            }
            None => {}
        }
        match opt_str(fixture_support::traces_only_value(call, "finish_reason")) {
            Some(f) => assert_eq!(
                row.finish_reasons,
                vec![f.to_string()],
                "{c}: finish_reason"
            ),
            None => assert!(
                row.finish_reasons.is_empty(),
                "{c}: finish_reasons {:?}",
                row.finish_reasons
            ),
        }
        let response_id = fixture_support::data_value(call, "response_id");
        assert_text(&row.response_id, response_id, "response_id", &c);
        assert_text(&row.session_id, &call["session_id"], "session_id", &c);
        assert_text(&row.user_id, &call["user_id"], "user_id", &c);
        let error = call["error"].as_bool().unwrap();
        assert_eq!(row.status_code == "Error", error, "{c}: error");
        if error {
            assert!(
                !row.status_message.is_empty(),
                "{c}: error without a status message"
            );
        }
        // The differs_from_truth values are what the data says; they are asserted above
        // through the call's own fields. Make sure each one was one of those fields.
        if let Some(d) = differs.as_object() {
            for field in d.keys() {
                assert!(
                    fixture_support::DIFFERS_FIELDS
                        .iter()
                        .any(|(f, _)| f == field),
                    "{c}: unhandled differs_from_truth field {field}"
                );
            }
        }
    }

    // Scenario level facts.
    let any_error = rows.iter().any(|r| r.status_code == "Error");
    assert_eq!(any_error, exp["error"].as_bool().unwrap(), "{ctx}: error");
    let set = |key: &str| -> BTreeSet<String> {
        exp[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    let sessions: BTreeSet<String> = rows
        .iter()
        .filter(|r| !r.session_id.is_empty())
        .map(|r| r.session_id.clone())
        .collect();
    let users: BTreeSet<String> = rows
        .iter()
        .filter(|r| !r.user_id.is_empty())
        .map(|r| r.user_id.clone())
        .collect();
    assert_eq!(sessions, set("session_ids"), "{ctx}: session_ids");
    assert_eq!(users, set("user_ids"), "{ctx}: user_ids");
}

/// Same LLM call → same row, whichever library produced it: the a_simple scenario (one chat
/// call, same fake response — OpenAI's, or Anthropic's for the `*-anthropic` captures) must
/// agree on the columns every library records.
#[test]
fn fixtures_same_call_same_columns() {
    let mut seen = Vec::new();
    for dir in libraries() {
        let expected = read_json(&dir.join("expected.json"));
        let lib = expected["library"].as_str().unwrap().to_string();
        let Some(exp) = expected["scenarios"].get("a_simple") else {
            continue;
        };
        // Content a library sends only as log records is not in its traces (the content join
        // fills it; tests/fixtures_e2e.rs checks that).
        let content_on_spans = exp["llm_calls"][0]["from_logs"]
            .as_array()
            .is_none_or(|f| f.is_empty());
        let rows = load_rows(&dir, &exp["files"], &lib);
        // The call's row with content (a provider SDK's own span next to it has none).
        let llm = |r: &&SpanRow| r.observation_type == "llm";
        let call = rows
            .iter()
            .filter(llm)
            .find(|r| !r.input.is_empty())
            .or_else(|| rows.iter().find(llm))
            .expect("an llm row")
            .clone();
        // A library that does not record the response model is checked against what it records.
        let model = exp["llm_calls"][0]["differs_from_truth"]["response_model"]["data"]
            .as_str()
            .map(String::from);
        seen.push((lib, call, content_on_spans, model));
    }
    for (lib, row, content_on_spans, recorded_model) in &seen {
        assert_eq!(row.observation_type, "llm", "{lib}");
        // Gemini's API operation is generate_content (semconv), the others' chat.
        let operation = if lib == "google-genai" {
            "generate_content"
        } else {
            "chat"
        };
        assert_eq!(row.operation, operation, "{lib}");
        let model = match recorded_model {
            Some(model) => model.as_str(),
            None if lib.ends_with("-anthropic") => "claude-sonnet-4-5-20251001",
            None if lib == "google-genai" => "gemini-2.5-flash-001",
            None => "gpt-4o-mini-2024-07-18",
        };
        assert_eq!(row.response_model, model, "{lib}");
        assert_eq!(
            (row.input_tokens, row.output_tokens),
            (Some(6), Some(7)),
            "{lib}"
        );
        if *content_on_spans {
            // A JSON message list, or the request object around it (Langfuse JS: {messages}).
            let input: J =
                serde_json::from_str(&row.input).unwrap_or_else(|e| panic!("{lib}: {e}"));
            let msgs = if input.is_array() {
                &input
            } else {
                &input["messages"]
            };
            assert!(
                msgs.is_array(),
                "{lib}: input is a JSON message list: {}",
                row.input
            );
            assert_eq!(msgs[0]["role"], "user", "{lib}: {}", row.input);
            assert!(
                row.output
                    .contains("echo: Say hello to the fixture collector"),
                "{lib}"
            );
        }
        assert!(!row.is_streaming.unwrap_or(false), "{lib}");
        if row.temperature.is_some() {
            assert_eq!(row.temperature, Some(0.2), "{lib}");
        }
    }
}

/// Values the fixtures carry beyond expected.json, pinned so the table keeps reading them.
#[test]
fn fixtures_extra_columns() {
    let load = |lib: &str, scenario: &str| -> Vec<SpanRow> {
        let dir = fixtures_dir().join(lib);
        let expected = read_json(&dir.join("expected.json"));
        load_rows(
            &dir,
            &expected["scenarios"][scenario]["files"],
            &format!("{lib}/{scenario}"),
        )
    };
    // OpenLIT: cost and TTFT in seconds.
    let rows = load("openlit", "a_simple");
    let llm = rows.iter().find(|r| r.observation_type == "llm").unwrap();
    assert_eq!(llm.total_cost, Some(5.0999999999999995e-06));
    assert_eq!(llm.time_to_first_token_ns, Some(11_213_779));
    assert_eq!(
        (llm.cached_tokens, llm.max_tokens, llm.top_p),
        (Some(0), Some(64), Some(1.0))
    );
    assert!(
        !llm.span_attributes
            .iter()
            .any(|(k, _)| k == "gen_ai.usage.cost")
    );
    // Langfuse: ttft from completion_start_time, environment/release, tags and metadata.
    let rows = load("langfuse", "b_stream");
    let g = &rows[0];
    assert_eq!(
        g.time_to_first_token_ns,
        Some(1_795_594_616_225_871_000 - 1_795_594_616_216_218_155)
    );
    assert_eq!(
        (g.environment.as_str(), g.release.as_str()),
        ("fixtures", "fixtures-1")
    );
    assert_eq!(g.temperature, Some(0.0));
    assert_eq!(g.max_tokens, None, "\"Infinity\" is not a token count");
    assert_eq!((g.cached_tokens, g.reasoning_tokens), (Some(0), Some(0)));
    let rows = load("langfuse", "e_workflow");
    for r in &rows {
        assert_eq!(r.tags, vec!["fixtures", "workflow"]);
        assert_eq!(
            r.metadata,
            vec![("fixture".to_string(), "e_workflow".to_string())]
        );
    }
    let agent = rows.iter().find(|r| r.name == "fixture_agent").unwrap();
    assert_eq!(
        (agent.observation_type.as_str(), agent.operation.as_str()),
        ("agent", "invoke_agent")
    );
    let rows = load("langfuse", "d_fail");
    assert_eq!(
        (rows[0].input_cost, rows[0].output_cost, rows[0].total_cost),
        (Some(0.0), Some(0.0), Some(0.0))
    );
    // OpenInference: same metadata/tags shape as Langfuse; embeddings input is plain text.
    let rows = load("openinference", "e_workflow");
    for r in &rows {
        assert_eq!(r.tags, vec!["fixtures", "workflow"]);
        assert_eq!(
            r.metadata,
            vec![("fixture".to_string(), "e_workflow".to_string())]
        );
    }
    let rows = load("openinference", "f_embeddings");
    assert_eq!(rows[0].input, "fixture collector embeddings input");
    assert!(
        rows[0]
            .span_attributes
            .iter()
            .any(|(k, _)| k == "embedding.embeddings.0.embedding.vector")
    );
    // OpenInference tool call output rebuilt from flattened attributes.
    let rows = load("openinference", "c_tools");
    let out: J = serde_json::from_str(&rows[0].output).unwrap();
    assert_eq!(out[0]["role"], "assistant");
    assert_eq!(out[0]["tool_calls"][0]["function"]["name"], "get_weather");
    assert_eq!(out[0]["tool_calls"][0]["id"], "call_a08dcfb7");
    let inp: J = serde_json::from_str(&rows[0].input).unwrap();
    assert_eq!(inp[0]["role"], "system");
    assert_eq!(inp[1]["content"], "What is the weather in Paris today?");
    // Traceloop: TTFT from the first chunk event; chunk events are kept.
    let rows = load("traceloop", "b_stream");
    assert!(rows[0].time_to_first_token_ns.is_some());
    assert!(
        rows[0]
            .events_name
            .iter()
            .all(|n| n == "gen_ai.content.completion.chunk")
    );
    assert_eq!(rows[0].events_name.len(), 11);
    // Errors: error type from error.type, else the exception event; exception events kept.
    let rows = load("openinference", "d_fail");
    assert_eq!(rows[0].error_type, "openai.InternalServerError");
    assert_eq!(rows[0].events_name, vec!["exception"]);
    let rows = load("traceloop", "d_fail");
    assert_eq!(rows[0].error_type, "InternalServerError");
    let rows = load("langfuse", "d_fail");
    assert!(rows[0].status_message.starts_with("Error code: 500"));
    // Logfire: total from gen_ai.usage.raw, finish reasons sent as a JSON string.
    let rows = load("logfire", "a_simple");
    assert_eq!(rows[0].total_tokens, Some(13));
    assert_eq!(rows[0].finish_reasons, vec!["stop"]);
    assert_eq!(rows[0].tags, vec!["LLM"]);
    assert_eq!(rows[0].release, "1.0.0");
    // Semconv: the agent span carries the conversation id.
    let rows = load("otel-openai-v2", "e_workflow");
    let agent = rows.iter().find(|r| r.operation == "invoke_agent").unwrap();
    assert_eq!(
        (agent.observation_type.as_str(), agent.session_id.as_str()),
        ("agent", "session-fixture-001")
    );
}

// ================================================================================================
// Unit tests
// ================================================================================================

fn s(v: &str) -> Value {
    Value::StringValue(v.to_string())
}

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn arr(values: Vec<Value>) -> Value {
    Value::ArrayValue(ArrayValue {
        values: values
            .into_iter()
            .map(|v| AnyValue { value: Some(v) })
            .collect(),
    })
}

const START: u64 = 1_700_000_000_000_000_000;

fn span_with(id: u8, attrs: Vec<KeyValue>) -> Span {
    Span {
        trace_id: vec![1; 16],
        span_id: vec![id; 8],
        name: format!("span-{id}"),
        kind: 3,
        start_time_unix_nano: START,
        end_time_unix_nano: START + 1_000_000_000,
        attributes: attrs,
        ..Default::default()
    }
}

fn request(resource: Vec<KeyValue>, spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: resource,
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "x".into(),
                    version: "1.0".into(),
                    ..Default::default()
                }),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn one(attrs: Vec<KeyValue>) -> SpanRow {
    one_span(span_with(7, attrs))
}

fn one_span(span: Span) -> SpanRow {
    let mut n = normalize_traces(request(vec![kv("service.name", s("svc"))], vec![span]), "p");
    assert_eq!(n.rejected_spans, 0, "{}", n.error_message);
    n.rows.pop().unwrap()
}

fn attr<'a>(row: &'a SpanRow, key: &str) -> Option<&'a str> {
    row.span_attributes
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

#[test]
fn invalid_ids_are_rejected_and_neighbours_kept() {
    let mut short_trace = span_with(1, vec![]);
    short_trace.trace_id = vec![9; 5];
    let mut zero_span = span_with(2, vec![]);
    zero_span.span_id = vec![0; 8];
    let good = span_with(3, vec![]);
    let mut zero_trace = span_with(4, vec![]);
    zero_trace.trace_id = vec![0; 16];
    let mut bad_parent = span_with(5, vec![]);
    bad_parent.parent_span_id = vec![1; 3];
    let mut long_span = span_with(6, vec![]);
    long_span.span_id = vec![1; 16];
    let mut child = span_with(7, vec![]);
    child.parent_span_id = vec![3; 8];
    let mut zero_parent = span_with(8, vec![]);
    zero_parent.parent_span_id = vec![0; 8];
    let n = normalize_traces(
        request(
            vec![],
            vec![
                short_trace,
                zero_span,
                good,
                zero_trace,
                bad_parent,
                long_span,
                child,
                zero_parent,
            ],
        ),
        "p",
    );
    assert_eq!(n.rejected_spans, 5);
    assert_eq!(n.rows.len(), 3);
    assert_eq!(n.rows[0].span_id, "0303030303030303");
    assert_eq!(n.ids, [3, 7, 8].map(ids_of), "the kept rows' ids, in order");
    assert_eq!(n.rows[0].parent_span_id, "");
    assert_eq!(n.rows[1].parent_span_id, "0303030303030303");
    assert_eq!(
        n.rows[2].parent_span_id, "",
        "an all-zero parent id is no parent"
    );
    assert_eq!(
        n.error_message,
        "span 0 of scope 'x': trace_id must be 16 bytes, got 5; \
         span 1 of scope 'x': span_id must not be all zero; \
         span 3 of scope 'x': trace_id must not be all zero; \
         span 4 of scope 'x': parent_span_id must be empty or 8 bytes, got 3; \
         span 5 of scope 'x': span_id must be 8 bytes, got 16"
    );
    let mut many = Vec::new();
    for i in 0..8 {
        let mut bad = span_with(i + 1, vec![]);
        bad.trace_id.clear();
        many.push(bad);
    }
    let n = normalize_traces(request(vec![], many), "p");
    assert_eq!(n.rejected_spans, 8);
    assert!(
        n.error_message.ends_with("; and 3 more invalid span(s)"),
        "{}",
        n.error_message
    );
    let ok = normalize_traces(request(vec![], vec![span_with(1, vec![])]), "p");
    assert_eq!((ok.rejected_spans, ok.error_message.as_str()), (0, ""));
}

/// The ids `normalize_traces` gives a row made by `span_with(id, ..)`.
fn ids_of(id: u8) -> SpanIds {
    SpanIds {
        trace: u128::from_be_bytes([1; 16]),
        span: u64::from_be_bytes([id; 8]),
    }
}

/// A Logfire streaming companion joined into its call in the same request goes with its ids:
/// the ids stay those of the rows beside them.
#[test]
fn ids_stay_aligned_with_rows_when_a_companion_is_joined() {
    let model = || kv("gen_ai.request.model", s("gpt-4o"));
    let call = span_with(2, vec![kv("gen_ai.operation.name", s("chat")), model()]);
    let mut companion = span_with(
        3,
        vec![
            kv("logfire.span_type", s("log")),
            kv(
                "logfire.msg_template",
                s("streaming response from {request_data[model]!r} took {duration:.2f}s"),
            ),
            kv("gen_ai.response.model", s("gpt-4o-2024")),
            model(),
        ],
    );
    companion.start_time_unix_nano += 5_000_000_000;
    let spans = vec![span_with(1, vec![]), call, companion, span_with(4, vec![])];
    let mut req = request(vec![], spans);
    req.resource_spans[0].scope_spans[0]
        .scope
        .as_mut()
        .unwrap()
        .name = "logfire.openai".into();
    let n = normalize_traces(req, "p");
    assert_eq!(n.joined_companions, 1);
    assert_eq!(
        n.rows[1].response_model, "gpt-4o-2024",
        "joined into the call"
    );
    assert_eq!(n.ids, [1, 2, 4].map(ids_of));
    for (row, ids) in n.rows.iter().zip(&n.ids) {
        assert_eq!(row.span_id, format!("{:016x}", ids.span));
    }
}

#[test]
fn base_columns() {
    let mut sp = span_with(0xab, vec![kv("http.method", s("POST"))]);
    sp.trace_id = (0..16).collect();
    sp.parent_span_id = vec![0xcd; 8];
    sp.trace_state = "k=v".into();
    sp.kind = 2;
    sp.end_time_unix_nano = START - 5; // end before start → duration 0
    sp.status = Some(Status {
        code: 2,
        message: "boom".into(),
    });
    let n = normalize_traces(
        request(
            vec![
                kv("service.name", s("svc")),
                kv("service.version", s("9.9")),
                kv("deployment.environment.name", s("prod")),
            ],
            vec![sp],
        ),
        "tenant",
    );
    let r = &n.rows[0];
    assert_eq!(r.project, "tenant");
    assert_eq!(r.trace_id, "000102030405060708090a0b0c0d0e0f");
    assert_eq!(r.span_id, "abababababababab");
    assert_eq!(r.parent_span_id, "cdcdcdcdcdcdcdcd");
    assert_eq!((r.trace_state.as_str(), r.kind.as_str()), ("k=v", "Server"));
    assert_eq!((r.start_time, r.duration_ns), (START as i64, 0));
    assert_eq!(
        (r.status_code.as_str(), r.status_message.as_str()),
        ("Error", "boom")
    );
    assert_eq!(
        (r.scope_name.as_str(), r.scope_version.as_str()),
        ("x", "1.0")
    );
    assert_eq!(
        (
            r.service_name.as_str(),
            r.release.as_str(),
            r.environment.as_str()
        ),
        ("svc", "9.9", "prod")
    );
    assert_eq!(r.observation_type, "span");
    assert_eq!(r.operation, "");
    assert_eq!(
        (r.input_tokens, r.total_tokens, r.is_streaming, r.total_cost),
        (None, None, None, None)
    );
    assert_eq!(
        r.span_attributes,
        vec![("http.method".to_string(), "POST".to_string())]
    );
    assert_eq!(r.resource_attributes.len(), 3);
    for (k, name) in [
        (0, "Unspecified"),
        (1, "Internal"),
        (3, "Client"),
        (4, "Producer"),
        (5, "Consumer"),
        (42, "Unspecified"),
    ] {
        assert_eq!(kind_str(k), name);
    }
    assert_eq!(
        (status_str(0), status_str(1), status_str(2)),
        ("Unset", "Ok", "Error")
    );
}

#[test]
fn attribute_stringification() {
    let kvl = Value::KvlistValue(KeyValueList {
        values: vec![
            kv("a", Value::IntValue(1)),
            kv("b", s("x\"y")),
            KeyValue {
                key: "c".into(),
                value: None,
                ..Default::default()
            },
        ],
    });
    let r = one(vec![
        kv("str", s("plain \"text\"")),
        kv("int", Value::IntValue(-42)),
        kv("dbl", Value::DoubleValue(0.2)),
        kv("dbl_int", Value::DoubleValue(1.0)),
        kv("dbl_small", Value::DoubleValue(1e-7)),
        kv("dbl_big", Value::DoubleValue(1e21)),
        kv("dbl_openlit", Value::DoubleValue(5.0999999999999995e-06)),
        kv("nan", Value::DoubleValue(f64::NAN)),
        kv("bool", Value::BoolValue(true)),
        kv(
            "arr",
            arr(vec![
                s("a"),
                Value::IntValue(2),
                Value::DoubleValue(0.5),
                Value::BoolValue(false),
                Value::DoubleValue(f64::INFINITY),
            ]),
        ),
        kv("kvl", kvl),
        kv("bytes", Value::BytesValue(vec![0, 1, 2, 250])),
        kv("nested_bytes", arr(vec![Value::BytesValue(b"hi".to_vec())])),
        KeyValue {
            key: "empty".into(),
            value: None,
            ..Default::default()
        },
    ]);
    let want = [
        ("str", "plain \"text\""),
        ("int", "-42"),
        ("dbl", "0.2"),
        ("dbl_int", "1"),
        ("dbl_small", "1e-7"),
        ("dbl_big", "1e+21"),
        ("dbl_openlit", "0.0000050999999999999995"),
        ("nan", "NaN"),
        ("bool", "true"),
        ("arr", r#"["a",2,0.5,false,null]"#),
        ("kvl", r#"{"a":1,"b":"x\"y","c":null}"#),
        ("bytes", r#""AAEC+g==""#),
        ("nested_bytes", r#"["aGk="]"#),
        ("empty", ""),
    ];
    let got: Vec<(&str, &str)> = r
        .span_attributes
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(got, want);
    assert_eq!(value::format_double(-0.0), "-0");
    assert_eq!(value::format_double(123456.789), "123456.789");
}

#[test]
fn events_and_links_kept_like_the_exporter() {
    let mut sp = span_with(1, vec![]);
    sp.events = vec![
        span::Event {
            time_unix_nano: START + 10,
            name: "exception".into(),
            attributes: vec![
                kv("exception.type", s("ValueError")),
                kv("exception.escaped", Value::BoolValue(false)),
            ],
            ..Default::default()
        },
        span::Event {
            time_unix_nano: START + 20,
            name: "custom".into(),
            attributes: vec![],
            ..Default::default()
        },
    ];
    sp.links = vec![span::Link {
        trace_id: vec![0xaa; 16],
        span_id: vec![0xbb; 8],
        trace_state: "ts=1".into(),
        attributes: vec![kv("link.kind", s("follows")), kv("n", Value::IntValue(3))],
        ..Default::default()
    }];
    let r = one_span(sp);
    assert_eq!(
        r.events_time,
        vec![(START + 10) as i64, (START + 20) as i64]
    );
    assert_eq!(r.events_name, vec!["exception", "custom"]);
    assert_eq!(
        r.events_attributes,
        vec![
            vec![
                ("exception.type".to_string(), "ValueError".to_string()),
                ("exception.escaped".to_string(), "false".to_string())
            ],
            vec![]
        ]
    );
    assert_eq!(
        r.error_type, "ValueError",
        "error_type from the exception event"
    );
    assert_eq!(r.links_trace_id, vec!["aa".repeat(16)]);
    assert_eq!(r.links_span_id, vec!["bb".repeat(8)]);
    assert_eq!(r.links_trace_state, vec!["ts=1"]);
    assert_eq!(
        r.links_attributes,
        vec![vec![
            ("link.kind".to_string(), "follows".to_string()),
            ("n".to_string(), "3".to_string())
        ]]
    );
    // error.type wins over the exception event.
    let mut sp = span_with(1, vec![kv("error.type", s("timeout"))]);
    sp.events = vec![span::Event {
        name: "exception".into(),
        attributes: vec![kv("exception.type", s("X"))],
        ..Default::default()
    }];
    assert_eq!(one_span(sp).error_type, "timeout");
}

#[test]
fn semconv_current_names() {
    let r = one(vec![
        kv("gen_ai.operation.name", s("chat")),
        kv("gen_ai.provider.name", s("aws.bedrock")),
        kv("gen_ai.request.model", s("claude")),
        kv("gen_ai.response.model", s("claude-v2")),
        kv("gen_ai.request.temperature", Value::DoubleValue(0.5)),
        kv("gen_ai.request.max_tokens", Value::IntValue(100)),
        kv("gen_ai.request.top_p", Value::DoubleValue(0.9)),
        kv("gen_ai.request.stream", Value::BoolValue(true)),
        kv(
            "gen_ai.response.time_to_first_chunk",
            Value::DoubleValue(0.25),
        ),
        kv("gen_ai.response.id", s("resp-1")),
        kv(
            "gen_ai.response.finish_reasons",
            arr(vec![s("stop"), s("length")]),
        ),
        kv("gen_ai.usage.input_tokens", Value::IntValue(10)),
        kv("gen_ai.usage.output_tokens", Value::IntValue(5)),
        kv("gen_ai.usage.cache_read.input_tokens", Value::IntValue(4)),
        kv("gen_ai.usage.reasoning.output_tokens", Value::IntValue(2)),
        kv("gen_ai.conversation.id", s("conv-1")),
        kv(
            "gen_ai.input.messages",
            arr(vec![Value::KvlistValue(KeyValueList {
                values: vec![
                    kv("role", s("user")),
                    kv(
                        "parts",
                        arr(vec![Value::KvlistValue(KeyValueList {
                            values: vec![kv("type", s("text")), kv("content", s("hi"))],
                        })]),
                    ),
                ],
            })]),
        ),
        kv(
            "gen_ai.system_instructions",
            s(r#"[{"type":"text","content":"be brief"}]"#),
        ),
        kv(
            "gen_ai.output.messages",
            s(
                r#"[{"role":"assistant","parts":[{"type":"text","content":"hello"}],"finish_reason":"stop"}]"#,
            ),
        ),
        kv("server.address", s("bedrock.local")),
    ]);
    assert_eq!(
        (
            r.observation_type.as_str(),
            r.operation.as_str(),
            r.provider.as_str()
        ),
        ("llm", "chat", "aws.bedrock")
    );
    assert_eq!(
        (r.request_model.as_str(), r.response_model.as_str()),
        ("claude", "claude-v2")
    );
    assert_eq!(
        (r.temperature, r.max_tokens, r.top_p, r.is_streaming),
        (Some(0.5), Some(100), Some(0.9), Some(true))
    );
    assert_eq!(r.time_to_first_token_ns, Some(250_000_000));
    assert_eq!(
        (r.response_id.as_str(), r.session_id.as_str()),
        ("resp-1", "conv-1")
    );
    assert_eq!(r.finish_reasons, vec!["stop", "length"]);
    assert_eq!(
        (r.input_tokens, r.output_tokens, r.total_tokens),
        (Some(10), Some(5), None),
        "no total is invented"
    );
    assert_eq!((r.cached_tokens, r.reasoning_tokens), (Some(4), Some(2)));
    // Structured messages become JSON text; system instructions are folded in as a leading
    // system message and not kept twice.
    let input: J = serde_json::from_str(&r.input).unwrap();
    assert_eq!(input[0]["role"], "system");
    assert_eq!(input[0]["parts"][0]["content"], "be brief");
    assert_eq!(input[1]["parts"][0]["content"], "hi");
    assert!(r.output.starts_with(r#"[{"role":"assistant""#));
    assert_eq!(
        r.span_attributes,
        vec![("server.address".to_string(), "bedrock.local".to_string())]
    );

    // When the list already has a system message (OpenLIT duplicates it), input is kept as sent.
    let sent = r#"[{"role":"system","parts":[{"type":"text","content":"sys"}]},{"role":"user","parts":[]}]"#;
    let r = one(vec![
        kv("gen_ai.operation.name", s("chat")),
        kv("gen_ai.input.messages", s(sent)),
        kv(
            "gen_ai.system_instructions",
            s(r#"[{"type":"text","content":"sys"}]"#),
        ),
    ]);
    assert_eq!(r.input, sent);
    assert!(attr(&r, "gen_ai.system_instructions").is_none());
}

#[test]
fn semconv_operations_and_tools() {
    let tool = one(vec![
        kv("gen_ai.operation.name", s("execute_tool")),
        kv("gen_ai.tool.name", s("get_weather")),
        kv("gen_ai.tool.call.arguments", s(r#"{"city":"Paris"}"#)),
        kv("gen_ai.tool.call.result", s("rainy")),
    ]);
    assert_eq!(
        (tool.observation_type.as_str(), tool.operation.as_str()),
        ("tool", "execute_tool")
    );
    assert_eq!(
        (tool.input.as_str(), tool.output.as_str()),
        (r#"{"city":"Paris"}"#, "rainy")
    );
    assert_eq!(
        attr(&tool, "gen_ai.tool.name"),
        Some("get_weather"),
        "unmapped attributes stay"
    );
    // A tool span without operation name (e.g. Pydantic AI) is still a tool.
    let tool = one(vec![kv("gen_ai.tool.name", s("search"))]);
    assert_eq!(
        (tool.observation_type.as_str(), tool.operation.as_str()),
        ("tool", "execute_tool")
    );
    let agent = one(vec![
        kv("gen_ai.operation.name", s("invoke_agent")),
        kv("gen_ai.agent.name", s("a")),
    ]);
    assert_eq!(
        (agent.observation_type.as_str(), agent.operation.as_str()),
        ("agent", "invoke_agent")
    );
    let emb = one(vec![kv("gen_ai.operation.name", s("embedding"))]);
    assert_eq!(
        (emb.observation_type.as_str(), emb.operation.as_str()),
        ("embedding", "embeddings")
    );
    let comp = one(vec![kv("gen_ai.operation.name", s("completion"))]);
    assert_eq!(
        (comp.observation_type.as_str(), comp.operation.as_str()),
        ("llm", "text_completion")
    );
    let custom = one(vec![
        kv("gen_ai.operation.name", s("transcribe")),
        kv("gen_ai.request.model", s("whisper")),
    ]);
    assert_eq!(
        (custom.observation_type.as_str(), custom.operation.as_str()),
        ("llm", "transcribe")
    );
}

#[test]
fn semconv_deprecated_names_and_flattened_lists() {
    let r = one(vec![
        kv("gen_ai.system", s("Anthropic")),
        kv("llm.request.type", s("chat")),
        kv("gen_ai.usage.prompt_tokens", Value::IntValue(11)),
        kv("gen_ai.usage.completion_tokens", s("3")),
        kv("llm.usage.total_tokens", Value::IntValue(14)),
        kv("gen_ai.usage.cache_read_input_tokens", Value::IntValue(1)),
        kv("llm.is_streaming", Value::BoolValue(false)),
        kv("gen_ai.prompt.0.role", s("system")),
        kv("gen_ai.prompt.0.content", s("You are terse.")),
        kv("gen_ai.prompt.1.role", s("user")),
        kv("gen_ai.prompt.1.content", s("Weather?")),
        kv("gen_ai.completion.0.role", s("assistant")),
        kv("gen_ai.completion.0.finish_reason", s("tool_calls")),
        kv("gen_ai.completion.0.tool_calls.0.name", s("get_weather")),
        kv(
            "gen_ai.completion.0.tool_calls.0.arguments",
            s(r#"{"city":"Paris"}"#),
        ),
        kv("gen_ai.completion.0.tool_calls.0.id", s("call_1")),
        kv("gen_ai.prompt_caching", s("unrelated")),
    ]);
    assert_eq!(
        (
            r.observation_type.as_str(),
            r.operation.as_str(),
            r.provider.as_str()
        ),
        ("llm", "chat", "anthropic")
    );
    assert_eq!(
        (
            r.input_tokens,
            r.output_tokens,
            r.total_tokens,
            r.cached_tokens
        ),
        (Some(11), Some(3), Some(14), Some(1))
    );
    assert_eq!(r.is_streaming, Some(false));
    let input: J = serde_json::from_str(&r.input).unwrap();
    assert_eq!(
        input,
        serde_json::json!([{"role":"system","content":"You are terse."},{"role":"user","content":"Weather?"}])
    );
    let output: J = serde_json::from_str(&r.output).unwrap();
    assert_eq!(
        output,
        serde_json::json!([{"role":"assistant","finish_reason":"tool_calls","tool_calls":[{"name":"get_weather","arguments":"{\"city\":\"Paris\"}","id":"call_1"}]}])
    );
    assert_eq!(r.finish_reasons, vec!["tool_calls"]);
    // Only the non-list attribute remains.
    // Only the non-list attribute and the classification attribute (peeked, not consumed) remain.
    let keys: Vec<&str> = r.span_attributes.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, vec!["llm.request.type", "gen_ai.prompt_caching"]);
}

#[test]
fn semconv_message_events() {
    let ev = |name: &str, attrs: Vec<KeyValue>, t: u64| span::Event {
        time_unix_nano: START + t,
        name: name.into(),
        attributes: attrs,
        ..Default::default()
    };
    let mut sp = span_with(1, vec![kv("gen_ai.operation.name", s("chat"))]);
    sp.events = vec![
        ev(
            "gen_ai.system.message",
            vec![
                kv("gen_ai.system", s("openai")),
                kv("content", s("be nice")),
            ],
            1,
        ),
        ev("gen_ai.user.message", vec![kv("content", s("hello?"))], 2),
        ev(
            "gen_ai.assistant.message",
            vec![kv(
                "tool_calls",
                s(r#"[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]"#),
            )],
            3,
        ),
        ev(
            "gen_ai.tool.message",
            vec![kv(
                "gen_ai.event.content",
                s(r#"{"content":"42","id":"c1"}"#),
            )],
            4,
        ),
        ev(
            "gen_ai.choice",
            vec![
                kv("index", Value::IntValue(0)),
                kv("finish_reason", s("stop")),
                kv("message", s(r#"{"content":"hi there"}"#)),
            ],
            5,
        ),
        ev("exception", vec![kv("exception.type", s("E"))], 6),
    ];
    let r = one_span(sp);
    let input: J = serde_json::from_str(&r.input).unwrap();
    assert_eq!(
        input,
        serde_json::json!([
            {"role":"system","content":"be nice"},
            {"role":"user","content":"hello?"},
            {"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},
            {"role":"tool","content":"42","id":"c1"}
        ])
    );
    let output: J = serde_json::from_str(&r.output).unwrap();
    assert_eq!(
        output,
        serde_json::json!([{"content":"hi there","index":0,"finish_reason":"stop","role":"assistant"}])
    );
    assert_eq!(r.finish_reasons, vec!["stop"]);
    assert_eq!(
        r.events_name,
        vec!["exception"],
        "message events consumed, the exception kept"
    );
    assert_eq!(r.error_type, "E");

    // Older semconv: one prompt / completion event carrying the whole JSON.
    let mut sp = span_with(1, vec![]);
    sp.events = vec![
        ev(
            "gen_ai.content.prompt",
            vec![kv("gen_ai.prompt", s(r#"[{"role":"user","content":"q"}]"#))],
            1,
        ),
        ev(
            "gen_ai.content.completion",
            vec![kv(
                "gen_ai.completion",
                s(r#"[{"role":"assistant","content":"a"}]"#),
            )],
            2,
        ),
    ];
    let r = one_span(sp);
    assert_eq!(
        (r.input.as_str(), r.output.as_str()),
        (
            r#"[{"role":"user","content":"q"}]"#,
            r#"[{"role":"assistant","content":"a"}]"#
        )
    );
    assert!(r.events_name.is_empty());
}

#[test]
fn openinference_edge_cases() {
    let r = one(vec![
        kv("openinference.span.kind", s("LLM")),
        kv("llm.provider", s("azure")),
        kv("llm.system", s("openai")),
        kv("llm.model_name", s("gpt-4o-2024")),
        kv(
            "llm.invocation_parameters",
            s(
                r#"{"model":"gpt-4o","stream":true,"temperature":0.1,"max_completion_tokens":50,"top_p":0.5}"#,
            ),
        ),
        kv("llm.token_count.prompt", Value::IntValue(9)),
        kv("llm.token_count.completion", Value::IntValue(4)),
        kv("llm.token_count.total", Value::IntValue(13)),
        kv(
            "llm.token_count.prompt_details.cache_read",
            Value::IntValue(8),
        ),
        kv(
            "llm.token_count.completion_details.reasoning",
            Value::IntValue(3),
        ),
        kv("llm.cost.prompt", Value::DoubleValue(0.001)),
        kv("llm.cost.completion", Value::DoubleValue(0.002)),
        kv("llm.cost.total", Value::DoubleValue(0.003)),
        kv("llm.prompt_template.template", s("Hi {name}")),
        kv("llm.prompt_template.version", s("v3")),
        kv("prompt.id", s("greeting")),
        kv("llm.input_messages.0.message.role", s("user")),
        kv(
            "llm.input_messages.0.message.contents.0.message_content.type",
            s("text"),
        ),
        kv(
            "llm.input_messages.0.message.contents.0.message_content.text",
            s("what is this?"),
        ),
        kv(
            "llm.input_messages.0.message.contents.1.message_content.type",
            s("image"),
        ),
        kv(
            "llm.input_messages.0.message.contents.1.message_content.image.image.url",
            s("http://img"),
        ),
        kv("llm.output_messages.0.message.role", s("assistant")),
        kv("llm.output_messages.0.message.content", s("a cat")),
        kv("input.value", s(r#"{"messages":[]}"#)),
        kv("output.value", s(r#"{"id":"chatcmpl-9","choices":[]}"#)),
        kv("session.id", s("s1")),
        kv("user.id", s("u1")),
        kv("tag.tags", arr(vec![s("a"), s("b")])),
        kv("metadata", s(r#"{"k":"v","n":1}"#)),
    ]);
    assert_eq!(
        (
            r.observation_type.as_str(),
            r.operation.as_str(),
            r.provider.as_str()
        ),
        ("llm", "chat", "azure.ai.openai")
    );
    assert_eq!(
        (r.request_model.as_str(), r.response_model.as_str()),
        ("gpt-4o", "gpt-4o-2024")
    );
    assert_eq!(
        (r.is_streaming, r.temperature, r.max_tokens, r.top_p),
        (Some(true), Some(0.1), Some(50), Some(0.5))
    );
    assert_eq!(
        (
            r.input_tokens,
            r.output_tokens,
            r.total_tokens,
            r.cached_tokens,
            r.reasoning_tokens
        ),
        (Some(9), Some(4), Some(13), Some(8), Some(3))
    );
    assert_eq!(
        (r.input_cost, r.output_cost, r.total_cost),
        (Some(0.001), Some(0.002), Some(0.003))
    );
    assert_eq!(
        (r.prompt_name.as_str(), r.prompt_version.as_str()),
        ("greeting", "v3")
    );
    assert_eq!(r.response_id, "chatcmpl-9");
    assert_eq!((r.session_id.as_str(), r.user_id.as_str()), ("s1", "u1"));
    assert_eq!(r.tags, vec!["a", "b"]);
    assert_eq!(
        r.metadata,
        vec![
            ("k".to_string(), "v".to_string()),
            ("n".to_string(), "1".to_string())
        ]
    );
    let input: J = serde_json::from_str(&r.input).unwrap();
    assert_eq!(
        input,
        serde_json::json!([{"role":"user","contents":[{"type":"text","text":"what is this?"},{"type":"image","image":{"image":{"url":"http://img"}}}]}])
    );
    assert_eq!(r.output, r#"[{"role":"assistant","content":"a cat"}]"#);
    let keys: Vec<&str> = r.span_attributes.iter().map(|(k, _)| k.as_str()).collect();
    // input.value / output.value lost to the rebuilt message lists and are not kept twice;
    // the span kind and parameter object (peeked) and the template stay.
    assert_eq!(
        keys,
        vec![
            "openinference.span.kind",
            "llm.invocation_parameters",
            "llm.prompt_template.template"
        ]
    );

    // Span kinds.
    for (kind, obs, op) in [
        ("CHAIN", "chain", ""),
        ("TOOL", "tool", "execute_tool"),
        ("AGENT", "agent", "invoke_agent"),
        ("RETRIEVER", "retrieval", "retrieval"),
        ("RERANKER", "retrieval", "rerank"),
        ("GUARDRAIL", "guardrail", ""),
        ("EVALUATOR", "evaluator", ""),
        ("EMBEDDING", "embedding", "embeddings"),
        ("UNKNOWN", "span", ""),
    ] {
        let r = one(vec![kv("openinference.span.kind", s(kind))]);
        assert_eq!(
            (r.observation_type.as_str(), r.operation.as_str()),
            (obs, op),
            "{kind}"
        );
    }
    // Retriever output: documents rebuilt; chain input/output plain text stays plain.
    let r = one(vec![
        kv("openinference.span.kind", s("RETRIEVER")),
        kv("input.value", s("what is rust")),
        kv("retrieval.documents.0.document.id", s("d1")),
        kv(
            "retrieval.documents.0.document.content",
            s("Rust is a language"),
        ),
        kv(
            "retrieval.documents.0.document.score",
            Value::DoubleValue(0.9),
        ),
    ]);
    assert_eq!(r.input, "what is rust");
    assert_eq!(
        serde_json::from_str::<J>(&r.output).unwrap(),
        serde_json::json!([{"id":"d1","content":"Rust is a language","score":0.9}])
    );
    // Text completion API: llm.prompts → text_completion, plain text prompt.
    let r = one(vec![
        kv("openinference.span.kind", s("LLM")),
        kv("llm.prompts.0.prompt.text", s("Once upon")),
        kv("llm.choices.0.completion.text", s(" a time")),
    ]);
    assert_eq!(
        (r.operation.as_str(), r.input.as_str(), r.output.as_str()),
        ("text_completion", "Once upon", " a time")
    );
    // Several embedding texts → JSON array of strings.
    let r = one(vec![
        kv("openinference.span.kind", s("EMBEDDING")),
        kv("embedding.embeddings.1.embedding.text", s("b")),
        kv("embedding.embeddings.0.embedding.text", s("a")),
        kv("embedding.model_name", s("emb")),
    ]);
    assert_eq!(
        (r.input.as_str(), r.response_model.as_str()),
        (r#"["a","b"]"#, "emb")
    );
}

#[test]
fn traceloop_edge_cases() {
    let r = one(vec![
        kv("traceloop.span.kind", s("workflow")),
        kv("traceloop.entity.input", s(r#"{"args":[1]}"#)),
        kv("traceloop.entity.output", s("done")),
        kv("traceloop.association.properties.session_id", s("s9")),
        kv("traceloop.association.properties.user_id", s("u9")),
        kv("traceloop.association.properties.tenant", s("acme")),
        kv("traceloop.prompt.key", s("welcome")),
        kv("traceloop.prompt.version", Value::IntValue(4)),
    ]);
    assert_eq!(
        (r.observation_type.as_str(), r.operation.as_str()),
        ("chain", "")
    );
    assert_eq!(
        (r.input.as_str(), r.output.as_str()),
        (r#"{"args":[1]}"#, "done")
    );
    assert_eq!((r.session_id.as_str(), r.user_id.as_str()), ("s9", "u9"));
    assert_eq!(
        (r.prompt_name.as_str(), r.prompt_version.as_str()),
        ("welcome", "4")
    );
    assert_eq!(
        r.metadata,
        vec![
            ("session_id".to_string(), "s9".to_string()),
            ("user_id".to_string(), "u9".to_string()),
            ("tenant".to_string(), "acme".to_string())
        ]
    );
    for (kind, obs) in [
        ("task", "chain"),
        ("agent", "agent"),
        ("tool", "tool"),
        ("other", "span"),
    ] {
        assert_eq!(
            one(vec![kv("traceloop.span.kind", s(kind))]).observation_type,
            obs,
            "{kind}"
        );
    }
    let r = one(vec![
        kv("llm.request.type", s("embedding")),
        kv("llm.vendor", s("OpenAI")),
        kv("llm.request.model", s("m")),
        kv("llm.response.model", s("m-1")),
    ]);
    assert_eq!(
        (
            r.observation_type.as_str(),
            r.operation.as_str(),
            r.provider.as_str()
        ),
        ("embedding", "embeddings", "openai")
    );
    assert_eq!(
        (r.request_model.as_str(), r.response_model.as_str()),
        ("m", "m-1")
    );
}

#[test]
fn langfuse_edge_cases() {
    let mut sp = span_with(
        1,
        vec![
            kv("langfuse.observation.type", s("generation")),
            kv("langfuse.observation.model.name", s("claude-3")),
            kv(
                "langfuse.observation.model.parameters",
                s(r#"{"temperature":0.7,"max_tokens":256,"top_p":"0.9"}"#),
            ),
            kv(
                "langfuse.observation.usage_details",
                s(
                    r#"{"input":100,"output":20,"total":120,"input_cached_tokens":60,"output_reasoning_tokens":5}"#,
                ),
            ),
            kv(
                "langfuse.observation.cost_details",
                s(r#"{"input":0.01,"output":0.02,"total":0.03}"#),
            ),
            kv(
                "langfuse.observation.completion_start_time",
                s("2023-11-14T22:13:20.5+00:00"),
            ),
            kv("langfuse.observation.prompt.name", s("qa")),
            kv("langfuse.observation.prompt.version", Value::IntValue(2)),
            kv("langfuse.observation.level", s("ERROR")),
            kv("langfuse.observation.status_message", s("rate limited")),
            kv("langfuse.observation.metadata.step", s("\"plan\"")),
            kv("langfuse.observation.metadata.n", s("3")),
            kv(
                "langfuse.trace.metadata",
                s(r#"{"team":"search","step":"ignored"}"#),
            ),
            kv("langfuse.trace.tags", s(r#"["a","b"]"#)),
            kv("langfuse.session.id", s("lf-session")),
            kv("session.id", s("otel-session")),
            kv("langfuse.user.id", s("lf-user")),
            kv("langfuse.trace.name", s("my trace")),
        ],
    );
    sp.start_time_unix_nano = 1_700_000_000_000_000_000; // 2023-11-14T22:13:20Z
    let n = normalize_traces(
        request(
            vec![
                kv("langfuse.environment", s("staging")),
                kv("langfuse.release", s("r1")),
            ],
            vec![sp],
        ),
        "p",
    );
    let r = &n.rows[0];
    assert_eq!(
        (
            r.observation_type.as_str(),
            r.operation.as_str(),
            r.provider.as_str()
        ),
        ("llm", "chat", "")
    );
    assert_eq!(
        (r.request_model.as_str(), r.response_model.as_str()),
        ("", "claude-3")
    );
    assert_eq!(
        (r.temperature, r.max_tokens, r.top_p),
        (Some(0.7), Some(256), Some(0.9))
    );
    assert_eq!(
        (
            r.input_tokens,
            r.output_tokens,
            r.total_tokens,
            r.cached_tokens,
            r.reasoning_tokens
        ),
        (Some(100), Some(20), Some(120), Some(60), Some(5))
    );
    assert_eq!(
        (r.input_cost, r.output_cost, r.total_cost),
        (Some(0.01), Some(0.02), Some(0.03))
    );
    assert_eq!(
        (r.time_to_first_token_ns, r.is_streaming),
        (Some(500_000_000), Some(true))
    );
    assert_eq!(
        (r.prompt_name.as_str(), r.prompt_version.as_str()),
        ("qa", "2")
    );
    assert_eq!(
        (r.status_code.as_str(), r.status_message.as_str()),
        ("Error", "rate limited")
    );
    assert_eq!(
        (r.session_id.as_str(), r.user_id.as_str()),
        ("lf-session", "lf-user")
    );
    assert_eq!(r.tags, vec!["a", "b"]);
    assert_eq!(
        r.metadata,
        vec![
            ("step".to_string(), "plan".to_string()),
            ("n".to_string(), "3".to_string()),
            ("team".to_string(), "search".to_string())
        ]
    );
    assert_eq!(
        (r.environment.as_str(), r.release.as_str()),
        ("staging", "r1")
    );
    let keys: Vec<&str> = r.span_attributes.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        vec![
            "langfuse.observation.type",
            "langfuse.observation.model.parameters",
            "langfuse.observation.usage_details",
            "langfuse.observation.cost_details",
            "langfuse.observation.level",
            "langfuse.trace.name"
        ]
    );
    // Observation types, including the two extra ones.
    for (t, obs, op) in [
        ("embedding", "embedding", "embeddings"),
        ("agent", "agent", "invoke_agent"),
        ("tool", "tool", "execute_tool"),
        ("chain", "chain", ""),
        ("retriever", "retrieval", "retrieval"),
        ("guardrail", "guardrail", ""),
        ("evaluator", "evaluator", ""),
        ("event", "span", ""),
    ] {
        let r = one(vec![
            kv("langfuse.observation.type", s(t)),
            kv("langfuse.observation.model.name", s("m")),
        ]);
        assert_eq!(
            (r.observation_type.as_str(), r.operation.as_str()),
            (obs, op),
            "{t}"
        );
    }
    // Langfuse Python SDK <= 3.3 sent generations as `span`: the model makes it an llm.
    let r = one(vec![
        kv("langfuse.observation.type", s("span")),
        kv("langfuse.observation.model.name", s("m")),
    ]);
    assert_eq!(
        (r.observation_type.as_str(), r.operation.as_str()),
        ("llm", "")
    );
    // OpenAI usage key names with nested details; a generation without completion_start_time
    // but with recorded parameters is not streamed; JSON-quoted completion_start_time.
    let mut sp = span_with(
        1,
        vec![
            kv("langfuse.observation.type", s("generation")),
            kv(
                "langfuse.observation.usage_details",
                s(
                    r#"{"prompt_tokens":7,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":3},"completion_tokens_details":{"reasoning_tokens":1}}"#,
                ),
            ),
            kv("langfuse.observation.model.parameters", s("{}")),
        ],
    );
    sp.start_time_unix_nano = 1_700_000_000_000_000_000;
    let r = one_span(sp);
    assert_eq!(
        (
            r.input_tokens,
            r.output_tokens,
            r.total_tokens,
            r.cached_tokens,
            r.reasoning_tokens
        ),
        (Some(7), Some(2), None, Some(3), Some(1))
    );
    assert_eq!(
        (r.is_streaming, r.time_to_first_token_ns),
        (Some(false), None)
    );
    let mut sp = span_with(
        1,
        vec![kv(
            "langfuse.observation.completion_start_time",
            s("\"2023-11-14T22:13:21Z\""),
        )],
    );
    sp.start_time_unix_nano = 1_700_000_000_000_000_000;
    assert_eq!(one_span(sp).time_to_first_token_ns, Some(1_000_000_000));
    // Comma-separated tags, compat keys.
    let r = one(vec![
        kv("langfuse.tags", s("x, y")),
        kv("langfuse.user.id", s("u")),
        kv("user.id", s("other")),
    ]);
    assert_eq!(
        (r.tags.clone(), r.user_id.as_str()),
        (vec!["x".to_string(), "y".to_string()], "u")
    );
}

#[test]
fn openlit_and_logfire_edge_cases() {
    let r = one(vec![
        kv("gen_ai.operation.name", s("chat")),
        kv("gen_ai.system", s("mistral")),
        kv("gen_ai.server.time_to_first_token", Value::DoubleValue(0.5)),
        kv("gen_ai.usage.cost", Value::DoubleValue(0.25)),
        kv("gen_ai.client.token.usage", Value::IntValue(30)),
        kv("gen_ai.request.user", s("")),
        kv("deployment.environment", s("dev")),
    ]);
    assert_eq!(r.provider, "mistral_ai");
    assert_eq!(
        (r.time_to_first_token_ns, r.total_cost, r.total_tokens),
        (Some(500_000_000), Some(0.25), Some(30))
    );
    assert_eq!((r.user_id.as_str(), r.environment.as_str()), ("", "dev"));
    assert_eq!(
        attr(&r, "gen_ai.request.user"),
        Some(""),
        "an empty value maps nothing and stays"
    );

    // Logfire: JSON-string finish reasons, raw usage, scrubbed baggage, request_data params.
    let r = one(vec![
        kv("gen_ai.operation.name", s("chat")),
        kv("gen_ai.response.finish_reasons", s(r#"["length"]"#)),
        kv(
            "gen_ai.usage.raw",
            s(
                r#"{"prompt_tokens":5,"completion_tokens":6,"total_tokens":11,"prompt_tokens_details":{"cached_tokens":2},"completion_tokens_details":{"reasoning_tokens":1}}"#,
            ),
        ),
        kv(
            "request_data",
            s(r#"{"model":"gpt-4o","stream":true,"temperature":0.3,"max_tokens":9}"#),
        ),
        kv("session_id", s("[Scrubbed due to 'session']")),
        kv("user_id", s("u-7")),
        kv("operation.cost", Value::DoubleValue(0.5)),
    ]);
    assert_eq!(r.finish_reasons, vec!["length"]);
    assert_eq!(
        (
            r.input_tokens,
            r.output_tokens,
            r.total_tokens,
            r.cached_tokens,
            r.reasoning_tokens
        ),
        (Some(5), Some(6), Some(11), Some(2), Some(1))
    );
    assert_eq!(
        (
            r.request_model.as_str(),
            r.is_streaming,
            r.temperature,
            r.max_tokens
        ),
        ("gpt-4o", Some(true), Some(0.3), Some(9))
    );
    assert_eq!((r.session_id.as_str(), r.user_id.as_str()), ("", "u-7"));
    assert_eq!(r.total_cost, Some(0.5));
    // The separate "streaming response" log span is a record, not a second LLM call.
    let r = one(vec![
        kv("logfire.span_type", s("log")),
        kv("gen_ai.operation.name", s("chat")),
        kv("gen_ai.response.model", s("gpt-4o-2024")),
        kv("request_data", s(r#"{"model":"gpt-4o","stream":true}"#)),
        kv(
            "response_data",
            s(r#"{"message":{"role":"assistant","content":"hi"}}"#),
        ),
    ]);
    assert_eq!(
        (
            r.observation_type.as_str(),
            r.operation.as_str(),
            r.is_streaming
        ),
        ("span", "chat", Some(true))
    );
    assert_eq!(
        (r.response_model.as_str(), r.output.as_str()),
        (
            "gpt-4o-2024",
            r#"{"message":{"role":"assistant","content":"hi"}}"#
        )
    );
    assert_eq!(
        one(vec![
            kv("logfire.span_type", s("pending_span")),
            kv("gen_ai.operation.name", s("chat"))
        ])
        .observation_type,
        "span"
    );
}

#[test]
fn provider_names_are_normalised() {
    for (raw, want) in [
        ("openai", "openai"),
        ("OpenAI", "openai"),
        ("Azure", "azure.ai.openai"),
        ("az.ai.inference", "azure.ai.inference"),
        ("bedrock", "aws.bedrock"),
        ("aws.bedrock", "aws.bedrock"),
        ("vertexai", "gcp.vertex_ai"),
        ("gemini", "gcp.gemini"),
        ("google", "gcp.gen_ai"),
        ("mistralai", "mistral_ai"),
        ("xai", "x_ai"),
        ("watsonx", "ibm.watsonx.ai"),
        ("groq", "groq"),
        ("Cohere", "cohere"),
    ] {
        assert_eq!(
            one(vec![kv("gen_ai.provider.name", s(raw))]).provider,
            want,
            "{raw}"
        );
    }
    // Precedence: gen_ai.provider.name over llm.provider over gen_ai.system over llm.system.
    let r = one(vec![
        kv("llm.system", s("openai")),
        kv("gen_ai.system", s("anthropic")),
    ]);
    assert_eq!(r.provider, "anthropic");
    let r = one(vec![
        kv("llm.system", s("openai")),
        kv("llm.provider", s("azure")),
        kv("gen_ai.provider.name", s("openai")),
    ]);
    assert_eq!(r.provider, "openai");
}

#[test]
fn big_text_is_moved_not_duplicated() {
    let big = "x".repeat(100_000);
    let r = one(vec![
        kv("gen_ai.input.messages", s(&big)),
        kv("gen_ai.output.messages", s(&big)),
        kv("input.value", s(&big)),
    ]);
    assert_eq!((r.input.len(), r.output.len()), (100_000, 100_000));
    assert!(
        r.span_attributes.is_empty(),
        "{:?}",
        r.span_attributes.iter().map(|(k, _)| k).collect::<Vec<_>>()
    );
}

#[test]
fn rfc3339_parsing() {
    use super::extract::parse_rfc3339_nanos as p;
    assert_eq!(p("1970-01-01T00:00:00Z"), Some(0));
    assert_eq!(p("2023-11-14T22:13:20Z"), Some(1_700_000_000_000_000_000));
    assert_eq!(
        p("2023-11-14T22:13:20.123456789Z"),
        Some(1_700_000_000_123_456_789)
    );
    assert_eq!(
        p("2023-11-14T22:13:20.1234567891Z"),
        Some(1_700_000_000_123_456_789)
    );
    assert_eq!(
        p("2023-11-15T00:13:20+02:00"),
        Some(1_700_000_000_000_000_000)
    );
    assert_eq!(p("2023-11-14T22:13:20"), Some(1_700_000_000_000_000_000));
    assert_eq!(
        p("2026-11-25T08:16:56.225871Z"),
        Some(1_795_594_616_225_871_000)
    );
    assert_eq!(p("2000-02-29T00:00:00Z"), Some(951_782_400_000_000_000));
    // Lower-case separators, a space for the `T`, a negative offset.
    assert_eq!(p("2023-11-14t22:13:20.5z"), Some(1_700_000_000_500_000_000));
    assert_eq!(p("2023-11-14 22:13:20Z"), Some(1_700_000_000_000_000_000));
    assert_eq!(
        p("2023-11-14T20:13:20-02:00"),
        Some(1_700_000_000_000_000_000)
    );
    for bad in [
        "",
        "yesterday",
        "2023-13-01T00:00:00Z",
        "2023-02-30T00:00:00Z",
        "2023-11-14 22:13",
        "2023-11-14T22:13:20.Z",
        "2023-11-14T22:13:20+0200",
        "2023-11-14T22:13:20+02:00Z",
        "2023-11-14T22:13:20Zjunk",
        "1969-12-31T23:59:59Z",
    ] {
        assert_eq!(p(bad), None, "{bad}");
    }
}

#[test]
fn json_decoding_quirks() {
    // Spec OTLP/JSON as the fixtures use it decodes (see the fixture test); here the edges.
    let ok = br#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"s"}}]},
        "scopeSpans":[{"scope":{"name":"x"},"spans":[{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708",
        "name":"n","kind":2,"startTimeUnixNano":"1","endTimeUnixNano":3,"status":{},
        "attributes":[{"key":"i","value":{"intValue":"5"}},{"key":"j","value":{"intValue":6}},{"key":"d","value":{"doubleValue":1.5}},
        {"key":"b","value":{"bytesValue":"AAE="}},{"key":"e","value":{}}]}]}]}]}"#;
    let req = decode_json_traces(ok).expect("spec JSON decodes");
    let rows = normalize_traces(req, "p").rows;
    assert_eq!(
        rows[0]
            .span_attributes
            .iter()
            .map(|(_, v)| v.as_str())
            .collect::<Vec<_>>(),
        vec!["5", "6", "1.5", r#""AAE=""#, ""]
    );
    assert_eq!(
        (
            rows[0].start_time,
            rows[0].duration_ns,
            rows[0].kind.as_str()
        ),
        (1, 2, "Server")
    );
    // Encodings the protobuf JSON mapping allows and exporters emit, which opentelemetry-proto's
    // serde alone rejects (worked around in decode_json_traces).
    let wrap = |attr: &str, extra: &str| {
        format!(
            r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"traceId":"0102030405060708090A0B0C0D0E0F10","spanId":"0102030405060708"{extra},"attributes":[{{"key":"k","value":{attr}}}]}}]}}]}}]}}"#
        )
    };
    let decode = |attr: &str, extra: &str| -> Span {
        let body = wrap(attr, extra);
        let req = decode_json_traces(body.as_bytes()).unwrap_or_else(|e| panic!("{body}: {e}"));
        req.resource_spans[0].scope_spans[0].spans[0].clone()
    };
    let val = |sp: &Span| sp.attributes[0].value.clone().and_then(|v| v.value);
    assert_eq!(
        val(&decode(r#"{"arrayValue":{}}"#, "")),
        Some(Value::ArrayValue(ArrayValue { values: vec![] }))
    );
    assert_eq!(
        val(&decode(r#"{"kvlistValue":{}}"#, "")),
        Some(Value::KvlistValue(KeyValueList { values: vec![] }))
    );
    assert!(
        matches!(val(&decode(r#"{"doubleValue":"NaN"}"#, "")), Some(Value::DoubleValue(d)) if d.is_nan())
    );
    assert_eq!(
        val(&decode(r#"{"doubleValue":"-Infinity"}"#, "")),
        Some(Value::DoubleValue(f64::NEG_INFINITY))
    );
    assert_eq!(
        val(&decode(r#"{"doubleValue":"2.5"}"#, "")),
        Some(Value::DoubleValue(2.5))
    );
    assert_eq!(
        val(&decode(r#"{"arrayValue":{"values":[{"doubleValue":"Infinity"},{"kvlistValue":{"values":[{"key":"x","value":{"doubleValue":"NaN"}}]}}]}}"#, ""))
            .map(|v| value::value_to_string(&v)),
        Some("[null,{\"x\":null}]".to_string())
    );
    let sp = decode(
        r#"{"stringValue":"x"}"#,
        r#","kind":"SPAN_KIND_SERVER","status":{"code":"STATUS_CODE_ERROR"},"parentSpanId":null"#,
    );
    assert_eq!(
        (sp.kind, sp.status.map(|s| s.code), sp.parent_span_id.len()),
        (2, Some(2), 0)
    );
    assert_eq!(val(&decode("null", "")), None);
    // Not spec JSON: still rejected, with the original message.
    let err = decode_json_traces(wrap(r#"{"intValue":3.5}"#, "").as_bytes()).unwrap_err();
    assert!(
        err.starts_with("invalid OTLP/JSON: ") && err.contains("line 1"),
        "{err}"
    );
    // Empty body object is an empty request.
    assert!(decode_json_traces(b"{}").unwrap().resource_spans.is_empty());
    // Garbage gives a readable error.
    let err = decode_json_traces(b"{\"resourceSpans\": 3}").unwrap_err();
    assert!(err.starts_with("invalid OTLP/JSON"), "{err}");
    let err =
        decode_json_traces(br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz"}]}]}]}"#)
            .unwrap_err();
    assert!(err.contains("invalid OTLP/JSON"), "{err}");
}

#[test]
fn table_is_well_formed() {
    use super::table::{At, Get};
    let mut cols = Vec::new();
    for rule in RULES {
        assert!(!cols.contains(&rule.col), "{:?} has two rules", rule.col);
        cols.push(rule.col);
        assert!(
            !rule.sources.is_empty() && rule.sources.len() <= 32,
            "{:?}: provenance is a u32 bitmask",
            rule.col
        );
        for src in rule.sources {
            let prefix_only = matches!(src.get, Get::Unflatten | Get::Texts(_) | Get::Suffix);
            assert_eq!(
                prefix_only,
                src.at == At::SpanPrefix && !matches!(src.get, Get::Const(_)),
                "{:?} {}",
                rule.col,
                src.key
            );
            let events_only = matches!(
                src.get,
                Get::EventSinceStart | Get::InputEvents | Get::ChoiceEvents | Get::EventField(_)
            );
            assert_eq!(
                events_only,
                src.at == At::Events,
                "{:?} {}",
                rule.col,
                src.key
            );
            if let Get::Vocab(map) = src.get
                && rule.col == Col::ObservationType
            {
                for (_, v) in map {
                    assert!(OBSERVATION_TYPES.contains(v), "{v}");
                }
            }
        }
    }
    assert_eq!(
        cols.len(),
        super::extract::N_COLS,
        "every column has exactly one rule"
    );
}

/// Developer aid: `cargo test -p spanlens-collector --lib dump_fixture_rows -- --ignored --nocapture`
/// prints the rows every fixture normalizes to.
#[test]
#[ignore]
fn dump_fixture_rows() {
    for dir in libraries() {
        let expected = read_json(&dir.join("expected.json"));
        for (scenario, exp) in expected["scenarios"].as_object().unwrap() {
            let rows = load_rows(&dir, &exp["files"], scenario);
            for mut row in rows {
                row.span_attributes.retain(|(k, _)| !k.starts_with("zz"));
                println!(
                    "=== {}/{scenario}\n{}",
                    dir.file_name().unwrap().to_string_lossy(),
                    serde_json::to_string_pretty(&row).unwrap()
                );
            }
        }
    }
}

/// Developer aid (rough, build-profile dependent): `cargo test -p spanlens-collector --lib
/// normalize_throughput -- --ignored --nocapture` normalizes every fixture request repeatedly.
#[test]
#[ignore]
fn normalize_throughput() {
    let mut requests = Vec::new();
    for dir in libraries() {
        let expected = read_json(&dir.join("expected.json"));
        for exp in expected["scenarios"].as_object().unwrap().values() {
            for pb in exp["files"]["traces_pb"].as_array().unwrap() {
                let bytes = std::fs::read(dir.join(pb.as_str().unwrap())).unwrap();
                requests.push(ExportTraceServiceRequest::decode(bytes.as_slice()).unwrap());
            }
        }
    }
    let rounds = 200;
    let started = std::time::Instant::now();
    let mut spans = 0;
    for _ in 0..rounds {
        for req in &requests {
            spans += normalize_traces(req.clone(), "p").rows.len();
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{spans} spans in {secs:.2}s = {:.0} spans/s (incl. request clone)",
        spans as f64 / secs
    );
}

#[test]
fn spans_over_the_limits_are_rejected_alone_with_the_reason() {
    let many: Vec<KeyValue> = (0..=MAX_SPAN_ATTRIBUTES)
        .map(|i| kv(&format!("k{i}"), s("v")))
        .collect();
    let huge = vec![kv(
        "gen_ai.input.messages",
        s(&"x".repeat(MAX_VALUE_BYTES + 1)),
    )];
    let n = normalize_traces(
        request(
            vec![],
            vec![span_with(1, many), span_with(2, vec![]), span_with(3, huge)],
        ),
        "p",
    );
    assert_eq!(n.rows.len(), 1);
    assert_eq!(n.rejected_spans, 2);
    assert!(
        n.error_message
            .contains("4097 attributes exceed the limit of 4096"),
        "{}",
        n.error_message
    );
    assert!(
        n.error_message
            .contains("\"gen_ai.input.messages\" is 4194305 bytes"),
        "{}",
        n.error_message
    );
}

/// Property test: thousands of mutations (bit flips, truncations, spliced bytes) of every real
/// fixture payload, protobuf and JSON. Whatever decodes must normalize and encode without a
/// panic; whatever does not decode must be refused with an error, never a panic.
#[test]
fn mutated_real_payloads_never_panic() {
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut corpus: Vec<(bool, Vec<u8>)> = Vec::new();
    for lib in libraries() {
        for entry in std::fs::read_dir(fixtures_dir().join(&lib)).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if name.ends_with(".pb") && !name.contains(".metrics.") && !name.contains(".logs.") {
                corpus.push((false, std::fs::read(&path).unwrap()));
            } else if name.ends_with(".json")
                && !name.contains("expected")
                && !name.contains(".metrics.")
                && !name.contains(".logs.")
                && !name.contains(".other.")
            {
                corpus.push((true, std::fs::read(&path).unwrap()));
            }
        }
    }
    assert!(corpus.len() >= 20, "fixtures found");
    let (mut decoded, mut refused) = (0, 0);
    for case in 0..10_000 {
        let (is_json, original) = &corpus[case % corpus.len()];
        let mut bytes = original.clone();
        for _ in 0..1 + next() % 2 {
            if bytes.is_empty() {
                break;
            }
            let at = (next() as usize) % bytes.len();
            match next() % 4 {
                0 => bytes[at] ^= 1 << (next() % 8),
                1 => bytes.truncate(at),
                2 => bytes[at] = (next() % 256) as u8,
                _ => {
                    let from = (next() as usize) % bytes.len();
                    let len = ((next() as usize) % 64).min(bytes.len() - from);
                    let chunk = bytes[from..from + len].to_vec();
                    bytes.splice(at..at, chunk);
                }
            }
        }
        let request = if *is_json {
            decode_json_traces(&bytes).ok()
        } else {
            ExportTraceServiceRequest::decode(&bytes[..]).ok()
        };
        match request {
            Some(request) => {
                decoded += 1;
                let n = normalize_traces(request, "fuzz");
                let mut buf = Vec::new();
                for row in &n.rows {
                    crate::storage::rowbinary::encode_row(&mut buf, row).unwrap();
                }
            }
            None => refused += 1,
        }
    }
    // Both paths were exercised, not just one.
    assert!(
        decoded > 1000 && refused > 1000,
        "decoded {decoded}, refused {refused}"
    );
}

/// Vercel AI SDK (`experimental_telemetry`): the attribute names it documents for
/// `streamText` → `ai.streamText.doStream` (the provider call), tool calls and embeddings.
#[test]
fn vercel_ai_sdk_spans() {
    let i = |v: i64| Value::IntValue(v);
    let stream = one(vec![
        kv("operation.name", s("ai.streamText.doStream chat-route")),
        kv("ai.operationId", s("ai.streamText.doStream")),
        kv("ai.model.id", s("gpt-4o-mini")),
        kv("ai.model.provider", s("openai.chat")),
        kv(
            "ai.prompt.messages",
            s(r#"[{"role":"user","content":[{"type":"text","text":"Hi there"}]}]"#),
        ),
        kv("ai.response.text", s("Hello!")),
        kv("ai.response.finishReason", s("stop")),
        kv("ai.response.id", s("chatcmpl-9")),
        kv("ai.response.model", s("gpt-4o-mini-2024-07-18")),
        kv("ai.response.msToFirstChunk", Value::DoubleValue(412.5)),
        kv("ai.usage.inputTokens", i(12)),
        kv("ai.usage.outputTokens", i(3)),
        kv("ai.settings.temperature", Value::DoubleValue(0.3)),
        kv("ai.telemetry.metadata.userId", s("u-7")),
        kv("ai.telemetry.metadata.sessionId", s("s-7")),
        kv("ai.telemetry.metadata.plan", s("pro")),
    ]);
    assert_eq!(
        (stream.observation_type.as_str(), stream.operation.as_str()),
        ("llm", "chat")
    );
    assert_eq!(stream.provider, "openai");
    assert_eq!(
        (
            stream.request_model.as_str(),
            stream.response_model.as_str()
        ),
        ("gpt-4o-mini", "gpt-4o-mini-2024-07-18")
    );
    assert_eq!(
        (stream.input_tokens, stream.output_tokens),
        (Some(12), Some(3))
    );
    assert_eq!(stream.time_to_first_token_ns, Some(412_500_000));
    assert_eq!(stream.is_streaming, Some(true));
    assert_eq!(stream.finish_reasons, vec!["stop".to_string()]);
    assert_eq!(stream.response_id, "chatcmpl-9");
    assert_eq!(stream.temperature, Some(0.3));
    assert!(stream.input.contains("Hi there"));
    assert_eq!(stream.output, "Hello!");
    assert_eq!(
        (stream.user_id.as_str(), stream.session_id.as_str()),
        ("u-7", "s-7")
    );
    assert!(
        stream
            .metadata
            .contains(&("plan".to_string(), "pro".to_string())),
        "{:?}",
        stream.metadata
    );

    let wrapper = one(vec![
        kv("ai.operationId", s("ai.streamText")),
        kv("ai.model.id", s("gpt-4o-mini")),
        kv("ai.usage.inputTokens", i(12)),
    ]);
    assert_eq!(
        wrapper.observation_type, "chain",
        "the wrapper is not a second LLM call"
    );

    let tool = one(vec![
        kv("ai.operationId", s("ai.toolCall")),
        kv("ai.toolCall.name", s("weather")),
        kv("ai.toolCall.args", s(r#"{"city":"Lisbon"}"#)),
        kv("ai.toolCall.result", s(r#"{"temp":21}"#)),
    ]);
    assert_eq!(
        (tool.observation_type.as_str(), tool.operation.as_str()),
        ("tool", "execute_tool")
    );
    assert_eq!(
        (tool.input.as_str(), tool.output.as_str()),
        (r#"{"city":"Lisbon"}"#, r#"{"temp":21}"#)
    );

    let embed = one(vec![
        kv("ai.operationId", s("ai.embedMany.doEmbed")),
        kv("ai.model.id", s("text-embedding-3-small")),
        kv("ai.values", arr(vec![s("a"), s("b")])),
        kv("ai.usage.tokens", i(4)),
    ]);
    assert_eq!(
        (embed.observation_type.as_str(), embed.operation.as_str()),
        ("embedding", "embeddings")
    );
    assert_eq!(embed.input_tokens, Some(4));
}

/// input_tokens always counts every input token, cache reads and writes included, whichever
/// way the library reports them; the cache parts get their own columns (never added twice).
#[test]
fn cache_tokens_are_counted_once_inside_input_tokens() {
    // Semconv 1.41: input_tokens already includes the cache reads and writes.
    let r = one(vec![
        kv("gen_ai.operation.name", s("chat")),
        kv("gen_ai.usage.input_tokens", Value::IntValue(21)),
        kv("gen_ai.usage.cache_read.input_tokens", Value::IntValue(4)),
        kv(
            "gen_ai.usage.cache_creation.input_tokens",
            Value::IntValue(16),
        ),
    ]);
    assert_eq!(
        (r.input_tokens, r.cached_tokens, r.cache_creation_tokens),
        (Some(21), Some(4), Some(16))
    );
    // OpenLLMetry's names for the same.
    let r = one(vec![
        kv("gen_ai.operation.name", s("chat")),
        kv("gen_ai.usage.prompt_tokens", Value::IntValue(21)),
        kv(
            "gen_ai.usage.cache_creation_input_tokens",
            Value::IntValue(16),
        ),
        kv("gen_ai.usage.cache_read_input_tokens", Value::IntValue(0)),
    ]);
    assert_eq!(
        (r.input_tokens, r.cached_tokens, r.cache_creation_tokens),
        (Some(21), Some(0), Some(16))
    );
    // Only Anthropic's raw usage object (input_tokens there excludes the cache): the cache
    // parts are added back.
    let anthropic_raw = r#"{"cache_creation_input_tokens":16,"cache_read_input_tokens":3,"input_tokens":5,"output_tokens":6}"#;
    let r = one(vec![
        kv("gen_ai.operation.name", s("chat")),
        kv("gen_ai.usage.raw", s(anthropic_raw)),
    ]);
    assert_eq!(
        (
            r.input_tokens,
            r.cached_tokens,
            r.cache_creation_tokens,
            r.output_tokens
        ),
        (Some(24), Some(3), Some(16), Some(6))
    );
    // The same next to the library's own (inclusive) count: that count wins, nothing added.
    let r = one(vec![
        kv("gen_ai.operation.name", s("chat")),
        kv("gen_ai.usage.input_tokens", Value::IntValue(24)),
        kv("gen_ai.usage.raw", s(anthropic_raw)),
    ]);
    assert_eq!(r.input_tokens, Some(24));
    // OpenAI's Responses usage (input_tokens includes cached ones, no Anthropic cache fields).
    let r = one(vec![
        kv("gen_ai.operation.name", s("chat")),
        kv(
            "gen_ai.usage.raw",
            s(
                r#"{"input_tokens":10,"input_tokens_details":{"cached_tokens":8},"output_tokens":2}"#,
            ),
        ),
    ]);
    assert_eq!(
        (r.input_tokens, r.cached_tokens, r.cache_creation_tokens),
        (Some(10), Some(8), None)
    );
}

/// MLflow Tracing: JSON-encoded values (`"\"CHAT_MODEL\""`), the request and response objects,
/// token usage; an error status without a message takes the exception event's message.
#[test]
fn mlflow_tracing_attributes() {
    let r = one(vec![
        kv("mlflow.spanType", s(r#""EMBEDDING""#)),
        kv("mlflow.message.format", s(r#""openai""#)),
        kv(
            "mlflow.spanInputs",
            s(r#"{"model": "text-embedding-3-small", "input": ["a b c"]}"#),
        ),
        kv(
            "mlflow.chat.tokenUsage",
            s(r#"{"input_tokens": 3, "output_tokens": 0, "total_tokens": 3}"#),
        ),
        kv(
            "mlflow.spanOutputs",
            s(
                r#"{"id": "r-1", "model": "text-embedding-3-small-v1", "choices": [{"finish_reason": "stop"}]}"#,
            ),
        ),
    ]);
    assert_eq!(
        (r.observation_type.as_str(), r.operation.as_str()),
        ("embedding", "embeddings")
    );
    assert_eq!(r.provider, "openai");
    assert_eq!(
        (r.request_model.as_str(), r.response_model.as_str()),
        ("text-embedding-3-small", "text-embedding-3-small-v1")
    );
    assert_eq!((r.input_tokens, r.total_tokens), (Some(3), Some(3)));
    assert_eq!(r.input, r#"["a b c"]"#);
    assert_eq!(r.finish_reasons, vec!["stop"]);
    assert_eq!(r.response_id, "r-1");
    assert_eq!(attr(&r, "mlflow.spanInputs"), None, "consumed into input");
    // A span type MLflow does not classify falls through to the next source.
    let r = one(vec![kv("mlflow.spanType", s(r#""UNKNOWN""#))]);
    assert_eq!(
        (r.observation_type.as_str(), r.operation.as_str()),
        ("span", "")
    );
}

/// Semconv 1.41 (and the semantic-conventions-genai repo): the agent and workflow operations,
/// structured message AnyValues, system instructions, tool definitions, multimodal parts, and the
/// conversation id as the session only when no session id is set.
#[test]
fn semconv_1_41_genai() {
    let kvl = |pairs: Vec<(&str, Value)>| {
        Value::KvlistValue(KeyValueList {
            values: pairs.into_iter().map(|(k, v)| kv(k, v)).collect(),
        })
    };
    for (operation, observation) in [
        ("invoke_workflow", "chain"),
        ("create_agent", "agent"),
        ("invoke_agent", "agent"),
        ("execute_tool", "tool"),
    ] {
        let r = one(vec![
            kv("gen_ai.operation.name", s(operation)),
            kv("gen_ai.agent.name", s("planner")),
            kv("gen_ai.workflow.name", s("trip")),
        ]);
        assert_eq!(
            (r.observation_type.as_str(), r.operation.as_str()),
            (observation, operation)
        );
        // Agent and workflow identity stay queryable attributes.
        assert_eq!(attr(&r, "gen_ai.agent.name"), Some("planner"));
        assert_eq!(attr(&r, "gen_ai.workflow.name"), Some("trip"));
    }

    // Structured messages (AnyValue arrays, not JSON strings) with a multimodal part, the system
    // instructions folded in front, tool definitions kept as JSON text.
    let image = kvl(vec![
        ("type", s("uri")),
        ("modality", s("image")),
        ("uri", s("https://example.com/cat.png")),
    ]);
    let blob = kvl(vec![
        ("type", s("blob")),
        ("mime_type", s("image/png")),
        ("content", s("iVBORw0KGgo=")),
    ]);
    let user = kvl(vec![
        ("role", s("user")),
        (
            "parts",
            arr(vec![
                kvl(vec![("type", s("text")), ("content", s("What is this?"))]),
                image,
                blob,
            ]),
        ),
    ]);
    let answer = kvl(vec![
        ("role", s("assistant")),
        (
            "parts",
            arr(vec![kvl(vec![
                ("type", s("text")),
                ("content", s("A cat.")),
            ])]),
        ),
        ("finish_reason", s("stop")),
    ]);
    let r = one(vec![
        kv("gen_ai.operation.name", s("chat")),
        kv("gen_ai.input.messages", arr(vec![user])),
        kv("gen_ai.output.messages", arr(vec![answer])),
        kv(
            "gen_ai.system_instructions",
            arr(vec![kvl(vec![
                ("type", s("text")),
                ("content", s("Be brief.")),
            ])]),
        ),
        kv(
            "gen_ai.tool.definitions",
            arr(vec![kvl(vec![
                ("type", s("function")),
                ("name", s("get_weather")),
            ])]),
        ),
        kv("gen_ai.conversation.id", s("conv-1")),
    ]);
    let input: J = serde_json::from_str(&r.input).unwrap();
    assert_eq!(input[0]["role"], "system", "{}", r.input);
    assert_eq!(input[0]["parts"][0]["content"], "Be brief.");
    assert_eq!(input[1]["parts"][1]["uri"], "https://example.com/cat.png");
    assert_eq!(input[1]["parts"][2]["mime_type"], "image/png", "parts kept");
    assert_eq!(input[1]["parts"][2]["content"], "iVBORw0KGgo=");
    let output: J = serde_json::from_str(&r.output).unwrap();
    assert_eq!(output[0]["parts"][0]["content"], "A cat.");
    assert_eq!(
        attr(&r, "gen_ai.tool.definitions"),
        Some(r#"[{"type":"function","name":"get_weather"}]"#)
    );
    assert_eq!(r.session_id, "conv-1", "no session id: the conversation");

    let r = one(vec![
        kv("gen_ai.conversation.id", s("conv-1")),
        kv("traceloop.association.properties.session_id", s("sess-9")),
    ]);
    assert_eq!(
        r.session_id, "sess-9",
        "a session id wins over the conversation"
    );
}
