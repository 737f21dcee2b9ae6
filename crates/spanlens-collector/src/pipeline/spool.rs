//! The on-disk write-ahead spool: every accepted chunk is appended here before it is
//! acknowledged, and the writer reads it back in order, so neither a ClickHouse outage nor a
//! `kill -9` loses an acknowledged span.
//!
//! Layout: `DIR/<first seq, 20 digits>.seg` segment files of records, and `DIR/manifest`.
//! Record: `len u32 | crc32 u32 | seq u64 | table u8 | rows u32 | payload` (little endian;
//! `len` counts from `seq`, the CRC covers the same bytes). A torn record at the end of the
//! last segment (crash mid-write) fails its CRC and is cut off at open.
//!
//! The manifest records `committed` (every record up to this seq is in ClickHouse) and the
//! batch being inserted (`pending first-last`). The batch's deduplication token is derived
//! from those seqs, so after a crash the same batch is re-sent with the same token and
//! ClickHouse drops the second copy. Segments wholly at or below `committed` are deleted.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

const HEADER: usize = 8; // len + crc
const META: usize = 8 + 1 + 4; // seq + table + rows

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool full: {used} of {max} bytes on disk; retry later")]
    Full { used: u64, max: u64 },
    #[error("spool I/O error in {path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("spool manifest {path} is invalid: {reason}")]
    Manifest { path: String, reason: String },
    #[error("spool {path} is in use by another collector (one spool per collector process)")]
    Locked { path: String },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// One record read back from the spool.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub seq: u64,
    pub table: u8,
    pub rows: u32,
    pub payload: Vec<u8>,
}

impl Record {
    fn disk_size(&self) -> u64 {
        (HEADER + META + self.payload.len()) as u64
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Manifest {
    /// Every record with seq <= committed is stored in ClickHouse.
    pub committed: u64,
    /// The batch being inserted, if any: (first seq, last seq).
    pub pending: Option<(u64, u64)>,
}

struct Segment {
    last_seq: u64,
    path: PathBuf,
    bytes: u64,
}

struct Appender {
    file: File,
    segments: VecDeque<Segment>,
    next_seq: u64,
    bytes_on_disk: u64,
}

pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    segment_bytes: u64,
    appender: Mutex<Appender>,
    /// Serializes fsyncs; holds the highest seq a finished fsync covered.
    sync_lock: Mutex<u64>,
    /// Held (flock) for the spool's lifetime: two processes must never share a spool.
    _lock: File,
}

impl Spool {
    /// Opens (or creates) the spool in `dir`, validating every record and cutting a torn tail.
    pub fn open(
        dir: &Path,
        max_bytes: u64,
        segment_bytes: u64,
    ) -> Result<(Spool, Manifest), SpoolError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let lock_path = dir.join("lock");
        let lock = File::create(&lock_path).map_err(io_err(&lock_path))?;
        lock.try_lock().map_err(|_| SpoolError::Locked {
            path: dir.display().to_string(),
        })?;
        let manifest = read_manifest(dir)?;
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

        let mut segments = VecDeque::new();
        let mut next_seq = manifest.committed + 1;
        for (_, path) in paths {
            let (valid_len, last_seq) = scan_segment(&path)?;
            let on_disk = fs::metadata(&path).map_err(io_err(&path))?.len();
            if valid_len < on_disk {
                tracing::warn!(path = %path.display(), kept = valid_len, cut = on_disk - valid_len, "spool: cutting a torn record");
                OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .and_then(|f| f.set_len(valid_len))
                    .map_err(io_err(&path))?;
            }
            if let Some(last) = last_seq {
                next_seq = next_seq.max(last + 1);
            }
            segments.push_back(Segment {
                last_seq: last_seq.unwrap_or(0),
                path,
                bytes: valid_len,
            });
        }
        let file = new_segment(dir, next_seq, &mut segments)?;
        let bytes_on_disk = segments.iter().map(|s| s.bytes).sum();
        let spool = Spool {
            dir: dir.to_path_buf(),
            max_bytes,
            segment_bytes,
            appender: Mutex::new(Appender {
                file,
                segments,
                next_seq,
                bytes_on_disk,
            }),
            sync_lock: Mutex::new(next_seq - 1),
            _lock: lock,
        };
        spool.delete_committed(manifest.committed);
        Ok((spool, manifest))
    }

