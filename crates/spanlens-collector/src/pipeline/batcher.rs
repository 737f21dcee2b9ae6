//! The one batcher: reads the log ([`super::log`]) in seq order and groups its records into
//! inserts, one open batch per table, so a service sending spans, log records, metrics and
//! scores interleaved still makes a few large inserts per table, not one per run of records.
//!
//! A table's batch is handed to the writer once it reaches `batch_max_rows` or
//! `batch_max_bytes`, or when its first record is `batch_max_age` old; when the open batches
//! together reach `batch_max_bytes` the largest goes (memory stays bounded as with one batch);
//! on shutdown every batch goes.
//!
//! Commit and replay. A batch is the records of one table with seqs `first..=last` (its
//! deduplication token says so). Before its insert the writer records it as pending in the
//! manifest; after, the log is committed up to the record before the oldest one still in an
//! open batch, and the table's written mark moves to `last`. After a crash (even `kill -9`)
//! reading resumes after `committed`: records at or below their table's written mark are
//! skipped (stored already), and the pending batch is rebuilt from exactly the records of its
//! table and range and written first, with the same token, so ClickHouse keeps one copy.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use super::log::{IngestLog, LogReader};
use super::spool::{Manifest, PendingBatch, Record};
use crate::config::PipelineConfig;
use crate::storage::row::Table;

/// One INSERT: the records of `table` with seqs `first..=last`, their rows concatenated.
pub(super) struct InsertBatch {
    pub table: Table,
    pub first: u64,
    pub last: u64,
    pub rows: usize,
    pub body: Vec<u8>,
}

impl InsertBatch {
    fn new(table: Table, record: Record) -> InsertBatch {
        InsertBatch {
            table,
            first: record.seq,
            last: record.seq,
            rows: record.rows as usize,
            body: record.payload,
        }
    }

    fn push(&mut self, record: Record) {
        self.last = record.seq;
        self.rows += record.rows as usize;
        self.body.extend_from_slice(&record.payload);
    }

    /// The insert's deduplication token: the same for a re-sent batch, never for another.
    pub fn dedup_token(&self, prefix: &str) -> String {
        let table = self.table.name();
        format!("{prefix}-{table}-{}-{}", self.first, self.last)
    }
}

struct OpenBatch {
    batch: InsertBatch,
    /// When its first record is `batch_max_age` old.
    deadline: Instant,
}

/// The batch a previous run recorded as pending: rebuilt from the same records and written
/// before any other.
struct Replay {
    pending: PendingBatch,
    batch: Option<InsertBatch>,
}

impl Replay {
    /// Takes `record` if it belongs to the batch (appended to it), else gives it back.
    fn take(&mut self, table: Table, record: Record) -> Option<Record> {
        let p = &mut self.pending;
        let in_range = (p.first..=p.last).contains(&record.seq);
        if !in_range || *p.table.get_or_insert(table.code()) != table.code() {
            return Some(record);
        }
        match &mut self.batch {
            Some(batch) => batch.push(record),
            None => self.batch = Some(InsertBatch::new(table, record)),
        }
        None
    }
}

pub(super) struct Batcher {
    reader: LogReader,
    max_rows: usize,
    max_bytes: usize,
    max_age: Duration,
    open: Vec<OpenBatch>,
    replay: Option<Replay>,
    /// What the log has recorded (committed, written marks); `pending` is always None here.
    recorded: Manifest,
    /// Highest seq read.
    read: u64,
    appended: Arc<Notify>,
    stop: watch::Receiver<bool>,
}

impl Batcher {
    /// A batcher reading `log` after what `manifest` (from the log's last run) committed.
    pub fn new(
        log: &IngestLog,
        mut manifest: Manifest,
        config: &PipelineConfig,
        appended: Arc<Notify>,
        stop: watch::Receiver<bool>,
    ) -> Batcher {
        let replay = manifest.pending.take().map(|pending| Replay {
            pending,
            batch: None,
        });
        Batcher {
            reader: log.reader(manifest.committed),
            max_rows: config.batch_max_rows,
            max_bytes: config.batch_max_bytes,
            max_age: config.batch_max_age(),
            open: Vec::new(),
            replay,
            read: manifest.committed,
            recorded: manifest,
            appended,
            stop,
        }
    }

