//! Writes batches to ClickHouse in order, retrying retryable failures with exponential backoff.
//! Each batch gets one deduplication token for all its attempts, so a retry that follows an
//! insert which actually succeeded (e.g. a lost response) adds no second copy.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::sync::{mpsc, watch};

use super::batcher::Batch;
use crate::config::PipelineConfig;
use crate::metrics::Metrics;
use crate::storage::clickhouse::{ClickHouse, StorageError};
use crate::storage::row::Table;

/// How one batch's insert ended.
pub(super) enum Outcome {
    Written,
    /// ClickHouse refused the data itself; retrying cannot help.
    Rejected(StorageError),
    /// Shutdown was requested while ClickHouse kept failing; the batch was not written.
    Abandoned,
}

/// What inserting a batch needs: retry policy, the client, and where to count.
pub(super) struct Inserter<'a> {
    pub config: &'a PipelineConfig,
    pub clickhouse: &'a ClickHouse,
    pub metrics: &'a Metrics,
}

impl Inserter<'_> {
    /// Inserts one batch, retrying retryable failures with exponential backoff until it is
    /// written, permanently rejected, or (`stop` set) shutdown is requested during an outage.
    pub(super) async fn insert(
        &self,
        table: Table,
        rows: usize,
        body: Bytes,
        token: &str,
        stop: Option<&watch::Receiver<bool>>,
    ) -> Outcome {
        let Inserter {
            config,
            clickhouse,
            metrics,
        } = self;
        let mut backoff = Duration::from_millis(config.retry_initial_backoff_ms);
        loop {
            let started = std::time::Instant::now();
            match clickhouse
                .insert_rowbinary(table.name(), table.columns(), body.clone(), token)
                .await
            {
                Ok(()) => {
                    metrics.observe_insert(started.elapsed());
                    metrics.rows_written(table, rows as u64);
                    metrics.batches_written.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(table = table.name(), rows, bytes = body.len(), took = ?started.elapsed(), "batch written");
                    return Outcome::Written;
                }
                Err(e) if e.is_retryable() => {
                    metrics.insert_retries.fetch_add(1, Ordering::Relaxed);
                    if stop.is_some_and(|s| *s.borrow()) {
                        tracing::warn!(table = table.name(), rows, error = %e, "insert failed during shutdown; left for the next start");
                        return Outcome::Abandoned;
                    }
                    tracing::warn!(table = table.name(), rows, error = %e, retry_in = ?backoff, "insert failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_millis(config.retry_max_backoff_ms));
                }
                Err(e) => {
                    metrics
                        .rows_dropped
                        .fetch_add(rows as u64, Ordering::Relaxed);
                    return Outcome::Rejected(e);
                }
            }
        }
    }
}

/// The in-memory writer (no spool): batches from the batcher, in order.
pub(super) async fn run(
    config: PipelineConfig,
    clickhouse: ClickHouse,
    mut rx: mpsc::Receiver<Batch>,
    metrics: Arc<Metrics>,
) {
    // Tokens must not repeat across restarts: prefix with this process's start time.
    let epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let mut seq = 0u64;
    while let Some(batch) = rx.recv().await {
        seq += 1;
        let table = batch.table;
        let token = format!("spanlens-{epoch:x}-{}-{seq}", table.name());
        let body = Bytes::from(batch.bytes);
        let inserter = Inserter {
            config: &config,
            clickhouse: &clickhouse,
            metrics: &metrics,
        };
        if let Outcome::Rejected(e) = inserter.insert(table, batch.rows, body, &token, None).await {
            tracing::error!(table = table.name(), rows = batch.rows, error = %e, "insert rejected permanently; batch dropped");
        }
    }
}
