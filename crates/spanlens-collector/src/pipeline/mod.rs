//! The pipeline between receivers and ClickHouse. Rows are encoded to RowBinary once (credentials
//! stripped, [`redact`]), on the receiver's task, and every chunk knows its table.
//!
//! With `pipeline.spool_dir` set (the default): chunk → the on-disk [`spool`] (appended, fsynced
//! in `durable` ack mode, before the reply) → `spool_writer` (reads back in order, batches
//! consecutive records of a table by rows / bytes / age, one deduplication token per batch
//! from its seqs, retries with backoff). Without a spool: a bounded in-memory queue (budget in
//! bytes) → `batcher` → `writer`; a crash loses what it held.
//!
//! In front of it, stages that hold acknowledged rows for a while: [`content_join`] (GenAI
//! content log records → their span rows) and [`langfuse_merge`] (Langfuse create / update
//! events → one row), each with a log of its own so a crash loses nothing they hold.

mod batcher;
pub mod content_join;
mod hold_log;
pub mod langfuse_merge;
pub mod redact;
pub mod response_index;
pub mod spool;
mod spool_writer;
mod writer;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::task::JoinHandle;

use crate::config::{AckMode, PipelineConfig};
use crate::metrics::Metrics;
use crate::storage::clickhouse::ClickHouse;
use crate::storage::row::{Table, TableRow};
use crate::storage::rowbinary::{EncodeError, encode_row};
use redact::Redact;
use spool::{Spool, SpoolError};

/// Rows encoded for one table, holding their share of the queue budget until written.
pub struct EncodedChunk {
    pub table: Table,
    pub rows: usize,
    pub bytes: Vec<u8>,
    permit: Option<OwnedSemaphorePermit>,
}

