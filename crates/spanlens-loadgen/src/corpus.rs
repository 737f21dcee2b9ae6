//! Realistic LLM span trees, shaped like what OpenTelemetry GenAI instrumentation emits for an
//! agent application, packed into OTLP `ExportTraceServiceRequest`s.
//!
//! One trace = one agent invocation:
//!
//! ```text
//! invoke_agent <agent>                       (INTERNAL; session.id, user.id, input/output)
//! ├── retrieval <index>                      (sometimes, for RAG applications)
//! │   └── embeddings text-embedding-3-small  (CLIENT)
//! ├── chat <model>                           (CLIENT; messages, usage, finish reasons)
//! ├── execute_tool <tool>  ×1–2, in parallel (INTERNAL; arguments, result)
//! ├── chat <model>                           (…1–4 chat calls in all, the last one answers)
//! └── …
//! ```
//!
//! Errors happen the way they do in production: a provider call fails (rate limit, timeout,
//! server error) and takes the agent down with it, or a tool fails and the model carries on.
//! Everything is drawn from a seeded RNG, so a seed always yields the same corpus.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, SpanKind};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use rand::Rng;
use rand::seq::IndexedRandom;
use serde_json::json;

use crate::text::{self, DOMAINS, Domain};

/// A chat model as providers report it: the name asked for and the snapshot that answered.
struct Model {
    provider: &'static str,
    request: &'static str,
    response: &'static str,
    server: &'static str,
    /// Reports reasoning tokens (o-series, GPT-5, extended thinking).
    reasoning: bool,
}

static MODELS: &[Model] = &[
    Model { provider: "openai", request: "gpt-4o", response: "gpt-4o-2024-08-06", server: "api.openai.com", reasoning: false },
    Model { provider: "openai", request: "gpt-4o-mini", response: "gpt-4o-mini-2024-07-18", server: "api.openai.com", reasoning: false },
    Model { provider: "openai", request: "gpt-4.1", response: "gpt-4.1-2025-04-14", server: "api.openai.com", reasoning: false },
    Model { provider: "openai", request: "gpt-5", response: "gpt-5-2025-08-07", server: "api.openai.com", reasoning: true },
    Model { provider: "openai", request: "o3-mini", response: "o3-mini-2025-01-31", server: "api.openai.com", reasoning: true },
    Model { provider: "anthropic", request: "claude-sonnet-4-5", response: "claude-sonnet-4-5-20250929", server: "api.anthropic.com", reasoning: false },
    Model { provider: "anthropic", request: "claude-3-5-haiku-latest", response: "claude-3-5-haiku-20241022", server: "api.anthropic.com", reasoning: false },
    Model { provider: "anthropic", request: "claude-opus-4-1", response: "claude-opus-4-1-20250805", server: "api.anthropic.com", reasoning: true },
    Model { provider: "gcp.gemini", request: "gemini-2.5-flash", response: "gemini-2.5-flash", server: "generativelanguage.googleapis.com", reasoning: true },
    Model { provider: "gcp.gemini", request: "gemini-2.5-pro", response: "gemini-2.5-pro", server: "generativelanguage.googleapis.com", reasoning: true },
    Model { provider: "aws.bedrock", request: "meta.llama3-1-70b-instruct-v1:0", response: "meta.llama3-1-70b-instruct-v1:0", server: "bedrock-runtime.us-east-1.amazonaws.com", reasoning: false },
    Model { provider: "mistral_ai", request: "mistral-large-latest", response: "mistral-large-2411", server: "api.mistral.ai", reasoning: false },
];

/// The instrumentation library that emits a provider's chat spans.
fn provider_scope(provider: &str) -> (&'static str, &'static str) {
    match provider {
        "openai" => ("opentelemetry.instrumentation.openai_v2", "2.2b0"),
        "anthropic" => ("opentelemetry.instrumentation.anthropic", "0.47.3"),
        "gcp.gemini" => ("opentelemetry.instrumentation.google_genai", "0.4b0"),
        "aws.bedrock" => ("opentelemetry.instrumentation.botocore", "0.58b0"),
        _ => ("opentelemetry.instrumentation.mistralai", "0.47.3"),
    }
}

static AGENT_SCOPES: &[(&str, &str)] =
    &[("openai.agents", "0.3.2"), ("langgraph", "0.6.7"), ("pydantic-ai", "1.0.10"), ("spanlens", "0.1.0")];

