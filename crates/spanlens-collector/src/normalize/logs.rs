//! OTLP log records → [`LogRow`]s (every record, flattened resource → scope → record, as the
//! OTel ClickHouse exporter keeps them), plus the prompt / completion that GenAI content events
//! carry, as one [`SpanContent`] per span for the content join (`pipeline::content_join`).
//!
//! GenAI content events (by `event_name`, else the `event.name` attribute of older SDKs):
//! - `gen_ai.client.inference.operation.details` (current semconv; opentelemetry-util-genai,
//!   OpenLIT): the record's attributes are the span's GenAI attributes, with
//!   `gen_ai.input.messages` / `gen_ai.output.messages` usually *structured* AnyValues. One
//!   record describes the whole operation.
//! - `gen_ai.{system,user,assistant,tool}.message`, `gen_ai.choice` (opentelemetry-
//!   instrumentation-openai-v2 < 2.0 and other event-based instrumentations): the BODY carries
//!   `{content, role?, tool_calls?, id?}` / `{index, finish_reason, message}`, one record per
//!   message; also `gen_ai.content.prompt` / `gen_ai.content.completion`.
//!
//! The content is not decoded by a second set of rules: the records of one span are turned
//! into the span they describe — `operation.details` attributes become span attributes,
//! message records become span events named after the event with the body's fields as
//! attributes — and the span mapping table ([`super::table::RULES`]) reads `input`, `output`
//! and `finish_reasons` from it. So a prompt sent as a log record yields exactly the text the
//! same prompt sent on the span would.
//!
//! Records with a malformed trace or span id (not empty, and not 16 / 8 bytes) are rejected and
//! counted (OTLP partial success); all-zero or empty ids mean "not correlated": the record is
//! stored, but has no span to join.

use std::collections::HashMap;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::Event;

use super::evaluation::{self, EVALUATION_RESULT, Target};
use super::extract::Scratch;
use super::messages::message_event_role;
use super::table::Col;
use super::value::{as_text, attrs_to_map, take_as_string, value_to_string};
use super::{Rejections, SpanIds, text_val};
use crate::storage::row::{AttrMap, LogRow, ScoreRow, SharedAttrMap};

/// The result of normalizing one logs export request.
#[derive(Debug, Default)]
pub struct NormalizedLogs {
    /// One row per accepted record, GenAI content events included.
    pub rows: Vec<LogRow>,
    /// The prompt / completion of each span that GenAI content events in this request describe.
    pub content: Vec<SpanContent>,
    /// Scores from GenAI evaluation results (see [`super::evaluation`]); the records stay rows.
    pub scores: Vec<ScoreRow>,
    /// Records rejected for malformed ids (OTLP `partial_success.rejected_log_records`).
    pub rejected_log_records: i64,
    /// Empty when nothing was rejected; otherwise the first few reasons.
    pub error_message: String,
}

/// The content GenAI log records carry for one span, in the span row's shapes.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanContent {
    /// Resource `service.name` of the records.
    pub service_name: String,
    /// The span's ids, as its [`super::Normalized::ids`] has them.
    pub ids: SpanIds,
    /// The `input` column's text for these messages, when they carry a prompt.
    pub input: Option<String>,
    /// The `output` column's text, when they carry a completion.
    pub output: Option<String>,
    /// The `finish_reasons` column, when the records say.
    pub finish_reasons: Vec<String>,
    /// The `operation` column (`chat`, `embeddings`, …) when the records say (`gen_ai.operation.name`
    /// on operation.details events); empty for old-style message events.
    pub operation: String,
    /// The records describe the whole operation (an `operation.details` event), so nothing more
    /// will come for this span even when input or output is absent (e.g. a failed call).
    pub complete: bool,
}

impl SpanContent {
    /// Text bytes held (for the join's memory bound).
    pub fn text_bytes(&self) -> usize {
        self.input.as_ref().map_or(0, String::len) + self.output.as_ref().map_or(0, String::len)
    }

    /// Whether nothing more is expected: a whole-operation record, or both halves present.
    pub fn is_complete(&self) -> bool {
        self.complete || (self.input.is_some() && self.output.is_some())
    }

