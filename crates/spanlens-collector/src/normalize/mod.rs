//! Normalization: OTLP spans → [`SpanRow`]s, one flattening pass resource → scope → span.
//!
//! Base columns (ids, times, name, kind, status, scope, attributes, events, links) come
//! straight from the OTLP span, written the way the OpenTelemetry ClickHouse exporter writes
//! them. The LLM columns come from ONE table, [`table::RULES`], applied by [`extract`] the same
//! way to every span whatever library produced it. See `CONVENTIONS.md` next to `Cargo.toml`.
//!
//! Invalid spans (trace id not 16 non-zero bytes, span id not 8 non-zero bytes, parent span id
//! neither empty nor 8 bytes) and spans beyond the per-span limits ([`MAX_SPAN_ATTRIBUTES`],
//! [`MAX_SPAN_EVENTS`], [`MAX_VALUE_BYTES`]) are rejected and counted; their neighbours are kept.

pub(crate) mod companion;
pub(crate) mod evaluation;
mod extract;
pub mod langfuse;
pub(crate) mod logs;
mod messages;
pub(crate) mod metrics;
pub(crate) mod otlp_json;
pub(crate) mod table;
pub(crate) mod value;

#[cfg(test)]
mod tests;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
use opentelemetry_proto::tonic::trace::v1::{Span, Status};

use crate::storage::row::{AttrMap, ScoreRow, SharedAttrMap, SpanRow};
pub(crate) use extract::parse_rfc3339_nanos;
use extract::{Mapped, Scratch, Val};
pub(crate) use logs::{SpanContent, normalize_logs};
pub(crate) use metrics::normalize_metrics;
use table::Col;
use value::{attrs_to_map, take_as_string, value_to_string};

/// The result of normalizing one export request.
#[derive(Debug, Default)]
pub struct Normalized {
    pub rows: Vec<SpanRow>,
    /// The ids of `rows` (index-aligned) as numbers, for the content join.
    pub ids: Vec<SpanIds>,
    /// Scores from `gen_ai.evaluation.result` span events (see [`evaluation`]).
    pub scores: Vec<ScoreRow>,
    /// Logfire streaming companion spans joined into their call's row (not rows themselves).
    pub joined_companions: usize,
    /// Spans rejected as invalid (OTLP `partial_success.rejected_spans`).
    pub rejected_spans: i64,
    /// Empty when nothing was rejected; otherwise the first few reasons, e.g.
    /// `span 3 of scope 'x': trace_id must be 16 bytes, got 5`.
    pub error_message: String,
}

/// A span's trace and span id as numbers, decoded once from the OTLP bytes: the key the content
/// join matches spans and their content on. Not a column: rows keep the ids as lowercase hex
/// (what ClickHouse stores), and rows from elsewhere (Langfuse events, the hold log) have none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpanIds {
    pub trace: u128,
    pub span: u64,
}

impl SpanIds {
    /// OTLP's byte ids as the big-endian numbers their hex spells; `None` unless they are 16
    /// and 8 bytes and neither is all zero (the invalid id).
    pub fn from_otlp(trace_id: &[u8], span_id: &[u8]) -> Option<SpanIds> {
        let trace = u128::from_be_bytes(trace_id.try_into().ok()?);
        let span = u64::from_be_bytes(span_id.try_into().ok()?);
        (trace != 0 && span != 0).then_some(SpanIds { trace, span })
    }
}

/// How many rejection reasons `error_message` spells out.
const MAX_REASONS: usize = 5;

/// Items rejected one by one (OTLP partial success): a count and the first few reasons.
#[derive(Default)]
pub(crate) struct Rejections {
    count: i64,
    reasons: Vec<String>,
}

impl Rejections {
    /// Counts one rejected item; `reason` is formatted only while the message has room.
    pub(crate) fn reject(&mut self, reason: impl FnOnce() -> String) {
        self.count += 1;
        if self.reasons.len() < MAX_REASONS {
            self.reasons.push(reason());
        }
    }

    /// (count, message): empty when nothing was rejected, else the first reasons and
    /// "and N more invalid <what>".
    pub(crate) fn finish(self, what: &str) -> (i64, String) {
        let mut msg = self.reasons.join("; ");
        let unlisted = self.count - self.reasons.len() as i64;
        if unlisted > 0 {
            msg.push_str(&format!("; and {unlisted} more invalid {what}"));
        }
        (self.count, msg)
    }
}

