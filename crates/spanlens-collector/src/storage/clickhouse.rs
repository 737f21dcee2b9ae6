//! The ClickHouse client: connection settings, pre-encoded RowBinary inserts with a
//! deduplication token, and the typed classification of failures (retry or not).
//!
//! Insert bodies are compressed once per batch, before the first attempt ([`InsertBody`]): with
//! `clickhouse.compression` a body is one LZ4 frame sent with the HTTP header
//! `Content-Encoding: lz4`, which ClickHouse's HTTP interface decodes before parsing; a retry
//! re-sends the same bytes. The clickhouse crate's own insert compression (`decompress=1`, its
//! checksummed blocks) would compress the body again on every attempt, so the insert client
//! sends bodies as given (`Compression::None`). Queries keep the crate's LZ4 responses.

use std::io::Write;
use std::time::Duration;

use bytes::Bytes;
use clickhouse::{Client, Compression};
use lz4_flex::frame::{FrameEncoder, FrameInfo};

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
    /// Queries (responses LZ4-compressed when `clickhouse.compression` is on).
    client: Client,
    /// Inserts: sends an [`InsertBody`] as it is, labelled `Content-Encoding: lz4` when
    /// `compress_inserts`.
    insert_client: Client,
    compress_inserts: bool,
    insert_timeout: Duration,
}

/// One batch's insert body, made once by [`ClickHouse::insert_body`] before the first attempt:
/// RowBinary, as one LZ4 frame when `clickhouse.compression` is on. Every attempt sends these
/// same bytes (a `Bytes` clone, no copy), so a retry never compresses again; only
/// `insert_body` makes one, so an insert cannot be handed uncompressed bytes by mistake.
pub struct InsertBody(Bytes);

impl InsertBody {
    /// Bytes sent to ClickHouse (compressed when compression is on).
    pub fn wire_len(&self) -> usize {
        self.0.len()
    }
}

/// The HTTP content coding of compressed insert bodies: the LZ4 frame format, which ClickHouse
/// decodes (LZ4F) for `Content-Encoding: lz4`.
const INSERT_CONTENT_ENCODING: &str = "lz4";

/// `rowbinary` as one LZ4 frame, with its content checksum (xxHash32) so that ClickHouse checks
/// the decoded body as it checked the crate's checksummed blocks. Written in one call, so the
/// encoder sizes its blocks to the batch (64 KiB up to 4 MiB, the largest the format allows):
/// a 16 MiB batch of bench spans compresses to within 0.3% of what one LZ4 block would give.
fn lz4_frame(rowbinary: &[u8]) -> Bytes {
    let info = FrameInfo::new().content_checksum(true);
    // Span rows compress about 6:1; a quarter of the input rarely needs to grow.
    let mut encoder = FrameEncoder::with_frame_info(info, Vec::with_capacity(rowbinary.len() / 4));
    encoder
        .write_all(rowbinary)
        .expect("writing to a Vec cannot fail");
    Bytes::from(encoder.finish().expect("writing to a Vec cannot fail"))
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
        let client = match distributed_insert_setting(config) {
            Some(sync) => client.with_setting("insert_distributed_sync", sync),
            None => client,
        };
        let insert_client = client.clone().with_compression(Compression::None);
        Ok(ClickHouse {
            insert_client: if config.compression {
                insert_client.with_header("Content-Encoding", INSERT_CONTENT_ENCODING)
            } else {
                insert_client
            },
            client,
            compress_inserts: config.compression,
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

    /// The insert body of a RowBinary batch: compressed now (once) when compression is on, else
    /// the same buffer.
    pub fn insert_body(&self, rowbinary: Bytes) -> InsertBody {
        if self.compress_inserts {
            InsertBody(lz4_frame(&rowbinary))
        } else {
            InsertBody(rowbinary)
        }
    }

    /// Inserts a RowBinary batch prepared by [`ClickHouse::insert_body`]. The same `dedup_token`
    /// on a re-sent batch makes ClickHouse drop the second copy (insert deduplication), so
    /// retries never duplicate.
    pub async fn insert_rowbinary(
        &self,
        table: &str,
        columns: &[&str],
        body: &InsertBody,
        dedup_token: &str,
    ) -> Result<(), StorageError> {
        let sql = format!(
            "INSERT INTO {table} ({}) FORMAT RowBinary",
            columns.join(", ")
        );
        let mut insert = self
            .insert_client
            .insert_formatted_with(sql)
            .with_setting("insert_deduplication_token", dedup_token)
            // Spans from skewed clocks or replays may touch many daily partitions in one batch;
            // that is fine and must not fail the insert.
            .with_setting("throw_on_max_partitions_per_insert_block", "0")
            .with_timeouts(Some(self.insert_timeout), Some(self.insert_timeout));
        // Compression::None: `send` passes the bytes through untouched.
        insert
            .send(body.0.clone())
            .await
            .map_err(StorageError::from_client)?;
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

    /// Rows as the pipeline encodes them, with the repetition real spans have.
    fn rowbinary(rows: usize) -> Bytes {
        let mut body = Vec::new();
        for i in 0..rows {
            let row = crate::storage::row::SpanRow {
                span_id: format!("{i:016x}"),
                name: "chat gpt-4o-mini".into(),
                input: format!(r#"[{{"role":"user","content":"question {i}: how do I ..."}}]"#),
                ..Default::default()
            };
            crate::storage::rowbinary::encode_row(&mut body, &row).unwrap();
        }
        Bytes::from(body)
    }

    fn clickhouse(compression: bool) -> ClickHouse {
        ClickHouse::new(&ClickHouseConfig {
            compression,
            ..ClickHouseConfig::default()
        })
        .unwrap()
    }

    #[test]
    fn a_compressed_insert_body_is_one_lz4_frame_of_the_rowbinary() {
        // Past 4 MiB: a frame of several blocks.
        let rowbinary = rowbinary(40_000);
        assert!(rowbinary.len() > 4 << 20, "{} bytes", rowbinary.len());
        let body = clickhouse(true).insert_body(rowbinary.clone());
        // The LZ4 frame magic number (little-endian 0x184D2204).
        assert_eq!(body.0[..4], [0x04, 0x22, 0x4d, 0x18]);
        assert!(
            body.wire_len() * 4 < rowbinary.len(),
            "{} bytes",
            body.wire_len()
        );
        let mut decoded = Vec::new();
        std::io::Read::read_to_end(
            &mut lz4_flex::frame::FrameDecoder::new(&body.0[..]),
            &mut decoded,
        )
        .unwrap();
        assert_eq!(decoded, rowbinary);
    }

    #[test]
    fn an_uncompressed_insert_body_is_the_rowbinary_itself() {
        let rowbinary = rowbinary(10);
        let body = clickhouse(false).insert_body(rowbinary.clone());
        assert_eq!(body.0, rowbinary);
        assert_eq!(body.0.as_ptr(), rowbinary.as_ptr(), "not copied");
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
