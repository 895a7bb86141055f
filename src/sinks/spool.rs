//! The on-disk spool of an output: every message is appended here before it is
//! sent and acknowledged ([`Spool::ack`]) once it was, so messages survive a receiver outage
//! and a restart of bridgewatch — even `kill -9` — and go out in order.
//!
//! Layout: a directory of segment files `NNNNNNNNNNNN.spool` (records appended,
//! at most [`SEGMENT_BYTES`] each) and a `cursor` file holding the segment and offset
//! of the first unacknowledged record.  A segment is deleted once every record in it
//! is acknowledged; the total size is bounded by the caller's `max_bytes` (a push
//! that does not fit is refused, and the caller counts it).  Record: `0xB7`, body
//! length (u32 LE), severity (u8; its high bit set for a flow record), time (i64 LE ns), body.  A torn last record (the
//! process died inside a write) is cut off when the spool is opened.
//!
//! Delivery is at least once: a message sent just before a crash, whose ack had not
//! reached the cursor file, is sent again after the restart.

use super::delivery::{Kind, Message};
use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// A segment is closed and a new one started past this size.
pub const SEGMENT_BYTES: u64 = 4 << 20;
const MAGIC: u8 = 0xb7;
const HEADER: usize = 1 + 4 + 1 + 8;
/// Marks a flow record in the severity byte (severities are 0-7), so spools written
/// before flows could be spooled still read back as alerts.
const FLOW_BIT: u8 = 0x80;
/// A record's body is at most this long (larger is refused as corrupt on reading).
const MAX_BODY: u32 = 1 << 20;

pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    /// Segment ids on disk, oldest first; the last is the one being written.
    segments: VecDeque<u64>,
    writer: File,
    write_len: u64,
    /// Bytes of every segment on disk.
    total: u64,
    /// Where the first unacknowledged record starts.
    read_seg: u64,
    read_off: u64,
    reader: Option<(u64, File)>,
    /// Lengths of the records `peek_batch` returned, until they are acknowledged.
    peeked: Vec<u64>,
    pending: u64,
    cursor: File,
}

fn seg_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:012}.spool"))
}

fn bad(path: &Path, what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("spool {}: {what}", path.display()),
    )
}

/// Reads one record at the reader's position: `Ok(None)` at a clean end or a torn tail.
fn read_record(f: &mut File) -> io::Result<Option<(Message, u64)>> {
    let mut h = [0u8; HEADER];
    let mut got = 0;
    while got < HEADER {
        match f.read(&mut h[got..])? {
            0 => return Ok(None),
            n => got += n,
        }
    }
    let len = u32::from_le_bytes([h[1], h[2], h[3], h[4]]);
    if h[0] != MAGIC || len > MAX_BODY {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "bad record header",
        ));
    }
    let mut body = vec![0u8; len as usize];
    let mut got = 0;
    while got < body.len() {
        match f.read(&mut body[got..])? {
            0 => return Ok(None),
            n => got += n,
        }
    }
    let mut t = [0u8; 8];
    t.copy_from_slice(&h[6..14]);
    let m = Message {
        kind: if h[5] & FLOW_BIT != 0 {
            Kind::Flow
        } else {
            Kind::Alert
        },
        severity: h[5] & !FLOW_BIT,
        time: i64::from_le_bytes(t),
        body,
    };
    Ok(Some((m, (HEADER as u64) + u64::from(len))))
}

