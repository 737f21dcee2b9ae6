//! Writes batches to ClickHouse in order, retrying retryable failures with exponential backoff.
//! Each batch gets one deduplication token for all its attempts, so a retry that follows an
//! insert which actually succeeded (e.g. a lost response) adds no second copy.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::sync::mpsc;

use super::batcher::Batch;
use crate::config::PipelineConfig;
use crate::metrics::Metrics;
use crate::storage::clickhouse::ClickHouse;
use crate::storage::row::Table;

pub(super) async fn run(
    config: PipelineConfig,
    clickhouse: ClickHouse,
    mut rx: mpsc::Receiver<Batch>,
    metrics: Arc<Metrics>,
) {
    // Tokens must not repeat across restarts: prefix with this process's start time.
    let epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos();
    let mut seq = 0u64;
    while let Some(batch) = rx.recv().await {
        seq += 1;
        let table = batch.table;
        let token = format!("spanlens-{epoch:x}-{}-{seq}", table.name());
        let body = Bytes::from(batch.bytes);
        let mut backoff = Duration::from_millis(config.retry_initial_backoff_ms);
        loop {
            let started = std::time::Instant::now();
            match clickhouse.insert_rowbinary(table.name(), table.columns(), body.clone(), &token).await {
                Ok(()) => {
                    metrics.observe_insert(started.elapsed());
                    let written = match table {
                        Table::Spans => &metrics.rows_written,
                        Table::Logs => &metrics.log_rows_written,
                    };
                    written.fetch_add(batch.rows as u64, Ordering::Relaxed);
                    metrics.batches_written.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(table = table.name(), rows = batch.rows, bytes = body.len(), took = ?started.elapsed(), "batch written");
                    break;
                }
                Err(e) if e.is_retryable() => {
                    metrics.insert_retries.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(table = table.name(), rows = batch.rows, error = %e, retry_in = ?backoff, "insert failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_millis(config.retry_max_backoff_ms));
                }
                Err(e) => {
                    metrics.rows_dropped.fetch_add(batch.rows as u64, Ordering::Relaxed);
                    tracing::error!(table = table.name(), rows = batch.rows, error = %e, "insert rejected permanently; batch dropped");
                    break;
                }
            }
        }
    }
}
