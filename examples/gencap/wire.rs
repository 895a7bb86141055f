//! Frame building: Ethernet (+802.1Q) / IPv4|IPv6 / TCP|UDP|ICMP|ICMPv6 with correct checksums via
//! `pnet_packet`, plus small application payloads (DNS, HTTP, TLS, PostgreSQL, NTP) that Wireshark
//! dissects without "malformed" complaints.
//!
//! Guarantees: `build` writes one complete frame into a caller-owned buffer (no allocation), pads it
//! to the 60-byte Ethernet minimum, and fills IPv4, TCP, UDP, ICMP and ICMPv6 checksums.

use pnet_packet::ethernet::{EtherType, EtherTypes, MutableEthernetPacket};
use pnet_packet::icmp::{self, IcmpPacket, IcmpType, MutableIcmpPacket};
use pnet_packet::icmpv6::{self, Icmpv6Packet, Icmpv6Type, MutableIcmpv6Packet};
use pnet_packet::ip::{IpNextHeaderProtocol, IpNextHeaderProtocols};
use pnet_packet::ipv4::{self, Ipv4Flags, MutableIpv4Packet};
use pnet_packet::ipv6::MutableIpv6Packet;
use pnet_packet::tcp::{self, MutableTcpPacket, TcpPacket};
use pnet_packet::udp::{self, MutableUdpPacket, UdpPacket};
use pnet_packet::vlan::{ClassesOfService, MutableVlanPacket};
use std::io::Write;
use std::net::{Ipv4Addr, Ipv6Addr};

pub const MIN_FRAME: usize = 60;
pub const MAX_FRAME: usize = 1600;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Addr {
    V4(Ipv4Addr),
    V6(Ipv6Addr),
}

impl Addr {
    pub fn is_v6(&self) -> bool {
        matches!(self, Addr::V6(_))
    }
}

/// Docker derives a container's MAC from its IPv4 address (02:42:a.b.c.d); we mimic that.
pub fn docker_mac(ip: Addr) -> [u8; 6] {
    match ip {
        Addr::V4(a) => {
            let o = a.octets();
            [0x02, 0x42, o[0], o[1], o[2], o[3]]
        }
        Addr::V6(a) => {
            let o = a.octets();
            [0x02, 0x42, 0xfd, o[13], o[14], o[15]]
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpOpts {
    None,
    /// A Linux-like SYN: MSS, SACK permitted, timestamps, window scale (20 bytes).
    Syn {
        mss: u16,
        tsval: u32,
        tsecr: u32,
    },
    /// NOP NOP TS (12 bytes), carried by every segment after a timestamp-enabled handshake.
    Ts {
        tsval: u32,
        tsecr: u32,
    },
    /// MSS only (4 bytes): keeps a SYN inside a 60-byte minimum frame.
    Mss(u16),
}

impl TcpOpts {
    fn len(&self) -> usize {
        match self {
            TcpOpts::None => 0,
            TcpOpts::Syn { .. } => 20,
            TcpOpts::Ts { .. } => 12,
            TcpOpts::Mss(_) => 4,
        }
    }

    fn write(&self, out: &mut [u8]) {
        match *self {
            TcpOpts::None => {}
            TcpOpts::Syn { mss, tsval, tsecr } => {
                let m = mss.to_be_bytes();
                let a = tsval.to_be_bytes();
                let b = tsecr.to_be_bytes();
                out[..20].copy_from_slice(&[
                    2, 4, m[0], m[1], 4, 2, 8, 10, a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3],
                    1, 3, 3, 7,
                ]);
            }
            TcpOpts::Ts { tsval, tsecr } => {
                let a = tsval.to_be_bytes();
                let b = tsecr.to_be_bytes();
                out[..12].copy_from_slice(&[
                    1, 1, 8, 10, a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3],
                ]);
            }
            TcpOpts::Mss(mss) => {
                let m = mss.to_be_bytes();
                out[..4].copy_from_slice(&[2, 4, m[0], m[1]]);
            }
        }
    }
}

pub mod flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
}

