//! Memory and CPU of a process from Linux /proc: VmRSS / VmHWM from /proc/PID/status, user +
//! system CPU time from /proc/PID/stat.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Clock ticks per second of /proc/PID/stat times (USER_HZ), 100 on every Linux architecture
/// this runs on.
const TICKS_PER_SEC: f64 = 100.0;

/// A field of /proc/PID/status in KiB (e.g. "VmRSS", "VmHWM").
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_status_kib(&text, field)
}

fn parse_status_kib(text: &str, field: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// User + system CPU seconds consumed so far by `pid`.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat_cpu(&text)
}

fn parse_stat_cpu(text: &str) -> Option<f64> {
    // The command name (field 2) may contain spaces; fields after its closing paren are plain.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime and stime are fields 14 and 15.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SEC)
}

/// Host-wide CPU ticks from the first line of /proc/stat: (busy, total). Busy excludes idle and
/// iowait.
pub fn host_cpu_ticks() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    parse_host_cpu(text.lines().next()?)
}

fn parse_host_cpu(line: &str) -> Option<(u64, u64)> {
    let mut fields = line.split_whitespace();
    if fields.next()? != "cpu" {
        return None;
    }
    // user nice system idle iowait irq softirq steal (guest times are already in user/nice).
    let v: Vec<u64> = fields
        .take(8)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    let total: u64 = v.iter().sum();
    let idle = v.get(3)? + v.get(4)?;
    Some((total - idle, total))
}

/// Cores kept busy host-wide between two `host_cpu_ticks` readings.
pub fn host_busy_cores(start: (u64, u64), end: (u64, u64)) -> Option<f64> {
    let cores = std::thread::available_parallelism().ok()?.get() as f64;
    let total = end.1.checked_sub(start.1)?;
    (total > 0).then(|| (end.0.saturating_sub(start.0)) as f64 / total as f64 * cores)
}

/// Samples VmRSS of a process every `every` and keeps the maximum, until dropped.
pub struct RssSampler {
    max_kib: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl RssSampler {
    pub fn start(pid: u32, every: Duration) -> RssSampler {
        let max_kib = Arc::new(AtomicU64::new(0));
        let max = max_kib.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                if let Some(kib) = status_kib(pid, "VmRSS") {
                    max.fetch_max(kib, Ordering::Relaxed);
                }
            }
        });
        RssSampler { max_kib, task }
    }

    pub fn max_kib(&self) -> u64 {
        self.max_kib.load(Ordering::Relaxed)
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_and_stat() {
        let status = "Name:\tspanlens\nVmHWM:\t  123456 kB\nVmRSS:\t   65432 kB\n";
        assert_eq!(parse_status_kib(status, "VmHWM"), Some(123456));
        assert_eq!(parse_status_kib(status, "VmRSS"), Some(65432));
        assert_eq!(parse_status_kib(status, "VmSwap"), None);
        let stat = "4242 (tokio runtime w) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 9 0 100 0 0";
        assert_eq!(parse_stat_cpu(stat), Some(3.0));
        assert_eq!(
            parse_host_cpu("cpu  100 5 50 800 20 3 2 0 0 0"),
            Some((160, 980))
        );
        assert_eq!(parse_host_cpu("cpu0 1 2 3 4 5 6 7 8"), None);
    }

    #[test]
    fn reads_this_process() {
        assert!(status_kib(std::process::id(), "VmRSS").unwrap() > 0);
        assert!(cpu_seconds(std::process::id()).is_some());
    }
}
