//! THE mapping: one static table from instrumentation conventions to Spanlens' typed LLM columns.
//!
//! This module is the rule language: the columns ([`Col`]), where a value lives ([`At`]), how it
//! is read ([`Get`]), a source ([`Src`]) and a rule ([`Rule`]). The rules themselves — the
//! vocabularies and [`RULES`] — are in `rules.rs`; the generator of `CONVENTIONS.md`'s tables is
//! in `doc.rs` (tests only: it is not part of the collector binary).
//!
//! Each [`Rule`] fills one column from its [`Src`]es, tried in order; the first source that
//! yields a usable value wins (`Merge` rules instead combine every source). Every span goes
//! through the same rules, whichever library produced it — there is no per-library code path.
//! To support a new attribute, add a `Src` line to the right rule; to add a new extraction
//! shape, add a [`Get`] variant and its arm in `extract.rs`. `CONVENTIONS.md` documents this
//! table and a unit test checks that its per-library tables are generated from it.
//!
//! Consumption: when a rule fills its column, every *consuming* source of that rule that is
//! present on the span (the winner and the alternatives it beat) is removed from
//! `span_attributes` (or, for span events, from the events arrays) so big prompt text is never
//! stored twice. Sources that only *peek* (JSON paths into a parameter object, vocabulary
//! look-ups used for classification, exception events) leave the attribute where it is.
//! Resource attributes are never consumed.

#[cfg(test)]
pub(super) mod doc;
mod rules;

#[cfg(test)]
pub use rules::OBSERVATION_TYPES;
pub use rules::{RULES, is_placeholder};

/// The typed columns the table fills (base columns such as ids, times and names are set
/// directly from the OTLP span, not through the table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Col {
    ObservationType,
    Operation,
    Provider,
    RequestModel,
    ResponseModel,
    InputTokens,
    OutputTokens,
    TotalTokens,
    CachedTokens,
    /// Cache-write input tokens.
    CacheCreationTokens,
    /// Input tokens as reported WITHOUT the cached ones (Anthropic's `usage.input_tokens`):
    /// used only when no `InputTokens` source matched; `input_tokens` is then this plus the
    /// cache reads and writes, so every library's `input_tokens` means the same (all input).
    UncachedInputTokens,
    ReasoningTokens,
    InputCost,
    OutputCost,
    TotalCost,
    TimeToFirstToken,
    IsStreaming,
    FinishReasons,
    ResponseId,
    Temperature,
    MaxTokens,
    TopP,
    Input,
    Output,
    SessionId,
    UserId,
    PromptName,
    PromptVersion,
    Tags,
    Metadata,
    Environment,
    Release,
    ServiceName,
    ErrorType,
    /// Fallback for `status_message` when the OTel status carries none.
    StatusMessage,
    /// `Error` here turns an `Unset` OTel status into `Error` (Langfuse `level`).
    StatusFromLevel,
}

/// The value type of a column; sources are converted to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    U64,
    F64,
    Bool,
    List,
    Map,
    /// A duration in nanoseconds (u64), produced by the time extractors.
    Nanos,
}

impl Col {
    pub const fn kind(self) -> Kind {
        use Col::*;
        match self {
            InputTokens | OutputTokens | TotalTokens | CachedTokens | CacheCreationTokens
            | UncachedInputTokens | ReasoningTokens | MaxTokens => Kind::U64,
            InputCost | OutputCost | TotalCost | Temperature | TopP => Kind::F64,
            IsStreaming => Kind::Bool,
            FinishReasons | Tags => Kind::List,
            Metadata => Kind::Map,
            TimeToFirstToken => Kind::Nanos,
            _ => Kind::Text,
        }
    }
}

/// The convention a source belongs to (documentation and the per-library tables).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conv {
    /// OpenTelemetry GenAI semantic conventions, current names.
    OTel,
    /// Deprecated GenAI semconv names still sent by many libraries.
    OTelOld,
    /// OpenInference (Arize Phoenix).
    OpenInference,
    /// OpenLLMetry / Traceloop.
    Traceloop,
    /// Langfuse SDKs (OTel based).
    Langfuse,
    /// OpenLIT extras.
    OpenLit,
    /// Pydantic Logfire extras.
    Logfire,
    /// Vercel AI SDK (TypeScript) `ai.*` telemetry.
    VercelAi,
    /// MLflow Tracing (`mlflow.*` attributes, values JSON-encoded).
    MLflow,
    /// Provider SDKs' own tracing (the Anthropic Python SDK's `anthropic.*` spans).
    ProviderSdk,
    /// General OpenTelemetry semantic conventions (not GenAI specific).
    General,
}

/// Where a source value lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    /// The span attribute `key`.
    Span,
    /// The resource attribute `key`.
    Resource,
    /// Every span attribute whose key starts with `key` (flattened lists, `metadata.*`).
    SpanPrefix,
    /// Attribute `key` of the first span event with this name.
    Event(&'static str),
    /// The span events named `key` (for message events: the event-name family, see `Get`).
    Events,
}

