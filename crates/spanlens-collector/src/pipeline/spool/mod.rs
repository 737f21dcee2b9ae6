//! The on-disk write-ahead spool: every accepted chunk is appended here before it is
//! acknowledged, and the writer reads it back in order, so neither a ClickHouse outage nor a
//! `kill -9` loses an acknowledged span.
//!
//! Layout: `DIR/<first seq, 20 digits>.seg` segment files of records (format: [`record`]),
//! `DIR/manifest`, `DIR/damaged/` and the `DIR/lock` file.
//!
//! The manifest ([`Manifest`]) records `committed` (every record up to this seq is in
//! ClickHouse), how far each table is written beyond it, and the batch being inserted
//! (its table and seq range). The batch's deduplication token is derived from those, so after
//! a crash the same batch is re-sent with the same token and ClickHouse drops the second copy.
//! Segments wholly at or below `committed` are deleted. The spool does not interpret record
//! payloads or table codes: the pipeline's batcher does (as does its hold log).
//!
//! A full spool (`max_bytes` reached) refuses the append with [`SpoolError::Full`], which the
//! receivers answer 503 / UNAVAILABLE; a failed write with [`SpoolError::Io`], the same.
//!
//! Damage costs only what is damaged: records carry a sync marker, so a bad record (found at
//! open or by the reader) is skipped to the next valid one; its bytes are copied to
//! `DIR/damaged/<segment>-<offset>.bin`, counted and logged once with the seqs around it. A
//! torn record at the end of the last segment (a crash mid-write) is cut at open. A failed
//! append is undone (the segment is cut back to its last whole record) and the spool reports
//! itself unhealthy until a write succeeds again.

mod manifest;
mod reader;
pub mod record;
mod syncer;

use std::collections::{HashSet, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use manifest::ManifestFile;
pub(crate) use manifest::{Manifest, PendingBatch};
pub(crate) use reader::SpoolReader;
pub(crate) use record::Record;
use record::{Item, SEGMENT_MAGIC};
use std::sync::{Arc, Mutex};
use syncer::SyncQueue;

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool full: {used} of {max} bytes on disk (pipeline.spool_max_bytes); retry later")]
    Full { used: u64, max: u64 },
    #[error("spool I/O error in {path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("spool manifest {path} is invalid: {reason}")]
    Manifest { path: String, reason: String },
    #[error("spool {path} is in use by another collector (one spool per collector process)")]
    Locked { path: String },
    #[error(
        "spool segment {path} was written by an older Spanlens (spool format 1), which this \
         version cannot read. Nothing was deleted: let the previous version drain it \
         (spanlens_spool_bytes falls to 0), or move the directory aside and start with an empty spool"
    )]
    OldFormat { path: String },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io {
        path: path.display().to_string(),
        source,
    }
}

struct Segment {
    first_seq: u64,
    path: PathBuf,
    /// Highest seq in it (0: none); lowered when the reader finds its last records damaged.
    last_seq: u64,
    /// End of what is written and readable: the reader never reads past it.
    bytes: u64,
}

struct Appender {
    /// Shared with the sync thread, which fsyncs it without holding the appender.
    file: Arc<File>,
    /// In file order; the last one is being appended to.
    segments: VecDeque<Segment>,
    next_seq: u64,
    bytes_on_disk: u64,
    /// A failed append could not be undone: start a new segment before the next one.
    rotate: bool,
}

/// Counters of the spool's health, for /metrics.
#[derive(Default, Debug)]
pub(crate) struct SpoolStats {
    /// Damaged regions skipped (each set aside once).
    pub damaged_regions: AtomicU64,
    pub damaged_bytes: AtomicU64,
    /// Failed writes and fsyncs (answered 503).
    pub io_errors: AtomicU64,
}

/// Damaged regions of segments: each is set aside, counted and logged once.
struct Damaged {
    dir: PathBuf,
    /// (segment first seq, offset) of the regions already set aside.
    seen: Mutex<HashSet<(u64, u64)>>,
}

pub(crate) struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    segment_bytes: u64,
    appender: Mutex<Appender>,
    manifest: Mutex<ManifestFile>,
    /// Group commit: the sync thread and the appends waiting for it.
    sync: Arc<SyncQueue>,
    /// False from a failed write until one succeeds again (readiness).
    healthy: AtomicBool,
    pub stats: SpoolStats,
    damaged: Damaged,
    /// Held (flock) for the spool's lifetime: two processes must never share a spool.
    _lock: File,
}