/// Normalizes one `ExportTraceServiceRequest` (taken by value: strings are moved into rows).
pub fn normalize_traces(request: ExportTraceServiceRequest, project: &str) -> Normalized {
    let span_count: usize = request
        .resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .map(|ss| ss.spans.len())
        .sum();
    let mut out = Normalized {
        rows: Vec::with_capacity(span_count),
        ids: Vec::with_capacity(span_count),
        ..Default::default()
    };
    let mut rejections = Rejections::default();
    let mut scratch = Scratch::default();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or_default();

    for resource_spans in request.resource_spans {
        let resource_attrs: Vec<KeyValue> = resource_spans
            .resource
            .map(|r| r.attributes)
            .unwrap_or_default();
        let resource_map: SharedAttrMap = resource_attrs
            .iter()
            .map(|kv| {
                let v = kv
                    .value
                    .as_ref()
                    .and_then(|v| v.value.as_ref())
                    .map(value_to_string)
                    .unwrap_or_default();
                (kv.key.clone(), v)
            })
            .collect::<AttrMap>()
            .into();
        for scope_spans in resource_spans.scope_spans {
            let (scope_name, scope_version) = scope_spans
                .scope
                .map(|s| (s.name, s.version))
                .unwrap_or_default();
            for (i, span) in scope_spans.spans.into_iter().enumerate() {
                let ids = match validate_span(&span) {
                    Ok(ids) => ids,
                    Err(reason) => {
                        rejections.reject(|| format!("span {i} of scope '{scope_name}': {reason}"));
                        continue;
                    }
                };
                evaluation_scores(&span, project, now, &mut out.scores);
                let scope = Scope {
                    name: &scope_name,
                    version: &scope_version,
                };
                out.rows.push(span_to_row(
                    span,
                    project,
                    &resource_attrs,
                    &resource_map,
                    scope,
                    &mut scratch,
                ));
                out.ids.push(ids);
            }
        }
    }

    let joined = companion::join_streaming_companions(&mut out.rows);
    // Highest index first, so the remaining indexes stay valid (and rows and ids aligned).
    for &c in joined.iter().rev() {
        out.rows.remove(c);
        out.ids.remove(c);
    }
    out.joined_companions = joined.len();
    (out.rejected_spans, out.error_message) = rejections.finish("span(s)");
    out
}

/// The scores of a span's `gen_ai.evaluation.result` events: the span is the evaluated one.
fn evaluation_scores(span: &Span, project: &str, now: i64, out: &mut Vec<ScoreRow>) {
    let mut ids = None;
    for event in &span.events {
        if event.name != evaluation::EVALUATION_RESULT {
            continue;
        }
        let (trace_id, span_id) =
            ids.get_or_insert_with(|| (hex::encode(&span.trace_id), hex::encode(&span.span_id)));
        let target = evaluation::Target {
            project,
            trace_id,
            span_id,
            time_unix_nano: event.time_unix_nano as i64,
            now,
        };
        out.extend(evaluation::score_from_attributes(
            &event.attributes,
            &target,
        ));
    }
}

/// Per-span limits: a span beyond them is rejected alone (partial success, with the reason),
/// so one pathological span never costs its neighbours or unbounded memory downstream.
pub(crate) const MAX_SPAN_ATTRIBUTES: usize = 4096;
pub(crate) const MAX_SPAN_EVENTS: usize = 4096;
/// Longest single string attribute value (a prompt of a very long context fits).
pub(crate) const MAX_VALUE_BYTES: usize = 4 << 20;

