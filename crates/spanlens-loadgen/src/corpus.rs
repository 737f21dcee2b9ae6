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
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, any_value,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, SpanKind};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use rand::Rng;
use rand::seq::IndexedRandom;
use serde_json::json;

use crate::text::{self, DOMAINS, Domain, Tool};

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
    Model {
        provider: "openai",
        request: "gpt-4o",
        response: "gpt-4o-2024-08-06",
        server: "api.openai.com",
        reasoning: false,
    },
    Model {
        provider: "openai",
        request: "gpt-4o-mini",
        response: "gpt-4o-mini-2024-07-18",
        server: "api.openai.com",
        reasoning: false,
    },
    Model {
        provider: "openai",
        request: "gpt-4.1",
        response: "gpt-4.1-2025-04-14",
        server: "api.openai.com",
        reasoning: false,
    },
    Model {
        provider: "openai",
        request: "gpt-5",
        response: "gpt-5-2025-08-07",
        server: "api.openai.com",
        reasoning: true,
    },
    Model {
        provider: "openai",
        request: "o3-mini",
        response: "o3-mini-2025-01-31",
        server: "api.openai.com",
        reasoning: true,
    },
    Model {
        provider: "anthropic",
        request: "claude-sonnet-4-5",
        response: "claude-sonnet-4-5-20250929",
        server: "api.anthropic.com",
        reasoning: false,
    },
    Model {
        provider: "anthropic",
        request: "claude-3-5-haiku-latest",
        response: "claude-3-5-haiku-20241022",
        server: "api.anthropic.com",
        reasoning: false,
    },
    Model {
        provider: "anthropic",
        request: "claude-opus-4-1",
        response: "claude-opus-4-1-20250805",
        server: "api.anthropic.com",
        reasoning: true,
    },
    Model {
        provider: "gcp.gemini",
        request: "gemini-2.5-flash",
        response: "gemini-2.5-flash",
        server: "generativelanguage.googleapis.com",
        reasoning: true,
    },
    Model {
        provider: "gcp.gemini",
        request: "gemini-2.5-pro",
        response: "gemini-2.5-pro",
        server: "generativelanguage.googleapis.com",
        reasoning: true,
    },
    Model {
        provider: "aws.bedrock",
        request: "meta.llama3-1-70b-instruct-v1:0",
        response: "meta.llama3-1-70b-instruct-v1:0",
        server: "bedrock-runtime.us-east-1.amazonaws.com",
        reasoning: false,
    },
    Model {
        provider: "mistral_ai",
        request: "mistral-large-latest",
        response: "mistral-large-2411",
        server: "api.mistral.ai",
        reasoning: false,
    },
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

static AGENT_SCOPES: &[(&str, &str)] = &[
    ("openai.agents", "0.3.2"),
    ("langgraph", "0.6.7"),
    ("pydantic-ai", "1.0.10"),
    ("spanlens", "0.1.0"),
];

static LLM_ERRORS: &[(&str, &str)] = &[
    (
        "RateLimitError",
        "Error code: 429 - Rate limit reached for requests per minute. Please try again in 2.4s.",
    ),
    ("APITimeoutError", "Request timed out after 60.0 seconds."),
    (
        "InternalServerError",
        "Error code: 500 - The server had an error while processing your request.",
    ),
    ("overloaded_error", "Error code: 529 - Overloaded"),
    (
        "APIConnectionError",
        "Connection error: peer closed connection without sending complete message body",
    ),
];

static TOOL_ERRORS: &[(&str, &str)] = &[
    ("TimeoutError", "tool did not answer within 10 s"),
    (
        "ToolExecutionError",
        "upstream service returned 502 Bad Gateway",
    ),
    (
        "ValidationError",
        "argument failed schema validation: missing required property",
    ),
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
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
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
        .map(|v| AnyValue {
            value: Some(any_value::Value::StringValue(v.to_string())),
        })
        .collect();
    kv(key, any_value::Value::ArrayValue(ArrayValue { values }))
}

fn hex_id(rng: &mut impl Rng, n: usize) -> String {
    (0..n)
        .map(|_| format!("{:02x}", rng.random::<u8>()))
        .collect()
}

/// Rough token count of text (≈ 4 characters per token for English), with some noise.
fn tokens(rng: &mut impl Rng, chars: usize) -> i64 {
    let base = chars as f64 / 4.0;
    (base * rng.random_range(0.9..1.1)).round().max(1.0) as i64
}

