//! Packet sources.  Today: capture files (classic pcap in micro- and nanosecond
//! resolution, pcapng with several interfaces and link types, and gzip of either).
//!
//! A reader hands out packets in [`PacketBatch`]es: one run of file bytes plus a
//! header per packet pointing into it.  The bytes are either an owned buffer filled by
//! a large sequential read (gzip, pipes, [`CaptureReader::from_reader`]) or a window of
//! a shared read-only mapping of the whole file (regular uncompressed files), see
//! [`BatchBytes`].  Batches are what the pipeline moves between threads, so the
//! per-packet cost is one slice, not an allocation or a copy.  Readers never panic on bad input: a record that cannot be framed ends
//! the file with a [`CaptureError`] naming the file and packet number; a record that
//! is merely odd (caplen above snaplen, zero length) is counted in [`ReaderStats`]
//! and processing goes on.

mod file;
mod pcap_classic;
mod pcapng;

pub use file::{open_file, open_file_with, CaptureReader};

use crate::time::Nanos;
use std::path::PathBuf;
use std::sync::Arc;

/// Link-layer type of a packet, from the pcap `LINKTYPE_*` numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LinkType {
    /// LINKTYPE_ETHERNET (1).
    Ethernet,
    /// LINKTYPE_LINUX_SLL (113).
    LinuxSll,
    /// LINKTYPE_LINUX_SLL2 (276).
    LinuxSll2,
    /// LINKTYPE_RAW (101, and DLT_RAW 12/14 on some systems): IPv4 or IPv6 by version nibble.
    Raw,
    /// LINKTYPE_IPV4 (228).
    Ipv4,
    /// LINKTYPE_IPV6 (229).
    Ipv6,
    /// LINKTYPE_NULL (0): BSD loopback, 4-byte family in host byte order of the writer.
    Null,
    /// LINKTYPE_LOOP (108): BSD loopback, 4-byte family in network byte order.
    Loop,
    /// Anything else: the packet is counted as `unsupported_link_type` and skipped.
    Other(u32),
}

impl LinkType {
    pub fn from_linktype(n: u32) -> LinkType {
        match n {
            1 => LinkType::Ethernet,
            113 => LinkType::LinuxSll,
            276 => LinkType::LinuxSll2,
            101 | 12 | 14 => LinkType::Raw,
            228 => LinkType::Ipv4,
            229 => LinkType::Ipv6,
            0 => LinkType::Null,
            108 => LinkType::Loop,
            n => LinkType::Other(n),
        }
    }

    /// The pcap LINKTYPE number (for compiling BPF filters against this link type).
    pub fn linktype(self) -> u32 {
        match self {
            LinkType::Ethernet => 1,
            LinkType::LinuxSll => 113,
            LinkType::LinuxSll2 => 276,
            LinkType::Raw => 101,
            LinkType::Ipv4 => 228,
            LinkType::Ipv6 => 229,
            LinkType::Null => 0,
            LinkType::Loop => 108,
            LinkType::Other(n) => n,
        }
    }
}

/// One packet inside a [`PacketBatch`]: where its bytes are and what the file said about it.
#[derive(Clone, Copy, Debug)]
pub struct PacketHeader {
    /// Byte offset of the captured bytes within the batch's bytes
    /// ([`BatchBytes::as_slice`]).  Always relative to the start of the batch, never to
    /// the file, so it fits in 32 bits however large a mapped file is.
    pub offset: u32,
    /// Captured length (bytes present in `data`).
    pub caplen: u32,
    /// Original length on the wire as the file records it.
    pub orig_len: u32,
    /// Capture timestamp.
    pub ts: Nanos,
    pub link: LinkType,
    /// Index into [`PacketBatch::interfaces`] naming the interface the packet was captured on.
    pub iface: u16,
    /// 1-based packet number within its file (what error messages name).
    pub number: u64,
}

