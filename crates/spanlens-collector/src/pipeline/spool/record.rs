//! The spool's on-disk format (version 2): how a record is laid out, written and found again.
//!
//! Segment: an 8-byte header [`SEGMENT_MAGIC`], then records. Record (little endian):
//! `mark u64 | len u32 | crc u32 | seq u64 | table u8 | rows u32 | payload`, where `len` counts
//! from `seq` to the end and the CRC-32 covers `len` and those bytes. The constant `mark` is a
//! sync marker: after damage, the scanner searches forward for it and resumes at the first
//! position that holds a whole record with a valid CRC, so one bad byte costs one record, not
//! the rest of the segment.

use std::io::{self, IoSlice, Read, Seek, SeekFrom, Write};

/// First bytes of every segment file of this format.
pub(crate) const SEGMENT_MAGIC: [u8; 8] = *b"SLSPOOL2";
/// Sync marker in front of every record.
pub const RECORD_MARK: [u8; 8] = *b"\xf5SLREC\x1e\x8b";
/// mark + len + crc.
const HEADER: usize = 16;
/// seq + table + rows.
const META: usize = 8 + 1 + 4;
/// Largest `len` accepted; anything above is damage (a record holds one request's rows).
const MAX_LEN: usize = 1 << 30;

/// One record read back from the spool.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Record {
    pub seq: u64,
    pub table: u8,
    pub rows: u32,
    pub payload: Vec<u8>,
}

/// Bytes a record with `payload_len` bytes of payload takes on disk.
pub(crate) const fn disk_size(payload_len: usize) -> u64 {
    (HEADER + META + payload_len) as u64
}

/// Writes one record with a single vectored write where the OS allows (no copy of the
/// payload to frame or checksum it).
pub(crate) fn write_record(
    out: &mut impl Write,
    seq: u64,
    table: u8,
    rows: u32,
    payload: &[u8],
) -> io::Result<()> {
    let len = ((META + payload.len()) as u32).to_le_bytes();
    let mut meta = [0u8; META];
    meta[0..8].copy_from_slice(&seq.to_le_bytes());
    meta[8] = table;
    meta[9..13].copy_from_slice(&rows.to_le_bytes());
    let mut crc = crc32fast::Hasher::new();
    crc.update(&len);
    crc.update(&meta);
    crc.update(payload);
    let mut head = [0u8; HEADER + META];
    head[0..8].copy_from_slice(&RECORD_MARK);
    head[8..12].copy_from_slice(&len);
    head[12..16].copy_from_slice(&crc.finalize().to_le_bytes());
    head[16..].copy_from_slice(&meta);
    let mut slices = [IoSlice::new(&head), IoSlice::new(payload)];
    let mut slices = &mut slices[..];
    while !slices.is_empty() {
        match out.write_vectored(slices) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// What the scanner found at its position.
#[derive(Debug, PartialEq)]
pub(crate) enum Item {
    Record(Record),
    /// `len` bytes at `offset` that are not records; `next_seq` is the seq of the valid record
    /// right after them (None when the damage runs to the end of what was scanned).
    Damage {
        offset: u64,
        len: u64,
        next_seq: Option<u64>,
    },
}

/// Reads the item at `offset` (where `reader` is positioned), never past `limit` (the end of
/// what is known to be written), and advances both. None at `limit`.
pub(crate) fn next_item<R: Read + Seek>(
    reader: &mut R,
    offset: &mut u64,
    limit: u64,
) -> io::Result<Option<Item>> {
    let start = *offset;
    if start >= limit {
        return Ok(None);
    }
    if let Some(record) = read_record(reader, limit - start)? {
        *offset = start + disk_size(record.payload.len());
        return Ok(Some(Item::Record(record)));
    }
    // Damage: load the rest of the range (rare, and a segment is bounded) and resume at the
    // first later position that holds a whole valid record.
    reader.seek(SeekFrom::Start(start))?;
    let mut rest = Vec::new();
    reader.take(limit - start).read_to_end(&mut rest)?;
    let next = (1..rest.len()).find_map(|at| valid_record_at(&rest[at..]).map(|seq| (at, seq)));
    let (len, next_seq) = match next {
        Some((at, seq)) => (at as u64, Some(seq)),
        None => (rest.len() as u64, None),
    };
    *offset = start + len;
    reader.seek(SeekFrom::Start(*offset))?;
    Ok(Some(Item::Damage {
        offset: start,
        len,
        next_seq,
    }))
}

/// The record at the reader's position if it is whole (within `available` bytes) and valid.
fn read_record(reader: &mut impl Read, available: u64) -> io::Result<Option<Record>> {
    if available < HEADER as u64 {
        return Ok(None);
    }
    let mut head = [0u8; HEADER];
    reader.read_exact(&mut head)?;
    let Some(len) = plausible_len(&head, available) else {
        return Ok(None);
    };
    let mut meta = [0u8; META];
    reader.read_exact(&mut meta)?;
    let mut payload = vec![0u8; len - META];
    reader.read_exact(&mut payload)?;
    let mut crc = crc32fast::Hasher::new();
    crc.update(&head[8..12]);
    crc.update(&meta);
    crc.update(&payload);
    Ok((crc.finalize() == stored_crc(&head)).then(|| Record {
        seq: u64::from_le_bytes(meta[0..8].try_into().expect("8 bytes")),
        table: meta[8],
        rows: u32::from_le_bytes(meta[9..13].try_into().expect("4 bytes")),
        payload,
    }))
}

/// The seq of a whole valid record at the start of `bytes`.
fn valid_record_at(bytes: &[u8]) -> Option<u64> {
    let head: &[u8; HEADER] = bytes.get(..HEADER)?.try_into().expect("HEADER bytes");
    let len = plausible_len(head, bytes.len() as u64)?;
    let body = &bytes[HEADER..HEADER + len];
    let mut crc = crc32fast::Hasher::new();
    crc.update(&head[8..12]);
    crc.update(body);
    (crc.finalize() == stored_crc(head))
        .then(|| u64::from_le_bytes(body[0..8].try_into().expect("8 bytes")))
}

/// The record length a header announces, if it has the mark and fits in `available` bytes.
fn plausible_len(head: &[u8; HEADER], available: u64) -> Option<usize> {
    let len = u32::from_le_bytes(head[8..12].try_into().expect("4 bytes")) as usize;
    let fits = (META..=MAX_LEN).contains(&len) && (HEADER + len) as u64 <= available;
    (head[0..8] == RECORD_MARK && fits).then_some(len)
}

fn stored_crc(head: &[u8; HEADER]) -> u32 {
    u32::from_le_bytes(head[12..16].try_into().expect("4 bytes"))
}

/// Whether the file starts with a record of spool format 1 (`len u32 | crc u32 | body`, no
/// segment header and no sync marker), the format before this one.
pub(crate) fn is_format1(path: &std::path::Path) -> io::Result<bool> {
    let mut head = [0u8; 8];
    let mut file = std::fs::File::open(path)?;
    if file.read_exact(&mut head).is_err() {
        return Ok(false);
    }
    let len = u32::from_le_bytes(head[0..4].try_into().expect("4 bytes")) as usize;
    if !(META..=MAX_LEN).contains(&len) || file.metadata()?.len() < (8 + len) as u64 {
        return Ok(false);
    }
    let mut body = vec![0u8; len];
    file.read_exact(&mut body)?;
    Ok(crc32fast::hash(&body) == u32::from_le_bytes(head[4..8].try_into().expect("4 bytes")))
}
