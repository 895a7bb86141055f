//! Tunnel recognition: VXLAN (UDP destination port 4789), Geneve (UDP 6081), GTP-U
//! (UDP 2152, G-PDU messages), Teredo (UDP 3544, only when an IPv6 header follows)
//! and GRE (IP protocol 47, RFC 2784/2890 version 0 with checksum/key/sequence
//! fields; transparent Ethernet 0x6558 and ERSPAN type II are Ethernet inside).
//! Returns where the inner packet starts; the caller decodes it like a captured packet.
//!
//! Not decoded (the outer flow is still reported): GRE version 1 (PPTP), GRE with the
//! RFC 1701 routing bit, other GRE payload types, GTP control messages.

use super::link::L3;
use super::transport::{udp_payload, L4, UDP};
use super::{DecodeError, TunnelKind};

pub(crate) const GRE: u8 = 47;
pub(crate) const VXLAN_PORT: u16 = 4789;
pub(crate) const GENEVE_PORT: u16 = 6081;
pub(crate) const GTP_U_PORT: u16 = 2152;
pub(crate) const TEREDO_PORT: u16 = 3544;

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
        UDP if t.dport == GENEVE_PORT => geneve(udp_payload(t, l4)),
        UDP if t.dport == GTP_U_PORT || t.sport == GTP_U_PORT => Ok(gtp_u(udp_payload(t, l4))),
        UDP if t.dport == TEREDO_PORT || t.sport == TEREDO_PORT => Ok(teredo(udp_payload(t, l4))),
        GRE => gre(l4, len),
        _ => Ok(None),
    }
}

/// Geneve (RFC 8926): 8-byte header plus options of `opt_len` 4-byte words.
fn geneve(payload: &[u8]) -> Result<Option<Inner<'_>>, DecodeError> {
    let hdr = payload
        .get(..8)
        .ok_or(DecodeError::BadTunnel("truncated Geneve header"))?;
    if hdr[0] >> 6 != 0 {
        return Err(DecodeError::BadTunnel("unknown Geneve version"));
    }
    let opts = (hdr[0] & 0x3f) as usize * 4;
    let link = match u16::from_be_bytes([hdr[2], hdr[3]]) {
        0x6558 => InnerLink::Ethernet,
        0x0800 => InnerLink::Ip(L3::V4),
        0x86dd => InnerLink::Ip(L3::V6),
        _ => return Ok(None),
    };
    let vni = u32::from_be_bytes([0, hdr[4], hdr[5], hdr[6]]);
    let data = payload
        .get(8 + opts..)
        .ok_or(DecodeError::BadTunnel("truncated Geneve options"))?;
    Ok(Some(Inner {
        kind: TunnelKind::Geneve { vni },
        link,
        data,
    }))
}

/// GTP-U version 1 G-PDU (3GPP TS 29.281): an IP packet after the 8-byte header, the
/// optional 4-byte sequence/N-PDU/next-extension word and any extension headers.
/// Anything else on the port (echo, errors, GTP') is left as plain UDP.
fn gtp_u(payload: &[u8]) -> Option<Inner<'_>> {
    let hdr = payload.get(..8)?;
    let (flags, msg_type) = (hdr[0], hdr[1]);
    if flags >> 5 != 1 || flags & 0x10 == 0 || msg_type != 0xff {
        return None;
    }
    let mut at = 8usize;
    if flags & 0x07 != 0 {
        let mut next = *payload.get(11)?;
        at = 12;
        // Extension headers: length in 4-byte units, last byte names the next one.
        let mut guard = 0;
        while next != 0 && guard < 8 {
            let words = *payload.get(at)? as usize;
            if words == 0 {
                return None;
            }
            at += words * 4;
            next = *payload.get(at - 1)?;
            guard += 1;
        }
    }
    let data = payload.get(at..)?;
    let l3 = match data.first()? >> 4 {
        4 => L3::V4,
        6 => L3::V6,
        _ => return None,
    };
    Some(Inner {
        kind: TunnelKind::Gtp {
            teid: u32::from_be_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]),
        },
        link: InnerLink::Ip(l3),
        data,
    })
}

/// Teredo (RFC 4380): IPv6 in UDP, optionally behind an authentication and/or an
/// origin-indication header.  Only a payload that carries a plausible IPv6 header is
/// taken as Teredo, so other traffic on port 3544 stays a UDP flow.
fn teredo(payload: &[u8]) -> Option<Inner<'_>> {
    let mut at = 0usize;
    if payload.get(..2)? == [0, 1] {
        let id_len = *payload.get(2)? as usize;
        let au_len = *payload.get(3)? as usize;
        at += 4 + id_len + au_len + 8 + 1;
    }
    if payload.get(at..at + 2)? == [0, 0] {
        at += 8;
    }
    let data = payload.get(at..)?;
    let v6 = data.get(..40)?;
    let plen = u16::from_be_bytes([v6[4], v6[5]]) as usize;
    if v6[0] >> 4 != 6 || 40 + plen != data.len() {
        return None;
    }
    Some(Inner {
        kind: TunnelKind::Teredo,
        link: InnerLink::Ip(L3::V6),
        data,
    })
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

    #[test]
    fn geneve_gtp_and_teredo_headers() {
        let mut g = vec![0x01, 0, 0x65, 0x58, 0, 0, 7, 0, 1, 2, 3, 4];
        g.extend_from_slice(&[0xee; 14]);
        let i = geneve(&g).unwrap().unwrap();
        assert_eq!(i.kind, TunnelKind::Geneve { vni: 7 });
        assert_eq!(i.data.len(), 14);
        assert!(geneve(&g[..5]).is_err());
        assert!(geneve(&[0x3f, 0, 0x65, 0x58, 0, 0, 7, 0]).is_err());

        let mut gtp = vec![0x30, 0xff, 0, 20, 0, 0, 0, 9];
        gtp.extend_from_slice(&[0x45; 20]);
        let i = gtp_u(&gtp).unwrap();
        assert_eq!(
            (i.kind, i.link),
            (TunnelKind::Gtp { teid: 9 }, InnerLink::Ip(L3::V4))
        );
        let echo = [0x32, 0x01, 0, 4, 0, 0, 0, 0, 0, 1, 0, 0];
        assert!(gtp_u(&echo).is_none());
        // with sequence number and one extension header
        let mut ext = vec![
            0x34, 0xff, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0x85, 1, 0xaa, 0xbb, 0,
        ];
        ext.extend_from_slice(&[0x60; 40]);
        assert_eq!(gtp_u(&ext).unwrap().data.len(), 40);

        let mut v6 = vec![0x60, 0, 0, 0, 0, 8, 17, 64];
        v6.extend_from_slice(&[0; 32]);
        v6.extend_from_slice(&[0; 8]);
        assert_eq!(teredo(&v6).unwrap().kind, TunnelKind::Teredo);
        let mut origin = vec![0, 0, 1, 2, 3, 4, 5, 6];
        origin.extend_from_slice(&v6);
        assert_eq!(teredo(&origin).unwrap().data.len(), 48);
        assert!(teredo(b"not teredo at all, just some udp payload bytes here").is_none());
    }

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
