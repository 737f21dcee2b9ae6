//! What the processes under test used during the run: peak memory and CPU of the collector, the
//! ClickHouse server and the load generator itself, and how busy the whole machine was.

use std::time::Duration;

use crate::procfs::{self, RssSampler};
use crate::report::{Host, ProcessStats};

struct Watched {
    pid: u32,
    sampler: Option<RssSampler>,
    cpu_start: Option<f64>,
    cpu_sent: Option<f64>,
}

impl Watched {
    fn start(pid: u32, sample_rss: bool) -> Watched {
        Watched {
            pid,
            sampler: sample_rss.then(|| RssSampler::start(pid, Duration::from_millis(100))),
            cpu_start: procfs::cpu_seconds(pid),
            cpu_sent: None,
        }
    }

    fn stats(&self, send_secs: f64, wall_secs: f64, accepted_spans: u64) -> ProcessStats {
        let mib = |kib: u64| kib as f64 / 1024.0;
        let cpu_sending = self.cpu_start.zip(self.cpu_sent).map(|(c0, c1)| c1 - c0);
        let cpu_total = self
            .cpu_start
            .zip(procfs::cpu_seconds(self.pid))
            .map(|(c0, c1)| c1 - c0);
        ProcessStats {
            pid: self.pid,
            peak_rss_mib: procfs::status_kib(self.pid, "VmHWM").map(mib),
            max_sampled_rss_mib: self
                .sampler
                .as_ref()
                .map(|s| mib(s.max_kib()))
                .filter(|m| *m > 0.0),
            cpu_secs_sending: cpu_sending,
            avg_cores_sending: cpu_sending.map(|c| c / send_secs),
            cpu_secs_total: cpu_total,
            avg_cores_total: cpu_total.map(|c| c / wall_secs),
            cpu_ms_per_1k_spans: cpu_total
                .filter(|_| accepted_spans > 0)
                .map(|c| c * 1000.0 / (accepted_spans as f64 / 1000.0)),
        }
    }
}

pub struct Watch {
    collector: Option<Watched>,
    clickhouse: Option<Watched>,
    loadgen: Watched,
    host_start: Option<(u64, u64)>,
    host_sent: Option<(u64, u64)>,
}

pub struct Usage {
    pub collector: Option<ProcessStats>,
    pub clickhouse: Option<ProcessStats>,
    pub loadgen: ProcessStats,
    pub host: Host,
}

impl Watch {
    /// Starts watching, right before the first request.
    pub fn start(collector_pid: Option<u32>, clickhouse_pid: Option<u32>) -> Watch {
        Watch {
            collector: collector_pid.map(|pid| Watched::start(pid, true)),
            clickhouse: clickhouse_pid.map(|pid| Watched::start(pid, true)),
            loadgen: Watched::start(std::process::id(), false),
            host_start: procfs::host_cpu_ticks(),
            host_sent: None,
        }
    }

    fn all_mut(&mut self) -> impl Iterator<Item = &mut Watched> {
        self.collector
            .iter_mut()
            .chain(self.clickhouse.iter_mut())
            .chain([&mut self.loadgen])
    }

    /// Marks the end of the timed phase (last response received).
    pub fn sending_done(&mut self) {
        for w in self.all_mut() {
            w.cpu_sent = procfs::cpu_seconds(w.pid);
        }
        self.host_sent = procfs::host_cpu_ticks();
    }

    /// Final figures, at the end of the stored wait.
    pub fn finish(self, send_secs: f64, wall_secs: f64, accepted_spans: u64) -> Usage {
        let stats = |w: &Watched| w.stats(send_secs, wall_secs, accepted_spans);
        let collector = self.collector.as_ref().map(stats);
        let clickhouse = self.clickhouse.as_ref().map(stats);
        let loadgen = stats(&self.loadgen);
        let ours = |cores: fn(&ProcessStats) -> Option<f64>| -> f64 {
            [&collector, &clickhouse]
                .into_iter()
                .flatten()
                .chain([&loadgen])
                .filter_map(cores)
                .sum()
        };
        let busy = |end: Option<(u64, u64)>| {
            self.host_start
                .zip(end)
                .and_then(|(a, b)| procfs::host_busy_cores(a, b))
        };
        let busy_sending = busy(self.host_sent);
        let busy_total = busy(procfs::host_cpu_ticks());
        let host = Host {
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            busy_cores_sending: busy_sending,
            other_cores_sending: busy_sending.map(|b| (b - ours(|p| p.avg_cores_sending)).max(0.0)),
            busy_cores_total: busy_total,
            other_cores_total: busy_total.map(|b| (b - ours(|p| p.avg_cores_total)).max(0.0)),
        };
        Usage {
            collector,
            clickhouse,
            loadgen,
            host,
        }
    }
}
