//! How many spans reached ClickHouse, and when: `SELECT count() FROM spans` over the ClickHouse
//! HTTP interface, polled after the timed phase until the count reaches what was accepted or
//! stops growing.

use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

pub struct ClickHouseCounter {
    client: HttpClient<HttpConnector, Full<Bytes>>,
    uri: http::Uri,
    user: Option<String>,
    password: Option<String>,
    table: String,
}

pub struct StoredWait {
    /// Rows counted when the wait ended, minus the baseline.
    pub stored: u64,
    /// When the last counted row was first seen.
    pub last_row_seen: Option<Instant>,
}

impl ClickHouseCounter {
    pub fn new(
        url: &str,
        database: &str,
        table: &str,
        user: Option<String>,
        password: Option<String>,
    ) -> anyhow::Result<Self> {
        let base = url.trim_end_matches('/');
        let uri: http::Uri = format!("{base}/?database={database}")
            .parse()
            .with_context(|| format!("invalid ClickHouse URL {url}"))?;
        let client = HttpClient::builder(TokioExecutor::new()).build(HttpConnector::new());
        Ok(ClickHouseCounter {
            client,
            uri,
            user,
            password,
            table: table.to_string(),
        })
    }

    /// `SELECT count() FROM <table>`.
    pub async fn count(&self) -> anyhow::Result<u64> {
        let mut request = http::Request::post(self.uri.clone());
        if let Some(user) = &self.user {
            request = request.header("X-ClickHouse-User", user);
        }
        if let Some(password) = &self.password {
            request = request.header("X-ClickHouse-Key", password);
        }
        let sql = format!("SELECT count() FROM {} FORMAT TabSeparated", self.table);
        let request = request.body(Full::new(Bytes::from(sql)))?;
        let response = tokio::time::timeout(Duration::from_secs(30), self.client.request(request))
            .await
            .context("ClickHouse count query timed out")?
            .context("ClickHouse count query")?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        let text = String::from_utf8_lossy(&body);
        anyhow::ensure!(
            status.is_success(),
            "ClickHouse answered {status}: {}",
            text.trim()
        );
        text.trim()
            .parse::<u64>()
            .with_context(|| format!("unexpected count answer {:?}", text.trim()))
    }

    /// Polls until the count reaches `baseline + expected`, or has not grown for `settle`
    /// (counting from the end of sending while nothing has arrived yet), or `timeout` passes.
    pub async fn wait_for(
        &self,
        baseline: u64,
        expected: u64,
        settle: Duration,
        timeout: Duration,
    ) -> anyhow::Result<StoredWait> {
        let begin = Instant::now();
        let poll = Duration::from_millis(100);
        let mut last_count = baseline;
        let mut last_change = begin;
        let mut last_row_seen = None;
        loop {
            let n = self.count().await?;
            let now = Instant::now();
            if n != last_count {
                last_count = n;
                last_change = now;
                last_row_seen = Some(now);
            }
            let stored = last_count.saturating_sub(baseline);
            if stored >= expected || now - last_change >= settle || now - begin >= timeout {
                return Ok(StoredWait {
                    stored,
                    last_row_seen,
                });
            }
            tokio::time::sleep(poll).await;
        }
    }
}