#[derive(Clone, Copy, Debug)]
pub enum L4 {
    Tcp {
        seq: u32,
        ack: u32,
        flags: u8,
        window: u16,
        opts: TcpOpts,
    },
    Udp,
    /// ICMP or ICMPv6 echo (the family follows the addresses).
    Echo {
        request: bool,
        id: u16,
        seq: u16,
    },
}

/// Everything needed to lay out one frame's headers.
#[derive(Clone, Copy, Debug)]
pub struct Hdr {
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    /// 0 = untagged, else the 802.1Q VLAN id.
    pub vlan: u16,
    pub src: Addr,
    pub dst: Addr,
    pub sport: u16,
    pub dport: u16,
    pub ttl: u8,
    pub ip_id: u16,
    pub l4: L4,
}

/// Lays out a frame in `buf` with `payload_len` payload bytes written by `fill`; returns its length.
///
/// The generator only pairs addresses of one family; a mixed pair is a programming error in the
/// generator itself (never input data), so it is reported by returning 0.
pub fn build(buf: &mut [u8], h: &Hdr, payload_len: usize, fill: impl FnOnce(&mut [u8])) -> usize {
    let l3 = if h.vlan != 0 { 18 } else { 14 };
    let ip_hl = if h.src.is_v6() { 40 } else { 20 };
    let l4 = l3 + ip_hl;
    let l4_hl = match h.l4 {
        L4::Tcp { opts, .. } => 20 + opts.len(),
        L4::Udp | L4::Echo { .. } => 8,
    };
    let l4_len = l4_hl + payload_len;
    let end = l4 + l4_len;
    let frame_len = end.max(MIN_FRAME);
    if frame_len > buf.len() || h.src.is_v6() != h.dst.is_v6() {
        return 0;
    }
    buf[..frame_len].fill(0);
    fill(&mut buf[l4 + l4_hl..end]);

    let ip_type = if h.src.is_v6() {
        EtherTypes::Ipv6
    } else {
        EtherTypes::Ipv4
    };
    {
        let Some(mut eth) = MutableEthernetPacket::new(&mut buf[..]) else {
            return 0;
        };
        eth.set_ethertype(if h.vlan != 0 {
            EtherTypes::Vlan
        } else {
            ip_type
        });
    }
    // MACs are written as bytes: pnet's MacAddr lives in pnet_base, not a dependency of ours.
    buf[0..6].copy_from_slice(&h.dst_mac);
    buf[6..12].copy_from_slice(&h.src_mac);
    if h.vlan != 0 {
        let Some(mut v) = MutableVlanPacket::new(&mut buf[14..]) else {
            return 0;
        };
        v.set_priority_code_point(ClassesOfService::BE);
        v.set_drop_eligible_indicator(0);
        v.set_vlan_identifier(h.vlan);
        v.set_ethertype(EtherType(ip_type.0));
    }

    let proto: IpNextHeaderProtocol = match (h.l4, h.src.is_v6()) {
        (L4::Tcp { .. }, _) => IpNextHeaderProtocols::Tcp,
        (L4::Udp, _) => IpNextHeaderProtocols::Udp,
        (L4::Echo { .. }, false) => IpNextHeaderProtocols::Icmp,
        (L4::Echo { .. }, true) => IpNextHeaderProtocols::Icmpv6,
    };

    // Transport header and checksum first: it covers the payload, not the IP header.
    {
        let seg = &mut buf[l4..end];
        match h.l4 {
            L4::Tcp {
                seq,
                ack,
                flags,
                window,
                opts,
            } => {
                opts.write(&mut seg[20..]);
                let Some(mut t) = MutableTcpPacket::new(seg) else {
                    return 0;
                };
                t.set_source(h.sport);
                t.set_destination(h.dport);
                t.set_sequence(seq);
                t.set_acknowledgement(ack);
                t.set_data_offset((l4_hl / 4) as u8);
                t.set_flags(flags);
                t.set_window(window);
                t.set_urgent_ptr(0);
                let Some(ro) = TcpPacket::new(t.packet_ref()) else {
                    return 0;
                };
                let c = match (h.src, h.dst) {
                    (Addr::V4(s), Addr::V4(d)) => tcp::ipv4_checksum(&ro, &s, &d),
                    (Addr::V6(s), Addr::V6(d)) => tcp::ipv6_checksum(&ro, &s, &d),
                    _ => return 0,
                };
                t.set_checksum(c);
            }
            L4::Udp => {
                let Some(mut u) = MutableUdpPacket::new(seg) else {
                    return 0;
                };
                u.set_source(h.sport);
                u.set_destination(h.dport);
                u.set_length(l4_len as u16);
                let Some(ro) = UdpPacket::new(u.packet_ref()) else {
                    return 0;
                };
                let c = match (h.src, h.dst) {
                    (Addr::V4(s), Addr::V4(d)) => udp::ipv4_checksum(&ro, &s, &d),
                    (Addr::V6(s), Addr::V6(d)) => udp::ipv6_checksum(&ro, &s, &d),
                    _ => return 0,
                };
                u.set_checksum(c);
            }
            L4::Echo { request, id, seq } => {
                seg[4..6].copy_from_slice(&id.to_be_bytes());
                seg[6..8].copy_from_slice(&seq.to_be_bytes());
                match (h.src, h.dst) {
                    (Addr::V4(_), Addr::V4(_)) => {
                        let Some(mut p) = MutableIcmpPacket::new(seg) else {
                            return 0;
                        };
                        p.set_icmp_type(IcmpType(if request { 8 } else { 0 }));
                        let Some(ro) = IcmpPacket::new(p.packet_ref()) else {
                            return 0;
                        };
                        let c = icmp::checksum(&ro);
                        p.set_checksum(c);
                    }
                    (Addr::V6(s), Addr::V6(d)) => {
                        let Some(mut p) = MutableIcmpv6Packet::new(seg) else {
                            return 0;
                        };
                        p.set_icmpv6_type(Icmpv6Type(if request { 128 } else { 129 }));
                        let Some(ro) = Icmpv6Packet::new(p.packet_ref()) else {
                            return 0;
                        };
                        let c = icmpv6::checksum(&ro, &s, &d);
                        p.set_checksum(c);
                    }
                    _ => return 0,
                }
            }
        }
    }

    match (h.src, h.dst) {
        (Addr::V4(s), Addr::V4(d)) => {
            let Some(mut ip) = MutableIpv4Packet::new(&mut buf[l3..end]) else {
                return 0;
            };
            ip.set_version(4);
            ip.set_header_length(5);
            ip.set_total_length((20 + l4_len) as u16);
            ip.set_identification(h.ip_id);
            // DF on TCP, as Linux sets it with path-MTU discovery.
            let df = matches!(h.l4, L4::Tcp { .. });
            ip.set_flags(if df { Ipv4Flags::DontFragment } else { 0 });
            ip.set_ttl(h.ttl);
            ip.set_next_level_protocol(proto);
            ip.set_source(s);
            ip.set_destination(d);
            let c = ipv4::checksum(&ip.to_immutable());
            ip.set_checksum(c);
        }
        (Addr::V6(s), Addr::V6(d)) => {
            let Some(mut ip) = MutableIpv6Packet::new(&mut buf[l3..end]) else {
                return 0;
            };
            ip.set_version(6);
            ip.set_flow_label(u32::from(h.ip_id) & 0xfffff);
            ip.set_payload_length(l4_len as u16);
            ip.set_next_header(proto);
            ip.set_hop_limit(h.ttl);
            ip.set_source(s);
            ip.set_destination(d);
        }
        _ => return 0,
    }
    frame_len
}

