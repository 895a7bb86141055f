//! IP layer: IPv4 (with options) and IPv6 (with extension headers) over the packet's
//! bytes.  Lengths come from the headers, not from the capture: a packet cut by the
//! snaplen still reports its wire length, and its upper-layer bytes are whatever was
//! captured.  Fragments are recognised here and handed to reassembly by the caller.
//!
//! Validity rules (each failure is one typed error): IPv4 needs IHL >= 5, the whole
//! header captured, and total length >= IHL*4 (total length 0 is a TSO/BIG TCP capture
//! and means "the captured length"); IPv6 needs its 40 bytes and every extension
//! header before the upper layer captured.

use super::link::L3;
use super::DecodeError;
use crate::flow::key::{addr_from_v4, Addr16, AddrFamily};
use etherparse::{
    IpAuthHeaderSlice, Ipv4HeaderSlice, Ipv6FragmentHeaderSlice, Ipv6HeaderSlice,
    Ipv6RawExtHeaderSlice,
};

/// The fragment part of a fragmented IP packet.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FragInfo<'a> {
    /// IPv4: the 16-bit identification; IPv6: the fragment header's 32-bit id.
    pub id: u32,
    /// Byte offset of this piece within the fragmentable part.
    pub offset: u32,
    pub more: bool,
    /// Length of this piece according to the headers.
    pub len: u32,
    /// Captured bytes of this piece (shorter than `len` only when cut by the snaplen).
    pub bytes: &'a [u8],
    /// Header bytes in front of the fragmentable part (IPv4 header, IPv6 header plus the
    /// unfragmentable extension headers and the fragment header); a reassembled
    /// datagram is this plus the reassembled payload.
    pub hdr_len: u32,
    /// IPv6: the fragment header's next header (first header of the fragmentable part).
    pub next_header: u8,
}

/// One IP header's worth of facts.
#[derive(Clone, Copy, Debug)]
pub(crate) struct IpInfo<'a> {
    pub af: AddrFamily,
    pub src: Addr16,
    pub dst: Addr16,
    /// Upper-layer protocol (after all IPv6 extension headers).
    pub proto: u8,
    /// Wire length of the IP packet.
    pub ip_len: u32,
    /// Captured upper-layer bytes.
    pub l4: &'a [u8],
    /// Upper-layer length according to the headers.
    pub l4_len: u32,
    /// Set when the packet is a (non-atomic) fragment; `proto`/`l4` are then not usable
    /// until reassembly.
    pub frag: Option<FragInfo<'a>>,
}

/// Extension headers beyond this are not walked (bounds work on crafted packets).
const MAX_EXT_HEADERS: usize = 12;

#[inline]
pub(crate) fn parse(l3: L3, data: &[u8]) -> Result<IpInfo<'_>, DecodeError> {
    let nibble = data.first().map(|b| b >> 4).ok_or(DecodeError::Empty)?;
    match (l3, nibble) {
        (L3::V4 | L3::ByNibble, 4) => ipv4(data),
        (L3::V6 | L3::ByNibble, 6) => ipv6(data),
        (_, n) => Err(DecodeError::BadIpVersion(n)),
    }
}

fn ipv4(data: &[u8]) -> Result<IpInfo<'_>, DecodeError> {
    let h = Ipv4HeaderSlice::from_slice(data).map_err(|e| {
        use etherparse::err::ipv4::{HeaderError, HeaderSliceError};
        DecodeError::BadIpv4(match e {
            HeaderSliceError::Len(_) => "truncated header",
            HeaderSliceError::Content(HeaderError::HeaderLengthSmallerThanHeader { .. }) => {
                "header length below 20"
            }
            HeaderSliceError::Content(_) => "bad version",
        })
    })?;
    let hlen = h.slice().len() as u32;
    let total = match h.total_len() as u32 {
        // TSO / BIG TCP captures leave the total length 0; the capture is the packet.
        0 => data.len() as u32,
        t => t,
    };
    if total < hlen {
        return Err(DecodeError::BadIpv4("total length below header length"));
    }
    let end = (total as usize).min(data.len());
    let l4 = data.get(hlen as usize..end).unwrap_or_default();
    let l4_len = total - hlen;
    let offset = u32::from(h.fragments_offset().value()) * 8;
    let more = h.more_fragments();
    let frag = (more || offset != 0).then(|| FragInfo {
        id: u32::from(h.identification()),
        offset,
        more,
        len: l4_len,
        bytes: l4,
        hdr_len: hlen,
        next_header: h.protocol().0,
    });
    Ok(IpInfo {
        af: AddrFamily::V4,
        src: addr_from_v4(h.source()),
        dst: addr_from_v4(h.destination()),
        proto: h.protocol().0,
        ip_len: total,
        l4,
        l4_len,
        frag,
    })
}

