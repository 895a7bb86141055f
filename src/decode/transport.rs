//! Transport layer: TCP, UDP, ICMP, ICMPv6 and SCTP fields for the flow tuple and
//! counters.  Any other IP protocol is port-less (ports 0, payload = IP payload).
//!
//! Length rules:
//! - TCP: payload = upper-layer length (from the IP header) − data offset × 4.  Options
//!   cut by the snaplen are fine (the fixed 20 bytes suffice); a data offset below 5
//!   or beyond the segment is an error.
//! - UDP: payload = UDP length − 8 when 8 <= UDP length <= the IP payload length;
//!   otherwise (bogus UDP length, TSO/BIG TCP captures where the IP length was
//!   derived from the capture) the IP payload length − 8.  The IP layer is the more
//!   trustworthy count: it is what `ip_len` is based on too.
//! - ICMP/ICMPv6: payload = upper-layer length − 8 (the fixed header), as Zeek counts.
//! - SCTP: payload = upper-layer length − 12 (the common header).

use super::DecodeError;
use crate::flow::key::AddrFamily;
use etherparse::UdpHeaderSlice;

pub(crate) const TCP: u8 = 6;
pub(crate) const UDP: u8 = 17;
pub(crate) const ICMP: u8 = 1;
pub(crate) const ICMPV6: u8 = 58;
pub(crate) const SCTP: u8 = 132;

/// Transport facts of one packet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct L4 {
    pub sport: u16,
    pub dport: u16,
    pub payload_len: u32,
    pub tcp_flags: u8,
    pub tcp_seq: u32,
    pub tcp_ack: u32,
    pub tcp_window: u16,
    /// Offset of the transport payload within the upper-layer bytes (UDP: 8), for
    /// tunnel decoding.
    pub hdr_len: u32,
}

#[inline]
fn be16(d: &[u8], at: usize) -> u16 {
    match d.get(at..at + 2) {
        Some(b) => u16::from_be_bytes([b[0], b[1]]),
        None => 0,
    }
}

#[inline]
fn be32(d: &[u8], at: usize) -> u32 {
    match d.get(at..at + 4) {
        Some(b) => u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
        None => 0,
    }
}

/// Parses the upper layer `proto` from its captured bytes `l4` whose length by the
/// IP header is `len`.
#[inline]
pub(crate) fn parse(af: AddrFamily, proto: u8, l4: &[u8], len: u32) -> Result<L4, DecodeError> {
    match proto {
        TCP => tcp(l4, len),
        UDP => udp(l4, len),
        ICMP if af == AddrFamily::V4 => icmp(l4, len, icmp4_counterpart),
        ICMPV6 if af == AddrFamily::V6 => icmp(l4, len, icmp6_counterpart),
        SCTP => {
            if l4.len() < 12 || len < 12 {
                return Err(DecodeError::BadSctp("truncated common header"));
            }
            Ok(L4 {
                sport: be16(l4, 0),
                dport: be16(l4, 2),
                payload_len: len - 12,
                hdr_len: 12,
                ..L4::default()
            })
        }
        _ => Ok(L4 {
            payload_len: len,
            ..L4::default()
        }),
    }
}

fn tcp(l4: &[u8], len: u32) -> Result<L4, DecodeError> {
    // Fixed fields read by hand rather than through etherparse's TcpHeaderSlice, which
    // insists on the options being captured too; a snaplen cut inside the options must
    // not lose the packet.
    let fixed = l4
        .get(..20)
        .ok_or(DecodeError::BadTcp("truncated header"))?;
    let hdr_len = u32::from(fixed[12] >> 4) * 4;
    if hdr_len < 20 {
        return Err(DecodeError::BadTcp("data offset below 5"));
    }
    if hdr_len > len {
        return Err(DecodeError::BadTcp("header longer than the segment"));
    }
    Ok(L4 {
        sport: be16(fixed, 0),
        dport: be16(fixed, 2),
        payload_len: len - hdr_len,
        tcp_flags: fixed[13],
        tcp_seq: be32(fixed, 4),
        tcp_ack: be32(fixed, 8),
        tcp_window: be16(fixed, 14),
        hdr_len,
    })
}

