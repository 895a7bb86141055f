//! Capture-file reader: classic pcap (µs/ns, either byte order), pcapng (several
//! sections, interfaces and byte orders), and gzip of either — sniffed, not guessed
//! from the file name.
//!
//! Guarantees:
//! - A regular, uncompressed file is mapped read-only and framed in place: a batch is
//!   a window of the shared mapping (`BatchBytes`), packet offsets are relative to the
//!   window start, and no packet byte is copied at all.  When the file cannot be mapped
//!   (a FIFO, `/dev/stdin`, a filesystem without mmap, an empty file) or is gzip, it is
//!   read in large sequential chunks straight into the batch's owned buffer; packet
//!   headers point at the packet bytes inside that chunk, so a packet's bytes are
//!   copied once (by the `read` itself).  Only a record split across two chunks is
//!   moved, into the next batch.  No per-packet allocation, no per-packet syscall.
//! - Both ways give the same packets, headers, stats, errors and packet numbers.  A
//!   batch ends at a whole record near the target size either way, but not always at
//!   the same one (the read path counts skipped pcapng blocks that precede packets in
//!   a batch towards its size; the mapped path starts the window after them).
//!   `progress()` differs slightly: mapped, it counts framed bytes (the whole file at
//!   its end); read, it counts bytes read, including a partial record carried to the
//!   next batch.  A trailing partial record is reported by the call that frames the
//!   packets before it (read) or by the next call (mapped).
//! - Risk of the mapping: a file truncated by another process while mapped makes the
//!   next access to the vanished pages raise SIGBUS, which kills the process (the read
//!   path would instead see a short file).  Capture files being replayed are not
//!   expected to shrink; a file that grows while mapped is read up to its size at open.
//! - No input makes the reader panic.  A record that cannot be framed ends the file
//!   with a [`CaptureError`] naming the file and the packet number; everything before
//!   it was delivered.  Odd-but-framed records are counted in [`ReaderStats`].
//! - Packet numbers count packet records (classic records; pcapng EPB, SPB and the
//!   obsolete PB), 1-based, including packets skipped for naming an undefined
//!   interface, so numbers match Wireshark's frame numbers for well-formed files.
//!   An error in a non-packet block names the number the next packet would have had.

use super::pcap_classic::{self, ClassicFormat};
use super::pcapng::{self, Pcapng};
use super::put;
use super::{
    CaptureError, InterfaceInfo, LinkType, PacketBatch, PacketHeader, ReaderStats, MAX_CAPLEN,
};
use crate::time::Nanos;
use memmap2::{Advice, Mmap, MmapOptions};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Upper bound on the bytes one `next_batch` reads, so packet offsets stay far below
/// `u32::MAX` whatever the caller asks for.
const MAX_TARGET: usize = 256 << 20;

/// Reads one capture file sequentially into [`PacketBatch`]es.
pub struct CaptureReader {
    path: PathBuf,
    stats: ReaderStats,
    input: Box<dyn Read + Send>,
    gzip: bool,
    /// Bytes read from the underlying (possibly compressed) source.
    consumed: Arc<AtomicU64>,
    size: Option<u64>,
    /// Bytes read but not yet framed: the partial record at the end of the last chunk.
    carry: Vec<u8>,
    format: Format,
    interfaces: Arc<Vec<InterfaceInfo>>,
    /// Packet records seen so far (delivered or skipped): the last packet number used.
    number: u64,
    eof: bool,
    /// A read error seen while filling a chunk: reported once the bytes read before
    /// it have been framed, so packets ahead of a corrupt gzip tail are delivered.
    read_error: Option<io::Error>,
    done: bool,
    /// The whole file, when it is read through a mapping instead of `input`.
    map: Option<Arc<Mmap>>,
    /// Bytes of `map` framed so far (the start of the next batch).
    map_pos: usize,
}

enum Format {
    Classic(ClassicFormat),
    Pcapng(Pcapng),
}

/// Counts the bytes pulled from the source, for [`CaptureReader::progress`].  Updated
/// once per `read` call (a chunk, or a gzip input buffer), never per packet.
struct Counting<R> {
    inner: R,
    consumed: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.consumed.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Opens `path`, detects gzip / pcap / pcapng from its first bytes and reads the file
/// header.  Reads with `read(2)` into reused buffers: on this project's benchmark (an
/// 800 MB capture in page cache) that beat a mapping, whose cold record headers cost
/// more in user time than the copy saved in system time (see [`open_file_with`]).
pub fn open_file(path: &Path) -> Result<CaptureReader, CaptureError> {
    open_file_with(path, false)
}

/// Like [`open_file`]; with `try_map` a regular uncompressed file is framed in place
/// from a read-only mapping (anything else, or a file that cannot be mapped, is read).
/// Measured on the 2M-packet mixed capture: system time 0.28 s → 0.23 s, user time up
/// by about as much; `replay --mmap` selects it.
pub fn open_file_with(path: &Path, try_map: bool) -> Result<CaptureReader, CaptureError> {
    let open_err = |source| CaptureError::Open {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(open_err)?;
    let meta = file.metadata().map_err(open_err)?;
    let size = meta.len();
    // Only regular files: a character device can be mappable yet not be the bytes a
    // read would give, and size 0 (empty, or /proc-like) leaves nothing to map.
    if try_map && meta.is_file() && size > 0 {
        if let Some(map) = map_file(&file) {
            // Gzip is decompressed from the stream; the mapping was only a peek.
            if !map.starts_with(&GZIP_MAGIC) {
                return CaptureReader::build_mapped(path.to_path_buf(), Arc::new(map));
            }
        }
    }
    CaptureReader::build(path.to_path_buf(), Box::new(file), Some(size))
}

/// Maps `file` read-only, or `None` when it cannot be mapped (the caller reads it).
fn map_file(file: &std::fs::File) -> Option<Mmap> {
    // SAFETY: the mapping is read-only and private to this process; the only way its
    // bytes change under us is another process writing or truncating the file.  A
    // write only changes packet bytes (every read of them is bounds-checked against the
    // mapping length, which is fixed); a truncation raises SIGBUS on access, the
    // documented risk of this module (see the module doc).
    //
    // Not MAP_POPULATE: it faults in the whole file before the first packet (a long
    // stall for a large file) and measured no faster than faulting as we go.
    let map = unsafe { MmapOptions::new().map(file) }.ok()?;
    // A hint only: the reader walks the file once, front to back, so the kernel can
    // read ahead aggressively and drop pages behind us.  Failure changes nothing but
    // speed.  Not MADV_WILLNEED on the whole mapping: for a file larger than memory it
    // reads everything ahead and evicts pages not yet framed; on a cached file it
    // measured no gain.
    let _ = map.advise(Advice::Sequential);
    Some(map)
}

/// Loads one byte of every cache line of `window`.  Framing follows a chain of record
/// lengths, so on a cold mapping each record header is a serialised cache miss (the
/// reader ran at half the speed of `read`); this independent, sequential sweep lets the
/// CPU fetch many lines at once, after which framing and decoding hit the cache.  It
/// also takes the window's page faults in one sweep.
fn prefetch(window: &[u8]) {
    std::hint::black_box(window.iter().step_by(64).fold(0u8, |a, &b| a ^ b));
}

/// Everything the per-format record parsers write into: the batch's packet list, the
/// counters and the interface table.  Errors are built with `path` only when they happen.
pub(super) struct Out<'a> {
    pub path: &'a Path,
    pub packets: &'a mut Vec<PacketHeader>,
    pub stats: &'a mut ReaderStats,
    /// Last packet number used; a parser increments it for every packet record.
    pub number: &'a mut u64,
    pub interfaces: &'a mut Arc<Vec<InterfaceInfo>>,
}

/// A packet as a record describes it, before the reader's sanity checks.
pub(super) struct RawPacket {
    /// Offset of the captured bytes in the batch data.
    pub offset: usize,
    pub caplen: u32,
    pub orig_len: u32,
    pub ts: Nanos,
    pub link: LinkType,
    pub iface: u16,
    /// The interface's snapshot length; 0 = not limited.
    pub snaplen: u32,
}

impl Out<'_> {
    /// Records one framed packet (whose number the caller has already taken), counting
    /// the odd-but-readable cases.
    #[inline]
    pub fn push(&mut self, p: RawPacket) -> Result<(), CaptureError> {
        let offset = u32::try_from(p.offset).map_err(|_| CaptureError::BadBlock {
            path: self.path.to_path_buf(),
            packet: *self.number,
            reason: "batch grew past 4 GiB".into(),
        })?;
        let mut orig_len = p.orig_len;
        if p.caplen == 0 {
            self.stats.zero_length += 1;
        }
        if p.snaplen != 0 && p.caplen > p.snaplen {
            self.stats.caplen_over_snaplen += 1;
        }
        if p.caplen > orig_len {
            self.stats.caplen_over_orig_len += 1;
            orig_len = p.caplen;
        }
        self.stats.packets += 1;
        self.stats.bytes += u64::from(p.caplen);
        self.packets.push(PacketHeader {
            offset,
            caplen: p.caplen,
            orig_len,
            ts: p.ts,
            link: p.link,
            iface: p.iface,
            number: *self.number,
        });
        Ok(())
    }