static LLM_ERRORS: &[(&str, &str)] = &[
    ("RateLimitError", "Error code: 429 - Rate limit reached for requests per minute. Please try again in 2.4s."),
    ("APITimeoutError", "Request timed out after 60.0 seconds."),
    ("InternalServerError", "Error code: 500 - The server had an error while processing your request."),
    ("overloaded_error", "Error code: 529 - Overloaded"),
    ("APIConnectionError", "Connection error: peer closed connection without sending complete message body"),
];

static TOOL_ERRORS: &[(&str, &str)] = &[
    ("TimeoutError", "tool did not answer within 10 s"),
    ("ToolExecutionError", "upstream service returned 502 Bad Gateway"),
    ("ValidationError", "argument failed schema validation: missing required property"),
];

/// Knobs of the corpus.
#[derive(Clone, Debug)]
pub struct CorpusConfig {
    /// Whole traces are packed into a request until it holds at least this many spans.
    pub spans_per_request: usize,
    /// Probability that an LLM call fails (and takes its agent invocation down).
    pub llm_error_rate: f64,
    /// Probability that a tool call fails (the agent continues).
    pub tool_error_rate: f64,
}

/// One generated request with its shape.
pub struct GeneratedRequest {
    pub request: ExportTraceServiceRequest,
    pub spans: usize,
    pub traces: usize,
    /// Every trace id / span id used, so encoded bodies can be re-keyed cheaply.
    pub trace_ids: Vec<[u8; 16]>,
    pub span_ids: Vec<[u8; 8]>,
    pub root_spans: usize,
}

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue { key: key.to_string(), value: Some(AnyValue { value: Some(value) }), ..Default::default() }
}
fn s(key: &str, v: impl Into<String>) -> KeyValue {
    kv(key, any_value::Value::StringValue(v.into()))
}
fn i(key: &str, v: i64) -> KeyValue {
    kv(key, any_value::Value::IntValue(v))
}
fn f(key: &str, v: f64) -> KeyValue {
    kv(key, any_value::Value::DoubleValue(v))
}
fn sa(key: &str, vs: &[&str]) -> KeyValue {
    let values = vs
        .iter()
        .map(|v| AnyValue { value: Some(any_value::Value::StringValue(v.to_string())) })
        .collect();
    kv(key, any_value::Value::ArrayValue(ArrayValue { values }))
}

fn hex_id(rng: &mut impl Rng, n: usize) -> String {
    (0..n).map(|_| format!("{:02x}", rng.random::<u8>())).collect()
}

/// Rough token count of text (≈ 4 characters per token for English), with some noise.
fn tokens(rng: &mut impl Rng, chars: usize) -> i64 {
    let base = chars as f64 / 4.0;
    (base * rng.random_range(0.9..1.1)).round().max(1.0) as i64
}

const US: u64 = 1_000;

/// Builds traces for one request.
pub struct Generator<R: Rng> {
    rng: R,
    config: CorpusConfig,
    /// Wall-clock time the generated traces end near (ns since the epoch).
    now_ns: u64,
}

/// Spans of one trace, split by the instrumentation scope that emitted them.
struct TraceSpans {
    agent: Vec<Span>,
    llm: Vec<(&'static str, Span)>,
}

impl<R: Rng> Generator<R> {
    pub fn new(rng: R, config: CorpusConfig, now_ns: u64) -> Self {
        Generator { rng, config, now_ns }
    }

    fn new_trace_id(&mut self, ids: &mut Vec<[u8; 16]>) -> [u8; 16] {
        let id: [u8; 16] = self.rng.random();
        ids.push(id);
        id
    }

    fn new_span_id(&mut self, ids: &mut Vec<[u8; 8]>) -> [u8; 8] {
        let id: [u8; 8] = self.rng.random();
        ids.push(id);
        id
    }

