//! Shared end-to-end harness: a real collector (ephemeral ports) writing into a fresh database
//! of the tests' ClickHouse: the server at CLICKHOUSE_URL, or else a local chDB server this test
//! binary starts for itself (see `local`).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use spanlens_collector::collector::Collector;
use spanlens_collector::config::Config;
use spanlens_collector::storage::clickhouse::server_client;

pub struct TestCollector {
    pub collector: Collector,
    pub config: Config,
    /// Client bound to this test's database.
    pub ch: clickhouse::Client,
}

/// A database name no other test (or earlier run) uses.
pub fn unique_database(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("t_{prefix}_{:x}_{}", nanos, std::process::id())
}

/// Test config: ephemeral loopback ports, a fresh database, short batch age.
pub fn test_config(prefix: &str) -> Config {
    let mut config = Config::default();
    config.clickhouse.url = local::clickhouse_url();
    config.clickhouse.database = unique_database(prefix);
    config.receiver.grpc_listen = "127.0.0.1:0".parse().unwrap();
    config.receiver.http_listen = "127.0.0.1:0".parse().unwrap();
    config.pipeline.batch_max_age_ms = 100;
    config.pipeline.spool_dir = std::env::temp_dir()
        .join(&config.clickhouse.database)
        .join("spool")
        .display()
        .to_string();
    config
}

impl TestCollector {
    pub async fn start(prefix: &str) -> TestCollector {
        Self::start_with(test_config(prefix)).await
    }

    pub async fn start_with(config: Config) -> TestCollector {
        let collector = Collector::start(config.clone())
            .await
            .expect("collector starts");
        let ch = server_client(&config.clickhouse)
            .unwrap()
            .with_database(&config.clickhouse.database);
        TestCollector {
            collector,
            config,
            ch,
        }
    }

    pub fn http_url(&self, path: &str) -> String {
        format!("http://{}{}", self.collector.http_addr, path)
    }

    pub fn grpc_addr(&self) -> SocketAddr {
        self.collector.grpc_addr
    }

    /// Polls `SELECT count() ...` until it equals `expected` (bounded: 20 s), then returns it.
    pub async fn wait_for_count(&self, sql: &str, expected: u64) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let n: u64 = self.ch.query(sql).fetch_one().await.expect("count query");
            if n >= expected || Instant::now() > deadline {
                return n;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for `expected` span rows, then returns the stored rows ordered by start time.
    pub async fn spans(&self, expected: u64) -> Vec<spanlens_collector::storage::row::SpanRow> {
        let n = self
            .wait_for_count("SELECT count() FROM spans", expected)
            .await;
        assert_eq!(n, expected, "stored span count");
        self.ch
            .query("SELECT ?fields FROM spans ORDER BY start_time, span_id")
            .fetch_all()
            .await
            .expect("fetch spans")
    }

    pub async fn shutdown(self) {
        self.collector.shutdown().await;
        let _ = std::fs::remove_dir_all(
            std::path::Path::new(&self.config.pipeline.spool_dir)
                .parent()
                .unwrap(),
        );
        let _ = self
            .ch
            .query(&format!(
                "DROP DATABASE IF EXISTS {}",
                self.config.clickhouse.database
            ))
            .execute()
            .await;
    }
}

/// A client bound to `config`'s database (for collectors the test runs as a binary).
pub fn server_client_for(config: &Config) -> clickhouse::Client {
    server_client(&config.clickhouse)
        .unwrap()
        .with_database(&config.clickhouse.database)
}

/// Drops `config`'s database and removes its spool (after a binary-run test).
pub async fn drop_database(config: &Config) {
    let sql = format!("DROP DATABASE IF EXISTS {}", config.clickhouse.database);
    let _ = server_client(&config.clickhouse)
        .unwrap()
        .query(&sql)
        .execute()
        .await;
    let spool = std::path::Path::new(&config.pipeline.spool_dir);
    let _ = std::fs::remove_dir_all(spool.parent().unwrap());
}

/// A slow client: an OTLP/HTTP request announcing `declared` body bytes of which only 100 are
/// sent, so it holds its in-flight reservation until the stream is dropped. Returns once the
/// reservation is made: the request expects `100 Continue`, which the server sends when the
/// handler starts reading the body, after reserving.
pub async fn slow_request(addr: SocketAddr, declared: usize) -> tokio::net::TcpStream {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /v1/traces HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-protobuf\r\ncontent-length: {declared}\r\nexpect: 100-continue\r\n\r\n"
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    let continue_line = b"HTTP/1.1 100 Continue\r\n\r\n";
    let mut reply = vec![0u8; continue_line.len()];
    tokio::time::timeout(Duration::from_secs(20), slow.read_exact(&mut reply))
        .await
        .expect("100 Continue within 20 s")
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&reply),
        String::from_utf8_lossy(continue_line)
    );
    slow.write_all(&[0u8; 100]).await.unwrap();
    slow
}

