//! The benchmark report: one struct, printed for people or as JSON (`--json`).

use serde::Serialize;

use crate::send::Protocol;

#[derive(Serialize)]
pub struct Report {
    pub settings: Settings,
    pub corpus: CorpusStats,
    pub requests: Requests,
    pub spans: Spans,
    pub throughput: Throughput,
    /// Latency of accepted requests, send to full response, in milliseconds.
    pub latency_ms: Latency,
    /// Present when --collector-pid was given.
    pub collector: Option<ProcessStats>,
    /// Present when --clickhouse-pid was given.
    pub clickhouse: Option<ProcessStats>,
    pub loadgen: ProcessStats,
    pub host: Host,
    /// First distinct errors seen (failed requests, ClickHouse count problems).
    pub errors: Vec<String>,
}

#[derive(Serialize)]
pub struct Settings {
    pub protocol: Protocol,
    pub endpoint: String,
    pub concurrency: usize,
    pub duration_secs: f64,
    pub max_requests: Option<u64>,
    /// Offered load (--spans-per-sec); None: as fast as the collector answers.
    pub spans_per_sec: Option<f64>,
    pub spans_per_request: usize,
    pub seed: u64,
    pub clickhouse_url: Option<String>,
    pub database: String,
}

#[derive(Serialize)]
pub struct CorpusStats {
    pub pool_bodies: usize,
    pub avg_spans_per_request: f64,
    pub avg_spans_per_trace: f64,
    pub avg_body_bytes: f64,
    pub avg_bytes_per_span: f64,
    pub generation_secs: f64,
}

#[derive(Serialize)]
pub struct Requests {
    pub sent: u64,
    pub accepted: u64,
    /// 429/503 (HTTP) or UNAVAILABLE/RESOURCE_EXHAUSTED (gRPC).
    pub throttled: u64,
    pub failed: u64,
}

#[derive(Serialize)]
pub struct Spans {
    pub sent: u64,
    pub accepted: u64,
    /// In throttled or failed requests, plus partial-success rejections.
    pub rejected: u64,
    /// Rows that appeared in the spans table during this run (None: not measured).
    pub stored: Option<u64>,
    /// stored == accepted.
    pub all_stored: Option<bool>,
}

#[derive(Serialize)]
pub struct Throughput {
    /// First request sent → last response received.
    pub send_secs: f64,
    pub accepted_spans_per_sec: f64,
    /// First request sent → last row visible in ClickHouse.
    pub store_secs: Option<f64>,
    pub stored_spans_per_sec: Option<f64>,
    pub requests_per_sec: f64,
    /// Request bodies (uncompressed protobuf) sent per second.
    pub body_mib_per_sec: f64,
}

