//! The collector's own metrics, served as Prometheus text on GET /metrics (HTTP port).
//! Plain atomics: every counter is bumped on the hot path, so no locks and no allocation.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Why spans or requests were refused (the `reason` label).
#[derive(Clone, Copy, Debug)]
pub enum Rejection {
    /// A span with invalid ids, rejected alone (partial success).
    InvalidSpan,
    /// The queue was full; the client was told to retry.
    QueueFull,
    Unauthenticated,
    /// Undecodable body, wrong content type, too large.
    BadRequest,
}

const REASONS: [(Rejection, &str); 4] = [
    (Rejection::InvalidSpan, "invalid_span"),
    (Rejection::QueueFull, "queue_full"),
    (Rejection::Unauthenticated, "unauthenticated"),
    (Rejection::BadRequest, "bad_request"),
];

/// Upper bounds (seconds) of the insert latency histogram.
const INSERT_BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

#[derive(Default, Debug)]
pub struct Metrics {
    pub spans_received: AtomicU64,
    pub spans_accepted: AtomicU64,
    spans_rejected: [AtomicU64; 4],
    requests_rejected: [AtomicU64; 4],
    pub rows_written: AtomicU64,
    pub batches_written: AtomicU64,
    pub insert_retries: AtomicU64,
    pub rows_dropped: AtomicU64,
    insert_seconds_buckets: [AtomicU64; INSERT_BUCKETS.len()],
    insert_seconds_count: AtomicU64,
    insert_micros_sum: AtomicU64,
}

impl Metrics {
    pub fn reject_spans(&self, reason: Rejection, spans: u64) {
        self.spans_rejected[reason as usize].fetch_add(spans, Relaxed);
    }

    pub fn reject_request(&self, reason: Rejection) {
        self.requests_rejected[reason as usize].fetch_add(1, Relaxed);
    }

    pub fn observe_insert(&self, took: Duration) {
        let secs = took.as_secs_f64();
        for (bucket, bound) in self.insert_seconds_buckets.iter().zip(INSERT_BUCKETS) {
            if secs <= bound {
                bucket.fetch_add(1, Relaxed);
            }
        }
        self.insert_seconds_count.fetch_add(1, Relaxed);
        self.insert_micros_sum.fetch_add(took.as_micros() as u64, Relaxed);
    }

    /// Prometheus text exposition format (version 0.0.4).
    pub fn render(&self, queue_bytes: usize, queue_max_bytes: usize) -> String {
        let mut out = String::new();
        let mut counter = |name: &str, help: &str, value: u64| {
            let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n");
        };
        counter("spanlens_spans_received_total", "Spans decoded from OTLP requests.", self.spans_received.load(Relaxed));
        counter("spanlens_spans_accepted_total", "Spans accepted into the queue.", self.spans_accepted.load(Relaxed));
        counter("spanlens_rows_written_total", "Span rows written to ClickHouse.", self.rows_written.load(Relaxed));
        counter("spanlens_batches_written_total", "Insert batches written to ClickHouse.", self.batches_written.load(Relaxed));
        counter("spanlens_insert_retries_total", "Failed inserts that were retried.", self.insert_retries.load(Relaxed));
        counter("spanlens_rows_dropped_total", "Rows of batches ClickHouse rejected permanently.", self.rows_dropped.load(Relaxed));
        let labelled = |out: &mut String, name: &str, help: &str, values: &[AtomicU64; 4]| {
            let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} counter\n");
            for (reason, label) in REASONS {
                let _ = writeln!(out, "{name}{{reason=\"{label}\"}} {}", values[reason as usize].load(Relaxed));
            }
        };
        labelled(&mut out, "spanlens_spans_rejected_total", "Spans refused, by reason.", &self.spans_rejected);
        labelled(&mut out, "spanlens_requests_rejected_total", "OTLP requests refused, by reason.", &self.requests_rejected);
        let _ = write!(
            out,
            "# HELP spanlens_queue_bytes Encoded rows queued or in flight.\n# TYPE spanlens_queue_bytes gauge\nspanlens_queue_bytes {queue_bytes}\n\
             # HELP spanlens_queue_max_bytes Queue budget.\n# TYPE spanlens_queue_max_bytes gauge\nspanlens_queue_max_bytes {queue_max_bytes}\n\
             # HELP spanlens_insert_duration_seconds ClickHouse insert latency.\n# TYPE spanlens_insert_duration_seconds histogram\n"
        );
        for (bucket, bound) in self.insert_seconds_buckets.iter().zip(INSERT_BUCKETS) {
            let _ = writeln!(out, "spanlens_insert_duration_seconds_bucket{{le=\"{bound}\"}} {}", bucket.load(Relaxed));
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