fn udp(l4: &[u8], len: u32) -> Result<L4, DecodeError> {
    let h = UdpHeaderSlice::from_slice(l4).map_err(|_| DecodeError::BadUdp("truncated header"))?;
    if len < 8 {
        return Err(DecodeError::BadUdp(
            "IP payload shorter than the UDP header",
        ));
    }
    let ulen = u32::from(h.length());
    let payload_len = if (8..=len).contains(&ulen) {
        ulen - 8
    } else {
        len - 8
    };
    Ok(L4 {
        sport: h.source_port(),
        dport: h.destination_port(),
        payload_len,
        hdr_len: 8,
        ..L4::default()
    })
}

fn icmp(l4: &[u8], len: u32, counterpart: fn(u8) -> Option<u8>) -> Result<L4, DecodeError> {
    // Type, code and checksum are all a flow needs; the rest of the 8-byte header is
    // required only when the IP header says it is there.
    let need = len.min(8) as usize;
    if need < 4 || l4.len() < need {
        return Err(DecodeError::BadIcmp("truncated header"));
    }
    let (ty, code) = (l4[0], l4[1]);
    Ok(L4 {
        sport: u16::from(ty),
        dport: u16::from(counterpart(ty).unwrap_or(code)),
        payload_len: len.saturating_sub(8),
        hdr_len: 8,
        ..L4::default()
    })
}

/// ICMPv4 request/response pairs (Community ID spec table).
pub fn icmp4_counterpart(ty: u8) -> Option<u8> {
    Some(match ty {
        8 => 0,
        0 => 8,
        13 => 14,
        14 => 13,
        15 => 16,
        16 => 15,
        17 => 18,
        18 => 17,
        10 => 9,
        9 => 10,
        _ => return None,
    })
}

/// ICMPv6 request/response pairs (Community ID spec table).
pub fn icmp6_counterpart(ty: u8) -> Option<u8> {
    Some(match ty {
        128 => 129,
        129 => 128,
        130 => 131,
        131 => 130,
        133 => 134,
        134 => 133,
        135 => 136,
        136 => 135,
        139 => 140,
        140 => 139,
        144 => 145,
        145 => 144,
        _ => return None,
    })
}