    /// Adds the content of later records of the same span (old-style events may be exported in
    /// several requests): message lists are concatenated, an identical re-send adds nothing.
    pub fn absorb(&mut self, later: SpanContent) {
        self.input = concat_lists(self.input.take(), later.input);
        self.output = concat_lists(self.output.take(), later.output);
        if self.finish_reasons.is_empty() {
            self.finish_reasons = later.finish_reasons;
        }
        if self.operation.is_empty() {
            self.operation = later.operation;
        }
        self.complete |= later.complete;
    }
}

fn concat_lists(first: Option<String>, later: Option<String>) -> Option<String> {
    match (first, later) {
        (Some(a), Some(b)) if a == b => Some(a),
        (Some(a), Some(b)) => {
            use serde_json::Value as J;
            match (serde_json::from_str::<J>(&a), serde_json::from_str::<J>(&b)) {
                (Ok(J::Array(mut x)), Ok(J::Array(y))) => {
                    x.extend(y);
                    Some(serde_json::to_string(&J::Array(x)).unwrap_or(a))
                }
                _ => Some(a),
            }
        }
        (a, b) => a.or(b),
    }
}

/// `event_name` of the whole-operation GenAI event (current semconv).
pub const OPERATION_DETAILS: &str = "gen_ai.client.inference.operation.details";

#[derive(Clone, Copy, PartialEq, Debug)]
enum ContentKind {
    /// Attributes are the span's GenAI attributes.
    Details,
    /// One message per record, in the body (or the attributes).
    Message,
}

fn content_kind(event_name: &str) -> Option<ContentKind> {
    match event_name {
        OPERATION_DETAILS => Some(ContentKind::Details),
        "gen_ai.choice" | "gen_ai.content.prompt" | "gen_ai.content.completion" => {
            Some(ContentKind::Message)
        }
        name if message_event_role(name).is_some() => Some(ContentKind::Message),
        _ => None,
    }
}

/// The span that a group of content records describes, being rebuilt (its ids beside it: the
/// span mapping table does not read them).
struct Rebuilt {
    service_name: String,
    ids: SpanIds,
    span: Span,
    details: bool,
}

/// The spans being rebuilt from content records, one per span, in arrival order.
#[derive(Default)]
struct ContentGroups {
    groups: Vec<Rebuilt>,
    index: HashMap<SpanIds, usize>,
}

impl ContentGroups {
    /// Adds one content record to its span: `operation.details` attributes become span
    /// attributes, a message record a span event (the body's fields, then the attributes).
    fn add(&mut self, record: ContentRecord, service_name: &str) {
        let g = *self.index.entry(record.ids).or_insert_with(|| {
            self.groups.push(Rebuilt {
                service_name: service_name.to_string(),
                ids: record.ids,
                span: Span::default(),
                details: false,
            });
            self.groups.len() - 1
        });
        let rebuilt = &mut self.groups[g];
        match record.kind {
            ContentKind::Details => {
                rebuilt.details = true;
                rebuilt.span.attributes.extend(record.attributes);
            }
            ContentKind::Message => {
                let mut fields: Vec<KeyValue> = match record.body.and_then(|b| b.value) {
                    Some(Value::KvlistValue(kv)) => kv.values,
                    Some(Value::StringValue(s)) if s.is_empty() => Vec::new(),
                    Some(other) => vec![KeyValue {
                        key: "content".into(),
                        value: Some(AnyValue { value: Some(other) }),
                        ..Default::default()
                    }],
                    None => Vec::new(),
                };
                fields.extend(record.attributes);
                rebuilt.span.events.push(Event {
                    time_unix_nano: record.timestamp.max(0) as u64,
                    name: record.event_name,
                    attributes: fields,
                    ..Default::default()
                });
            }
        }
    }
}

/// What a content record gives the span it describes.
struct ContentRecord {
    kind: ContentKind,
    ids: SpanIds,
    event_name: String,
    timestamp: i64,
    body: Option<AnyValue>,
    attributes: Vec<KeyValue>,
}

/// Where records come from: what every row of one scope's records shares.
struct Origin<'a> {
    project: &'a str,
    /// The receive time, for records without a time.
    now_ns: i64,
    service_name: &'a str,
    resource: &'a SharedAttrMap,
    scope_name: &'a str,
    scope_version: &'a str,
    scope_attributes: &'a AttrMap,
}