const US: u64 = 1_000;
const SCHEMA_URL: &str = "https://opentelemetry.io/schemas/1.37.0";

/// Builds traces for one request.
pub struct Generator<R: Rng> {
    rng: R,
    config: CorpusConfig,
    /// Wall-clock time the generated traces end near (ns since the epoch).
    now_ns: u64,
}

/// Every id handed out for one request, so encoded bodies can be re-keyed.
#[derive(Default)]
struct Ids {
    traces: Vec<[u8; 16]>,
    spans: Vec<[u8; 8]>,
}

/// Spans of one trace, split by the instrumentation scope that emitted them.
#[derive(Default)]
struct TraceSpans {
    /// The agent framework's spans: agent, tools, retrieval.
    agent: Vec<Span>,
    /// Provider client spans (chat, embeddings), with their provider.
    llm: Vec<(&'static str, Span)>,
}

/// What the spans of one trace share.
struct Trace {
    domain: &'static Domain,
    trace_id: Vec<u8>,
    root_id: Vec<u8>,
    session: String,
    user: String,
    model: &'static Model,
    temperature: f64,
    max_tokens: i64,
    spans: TraceSpans,
}

impl Trace {
    /// A child span of the trace; session and user ride on every span (as Langfuse-style SDKs
    /// propagate them).
    #[allow(clippy::too_many_arguments)]
    fn span(
        &self,
        name: String,
        id: Vec<u8>,
        parent: &[u8],
        kind: SpanKind,
        start: u64,
        end: u64,
        mut attributes: Vec<KeyValue>,
    ) -> Span {
        attributes.push(s("session.id", self.session.clone()));
        attributes.push(s("user.id", self.user.clone()));
        Span {
            trace_id: self.trace_id.clone(),
            span_id: id,
            parent_span_id: parent.to_vec(),
            flags: 0x101,
            name,
            kind: kind as i32,
            start_time_unix_nano: start,
            end_time_unix_nano: end,
            attributes,
            ..Default::default()
        }
    }
}

/// How one chat call ended.
enum Chat {
    /// The provider call failed; the agent gives up.
    Failed {
        end: u64,
        error: (&'static str, &'static str),
    },
    /// The model asked for tools.
    ToolCalls {
        end: u64,
        calls: Vec<(&'static Tool, String, serde_json::Value)>,
    },
    /// The model answered.
    Answered { end: u64, answer: String },
}

fn error_status(message: &str) -> Option<Status> {
    Some(Status {
        code: StatusCode::Error as i32,
        message: message.into(),
    })
}

impl<R: Rng> Generator<R> {
    pub fn new(rng: R, config: CorpusConfig, now_ns: u64) -> Self {
        Generator {
            rng,
            config,
            now_ns,
        }
    }

    fn span_id(&mut self, ids: &mut Ids) -> Vec<u8> {
        let id: [u8; 8] = self.rng.random();
        ids.spans.push(id);
        id.to_vec()
    }

    fn gap(&mut self) -> u64 {
        self.rng.random_range(200..5_000) * US
    }