/// The span's ids when it is valid, else why not.
fn validate_span(span: &Span) -> Result<SpanIds, String> {
    let ids = validate_ids(span)?;
    if span.attributes.len() > MAX_SPAN_ATTRIBUTES {
        return Err(format!(
            "{} attributes exceed the limit of {MAX_SPAN_ATTRIBUTES}",
            span.attributes.len()
        ));
    }
    if span.events.len() > MAX_SPAN_EVENTS {
        return Err(format!(
            "{} events exceed the limit of {MAX_SPAN_EVENTS}",
            span.events.len()
        ));
    }
    let events = span.events.iter().flat_map(|e| &e.attributes);
    for kv in span.attributes.iter().chain(events) {
        if let Some(opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(v)) =
            kv.value.as_ref().and_then(|v| v.value.as_ref())
            && v.len() > MAX_VALUE_BYTES
        {
            return Err(format!(
                "attribute {:?} is {} bytes, over the limit of {MAX_VALUE_BYTES}",
                kv.key,
                v.len()
            ));
        }
    }
    Ok(ids)
}

fn validate_ids(span: &Span) -> Result<SpanIds, String> {
    let trace = <[u8; 16]>::try_from(span.trace_id.as_slice())
        .map(u128::from_be_bytes)
        .map_err(|_| format!("trace_id must be 16 bytes, got {}", span.trace_id.len()))?;
    if trace == 0 {
        return Err("trace_id must not be all zero".into());
    }
    let span_id = <[u8; 8]>::try_from(span.span_id.as_slice())
        .map(u64::from_be_bytes)
        .map_err(|_| format!("span_id must be 8 bytes, got {}", span.span_id.len()))?;
    if span_id == 0 {
        return Err("span_id must not be all zero".into());
    }
    if !span.parent_span_id.is_empty() && span.parent_span_id.len() != 8 {
        return Err(format!(
            "parent_span_id must be empty or 8 bytes, got {}",
            span.parent_span_id.len()
        ));
    }
    Ok(SpanIds {
        trace,
        span: span_id,
    })
}

/// Span kind as the OTel ClickHouse exporter writes it (`ptrace.SpanKind.String()`).
pub(crate) fn kind_str(kind: i32) -> &'static str {
    match kind {
        1 => "Internal",
        2 => "Server",
        3 => "Client",
        4 => "Producer",
        5 => "Consumer",
        _ => "Unspecified",
    }
}

/// Status code as the OTel ClickHouse exporter writes it.
pub(crate) fn status_str(code: i32) -> &'static str {
    match code {
        1 => "Ok",
        2 => "Error",
        _ => "Unset",
    }
}

#[derive(Clone, Copy)]
struct Scope<'a> {
    name: &'a str,
    version: &'a str,
}

fn span_to_row(
    span: Span,
    project: &str,
    resource_attrs: &[KeyValue],
    resource_map: &SharedAttrMap,
    scope: Scope<'_>,
    scratch: &mut Scratch,
) -> SpanRow {
    let mut m: Mapped = scratch.map_span(&span, resource_attrs);
    let input_move = m.move_index(Col::Input);
    let output_move = m.move_index(Col::Output);

    let Span {
        trace_id,
        span_id,
        parent_span_id,
        trace_state,
        name,
        kind,
        start_time_unix_nano: start,
        end_time_unix_nano: end,
        attributes,
        events,
        links,
        status,
        ..
    } = span;

    // Attributes: the two big text columns take their attribute's string by move; attributes a
    // column consumed are dropped; everything else is stringified into the map.
    let mut input = String::new();
    let mut output = String::new();
    let mut span_attributes: AttrMap = Vec::with_capacity(attributes.len());
    for (i, kv) in attributes.into_iter().enumerate() {
        let idx = Some(i as u32);
        if idx == input_move {
            input = take_as_string(kv.value);
        } else if idx == output_move {
            output = take_as_string(kv.value);
        } else if !scratch.consumed[i] {
            span_attributes.push((kv.key, take_as_string(kv.value)));
        }
    }
    if input_move.is_none() {
        input = text_val(m.take(Col::Input));
    }
    if output_move.is_none() {
        output = text_val(m.take(Col::Output));
    }

    let mut row = SpanRow {
        project: project.to_string(),
        start_time: start as i64,
        duration_ns: end.saturating_sub(start),
        trace_id: hex::encode(&trace_id),
        span_id: hex::encode(&span_id),
        // An all-zero parent id is the invalid id, i.e. no parent.
        parent_span_id: if parent_span_id.iter().all(|b| *b == 0) {
            String::new()
        } else {
            hex::encode(&parent_span_id)
        },
        trace_state,
        name,
        kind: kind_str(kind).to_string(),
        scope_name: scope.name.to_string(),
        scope_version: scope.version.to_string(),
        input,
        output,
        span_attributes,
        resource_attributes: resource_map.clone(),
        ..Default::default()
    };

    set_status(&mut row, status, &mut m);
    push_events_and_links(&mut row, events, links, &scratch.consumed_events);
    set_llm_columns(&mut row, &mut m);
    row
}