use pnet_packet::Packet as _;

trait PacketRef {
    fn packet_ref(&self) -> &[u8];
}
impl PacketRef for MutableTcpPacket<'_> {
    fn packet_ref(&self) -> &[u8] {
        self.packet()
    }
}
impl PacketRef for MutableUdpPacket<'_> {
    fn packet_ref(&self) -> &[u8] {
        self.packet()
    }
}
impl PacketRef for MutableIcmpPacket<'_> {
    fn packet_ref(&self) -> &[u8] {
        self.packet()
    }
}
impl PacketRef for MutableIcmpv6Packet<'_> {
    fn packet_ref(&self) -> &[u8] {
        self.packet()
    }
}

// ---------------------------------------------------------------------------------------------
// Application payloads. Each writer fills exactly the slice it is given, so the caller chooses
// segment sizes and the payload always matches them.

/// Writes `parts` then pads with `pad` so the slice is full; returns false if `parts` do not fit.
fn fill_exact(out: &mut [u8], parts: &[&[u8]], pad: u8, tail: &[u8]) -> bool {
    let need: usize = parts.iter().map(|p| p.len()).sum::<usize>() + tail.len();
    if need > out.len() {
        out.fill(pad);
        return false;
    }
    let mut at = 0;
    for p in parts {
        out[at..at + p.len()].copy_from_slice(p);
        at += p.len();
    }
    let pad_end = out.len() - tail.len();
    out[at..pad_end].fill(pad);
    out[pad_end..].copy_from_slice(tail);
    true
}