    /// Appends a record (written to the OS, not yet fsynced) and returns its seq.
    pub fn append(&self, table: u8, rows: u32, payload: &[u8]) -> Result<u64, SpoolError> {
        let size = (HEADER + META + payload.len()) as u64;
        let mut a = self.appender.lock().unwrap_or_else(|e| e.into_inner());
        if a.bytes_on_disk + size > self.max_bytes {
            return Err(SpoolError::Full {
                used: a.bytes_on_disk,
                max: self.max_bytes,
            });
        }
        if a.segments
            .back()
            .is_some_and(|s| s.bytes > 0 && s.bytes + size > self.segment_bytes)
        {
            // Rotation: the old segment is complete; make it durable before moving on.
            a.file.sync_data().map_err(io_err(&self.dir))?;
            let seq = a.next_seq;
            a.file = new_segment(&self.dir, seq, &mut a.segments)?;
        }
        let seq = a.next_seq;
        let mut record = Vec::with_capacity(size as usize);
        record.extend_from_slice(&((META + payload.len()) as u32).to_le_bytes());
        record.extend_from_slice(&[0; 4]);
        record.extend_from_slice(&seq.to_le_bytes());
        record.push(table);
        record.extend_from_slice(&rows.to_le_bytes());
        record.extend_from_slice(payload);
        let crc = crc32fast::hash(&record[HEADER..]);
        record[4..8].copy_from_slice(&crc.to_le_bytes());
        let path = a
            .segments
            .back()
            .map(|s| s.path.clone())
            .unwrap_or_default();
        a.file.write_all(&record).map_err(io_err(&path))?;
        a.next_seq += 1;
        a.bytes_on_disk += size;
        let segment = a.segments.back_mut().expect("a current segment exists");
        segment.bytes += size;
        segment.last_seq = seq;
        Ok(seq)
    }

    /// Makes every record up to `seq` durable. Concurrent callers share one fsync (group commit).
    pub fn sync_through(&self, seq: u64) -> Result<(), SpoolError> {
        let mut synced = self.sync_lock.lock().unwrap_or_else(|e| e.into_inner());
        if *synced >= seq {
            return Ok(());
        }
        let (file, last) = {
            let a = self.appender.lock().unwrap_or_else(|e| e.into_inner());
            (
                a.file.try_clone().map_err(io_err(&self.dir))?,
                a.next_seq - 1,
            )
        };
        file.sync_data().map_err(io_err(&self.dir))?;
        *synced = last;
        Ok(())
    }

    /// Bytes of records on disk (not yet deleted).
    pub fn bytes_on_disk(&self) -> u64 {
        self.appender
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .bytes_on_disk
    }

    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// Records the batch about to be inserted.
    pub fn set_pending(&self, committed: u64, first: u64, last: u64) -> Result<(), SpoolError> {
        write_manifest(
            &self.dir,
            &Manifest {
                committed,
                pending: Some((first, last)),
            },
        )
    }

    /// Records that everything up to `seq` is stored, and deletes segments no longer needed.
    pub fn commit(&self, seq: u64) -> Result<(), SpoolError> {
        write_manifest(
            &self.dir,
            &Manifest {
                committed: seq,
                pending: None,
            },
        )?;
        self.delete_committed(seq);
        Ok(())
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

    /// A reader positioned at the first record with seq > `after`.
    pub fn reader(&self, after: u64) -> SpoolReader {
        SpoolReader {
            dir: self.dir.clone(),
            after,
            current: None,
        }
    }
}

/// Reads records in seq order across segments, including ones appended after it was created.
pub struct SpoolReader {
    dir: PathBuf,
    /// Seq of the last record returned.
    after: u64,
    current: Option<(u64, BufReader<File>, u64)>, // (segment first seq, reader, offset)
}

impl SpoolReader {
    /// The next record, or None when the reader has caught up with the appender.
    pub fn next_record(&mut self) -> Result<Option<Record>, SpoolError> {
        loop {
            if self.current.is_none() {
                let Some((first, path)) = self.segment_for(self.after + 1)? else {
                    return Ok(None);
                };
                let file = File::open(&path).map_err(io_err(&path))?;
                self.current = Some((first, BufReader::new(file), 0));
            }
            let (first, reader, offset) = self.current.as_mut().expect("set above");
            let (first, at) = match read_record(reader).map_err(io_err(&self.dir))? {
                Some(record) => {
                    *offset += record.disk_size();
                    if record.seq <= self.after {
                        continue; // before our position (reader started mid-segment)
                    }
                    self.after = record.seq;
                    return Ok(Some(record));
                }
                None => (*first, *offset),
            };
            // End of what is written so far. Move on only if a later segment exists.
            if self
                .segment_for(self.after + 1)?
                .is_some_and(|(f, _)| f != first)
            {
                self.current = None;
                continue;
            }
            // Stay here; re-seek so a partially read record is read again once complete.
            let (_, reader, _) = self.current.as_mut().expect("set above");
            reader
                .seek(SeekFrom::Start(at))
                .map_err(io_err(&self.dir))?;
            return Ok(None);
        }
    }

