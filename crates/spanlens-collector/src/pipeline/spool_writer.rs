//! The spool's consumer: reads records back in order, groups consecutive records of one table
//! into a batch (rows / bytes / age), records the batch in the manifest, inserts it with a
//! token derived from its seqs, and commits. After a crash the pending batch is rebuilt from
//! exactly the same records and re-sent with the same token, so ClickHouse keeps one copy.
//! A batch ClickHouse rejects permanently is moved to `DIR/rejected/` (and counted), never
//! silently dropped.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use super::spool::{Manifest, Record, Spool, SpoolError, SpoolReader};
use super::writer::{Inserter, Outcome};
use crate::config::PipelineConfig;
use crate::metrics::Metrics;
use crate::storage::clickhouse::ClickHouse;
use crate::storage::row::Table;

pub(super) struct SpoolWriter {
    pub config: PipelineConfig,
    pub clickhouse: ClickHouse,
    pub metrics: Arc<Metrics>,
    pub spool: Arc<Spool>,
    pub manifest: Manifest,
    pub appended: Arc<Notify>,
    pub stop: watch::Receiver<bool>,
    pub rejected_dir: PathBuf,
}

/// Records of one table, consecutive in the spool.
struct Batch {
    table: Table,
    first: u64,
    last: u64,
    rows: usize,
    bytes: Vec<u8>,
}

impl Batch {
    /// A batch of `record`'s table, or Err(its unknown table code).
    fn new(record: Record) -> Result<Batch, u8> {
        let table = Table::from_code(record.table).ok_or(record.table)?;
        Ok(Batch {
            table,
            first: record.seq,
            last: record.seq,
            rows: record.rows as usize,
            bytes: record.payload,
        })
    }

    fn push(&mut self, record: Record) {
        self.last = record.seq;
        self.rows += record.rows as usize;
        self.bytes.extend_from_slice(&record.payload);
    }
}

impl SpoolWriter {
    pub async fn run(mut self) {
        let mut committed = self.manifest.committed;
        let mut reader = self.spool.reader(committed);
        let mut carry: Option<Record> = None;
        let mut replay = self.manifest.pending;
        loop {
            let replaying = replay.take();
            let batch = self.next_batch(&mut reader, &mut carry, replaying).await;
            let batch = match (batch, replaying) {
                // The replayed batch keeps its recorded range (and so its token) even when
                // damage took some of its records.
                (Some(b), Some((first, last))) => Batch { first, last, ..b },
                (Some(b), None) => b,
                (None, Some((_, last))) if !*self.stop.borrow() => {
                    // Nothing of the pending batch is left to re-send.
                    if !self.commit(last).await {
                        return;
                    }
                    committed = last;
                    continue;
                }
                (None, _) => return, // stopped and drained
            };
            let (first, last) = (batch.first, batch.last);
            let pending = || self.spool.set_pending(committed, first, last);
            if !self.persist("record the pending batch", pending).await
                || !self.insert(batch).await
                || !self.commit(last).await
            {
                return;
            }
            committed = last;
        }
    }

    /// Inserts a batch with its seq-derived token; a batch ClickHouse rejects for good is set
    /// aside. False when shutdown abandoned it during an outage (left for the next start).
    async fn insert(&self, batch: Batch) -> bool {
        let table = batch.table.name();
        let token = format!("spool-{table}-{}-{}", batch.first, batch.last);
        let inserter = Inserter {
            config: &self.config,
            clickhouse: &self.clickhouse,
            metrics: &self.metrics,
        };
        // Bytes: every retry re-sends the same buffer without copying it.
        let body = Bytes::from(batch.bytes);
        match inserter
            .insert(
                batch.table,
                batch.rows,
                body.clone(),
                &token,
                Some(&self.stop),
            )
            .await
        {
            Outcome::Written => true,
            Outcome::Abandoned => false,
            Outcome::Rejected(e) => {
                let name = format!("{table}-{}-{}.rowbinary", batch.first, batch.last);
                let path = self.rejected_dir.join(name);
                let saved = std::fs::create_dir_all(&self.rejected_dir)
                    .and_then(|_| std::fs::write(&path, &body));
                tracing::error!(table, rows = batch.rows, error = %e, saved_to = %path.display(), saved = saved.is_ok(), "insert rejected permanently; batch set aside");
                true
            }
        }
    }

    /// Records everything up to `seq` as stored (see [`Self::persist`]).
    async fn commit(&self, seq: u64) -> bool {
        self.persist("commit", || self.spool.commit(seq)).await
    }

    /// Writes the manifest, retrying while the disk fails (full: commits are what free it);
    /// false only when shutdown is requested first, leaving the batch to the next start.
    async fn persist(&self, what: &str, write: impl Fn() -> Result<(), SpoolError>) -> bool {
        loop {
            match write() {
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

    /// The next batch: the replayed pending batch first (exactly its records still on disk),
    /// else records until a limit, a table change, or the age deadline with nothing more to
    /// read. None when stop is requested and everything has been read, or when nothing of the
    /// replayed batch is left.
    async fn next_batch(
        &mut self,
        reader: &mut SpoolReader,
        carry: &mut Option<Record>,
        replay: Option<(u64, u64)>,
    ) -> Option<Batch> {
        let mut batch: Option<Batch> = None;
        let mut deadline = Instant::now() + self.config.batch_max_age();
        loop {
            let record = match carry.take() {
                Some(r) => Some(r),
                None => read(reader).await,
            };
            let Some(record) = record else {
                // Caught up with the appender.
                let aged = batch.is_some() && Instant::now() >= deadline;
                if replay.is_some() || *self.stop.borrow() || aged {
                    return batch;
                }
                self.wait_for_append(batch.is_some().then_some(deadline))
                    .await;
                continue;
            };
            let fits = match (&batch, replay) {
                (_, Some((_, last))) => record.seq <= last,
                (None, None) => true,
                (Some(b), None) => {
                    Table::from_code(record.table) == Some(b.table)
                        && b.rows < self.config.batch_max_rows
                        && b.bytes.len() + record.payload.len() <= self.config.batch_max_bytes
                }
            };
            if !fits {
                *carry = Some(record);
                return batch;
            }
            match &mut batch {
                Some(b) => b.push(record),
                None => {
                    batch = self.start_batch(record);
                    deadline = Instant::now() + self.config.batch_max_age();
                }
            }
            if let (Some(b), Some((_, last))) = (&batch, replay)
                && b.last >= last
            {
                return batch;
            }
        }
    }

    /// A batch starting with `record`; None (logged, counted as dropped) for a table code
    /// this version does not know.
    fn start_batch(&self, record: Record) -> Option<Batch> {
        let batch = Batch::new(record);
        if let Err(code) = &batch {
            tracing::error!(
                table_code = code,
                "spool: record for an unknown table skipped"
            );
        }
        batch.ok()
    }

    /// Waits for an append, the age `deadline` of an open batch, or stop.
    async fn wait_for_append(&self, deadline: Option<Instant>) {
        let mut stop = self.stop.clone();
        let wait = deadline.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            _ = self.appended.notified() => {}
            _ = tokio::time::sleep_until(wait) => {}
            _ = stop.changed() => {}
        }
    }
}

/// The next record, retrying read errors (they are logged) until one succeeds.
async fn read(reader: &mut SpoolReader) -> Option<Record> {
    loop {
        match reader.next_record() {
            Ok(r) => return r,
            Err(e) => {
                tracing::error!(error = %e, "spool: read failed; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}
