//! Tunnel recognition: VXLAN (UDP destination port 4789) and GRE (IP protocol 47,
//! RFC 2784/2890 version 0 with checksum/key/sequence fields; transparent Ethernet
//! 0x6558 and ERSPAN type II are Ethernet inside).  Returns where the inner packet
//! starts; the caller decodes it like a captured packet.
//!
//! Not decoded (the outer flow is still reported): GRE version 1 (PPTP), GRE with the
//! RFC 1701 routing bit, other GRE payload types, Geneve and Teredo.

use super::link::L3;
use super::transport::{L4, UDP};
use super::{DecodeError, TunnelKind};

pub(crate) const GRE: u8 = 47;
pub(crate) const VXLAN_PORT: u16 = 4789;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum InnerLink {
    Ethernet,
    Ip(L3),
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Inner<'a> {
    pub kind: TunnelKind,
    pub link: InnerLink,
    pub data: &'a [u8],
}

/// The inner packet of `proto`'s upper layer (`l4` captured, `len` by the headers), if
/// it is a tunnel we decode.
#[inline]
pub(crate) fn detect<'a>(
    proto: u8,
    t: &L4,
    l4: &'a [u8],
    len: u32,
) -> Result<Option<Inner<'a>>, DecodeError> {
    match proto {
        UDP if t.dport == VXLAN_PORT => {
            let end = (8 + t.payload_len as usize).min(l4.len());
            let payload = l4.get(8..end).unwrap_or_default();
            let hdr = payload
                .get(..8)
                .ok_or(DecodeError::BadTunnel("truncated VXLAN header"))?;
            if hdr[0] & 0x08 == 0 {
                return Err(DecodeError::BadTunnel("VXLAN I flag clear"));
            }
            let vni = u32::from_be_bytes([0, hdr[4], hdr[5], hdr[6]]);
            Ok(Some(Inner {
                kind: TunnelKind::Vxlan { vni },
                link: InnerLink::Ethernet,
                data: payload.get(8..).unwrap_or_default(),
            }))
        }
        GRE => gre(l4, len),
        _ => Ok(None),
    }
}

fn gre(l4: &[u8], len: u32) -> Result<Option<Inner<'_>>, DecodeError> {
    let base = l4
        .get(..4)
        .ok_or(DecodeError::BadTunnel("truncated GRE header"))?;
    let (flags, ptype) = (
        u16::from_be_bytes([base[0], base[1]]),
        u16::from_be_bytes([base[2], base[3]]),
    );
    if flags & 0x0007 != 0 || flags & 0x4000 != 0 {
        return Ok(None);
    }
    let mut hdr = 4usize;
    for bit in [0x8000u16, 0x2000, 0x1000] {
        if flags & bit != 0 {
            hdr += 4;
        }
    }
    let link = match ptype {
        0x0800 => InnerLink::Ip(L3::V4),
        0x86dd => InnerLink::Ip(L3::V6),
        0x6558 => InnerLink::Ethernet,
        0x88be => {
            hdr += 8; // ERSPAN type II header
            InnerLink::Ethernet
        }
        _ => return Ok(None),
    };
    if l4.len() < hdr || (len as usize) < hdr {
        return Err(DecodeError::BadTunnel("truncated GRE header"));
    }
    Ok(Some(Inner {
        kind: TunnelKind::Gre,
        link,
        data: l4.get(hdr..).unwrap_or_default(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn udp(dport: u16, payload_len: u32) -> L4 {
        L4 {
            dport,
            payload_len,
            hdr_len: 8,
            ..L4::default()
        }
    }

    #[test]
    fn vxlan() {
        let mut b = vec![0u8; 8];
        b.extend_from_slice(&[0x08, 0, 0, 0, 0, 0x13, 0x89, 0, 0xee]);
        let i = detect(UDP, &udp(4789, 9), &b, 17).unwrap().unwrap();
        assert_eq!(i.kind, TunnelKind::Vxlan { vni: 5001 });
        assert_eq!((i.link, i.data), (InnerLink::Ethernet, &[0xeeu8][..]));
        assert!(detect(UDP, &udp(4790, 9), &b, 17).unwrap().is_none());
        b[8] = 0;
        assert_eq!(
            detect(UDP, &udp(4789, 9), &b, 17).unwrap_err(),
            DecodeError::BadTunnel("VXLAN I flag clear")
        );
        assert_eq!(
            detect(UDP, &udp(4789, 9), &b[..12], 17).unwrap_err(),
            DecodeError::BadTunnel("truncated VXLAN header")
        );
    }

    #[test]
    fn gre_variants() {
        // plain GRE, IPv4 inside
        let i = detect(GRE, &L4::default(), &[0, 0, 0x08, 0x00, 0x45], 5)
            .unwrap()
            .unwrap();
        assert_eq!(
            (i.kind, i.link, i.data),
            (TunnelKind::Gre, InnerLink::Ip(L3::V4), &[0x45u8][..])
        );
        // checksum + key + sequence, transparent Ethernet
        let mut b = vec![0xb0, 0x00, 0x65, 0x58];
        b.extend_from_slice(&[0u8; 12]);
        b.push(0xaa);
        let i = detect(GRE, &L4::default(), &b, 17).unwrap().unwrap();
        assert_eq!((i.link, i.data), (InnerLink::Ethernet, &[0xaau8][..]));
        assert_eq!(
            detect(GRE, &L4::default(), &b[..10], 17).unwrap_err(),
            DecodeError::BadTunnel("truncated GRE header")
        );
        // PPTP (version 1) and unknown payloads are outer-only
        assert!(detect(
            GRE,
            &L4::default(),
            &[0x30, 0x01, 0x88, 0x0b, 0, 0, 0, 0],
            8
        )
        .unwrap()
        .is_none());
        assert!(detect(GRE, &L4::default(), &[0, 0, 0x12, 0x34], 4)
            .unwrap()
            .is_none());
        assert!(detect(GRE, &L4::default(), &[0, 0], 4).is_err());
    }
}