/// Normalizes one `ExportLogsServiceRequest` (taken by value: strings are moved into rows). A
/// record with neither a time nor an observed time gets the receive time for both.
pub fn normalize_logs(request: ExportLogsServiceRequest, project: &str) -> NormalizedLogs {
    let now_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or_default();
    normalize_logs_at(request, project, now_ns)
}

pub(crate) fn normalize_logs_at(
    request: ExportLogsServiceRequest,
    project: &str,
    now_ns: i64,
) -> NormalizedLogs {
    let count: usize = request
        .resource_logs
        .iter()
        .flat_map(|rl| &rl.scope_logs)
        .map(|sl| sl.log_records.len())
        .sum();
    let mut out = NormalizedLogs {
        rows: Vec::with_capacity(count),
        ..Default::default()
    };
    let mut rejections = Rejections::default();
    let mut content = ContentGroups::default();

    for resource_logs in request.resource_logs {
        let resource_attrs = resource_logs
            .resource
            .map(|r| r.attributes)
            .unwrap_or_default();
        let service_name = resource_attrs
            .iter()
            .find(|kv| kv.key == "service.name")
            .and_then(|kv| kv.value.as_ref()?.value.as_ref())
            .and_then(as_text)
            .map(|t| t.into_owned())
            .unwrap_or_default();
        let resource = SharedAttrMap::new(attrs_to_map(resource_attrs));
        for scope_logs in resource_logs.scope_logs {
            let (scope_name, scope_version, scope_attributes) = scope_logs
                .scope
                .map(|s| (s.name, s.version, attrs_to_map(s.attributes)))
                .unwrap_or_default();
            let origin = Origin {
                project,
                now_ns,
                service_name: &service_name,
                resource: &resource,
                scope_name: &scope_name,
                scope_version: &scope_version,
                scope_attributes: &scope_attributes,
            };
            for (i, record) in scope_logs.log_records.into_iter().enumerate() {
                if let Err(reason) = validate_ids(&record) {
                    rejections
                        .reject(|| format!("log record {i} of scope '{scope_name}': {reason}"));
                    continue;
                }
                if let Some(record) = normalize_record(record, &origin, &mut out) {
                    content.add(record, &service_name);
                }
            }
        }
    }

    let mut scratch = Scratch::default();
    for rebuilt in content.groups {
        if let Some(content) = span_content(rebuilt, &mut scratch) {
            out.content.push(content);
        }
    }

    (out.rejected_log_records, out.error_message) = rejections.finish("log record(s)");
    out
}

/// One valid record: its row (and a score, for an evaluation result) into `out`; a GenAI
/// content record also gives what it says about its span.
fn normalize_record(
    mut record: LogRecord,
    origin: &Origin,
    out: &mut NormalizedLogs,
) -> Option<ContentRecord> {
    if record.event_name.is_empty() {
        record.event_name = attr_text(&record.attributes, "event.name");
    }
    // Content only when correlated (both ids valid: neither empty nor all zero).
    let content =
        content_kind(&record.event_name).zip(SpanIds::from_otlp(&record.trace_id, &record.span_id));
    let mut row = origin.row(&mut record);
    let LogRecord {
        body, attributes, ..
    } = record;
    out.scores.extend(evaluation_score(
        &row,
        body.as_ref(),
        &attributes,
        origin.now_ns,
    ));
    let Some((kind, ids)) = content else {
        // Not content: move everything into the row.
        row.body = take_as_string(body);
        row.log_attributes = attrs_to_map(attributes);
        out.rows.push(row);
        return None;
    };
    // Content: the row gets the text, the rebuilt span the values themselves.
    let text = |v: Option<&AnyValue>| {
        v.and_then(|v| v.value.as_ref())
            .map(value_to_string)
            .unwrap_or_default()
    };
    row.body = text(body.as_ref());
    row.log_attributes = attributes
        .iter()
        .map(|kv| (kv.key.clone(), text(kv.value.as_ref())))
        .collect();
    let (event_name, timestamp) = (row.event_name.clone(), row.timestamp);
    out.rows.push(row);
    Some(ContentRecord {
        kind,
        ids,
        event_name,
        timestamp,
        body,
        attributes,
    })
}