    /// The next batch to insert. None once stop is requested and every record read has been
    /// handed out.
    pub async fn next_batch(&mut self) -> Option<InsertBatch> {
        loop {
            if let Some(batch) = self.take_ready(false) {
                return Some(batch);
            }
            match self.read_next().await {
                Some(record) => self.place(record),
                None => {
                    // Caught up with the appender.
                    if let Some(batch) = self.take_ready(true) {
                        return Some(batch);
                    }
                    if *self.stop.borrow() {
                        return None;
                    }
                    self.wait_for_append().await;
                }
            }
        }
    }

    /// What to record before inserting `batch`: it, as pending.
    pub fn pending(&self, batch: &InsertBatch) -> Manifest {
        let pending = PendingBatch {
            table: Some(batch.table.code()),
            first: batch.first,
            last: batch.last,
        };
        Manifest {
            pending: Some(pending),
            ..self.recorded
        }
    }

    /// What to record once `batch` is stored (or set aside): its table written through its
    /// last seq, and the log committed up to the oldest record still waiting in a batch.
    pub fn written(&mut self, batch: &InsertBatch) -> Manifest {
        let mark = &mut self.recorded.written[batch.table.code() as usize];
        *mark = (*mark).max(batch.last);
        let oldest_waiting = self.open.iter().map(|o| o.batch.first);
        let oldest_waiting = oldest_waiting.chain(self.replay.iter().map(|r| r.pending.first));
        let committed = oldest_waiting.min().map_or(self.read, |first| first - 1);
        self.recorded.committed = self.recorded.committed.max(committed);
        self.recorded
    }

    /// Puts a record read into its table's batch; skips what a previous run stored already
    /// and records of a table this version does not know (logged).
    fn place(&mut self, record: Record) {
        self.read = self.read.max(record.seq);
        let Some(table) = Table::from_code(record.table) else {
            tracing::error!(
                table_code = record.table,
                seq = record.seq,
                "spool: record for an unknown table skipped"
            );
            return;
        };
        if self.recorded.is_written(record.table, record.seq) {
            return;
        }
        let record = match &mut self.replay {
            Some(replay) => match replay.take(table, record) {
                Some(record) => record,
                None => return,
            },
            None => record,
        };
        match self.open.iter_mut().find(|o| o.batch.table == table) {
            Some(open) => open.batch.push(record),
            None => self.open.push(OpenBatch {
                batch: InsertBatch::new(table, record),
                deadline: Instant::now() + self.max_age,
            }),
        }
    }

    /// A batch that is due: the replayed one first (once its range is read), then the oldest
    /// full or aged one, else the largest when all together are at the byte limit; with
    /// `caught_up` and stop requested, any.
    fn take_ready(&mut self, caught_up: bool) -> Option<InsertBatch> {
        if let Some(replay) = &self.replay {
            if !caught_up && self.read < replay.pending.last {
                return None;
            }
            let replay = self.replay.take().expect("checked");
            if let Some(mut batch) = replay.batch {
                // It keeps its recorded range (and so its token) even when damage took some
                // of its records.
                (batch.first, batch.last) = (replay.pending.first, replay.pending.last);
                return Some(batch);
            }
        }
        let flush_all = caught_up && *self.stop.borrow();
        let now = Instant::now();
        let due = |o: &&OpenBatch| {
            let b = &o.batch;
            flush_all
                || b.rows >= self.max_rows
                || b.body.len() >= self.max_bytes
                || o.deadline <= now
        };
        let oldest_due = self.open.iter().filter(due).min_by_key(|o| o.batch.first);
        let first = match oldest_due {
            Some(o) => o.batch.first,
            None => self.largest_over_limit()?,
        };
        let at = self.open.iter().position(|o| o.batch.first == first)?;
        Some(self.open.swap_remove(at).batch)
    }

