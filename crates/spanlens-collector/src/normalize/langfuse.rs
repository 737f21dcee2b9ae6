//! Langfuse ingestion events (`POST /api/public/ingestion`, the batch API of the Langfuse Python
//! SDK v2 and JS SDK v3) → rows.
//!
//! Field names, shapes and limits follow Langfuse's own definition (`packages/shared/src/server/
//! ingestion/types.ts` and `fern/apis/server/definition/ingestion.yml`). Validation happens per
//! event when the batch arrives ([`validate`]), so an invalid event is answered in the 207's
//! `errors` while its neighbours are accepted.
//!
//! The rows are built by turning a merged observation (its create and updates, see
//! `pipeline::langfuse_merge`) into the OTLP span the Langfuse OTel SDK would have exported —
//! the same `langfuse.*` attributes — and running it through [`normalize_traces`], so the one
//! mapping table decides every column and an observation stores exactly as it would have through
//! `/api/public/otel/v1/traces`. A trace becomes the root row of its observations (the Langfuse
//! v2 data model: a trace has a name, input and output of its own); its user, session, tags,
//! release, environment and metadata reach every row of the trace, as the OTel SDK propagates
//! them.
//!
//! Ids: Langfuse ids are free-form strings (UUIDs in the SDKs). A trace id that is 32 hex digits
//! (or a UUID) is used as is (dashes removed); any other id is hashed into 16 bytes. Observation
//! ids that are 16 hex digits are kept, others hashed into 8 bytes. The original id is kept in
//! `span_attributes` (`langfuse.trace.id`, `langfuse.observation.id`) whenever it differs.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, any_value,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::extract::parse_rfc3339_nanos;
use super::normalize_traces;
use crate::storage::row::{LogRow, SpanRow};

/// One event of a batch, as accepted (validated) and kept in the Langfuse event log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Event {
    pub id: String,
    pub timestamp: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub body: Value,
}

/// What an event is about once validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Subject {
    Trace,
    Observation,
}

/// The event types Langfuse defines, and what each is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventType {
    TraceCreate,
    /// An observation create or update; the type word is the Langfuse observation type.
    Observation {
        obs_type: &'static str,
        update: bool,
    },
    /// `observation-create` / `observation-update` (legacy): the type is in the body.
    LegacyObservation {
        update: bool,
    },
    ScoreCreate,
    SdkLog,
}

impl EventType {
    pub fn parse(kind: &str) -> Option<EventType> {
        let obs = |obs_type, update| EventType::Observation { obs_type, update };
        Some(match kind {
            "trace-create" => EventType::TraceCreate,
            "score-create" => EventType::ScoreCreate,
            "sdk-log" => EventType::SdkLog,
            "event-create" => obs("event", false),
            "span-create" => obs("span", false),
            "span-update" => obs("span", true),
            "generation-create" => obs("generation", false),
            "generation-update" => obs("generation", true),
            "agent-create" => obs("agent", false),
            "tool-create" => obs("tool", false),
            "chain-create" => obs("chain", false),
            "retriever-create" => obs("retriever", false),
            "evaluator-create" => obs("evaluator", false),
            "embedding-create" => obs("embedding", false),
            "guardrail-create" => obs("guardrail", false),
            "observation-create" => EventType::LegacyObservation { update: false },
            "observation-update" => EventType::LegacyObservation { update: true },
            _ => return None,
        })
    }
}

/// Longest id Langfuse accepts.
const MAX_ID_CHARS: usize = 800;
const MAX_TRACE_NAME_CHARS: usize = 1000;
const MAX_ENVIRONMENT_CHARS: usize = 40;

/// What an accepted trace or observation event is about (for the merge).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Target {
    pub subject: Subject,
    pub id: String,
    /// The trace an observation belongs to (None for traces and trace-less observations).
    pub trace_id: Option<String>,
}

