//! Link layer: from a capture's link type to the start of the IP header, through
//! VLAN tags (802.1Q, 802.1ad, 0x9100; any stacking), MPLS label stacks and PPPoE
//! sessions.  Pure functions over the packet's bytes; they never copy and never panic.
//!
//! VLAN ids: the outer two tags are recorded, further tags are skipped (their ids are
//! lost, the packet still decodes).  A tag with id 0 (priority tag) is recorded as 0,
//! as Zeek does.

use super::DecodeError;
use crate::capture::LinkType;
use crate::flow::key::NO_VLAN;
use etherparse::{Ethernet2HeaderSlice, SingleVlanHeaderSlice};

/// Which IP version the link layer announced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum L3 {
    V4,
    V6,
    /// The link layer does not say (LINKTYPE_RAW, MPLS): take the version nibble.
    ByNibble,
}

/// Where the IP header starts, and the VLAN ids met on the way.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LinkOut<'a> {
    pub l3: L3,
    pub data: &'a [u8],
    pub vlan: [u16; 2],
}

const ET_IPV4: u16 = 0x0800;
const ET_IPV6: u16 = 0x86dd;
const ET_VLAN: u16 = 0x8100;
const ET_QINQ: u16 = 0x88a8;
const ET_QINQ_OLD: u16 = 0x9100;
const ET_QINQ_OLD2: u16 = 0x9200;
const ET_MPLS: u16 = 0x8847;
const ET_MPLS_MC: u16 = 0x8848;
const ET_PPPOE_SESSION: u16 = 0x8864;

/// Bounds the work on a packet made of nothing but tags.
const MAX_TAGS: usize = 8;
const MAX_MPLS_LABELS: usize = 8;

#[inline]
fn be16(d: &[u8], at: usize) -> Option<u16> {
    let b = d.get(at..at + 2)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

/// Strips the link layer of a packet captured with link type `link`.
#[inline]
pub(crate) fn decode(link: LinkType, data: &[u8]) -> Result<LinkOut<'_>, DecodeError> {
    let none = [NO_VLAN; 2];
    match link {
        LinkType::Ethernet => ethernet(data),
        LinkType::LinuxSll => {
            // 16-byte cooked header; the protocol field (offset 14) is an ethertype for
            // the frames we care about.  Parsed by hand: etherparse's SLL slice rejects
            // ARPHRD types it does not know, which would turn odd interfaces into errors.
            let et = be16(data, 14).ok_or(DecodeError::TruncatedLink)?;
            ethertype(et, data.get(16..).unwrap_or_default(), none)
        }
        LinkType::LinuxSll2 => {
            let et = be16(data, 0).ok_or(DecodeError::TruncatedLink)?;
            if data.len() < 20 {
                return Err(DecodeError::TruncatedLink);
            }
            ethertype(et, data.get(20..).unwrap_or_default(), none)
        }
        LinkType::Raw => Ok(LinkOut {
            l3: L3::ByNibble,
            data,
            vlan: none,
        }),
        LinkType::Ipv4 => Ok(LinkOut {
            l3: L3::V4,
            data,
            vlan: none,
        }),
        LinkType::Ipv6 => Ok(LinkOut {
            l3: L3::V6,
            data,
            vlan: none,
        }),
        LinkType::Null | LinkType::Loop => {
            let fam = data.get(..4).ok_or(DecodeError::TruncatedLink)?;
            let fam = [fam[0], fam[1], fam[2], fam[3]];
            let be = u32::from_be_bytes(fam);
            // NULL is in the writer's byte order, which the file does not record: try
            // both (the values are small, so the two readings cannot collide).
            let le = if link == LinkType::Null {
                u32::from_le_bytes(fam)
            } else {
                be
            };
            let rest = data.get(4..).unwrap_or_default();
            let l3 = match (be, le) {
                (2, _) | (_, 2) => L3::V4,
                (24 | 28 | 30, _) | (_, 24 | 28 | 30) => L3::V6,
                _ => return Err(DecodeError::NotIp(be.min(le) as u16)),
            };
            Ok(LinkOut {
                l3,
                data: rest,
                vlan: none,
            })
        }
        // FDDI (LINKTYPE_FDDI 10): frame control, two MACs, then 802.2 LLC/SNAP.
        LinkType::Other(10) => {
            let llc = data.get(13..21).ok_or(DecodeError::TruncatedLink)?;
            if llc[..3] != [0xaa, 0xaa, 0x03] {
                return Err(DecodeError::NotIp(0));
            }
            ethertype(
                u16::from_be_bytes([llc[6], llc[7]]),
                data.get(21..).unwrap_or_default(),
                none,
            )
        }
        LinkType::Other(n) => Err(DecodeError::UnsupportedLinkType(n)),
    }
}

