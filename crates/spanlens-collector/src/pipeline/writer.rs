//! The one writer: takes the batcher's batches in turn, records each as pending in the log,
//! prepares its insert body once (compressed, when `clickhouse.compression` is on), inserts it
//! with its deduplication token (retrying retryable failures with exponential backoff: every
//! attempt the same bytes and token, so a retry neither compresses again nor, after an insert
//! that did succeed, adds a second copy), and records it written. A batch ClickHouse rejects
//! for good (bad data, never an outage) is set aside as plain RowBinary in
//! `spool_dir/rejected/` (without a spool: logged and dropped) and counted in
//! `spanlens_rows_dropped_total`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;

use super::batcher::{Batcher, InsertBatch};
use super::log::IngestLog;
use super::spool::Manifest;
use crate::config::PipelineConfig;
use crate::metrics::Metrics;
use crate::storage::clickhouse::{ClickHouse, InsertBody, StorageError};

/// How one batch's insert ended.
enum Outcome {
    Written,
    /// ClickHouse refused the data itself; retrying cannot help.
    Rejected(StorageError),
    /// Shutdown was requested while ClickHouse kept failing; left in the spool.
    Abandoned,
}

pub(super) struct BatchWriter {
    pub config: PipelineConfig,
    pub clickhouse: ClickHouse,
    pub metrics: Arc<Metrics>,
    pub log: Arc<IngestLog>,
    pub stop: watch::Receiver<bool>,
    /// Where rejected batches are set aside (None without a spool).
    pub rejected_dir: Option<PathBuf>,
}

impl BatchWriter {
    /// Writes every batch `batcher` hands out until it has none left after stop.
    pub async fn run(self, mut batcher: Batcher) {
        let prefix = self.log.token_prefix();
        while let Some(mut batch) = batcher.next_batch().await {
            if !self
                .record("record the pending batch", &batcher.pending(&batch))
                .await
            {
                return;
            }
            let rowbinary = Bytes::from(std::mem::take(&mut batch.body));
            // Compressed here, once; the RowBinary is kept (uncompressed, no copy) in case the
            // batch is rejected and set aside, where it must stay readable as it is.
            let body = self.clickhouse.insert_body(rowbinary.clone());
            let token = batch.dedup_token(&prefix);
            match self.insert(&batch, &body, &token).await {
                Outcome::Written => {}
                Outcome::Rejected(e) => self.set_aside(&batch, &rowbinary, &e),
                Outcome::Abandoned => return,
            }
            if !self.record("commit", &batcher.written(&batch)).await {
                return;
            }
        }
    }

    /// Inserts one batch, retrying retryable failures with exponential backoff until it is
    /// written or permanently rejected. With a spool, shutdown requested during an outage
    /// abandons it (the next start writes it); in memory it is retried until written.
    async fn insert(&self, batch: &InsertBatch, body: &InsertBody, token: &str) -> Outcome {
        let (table, rows) = (batch.table, batch.rows);
        let mut backoff = Duration::from_millis(self.config.retry_initial_backoff_ms);
        let max_backoff = Duration::from_millis(self.config.retry_max_backoff_ms);
        loop {
            let started = std::time::Instant::now();
            let insert =
                self.clickhouse
                    .insert_rowbinary(table.name(), table.columns(), body, token);
            match insert.await {
                Ok(()) => {
                    let took = started.elapsed();
                    self.metrics.batch_written(table, rows as u64, took);
                    tracing::debug!(
                        table = table.name(),
                        rows,
                        bytes = body.wire_len(),
                        ?took,
                        "batch written"
                    );
                    return Outcome::Written;
                }
                Err(e) if e.is_retryable() => {
                    self.metrics.insert_retried();
                    if *self.stop.borrow() && self.log.is_durable() {
                        tracing::warn!(table = table.name(), rows, error = %e, "insert failed during shutdown; left for the next start");
                        return Outcome::Abandoned;
                    }
                    tracing::warn!(table = table.name(), rows, error = %e, retry_in = ?backoff, "insert failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(max_backoff);
                }
                Err(e) => {
                    self.metrics.batch_rejected(rows as u64);
                    return Outcome::Rejected(e);
                }
            }
        }
    }

    /// Keeps a batch ClickHouse rejected for good in `rejected_dir`, named by table and seqs.
    fn set_aside(&self, batch: &InsertBatch, body: &[u8], error: &StorageError) {
        let (table, rows) = (batch.table.name(), batch.rows);
        let Some(dir) = &self.rejected_dir else {
            tracing::error!(table, rows, %error, "insert rejected permanently; batch dropped");
            return;
        };
        let path = dir.join(format!("{table}-{}-{}.rowbinary", batch.first, batch.last));
        let saved = std::fs::create_dir_all(dir).and_then(|_| std::fs::write(&path, body));
        tracing::error!(table, rows, %error, saved_to = %path.display(), saved = saved.is_ok(), "insert rejected permanently; batch set aside");
    }

    /// Records `manifest` in the log, retrying while the disk fails (full: commits are what
    /// free it); false only when shutdown is requested first, leaving the batch to the next
    /// start.
    async fn record(&self, what: &str, manifest: &Manifest) -> bool {
        loop {
            match self.log.record(manifest) {
                Ok(()) => return true,
                Err(e) if *self.stop.borrow() => {
                    tracing::warn!(error = %e, "spool: cannot {what} during shutdown; left for the next start");
                    return false;
                }
                Err(e) => {
                    tracing::error!(error = %e, "spool: cannot {what}; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }
}