/// Checks one event of a batch against Langfuse's definition. `Ok(None)` for score and sdk-log
/// events (handled elsewhere), `Ok(Some(..))` for traces and observations.
pub(crate) fn validate(event: &Event) -> Result<Option<Target>, String> {
    check_id("id", &event.id)?;
    parse_time("timestamp", &event.timestamp)?;
    let kind = EventType::parse(&event.kind)
        .ok_or_else(|| format!("unknown event type {:?}", event.kind))?;
    let body = event.body.as_object().ok_or("body must be a JSON object")?;
    check_sizes(body)?;
    match kind {
        EventType::ScoreCreate => Ok(None),
        EventType::SdkLog => {
            if body.get("log").is_none_or(Value::is_null) {
                return Err("body.log is required".into());
            }
            Ok(None)
        }
        EventType::TraceCreate => {
            let trace: TraceBody = typed(&event.body)?;
            if let Some(name) = &trace.name
                && name.chars().count() > MAX_TRACE_NAME_CHARS
            {
                return Err(format!(
                    "body.name: maximum length is {MAX_TRACE_NAME_CHARS} characters"
                ));
            }
            check_environment(trace.environment.as_deref())?;
            check_opt_time("body.timestamp", trace.timestamp.as_deref())?;
            // Langfuse generates an id for a trace sent without one; a generated id could never
            // be merged with its later updates, so the event's own id stands in (stable on resend).
            let id = trace.id.unwrap_or_else(|| event.id.clone());
            check_id("body.id", &id)?;
            Ok(Some(Target {
                subject: Subject::Trace,
                trace_id: None,
                id,
            }))
        }
        EventType::Observation { update, .. } | EventType::LegacyObservation { update } => {
            let obs: ObservationBody = typed(&event.body)?;
            if let EventType::LegacyObservation { .. } = kind {
                match obs.legacy_type.as_deref() {
                    Some("GENERATION" | "SPAN" | "EVENT") => {}
                    other => {
                        return Err(format!(
                            "body.type must be GENERATION, SPAN or EVENT, got {other:?}"
                        ));
                    }
                }
            }
            obs.check()?;
            let id = obs
                .id
                .clone()
                .or_else(|| obs.span_id.clone())
                .or_else(|| obs.generation_id.clone());
            let id = match (id, update) {
                (Some(id), _) => id,
                (None, true) => return Err("body.id is required for an update".into()),
                (None, false) => event.id.clone(),
            };
            check_id("body.id", &id)?;
            if let Some(t) = &obs.trace_id {
                check_id("body.traceId", t)?;
            }
            Ok(Some(Target {
                subject: Subject::Observation,
                trace_id: obs.trace_id.clone(),
                id,
            }))
        }
    }
}

/// Fields whose value becomes one span attribute: each must fit the per-value limit the
/// normalizer enforces on every span ([`super::MAX_VALUE_BYTES`]).
const BIG_FIELDS: [&str; 5] = ["input", "output", "metadata", "prompt", "completion"];

fn check_sizes(body: &Map<String, Value>) -> Result<(), String> {
    for field in BIG_FIELDS {
        if let Some(v) = body.get(field) {
            let len = v.to_string().len();
            if len > super::MAX_VALUE_BYTES {
                return Err(format!(
                    "body.{field} is {len} bytes as JSON, over the limit of {} bytes",
                    super::MAX_VALUE_BYTES
                ));
            }
        }
    }
    Ok(())
}

fn typed<T: serde::de::DeserializeOwned>(body: &Value) -> Result<T, String> {
    T::deserialize(body).map_err(|e| format!("body: {e}"))
}

fn check_id(field: &str, id: &str) -> Result<(), String> {
    let chars = id.chars().count();
    if chars == 0 || chars > MAX_ID_CHARS {
        return Err(format!("{field} must be 1 to {MAX_ID_CHARS} characters"));
    }
    if id.contains('\r') {
        return Err(format!(
            "{field}: ID cannot contain carriage return characters"
        ));
    }
    Ok(())
}

fn parse_time(field: &str, text: &str) -> Result<u64, String> {
    parse_rfc3339_nanos(text)
        .ok_or_else(|| format!("{field} {text:?} is not an ISO 8601 date-time"))
}

fn check_opt_time(field: &str, text: Option<&str>) -> Result<(), String> {
    text.map_or(Ok(()), |t| parse_time(field, t).map(drop))
}

fn check_environment(env: Option<&str>) -> Result<(), String> {
    let Some(env) = env else { return Ok(()) };
    if env.len() > MAX_ENVIRONMENT_CHARS {
        return Err(format!(
            "body.environment: maximum length is {MAX_ENVIRONMENT_CHARS} characters"
        ));
    }
    let ok = env
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if env.is_empty() || !ok || env.starts_with("langfuse") {
        return Err(format!(
            "body.environment {env:?}: only alphanumeric lower case characters, hyphens, and underscores are allowed and it must not start with 'langfuse'"
        ));
    }
    Ok(())
}

/// `trace-create` body, read to check each field's type as Langfuse does (the row is built
/// from the JSON body itself; fields of any JSON value, such as `input`, are not listed).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code, reason = "a field that is never read still checks its type")]
pub(crate) struct TraceBody {
    pub id: Option<String>,
    pub timestamp: Option<String>,
    pub name: Option<String>,
    pub external_id: Option<String>,
    pub session_id: Option<String>,
    pub user_id: Option<String>,
    pub environment: Option<String>,
    pub release: Option<String>,
    pub version: Option<String>,
    pub public: Option<bool>,
    pub tags: Option<Vec<String>>,
}

