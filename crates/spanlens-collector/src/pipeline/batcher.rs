//! Groups encoded chunks into insert batches: flushed at `batch_max_rows`, `batch_max_bytes`
//! or when the oldest chunk is `batch_max_age` old, and on shutdown.

use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};

use super::EncodedChunk;
use crate::config::PipelineConfig;

/// A batch ready for one INSERT. Chunk permits stay alive until the batch is dropped.
pub(super) struct Batch {
    pub rows: usize,
    pub bytes: Vec<u8>,
    pub _chunks: Vec<EncodedChunk>,
}

pub(super) async fn run(
    config: PipelineConfig,
    mut rx: mpsc::UnboundedReceiver<EncodedChunk>,
    out: mpsc::Sender<Batch>,
) {
    let mut pending: Vec<EncodedChunk> = Vec::new();
    let mut rows = 0usize;
    let mut bytes = 0usize;
    let mut deadline: Option<Instant> = None;
    loop {
        let next = match deadline {
            Some(at) => tokio::select! {
                chunk = rx.recv() => chunk.map(Some),
                _ = sleep_until(at) => Some(None),
            },
            None => rx.recv().await.map(Some),
        };
        match next {
            Some(Some(chunk)) => {
                deadline.get_or_insert_with(|| Instant::now() + config.batch_max_age());
                rows += chunk.rows;
                bytes += chunk.bytes.len();
                pending.push(chunk);
                if rows < config.batch_max_rows && bytes < config.batch_max_bytes {
                    continue;
                }
            }
            Some(None) => {} // age reached
            None => {
                // All senders gone: flush what is left and stop.
                if !pending.is_empty() {
                    let _ = out.send(assemble(&mut pending, rows, bytes)).await;
                }
                return;
            }
        }
        if !pending.is_empty() && out.send(assemble(&mut pending, rows, bytes)).await.is_err() {
            return;
        }
        rows = 0;
        bytes = 0;
        deadline = None;
    }
}

fn assemble(pending: &mut Vec<EncodedChunk>, rows: usize, bytes: usize) -> Batch {
    let mut body = Vec::with_capacity(bytes);
    for chunk in pending.iter_mut() {
        body.append(&mut chunk.bytes);
    }
    Batch { rows, bytes: body, _chunks: std::mem::take(pending) }
}