/// How a value is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Get {
    /// The value itself, converted to the column's type (numbers from numeric strings too;
    /// lists from arrays, JSON-array strings or a single string; text from anything, structured
    /// values as JSON text).
    Value,
    /// `Value`, then mapped through a vocabulary (case-insensitive); values not listed pass
    /// through lower-cased.
    Norm(&'static [(&'static str, &'static str)]),
    /// Mapped through a vocabulary (case-insensitive); values not listed do not match, so the
    /// next source is tried.
    Vocab(&'static [(&'static str, &'static str)]),
    /// `Vocab` of a JSON-encoded string (`"\"CHAT_MODEL\""`, as MLflow writes its values).
    JsonVocab(&'static [(&'static str, &'static str)]),
    /// The mere presence of the source (a non-empty value) yields this constant.
    Const(&'static str),
    /// The value is JSON text; the value at this path (empty path: the decoded value itself,
    /// e.g. a JSON-quoted string).
    Json(&'static [&'static str]),
    /// As `Json`, but only when the decoded value is an object that also has this top-level
    /// key (the shape of one API's object, e.g. Anthropic's usage with its cache fields);
    /// otherwise the source does not match.
    JsonIfHas(&'static [&'static str], &'static str),
    /// As `JsonIfHas`, but only when the object does NOT have the key.
    JsonIfLacks(&'static [&'static str], &'static str),
    /// As `Json`, but when the value is a JSON object without that path the answer is `false`:
    /// a recorded request-parameter object without `stream` means "not streamed".
    JsonOrFalse(&'static [&'static str]),
    /// A duration in seconds (float) → nanoseconds.
    Seconds,
    /// A duration in milliseconds (float) → nanoseconds.
    Millis,
    /// An ISO-8601 / RFC 3339 timestamp (optionally JSON-quoted) minus the span start → ns.
    SinceStart,
    /// The time of the first event named `key` (with `At::Events`) minus the span start → ns.
    EventSinceStart,
    /// `SpanPrefix`: indexed attributes `key N.a.b` rebuilt into a JSON array of objects;
    /// OpenInference wrapper levels (`message.`, `tool_call.`, `message_content.`,
    /// `document.`, `prompt.`, `completion.`, `embedding.`) are removed.
    Unflatten,
    /// `SpanPrefix`: the field `N.<field>` of each indexed element, in index order. One text
    /// is stored as plain text, several as a JSON array of strings.
    Texts(&'static str),
    /// `Events`: the GenAI message events (`gen_ai.{system,user,assistant,tool}.message`)
    /// rebuilt into a JSON array of `{role, content, ...}` objects.
    InputEvents,
    /// `Events`: `gen_ai.choice` events rebuilt into a JSON array of
    /// `{role, content, tool_calls?, finish_reason?}` objects.
    ChoiceEvents,
    /// `Events`: attribute `field` of every event named `key`, in order (a list).
    EventField(&'static str),
    /// `SpanPrefix`: a map entry per attribute, key = the rest of the key after the prefix;
    /// JSON-quoted string values are decoded, other values kept as text.
    Suffix,
    /// The value is a JSON object (or a kvlist); a map entry per top-level member.
    Entries,
    /// `gen_ai.input.messages` (string or structured) with `gen_ai.system_instructions`
    /// folded in as a leading `system` message when the list has none.
    SemconvInput,
}

/// One source of a column.
#[derive(Debug, Clone, Copy)]
pub struct Src {
    #[cfg_attr(
        not(test),
        expect(dead_code, reason = "read by the doc generator, table/doc.rs")
    )]
    pub conv: Conv,
    pub at: At,
    pub key: &'static str,
    pub get: Get,
    /// Remove the source from `span_attributes` / events when the rule fills its column.
    pub consume: bool,
}

/// One column and its sources in precedence order.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub col: Col,
    /// Combine every source (maps: first key wins) instead of taking the first that matches.
    pub merge: bool,
    pub sources: &'static [Src],
}

// ---- terse constructors so the table reads like a table ------------------------------------

/// Span attribute, value converted to the column type; consumed.
const fn a(conv: Conv, key: &'static str) -> Src {
    Src {
        conv,
        at: At::Span,
        key,
        get: Get::Value,
        consume: true,
    }
}
/// Span attribute read with a specific extractor; consumed.
const fn ag(conv: Conv, key: &'static str, get: Get) -> Src {
    Src {
        conv,
        at: At::Span,
        key,
        get,
        consume: true,
    }
}
/// Span attribute read with a specific extractor; left in `span_attributes` (peek).
const fn peek(conv: Conv, key: &'static str, get: Get) -> Src {
    Src {
        conv,
        at: At::Span,
        key,
        get,
        consume: false,
    }
}
/// A path inside a span attribute that holds JSON text; never consumed (the attribute holds
/// other facts too).
const fn jp(conv: Conv, key: &'static str, path: &'static [&'static str]) -> Src {
    Src {
        conv,
        at: At::Span,
        key,
        get: Get::Json(path),
        consume: false,
    }
}
/// Resource attribute (never consumed).
const fn res(conv: Conv, key: &'static str) -> Src {
    Src {
        conv,
        at: At::Resource,
        key,
        get: Get::Value,
        consume: false,
    }
}
/// Indexed / prefixed span attributes; consumed.
const fn pre(conv: Conv, key: &'static str, get: Get) -> Src {
    Src {
        conv,
        at: At::SpanPrefix,
        key,
        get,
        consume: true,
    }
}
/// Indexed / prefixed span attributes, peeked only.
const fn pre_peek(conv: Conv, key: &'static str, get: Get) -> Src {
    Src {
        conv,
        at: At::SpanPrefix,
        key,
        get,
        consume: false,
    }
}
/// Span events; `consume` removes the matched events.
const fn ev(conv: Conv, key: &'static str, get: Get, consume: bool) -> Src {
    Src {
        conv,
        at: At::Events,
        key,
        get,
        consume,
    }
}
/// Attribute `key` of the first event named `event`.
const fn eva(conv: Conv, event: &'static str, key: &'static str, consume: bool) -> Src {
    Src {
        conv,
        at: At::Event(event),
        key,
        get: Get::Value,
        consume,
    }
}