/// The OTLP status, else the one the table found (a message; `level: ERROR` of Langfuse).
fn set_status(row: &mut SpanRow, status: Option<Status>, m: &mut Mapped) {
    let (code, message) = status.map(|s| (s.code, s.message)).unwrap_or_default();
    row.status_code = status_str(code).to_string();
    row.status_message = message;
    if row.status_message.is_empty() {
        row.status_message = m.text(Col::StatusMessage);
    }
    if code == 0 && m.text(Col::StatusFromLevel) == "Error" {
        row.status_code = "Error".to_string();
    }
}

/// Events no column consumed, and the links, in the exporter's nested columns.
fn push_events_and_links(
    row: &mut SpanRow,
    events: Vec<Event>,
    links: Vec<Link>,
    consumed_events: &[bool],
) {
    for (j, event) in events.into_iter().enumerate() {
        if consumed_events[j] {
            continue;
        }
        row.events_time.push(event.time_unix_nano as i64);
        row.events_name.push(event.name);
        row.events_attributes.push(attrs_to_map(event.attributes));
    }
    for link in links {
        row.links_trace_id.push(hex::encode(&link.trace_id));
        row.links_span_id.push(hex::encode(&link.span_id));
        row.links_trace_state.push(link.trace_state);
        row.links_attributes.push(attrs_to_map(link.attributes));
    }
}

/// The LLM columns: what the table resolved, with input_tokens completed from uncached parts.
fn set_llm_columns(row: &mut SpanRow, m: &mut Mapped) {
    row.service_name = m.text(Col::ServiceName);
    row.environment = m.text(Col::Environment);
    row.release = m.text(Col::Release);
    row.error_type = m.text(Col::ErrorType);
    row.observation_type = match m.text(Col::ObservationType) {
        t if t.is_empty() => "span".to_string(),
        t => t,
    };
    row.operation = m.text(Col::Operation);
    row.provider = m.text(Col::Provider);
    row.request_model = m.text(Col::RequestModel);
    row.response_model = m.text(Col::ResponseModel);
    row.cached_tokens = m.u64(Col::CachedTokens);
    row.cache_creation_tokens = m.u64(Col::CacheCreationTokens);
    // Every library's input_tokens means all input, cache reads and writes included.
    row.input_tokens = m.u64(Col::InputTokens).or_else(|| {
        let uncached = m.u64(Col::UncachedInputTokens)?;
        Some(uncached + row.cached_tokens.unwrap_or(0) + row.cache_creation_tokens.unwrap_or(0))
    });
    row.output_tokens = m.u64(Col::OutputTokens);
    row.total_tokens = m.u64(Col::TotalTokens);
    row.reasoning_tokens = m.u64(Col::ReasoningTokens);
    row.input_cost = m.f64(Col::InputCost);
    row.output_cost = m.f64(Col::OutputCost);
    row.total_cost = m.f64(Col::TotalCost);
    row.time_to_first_token_ns = m.u64(Col::TimeToFirstToken);
    row.is_streaming = m.bool(Col::IsStreaming);
    row.finish_reasons = m.list(Col::FinishReasons);
    row.response_id = m.text(Col::ResponseId);
    row.temperature = m.f64(Col::Temperature);
    row.max_tokens = m.u64(Col::MaxTokens);
    row.top_p = m.f64(Col::TopP);
    row.session_id = m.text(Col::SessionId);
    row.user_id = m.text(Col::UserId);
    row.prompt_name = m.text(Col::PromptName);
    row.prompt_version = m.text(Col::PromptVersion);
    row.tags = m.list(Col::Tags);
    row.metadata = m.map(Col::Metadata);
}

fn text_val(v: Option<Val>) -> String {
    match v {
        Some(Val::Text(s)) => s,
        _ => String::new(),
    }
}
