//! The collector's own metrics, served on GET /metrics (HTTP port) in the OpenMetrics text
//! format, which Prometheus scrapes natively.
//!
//! Counters and gauges are plain atomics: they are bumped on the hot path, so no locks and no
//! allocation. A scrape reads them through a prometheus-client [`Collector`], and the crate's
//! encoder writes the exposition (names, HELP, TYPE, labels, histogram buckets, `# EOF`).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::pipeline::spool::SpoolStats;
use crate::storage::row::Table;

/// The content type of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Why spans or requests were refused (the `reason` label).
#[derive(Clone, Copy, Debug)]
pub enum Rejection {
    /// A span with invalid ids, rejected alone (partial success).
    InvalidSpan,
    /// A memory budget was exhausted (429 / RESOURCE_EXHAUSTED); the client was told to retry.
    Busy,
    Unauthenticated,
    /// Undecodable body, wrong content type, too large.
    BadRequest,
    /// The spool could not take the data (full, disk full or failing) or the collector is
    /// stopping (503 / UNAVAILABLE).
    Unavailable,
}

const REASONS: [(Rejection, &str); 5] = [
    (Rejection::InvalidSpan, "invalid_span"),
    (Rejection::Busy, "busy"),
    (Rejection::Unauthenticated, "unauthenticated"),
    (Rejection::BadRequest, "bad_request"),
    (Rejection::Unavailable, "unavailable"),
];

/// Upper bounds (seconds) of the insert latency histogram.
const INSERT_BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

#[derive(Default, Debug)]
pub struct Metrics {
    pub spans_received: AtomicU64,
    pub spans_accepted: AtomicU64,
    spans_rejected: [AtomicU64; 5],
    requests_rejected: [AtomicU64; 5],
    pub log_records_received: AtomicU64,
    pub log_records_accepted: AtomicU64,
    log_records_rejected: [AtomicU64; 5],
    pub metric_points_received: AtomicU64,
    pub metric_points_accepted: AtomicU64,
    metric_points_rejected: [AtomicU64; 5],
    /// Rows written, by table code.
    rows_written: [AtomicU64; 16],
    pub batches_written: AtomicU64,
    pub insert_retries: AtomicU64,
    pub rows_dropped: AtomicU64,
    insert_duration: InsertDuration,
    pub join: JoinMetrics,
    /// Langfuse ingestion events accepted (207 `successes`) and rejected (207 `errors`).
    pub langfuse_events_accepted: AtomicU64,
    pub langfuse_events_rejected: AtomicU64,
    /// Span rows the Langfuse merge wrote (merged creates and updates).
    pub langfuse_rows_released: AtomicU64,
    /// Observations written without their create or without an end time (the window ended, or
    /// the hold was full), e.g. an update that came after its observation was written.
    pub langfuse_incomplete: AtomicU64,
    /// Entries written early because the hold was full.
    pub langfuse_evicted: AtomicU64,
    /// Gauge: observations and traces held, waiting for their other events.
    pub langfuse_held: AtomicU64,
}

/// ClickHouse insert latency in seconds (a histogram with [`INSERT_BUCKETS`]).
#[derive(Debug)]
struct InsertDuration(Histogram);

impl Default for InsertDuration {
    fn default() -> Self {
        Self(Histogram::new(INSERT_BUCKETS))
    }
}

/// The content join (GenAI content log records → their span rows), see
/// `pipeline::content_join`.
#[derive(Default, Debug)]
pub struct JoinMetrics {
    /// Span content items (one per span per logs request) offered to the join.
    pub content_received: AtomicU64,
    /// Spans joined with the content of their log records.
    pub spans_merged: AtomicU64,
    /// Spans held back to wait for their content (or, Logfire streamed calls, their companion).
    pub spans_held: AtomicU64,
    /// Logfire streamed calls joined with a companion span from a later export request.
    pub companions_joined: AtomicU64,
    /// Held spans released at the end of the window without (complete) content.
    pub held_expired: AtomicU64,
    /// Spans that would have waited but were passed through because the hold was full.
    pub hold_full: AtomicU64,
    /// Waiting content dropped from the join to make room (still in the logs table).
    pub content_evicted: AtomicU64,
    /// Waiting content whose span did not arrive within the window (still in the logs table).
    pub content_expired: AtomicU64,
    /// Gauges, set by the join after every change.
    pub waiting_content: AtomicU64,
    pub waiting_content_bytes: AtomicU64,
    pub held_spans: AtomicU64,
}