/// Observation body: the union of the span, generation and event create/update bodies, the
/// typed creates of newer SDKs and the legacy shapes (`spanId` / `generationId` patches,
/// `prompt` / `completion`, `observation-*` with a `type`), read to check each field's type as
/// Langfuse does (fields of any JSON value, such as `input`, are not listed).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code, reason = "a field that is never read still checks its type")]
pub(crate) struct ObservationBody {
    pub id: Option<String>,
    pub span_id: Option<String>,
    pub generation_id: Option<String>,
    #[serde(rename = "type")]
    pub legacy_type: Option<String>,
    pub trace_id: Option<String>,
    pub name: Option<String>,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    pub completion_start_time: Option<String>,
    pub model: Option<String>,
    pub model_parameters: Option<Map<String, Value>>,
    pub usage: Option<Usage>,
    pub usage_details: Option<Map<String, Value>>,
    pub cost_details: Option<Map<String, Value>>,
    pub parent_observation_id: Option<String>,
    pub level: Option<String>,
    pub status_message: Option<String>,
    pub version: Option<String>,
    pub environment: Option<String>,
    pub prompt_name: Option<String>,
    pub prompt_version: Option<i64>,
}

/// Legacy `usage`: Langfuse's `{input, output, total, unit, *Cost}` or OpenAI's
/// `{promptTokens, completionTokens, totalTokens}`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Usage {
    pub input: Option<i64>,
    pub output: Option<i64>,
    pub total: Option<i64>,
    pub unit: Option<String>,
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
    pub total_tokens: Option<i64>,
    pub input_cost: Option<f64>,
    pub output_cost: Option<f64>,
    pub total_cost: Option<f64>,
}

const LEVELS: [&str; 4] = ["DEBUG", "DEFAULT", "WARNING", "ERROR"];
const USAGE_UNITS: [&str; 6] = [
    "CHARACTERS",
    "TOKENS",
    "MILLISECONDS",
    "SECONDS",
    "IMAGES",
    "REQUESTS",
];

impl ObservationBody {
    fn check(&self) -> Result<(), String> {
        for (field, t) in [
            ("body.startTime", &self.start_time),
            ("body.endTime", &self.end_time),
            ("body.completionStartTime", &self.completion_start_time),
        ] {
            check_opt_time(field, t.as_deref())?;
        }
        if let Some(level) = &self.level
            && !LEVELS.contains(&level.as_str())
        {
            return Err(format!(
                "body.level must be one of DEBUG, DEFAULT, WARNING, ERROR, got {level:?}"
            ));
        }
        check_environment(self.environment.as_deref())?;
        if self.prompt_name.is_some() != self.prompt_version.is_some() {
            return Err("body.promptName and body.promptVersion must be set together".into());
        }
        if let Some(unit) = self.usage.as_ref().and_then(|u| u.unit.as_deref())
            && !USAGE_UNITS.contains(&unit)
        {
            return Err(format!(
                "body.usage.unit {unit:?} is not a Langfuse usage unit"
            ));
        }
        if let Some(details) = &self.usage_details {
            check_counts("body.usageDetails", details)?;
        }
        if let Some(costs) = &self.cost_details {
            for (k, v) in costs {
                if !(v.is_null() || v.as_f64().is_some_and(|c| c >= 0.0)) {
                    return Err(format!(
                        "body.costDetails.{k} must be a non-negative number"
                    ));
                }
            }
        }
        for (k, v) in self.model_parameters.iter().flatten() {
            let ok = match v {
                Value::Null | Value::String(_) | Value::Number(_) | Value::Bool(_) => true,
                Value::Array(items) => items.iter().all(Value::is_string),
                Value::Object(map) => map.values().all(Value::is_string),
            };
            if !ok {
                return Err(format!(
                    "body.modelParameters.{k} must be a string, number, boolean, string array or string map"
                ));
            }
        }
        Ok(())
    }
}

/// `usageDetails`: non-negative integer counts (OpenAI's `*_tokens_details` objects one level
/// down).
fn check_counts(field: &str, details: &Map<String, Value>) -> Result<(), String> {
    for (k, v) in details {
        let ok = match v {
            Value::Null => true,
            Value::Number(n) => n.as_u64().is_some(),
            Value::Object(inner) if k.ends_with("_details") => {
                check_counts(&format!("{field}.{k}"), inner)?;
                true
            }
            _ => false,
        };
        if !ok {
            return Err(format!("{field}.{k} must be a non-negative integer"));
        }
    }
    Ok(())
}

// ---- ids ------------------------------------------------------------------------------------

/// The 32-hex trace id a Langfuse trace id is stored under.
pub fn trace_hex(id: &str) -> String {
    let plain: String = if is_uuid(id) {
        id.chars().filter(|c| *c != '-').collect()
    } else {
        id.to_string()
    };
    if plain.len() == 32 && is_hex(&plain) && !is_zero(&plain) {
        return plain.to_ascii_lowercase();
    }
    hashed("trace", id, 16)
}