    pub fn caplen_too_large(&self, caplen: u32) -> CaptureError {
        CaptureError::CaplenTooLarge {
            path: self.path.to_path_buf(),
            packet: *self.number + 1,
            caplen: u64::from(caplen),
            max: u64::from(MAX_CAPLEN),
        }
    }

    /// A framing error in the record that would hold packet `number + 1`.
    pub fn bad_block(&self, reason: impl Into<String>) -> CaptureError {
        CaptureError::BadBlock {
            path: self.path.to_path_buf(),
            packet: *self.number + 1,
            reason: reason.into(),
        }
    }
}

/// Reads from `input` into `buf[*len..want_len]` until `*len == want_len` or the
/// input ends.  Returns `true` at end of input.  Only growth of `buf` is zeroed: a
/// recycled batch's buffer keeps its length, and its stale bytes are read over.
fn fill_tail(
    input: &mut dyn Read,
    buf: &mut Vec<u8>,
    len: &mut usize,
    want_len: usize,
) -> io::Result<bool> {
    if buf.len() < want_len {
        buf.resize(want_len, 0);
    }
    while *len < want_len {
        let Some(space) = buf.get_mut(*len..want_len) else {
            break;
        };
        match input.read(space) {
            Ok(0) => return Ok(true),
            Ok(n) => *len += n.min(space.len()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(false)
}

/// Reads from `input` until `buf` holds `want_len` bytes or the input ends.
/// Returns `true` at end of input.  For the small header buffers only.
fn fill(input: &mut dyn Read, buf: &mut Vec<u8>, want_len: usize) -> io::Result<bool> {
    let mut filled = buf.len();
    if filled >= want_len {
        return Ok(false);
    }
    buf.resize(want_len, 0);
    let res = loop {
        let Some(space) = buf.get_mut(filled..) else {
            break Ok(false);
        };
        if space.is_empty() {
            break Ok(false);
        }
        match input.read(space) {
            Ok(0) => break Ok(true),
            Ok(n) => filled += n.min(space.len()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => break Err(e),
        }
    };
    buf.truncate(filled);
    res
}

impl CaptureReader {
    /// Reads a capture from any byte source (a pipe, memory, a fuzzer's input).  `label`
    /// names it in errors.  Gzip is sniffed as for files; `progress()` has no total.
    pub fn from_reader(
        label: PathBuf,
        r: Box<dyn Read + Send>,
    ) -> Result<CaptureReader, CaptureError> {
        CaptureReader::build(label, r, None)
    }

    fn build(
        path: PathBuf,
        raw: Box<dyn Read + Send>,
        size: Option<u64>,
    ) -> Result<CaptureReader, CaptureError> {
        let consumed = Arc::new(AtomicU64::new(0));
        let mut counted = Counting {
            inner: raw,
            consumed: Arc::clone(&consumed),
        };
        let mut head = Vec::with_capacity(64);
        let eof = fill(&mut counted, &mut head, 2).map_err(|source| CaptureError::Io {
            path: path.clone(),
            packet: 0,
            source,
        })?;
        let gzip = head.starts_with(&[0x1f, 0x8b]);
        let mut reader = CaptureReader {
            path,
            stats: ReaderStats::default(),
            input: Box::new(io::empty()),
            gzip,
            consumed,
            size,
            carry: Vec::new(),
            // Replaced once the header is sniffed.
            format: Format::Pcapng(Pcapng::new()),
            interfaces: Arc::new(Vec::new()),
            number: 0,
            eof,
            read_error: None,
            done: false,
            map: None,
            map_pos: 0,
        };
        if gzip {
            // The sniffed bytes go back in front of the stream; MultiGzDecoder so that
            // concatenated members (`cat a.gz b.gz`) read as one file, as gzip -d does.
            let rejoined = io::Cursor::new(head).chain(counted);
            reader.input = Box::new(flate2::read::MultiGzDecoder::new(rejoined));
            reader.eof = false;
        } else {
            reader.carry = head;
            reader.input = Box::new(counted);
        }
        reader.read_file_header()?;
        Ok(reader)
    }

    /// A reader of a mapped, uncompressed file.
    fn build_mapped(path: PathBuf, map: Arc<Mmap>) -> Result<CaptureReader, CaptureError> {
        let mut reader = CaptureReader {
            path,
            stats: ReaderStats::default(),
            input: Box::new(io::empty()),
            gzip: false,
            consumed: Arc::new(AtomicU64::new(0)),
            size: Some(map.len() as u64),
            carry: Vec::new(),
            format: Format::Pcapng(Pcapng::new()),
            interfaces: Arc::new(Vec::new()),
            number: 0,
            eof: false,
            read_error: None,
            done: false,
            map: Some(map),
            map_pos: 0,
        };
        reader.read_file_header()?;
        // The header code copied what it looked at into `carry`; put back what it left
        // there (a pcapng section header) so that framing continues in the mapping.
        reader.map_pos = reader.map_pos.saturating_sub(reader.carry.len());
        reader.carry.clear();
        reader
            .consumed
            .store(reader.map_pos as u64, Ordering::Relaxed);
        Ok(reader)
    }

    /// `true` when the file is read through a memory mapping rather than `read`.
    pub fn is_mapped(&self) -> bool {
        self.map.is_some()
    }

    /// Makes `self.carry` hold at least `n` bytes if the input has them.
    fn fill_carry(&mut self, n: usize) -> Result<(), CaptureError> {
        if self.carry.len() >= n || self.eof {
            return Ok(());
        }
        if let Some(map) = &self.map {
            let end = self
                .map_pos
                .saturating_add(n - self.carry.len())
                .min(map.len());
            self.carry
                .extend_from_slice(map.get(self.map_pos..end).unwrap_or_default());
            self.map_pos = end.max(self.map_pos);
            self.eof = self.map_pos >= map.len();
            return Ok(());
        }
        match fill(&mut self.input, &mut self.carry, n) {
            Ok(eof) => {
                self.eof = eof;
                Ok(())
            }
            Err(e) => Err(self.io_error(e)),
        }
    }

    fn io_error(&self, source: io::Error) -> CaptureError {
        if self.gzip {
            CaptureError::Gzip {
                path: self.path.clone(),
                source,
            }
        } else {
            CaptureError::Io {
                path: self.path.clone(),
                packet: self.number,
                source,
            }
        }
    }

    fn truncated_header(&self, need: usize) -> CaptureError {
        CaptureError::TruncatedHeader {
            path: self.path.clone(),
            got: self.carry.len().min(need),
            need,
        }
    }

    /// Sniffs the format.  Classic pcap's header is consumed here; pcapng's first
    /// section header is only checked and left in `carry` for the block parser, which
    /// handles every later section header the same way.
    fn read_file_header(&mut self) -> Result<(), CaptureError> {
        self.fill_carry(4)?;
        let Some(magic) = self.carry.first_chunk::<4>().copied() else {
            return Err(self.truncated_header(pcap_classic::FILE_HEADER_LEN));
        };
        if magic == pcapng::SHB_MAGIC {
            self.fill_carry(pcapng::SHB_MIN_LEN)?;
            let Some(head) = self.carry.first_chunk::<12>().copied() else {
                return Err(self.truncated_header(pcapng::SHB_MIN_LEN));
            };
            let Some(big) = pcapng::byte_order(&head) else {
                return Err(CaptureError::BadMagic {
                    path: self.path.clone(),
                    magic: u32::from_be_bytes([head[8], head[9], head[10], head[11]]),
                });
            };
            let len = pcapng::rd32(&head, 4, big) as usize;
            if len < pcapng::SHB_MIN_LEN || !len.is_multiple_of(4) || len > pcapng::MAX_BLOCK_LEN {
                return Err(CaptureError::BadBlock {
                    path: self.path.clone(),
                    packet: 1,
                    reason: format!("section header block length {len}"),
                });
            }
            self.fill_carry(len)?;
            if self.carry.len() < len {
                return Err(self.truncated_header(len));
            }
            self.format = Format::Pcapng(Pcapng::new());
            return Ok(());
        }
        let Some(mut format) = ClassicFormat::from_magic(magic) else {
            return Err(CaptureError::BadMagic {
                path: self.path.clone(),
                magic: u32::from_be_bytes(magic),
            });
        };
        self.fill_carry(pcap_classic::FILE_HEADER_LEN)?;
        let Some(header) = self
            .carry
            .first_chunk::<{ pcap_classic::FILE_HEADER_LEN }>()
        else {
            return Err(self.truncated_header(pcap_classic::FILE_HEADER_LEN));
        };
        format.read_header(header);
        self.interfaces = Arc::new(vec![InterfaceInfo {
            name: None,
            link: format.link,
        }]);
        self.carry.drain(..pcap_classic::FILE_HEADER_LEN);
        self.format = Format::Classic(format);
        Ok(())
    }

    /// Appends packets to `batch` (after `batch.clear()` by the caller) until about
    /// `target_bytes` of packet data are in it or the file ends.  Returns `Ok(false)`
    /// when the file has no more packets.  On `Err`, the packets already appended to
    /// `batch` are valid and should still be processed; the file is finished.
    ///
    /// `batch.data` receives the file's bytes (record headers included), as a window of
    /// the mapping or read into its owned buffer, and headers point into it; a record
    /// cut by the batch end starts the next batch.  If the caller left bytes in
    /// `batch.data`, they are kept (copied into the owned buffer when mapped) and the
    /// new bytes follow them.
    pub fn next_batch(
        &mut self,
        batch: &mut PacketBatch,
        target_bytes: usize,
    ) -> Result<bool, CaptureError> {
        if self.done {
            batch.interfaces = Arc::clone(&self.interfaces);
            return Ok(false);
        }
        let target = target_bytes.clamp(1, MAX_TARGET);
        let res = match self.map.clone() {
            Some(map) => self.next_mapped(&map, batch, target),
            None => self.next_read(batch, target),
        };
        if res.is_err() {
            self.done = true;
        }
        batch.interfaces = Arc::clone(&self.interfaces);
        res
    }

    /// [`next_batch`](Self::next_batch) on a mapping: frames the whole records within
    /// the next `target` bytes (or the one record, if it is larger) in place.
    fn next_mapped(
        &mut self,
        map: &Arc<Mmap>,
        batch: &mut PacketBatch,
        target: usize,
    ) -> Result<bool, CaptureError> {
        let first = batch.packets.len();
        let rest = map.get(self.map_pos..).unwrap_or_default();
        // The batch is rest[base..base + pos]; the parser sees rest[base..base + window].
        let mut base = 0usize;
        let mut window = target.min(rest.len());
        let mut pos = 0usize;
        let mut at_end = false;
        let res = loop {
            let slice = rest.get(base..base + window).unwrap_or_default();
            prefetch(slice.get(pos..).unwrap_or_default());
            let need = match self.parse(slice, &mut batch.packets, &mut pos) {
                Ok(need) => need,
                Err(e) => break Err(e),
            };
            if batch.packets.len() > first {
                break Ok(true);
            }
            let have = window.saturating_sub(pos);
            if base + window >= rest.len() {
                self.done = true;
                at_end = true;
                if have == 0 {
                    break Ok(false);
                }
                break Err(CaptureError::TruncatedRecord {
                    path: self.path.clone(),
                    packet: self.number + 1,
                    got: have,
                    need,
                });
            }
            // Only non-packet blocks so far: start the batch after them, and widen the
            // window to the incomplete record (need > have, so the end moves forward).
            base += pos;
            pos = 0;
            window = need.max(target).min(rest.len() - base);
        };
        let framed = rest.get(base..base + pos).unwrap_or_default();
        let res = if framed.is_empty() {
            res
        } else if batch.data.is_empty() {
            batch
                .data
                .set_mapped(Arc::clone(map), self.map_pos + base, framed.len());
            res
        } else {
            self.append_copy(batch, first, framed).and(res)
        };
        self.map_pos += base + pos;
        // A trailing partial record was looked at too: the whole file is consumed.
        let consumed = if at_end { map.len() } else { self.map_pos };
        self.consumed.store(consumed as u64, Ordering::Relaxed);
        res
    }

    /// A caller kept bytes in `batch`: append `framed` to them, moving the offsets of
    /// the packets from `first` on past the kept bytes.
    fn append_copy(
        &self,
        batch: &mut PacketBatch,
        first: usize,
        framed: &[u8],
    ) -> Result<(), CaptureError> {
        let (buf, len) = batch.data.owned_mut();
        let shift = u32::try_from(*len).ok();
        put(buf, len, framed);
        let new = batch.packets.get_mut(first..).unwrap_or_default();
        for h in new.iter_mut() {
            match shift.and_then(|s| h.offset.checked_add(s)) {
                Some(o) => h.offset = o,
                None => {
                    batch.packets.truncate(first);
                    return Err(CaptureError::BadBlock {
                        path: self.path.clone(),
                        packet: self.number,
                        reason: "batch grew past 4 GiB".into(),
                    });
                }
            }
        }
        Ok(())
    }

    /// [`next_batch`](Self::next_batch) with `read`: the carried partial record, then
    /// the next chunk of input, into the batch's owned buffer.
    fn next_read(&mut self, batch: &mut PacketBatch, target: usize) -> Result<bool, CaptureError> {
        let first = batch.packets.len();
        let start = {
            let (buf, len) = batch.data.owned_mut();
            let start = *len;
            put(buf, len, &self.carry);
            start
        };
        self.carry.clear();
        let mut pos = start;
        let res = self.fill_batch(batch, start, first, target, &mut pos);
        if res.is_err() {
            self.done = true;
        }
        let (buf, len) = batch.data.owned_mut();
        if !self.done {
            self.carry
                .extend_from_slice(buf.get(pos..*len).unwrap_or_default());
        }
        *len = pos;
        res
    }

    fn fill_batch(
        &mut self,
        batch: &mut PacketBatch,
        start: usize,
        first: usize,
        target: usize,
        pos: &mut usize,
    ) -> Result<bool, CaptureError> {
        let PacketBatch { data, packets, .. } = batch;
        let (buf, len) = data.owned_mut();
        loop {
            let valid = buf.get(..*len).unwrap_or_default();
            let need = self.parse(valid, packets, pos)?;
            let added = packets.len() > first;
            let have = len.saturating_sub(*pos);
            if added && *len - start >= target {
                return Ok(true);
            }
            if self.eof {
                self.done = true;
                if let Some(e) = self.read_error.take() {
                    return Err(self.io_error(e));
                }
                if have == 0 {
                    return Ok(added);
                }
                return Err(CaptureError::TruncatedRecord {
                    path: self.path.clone(),
                    packet: self.number + 1,
                    got: have,
                    need,
                });
            }
            if !added && *pos > start {
                // Only non-packet blocks so far: drop them rather than let a file of
                // huge skipped blocks grow the batch.
                buf.copy_within(*pos..*len, start);
                *len = start + have;
                *pos = start;
            }
            let want = target
                .saturating_sub(*len - start)
                .max(need.saturating_sub(have))
                .max(1);
            let want_len = *len + want;
            match fill_tail(&mut self.input, buf, len, want_len) {
                Ok(eof) => self.eof = eof,
                Err(e) => {
                    self.eof = true;
                    self.read_error = Some(e);
                }
            }
        }
    }

    /// Frames every complete record in `data[*pos..]`; returns how many bytes from
    /// `*pos` the next (incomplete) record needs.
    fn parse(
        &mut self,
        data: &[u8],
        packets: &mut Vec<PacketHeader>,
        pos: &mut usize,
    ) -> Result<usize, CaptureError> {
        let mut out = Out {
            path: &self.path,
            packets,
            stats: &mut self.stats,
            number: &mut self.number,
            interfaces: &mut self.interfaces,
        };
        match &mut self.format {
            Format::Classic(f) => f.parse(data, pos, &mut out),
            Format::Pcapng(ng) => ng.parse(data, pos, &mut out),
        }
    }

    pub fn stats(&self) -> &ReaderStats {
        &self.stats
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Interfaces known so far (what the last batch's `interfaces` holds).
    pub fn interfaces(&self) -> &Arc<Vec<InterfaceInfo>> {
        &self.interfaces
    }

    /// (bytes consumed from the file on disk, total size on disk if known): drives the progress bar.
    /// For gzip input the first number counts compressed bytes, so it matches the size.
    pub fn progress(&self) -> (u64, Option<u64>) {
        (self.consumed.load(Ordering::Relaxed), self.size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    // ---- synthetic file builders ----

    fn w32(v: &mut Vec<u8>, x: u32, big: bool) {
        v.extend_from_slice(&if big {
            x.to_be_bytes()
        } else {
            x.to_le_bytes()
        });
    }
    fn w16(v: &mut Vec<u8>, x: u16, big: bool) {
        v.extend_from_slice(&if big {
            x.to_be_bytes()
        } else {
            x.to_le_bytes()
        });
    }

    /// Classic pcap with records (sec, frac, data, orig_len).
    fn classic(
        big: bool,
        nanos: bool,
        snaplen: u32,
        link: u32,
        recs: &[(u32, u32, &[u8], u32)],
    ) -> Vec<u8> {
        let mut v = Vec::new();
        w32(&mut v, if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 }, big);
        w16(&mut v, 2, big);
        w16(&mut v, 4, big);
        w32(&mut v, 0, big);
        w32(&mut v, 0, big);
        w32(&mut v, snaplen, big);
        w32(&mut v, link, big);
        for &(sec, frac, data, orig) in recs {
            w32(&mut v, sec, big);
            w32(&mut v, frac, big);
            w32(&mut v, data.len() as u32, big);
            w32(&mut v, orig, big);
            v.extend_from_slice(data);
        }
        v
    }

    /// pcapng writer; `big` is the byte order of the current section.
    struct Ng {
        v: Vec<u8>,
        big: bool,
    }

    impl Ng {
        fn new(big: bool) -> Ng {
            let mut ng = Ng { v: Vec::new(), big };
            ng.shb(big);
            ng
        }
        fn block(&mut self, btype: u32, body: &[u8]) {
            let big = self.big;
            let padded = (body.len() + 3) & !3;
            let len = (12 + padded) as u32;
            w32(&mut self.v, btype, big);
            w32(&mut self.v, len, big);
            self.v.extend_from_slice(body);
            self.v.resize(self.v.len() + padded - body.len(), 0);
            w32(&mut self.v, len, big);
        }
        fn shb(&mut self, big: bool) {
            self.big = big;
            let mut b = Vec::new();
            w32(&mut b, 0x1a2b_3c4d, big);
            w16(&mut b, 1, big);
            w16(&mut b, 0, big);
            b.extend_from_slice(&(-1i64).to_le_bytes());
            self.block(0x0a0d_0d0a, &b);
        }
        fn opt(&self, b: &mut Vec<u8>, code: u16, val: &[u8]) {
            w16(b, code, self.big);
            w16(b, val.len() as u16, self.big);
            b.extend_from_slice(val);
            b.resize((b.len() + 3) & !3, 0);
        }
        fn idb(&mut self, link: u16, snaplen: u32, name: Option<&str>, tsresol: Option<u8>) {
            let mut b = Vec::new();
            w16(&mut b, link, self.big);
            w16(&mut b, 0, self.big);
            w32(&mut b, snaplen, self.big);
            if let Some(n) = name {
                self.opt(&mut b, 2, n.as_bytes());
            }
            if let Some(r) = tsresol {
                self.opt(&mut b, 9, &[r]);
            }
            self.opt(&mut b, 0, &[]);
            self.block(1, &b);
        }
        fn idb_offset(&mut self, link: u16, offset_secs: i64) {
            let mut b = Vec::new();
            w16(&mut b, link, self.big);
            w16(&mut b, 0, self.big);
            w32(&mut b, 0, self.big);
            let off = if self.big {
                offset_secs.to_be_bytes()
            } else {
                offset_secs.to_le_bytes()
            };
            self.opt(&mut b, 14, &off);
            self.block(1, &b);
        }
        fn epb_body(&self, iface: u32, ts: u64, data: &[u8], orig: u32) -> Vec<u8> {
            let mut b = Vec::new();
            w32(&mut b, iface, self.big);
            w32(&mut b, (ts >> 32) as u32, self.big);
            w32(&mut b, ts as u32, self.big);
            w32(&mut b, data.len() as u32, self.big);
            w32(&mut b, orig, self.big);
            b.extend_from_slice(data);
            b
        }
        fn epb(&mut self, iface: u32, ts: u64, data: &[u8], orig: u32) {
            let b = self.epb_body(iface, ts, data, orig);
            self.block(6, &b);
        }
        fn pb(&mut self, iface: u16, ts: u64, data: &[u8]) {
            let mut b = Vec::new();
            w16(&mut b, iface, self.big);
            w16(&mut b, 0, self.big);
            w32(&mut b, (ts >> 32) as u32, self.big);
            w32(&mut b, ts as u32, self.big);
            w32(&mut b, data.len() as u32, self.big);
            w32(&mut b, data.len() as u32, self.big);
            b.extend_from_slice(data);
            self.block(2, &b);
        }
        fn spb(&mut self, data: &[u8], orig: u32) {
            let mut b = Vec::new();
            w32(&mut b, orig, self.big);
            b.extend_from_slice(data);
            self.block(3, &b);
        }
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn open_bytes(bytes: &[u8]) -> Result<CaptureReader, CaptureError> {
        CaptureReader::from_reader(
            PathBuf::from("mem.pcap"),
            Box::new(io::Cursor::new(bytes.to_vec())),
        )
    }

    /// One packet as delivered, with its bytes copied out of the batch.
    #[derive(Debug, Clone, PartialEq)]
    struct Got {
        number: u64,
        ts: Nanos,
        caplen: u32,
        orig_len: u32,
        link: LinkType,
        iface: u16,
        data: Vec<u8>,
    }

    /// Reads everything with batches of `target` bytes; returns packets, the final
    /// interface table, and the error that ended the file (if any).
    fn drain(
        r: &mut CaptureReader,
        target: usize,
    ) -> (Vec<Got>, Arc<Vec<InterfaceInfo>>, Option<CaptureError>) {
        let mut got = Vec::new();
        let mut batch = PacketBatch::default();
        loop {
            batch.clear();
            let res = r.next_batch(&mut batch, target);
            for h in &batch.packets {
                assert!((h.iface as usize) < batch.interfaces.len(), "{h:?}");
                let data = batch.bytes(h).to_vec();
                assert_eq!(data.len(), h.caplen as usize);
                got.push(Got {
                    number: h.number,
                    ts: h.ts,
                    caplen: h.caplen,
                    orig_len: h.orig_len,
                    link: h.link,
                    iface: h.iface,
                    data,
                });
            }
            match res {
                Ok(true) => assert!(!batch.packets.is_empty()),
                Ok(false) => return (got, batch.interfaces.clone(), None),
                Err(e) => {
                    // The file is finished after an error.
                    batch.clear();
                    assert!(matches!(r.next_batch(&mut batch, target), Ok(false)));
                    return (got, batch.interfaces.clone(), Some(e));
                }
            }
        }
    }

    fn read_all(bytes: &[u8]) -> (Vec<Got>, ReaderStats, Option<CaptureError>) {
        let mut r = open_bytes(bytes).unwrap();
        let (got, _, err) = drain(&mut r, 1 << 20);
        // Tiny batches exercise records split across chunks: same packets, same end.
        let mut r2 = open_bytes(bytes).unwrap();
        let (got2, _, err2) = drain(&mut r2, 1);
        assert_eq!(got, got2);
        assert_eq!(
            err.as_ref().map(|e| e.to_string()),
            err2.map(|e| e.to_string())
        );
        assert_eq!(r.stats(), r2.stats());
        (got, r.stats().clone(), err)
    }

    const S: i64 = NANOS_PER_SEC;
    use crate::time::NANOS_PER_SEC;

    // ---- classic pcap ----

    #[test]
    fn classic_all_magics_and_byte_orders() {
        let p1 = [0xaa; 60];
        let p2 = [0xbb; 1514];
        for big in [false, true] {
            for nanos in [false, true] {
                let f = classic(
                    big,
                    nanos,
                    65535,
                    113,
                    &[
                        (1_500_000_000, 123_456, &p1, 60),
                        (1_500_000_001, 999_999, &p2, 1514),
                        (1_500_000_002, 0, &p1[..14], 1000),
                    ],
                );
                let (got, stats, err) = read_all(&f);
                assert!(err.is_none(), "{err:?}");
                assert_eq!(got.len(), 3);
                let unit = if nanos { 1 } else { 1_000 };
                assert_eq!(got[0].ts, 1_500_000_000 * S + 123_456 * unit);
                assert_eq!(got[1].ts, 1_500_000_001 * S + 999_999 * unit);
                assert_eq!(got[2].ts, 1_500_000_002 * S);
                assert_eq!(
                    got.iter().map(|g| g.number).collect::<Vec<_>>(),
                    vec![1, 2, 3]
                );
                assert_eq!(got[1].data, p2.to_vec());
                assert_eq!((got[2].caplen, got[2].orig_len), (14, 1000));
                assert!(got
                    .iter()
                    .all(|g| g.link == LinkType::LinuxSll && g.iface == 0));
                assert_eq!(stats.packets, 3);
                assert_eq!(stats.bytes, 60 + 1514 + 14);
                assert_eq!(stats.bad_timestamps, 0);
                let r = open_bytes(&f).unwrap();
                assert_eq!(
                    r.interfaces().as_slice(),
                    &[InterfaceInfo {
                        name: None,
                        link: LinkType::LinuxSll
                    }]
                );
            }
        }
    }

    #[test]
    fn classic_odd_records_are_counted_and_kept() {
        let d = [7u8; 100];
        let f = classic(
            false,
            false,
            64,
            1,
            &[
                (10, 0, &d[..100], 100),     // caplen > snaplen
                (11, 0, &d[..0], 60),        // zero length
                (12, 0, &d[..50], 40),       // caplen > orig_len
                (13, 1_000_000, &d[..4], 4), // usec out of range
                (14, 5, &d[..4], 4),
            ],
        );
        let (got, stats, err) = read_all(&f);
        assert!(err.is_none());
        assert_eq!(got.len(), 5);
        assert_eq!(stats.caplen_over_snaplen, 1);
        assert_eq!(stats.zero_length, 1);
        assert_eq!(stats.caplen_over_orig_len, 1);
        assert_eq!(stats.bad_timestamps, 1);
        assert_eq!(got[1].caplen, 0);
        assert_eq!((got[2].caplen, got[2].orig_len), (50, 50));
        // Kept as given: the excess fraction spills into the next second.
        assert_eq!(got[3].ts, 14 * S);
        assert_eq!(got[4].ts, 14 * S + 5_000);
        assert_eq!(stats.bytes, 100 + 50 + 4 + 4);
    }

    #[test]
    fn unknown_link_type_is_not_an_error() {
        let f = classic(false, false, 0, 147, &[(1, 0, &[1, 2, 3], 3)]);
        let (got, _, err) = read_all(&f);
        assert!(err.is_none());
        assert_eq!(got[0].link, LinkType::Other(147));
    }

    #[test]
    fn bad_magic_and_truncated_header() {
        let e = open_bytes(b"GIF89a....................").err().unwrap();
        assert!(
            matches!(
                e,
                CaptureError::BadMagic {
                    magic: 0x4749_4638,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("mem.pcap"));
        let f = classic(false, false, 0, 1, &[]);
        for cut in 0..24 {
            let e = open_bytes(&f[..cut]).err().unwrap();
            assert!(
                matches!(e, CaptureError::TruncatedHeader { got, need: 24, .. } if got == cut),
                "{cut}: {e}"
            );
        }
        // A header alone is an empty capture, not an error.
        let (got, _, err) = read_all(&f);
        assert!(got.is_empty() && err.is_none());
    }

    #[test]
    fn truncated_last_record_delivers_earlier_packets() {
        let d = [1u8; 40];
        let f = classic(false, false, 0, 1, &[(1, 0, &d, 40), (2, 0, &d, 40)]);
        // Cut inside the second record's header, then inside its data.
        for (cut, got_bytes, need) in [(f.len() - 40 - 10, 6, 16), (f.len() - 1, 55, 56)] {
            let (got, _, err) = read_all(&f[..cut]);
            assert_eq!(got.len(), 1);
            let e = err.unwrap();
            assert!(
                matches!(e, CaptureError::TruncatedRecord { packet: 2, got, need: n, .. } if got == got_bytes && n == need),
                "{e}"
            );
            assert!(e.to_string().contains("mem.pcap: packet 2"), "{e}");
        }
    }

    #[test]
    fn caplen_above_limit_stops_the_file() {
        let mut f = classic(false, false, 0, 1, &[(1, 0, &[0; 10], 10)]);
        w32(&mut f, 2, false);
        w32(&mut f, 0, false);
        w32(&mut f, MAX_CAPLEN + 1, false);
        w32(&mut f, 10, false);
        f.extend_from_slice(&[0; 100]);
        let (got, _, err) = read_all(&f);
        assert_eq!(got.len(), 1);
        let e = err.unwrap();
        assert!(
            matches!(e, CaptureError::CaplenTooLarge { packet: 2, caplen, .. } if caplen == u64::from(MAX_CAPLEN) + 1),
            "{e}"
        );
        // Exactly the limit is still a packet.
        let big = vec![0u8; MAX_CAPLEN as usize];
        let f = classic(true, false, 65535, 1, &[(1, 0, &big, MAX_CAPLEN)]);
        let (got, stats, err) = read_all(&f);
        assert!(err.is_none());
        assert_eq!(got[0].caplen, MAX_CAPLEN);
        assert_eq!(stats.caplen_over_snaplen, 1);
    }

    #[test]
    fn gzip_of_classic_and_concatenated_members() {
        let d = [3u8; 33];
        let f = classic(false, true, 0, 1, &[(5, 7, &d, 33), (6, 8, &d, 33)]);
        let gz = gzip(&f);
        let (got, _, err) = read_all(&gz);
        assert!(err.is_none());
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].ts, 6 * S + 8);
        // `cat a.gz b.gz`: the second member continues the same byte stream.
        let (head, tail) = f.split_at(50);
        let mut two = gzip(head);
        two.extend_from_slice(&gzip(tail));
        let (got2, _, err) = read_all(&two);
        assert!(err.is_none());
        assert_eq!(got, got2);
        // A truncated gzip stream ends with a gzip error after what it could deliver.
        let (_, _, err) = read_all(&gz[..gz.len() - 12]);
        assert!(matches!(err, Some(CaptureError::Gzip { .. })), "{err:?}");
        // Bad magic inside gzip is still BadMagic.
        let e = open_bytes(&gzip(b"hello world, not a pcap")).err().unwrap();
        assert!(matches!(e, CaptureError::BadMagic { .. }), "{e}");
    }

    #[test]
    fn progress_counts_bytes_on_disk() {
        let d = [0u8; 1000];
        let recs: Vec<_> = (0..100).map(|i| (i, 0, &d[..], 1000)).collect();
        let f = classic(false, false, 0, 1, &recs);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.pcap");
        std::fs::write(&path, &f).unwrap();
        for map in [true, false] {
            let mut r = open_file_with(&path, map).unwrap();
            assert_eq!(r.is_mapped(), map);
            assert_eq!(r.progress().1, Some(f.len() as u64));
            let mut b = PacketBatch::default();
            assert!(r.next_batch(&mut b, 10_000).unwrap());
            // Mapped: the header and 9 whole records were framed; read: 10 000 bytes
            // and the header were read.
            let (done, _) = r.progress();
            let want = if map { 24 + 9 * 1016 } else { 24 + 10_000 };
            assert_eq!(done, want);
            while r.next_batch(&mut b, 10_000).unwrap() {
                b.clear();
            }
            assert_eq!(r.progress().0, f.len() as u64);
            assert_eq!(r.stats().packets, 100);
        }
        let e = open_file(&dir.path().join("missing.pcap")).err().unwrap();
        assert!(matches!(e, CaptureError::Open { .. }));
        assert!(e.to_string().contains("missing.pcap"));
    }

    #[test]
    fn batches_respect_target_and_carry_split_records() {
        let d = [9u8; 100];
        let recs: Vec<_> = (0..1000).map(|i| (i, 0, &d[..], 100)).collect();
        let f = classic(false, false, 0, 1, &recs);
        let mut r = open_bytes(&f).unwrap();
        let mut b = PacketBatch::default();
        let mut n = 0u64;
        let mut batches = 0;
        while r.next_batch(&mut b, 4096).unwrap() {
            assert!(b.data.len() < 4096 + 116, "{}", b.data.len());
            for h in &b.packets {
                n += 1;
                assert_eq!(h.number, n);
                assert_eq!(b.bytes(h), &d[..]);
            }
            b.clear();
            batches += 1;
        }
        assert_eq!(n, 1000);
        assert!(batches >= 116000 / 4096, "{batches}");
    }

    // ---- pcapng ----

    fn two_interface_file(big: bool) -> Vec<u8> {
        let mut ng = Ng::new(big);
        ng.idb(1, 0, Some("eth0"), None); // default µs
        ng.idb(101, 128, Some("tun0"), Some(9)); // ns
        ng.block(0x0000_0bad, &[1, 2, 3, 4, 5]); // custom block: skipped
        ng.epb(0, 1_600_000_000_123_456, &[0xe0; 60], 60);
        ng.block(5, &[0; 16]); // ISB: skipped
        ng.epb(1, 1_600_000_001_000_000_007, &[0x45; 200], 300);
        ng.pb(1, 1_600_000_002_000_000_000, &[0x46; 21]);
        ng.spb(&[0xe1; 70], 70);
        ng.v
    }

    #[test]
    fn pcapng_two_interfaces_link_types_and_resolution() {
        for big in [false, true] {
            let f = two_interface_file(big);
            let (got, stats, err) = read_all(&f);
            assert!(err.is_none(), "{err:?}");
            assert_eq!(got.len(), 4);
            assert_eq!(got[0].ts, 1_600_000_000 * S + 123_456_000);
            assert_eq!((got[0].link, got[0].iface), (LinkType::Ethernet, 0));
            assert_eq!(got[1].ts, 1_600_000_001 * S + 7);
            assert_eq!((got[1].link, got[1].iface), (LinkType::Raw, 1));
            assert_eq!((got[1].caplen, got[1].orig_len), (200, 300));
            assert_eq!(got[1].data, vec![0x45; 200]);
            assert_eq!(got[2].ts, 1_600_000_002 * S);
            assert_eq!((got[2].caplen, got[2].data[20]), (21, 0x46));
            // SPB: interface 0, previous packet's time.
            assert_eq!((got[3].iface, got[3].caplen, got[3].ts), (0, 70, got[2].ts));
            assert_eq!(
                got.iter().map(|g| g.number).collect::<Vec<_>>(),
                [1, 2, 3, 4]
            );
            assert_eq!(stats.skipped_blocks, 2);
            assert_eq!(stats.caplen_over_snaplen, 1);
            assert_eq!(stats.packets, 4);
            let mut r = open_bytes(&f).unwrap();
            let (_, ifaces, _) = drain(&mut r, 1 << 20);
            assert_eq!(
                ifaces.as_slice(),
                &[
                    InterfaceInfo {
                        name: Some("eth0".into()),
                        link: LinkType::Ethernet
                    },
                    InterfaceInfo {
                        name: Some("tun0".into()),
                        link: LinkType::Raw
                    },
                ]
            );
        }
    }

    #[test]
    fn pcapng_sections_switch_byte_order_and_interfaces() {
        let mut ng = Ng::new(false);
        ng.idb(1, 0, Some("a"), None);
        ng.epb(0, 1_000_000, &[1; 10], 10);
        ng.shb(true);
        ng.idb(113, 0, Some("b"), Some(0x80 | 20)); // 2^-20 s
        ng.epb(0, 3 << 20, &[2; 10], 10);
        ng.shb(false);
        ng.idb_offset(1, 100);
        ng.epb(0, 5_000_000, &[3; 10], 10);
        let f = ng.v;
        let (got, _, err) = read_all(&f);
        assert!(err.is_none(), "{err:?}");
        assert_eq!(got.len(), 3);
        assert_eq!((got[0].iface, got[0].ts), (0, S));
        assert_eq!(
            (got[1].iface, got[1].link, got[1].ts),
            (1, LinkType::LinuxSll, 3 * S)
        );
        assert_eq!((got[2].iface, got[2].ts), (2, 105 * S));
        let mut r = open_bytes(&gzip(&f)).unwrap();
        let (got_gz, ifaces, err) = drain(&mut r, 1 << 20);
        assert!(err.is_none());
        assert_eq!(got_gz, got);
        assert_eq!(ifaces.len(), 3);
        assert_eq!(ifaces[1].name.as_deref(), Some("b"));
        assert_eq!(ifaces[2].name, None);
    }

    #[test]
    fn pcapng_undefined_interface_is_skipped_and_counted() {
        let mut ng = Ng::new(false);
        ng.idb(1, 0, None, None);
        ng.epb(0, 1, &[1; 4], 4);
        ng.epb(7, 2, &[2; 4], 4);
        ng.epb(0, 3, &[3; 4], 4);
        // A new section forgets the old interfaces: an SPB now has no interface 0.
        ng.shb(false);
        ng.spb(&[4; 4], 4);
        let (got, stats, err) = read_all(&ng.v);
        assert!(err.is_none());
        assert_eq!(got.iter().map(|g| g.number).collect::<Vec<_>>(), [1, 3]);
        assert_eq!(stats.unknown_interface, 2);
        assert_eq!(stats.packets, 2);
    }

    fn expect_err(bytes: &[u8], packets: usize, check: impl Fn(&CaptureError) -> bool) {
        let (got, _, err) = read_all(bytes);
        assert_eq!(got.len(), packets);
        let e = err.expect("an error");
        assert!(check(&e), "{e}");
        assert!(e.to_string().starts_with("mem.pcap: "), "{e}");
    }

    #[test]
    fn pcapng_framing_errors() {
        let base = {
            let mut ng = Ng::new(false);
            ng.idb(1, 0, None, None);
            ng.epb(0, 1, &[1; 4], 4);
            ng
        };
        let bad = |e: &CaptureError, want: &str| matches!(e, CaptureError::BadBlock { packet: 2, reason, .. } if reason.contains(want));
        // Length not a multiple of 4.
        let mut f = base.v.clone();
        f.extend_from_slice(&[6, 0, 0, 0, 13, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        expect_err(&f, 1, |e| bad(e, "length 13"));
        // Length below 12.
        let mut f = base.v.clone();
        f.extend_from_slice(&[6, 0, 0, 0, 8, 0, 0, 0, 8, 0, 0, 0]);
        expect_err(&f, 1, |e| bad(e, "length 8"));
        // Trailing length differs.
        let mut ng = Ng {
            v: base.v.clone(),
            big: false,
        };
        ng.epb(0, 2, &[2; 4], 4);
        let n = ng.v.len();
        ng.v[n - 4] ^= 4;
        expect_err(&ng.v, 1, |e| bad(e, "trailing length"));
        // Block runs past the end of the file.
        let mut ng = Ng {
            v: base.v.clone(),
            big: false,
        };
        ng.epb(0, 2, &[2; 40], 40);
        let cut = ng.v.len() - 8;
        expect_err(
            &ng.v[..cut],
            1,
            |e| matches!(e, CaptureError::TruncatedRecord { packet: 2, got, need: 72, .. } if *got == 64),
        );
        // Captured length beyond the block.
        let mut ng = Ng {
            v: base.v.clone(),
            big: false,
        };
        let mut body = ng.epb_body(0, 2, &[2; 8], 8);
        body[12] = 9;
        ng.block(6, &body);
        expect_err(&ng.v, 1, |e| bad(e, "runs past the end"));
        // Captured length above the limit.
        let mut ng = Ng {
            v: base.v.clone(),
            big: false,
        };
        let mut body = ng.epb_body(0, 2, &[2; 8], 8);
        body[12..16].copy_from_slice(&(MAX_CAPLEN + 1).to_le_bytes());
        ng.block(6, &body);
        expect_err(&ng.v, 1, |e| {
            matches!(e, CaptureError::CaplenTooLarge { packet: 2, .. })
        });
        // Block too large to be real.
        let mut f = base.v.clone();
        f.extend_from_slice(&[6, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0]);
        expect_err(&f, 1, |e| bad(e, "above the"));
        // A later section header with a garbage byte-order magic.
        let mut f = base.v.clone();
        f.extend_from_slice(&[0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 1, 2, 3, 4]);
        expect_err(&f, 1, |e| bad(e, "byte-order magic 0x01020304"));
        // Unsupported major version.
        let mut ng = Ng {
            v: base.v.clone(),
            big: false,
        };
        let mut b = Vec::new();
        w32(&mut b, 0x1a2b_3c4d, false);
        w16(&mut b, 2, false);
        w16(&mut b, 0, false);
        b.extend_from_slice(&[0xff; 8]);
        ng.block(0x0a0d_0d0a, &b);
        expect_err(&ng.v, 1, |e| bad(e, "major version 2"));
        // Packet block too short for its fixed fields.
        let mut ng = Ng {
            v: base.v.clone(),
            big: false,
        };
        ng.block(6, &[0; 8]);
        expect_err(&ng.v, 1, |e| bad(e, "packet block body of 8"));
    }

    #[test]
    fn pcapng_header_errors() {
        let f = Ng::new(true).v;
        for cut in 4..f.len() {
            let e = open_bytes(&f[..cut]).err().unwrap();
            assert!(
                matches!(e, CaptureError::TruncatedHeader { got, .. } if got == cut),
                "{cut}: {e}"
            );
        }
        let mut bad = f.clone();
        bad[8] = 0x99;
        let e = open_bytes(&bad).err().unwrap();
        assert!(
            matches!(
                e,
                CaptureError::BadMagic {
                    magic: 0x993c_2b1a,
                    ..
                } | CaptureError::BadMagic {
                    magic: 0x992b_3c4d,
                    ..
                }
            ),
            "{e}"
        );
        // A section header alone: no packets, no error.
        let (got, _, err) = read_all(&f);
        assert!(got.is_empty() && err.is_none());
    }

    #[test]
    fn pcapng_huge_skipped_blocks_do_not_grow_the_batch() {
        let mut ng = Ng::new(false);
        ng.idb(1, 0, None, None);
        for _ in 0..64 {
            ng.block(0x40, &[0u8; 64 * 1024]);
        }
        ng.epb(0, 1, &[5; 4], 4);
        let mut r = open_bytes(&ng.v).unwrap();
        let mut b = PacketBatch::default();
        assert!(r.next_batch(&mut b, 1024).unwrap());
        assert_eq!(b.packets.len(), 1);
        assert!(b.data.len() < 200 * 1024, "{}", b.data.len());
        assert_eq!(r.stats().skipped_blocks, 64);
    }

    // ---- fuzz-shaped checks (same body as fuzz/fuzz_targets/capture_reader.rs) ----

    /// What the fuzz target does with its input; panics only on a reader bug.
    fn fuzz_one(data: &[u8]) {
        let Ok(mut r) = CaptureReader::from_reader(
            PathBuf::from("fuzz-input"),
            Box::new(io::Cursor::new(data.to_vec())),
        ) else {
            return;
        };
        let mut batch = PacketBatch::default();
        let target = usize::from(data.first().copied().unwrap_or(0)) * 64;
        loop {
            batch.clear();
            let res = r.next_batch(&mut batch, target);
            for h in &batch.packets {
                assert!((h.offset as usize + h.caplen as usize) <= batch.data.len());
                assert!((h.iface as usize) < batch.interfaces.len());
                assert!(h.caplen <= MAX_CAPLEN && h.caplen <= h.orig_len);
            }
            match res {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    let msg = e.to_string();
                    assert!(msg.starts_with("fuzz-input: "), "{msg}");
                    break;
                }
            }
        }
    }

    #[test]
    fn garbage_and_truncations_never_panic() {
        // xorshift: deterministic garbage, with the pcap/pcapng magics in front so the
        // bytes reach the record parsers.
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let heads: [&[u8]; 4] = [
            &[0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0],
            &[0xa1, 0xb2, 0x3c, 0x4d, 0, 2, 0, 4],
            &[0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a],
            &[0x1f, 0x8b, 8, 0],
        ];
        for i in 0..400 {
            let len = (rnd() % 600) as usize;
            let mut v: Vec<u8> = heads[i % 4].to_vec();
            v.extend((0..len).map(|_| (rnd() % 7) as u8 * 37));
            fuzz_one(&v);
        }
        for f in [
            two_interface_file(false),
            two_interface_file(true),
            classic(true, true, 10, 1, &[(1, 2, &[1; 30], 30), (3, 4, &[], 0)]),
            gzip(&two_interface_file(false)),
        ] {
            for cut in 0..=f.len() {
                fuzz_one(&f[..cut]);
            }
            // Truncations of a pcapng name the packet that was cut.
            for cut in 1..f.len() {
                let Ok(mut r) = open_bytes(&f[..cut]) else {
                    continue;
                };
                let (got, _, err) = drain(&mut r, 100);
                if let Some(
                    CaptureError::TruncatedRecord { packet, .. }
                    | CaptureError::BadBlock { packet, .. },
                ) = err
                {
                    assert_eq!(packet, got.len() as u64 + 1, "cut {cut}");
                }
            }
        }
    }

    // ---- real captures ----

    fn shared() -> Option<PathBuf> {
        let p = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/pcaps"));
        if p.is_dir() {
            return Some(p);
        }
        if std::env::var_os("CI").is_some() {
            panic!("{} missing (CI is set)", p.display());
        }
        eprintln!("skipping: {} not found", p.display());
        None
    }

    fn read_file(
        path: &Path,
    ) -> (
        Vec<Got>,
        Arc<Vec<InterfaceInfo>>,
        ReaderStats,
        Option<CaptureError>,
    ) {
        let mut r = open_file(path).unwrap_or_else(|e| panic!("{e}"));
        let (got, ifaces, err) = drain(&mut r, 1 << 20);
        (got, ifaces, r.stats().clone(), err)
    }

    #[test]
    fn real_pcapng_multi_interface() {
        let Some(dir) = shared() else { return };
        let (got, ifaces, _, err) = read_file(&dir.join("zeek/pcapng-multi-interface.pcapng"));
        assert!(err.is_none(), "{err:?}");
        assert_eq!(got.len(), 6);
        assert_eq!(ifaces.len(), 2);
        assert_eq!(ifaces[0].name.as_deref(), Some("eth0"));
        assert_eq!(
            ifaces[1].name.as_deref(),
            Some("\\Device\\NPF_{5AE6EDB4-EFF9-46B3-A3C2-EE50C688A9E6}")
        );
        // tshark: frame.time_epoch / frame.len / frame.interface_id.
        assert_eq!(got[0].ts, 1_767_663_089_500_330_493);
        assert_eq!(got[2].ts, 1_767_663_437_111_897_000);
        assert_eq!(
            got.iter().map(|g| g.orig_len).collect::<Vec<_>>(),
            [96, 214, 70, 166, 70, 182]
        );
        assert_eq!(
            got.iter().map(|g| g.iface).collect::<Vec<_>>(),
            [0, 0, 1, 1, 1, 1]
        );
        assert!(got.iter().all(|g| g.link == LinkType::Ethernet));
    }

    #[test]
    fn real_classic_files() {
        let Some(dir) = shared() else { return };
        let (got, _, _, err) = read_file(&dir.join("tcpdump/tcp-handshake-nano.pcap"));
        assert!(err.is_none());
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].ts, 1_418_145_369_924_505_488);
        assert_eq!(got[2].ts, 1_418_145_370_052_115_157);
        assert!(got.iter().all(|g| g.link == LinkType::LinuxSll));
        assert_eq!(
            got.iter().map(|g| g.caplen).collect::<Vec<_>>(),
            [76, 76, 68]
        );

        let (got, _, stats, err) = read_file(&dir.join("community-id-spec/combined.pcap.gz"));
        assert!(err.is_none());
        assert_eq!(got.len(), 68);
        assert_eq!(got[0].ts, 1_500_000_000_830_079_000);
        assert_eq!((got[6].ts, got[6].caplen), (1_500_000_020 * S, 86));
        assert_eq!(stats.packets, 68);

        let (got, _, stats, err) = read_file(&dir.join("tcpdump/timestamp_invalid_micro.pcap"));
        assert!(err.is_none());
        assert_eq!(got.len(), 3);
        // usec 1000000 in packet 2 and 2^31 in packet 3: counted, kept as given.
        assert_eq!(stats.bad_timestamps, 2);
        assert_eq!(got[0].ts, 1_418_145_369_999_999_000);
        assert_eq!(got[1].ts, 1_418_145_371 * S);
        assert_eq!(got[2].ts, 1_418_145_370 * S + 2_147_483_648_000);
    }

    #[test]
    fn real_zeek_pcapng_files() {
        let Some(dir) = shared() else { return };
        let (got, _, _, err) = read_file(&dir.join("zeek/tcp/retransmit-timeout.pcapng"));
        assert!(err.is_none());
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].ts, 629_503_200_000_030_000);
        assert_eq!(got[2].ts, 629_503_500_000_040_000);
        assert_eq!(
            got.iter().map(|g| g.caplen).collect::<Vec<_>>(),
            [72, 54, 72]
        );

        let (got, _, _, err) =
            read_file(&dir.join("zeek/trunc/ip-discarder-truncated-tcp-oob.pcapng"));
        assert!(err.is_none());
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].caplen, got[0].orig_len, got[0].ts), (34, 54, 1_000));
    }

    fn tshark_count(path: &Path) -> Option<u64> {
        let out = std::process::Command::new("/usr/bin/tshark")
            .args(["-r"])
            .arg(path)
            .args(["-T", "fields", "-e", "frame.number"])
            .output()
            .ok()?;
        Some(out.stdout.iter().filter(|&&b| b == b'\n').count() as u64)
    }

    #[test]
    fn every_shared_capture_reads_and_matches_tshark() {
        let Some(dir) = shared() else { return };
        let mut files = Vec::new();
        let mut stack = vec![dir];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let p = e.path();
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if p.is_dir() {
                    stack.push(p);
                } else if [".pcap", ".pcapng", ".pcap.gz"]
                    .iter()
                    .any(|s| name.ends_with(s))
                {
                    files.push(p);
                }
            }
        }
        files.sort();
        assert!(files.len() > 50, "{}", files.len());
        let tshark = Path::new("/usr/bin/tshark").exists();
        if !tshark {
            eprintln!("tshark not installed: only checking that every file reads");
        }
        let mut mismatches = Vec::new();
        for f in &files {
            let (n, err) = match open_file(f) {
                Ok(mut r) => {
                    let (got, _, err) = drain(&mut r, 256 * 1024);
                    (got.len() as u64, err.map(|e| e.to_string()))
                }
                Err(e) => (0, Some(e.to_string())),
            };
            if let Some(e) = &err {
                eprintln!("{e}");
            }
            if tshark {
                let want = tshark_count(f).unwrap_or(u64::MAX);
                if want != n {
                    mismatches.push(format!(
                        "{}: ours {n}, tshark {want} ({err:?})",
                        f.display()
                    ));
                }
            }
        }
        assert!(mismatches.is_empty(), "{mismatches:#?}");
    }

    // ---- mapped vs read ----

    /// Everything a reader delivers for a file: packets (with bytes), final
    /// interfaces, stats, the error text, and whether it was mapped.
    type Delivery = (
        Vec<Got>,
        Vec<InterfaceInfo>,
        ReaderStats,
        Option<String>,
        bool,
    );

    fn deliver(path: &Path, map: bool, target: usize) -> Delivery {
        let mut r = match open_file_with(path, map) {
            Ok(r) => r,
            Err(e) => {
                return (
                    vec![],
                    vec![],
                    Default::default(),
                    Some(e.to_string()),
                    false,
                )
            }
        };
        let mapped = r.is_mapped();
        let mut got = Vec::new();
        let mut batch = PacketBatch::default();
        let err = loop {
            batch.clear();
            let res = r.next_batch(&mut batch, target);
            assert!(!batch.data.is_mapped() || mapped);
            assert!(batch.data.is_mapped() || !mapped || batch.packets.is_empty());
            for h in &batch.packets {
                assert!(h.offset as usize + h.caplen as usize <= batch.data.len());
                got.push(Got {
                    number: h.number,
                    ts: h.ts,
                    caplen: h.caplen,
                    orig_len: h.orig_len,
                    link: h.link,
                    iface: h.iface,
                    data: batch.bytes(h).to_vec(),
                });
            }
            match res {
                Ok(true) => {}
                Ok(false) => break None,
                Err(e) => break Some(e.to_string()),
            }
        };
        if err.is_none() {
            assert_eq!(
                r.progress().0,
                r.progress().1.unwrap_or(0),
                "{}",
                path.display()
            );
        }
        let ifaces = batch.interfaces.as_ref().clone();
        (got, ifaces, r.stats().clone(), err, mapped)
    }

    /// Reads `path` mapped and with `read`, at a few batch sizes, and requires the same
    /// delivery (packets with their bytes and headers, interfaces, stats, error).
    fn assert_map_equals_read(path: &Path, expect_mapped: bool) -> usize {
        let mut n = 0;
        for target in [1, 700, 64 * 1024, 1 << 20] {
            let (g1, i1, st1, e1, m1) = deliver(path, true, target);
            let (g2, i2, st2, e2, m2) = deliver(path, false, target);
            assert_eq!((m1, m2), (expect_mapped, false), "{}", path.display());
            assert_eq!(g1.len(), g2.len(), "{} @{target}", path.display());
            assert!(g1 == g2, "{} @{target}: packets differ", path.display());
            assert_eq!(i1, i2, "{}", path.display());
            assert_eq!(st1, st2, "{}", path.display());
            assert_eq!(e1, e2, "{}", path.display());
            n = g1.len();
        }
        n
    }

    #[test]
    fn mapped_and_read_paths_agree_on_synthetic_files() {
        let dir = tempfile::tempdir().unwrap();
        let d = [0x5au8; 1600];
        let recs: Vec<_> = (0..500u32)
            .map(|i| (i, i * 7, &d[..(i as usize * 37) % 1600], 1600))
            .collect();
        let good = classic(true, true, 1500, 1, &recs);
        let mut ng = Ng::new(false);
        ng.idb(1, 0, Some("eth0"), None);
        for i in 0..200u64 {
            ng.block(0x40, &[0u8; 3000]); // skipped blocks between packets
            ng.epb(0, i, &d[..(i as usize * 13) % 1600], 1600);
        }
        ng.shb(true); // a second section in the other byte order
        ng.idb(101, 0, Some("tun0"), Some(9));
        ng.epb(0, 5, &[0x45; 40], 40);
        let mut two = two_interface_file(false);
        two.extend_from_slice(&two_interface_file(true));
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("classic.pcap", good.clone()),
            ("ng.pcapng", ng.v.clone()),
            ("two.pcapng", two.clone()),
            // Trailing partial record, cut header, cut block, bad block length.
            ("cut.pcap", good[..good.len() - 100].to_vec()),
            ("cuthdr.pcap", good[..good.len() - good.len() / 3].to_vec()),
            ("cut.pcapng", ng.v[..ng.v.len() - 30].to_vec()),
            ("bad.pcapng", {
                let mut v = two.clone();
                v.extend_from_slice(&[6, 0, 0, 0, 13, 0, 0, 0, 0, 0, 0, 0]);
                v
            }),
            ("toolarge.pcap", {
                let mut v = classic(false, false, 0, 1, &[(1, 0, &d[..10], 10)]);
                v.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0]);
                v
            }),
            ("header-only.pcap", good[..24].to_vec()),
            ("short-header.pcap", good[..10].to_vec()),
            ("garbage.pcap", b"not a capture file at all".to_vec()),
        ];
        for (name, bytes) in &cases {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            // Files that fail at open are never mapped readers; the rest must be.
            let opens = open_file(&path).is_ok();
            assert_map_equals_read(&path, opens);
        }
        // Gzip is decompressed with `read` even though the file could be mapped.
        let path = dir.path().join("g.pcap.gz");
        std::fs::write(&path, gzip(&good)).unwrap();
        let r = open_file(&path).unwrap();
        assert!(!r.is_mapped());
        assert_eq!(drain(&mut open_file(&path).unwrap(), 1 << 20).0.len(), 500);
        // An empty file is not mapped either; it fails the same way.
        let path = dir.path().join("empty.pcap");
        std::fs::write(&path, b"").unwrap();
        assert_map_equals_read(&path, false);
    }

    #[test]
    fn mapped_and_read_paths_agree_on_shared_captures() {
        let Some(dir) = shared() else { return };
        let files = [
            "zeek/pcapng-multi-interface.pcapng",
            "zeek/tcp/retransmit-timeout.pcapng",
            "zeek/trunc/ip-discarder-truncated-tcp-oob.pcapng",
            "tcpdump/tcp-handshake-nano.pcap",
            "tcpdump/timestamp_invalid_micro.pcap",
        ];
        let mut total = 0;
        for f in files {
            total += assert_map_equals_read(&dir.join(f), true);
        }
        assert!(total >= 16, "{total}");
        // The largest shared classic and pcapng files, whatever they are.
        let mut biggest: [(u64, Option<PathBuf>); 2] = [(0, None), (0, None)];
        let mut stack = vec![dir];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let p = e.path();
                let len = e.metadata().map(|m| m.len()).unwrap_or(0);
                let name = p.to_string_lossy().to_string();
                let slot = if name.ends_with(".pcap") {
                    0
                } else if name.ends_with(".pcapng") {
                    1
                } else {
                    if p.is_dir() {
                        stack.push(p);
                    }
                    continue;
                };
                if len > biggest[slot].0 {
                    biggest[slot] = (len, Some(p));
                }
            }
        }
        for p in biggest.iter().filter_map(|(_, p)| p.as_ref()) {
            assert!(assert_map_equals_read(p, true) > 0, "{}", p.display());
        }
    }

    #[test]
    fn unmappable_files_fall_back_to_read() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !made {
            eprintln!("skipping: mkfifo failed");
            return;
        }
        let f = two_interface_file(false);
        let writer = {
            let (fifo, f) = (fifo.clone(), f.clone());
            std::thread::spawn(move || std::fs::write(fifo, f))
        };
        let mut r = open_file(&fifo).unwrap();
        assert!(!r.is_mapped());
        let (got, _, err) = drain(&mut r, 1 << 20);
        assert!(err.is_none(), "{err:?}");
        assert_eq!(got.len(), 4);
        writer.join().unwrap().unwrap();
    }

    #[test]
    fn batch_left_uncleared_keeps_its_bytes_in_both_paths() {
        let d = [3u8; 100];
        let recs: Vec<_> = (0..50)
            .map(|i| (i, 0, &d[..(i as usize) + 1], 100))
            .collect();
        let f = classic(false, false, 0, 1, &recs);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.pcap");
        std::fs::write(&path, &f).unwrap();
        for map in [true, false] {
            let mut r = open_file_with(&path, map).unwrap();
            let mut b = PacketBatch::default();
            // Never cleared: every batch appends, mapped bytes get copied in.
            while r.next_batch(&mut b, 500).unwrap() {}
            assert!(!b.data.is_mapped());
            assert_eq!(b.packets.len(), 50);
            for (i, h) in b.packets.iter().enumerate() {
                assert_eq!(b.bytes(h), &d[..i + 1], "map {map} packet {i}");
            }
        }
    }

    #[test]
    fn recycled_owned_buffer_is_reused_without_stale_bytes() {
        let big = classic(false, false, 0, 1, &[(1, 0, &[0xee; 5000], 5000)]);
        let small = classic(false, false, 0, 1, &[(2, 0, &[0x11; 10], 10)]);
        let mut b = PacketBatch::default();
        let mut r = open_bytes(&big).unwrap();
        assert!(r.next_batch(&mut b, 1 << 20).unwrap());
        b.clear();
        let mut r = open_bytes(&small).unwrap();
        assert!(r.next_batch(&mut b, 1 << 20).unwrap());
        assert_eq!(b.data.len(), 26);
        assert_eq!(b.bytes(&b.packets[0]), &[0x11; 10]);
        assert!(!r.next_batch(&mut b, 1 << 20).unwrap());
    }
}

