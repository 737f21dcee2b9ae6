//! Groups encoded chunks into insert batches, one open batch per table: a table's batch is
//! flushed at `batch_max_rows`, `batch_max_bytes` or when its oldest chunk is `batch_max_age`
//! old, and every batch is flushed on shutdown.

use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};

use super::EncodedChunk;
use crate::config::PipelineConfig;
use crate::storage::row::Table;

/// A batch ready for one INSERT into `table`. Chunk permits stay alive until it is dropped.
pub(super) struct Batch {
    pub table: Table,
    pub rows: usize,
    pub bytes: Vec<u8>,
    pub _chunks: Vec<EncodedChunk>,
}

/// The open batch of one table.
struct Open {
    table: Table,
    pending: Vec<EncodedChunk>,
    rows: usize,
    bytes: usize,
    deadline: Option<Instant>,
}

impl Open {
    fn new(table: Table) -> Open {
        Open {
            table,
            pending: Vec::new(),
            rows: 0,
            bytes: 0,
            deadline: None,
        }
    }

    fn take(&mut self) -> Option<Batch> {
        if self.pending.is_empty() {
            return None;
        }
        let mut body = Vec::with_capacity(self.bytes);
        for chunk in self.pending.iter_mut() {
            body.append(&mut chunk.bytes);
        }
        let batch = Batch {
            table: self.table,
            rows: self.rows,
            bytes: body,
            _chunks: std::mem::take(&mut self.pending),
        };
        self.rows = 0;
        self.bytes = 0;
        self.deadline = None;
        Some(batch)
    }
}

pub(super) async fn run(
    config: PipelineConfig,
    mut rx: mpsc::UnboundedReceiver<EncodedChunk>,
    out: mpsc::Sender<Batch>,
) {
    let mut open: Vec<Open> = Table::ALL.iter().map(|t| Open::new(*t)).collect();
    loop {
        let next_deadline = open.iter().filter_map(|o| o.deadline).min();
        let next = match next_deadline {
            Some(at) => tokio::select! {
                chunk = rx.recv() => chunk.map(Some),
                _ = sleep_until(at) => Some(None),
            },
            None => rx.recv().await.map(Some),
        };
        let mut ready: Vec<Batch> = Vec::new();
        match next {
            Some(Some(chunk)) => {
                let o = open
                    .iter_mut()
                    .find(|o| o.table == chunk.table)
                    .expect("every table has an open batch");
                o.deadline
                    .get_or_insert_with(|| Instant::now() + config.batch_max_age());
                o.rows += chunk.rows;
                o.bytes += chunk.bytes.len();
                o.pending.push(chunk);
                if o.rows >= config.batch_max_rows || o.bytes >= config.batch_max_bytes {
                    ready.extend(o.take());
                }
            }
            Some(None) => {
                // Some table's batch reached its age.
                let now = Instant::now();
                for o in open
                    .iter_mut()
                    .filter(|o| o.deadline.is_some_and(|d| d <= now))
                {
                    ready.extend(o.take());
                }
            }
            None => {
                // All senders gone: flush what is left and stop.
                for o in open.iter_mut() {
                    if let Some(batch) = o.take() {
                        let _ = out.send(batch).await;
                    }
                }
                return;
            }
        }
        for batch in ready {
            if out.send(batch).await.is_err() {
                return;
            }
        }
    }
}