/// The 16-hex span id a Langfuse observation id is stored under.
pub fn observation_hex(id: &str) -> String {
    if id.len() == 16 && is_hex(id) && !is_zero(id) {
        return id.to_ascii_lowercase();
    }
    hashed("observation", id, 8)
}

/// The span id of a trace's own row.
pub fn trace_row_hex(trace_id: &str) -> String {
    hashed("trace-row", trace_id, 8)
}

fn hashed(domain: &str, id: &str, bytes: usize) -> String {
    let digest = Sha256::new()
        .chain_update(domain.as_bytes())
        .chain_update([0u8])
        .chain_update(id.as_bytes())
        .finalize();
    let mut out = digest[..bytes].to_vec();
    if out.iter().all(|b| *b == 0) {
        out[0] = 1;
    }
    hex::encode(out)
}

fn is_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_zero(s: &str) -> bool {
    s.bytes().all(|b| b == b'0')
}

fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && [8, 13, 18, 23].iter().all(|&i| b[i] == b'-')
        && b.iter()
            .enumerate()
            .all(|(i, c)| [8, 13, 18, 23].contains(&i) || c.is_ascii_hexdigit())
}

// ---- merged events → rows -------------------------------------------------------------------

/// The SDK that sent a batch (from the envelope's `metadata`), for the resource and scope.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Sdk {
    pub name: String,
    pub version: String,
}

/// A trace's merged events.
#[derive(Debug, Clone, Default)]
pub(crate) struct MergedTrace {
    pub id: String,
    pub body: Map<String, Value>,
    /// The envelope time of its first event (Unix ns), when the body has no timestamp.
    pub first_seen: u64,
    /// The latest end of the observations seen with it (Unix ns, 0: none): the trace's row
    /// spans them, as the root span of the OTel SDK spans its children.
    pub observations_end: u64,
}

/// An observation's merged events.
#[derive(Debug, Clone, Default)]
pub(crate) struct MergedObservation {
    pub id: String,
    /// The Langfuse type (`generation`, `span`, `event`, `agent`, ...).
    pub obs_type: String,
    pub body: Map<String, Value>,
    pub first_seen: u64,
}

/// Applies one event to a merged body: set fields win over absent or null ones, later events
/// over earlier ones (the caller applies them in event time order, creates before updates);
/// `metadata` objects are merged key by key, as Langfuse does.
pub(crate) fn merge_body(into: &mut Map<String, Value>, body: &Value) {
    let Some(body) = body.as_object() else { return };
    for (k, v) in body {
        if v.is_null() {
            continue;
        }
        match (k.as_str(), into.get_mut(k), v) {
            ("metadata", Some(Value::Object(old)), Value::Object(new)) => {
                for (mk, mv) in new {
                    old.insert(mk.clone(), mv.clone());
                }
            }
            _ => {
                into.insert(k.clone(), v.clone());
            }
        }
    }
}

/// The event's envelope time (Unix ns; validated on arrival).
pub(crate) fn event_time(event: &Event) -> u64 {
    parse_rfc3339_nanos(&event.timestamp).unwrap_or(0)
}

/// The Langfuse observation type an event sets (None for an update, which keeps the create's).
pub(crate) fn event_obs_type(event: &Event) -> Option<String> {
    match EventType::parse(&event.kind)? {
        EventType::Observation { obs_type, .. } => Some(obs_type.to_string()),
        EventType::LegacyObservation { .. } => event
            .body
            .get("type")
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase),
        _ => None,
    }
}

/// Rows for a released trace (when it is given) and released observations of `project`.
/// `trace` supplies the trace-level attributes of the observations (the trace may have been
/// released earlier and be remembered, or never sent: then the observations carry none).
pub(crate) fn rows(
    project: &str,
    sdk: &Sdk,
    trace_row: Option<&MergedTrace>,
    trace: Option<&MergedTrace>,
    observations: &[MergedObservation],
) -> Vec<SpanRow> {
    let trace_attrs = trace.map(trace_attributes).unwrap_or_default();
    let mut spans = Vec::with_capacity(observations.len() + 1);
    if let Some(t) = trace_row {
        spans.push(trace_span(t, &trace_attrs));
    }
    for o in observations {
        spans.push(observation_span(o, trace, &trace_attrs));
    }
    let mut resource = vec![kv_str("telemetry.sdk.name", "langfuse")];
    if !sdk.name.is_empty() {
        resource.push(kv_str("telemetry.sdk.language", &sdk.name));
    }
    if !sdk.version.is_empty() {
        resource.push(kv_str("telemetry.sdk.version", &sdk.version));
    }
    let request = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: resource,
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "langfuse-sdk".into(),
                    version: sdk.version.clone(),
                    ..Default::default()
                }),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let normalized = normalize_traces(request, project);
    if normalized.rejected_spans > 0 {
        // Events are validated on arrival against the same limits; this is a bug, said loudly.
        tracing::error!(rejected = normalized.rejected_spans, reason = %normalized.error_message, "langfuse: merged observations rejected by the normalizer");
    }
    normalized.rows
}