/// Throughput check, run by hand: `cargo test --release --lib capture_throughput -- --ignored --nocapture`.
#[cfg(test)]
mod perf {
    use super::*;

    /// Reads the file named by `BW_PERF_FILE` and sums caplen, mapped unless
    /// `BW_PERF_READ` is set: `BW_PERF_FILE=x.pcap /usr/bin/time cargo test --release
    /// --lib file_read_throughput -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn file_read_throughput() {
        let Some(path) = std::env::var_os("BW_PERF_FILE") else {
            eprintln!("skipping: BW_PERF_FILE not set");
            return;
        };
        let map = std::env::var_os("BW_PERF_READ").is_none();
        let t = std::time::Instant::now();
        let mut r = open_file_with(Path::new(&path), map).unwrap();
        let mut b = PacketBatch::default();
        let mut sum = 0u64;
        while r.next_batch(&mut b, 1 << 20).unwrap() {
            // Touch the first byte of each packet, as a decoder would.
            sum += b
                .packets
                .iter()
                .map(|h| u64::from(b.bytes(h).first().copied().unwrap_or(0)))
                .sum::<u64>();
            b.clear();
        }
        eprintln!(
            "mapped {}: {} packets in {:.3} s ({sum})",
            r.is_mapped(),
            r.stats().packets,
            t.elapsed().as_secs_f64()
        );
    }

    #[test]
    #[ignore]
    fn capture_throughput() {
        let n: u32 = 5_000_000;
        let mut f = Vec::with_capacity(24 + n as usize * 80);
        f.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        f.extend_from_slice(&[2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        f.extend_from_slice(&65535u32.to_le_bytes());
        f.extend_from_slice(&1u32.to_le_bytes());
        for i in 0..n {
            for x in [i / 1_000_000, i % 1_000_000, 64, 64] {
                f.extend_from_slice(&x.to_le_bytes());
            }
            f.extend_from_slice(&[0x5a; 64]);
        }
        let len = f.len();
        let t = std::time::Instant::now();
        let mut r = CaptureReader::from_reader(PathBuf::from("perf"), Box::new(io::Cursor::new(f)))
            .unwrap();
        let mut b = PacketBatch::default();
        let mut sum = 0u64;
        while r.next_batch(&mut b, 1 << 20).unwrap() {
            sum += b.packets.iter().map(|h| u64::from(h.caplen)).sum::<u64>();
            b.clear();
        }
        let secs = t.elapsed().as_secs_f64();
        assert_eq!(r.stats().packets, u64::from(n));
        assert_eq!(sum, u64::from(n) * 64);
        eprintln!(
            "{n} packets, {} MB in {secs:.3} s: {:.1} Mpps, {:.0} MB/s",
            len / 1_000_000,
            f64::from(n) / secs / 1e6,
            len as f64 / secs / 1e6
        );
    }
}