impl Metrics {
    pub fn reject_spans(&self, reason: Rejection, spans: u64) {
        self.spans_rejected[reason as usize].fetch_add(spans, Relaxed);
    }

    pub fn reject_log_records(&self, reason: Rejection, records: u64) {
        self.log_records_rejected[reason as usize].fetch_add(records, Relaxed);
    }

    pub fn reject_metric_points(&self, reason: Rejection, points: u64) {
        self.metric_points_rejected[reason as usize].fetch_add(points, Relaxed);
    }

    pub fn reject_request(&self, reason: Rejection) {
        self.requests_rejected[reason as usize].fetch_add(1, Relaxed);
    }

    pub fn rows_written(&self, table: Table, rows: u64) {
        self.rows_written[table.code() as usize].fetch_add(rows, Relaxed);
    }

    /// A batch of `rows` rows was inserted into `table`, taking `took`.
    pub fn batch_written(&self, table: Table, rows: u64, took: Duration) {
        self.observe_insert(took);
        self.rows_written(table, rows);
        self.batches_written.fetch_add(1, Relaxed);
    }

    /// A failed insert will be retried.
    pub fn insert_retried(&self) {
        self.insert_retries.fetch_add(1, Relaxed);
    }

    /// ClickHouse rejected a batch of `rows` rows for good.
    pub fn batch_rejected(&self, rows: u64) {
        self.rows_dropped.fetch_add(rows, Relaxed);
    }

    pub fn observe_insert(&self, took: Duration) {
        self.insert_duration.0.observe(took.as_secs_f64());
    }

    /// The exposition of these metrics and of what the pipeline reports, in the OpenMetrics
    /// text format ([`CONTENT_TYPE`]).
    pub fn render(self: &Arc<Self>, pipeline: PipelineReadings) -> String {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Scrape {
            metrics: self.clone(),
            pipeline,
        }));
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry)
            .expect("writing to a String cannot fail");
        out
    }
}

/// What the pipeline owns and /metrics shows, read when it is scraped.
#[derive(Clone, Copy, Debug, Default)]
pub struct PipelineReadings {
    /// Encoded rows the memory log holds (0 with a spool), and its cap.
    pub queue_bytes: u64,
    pub queue_max_bytes: u64,
    /// Bytes of the on-disk spool not yet deleted (0 without a spool).
    pub spool_bytes: u64,
    /// The spool's health counters (`None`: no spool, and they are not shown).
    pub spool: Option<SpoolReadings>,
}

/// [`SpoolStats`] as read at one scrape.
#[derive(Clone, Copy, Debug)]
pub struct SpoolReadings {
    damaged_regions: u64,
    damaged_bytes: u64,
    io_errors: u64,
}

impl SpoolReadings {
    pub fn read(stats: &SpoolStats) -> Self {
        Self {
            damaged_regions: stats.damaged_regions.load(Relaxed),
            damaged_bytes: stats.damaged_bytes.load(Relaxed),
            io_errors: stats.io_errors.load(Relaxed),
        }
    }
}

/// One scrape: every metric with its name, HELP and type. Counter names are OpenMetrics family
/// names: the encoder writes the samples as `<name>_total`.
#[derive(Debug)]
struct Scrape {
    metrics: Arc<Metrics>,
    pipeline: PipelineReadings,
}

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        self.counters(&mut encoder)?;
        self.counters_by_label(&mut encoder)?;
        self.gauges(&mut encoder)?;
        let metric = encoder.encode_descriptor(
            "spanlens_insert_duration_seconds",
            "ClickHouse insert latency.",
            None,
            MetricType::Histogram,
        )?;
        self.metrics.insert_duration.0.encode(metric)
    }
}