/// Smallest HTTP request `http_request` can produce for `host` (the padding header may be empty).
pub fn http_request_min(host: &str) -> usize {
    HTTP_REQ_A.len() + 6 + HTTP_REQ_B.len() + host.len() + HTTP_REQ_C.len() + 4
}
const HTTP_REQ_A: &[u8] = b"GET /api/v1/items/";
const HTTP_REQ_B: &[u8] = b" HTTP/1.1\r\nHost: ";
const HTTP_REQ_C: &[u8] = b"\r\nUser-Agent: bw-gencap/1\r\nAccept: */*\r\nX-Pad: ";

/// A GET request of exactly `out.len()` bytes (padded through an `X-Pad` header).
pub fn http_request(out: &mut [u8], host: &str, item: u32) {
    let mut num = [b'0'; 6];
    let mut n = item % 1_000_000;
    for d in num.iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
    fill_exact(
        out,
        &[HTTP_REQ_A, &num, HTTP_REQ_B, host.as_bytes(), HTTP_REQ_C],
        b'a',
        b"\r\n\r\n",
    );
}

/// Writes an HTTP/1.1 200 head into `out` announcing a body that makes the whole response
/// `total` bytes long; returns the head length (0 if `out` is too short).
pub fn http_response_head(out: &mut [u8], total: usize) -> usize {
    const A: &[u8] =
        b"HTTP/1.1 200 OK\r\nServer: bw-gencap\r\nContent-Type: application/octet-stream\r\nContent-Length: ";
    let base = A.len() + 4;
    // The head's length depends on the digit count of the body length it announces.
    for digits in 1..=9 {
        let Some(body) = total.checked_sub(base + digits) else {
            return 0;
        };
        if body.to_string().len() == digits {
            let mut cur = std::io::Cursor::new(&mut out[..]);
            if cur.write_all(A).is_err() || write!(cur, "{body}\r\n\r\n").is_err() {
                return 0;
            }
            return cur.position() as usize;
        }
    }
    0
}

pub const HTTP_RESPONSE_MIN: usize = 110;