    /// The first seq of the largest open batch when all together hold `batch_max_bytes`.
    fn largest_over_limit(&self) -> Option<u64> {
        let total: usize = self.open.iter().map(|o| o.batch.body.len()).sum();
        let largest = self.open.iter().max_by_key(|o| o.batch.body.len())?;
        (total >= self.max_bytes).then_some(largest.batch.first)
    }

    /// Waits for an append, the deadline of the oldest open batch, or stop.
    async fn wait_for_append(&self) {
        let mut stop = self.stop.clone();
        let deadline = self.open.iter().map(|o| o.deadline).min();
        let wait = deadline.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            _ = self.appended.notified() => {}
            _ = tokio::time::sleep_until(wait) => {}
            _ = stop.changed() => {}
        }
    }

    /// The next record, retrying read errors (they are logged) until one succeeds.
    async fn read_next(&mut self) -> Option<Record> {
        loop {
            match self.reader.next_record() {
                Ok(r) => return r,
                Err(e) => {
                    tracing::error!(error = %e, "spool: read failed; retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::{EncodedChunk, SubmitError};

    const SPANS: Table = Table::Spans;
    const LOGS: Table = Table::Logs;

    fn config(max_rows: usize) -> PipelineConfig {
        PipelineConfig {
            batch_max_rows: max_rows,
            batch_max_age_ms: 3_600_000,
            ..PipelineConfig::default()
        }
    }

    fn append(log: &IngestLog, table: Table, byte: u8) -> u64 {
        let mut chunk = EncodedChunk {
            table,
            rows: 1,
            bytes: vec![byte; 10],
        };
        log.append(&mut chunk).unwrap()
    }

    fn new_batcher(log: &IngestLog, manifest: Manifest, max_rows: usize) -> Batcher {
        let (_, stop) = watch::channel(false);
        Batcher::new(log, manifest, &config(max_rows), Arc::default(), stop)
    }

    /// (table, first, last, rows, payload bytes in order).
    fn describe(batch: &InsertBatch) -> (Table, u64, u64, usize, Vec<u8>) {
        let payloads = batch.body.chunks(10).map(|c| c[0]).collect();
        (batch.table, batch.first, batch.last, batch.rows, payloads)
    }

    #[tokio::test]
    async fn interleaved_tables_make_one_batch_each_and_commit_up_to_the_oldest_open() {
        let (log, manifest) = IngestLog::open("", 0, 0, 1 << 20).unwrap();
        for i in 0..100u8 {
            append(&log, SPANS, i);
            append(&log, LOGS, i);
        }
        let mut batcher = new_batcher(&log, manifest, 100);
        let spans = batcher.next_batch().await.unwrap();
        assert_eq!(describe(&spans), (SPANS, 1, 199, 100, (0..100).collect()));
        assert_eq!(spans.dedup_token("p"), "p-spans-1-199");
        let recorded = batcher.written(&spans);
        assert_eq!(recorded.committed, 1, "the open logs batch starts at seq 2");
        assert_eq!(recorded.written[SPANS.code() as usize], 199);
        let logs = batcher.next_batch().await.unwrap();
        assert_eq!(describe(&logs), (LOGS, 2, 200, 100, (0..100).collect()));
        assert_eq!(batcher.written(&logs).committed, 200);
    }

    #[tokio::test]
    async fn the_open_batches_together_stay_within_batch_max_bytes() {
        let (log, manifest) = IngestLog::open("", 0, 0, 1 << 20).unwrap();
        let config = PipelineConfig {
            batch_max_bytes: 50,
            ..config(1000)
        };
        for i in 0..3u8 {
            append(&log, SPANS, i);
            append(&log, LOGS, i);
        }
        let (_, stop) = watch::channel(false);
        let mut batcher = Batcher::new(&log, manifest, &config, Arc::default(), stop);
        let largest = batcher.next_batch().await.unwrap();
        assert_eq!(describe(&largest), (SPANS, 1, 5, 3, vec![0, 1, 2]));
    }

    #[tokio::test]
    async fn memory_log_refuses_past_its_cap_until_committed() {
        let (log, manifest) = IngestLog::open("", 0, 0, 25).unwrap();
        append(&log, SPANS, 1);
        append(&log, SPANS, 2);
        let mut chunk = EncodedChunk {
            table: SPANS,
            rows: 1,
            bytes: vec![3; 10],
        };
        let full = log.append(&mut chunk).unwrap_err();
        assert!(
            matches!(
                full,
                SubmitError::QueueFull {
                    queued_bytes: 20,
                    max_bytes: 25
                }
            ),
            "{full}"
        );
        assert_eq!(chunk.bytes.len(), 10, "a refused chunk keeps its bytes");
        let mut huge = EncodedChunk {
            bytes: vec![0; 26],
            ..chunk
        };
        assert!(matches!(
            log.append(&mut huge),
            Err(SubmitError::TooLarge(26))
        ));
        let mut batcher = new_batcher(&log, manifest, 2);
        let batch = batcher.next_batch().await.unwrap();
        assert_eq!(log.memory_bytes(), 20, "held until committed");
        log.record(&batcher.written(&batch)).unwrap();
        assert_eq!(log.memory_bytes(), 0);
        assert!(log.token_prefix().starts_with("spanlens-"));
    }

    #[tokio::test]
    async fn after_a_crash_the_pending_batch_is_rebuilt_first_and_written_records_skipped() {
        let dir = std::env::temp_dir().join(format!("spanlens-batcher-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let open = || IngestLog::open(dir.to_str().unwrap(), 1 << 20, 1 << 20, 0).unwrap();
        let (log, manifest) = open();
        for i in 1..=4u8 {
            append(&log, SPANS, i); // seqs 1, 3, 5, 7
            append(&log, LOGS, i); // seqs 2, 4, 6, 8
        }
        let mut batcher = new_batcher(&log, manifest, 2);
        let spans = batcher.next_batch().await.unwrap();
        assert_eq!(describe(&spans), (SPANS, 1, 3, 2, vec![1, 2]));
        log.record(&batcher.pending(&spans)).unwrap();
        log.record(&batcher.written(&spans)).unwrap();
        let logs = batcher.next_batch().await.unwrap();
        assert_eq!(describe(&logs), (LOGS, 2, 4, 2, vec![1, 2]));
        log.record(&batcher.pending(&logs)).unwrap();
        // Crash: the logs batch may or may not have reached ClickHouse.
        drop((batcher, log));

        let (log, manifest) = open();
        assert_eq!(manifest.committed, 1);
        let mut batcher = new_batcher(&log, manifest, 2);
        let replayed = batcher.next_batch().await.unwrap();
        assert_eq!(describe(&replayed), describe(&logs), "the same records");
        assert_eq!(replayed.dedup_token("spool"), logs.dedup_token("spool"));
        log.record(&batcher.written(&replayed)).unwrap();
        let rest: Vec<_> = [batcher.next_batch().await, batcher.next_batch().await]
            .iter()
            .map(|b| describe(b.as_ref().unwrap()))
            .collect();
        assert_eq!(
            rest,
            [(SPANS, 5, 7, 2, vec![3, 4]), (LOGS, 6, 8, 2, vec![3, 4])],
            "spans 1 and 3 are not written again"
        );
        drop((batcher, log));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn on_stop_every_open_batch_is_handed_out() {
        let (log, manifest) = IngestLog::open("", 0, 0, 1 << 20).unwrap();
        append(&log, SPANS, 1);
        append(&log, LOGS, 1);
        let (stop, stopped) = watch::channel(false);
        let mut batcher = Batcher::new(&log, manifest, &config(100), Arc::default(), stopped);
        stop.send(true).unwrap();
        let tables =
            [batcher.next_batch().await, batcher.next_batch().await].map(|b| b.unwrap().table);
        assert_eq!(tables, [SPANS, LOGS]);
        assert!(batcher.next_batch().await.is_none());
    }
}