impl Scrape {
    fn counters(&self, encoder: &mut DescriptorEncoder) -> fmt::Result {
        let (m, j) = (&*self.metrics, &self.metrics.join);
        #[rustfmt::skip]
        let counters = [
            ("spanlens_spans_received", "Spans decoded from OTLP requests.", &m.spans_received),
            ("spanlens_spans_accepted", "Spans accepted into the ingest log.", &m.spans_accepted),
            ("spanlens_log_records_received", "Log records decoded from OTLP requests.", &m.log_records_received),
            ("spanlens_log_records_accepted", "Log records accepted into the ingest log.", &m.log_records_accepted),
            ("spanlens_metric_points_received", "Metric data points decoded from OTLP requests.", &m.metric_points_received),
            ("spanlens_metric_points_accepted", "Metric data points accepted into the ingest log.", &m.metric_points_accepted),
            ("spanlens_langfuse_events_accepted", "Langfuse ingestion events accepted.", &m.langfuse_events_accepted),
            ("spanlens_langfuse_events_rejected", "Langfuse ingestion events rejected as invalid (reported in the 207 errors).", &m.langfuse_events_rejected),
            ("spanlens_langfuse_rows_released", "Span rows written by the Langfuse merge.", &m.langfuse_rows_released),
            ("spanlens_langfuse_incomplete", "Langfuse observations written without their create or end (window ended or hold full).", &m.langfuse_incomplete),
            ("spanlens_langfuse_evicted", "Langfuse observations and traces written early because the hold was full.", &m.langfuse_evicted),
            ("spanlens_content_join_content", "Span content items from GenAI log records offered to the join.", &j.content_received),
            ("spanlens_content_join_spans_merged", "Spans joined with the content of their GenAI log records.", &j.spans_merged),
            ("spanlens_content_join_spans_held", "LLM spans held back to wait for their content or streaming companion span.", &j.spans_held),
            ("spanlens_content_join_companions_joined", "Logfire streamed calls joined with a companion span from a later export request.", &j.companions_joined),
            ("spanlens_content_join_held_expired", "Held spans written at the end of the window without complete content.", &j.held_expired),
            ("spanlens_content_join_hold_full", "Spans written without waiting because the hold was full.", &j.hold_full),
            ("spanlens_content_join_content_evicted", "Waiting content evicted (oldest first) to stay within bounds.", &j.content_evicted),
            ("spanlens_content_join_content_expired", "Waiting content whose span did not arrive within the window.", &j.content_expired),
            ("spanlens_batches_written", "Insert batches written to ClickHouse.", &m.batches_written),
            ("spanlens_insert_retries", "Failed inserts that were retried.", &m.insert_retries),
            ("spanlens_rows_dropped", "Rows of batches ClickHouse rejected permanently.", &m.rows_dropped),
        ];
        for (name, help, value) in counters {
            counter(encoder, name, help, value.load(Relaxed))?;
        }
        if let Some(spool) = self.pipeline.spool {
            #[rustfmt::skip]
            let counters = [
                ("spanlens_spool_damaged_regions", "Damaged spool regions skipped and set aside in spool_dir/damaged/.", spool.damaged_regions),
                ("spanlens_spool_damaged_bytes", "Bytes of damaged spool regions skipped.", spool.damaged_bytes),
                ("spanlens_spool_io_errors", "Failed spool writes and fsyncs (answered 503 / UNAVAILABLE).", spool.io_errors),
            ];
            for (name, help, value) in counters {
                counter(encoder, name, help, value)?;
            }
        }
        Ok(())
    }