/// The captured UDP payload (bounded by the UDP length).
pub(crate) fn udp_payload<'a>(t: &L4, l4: &'a [u8]) -> &'a [u8] {
    let end = (8 + t.payload_len as usize).min(l4.len());
    l4.get(8..end).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    const V4: AddrFamily = AddrFamily::V4;
    const V6: AddrFamily = AddrFamily::V6;

    #[test]
    fn tcp_fields_and_errors() {
        let mut h = [0u8; 24];
        h[..4].copy_from_slice(&[0x1f, 0x90, 0x00, 0x50]);
        h[4..8].copy_from_slice(&7u32.to_be_bytes());
        h[8..12].copy_from_slice(&9u32.to_be_bytes());
        h[12] = 6 << 4;
        h[13] = 0x12;
        h[14..16].copy_from_slice(&1000u16.to_be_bytes());
        let l = parse(V4, TCP, &h, 124).unwrap();
        assert_eq!(
            (
                l.sport,
                l.dport,
                l.tcp_seq,
                l.tcp_ack,
                l.tcp_flags,
                l.tcp_window,
                l.payload_len
            ),
            (8080, 80, 7, 9, 0x12, 1000, 100)
        );
        // options cut by snaplen: still decodes
        assert_eq!(parse(V4, TCP, &h[..20], 124).unwrap().payload_len, 100);
        assert_eq!(
            parse(V4, TCP, &h[..19], 124).unwrap_err(),
            DecodeError::BadTcp("truncated header")
        );
        assert_eq!(
            parse(V4, TCP, &h, 22).unwrap_err(),
            DecodeError::BadTcp("header longer than the segment")
        );
        h[12] = 4 << 4;
        assert_eq!(
            parse(V4, TCP, &h, 124).unwrap_err(),
            DecodeError::BadTcp("data offset below 5")
        );
    }

    #[test]
    fn udp_lengths() {
        let h = [0, 53, 0x30, 0x39, 0, 20, 0, 0];
        let l = parse(V6, UDP, &h, 20).unwrap();
        assert_eq!((l.sport, l.dport, l.payload_len), (53, 12345, 12));
        // UDP length shorter than IP payload (padding): UDP length wins
        assert_eq!(parse(V4, UDP, &h, 30).unwrap().payload_len, 12);
        // UDP length beyond the IP payload: IP wins
        assert_eq!(parse(V4, UDP, &h, 16).unwrap().payload_len, 8);
        let bogus = [0, 53, 0x30, 0x39, 0, 3, 0, 0];
        assert_eq!(parse(V4, UDP, &bogus, 16).unwrap().payload_len, 8);
        assert_eq!(
            parse(V4, UDP, &h[..7], 20).unwrap_err(),
            DecodeError::BadUdp("truncated header")
        );
        assert!(matches!(parse(V4, UDP, &h, 6), Err(DecodeError::BadUdp(_))));
    }

    #[test]
    fn icmp_pairs() {
        let echo = [8u8, 0, 0, 0, 0, 1, 0, 1, 0xaa];
        let l = parse(V4, ICMP, &echo, 9).unwrap();
        assert_eq!((l.sport, l.dport, l.payload_len), (8, 0, 1));
        for (req, resp) in [(0, 8), (13, 14), (15, 16), (17, 18), (10, 9), (9, 10)] {
            let l = parse(V4, ICMP, &[req, 0, 0, 0, 0, 0, 0, 0], 8).unwrap();
            assert_eq!((l.sport, l.dport), (req as u16, resp));
        }
        // one-way: destination unreachable, code 3 → dport 3
        let l = parse(V4, ICMP, &[3, 3, 0, 0, 0, 0, 0, 0], 8).unwrap();
        assert_eq!((l.sport, l.dport), (3, 3));
        for (a, b) in [
            (128u8, 129u8),
            (130, 131),
            (133, 134),
            (135, 136),
            (139, 140),
            (144, 145),
        ] {
            let l = parse(V6, ICMPV6, &[a, 0, 0, 0, 0, 0, 0, 0], 8).unwrap();
            assert_eq!((l.sport, l.dport), (a as u16, b as u16));
            let l = parse(V6, ICMPV6, &[b, 0, 0, 0, 0, 0, 0, 0], 8).unwrap();
            assert_eq!((l.sport, l.dport), (b as u16, a as u16));
        }
        let l = parse(V6, ICMPV6, &[1, 4, 0, 0, 0, 0, 0, 0], 8).unwrap();
        assert_eq!((l.sport, l.dport), (1, 4));
        assert_eq!(
            parse(V4, ICMP, &[8, 0, 0], 8).unwrap_err(),
            DecodeError::BadIcmp("truncated header")
        );
        assert_eq!(
            parse(V4, ICMP, &[8, 0, 0, 0], 8).unwrap_err(),
            DecodeError::BadIcmp("truncated header")
        );
        // ICMPv6 number inside IPv4 is just an unknown protocol
        assert_eq!(parse(V4, ICMPV6, &[], 5).unwrap().sport, 0);
    }

    #[test]
    fn sctp_and_unknown() {
        let h = [0x0b, 0xb8, 0, 7, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4];
        let l = parse(V4, SCTP, &h, 16).unwrap();
        assert_eq!((l.sport, l.dport, l.payload_len), (3000, 7, 4));
        assert_eq!(
            parse(V4, SCTP, &h[..11], 16).unwrap_err(),
            DecodeError::BadSctp("truncated common header")
        );
        let l = parse(V4, 46, &[], 40).unwrap();
        assert_eq!((l.sport, l.dport, l.payload_len), (0, 0, 40));
    }
}