#[derive(Serialize)]
pub struct Latency {
    pub count: usize,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl Latency {
    /// From sorted microsecond samples (nearest-rank percentiles).
    pub fn from_sorted_us(sorted: &[u64]) -> Latency {
        let pick = |q: f64| -> f64 {
            if sorted.is_empty() {
                return 0.0;
            }
            let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
            sorted[rank - 1] as f64 / 1000.0
        };
        Latency {
            count: sorted.len(),
            p50: pick(0.50),
            p90: pick(0.90),
            p99: pick(0.99),
            max: pick(1.0),
        }
    }
}

/// The machine while sending: other work on it skews every figure above.
#[derive(Serialize)]
pub struct Host {
    pub cores: usize,
    /// Cores busy host-wide (/proc/stat) while sending.
    pub busy_cores_sending: Option<f64>,
    /// The part of that not spent by the collector, the ClickHouse server and the load generator
    /// (only the processes whose pid is known count as ours).
    pub other_cores_sending: Option<f64>,
    /// The same from the first request to the end of the stored wait.
    pub busy_cores_total: Option<f64>,
    pub other_cores_total: Option<f64>,
}

#[derive(Serialize)]
pub struct ProcessStats {
    pub pid: u32,
    /// VmHWM at the end: the peak resident set since the process started.
    pub peak_rss_mib: Option<f64>,
    /// Highest VmRSS sampled (every 100 ms) during the run.
    pub max_sampled_rss_mib: Option<f64>,
    /// CPU seconds (user + system) while sending (first request → last response)...
    pub cpu_secs_sending: Option<f64>,
    /// ...and over that time: how many cores it kept busy on average.
    pub avg_cores_sending: Option<f64>,
    /// CPU seconds from the first request to the end of the stored wait (all the work for the
    /// accepted spans, including the final flushes)...
    pub cpu_secs_total: Option<f64>,
    /// ...over that wall time.
    pub avg_cores_total: Option<f64>,
    /// cpu_secs_total in milliseconds per 1,000 accepted spans.
    pub cpu_ms_per_1k_spans: Option<f64>,
}

fn opt(v: Option<f64>, unit: &str, digits: usize) -> String {
    match v {
        Some(v) => format!("{v:.digits$}{unit}"),
        None => "n/a".into(),
    }
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let groups: Vec<&str> = digits
        .as_bytes()
        .rchunks(3)
        .rev()
        .map(|g| std::str::from_utf8(g).expect("ASCII digits"))
        .collect();
    groups.join(",")
}

impl Report {
    pub fn print_human(&self) {
        let s = &self.settings;
        let c = &self.corpus;
        println!("Spanlens benchmark");
        println!(
            "  load        {:?} → {}, concurrency {}, {:.0} s{}{}, seed {}",
            s.protocol,
            s.endpoint,
            s.concurrency,
            s.duration_secs,
            s.max_requests
                .map(|m| format!(" / max {m} requests"))
                .unwrap_or_default(),
            s.spans_per_sec
                .map(|r| format!(", offered {r:.0} spans/s"))
                .unwrap_or_default(),
            s.seed
        );
        println!(
            "  corpus      {} distinct bodies, {:.1} spans/request, {:.1} spans/trace, {:.0} KiB/request, {:.0} B/span (generated in {:.1} s)",
            c.pool_bodies,
            c.avg_spans_per_request,
            c.avg_spans_per_trace,
            c.avg_body_bytes / 1024.0,
            c.avg_bytes_per_span,
            c.generation_secs
        );
        let r = &self.requests;
        println!(
            "  requests    {} sent, {} accepted, {} throttled (429/503), {} failed",
            thousands(r.sent),
            thousands(r.accepted),
            thousands(r.throttled),
            thousands(r.failed)
        );
        let sp = &self.spans;
        println!(
            "  spans       {} sent, {} accepted, {} rejected, {} stored{}",
            thousands(sp.sent),
            thousands(sp.accepted),
            thousands(sp.rejected),
            sp.stored.map(thousands).unwrap_or_else(|| "n/a".into()),
            match sp.all_stored {
                Some(true) => " (all accepted spans stored)",
                Some(false) => " (NOT all accepted spans stored)",
                None => "",
            }
        );
        let t = &self.throughput;
        println!();
        println!(
            "  spans/s accepted   {:>10.0}   (over {:.1} s of sending)",
            t.accepted_spans_per_sec, t.send_secs
        );
        println!(
            "  spans/s stored     {:>10}   ({})",
            opt(t.stored_spans_per_sec, "", 0),
            match t.store_secs {
                Some(secs) => format!("first request → last row visible: {secs:.1} s"),
                None => "no rows seen".into(),
            }
        );
        println!("  requests/s         {:>10.1}", t.requests_per_sec);
        println!("  body MiB/s         {:>10.1}", t.body_mib_per_sec);
        let l = &self.latency_ms;
        println!(
            "  latency ms         p50 {:.1}  p90 {:.1}  p99 {:.1}  max {:.1}   ({} accepted requests)",
            l.p50, l.p90, l.p99, l.max, l.count
        );
        let proc = |name: &str, p: &ProcessStats| {
            println!(
                "  {name:<18} peak RSS {}{}",
                opt(p.peak_rss_mib, " MiB", 1),
                p.max_sampled_rss_mib
                    .map(|m| format!(" (max sampled during the run {m:.1} MiB)"))
                    .unwrap_or_default(),
            );
            println!(
                "  {:<18} CPU {} cores while sending, {} in all ({} cores avg), {} per 1k spans",
                "",
                opt(p.avg_cores_sending, "", 2),
                opt(p.cpu_secs_total, " s", 1),
                opt(p.avg_cores_total, "", 2),
                opt(p.cpu_ms_per_1k_spans, " ms", 1)
            );
        };
        match &self.collector {
            Some(p) => proc("collector", p),
            None => println!("  collector          peak RSS n/a (pass --collector-pid)"),
        }
        if let Some(p) = &self.clickhouse {
            proc("clickhouse", p);
        }
        proc("loadgen", &self.loadgen);
        let h = &self.host;
        let skewed = [h.other_cores_sending, h.other_cores_total]
            .into_iter()
            .flatten()
            .any(|o| o >= 0.25);
        println!(
            "  host               {} cores; busy while sending {} ({} by other processes), in all {} ({} by others){}",
            h.cores,
            opt(h.busy_cores_sending, "", 2),
            opt(h.other_cores_sending, "", 2),
            opt(h.busy_cores_total, "", 2),
            opt(h.other_cores_total, "", 2),
            if skewed {
                "\n                     ← other work on this machine skews these figures"
            } else {
                ""
            }
        );
        if !self.errors.is_empty() {
            println!();
            println!("  errors:");
            for e in &self.errors {
                println!("    - {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let samples: Vec<u64> = (1..=100).map(|ms| ms * 1000).collect();
        let l = Latency::from_sorted_us(&samples);
        assert_eq!((l.p50, l.p90, l.p99, l.max), (50.0, 90.0, 99.0, 100.0));
        assert_eq!(Latency::from_sorted_us(&[]).count, 0);
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(12), "12");
    }
}