/// A TLS 1.3-style ClientHello record with the given SNI, padded (RFC 7685) to exactly `out.len()`.
pub fn tls_client_hello(out: &mut [u8], sni: &str, random: &[u8; 32]) -> bool {
    let total = out.len();
    let name = sni.as_bytes();
    // record(5) + hs hdr(4) + ver(2) + random(32) + sid(1+32) + suites(2+6) + comp(2) + ext len(2)
    let fixed = 5 + 4 + 2 + 32 + 33 + 8 + 2 + 2;
    let sni_ext = 4 + 2 + 3 + name.len();
    let sv_ext = 4 + 1 + 2; // supported_versions: TLS 1.3
    let groups_ext = 4 + 2 + 2;
    let pad_hdr = 4;
    let Some(pad_len) = total.checked_sub(fixed + sni_ext + sv_ext + groups_ext + pad_hdr) else {
        return false;
    };
    let mut c = std::io::Cursor::new(&mut out[..]);
    let rec_len = (total - 5) as u16;
    let hs_len = (total - 9) as u32;
    let ext_len = (sni_ext + sv_ext + groups_ext + pad_hdr + pad_len) as u16;
    let name_len = name.len() as u16;
    let ok = (|| -> std::io::Result<()> {
        c.write_all(&[0x16, 0x03, 0x01])?;
        c.write_all(&rec_len.to_be_bytes())?;
        c.write_all(&[0x01])?;
        c.write_all(&hs_len.to_be_bytes()[1..])?;
        c.write_all(&[0x03, 0x03])?;
        c.write_all(random)?;
        c.write_all(&[32])?;
        c.write_all(&random[..])?; // session id: reuse the random bytes
        c.write_all(&[0x00, 0x06, 0x13, 0x01, 0x13, 0x02, 0x13, 0x03])?;
        c.write_all(&[0x01, 0x00])?;
        c.write_all(&ext_len.to_be_bytes())?;
        // server_name
        c.write_all(&[0x00, 0x00])?;
        c.write_all(&(name_len + 5).to_be_bytes())?;
        c.write_all(&(name_len + 3).to_be_bytes())?;
        c.write_all(&[0x00])?;
        c.write_all(&name_len.to_be_bytes())?;
        c.write_all(name)?;
        // supported_versions
        c.write_all(&[0x00, 0x2b, 0x00, 0x03, 0x02, 0x03, 0x04])?;
        // supported_groups: x25519
        c.write_all(&[0x00, 0x0a, 0x00, 0x04, 0x00, 0x02, 0x00, 0x1d])?;
        // padding
        c.write_all(&[0x00, 0x15])?;
        c.write_all(&(pad_len as u16).to_be_bytes())?;
        Ok(())
    })();
    let at = c.position() as usize;
    out[at..].fill(0);
    ok.is_ok()
}

pub const TLS_HELLO_MIN: usize = 200;

/// ServerHello + ChangeCipherSpec, then one application-data record filling the rest of `out`.
pub fn tls_server_first(out: &mut [u8], random: &[u8; 32], pattern: &[u8]) -> bool {
    // ServerHello body: ver 2 + random 32 + sid 1+32 + suite 2 + comp 1 + ext len 2 + sv ext 6
    let body = 2 + 32 + 33 + 2 + 1 + 2 + 6;
    let sh = 5 + 4 + body;
    let ccs = 6;
    if out.len() < sh + ccs + 6 {
        return false;
    }
    let mut c = std::io::Cursor::new(&mut out[..]);
    let ok = (|| -> std::io::Result<()> {
        c.write_all(&[0x16, 0x03, 0x03])?;
        c.write_all(&((4 + body) as u16).to_be_bytes())?;
        c.write_all(&[0x02])?;
        c.write_all(&(body as u32).to_be_bytes()[1..])?;
        c.write_all(&[0x03, 0x03])?;
        c.write_all(random)?;
        c.write_all(&[32])?;
        c.write_all(random)?;
        c.write_all(&[0x13, 0x01, 0x00])?;
        c.write_all(&[0x00, 0x06, 0x00, 0x2b, 0x00, 0x02, 0x03, 0x04])?;
        c.write_all(&[0x14, 0x03, 0x03, 0x00, 0x01, 0x01])?;
        Ok(())
    })();
    let at = c.position() as usize;
    tls_app_data(&mut out[at..], pattern);
    ok.is_ok()
}

/// One TLS application-data record filling exactly `out` (at least 6 bytes).
pub fn tls_app_data(out: &mut [u8], pattern: &[u8]) {
    if out.len() < 6 {
        out.fill(0);
        return;
    }
    let len = (out.len() - 5) as u16;
    out[..5].copy_from_slice(&[0x17, 0x03, 0x03, (len >> 8) as u8, len as u8]);
    copy_pattern(&mut out[5..], pattern);
}

pub fn copy_pattern(out: &mut [u8], pattern: &[u8]) {
    if pattern.is_empty() {
        return;
    }
    for chunk in out.chunks_mut(pattern.len()) {
        chunk.copy_from_slice(&pattern[..chunk.len()]);
    }
}