impl Spool {
    /// Opens (creating) the spool in `dir`, repairing a torn tail and counting what
    /// is still to be sent.
    pub fn open(dir: &Path, max_bytes: u64) -> io::Result<Spool> {
        std::fs::create_dir_all(dir)?;
        let mut segments: Vec<u64> = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name();
                let name = name.to_str()?;
                name.strip_suffix(".spool")?.parse().ok()
            })
            .collect();
        segments.sort_unstable();
        let cursor_path = dir.join("cursor");
        let mut cursor = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&cursor_path)?;
        let mut text = String::new();
        cursor.read_to_string(&mut text)?;
        let mut it = text.split_whitespace().map(|x| x.parse::<u64>().ok());
        let (mut read_seg, mut read_off) = match (it.next().flatten(), it.next().flatten()) {
            (Some(s), Some(o)) => (s, o),
            _ => (segments.first().copied().unwrap_or(1), 0),
        };
        // Segments before the cursor's are fully acknowledged: a crash came between
        // the ack and their deletion.
        for id in segments.iter().filter(|&&id| id < read_seg) {
            std::fs::remove_file(seg_path(dir, *id))?;
        }
        segments.retain(|&id| id >= read_seg);
        if segments.first() != Some(&read_seg) {
            // The cursor's segment is gone (all of it was sent): start at the next one.
            read_seg = segments.first().copied().unwrap_or(read_seg.max(1));
            read_off = 0;
        }
        if segments.is_empty() {
            File::create(seg_path(dir, read_seg))?;
            segments.push(read_seg);
        }
        // Count pending records and cut a torn tail off the last segment.
        let mut pending = 0;
        let mut total = 0;
        let last = segments.last().copied().unwrap_or(read_seg);
        for &id in &segments {
            let path = seg_path(dir, id);
            let mut f = OpenOptions::new().read(true).write(true).open(&path)?;
            let start = if id == read_seg { read_off } else { 0 };
            f.seek(SeekFrom::Start(start))?;
            let mut good = start;
            loop {
                match read_record(&mut f) {
                    Ok(Some((_, n))) => {
                        pending += 1;
                        good += n;
                    }
                    Ok(None) => break,
                    Err(_) if id == last => break,
                    Err(_) => return Err(bad(&path, "corrupt record in a closed segment")),
                }
            }
            let len = f.metadata()?.len();
            if id == last && good < len {
                f.set_len(good)?;
            }
            total += f.metadata()?.len();
        }
        let writer = OpenOptions::new().append(true).open(seg_path(dir, last))?;
        let write_len = writer.metadata()?.len();
        let mut s = Spool {
            dir: dir.to_path_buf(),
            max_bytes,
            segments: segments.into_iter().collect(),
            writer,
            write_len,
            total,
            read_seg,
            read_off,
            reader: None,
            peeked: Vec::new(),
            pending,
            cursor,
        };
        s.save_cursor()?;
        Ok(s)
    }

    /// Records not yet acknowledged.
    pub fn pending(&self) -> u64 {
        self.pending
    }

    /// Bytes on disk.
    pub fn bytes(&self) -> u64 {
        self.total
    }

    /// Appends `m`; `Ok(false)` when it does not fit in `max_bytes`.
    pub fn push(&mut self, m: &Message) -> io::Result<bool> {
        let len = HEADER as u64 + m.body.len() as u64;
        if self.total + len > self.max_bytes || m.body.len() as u64 > u64::from(MAX_BODY) {
            return Ok(false);
        }
        if self.write_len > 0 && self.write_len + len > SEGMENT_BYTES {
            let id = self.segments.back().copied().unwrap_or(0) + 1;
            self.writer = OpenOptions::new()
                .create(true)
                .append(true)
                .open(seg_path(&self.dir, id))?;
            self.segments.push_back(id);
            self.write_len = 0;
        }
        let mut rec = Vec::with_capacity(len as usize);
        rec.push(MAGIC);
        rec.extend_from_slice(&(m.body.len() as u32).to_le_bytes());
        rec.push(match m.kind {
            Kind::Alert => m.severity & !FLOW_BIT,
            Kind::Flow => m.severity | FLOW_BIT,
        });
        rec.extend_from_slice(&m.time.to_le_bytes());
        rec.extend_from_slice(&m.body);
        // One write per record: a process killed mid-way leaves at most a torn tail.
        self.writer.write_all(&rec)?;
        self.write_len += len;
        self.total += len;
        self.pending += 1;
        Ok(true)
    }

    /// Up to `n` of the oldest unacknowledged records, in order (the same ones until
    /// [`Spool::ack`]).  A batch never spans two segments.
    pub fn peek_batch(&mut self, n: usize) -> io::Result<Vec<Message>> {
        self.peeked.clear();
        let mut out = Vec::new();
        if self.pending == 0 || n == 0 {
            return Ok(out);
        }
        loop {
            if self.reader.as_ref().map(|r| r.0) != Some(self.read_seg) {
                let f = File::open(seg_path(&self.dir, self.read_seg))?;
                self.reader = Some((self.read_seg, f));
            }
            let Some((_, f)) = self.reader.as_mut() else {
                return Ok(out);
            };
            f.seek(SeekFrom::Start(self.read_off))?;
            while out.len() < n {
                match read_record(f)? {
                    Some((m, len)) => {
                        self.peeked.push(len);
                        out.push(m);
                    }
                    None => break,
                }
            }
            if !out.is_empty() {
                return Ok(out);
            }
            // End of this segment: move on if a newer one exists.
            let next = self
                .segments
                .iter()
                .find(|&&id| id > self.read_seg)
                .copied();
            let Some(next) = next else {
                return Ok(out);
            };
            self.finish_segment(next)?;
        }
    }

    fn finish_segment(&mut self, next: u64) -> io::Result<()> {
        let done = self.read_seg;
        self.read_seg = next;
        self.read_off = 0;
        self.reader = None;
        self.save_cursor()?;
        let path = seg_path(&self.dir, done);
        self.total = self
            .total
            .saturating_sub(std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0));
        std::fs::remove_file(path)?;
        self.segments.retain(|&id| id != done);
        Ok(())
    }

    /// The first `n` records of the last [`Spool::peek_batch`] are done with.
    pub fn ack(&mut self, n: usize) -> io::Result<()> {
        let k = n.min(self.peeked.len());
        let bytes: u64 = self.peeked.drain(..k).sum();
        self.peeked.clear();
        if k == 0 {
            return Ok(());
        }
        self.read_off += bytes;
        self.pending = self.pending.saturating_sub(k as u64);
        if self.pending == 0 && self.segments.len() == 1 {
            // Everything delivered: start the only segment afresh.
            self.writer.set_len(0)?;
            self.total = 0;
            self.write_len = 0;
            self.read_off = 0;
            self.reader = None;
        }
        self.save_cursor()
    }

    fn save_cursor(&mut self) -> io::Result<()> {
        let text = format!("{:012} {:012}\n", self.read_seg, self.read_off);
        self.cursor.seek(SeekFrom::Start(0))?;
        self.cursor.write_all(text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(i: u64) -> Message {
        Message {
            // Every third a flow record: the kind survives the disk.
            kind: if i % 3 == 2 { Kind::Flow } else { Kind::Alert },
            severity: (i % 8) as u8,
            time: i as i64,
            body: format!("alert {i}\n").into_bytes(),
        }
    }

    fn drain(s: &mut Spool) -> Vec<i64> {
        let mut v = Vec::new();
        loop {
            let b = s.peek_batch(3).unwrap();
            if b.is_empty() {
                return v;
            }
            for m in &b {
                if m.body.starts_with(b"alert ") {
                    assert_eq!(*m, msg(m.time as u64), "kind, severity and body come back");
                }
            }
            v.extend(b.iter().map(|m| m.time));
            s.ack(b.len()).unwrap();
        }
    }

    #[test]
    fn messages_come_back_in_order_across_reopen() {
        let d = tempfile::tempdir().unwrap();
        let mut s = Spool::open(d.path(), 1 << 20).unwrap();
        for i in 0..10 {
            assert!(s.push(&msg(i)).unwrap());
        }
        // Deliver three, then "crash" (drop without anything else) and reopen.
        assert_eq!(s.peek_batch(5).unwrap().len(), 5);
        s.ack(3).unwrap(); // only three of the five were delivered
        drop(s);
        let mut s = Spool::open(d.path(), 1 << 20).unwrap();
        assert_eq!(s.pending(), 7);
        assert_eq!(drain(&mut s), (3..10).collect::<Vec<_>>());
        assert_eq!(s.bytes(), 0, "an empty spool is truncated");
    }

    #[test]
    fn a_torn_tail_is_cut_and_the_rest_kept() {
        let d = tempfile::tempdir().unwrap();
        let mut s = Spool::open(d.path(), 1 << 20).unwrap();
        for i in 0..4 {
            s.push(&msg(i)).unwrap();
        }
        drop(s);
        let seg = seg_path(d.path(), 1);
        let len = std::fs::metadata(&seg).unwrap().len();
        let f = OpenOptions::new().write(true).open(&seg).unwrap();
        f.set_len(len - 3).unwrap();
        let mut s = Spool::open(d.path(), 1 << 20).unwrap();
        assert_eq!(s.pending(), 3);
        s.push(&msg(9)).unwrap();
        assert_eq!(drain(&mut s), vec![0, 1, 2, 9]);
    }

    #[test]
    fn the_bound_refuses_and_segments_roll_and_go() {
        let d = tempfile::tempdir().unwrap();
        let mut s = Spool::open(d.path(), 64).unwrap();
        assert!(s.push(&msg(0)).unwrap());
        assert!(s.push(&msg(1)).unwrap());
        assert!(!s.push(&msg(2)).unwrap(), "over 64 bytes");
        assert_eq!(drain(&mut s), vec![0, 1]);

        let mut s = Spool::open(d.path(), 64 << 20).unwrap();
        let big = Message {
            kind: Kind::Alert,
            severity: 1,
            time: 7,
            body: vec![b'x'; 600_000],
        };
        for _ in 0..20 {
            assert!(s.push(&big).unwrap());
        }
        let segs = || {
            std::fs::read_dir(d.path())
                .unwrap()
                .filter(|e| {
                    e.as_ref()
                        .unwrap()
                        .path()
                        .extension()
                        .is_some_and(|x| x == "spool")
                })
                .count()
        };
        assert!(segs() >= 3, "rolled into several segments: {}", segs());
        assert_eq!(drain(&mut s).len(), 20);
        assert_eq!(segs(), 1, "delivered segments are deleted");
    }
}
