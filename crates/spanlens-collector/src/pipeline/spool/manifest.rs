//! The spool manifest: what is committed to ClickHouse, how far each table is written, and
//! which batch is being inserted.
//!
//! Two fixed 192-byte slots, written in place in turn and fsynced; the valid slot with the
//! higher generation wins. Slot (little endian): `magic | generation | committed | pending
//! first | pending last | pending table | written[16] | crc32 | padding`. Writing in place
//! never allocates disk space, so a full disk can still record commits — and commits are what
//! free the disk. Manifests of the two earlier formats (48-byte slots; a text file) are read
//! and rewritten in this one.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::{SpoolError, io_err};

const MAGIC: [u8; 8] = *b"SLMANIF3";
/// Table codes the manifest keeps a written mark for.
pub const TABLE_CODES: usize = 16;
/// generation, committed, pending first / last / table, then one mark per table code.
const WORDS: usize = 5 + TABLE_CODES;
const CRC_AT: usize = 8 + WORDS * 8;
const SLOT: usize = 192;
/// `pending table` of a batch recorded by the previous format, which did not name its table.
const ANY_TABLE: u64 = u64::MAX;

const MAGIC_2: [u8; 8] = *b"SLMANIF2";
const SLOT_2: usize = 48;

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Manifest {
    /// Every record with seq <= committed is stored in ClickHouse.
    pub committed: u64,
    /// By table code: every record of that table with seq <= the mark is stored, also above
    /// `committed` (a table's batches are written while an older batch of another is open).
    pub written: [u64; TABLE_CODES],
    /// The batch being inserted, if any.
    pub pending: Option<PendingBatch>,
}

/// A batch recorded before its insert: the records of `table` with seqs `first..=last`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PendingBatch {
    /// None when an earlier format recorded it: then every record in the range is of one table.
    pub table: Option<u8>,
    pub first: u64,
    pub last: u64,
}

impl Manifest {
    /// Only `committed` (no table written further, nothing pending).
    pub fn committed(seq: u64) -> Manifest {
        Manifest {
            committed: seq,
            written: [seq; TABLE_CODES],
            pending: None,
        }
    }

    /// Whether the record `seq` of `table` is stored already.
    pub fn is_written(&self, table: u8, seq: u64) -> bool {
        seq <= self.committed || self.written.get(table as usize).is_some_and(|w| seq <= *w)
    }
}

pub struct ManifestFile {
    file: File,
    path: PathBuf,
    generation: u64,
}

impl ManifestFile {
    /// Opens (creating both slots if needed) and reads the manifest in `dir`.
    pub fn open(dir: &Path) -> Result<(ManifestFile, Manifest), SpoolError> {
        let path = dir.join("manifest");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_err(&path))?;
        let mut bytes = Vec::new();
        io::Read::read_to_end(&mut &file, &mut bytes).map_err(io_err(&path))?;
        let (generation, manifest) = read_slots(&bytes, &path)?;
        let mut manifest_file = ManifestFile {
            file,
            path,
            generation,
        };
        if generation == 0 {
            // New (or an earlier format): allocate both slots now, so later writes never
            // allocate and a torn write always leaves the other slot valid. The first write
            // goes to the second slot, past the bytes of an earlier format.
            manifest_file.write(&manifest)?;
            manifest_file.write(&manifest)?;
        }
        Ok((manifest_file, manifest))
    }

    /// Writes `manifest` into the older slot and fsyncs it.
    pub fn write(&mut self, manifest: &Manifest) -> Result<(), SpoolError> {
        let generation = self.generation + 1;
        let slot = encode(generation, manifest);
        let at = (generation % 2) * SLOT as u64;
        self.file
            .write_all_at(&slot, at)
            .and_then(|_| self.file.sync_data())
            .map_err(io_err(&self.path))?;
        self.generation = generation;
        Ok(())
    }
}

/// (generation, manifest) of the newest valid slot; generation 0 for a new file or one of
/// an earlier format.
fn read_slots(bytes: &[u8], path: &Path) -> Result<(u64, Manifest), SpoolError> {
    if bytes.is_empty() {
        return Ok((0, Manifest::default()));
    }
    if bytes.starts_with(b"committed=") {
        return Ok((0, parse_format1(bytes, path)?));
    }
    let newest = |size: usize, decode: fn(&[u8]) -> Option<(u64, Manifest)>| {
        (0..2)
            .filter_map(|i| decode(bytes.get(i * size..(i + 1) * size)?))
            .max_by_key(|(generation, _)| *generation)
    };
    if let Some(found) = newest(SLOT, decode) {
        return Ok(found);
    }
    let bad = || SpoolError::Manifest {
        path: path.display().to_string(),
        reason: "neither slot holds a valid manifest".into(),
    };
    newest(SLOT_2, decode_format2)
        .map(|(_, manifest)| (0, manifest))
        .ok_or_else(bad)
}

fn encode(generation: u64, manifest: &Manifest) -> [u8; SLOT] {
    let (first, last, table) = manifest.pending.map_or((0, 0, 0), |p| {
        (p.first, p.last, p.table.map_or(ANY_TABLE, u64::from))
    });
    let words = [generation, manifest.committed, first, last, table]
        .into_iter()
        .chain(manifest.written);
    let mut slot = [0u8; SLOT];
    slot[0..8].copy_from_slice(&MAGIC);
    for (i, v) in words.enumerate() {
        slot[8 + i * 8..16 + i * 8].copy_from_slice(&v.to_le_bytes());
    }
    let crc = crc32fast::hash(&slot[..CRC_AT]);
    slot[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_le_bytes());
    slot
}