/// An Ethernet II frame (also the inner frame of VXLAN, Geneve and GRE 0x6558).
#[inline]
pub(crate) fn ethernet(data: &[u8]) -> Result<LinkOut<'_>, DecodeError> {
    let eth = Ethernet2HeaderSlice::from_slice(data).map_err(|_| DecodeError::TruncatedLink)?;
    let rest = data.get(eth.slice().len()..).unwrap_or_default();
    let vlan = [NO_VLAN; 2];
    // Untagged IP, nearly every frame, without the call into the tag-walking loop.
    match eth.ether_type().0 {
        ET_IPV4 => Ok(LinkOut {
            l3: L3::V4,
            data: rest,
            vlan,
        }),
        ET_IPV6 => Ok(LinkOut {
            l3: L3::V6,
            data: rest,
            vlan,
        }),
        et => ethertype(et, rest, vlan),
    }
}

/// The source address of an Ethernet frame ([`super::NO_MAC`] if too short to hold one).
#[inline]
pub(crate) fn ethernet_src(data: &[u8]) -> [u8; 6] {
    data.get(6..12)
        .and_then(|b| b.try_into().ok())
        .unwrap_or(super::NO_MAC)
}

/// Follows an ethertype chain (VLAN tags, MPLS, PPPoE) to IP.
fn ethertype(mut et: u16, mut data: &[u8], mut vlan: [u16; 2]) -> Result<LinkOut<'_>, DecodeError> {
    let mut tags = 0usize;
    loop {
        match et {
            ET_IPV4 => {
                return Ok(LinkOut {
                    l3: L3::V4,
                    data,
                    vlan,
                })
            }
            ET_IPV6 => {
                return Ok(LinkOut {
                    l3: L3::V6,
                    data,
                    vlan,
                })
            }
            ET_VLAN | ET_QINQ | ET_QINQ_OLD | ET_QINQ_OLD2 => {
                if tags >= MAX_TAGS {
                    return Err(DecodeError::BadVlan);
                }
                let tag =
                    SingleVlanHeaderSlice::from_slice(data).map_err(|_| DecodeError::BadVlan)?;
                if let Some(slot) = vlan.get_mut(tags) {
                    *slot = tag.vlan_identifier().value();
                }
                tags += 1;
                et = tag.ether_type().0;
                data = data.get(tag.slice().len()..).unwrap_or_default();
            }
            ET_MPLS | ET_MPLS_MC => return mpls(data, vlan),
            ET_PPPOE_SESSION => return pppoe(data, vlan),
            other => return Err(DecodeError::NotIp(other)),
        }
    }
}

/// An MPLS label stack; after the bottom-of-stack label the payload's version nibble
/// says IPv4 or IPv6 (there is no type field).  Anything else (pseudowires) is not IP.
fn mpls(mut data: &[u8], vlan: [u16; 2]) -> Result<LinkOut<'_>, DecodeError> {
    for _ in 0..MAX_MPLS_LABELS {
        let label = data.get(..4).ok_or(DecodeError::TruncatedLink)?;
        let bottom = label[2] & 0x01 != 0;
        data = data.get(4..).unwrap_or_default();
        if bottom {
            return match data.first().map(|b| b >> 4) {
                Some(4) => Ok(LinkOut {
                    l3: L3::V4,
                    data,
                    vlan,
                }),
                Some(6) => Ok(LinkOut {
                    l3: L3::V6,
                    data,
                    vlan,
                }),
                Some(_) => Err(DecodeError::NotIp(ET_MPLS)),
                None => Err(DecodeError::TruncatedLink),
            };
        }
    }
    Err(DecodeError::TruncatedLink)
}

