//! Reads the spool back in seq order, across segments and while it is appended to. It never
//! reads past what the appender has completely written, follows segments in file order (a
//! missing seq never stalls it), and skips damage to the next valid record.

use std::fs::File;
use std::io::{BufReader, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;

use super::record::{self, Item, Record, SEGMENT_MAGIC};
use super::{Spool, SpoolError, io_err};

pub struct SpoolReader {
    spool: Arc<Spool>,
    /// Seq of the last record returned.
    after: u64,
    current: Option<Cursor>,
}

/// Position in one segment.
struct Cursor {
    first_seq: u64,
    path: PathBuf,
    file: BufReader<File>,
    offset: u64,
    /// Highest seq read from this segment.
    last_read: u64,
}

impl Cursor {
    fn open((first_seq, path): (u64, PathBuf)) -> Result<Cursor, SpoolError> {
        let offset = SEGMENT_MAGIC.len() as u64;
        let mut file = BufReader::new(File::open(&path).map_err(io_err(&path))?);
        file.seek(SeekFrom::Start(offset)).map_err(io_err(&path))?;
        Ok(Cursor {
            first_seq,
            path,
            file,
            offset,
            last_read: 0,
        })
    }
}

impl Spool {
    /// A reader positioned at the first record with seq > `after`.
    pub fn reader(self: &Arc<Self>, after: u64) -> SpoolReader {
        SpoolReader {
            spool: self.clone(),
            after,
            current: None,
        }
    }
}

impl SpoolReader {
    /// The next record, or None when the reader has caught up with the appender.
    pub fn next_record(&mut self) -> Result<Option<Record>, SpoolError> {
        loop {
            let cursor = match &mut self.current {
                Some(c) => c,
                None => match self.spool.segment_after_seq(self.after) {
                    Some(segment) => self.current.insert(Cursor::open(segment)?),
                    None => return Ok(None),
                },
            };
            let Some((limit, sealed)) = self.spool.segment_limit(cursor.first_seq) else {
                self.current = None; // deleted: everything in it is committed
                continue;
            };
            let item = record::next_item(&mut cursor.file, &mut cursor.offset, limit)
                .map_err(io_err(&cursor.path))?;
            match item {
                Some(Item::Record(r)) => {
                    cursor.last_read = cursor.last_read.max(r.seq);
                    if r.seq > self.after {
                        self.after = r.seq;
                        return Ok(Some(r));
                    }
                }
                Some(Item::Damage {
                    offset,
                    len,
                    next_seq,
                }) => {
                    let c = &*cursor;
                    self.spool.damage_found(
                        c.first_seq,
                        &c.path,
                        offset,
                        len,
                        self.after,
                        next_seq,
                    );
                }
                None if sealed => {
                    self.spool
                        .finished_segment(cursor.first_seq, cursor.last_read);
                    match self.spool.segment_following(cursor.first_seq) {
                        Some(next) => self.current = Some(Cursor::open(next)?),
                        None => return Ok(None),
                    }
                }
                None => return Ok(None),
            }
        }
    }
}
