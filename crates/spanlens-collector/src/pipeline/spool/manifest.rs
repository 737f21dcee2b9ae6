//! The spool manifest: what is committed to ClickHouse and which batch is being inserted.
//!
//! Two fixed 48-byte slots, written in place in turn (`magic | generation | committed |
//! pending first | pending last | crc32`, little endian) and fsynced; the valid slot with the
//! higher generation wins. Writing in place never allocates disk space, so a full disk can
//! still record commits — and commits are what free the disk.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::{SpoolError, io_err};

const MAGIC: [u8; 8] = *b"SLMANIF2";
const SLOT: usize = 48;

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Manifest {
    /// Every record with seq <= committed is stored in ClickHouse.
    pub committed: u64,
    /// The batch being inserted, if any: (first seq, last seq).
    pub pending: Option<(u64, u64)>,
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
        let (generation, manifest) = if bytes.is_empty() {
            (0, Manifest::default())
        } else if bytes.starts_with(b"committed=") {
            (0, parse_format1(&bytes, &path)?)
        } else {
            (0..2)
                .filter_map(|i| decode(bytes.get(i * SLOT..(i + 1) * SLOT)?))
                .max_by_key(|(generation, _)| *generation)
                .ok_or_else(|| SpoolError::Manifest {
                    path: path.display().to_string(),
                    reason: "neither slot holds a valid manifest".into(),
                })?
        };
        let mut manifest_file = ManifestFile {
            file,
            path,
            generation,
        };
        if generation == 0 {
            // New (or format 1): allocate both slots now, so later writes never allocate and
            // a torn write always leaves the other slot valid.
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

fn encode(generation: u64, manifest: &Manifest) -> [u8; SLOT] {
    let (first, last) = manifest.pending.unwrap_or((0, 0));
    let mut slot = [0u8; SLOT];
    slot[0..8].copy_from_slice(&MAGIC);
    for (i, v) in [generation, manifest.committed, first, last]
        .iter()
        .enumerate()
    {
        slot[8 + i * 8..16 + i * 8].copy_from_slice(&v.to_le_bytes());
    }
    let crc = crc32fast::hash(&slot[..40]);
    slot[40..44].copy_from_slice(&crc.to_le_bytes());
    slot
}

fn decode(slot: &[u8]) -> Option<(u64, Manifest)> {
    let crc = u32::from_le_bytes(slot[40..44].try_into().ok()?);
    if slot[0..8] != MAGIC || crc32fast::hash(&slot[..40]) != crc {
        return None;
    }
    let word = |i: usize| u64::from_le_bytes(slot[8 + i * 8..16 + i * 8].try_into().expect("8"));
    let pending = (word(2) > 0).then(|| (word(2), word(3)));
    Some((
        word(0),
        Manifest {
            committed: word(1),
            pending,
        },
    ))
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
    for line in String::from_utf8_lossy(bytes).lines() {
        match line.split_once('=') {
            Some(("committed", v)) => manifest.committed = number(v)?,
            Some(("pending", v)) => {
                let (a, b) = v
                    .split_once('-')
                    .ok_or_else(|| bad(format!("pending {v:?} is not first-last")))?;
                manifest.pending = Some((number(a)?, number(b)?));
            }
            _ if line.trim().is_empty() => {}
            _ => return Err(bad(format!("unexpected line {line:?}"))),
        }
    }
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survives_a_torn_slot_and_reads_the_previous_format() {
        let dir = std::env::temp_dir().join(format!("spanlens-manifest-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("manifest"), "committed=41\npending=42-50\n").unwrap();
        let (mut file, manifest) = ManifestFile::open(&dir).unwrap();
        assert_eq!(manifest.committed, 41);
        assert_eq!(manifest.pending, Some((42, 50)));
        let committed = Manifest {
            committed: 50,
            pending: None,
        };
        file.write(&committed).unwrap();
        let newer = Manifest {
            committed: 50,
            pending: Some((51, 60)),
        };
        file.write(&newer).unwrap();
        drop(file);
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
        assert_eq!(ManifestFile::open(&dir).unwrap().1, committed);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