impl EncodedChunk {
    /// Encodes rows, stripped of credentials (see [`redact`]): every row the pipeline
    /// stores passes here.
    pub fn encode<R: TableRow + Redact>(rows: &[R]) -> Result<EncodedChunk, EncodeError> {
        let mut bytes = Vec::with_capacity(rows.len() * 1024);
        let mut lowered = Vec::new();
        for row in rows {
            let start = bytes.len();
            encode_row(&mut bytes, row)?;
            if redact::may_hold_credentials(&bytes[start..], &mut lowered)
                && let Some(clean) = row.redacted()
            {
                bytes.truncate(start);
                encode_row(&mut bytes, &clean)?;
            }
        }
        Ok(EncodedChunk {
            table: R::TABLE,
            rows: rows.len(),
            bytes,
            permit: None,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("queue full: {queued_bytes} bytes of {max_bytes} in use; retry later")]
    QueueFull {
        queued_bytes: usize,
        max_bytes: usize,
    },
    #[error("batch of {0} bytes exceeds the queue budget")]
    TooLarge(usize),
    #[error("collector is shutting down")]
    ShuttingDown,
    /// The spool is full or failing: the client should retry later (503 / UNAVAILABLE).
    #[error(transparent)]
    Spool(#[from] SpoolError),
}

/// The spool side of a pipeline, when `pipeline.spool_dir` is set.
struct SpoolHandle {
    spool: Arc<Spool>,
    appended: Arc<Notify>,
    durable: bool,
}

impl SpoolHandle {
    /// Appends a chunk and wakes the spool writer; returns its seq.
    fn append(&self, chunk: &EncodedChunk) -> Result<u64, SpoolError> {
        let seq = self
            .spool
            .append(chunk.table.code(), chunk.rows as u32, &chunk.bytes)?;
        self.appended.notify_one();
        Ok(seq)
    }
}

/// Handle the receivers submit to. Cheap to clone.
#[derive(Clone)]
pub struct Pipeline {
    tx: mpsc::UnboundedSender<EncodedChunk>,
    budget: Arc<Semaphore>,
    max_bytes: usize,
    spool: Option<Arc<SpoolHandle>>,
    pub metrics: Arc<Metrics>,
}

/// Running pipeline tasks; `shutdown` drains everything queued into ClickHouse.
pub struct PipelineTasks {
    tasks: Vec<JoinHandle<()>>,
    stop: watch::Sender<bool>,
}

impl Pipeline {
    /// Starts the pipeline: with `spool_dir` set, receivers append to the spool and the spool
    /// writer feeds ClickHouse; without, an in-memory queue feeds the batcher and writer.
    pub fn start(
        config: &PipelineConfig,
        clickhouse: ClickHouse,
        metrics: Arc<Metrics>,
    ) -> Result<(Pipeline, PipelineTasks), SpoolError> {
        // The channel itself is unbounded; the semaphore (bytes) is the bound, acquired before
        // a chunk enters and released only when its batch is written.
        let (tx, rx) = mpsc::unbounded_channel();
        let (stop, stopped) = watch::channel(false);
        let mut tasks = Vec::new();
        let spool = if config.spool_dir.is_empty() {
            let (batch_tx, batch_rx) = mpsc::channel(1);
            tasks.push(tokio::spawn(batcher::run(config.clone(), rx, batch_tx)));
            tasks.push(tokio::spawn(writer::run(
                config.clone(),
                clickhouse,
                batch_rx,
                metrics.clone(),
            )));
            None
        } else {
            drop(rx);
            let dir = Path::new(&config.spool_dir);
            let (spool, manifest) =
                Spool::open(dir, config.spool_max_bytes, config.spool_segment_bytes)?;
            let handle = Arc::new(SpoolHandle {
                spool: Arc::new(spool),
                appended: Arc::new(Notify::new()),
                durable: config.ack == AckMode::Durable,
            });
            let writer = spool_writer::SpoolWriter {
                config: config.clone(),
                clickhouse,
                metrics: metrics.clone(),
                spool: handle.spool.clone(),
                manifest,
                appended: handle.appended.clone(),
                stop: stopped,
                rejected_dir: dir.join("rejected"),
            };
            tasks.push(tokio::spawn(writer.run()));
            Some(handle)
        };
        let pipeline = Pipeline {
            tx,
            budget: Arc::new(Semaphore::new(config.queue_max_bytes)),
            max_bytes: config.queue_max_bytes,
            spool,
            metrics,
        };
        Ok((pipeline, PipelineTasks { tasks, stop }))
    }

    /// Enqueues a chunk or says why not, without waiting: a full queue (HTTP 429 / gRPC
    /// RESOURCE_EXHAUSTED) or spool (503 / UNAVAILABLE) is the client's signal to back off,
    /// never a reason to grow.
    pub fn try_submit(&self, mut chunk: EncodedChunk) -> Result<(), SubmitError> {
        if chunk.rows == 0 {
            return Ok(());
        }
        if let Some(spool) = &self.spool {
            // Durable ack: the caller runs off the async workers, so the fsync may block here.
            let seq = spool.append(&chunk)?;
            if spool.durable {
                spool.spool.sync_through(seq)?;
            }
            return Ok(());
        }
        let size = self.memory_size(&chunk)?;
        let permit = self
            .budget
            .clone()
            .try_acquire_many_owned(size)
            .map_err(|_| SubmitError::QueueFull {
                queued_bytes: self.max_bytes - self.budget.available_permits(),
                max_bytes: self.max_bytes,
            })?;
        chunk.permit = Some(permit);
        self.tx.send(chunk).map_err(|_| SubmitError::ShuttingDown)
    }

    /// The queue budget a chunk takes, or why it can never fit.
    fn memory_size(&self, chunk: &EncodedChunk) -> Result<u32, SubmitError> {
        let size = chunk.bytes.len().max(1);
        if size > self.max_bytes {
            return Err(SubmitError::TooLarge(size));
        }
        Ok(size as u32)
    }

    /// Enqueues a chunk, waiting for queue budget (or spool room). For rows already accepted
    /// (answered 200) that the collector held back — spans released by the content join,
    /// merged Langfuse events: they must not be dropped and there is no client left to tell
    /// "retry". In `durable` ack mode it returns once the chunk is fsynced, because the caller
    /// then forgets its own copy. Fails only on a chunk larger than the whole budget or when
    /// the pipeline is gone.
    pub async fn submit_waiting(&self, mut chunk: EncodedChunk) -> Result<(), SubmitError> {
        if chunk.rows == 0 {
            return Ok(());
        }
        if let Some(spool) = &self.spool {
            loop {
                match spool.append(&chunk) {
                    Ok(seq) if spool.durable => {
                        let handle = spool.clone();
                        return tokio::task::spawn_blocking(move || handle.spool.sync_through(seq))
                            .await
                            .map_err(|_| SubmitError::ShuttingDown)?
                            .map_err(SubmitError::from);
                    }
                    Ok(_) => return Ok(()),
                    // Full or failing (disk full): wait until the writer frees space.
                    Err(e @ (SpoolError::Full { .. } | SpoolError::Io { .. })) => {
                        tracing::debug!(error = %e, "held rows wait for the spool");
                        tokio::time::sleep(Duration::from_millis(100)).await
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        let size = self.memory_size(&chunk)?;
        let permit = self
            .budget
            .clone()
            .acquire_many_owned(size)
            .await
            .map_err(|_| SubmitError::ShuttingDown)?;
        chunk.permit = Some(permit);
        self.tx.send(chunk).map_err(|_| SubmitError::ShuttingDown)
    }

    /// Bytes currently held by queued or in-flight rows.
    pub fn queued_bytes(&self) -> usize {
        self.max_bytes - self.budget.available_permits()
    }

    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// Spool bytes on disk (0 without a spool).
    pub fn spool_bytes(&self) -> u64 {
        self.spool.as_ref().map_or(0, |s| s.spool.bytes_on_disk())
    }

    /// The spool's damage and error counters (None without a spool).
    pub fn spool_stats(&self) -> Option<&spool::SpoolStats> {
        self.spool.as_ref().map(|s| &s.spool.stats)
    }

    /// Whether the spool can take writes (after a failed write, a probe write decides).
    pub fn check_spool(&self) -> Result<(), SpoolError> {
        self.spool
            .as_ref()
            .map_or(Ok(()), |s| s.spool.check_writable())
    }
}

impl PipelineTasks {
    /// Waits until every chunk submitted before all `Pipeline` handles were dropped is written.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}