impl Spool {
    /// Opens (or creates) the spool in `dir`: validates every record, sets damaged regions
    /// aside and cuts a torn tail. Starts its sync thread, which ends when the spool is dropped.
    pub fn open(
        dir: &Path,
        max_bytes: u64,
        segment_bytes: u64,
    ) -> Result<(Arc<Spool>, Manifest), SpoolError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let lock_path = dir.join("lock");
        let lock = File::create(&lock_path).map_err(io_err(&lock_path))?;
        lock.try_lock().map_err(|_| SpoolError::Locked {
            path: dir.display().to_string(),
        })?;
        let (manifest_file, manifest) = ManifestFile::open(dir)?;
        let mut paths: Vec<(u64, PathBuf)> = fs::read_dir(dir)
            .map_err(io_err(dir))?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let seq = name.strip_suffix(".seg")?.parse().ok()?;
                Some((seq, e.path()))
            })
            .collect();
        paths.sort();

        let stats = SpoolStats::default();
        let damaged = Damaged {
            dir: dir.join("damaged"),
            seen: Mutex::new(HashSet::new()),
        };
        let count = paths.len();
        let mut segments = VecDeque::new();
        for (i, (first_seq, path)) in paths.into_iter().enumerate() {
            let last = i + 1 == count;
            segments.push_back(open_segment(first_seq, path, last, &damaged, &stats)?);
        }
        let last_seq = segments.iter().map(|s| s.last_seq).max().unwrap_or(0);
        let next_seq = (manifest.committed + 1).max(last_seq + 1);
        let file = new_segment(dir, next_seq, &mut segments)?;
        let bytes_on_disk = segments.iter().map(|s| s.bytes).sum();
        let spool = Spool {
            dir: dir.to_path_buf(),
            max_bytes,
            segment_bytes,
            appender: Mutex::new(Appender {
                file: Arc::new(file),
                segments,
                next_seq,
                bytes_on_disk,
                rotate: false,
            }),
            manifest: Mutex::new(manifest_file),
            sync: SyncQueue::new(next_seq - 1),
            healthy: AtomicBool::new(true),
            stats,
            damaged,
            _lock: lock,
        };
        spool.delete_committed(manifest.committed);
        let spool = Arc::new(spool);
        syncer::start(Arc::downgrade(&spool), spool.sync.clone()).map_err(io_err(dir))?;
        Ok((spool, manifest))
    }

    /// Appends a record (written to the OS, not yet fsynced) and returns its seq.
    pub fn append(&self, table: u8, rows: u32, payload: &[u8]) -> Result<u64, SpoolError> {
        let size = record::disk_size(payload.len());
        let mut a = self.appender.lock().unwrap_or_else(|e| e.into_inner());
        if a.bytes_on_disk + size > self.max_bytes {
            return Err(SpoolError::Full {
                used: a.bytes_on_disk,
                max: self.max_bytes,
            });
        }
        let current = a.segments.back().expect("a current segment exists");
        let header = SEGMENT_MAGIC.len() as u64;
        if a.rotate || (current.bytes > header && current.bytes + size > self.segment_bytes) {
            self.rotate(&mut a).inspect_err(|_| self.io_failed())?;
        }
        let seq = a.next_seq;
        if let Err(e) = record::write_record(&mut &*a.file, seq, table, rows, payload) {
            // Undo a partial write so the next record starts where the reader expects one.
            let end = a.segments.back().expect("current").bytes;
            a.rotate = a.file.set_len(end).is_err();
            self.io_failed();
            return Err(io_err(&self.current_path(&a))(e));
        }
        a.next_seq += 1;
        a.bytes_on_disk += size;
        let segment = a.segments.back_mut().expect("a current segment exists");
        segment.bytes += size;
        segment.last_seq = seq;
        self.healthy.store(true, Relaxed);
        Ok(seq)
    }

    /// Seals the current segment (durable) and starts the next one.
    fn rotate(&self, a: &mut Appender) -> Result<(), SpoolError> {
        a.file.sync_data().map_err(io_err(&self.current_path(a)))?;
        let first = a.next_seq;
        a.file = Arc::new(new_segment(&self.dir, first, &mut a.segments)?);
        a.bytes_on_disk += SEGMENT_MAGIC.len() as u64;
        a.rotate = false;
        Ok(())
    }

    fn current_path(&self, a: &Appender) -> PathBuf {
        a.segments
            .back()
            .map_or_else(|| self.dir.clone(), |s| s.path.clone())
    }

    fn io_failed(&self) {
        self.healthy.store(false, Relaxed);
        self.stats.io_errors.fetch_add(1, Relaxed);
    }

    /// Waits until every record up to `seq` is durable; concurrent waiters share one fsync
    /// (group commit, on the spool's sync thread).
    pub async fn synced(&self, seq: u64) -> Result<(), SpoolError> {
        self.sync.synced(seq, &self.dir).await
    }

    /// [`Spool::synced`] for callers on a blocking thread.
    pub fn sync_through(&self, seq: u64) -> Result<(), SpoolError> {
        futures::executor::block_on(self.synced(seq))
    }

    /// The sync thread's fsync: of everything appended so far, whose last seq it returns.
    fn sync_appended(&self) -> Result<u64, (u64, SpoolError)> {
        let (file, last) = {
            let a = self.appender.lock().unwrap_or_else(|e| e.into_inner());
            (a.file.clone(), a.next_seq - 1)
        };
        file.sync_data().map(|_| last).map_err(|e| {
            self.io_failed();
            (last, io_err(&self.dir)(e))
        })
    }

    /// Whether the spool can take writes: true unless the last write failed and a probe write
    /// (64 KiB, fsynced, removed) still fails. Err carries the reason.
    pub fn check_writable(&self) -> Result<(), SpoolError> {
        if self.healthy.load(Relaxed) {
            return Ok(());
        }
        let path = self.dir.join("probe");
        let probe = File::create(&path)
            .and_then(|mut f| f.write_all(&[0u8; 64 << 10]).and_then(|_| f.sync_data()));
        let _ = fs::remove_file(&path);
        probe.map_err(io_err(&path))?;
        self.healthy.store(true, Relaxed);
        Ok(())
    }

    /// Bytes of records on disk (not yet deleted).
    pub fn bytes_on_disk(&self) -> u64 {
        self.appender
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .bytes_on_disk
    }

    /// Writes `manifest` (fsynced) and deletes the segments wholly at or below its
    /// `committed`: what the reader has stored, and the batch it is about to insert.
    pub fn record(&self, manifest: &Manifest) -> Result<(), SpoolError> {
        self.write_manifest(manifest)?;
        self.delete_committed(manifest.committed);
        Ok(())
    }

    fn write_manifest(&self, manifest: &Manifest) -> Result<(), SpoolError> {
        let mut file = self.manifest.lock().unwrap_or_else(|e| e.into_inner());
        file.write(manifest).inspect_err(|_| self.io_failed())
    }

    fn delete_committed(&self, committed: u64) {
        let mut a = self.appender.lock().unwrap_or_else(|e| e.into_inner());
        // Never delete the segment being appended to (the last one).
        while a.segments.len() > 1 && a.segments.front().is_some_and(|s| s.last_seq <= committed) {
            let segment = a.segments.pop_front().expect("checked");
            a.bytes_on_disk -= segment.bytes;
            if let Err(e) = fs::remove_file(&segment.path) {
                tracing::warn!(path = %segment.path.display(), error = %e, "spool: cannot delete segment");
            }
        }
    }

    /// The reader found damage in a segment.
    fn damage_found(
        &self,
        first_seq: u64,
        path: &Path,
        offset: u64,
        len: u64,
        after_seq: u64,
        next_seq: Option<u64>,
    ) {
        let (stats, after) = (&self.stats, Some(after_seq));
        self.damaged
            .found(stats, first_seq, path, offset, len, after, next_seq);
    }

    /// The segment to start reading after `seq`: the first that may hold a later record.
    fn segment_after_seq(&self, seq: u64) -> Option<(u64, PathBuf)> {
        let a = self.appender.lock().unwrap_or_else(|e| e.into_inner());
        let n = a.segments.len();
        a.segments
            .iter()
            .enumerate()
            .find(|(i, s)| s.last_seq > seq || i + 1 == n)
            .map(|(_, s)| (s.first_seq, s.path.clone()))
    }

    /// The segment following the one that starts at `first_seq`.
    fn segment_following(&self, first_seq: u64) -> Option<(u64, PathBuf)> {
        let a = self.appender.lock().unwrap_or_else(|e| e.into_inner());
        a.segments
            .iter()
            .find(|s| s.first_seq > first_seq)
            .map(|s| (s.first_seq, s.path.clone()))
    }

    /// How far the segment starting at `first_seq` may be read, and whether it is sealed (no
    /// more appends). None once it was deleted.
    fn segment_limit(&self, first_seq: u64) -> Option<(u64, bool)> {
        let a = self.appender.lock().unwrap_or_else(|e| e.into_inner());
        let n = a.segments.len();
        a.segments
            .iter()
            .enumerate()
            .find(|(_, s)| s.first_seq == first_seq)
            .map(|(i, s)| (s.bytes, i + 1 < n))
    }

    /// The reader has read a sealed segment to its end; `last_read` is the highest seq it found
    /// there (lower than recorded when damage hid the last records), so it can be deleted
    /// once that is committed.
    fn finished_segment(&self, first_seq: u64, last_read: u64) {
        let mut a = self.appender.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = a.segments.iter_mut().find(|s| s.first_seq == first_seq) {
            s.last_seq = s.last_seq.min(last_read);
        }
    }
}

