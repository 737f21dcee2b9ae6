//! The timed phase: N concurrent senders POST pre-encoded bodies over OTLP/HTTP (protobuf) or
//! OTLP/gRPC until the duration or the request budget runs out, recording each request's
//! latency and what the collector answered.
//!
//! Throttling answers (HTTP 429/503, gRPC UNAVAILABLE/RESOURCE_EXHAUSTED) are counted as
//! rejected and the sender backs off for the Retry-After the collector asked for; the next
//! request carries a fresh body (a benchmark measures what gets in, it does not re-send).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::{Buf, BufMut, Bytes};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::Channel;

use crate::pool::Pool;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// OTLP/HTTP, application/x-protobuf, POST /v1/traces.
    Http,
    /// OTLP/gRPC, TraceService/Export.
    Grpc,
}

pub struct RunConfig {
    pub protocol: Protocol,
    /// Base URL of the collector's OTLP endpoint for the protocol.
    pub endpoint: String,
    pub concurrency: usize,
    pub duration: Duration,
    pub max_requests: Option<u64>,
    /// Request n starts no earlier than n × this after the first (None: as soon as a sender is
    /// free). A fixed schedule, so a slow answer does not lower the offered load.
    pub request_interval: Option<Duration>,
    /// Print a progress line to stderr this often (None: quiet).
    pub progress_every: Option<Duration>,
    /// Extra request headers / gRPC metadata (e.g. Authorization for an API key).
    pub headers: Vec<(http::HeaderName, http::HeaderValue)>,
    /// Where to record every acknowledged trace (`trace id<TAB>spans` lines), for exactly-once
    /// checks such as deploy/local/soak.sh.
    pub acked_log: Option<Arc<Mutex<std::io::BufWriter<std::fs::File>>>>,
}

/// What the collector answered to one request.
enum Outcome {
    /// 2xx / OK; `rejected` spans reported as partial success.
    Accepted { rejected: u64 },
    /// 429/503 or UNAVAILABLE/RESOURCE_EXHAUSTED: try again after this long.
    Throttled { retry_after: Duration },
    /// Anything else (4xx/5xx, transport errors).
    Failed(String),
}

/// Everything the timed phase measured.
#[derive(Default)]
pub struct RunStats {
    pub requests: u64,
    pub requests_accepted: u64,
    pub requests_throttled: u64,
    pub requests_failed: u64,
    pub spans_sent: u64,
    pub spans_accepted: u64,
    pub spans_partially_rejected: u64,
    pub spans_throttled: u64,
    pub spans_failed: u64,
    pub bytes_sent: u64,
    pub bytes_accepted: u64,
    /// Latency of accepted requests, microseconds, sorted.
    pub latencies_us: Vec<u64>,
    /// A few distinct failure messages, for the report.
    pub errors: Vec<String>,
    /// From the first request sent to the last response received.
    pub elapsed: Duration,
}

impl RunStats {
    fn merge(&mut self, o: RunStats) {
        self.requests += o.requests;
        self.requests_accepted += o.requests_accepted;
        self.requests_throttled += o.requests_throttled;
        self.requests_failed += o.requests_failed;
        self.spans_sent += o.spans_sent;
        self.spans_accepted += o.spans_accepted;
        self.spans_partially_rejected += o.spans_partially_rejected;
        self.spans_throttled += o.spans_throttled;
        self.spans_failed += o.spans_failed;
        self.bytes_sent += o.bytes_sent;
        self.bytes_accepted += o.bytes_accepted;
        self.latencies_us.extend(o.latencies_us);
        for e in o.errors {
            note_error(&mut self.errors, e);
        }
    }
}

fn note_error(errors: &mut Vec<String>, e: String) {
    if errors.len() < 5 && !errors.contains(&e) {
        errors.push(e);
    }
}

/// Counters the progress printer reads while the run goes on.
#[derive(Default)]
struct Progress {
    requests: AtomicU64,
    spans_accepted: AtomicU64,
    spans_rejected: AtomicU64,
}

/// One sender's connection.
enum Transport {
    Http {
        client: Box<HttpClient<HttpConnector, Full<Bytes>>>,
        uri: http::Uri,
        headers: http::HeaderMap,
    },
    Grpc {
        grpc: tonic::client::Grpc<Channel>,
        metadata: tonic::metadata::MetadataMap,
    },
}

const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

