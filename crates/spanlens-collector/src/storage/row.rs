//! The typed rows Spanlens writes. Field order is column order: `schemas/*.sql` is the source of
//! truth and `tests/schema_rows.rs` checks these structs against the live tables (names, order
//! and types, through the clickhouse crate's validating reader).

use serde::{Deserialize, Serialize};

/// `(key, value)` pairs for a `Map(LowCardinality(String), String)` column, in insertion order.
pub type AttrMap = Vec<(String, String)>;

/// An [`AttrMap`] every row of one resource shares (its resource attributes): one copy per
/// export request, not one per row.
pub type SharedAttrMap = std::sync::Arc<AttrMap>;

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
    /// Cache-write input tokens (counted inside `input_tokens`).
    pub cache_creation_tokens: Option<u64>,
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
    pub resource_attributes: SharedAttrMap,
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

/// A stable score id from a score's identity (FNV-1a 64 of the parts), so re-sending the same
/// score replaces it.
pub(crate) fn derived_score_id(parts: &[&str]) -> String {
    let hash = parts
        .iter()
        .flat_map(|p| p.bytes().chain([0u8]))
        .fold(0xcbf29ce484222325u64, |h, b| {
            (h ^ b as u64).wrapping_mul(0x100000001b3)
        });
    format!("{hash:016x}")
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
    pub resource_attributes: SharedAttrMap,
    pub scope_name: String,
    pub scope_version: String,
    pub scope_attributes: AttrMap,
    pub log_attributes: AttrMap,
}

/// What every metric row shares: the resource, scope and metric a data point belongs to.
/// Built once per metric; each point's row copies it (`from_heads`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricHead {
    pub project: String,
    pub resource_attributes: AttrMap,
    pub resource_schema_url: String,
    pub scope_name: String,
    pub scope_version: String,
    pub scope_attributes: AttrMap,
    pub scope_dropped_attr_count: u32,
    pub scope_schema_url: String,
    pub service_name: String,
    pub metric_name: String,
    pub metric_description: String,
    pub metric_unit: String,
}

/// What every data point has: its series (attributes), its time range and its flags.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PointHead {
    pub attributes: AttrMap,
    pub start_time_unix: i64,
    pub time_unix: i64,
    pub flags: u32,
}

/// Exemplars, index-aligned, as the exporter's `Exemplars` Nested column stores them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exemplars {
    pub filtered_attributes: Vec<AttrMap>,
    pub time_unix: Vec<i64>,
    pub value: Vec<f64>,
    /// Lowercase hex; empty when the exemplar names no span.
    pub span_id: Vec<String>,
    pub trace_id: Vec<String>,
}