/// An interface as a capture file describes it (pcapng IDB; classic pcap has one, unnamed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceInfo {
    /// `if_name` from the pcapng IDB, or `None` when the file does not say.
    pub name: Option<String>,
    pub link: LinkType,
}

/// The bytes a [`PacketBatch`]'s headers point into.
///
/// Either a prefix of an owned buffer, or a window `[start, start + len)` of a shared
/// read-only mapping of the capture file.  Packet offsets are relative to the start of
/// this window ([`as_slice`](Self::as_slice)), so a batch of a multi-GB mapped file
/// still addresses its packets with `u32` offsets.
///
/// The owned buffer is kept across [`clear`](Self::clear) and across mapped use, and
/// its length is a high-water mark: bytes past the valid length are stale but
/// initialised, so refilling a recycled batch reads straight into it without zeroing.
#[derive(Default)]
pub struct BatchBytes {
    buf: Vec<u8>,
    map: Option<Arc<memmap2::Mmap>>,
    /// Start of the window in `map` (0 when owned).
    start: usize,
    /// Valid bytes: of `buf` when owned, of the window when mapped.
    len: usize,
}

impl BatchBytes {
    /// The valid bytes.
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        match &self.map {
            Some(m) => m
                .get(self.start..self.start.saturating_add(self.len))
                .unwrap_or_default(),
            None => self.buf.get(..self.len).unwrap_or_default(),
        }
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `true` when the bytes are a window of a file mapping rather than owned.
    pub fn is_mapped(&self) -> bool {
        self.map.is_some()
    }

    /// Forgets the bytes (and drops the reference to a mapping, so a finished file's
    /// mapping goes away once no batch refers to it); keeps the owned buffer.
    pub fn clear(&mut self) {
        self.map = None;
        self.start = 0;
        self.len = 0;
    }

    /// Makes the bytes the window `[start, start + len)` of `map`.
    pub(crate) fn set_mapped(&mut self, map: Arc<memmap2::Mmap>, start: usize, len: usize) {
        self.map = Some(map);
        self.start = start;
        self.len = len;
    }

    /// The owned buffer and its valid length, for a reader to append to.  Mapped bytes
    /// are first copied into the buffer, so what [`as_slice`](Self::as_slice) returns
    /// is unchanged.
    pub(crate) fn owned_mut(&mut self) -> (&mut Vec<u8>, &mut usize) {
        if let Some(map) = self.map.take() {
            let window = map
                .get(self.start..self.start.saturating_add(self.len))
                .unwrap_or_default();
            self.len = 0;
            put(&mut self.buf, &mut self.len, window);
            self.start = 0;
        }
        (&mut self.buf, &mut self.len)
    }
}

/// Writes `bytes` at `buf[*len..]`, reusing the stale tail before growing `buf`.
pub(crate) fn put(buf: &mut Vec<u8>, len: &mut usize, bytes: &[u8]) {
    let reuse = buf.len().saturating_sub(*len).min(bytes.len());
    let (head, tail) = bytes.split_at(reuse);
    if let Some(dst) = buf.get_mut(*len..*len + reuse) {
        dst.copy_from_slice(head);
    }
    // `tail` is non-empty only when `head` reached the end of `buf`.
    buf.extend_from_slice(tail);
    *len += bytes.len();
}

impl From<Vec<u8>> for BatchBytes {
    fn from(buf: Vec<u8>) -> BatchBytes {
        BatchBytes {
            len: buf.len(),
            buf,
            map: None,
            start: 0,
        }
    }
}

impl std::ops::Deref for BatchBytes {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for BatchBytes {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl std::fmt::Debug for BatchBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchBytes")
            .field("mapped", &self.is_mapped())
            .field("start", &self.start)
            .field("len", &self.len)
            .field("capacity", &self.buf.len())
            .finish()
    }
}