impl Origin<'_> {
    /// The record's row without its body and attributes (the caller decides whether they are
    /// moved or rendered); its strings are taken from the record.
    fn row(&self, record: &mut LogRecord) -> LogRow {
        // No observed time: the receive time; no time: the observed time.
        let observed = match record.observed_time_unix_nano {
            0 => self.now_ns,
            t => t as i64,
        };
        let timestamp = match record.time_unix_nano {
            0 => observed,
            t => t as i64,
        };
        let hex_id = |id: &[u8]| {
            if is_zero(id) {
                String::new()
            } else {
                hex::encode(id)
            }
        };
        LogRow {
            project: self.project.to_string(),
            timestamp,
            observed_timestamp: observed,
            trace_id: hex_id(&record.trace_id),
            span_id: hex_id(&record.span_id),
            trace_flags: (record.flags & 0xff) as u8,
            severity_text: std::mem::take(&mut record.severity_text),
            severity_number: record.severity_number.clamp(0, 255) as u8,
            service_name: self.service_name.to_string(),
            event_name: std::mem::take(&mut record.event_name),
            body: String::new(),
            resource_attributes: self.resource.clone(),
            scope_name: self.scope_name.to_string(),
            scope_version: self.scope_version.to_string(),
            scope_attributes: self.scope_attributes.clone(),
            log_attributes: AttrMap::new(),
        }
    }
}

/// The score of a GenAI evaluation result: the `gen_ai.evaluation.result` event's attributes,
/// or (OpenLIT) the same attributes as a JSON body.
fn evaluation_score(
    row: &LogRow,
    body: Option<&AnyValue>,
    attributes: &[KeyValue],
    now_ns: i64,
) -> Option<ScoreRow> {
    let target = Target {
        project: &row.project,
        trace_id: &row.trace_id,
        span_id: &row.span_id,
        time_unix_nano: row.timestamp,
        now: now_ns,
    };
    if row.event_name == EVALUATION_RESULT {
        evaluation::score_from_attributes(attributes, &target)
    } else {
        body.and_then(|b| b.value.as_ref())
            .and_then(|b| evaluation::score_from_json_body(b, &target))
    }
}

/// Runs the span mapping table on the rebuilt span; `None` when it carries no prompt or
/// completion (e.g. content capture off: the event has only metadata).
fn span_content(rebuilt: Rebuilt, scratch: &mut Scratch) -> Option<SpanContent> {
    let Rebuilt {
        service_name,
        ids,
        mut span,
        details,
    } = rebuilt;
    let mut m = scratch.map_span(&span, &[]);
    let mut text = |col: Col, span: &mut Span| -> Option<String> {
        let s = match m.move_index(col) {
            Some(i) => take_as_string(span.attributes[i as usize].value.take()),
            None => text_val(m.take(col)),
        };
        (!s.is_empty()).then_some(s)
    };
    let input = text(Col::Input, &mut span);
    let output = text(Col::Output, &mut span);
    if input.is_none() && output.is_none() {
        return None;
    }
    Some(SpanContent {
        service_name,
        ids,
        input,
        output,
        finish_reasons: m.list(Col::FinishReasons),
        operation: m.text(Col::Operation),
        complete: details,
    })
}

fn validate_ids(record: &LogRecord) -> Result<(), String> {
    if !record.trace_id.is_empty() && record.trace_id.len() != 16 {
        return Err(format!(
            "trace_id must be empty or 16 bytes, got {}",
            record.trace_id.len()
        ));
    }
    if !record.span_id.is_empty() && record.span_id.len() != 8 {
        return Err(format!(
            "span_id must be empty or 8 bytes, got {}",
            record.span_id.len()
        ));
    }
    Ok(())
}

/// Empty or all zero: the invalid id, i.e. "not correlated".
fn is_zero(id: &[u8]) -> bool {
    id.iter().all(|b| *b == 0)
}