/// Defines one OTLP metric row: the columns of [`MetricHead`] and [`PointHead`] (named as the
/// OTel ClickHouse exporter names them — PascalCase — plus `Project`), then the point type's
/// own columns, then (`with exemplars`) the `Exemplars.*` columns. `from_heads` fills the shared
/// columns and leaves the rest at their defaults.
macro_rules! metric_row {
    ($(#[$doc:meta])* $name:ident with exemplars { $($field:ident: $ty:ty,)* }) => {
        metric_row! {
            $(#[$doc])* $name {
                $($field: $ty,)*
                #[serde(rename = "Exemplars.FilteredAttributes")]
                exemplars_filtered_attributes: Vec<AttrMap>,
                #[serde(rename = "Exemplars.TimeUnix")]
                exemplars_time_unix: Vec<i64>,
                #[serde(rename = "Exemplars.Value")]
                exemplars_value: Vec<f64>,
                #[serde(rename = "Exemplars.SpanId")]
                exemplars_span_id: Vec<String>,
                #[serde(rename = "Exemplars.TraceId")]
                exemplars_trace_id: Vec<String>,
            }
        }

        impl $name {
            pub fn set_exemplars(&mut self, e: Exemplars) {
                self.exemplars_filtered_attributes = e.filtered_attributes;
                self.exemplars_time_unix = e.time_unix;
                self.exemplars_value = e.value;
                self.exemplars_span_id = e.span_id;
                self.exemplars_trace_id = e.trace_id;
            }
        }
    };
    ($(#[$doc:meta])* $name:ident { $($(#[$fattr:meta])* $field:ident: $ty:ty,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, clickhouse::Row)]
        #[serde(rename_all = "PascalCase")]
        pub struct $name {
            pub project: String,
            pub resource_attributes: AttrMap,
            pub resource_schema_url: String,
            pub scope_name: String,
            pub scope_version: String,
            pub scope_attributes: AttrMap,
            pub scope_dropped_attr_count: u32,
            pub scope_schema_url: String,
            pub service_name: String,
            pub metric_name: String,
            pub metric_description: String,
            pub metric_unit: String,
            pub attributes: AttrMap,
            pub start_time_unix: i64,
            pub time_unix: i64,
            pub flags: u32,
            $($(#[$fattr])* pub $field: $ty,)*
        }

        impl $name {
            pub fn from_heads(head: &MetricHead, point: PointHead) -> $name {
                $name {
                    project: head.project.clone(),
                    resource_attributes: head.resource_attributes.clone(),
                    resource_schema_url: head.resource_schema_url.clone(),
                    scope_name: head.scope_name.clone(),
                    scope_version: head.scope_version.clone(),
                    scope_attributes: head.scope_attributes.clone(),
                    scope_dropped_attr_count: head.scope_dropped_attr_count,
                    scope_schema_url: head.scope_schema_url.clone(),
                    service_name: head.service_name.clone(),
                    metric_name: head.metric_name.clone(),
                    metric_description: head.metric_description.clone(),
                    metric_unit: head.metric_unit.clone(),
                    attributes: point.attributes,
                    start_time_unix: point.start_time_unix,
                    time_unix: point.time_unix,
                    flags: point.flags,
                    ..Default::default()
                }
            }
        }
    };
}

metric_row! {
    /// One gauge data point (`otel_metrics_gauge`).
    GaugeRow with exemplars {
        value: f64,
    }
}

metric_row! {
    /// One sum data point (`otel_metrics_sum`): a counter or up-down counter.
    SumRow with exemplars {
        value: f64,
        aggregation_temporality: i32,
        is_monotonic: bool,
    }
}

metric_row! {
    /// One explicit-bucket histogram data point (`otel_metrics_histogram`).
    HistogramRow with exemplars {
        count: u64,
        sum: f64,
        bucket_counts: Vec<u64>,
        explicit_bounds: Vec<f64>,
        min: f64,
        max: f64,
        aggregation_temporality: i32,
    }
}

metric_row! {
    /// One exponential histogram data point (`otel_metrics_exponential_histogram`).
    ExponentialHistogramRow with exemplars {
        count: u64,
        sum: f64,
        scale: i32,
        zero_count: u64,
        positive_offset: i32,
        positive_bucket_counts: Vec<u64>,
        negative_offset: i32,
        negative_bucket_counts: Vec<u64>,
        min: f64,
        max: f64,
        aggregation_temporality: i32,
    }
}

metric_row! {
    /// One summary data point (`otel_metrics_summary`).
    SummaryRow {
        count: u64,
        sum: f64,
        #[serde(rename = "ValueAtQuantiles.Quantile")]
        quantiles: Vec<f64>,
        #[serde(rename = "ValueAtQuantiles.Value")]
        quantile_values: Vec<f64>,
    }
}

/// The tables the pipeline writes. Each has its own batches (and deduplication tokens). The
/// discriminant is the table's code in spool records: never reuse or renumber one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Table {
    Spans = 0,
    Logs = 1,
    Scores = 2,
    MetricsGauge = 3,
    MetricsSum = 4,
    MetricsHistogram = 5,
    MetricsExponentialHistogram = 6,
    MetricsSummary = 7,
}

impl Table {
    pub(crate) const ALL: [Table; 8] = [
        Table::Spans,
        Table::Logs,
        Table::Scores,
        Table::MetricsGauge,
        Table::MetricsSum,
        Table::MetricsHistogram,
        Table::MetricsExponentialHistogram,
        Table::MetricsSummary,
    ];

    /// The table's code in the spool's records.
    pub const fn code(self) -> u8 {
        self as u8
    }

    pub(crate) fn from_code(code: u8) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.code() == code)
    }

    pub const fn name(self) -> &'static str {
        match self {
            Table::Spans => "spans",
            Table::Logs => "logs",
            Table::Scores => "scores",
            Table::MetricsGauge => "otel_metrics_gauge",
            Table::MetricsSum => "otel_metrics_sum",
            Table::MetricsHistogram => "otel_metrics_histogram",
            Table::MetricsExponentialHistogram => "otel_metrics_exponential_histogram",
            Table::MetricsSummary => "otel_metrics_summary",
        }
    }

    /// The columns a RowBinary insert sends, in row-struct order.
    pub fn columns(self) -> &'static [&'static str] {
        use clickhouse::Row;
        match self {
            Table::Spans => SpanRow::COLUMN_NAMES,
            Table::Logs => LogRow::COLUMN_NAMES,
            Table::Scores => ScoreRow::COLUMN_NAMES,
            Table::MetricsGauge => GaugeRow::COLUMN_NAMES,
            Table::MetricsSum => SumRow::COLUMN_NAMES,
            Table::MetricsHistogram => HistogramRow::COLUMN_NAMES,
            Table::MetricsExponentialHistogram => ExponentialHistogramRow::COLUMN_NAMES,
            Table::MetricsSummary => SummaryRow::COLUMN_NAMES,
        }
    }
}

/// A row type the pipeline can queue: it knows its table.
pub(crate) trait TableRow: Serialize {
    const TABLE: Table;
}

macro_rules! table_row {
    ($($row:ty => $table:expr),* $(,)?) => {
        $(impl TableRow for $row {
            const TABLE: Table = $table;
        })*
    };
}

table_row! {
    SpanRow => Table::Spans,
    LogRow => Table::Logs,
    ScoreRow => Table::Scores,
    GaugeRow => Table::MetricsGauge,
    SumRow => Table::MetricsSum,
    HistogramRow => Table::MetricsHistogram,
    ExponentialHistogramRow => Table::MetricsExponentialHistogram,
    SummaryRow => Table::MetricsSummary,
}
