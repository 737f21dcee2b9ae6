//! A durable hold: items a stage keeps in memory after they were acknowledged (spans waiting
//! for their content in the content join, Langfuse events waiting for their create or update
//! in the Langfuse merge) are first appended to a log of their own — a [`Spool`] in a directory
//! beside the main spool, fsynced in `durable` ack mode — so a crash (even `kill -9`) cannot
//! lose them. When the stage lets items go (into the pipeline, durable itself) it appends a
//! marker naming them, and the log is committed up to the oldest record still holding an item,
//! so its segments are deleted. At open the log gives back every item held and not released.
//!
//! Records: `HELD` (one record per hold call, its items as the caller encoded them) and
//! `RELEASED` (the tickets of released items). A ticket is (record seq, item index).

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};

use super::spool::{Manifest, Spool, SpoolError};

const HELD: u8 = 0;
const RELEASED: u8 = 1;
const SEGMENT_BYTES: u64 = 16 << 20;

/// Which held item: (record seq, index in the record).
pub type Ticket = (u64, u32);

pub struct HoldLog {
    spool: Arc<Spool>,
    durable: bool,
    /// Record seq → items of it not yet released.
    pending: Mutex<BTreeMap<u64, u32>>,
}

/// A held record found at open, with the indices of its items not yet released.
pub struct Recovered {
    pub seq: u64,
    pub payload: Vec<u8>,
    pub unreleased: Vec<u32>,
}

impl HoldLog {
    /// Opens (or creates) the log in `dir` and returns what it still holds.
    pub fn open(
        dir: &Path,
        max_bytes: u64,
        durable: bool,
    ) -> Result<(HoldLog, Vec<Recovered>), SpoolError> {
        let (spool, manifest) = Spool::open(dir, max_bytes, SEGMENT_BYTES.min(max_bytes))?;
        let mut held = Vec::new();
        let mut released: HashSet<Ticket> = HashSet::new();
        let mut reader = spool.reader(manifest.committed);
        while let Some(record) = reader.next_record()? {
            match record.table {
                HELD => held.push(record),
                RELEASED => released.extend(decode_tickets(&record.payload)),
                other => tracing::error!(
                    kind = other,
                    seq = record.seq,
                    "hold log: unknown record skipped"
                ),
            }
        }
        let mut pending = BTreeMap::new();
        let recovered: Vec<Recovered> = held
            .into_iter()
            .filter_map(|record| {
                let unreleased: Vec<u32> = (0..record.rows)
                    .filter(|i| !released.contains(&(record.seq, *i)))
                    .collect();
                pending.insert(record.seq, unreleased.len() as u32);
                (!unreleased.is_empty()).then_some(Recovered {
                    seq: record.seq,
                    payload: record.payload,
                    unreleased,
                })
            })
            .collect();
        pending.retain(|_, n| *n > 0);
        let log = HoldLog {
            spool,
            durable,
            pending: Mutex::new(pending),
        };
        Ok((log, recovered))
    }

    /// Logs `items` items encoded in `payload` (fsynced in durable mode); their record seq.
    /// The fsync wait blocks the calling thread (a receiver's task when the content join holds
    /// spans of a request): only requests whose items are held pay it.
    pub fn hold(&self, payload: &[u8], items: u32) -> Result<u64, SpoolError> {
        let seq = self.spool.append(HELD, items, payload)?;
        if self.durable {
            self.spool.sync_through(seq)?;
        }
        self.lock().insert(seq, items);
        Ok(seq)
    }

    /// Records that these items were let go, and commits what no longer holds anything.
    pub fn release(&self, tickets: &[Ticket]) -> Result<(), SpoolError> {
        if tickets.is_empty() {
            return Ok(());
        }
        let payload = encode_tickets(tickets);
        let seq = self
            .spool
            .append(RELEASED, tickets.len() as u32, &payload)?;
        if self.durable {
            self.spool.sync_through(seq)?;
        }
        let mut pending = self.lock();
        for (record, _) in tickets {
            if let Some(n) = pending.get_mut(record) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    pending.remove(record);
                }
            }
        }
        // Everything before the oldest record still holding items is done.
        let done = pending.keys().next().map_or(seq, |oldest| oldest - 1);
        drop(pending);
        self.spool.record(&Manifest::committed(done))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, u32>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn encode_tickets(tickets: &[Ticket]) -> Vec<u8> {
    let mut out = Vec::with_capacity(tickets.len() * 12);
    for (seq, index) in tickets {
        out.extend_from_slice(&seq.to_le_bytes());
        out.extend_from_slice(&index.to_le_bytes());
    }
    out
}

fn decode_tickets(bytes: &[u8]) -> impl Iterator<Item = Ticket> + '_ {
    bytes.chunks_exact(12).map(|c| {
        (
            u64::from_le_bytes(c[..8].try_into().expect("8 bytes")),
            u32::from_le_bytes(c[8..].try_into().expect("4 bytes")),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gives_back_what_was_held_and_not_released_and_frees_the_rest() {
        let dir = std::env::temp_dir().join(format!("spanlens-hold-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (log, recovered) = HoldLog::open(&dir, 1 << 20, true).unwrap();
        assert!(recovered.is_empty());
        let a = log.hold(b"a0 a1 a2", 3).unwrap();
        let b = log.hold(b"b0", 1).unwrap();
        log.release(&[(a, 0), (a, 2)]).unwrap();
        log.release(&[(b, 0)]).unwrap();
        drop(log);
        let (log, recovered) = HoldLog::open(&dir, 1 << 20, true).unwrap();
        assert_eq!(recovered.len(), 1);
        assert_eq!(
            (
                recovered[0].seq,
                recovered[0].payload.as_slice(),
                recovered[0].unreleased.clone()
            ),
            (a, &b"a0 a1 a2"[..], vec![1])
        );
        log.release(&[(a, 1)]).unwrap();
        drop(log);
        let (_, recovered) = HoldLog::open(&dir, 1 << 20, true).unwrap();
        assert!(recovered.is_empty(), "all released");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