    /// One request: a single service (resource) whose traces hold at least `spans_per_request`
    /// spans, grouped into scope spans per instrumentation library, as an SDK batch would be.
    pub fn request(&mut self) -> GeneratedRequest {
        let domain_idx = self.rng.random_range(0..DOMAINS.len());
        let domain = &DOMAINS[domain_idx];
        let agent_scope = AGENT_SCOPES[domain_idx % AGENT_SCOPES.len()];
        let mut trace_ids = Vec::new();
        let mut span_ids = Vec::new();
        let mut agent_spans = Vec::new();
        let mut llm_spans: Vec<(&'static str, Span)> = Vec::new();
        let mut spans = 0;
        let mut traces = 0;
        while spans < self.config.spans_per_request.max(1) {
            let t = self.trace(domain, &mut trace_ids, &mut span_ids);
            spans += t.agent.len() + t.llm.len();
            traces += 1;
            agent_spans.extend(t.agent);
            llm_spans.extend(t.llm);
        }

        let mut scope_spans = vec![ScopeSpans {
            scope: Some(InstrumentationScope {
                name: agent_scope.0.into(),
                version: agent_scope.1.into(),
                ..Default::default()
            }),
            spans: agent_spans,
            schema_url: "https://opentelemetry.io/schemas/1.37.0".into(),
        }];
        // One scope per provider library, in first-seen order.
        for (provider, span) in llm_spans {
            let (name, version) = provider_scope(provider);
            match scope_spans.iter_mut().find(|ss| ss.scope.as_ref().is_some_and(|s| s.name == name)) {
                Some(ss) => ss.spans.push(span),
                None => scope_spans.push(ScopeSpans {
                    scope: Some(InstrumentationScope { name: name.into(), version: version.into(), ..Default::default() }),
                    spans: vec![span],
                    schema_url: "https://opentelemetry.io/schemas/1.37.0".into(),
                }),
            }
        }

        let environment = if self.rng.random_bool(0.8) { "production" } else { "staging" };
        let language = if domain_idx % 2 == 0 { "python" } else { "nodejs" };
        let resource = Resource {
            attributes: vec![
                s("service.name", domain.service),
                s("service.version", domain.version),
                s("service.instance.id", hex_id(&mut self.rng, 8)),
                s("deployment.environment.name", environment),
                s("telemetry.sdk.name", "opentelemetry"),
                s("telemetry.sdk.language", language),
                s("telemetry.sdk.version", if language == "python" { "1.37.0" } else { "2.1.0" }),
                s("host.name", format!("{}-{}", domain.service, hex_id(&mut self.rng, 3))),
                s("cloud.region", *["eu-west-1", "us-east-1", "europe-west4"].choose(&mut self.rng).unwrap()),
            ],
            ..Default::default()
        };
        GeneratedRequest {
            request: ExportTraceServiceRequest {
                resource_spans: vec![ResourceSpans {
                    resource: Some(resource),
                    scope_spans,
                    schema_url: "https://opentelemetry.io/schemas/1.37.0".into(),
                }],
            },
            spans,
            traces,
            root_spans: traces,
            trace_ids,
            span_ids,
        }
    }

    fn trace(&mut self, d: &'static Domain, trace_ids: &mut Vec<[u8; 16]>, span_ids: &mut Vec<[u8; 8]>) -> TraceSpans {
        let rng_trace = self.new_trace_id(trace_ids);
        let trace_id = rng_trace.to_vec();
        let root_id = self.new_span_id(span_ids).to_vec();
        let session = format!("sess_{}", hex_id(&mut self.rng, 6));
        let user = format!("user_{}", self.rng.random_range(1..50_000));
        let common = |extra: Vec<KeyValue>| {
            let mut attrs = extra;
            attrs.push(s("session.id", session.clone()));
            attrs.push(s("user.id", user.clone()));
            attrs
        };
        let model = MODELS.choose(&mut self.rng).unwrap();
        let prompt_version = self.rng.random_range(1..=d.policies.len() + 1);
        let system = text::system_prompt(d, prompt_version);
        let question = text::user_prompt(&mut self.rng, d);
        let temperature = (self.rng.random_range(0..=10) as f64) / 10.0;
        let max_tokens = *[1024i64, 2048, 4096, 8192].choose(&mut self.rng).unwrap();

        // Traces end before `now_ns` (a slow agent run takes minutes at most).
        let root_start = self.now_ns - self.rng.random_range(600_000_000_000..900_000_000_000u64);
        let mut cursor = root_start + self.rng.random_range(2_000..20_000) * US;
        let mut agent: Vec<Span> = Vec::new();
        let mut llm: Vec<(&'static str, Span)> = Vec::new();
        let mut root_error: Option<(&str, &str)> = None;

        let span = |name: String, id: Vec<u8>, parent: &[u8], kind: SpanKind, start: u64, end: u64, attributes: Vec<KeyValue>| Span {
            trace_id: trace_id.clone(),
            span_id: id,
            parent_span_id: parent.to_vec(),
            flags: 0x101,
            name,
            kind: kind as i32,
            start_time_unix_nano: start,
            end_time_unix_nano: end,
            attributes,
            ..Default::default()
        };

        // The conversation the model sees, growing with each tool round trip.
        let mut messages = vec![
            json!({"role": "system", "parts": [{"type": "text", "content": system}]}),
        ];

        // Retrieval (RAG) before the first model call.
        if let Some(source) = d.data_source.filter(|_| self.rng.random_bool(0.6)) {
            let retrieval_id = self.new_span_id(span_ids).to_vec();
            let embed_id = self.new_span_id(span_ids).to_vec();
            let r_start = cursor;
            let e_start = r_start + self.rng.random_range(500..4_000) * US;
            let e_end = e_start + self.rng.random_range(40_000..250_000) * US;
            let r_end = e_end + self.rng.random_range(15_000..120_000) * US;
            let top_k = self.rng.random_range(3..=6);
            llm.push(("openai", span(
                "embeddings text-embedding-3-small".into(), embed_id, &retrieval_id, SpanKind::Client, e_start, e_end,
                common(vec![
                    s("gen_ai.operation.name", "embeddings"),
                    s("gen_ai.provider.name", "openai"),
                    s("gen_ai.request.model", "text-embedding-3-small"),
                    s("gen_ai.response.model", "text-embedding-3-small"),
                    i("gen_ai.usage.input_tokens", tokens(&mut self.rng, question.len())),
                    i("gen_ai.embeddings.dimension.count", 1536),
                    s("server.address", "api.openai.com"),
                    i("server.port", 443),
                ]),
            )));
            agent.push(span(
                format!("retrieval {source}"), retrieval_id, &root_id, SpanKind::Internal, r_start, r_end,
                common(vec![
                    s("gen_ai.operation.name", "retrieval"),
                    s("gen_ai.data_source.id", source),
                    s("db.system.name", "qdrant"),
                    s("db.operation.name", "search"),
                    s("db.collection.name", source),
                    i("db.response.returned_rows", top_k as i64),
                ]),
            ));
            let context = text::retrieved_context(&mut self.rng, d, top_k);
            messages.push(json!({"role": "user", "parts": [{"type": "text", "content": context}]}));
            cursor = r_end + self.rng.random_range(200..5_000) * US;
        }
        messages.push(json!({"role": "user", "parts": [{"type": "text", "content": question.clone()}]}));

        let n_llm = match self.rng.random_range(0..10) {
            0..=2 => 1,
            3..=5 => 2,
            6..=8 => 3,
            _ => 4,
        };
        let mut final_answer = String::new();
        for turn in 0..n_llm {
            let last = turn == n_llm - 1;
            let llm_id = self.new_span_id(span_ids).to_vec();
            let input_json = serde_json::Value::Array(messages.clone()).to_string();
            let input_tokens = tokens(&mut self.rng, input_json.len());
            let start = cursor;
            let mut attrs = vec![
                s("gen_ai.operation.name", "chat"),
                s("gen_ai.provider.name", model.provider),
                s("gen_ai.request.model", model.request),
                f("gen_ai.request.temperature", temperature),
                i("gen_ai.request.max_tokens", max_tokens),
                s("server.address", model.server),
                i("server.port", 443),
            ];
            if self.rng.random_bool(0.3) {
                attrs.push(f("gen_ai.request.top_p", 0.9));
            }
            attrs.push(s("gen_ai.input.messages", input_json));

            if self.rng.random_bool(self.config.llm_error_rate) {
                let (error_type, message) = *LLM_ERRORS.choose(&mut self.rng).unwrap();
                let end = start + self.rng.random_range(200_000..60_000_000) * US;
                attrs.push(s("error.type", error_type));
                let mut sp = span(format!("chat {}", model.request), llm_id, &root_id, SpanKind::Client, start, end, common(attrs));
                sp.status = Some(Status { code: StatusCode::Error as i32, message: message.into() });
                sp.events.push(Event {
                    time_unix_nano: end,
                    name: "exception".into(),
                    attributes: vec![s("exception.type", error_type), s("exception.message", message)],
                    ..Default::default()
                });
                llm.push((model.provider, sp));
                root_error = Some((error_type, message));
                cursor = end;
                break;
            }

            let (output, finish, calls) = if last {
                let target = self.rng.random_range(200..3000);
                let answer = text::completion(&mut self.rng, d, target);
                let finish = if self.rng.random_bool(0.04) { "length" } else { "stop" };
                final_answer = answer.clone();
                (json!([{"role": "assistant", "parts": [{"type": "text", "content": answer}], "finish_reason": finish}]), finish, Vec::new())
            } else {
                let n_calls = if self.rng.random_bool(0.3) { 2 } else { 1 };
                let mut parts = Vec::new();
                if self.rng.random_bool(0.4) {
                    parts.push(json!({"type": "text", "content": "Let me look that up before answering."}));
                }
                let mut calls = Vec::new();
                for _ in 0..n_calls {
                    let tool = d.tools.choose(&mut self.rng).unwrap();
                    let call_id = format!("call_{}", hex_id(&mut self.rng, 12));
                    let args = text::tool_arguments(&mut self.rng, d, tool);
                    parts.push(json!({"type": "tool_call", "id": call_id, "name": tool.name, "arguments": args}));
                    calls.push((tool, call_id, args));
                }
                (json!([{"role": "assistant", "parts": parts, "finish_reason": "tool_calls"}]), "tool_calls", calls)
            };
            let output_json = output.to_string();
            let output_tokens = if finish == "length" { max_tokens } else { tokens(&mut self.rng, output_json.len() / 2 + 20) };
            // Time to first token, then a realistic decode speed (20–120 tokens/s).
            let ttft = self.rng.random_range(250_000..1_800_000) * US;
            let decode = output_tokens as u64 * 1_000_000_000 / self.rng.random_range(20..120);
            let end = start + ttft + decode;
            attrs.push(s("gen_ai.response.model", model.response));
            attrs.push(s("gen_ai.response.id", format!("resp_{}", hex_id(&mut self.rng, 12))));
            attrs.push(sa("gen_ai.response.finish_reasons", &[finish]));
            attrs.push(i("gen_ai.usage.input_tokens", input_tokens));
            attrs.push(i("gen_ai.usage.output_tokens", output_tokens));
            if input_tokens > 1024 && self.rng.random_bool(0.5) {
                // Long stable system prompts hit the provider's prompt cache.
                attrs.push(i("gen_ai.usage.cache_read.input_tokens", (text::system_prompt(d, 1).len() / 4) as i64));
            }
            if model.reasoning {
                attrs.push(i("gen_ai.usage.reasoning.output_tokens", self.rng.random_range(0..=output_tokens * 3)));
            }
            attrs.push(s("gen_ai.output.messages", output_json));
            llm.push((model.provider, span(format!("chat {}", model.request), llm_id, &root_id, SpanKind::Client, start, end, common(attrs))));
            messages.push(output[0].clone());
            cursor = end + self.rng.random_range(200..5_000) * US;

            // Tool calls run in parallel; the next model call starts when the slowest ends.
            let mut slowest = cursor;
            for (tool, call_id, args) in calls {
                let tool_id = self.new_span_id(span_ids).to_vec();
                let t_start = cursor + self.rng.random_range(50..3_000) * US;
                let t_end = t_start + self.rng.random_range(15_000..1_500_000) * US;
                slowest = slowest.max(t_end);
                let failure = if self.rng.random_bool(self.config.tool_error_rate) {
                    Some(*TOOL_ERRORS.choose(&mut self.rng).unwrap())
                } else {
                    None
                };
                let result = match failure {
                    Some((error_type, message)) => json!({"error": error_type, "message": message}).to_string(),
                    None => text::tool_result(&mut self.rng, d, tool),
                };
                let mut attrs = vec![
                    s("gen_ai.operation.name", "execute_tool"),
                    s("gen_ai.tool.name", tool.name),
                    s("gen_ai.tool.description", tool.description),
                    s("gen_ai.tool.type", "function"),
                    s("gen_ai.tool.call.id", call_id.clone()),
                    s("gen_ai.tool.call.arguments", args.to_string()),
                    s("gen_ai.tool.call.result", result.clone()),
                ];
                let mut status = None;
                if let Some((error_type, message)) = failure {
                    attrs.push(s("error.type", error_type));
                    status = Some(Status { code: StatusCode::Error as i32, message: message.into() });
                }
                let mut sp = span(format!("execute_tool {}", tool.name), tool_id, &root_id, SpanKind::Internal, t_start, t_end, common(attrs));
                sp.status = status;
                agent.push(sp);
                messages.push(json!({"role": "tool", "parts": [{"type": "tool_call_response", "id": call_id, "response": result}]}));
            }
            cursor = slowest + self.rng.random_range(200..5_000) * US;
        }

        let root_end = cursor + self.rng.random_range(500..10_000) * US;
        let mut root_attrs = vec![
            s("gen_ai.operation.name", "invoke_agent"),
            s("gen_ai.agent.name", d.agent),
            s("gen_ai.agent.id", format!("asst_{}", d.agent)),
            s("gen_ai.agent.description", d.agent_description),
            s("gen_ai.conversation.id", session.clone()),
            s("gen_ai.input.messages", json!([{"role": "user", "parts": [{"type": "text", "content": question}]}]).to_string()),
        ];
        if !final_answer.is_empty() {
            root_attrs.push(s(
                "gen_ai.output.messages",
                json!([{"role": "assistant", "parts": [{"type": "text", "content": final_answer}], "finish_reason": "stop"}]).to_string(),
            ));
        }
        if let Some((error_type, _)) = root_error {
            root_attrs.push(s("error.type", error_type));
        }
        let mut root = span(format!("invoke_agent {}", d.agent), root_id.clone(), &[], SpanKind::Internal, root_start, root_end, common(root_attrs));
        if let Some((_, message)) = root_error {
            root.status = Some(Status { code: StatusCode::Error as i32, message: message.into() });
        }
        agent.insert(0, root);
        TraceSpans { agent, llm }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use std::collections::{HashMap, HashSet};

    fn generate(seed: u64) -> GeneratedRequest {
        let config = CorpusConfig { spans_per_request: 100, llm_error_rate: 0.05, tool_error_rate: 0.05 };
        Generator::new(StdRng::seed_from_u64(seed), config, 1_750_000_000_000_000_000).request()
    }

    fn all_spans(r: &ExportTraceServiceRequest) -> Vec<&Span> {
        r.resource_spans.iter().flat_map(|rs| rs.scope_spans.iter()).flat_map(|ss| ss.spans.iter()).collect()
    }

    #[test]
    fn same_seed_same_corpus() {
        use prost::Message;
        assert_eq!(generate(7).request.encode_to_vec(), generate(7).request.encode_to_vec());
        assert_ne!(generate(7).request.encode_to_vec(), generate(8).request.encode_to_vec());
    }

    #[test]
    fn trees_are_well_formed() {
        for seed in 0..20 {
            let g = generate(seed);
            let spans = all_spans(&g.request);
            assert_eq!(spans.len(), g.spans);
            assert!(g.spans >= 100);
            let by_id: HashMap<&[u8], &Span> = spans.iter().map(|s| (s.span_id.as_slice(), *s)).collect();
            assert_eq!(by_id.len(), spans.len(), "span ids are unique");
            let traces: HashSet<&[u8]> = spans.iter().map(|s| s.trace_id.as_slice()).collect();
            assert_eq!(traces.len(), g.traces);
            let mut roots = 0;
            for span in &spans {
                assert!(span.start_time_unix_nano < span.end_time_unix_nano, "{}", span.name);
                if span.parent_span_id.is_empty() {
                    roots += 1;
                    continue;
                }
                let parent = by_id[span.parent_span_id.as_slice()];
                assert_eq!(parent.trace_id, span.trace_id);
                assert!(parent.start_time_unix_nano <= span.start_time_unix_nano, "{} starts before {}", span.name, parent.name);
                assert!(parent.end_time_unix_nano >= span.end_time_unix_nano, "{} ends after {}", span.name, parent.name);
            }
            assert_eq!(roots, g.traces, "one root per trace");
        }
    }

    #[test]
    fn llm_spans_carry_the_genai_attributes() {
        let g = generate(3);
        let chats: Vec<&Span> = all_spans(&g.request).into_iter().filter(|s| s.name.starts_with("chat ")).collect();
        assert!(!chats.is_empty());
        for span in chats {
            let keys: HashSet<&str> = span.attributes.iter().map(|kv| kv.key.as_str()).collect();
            for k in ["gen_ai.provider.name", "gen_ai.request.model", "gen_ai.input.messages", "session.id", "user.id"] {
                assert!(keys.contains(k), "{k} missing on {}", span.name);
            }
            let input = span.attributes.iter().find(|kv| kv.key == "gen_ai.input.messages").unwrap();
            let Some(any_value::Value::StringValue(text)) = &input.value.as_ref().unwrap().value else { panic!() };
            let parsed: serde_json::Value = serde_json::from_str(text).unwrap();
            assert_eq!(parsed[0]["role"], "system");
            assert!(text.len() > 500, "realistic prompt length, got {}", text.len());
        }
    }
}
