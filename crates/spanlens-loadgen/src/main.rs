//! `spanlens-loadgen`: drives a Spanlens collector with realistic LLM traces over OTLP, then
//! waits for the rows in ClickHouse and reports spans/s accepted and stored, request latency
//! percentiles and the collector's peak memory. `deploy/local/bench.sh` wraps it end to end.

mod corpus;
mod pool;
mod procfs;
mod report;
mod send;
mod stored;
mod text;
mod watch;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;

use crate::corpus::CorpusConfig;
use crate::pool::Pool;
use crate::report::{CorpusStats, Latency, Report, Requests, Settings, Spans, Throughput};
use crate::send::{Protocol, RunConfig};
use crate::stored::ClickHouseCounter;
use crate::watch::Watch;

#[derive(Parser, Debug)]
#[command(
    version,
    about = "Load generator and benchmark for the Spanlens collector",
    args_override_self = true
)]
struct Cli {
    /// OTLP transport.
    #[arg(long, value_enum, default_value = "http")]
    protocol: Protocol,
    /// Collector endpoint [default: http://127.0.0.1:4318 for http, http://127.0.0.1:4317 for grpc].
    /// For HTTP, /v1/traces is appended unless present.
    #[arg(long)]
    endpoint: Option<String>,
    /// API key, sent as `Authorization: Bearer <key>` (needed when the collector has auth.keys).
    #[arg(long, env = "SPANLENS_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Extra request header / gRPC metadata, `Name: value` (repeatable).
    #[arg(long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// Concurrent senders (each with its own connection).
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Stop sending after this many seconds...
    #[arg(long, default_value_t = 20.0)]
    duration_secs: f64,
    /// ...or after this many requests, whichever comes first.
    #[arg(long)]
    max_requests: Option<u64>,
    /// Offered load: start requests on a fixed schedule carrying about this many spans per
    /// second in all (at most --concurrency in flight), instead of each sender sending again as
    /// soon as it has its answer. For latency at a given load, e.g. half of what the collector
    /// sustains.
    #[arg(long, value_name = "SPANS")]
    spans_per_sec: Option<f64>,
    /// Spans per request (whole traces are packed, so requests hold this many or slightly more).
    #[arg(long, default_value_t = 100)]
    spans_per_request: usize,
    /// Distinct request bodies generated before the timed phase (re-keyed with fresh ids on reuse).
    #[arg(long, default_value_t = 64)]
    pool_bodies: usize,
    /// Corpus seed: the same seed generates the same traces.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Probability that an LLM call fails (the agent invocation fails with it).
    #[arg(long, default_value_t = 0.03)]
    llm_error_rate: f64,
    /// Probability that a tool call fails.
    #[arg(long, default_value_t = 0.03)]
    tool_error_rate: f64,
    /// ClickHouse HTTP interface to count stored spans in.
    #[arg(long, env = "CLICKHOUSE_URL", default_value = "http://127.0.0.1:8123")]
    clickhouse_url: String,
    /// Database the collector writes to.
    #[arg(long, default_value = "spanlens")]
    database: String,
    /// Table to count.
    #[arg(long, default_value = "spans")]
    table: String,
    #[arg(long, env = "CLICKHOUSE_USER")]
    clickhouse_user: Option<String>,
    #[arg(long, env = "CLICKHOUSE_PASSWORD", hide_env_values = true)]
    clickhouse_password: Option<String>,
    /// Don't count stored spans (no ClickHouse access).
    #[arg(long)]
    skip_stored: bool,
    /// Stop waiting for rows when the count has not grown for this long.
    #[arg(long, default_value_t = 10.0)]
    settle_secs: f64,
    /// Never wait for rows longer than this after sending ends.
    #[arg(long, default_value_t = 180.0)]
    store_timeout_secs: f64,
    /// PID of the collector: report its peak RSS (VmHWM) and CPU.
    #[arg(long)]
    collector_pid: Option<u32>,
    /// PID of the ClickHouse server, when local: report its peak RSS and CPU.
    #[arg(long)]
    clickhouse_pid: Option<u32>,
    /// Print the report as JSON on stdout (progress still goes to stderr).
    #[arg(long)]
    json: bool,
    /// No progress lines on stderr.
    #[arg(long, short)]
    quiet: bool,
    /// Record every acknowledged trace in this file (`trace id<TAB>spans` lines), to check later
    /// that each was stored exactly once (deploy/local/soak.sh does).
    #[arg(long, value_name = "FILE")]
    acked_traces: Option<std::path::PathBuf>,
    /// Tokio worker threads of the load generator.
    #[arg(long, default_value_t = 2)]
    threads: usize,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    anyhow::ensure!(cli.concurrency > 0, "--concurrency must be > 0");
    anyhow::ensure!(cli.duration_secs > 0.0, "--duration-secs must be > 0");
    anyhow::ensure!(
        cli.spans_per_sec.is_none_or(|r| r > 0.0),
        "--spans-per-sec must be > 0"
    );
    anyhow::ensure!(
        (0.0..=1.0).contains(&cli.llm_error_rate) && (0.0..=1.0).contains(&cli.tool_error_rate),
        "error rates are probabilities"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cli.threads.max(1))
        .enable_all()
        .build()?;
    let report = runtime.block_on(bench(&cli))?;
    if cli.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        report.print_human();
    }
    Ok(())
}