    /// One request: a single service (resource) whose traces hold at least `spans_per_request`
    /// spans, grouped into scope spans per instrumentation library, as an SDK batch would be.
    pub fn request(&mut self) -> GeneratedRequest {
        let domain_idx = self.rng.random_range(0..DOMAINS.len());
        let domain = &DOMAINS[domain_idx];
        let mut ids = Ids::default();
        let mut all = TraceSpans::default();
        let (mut spans, mut traces) = (0, 0);
        while spans < self.config.spans_per_request.max(1) {
            let t = self.trace(domain, &mut ids);
            spans += t.agent.len() + t.llm.len();
            traces += 1;
            all.agent.extend(t.agent);
            all.llm.extend(t.llm);
        }

        let scope = |(name, version): (&str, &str), spans: Vec<Span>| ScopeSpans {
            scope: Some(InstrumentationScope {
                name: name.into(),
                version: version.into(),
                ..Default::default()
            }),
            spans,
            schema_url: SCHEMA_URL.into(),
        };
        let mut scope_spans = vec![scope(
            AGENT_SCOPES[domain_idx % AGENT_SCOPES.len()],
            all.agent,
        )];
        // One scope per provider library, in first-seen order.
        for (provider, span) in all.llm {
            let lib = provider_scope(provider);
            match scope_spans
                .iter_mut()
                .find(|ss| ss.scope.as_ref().is_some_and(|s| s.name == lib.0))
            {
                Some(ss) => ss.spans.push(span),
                None => scope_spans.push(scope(lib, vec![span])),
            }
        }

        let environment = if self.rng.random_bool(0.8) {
            "production"
        } else {
            "staging"
        };
        let (language, sdk_version) = if domain_idx % 2 == 0 {
            ("python", "1.37.0")
        } else {
            ("nodejs", "2.1.0")
        };
        let resource = Resource {
            attributes: vec![
                s("service.name", domain.service),
                s("service.version", domain.version),
                s("service.instance.id", hex_id(&mut self.rng, 8)),
                s("deployment.environment.name", environment),
                s("telemetry.sdk.name", "opentelemetry"),
                s("telemetry.sdk.language", language),
                s("telemetry.sdk.version", sdk_version),
                s(
                    "host.name",
                    format!("{}-{}", domain.service, hex_id(&mut self.rng, 3)),
                ),
                s(
                    "cloud.region",
                    *["eu-west-1", "us-east-1", "europe-west4"]
                        .choose(&mut self.rng)
                        .unwrap(),
                ),
            ],
            ..Default::default()
        };
        GeneratedRequest {
            request: ExportTraceServiceRequest {
                resource_spans: vec![ResourceSpans {
                    resource: Some(resource),
                    scope_spans,
                    schema_url: SCHEMA_URL.into(),
                }],
            },
            spans,
            traces,
            root_spans: traces,
            trace_ids: ids.traces,
            span_ids: ids.spans,
        }
    }

    /// One agent invocation: optional retrieval, then chat calls and the tools they ask for.
    fn trace(&mut self, domain: &'static Domain, ids: &mut Ids) -> TraceSpans {
        let trace_id: [u8; 16] = self.rng.random();
        ids.traces.push(trace_id);
        let mut t = Trace {
            domain,
            trace_id: trace_id.to_vec(),
            root_id: self.span_id(ids),
            session: format!("sess_{}", hex_id(&mut self.rng, 6)),
            user: format!("user_{}", self.rng.random_range(1..50_000)),
            model: MODELS.choose(&mut self.rng).unwrap(),
            temperature: (self.rng.random_range(0..=10) as f64) / 10.0,
            max_tokens: *[1024i64, 2048, 4096, 8192].choose(&mut self.rng).unwrap(),
            spans: TraceSpans::default(),
        };
        let prompt_version = self.rng.random_range(1..=domain.policies.len() + 1);
        let question = text::user_prompt(&mut self.rng, domain);

        // Traces end before `now_ns` (a slow agent run takes minutes at most).
        let root_start = self.now_ns - self.rng.random_range(600_000_000_000..900_000_000_000u64);
        let mut cursor = root_start + self.rng.random_range(2_000..20_000) * US;

        // The conversation the model sees, growing with each tool round trip.
        let system = text::system_prompt(domain, prompt_version);
        let mut messages =
            vec![json!({"role": "system", "parts": [{"type": "text", "content": system}]})];
        if let Some(source) = domain.data_source.filter(|_| self.rng.random_bool(0.6)) {
            let (end, context) = self.retrieval(&mut t, ids, source, cursor, &question);
            messages.push(json!({"role": "user", "parts": [{"type": "text", "content": context}]}));
            cursor = end + self.gap();
        }
        messages.push(
            json!({"role": "user", "parts": [{"type": "text", "content": question.clone()}]}),
        );

        let turns = *[1, 1, 1, 2, 2, 2, 3, 3, 3, 4]
            .choose(&mut self.rng)
            .unwrap();
        let mut outcome = Ok(String::new());
        for turn in 0..turns {
            match self.chat(&mut t, ids, cursor, &mut messages, turn == turns - 1) {
                Chat::Failed { end, error } => {
                    cursor = end;
                    outcome = Err(error);
                    break;
                }
                Chat::Answered { end, answer } => {
                    cursor = end;
                    outcome = Ok(answer);
                }
                Chat::ToolCalls { end, calls } => {
                    // Tool calls run in parallel; the next model call starts when the slowest ends.
                    let start = end + self.gap();
                    let mut slowest = start;
                    for (tool, call_id, args) in calls {
                        let (tool_end, result) =
                            self.tool(&mut t, ids, start, tool, &call_id, &args);
                        slowest = slowest.max(tool_end);
                        messages.push(json!({"role": "tool", "parts": [{"type": "tool_call_response", "id": call_id, "response": result}]}));
                    }
                    cursor = slowest + self.gap();
                }
            }
        }

        let root_end = cursor + self.rng.random_range(500..10_000) * US;
        let mut attrs = vec![
            s("gen_ai.operation.name", "invoke_agent"),
            s("gen_ai.agent.name", domain.agent),
            s("gen_ai.agent.id", format!("asst_{}", domain.agent)),
            s("gen_ai.agent.description", domain.agent_description),
            s("gen_ai.conversation.id", t.session.clone()),
            s(
                "gen_ai.input.messages",
                json!([{"role": "user", "parts": [{"type": "text", "content": question}]}])
                    .to_string(),
            ),
        ];
        match &outcome {
            Ok(answer) => attrs.push(s(
                "gen_ai.output.messages",
                json!([{"role": "assistant", "parts": [{"type": "text", "content": answer}], "finish_reason": "stop"}])
                    .to_string(),
            )),
            Err((error_type, _)) => attrs.push(s("error.type", *error_type)),
        }
        let mut root = t.span(
            format!("invoke_agent {}", domain.agent),
            t.root_id.clone(),
            &[],
            SpanKind::Internal,
            root_start,
            root_end,
            attrs,
        );
        if let Err((_, message)) = outcome {
            root.status = error_status(message);
        }
        t.spans.agent.insert(0, root);
        t.spans
    }

