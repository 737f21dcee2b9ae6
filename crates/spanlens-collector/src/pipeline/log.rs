//! The log every accepted chunk is appended to before it is acknowledged, and the batcher
//! reads back in seq order: the on-disk [`Spool`] (`pipeline.spool_dir` set), or, with an
//! empty `spool_dir`, a [`MemoryLog`] with the same records, seqs and commits that a crash
//! loses. Either way the rest of the pipeline is the same: one batcher, one writer.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use super::spool::{Manifest, Record, Spool, SpoolError, SpoolReader, SpoolStats};
use super::{EncodedChunk, SubmitError};

/// The pipeline's log: on disk or in memory.
pub(super) enum IngestLog {
    Disk(Arc<Spool>),
    Memory(Arc<MemoryLog>),
}

/// Reads an [`IngestLog`] in seq order.
pub(super) enum LogReader {
    Disk(SpoolReader),
    Memory(Arc<MemoryLog>),
}

impl IngestLog {
    /// Opens the spool in `dir` (with what it recorded), or an empty memory log capped at
    /// `memory_max_bytes` when `dir` is empty.
    pub fn open(
        dir: &str,
        spool_max_bytes: u64,
        segment_bytes: u64,
        memory_max_bytes: usize,
    ) -> Result<(IngestLog, Manifest), SpoolError> {
        if dir.is_empty() {
            let log = MemoryLog::new(memory_max_bytes);
            return Ok((IngestLog::Memory(Arc::new(log)), Manifest::default()));
        }
        let (spool, manifest) = Spool::open(Path::new(dir), spool_max_bytes, segment_bytes)?;
        Ok((IngestLog::Disk(spool), manifest))
    }

    /// Appends the chunk's rows and returns their seq; the memory log takes the chunk's
    /// bytes (only on success, so a refused chunk can be offered again).
    pub fn append(&self, chunk: &mut EncodedChunk) -> Result<u64, SubmitError> {
        let rows = chunk.rows as u32;
        match self {
            IngestLog::Disk(spool) => Ok(spool.append(chunk.table.code(), rows, &chunk.bytes)?),
            IngestLog::Memory(log) => log.append(chunk.table.code(), rows, &mut chunk.bytes),
        }
    }

    /// Waits until every record up to `seq` is durable (nothing to wait for in memory).
    pub async fn synced(&self, seq: u64) -> Result<(), SpoolError> {
        match self {
            IngestLog::Disk(spool) => spool.synced(seq).await,
            IngestLog::Memory(_) => Ok(()),
        }
    }

    /// A reader positioned after `seq`.
    pub fn reader(&self, after: u64) -> LogReader {
        match self {
            IngestLog::Disk(spool) => LogReader::Disk(spool.reader(after)),
            IngestLog::Memory(log) => LogReader::Memory(log.clone()),
        }
    }

    /// Records `manifest` (the spool fsyncs it); frees what is committed.
    pub fn record(&self, manifest: &Manifest) -> Result<(), SpoolError> {
        match self {
            IngestLog::Disk(spool) => spool.record(manifest),
            IngestLog::Memory(log) => {
                log.commit(manifest.committed);
                Ok(())
            }
        }
    }

    /// Whether records survive a restart (then a batch is left to the next start when
    /// shutdown finds ClickHouse down; in memory it is retried until it is written).
    pub fn is_durable(&self) -> bool {
        matches!(self, IngestLog::Disk(_))
    }

    /// The start of every deduplication token. Spool seqs never repeat for a spool; memory
    /// seqs restart with the process, so its tokens carry the process's start time.
    pub fn token_prefix(&self) -> String {
        match self {
            IngestLog::Disk(_) => "spool".into(),
            IngestLog::Memory(log) => format!("spanlens-{:x}", log.epoch),
        }
    }

    /// The spool itself (None in memory).
    pub fn spool(&self) -> Option<&Spool> {
        match self {
            IngestLog::Disk(spool) => Some(spool),
            IngestLog::Memory(_) => None,
        }
    }

    /// Bytes of the memory log's uncommitted records (0 on disk: see the spool's own gauge).
    pub fn memory_bytes(&self) -> usize {
        match self {
            IngestLog::Disk(_) => 0,
            IngestLog::Memory(log) => log.lock().held_bytes,
        }
    }

    pub fn spool_stats(&self) -> Option<&SpoolStats> {
        self.spool().map(|s| &s.stats)
    }
}

impl LogReader {
    /// The next record, or None when the reader has caught up with the appender.
    pub fn next_record(&mut self) -> Result<Option<Record>, SpoolError> {
        match self {
            LogReader::Disk(reader) => reader.next_record(),
            LogReader::Memory(log) => Ok(log.lock().unread.pop_front()),
        }
    }
}

/// The log without a spool: records wait in memory for the batcher, and their bytes count
/// against `max_bytes` until they are committed, as spool records hold disk until then.
pub(super) struct MemoryLog {
    max_bytes: usize,
    /// Process start (ns), for deduplication tokens.
    epoch: u128,
    state: Mutex<MemoryState>,
}

#[derive(Default)]
struct MemoryState {
    next_seq: u64,
    /// Appended, not yet read.
    unread: VecDeque<Record>,
    /// (seq, bytes) of every record not yet committed, in seq order.
    held: VecDeque<(u64, usize)>,
    held_bytes: usize,
}

impl MemoryLog {
    fn new(max_bytes: usize) -> MemoryLog {
        let epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let state = MemoryState {
            next_seq: 1,
            ..MemoryState::default()
        };
        MemoryLog {
            max_bytes,
            epoch,
            state: Mutex::new(state),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes `payload` as a record, or says why not: larger than the whole log, or no room
    /// until the writer commits (answered 429 / RESOURCE_EXHAUSTED, like any memory budget).
    fn append(&self, table: u8, rows: u32, payload: &mut Vec<u8>) -> Result<u64, SubmitError> {
        let size = payload.len().max(1);
        if size > self.max_bytes {
            return Err(SubmitError::TooLarge(size));
        }
        let mut state = self.lock();
        if state.held_bytes + size > self.max_bytes {
            return Err(SubmitError::QueueFull {
                queued_bytes: state.held_bytes,
                max_bytes: self.max_bytes,
            });
        }
        let seq = state.next_seq;
        state.next_seq += 1;
        state.held.push_back((seq, size));
        state.held_bytes += size;
        let payload = std::mem::take(payload);
        state.unread.push_back(Record {
            seq,
            table,
            rows,
            payload,
        });
        Ok(seq)
    }

    /// Frees the room of every record up to `committed`.
    fn commit(&self, committed: u64) {
        let mut state = self.lock();
        while let Some(&(seq, size)) = state.held.front()
            && seq <= committed
        {
            state.held.pop_front();
            state.held_bytes -= size;
        }
    }
}
