//! The rules: the vocabularies and [`RULES`], one [`Rule`] per column with its sources in
//! precedence order (the language they are written in is the parent module).

use super::{Col, Conv, Get, Rule, a, ag, ev, eva, jp, peek, pre, pre_peek, res};

use Conv::{
    General as GEN, Langfuse as LF, Logfire as LOGFIRE, MLflow as MLFLOW, OTel as OTEL,
    OTelOld as OTEL_OLD, OpenInference as OI, OpenLit as OPENLIT, ProviderSdk as SDK,
    Traceloop as TL, VercelAi as AI,
};

// ---- vocabularies ---------------------------------------------------------------------------

/// `observation_type` vocabulary: llm, embedding, tool, retrieval, agent, chain, span, plus
/// guardrail and evaluator (first-class in OpenInference and Langfuse; folding them into `span`
/// would hide eval/guardrail latency and cost inside application spans).
#[cfg(test)]
pub const OBSERVATION_TYPES: &[&str] = &[
    "llm",
    "embedding",
    "tool",
    "retrieval",
    "agent",
    "chain",
    "span",
    "guardrail",
    "evaluator",
];

const OBS_LOGFIRE_SPAN_TYPE: &[(&str, &str)] = &[("log", "span"), ("pending_span", "span")];
const OBS_LANGFUSE: &[(&str, &str)] = &[
    ("generation", "llm"),
    ("embedding", "embedding"),
    ("agent", "agent"),
    ("tool", "tool"),
    ("chain", "chain"),
    ("retriever", "retrieval"),
    ("guardrail", "guardrail"),
    ("evaluator", "evaluator"),
    // `span` is deliberately not listed: Langfuse Python SDK <= 3.3 labelled generations `span`,
    // so a `span` falls through to the other rules (model present → llm) and else to `span`.
    ("event", "span"),
];
const OBS_OPENINFERENCE: &[(&str, &str)] = &[
    ("LLM", "llm"),
    ("EMBEDDING", "embedding"),
    ("CHAIN", "chain"),
    ("TOOL", "tool"),
    ("AGENT", "agent"),
    ("RETRIEVER", "retrieval"),
    ("RERANKER", "retrieval"),
    ("GUARDRAIL", "guardrail"),
    ("EVALUATOR", "evaluator"),
    // A prompt-template step of a chain (LangChain's ChatPromptTemplate).
    ("PROMPT", "chain"),
];
/// MLflow `mlflow.spanType` (SpanType constants; UNKNOWN, PARSER… do not match).
const OBS_MLFLOW: &[(&str, &str)] = &[
    ("CHAT_MODEL", "llm"),
    ("LLM", "llm"),
    ("EMBEDDING", "embedding"),
    ("TOOL", "tool"),
    ("AGENT", "agent"),
    ("CHAIN", "chain"),
    ("RETRIEVER", "retrieval"),
    ("RERANKER", "retrieval"),
    ("GUARDRAIL", "guardrail"),
    ("EVALUATOR", "evaluator"),
];
const OP_MLFLOW: &[(&str, &str)] = &[
    ("CHAT_MODEL", "chat"),
    ("LLM", "chat"),
    ("EMBEDDING", "embeddings"),
    ("TOOL", "execute_tool"),
    ("AGENT", "invoke_agent"),
    ("RETRIEVER", "retrieval"),
    ("RERANKER", "rerank"),
];
const OBS_TRACELOOP: &[(&str, &str)] = &[
    ("workflow", "chain"),
    ("task", "chain"),
    ("agent", "agent"),
    ("tool", "tool"),
];
const OBS_OPERATION: &[(&str, &str)] = &[
    ("chat", "llm"),
    ("text_completion", "llm"),
    ("completion", "llm"),
    ("generate_content", "llm"),
    ("embeddings", "embedding"),
    ("embedding", "embedding"),
    ("execute_tool", "tool"),
    ("invoke_agent", "agent"),
    ("create_agent", "agent"),
    ("invoke_workflow", "chain"),
    ("retrieval", "retrieval"),
    ("rerank", "retrieval"),
];
const OBS_LLM_REQUEST_TYPE: &[(&str, &str)] = &[
    ("chat", "llm"),
    ("completion", "llm"),
    ("embedding", "embedding"),
    ("rerank", "retrieval"),
];

