//! The collector's own metrics, served as Prometheus text on GET /metrics (HTTP port).
//! Plain atomics: every counter is bumped on the hot path, so no locks and no allocation.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::storage::row::Table;

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
    /// The spool could not take the data: full, disk full or failing (503 / UNAVAILABLE).
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
    insert_seconds_buckets: [AtomicU64; INSERT_BUCKETS.len()],
    insert_seconds_count: AtomicU64,
    insert_micros_sum: AtomicU64,
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
        let secs = took.as_secs_f64();
        for (bucket, bound) in self.insert_seconds_buckets.iter().zip(INSERT_BUCKETS) {
            if secs <= bound {
                bucket.fetch_add(1, Relaxed);
            }
        }
        self.insert_seconds_count.fetch_add(1, Relaxed);
        self.insert_micros_sum
            .fetch_add(took.as_micros() as u64, Relaxed);
    }

    /// Prometheus text exposition format (version 0.0.4).
    pub fn render(&self, queue_bytes: usize, queue_max_bytes: usize) -> String {
        let mut out = String::new();
        let mut counter = |name: &str, help: &str, value: u64| {
            let _ = write!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n"
            );
        };
        counter(
            "spanlens_spans_received_total",
            "Spans decoded from OTLP requests.",
            self.spans_received.load(Relaxed),
        );
        counter(
            "spanlens_spans_accepted_total",
            "Spans accepted into the queue.",
            self.spans_accepted.load(Relaxed),
        );
        counter(
            "spanlens_log_records_received_total",
            "Log records decoded from OTLP requests.",
            self.log_records_received.load(Relaxed),
        );
        counter(
            "spanlens_log_records_accepted_total",
            "Log records accepted into the queue.",
            self.log_records_accepted.load(Relaxed),
        );
        counter(
            "spanlens_metric_points_received_total",
            "Metric data points decoded from OTLP requests.",
            self.metric_points_received.load(Relaxed),
        );
        counter(
            "spanlens_metric_points_accepted_total",
            "Metric data points accepted into the queue.",
            self.metric_points_accepted.load(Relaxed),
        );
        counter(
            "spanlens_langfuse_events_accepted_total",
            "Langfuse ingestion events accepted.",
            self.langfuse_events_accepted.load(Relaxed),
        );
        counter(
            "spanlens_langfuse_events_rejected_total",
            "Langfuse ingestion events rejected as invalid (reported in the 207 errors).",
            self.langfuse_events_rejected.load(Relaxed),
        );
        counter(
            "spanlens_langfuse_rows_released_total",
            "Span rows written by the Langfuse merge.",
            self.langfuse_rows_released.load(Relaxed),
        );
        counter(
            "spanlens_langfuse_incomplete_total",
            "Langfuse observations written without their create or end (window ended or hold full).",
            self.langfuse_incomplete.load(Relaxed),
        );
        counter(
            "spanlens_langfuse_evicted_total",
            "Langfuse observations and traces written early because the hold was full.",
            self.langfuse_evicted.load(Relaxed),
        );
        let j = &self.join;
        counter(
            "spanlens_content_join_content_total",
            "Span content items from GenAI log records offered to the join.",
            j.content_received.load(Relaxed),
        );
        counter(
            "spanlens_content_join_spans_merged_total",
            "Spans joined with the content of their GenAI log records.",
            j.spans_merged.load(Relaxed),
        );
        counter(
            "spanlens_content_join_spans_held_total",
            "LLM spans held back to wait for their content or streaming companion span.",
            j.spans_held.load(Relaxed),
        );
        counter(
            "spanlens_content_join_companions_joined_total",
            "Logfire streamed calls joined with a companion span from a later export request.",
            j.companions_joined.load(Relaxed),
        );
        counter(
            "spanlens_content_join_held_expired_total",
            "Held spans written at the end of the window without complete content.",
            j.held_expired.load(Relaxed),
        );
        counter(
            "spanlens_content_join_hold_full_total",
            "Spans written without waiting because the hold was full.",
            j.hold_full.load(Relaxed),
        );
        counter(
            "spanlens_content_join_content_evicted_total",
            "Waiting content evicted (oldest first) to stay within bounds.",
            j.content_evicted.load(Relaxed),
        );
        counter(
            "spanlens_content_join_content_expired_total",
            "Waiting content whose span did not arrive within the window.",
            j.content_expired.load(Relaxed),
        );
        counter(
            "spanlens_batches_written_total",
            "Insert batches written to ClickHouse.",
            self.batches_written.load(Relaxed),
        );
        counter(
            "spanlens_insert_retries_total",
            "Failed inserts that were retried.",
            self.insert_retries.load(Relaxed),
        );
        counter(
            "spanlens_rows_dropped_total",
            "Rows of batches ClickHouse rejected permanently.",
            self.rows_dropped.load(Relaxed),
        );
        let name = "spanlens_rows_written_total";
        let _ = write!(
            out,
            "# HELP {name} Rows written to ClickHouse, by table.\n# TYPE {name} counter\n"
        );
        for table in Table::ALL {
            let _ = writeln!(
                out,
                "{name}{{table=\"{}\"}} {}",
                table.name(),
                self.rows_written[table.code() as usize].load(Relaxed)
            );
        }
        // `invalid` names the InvalidSpan reason for what is counted (span, record, point).
        let labelled =
            |out: &mut String, name: &str, help: &str, values: &[AtomicU64; 5], invalid: &str| {
                let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} counter\n");
                for (reason, label) in REASONS {
                    let label = match reason {
                        Rejection::InvalidSpan => invalid,
                        _ => label,
                    };
                    let _ = writeln!(
                        out,
                        "{name}{{reason=\"{label}\"}} {}",
                        values[reason as usize].load(Relaxed)
                    );
                }
            };
        labelled(
            &mut out,
            "spanlens_spans_rejected_total",
            "Spans refused, by reason.",
            &self.spans_rejected,
            "invalid_span",
        );
        labelled(
            &mut out,
            "spanlens_requests_rejected_total",
            "OTLP requests refused, by reason.",
            &self.requests_rejected,
            "invalid_span",
        );
        labelled(
            &mut out,
            "spanlens_log_records_rejected_total",
            "Log records refused, by reason.",
            &self.log_records_rejected,
            "invalid_record",
        );
        labelled(
            &mut out,
            "spanlens_metric_points_rejected_total",
            "Metric data points refused, by reason.",
            &self.metric_points_rejected,
            "invalid_point",
        );
        let gauge = |out: &mut String, name: &str, help: &str, value: u64| {
            let _ = write!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n"
            );
        };
        gauge(
            &mut out,
            "spanlens_content_join_waiting_content",
            "Span content items waiting for their span.",
            j.waiting_content.load(Relaxed),
        );
        gauge(
            &mut out,
            "spanlens_content_join_waiting_content_bytes",
            "Text bytes of the waiting content.",
            j.waiting_content_bytes.load(Relaxed),
        );
        gauge(
            &mut out,
            "spanlens_content_join_held_spans",
            "LLM spans held waiting for their content.",
            j.held_spans.load(Relaxed),
        );
        gauge(
            &mut out,
            "spanlens_langfuse_held",
            "Langfuse observations and traces held for their other events.",
            self.langfuse_held.load(Relaxed),
        );
        let _ = write!(
            out,
            "# HELP spanlens_queue_bytes Encoded rows queued or in flight.\n# TYPE spanlens_queue_bytes gauge\nspanlens_queue_bytes {queue_bytes}\n\
             # HELP spanlens_queue_max_bytes Queue budget.\n# TYPE spanlens_queue_max_bytes gauge\nspanlens_queue_max_bytes {queue_max_bytes}\n\
             # HELP spanlens_insert_duration_seconds ClickHouse insert latency.\n# TYPE spanlens_insert_duration_seconds histogram\n"
        );
        for (bucket, bound) in self.insert_seconds_buckets.iter().zip(INSERT_BUCKETS) {
            let _ = writeln!(
                out,
                "spanlens_insert_duration_seconds_bucket{{le=\"{bound}\"}} {}",
                bucket.load(Relaxed)
            );
        }
        let count = self.insert_seconds_count.load(Relaxed);
        let _ = write!(
            out,
            "spanlens_insert_duration_seconds_bucket{{le=\"+Inf\"}} {count}\nspanlens_insert_duration_seconds_sum {}\nspanlens_insert_duration_seconds_count {count}\n",
            self.insert_micros_sum.load(Relaxed) as f64 / 1e6
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_labels_and_histogram() {
        let m = Metrics::default();
        m.spans_received.fetch_add(3, Relaxed);
        m.reject_spans(Rejection::InvalidSpan, 2);
        m.observe_insert(Duration::from_millis(30));
        let text = m.render(10, 100);
        assert!(text.contains("spanlens_spans_received_total 3\n"), "{text}");
        assert!(text.contains("spanlens_spans_rejected_total{reason=\"invalid_span\"} 2\n"));
        assert!(text.contains("spanlens_insert_duration_seconds_bucket{le=\"0.025\"} 0\n"));
        assert!(text.contains("spanlens_insert_duration_seconds_bucket{le=\"0.05\"} 1\n"));
        assert!(text.contains("spanlens_queue_bytes 10\n"));
    }
}