    /// The segment that holds `seq`: the one with the largest first seq <= seq.
    fn segment_for(&self, seq: u64) -> Result<Option<(u64, PathBuf)>, SpoolError> {
        let mut best: Option<(u64, PathBuf)> = None;
        for entry in fs::read_dir(&self.dir)
            .map_err(io_err(&self.dir))?
            .filter_map(|e| e.ok())
        {
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            let Some(first) = name
                .strip_suffix(".seg")
                .and_then(|s| s.parse::<u64>().ok())
            else {
                continue;
            };
            if first <= seq && best.as_ref().is_none_or(|(b, _)| first > *b) {
                best = Some((first, entry.path()));
            }
        }
        Ok(best)
    }
}

fn new_segment(
    dir: &Path,
    first_seq: u64,
    segments: &mut VecDeque<Segment>,
) -> Result<File, SpoolError> {
    if let Some(last) = segments.back()
        && last.bytes == 0
    {
        // Reuse an empty trailing segment (e.g. left by a previous start).
        return OpenOptions::new()
            .append(true)
            .open(&last.path)
            .map_err(io_err(&last.path));
    }
    let path = dir.join(format!("{first_seq:020}.seg"));
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(io_err(&path))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))?;
    segments.push_back(Segment {
        last_seq: 0,
        path,
        bytes: 0,
    });
    Ok(file)
}

/// Returns the length of the valid prefix and the last valid seq.
fn scan_segment(path: &Path) -> Result<(u64, Option<u64>), SpoolError> {
    let mut reader = BufReader::new(File::open(path).map_err(io_err(path))?);
    let mut valid = 0u64;
    let mut last = None;
    while let Ok(Some(record)) = read_record(&mut reader) {
        valid += record.disk_size();
        last = Some(record.seq);
    }
    Ok((valid, last))
}

/// Reads one record; None at a clean end, a short read or a bad CRC (a torn tail).
fn read_record(reader: &mut impl Read) -> io::Result<Option<Record>> {
    let mut header = [0u8; HEADER];
    if !read_full(reader, &mut header)? {
        return Ok(None);
    }
    let len = u32::from_le_bytes(header[0..4].try_into().expect("4 bytes")) as usize;
    let crc = u32::from_le_bytes(header[4..8].try_into().expect("4 bytes"));
    if !(META..=1 << 30).contains(&len) {
        return Ok(None);
    }
    let mut body = vec![0u8; len];
    if !read_full(reader, &mut body)? || crc32fast::hash(&body) != crc {
        return Ok(None);
    }
    let seq = u64::from_le_bytes(body[0..8].try_into().expect("8 bytes"));
    let table = body[8];
    let rows = u32::from_le_bytes(body[9..13].try_into().expect("4 bytes"));
    body.drain(..META);
    Ok(Some(Record {
        seq,
        table,
        rows,
        payload: body,
    }))
}

/// Fills `buf`; false if the stream ended first (a partial read counts as the end).
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<bool> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => return Ok(false),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

fn read_manifest(dir: &Path) -> Result<Manifest, SpoolError> {
    let path = dir.join("manifest");
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Manifest::default()),
        Err(e) => return Err(io_err(&path)(e)),
    };
    let bad = |reason: &str| SpoolError::Manifest {
        path: path.display().to_string(),
        reason: reason.into(),
    };
    let mut manifest = Manifest::default();
    for line in text.lines() {
        match line.split_once('=') {
            Some(("committed", v)) => {
                manifest.committed = v
                    .trim()
                    .parse()
                    .map_err(|_| bad("committed is not a number"))?
            }
            Some(("pending", v)) => {
                let (a, b) = v
                    .trim()
                    .split_once('-')
                    .ok_or_else(|| bad("pending must be first-last"))?;
                manifest.pending = Some((
                    a.parse().map_err(|_| bad("bad pending"))?,
                    b.parse().map_err(|_| bad("bad pending"))?,
                ));
            }
            _ if line.trim().is_empty() => {}
            _ => return Err(bad(&format!("unexpected line {line:?}"))),
        }
    }
    Ok(manifest)
}

