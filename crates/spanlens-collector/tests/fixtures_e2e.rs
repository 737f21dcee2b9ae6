//! Every real capture in tests/fixtures/otlp/*/ (six+ instrumentation libraries, every scenario
//! their expected.json lists) goes through a running collector into ClickHouse over all three
//! transports, and the stored `spans` rows must hold every fact of expected.json:
//!
//! * project `as_sent`: exactly what the library sent — its export path (Langfuse:
//!   /api/public/otel/v1/traces), content type, the gzipped body as received where it gzipped,
//!   its user agent and extra headers, its auth scheme (Langfuse: HTTP Basic with its public key);
//! * project `http_json`: the OTLP/JSON variant on /v1/traces;
//! * project `grpc`: the protobuf variant over OTLP/gRPC (gzip where the library gzipped).
//!
//! Where the library also sent OTLP log records (GenAI content events), they are sent first, the
//! same way, to /v1/logs or the gRPC LogsService: a library that puts its prompt and completion
//! only in log records (expected.json `from_logs`) must still get them into its span's row.
//!
//! The three projects must also hold identical rows. Costs are checked against prices read from
//! the bundled `src/enrich/prices.toml` here (not through the collector's price code), and an
//! instrumentation-reported cost (read from the payload) must win over the table.
//! Table-driven: a new folder with an expected.json joins without code changes.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use serde_json::Value as J;
use spanlens_collector::auth::hash_key;
use spanlens_collector::config::ApiKeyConfig;
use spanlens_collector::storage::row::SpanRow;
use support::fixtures::{
    data_value, expected_kind, expected_observation_type, expected_operation, expected_status,
    file_names, known_absent, libraries, read_json,
};
use support::{TestCollector, post};

/// The three transports, each stored under its own project (API key → project).
const AS_SENT: &str = "as_sent";
const HTTP_JSON: &str = "http_json";
const GRPC: &str = "grpc";
const PROJECTS: [&str; 3] = [AS_SENT, HTTP_JSON, GRPC];
/// Bearer key of each project; Langfuse captures authenticate with Basic `<public>:LANGFUSE_SECRET`.
fn bearer(project: &str) -> String {
    format!("sk-fixtures-{project}")
}
const LANGFUSE_SECRET: &str = "sk-lf-fixtures-secret";

/// One scenario of one library.
struct Case {
    lib: String,
    scenario: String,
    dir: PathBuf,
    /// expected.json's `export` block (how the library sent it).
    export: J,
    /// expected.json's scenario object.
    exp: J,
}

impl Case {
    fn ctx(&self) -> String {
        format!("{}/{}", self.lib, self.scenario)
    }
    fn files(&self, key: &str) -> Vec<PathBuf> {
        file_names(&self.exp["files"], key)
            .iter()
            .map(|n| self.dir.join(n))
            .collect()
    }
    fn trace_ids(&self) -> BTreeSet<String> {
        spans_of(&self.exp)
            .iter()
            .map(|s| s["trace_id"].as_str().unwrap().to_string())
            .collect()
    }
}