/// Aliases of `gen_ai.operation.name` values (other values pass through).
const OP_ALIASES: &[(&str, &str)] = &[
    ("completion", "text_completion"),
    ("embedding", "embeddings"),
    ("generate", "generate_content"),
];
const OP_LLM_REQUEST_TYPE: &[(&str, &str)] = &[
    ("chat", "chat"),
    ("completion", "text_completion"),
    ("embedding", "embeddings"),
    ("rerank", "rerank"),
];
const OP_OPENINFERENCE: &[(&str, &str)] = &[
    ("LLM", "chat"),
    ("EMBEDDING", "embeddings"),
    ("TOOL", "execute_tool"),
    ("AGENT", "invoke_agent"),
    ("RETRIEVER", "retrieval"),
    ("RERANKER", "rerank"),
];
const OP_LANGFUSE: &[(&str, &str)] = &[
    ("generation", "chat"),
    ("embedding", "embeddings"),
    ("tool", "execute_tool"),
    ("agent", "invoke_agent"),
    ("retriever", "retrieval"),
];
const OP_TRACELOOP_KIND: &[(&str, &str)] = &[("agent", "invoke_agent"), ("tool", "execute_tool")];

/// Provider names normalised to `gen_ai.provider.name` values (others pass through lower-cased).
pub const PROVIDER_ALIASES: &[(&str, &str)] = &[
    ("azure", "azure.ai.openai"),
    ("azure_openai", "azure.ai.openai"),
    ("azure-openai", "azure.ai.openai"),
    ("az.ai.openai", "azure.ai.openai"),
    ("az.ai.inference", "azure.ai.inference"),
    ("azure_ai_inference", "azure.ai.inference"),
    ("aws", "aws.bedrock"),
    ("bedrock", "aws.bedrock"),
    ("aws_bedrock", "aws.bedrock"),
    ("aws-bedrock", "aws.bedrock"),
    ("vertexai", "gcp.vertex_ai"),
    ("vertex_ai", "gcp.vertex_ai"),
    ("vertex", "gcp.vertex_ai"),
    ("google_vertexai", "gcp.vertex_ai"),
    ("google", "gcp.gen_ai"),
    ("gemini", "gcp.gemini"),
    ("google_genai", "gcp.gemini"),
    ("google-genai", "gcp.gemini"),
    ("mistralai", "mistral_ai"),
    ("mistral", "mistral_ai"),
    ("xai", "x_ai"),
    ("watsonx", "ibm.watsonx.ai"),
    ("ibm", "ibm.watsonx.ai"),
    ("ibm_watsonx", "ibm.watsonx.ai"),
    // Vercel AI SDK provider ids (`<provider>.<api>`).
    ("openai.chat", "openai"),
    ("openai.responses", "openai"),
    ("openai.completion", "openai"),
    ("openai.embedding", "openai"),
    ("anthropic.messages", "anthropic"),
    ("google.generative-ai", "gcp.gemini"),
    ("google.vertex.chat", "gcp.vertex_ai"),
    ("amazon-bedrock", "aws.bedrock"),
    ("mistral.chat", "mistral_ai"),
    ("azure-openai.chat", "azure.ai.openai"),
];

const LANGFUSE_LEVEL: &[(&str, &str)] = &[("ERROR", "Error")];

/// Vercel AI SDK `ai.operationId`: the provider calls (`do*`) are the LLM / embedding calls;
/// the outer `ai.generateText` etc. wrap them (and their tool calls), like a chain.
const AI_OPERATION_OBS: &[(&str, &str)] = &[
    ("ai.generateText.doGenerate", "llm"),
    ("ai.streamText.doStream", "llm"),
    ("ai.generateObject.doGenerate", "llm"),
    ("ai.streamObject.doStream", "llm"),
    ("ai.embed.doEmbed", "embedding"),
    ("ai.embedMany.doEmbed", "embedding"),
    ("ai.toolCall", "tool"),
    ("ai.generateText", "chain"),
    ("ai.streamText", "chain"),
    ("ai.generateObject", "chain"),
    ("ai.streamObject", "chain"),
    ("ai.embed", "chain"),
    ("ai.embedMany", "chain"),
];
const AI_OPERATION: &[(&str, &str)] = &[
    ("ai.generateText.doGenerate", "chat"),
    ("ai.streamText.doStream", "chat"),
    ("ai.generateObject.doGenerate", "chat"),
    ("ai.streamObject.doStream", "chat"),
    ("ai.embed.doEmbed", "embeddings"),
    ("ai.embedMany.doEmbed", "embeddings"),
    ("ai.toolCall", "execute_tool"),
];
const AI_STREAMING: &[(&str, &str)] = &[
    ("ai.streamText.doStream", "true"),
    ("ai.streamObject.doStream", "true"),
    ("ai.generateText.doGenerate", "false"),
    ("ai.generateObject.doGenerate", "false"),
];