fn ipv6(data: &[u8]) -> Result<IpInfo<'_>, DecodeError> {
    let h =
        Ipv6HeaderSlice::from_slice(data).map_err(|_| DecodeError::BadIpv6("truncated header"))?;
    let plen = match h.payload_length() as u32 {
        // Jumbogram (hop-by-hop jumbo option) or BIG TCP: the capture is the packet.
        0 if h.next_header().0 == 0 => data.len().saturating_sub(40) as u32,
        p => p,
    };
    let end = (40 + plen as usize).min(data.len());
    let payload = data.get(40..end).unwrap_or_default();
    let mut info = IpInfo {
        af: AddrFamily::V6,
        src: h.source(),
        dst: h.destination(),
        proto: h.next_header().0,
        ip_len: 40 + plen,
        l4: payload,
        l4_len: plen,
        frag: None,
    };
    let walked = walk_ext(h.next_header().0, payload, plen, true)?;
    info.proto = walked.proto;
    info.l4 = payload.get(walked.offset as usize..).unwrap_or_default();
    info.l4_len = plen.saturating_sub(walked.offset);
    if let Some((fh_end, id, offset, more)) = walked.frag {
        info.frag = Some(FragInfo {
            id,
            offset,
            more,
            len: plen.saturating_sub(fh_end),
            bytes: payload.get(fh_end as usize..).unwrap_or_default(),
            hdr_len: 40 + fh_end,
            next_header: walked.proto,
        });
    }
    Ok(info)
}

pub(crate) struct Walked {
    pub proto: u8,
    /// Offset of the upper layer within the walked bytes.
    pub offset: u32,
    /// A non-atomic fragment header: (end offset of the fragment header, id, byte
    /// offset, more flag).  Walking stops there.
    pub frag: Option<(u32, u32, u32, bool)>,
}