fn attr_text(attrs: &[KeyValue], key: &str) -> String {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
        .and_then(as_text)
        .map(|t| t.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, InstrumentationScope, KeyValueList};
    use opentelemetry_proto::tonic::logs::v1::{ResourceLogs, ScopeLogs};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};
    use prost::Message;

    use super::*;
    use crate::normalize::normalize_traces;
    use crate::normalize::otlp_json::{decode_json_logs, decode_json_traces};

    fn fixtures() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/otlp")
    }

    /// A fixture's logs, from protobuf and from OTLP/JSON (which must agree).
    fn fixture_logs(lib: &str, scenario: &str) -> NormalizedLogs {
        let dir = fixtures().join(lib);
        let pb = std::fs::read(dir.join(format!("{scenario}.logs.pb"))).unwrap();
        let from_pb = ExportLogsServiceRequest::decode(pb.as_slice()).unwrap();
        let from_json =
            decode_json_logs(&std::fs::read(dir.join(format!("{scenario}.logs.json"))).unwrap())
                .unwrap();
        assert_eq!(
            from_pb, from_json,
            "{lib}/{scenario}: protobuf and JSON differ"
        );
        let a = normalize_logs_at(from_pb, "proj", 42);
        let b = normalize_logs_at(from_json, "proj", 42);
        assert_eq!((&a.rows, &a.content), (&b.rows, &b.content));
        assert_eq!(a.rejected_log_records, 0, "{}", a.error_message);
        a
    }

    fn fixture_spans(lib: &str, scenario: &str) -> crate::normalize::Normalized {
        let pb = std::fs::read(fixtures().join(lib).join(format!("{scenario}.pb"))).unwrap();
        normalize_traces(
            ExportTraceServiceRequest::decode(pb.as_slice()).unwrap(),
            "proj",
        )
    }

    fn attr<'a>(row: &'a LogRow, key: &str) -> &'a str {
        row.log_attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {key}"))
    }

    #[test]
    fn otel_openai_v2_operation_details_record_becomes_a_row_and_span_content() {
        let n = fixture_logs("otel-openai-v2", "a_simple");
        assert_eq!(n.rows.len(), 1);
        let row = &n.rows[0];
        // time_unix_nano is 0: the observed time stands in.
        assert_eq!(
            (row.timestamp, row.observed_timestamp),
            (1_795_594_593_678_005_431, 1_795_594_593_678_005_431)
        );
        assert_eq!(row.project, "proj");
        assert_eq!(
            (row.trace_id.as_str(), row.span_id.as_str()),
            ("078311ac70788f135e454ec50caef75e", "0e85da89b5ebe200")
        );
        assert_eq!(row.trace_flags, 3);
        assert_eq!((row.severity_number, row.severity_text.as_str()), (0, ""));
        assert_eq!(row.event_name, OPERATION_DETAILS);
        assert_eq!(row.service_name, "fixture-otel-openai-v2");
        assert_eq!(
            (row.scope_name.as_str(), row.scope_version.as_str()),
            ("opentelemetry.util.genai.handler", "1.1b0")
        );
        assert_eq!(row.body, "");
        assert!(
            row.resource_attributes
                .contains(&("deployment.environment.name".into(), "fixtures".into()))
        );
        assert_eq!(attr(row, "gen_ai.usage.input_tokens"), "6");
        assert_eq!(attr(row, "gen_ai.request.temperature"), "0.2");
        // Structured messages kept as JSON text in the row.
        assert_eq!(
            attr(row, "gen_ai.input.messages"),
            r#"[{"role":"user","parts":[{"content":"Say hello to the fixture collector","type":"text"}]}]"#
        );
        assert_eq!(
            n.content,
            vec![SpanContent {
                service_name: "fixture-otel-openai-v2".into(),
                ids: SpanIds {
                    trace: 0x078311ac70788f135e454ec50caef75e,
                    span: 0x0e85da89b5ebe200,
                },
                input: Some(r#"[{"role":"user","parts":[{"content":"Say hello to the fixture collector","type":"text"}]}]"#.into()),
                output: Some(
                    r#"[{"role":"assistant","parts":[{"content":"echo: Say hello to the fixture collector","type":"text"}],"finish_reason":"stop"}]"#
                        .into()
                ),
                finish_reasons: vec!["stop".into()],
                operation: "chat".into(),
                complete: true,
            }]
        );
    }

    /// The content a log record carries is the very text the span path stores for the same
    /// call (the fixtures capture both): same shape, whichever way the messages travelled.
    #[test]
    fn fixture_log_content_equals_the_span_rows_content() {
        let cases = [
            ("otel-openai-v2", "a_simple"),
            ("otel-openai-v2", "b_stream"),
            ("otel-openai-v2", "c_tools"),
            ("otel-openai-v2", "d_fail"),
            ("otel-openai-v2", "e_workflow"),
            ("openlit", "a_simple"),
            ("openlit", "b_stream"),
        ];
        let mut compared = 0;
        for (lib, scenario) in cases {
            let logs = fixture_logs(lib, scenario);
            let spans = fixture_spans(lib, scenario);
            for c in &logs.content {
                let at = spans.ids.iter().position(|ids| *ids == c.ids);
                let span = &spans.rows
                    [at.unwrap_or_else(|| panic!("{lib}/{scenario}: no span {:x}", c.ids.span))];
                assert_eq!(
                    (span.trace_id.clone(), span.span_id.clone()),
                    (
                        format!("{:032x}", c.ids.trace),
                        format!("{:016x}", c.ids.span)
                    ),
                    "the ids are the numbers the row's hex spells"
                );
                // opentelemetry-util-genai writes the span's JSON compactly: the very same text.
                // OpenLIT's Python json.dumps adds spaces: the same JSON.
                let same = |a: Option<&str>, b: &str| match lib {
                    "otel-openai-v2" => a == Some(b),
                    _ => {
                        a.map(|a| serde_json::from_str::<serde_json::Value>(a).unwrap())
                            == Some(serde_json::from_str::<serde_json::Value>(b).unwrap())
                    }
                };
                assert!(
                    same(c.input.as_deref(), &span.input),
                    "{lib}/{scenario} input: {:?} vs {}",
                    c.input,
                    span.input
                );
                if span.output.is_empty() {
                    assert_eq!(
                        c.output, None,
                        "{lib}/{scenario}: a failed call has no completion"
                    );
                } else {
                    assert!(
                        same(c.output.as_deref(), &span.output),
                        "{lib}/{scenario} output: {:?} vs {}",
                        c.output,
                        span.output
                    );
                }
                assert_eq!(
                    c.finish_reasons, span.finish_reasons,
                    "{lib}/{scenario} finish reasons"
                );
                assert!(c.complete);
                compared += 1;
            }
            // Every record is a row, whether it could be joined or not.
            let records: usize = logs.rows.len();
            assert!(records >= logs.content.len());
        }
        // OpenLIT's streamed call has no trace/span id: stored, but nothing to join.
        let openlit_stream = fixture_logs("openlit", "b_stream");
        assert_eq!(openlit_stream.rows.len(), 1);
        assert_eq!(
            (
                openlit_stream.rows[0].trace_id.as_str(),
                openlit_stream.rows[0].span_id.as_str()
            ),
            ("", "")
        );
        assert!(openlit_stream.content.is_empty());
        assert_eq!(
            compared, 7,
            "6 otel-openai-v2 calls (2 in e_workflow) + 1 joinable OpenLIT call"
        );
    }

    fn kv(key: &str, value: Value) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(value) }),
            ..Default::default()
        }
    }
    fn s(key: &str, v: &str) -> KeyValue {
        kv(key, Value::StringValue(v.into()))
    }
    fn kvlist(entries: Vec<KeyValue>) -> Value {
        Value::KvlistValue(KeyValueList { values: entries })
    }

    const TRACE: [u8; 16] = [0xab; 16];
    const SPAN: [u8; 8] = [0xcd; 8];

    /// Old-style GenAI events (opentelemetry-instrumentation-openai-v2 < 2.0): one record per
    /// message, the message in the body, the event name in `event_name` or `event.name`.
    fn old_style_records() -> Vec<LogRecord> {
        let record = |name: &str, by_attribute: bool, body: Value| LogRecord {
            time_unix_nano: 1_764_000_000_000_000_000,
            observed_time_unix_nano: 1_764_000_000_000_000_500,
            trace_id: TRACE.to_vec(),
            span_id: SPAN.to_vec(),
            event_name: if by_attribute {
                String::new()
            } else {
                name.into()
            },
            attributes: if by_attribute {
                vec![s("gen_ai.system", "openai"), s("event.name", name)]
            } else {
                vec![s("gen_ai.system", "openai")]
            },
            body: Some(AnyValue { value: Some(body) }),
            ..Default::default()
        };
        vec![
            record(
                "gen_ai.system.message",
                true,
                kvlist(vec![s("content", "Be brief.")]),
            ),
            record(
                "gen_ai.user.message",
                false,
                kvlist(vec![s("content", "What is OTLP?")]),
            ),
            record(
                "gen_ai.choice",
                false,
                kvlist(vec![
                    kv("index", Value::IntValue(0)),
                    s("finish_reason", "stop"),
                    kv(
                        "message",
                        kvlist(vec![s("role", "assistant"), s("content", "A protocol.")]),
                    ),
                ]),
            ),
        ]
    }

    fn logs_request(records: Vec<LogRecord>) -> ExportLogsServiceRequest {
        ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(Resource {
                    attributes: vec![s("service.name", "bot")],
                    ..Default::default()
                }),
                scope_logs: vec![ScopeLogs {
                    scope: Some(InstrumentationScope {
                        name: "opentelemetry.instrumentation.openai_v2".into(),
                        ..Default::default()
                    }),
                    log_records: records,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    #[test]
    fn old_style_message_events_give_the_same_content_as_span_events() {
        let n = normalize_logs_at(logs_request(old_style_records()), "proj", 42);
        assert_eq!(n.rows.len(), 3);
        assert_eq!(
            n.rows[0].event_name, "gen_ai.system.message",
            "from the event.name attribute"
        );
        assert_eq!(n.rows[0].body, r#"{"content":"Be brief."}"#);
        assert_eq!(n.rows[0].timestamp, 1_764_000_000_000_000_000);
        assert_eq!(
            n.rows[2].body,
            r#"{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"A protocol."}}"#
        );
        assert_eq!(n.content.len(), 1);
        let c = &n.content[0];
        assert_eq!(
            c.input.as_deref(),
            Some(
                r#"[{"role":"system","content":"Be brief."},{"role":"user","content":"What is OTLP?"}]"#
            )
        );
        assert_eq!(
            c.output.as_deref(),
            Some(
                r#"[{"role":"assistant","content":"A protocol.","index":0,"finish_reason":"stop"}]"#
            )
        );
        assert_eq!(c.finish_reasons, vec!["stop".to_string()]);
        assert!(!c.complete && c.is_complete());

        // The same messages as span events (the older semconv's other transport).
        let events = old_style_records()
            .into_iter()
            .map(|r| {
                let name = if r.event_name.is_empty() {
                    "gen_ai.system.message".to_string()
                } else {
                    r.event_name
                };
                let Some(Value::KvlistValue(body)) = r.body.and_then(|b| b.value) else {
                    unreachable!()
                };
                Event {
                    name,
                    attributes: body.values,
                    time_unix_nano: r.time_unix_nano,
                    ..Default::default()
                }
            })
            .collect();
        let span = Span {
            trace_id: TRACE.to_vec(),
            span_id: SPAN.to_vec(),
            name: "chat".into(),
            attributes: vec![s("gen_ai.operation.name", "chat")],
            events,
            ..Default::default()
        };
        let request = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![span],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let row = &normalize_traces(request, "proj").rows[0];
        assert_eq!(c.input.as_deref(), Some(row.input.as_str()));
        assert_eq!(c.output.as_deref(), Some(row.output.as_str()));
        assert_eq!(c.finish_reasons, row.finish_reasons);
    }

    #[test]
    fn other_records_are_rows_only_and_bad_ids_are_rejected_alone() {
        let plain = LogRecord {
            time_unix_nano: 1_764_000_000_000_000_001,
            observed_time_unix_nano: 1_764_000_000_000_000_002,
            severity_number: 17,
            severity_text: "ERROR".into(),
            body: Some(AnyValue {
                value: Some(Value::StringValue("payment failed".into())),
            }),
            attributes: vec![
                s("code.function", "pay"),
                kv("retries", Value::ArrayValue(ArrayValue { values: vec![] })),
            ],
            trace_id: TRACE.to_vec(),
            span_id: SPAN.to_vec(),
            flags: 0x101,
            ..Default::default()
        };
        let bad = LogRecord {
            trace_id: vec![1, 2, 3],
            ..plain.clone()
        };
        let zero_ids = LogRecord {
            trace_id: vec![0; 16],
            span_id: vec![0; 8],
            ..old_style_records().remove(1)
        };
        let no_times = LogRecord {
            time_unix_nano: 0,
            observed_time_unix_nano: 0,
            ..plain.clone()
        };
        let n = normalize_logs_at(
            logs_request(vec![plain, bad, zero_ids, no_times]),
            "proj",
            42,
        );
        assert_eq!(n.rejected_log_records, 1);
        assert_eq!(
            n.error_message,
            "log record 1 of scope 'opentelemetry.instrumentation.openai_v2': trace_id must be empty or 16 bytes, got 3"
        );
        assert_eq!(n.rows.len(), 3);
        assert!(
            n.content.is_empty(),
            "a plain record has no content, a content event without ids has no span"
        );
        let row = &n.rows[0];
        assert_eq!(
            row,
            &LogRow {
                project: "proj".into(),
                timestamp: 1_764_000_000_000_000_001,
                observed_timestamp: 1_764_000_000_000_000_002,
                trace_id: hex::encode(TRACE),
                span_id: hex::encode(SPAN),
                trace_flags: 1,
                severity_text: "ERROR".into(),
                severity_number: 17,
                service_name: "bot".into(),
                event_name: String::new(),
                body: "payment failed".into(),
                resource_attributes: vec![("service.name".into(), "bot".into())].into(),
                scope_name: "opentelemetry.instrumentation.openai_v2".into(),
                scope_version: String::new(),
                scope_attributes: vec![],
                log_attributes: vec![
                    ("code.function".into(), "pay".into()),
                    ("retries".into(), "[]".into())
                ],
            }
        );
        assert_eq!(
            (n.rows[1].trace_id.as_str(), n.rows[1].span_id.as_str()),
            ("", "")
        );
        assert_eq!(n.rows[1].event_name, "gen_ai.user.message");
        assert_eq!(
            (n.rows[2].timestamp, n.rows[2].observed_timestamp),
            (42, 42),
            "receive time when the record has none"
        );
    }

    #[test]
    fn records_without_messages_and_split_exports_of_one_span() {
        // Content capture off: an operation.details event with metadata only.
        let meta_only = LogRecord {
            trace_id: TRACE.to_vec(),
            span_id: SPAN.to_vec(),
            event_name: OPERATION_DETAILS.into(),
            attributes: vec![s("gen_ai.request.model", "gpt-4o-mini")],
            ..Default::default()
        };
        let n = normalize_logs_at(logs_request(vec![meta_only]), "proj", 42);
        assert_eq!((n.rows.len(), n.content.len()), (1, 0));

        // Old-style records of one span in two exports: each yields half, `absorb` joins them.
        let mut records = old_style_records();
        let choice = records.pop().unwrap();
        let mut first = normalize_logs_at(logs_request(records), "proj", 42)
            .content
            .remove(0);
        let second = normalize_logs_at(logs_request(vec![choice]), "proj", 42)
            .content
            .remove(0);
        assert!(first.output.is_none() && second.input.is_none());
        assert!(!first.is_complete());
        first.absorb(second.clone());
        first.absorb(second); // an exporter retry adds nothing
        let whole = normalize_logs_at(logs_request(old_style_records()), "proj", 42)
            .content
            .remove(0);
        assert_eq!(first, whole);
    }

    #[test]
    fn lenient_json_logs() {
        // Enum names, nulls, an empty kvlist written as {} and a NaN double.
        let body = r#"{"resourceLogs":[{"resource":null,"scopeLogs":[{"logRecords":[
          {"timeUnixNano":"5","severityNumber":"SEVERITY_NUMBER_WARN2","severityText":"WARN",
           "body":{"kvlistValue":{}},"traceId":"","spanId":"",
           "attributes":[{"key":"x","value":{"doubleValue":"NaN"}}]}]}]}]}"#;
        let request = decode_json_logs(body.as_bytes()).unwrap();
        let n = normalize_logs_at(request, "proj", 42);
        let row = &n.rows[0];
        assert_eq!(
            (row.timestamp, row.severity_number, row.body.as_str()),
            (5, 14, "{}")
        );
        assert_eq!(
            row.log_attributes,
            vec![("x".to_string(), "NaN".to_string())]
        );
        let err = decode_json_logs(br#"{"resourceLogs": 5}"#).unwrap_err();
        assert!(err.starts_with("invalid OTLP/JSON"), "{err}");
        let _ = decode_json_traces; // the same decoder serves traces
    }
}