fn log(cli: &Cli, message: std::fmt::Arguments) {
    if !cli.quiet {
        eprintln!("{message}");
    }
}

/// `--api-key` and `--header` as request headers (gRPC metadata).
fn request_headers(cli: &Cli) -> anyhow::Result<Vec<(http::HeaderName, http::HeaderValue)>> {
    let mut headers = Vec::new();
    if let Some(key) = &cli.api_key {
        headers.push((
            http::header::AUTHORIZATION,
            http::HeaderValue::from_str(&format!("Bearer {key}"))?,
        ));
    }
    for h in &cli.headers {
        let (name, value) = h
            .split_once(':')
            .ok_or_else(|| anyhow::anyhow!("--header {h:?} must look like `Name: value`"))?;
        headers.push((
            http::HeaderName::from_bytes(name.trim().to_ascii_lowercase().as_bytes())?,
            http::HeaderValue::from_str(value.trim())?,
        ));
    }
    Ok(headers)
}

async fn bench(cli: &Cli) -> anyhow::Result<Report> {
    let endpoint = cli.endpoint.clone().unwrap_or_else(|| match cli.protocol {
        Protocol::Http => "http://127.0.0.1:4318".into(),
        Protocol::Grpc => "http://127.0.0.1:4317".into(),
    });
    let corpus = CorpusConfig {
        spans_per_request: cli.spans_per_request,
        llm_error_rate: cli.llm_error_rate,
        tool_error_rate: cli.tool_error_rate,
    };

    // Corpus first, off the clock.
    let gen_started = Instant::now();
    let (seed, bodies) = (cli.seed, cli.pool_bodies);
    let pool = tokio::task::spawn_blocking(move || Pool::build(seed, bodies, &corpus)).await??;
    let generation_secs = gen_started.elapsed().as_secs_f64();
    let pool = Arc::new(pool);
    let n_bodies = pool.bodies.len();
    let corpus_stats = CorpusStats {
        pool_bodies: n_bodies,
        avg_spans_per_request: pool.total_spans() as f64 / n_bodies as f64,
        avg_spans_per_trace: pool.total_spans() as f64 / pool.total_traces() as f64,
        avg_body_bytes: pool.total_bytes() as f64 / n_bodies as f64,
        avg_bytes_per_span: pool.total_bytes() as f64 / pool.total_spans() as f64,
        generation_secs,
    };
    log(
        cli,
        format_args!(
            "corpus: {} bodies, {:.1} spans/request, {:.0} KiB/request, generated in {:.1} s",
            n_bodies,
            corpus_stats.avg_spans_per_request,
            corpus_stats.avg_body_bytes / 1024.0,
            generation_secs
        ),
    );

    let mut errors = Vec::new();
    let counter = if cli.skip_stored {
        None
    } else {
        Some(ClickHouseCounter::new(
            &cli.clickhouse_url,
            &cli.database,
            &cli.table,
            cli.clickhouse_user.clone(),
            cli.clickhouse_password.clone(),
        )?)
    };
    let baseline = match &counter {
        Some(c) => match c.count().await {
            Ok(n) => Some(n),
            Err(e) => {
                errors.push(format!("counting stored spans: {e:#}"));
                None
            }
        },
        None => None,
    };

    log(
        cli,
        format_args!(
            "sending: {:?} → {}, concurrency {}, up to {} s{}{}",
            cli.protocol,
            endpoint,
            cli.concurrency,
            cli.duration_secs,
            cli.max_requests
                .map(|m| format!(" / {m} requests"))
                .unwrap_or_default(),
            cli.spans_per_sec
                .map(|r| format!(", offered {r:.0} spans/s"))
                .unwrap_or_default()
        ),
    );
    let run_config = RunConfig {
        headers: request_headers(cli)?,
        protocol: cli.protocol,
        endpoint: endpoint.clone(),
        concurrency: cli.concurrency,
        duration: Duration::from_secs_f64(cli.duration_secs),
        max_requests: cli.max_requests,
        request_interval: cli
            .spans_per_sec
            .map(|rate| Duration::from_secs_f64(corpus_stats.avg_spans_per_request / rate)),
        progress_every: (!cli.quiet).then_some(Duration::from_secs(5)),
        acked_log: acked_log(cli.acked_traces.as_deref())?,
    };
    let mut watch = Watch::start(cli.collector_pid, cli.clickhouse_pid);
    let (stats, first_send) = send::run(&run_config, pool.clone()).await?;
    if let Some(log) = &run_config.acked_log {
        use std::io::Write;
        log.lock().unwrap_or_else(|e| e.into_inner()).flush()?;
    }
    watch.sending_done();
    errors.extend(stats.errors.iter().cloned());

    // Stored: wait for the rows.
    let mut stored = None;
    let mut store_secs = None;
    if let (Some(counter), Some(baseline)) = (&counter, baseline) {
        log(
            cli,
            format_args!(
                "sent; waiting for {} accepted spans to appear in {}.{} ...",
                stats.spans_accepted, cli.database, cli.table
            ),
        );
        match counter
            .wait_for(
                baseline,
                stats.spans_accepted,
                Duration::from_secs_f64(cli.settle_secs),
                Duration::from_secs_f64(cli.store_timeout_secs),
            )
            .await
        {
            Ok(wait) => {
                stored = Some(wait.stored);
                store_secs = wait.last_row_seen.map(|t| (t - first_send).as_secs_f64());
            }
            Err(e) => errors.push(format!("counting stored spans: {e:#}")),
        }
    }
    let wall = first_send.elapsed().as_secs_f64();

    let accepted = stats.spans_accepted;
    let send_secs = stats.elapsed.as_secs_f64();
    let usage = watch.finish(send_secs, wall, accepted);
    if let Some(pid) = cli.collector_pid
        && procfs::status_kib(pid, "VmHWM").is_none()
    {
        errors.push(format!(
            "cannot read /proc/{pid}/status: is the collector (pid {pid}) still running?"
        ));
    }

    Ok(Report {
        settings: Settings {
            protocol: cli.protocol,
            endpoint,
            concurrency: cli.concurrency,
            duration_secs: cli.duration_secs,
            max_requests: cli.max_requests,
            spans_per_sec: cli.spans_per_sec,
            spans_per_request: cli.spans_per_request,
            seed: cli.seed,
            clickhouse_url: (!cli.skip_stored).then(|| cli.clickhouse_url.clone()),
            database: cli.database.clone(),
        },
        corpus: corpus_stats,
        requests: Requests {
            sent: stats.requests,
            accepted: stats.requests_accepted,
            throttled: stats.requests_throttled,
            failed: stats.requests_failed,
        },
        spans: Spans {
            sent: stats.spans_sent,
            accepted,
            rejected: stats.spans_throttled + stats.spans_failed + stats.spans_partially_rejected,
            stored,
            all_stored: stored.map(|s| s >= accepted),
        },
        throughput: Throughput {
            send_secs,
            accepted_spans_per_sec: accepted as f64 / send_secs,
            store_secs,
            stored_spans_per_sec: match (stored, store_secs) {
                (Some(n), Some(secs)) if n > 0 => Some(n as f64 / secs),
                _ => None,
            },
            requests_per_sec: stats.requests as f64 / send_secs,
            body_mib_per_sec: stats.bytes_sent as f64 / (1024.0 * 1024.0) / send_secs,
        },
        latency_ms: Latency::from_sorted_us(&stats.latencies_us),
        collector: usage.collector,
        clickhouse: usage.clickhouse,
        loadgen: usage.loadgen,
        host: usage.host,
        errors,
    })
}

/// The acknowledged-traces log, created empty.
fn acked_log(
    path: Option<&std::path::Path>,
) -> anyhow::Result<Option<std::sync::Arc<std::sync::Mutex<std::io::BufWriter<std::fs::File>>>>> {
    let Some(path) = path else {
        return Ok(None);
    };
    let file = std::fs::File::create(path)
        .with_context(|| format!("creating the acknowledged-traces log {}", path.display()))?;
    Ok(Some(std::sync::Arc::new(std::sync::Mutex::new(
        std::io::BufWriter::new(file),
    ))))
}
