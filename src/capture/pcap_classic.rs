//! Classic libpcap format: the 24-byte file header and 16-byte record headers, in
//! either byte order, with microsecond or nanosecond fractions.
//!
//! Framing trusts only `caplen`, bounded by [`MAX_CAPLEN`]; everything else in a record
//! (snaplen, orig_len, the fraction) is checked, counted and kept as the file says.

use super::file::{Out, RawPacket};
use super::{LinkType, MAX_CAPLEN};
use crate::time::NANOS_PER_SEC;

pub(super) const FILE_HEADER_LEN: usize = 24;
pub(super) const RECORD_HEADER_LEN: usize = 16;

/// What the file header says about every record.
pub(super) struct ClassicFormat {
    big: bool,
    nanos: bool,
    snaplen: u32,
    pub link: LinkType,
}

#[inline]
fn rd32(b: &[u8], off: usize, big: bool) -> u32 {
    match b
        .get(off..off + 4)
        .and_then(|s| <[u8; 4]>::try_from(s).ok())
    {
        Some(a) if big => u32::from_be_bytes(a),
        Some(a) => u32::from_le_bytes(a),
        None => 0,
    }
}

impl ClassicFormat {
    /// The byte order and resolution a magic number announces, or `None` when it is
    /// not a classic pcap magic.
    pub fn from_magic(magic: [u8; 4]) -> Option<ClassicFormat> {
        let (big, nanos) = match u32::from_le_bytes(magic) {
            0xa1b2_c3d4 => (false, false),
            0xd4c3_b2a1 => (true, false),
            0xa1b2_3c4d => (false, true),
            0x4d3c_b2a1 => (true, true),
            _ => return None,
        };
        Some(ClassicFormat {
            big,
            nanos,
            snaplen: 0,
            link: LinkType::Other(0),
        })
    }

    /// Takes snaplen and link type from the full file header (magic already checked).
    pub fn read_header(&mut self, h: &[u8; FILE_HEADER_LEN]) {
        self.snaplen = rd32(h, 16, self.big);
        // The top bits of the link-type field carry FCS length flags (LT_FCS_*),
        // not the link type itself.
        self.link = LinkType::from_linktype(rd32(h, 20, self.big) & 0x03ff_ffff);
    }

    /// Frames every complete record in `data[*pos..]`; returns the bytes the next,
    /// incomplete record needs from `*pos`.
    pub fn parse(
        &mut self,
        data: &[u8],
        pos: &mut usize,
        out: &mut Out<'_>,
    ) -> Result<usize, super::CaptureError> {
        let frac_scale: i64 = if self.nanos { 1 } else { 1_000 };
        let frac_limit: u32 = if self.nanos { 1_000_000_000 } else { 1_000_000 };
        loop {
            let rest = data.get(*pos..).unwrap_or_default();
            let Some(h) = rest.first_chunk::<RECORD_HEADER_LEN>() else {
                return Ok(RECORD_HEADER_LEN);
            };
            let caplen = rd32(h, 8, self.big);
            if caplen > MAX_CAPLEN {
                return Err(out.caplen_too_large(caplen));
            }
            let total = RECORD_HEADER_LEN + caplen as usize;
            if rest.len() < total {
                return Ok(total);
            }
            let sec = rd32(h, 0, self.big);
            let frac = rd32(h, 4, self.big);
            if frac >= frac_limit {
                out.stats.bad_timestamps += 1;
            }
            *out.number += 1;
            out.push(RawPacket {
                offset: *pos + RECORD_HEADER_LEN,
                caplen,
                orig_len: rd32(h, 12, self.big),
                // Cannot overflow: u32 seconds * 1e9 + u32 * 1e3 < 4.3e18 < i64::MAX.
                ts: i64::from(sec) * NANOS_PER_SEC + i64::from(frac) * frac_scale,
                link: self.link,
                iface: 0,
                snaplen: self.snaplen,
            })?;
            *pos += total;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magics_give_byte_order_and_resolution() {
        let f = ClassicFormat::from_magic([0xd4, 0xc3, 0xb2, 0xa1]).map(|f| (f.big, f.nanos));
        assert_eq!(f, Some((false, false)));
        let f = ClassicFormat::from_magic([0xa1, 0xb2, 0xc3, 0xd4]).map(|f| (f.big, f.nanos));
        assert_eq!(f, Some((true, false)));
        let f = ClassicFormat::from_magic([0x4d, 0x3c, 0xb2, 0xa1]).map(|f| (f.big, f.nanos));
        assert_eq!(f, Some((false, true)));
        let f = ClassicFormat::from_magic([0xa1, 0xb2, 0x3c, 0x4d]).map(|f| (f.big, f.nanos));
        assert_eq!(f, Some((true, true)));
        assert!(ClassicFormat::from_magic([0x0a, 0x0d, 0x0d, 0x0a]).is_none());
        assert!(ClassicFormat::from_magic([0xa1, 0xb2, 0xcd, 0x34]).is_none());
    }

    #[test]
    fn link_type_ignores_fcs_bits() {
        let mut f = ClassicFormat::from_magic([0xd4, 0xc3, 0xb2, 0xa1]).unwrap();
        let mut h = [0u8; FILE_HEADER_LEN];
        h[16..20].copy_from_slice(&65535u32.to_le_bytes());
        h[20..24].copy_from_slice(&(1u32 | 0x1000_0000 | 0x0800_0000).to_le_bytes());
        f.read_header(&h);
        assert_eq!(f.link, LinkType::Ethernet);
        assert_eq!(f.snaplen, 65535);
    }
}