    /// A retrieval span with its query-embedding call. Returns its end and the passages found,
    /// formatted for the prompt.
    fn retrieval(
        &mut self,
        t: &mut Trace,
        ids: &mut Ids,
        source: &str,
        start: u64,
        question: &str,
    ) -> (u64, String) {
        let retrieval_id = self.span_id(ids);
        let embed_id = self.span_id(ids);
        let e_start = start + self.rng.random_range(500..4_000) * US;
        let e_end = e_start + self.rng.random_range(40_000..250_000) * US;
        let end = e_end + self.rng.random_range(15_000..120_000) * US;
        let top_k = self.rng.random_range(3..=6);
        let embed_attrs = vec![
            s("gen_ai.operation.name", "embeddings"),
            s("gen_ai.provider.name", "openai"),
            s("gen_ai.request.model", "text-embedding-3-small"),
            s("gen_ai.response.model", "text-embedding-3-small"),
            i(
                "gen_ai.usage.input_tokens",
                tokens(&mut self.rng, question.len()),
            ),
            i("gen_ai.embeddings.dimension.count", 1536),
            s("server.address", "api.openai.com"),
            i("server.port", 443),
        ];
        let embed = t.span(
            "embeddings text-embedding-3-small".into(),
            embed_id,
            &retrieval_id,
            SpanKind::Client,
            e_start,
            e_end,
            embed_attrs,
        );
        t.spans.llm.push(("openai", embed));
        let attrs = vec![
            s("gen_ai.operation.name", "retrieval"),
            s("gen_ai.data_source.id", source),
            s("db.system.name", "qdrant"),
            s("db.operation.name", "search"),
            s("db.collection.name", source),
            i("db.response.returned_rows", top_k as i64),
        ];
        let span = t.span(
            format!("retrieval {source}"),
            retrieval_id,
            &t.root_id,
            SpanKind::Internal,
            start,
            end,
            attrs,
        );
        t.spans.agent.push(span);
        (end, text::retrieved_context(&mut self.rng, t.domain, top_k))
    }

