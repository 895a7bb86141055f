//! A minimal classic-pcap writer: microsecond timestamps, little-endian, LINKTYPE_ETHERNET.
//!
//! Guarantees: the 24-byte global header is written once on creation; every record carries
//! `incl_len == orig_len` (frames are never truncated: snaplen is 262144, above any frame we build).

use std::io::{self, Write};

pub const LINKTYPE_ETHERNET: u32 = 1;
pub const SNAPLEN: u32 = 262_144;
const MAGIC_USEC: u32 = 0xa1b2_c3d4;

pub struct PcapWriter<W: Write> {
    out: W,
    pub packets: u64,
    /// Sum of captured frame lengths (what capinfos calls "Data size"), without pcap headers.
    pub bytes: u64,
}

impl<W: Write> PcapWriter<W> {
    pub fn new(mut out: W) -> io::Result<Self> {
        let mut hdr = [0u8; 24];
        hdr[0..4].copy_from_slice(&MAGIC_USEC.to_le_bytes());
        hdr[4..6].copy_from_slice(&2u16.to_le_bytes());
        hdr[6..8].copy_from_slice(&4u16.to_le_bytes());
        // thiszone and sigfigs stay zero.
        hdr[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
        hdr[20..24].copy_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
        out.write_all(&hdr)?;
        Ok(PcapWriter {
            out,
            packets: 0,
            bytes: 0,
        })
    }

    /// Writes one frame stamped `ts_ns` nanoseconds since the Unix epoch (rounded down to µs).
    pub fn write(&mut self, ts_ns: u64, frame: &[u8]) -> io::Result<()> {
        let len = u32::try_from(frame.len())
            .ok()
            .filter(|&l| l <= SNAPLEN)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "frame above snaplen"))?;
        let secs = u32::try_from(ts_ns / 1_000_000_000)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "timestamp past 2106"))?;
        let usecs = ((ts_ns % 1_000_000_000) / 1_000) as u32;
        let mut rec = [0u8; 16];
        rec[0..4].copy_from_slice(&secs.to_le_bytes());
        rec[4..8].copy_from_slice(&usecs.to_le_bytes());
        rec[8..12].copy_from_slice(&len.to_le_bytes());
        rec[12..16].copy_from_slice(&len.to_le_bytes());
        self.out.write_all(&rec)?;
        self.out.write_all(frame)?;
        self.packets += 1;
        self.bytes += u64::from(len);
        Ok(())
    }

    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_record_layout_match_the_classic_format() {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        w.write(1_700_000_000_123_456_789, &[0xaa; 60]).unwrap();
        let (packets, bytes) = (w.packets, w.bytes);
        let out = w.finish().unwrap();
        assert_eq!((packets, bytes), (1, 60));
        assert_eq!(out.len(), 24 + 16 + 60);
        assert_eq!(&out[0..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
        assert_eq!(u16::from_le_bytes([out[4], out[5]]), 2);
        assert_eq!(u16::from_le_bytes([out[6], out[7]]), 4);
        assert_eq!(u32::from_le_bytes(out[16..20].try_into().unwrap()), SNAPLEN);
        assert_eq!(u32::from_le_bytes(out[20..24].try_into().unwrap()), 1);
        assert_eq!(
            u32::from_le_bytes(out[24..28].try_into().unwrap()),
            1_700_000_000
        );
        assert_eq!(u32::from_le_bytes(out[28..32].try_into().unwrap()), 123_456);
        assert_eq!(u32::from_le_bytes(out[32..36].try_into().unwrap()), 60);
        assert_eq!(u32::from_le_bytes(out[36..40].try_into().unwrap()), 60);
        assert!(out[40..].iter().all(|&b| b == 0xaa));
    }

    #[test]
    fn oversized_frame_is_rejected_not_truncated() {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        let big = vec![0u8; SNAPLEN as usize + 1];
        assert!(w.write(0, &big).is_err());
        assert_eq!(w.packets, 0);
    }
}