/// A sdk-log event as a log record (the SDK's own diagnostics).
pub(crate) fn sdk_log_row(project: &str, event: &Event) -> LogRow {
    let time = parse_rfc3339_nanos(&event.timestamp).unwrap_or(0) as i64;
    let log = event.body.get("log").cloned().unwrap_or(Value::Null);
    LogRow {
        project: project.to_string(),
        timestamp: time,
        observed_timestamp: time,
        severity_text: "INFO".into(),
        severity_number: 9,
        event_name: "langfuse.sdk_log".into(),
        body: json_text(&log),
        scope_name: "langfuse-sdk".into(),
        ..Default::default()
    }
}

/// The attributes the Langfuse OTel SDK puts on every span of a trace.
fn trace_attributes(t: &MergedTrace) -> Vec<KeyValue> {
    let b = &t.body;
    let mut attrs = Vec::new();
    if let Some(user) = str_of(b, "userId") {
        attrs.push(kv_str("langfuse.user.id", user));
    }
    if let Some(session) = str_of(b, "sessionId") {
        attrs.push(kv_str("langfuse.session.id", session));
    }
    if let Some(Value::Array(tags)) = b.get("tags")
        && !tags.is_empty()
    {
        let values = tags
            .iter()
            .filter_map(Value::as_str)
            .map(|t| AnyValue {
                value: Some(any_value::Value::StringValue(t.to_string())),
            })
            .collect();
        attrs.push(kv(
            "langfuse.trace.tags",
            any_value::Value::ArrayValue(ArrayValue { values }),
        ));
    }
    if let Some(meta) = metadata_text(b) {
        attrs.push(kv_str("langfuse.trace.metadata", &meta));
    }
    if let Some(release) = str_of(b, "release") {
        attrs.push(kv_str("langfuse.release", release));
    }
    if let Some(env) = str_of(b, "environment") {
        attrs.push(kv_str("langfuse.environment", env));
    }
    if let Some(public) = b.get("public").and_then(Value::as_bool) {
        attrs.push(kv_bool("langfuse.trace.public", public));
    }
    attrs
}

fn trace_span(t: &MergedTrace, trace_attrs: &[KeyValue]) -> Span {
    let b = &t.body;
    let start = time_of(b, "timestamp").unwrap_or(t.first_seen);
    let trace_hex = trace_hex(&t.id);
    let mut attrs: Vec<KeyValue> = trace_attrs.to_vec();
    if trace_hex != t.id {
        attrs.push(kv_str("langfuse.trace.id", &t.id));
    }
    if let Some(input) = b.get("input") {
        attrs.push(kv_str("langfuse.observation.input", &json_text(input)));
    }
    if let Some(output) = b.get("output") {
        attrs.push(kv_str("langfuse.observation.output", &json_text(output)));
    }
    if let Some(version) = str_of(b, "version") {
        attrs.push(kv_str("langfuse.version", version));
    }
    if let Some(external) = str_of(b, "externalId") {
        attrs.push(kv_str("langfuse.trace.external_id", external));
    }
    Span {
        trace_id: hex::decode(&trace_hex).unwrap_or_default(),
        span_id: hex::decode(trace_row_hex(&t.id)).unwrap_or_default(),
        name: str_of(b, "name").unwrap_or_default().to_string(),
        kind: 1,
        start_time_unix_nano: start,
        end_time_unix_nano: start.max(t.observations_end),
        attributes: attrs,
        ..Default::default()
    }
}