    /// One chat call over the conversation so far; its answer (text or tool calls) is appended.
    fn chat(
        &mut self,
        t: &mut Trace,
        ids: &mut Ids,
        start: u64,
        messages: &mut Vec<serde_json::Value>,
        last: bool,
    ) -> Chat {
        let model = t.model;
        let id = self.span_id(ids);
        let input_json = serde_json::Value::Array(messages.clone()).to_string();
        let input_tokens = tokens(&mut self.rng, input_json.len());
        let mut attrs = vec![
            s("gen_ai.operation.name", "chat"),
            s("gen_ai.provider.name", model.provider),
            s("gen_ai.request.model", model.request),
            f("gen_ai.request.temperature", t.temperature),
            i("gen_ai.request.max_tokens", t.max_tokens),
            s("server.address", model.server),
            i("server.port", 443),
        ];
        if self.rng.random_bool(0.3) {
            attrs.push(f("gen_ai.request.top_p", 0.9));
        }
        attrs.push(s("gen_ai.input.messages", input_json));
        let name = format!("chat {}", model.request);

        if self.rng.random_bool(self.config.llm_error_rate) {
            let (error_type, message) = *LLM_ERRORS.choose(&mut self.rng).unwrap();
            let end = start + self.rng.random_range(200_000..60_000_000) * US;
            attrs.push(s("error.type", error_type));
            let mut span = t.span(name, id, &t.root_id, SpanKind::Client, start, end, attrs);
            span.status = error_status(message);
            span.events.push(Event {
                time_unix_nano: end,
                name: "exception".into(),
                attributes: vec![
                    s("exception.type", error_type),
                    s("exception.message", message),
                ],
                ..Default::default()
            });
            t.spans.llm.push((model.provider, span));
            return Chat::Failed {
                end,
                error: (error_type, message),
            };
        }

        let mut calls = Vec::new();
        let (output, finish) = if last {
            let target = self.rng.random_range(200..3000);
            let answer = text::completion(&mut self.rng, t.domain, target);
            let finish = if self.rng.random_bool(0.04) {
                "length"
            } else {
                "stop"
            };
            (
                json!([{"role": "assistant", "parts": [{"type": "text", "content": answer}], "finish_reason": finish}]),
                finish,
            )
        } else {
            let mut parts = Vec::new();
            if self.rng.random_bool(0.4) {
                parts.push(
                    json!({"type": "text", "content": "Let me look that up before answering."}),
                );
            }
            for _ in 0..if self.rng.random_bool(0.3) { 2 } else { 1 } {
                let tool = t.domain.tools.choose(&mut self.rng).unwrap();
                let call_id = format!("call_{}", hex_id(&mut self.rng, 12));
                let args = text::tool_arguments(&mut self.rng, t.domain, tool);
                parts.push(json!({"type": "tool_call", "id": call_id, "name": tool.name, "arguments": args}));
                calls.push((tool, call_id, args));
            }
            (
                json!([{"role": "assistant", "parts": parts, "finish_reason": "tool_calls"}]),
                "tool_calls",
            )
        };
        let output_json = output.to_string();
        let output_tokens = if finish == "length" {
            t.max_tokens
        } else {
            tokens(&mut self.rng, output_json.len() / 2 + 20)
        };
        // Time to first token, then a realistic decode speed (20–120 tokens/s).
        let ttft = self.rng.random_range(250_000..1_800_000) * US;
        let end =
            start + ttft + output_tokens as u64 * 1_000_000_000 / self.rng.random_range(20..120);
        attrs.extend([
            s("gen_ai.response.model", model.response),
            s(
                "gen_ai.response.id",
                format!("resp_{}", hex_id(&mut self.rng, 12)),
            ),
            sa("gen_ai.response.finish_reasons", &[finish]),
            i("gen_ai.usage.input_tokens", input_tokens),
            i("gen_ai.usage.output_tokens", output_tokens),
        ]);
        if input_tokens > 1024 && self.rng.random_bool(0.5) {
            // Long stable system prompts hit the provider's prompt cache.
            attrs.push(i(
                "gen_ai.usage.cache_read.input_tokens",
                (text::system_prompt(t.domain, 1).len() / 4) as i64,
            ));
        }
        if model.reasoning {
            attrs.push(i(
                "gen_ai.usage.reasoning.output_tokens",
                self.rng.random_range(0..=output_tokens * 3),
            ));
        }
        attrs.push(s("gen_ai.output.messages", output_json));
        let span = t.span(name, id, &t.root_id, SpanKind::Client, start, end, attrs);
        t.spans.llm.push((model.provider, span));
        messages.push(output[0].clone());
        if last {
            let answer = output[0]["parts"][0]["content"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            Chat::Answered { end, answer }
        } else {
            Chat::ToolCalls { end, calls }
        }
    }

    /// One tool execution. Returns its end and its result (what the model sees next).
    fn tool(
        &mut self,
        t: &mut Trace,
        ids: &mut Ids,
        after: u64,
        tool: &Tool,
        call_id: &str,
        args: &serde_json::Value,
    ) -> (u64, String) {
        let id = self.span_id(ids);
        let start = after + self.rng.random_range(50..3_000) * US;
        let end = start + self.rng.random_range(15_000..1_500_000) * US;
        let failure = if self.rng.random_bool(self.config.tool_error_rate) {
            Some(*TOOL_ERRORS.choose(&mut self.rng).unwrap())
        } else {
            None
        };
        let result = match failure {
            Some((error_type, message)) => {
                json!({"error": error_type, "message": message}).to_string()
            }
            None => text::tool_result(&mut self.rng, t.domain, tool),
        };
        let mut attrs = vec![
            s("gen_ai.operation.name", "execute_tool"),
            s("gen_ai.tool.name", tool.name),
            s("gen_ai.tool.description", tool.description),
            s("gen_ai.tool.type", "function"),
            s("gen_ai.tool.call.id", call_id),
            s("gen_ai.tool.call.arguments", args.to_string()),
            s("gen_ai.tool.call.result", result.clone()),
        ];
        if let Some((error_type, _)) = failure {
            attrs.push(s("error.type", error_type));
        }
        let mut span = t.span(
            format!("execute_tool {}", tool.name),
            id,
            &t.root_id,
            SpanKind::Internal,
            start,
            end,
            attrs,
        );
        if let Some((_, message)) = failure {
            span.status = error_status(message);
        }
        t.spans.agent.push(span);
        (end, result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use std::collections::{HashMap, HashSet};

    fn generate(seed: u64) -> GeneratedRequest {
        let config = CorpusConfig {
            spans_per_request: 100,
            llm_error_rate: 0.05,
            tool_error_rate: 0.05,
        };
        Generator::new(
            StdRng::seed_from_u64(seed),
            config,
            1_750_000_000_000_000_000,
        )
        .request()
    }

    fn all_spans(r: &ExportTraceServiceRequest) -> Vec<&Span> {
        r.resource_spans
            .iter()
            .flat_map(|rs| rs.scope_spans.iter())
            .flat_map(|ss| ss.spans.iter())
            .collect()
    }

    #[test]
    fn same_seed_same_corpus() {
        use prost::Message;
        assert_eq!(
            generate(7).request.encode_to_vec(),
            generate(7).request.encode_to_vec()
        );
        assert_ne!(
            generate(7).request.encode_to_vec(),
            generate(8).request.encode_to_vec()
        );
    }

    #[test]
    fn trees_are_well_formed() {
        for seed in 0..20 {
            let g = generate(seed);
            let spans = all_spans(&g.request);
            assert_eq!(spans.len(), g.spans);
            assert!(g.spans >= 100);
            let by_id: HashMap<&[u8], &Span> =
                spans.iter().map(|s| (s.span_id.as_slice(), *s)).collect();
            assert_eq!(by_id.len(), spans.len(), "span ids are unique");
            let traces: HashSet<&[u8]> = spans.iter().map(|s| s.trace_id.as_slice()).collect();
            assert_eq!(traces.len(), g.traces);
            let mut roots = 0;
            for span in &spans {
                assert!(
                    span.start_time_unix_nano < span.end_time_unix_nano,
                    "{}",
                    span.name
                );
                if span.parent_span_id.is_empty() {
                    roots += 1;
                    continue;
                }
                let parent = by_id[span.parent_span_id.as_slice()];
                assert_eq!(parent.trace_id, span.trace_id);
                assert!(
                    parent.start_time_unix_nano <= span.start_time_unix_nano,
                    "{} starts before {}",
                    span.name,
                    parent.name
                );
                assert!(
                    parent.end_time_unix_nano >= span.end_time_unix_nano,
                    "{} ends after {}",
                    span.name,
                    parent.name
                );
            }
            assert_eq!(roots, g.traces, "one root per trace");
        }
    }

    #[test]
    fn llm_spans_carry_the_genai_attributes() {
        let g = generate(3);
        let chats: Vec<&Span> = all_spans(&g.request)
            .into_iter()
            .filter(|s| s.name.starts_with("chat "))
            .collect();
        assert!(!chats.is_empty());
        for span in chats {
            let keys: HashSet<&str> = span.attributes.iter().map(|kv| kv.key.as_str()).collect();
            for k in [
                "gen_ai.provider.name",
                "gen_ai.request.model",
                "gen_ai.input.messages",
                "session.id",
                "user.id",
            ] {
                assert!(keys.contains(k), "{k} missing on {}", span.name);
            }
            let input = span
                .attributes
                .iter()
                .find(|kv| kv.key == "gen_ai.input.messages")
                .unwrap();
            let Some(any_value::Value::StringValue(text)) = &input.value.as_ref().unwrap().value
            else {
                panic!()
            };
            let parsed: serde_json::Value = serde_json::from_str(text).unwrap();
            assert_eq!(parsed[0]["role"], "system");
            assert!(
                text.len() > 500,
                "realistic prompt length, got {}",
                text.len()
            );
        }
    }
}