/// A run of packets from one file and the bytes they live in.
#[derive(Debug, Default)]
pub struct PacketBatch {
    /// Position of this batch in the whole input (0, 1, 2, ... across all files).
    pub seq: u64,
    /// Index of the file (in the order given) the packets come from.
    pub file_index: u32,
    /// The bytes `PacketHeader::offset` points into; read them with [`PacketBatch::bytes`].
    pub data: BatchBytes,
    pub packets: Vec<PacketHeader>,
    /// Interfaces known so far in this file; `PacketHeader::iface` indexes it.
    pub interfaces: Arc<Vec<InterfaceInfo>>,
}

impl PacketBatch {
    /// The captured bytes of packet `h` (which must belong to this batch).
    #[inline]
    pub fn bytes(&self, h: &PacketHeader) -> &[u8] {
        let start = h.offset as usize;
        self.data
            .as_slice()
            .get(start..start + h.caplen as usize)
            .unwrap_or_default()
    }

    pub fn clear(&mut self) {
        self.data.clear();
        self.packets.clear();
    }
}

/// Per-file counters of records that were odd but readable.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReaderStats {
    pub packets: u64,
    /// Bytes captured (sum of caplen).
    pub bytes: u64,
    /// caplen larger than the file's snaplen (packet kept).
    pub caplen_over_snaplen: u64,
    /// caplen of zero (packet counted, nothing to decode).
    pub zero_length: u64,
    /// caplen greater than orig_len (packet kept, orig_len raised to caplen).
    pub caplen_over_orig_len: u64,
    /// pcapng blocks of a type we do not read (skipped by their length).
    pub skipped_blocks: u64,
    /// Timestamps with an out-of-range fraction (e.g. usec >= 1e6), kept as given.
    pub bad_timestamps: u64,
    /// pcapng packet blocks naming an interface their section does not define
    /// (packet skipped; its number is still used).
    pub unknown_interface: u64,
}

/// A capture file that cannot be read (further).  Always names the file, and the
/// packet number where the problem is in a record.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("{path}: cannot open: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: read error after packet {packet}: {source}")]
    Io {
        path: PathBuf,
        packet: u64,
        source: std::io::Error,
    },
    #[error("{path}: not a pcap or pcapng file (magic {magic:#010x})")]
    BadMagic { path: PathBuf, magic: u32 },
    #[error("{path}: truncated file header ({got} of {need} bytes)")]
    TruncatedHeader {
        path: PathBuf,
        got: usize,
        need: usize,
    },
    #[error("{path}: packet {packet}: record truncated ({got} of {need} bytes); earlier packets were read")]
    TruncatedRecord {
        path: PathBuf,
        packet: u64,
        got: usize,
        need: usize,
    },
    #[error("{path}: packet {packet}: captured length {caplen} exceeds the {max}-byte limit; the file cannot be framed past this point")]
    CaplenTooLarge {
        path: PathBuf,
        packet: u64,
        caplen: u64,
        max: u64,
    },
    #[error("{path}: packet {packet}: bad pcapng block: {reason}")]
    BadBlock {
        path: PathBuf,
        packet: u64,
        reason: String,
    },
    #[error("{path}: gzip: {source}")]
    Gzip {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The largest captured length we accept for one record (libpcap's own limit is 256 KiB
/// for most link types).  Anything larger means the file is corrupt.
pub const MAX_CAPLEN: u32 = 256 * 1024;

/// Names of the interfaces met across all input files, by global index (the reader
/// renumbers each file's interfaces into this list).  Read when records are written,
/// never per packet.
#[derive(Debug, Default)]
pub struct IfaceNames {
    names: std::sync::Mutex<Vec<Option<std::sync::Arc<str>>>>,
}

impl IfaceNames {
    /// The names known now.
    pub fn snapshot(&self) -> Vec<Option<std::sync::Arc<str>>> {
        match self.names.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Adds an interface; returns its global index.
    pub fn register(&self, name: Option<String>) -> u16 {
        let mut g = match self.names.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        g.push(name.map(std::sync::Arc::from));
        (g.len() - 1).min(u16::MAX as usize) as u16
    }
}
