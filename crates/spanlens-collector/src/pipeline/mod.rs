//! The pipeline between receivers and ClickHouse, one way for every row (spans, log records,
//! metric points, scores, Langfuse events):
//!
//! 1. **Encode once.** A receiver encodes its rows to RowBinary ([`EncodedChunk`], credentials
//!    stripped by `redact`) on its own task; every chunk knows its table.
//! 2. **Log.** [`Pipeline::try_submit`] appends the chunk to the log as one record with the
//!    next seq (`log`): the on-disk [`spool`] when `pipeline.spool_dir` is set (in `durable`
//!    ack mode the reply waits until the spool's sync thread has fsynced it, one fsync for all
//!    requests waiting; in `fast` it is written to the OS only), else a memory log with the
//!    same records, seqs and commits, which a crash loses. A full log answers "retry later":
//!    the spool (`spool_max_bytes` reached, disk full, an I/O error) with [`SubmitError::Spool`]
//!    → HTTP 503 / gRPC UNAVAILABLE, the memory log (`queue_max_bytes` reached) with
//!    [`SubmitError::QueueFull`] → 429 / RESOURCE_EXHAUSTED. Nothing grows without bound.
//! 3. **Batch.** The `batcher` reads the log in seq order into one open batch per table
//!    (rows / bytes / age), so interleaved spans and log records still make large inserts.
//! 4. **Write.** The `writer` compresses each batch once (LZ4, when `clickhouse.compression` is
//!    on), inserts it with a deduplication token derived from its table and seqs, retries with
//!    backoff (the same bytes), sets aside what ClickHouse rejects for good, and commits the
//!    log, so a restart (even after `kill -9`) re-sends exactly what was not yet stored and
//!    ClickHouse keeps one copy of a re-sent batch.
//!
//! A bad record in the spool (damaged bytes) is skipped to the next valid record, its bytes set
//! aside in `spool_dir/damaged/` and counted; the reader never stalls on it (see [`spool`]).
//!
//! In front of the log, stages that hold acknowledged rows for a while: `content_join` (GenAI
//! content log records → their span rows) and `langfuse_merge` (Langfuse create / update
//! events → one row), each with a log of its own (`hold_log`) so a crash loses nothing they
//! hold; they hand their rows on with [`Pipeline::submit_waiting`].

mod batcher;
pub(crate) mod content_join;
mod hold_log;
pub(crate) mod langfuse_merge;
mod log;
pub(crate) mod redact;
pub(crate) mod response_index;
pub mod spool;
mod writer;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::config::{AckMode, PipelineConfig};
use crate::metrics::Metrics;
use crate::storage::clickhouse::ClickHouse;
use crate::storage::row::{Table, TableRow};
use crate::storage::rowbinary::{EncodeError, encode_row};
use batcher::Batcher;
use log::IngestLog;
use redact::Redact;
use spool::SpoolError;
use writer::BatchWriter;

/// Rows encoded for one table: one record of the log.
pub(crate) struct EncodedChunk {
    pub table: Table,
    pub rows: usize,
    pub bytes: Vec<u8>,
}

impl EncodedChunk {
    /// Encodes rows, stripped of credentials (see `redact`): every row the pipeline
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
        })
    }
}

/// How far a request's chunks reached in the log: the seq of the last one (0: none), which its
/// reply waits for ([`Pipeline::durable`]).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[must_use]
pub(crate) struct Appended(u64);

impl Appended {
    /// Where two appends of one request reached together: the log appends in seq order, so
    /// waiting for the later seq covers both.
    pub fn and(self, other: Appended) -> Appended {
        Appended(self.0.max(other.0))
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum SubmitError {
    /// The memory log (no spool) is full until the writer catches up (429 / RESOURCE_EXHAUSTED).
    #[error(
        "queue full: {queued_bytes} bytes of {max_bytes} in use (pipeline.queue_max_bytes); retry later"
    )]
    QueueFull {
        queued_bytes: usize,
        max_bytes: usize,
    },
    /// One chunk larger than the whole memory log (no spool).
    #[error("batch of {0} bytes exceeds the queue budget (pipeline.queue_max_bytes)")]
    TooLarge(usize),
    #[error("collector is shutting down")]
    ShuttingDown,
    /// The spool is full or failing: the client should retry later (503 / UNAVAILABLE).
    #[error(transparent)]
    Spool(#[from] SpoolError),
}

/// Handle the receivers submit to. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Pipeline {
    log: Arc<IngestLog>,
    /// Wakes the batcher after an append.
    appended: Arc<Notify>,
    /// Reply only once the record is fsynced (`ack = durable` with a spool).
    durable: bool,
    queue_max_bytes: usize,
    pub metrics: Arc<Metrics>,
}

