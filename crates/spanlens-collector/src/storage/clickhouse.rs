//! The ClickHouse client: connection settings, pre-encoded RowBinary inserts with a
//! deduplication token, and the typed classification of failures (retry or not).

use std::time::Duration;

use bytes::Bytes;
use clickhouse::{Client, Compression};

use hyper_rustls::HttpsConnectorBuilder;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::config::{ClickHouseConfig, DistributedInsert, Topology};
use crate::tls::{self, TlsError};

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// ClickHouse answered with an exception (`Code: N. DB::Exception: ...`).
    #[error("ClickHouse error {code}: {message}")]
    Server { code: u32, message: String },
    /// Transport trouble, timeouts, anything without a server error code.
    #[error("ClickHouse unreachable: {0}")]
    Unavailable(String),
}

/// An error with its causes (`a: b: c`): the client's own message often hides the reason, such
/// as a certificate the server's TLS presented but nobody trusts.
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

impl StorageError {
    pub(crate) fn from_client(err: clickhouse::error::Error) -> StorageError {
        let text = error_chain(&err);
        match parse_exception_code(&text) {
            Some(code) => StorageError::Server {
                code,
                message: text,
            },
            None => StorageError::Unavailable(text),
        }
    }

    /// Whether re-sending the same batch later can succeed. Errors about the data itself or the
    /// schema (parse errors, type mismatches, unknown columns) will fail the same way forever.
    pub(crate) fn is_retryable(&self) -> bool {
        match self {
            StorageError::Unavailable(_) => true,
            StorageError::Server { code, .. } => !matches!(
                code,
                6 | 16
                    | 26
                    | 27
                    | 32
                    | 33
                    | 38
                    | 41
                    | 53
                    | 62
                    | 69
                    | 70
                    | 72
                    | 117
                    | 130
                    | 131
                    | 349
            ),
        }
    }
}

/// Extracts N from a `Code: N. DB::Exception` message.
fn parse_exception_code(text: &str) -> Option<u32> {
    let start = text.find("Code: ")? + "Code: ".len();
    let digits: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok()
}

/// A ClickHouse connection bound to the Spanlens database.
#[derive(Clone)]
pub struct ClickHouse {
    client: Client,
    insert_timeout: Duration,
}

/// `insert_distributed_sync` for inserts into Distributed tables (sharded topology only; see
/// `ClickHouseConfig::distributed_insert`): foreground inserts reach the shards before the
/// reply, so the batch's deduplication token protects a retry.
fn distributed_insert_setting(config: &ClickHouseConfig) -> Option<&'static str> {
    match (config.topology, config.distributed_insert) {
        (Topology::Sharded, DistributedInsert::Foreground) => Some("1"),
        (Topology::Sharded, DistributedInsert::Background) => Some("0"),
        _ => None,
    }
}

impl ClickHouse {
    pub fn new(config: &ClickHouseConfig) -> Result<ClickHouse, TlsError> {
        let client = server_client(config)?.with_database(&config.database);
        Ok(ClickHouse {
            client: match distributed_insert_setting(config) {
                Some(sync) => client.with_setting("insert_distributed_sync", sync),
                None => client,
            },
            insert_timeout: Duration::from_millis(config.insert_timeout_ms),
        })
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Cheap liveness check for /readyz.
    pub(crate) async fn ping(&self) -> Result<(), StorageError> {
        self.client
            .query("SELECT 1")
            .fetch_one::<u8>()
            .await
            .map(|_| ())
            .map_err(StorageError::from_client)
    }

    /// Inserts an already RowBinary-encoded batch. The same `dedup_token` on a re-sent batch
    /// makes ClickHouse drop the second copy (insert deduplication), so retries never duplicate.
    pub async fn insert_rowbinary(
        &self,
        table: &str,
        columns: &[&str],
        body: Bytes,
        dedup_token: &str,
    ) -> Result<(), StorageError> {
        let sql = format!(
            "INSERT INTO {table} ({}) FORMAT RowBinary",
            columns.join(", ")
        );
        let mut insert = self
            .client
            .insert_formatted_with(sql)
            .with_setting("insert_deduplication_token", dedup_token)
            // Spans from skewed clocks or replays may touch many daily partitions in one batch;
            // that is fine and must not fail the insert.
            .with_setting("throw_on_max_partitions_per_insert_block", "0")
            .with_timeouts(Some(self.insert_timeout), Some(self.insert_timeout));
        insert.send(body).await.map_err(StorageError::from_client)?;
        insert.end().await.map_err(StorageError::from_client)
    }
}

/// A client for the server without a database selected (to create it). https URLs are verified
/// against `clickhouse.tls_ca_file` when set, else the bundled Mozilla roots.
pub fn server_client(config: &ClickHouseConfig) -> Result<Client, TlsError> {
    let mut http = HttpConnector::new();
    http.set_keepalive(Some(Duration::from_secs(60)));
    http.enforce_http(false);
    let connector = HttpsConnectorBuilder::new()
        .with_tls_config(tls::client_config(&config.tls_ca_file)?)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    // ClickHouse closes idle keep-alive connections after 3 s: retire ours sooner.
    let http_client = HyperClient::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(2))
        .build(connector);
    let client = Client::with_http_client(http_client)
        .with_url(&config.url)
        .with_user(&config.user)
        .with_password(&config.password);
    Ok(if config.compression {
        client.with_compression(Compression::Lz4)
    } else {
        client.with_compression(Compression::None)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distributed_insert_mode_only_for_sharded() {
        let config = |topology, distributed_insert| ClickHouseConfig {
            topology,
            distributed_insert,
            ..ClickHouseConfig::default()
        };
        let (fg, bg) = (DistributedInsert::Foreground, DistributedInsert::Background);
        let cases = [
            (Topology::Single, bg, None),
            (Topology::Replicated, bg, None),
            (Topology::Sharded, fg, Some("1")),
            (Topology::Sharded, bg, Some("0")),
        ];
        for (topology, mode, expected) in cases {
            assert_eq!(
                distributed_insert_setting(&config(topology, mode)),
                expected
            );
        }
    }

    #[test]
    fn classifies_server_codes() {
        assert_eq!(
            parse_exception_code("bad response: Code: 60. DB::Exception: x"),
            Some(60)
        );
        let parse = StorageError::Server {
            code: 27,
            message: String::new(),
        };
        assert!(!parse.is_retryable());
        let memory = StorageError::Server {
            code: 241,
            message: String::new(),
        };
        assert!(memory.is_retryable());
        assert!(StorageError::Unavailable("refused".into()).is_retryable());
    }
}