fn spans_of(exp: &J) -> Vec<&J> {
    exp["spans"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}
fn calls_of(exp: &J) -> Vec<&J> {
    exp["llm_calls"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    for dir in libraries() {
        let expected = read_json(&dir.join("expected.json"));
        let lib = expected["library"].as_str().expect("library").to_string();
        let scenarios = expected["scenarios"].as_object().expect("scenarios");
        assert!(!scenarios.is_empty(), "{lib}: no scenarios");
        for (scenario, exp) in scenarios {
            out.push(Case {
                lib: lib.clone(),
                scenario: scenario.clone(),
                dir: dir.clone(),
                export: expected["export"].clone(),
                exp: exp.clone(),
            });
        }
    }
    out
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// ------------------------------------------------------------------------------------------------
// Sending
// ------------------------------------------------------------------------------------------------

/// The OTLP/HTTP reply must be a success without rejected spans, in the request's encoding.
fn assert_http_ok(
    ctx: &str,
    how: &str,
    status: u16,
    headers: &http::HeaderMap,
    body: &[u8],
    json: bool,
) {
    let logs = how.contains("logs");
    assert_eq!(
        status,
        200,
        "{ctx} {how}: {}",
        String::from_utf8_lossy(body)
    );
    if json {
        assert_eq!(headers["content-type"], "application/json", "{ctx} {how}");
        let reply: J =
            serde_json::from_slice(body).unwrap_or_else(|e| panic!("{ctx} {how}: reply: {e}"));
        let rejected = &reply["partialSuccess"][if logs {
            "rejectedLogRecords"
        } else {
            "rejectedSpans"
        }];
        assert!(
            rejected.is_null() || *rejected == "0" || *rejected == 0,
            "{ctx} {how}: partial success {reply}"
        );
    } else {
        assert_eq!(
            headers["content-type"], "application/x-protobuf",
            "{ctx} {how}"
        );
        if logs {
            let reply = ExportLogsServiceResponse::decode(body)
                .unwrap_or_else(|e| panic!("{ctx} {how}: reply: {e}"));
            assert!(
                reply
                    .partial_success
                    .as_ref()
                    .is_none_or(|p| p.rejected_log_records == 0),
                "{ctx} {how}: {reply:?}"
            );
        } else {
            let reply = ExportTraceServiceResponse::decode(body)
                .unwrap_or_else(|e| panic!("{ctx} {how}: reply: {e}"));
            assert!(
                reply
                    .partial_success
                    .as_ref()
                    .is_none_or(|p| p.rejected_spans == 0),
                "{ctx} {how}: {reply:?}"
            );
        }
    }
}

/// Exactly as the library sent it: path, content type, encoding (the gzipped body as received),
/// user agent, the library's own headers and its auth scheme.
async fn send_as_sent(t: &TestCollector, case: &Case) {
    let ctx = case.ctx();
    let e = &case.export;
    let path = e["path"].as_str().expect("export.path");
    let content_type = e["content_type"].as_str().expect("export.content_type");
    let gzip = match e["content_encoding"].as_str() {
        None => false,
        Some("gzip") => true,
        Some(other) => panic!("{ctx}: unsupported export.content_encoding {other}"),
    };
    let json = match content_type {
        "application/x-protobuf" => false,
        "application/json" => true,
        other => panic!("{ctx}: unsupported export.content_type {other}"),
    };
    let bodies = match (json, gzip) {
        (false, false) => case.files("traces_pb"),
        (false, true) => case.files("traces_pb_gz_as_received"),
        (true, false) => case.files("traces_json_as_received"),
        (true, true) => panic!("{ctx}: no captured gzipped JSON export to replay as sent"),
    };
    assert!(
        !bodies.is_empty(),
        "{ctx}: no trace payload for {content_type} gzip={gzip}"
    );

    let auth = match e["auth_header"].as_str() {
        None => format!("Bearer {}", bearer(AS_SENT)),
        Some("Basic") => {
            use base64::Engine;
            let public = e["other_headers"]["x-langfuse-public-key"]
                .as_str()
                .expect("Basic auth needs a public key");
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD
                    .encode(format!("{public}:{LANGFUSE_SECRET}"))
            )
        }
        Some(other) => panic!("{ctx}: unsupported export.auth_header {other}"),
    };
    let mut headers: Vec<(String, String)> = vec![
        ("content-type".into(), content_type.into()),
        ("authorization".into(), auth),
    ];
    if gzip {
        headers.push(("content-encoding".into(), "gzip".into()));
    }
    if let Some(ua) = e["user_agent"].as_str() {
        headers.push(("user-agent".into(), ua.into()));
    }
    for (k, v) in e["other_headers"].as_object().into_iter().flatten() {
        headers.push((k.clone(), v.as_str().expect("header value").into()));
    }
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    // The library's log records (content events) first, then its spans.
    let logs_path = e["logs_path"].as_str().unwrap_or("/v1/logs");
    let log_bodies = match (json, gzip) {
        (false, false) => case.files("logs_pb"),
        (false, true) => case.files("logs_pb_gz_as_received"),
        // No JSON-exporting capture sends log records.
        (true, _) => case.files("logs_json_as_received"),
    };
    assert_eq!(
        log_bodies.len(),
        case.files("logs_json").len(),
        "{ctx}: one logs body per logs JSON file"
    );
    for body in log_bodies {
        let (status, reply_headers, reply) =
            post(&t.http_url(logs_path), &headers, read(&body)).await;
        assert_http_ok(
            &ctx,
            &format!("logs as sent to {logs_path}"),
            status,
            &reply_headers,
            &reply,
            json,
        );
    }
    for body in bodies {
        let (status, reply_headers, reply) = post(&t.http_url(path), &headers, read(&body)).await;
        assert_http_ok(
            &ctx,
            &format!("as sent to {path}"),
            status,
            &reply_headers,
            &reply,
            json,
        );
    }
}

/// The OTLP/JSON variant, on the standard path.
async fn send_json(t: &TestCollector, case: &Case) {
    let ctx = case.ctx();
    let auth = format!("Bearer {}", bearer(HTTP_JSON));
    for body in case.files("logs_json") {
        let headers = [
            ("content-type", "application/json"),
            ("authorization", auth.as_str()),
        ];
        let (status, reply_headers, reply) =
            post(&t.http_url("/v1/logs"), &headers, read(&body)).await;
        assert_http_ok(&ctx, "OTLP/JSON logs", status, &reply_headers, &reply, true);
    }
    let jsons = case.files("traces_json");
    assert_eq!(
        jsons.len(),
        case.files("traces_pb").len(),
        "{ctx}: one JSON file per protobuf file"
    );
    for body in jsons {
        let headers = [
            ("content-type", "application/json"),
            ("authorization", auth.as_str()),
        ];
        let (status, reply_headers, reply) =
            post(&t.http_url("/v1/traces"), &headers, read(&body)).await;
        assert_http_ok(&ctx, "OTLP/JSON", status, &reply_headers, &reply, true);
    }
}

/// The protobuf variant over gRPC, gzip-compressed where the library gzipped.
async fn send_grpc(t: &TestCollector, case: &Case) {
    let ctx = case.ctx();
    let gzip = case.export["content_encoding"].as_str() == Some("gzip");
    let key: tonic::metadata::MetadataValue<_> =
        format!("Bearer {}", bearer(GRPC)).parse().unwrap();
    let mut logs = LogsServiceClient::connect(format!("http://{}", t.grpc_addr()))
        .await
        .expect("gRPC connect");
    if gzip {
        logs = logs.send_compressed(tonic::codec::CompressionEncoding::Gzip);
    }
    for pb in case.files("logs_pb") {
        let request = ExportLogsServiceRequest::decode(read(&pb).as_slice())
            .unwrap_or_else(|e| panic!("{ctx}: {}: {e}", pb.display()));
        let mut request = tonic::Request::new(request);
        request.metadata_mut().insert("authorization", key.clone());
        let reply = logs
            .export(request)
            .await
            .unwrap_or_else(|e| panic!("{ctx}: gRPC logs export: {e}"))
            .into_inner();
        assert!(
            reply
                .partial_success
                .as_ref()
                .is_none_or(|p| p.rejected_log_records == 0),
            "{ctx} gRPC logs: {reply:?}"
        );
    }
    let mut client = TraceServiceClient::connect(format!("http://{}", t.grpc_addr()))
        .await
        .expect("gRPC connect");
    if gzip {
        client = client.send_compressed(tonic::codec::CompressionEncoding::Gzip);
    }
    for pb in case.files("traces_pb") {
        let request = ExportTraceServiceRequest::decode(read(&pb).as_slice())
            .unwrap_or_else(|e| panic!("{ctx}: {}: {e}", pb.display()));
        let mut request = tonic::Request::new(request);
        request.metadata_mut().insert("authorization", key.clone());
        let reply = client
            .export(request)
            .await
            .unwrap_or_else(|e| panic!("{ctx}: gRPC export: {e}"))
            .into_inner();
        assert!(
            reply
                .partial_success
                .as_ref()
                .is_none_or(|p| p.rejected_spans == 0),
            "{ctx} gRPC: {reply:?}"
        );
    }
}

// ------------------------------------------------------------------------------------------------
// Prices, read here from the bundled TOML (independently of src/enrich/cost.rs)
// ------------------------------------------------------------------------------------------------

struct Price {
    name: String,
    pattern: Option<regex::Regex>,
    /// USD per million tokens.
    input: f64,
    output: f64,
    cached_input: f64,
    cache_write: f64,
    reasoning: f64,
}

fn bundled_prices() -> Vec<Price> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/enrich/prices.toml");
    let table: toml::Table =
        toml::from_str(&String::from_utf8(read(&path)).unwrap()).expect("prices.toml parses");
    let num = |m: &toml::Table, k: &str| -> Option<f64> {
        m.get(k).map(|v| {
            v.as_float()
                .or_else(|| v.as_integer().map(|i| i as f64))
                .expect("a price is a number")
        })
    };
    let prices: Vec<Price> = table["model"]
        .as_array()
        .expect("[[model]] entries")
        .iter()
        .map(|m| {
            let m = m.as_table().unwrap();
            let (input, output) = (num(m, "input").unwrap(), num(m, "output").unwrap());
            Price {
                name: m["name"].as_str().unwrap().to_string(),
                pattern: m.get("pattern").map(|p| {
                    regex::Regex::new(&format!("(?i){}", p.as_str().unwrap())).expect("pattern")
                }),
                input,
                output,
                cached_input: num(m, "cached_input").unwrap_or(input),
                cache_write: num(m, "cache_write").unwrap_or(input),
                reasoning: num(m, "reasoning").unwrap_or(output),
            }
        })
        .collect();
    assert!(prices.len() > 10, "prices.toml has its models");
    prices
}

/// As prices.toml documents: the response model (the model that actually ran), matched by
/// `name` exactly (case-insensitive), then by `pattern`; only if it has no price, the request
/// model the same way.
fn price_for<'a>(
    prices: &'a [Price],
    response_model: &str,
    request_model: &str,
) -> Option<&'a Price> {
    [response_model, request_model]
        .into_iter()
        .filter(|m| !m.is_empty())
        .find_map(|m| {
            prices
                .iter()
                .find(|p| p.name.eq_ignore_ascii_case(m))
                .or_else(|| {
                    prices
                        .iter()
                        .find(|p| p.pattern.as_ref().is_some_and(|re| re.is_match(m)))
                })
        })
}