fn observation_span(
    o: &MergedObservation,
    trace: Option<&MergedTrace>,
    trace_attrs: &[KeyValue],
) -> Span {
    let b = &o.body;
    let start = time_of(b, "startTime").unwrap_or(o.first_seen);
    let end = time_of(b, "endTime").unwrap_or(start).max(start);
    let trace_id = str_of(b, "traceId").unwrap_or(&o.id);
    let span_hex = observation_hex(&o.id);
    // Top-level observations hang under their trace's row (when the trace was sent).
    let parent = match str_of(b, "parentObservationId") {
        Some(p) => observation_hex(p),
        None if trace.is_some() => trace_row_hex(trace_id),
        None => String::new(),
    };

    let mut attrs: Vec<KeyValue> = trace_attrs.to_vec();
    if span_hex != o.id {
        attrs.push(kv_str("langfuse.observation.id", &o.id));
    }
    if trace_hex(trace_id) != trace_id {
        attrs.push(kv_str("langfuse.trace.id", trace_id));
    }
    attrs.push(kv_str("langfuse.observation.type", &o.obs_type));
    body_attributes(b, &mut attrs);
    // The trace's version and environment apply where the observation has none of its own.
    if let Some(t) = trace {
        for (field, key) in [
            ("version", "langfuse.version"),
            ("environment", "langfuse.environment"),
        ] {
            if !b.contains_key(field)
                && let Some(v) = str_of(&t.body, field)
                && !attrs.iter().any(|kv| kv.key == key)
            {
                attrs.push(kv_str(key, v));
            }
        }
    }
    Span {
        trace_id: hex::decode(trace_hex(trace_id)).unwrap_or_default(),
        span_id: hex::decode(&span_hex).unwrap_or_default(),
        parent_span_id: hex::decode(&parent).unwrap_or_default(),
        name: str_of(b, "name").unwrap_or_default().to_string(),
        kind: 1,
        start_time_unix_nano: start,
        end_time_unix_nano: end,
        attributes: attrs,
        ..Default::default()
    }
}

/// The `langfuse.observation.*` attributes of an observation body (the Langfuse OTel SDK's
/// names), so the mapping table reads it as it reads that SDK's spans.
fn body_attributes(b: &Map<String, Value>, attrs: &mut Vec<KeyValue>) {
    let input = b.get("input").or_else(|| b.get("prompt"));
    if let Some(input) = input {
        attrs.push(kv_str("langfuse.observation.input", &json_text(input)));
    }
    let output = b.get("output").or_else(|| b.get("completion"));
    if let Some(output) = output {
        attrs.push(kv_str("langfuse.observation.output", &json_text(output)));
    }
    if let Some(meta) = metadata_text(b) {
        attrs.push(kv_str("langfuse.observation.metadata", &meta));
    }
    for (field, key) in [
        ("model", "langfuse.observation.model.name"),
        ("level", "langfuse.observation.level"),
        ("statusMessage", "langfuse.observation.status_message"),
        (
            "completionStartTime",
            "langfuse.observation.completion_start_time",
        ),
        ("promptName", "langfuse.observation.prompt.name"),
        ("version", "langfuse.version"),
        ("environment", "langfuse.environment"),
    ] {
        if let Some(v) = str_of(b, field) {
            attrs.push(kv_str(key, v));
        }
    }
    if let Some(version) = b.get("promptVersion").and_then(Value::as_i64) {
        attrs.push(kv(
            "langfuse.observation.prompt.version",
            any_value::Value::IntValue(version),
        ));
    }
    if let Some(params) = b.get("modelParameters") {
        attrs.push(kv_str(
            "langfuse.observation.model.parameters",
            &params.to_string(),
        ));
    }
    let (usage, usage_costs) = usage_details(b);
    if let Some(usage) = usage {
        attrs.push(kv_str(
            "langfuse.observation.usage_details",
            &usage.to_string(),
        ));
    }
    if let Some(costs) = b.get("costDetails").cloned().or(usage_costs) {
        attrs.push(kv_str(
            "langfuse.observation.cost_details",
            &costs.to_string(),
        ));
    }
}

/// `usageDetails` as given, else the legacy `usage` as `{input, output, total}`; plus the costs
/// a legacy `usage` carries (`inputCost` ...) as cost details.
fn usage_details(b: &Map<String, Value>) -> (Option<Value>, Option<Value>) {
    let costs_of = |u: &Usage| {
        let mut costs = Map::new();
        for (k, v) in [
            ("input", u.input_cost),
            ("output", u.output_cost),
            ("total", u.total_cost),
        ] {
            if let Some(v) = v {
                costs.insert(k.into(), v.into());
            }
        }
        (!costs.is_empty()).then_some(Value::Object(costs))
    };
    let usage: Option<Usage> = b
        .get("usage")
        .and_then(|u| serde_json::from_value(u.clone()).ok());
    let costs = usage.as_ref().and_then(costs_of);
    if let Some(Value::Object(details)) = b.get("usageDetails")
        && !details.is_empty()
    {
        return (Some(Value::Object(details.clone())), costs);
    }
    let Some(u) = usage else { return (None, costs) };
    let mut out = Map::new();
    for (k, v) in [
        ("input", u.input.or(u.prompt_tokens)),
        ("output", u.output.or(u.completion_tokens)),
        ("total", u.total.or(u.total_tokens)),
    ] {
        if let Some(v) = v.filter(|v| *v >= 0) {
            out.insert(k.into(), v.into());
        }
    }
    ((!out.is_empty()).then_some(Value::Object(out)), costs)
}

fn str_of<'a>(b: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    b.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn time_of(b: &Map<String, Value>, key: &str) -> Option<u64> {
    str_of(b, key).and_then(parse_rfc3339_nanos)
}

