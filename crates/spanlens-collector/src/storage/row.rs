//! The typed rows Spanlens writes. Field order is column order: `schemas/*.sql` is the source of
//! truth and `tests/schema_rows.rs` checks these structs against the live tables (names, order
//! and types, through the clickhouse crate's validating reader).

use serde::{Deserialize, Serialize};

/// `(key, value)` pairs for a `Map(LowCardinality(String), String)` column, in insertion order.
pub type AttrMap = Vec<(String, String)>;

/// One span, flattened resource → scope → span, with first-class LLM columns.
/// Timestamps are Unix nanoseconds (`DateTime64(9)`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, clickhouse::Row)]
pub struct SpanRow {
    pub project: String,
    pub start_time: i64,
    pub duration_ns: u64,
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: String,
    pub trace_state: String,
    pub name: String,
    pub kind: String,
    pub service_name: String,
    pub scope_name: String,
    pub scope_version: String,
    pub environment: String,
    pub release: String,
    pub status_code: String,
    pub status_message: String,
    pub error_type: String,
    pub observation_type: String,
    pub operation: String,
    pub provider: String,
    pub request_model: String,
    pub response_model: String,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub total_tokens: Option<u64>,
    pub cached_tokens: Option<u64>,
    pub reasoning_tokens: Option<u64>,
    pub input_cost: Option<f64>,
    pub output_cost: Option<f64>,
    pub total_cost: Option<f64>,
    pub time_to_first_token_ns: Option<u64>,
    pub is_streaming: Option<bool>,
    pub finish_reasons: Vec<String>,
    pub response_id: String,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u64>,
    pub top_p: Option<f64>,
    pub input: String,
    pub output: String,
    pub session_id: String,
    pub user_id: String,
    pub prompt_name: String,
    pub prompt_version: String,
    pub tags: Vec<String>,
    pub metadata: AttrMap,
    pub span_attributes: AttrMap,
    pub resource_attributes: AttrMap,
    pub events_time: Vec<i64>,
    pub events_name: Vec<String>,
    pub events_attributes: Vec<AttrMap>,
    pub links_trace_id: Vec<String>,
    pub links_span_id: Vec<String>,
    pub links_trace_state: Vec<String>,
    pub links_attributes: Vec<AttrMap>,
}

/// One score (eval result, human feedback, user rating) for a trace or a span.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, clickhouse::Row)]
pub struct ScoreRow {
    pub project: String,
    pub score_id: String,
    pub trace_id: String,
    pub span_id: String,
    pub session_id: String,
    pub name: String,
    pub data_type: String,
    pub value: Option<f64>,
    pub string_value: String,
    pub comment: String,
    pub source: String,
    pub timestamp: i64,
    pub metadata: AttrMap,
    pub updated_at: i64,
}

/// One OTLP log record, flattened resource → scope → record, as the OTel ClickHouse exporter's
/// `otel_logs` keeps it (plus the project). Timestamps are Unix nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, clickhouse::Row)]
pub struct LogRow {
    pub project: String,
    /// The record's time, else its observed time.
    pub timestamp: i64,
    pub observed_timestamp: i64,
    /// Lowercase hex; empty when the record is not correlated with a span.
    pub trace_id: String,
    pub span_id: String,
    pub trace_flags: u8,
    pub severity_text: String,
    pub severity_number: u8,
    pub service_name: String,
    /// `event_name`, else the `event.name` attribute (older SDKs).
    pub event_name: String,
    /// The body as text (strings as-is, structured values as JSON).
    pub body: String,
    pub resource_attributes: AttrMap,
    pub scope_name: String,
    pub scope_version: String,
    pub scope_attributes: AttrMap,
    pub log_attributes: AttrMap,
}

/// The tables the pipeline writes. Each has its own batches (and deduplication tokens). The
/// discriminant is the table's code in spool records: never reuse or renumber one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Table {
    Spans = 0,
    Logs = 1,
    Scores = 2,
}

impl Table {
    pub const ALL: [Table; 3] = [Table::Spans, Table::Logs, Table::Scores];

    /// The table's code in the spool's records.
    pub const fn code(self) -> u8 {
        self as u8
    }

    pub fn from_code(code: u8) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.code() == code)
    }

    pub const fn name(self) -> &'static str {
        match self {
            Table::Spans => "spans",
            Table::Logs => "logs",
            Table::Scores => "scores",
        }
    }

    /// The columns a RowBinary insert sends, in row-struct order.
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Table::Spans => <SpanRow as clickhouse::Row>::COLUMN_NAMES,
            Table::Logs => <LogRow as clickhouse::Row>::COLUMN_NAMES,
            Table::Scores => <ScoreRow as clickhouse::Row>::COLUMN_NAMES,
        }
    }
}

/// A row type the pipeline can queue: it knows its table.
pub trait TableRow: Serialize {
    const TABLE: Table;
}

impl TableRow for SpanRow {
    const TABLE: Table = Table::Spans;
}

impl TableRow for LogRow {
    const TABLE: Table = Table::Logs;
}

impl TableRow for ScoreRow {
    const TABLE: Table = Table::Scores;
}