/// A PPPoE session frame: 6-byte PPPoE header, then the 2-byte PPP protocol.
fn pppoe(data: &[u8], vlan: [u16; 2]) -> Result<LinkOut<'_>, DecodeError> {
    let proto = be16(data, 6).ok_or(DecodeError::TruncatedLink)?;
    let rest = data.get(8..).unwrap_or_default();
    let l3 = match proto {
        0x0021 => L3::V4,
        0x0057 => L3::V6,
        _ => return Err(DecodeError::NotIp(ET_PPPOE_SESSION)),
    };
    Ok(LinkOut {
        l3,
        data: rest,
        vlan,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eth(et: u16, rest: &[u8]) -> Vec<u8> {
        let mut v = vec![0u8; 12];
        v.extend_from_slice(&et.to_be_bytes());
        v.extend_from_slice(rest);
        v
    }

    #[test]
    fn vlan_stacks_keep_outer_two() {
        // 0x88a8 id 100, 0x8100 id 200, 0x8100 id 300, then IPv4.
        let body = [
            0x00, 0x64, 0x81, 0x00, 0x00, 0xc8, 0x81, 0x00, 0x01, 0x2c, 0x08, 0x00, 0x45,
        ];
        let f = eth(ET_QINQ, &body);
        let o = ethernet(&f).unwrap();
        assert_eq!(o.vlan, [100, 200]);
        assert_eq!(o.l3, L3::V4);
        assert_eq!(o.data, &[0x45]);
        // priority tag: id 0 recorded as 0
        let f = eth(ET_VLAN, &[0xe0, 0x00, 0x08, 0x00]);
        assert_eq!(ethernet(&f).unwrap().vlan, [0, NO_VLAN]);
        // 0x9100 outer / 0x8100 inner
        let f = eth(
            ET_QINQ_OLD,
            &[0x00, 0x05, 0x81, 0x00, 0x00, 0x06, 0x86, 0xdd],
        );
        let o = ethernet(&f).unwrap();
        assert_eq!((o.vlan, o.l3), ([5, 6], L3::V6));
    }

    #[test]
    fn truncated_and_non_ip() {
        assert_eq!(ethernet(&[0; 13]).unwrap_err(), DecodeError::TruncatedLink);
        let f = eth(ET_VLAN, &[0x00, 0x01, 0x08]);
        assert_eq!(ethernet(&f).unwrap_err(), DecodeError::BadVlan);
        assert_eq!(
            ethernet(&eth(0x0806, &[])).unwrap_err(),
            DecodeError::NotIp(0x0806)
        );
        // 802.3 length field (LLC/STP)
        assert_eq!(
            ethernet(&eth(0x0026, &[])).unwrap_err(),
            DecodeError::NotIp(0x26)
        );
        // too many tags
        let mut body = Vec::new();
        for _ in 0..10 {
            body.extend_from_slice(&[0x00, 0x01, 0x81, 0x00]);
        }
        assert_eq!(
            ethernet(&eth(ET_VLAN, &body)).unwrap_err(),
            DecodeError::BadVlan
        );
    }

    #[test]
    fn mpls_and_pppoe() {
        // two labels, bottom-of-stack on the second, then IPv6
        let f = eth(ET_MPLS, &[0, 0x10, 0x00, 64, 0, 0x20, 0x01, 64, 0x60]);
        let o = ethernet(&f).unwrap();
        assert_eq!((o.l3, o.data), (L3::V6, &[0x60u8][..]));
        let f = eth(ET_MPLS, &[0, 0x10, 0x01, 64, 0x00, 0x00]);
        assert_eq!(ethernet(&f).unwrap_err(), DecodeError::NotIp(ET_MPLS));
        let f = eth(ET_MPLS, &[0, 0x10, 0x00]);
        assert_eq!(ethernet(&f).unwrap_err(), DecodeError::TruncatedLink);
        let f = eth(ET_PPPOE_SESSION, &[0x11, 0, 0, 1, 0, 10, 0x00, 0x21, 0x45]);
        let o = ethernet(&f).unwrap();
        assert_eq!((o.l3, o.data), (L3::V4, &[0x45u8][..]));
        let f = eth(ET_PPPOE_SESSION, &[0x11, 0, 0, 1, 0, 10, 0xc0, 0x21]);
        assert_eq!(
            ethernet(&f).unwrap_err(),
            DecodeError::NotIp(ET_PPPOE_SESSION)
        );
    }

    #[test]
    fn other_link_types() {
        let mut sll = vec![0u8; 14];
        sll.extend_from_slice(&[0x08, 0x00, 0x45]);
        let o = decode(LinkType::LinuxSll, &sll).unwrap();
        assert_eq!((o.l3, o.data), (L3::V4, &[0x45u8][..]));
        assert_eq!(
            decode(LinkType::LinuxSll, &sll[..15]).unwrap_err(),
            DecodeError::TruncatedLink
        );
        let mut sll2 = vec![0x86, 0xdd];
        sll2.extend_from_slice(&[0u8; 18]);
        sll2.push(0x60);
        let o = decode(LinkType::LinuxSll2, &sll2).unwrap();
        assert_eq!((o.l3, o.data), (L3::V6, &[0x60u8][..]));
        assert_eq!(
            decode(LinkType::LinuxSll2, &sll2[..19]).unwrap_err(),
            DecodeError::TruncatedLink
        );
        // NULL in both byte orders, LOOP in network order only
        for fam in [[2, 0, 0, 0], [0, 0, 0, 2]] {
            assert_eq!(decode(LinkType::Null, &fam).unwrap().l3, L3::V4);
        }
        for fam in [[24, 0, 0, 0], [0, 0, 0, 28], [30, 0, 0, 0]] {
            assert_eq!(decode(LinkType::Null, &fam).unwrap().l3, L3::V6);
        }
        assert_eq!(decode(LinkType::Loop, &[0, 0, 0, 30]).unwrap().l3, L3::V6);
        assert!(matches!(
            decode(LinkType::Loop, &[30, 0, 0, 0]),
            Err(DecodeError::NotIp(_))
        ));
        assert_eq!(
            decode(LinkType::Null, &[2, 0, 0]).unwrap_err(),
            DecodeError::TruncatedLink
        );
        assert_eq!(decode(LinkType::Raw, &[0x45]).unwrap().l3, L3::ByNibble);
        assert_eq!(decode(LinkType::Ipv4, &[0x45]).unwrap().l3, L3::V4);
        assert_eq!(decode(LinkType::Ipv6, &[0x60]).unwrap().l3, L3::V6);
        assert_eq!(
            decode(LinkType::Other(11), &[0]).unwrap_err(),
            DecodeError::UnsupportedLinkType(11)
        );
    }
}
