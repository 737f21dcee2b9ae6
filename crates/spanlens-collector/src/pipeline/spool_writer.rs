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

use super::spool::{Manifest, Record, Spool, SpoolReader};
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
    fn new(record: Record) -> Option<Batch> {
        let table = Table::from_code(record.table)?;
        Some(Batch {
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
            let Some(batch) = self
                .next_batch(&mut reader, &mut carry, replay.take())
                .await
            else {
                return; // stopped and drained
            };
            if let Err(e) = self.spool.set_pending(committed, batch.first, batch.last) {
                tracing::error!(error = %e, "spool: cannot record the pending batch; stopping the writer");
                return;
            }
            let token = format!(
                "spool-{}-{}-{}",
                batch.table.name(),
                batch.first,
                batch.last
            );
            let inserter = Inserter {
                config: &self.config,
                clickhouse: &self.clickhouse,
                metrics: &self.metrics,
            };
            let body = Bytes::from(batch.bytes.clone());
            let outcome = inserter
                .insert(batch.table, batch.rows, body, &token, Some(&self.stop))
                .await;
            match outcome {
                Outcome::Written => {}
                Outcome::Abandoned => return,
                Outcome::Rejected(e) => {
                    let path = self.rejected_dir.join(format!(
                        "{}-{}-{}.rowbinary",
                        batch.table.name(),
                        batch.first,
                        batch.last
                    ));
                    let saved = std::fs::create_dir_all(&self.rejected_dir)
                        .and_then(|_| std::fs::write(&path, &batch.bytes));
                    tracing::error!(table = batch.table.name(), rows = batch.rows, error = %e, saved_to = %path.display(), saved = saved.is_ok(), "insert rejected permanently; batch set aside");
                }
            }
            if let Err(e) = self.spool.commit(batch.last) {
                tracing::error!(error = %e, "spool: cannot commit; stopping the writer");
                return;
            }
            committed = batch.last;
        }
    }

    /// The next batch: the replayed pending batch first (exactly its records), else records
    /// until a limit, a table change, or the age deadline with nothing more to read. None when
    /// stop is requested and everything has been read.
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
                None => match reader.next_record() {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::error!(error = %e, "spool: read failed; retrying");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    }
                },
            };
            match (record, &mut batch) {
                (Some(record), None) => {
                    batch = Batch::new(record);
                    deadline = Instant::now() + self.config.batch_max_age();
                }
                (Some(record), Some(b)) => {
                    let fits = match replay {
                        Some((_, last)) => record.seq <= last,
                        None => {
                            Table::from_code(record.table) == Some(b.table)
                                && b.rows < self.config.batch_max_rows
                                && b.bytes.len() + record.payload.len()
                                    <= self.config.batch_max_bytes
                        }
                    };
                    if !fits {
                        *carry = Some(record);
                        return batch;
                    }
                    b.push(record);
                }
                (None, _) => {
                    let stopping = *self.stop.borrow();
                    let aged = batch.is_some() && replay.is_none() && Instant::now() >= deadline;
                    if stopping || aged {
                        return batch;
                    }
                    // Caught up: wait for an append, the age deadline, or stop.
                    let mut stop = self.stop.clone();
                    let wait = if batch.is_some() {
                        deadline
                    } else {
                        Instant::now() + Duration::from_secs(3600)
                    };
                    tokio::select! {
                        _ = self.appended.notified() => {}
                        _ = tokio::time::sleep_until(wait) => {}
                        _ = stop.changed() => {}
                    }
                }
            }
            if let (Some(b), Some((_, last))) = (&batch, replay)
                && b.last >= last
            {
                return batch;
            }
        }
    }
}