/// Walks IPv6 extension headers starting with `nh` over `data` (whose length by the
/// headers is `len`).  With `allow_frag`, a fragment header that really fragments
/// stops the walk; after reassembly (`allow_frag` false) a second one is an error.
pub(crate) fn walk_ext(
    mut nh: u8,
    data: &[u8],
    len: u32,
    allow_frag: bool,
) -> Result<Walked, DecodeError> {
    let mut off = 0usize;
    for _ in 0..MAX_EXT_HEADERS {
        let rest = data.get(off..).unwrap_or_default();
        let used = match nh {
            // hop-by-hop, routing, destination options, mobility, HIP, shim6
            0 | 43 | 60 | 135 | 139 | 140 => {
                let e = Ipv6RawExtHeaderSlice::from_slice(rest)
                    .map_err(|_| DecodeError::BadIpv6("truncated extension header"))?;
                nh = e.next_header().0;
                e.slice().len()
            }
            51 => {
                let e = IpAuthHeaderSlice::from_slice(rest).map_err(|_| {
                    DecodeError::BadIpv6("truncated or invalid authentication header")
                })?;
                nh = e.next_header().0;
                e.slice().len()
            }
            44 => {
                let e = Ipv6FragmentHeaderSlice::from_slice(rest)
                    .map_err(|_| DecodeError::BadIpv6("truncated fragment header"))?;
                nh = e.next_header().0;
                let end = off + e.slice().len();
                if e.is_fragmenting_payload() {
                    if !allow_frag {
                        return Err(DecodeError::BadIpv6("nested fragment header"));
                    }
                    return Ok(Walked {
                        proto: nh,
                        offset: end as u32,
                        frag: Some((
                            end as u32,
                            e.identification(),
                            u32::from(e.fragment_offset().value()) * 8,
                            e.more_fragments(),
                        )),
                    });
                }
                e.slice().len()
            }
            _ => {
                return Ok(Walked {
                    proto: nh,
                    offset: off as u32,
                    frag: None,
                })
            }
        };
        off += used;
        if off as u64 > u64::from(len) {
            return Err(DecodeError::BadIpv6(
                "extension headers exceed payload length",
            ));
        }
    }
    Err(DecodeError::BadIpv6("too many extension headers"))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal IPv4 header (no options) for `proto` with `payload` appended.
    pub(crate) fn v4(proto: u8, src: [u8; 4], dst: [u8; 4], payload: &[u8]) -> Vec<u8> {
        let total = 20 + payload.len() as u16;
        let mut v = vec![0x45, 0, 0, 0, 0, 1, 0, 0, 64, proto, 0, 0];
        v[2..4].copy_from_slice(&total.to_be_bytes());
        v.extend_from_slice(&src);
        v.extend_from_slice(&dst);
        v.extend_from_slice(payload);
        v
    }

    /// An IPv6 header with `nh` and `payload` appended.
    pub(crate) fn v6(nh: u8, src: [u8; 16], dst: [u8; 16], payload: &[u8]) -> Vec<u8> {
        let mut v = vec![0x60, 0, 0, 0];
        v.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        v.extend_from_slice(&[nh, 64]);
        v.extend_from_slice(&src);
        v.extend_from_slice(&dst);
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn ipv4_options_and_lengths() {
        // IHL 6 (one 4-byte option: NOP NOP NOP EOL), 4 payload bytes
        let mut p = vec![
            0x46, 0, 0, 28, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        p.extend_from_slice(&[1, 1, 1, 0, 0xaa, 0xbb, 0xcc, 0xdd, 0xee]); // + 1 byte padding
        let i = parse(L3::V4, &p).unwrap();
        assert_eq!((i.ip_len, i.l4_len, i.l4.len(), i.proto), (28, 4, 4, 17));
        assert!(i.frag.is_none());
        // snaplen cut: total length counts, captured is shorter
        let i = parse(L3::V4, &p[..25]).unwrap();
        assert_eq!((i.ip_len, i.l4_len, i.l4.len()), (28, 4, 1));
        // header cut inside the options
        assert_eq!(
            parse(L3::V4, &p[..22]).unwrap_err(),
            DecodeError::BadIpv4("truncated header")
        );
        let mut bad = p.clone();
        bad[0] = 0x44;
        assert_eq!(
            parse(L3::V4, &bad).unwrap_err(),
            DecodeError::BadIpv4("header length below 20")
        );
        let mut bad = p.clone();
        bad[3] = 23;
        assert_eq!(
            parse(L3::V4, &bad).unwrap_err(),
            DecodeError::BadIpv4("total length below header length")
        );
        // TSO: total length 0 means the captured length
        let mut tso = p.clone();
        tso[3] = 0;
        let i = parse(L3::V4, &tso).unwrap();
        assert_eq!((i.ip_len, i.l4_len), (29, 5));
        assert_eq!(parse(L3::V6, &p).unwrap_err(), DecodeError::BadIpVersion(4));
        assert_eq!(
            parse(L3::ByNibble, &[0x50]).unwrap_err(),
            DecodeError::BadIpVersion(5)
        );
        assert_eq!(parse(L3::V4, &[]).unwrap_err(), DecodeError::Empty);
    }

    #[test]
    fn ipv6_extension_headers() {
        // hop-by-hop (8) → routing (8) → destination options (16) → AH (12+4=16) → TCP
        let mut ext = vec![43, 0, 1, 4, 0, 0, 0, 0];
        ext.extend_from_slice(&[60, 0, 0, 0, 0, 0, 0, 0]);
        ext.extend_from_slice(&[51, 1, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        ext.extend_from_slice(&[6, 2, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0]);
        let ext_len = ext.len() as u32;
        ext.extend_from_slice(&[0u8; 20]);
        let p = v6(0, [1; 16], [2; 16], &ext);
        let i = parse(L3::V6, &p).unwrap();
        assert_eq!(i.proto, 6);
        assert_eq!(i.ip_len, 40 + ext_len + 20);
        assert_eq!((i.l4_len, i.l4.len()), (20, 20));
        // cut inside the destination options header
        assert_eq!(
            parse(L3::V6, &p[..40 + 20]).unwrap_err(),
            DecodeError::BadIpv6("truncated extension header")
        );
        assert_eq!(
            parse(L3::V6, &p[..39]).unwrap_err(),
            DecodeError::BadIpv6("truncated header")
        );
        // an atomic fragment (offset 0, M clear) is not a fragment
        let p = v6(
            44,
            [1; 16],
            [2; 16],
            &[17, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0],
        );
        let i = parse(L3::V6, &p).unwrap();
        assert_eq!((i.proto, i.l4_len), (17, 8));
        assert!(i.frag.is_none());
        // a real first fragment
        let p = v6(
            44,
            [1; 16],
            [2; 16],
            &[17, 0, 0, 1, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0],
        );
        let f = parse(L3::V6, &p).unwrap().frag.unwrap();
        assert_eq!(
            (f.id, f.offset, f.more, f.len, f.hdr_len, f.next_header),
            (9, 0, true, 8, 48, 17)
        );
    }
}