impl Transport {
    async fn send(&mut self, body: Bytes) -> Outcome {
        match self {
            Transport::Http {
                client,
                uri,
                headers,
            } => {
                let mut request = http::Request::post(uri.clone())
                    .header(http::header::CONTENT_TYPE, "application/x-protobuf")
                    .body(Full::new(body))
                    .expect("static request parts are valid");
                request.headers_mut().extend(headers.clone());
                let response = match client.request(request).await {
                    Ok(r) => r,
                    Err(e) => return Outcome::Failed(format!("HTTP transport: {e:#}")),
                };
                let status = response.status();
                let retry_after = response
                    .headers()
                    .get(http::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                let body = match response.into_body().collect().await {
                    Ok(b) => b.to_bytes(),
                    Err(e) => return Outcome::Failed(format!("HTTP response body: {e}")),
                };
                if status.is_success() {
                    let rejected = ExportTraceServiceResponse::decode(body)
                        .ok()
                        .and_then(|r| r.partial_success)
                        .map_or(0, |p| p.rejected_spans.max(0) as u64);
                    Outcome::Accepted { rejected }
                } else if status == http::StatusCode::TOO_MANY_REQUESTS
                    || status == http::StatusCode::SERVICE_UNAVAILABLE
                {
                    Outcome::Throttled {
                        retry_after: retry_after.unwrap_or(Duration::from_secs(1)),
                    }
                } else {
                    let text = String::from_utf8_lossy(&body);
                    Outcome::Failed(format!(
                        "HTTP {status}: {}",
                        text.chars().take(300).collect::<String>()
                    ))
                }
            }
            Transport::Grpc { grpc, metadata } => {
                if let Err(e) = grpc.ready().await {
                    return Outcome::Failed(format!("gRPC channel: {e}"));
                }
                let path = http::uri::PathAndQuery::from_static(EXPORT_PATH);
                let mut request = tonic::Request::new(body);
                *request.metadata_mut() = metadata.clone();
                match grpc.unary(request, path, PreEncoded).await {
                    Ok(response) => {
                        let rejected = response
                            .into_inner()
                            .partial_success
                            .map_or(0, |p| p.rejected_spans.max(0) as u64);
                        Outcome::Accepted { rejected }
                    }
                    Err(status)
                        if matches!(
                            status.code(),
                            tonic::Code::Unavailable | tonic::Code::ResourceExhausted
                        ) =>
                    {
                        Outcome::Throttled {
                            retry_after: Duration::from_secs(1),
                        }
                    }
                    Err(status) => {
                        Outcome::Failed(format!("gRPC {:?}: {}", status.code(), status.message()))
                    }
                }
            }
        }
    }
}

/// A gRPC codec that sends an already protobuf-encoded ExportTraceServiceRequest as is and
/// decodes the ExportTraceServiceResponse with prost.
#[derive(Clone, Copy)]
struct PreEncoded;

impl Codec for PreEncoded {
    type Encode = Bytes;
    type Decode = ExportTraceServiceResponse;
    type Encoder = PreEncoded;
    type Decoder = PreEncoded;
    fn encoder(&mut self) -> Self::Encoder {
        PreEncoded
    }
    fn decoder(&mut self) -> Self::Decoder {
        PreEncoded
    }
}

impl Encoder for PreEncoded {
    type Item = Bytes;
    type Error = tonic::Status;
    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for PreEncoded {
    type Item = ExportTraceServiceResponse;
    type Error = tonic::Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, tonic::Status> {
        let bytes = src.copy_to_bytes(src.remaining());
        ExportTraceServiceResponse::decode(bytes)
            .map(Some)
            .map_err(|e| {
                tonic::Status::internal(format!("invalid ExportTraceServiceResponse: {e}"))
            })
    }
}

async fn transports(config: &RunConfig) -> anyhow::Result<Vec<Transport>> {
    match config.protocol {
        Protocol::Http => {
            let base = config.endpoint.trim_end_matches('/');
            let url = if base.ends_with("/v1/traces") {
                base.to_string()
            } else {
                format!("{base}/v1/traces")
            };
            let uri: http::Uri = url
                .parse()
                .with_context(|| format!("invalid endpoint {url}"))?;
            let mut connector = HttpConnector::new();
            connector.set_nodelay(true);
            let client = HttpClient::builder(TokioExecutor::new())
                .pool_max_idle_per_host(config.concurrency)
                .build(connector);
            let headers: http::HeaderMap = config.headers.iter().cloned().collect();
            Ok((0..config.concurrency)
                .map(|_| Transport::Http {
                    client: Box::new(client.clone()),
                    uri: uri.clone(),
                    headers: headers.clone(),
                })
                .collect())
        }
        Protocol::Grpc => {
            // One HTTP/2 connection per sender, as N exporting processes would have.
            let mut out = Vec::with_capacity(config.concurrency);
            for _ in 0..config.concurrency {
                let channel = tonic::transport::Endpoint::from_shared(config.endpoint.clone())
                    .with_context(|| format!("invalid endpoint {}", config.endpoint))?
                    .tcp_nodelay(true)
                    .connect()
                    .await
                    .with_context(|| format!("connecting to {}", config.endpoint))?;
                let metadata = tonic::metadata::MetadataMap::from_headers(
                    config.headers.iter().cloned().collect(),
                );
                out.push(Transport::Grpc {
                    grpc: tonic::client::Grpc::new(channel),
                    metadata,
                });
            }
            Ok(out)
        }
    }
}

/// Appends `trace id<TAB>spans` lines for an acknowledged request's traces.
fn record_acked(log: &Mutex<std::io::BufWriter<std::fs::File>>, traces: &[(String, u64)]) {
    use std::io::Write;
    let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
    for (trace, spans) in traces {
        writeln!(log, "{trace}\t{spans}").expect("write the acknowledged-traces log");
    }
}

/// Runs the timed phase. Returns the stats and the instant the first request was sent.
pub async fn run(config: &RunConfig, pool: Arc<Pool>) -> anyhow::Result<(RunStats, Instant)> {
    let transports = transports(config).await?;
    let next_request = Arc::new(AtomicU64::new(0));
    let progress = Arc::new(Progress::default());
    let started = Instant::now();
    let deadline = started + config.duration;
    let max_requests = config.max_requests.unwrap_or(u64::MAX);
    let request_interval = config.request_interval;

    let mut workers = Vec::with_capacity(transports.len());
    for mut transport in transports {
        let pool = pool.clone();
        let next_request = next_request.clone();
        let progress = progress.clone();
        let acked_log = config.acked_log.clone();
        workers.push(tokio::spawn(async move {
            let mut stats = RunStats::default();
            loop {
                if Instant::now() >= deadline {
                    break;
                }
                let n = next_request.fetch_add(1, Ordering::Relaxed);
                if n >= max_requests {
                    break;
                }
                if let Some(interval) = request_interval {
                    let due = started + interval.mul_f64(n as f64);
                    if due >= deadline {
                        break;
                    }
                    tokio::time::sleep_until(due.into()).await;
                }
                let body = pool.instance(n);
                let len = body.bytes.len() as u64;
                let t = Instant::now();
                let outcome = transport.send(body.bytes.clone()).await;
                let latency = t.elapsed();
                stats.requests += 1;
                stats.spans_sent += body.spans;
                stats.bytes_sent += len;
                progress.requests.fetch_add(1, Ordering::Relaxed);
                match outcome {
                    Outcome::Accepted { rejected } => {
                        if let (Some(log), 0) = (&acked_log, rejected) {
                            record_acked(log, &pool.traces(&body));
                        }
                        stats.requests_accepted += 1;
                        stats.spans_accepted += body.spans - rejected.min(body.spans);
                        stats.spans_partially_rejected += rejected.min(body.spans);
                        stats.bytes_accepted += len;
                        stats.latencies_us.push(latency.as_micros() as u64);
                        progress
                            .spans_accepted
                            .fetch_add(body.spans - rejected.min(body.spans), Ordering::Relaxed);
                    }
                    Outcome::Throttled { retry_after } => {
                        stats.requests_throttled += 1;
                        stats.spans_throttled += body.spans;
                        progress
                            .spans_rejected
                            .fetch_add(body.spans, Ordering::Relaxed);
                        let wake = (Instant::now() + retry_after).min(deadline);
                        tokio::time::sleep_until(wake.into()).await;
                    }
                    Outcome::Failed(message) => {
                        stats.requests_failed += 1;
                        stats.spans_failed += body.spans;
                        progress
                            .spans_rejected
                            .fetch_add(body.spans, Ordering::Relaxed);
                        note_error(&mut stats.errors, message);
                        // Don't spin on a dead endpoint.
                        let wake = (Instant::now() + Duration::from_millis(100)).min(deadline);
                        tokio::time::sleep_until(wake.into()).await;
                    }
                }
            }
            stats
        }));
    }

    let printer = config.progress_every.map(|every| {
        let progress = progress.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval_at((started + every).into(), every);
            let mut last = (0u64, started);
            loop {
                tick.tick().await;
                let now = Instant::now();
                let accepted = progress.spans_accepted.load(Ordering::Relaxed);
                let rate = (accepted - last.0) as f64 / (now - last.1).as_secs_f64();
                eprintln!(
                    "[{:>5.1}s] requests {:>7}  spans accepted {:>9}  rejected {:>7}  ({:>8.0} spans/s now)",
                    (now - started).as_secs_f64(),
                    progress.requests.load(Ordering::Relaxed),
                    accepted,
                    progress.spans_rejected.load(Ordering::Relaxed),
                    rate
                );
                last = (accepted, now);
            }
        })
    });

    let mut total = RunStats::default();
    for w in workers {
        total.merge(w.await.context("sender task panicked")?);
    }
    total.elapsed = started.elapsed();
    if let Some(p) = printer {
        p.abort();
    }
    total.latencies_us.sort_unstable();
    Ok((total, started))
}