/// Running pipeline tasks; `shutdown` drains everything logged into ClickHouse.
pub(crate) struct PipelineTasks {
    tasks: Vec<JoinHandle<()>>,
    stop: watch::Sender<bool>,
}

impl Pipeline {
    /// Opens the log (the spool in `spool_dir`, or memory when it is empty) and starts the
    /// batcher and writer reading it.
    pub fn start(
        config: &PipelineConfig,
        clickhouse: ClickHouse,
        metrics: Arc<Metrics>,
    ) -> Result<(Pipeline, PipelineTasks), SpoolError> {
        let (log, manifest) = IngestLog::open(
            &config.spool_dir,
            config.spool_max_bytes,
            config.spool_segment_bytes,
            config.queue_max_bytes,
        )?;
        let log = Arc::new(log);
        let (stop, stopped) = watch::channel(false);
        let appended = Arc::new(Notify::new());
        let batcher = Batcher::new(&log, manifest, config, appended.clone(), stopped.clone());
        let writer = BatchWriter {
            config: config.clone(),
            clickhouse,
            metrics: metrics.clone(),
            log: log.clone(),
            stop: stopped,
            rejected_dir: log
                .is_durable()
                .then(|| Path::new(&config.spool_dir).join("rejected")),
        };
        let tasks = vec![tokio::spawn(writer.run(batcher))];
        let pipeline = Pipeline {
            durable: log.is_durable() && config.ack == AckMode::Durable,
            log,
            appended,
            queue_max_bytes: config.queue_max_bytes,
            metrics,
        };
        Ok((pipeline, PipelineTasks { tasks, stop }))
    }

    /// Appends a chunk to the log or says why not, without waiting: a full memory log
    /// (HTTP 429 / gRPC RESOURCE_EXHAUSTED) or spool (503 / UNAVAILABLE) is the client's
    /// signal to back off, never a reason to grow. The reply waits for [`Pipeline::durable`]
    /// of what this returns.
    pub fn try_submit(&self, mut chunk: EncodedChunk) -> Result<Appended, SubmitError> {
        if chunk.rows == 0 {
            return Ok(Appended::default());
        }
        Ok(Appended(self.append(&mut chunk)?))
    }

    /// Returns once what was appended is durable: in `durable` ack mode, once the spool's sync
    /// thread has fsynced it (concurrent requests share one fsync); otherwise at once.
    pub async fn durable(&self, appended: Appended) -> Result<(), SubmitError> {
        if self.durable && appended.0 > 0 {
            self.log.synced(appended.0).await?;
        }
        Ok(())
    }

    /// Appends a chunk, waiting for room in the log. For rows already accepted (answered 200)
    /// that the collector held back — spans released by the content join, merged Langfuse
    /// events: they must not be dropped and there is no client left to tell "retry". Returns
    /// once the chunk is durable, because the caller then forgets its own copy. Fails only on
    /// a chunk larger than the whole memory log or when the pipeline is gone.
    pub async fn submit_waiting(&self, mut chunk: EncodedChunk) -> Result<(), SubmitError> {
        if chunk.rows == 0 {
            return Ok(());
        }
        loop {
            match self.append(&mut chunk) {
                Ok(seq) => return self.durable(Appended(seq)).await,
                // Full or failing (disk full): wait until the writer frees room.
                Err(
                    e @ (SubmitError::QueueFull { .. }
                    | SubmitError::Spool(SpoolError::Full { .. } | SpoolError::Io { .. })),
                ) => {
                    tracing::debug!(error = %e, "held rows wait for room in the log");
                    tokio::time::sleep(Duration::from_millis(100)).await
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Appends to the log and wakes the batcher; the record's seq.
    fn append(&self, chunk: &mut EncodedChunk) -> Result<u64, SubmitError> {
        let seq = self.log.append(chunk)?;
        self.appended.notify_one();
        Ok(seq)
    }

    /// Bytes the memory log holds (0 with a spool: see `spool_bytes`).
    pub fn queued_bytes(&self) -> usize {
        self.log.memory_bytes()
    }

    /// The memory log's cap (`pipeline.queue_max_bytes`).
    pub fn max_bytes(&self) -> usize {
        self.queue_max_bytes
    }

    /// Spool bytes on disk (0 without a spool).
    pub fn spool_bytes(&self) -> u64 {
        self.log.spool().map_or(0, |s| s.bytes_on_disk())
    }

    /// The spool's damage and error counters (None without a spool).
    pub fn spool_stats(&self) -> Option<&spool::SpoolStats> {
        self.log.spool_stats()
    }

    /// Whether the spool can take writes (after a failed write, a probe write decides).
    pub fn check_spool(&self) -> Result<(), SpoolError> {
        self.log.spool().map_or(Ok(()), |s| s.check_writable())
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
