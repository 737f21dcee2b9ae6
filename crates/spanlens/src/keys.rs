//! Attribute keys the SDK writes, in one place.
//!
//! OpenTelemetry GenAI semantic-convention names where the convention has one; Langfuse names
//! (understood by the Spanlens collector and by Langfuse) for what the convention lacks: tags,
//! metadata, prompt name/version, generic observation input/output and observation types the
//! convention has no operation for (chain, guardrail, evaluator).
//!
//! ```
//! assert_eq!(spanlens::keys::USAGE_INPUT_TOKENS, "gen_ai.usage.input_tokens");
//! ```

/// `chat`, `text_completion`, `embeddings`, `invoke_agent`, `execute_tool`, `retrieval`.
pub const OPERATION_NAME: &str = "gen_ai.operation.name";
/// Provider, e.g. `openai`, `anthropic`, `aws.bedrock`.
pub const PROVIDER_NAME: &str = "gen_ai.provider.name";
/// Model asked for.
pub const REQUEST_MODEL: &str = "gen_ai.request.model";
/// Sampling temperature.
pub const REQUEST_TEMPERATURE: &str = "gen_ai.request.temperature";
/// Maximum output tokens.
pub const REQUEST_MAX_TOKENS: &str = "gen_ai.request.max_tokens";
/// Nucleus sampling.
pub const REQUEST_TOP_P: &str = "gen_ai.request.top_p";
/// `true` for a streamed call.
pub const REQUEST_STREAM: &str = "gen_ai.request.stream";
/// Chat history sent to the model, JSON in the semconv parts format.
pub const INPUT_MESSAGES: &str = "gen_ai.input.messages";
/// Messages the model returned, JSON in the semconv parts format.
pub const OUTPUT_MESSAGES: &str = "gen_ai.output.messages";
/// Model that answered.
pub const RESPONSE_MODEL: &str = "gen_ai.response.model";
/// Provider's response id.
pub const RESPONSE_ID: &str = "gen_ai.response.id";
/// Finish reasons, one per choice.
pub const RESPONSE_FINISH_REASONS: &str = "gen_ai.response.finish_reasons";
/// Seconds from the request to the first streamed chunk (a double).
pub const RESPONSE_TIME_TO_FIRST_CHUNK: &str = "gen_ai.response.time_to_first_chunk";
/// Input (prompt) tokens.
pub const USAGE_INPUT_TOKENS: &str = "gen_ai.usage.input_tokens";
/// Output (completion) tokens.
pub const USAGE_OUTPUT_TOKENS: &str = "gen_ai.usage.output_tokens";
/// Input tokens served from the provider's prompt cache.
pub const USAGE_CACHE_READ_INPUT_TOKENS: &str = "gen_ai.usage.cache_read.input_tokens";
/// Input tokens written to the provider's prompt cache.
pub const USAGE_CACHE_CREATION_INPUT_TOKENS: &str = "gen_ai.usage.cache_creation.input_tokens";
/// Reasoning tokens (part of the output tokens).
pub const USAGE_REASONING_OUTPUT_TOKENS: &str = "gen_ai.usage.reasoning.output_tokens";
/// Agent name on an `invoke_agent` span.
pub const AGENT_NAME: &str = "gen_ai.agent.name";
/// Tool name on an `execute_tool` span.
pub const TOOL_NAME: &str = "gen_ai.tool.name";
/// Tool call id.
pub const TOOL_CALL_ID: &str = "gen_ai.tool.call.id";
/// Tool arguments (JSON).
pub const TOOL_CALL_ARGUMENTS: &str = "gen_ai.tool.call.arguments";
/// Tool result (JSON).
pub const TOOL_CALL_RESULT: &str = "gen_ai.tool.call.result";
/// Low-cardinality error class; the span status carries the message.
pub const ERROR_TYPE: &str = "error.type";
/// Session (conversation) id.
pub const CONVERSATION_ID: &str = "gen_ai.conversation.id";
/// End-user id.
pub const USER_ID: &str = "user.id";
/// Tags (string array).
pub const TAGS: &str = "langfuse.trace.tags";
/// Prefix of metadata keys: `langfuse.trace.metadata.<key>`.
pub const METADATA_PREFIX: &str = "langfuse.trace.metadata.";
/// Prompt name.
pub const PROMPT_NAME: &str = "langfuse.observation.prompt.name";
/// Prompt version.
pub const PROMPT_VERSION: &str = "langfuse.observation.prompt.version";
/// Observation type for kinds without a GenAI operation (`chain`, `guardrail`, `evaluator`, `generation`).
pub const OBSERVATION_TYPE: &str = "langfuse.observation.type";
/// Generic observation input (JSON).
pub const OBSERVATION_INPUT: &str = "langfuse.observation.input";
/// Generic observation output (JSON).
pub const OBSERVATION_OUTPUT: &str = "langfuse.observation.output";
/// Set to `true` on a streamed LLM span dropped before the stream finished.
pub const STREAM_CANCELLED: &str = "spanlens.stream.cancelled";
/// Resource: deployment environment.
pub const DEPLOYMENT_ENVIRONMENT: &str = "deployment.environment.name";
/// Resource: service version (stored as the release).
pub const SERVICE_VERSION: &str = "service.version";

/// Prefix of per-observation metadata entries (`langfuse.observation.metadata.<key>`).
pub const OBSERVATION_METADATA_PREFIX: &str = "langfuse.observation.metadata.";
/// The tools offered to the model (JSON array of definitions).
pub const TOOL_DEFINITIONS: &str = "gen_ai.tool.definitions";
/// Dimensions of the returned embeddings.
pub const EMBEDDINGS_DIMENSION_COUNT: &str = "gen_ai.embeddings.dimension.count";