impl Damaged {
    /// Copies a damaged region to `DIR/damaged/`, counts it and logs it, once per region.
    #[allow(clippy::too_many_arguments)]
    fn found(
        &self,
        stats: &SpoolStats,
        first_seq: u64,
        path: &Path,
        offset: u64,
        len: u64,
        after_seq: Option<u64>,
        next_seq: Option<u64>,
    ) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if !seen.insert((first_seq, offset)) {
            return;
        }
        drop(seen);
        stats.damaged_regions.fetch_add(1, Relaxed);
        stats.damaged_bytes.fetch_add(len, Relaxed);
        let saved_to = self.dir.join(format!("{first_seq:020}-{offset}.bin"));
        let saved = copy_range(path, offset, len, &saved_to);
        tracing::error!(
            segment = %path.display(),
            offset,
            bytes = len,
            after_seq = ?after_seq,
            next_seq = ?next_seq,
            saved_to = %saved_to.display(),
            saved = ?saved.err().map(|e| e.to_string()),
            "spool: damaged bytes skipped and set aside; records between after_seq and next_seq are lost"
        );
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        self.sync.close();
    }
}

/// Checks one segment at open: its header, every record (damage set aside), and for the
/// last segment a torn tail (cut).
fn open_segment(
    first_seq: u64,
    path: PathBuf,
    last: bool,
    damaged: &Damaged,
    stats: &SpoolStats,
) -> Result<Segment, SpoolError> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .map_err(io_err(&path))?;
    let len = file.metadata().map_err(io_err(&path))?.len();
    let header_len = SEGMENT_MAGIC.len() as u64;
    let mut header = [0u8; SEGMENT_MAGIC.len()];
    let whole = file.read_exact(&mut header).is_ok();
    if !whole || header != SEGMENT_MAGIC {
        if whole && record::is_format1(&path).map_err(io_err(&path))? {
            return Err(SpoolError::OldFormat {
                path: path.display().to_string(),
            });
        }
        if len > 0 {
            // A damaged header (an empty file is a segment whose creation was cut short).
            damaged.found(stats, first_seq, &path, 0, len.min(header_len), None, None);
        }
        file.seek(SeekFrom::Start(0))
            .and_then(|_| file.write_all(&SEGMENT_MAGIC))
            .and_then(|_| file.sync_data())
            .map_err(io_err(&path))?;
    }
    let len = len.max(header_len);
    let mut reader = BufReader::new(file);
    let mut offset = header_len;
    reader
        .seek(SeekFrom::Start(offset))
        .map_err(io_err(&path))?;
    let mut last_seq = 0;
    while let Some(item) =
        record::next_item(&mut reader, &mut offset, len).map_err(io_err(&path))?
    {
        match item {
            Item::Record(r) => last_seq = r.seq,
            Item::Damage {
                offset: at,
                len: n,
                next_seq: None,
            } if last => {
                tracing::warn!(path = %path.display(), kept = at, cut = n, "spool: cutting a torn record at the end");
                reader.get_mut().set_len(at).map_err(io_err(&path))?;
                offset = at;
                break;
            }
            Item::Damage {
                offset: at,
                len: n,
                next_seq,
            } => damaged.found(stats, first_seq, &path, at, n, Some(last_seq), next_seq),
        }
    }
    Ok(Segment {
        first_seq,
        path,
        last_seq,
        bytes: offset,
    })
}