/// PostgreSQL simple-query message ('Q') of exactly `out.len()` bytes (at least 16).
pub fn pgsql_query(out: &mut [u8]) {
    if out.len() < 16 {
        out.fill(b' ');
        return;
    }
    let len = (out.len() - 1) as u32;
    out[0] = b'Q';
    out[1..5].copy_from_slice(&len.to_be_bytes());
    // The short form covers the small tail segment of a multi-segment query (found by tshark:
    // a 40-byte tail had no room for the long form and lost its NUL terminator).
    let long: &[u8] = b"SELECT * FROM orders WHERE id IN (";
    if !fill_exact(&mut out[5..], &[long], b'1', b");\0") {
        fill_exact(&mut out[5..], &[b"SELECT "], b'1', b";\0");
    }
}

pub const PGSQL_TAIL: usize = 20;
pub const PGSQL_SEG_MIN: usize = 11;

/// A PostgreSQL backend segment: one DataRow filling `out`, and if `last`, CommandComplete and
/// ReadyForQuery at its end. `out` must hold at least `PGSQL_SEG_MIN` (+`PGSQL_TAIL` if last).
pub fn pgsql_response(out: &mut [u8], last: bool, pattern: &[u8]) {
    let tail = if last { PGSQL_TAIL } else { 0 };
    let Some(row) = out.len().checked_sub(tail).filter(|&r| r >= PGSQL_SEG_MIN) else {
        out.fill(0);
        return;
    };
    out[0] = b'D';
    out[1..5].copy_from_slice(&((row - 1) as u32).to_be_bytes());
    out[5..7].copy_from_slice(&1u16.to_be_bytes());
    out[7..11].copy_from_slice(&((row - 11) as u32).to_be_bytes());
    copy_pattern(&mut out[11..row], pattern);
    if last {
        out[row..].copy_from_slice(b"C\x00\x00\x00\x0dSELECT 1\x00Z\x00\x00\x00\x05I");
    }
}

/// Writes a DNS query (or, with `answer`, its response) into `out`; returns the length used.
/// `answer`: None = query; Some(None) = NXDOMAIN; Some(Some(rdata)) = one A/AAAA answer.
pub fn dns_message(
    out: &mut [u8],
    id: u16,
    name: &str,
    qtype: u16,
    answer: Option<Option<&[u8]>>,
) -> usize {
    let mut c = std::io::Cursor::new(&mut out[..]);
    let ok = (|| -> std::io::Result<()> {
        let (flags, an): (u16, u16) = match answer {
            None => (0x0100, 0),
            Some(None) => (0x8183, 0),
            Some(Some(_)) => (0x8180, 1),
        };
        c.write_all(&id.to_be_bytes())?;
        c.write_all(&flags.to_be_bytes())?;
        c.write_all(&[0, 1])?;
        c.write_all(&an.to_be_bytes())?;
        c.write_all(&[0, 0, 0, 0])?;
        for label in name.split('.').filter(|l| !l.is_empty()) {
            c.write_all(&[label.len().min(63) as u8])?;
            c.write_all(&label.as_bytes()[..label.len().min(63)])?;
        }
        c.write_all(&[0])?;
        c.write_all(&qtype.to_be_bytes())?;
        c.write_all(&[0, 1])?;
        if let Some(Some(rdata)) = answer {
            c.write_all(&[0xc0, 0x0c])?;
            c.write_all(&qtype.to_be_bytes())?;
            c.write_all(&[0, 1, 0, 0, 0x01, 0x2c])?;
            c.write_all(&(rdata.len() as u16).to_be_bytes())?;
            c.write_all(rdata)?;
        }
        Ok(())
    })();
    if ok.is_ok() {
        c.position() as usize
    } else {
        0
    }
}