/// Input / output as the OTel SDK serializes them: JSON text (a string becomes a JSON string).
fn json_text(v: &Value) -> String {
    v.to_string()
}

/// Metadata as a JSON object (the mapping table reads its entries); a scalar becomes
/// `{"metadata": value}`; none when absent or empty.
fn metadata_text(b: &Map<String, Value>) -> Option<String> {
    match b.get("metadata")? {
        Value::Object(map) if map.is_empty() => None,
        v @ Value::Object(_) => Some(v.to_string()),
        other => Some(serde_json::json!({ "metadata": other }).to_string()),
    }
}

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn kv_str(key: &str, value: &str) -> KeyValue {
    kv(key, any_value::Value::StringValue(value.to_string()))
}

fn kv_bool(key: &str, value: bool) -> KeyValue {
    kv(key, any_value::Value::BoolValue(value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(kind: &str, body: Value) -> Event {
        Event {
            id: "e1".into(),
            timestamp: "2026-11-30T01:00:00.000Z".into(),
            kind: kind.into(),
            body,
        }
    }

    #[test]
    fn every_langfuse_event_type_is_known_and_typed_creates_are_observations() {
        for kind in [
            "trace-create",
            "score-create",
            "sdk-log",
            "event-create",
            "span-create",
            "span-update",
            "generation-create",
            "generation-update",
            "agent-create",
            "tool-create",
            "chain-create",
            "retriever-create",
            "evaluator-create",
            "embedding-create",
            "guardrail-create",
            "observation-create",
            "observation-update",
        ] {
            assert!(EventType::parse(kind).is_some(), "{kind}");
        }
        let tool = validate(&event("tool-create", json!({"id": "o1", "traceId": "t1"}))).unwrap();
        assert_eq!(
            tool,
            Some(Target {
                subject: Subject::Observation,
                id: "o1".into(),
                trace_id: Some("t1".into())
            })
        );
        assert_eq!(
            event_obs_type(&event("retriever-create", json!({}))),
            Some("retriever".into())
        );
        // Legacy shapes: the patch names its observation spanId / generationId; the legacy
        // observation-create carries its type.
        let patch = validate(&event("span-update", json!({"spanId": "s1"}))).unwrap();
        assert_eq!(patch.unwrap().id, "s1");
        let legacy = event(
            "observation-create",
            json!({"id": "o2", "type": "GENERATION"}),
        );
        assert!(validate(&legacy).is_ok());
        assert_eq!(event_obs_type(&legacy), Some("generation".into()));
    }

    #[test]
    fn invalid_events_name_the_field() {
        let cases = [
            (event("nope-create", json!({})), "unknown event type"),
            (
                event("span-create", json!([])),
                "body must be a JSON object",
            ),
            (event("span-create", json!({"level": "LOUD"})), "body.level"),
            (
                event("span-create", json!({"startTime": "yesterday"})),
                "body.startTime",
            ),
            (
                event("span-update", json!({"name": "x"})),
                "body.id is required for an update",
            ),
            (
                event("span-create", json!({"id": "a\rb"})),
                "carriage return",
            ),
            (
                event("span-create", json!({"id": "x".repeat(801)})),
                "1 to 800",
            ),
            (
                event("trace-create", json!({"environment": "langfuse-x"})),
                "body.environment",
            ),
            (
                event("trace-create", json!({"environment": "Prod"})),
                "body.environment",
            ),
            (
                event("trace-create", json!({"name": "n".repeat(1001)})),
                "body.name",
            ),
            (event("trace-create", json!({"tags": "a"})), "body:"),
            (
                event("generation-create", json!({"promptName": "p"})),
                "promptVersion",
            ),
            (
                event("generation-create", json!({"usageDetails": {"input": -1}})),
                "usageDetails.input",
            ),
            (
                event("generation-create", json!({"costDetails": {"total": -0.5}})),
                "costDetails.total",
            ),
            (
                event("generation-create", json!({"usage": {"unit": "BYTES"}})),
                "usage.unit",
            ),
            (
                event(
                    "generation-create",
                    json!({"modelParameters": {"t": {"a": 1}}}),
                ),
                "modelParameters.t",
            ),
            (event("observation-create", json!({"id": "o"})), "body.type"),
            (event("sdk-log", json!({})), "body.log"),
            (
                event(
                    "span-create",
                    json!({"input": "x".repeat(crate::normalize::MAX_VALUE_BYTES)}),
                ),
                "body.input is",
            ),
        ];
        for (e, want) in cases {
            let err = validate(&e).unwrap_err();
            assert!(err.contains(want), "{}: {err}", e.kind);
        }
        let mut bad_time = event("trace-create", json!({}));
        bad_time.timestamp = "2026-11-30".into();
        assert!(validate(&bad_time).unwrap_err().contains("timestamp"));
        // OpenAI-style usage details (with their *_details objects) are accepted.
        let openai = json!({"usageDetails": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7,
            "prompt_tokens_details": {"cached_tokens": 1}}});
        assert!(validate(&event("generation-create", openai)).is_ok());
    }

    #[test]
    fn ids_map_to_stored_ids_deterministically() {
        let uuid = "0c62b4d1-8a74-42a9-a09b-4b76524e7de7";
        assert_eq!(trace_hex(uuid), "0c62b4d18a7442a9a09b4b76524e7de7");
        assert_eq!(
            trace_hex("0C62B4D18A7442A9A09B4B76524E7DE7"),
            "0c62b4d18a7442a9a09b4b76524e7de7"
        );
        assert_eq!(trace_hex("my-trace"), trace_hex("my-trace"));
        assert_eq!(trace_hex("my-trace").len(), 32);
        assert_ne!(trace_hex("my-trace"), trace_hex("my-trace-2"));
        assert_ne!(trace_hex(&"0".repeat(32)), "0".repeat(32));
        assert_eq!(observation_hex("b7ad6b7169203331"), "b7ad6b7169203331");
        assert_eq!(observation_hex(uuid).len(), 16);
        assert_ne!(trace_row_hex(uuid), observation_hex(uuid));
    }

    #[test]
    fn merging_overrides_set_fields_and_merges_metadata() {
        let mut body = Map::new();
        merge_body(
            &mut body,
            &json!({"name": "a", "metadata": {"x": 1, "y": 1}, "output": null}),
        );
        merge_body(
            &mut body,
            &json!({"name": null, "output": "o", "metadata": {"y": 2}}),
        );
        assert_eq!(
            Value::Object(body),
            json!({"name": "a", "metadata": {"x": 1, "y": 2}, "output": "o"})
        );
    }

    fn generation(body: Value) -> SpanRow {
        let o = MergedObservation {
            id: "g1".into(),
            obs_type: "generation".into(),
            body: body.as_object().unwrap().clone(),
            first_seen: 1_000,
        };
        rows("p", &Sdk::default(), None, None, &[o]).remove(0)
    }

    #[test]
    fn usage_shapes_reach_the_token_and_cost_columns() {
        // Legacy OpenAI-style usage object, with costs.
        let r = generation(
            json!({"usage": {"promptTokens": 5, "completionTokens": 2, "totalTokens": 7,
            "inputCost": 0.1, "outputCost": 0.2, "totalCost": 0.3}}),
        );
        assert_eq!(
            (r.input_tokens, r.output_tokens, r.total_tokens),
            (Some(5), Some(2), Some(7))
        );
        assert_eq!(
            (r.input_cost, r.output_cost, r.total_cost),
            (Some(0.1), Some(0.2), Some(0.3))
        );
        // usageDetails win over usage; costDetails over the usage's costs.
        let r = generation(
            json!({"usage": {"input": 1}, "usageDetails": {"input": 9, "output_reasoning_tokens": 4},
            "costDetails": {"total": 1.5}}),
        );
        assert_eq!(
            (r.input_tokens, r.reasoning_tokens, r.total_cost),
            (Some(9), Some(4), Some(1.5))
        );
        // Model, parameters, level, prompt and time to first token.
        let r = generation(
            json!({"model": "gpt-4o", "modelParameters": {"temperature": 0.5, "max_tokens": 9},
            "level": "ERROR", "statusMessage": "boom", "promptName": "p", "promptVersion": 3,
            "startTime": "2026-11-30T01:00:00.000Z", "completionStartTime": "2026-11-30T01:00:00.250Z",
            "endTime": "2026-11-30T01:00:01.000Z", "input": "hi", "output": {"a": 1}}),
        );
        assert_eq!(
            (r.observation_type.as_str(), r.response_model.as_str()),
            ("llm", "gpt-4o")
        );
        assert_eq!((r.temperature, r.max_tokens), (Some(0.5), Some(9)));
        assert_eq!(
            (r.status_code.as_str(), r.status_message.as_str()),
            ("Error", "boom")
        );
        assert_eq!(
            (r.prompt_name.as_str(), r.prompt_version.as_str()),
            ("p", "3")
        );
        assert_eq!(
            (r.time_to_first_token_ns, r.duration_ns),
            (Some(250_000_000), 1_000_000_000)
        );
        assert_eq!(
            (r.input.as_str(), r.output.as_str()),
            (r#""hi""#, r#"{"a":1}"#)
        );
        // No start time: the first event's time; no end: zero duration.
        let r = generation(json!({}));
        assert_eq!(
            (r.start_time, r.duration_ns, r.parent_span_id.as_str()),
            (1_000, 0, "")
        );
    }
}