/// Copies `len` bytes at `offset` of `from` into the new file `to`.
fn copy_range(from: &Path, offset: u64, len: u64, to: &Path) -> io::Result<()> {
    fs::create_dir_all(to.parent().expect("inside the spool dir"))?;
    let mut src = File::open(from)?;
    src.seek(SeekFrom::Start(offset))?;
    let mut dst = File::create(to)?;
    io::copy(&mut src.take(len), &mut dst)?;
    dst.sync_data()
}

/// Creates the segment starting at `first_seq` (header written, directory entry durable).
fn new_segment(
    dir: &Path,
    first_seq: u64,
    segments: &mut VecDeque<Segment>,
) -> Result<File, SpoolError> {
    if let Some(last) = segments.back()
        && last.last_seq == 0
        && last.bytes == SEGMENT_MAGIC.len() as u64
    {
        // Reuse an empty trailing segment (e.g. left by a previous start).
        return OpenOptions::new()
            .append(true)
            .open(&last.path)
            .map_err(io_err(&last.path));
    }
    let path = dir.join(format!("{first_seq:020}.seg"));
    let created = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(&SEGMENT_MAGIC).map(|_| f))
        .and_then(|f| File::open(dir)?.sync_all().map(|_| f));
    let file = created.map_err(|e| {
        let _ = fs::remove_file(&path);
        io_err(&path)(e)
    })?;
    segments.push_back(Segment {
        first_seq,
        path,
        last_seq: 0,
        bytes: SEGMENT_MAGIC.len() as u64,
    });
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("spanlens-spool-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    fn open(dir: &Path, max: u64, segment: u64) -> (Arc<Spool>, Manifest) {
        Spool::open(dir, max, segment).unwrap()
    }

    fn read_all(reader: &mut SpoolReader) -> Vec<Record> {
        std::iter::from_fn(|| reader.next_record().unwrap()).collect()
    }

    fn seqs(records: &[Record]) -> Vec<u64> {
        records.iter().map(|r| r.seq).collect()
    }

    fn segment_files(dir: &Path) -> usize {
        let entries = fs::read_dir(dir).unwrap();
        entries
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "seg")
            })
            .count()
    }

    fn segment_path(dir: &Path, first_seq: u64) -> PathBuf {
        dir.join(format!("{first_seq:020}.seg"))
    }

    /// Flips one byte of a file.
    fn flip(path: &Path, offset: u64) {
        let mut bytes = fs::read(path).unwrap();
        bytes[offset as usize] ^= 0x5a;
        fs::write(path, bytes).unwrap();
    }

    const PAYLOAD: usize = 40;
    /// Segment header, then records of 29 + PAYLOAD bytes.
    const fn record_offset(index_in_segment: u64) -> u64 {
        8 + index_in_segment * record::disk_size(PAYLOAD)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_sync_thread_answers_every_waiter_across_segments() {
        let dir = temp_dir("group-commit");
        // Small segments: waiters span rotations (which fsync the sealed segment themselves).
        let (spool, _) = open(&dir, 1 << 20, 4 * record::disk_size(PAYLOAD));
        let waits = (0..64u8).map(|i| {
            let spool = spool.clone();
            tokio::spawn(async move {
                let seq = spool.append(0, 1, &[i; PAYLOAD]).unwrap();
                spool.synced(seq).await.map(|()| seq)
            })
        });
        // A sync thread that never answers fails the test instead of hanging it.
        let answered = std::time::Duration::from_secs(30);
        let mut seqs: Vec<u64> = tokio::time::timeout(answered, futures::future::join_all(waits))
            .await
            .expect("every waiter answered")
            .into_iter()
            .map(|r| r.unwrap().unwrap())
            .collect();
        seqs.sort();
        assert_eq!(seqs, (1..=64).collect::<Vec<_>>());
        // The blocking form, from a thread outside the runtime, and for a seq already synced.
        let blocking = spool.clone();
        std::thread::spawn(move || {
            let seq = blocking.append(1, 1, b"last").unwrap();
            blocking.sync_through(seq).unwrap();
            blocking.sync_through(1).unwrap();
        })
        .join()
        .unwrap();
        drop(spool);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn appends_reads_back_in_order_across_segments_and_reopens() {
        let dir = temp_dir("order");
        let (spool, manifest) = open(&dir, 1 << 20, 100);
        assert_eq!(manifest, Manifest::default());
        let mut reader = spool.reader(0);
        for i in 0..10u32 {
            let seq = spool.append((i % 2) as u8, i, &[i as u8; PAYLOAD]).unwrap();
            assert_eq!(seq, i as u64 + 1);
        }
        spool.sync_through(10).unwrap();
        let got = read_all(&mut reader);
        assert_eq!(seqs(&got), (1..=10).collect::<Vec<_>>());
        assert_eq!(
            got[3],
            Record {
                seq: 4,
                table: 1,
                rows: 3,
                payload: vec![3; PAYLOAD]
            }
        );
        assert!(reader.next_record().unwrap().is_none());
        spool.append(0, 99, b"later").unwrap();
        assert_eq!(reader.next_record().unwrap().unwrap().rows, 99);

        let mut pending = Manifest::committed(0);
        pending.pending = Some(PendingBatch {
            table: Some(0),
            first: 1,
            last: 6,
        });
        spool.record(&pending).unwrap();
        let err = Spool::open(&dir, 1 << 20, 100).err().unwrap();
        assert!(matches!(err, SpoolError::Locked { .. }), "{err}");
        drop((reader, spool));
        let (spool, manifest) = open(&dir, 1 << 20, 100);
        assert_eq!(manifest, pending);
        assert_eq!(
            spool.append(0, 1, b"x").unwrap(),
            12,
            "seq continues after a restart"
        );
        spool.record(&Manifest::committed(6)).unwrap();
        let mut reader = spool.reader(6);
        assert_eq!(reader.next_record().unwrap().unwrap().seq, 7);
        assert_eq!(spool.stats.damaged_regions.load(Relaxed), 0);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn commit_deletes_old_segments_and_frees_space() {
        let dir = temp_dir("commit");
        let (spool, _) = open(&dir, 10_000, 300);
        for _ in 0..20 {
            spool.append(0, 1, &[7; 80]).unwrap();
        }
        // 2 records of 109 bytes per segment after its 8-byte header: 10 segments.
        assert_eq!(spool.bytes_on_disk(), 20 * 109 + 10 * 8);
        spool.record(&Manifest::committed(20)).unwrap();
        assert!(
            spool.bytes_on_disk() < 300,
            "only the current segment remains"
        );
        assert_eq!(segment_files(&dir), 1);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn full_spool_refuses_and_torn_tail_is_cut() {
        let dir = temp_dir("full");
        let (spool, _) = open(&dir, 300, 1 << 20);
        spool.append(0, 1, &[1; 100]).unwrap();
        spool.append(0, 1, &[2; 100]).unwrap();
        let err = spool.append(0, 1, &[3; 100]).unwrap_err();
        assert!(matches!(err, SpoolError::Full { .. }), "{err}");
        drop(spool);
        // A crash mid-write: part of a record at the end.
        let seg = segment_path(&dir, 1);
        let whole = fs::read(&seg).unwrap();
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(&whole[8..8 + 40]).unwrap();
        drop(f);
        let (spool, _) = open(&dir, 1 << 20, 1 << 20);
        assert_eq!(
            fs::metadata(&seg).unwrap().len(),
            whole.len() as u64,
            "tail cut"
        );
        let mut reader = spool.reader(0);
        let got = read_all(&mut reader);
        assert_eq!(got.iter().map(|r| r.payload[0]).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(spool.append(0, 1, b"ok").unwrap(), 3);
        assert_eq!(
            spool.stats.damaged_regions.load(Relaxed),
            0,
            "a torn tail is not damage"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    /// Three segments of four records each (seqs 1-12, segment size fits four), plus an
    /// empty current one.
    fn three_segments(dir: &Path) -> Arc<Spool> {
        let (spool, _) = open(dir, 1 << 20, record_offset(4));
        for i in 1..=12u8 {
            spool.append(0, 1, &[i; PAYLOAD]).unwrap();
        }
        spool
    }

    /// (segment first seq, byte offset in it, the seq whose record it damages).
    const DAMAGE: [(u64, u64, u64, &str); 6] = [
        (
            1,
            record_offset(0) + 2,
            1,
            "first record of the first segment: its sync marker",
        ),
        (1, record_offset(0) + 9, 1, "first record: its length field"),
        (
            5,
            record_offset(1) + 30,
            6,
            "middle segment, second record: payload",
        ),
        (
            5,
            record_offset(3) + 20,
            8,
            "last record of a middle segment: seq (under the CRC)",
        ),
        (9, record_offset(2) + 12, 11, "last segment: its CRC"),
        (9, 3, 0, "segment header"),
    ];

    #[test]
    fn damage_anywhere_while_stopped_costs_only_the_damaged_record() {
        for (segment, offset, lost, what) in DAMAGE {
            let dir = temp_dir("damage-stopped");
            drop(three_segments(&dir));
            flip(&segment_path(&dir, segment), offset);
            let (spool, _) = open(&dir, 1 << 20, record_offset(4));
            let got = seqs(&read_all(&mut spool.reader(0)));
            let expected: Vec<u64> = (1..=12).filter(|s| *s != lost).collect();
            assert_eq!(got, expected, "{what}");
            assert_eq!(
                spool.stats.damaged_regions.load(Relaxed),
                1,
                "{what}: counted once"
            );
            let aside: Vec<_> = fs::read_dir(dir.join("damaged")).unwrap().collect();
            assert_eq!(aside.len(), 1, "{what}: set aside");
            assert_eq!(spool.append(0, 1, b"next").unwrap(), 13, "{what}");
            fs::remove_dir_all(&dir).unwrap();
        }
    }

    #[test]
    fn damage_while_running_is_skipped_by_the_reader_and_segments_are_freed() {
        for (segment, offset, lost, what) in DAMAGE.into_iter().filter(|d| d.2 != 0) {
            let dir = temp_dir("damage-running");
            let spool = three_segments(&dir);
            let mut reader = spool.reader(0);
            flip(&segment_path(&dir, segment), offset);
            let got = read_all(&mut reader);
            let expected: Vec<u64> = (1..=12).filter(|s| *s != lost).collect();
            assert_eq!(seqs(&got), expected, "{what}");
            assert_eq!(spool.stats.damaged_regions.load(Relaxed), 1, "{what}");
            spool.append(0, 1, b"after").unwrap();
            assert_eq!(reader.next_record().unwrap().unwrap().seq, 13, "{what}");
            spool.record(&Manifest::committed(13)).unwrap();
            let what = format!("{what}: sealed segments deleted once committed");
            assert_eq!(segment_files(&dir), 1, "{what}");
            drop((reader, spool));
            fs::remove_dir_all(&dir).unwrap();
        }
    }

    #[test]
    fn a_spool_of_the_previous_format_is_refused_with_a_clear_message() {
        let dir = temp_dir("format1");
        fs::create_dir_all(&dir).unwrap();
        // Format 1: len u32 | crc u32 | seq u64 | table u8 | rows u32 | payload.
        let mut body = 1u64.to_le_bytes().to_vec();
        body.push(0);
        body.extend_from_slice(&1u32.to_le_bytes());
        body.extend_from_slice(b"old rows");
        let mut bytes = (body.len() as u32).to_le_bytes().to_vec();
        bytes.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
        bytes.extend_from_slice(&body);
        fs::write(segment_path(&dir, 1), &bytes).unwrap();
        let err = Spool::open(&dir, 1 << 20, 1 << 20).err().unwrap();
        assert!(matches!(err, SpoolError::OldFormat { .. }), "{err}");
        assert!(err.to_string().contains("older Spanlens"), "{err}");
        assert_eq!(
            fs::read(segment_path(&dir, 1)).unwrap(),
            bytes,
            "left untouched"
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