/// A cost the instrumentation itself reported on the span, read from the payload:
/// (input, output, total).
type Reported = (Option<f64>, Option<f64>, Option<f64>);

fn attr_number(value: &J) -> Option<f64> {
    value["doubleValue"]
        .as_f64()
        .or_else(|| value["intValue"].as_str().and_then(|s| s.parse().ok()))
        .or_else(|| value["intValue"].as_f64())
        .or_else(|| value["stringValue"].as_str().and_then(|s| s.parse().ok()))
}

fn reported_cost(span: &J) -> Option<Reported> {
    let attrs = span["attributes"].as_array()?;
    let get = |key: &str| attrs.iter().find(|a| a["key"] == key).map(|a| &a["value"]);
    // Single totals: OpenLIT `gen_ai.usage.cost`, OpenInference `llm.cost.*`, Logfire `operation.cost`.
    for key in ["gen_ai.usage.cost", "llm.cost.total", "operation.cost"] {
        if let Some(total) = get(key).and_then(attr_number) {
            let part = |k: &str| get(k).and_then(attr_number);
            return Some((
                part("llm.cost.prompt"),
                part("llm.cost.completion"),
                Some(total),
            ));
        }
    }
    // Langfuse: langfuse.observation.cost_details = JSON {input, output, total}.
    let details: J =
        serde_json::from_str(get("langfuse.observation.cost_details")?["stringValue"].as_str()?)
            .ok()?;
    Some((
        details["input"].as_f64(),
        details["output"].as_f64(),
        details["total"].as_f64(),
    ))
}

