//! Group commit: one thread per spool fsyncs everything appended since its last fsync whenever
//! somebody waits for a record, and publishes how far that fsync reached. A request appends,
//! then awaits its seq ([`SyncQueue::synced`]) without holding a thread; concurrent requests
//! share one fsync.

use std::io;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, Weak};

use tokio::sync::watch;

use super::{Spool, SpoolError};

/// What the sync thread has done: every record up to `through` is durable; the fsync that was
/// to cover records up to `failed.0` failed with `failed.1`.
#[derive(Clone, Default)]
struct Synced {
    through: u64,
    failed: Option<(u64, Arc<str>)>,
}

#[derive(Default)]
struct Wanted {
    /// Highest seq somebody waits for.
    seq: u64,
    closed: bool,
}

pub(super) struct SyncQueue {
    wanted: Mutex<Wanted>,
    wake: Condvar,
    synced: watch::Sender<Synced>,
}

impl SyncQueue {
    /// A queue whose records up to `through` are already durable.
    pub fn new(through: u64) -> Arc<SyncQueue> {
        let (synced, _) = watch::channel(Synced {
            through,
            failed: None,
        });
        Arc::new(SyncQueue {
            wanted: Mutex::new(Wanted::default()),
            wake: Condvar::new(),
            synced,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Wanted> {
        self.wanted.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until every record up to `seq` is fsynced; the fsync's error if it failed.
    pub async fn synced(&self, seq: u64, dir: &Path) -> Result<(), SpoolError> {
        let mut done = self.synced.subscribe();
        {
            let mut wanted = self.lock();
            if seq > wanted.seq {
                wanted.seq = seq;
                self.wake.notify_one();
            }
        }
        let io_error = |message: &str| SpoolError::Io {
            path: dir.display().to_string(),
            source: io::Error::other(message.to_string()),
        };
        let state = done
            .wait_for(|s| s.through >= seq || s.failed.as_ref().is_some_and(|f| f.0 >= seq))
            .await
            .map_err(|_| io_error("spool closed before the fsync"))?;
        match &state.failed {
            Some((upto, message)) if state.through < seq && *upto >= seq => Err(io_error(message)),
            _ => Ok(()),
        }
    }

    /// Ends the sync thread (the spool is being dropped).
    pub fn close(&self) {
        self.lock().closed = true;
        self.wake.notify_one();
    }

    /// Blocks until somebody waits for a record after `handled`; false once closed.
    fn await_waiter(&self, handled: u64) -> bool {
        let mut wanted = self.lock();
        while wanted.seq <= handled && !wanted.closed {
            wanted = self.wake.wait(wanted).unwrap_or_else(|e| e.into_inner());
        }
        !wanted.closed
    }
}

/// Starts the sync thread of `spool`; it ends when the spool is dropped.
pub(super) fn start(spool: Weak<Spool>, queue: Arc<SyncQueue>) -> io::Result<()> {
    let mut handled = queue.synced.borrow().through;
    std::thread::Builder::new()
        .name("spanlens-spool-sync".into())
        .spawn(move || {
            while queue.await_waiter(handled) {
                let Some(spool) = spool.upgrade() else { return };
                let result = spool.sync_appended();
                drop(spool);
                // A failed fsync is reported to its waiters, not retried: the spool reports
                // itself unhealthy and the clients retry their requests.
                handled = match result {
                    Ok(last) => {
                        queue
                            .synced
                            .send_modify(|s| s.through = s.through.max(last));
                        last
                    }
                    Err((last, e)) => {
                        let message: Arc<str> = e.to_string().into();
                        queue
                            .synced
                            .send_modify(|s| s.failed = Some((last, message)));
                        last
                    }
                };
            }
        })
        .map(|_| ())
}
