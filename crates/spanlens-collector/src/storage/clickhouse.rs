//! The ClickHouse client: connection settings, pre-encoded RowBinary inserts with a
//! deduplication token, and the typed classification of failures (retry or not).

use std::time::Duration;

use bytes::Bytes;
use clickhouse::{Client, Compression};

use crate::config::{ClickHouseConfig, DistributedInsert, Topology};

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// ClickHouse answered with an exception (`Code: N. DB::Exception: ...`).
    #[error("ClickHouse error {code}: {message}")]
    Server { code: u32, message: String },
    /// Transport trouble, timeouts, anything without a server error code.
    #[error("ClickHouse unreachable: {0}")]
    Unavailable(String),
}

impl StorageError {
    pub(crate) fn from_client(err: clickhouse::error::Error) -> StorageError {
        let text = err.to_string();
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
    pub fn is_retryable(&self) -> bool {
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
    pub fn new(config: &ClickHouseConfig) -> ClickHouse {
        let client = server_client(config).with_database(&config.database);
        ClickHouse {
            client: match distributed_insert_setting(config) {
                Some(sync) => client.with_setting("insert_distributed_sync", sync),
                None => client,
            },
            insert_timeout: Duration::from_millis(config.insert_timeout_ms),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Cheap liveness check for /readyz.
    pub async fn ping(&self) -> Result<(), StorageError> {
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

/// A client for the server without a database selected (to create it).
pub fn server_client(config: &ClickHouseConfig) -> Client {
    let client = Client::default()
        .with_url(&config.url)
        .with_user(&config.user)
        .with_password(&config.password);
    if config.compression {
        client.with_compression(Compression::Lz4)
    } else {
        client.with_compression(Compression::None)
    }
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