/// Span id → the span's OTLP/JSON object, from the scenario's JSON payload.
fn payload_spans(case: &Case) -> BTreeMap<String, J> {
    let mut out = BTreeMap::new();
    for path in case.files("traces_json") {
        let doc = read_json(&path);
        for rs in doc["resourceSpans"].as_array().into_iter().flatten() {
            for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
                for span in ss["spans"].as_array().into_iter().flatten() {
                    out.insert(span["spanId"].as_str().unwrap().to_string(), span.clone());
                }
            }
        }
    }
    out
}

fn assert_close(actual: Option<f64>, expected: Option<f64>, what: &str) {
    match (actual, expected) {
        (Some(a), Some(e)) => assert!(
            (a - e).abs() <= 1e-12 * e.abs().max(1e-12),
            "{what}: {a} != {e}"
        ),
        _ => assert_eq!(actual, expected, "{what}"),
    }
}

/// Cost columns of an LLM call row whose expected tokens are `(input, output)`.
fn check_cost(
    row: &SpanRow,
    tokens: (Option<u64>, Option<u64>),
    reported: Option<Reported>,
    prices: &[Price],
    c: &str,
) {
    let got = (row.input_cost, row.output_cost, row.total_cost);
    if let Some((input, output, total)) = reported {
        // The instrumentation's own cost wins; nothing is priced from the table next to it.
        assert_close(row.total_cost, total, &format!("{c}: reported total_cost"));
        assert_close(row.input_cost, input, &format!("{c}: reported input_cost"));
        assert_close(
            row.output_cost,
            output,
            &format!("{c}: reported output_cost"),
        );
        return;
    }
    let (input, output) = tokens;
    if input.is_none() && output.is_none() {
        assert_eq!(
            got,
            (None, None, None),
            "{c}: no tokens, no cost (NULL, never 0)"
        );
        return;
    }
    let Some(price) = price_for(prices, &row.response_model, &row.request_model) else {
        assert_eq!(
            got,
            (None, None, None),
            "{c}: model not in the price table → NULL cost"
        );
        return;
    };
    const M: f64 = 1_000_000.0;
    let input_cost = input.map(|n| {
        let cached = row.cached_tokens.unwrap_or(0).min(n);
        let written = row.cache_creation_tokens.unwrap_or(0).min(n - cached);
        ((n - cached - written) as f64 * price.input
            + cached as f64 * price.cached_input
            + written as f64 * price.cache_write)
            / M
    });
    let output_cost = output.map(|n| {
        let reasoning = row.reasoning_tokens.unwrap_or(0).min(n);
        ((n - reasoning) as f64 * price.output + reasoning as f64 * price.reasoning) / M
    });
    let total = input_cost.unwrap_or(0.0) + output_cost.unwrap_or(0.0);
    assert_close(
        row.input_cost,
        input_cost,
        &format!("{c}: input_cost ({} prices)", price.name),
    );
    assert_close(
        row.output_cost,
        output_cost,
        &format!("{c}: output_cost ({} prices)", price.name),
    );
    assert_close(
        row.total_cost,
        Some(total),
        &format!("{c}: total_cost ({} prices)", price.name),
    );
}