fn fnv(name: &str) -> u32 {
    name.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// The A record our synthetic resolver returns for `name`: stable, so the demo's DNS answers
/// match the addresses its flows then connect to.
pub fn dns_answer_v4(name: &str) -> [u8; 4] {
    [203, 0, 113, 1 + (fnv(name) % 250) as u8]
}

pub fn dns_answer_v6(name: &str) -> [u8; 16] {
    let h = fnv(name).to_be_bytes();
    [
        0x20, 0x01, 0x0d, 0xb8, 0, 7, 0, 0, 0, 0, 0, 0, h[0], h[1], h[2], h[3],
    ]
}

/// NTPv4 client (mode 3) or server (mode 4) packet, 48 bytes.
pub fn ntp(out: &mut [u8], server: bool, stamp: u64) {
    if out.len() < 48 {
        return;
    }
    out[..48].fill(0);
    out[0] = if server { 0x24 } else { 0x23 };
    out[1] = if server { 2 } else { 0 };
    out[2] = 6;
    out[3] = 0xe9;
    out[40..48].copy_from_slice(&stamp.to_be_bytes());
    if server {
        out[12..16].copy_from_slice(b"GPS\0");
        out[24..32].copy_from_slice(&stamp.wrapping_sub(1 << 30).to_be_bytes());
        out[32..40].copy_from_slice(&stamp.wrapping_sub(1 << 20).to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};

    fn v4(a: [u8; 4]) -> Addr {
        Addr::V4(Ipv4Addr::from(a))
    }

    fn hdr(src: Addr, dst: Addr, vlan: u16, l4: L4) -> Hdr {
        Hdr {
            src_mac: docker_mac(src),
            dst_mac: docker_mac(dst),
            vlan,
            src,
            dst,
            sport: 40000,
            dport: 443,
            ttl: 64,
            ip_id: 7,
            l4,
        }
    }

    /// Internet checksum over the given pieces; a correct header/segment sums to 0xffff.
    fn ones_sum(parts: &[&[u8]]) -> u16 {
        let mut s: u32 = 0;
        for p in parts {
            for c in p.chunks(2) {
                let w = if c.len() == 2 {
                    u16::from_be_bytes([c[0], c[1]])
                } else {
                    u16::from(c[0]) << 8
                };
                s += u32::from(w);
            }
        }
        while s >> 16 != 0 {
            s = (s & 0xffff) + (s >> 16);
        }
        s as u16
    }

    #[test]
    fn tcp_v4_vlan_frame_parses_and_checksums_verify() {
        let (s, d) = (v4([172, 18, 0, 5]), v4([203, 0, 113, 66]));
        let h = hdr(
            s,
            d,
            100,
            L4::Tcp {
                seq: 1,
                ack: 2,
                flags: flags::ACK | flags::PSH,
                window: 502,
                opts: TcpOpts::Ts { tsval: 5, tsecr: 6 },
            },
        );
        let mut buf = [0u8; MAX_FRAME];
        let n = build(&mut buf, &h, 1448, |p| p.fill(0x5a));
        assert_eq!(n, 18 + 20 + 32 + 1448);
        let p = SlicedPacket::from_ethernet(&buf[..n]).unwrap();
        assert_eq!(p.vlan_ids().first().map(|v| v.value()), Some(100));
        let Some(NetSlice::Ipv4(ip)) = &p.net else {
            panic!("not v4")
        };
        assert_eq!(ones_sum(&[ip.header().slice()]), 0xffff);
        let Some(TransportSlice::Tcp(t)) = &p.transport else {
            panic!("not tcp")
        };
        assert_eq!(t.payload().len(), 1448);
        let seg = &buf[18 + 20..n];
        let pseudo = [
            &ip.header().source()[..],
            &ip.header().destination()[..],
            &[0, 6],
            &(seg.len() as u16).to_be_bytes()[..],
        ];
        let mut parts: Vec<&[u8]> = pseudo.to_vec();
        parts.push(seg);
        assert_eq!(ones_sum(&parts), 0xffff);
    }

    #[test]
    fn short_frames_are_padded_to_the_ethernet_minimum() {
        let (s, d) = (v4([198, 51, 100, 7]), v4([172, 17, 0, 2]));
        let h = hdr(
            s,
            d,
            0,
            L4::Tcp {
                seq: 1,
                ack: 0,
                flags: flags::SYN,
                window: 1024,
                opts: TcpOpts::Mss(1460),
            },
        );
        let mut buf = [0xffu8; MAX_FRAME];
        let n = build(&mut buf, &h, 0, |_| {});
        assert_eq!(n, 60);
        assert!(
            buf[58..60].iter().all(|&b| b == 0),
            "padding must be zeroed"
        );
        let p = SlicedPacket::from_ethernet(&buf[..n]).unwrap();
        let Some(NetSlice::Ipv4(ip)) = &p.net else {
            panic!("not v4")
        };
        assert_eq!(ip.header().total_len(), 44);
    }

    #[test]
    fn icmpv6_and_udp_v6_checksums_verify() {
        let s = Addr::V6("fd00:db8::2".parse().unwrap());
        let d = Addr::V6("2001:db8::53".parse().unwrap());
        for (l4, nh) in [
            (
                L4::Echo {
                    request: true,
                    id: 1,
                    seq: 2,
                },
                58u8,
            ),
            (L4::Udp, 17u8),
        ] {
            let h = hdr(s, d, 0, l4);
            let mut buf = [0u8; MAX_FRAME];
            let n = build(&mut buf, &h, 56, |p| p.fill(1));
            let seg = &buf[54..n];
            let (Addr::V6(a), Addr::V6(b)) = (s, d) else {
                unreachable!()
            };
            let len = (seg.len() as u32).to_be_bytes();
            assert_eq!(
                ones_sum(&[&a.octets(), &b.octets(), &len, &[0, 0, 0, nh], seg]),
                0xffff
            );
        }
    }

    #[test]
    fn mixed_families_are_refused() {
        let h = hdr(
            v4([1, 2, 3, 4]),
            Addr::V6("::1".parse().unwrap()),
            0,
            L4::Udp,
        );
        let mut buf = [0u8; MAX_FRAME];
        assert_eq!(build(&mut buf, &h, 10, |_| {}), 0);
    }

    #[test]
    fn http_payloads_have_exact_lengths_and_consistent_content_length() {
        let mut req = [0u8; 300];
        http_request(&mut req, "api.example.com", 42);
        assert!(req.starts_with(b"GET /api/v1/items/000042 HTTP/1.1\r\nHost: api.example.com\r\n"));
        assert!(req.ends_with(b"\r\n\r\n"));
        let mut head = [0u8; 200];
        let n = http_response_head(&mut head, 5000);
        let text = std::str::from_utf8(&head[..n]).unwrap();
        let cl: usize = text
            .split("Content-Length: ")
            .nth(1)
            .unwrap()
            .trim_end()
            .parse()
            .unwrap();
        assert_eq!(n + cl, 5000);
    }

    #[test]
    fn dns_response_is_query_plus_one_answer() {
        let mut q = [0u8; 512];
        let mut r = [0u8; 512];
        let qn = dns_message(&mut q, 9, "api.example.com", 1, None);
        let rn = dns_message(
            &mut r,
            9,
            "api.example.com",
            1,
            Some(Some(&[203, 0, 113, 10])),
        );
        assert_eq!(qn, 12 + 17 + 4);
        assert_eq!(rn, qn + 16);
        assert_eq!(&r[2..4], &[0x81, 0x80]);
    }

    #[test]
    fn tls_and_pgsql_records_fill_their_slices() {
        let mut hello = [0u8; 300];
        assert!(tls_client_hello(
            &mut hello,
            "collector.example.net",
            &[7; 32]
        ));
        assert_eq!(u16::from_be_bytes([hello[3], hello[4]]) as usize, 295);
        for n in [16usize, 40, 41, 200] {
            let mut q = vec![0u8; n];
            pgsql_query(&mut q);
            assert_eq!(
                u32::from_be_bytes(q[1..5].try_into().unwrap()) as usize,
                n - 1
            );
            assert!(
                q.starts_with(b"Q") && q[5..].starts_with(b"SELECT ") && q.ends_with(b";\0"),
                "{n}"
            );
        }
        let mut seg = [0u8; 100];
        pgsql_response(&mut seg, true, &[1, 2, 3]);
        assert_eq!(seg[0], b'D');
        assert_eq!(
            u32::from_be_bytes(seg[1..5].try_into().unwrap()) as usize,
            100 - PGSQL_TAIL - 1
        );
        assert!(seg.ends_with(b"Z\x00\x00\x00\x05I"));
    }
}