/// Atomic replace: write a temp file, fsync, rename over the manifest.
fn write_manifest(dir: &Path, manifest: &Manifest) -> Result<(), SpoolError> {
    let path = dir.join("manifest");
    let tmp = dir.join("manifest.tmp");
    let mut text = format!("committed={}\n", manifest.committed);
    if let Some((a, b)) = manifest.pending {
        text.push_str(&format!("pending={a}-{b}\n"));
    }
    let mut file = File::create(&tmp).map_err(io_err(&tmp))?;
    file.write_all(text.as_bytes())
        .and_then(|_| file.sync_data())
        .map_err(io_err(&tmp))?;
    fs::rename(&tmp, &path).map_err(io_err(&path))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("spanlens-spool-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn appends_reads_back_in_order_across_segments_and_reopens() {
        let dir = temp_dir("order");
        let (spool, manifest) = Spool::open(&dir, 1 << 20, 100).unwrap();
        assert_eq!(manifest, Manifest::default());
        let mut reader = spool.reader(0);
        for i in 0..10u32 {
            let seq = spool.append((i % 2) as u8, i, &[i as u8; 40]).unwrap();
            assert_eq!(seq, i as u64 + 1);
        }
        spool.sync_through(10).unwrap();
        let got: Vec<Record> = std::iter::from_fn(|| reader.next_record().unwrap()).collect();
        assert_eq!(got.len(), 10);
        assert_eq!(
            got[3],
            Record {
                seq: 4,
                table: 1,
                rows: 3,
                payload: vec![3; 40]
            }
        );
        assert!(reader.next_record().unwrap().is_none());
        spool.append(0, 99, b"later").unwrap();
        assert_eq!(reader.next_record().unwrap().unwrap().rows, 99);

        spool.set_pending(0, 1, 6).unwrap();
        let err = Spool::open(&dir, 1 << 20, 100).err().unwrap();
        assert!(matches!(err, SpoolError::Locked { .. }), "{err}");
        drop(spool);
        let (spool, manifest) = Spool::open(&dir, 1 << 20, 100).unwrap();
        assert_eq!(
            manifest,
            Manifest {
                committed: 0,
                pending: Some((1, 6))
            }
        );
        assert_eq!(
            spool.append(0, 1, b"x").unwrap(),
            12,
            "seq continues after a restart"
        );
        spool.commit(6).unwrap();
        let mut reader = spool.reader(6);
        assert_eq!(reader.next_record().unwrap().unwrap().seq, 7);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn commit_deletes_old_segments_and_frees_space() {
        let dir = temp_dir("commit");
        let (spool, _) = Spool::open(&dir, 10_000, 200).unwrap();
        for _ in 0..20 {
            spool.append(0, 1, &[7; 80]).unwrap();
        }
        let before = spool.bytes_on_disk();
        assert_eq!(before, 20 * (16 + 80 + 5));
        spool.commit(20).unwrap();
        assert!(
            spool.bytes_on_disk() < 300,
            "only the current segment remains"
        );
        let segs = fs::read_dir(&dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "seg")
            })
            .count();
        assert_eq!(segs, 1);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn full_spool_refuses_and_torn_tail_is_cut() {
        let dir = temp_dir("full");
        let (spool, _) = Spool::open(&dir, 300, 1 << 20).unwrap();
        spool.append(0, 1, &[1; 100]).unwrap();
        spool.append(0, 1, &[2; 100]).unwrap();
        let err = spool.append(0, 1, &[3; 100]).unwrap_err();
        assert!(matches!(err, SpoolError::Full { .. }), "{err}");
        drop(spool);
        // Simulate a crash mid-write: half a record at the end.
        let seg = dir.join(format!("{:020}.seg", 1));
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(&[50, 0, 0, 0, 1, 2, 3]).unwrap();
        drop(f);
        let (spool, _) = Spool::open(&dir, 1 << 20, 1 << 20).unwrap();
        let mut reader = spool.reader(0);
        assert_eq!(reader.next_record().unwrap().unwrap().payload, vec![1; 100]);
        assert_eq!(reader.next_record().unwrap().unwrap().payload, vec![2; 100]);
        assert!(reader.next_record().unwrap().is_none());
        assert_eq!(spool.append(0, 1, b"ok").unwrap(), 3);
        fs::remove_dir_all(&dir).unwrap();
    }
}