    /// Counters with a label: rows written by table, refusals by reason.
    fn counters_by_label(&self, encoder: &mut DescriptorEncoder) -> fmt::Result {
        let m = &*self.metrics;
        let mut family = encoder.encode_descriptor(
            "spanlens_rows_written",
            "Rows written to ClickHouse, by table.",
            None,
            MetricType::Counter,
        )?;
        for table in Table::ALL {
            let rows = m.rows_written[table.code() as usize].load(Relaxed);
            ConstCounter::new(rows).encode(family.encode_family(&[("table", table.name())])?)?;
        }
        // The InvalidSpan reason is named for what is counted (span, record, point).
        #[rustfmt::skip]
        let rejections = [
            ("spanlens_spans_rejected", "Spans refused, by reason.", &m.spans_rejected, "invalid_span"),
            ("spanlens_requests_rejected", "OTLP requests refused, by reason.", &m.requests_rejected, "invalid_span"),
            ("spanlens_log_records_rejected", "Log records refused, by reason.", &m.log_records_rejected, "invalid_record"),
            ("spanlens_metric_points_rejected", "Metric data points refused, by reason.", &m.metric_points_rejected, "invalid_point"),
        ];
        for (name, help, values, invalid) in rejections {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for (reason, label) in REASONS {
                let label = match reason {
                    Rejection::InvalidSpan => invalid,
                    _ => label,
                };
                let value = values[reason as usize].load(Relaxed);
                ConstCounter::new(value).encode(family.encode_family(&[("reason", label)])?)?;
            }
        }
        Ok(())
    }

    fn gauges(&self, encoder: &mut DescriptorEncoder) -> fmt::Result {
        let (m, j, p) = (&*self.metrics, &self.metrics.join, &self.pipeline);
        #[rustfmt::skip]
        let gauges = [
            ("spanlens_content_join_waiting_content", "Span content items waiting for their span.", j.waiting_content.load(Relaxed)),
            ("spanlens_content_join_waiting_content_bytes", "Text bytes of the waiting content.", j.waiting_content_bytes.load(Relaxed)),
            ("spanlens_content_join_held_spans", "LLM spans held waiting for their content.", j.held_spans.load(Relaxed)),
            ("spanlens_langfuse_held", "Langfuse observations and traces held for their other events.", m.langfuse_held.load(Relaxed)),
            ("spanlens_queue_bytes", "Encoded rows the memory log holds until written (0 with a spool: see spanlens_spool_bytes).", p.queue_bytes),
            ("spanlens_queue_max_bytes", "The memory log's cap, pipeline.queue_max_bytes (unused with a spool).", p.queue_max_bytes),
            ("spanlens_spool_bytes", "Bytes of the on-disk spool not yet deleted.", p.spool_bytes),
        ];
        for (name, help, value) in gauges {
            let metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            ConstGauge::new(value).encode(metric)?;
        }
        Ok(())
    }
}

fn counter(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> fmt::Result {
    let metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    ConstCounter::new(value).encode(metric)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_labels_gauges_and_histogram() {
        let m = Arc::new(Metrics::default());
        m.spans_received.fetch_add(3, Relaxed);
        m.reject_spans(Rejection::InvalidSpan, 2);
        m.reject_log_records(Rejection::Busy, 4);
        m.rows_written(Table::Logs, 7);
        m.observe_insert(Duration::from_millis(30));
        let readings = PipelineReadings {
            queue_bytes: 10,
            queue_max_bytes: 100,
            spool_bytes: 0,
            spool: None,
        };
        let text = m.render(readings);
        for want in [
            "# HELP spanlens_spans_received Spans decoded from OTLP requests.\n\
             # TYPE spanlens_spans_received counter\n\
             spanlens_spans_received_total 3\n",
            "spanlens_spans_rejected_total{reason=\"invalid_span\"} 2\n",
            "spanlens_log_records_rejected_total{reason=\"busy\"} 4\n",
            "spanlens_log_records_rejected_total{reason=\"invalid_record\"} 0\n",
            "spanlens_rows_written_total{table=\"logs\"} 7\n",
            "# TYPE spanlens_queue_bytes gauge\nspanlens_queue_bytes 10\n",
            "# TYPE spanlens_insert_duration_seconds histogram\n",
            "spanlens_insert_duration_seconds_bucket{le=\"0.025\"} 0\n",
            "spanlens_insert_duration_seconds_bucket{le=\"0.05\"} 1\n",
            "spanlens_insert_duration_seconds_bucket{le=\"+Inf\"} 1\n",
            "spanlens_insert_duration_seconds_count 1\n",
        ] {
            assert!(text.contains(want), "{want:?} not in:\n{text}");
        }
        // No spool: its counters are not shown; the exposition is complete.
        assert!(!text.contains("spanlens_spool_io_errors"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