// ---- the table --------------------------------------------------------------------------------

const LF_USAGE: &str = "langfuse.observation.usage_details";
const LF_COST: &str = "langfuse.observation.cost_details";
const LF_PARAMS: &str = "langfuse.observation.model.parameters";
const OI_PARAMS: &str = "llm.invocation_parameters";
const OI_EMB_PARAMS: &str = "embedding.invocation_parameters";
const LOGFIRE_REQUEST: &str = "request_data";
const LOGFIRE_USAGE: &str = "gen_ai.usage.raw";
const ML_TYPE: &str = "mlflow.spanType";
const ML_INPUTS: &str = "mlflow.spanInputs";
const ML_OUTPUTS: &str = "mlflow.spanOutputs";
const ML_USAGE: &str = "mlflow.chat.tokenUsage";

pub static RULES: &[Rule] = &[
    Rule {
        col: Col::ObservationType,
        merge: false,
        sources: &[
            peek(
                LOGFIRE,
                "logfire.span_type",
                Get::Vocab(OBS_LOGFIRE_SPAN_TYPE),
            ),
            peek(LF, "langfuse.observation.type", Get::Vocab(OBS_LANGFUSE)),
            peek(OI, "openinference.span.kind", Get::Vocab(OBS_OPENINFERENCE)),
            peek(TL, "traceloop.span.kind", Get::Vocab(OBS_TRACELOOP)),
            peek(MLFLOW, ML_TYPE, Get::JsonVocab(OBS_MLFLOW)),
            peek(AI, "ai.operationId", Get::Vocab(AI_OPERATION_OBS)),
            peek(OTEL, "gen_ai.operation.name", Get::Vocab(OBS_OPERATION)),
            peek(TL, "llm.request.type", Get::Vocab(OBS_LLM_REQUEST_TYPE)),
            peek(OTEL, "gen_ai.tool.name", Get::Const("tool")),
            peek(OTEL, "gen_ai.tool.call.id", Get::Const("tool")),
            peek(OTEL, "gen_ai.request.model", Get::Const("llm")),
            peek(OTEL, "gen_ai.response.model", Get::Const("llm")),
            peek(OI, "llm.model_name", Get::Const("llm")),
            peek(LF, "langfuse.observation.model.name", Get::Const("llm")),
        ],
    },
    Rule {
        col: Col::Operation,
        merge: false,
        sources: &[
            ag(OTEL, "gen_ai.operation.name", Get::Norm(OP_ALIASES)),
            peek(TL, "llm.request.type", Get::Vocab(OP_LLM_REQUEST_TYPE)),
            pre_peek(OI, "llm.prompts.", Get::Const("text_completion")),
            peek(OI, "openinference.span.kind", Get::Vocab(OP_OPENINFERENCE)),
            peek(LF, "langfuse.observation.type", Get::Vocab(OP_LANGFUSE)),
            peek(TL, "traceloop.span.kind", Get::Vocab(OP_TRACELOOP_KIND)),
            ag(MLFLOW, ML_TYPE, Get::JsonVocab(OP_MLFLOW)),
            peek(AI, "ai.operationId", Get::Vocab(AI_OPERATION)),
            peek(OTEL, "gen_ai.tool.name", Get::Const("execute_tool")),
        ],
    },
    Rule {
        col: Col::Provider,
        merge: false,
        sources: &[
            ag(OTEL, "gen_ai.provider.name", Get::Norm(PROVIDER_ALIASES)),
            ag(OI, "llm.provider", Get::Norm(PROVIDER_ALIASES)),
            ag(OTEL_OLD, "gen_ai.system", Get::Norm(PROVIDER_ALIASES)),
            ag(OI, "llm.system", Get::Norm(PROVIDER_ALIASES)),
            ag(TL, "llm.vendor", Get::Norm(PROVIDER_ALIASES)),
            ag(AI, "ai.model.provider", Get::Norm(PROVIDER_ALIASES)),
            // The message format of an autologged call is its provider's API.
            ag(MLFLOW, "mlflow.message.format", Get::Json(&[])),
        ],
    },
    Rule {
        col: Col::RequestModel,
        merge: false,
        sources: &[
            a(OTEL, "gen_ai.request.model"),
            a(TL, "llm.request.model"),
            a(AI, "ai.model.id"),
            a(OI, "llm.request.model_name"),
            jp(OI, OI_PARAMS, &["model"]),
            jp(OI, OI_EMB_PARAMS, &["model"]),
            jp(LOGFIRE, LOGFIRE_REQUEST, &["model"]),
            jp(MLFLOW, ML_INPUTS, &["model"]),
        ],
    },
    Rule {
        col: Col::ResponseModel,
        merge: false,
        sources: &[
            a(OTEL, "gen_ai.response.model"),
            a(TL, "llm.response.model"),
            a(OI, "llm.response.model_name"),
            a(OI, "llm.model_name"),
            a(OI, "embedding.model_name"),
            a(OI, "reranker.model_name"),
            a(LF, "langfuse.observation.model.name"),
            a(AI, "ai.response.model"),
            ag(MLFLOW, "mlflow.llm.model", Get::Json(&[])),
            jp(MLFLOW, ML_OUTPUTS, &["model"]),
        ],
    },
    Rule {
        col: Col::InputTokens,
        merge: false,
        sources: &[
            a(OTEL, "gen_ai.usage.input_tokens"),
            a(OTEL_OLD, "gen_ai.usage.prompt_tokens"),
            a(TL, "llm.usage.prompt_tokens"),
            a(OI, "llm.token_count.prompt"),
            jp(LF, LF_USAGE, &["input"]),
            jp(LF, LF_USAGE, &["prompt_tokens"]),
            jp(LF, LF_USAGE, &["input_tokens"]),
            jp(LOGFIRE, LOGFIRE_USAGE, &["prompt_tokens"]),
            // Anthropic's usage object counts input without the cache: see UncachedInputTokens.
            peek(
                LOGFIRE,
                LOGFIRE_USAGE,
                Get::JsonIfLacks(&["input_tokens"], "cache_read_input_tokens"),
            ),
            jp(MLFLOW, ML_USAGE, &["input_tokens"]),
            a(AI, "ai.usage.inputTokens"),
            a(AI, "ai.usage.promptTokens"),
            a(AI, "ai.usage.tokens"),
        ],
    },
    Rule {
        col: Col::OutputTokens,
        merge: false,
        sources: &[
            a(OTEL, "gen_ai.usage.output_tokens"),
            a(OTEL_OLD, "gen_ai.usage.completion_tokens"),
            a(TL, "llm.usage.completion_tokens"),
            a(OI, "llm.token_count.completion"),
            jp(LF, LF_USAGE, &["output"]),
            jp(LF, LF_USAGE, &["completion_tokens"]),
            jp(LF, LF_USAGE, &["output_tokens"]),
            jp(LOGFIRE, LOGFIRE_USAGE, &["completion_tokens"]),
            jp(LOGFIRE, LOGFIRE_USAGE, &["output_tokens"]),
            jp(MLFLOW, ML_USAGE, &["output_tokens"]),
            a(AI, "ai.usage.outputTokens"),
            a(AI, "ai.usage.completionTokens"),
        ],
    },
    Rule {
        col: Col::TotalTokens,
        merge: false,
        sources: &[
            a(TL, "gen_ai.usage.total_tokens"),
            a(TL, "llm.usage.total_tokens"),
            a(OI, "llm.token_count.total"),
            a(OPENLIT, "gen_ai.client.token.usage"),
            jp(LF, LF_USAGE, &["total"]),
            jp(LF, LF_USAGE, &["total_tokens"]),
            jp(LOGFIRE, LOGFIRE_USAGE, &["total_tokens"]),
            jp(MLFLOW, ML_USAGE, &["total_tokens"]),
            a(AI, "ai.usage.totalTokens"),
        ],
    },
    Rule {
        col: Col::CachedTokens,
        merge: false,
        sources: &[
            a(OTEL, "gen_ai.usage.cache_read.input_tokens"),
            a(OTEL_OLD, "gen_ai.usage.cache_read_input_tokens"),
            a(TL, "llm.usage.cache_read_input_tokens"),
            a(OI, "llm.token_count.prompt_details.cache_read"),
            jp(LF, LF_USAGE, &["input_cached_tokens"]),
            jp(LF, LF_USAGE, &["input_cache_read"]),
            jp(LF, LF_USAGE, &["cache_read_input_tokens"]),
            jp(LF, LF_USAGE, &["prompt_tokens_details", "cached_tokens"]),
            jp(LF, LF_USAGE, &["input_tokens_details", "cached_tokens"]),
            jp(
                LOGFIRE,
                LOGFIRE_USAGE,
                &["prompt_tokens_details", "cached_tokens"],
            ),
            jp(
                LOGFIRE,
                LOGFIRE_USAGE,
                &["input_tokens_details", "cached_tokens"],
            ),
            jp(LOGFIRE, LOGFIRE_USAGE, &["cache_read_input_tokens"]),
            a(AI, "ai.usage.cachedInputTokens"),
            jp(MLFLOW, ML_USAGE, &["cache_read_input_tokens"]),
        ],
    },
    Rule {
        col: Col::CacheCreationTokens,
        merge: false,
        sources: &[
            a(OTEL, "gen_ai.usage.cache_creation.input_tokens"),
            a(OTEL_OLD, "gen_ai.usage.cache_creation_input_tokens"),
            a(SDK, "gen_ai.usage.cache_write.input_tokens"),
            a(TL, "llm.usage.cache_creation_input_tokens"),
            a(OI, "llm.token_count.prompt_details.cache_write"),
            jp(LF, LF_USAGE, &["input_cache_creation"]),
            jp(LF, LF_USAGE, &["cache_creation_input_tokens"]),
            jp(LOGFIRE, LOGFIRE_USAGE, &["cache_creation_input_tokens"]),
            jp(MLFLOW, ML_USAGE, &["cache_creation_input_tokens"]),
        ],
    },
    Rule {
        col: Col::UncachedInputTokens,
        merge: false,
        sources: &[
            // An Anthropic Messages usage object (it has the cache fields): input_tokens there
            // excludes the cache reads and writes.
            peek(
                LOGFIRE,
                LOGFIRE_USAGE,
                Get::JsonIfHas(&["input_tokens"], "cache_read_input_tokens"),
            ),
        ],
    },
    Rule {
        col: Col::ReasoningTokens,
        merge: false,
        sources: &[
            a(OTEL, "gen_ai.usage.reasoning.output_tokens"),
            a(OTEL_OLD, "gen_ai.usage.reasoning_tokens"),
            a(TL, "llm.usage.reasoning_tokens"),
            a(OI, "llm.token_count.completion_details.reasoning"),
            jp(LF, LF_USAGE, &["output_reasoning_tokens"]),
            jp(LF, LF_USAGE, &["output_reasoning"]),
            jp(
                LF,
                LF_USAGE,
                &["completion_tokens_details", "reasoning_tokens"],
            ),
            jp(LF, LF_USAGE, &["output_tokens_details", "reasoning_tokens"]),
            jp(
                LOGFIRE,
                LOGFIRE_USAGE,
                &["completion_tokens_details", "reasoning_tokens"],
            ),
            jp(
                LOGFIRE,
                LOGFIRE_USAGE,
                &["output_tokens_details", "reasoning_tokens"],
            ),
            a(AI, "ai.usage.reasoningTokens"),
        ],
    },
    Rule {
        col: Col::InputCost,
        merge: false,
        sources: &[jp(LF, LF_COST, &["input"]), a(OI, "llm.cost.prompt")],
    },
    Rule {
        col: Col::OutputCost,
        merge: false,
        sources: &[jp(LF, LF_COST, &["output"]), a(OI, "llm.cost.completion")],
    },
    Rule {
        col: Col::TotalCost,
        merge: false,
        sources: &[
            jp(LF, LF_COST, &["total"]),
            a(OPENLIT, "gen_ai.usage.cost"),
            a(OI, "llm.cost.total"),
            a(LOGFIRE, "operation.cost"),
        ],
    },
    Rule {
        col: Col::TimeToFirstToken,
        merge: false,
        sources: &[
            ag(
                LF,
                "langfuse.observation.completion_start_time",
                Get::SinceStart,
            ),
            ag(OTEL, "gen_ai.response.time_to_first_chunk", Get::Seconds),
            ag(OPENLIT, "gen_ai.server.time_to_first_token", Get::Seconds),
            ev(OI, "First Token Stream Event", Get::EventSinceStart, false),
            ev(
                TL,
                "gen_ai.content.completion.chunk",
                Get::EventSinceStart,
                false,
            ),
            ag(AI, "ai.response.msToFirstChunk", Get::Millis),
            ag(AI, "ai.stream.msToFirstChunk", Get::Millis),
        ],
    },
    Rule {
        col: Col::IsStreaming,
        merge: false,
        sources: &[
            a(OTEL, "gen_ai.request.stream"),
            a(TL, "gen_ai.is_streaming"),
            a(TL, "llm.is_streaming"),
            peek(
                LF,
                "langfuse.observation.completion_start_time",
                Get::Const("true"),
            ),
            peek(OI, OI_PARAMS, Get::JsonOrFalse(&["stream"])),
            peek(OI, OI_EMB_PARAMS, Get::JsonOrFalse(&["stream"])),
            peek(LF, LF_PARAMS, Get::JsonOrFalse(&["stream"])),
            peek(LOGFIRE, LOGFIRE_REQUEST, Get::JsonOrFalse(&["stream"])),
            peek(MLFLOW, ML_INPUTS, Get::JsonOrFalse(&["stream"])),
            peek(AI, "ai.operationId", Get::Vocab(AI_STREAMING)),
        ],
    },
    Rule {
        col: Col::FinishReasons,
        merge: false,
        sources: &[
            a(OTEL, "gen_ai.response.finish_reasons"),
            a(OI, "llm.finish_reason"),
            pre(TL, "gen_ai.completion.", Get::Texts("finish_reason")),
            ev(
                OTEL_OLD,
                "gen_ai.choice",
                Get::EventField("finish_reason"),
                false,
            ),
            ag(
                LF,
                "langfuse.observation.metadata.finish_reason",
                Get::Json(&[]),
            ),
            a(AI, "ai.response.finishReason"),
            jp(MLFLOW, ML_OUTPUTS, &["choices", "0", "finish_reason"]),
            a(SDK, "anthropic.message.stop_reason"),
        ],
    },
    Rule {
        col: Col::ResponseId,
        merge: false,
        sources: &[
            a(OTEL, "gen_ai.response.id"),
            jp(OI, "output.value", &["id"]),
            // LangChain's LLMResult (OpenInference's LangChain instrumentation).
            jp(OI, "output.value", &["llm_output", "id"]),
            a(AI, "ai.response.id"),
            jp(MLFLOW, ML_OUTPUTS, &["id"]),
        ],
    },
    Rule {
        col: Col::Temperature,
        merge: false,
        sources: &[
            a(OTEL, "gen_ai.request.temperature"),
            a(TL, "llm.request.temperature"),
            jp(OI, OI_PARAMS, &["temperature"]),
            jp(LF, LF_PARAMS, &["temperature"]),
            jp(LOGFIRE, LOGFIRE_REQUEST, &["temperature"]),
            jp(MLFLOW, ML_INPUTS, &["temperature"]),
            a(AI, "ai.settings.temperature"),
        ],
    },
    Rule {
        col: Col::MaxTokens,
        merge: false,
        sources: &[
            a(OTEL, "gen_ai.request.max_tokens"),
            a(TL, "llm.request.max_tokens"),
            jp(OI, OI_PARAMS, &["max_tokens"]),
            jp(OI, OI_PARAMS, &["max_completion_tokens"]),
            jp(LF, LF_PARAMS, &["max_tokens"]),
            jp(LF, LF_PARAMS, &["max_completion_tokens"]),
            jp(LOGFIRE, LOGFIRE_REQUEST, &["max_tokens"]),
            jp(MLFLOW, ML_INPUTS, &["max_tokens"]),
            jp(MLFLOW, ML_INPUTS, &["max_completion_tokens"]),
            a(AI, "ai.settings.maxOutputTokens"),
            a(AI, "ai.settings.maxTokens"),
        ],
    },
    Rule {
        col: Col::TopP,
        merge: false,
        sources: &[
            a(OTEL, "gen_ai.request.top_p"),
            a(TL, "llm.request.top_p"),
            jp(OI, OI_PARAMS, &["top_p"]),
            jp(LF, LF_PARAMS, &["top_p"]),
            jp(LOGFIRE, LOGFIRE_REQUEST, &["top_p"]),
            jp(MLFLOW, ML_INPUTS, &["top_p"]),
            a(AI, "ai.settings.topP"),
        ],
    },
    Rule {
        col: Col::Input,
        merge: false,
        sources: &[
            a(LF, "langfuse.observation.input"),
            ag(OTEL, "gen_ai.input.messages", Get::SemconvInput),
            a(OTEL, "gen_ai.system_instructions"),
            pre(OI, "llm.input_messages.", Get::Unflatten),
            pre(OTEL_OLD, "gen_ai.prompt.", Get::Unflatten),
            ev(OTEL_OLD, "gen_ai.*.message", Get::InputEvents, true),
            eva(OTEL_OLD, "gen_ai.content.prompt", "gen_ai.prompt", true),
            a(OTEL_OLD, "gen_ai.prompt"),
            eva(
                OTEL,
                "gen_ai.client.inference.operation.details",
                "gen_ai.input.messages",
                true,
            ),
            pre(OI, "llm.prompts.", Get::Texts("prompt.text")),
            a(OI, "llm.prompts"),
            pre(OI, "embedding.embeddings.", Get::Texts("embedding.text")),
            a(OI, "reranker.query"),
            a(OTEL, "gen_ai.tool.call.arguments"),
            a(TL, "traceloop.entity.input"),
            a(OI, "input.value"),
            a(LOGFIRE, LOGFIRE_REQUEST),
            ag(MLFLOW, ML_INPUTS, Get::Json(&["messages"])),
            ag(MLFLOW, ML_INPUTS, Get::Json(&["input"])),
            a(MLFLOW, ML_INPUTS),
            a(AI, "ai.prompt.messages"),
            a(AI, "ai.prompt"),
            a(AI, "ai.toolCall.args"),
            a(AI, "ai.values"),
            a(AI, "ai.value"),
        ],
    },
    Rule {
        col: Col::Output,
        merge: false,
        sources: &[
            a(LF, "langfuse.observation.output"),
            a(OTEL, "gen_ai.output.messages"),
            pre(OI, "llm.output_messages.", Get::Unflatten),
            pre(OTEL_OLD, "gen_ai.completion.", Get::Unflatten),
            ev(OTEL_OLD, "gen_ai.choice", Get::ChoiceEvents, true),
            eva(
                OTEL_OLD,
                "gen_ai.content.completion",
                "gen_ai.completion",
                true,
            ),
            a(OTEL_OLD, "gen_ai.completion"),
            eva(
                OTEL,
                "gen_ai.client.inference.operation.details",
                "gen_ai.output.messages",
                true,
            ),
            pre(OI, "llm.choices.", Get::Texts("completion.text")),
            pre(OI, "retrieval.documents.", Get::Unflatten),
            pre(OI, "reranker.output_documents.", Get::Unflatten),
            a(OTEL, "gen_ai.tool.call.result"),
            a(TL, "traceloop.entity.output"),
            a(OI, "output.value"),
            a(LOGFIRE, "response_data"),
            a(MLFLOW, ML_OUTPUTS),
            a(AI, "ai.response.text"),
            a(AI, "ai.response.object"),
            a(AI, "ai.response.toolCalls"),
            a(AI, "ai.toolCall.result"),
        ],
    },
    Rule {
        col: Col::SessionId,
        merge: false,
        sources: &[
            a(LF, "langfuse.session.id"),
            a(OI, "session.id"),
            a(TL, "traceloop.association.properties.session_id"),
            a(LOGFIRE, "session_id"),
            a(AI, "ai.telemetry.metadata.sessionId"),
            // The conversation is the session only when no session id is set.
            a(OTEL, "gen_ai.conversation.id"),
        ],
    },
    Rule {
        col: Col::UserId,
        merge: false,
        sources: &[
            a(LF, "langfuse.user.id"),
            a(OI, "user.id"),
            a(TL, "traceloop.association.properties.user_id"),
            a(LOGFIRE, "user_id"),
            a(GEN, "enduser.id"),
            a(OPENLIT, "gen_ai.request.user"),
            a(TL, "llm.user"),
            a(AI, "ai.telemetry.metadata.userId"),
        ],
    },
    Rule {
        col: Col::PromptName,
        merge: false,
        sources: &[
            a(LF, "langfuse.observation.prompt.name"),
            a(LF, "langfuse.prompt.name"),
            a(TL, "traceloop.prompt.key"),
            a(OI, "prompt.id"),
        ],
    },
    Rule {
        col: Col::PromptVersion,
        merge: false,
        sources: &[
            a(LF, "langfuse.observation.prompt.version"),
            a(LF, "langfuse.prompt.version"),
            a(TL, "traceloop.prompt.version"),
            a(OI, "llm.prompt_template.version"),
        ],
    },
    Rule {
        col: Col::Tags,
        merge: false,
        sources: &[
            a(LF, "langfuse.trace.tags"),
            a(LF, "langfuse.tags"),
            a(OI, "tag.tags"),
            a(LOGFIRE, "logfire.tags"),
        ],
    },
    Rule {
        col: Col::Metadata,
        merge: true,
        sources: &[
            pre(LF, "langfuse.observation.metadata.", Get::Suffix),
            ag(LF, "langfuse.observation.metadata", Get::Entries),
            pre(LF, "langfuse.trace.metadata.", Get::Suffix),
            ag(LF, "langfuse.trace.metadata", Get::Entries),
            ag(OI, "metadata", Get::Entries),
            pre(TL, "traceloop.association.properties.", Get::Suffix),
            pre(AI, "ai.telemetry.metadata.", Get::Suffix),
        ],
    },
    Rule {
        col: Col::Environment,
        merge: false,
        sources: &[
            a(GEN, "deployment.environment.name"),
            res(GEN, "deployment.environment.name"),
            a(GEN, "deployment.environment"),
            res(GEN, "deployment.environment"),
            a(LF, "langfuse.environment"),
            res(LF, "langfuse.environment"),
        ],
    },
    Rule {
        col: Col::Release,
        merge: false,
        sources: &[
            a(LF, "langfuse.release"),
            res(LF, "langfuse.release"),
            res(GEN, "service.version"),
            a(GEN, "service.version"),
            a(LF, "langfuse.version"),
        ],
    },
    Rule {
        col: Col::ServiceName,
        merge: false,
        sources: &[res(GEN, "service.name"), a(GEN, "service.name")],
    },
    Rule {
        col: Col::ErrorType,
        merge: false,
        sources: &[
            a(GEN, "error.type"),
            eva(GEN, "exception", "exception.type", false),
        ],
    },
    Rule {
        col: Col::StatusMessage,
        merge: false,
        sources: &[
            a(LF, "langfuse.observation.status_message"),
            // An error status without a message (MLflow): the exception's message.
            eva(GEN, "exception", "exception.message", false),
        ],
    },
    Rule {
        col: Col::StatusFromLevel,
        merge: false,
        sources: &[peek(
            LF,
            "langfuse.observation.level",
            Get::Vocab(LANGFUSE_LEVEL),
        )],
    },
];

/// Values that mean "no value" for identity columns: Logfire's scrubber replaces a value it
/// considers sensitive (e.g. a baggage `session_id`) by `[Scrubbed due to '…']`.
pub fn is_placeholder(col: Col, value: &str) -> bool {
    matches!(col, Col::SessionId | Col::UserId) && value.starts_with("[Scrubbed due to ")
}