/// Repeats `attempt` while `busy` holds for its result (every 50 ms, 20 s at most) and returns
/// the last result: for a "retry later" answer that ends when the collector notices something
/// asynchronously (a released reservation).
pub async fn retry_while<T, F: std::future::Future<Output = T>>(
    mut attempt: impl FnMut() -> F,
    busy: impl Fn(&T) -> bool,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let result = attempt().await;
        if !busy(&result) || Instant::now() > deadline {
            return result;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The value of the unlabelled metric `name` in a Prometheus text exposition.
pub fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
}

/// Polls the /metrics of the collector at `base` (`http://host:port`) until `name` is at least
/// `at_least` (20 s at most, then panics) and returns it: a barrier on the collector's own
/// account of what it has done, before asserting what it has not.
pub async fn wait_for_metric(base: &str, name: &str, at_least: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = get(&format!("{base}/metrics")).await.1;
        let value = metric(&text, name);
        if value >= at_least {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "{name} stayed at {value} (< {at_least}) for 20 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Stops a collector binary the graceful way (SIGTERM: it writes everything it holds and drains
/// its queue before exiting) and asserts that it exits cleanly within 30 s.
pub fn stop_gracefully(child: &mut std::process::Child) {
    let pid = child.id().to_string();
    let signalled = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("run kill");
    assert!(signalled.success(), "kill -TERM {pid}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the collector did not exit within 30 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status}");
}

/// Plain HTTP/1.1 POST (hyper), returning status, headers and body.
pub async fn post(
    url: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, http::HeaderMap, Vec<u8>) {
    use http_body_util::BodyExt;
    let resp = send_post(url, headers, body).await.expect("POST");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    (status, headers, body)
}

/// POST that reports a failed connection as None instead of panicking (for fault tests).
pub async fn try_post(url: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Option<u16> {
    send_post(url, headers, body)
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

async fn send_post(
    url: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Result<http::Response<hyper::body::Incoming>, hyper_util::client::legacy::Error> {
    use http_body_util::Full;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<bytes::Bytes>>();
    let mut req = http::Request::post(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    client
        .request(req.body(Full::new(bytes::Bytes::from(body))).unwrap())
        .await
}

/// Starts the collector binary (`bin`: `env!("CARGO_BIN_EXE_spanlens-collector")`) on ephemeral
/// ports against `config`'s ClickHouse, database and spool, plus `extra` flags; returns the child
/// and its OTLP/HTTP base URL (from the ready line).
pub fn start_binary(bin: &str, config: &Config, extra: &[&str]) -> (ChildGuard, String) {
    use std::io::{BufRead, BufReader};
    let mut child = std::process::Command::new(bin)
        .args([
            "run",
            "--clickhouse-url",
            &config.clickhouse.url,
            "--database",
            &config.clickhouse.database,
        ])
        .args([
            "--grpc-listen",
            "127.0.0.1:0",
            "--http-listen",
            "127.0.0.1:0",
        ])
        .args([
            "--set",
            &format!("pipeline.spool_dir={}", config.pipeline.spool_dir),
        ])
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the collector binary");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut ready = String::new();
    stdout.read_line(&mut ready).unwrap();
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let http = ready
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no HTTP address in ready line {ready:?}"))
        .to_string();
    (ChildGuard(child), http)
}

/// A child process that is killed (and reaped) when dropped, so a failing test leaves no
/// server behind.
pub struct ChildGuard(pub std::process::Child);

impl std::ops::Deref for ChildGuard {
    type Target = std::process::Child;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for ChildGuard {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub async fn get(url: &str) -> (u16, String) {
    use http_body_util::{BodyExt, Empty};
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Empty<bytes::Bytes>>();
    let resp = client.get(url.parse().unwrap()).await.expect("GET");
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// The fake OpenAI server (tests/capture/tools/fake_openai.py) on a free port; its base URL.
pub fn fake_openai() -> (ChildGuard, String) {
    use std::io::{BufRead, BufReader};
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/capture/tools/fake_openai.py"
    );
    let mut child = std::process::Command::new(local::python())
        .args([script, "--port", &port.to_string()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the fake OpenAI server");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("listening"), "fake OpenAI: {line:?}");
    (ChildGuard(child), format!("http://127.0.0.1:{port}/v1"))
}

pub mod fixtures;
pub mod local;
pub mod otlp;

/// Runs `tests/python/<script>` with the test virtualenv's Python (`local::python`), `args` and
/// extra `env`; its stdout is JSON. Err(stderr) when it fails.
/// Blocking: from an async test, call it through `spawn_blocking` (the runtime serves the
/// collector the script talks to).
pub fn run_python(
    script: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> Result<serde_json::Value, String> {
    let script = format!("{}/../../tests/python/{script}", env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new(local::python())
        .arg(&script)
        .args(args)
        .envs(env.iter().copied())
        // requests lets these override an exporter's CA file; some machines set them.
        .env_remove("REQUESTS_CA_BUNDLE")
        .env_remove("CURL_CA_BUNDLE")
        .output()
        .expect("run python");
    if !out.status.success() {
        return Err(format!(
            "{script}: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(serde_json::from_slice(&out.stdout).expect("the script prints JSON"))
}

/// Asserts the stored rows of `otlp::agent_with_chat(trace)` exactly.
pub fn assert_agent_with_chat(rows: &[spanlens_collector::storage::row::SpanRow], trace: u8) {
    let trace_hex = hex::encode(otlp::trace_id(trace));
    let rows: Vec<_> = rows.iter().filter(|r| r.trace_id == trace_hex).collect();
    assert_eq!(rows.len(), 2, "two spans of trace {trace_hex}");
    let (agent, chat) = (rows[0], rows[1]);
    assert_eq!(agent.name, "invoke_agent helper");
    assert_eq!(agent.observation_type, "agent");
    assert_eq!(agent.parent_span_id, "");
    assert_eq!(agent.duration_ns, 2_000_000_000);
    assert_eq!(chat.span_id, hex::encode(otlp::span_id(2)));
    assert_eq!(chat.parent_span_id, agent.span_id);
    assert_eq!(chat.start_time, (otlp::T0 + 500_000_000) as i64);
    assert_eq!(chat.duration_ns, 1_250_000_000);
    assert_eq!(chat.kind, "Client");
    assert_eq!(chat.status_code, "Ok");
    assert_eq!(chat.observation_type, "llm");
    assert_eq!(chat.operation, "chat");
    assert_eq!(chat.provider, "openai");
    assert_eq!(chat.request_model, "gpt-4o-mini");
    assert_eq!(chat.response_model, "gpt-4o-mini-2024-07-18");
    assert_eq!(
        (chat.input_tokens, chat.output_tokens, chat.total_tokens),
        (Some(11), Some(7), None)
    );
    assert!(
        chat.input.contains("What is OTLP?"),
        "input: {}",
        chat.input
    );
    assert!(
        chat.output.contains("A protocol."),
        "output: {}",
        chat.output
    );
    assert_eq!(chat.finish_reasons, vec!["stop".to_string()]);
    assert_eq!(chat.service_name, "checkout-bot");
    assert_eq!(chat.environment, "staging");
    assert_eq!(chat.scope_name, "test-scope");
    assert_eq!(
        chat.span_attributes,
        vec![("http.route".to_string(), "/chat".to_string())]
    );
}