// ------------------------------------------------------------------------------------------------
// Checking the stored rows of one scenario
// ------------------------------------------------------------------------------------------------

fn text(v: &J) -> &str {
    v.as_str().unwrap_or("")
}

fn check_scenario(
    rows: &[&SpanRow],
    case: &Case,
    prices: &[Price],
    payload: &BTreeMap<String, J>,
    ctx: &str,
) {
    let exp = &case.exp;
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
    let ids: BTreeSet<&str> = rows.iter().map(|r| r.span_id.as_str()).collect();
    assert_eq!(ids.len(), rows.len(), "{ctx}: a span stored twice");
    let by_id: BTreeMap<&str, &SpanRow> = rows.iter().map(|r| (r.span_id.as_str(), *r)).collect();
    let name_of = |id: &str| by_id.get(id).map(|r| r.name.as_str());
    let calls = calls_of(exp);

    // The span tree.
    for s in spans_of(exp) {
        let span_id = s["span_id"].as_str().unwrap();
        let sctx = format!("{ctx} span {} ({span_id})", s["name"]);
        let row = by_id
            .get(span_id)
            .unwrap_or_else(|| panic!("{sctx}: not stored"));
        assert_eq!(row.name, text(&s["name"]), "{sctx}: name");
        assert_eq!(row.trace_id, text(&s["trace_id"]), "{sctx}: trace_id");
        assert_eq!(
            row.parent_span_id,
            text(&s["parent_span_id"]),
            "{sctx}: parent_span_id"
        );
        assert_eq!(
            name_of(&row.parent_span_id),
            s["parent_name"].as_str(),
            "{sctx}: parent name"
        );
        assert_eq!(row.kind, expected_kind(text(&s["kind"])), "{sctx}: kind");
        assert_eq!(row.scope_name, text(&s["scope"]), "{sctx}: scope");
        assert_eq!(
            row.status_code,
            expected_status(text(&s["status"])),
            "{sctx}: status"
        );
        let call = calls.iter().find(|c| c["span_id"] == s["span_id"]).copied();
        assert_eq!(
            row.observation_type,
            expected_observation_type(text(&s["role"]), call, &row.name),
            "{sctx}: observation_type"
        );
        assert!(row.duration_ns > 0, "{sctx}: duration");
        assert!(!row.service_name.is_empty(), "{sctx}: service_name");
        if call.is_none() && row.input_tokens.is_none() && row.output_tokens.is_none() {
            let reported = payload.get(span_id).and_then(reported_cost);
            if reported.is_none() {
                assert_eq!(row.total_cost, None, "{sctx}: no tokens, no cost");
            }
        }
    }

    // Every LLM call.
    for call in &calls {
        let span_id = call["span_id"].as_str().unwrap();
        let c = format!("{ctx} call {span_id}");
        let row = by_id
            .get(span_id)
            .unwrap_or_else(|| panic!("{c}: not stored"));
        assert_eq!(row.name, text(&call["span_name"]), "{c}: span_name");
        assert_eq!(
            name_of(&row.parent_span_id),
            call["parent_span_name"].as_str(),
            "{c}: parent_span_name"
        );
        assert_eq!(
            row.request_model,
            text(data_value(call, "request_model")),
            "{c}: request_model"
        );
        assert_eq!(
            row.response_model,
            text(data_value(call, "response_model")),
            "{c}: response_model"
        );
        assert_eq!(
            row.provider,
            text(data_value(call, "provider")),
            "{c}: provider"
        );
        assert_eq!(
            row.operation,
            expected_operation(text(&call["operation"])),
            "{c}: operation"
        );
        let tokens = |f: &str| data_value(call, f).as_u64();
        assert_eq!(
            row.input_tokens,
            tokens("input_tokens"),
            "{c}: input_tokens"
        );
        assert_eq!(
            row.output_tokens,
            tokens("output_tokens"),
            "{c}: output_tokens"
        );
        assert_eq!(
            row.total_tokens,
            tokens("total_tokens"),
            "{c}: total_tokens"
        );
        // Cache parts, where the capture's expected.json records them (prompt caching).
        if call.get("cached_tokens").is_some() {
            assert_eq!(
                (row.cached_tokens, row.cache_creation_tokens),
                (tokens("cached_tokens"), tokens("cache_creation_tokens")),
                "{c}: cached / cache_creation tokens"
            );
        }
        assert_eq!(
            row.is_streaming,
            data_value(call, "streamed").as_bool(),
            "{c}: streamed (is_streaming)"
        );
        assert_eq!(
            row.time_to_first_token_ns.is_some(),
            data_value(call, "ttft_present")
                .as_bool()
                .expect("ttft_present"),
            "{c}: ttft present ({:?})",
            row.time_to_first_token_ns
        );
        if let Some(ttft) = row.time_to_first_token_ns {
            assert!(
                ttft <= row.duration_ns,
                "{c}: ttft {ttft} > duration {}",
                row.duration_ns
            );
        }
        match data_value(call, "prompt_contains").as_str() {
            Some(p) => {
                assert!(
                    row.input.contains(p),
                    "{c}: input {:?} lacks {p:?}",
                    row.input
                );
                for (k, v) in &row.span_attributes {
                    assert!(
                        !v.contains(p),
                        "{c}: prompt text also kept in span attribute {k}"
                    );
                }
            }
            None if known_absent(call, "prompt", false) => {
                assert_eq!(row.input, "", "{c}: the data has no prompt")
            }
            None => {}
        }
        match data_value(call, "completion_contains").as_str() {
            Some(p) => assert!(
                row.output.contains(p),
                "{c}: output {:?} lacks {p:?}",
                row.output
            ),
            None if known_absent(call, "completion", false) => {
                assert_eq!(row.output, "", "{c}: the data has no completion")
            }
            None => {}
        }
        let finish: Vec<String> = data_value(call, "finish_reason")
            .as_str()
            .map(String::from)
            .into_iter()
            .collect();
        assert_eq!(row.finish_reasons, finish, "{c}: finish_reason");
        assert_eq!(
            row.response_id,
            text(data_value(call, "response_id")),
            "{c}: response_id"
        );
        assert_eq!(
            row.session_id,
            text(data_value(call, "session_id")),
            "{c}: session_id"
        );
        assert_eq!(
            row.user_id,
            text(data_value(call, "user_id")),
            "{c}: user_id"
        );
        let error = call["error"].as_bool().expect("error");
        assert_eq!(
            row.status_code == "Error",
            error,
            "{c}: error (status {})",
            row.status_code
        );
        if error {
            assert!(
                !row.status_message.is_empty(),
                "{c}: an error without a status message"
            );
        }
        let reported = payload.get(span_id).and_then(reported_cost);
        check_cost(
            row,
            (tokens("input_tokens"), tokens("output_tokens")),
            reported,
            prices,
            &c,
        );
    }

    // Scenario-level facts.
    assert_eq!(
        rows.iter().any(|r| r.status_code == "Error"),
        exp["error"].as_bool().unwrap(),
        "{ctx}: error"
    );
    let set = |key: &str| -> BTreeSet<String> {
        exp[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    let present = |f: fn(&SpanRow) -> &str| -> BTreeSet<String> {
        rows.iter()
            .map(|r| f(r))
            .filter(|v| !v.is_empty())
            .map(String::from)
            .collect()
    };
    assert_eq!(
        present(|r| &r.session_id),
        set("session_ids"),
        "{ctx}: session_ids"
    );
    assert_eq!(present(|r| &r.user_id), set("user_ids"), "{ctx}: user_ids");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fixture_over_every_transport_lands_as_expected() {
    let started = std::time::Instant::now();
    let cases = cases();
    assert!(
        cases.len() >= 25,
        "only {} fixture scenarios found",
        cases.len()
    );

    // One API key per transport → one project per transport; Langfuse captures use their own
    // public key (Basic auth, as the SDK sends it) for the as-sent project.
    let mut config = support::test_config("fixtures");
    for project in PROJECTS {
        config.auth.keys.push(ApiKeyConfig {
            project: project.into(),
            key_sha256: Some(hash_key(&bearer(project))),
            ..Default::default()
        });
    }
    let langfuse_keys: BTreeSet<String> = cases
        .iter()
        .filter(|c| c.export["auth_header"].as_str() == Some("Basic"))
        .map(|c| {
            c.export["other_headers"]["x-langfuse-public-key"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    for public in langfuse_keys {
        config.auth.keys.push(ApiKeyConfig {
            project: AS_SENT.into(),
            langfuse_public_key: Some(public),
            langfuse_secret_key_sha256: Some(hash_key(LANGFUSE_SECRET)),
            ..Default::default()
        });
    }
    let t = TestCollector::start_with(config).await;

    for case in &cases {
        send_as_sent(&t, case).await;
        send_json(&t, case).await;
        send_grpc(&t, case).await;
    }

    let per_project: u64 = cases
        .iter()
        .map(|c| c.exp["span_count"].as_u64().unwrap())
        .sum();
    let stored = t
        .wait_for_count("SELECT count() FROM spans", 3 * per_project)
        .await;
    assert_eq!(stored, 3 * per_project, "stored span count");
    let counts: Vec<(String, u64)> =
        t.ch.query("SELECT project, count() FROM spans GROUP BY project ORDER BY project")
            .fetch_all()
            .await
            .unwrap();
    let mut want: Vec<(String, u64)> = PROJECTS
        .iter()
        .map(|p| (p.to_string(), per_project))
        .collect();
    want.sort();
    assert_eq!(counts, want, "rows per transport project");
    let rows: Vec<SpanRow> =
        t.ch.query("SELECT ?fields FROM spans ORDER BY project, start_time, span_id")
            .fetch_all()
            .await
            .expect("fetch spans");

    let prices = bundled_prices();
    let mut calls_checked = 0;
    for case in &cases {
        let traces = case.trace_ids();
        let payload = payload_spans(case);
        let of = |project: &str| -> Vec<&SpanRow> {
            rows.iter()
                .filter(|r| r.project == project && traces.contains(&r.trace_id))
                .collect()
        };
        for project in PROJECTS {
            check_scenario(
                &of(project),
                case,
                &prices,
                &payload,
                &format!("{} [{project}]", case.ctx()),
            );
        }
        // Whichever transport carried it, the same capture is the same rows.
        let as_sent = of(AS_SENT);
        for project in [HTTP_JSON, GRPC] {
            let other = of(project);
            for (a, b) in as_sent.iter().zip(&other) {
                let b = SpanRow {
                    project: AS_SENT.into(),
                    ..(*b).clone()
                };
                assert_eq!(
                    **a,
                    b,
                    "{}: {project} row differs from the as-sent row",
                    case.ctx()
                );
            }
        }
        calls_checked += calls_of(&case.exp).len();
    }
    assert!(
        calls_checked >= 25,
        "only {calls_checked} LLM calls checked"
    );
    t.shutdown().await;
    eprintln!(
        "fixtures_e2e: {} scenarios × 3 transports, {calls_checked} LLM calls, {} rows, {:.1} s",
        cases.len(),
        rows.len(),
        started.elapsed().as_secs_f64()
    );
}