/// Word `i` after the magic.
fn word(slot: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(slot[8 + i * 8..16 + i * 8].try_into().expect("8 bytes"))
}

fn valid(slot: &[u8], magic: &[u8; 8], crc_at: usize) -> bool {
    let crc = u32::from_le_bytes(slot[crc_at..crc_at + 4].try_into().expect("4 bytes"));
    slot[0..8] == *magic && crc32fast::hash(&slot[..crc_at]) == crc
}

fn decode(slot: &[u8]) -> Option<(u64, Manifest)> {
    if !valid(slot, &MAGIC, CRC_AT) {
        return None;
    }
    let pending = (word(slot, 2) > 0).then(|| PendingBatch {
        first: word(slot, 2),
        last: word(slot, 3),
        table: u8::try_from(word(slot, 4)).ok(),
    });
    let mut written = [0; TABLE_CODES];
    for (code, mark) in written.iter_mut().enumerate() {
        *mark = word(slot, 5 + code);
    }
    let committed = word(slot, 1);
    let manifest = Manifest {
        committed,
        written,
        pending,
    };
    Some((word(slot, 0), manifest))
}

/// A slot of the previous format (`magic | generation | committed | pending first | pending
/// last | crc32`), whose pending batch was a run of consecutive records of one table.
fn decode_format2(slot: &[u8]) -> Option<(u64, Manifest)> {
    if !valid(slot, &MAGIC_2, 40) {
        return None;
    }
    let mut manifest = Manifest::committed(word(slot, 1));
    manifest.pending = (word(slot, 2) > 0).then(|| PendingBatch {
        table: None,
        first: word(slot, 2),
        last: word(slot, 3),
    });
    Some((word(slot, 0), manifest))
}

/// The text manifest of spool format 1 (`committed=N` and `pending=A-B` lines), read once so
/// a drained old spool keeps its seq numbers (and with them distinct deduplication tokens).
fn parse_format1(bytes: &[u8], path: &Path) -> Result<Manifest, SpoolError> {
    let bad = |reason: String| SpoolError::Manifest {
        path: path.display().to_string(),
        reason,
    };
    let number = |v: &str| {
        v.trim()
            .parse::<u64>()
            .map_err(|e| bad(format!("{v:?}: {e}")))
    };
    let mut manifest = Manifest::default();
    let mut pending = None;
    for line in String::from_utf8_lossy(bytes).lines() {
        match line.split_once('=') {
            Some(("committed", v)) => manifest = Manifest::committed(number(v)?),
            Some(("pending", v)) => {
                let (a, b) = v
                    .split_once('-')
                    .ok_or_else(|| bad(format!("pending {v:?} is not first-last")))?;
                pending = Some(PendingBatch {
                    table: None,
                    first: number(a)?,
                    last: number(b)?,
                });
            }
            _ if line.trim().is_empty() => {}
            _ => return Err(bad(format!("unexpected line {line:?}"))),
        }
    }
    manifest.pending = pending;
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("spanlens-manifest-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn pending(table: Option<u8>, first: u64, last: u64) -> Option<PendingBatch> {
        Some(PendingBatch { table, first, last })
    }

    #[test]
    fn survives_a_torn_slot_and_keeps_every_field() {
        let dir = temp_dir("torn");
        let (mut file, manifest) = ManifestFile::open(&dir).unwrap();
        assert_eq!(manifest, Manifest::default());
        let mut older = Manifest::committed(50);
        older.written[1] = 70;
        file.write(&older).unwrap();
        let mut newer = older;
        newer.written[0] = 90;
        newer.pending = pending(Some(7), 91, 99);
        file.write(&newer).unwrap();
        drop(file);
        assert_eq!(ManifestFile::open(&dir).unwrap().1, newer);
        // Tear the newest slot: the previous one is read.
        let path = dir.join("manifest");
        let mut bytes = std::fs::read(&path).unwrap();
        let (generation, _) = (0..2)
            .filter_map(|i| decode(&bytes[i * SLOT..(i + 1) * SLOT]).map(|d| (d.0, i)))
            .max()
            .unwrap();
        let newest = (generation % 2) as usize;
        bytes[newest * SLOT + 20] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(ManifestFile::open(&dir).unwrap().1, older);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn reads_the_earlier_formats() {
        let dir = temp_dir("formats");
        std::fs::write(dir.join("manifest"), "committed=41\npending=42-50\n").unwrap();
        let (_, manifest) = ManifestFile::open(&dir).unwrap();
        let mut expected = Manifest::committed(41);
        expected.pending = pending(None, 42, 50);
        assert_eq!(manifest, expected);

        // Format 2: two 48-byte slots; the one with the higher generation wins.
        let slot2 = |generation: u64, committed: u64, first: u64, last: u64| {
            let mut slot = [0u8; SLOT_2];
            slot[0..8].copy_from_slice(&MAGIC_2);
            for (i, v) in [generation, committed, first, last].iter().enumerate() {
                slot[8 + i * 8..16 + i * 8].copy_from_slice(&v.to_le_bytes());
            }
            let crc = crc32fast::hash(&slot[..40]);
            slot[40..44].copy_from_slice(&crc.to_le_bytes());
            slot
        };
        let mut bytes = slot2(8, 60, 61, 64).to_vec();
        bytes.extend_from_slice(&slot2(7, 60, 0, 0));
        std::fs::write(dir.join("manifest"), bytes).unwrap();
        let (_, manifest) = ManifestFile::open(&dir).unwrap();
        let mut expected = Manifest::committed(60);
        expected.pending = pending(None, 61, 64);
        assert_eq!(manifest, expected);
        assert_eq!(
            ManifestFile::open(&dir).unwrap().1,
            expected,
            "rewritten in the current format"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
