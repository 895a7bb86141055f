//! Decoding: link layer → VLAN tags / MPLS / PPPoE → IPv4/IPv6 (fragments, extension
//! headers) → TCP/UDP/ICMP/ICMPv6/SCTP, with `etherparse` header slices over the
//! packet's own bytes (zero-copy).  Tunnels (VXLAN, GRE) yield the outer flow packet
//! and then the inner one, which names its outer tuple.  The output is a compact
//! [`FlowPacket`] per flow the packet belongs to: everything the flow table needs,
//! nothing borrowed.  The decoder hands each to a [`FlowSink`] (the pipeline's
//! routes it straight into its shard's [`FlowBatch`]), so a flow packet is written
//! once and never moved.
//!
//! Guarantee: no input panics.  Every packet that yields no flow packet is either
//! counted as not-IP (ARP, STP, ...) or returns a [`DecodeError`] whose
//! [`DecodeError::kind`] is the counter label.  The success path allocates nothing;
//! error payloads are `&'static str` so the error path does not allocate either.
//! Only fragments touch the shared reassembly table (and its lock).
//!
//! Submodules: `link` (link types, VLAN, MPLS, PPPoE), `ip` (IPv4/IPv6 and
//! extension headers), `transport` (ports, TCP fields, ICMP pairing, length rules),
//! `tunnel` (VXLAN, GRE), `fragments` (reassembly).
//!
//! Fragments: a datagram yields ONE flow packet, when its last missing piece arrives
//! (with that piece's timestamp), with `ip_len` = the reassembled datagram's length.
//! This matches tshark's conversation counts (zeek/ipv6-fragmented-dns.pcap: the
//! fragmented DNS response counts as 1 frame) and Zeek, which sees one reassembled packet.
//!
//! Tunnels: the inner flow packet inherits `iface`; its VLAN ids are the inner
//! Ethernet frame's tags (VXLAN, GRE 0x6558), or the outer packet's for GRE carrying
//! IP directly (there is no inner link layer to say otherwise).  Nesting is capped at
//! [`MAX_TUNNEL_DEPTH`].  IP-in-IP (protocols 4 and 41) is reported as a port-less
//! flow, not decoded further.

mod fragments;
mod ip;
mod link;
mod transport;

pub use transport::{icmp4_counterpart, icmp6_counterpart};
mod tunnel;

pub use fragments::{
    FragmentStats, MAX_DATAGRAMS, MAX_DATAGRAM_BYTES, MAX_FRAGMENTS, TIMEOUT as FRAGMENT_TIMEOUT,
};

use fragments::{FragKey, FragTable};
use std::sync::{Arc, Mutex};

/// Tunnels inside tunnels are decoded this many levels deep, no further.
pub const MAX_TUNNEL_DEPTH: u8 = 4;

/// Responses from this UDP port feed passive DNS.
const DNS_PORT: u16 = 53;

/// [`FlowPacket::src_mac`] of a packet whose link type has no MAC addresses.
pub const NO_MAC: [u8; 6] = [0; 6];

use crate::capture::{LinkType, PacketHeader};
use crate::flow::key::{AddrFamily, FlowTuple, NO_VLAN};
use crate::passive_dns::PassiveDns;
use crate::time::Nanos;

/// Settings that change how packets map to flows.
#[derive(Clone, Debug)]
pub struct DecodeConfig {
    /// Put VLAN ids into the flow key (default true).  When false `FlowPacket::vlan`
    /// is still reported but `key_vlan` is all [`NO_VLAN`].
    pub vlan_in_key: bool,
    /// Where DNS responses (UDP from port 53) record the names they give addresses;
    /// `None` when nothing reads names (no parsing cost then).
    pub passive_dns: Option<Arc<PassiveDns>>,
}

impl Default for DecodeConfig {
    fn default() -> Self {
        DecodeConfig {
            vlan_in_key: true,
            passive_dns: None,
        }
    }
}

/// Kind of tunnel an inner packet arrived in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TunnelKind {
    Vxlan { vni: u32 },
    Geneve { vni: u32 },
    Gtp { teid: u32 },
    Teredo,
    Gre,
}

/// The outer flow of a tunnelled packet, in the outer packet's direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TunnelParent {
    pub kind: TunnelKind,
    pub outer: FlowTuple,
}

/// Where a tunnelled packet's [`TunnelParent`] sits in its [`FlowBatch`].  The parent
/// (48 bytes) lives beside the packets rather than in them: inline it made every
/// [`FlowPacket`] 136 bytes for the few that are tunnelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TunnelRef(std::num::NonZeroU32);

/// Everything the flow table needs from one packet for one flow.
#[derive(Clone, Copy, Debug)]
pub struct FlowPacket {
    pub ts: Nanos,
    pub tuple: FlowTuple,
    /// VLAN ids as seen (outer, inner), [`NO_VLAN`] where absent.
    pub vlan: [u16; 2],
    /// VLAN ids that go into the key: equal to `vlan`, or all [`NO_VLAN`] when VLANs are not keyed.
    pub key_vlan: [u16; 2],
    /// Interface index within the capture (pcapng interface id; 0 for classic pcap).
    pub iface: u16,
    /// IP bytes this packet adds to its flow: the IP header's total length (IPv6:
    /// 40 + payload length), not the captured length, so snaplen-cut captures count
    /// what was on the wire.  For a reassembled datagram, its reassembled length.
    pub ip_len: u32,
    /// Transport payload bytes according to the headers (TCP: total length minus IP
    /// and TCP headers; UDP: UDP length minus 8).
    pub payload_len: u32,
    /// TCP only: flags byte (FIN 0x01 SYN 0x02 RST 0x04 PSH 0x08 ACK 0x10 URG 0x20 ECE 0x40 CWR 0x80).
    pub tcp_flags: u8,
    pub tcp_seq: u32,
    pub tcp_ack: u32,
    pub tcp_window: u16,
    /// Ethernet source address of the frame (the inner frame's for a tunnel with
    /// an Ethernet payload); all zero for link types without one.
    pub src_mac: [u8; 6],
    /// Set on inner packets of a tunnel: [`FlowBatch::tunnel`] gives the parent.
    pub tunnel: Option<TunnelRef>,
}

// Every flow packet is written once by the decoder and read once by the flow table;
// at 136 bytes (the tunnel parent inline) moving them was 174M of the 5.86G Ir of a
// 1-thread replay of mixed.pcap (memcpy from the worker's decode loop).  The fields
// take 83 bytes; keep new ones within the padding.
const _: () = assert!(std::mem::size_of::<FlowPacket>() <= 88);

impl FlowPacket {
    pub fn is_v6(&self) -> bool {
        self.tuple.af == AddrFamily::V6
    }
}

/// Where the decoder puts the flow packets of a captured packet, in order (outer
/// first).  `tunnel` is the parent of an inner packet of a tunnel; the sink stores it
/// and sets [`FlowPacket::tunnel`].  The pipeline's sink routes each packet straight
/// into its shard's [`FlowBatch`], so a flow packet is built in place once.
pub trait FlowSink {
    fn push(&mut self, p: FlowPacket, tunnel: Option<&TunnelParent>);
}

/// What routing learnt of a flow packet's key: its hash, and whether the packet
/// runs from the key's `hi` end.  The flow table takes both as they are instead of
/// deriving them from the tuple a second time (it rebuilds the key itself:
/// carrying its 48 bytes too cost more than the rebuild saved).
#[derive(Clone, Copy, Debug)]
pub struct Route {
    pub hash: u64,
    pub swapped: bool,
}

/// Flow packets bound for one flow table, with the tunnel parents of the tunnelled
/// ones kept apart, and optionally each packet's [`Route`] (when routing computed
/// it).  Derefs to the packets.
#[derive(Debug, Default)]
pub struct FlowBatch {
    packets: Vec<FlowPacket>,
    /// Empty, or one per packet.  Filled by [`FlowBatch::push_routed`] only.
    routes: Vec<Route>,
    tunnels: Vec<TunnelParent>,
}

impl FlowBatch {
    pub fn with_capacity(n: usize) -> FlowBatch {
        FlowBatch {
            packets: Vec::with_capacity(n),
            routes: Vec::with_capacity(n),
            tunnels: Vec::new(),
        }
    }

    pub fn clear(&mut self) {
        self.packets.clear();
        self.routes.clear();
        self.tunnels.clear();
    }

    /// The packets' routes, if every packet came with one.
    pub fn routes(&self) -> Option<&[Route]> {
        (self.routes.len() == self.packets.len()).then_some(&self.routes[..])
    }

    /// The tunnel parent of `p`, a packet of this batch.
    pub fn tunnel(&self, p: &FlowPacket) -> Option<&TunnelParent> {
        let i = p.tunnel?.0.get() - 1;
        self.tunnels.get(i as usize)
    }

    /// Appends `p` with its route; mixing with [`FlowSink::push`] in one batch
    /// drops the routes.
    #[inline]
    pub fn push_routed(&mut self, p: FlowPacket, tunnel: Option<&TunnelParent>, route: Route) {
        self.routes.push(route);
        self.push(p, tunnel);
    }
}

impl FlowSink for FlowBatch {
    #[inline]
    fn push(&mut self, mut p: FlowPacket, tunnel: Option<&TunnelParent>) {
        p.tunnel = tunnel.and_then(|t| {
            self.tunnels.push(*t);
            u32::try_from(self.tunnels.len())
                .ok()
                .and_then(std::num::NonZeroU32::new)
                .map(TunnelRef)
        });
        self.packets.push(p);
    }
}

impl std::ops::Deref for FlowBatch {
    type Target = [FlowPacket];
    fn deref(&self) -> &[FlowPacket] {
        &self.packets
    }
}

/// Why a packet (or its inner part) produced no flow packet.  One variant per counted kind.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("not an IP packet (ethertype {0:#06x})")]
    NotIp(u16),
    #[error("unsupported link type {0}")]
    UnsupportedLinkType(u32),
    #[error("truncated link-layer header")]
    TruncatedLink,
    #[error("truncated or invalid VLAN tag")]
    BadVlan,
    #[error("bad IPv4 header: {0}")]
    BadIpv4(&'static str),
    #[error("bad IPv6 header: {0}")]
    BadIpv6(&'static str),
    #[error("IP version nibble {0} is neither 4 nor 6")]
    BadIpVersion(u8),
    #[error("bad TCP header: {0}")]
    BadTcp(&'static str),
    #[error("bad UDP header: {0}")]
    BadUdp(&'static str),
    #[error("bad ICMP header: {0}")]
    BadIcmp(&'static str),
    #[error("bad SCTP header: {0}")]
    BadSctp(&'static str),
    #[error("bad tunnel header: {0}")]
    BadTunnel(&'static str),
    #[error("IP fragment held for reassembly")]
    FragmentHeld,
    #[error("IP fragment dropped: {0}")]
    FragmentDropped(&'static str),
    #[error("empty packet")]
    Empty,
}

impl DecodeError {
    /// Every kind's counter label, in [`DecodeError::ordinal`] order.
    pub const KINDS: [&'static str; 15] = [
        "not_ip",
        "unsupported_link_type",
        "truncated_link",
        "bad_vlan",
        "bad_ipv4",
        "bad_ipv6",
        "bad_ip_version",
        "bad_tcp",
        "bad_udp",
        "bad_icmp",
        "bad_sctp",
        "bad_tunnel",
        "fragment_held",
        "fragment_dropped",
        "empty",
    ];

    /// Stable counter label, e.g. `bad_ipv4`.
    pub fn kind(&self) -> &'static str {
        Self::KINDS[self.ordinal()]
    }

    /// This kind's index in [`DecodeError::KINDS`], for counting in an array.
    pub fn ordinal(&self) -> usize {
        match self {
            DecodeError::NotIp(_) => 0,
            DecodeError::UnsupportedLinkType(_) => 1,
            DecodeError::TruncatedLink => 2,
            DecodeError::BadVlan => 3,
            DecodeError::BadIpv4(_) => 4,
            DecodeError::BadIpv6(_) => 5,
            DecodeError::BadIpVersion(_) => 6,
            DecodeError::BadTcp(_) => 7,
            DecodeError::BadUdp(_) => 8,
            DecodeError::BadIcmp(_) => 9,
            DecodeError::BadSctp(_) => 10,
            DecodeError::BadTunnel(_) => 11,
            DecodeError::FragmentHeld => 12,
            DecodeError::FragmentDropped(_) => 13,
            DecodeError::Empty => 14,
        }
    }

    /// True for outcomes that are not failures of the input (non-IP traffic, fragments
    /// waiting for the rest of their datagram).  The summary lists them apart.
    pub fn is_benign(&self) -> bool {
        matches!(self, DecodeError::NotIp(_) | DecodeError::FragmentHeld)
    }
}

/// Per-worker decoder.  Holds the fragment reassembly state it shares with the
/// other workers' decoders (fragments are rare, so the shared table's lock is off
/// the common path).
pub struct Decoder {
    pub config: DecodeConfig,
    frags: Arc<Mutex<FragTable>>,
}

/// `n` decoders sharing one fragment reassembly table, one per worker thread:
/// fragments of one datagram may be hashed to different workers.
pub fn decoders(config: DecodeConfig, n: usize) -> Vec<Decoder> {
    let frags = Arc::new(Mutex::new(FragTable::default()));
    (0..n)
        .map(|_| Decoder {
            config: config.clone(),
            frags: Arc::clone(&frags),
        })
        .collect()
}

impl Decoder {
    /// Another decoder sharing this one's settings and fragment table (for a
    /// capture started later in a live run).
    pub fn sibling(&self) -> Decoder {
        Decoder {
            config: self.config.clone(),
            frags: Arc::clone(&self.frags),
        }
    }
}

/// Per-layer context carried down into tunnels, by reference: by value (with the
/// tunnel parent inline) it was copied at every layer.
struct Ctx<'t> {
    ts: Nanos,
    iface: u16,
    vlan: [u16; 2],
    src_mac: [u8; 6],
    tunnel: Option<&'t TunnelParent>,
    depth: u8,
}

impl Decoder {
    /// A decoder with its own reassembly table (single-threaded use, tests).
    pub fn new(config: DecodeConfig) -> Decoder {
        Decoder {
            config,
            frags: Arc::new(Mutex::new(FragTable::default())),
        }
    }

    /// Counters of the (possibly shared) reassembly table.
    pub fn fragment_stats(&self) -> FragmentStats {
        self.frags.lock().unwrap_or_else(|e| e.into_inner()).stats()
    }

    /// Decodes one captured packet, pushing one [`FlowPacket`] per flow it belongs
    /// to into `out` (outer first, then inner for tunnels).  On `Err`, whatever was
    /// pushed before the problem (e.g. the outer flow of a tunnel with a broken inner packet)
    /// is valid and should be processed.
    pub fn decode(
        &mut self,
        hdr: &PacketHeader,
        data: &[u8],
        out: &mut impl FlowSink,
    ) -> Result<(), DecodeError> {
        if data.is_empty() {
            return Err(DecodeError::Empty);
        }
        let lo = link::decode(hdr.link, data)?;
        let ctx = Ctx {
            ts: hdr.ts,
            iface: hdr.iface,
            vlan: lo.vlan,
            src_mac: if hdr.link == LinkType::Ethernet {
                link::ethernet_src(data)
            } else {
                NO_MAC
            },
            tunnel: None,
            depth: 0,
        };
        self.ip(&ctx, lo.l3, lo.data, out)
    }

    fn ip(
        &mut self,
        ctx: &Ctx<'_>,
        l3: link::L3,
        data: &[u8],
        out: &mut impl FlowSink,
    ) -> Result<(), DecodeError> {
        let info = ip::parse(l3, data)?;
        // Ports are the transport layer's to fill in.
        let mut tuple = FlowTuple {
            src: info.src,
            dst: info.dst,
            sport: 0,
            dport: 0,
            proto: info.proto,
            af: info.af,
        };
        let Some(f) = info.frag else {
            return self.emit(ctx, tuple, info.l4, info.l4_len, info.ip_len, out);
        };
        let key = FragKey {
            af: info.af,
            src: info.src,
            dst: info.dst,
            id: f.id,
            proto: f.next_header,
            vlan: ctx.vlan,
        };
        // The lock is held only for the table update, never while decoding (an inner
        // fragment of a tunnel would otherwise deadlock on it).
        let whole = self
            .frags
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .add(key, ctx.ts, f.offset, f.more, f.len, f.bytes)?;
        let len = whole.len() as u32;
        let (proto, off, ip_len) = match info.af {
            AddrFamily::V4 => (info.proto, 0, f.hdr_len + len),
            AddrFamily::V6 => {
                let w = ip::walk_ext(f.next_header, &whole, len, false)?;
                // The reassembled datagram has no fragment header (RFC 8200 4.5).
                (w.proto, w.offset, f.hdr_len.saturating_sub(8) + len)
            }
        };
        tuple.proto = proto;
        let l4 = whole.get(off as usize..).unwrap_or_default();
        self.emit(ctx, tuple, l4, len.saturating_sub(off), ip_len, out)
    }

    /// The flow packet of `tuple` (ports still 0), then the inner packet of a tunnel.
    fn emit(
        &mut self,
        ctx: &Ctx<'_>,
        mut tuple: FlowTuple,
        l4: &[u8],
        l4_len: u32,
        ip_len: u32,
        out: &mut impl FlowSink,
    ) -> Result<(), DecodeError> {
        let proto = tuple.proto;
        let t = transport::parse(tuple.af, proto, l4, l4_len)?;
        tuple.sport = t.sport;
        tuple.dport = t.dport;
        out.push(
            FlowPacket {
                ts: ctx.ts,
                tuple,
                vlan: ctx.vlan,
                key_vlan: if self.config.vlan_in_key {
                    ctx.vlan
                } else {
                    [NO_VLAN; 2]
                },
                iface: ctx.iface,
                ip_len,
                payload_len: t.payload_len,
                tcp_flags: t.tcp_flags,
                tcp_seq: t.tcp_seq,
                tcp_ack: t.tcp_ack,
                tcp_window: t.tcp_window,
                src_mac: ctx.src_mac,
                tunnel: None,
            },
            ctx.tunnel,
        );
        if proto == transport::UDP && t.sport == DNS_PORT {
            if let Some(names) = &self.config.passive_dns {
                names.observe_response(transport::udp_payload(&t, l4), ctx.ts);
            }
        }
        let Some(inner) = tunnel::detect(proto, &t, l4, l4_len)? else {
            return Ok(());
        };
        if ctx.depth >= MAX_TUNNEL_DEPTH {
            return Err(DecodeError::BadTunnel("tunnels nested too deep"));
        }
        let parent = TunnelParent {
            kind: inner.kind,
            outer: tuple,
        };
        let mut ictx = Ctx {
            tunnel: Some(&parent),
            depth: ctx.depth + 1,
            ..*ctx
        };
        match inner.link {
            tunnel::InnerLink::Ethernet => {
                let lo = link::ethernet(inner.data)?;
                ictx.vlan = lo.vlan;
                ictx.src_mac = link::ethernet_src(inner.data);
                self.ip(&ictx, lo.l3, lo.data, out)
            }
            tunnel::InnerLink::Ip(l3) => {
                ictx.src_mac = NO_MAC;
                self.ip(&ictx, l3, inner.data, out)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ip::tests::{v4, v6};
    use super::*;
    use crate::capture::LinkType;
    use crate::flow::key::addr_from_v4;
    use std::collections::HashMap;
    use std::path::{Path, PathBuf};

    fn hdr(link: LinkType, ts: Nanos) -> PacketHeader {
        PacketHeader {
            offset: 0,
            caplen: 0,
            orig_len: 0,
            ts,
            link,
            iface: 3,
            number: 1,
        }
    }

    fn eth(et: u16, rest: &[u8]) -> Vec<u8> {
        let mut v = vec![0u8; 12];
        v.extend_from_slice(&et.to_be_bytes());
        v.extend_from_slice(rest);
        v
    }

    fn tcp(sport: u16, dport: u16, flags: u8, payload: usize) -> Vec<u8> {
        let mut h = vec![0u8; 20 + payload];
        h[..2].copy_from_slice(&sport.to_be_bytes());
        h[2..4].copy_from_slice(&dport.to_be_bytes());
        h[4..8].copy_from_slice(&1000u32.to_be_bytes());
        h[12] = 5 << 4;
        h[13] = flags;
        h[14..16].copy_from_slice(&512u16.to_be_bytes());
        h
    }

    fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let mut h = Vec::new();
        h.extend_from_slice(&sport.to_be_bytes());
        h.extend_from_slice(&dport.to_be_bytes());
        h.extend_from_slice(&(8 + payload.len() as u16).to_be_bytes());
        h.extend_from_slice(&[0, 0]);
        h.extend_from_slice(payload);
        h
    }

    fn run(d: &mut Decoder, link: LinkType, p: &[u8]) -> (Result<(), DecodeError>, FlowBatch) {
        let mut out = FlowBatch::default();
        let r = d.decode(&hdr(link, 5), p, &mut out);
        (r, out)
    }

    const A: [u8; 4] = [10, 0, 0, 1];
    const B: [u8; 4] = [10, 0, 0, 2];

    #[test]
    fn ethernet_source_mac_is_carried_and_other_links_have_none() {
        let mut d = Decoder::new(DecodeConfig::default());
        let ip = v4(6, A, B, &tcp(40000, 80, 0x02, 0));
        let mut frame = eth(0x0800, &ip);
        frame[6..12].copy_from_slice(&[0x02, 0x42, 0xac, 0x12, 0x00, 0x05]);
        let (r, out) = run(&mut d, LinkType::Ethernet, &frame);
        r.unwrap();
        assert_eq!(out[0].src_mac, [0x02, 0x42, 0xac, 0x12, 0x00, 0x05]);
        let (r, out) = run(&mut d, LinkType::Raw, &ip);
        r.unwrap();
        assert_eq!(out[0].src_mac, NO_MAC);
    }

    #[test]
    fn ethernet_vlan_tcp() {
        let mut d = Decoder::new(DecodeConfig::default());
        let ip = v4(6, A, B, &tcp(40000, 80, 0x02, 10));
        let mut tagged = vec![0x00, 0x2a, 0x08, 0x00];
        tagged.extend_from_slice(&ip);
        let (r, out) = run(&mut d, LinkType::Ethernet, &eth(0x8100, &tagged));
        r.unwrap();
        let fp = out[0];
        assert_eq!(fp.tuple.src, addr_from_v4(A));
        assert_eq!(
            (fp.tuple.sport, fp.tuple.dport, fp.tuple.proto),
            (40000, 80, 6)
        );
        assert_eq!(
            (
                fp.ip_len,
                fp.payload_len,
                fp.tcp_flags,
                fp.tcp_seq,
                fp.tcp_window
            ),
            (50, 10, 2, 1000, 512)
        );
        assert_eq!(
            (fp.vlan, fp.key_vlan, fp.iface, fp.ts),
            ([42, NO_VLAN], [42, NO_VLAN], 3, 5)
        );
        assert!(fp.tunnel.is_none() && !fp.is_v6());
        let mut d = Decoder::new(DecodeConfig {
            vlan_in_key: false,
            ..DecodeConfig::default()
        });
        let (_, out) = run(&mut d, LinkType::Ethernet, &eth(0x8100, &tagged));
        assert_eq!(
            (out[0].vlan, out[0].key_vlan),
            ([42, NO_VLAN], [NO_VLAN; 2])
        );
    }

    #[test]
    fn every_error_kind_has_a_stable_label() {
        let mut d = Decoder::new(DecodeConfig::default());
        let cases: Vec<(LinkType, Vec<u8>, &str)> = vec![
            (LinkType::Ethernet, eth(0x0806, &[0; 28]), "not_ip"),
            (LinkType::Other(11), vec![1], "unsupported_link_type"),
            (LinkType::Ethernet, vec![0; 10], "truncated_link"),
            (LinkType::Ethernet, eth(0x8100, &[0]), "bad_vlan"),
            (LinkType::Ipv4, vec![0x45, 0, 0], "bad_ipv4"),
            (LinkType::Ipv6, vec![0x60; 30], "bad_ipv6"),
            (LinkType::Raw, vec![0x70; 30], "bad_ip_version"),
            (LinkType::Ipv4, v4(6, A, B, &[0; 10]), "bad_tcp"),
            (LinkType::Ipv4, v4(17, A, B, &[0; 4]), "bad_udp"),
            (LinkType::Ipv4, v4(1, A, B, &[8, 0]), "bad_icmp"),
            (LinkType::Ipv4, v4(132, A, B, &[0; 6]), "bad_sctp"),
            (LinkType::Ipv4, v4(47, A, B, &[0, 0]), "bad_tunnel"),
            (LinkType::Ethernet, vec![], "empty"),
        ];
        for (link, p, kind) in cases {
            let (r, _) = run(&mut d, link, &p);
            assert_eq!(r.unwrap_err().kind(), kind, "{kind}");
        }
        let mut frag = v4(17, A, B, &[0; 16]);
        frag[6] = 0x20; // MF
        assert_eq!(
            run(&mut d, LinkType::Ipv4, &frag).0.unwrap_err().kind(),
            "fragment_held"
        );
        assert_eq!(
            run(&mut d, LinkType::Ipv4, &frag).0.unwrap_err().kind(),
            "fragment_dropped"
        );
        assert!(DecodeError::NotIp(0).is_benign() && DecodeError::FragmentHeld.is_benign());
        assert!(!DecodeError::FragmentDropped("x").is_benign());
    }

    #[test]
    fn unknown_protocol_is_portless_and_ipv6_ext_headers_reach_tcp() {
        let mut d = Decoder::new(DecodeConfig::default());
        let (r, out) = run(&mut d, LinkType::Ipv4, &v4(46, A, B, &[1, 2, 3]));
        r.unwrap();
        assert_eq!(
            (
                out[0].tuple.proto,
                out[0].tuple.sport,
                out[0].tuple.dport,
                out[0].payload_len
            ),
            (46, 0, 0, 3)
        );
        let mut ext = vec![6, 0, 0, 0, 0, 0, 0, 0];
        ext.extend_from_slice(&tcp(1, 2, 0x10, 0));
        let (r, out) = run(&mut d, LinkType::Raw, &v6(0, [1; 16], [2; 16], &ext));
        r.unwrap();
        assert_eq!(
            (
                out[0].tuple.proto,
                out[0].tuple.dport,
                out[0].ip_len,
                out[0].payload_len
            ),
            (6, 2, 68, 0)
        );
        assert!(out[0].is_v6());
    }

    /// Splits the IPv4 packet `p` (no options) into pieces of `sizes` payload bytes.
    fn v4_fragments(p: &[u8], sizes: &[usize]) -> Vec<Vec<u8>> {
        let payload = &p[20..];
        let mut off = 0;
        let mut out = Vec::new();
        for (i, &n) in sizes.iter().enumerate() {
            let mut f = p[..20].to_vec();
            let more = i + 1 < sizes.len();
            let field = (off / 8) as u16 | if more { 0x2000 } else { 0 };
            f[6..8].copy_from_slice(&field.to_be_bytes());
            f[2..4].copy_from_slice(&(20 + n as u16).to_be_bytes());
            f.extend_from_slice(&payload[off..off + n]);
            out.push(f);
            off += n;
        }
        out
    }

    #[test]
    fn fragments_shared_between_decoders() {
        let mut ds = decoders(DecodeConfig::default(), 2);
        let p = v4(17, A, B, &udp(5353, 53, &[7; 40]));
        let frags = v4_fragments(&p, &[16, 16, 16]);
        // out of order, spread over both decoders
        assert_eq!(
            run(&mut ds[0], LinkType::Ipv4, &frags[2]).0,
            Err(DecodeError::FragmentHeld)
        );
        assert_eq!(
            run(&mut ds[1], LinkType::Ipv4, &frags[0]).0,
            Err(DecodeError::FragmentHeld)
        );
        assert_eq!(ds[0].fragment_stats().pending, 1);
        let (r, out) = run(&mut ds[0], LinkType::Ipv4, &frags[1]);
        r.unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(
            (
                out[0].tuple.sport,
                out[0].tuple.dport,
                out[0].ip_len,
                out[0].payload_len
            ),
            (5353, 53, 68, 40)
        );
        assert_eq!(ds[1].fragment_stats().completed, 1);
        // overlapping pieces are dropped
        let mut o = frags[1].clone();
        o[7] = 1; // offset 8 instead of 16: overlaps the first piece
        assert_eq!(
            run(&mut ds[0], LinkType::Ipv4, &frags[0]).0,
            Err(DecodeError::FragmentHeld)
        );
        assert_eq!(
            run(&mut ds[1], LinkType::Ipv4, &o).0,
            Err(DecodeError::FragmentDropped("overlapping fragments"))
        );
        // a decoder from new() has its own table
        let mut lone = Decoder::new(DecodeConfig::default());
        assert_eq!(
            run(&mut lone, LinkType::Ipv4, &frags[0]).0,
            Err(DecodeError::FragmentHeld)
        );
        assert_eq!(ds[0].fragment_stats().pending, 0);
    }

    #[test]
    fn ipv6_fragments_reassemble() {
        let mut d = Decoder::new(DecodeConfig::default());
        let body = udp(53, 40000, &[9; 30]); // 38 bytes
        let mk = |off: usize, more: bool, piece: &[u8]| {
            let field = ((off / 8) as u16) << 3 | more as u16;
            let mut fh = vec![17, 0];
            fh.extend_from_slice(&field.to_be_bytes());
            fh.extend_from_slice(&77u32.to_be_bytes());
            fh.extend_from_slice(piece);
            v6(44, [1; 16], [2; 16], &fh)
        };
        assert_eq!(
            run(&mut d, LinkType::Ipv6, &mk(24, false, &body[24..])).0,
            Err(DecodeError::FragmentHeld)
        );
        let (r, out) = run(&mut d, LinkType::Ipv6, &mk(0, true, &body[..24]));
        r.unwrap();
        assert_eq!(
            (
                out[0].tuple.proto,
                out[0].tuple.sport,
                out[0].ip_len,
                out[0].payload_len
            ),
            (17, 53, 78, 30)
        );
    }

    #[test]
    fn vxlan_and_gre_inner_flows() {
        let mut d = Decoder::new(DecodeConfig::default());
        let inner_ip = v4(
            1,
            [192, 168, 0, 1],
            [192, 168, 0, 2],
            &[8, 0, 0, 0, 0, 1, 0, 1],
        );
        let mut vx = vec![0x08, 0, 0, 0, 0, 0, 0x2a, 0];
        vx.extend_from_slice(&eth(
            0x8100,
            &[&[0x00, 0x07, 0x08, 0x00][..], &inner_ip].concat(),
        ));
        let outer = eth(0x0800, &v4(17, A, B, &udp(50000, 4789, &vx)));
        let (r, out) = run(&mut d, LinkType::Ethernet, &outer);
        r.unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!((out[0].tuple.dport, out.tunnel(&out[0])), (4789, None));
        let t = out.tunnel(&out[1]).unwrap();
        assert_eq!(
            (t.kind, t.outer),
            (TunnelKind::Vxlan { vni: 42 }, out[0].tuple)
        );
        assert_eq!(
            (out[1].tuple.proto, out[1].tuple.sport, out[1].tuple.dport),
            (1, 8, 0)
        );
        assert_eq!((out[1].vlan, out[1].iface), ([7, NO_VLAN], 3));
        // inner ARP: outer kept, benign error
        let mut vx_arp = vec![0x08, 0, 0, 0, 0, 0, 0x2a, 0];
        vx_arp.extend_from_slice(&eth(0x0806, &[0; 28]));
        let (r, out) = run(
            &mut d,
            LinkType::Ipv4,
            &v4(17, A, B, &udp(1, 4789, &vx_arp)),
        );
        assert_eq!((r, out.len()), (Err(DecodeError::NotIp(0x0806)), 1));
        // GRE in GRE: each inner names its nearest outer
        let innermost = v4(17, [3, 3, 3, 3], [4, 4, 4, 4], &udp(520, 520, &[0; 4]));
        let mid = v4(
            47,
            [5, 5, 5, 5],
            [6, 6, 6, 6],
            &[&[0, 0, 0x08, 0x00][..], &innermost].concat(),
        );
        let outer = v4(47, A, B, &[&[0, 0, 0x08, 0x00][..], &mid].concat());
        let (r, out) = run(&mut d, LinkType::Ipv4, &outer);
        r.unwrap();
        assert_eq!(out.len(), 3);
        assert_eq!(out.tunnel(&out[1]).unwrap().outer, out[0].tuple);
        assert_eq!(out.tunnel(&out[2]).unwrap().outer, out[1].tuple);
        assert_eq!((out[2].tuple.sport, out[2].tuple.proto), (520, 17));
        // depth cap
        let mut p = innermost.clone();
        for _ in 0..6 {
            p = v4(47, A, B, &[&[0, 0, 0x08, 0x00][..], &p].concat());
        }
        let (r, out) = run(&mut d, LinkType::Ipv4, &p);
        assert_eq!(r, Err(DecodeError::BadTunnel("tunnels nested too deep")));
        assert_eq!(out.len(), MAX_TUNNEL_DEPTH as usize + 1);
    }

    // ---- real captures -------------------------------------------------------------

    fn shared() -> Option<PathBuf> {
        let p = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/pcaps"));
        if p.is_dir() {
            return Some(p);
        }
        if std::env::var_os("CI").is_some() {
            panic!("{} missing and CI is set", p.display());
        }
        eprintln!("skipping: {} not found", p.display());
        None
    }

    /// Test-only classic pcap reader: (link type, [(ts, bytes)]).
    fn read_pcap(path: &Path) -> (LinkType, Vec<(Nanos, Vec<u8>)>) {
        let b = std::fs::read(path).unwrap();
        let magic = u32::from_le_bytes(b[..4].try_into().unwrap());
        let (le, nano) = match magic {
            0xa1b2c3d4 => (true, false),
            0xa1b23c4d => (true, true),
            0xd4c3b2a1 => (false, false),
            0x4d3cb2a1 => (false, true),
            m => panic!("{}: not classic pcap ({m:#x})", path.display()),
        };
        let u32_at = |o: usize| {
            let w: [u8; 4] = b[o..o + 4].try_into().unwrap();
            if le {
                u32::from_le_bytes(w)
            } else {
                u32::from_be_bytes(w)
            }
        };
        let link = LinkType::from_linktype(u32_at(20) & 0x0fff_ffff);
        let mut pkts = Vec::new();
        let mut o = 24;
        while o + 16 <= b.len() {
            let (s, frac, cap) = (
                u32_at(o) as i64,
                u32_at(o + 4) as i64,
                u32_at(o + 8) as usize,
            );
            let ts = s * 1_000_000_000 + if nano { frac } else { frac * 1000 };
            let end = (o + 16 + cap).min(b.len());
            pkts.push((ts, b[o + 16..end].to_vec()));
            o += 16 + cap;
        }
        (link, pkts)
    }

    fn decode_file(path: &Path) -> Vec<(Result<(), DecodeError>, FlowBatch)> {
        let (link, pkts) = read_pcap(path);
        let mut d = Decoder::new(DecodeConfig::default());
        pkts.iter()
            .map(|(ts, p)| {
                let mut out = FlowBatch::default();
                let r = d.decode(&hdr(link, *ts), p, &mut out);
                (r, out)
            })
            .collect()
    }

    #[test]
    fn real_vxlan_inner_icmp() {
        let Some(dir) = shared() else { return };
        let res = decode_file(&dir.join("zeek/tunnels/vxlan.pcap"));
        let inner: Vec<_> = res
            .iter()
            .flat_map(|(_, o)| o.iter().filter_map(|f| Some((f, *o.tunnel(f)?))))
            .collect();
        // 10 packets: ICMP echo inside VXLAN plus ARP (outer only)
        assert!(inner.iter().all(|(f, _)| f.tuple.proto == 1));
        assert!(!inner.is_empty());
        for (f, t) in &inner {
            assert!(matches!(t.kind, TunnelKind::Vxlan { .. }));
            assert_eq!(t.outer.dport, 4789);
            assert!(matches!((f.tuple.sport, f.tuple.dport), (8, 0) | (0, 8)));
        }
        let arp = res
            .iter()
            .filter(|(r, _)| *r == Err(DecodeError::NotIp(0x0806)))
            .count();
        assert_eq!(inner.len() + arp, 10);
    }

    #[test]
    fn real_qinq_vlan_ids_and_sll_and_raw() {
        let Some(dir) = shared() else { return };
        let res = decode_file(&dir.join("zeek/q-in-q.pcap"));
        let ok: Vec<_> = res.iter().flat_map(|(_, o)| o.iter()).collect();
        assert_eq!(ok.len(), 4, "tshark: 4 IPv4 frames");
        // Zeek's vlan-logging baseline names the ids
        let log = std::fs::read_to_string(dir.join("zeek/q-in-q.pcap.zeek-conn.vlan-logging.log"))
            .unwrap();
        for f in &ok {
            // vlan and inner_vlan are the last two columns
            let want = format!("\t{}\t{}", f.vlan[0], f.vlan[1]);
            assert!(
                log.lines().any(|l| l.ends_with(&want)),
                "vlan {:?} not in Zeek's log",
                f.vlan
            );
        }
        let res = decode_file(&dir.join("tcpdump/mptcp-v1.pcap"));
        assert_eq!(res.len(), 20);
        assert!(res
            .iter()
            .all(|(r, o)| r.is_ok() && o.len() == 1 && o[0].tuple.proto == 6));
        let res = decode_file(&dir.join("tcpdump/LINKTYPE_RAW_ipv4.pcap"));
        assert_eq!(res[0].1[0].tuple.dport, 53);
        let res = decode_file(&dir.join("tcpdump/LINKTYPE_RAW_ipv6.pcap"));
        assert!(res[0].1[0].is_v6());
    }

    #[test]
    fn real_malformed_captures() {
        let Some(dir) = shared() else { return };
        let first = |f: &str| decode_file(&dir.join(f)).remove(0).0;
        assert_eq!(
            first("tcpdump/udp-length-heapoverflow.pcap")
                .unwrap_err()
                .kind(),
            "bad_udp"
        );
        assert_eq!(
            first("tcpdump/ip6_frag_asan.pcap").unwrap_err().kind(),
            "bad_ipv6"
        );
        assert_eq!(
            first("tcpdump/ipv4_invalid_hdr_length.pcap")
                .unwrap_err()
                .kind(),
            "bad_ipv4"
        );
        assert_eq!(
            first("tcpdump/ipv4_invalid_length.pcap")
                .unwrap_err()
                .kind(),
            "bad_ipv4"
        );
        assert_eq!(
            first("tcpdump/ipv4_invalid_total_length_2.pcap")
                .unwrap_err()
                .kind(),
            "bad_ipv4"
        );
        assert_eq!(
            first("tcpdump/ipv6_invalid_length.pcap")
                .unwrap_err()
                .kind(),
            "bad_ipv6"
        );
        assert_eq!(
            first("zeek/trunc/ip4-trunc.pcap").unwrap_err().kind(),
            "bad_ipv4"
        );
        assert_eq!(
            first("zeek/trunc/ip6-trunc.pcap").unwrap_err().kind(),
            "bad_ipv6"
        );
        assert_eq!(
            first("zeek/trunc/ip6-ext-trunc.pcap").unwrap_err().kind(),
            "bad_ipv6"
        );
        assert_eq!(
            first("zeek/trunc/icmp-header-trunc.pcap")
                .unwrap_err()
                .kind(),
            "bad_icmp"
        );
        assert_eq!(
            first("zeek/trunc/trunc-hdr.pcap").unwrap_err().kind(),
            "truncated_link"
        );
        assert!(first("zeek/trunc/icmp-payload-trunc.pcap").is_ok());
        let kinds: Vec<_> = decode_file(&dir.join("tcpdump/ipv6-bad-version.pcap"))
            .into_iter()
            .map(|(r, _)| r.err().map(|e| e.kind()))
            .collect();
        assert_eq!(
            kinds,
            [None, Some("bad_ip_version"), None, Some("bad_ip_version")]
        );
        // TSO: total length 0 → captured length
        let res = decode_file(&dir.join("tcpdump/ipv4_tcp_http_xml_tso.pcap"));
        let (link, pkts) = read_pcap(&dir.join("tcpdump/ipv4_tcp_http_xml_tso.pcap"));
        assert_eq!(link, LinkType::Ethernet);
        assert_eq!(res[0].1[0].ip_len as usize, pkts[0].1.len() - 14);
        // total length 85 > 84 captured: tshark still counts the flow
        assert!(first("tcpdump/ipv4_invalid_total_length.pcap").is_ok());
    }

    /// tshark `conv,tcp`/`conv,udp` totals: undirected (addr:port pair) → frames.
    fn tshark_conv(path: &Path) -> HashMap<(String, String), u64> {
        let text = std::fs::read_to_string(path).unwrap();
        let mut m = HashMap::new();
        for line in text.lines() {
            let t: Vec<&str> = line.split_whitespace().collect();
            if t.len() > 9 && t[1] == "<->" {
                let (a, b) = (t[0].to_string(), t[2].to_string());
                let key = if a <= b { (a, b) } else { (b, a) };
                *m.entry(key).or_insert(0) += t[9].parse::<u64>().unwrap();
            }
        }
        m
    }

    fn our_conv(res: &[(Result<(), DecodeError>, FlowBatch)]) -> HashMap<(String, String), u64> {
        let mut m = HashMap::new();
        for f in res.iter().flat_map(|(_, o)| o.iter()) {
            if f.tuple.proto != 6 && f.tuple.proto != 17 {
                continue;
            }
            let a = format!("{}:{}", f.tuple.src_ip(), f.tuple.sport);
            let b = format!("{}:{}", f.tuple.dst_ip(), f.tuple.dport);
            let key = if a <= b { (a, b) } else { (b, a) };
            *m.entry(key).or_insert(0) += 1;
        }
        m
    }

    #[test]
    fn frame_counts_match_tshark_conversations() {
        let Some(dir) = shared() else { return };
        for f in [
            "zeek/ipv6-fragmented-dns.pcap",
            "zeek/q-in-q.pcap",
            "zeek/vlan-collisions.pcap",
            "zeek/http-qinq-0.pcap",
            "zeek/mixed-vlan-mpls.pcap",
            "zeek/pppoe-over-qinq.pcap",
            "zeek/tunnels/vxlan.pcap",
            "zeek/tunnels/gre-sample.pcap",
            "zeek/tunnels/gre-within-gre.pcap",
            "zeek/wikipedia.pcap",
            "tcpdump/802.1ad_QinQ.pcap",
            "tcpdump/mptcp-v1.pcap",
            "tcpdump/gso-ipv4-vxlan-ipv4.pcap",
            "suricata-verify/defrag/bug-6887-defrag-eth-vlan-ipv4-tcp-syn/frag-eth-vlan-ip-tcp-syn.pcap",
            "suricata-verify/defrag/bug-6887-defrag-eth-vlan-ipv6-tcp/frag-eth-vlan-ipv6-tcp.pcap",
        ] {
            let path = dir.join(f);
            let conv = PathBuf::from(format!("{}.tshark-conv.txt", path.display()));
            let want = tshark_conv(&conv);
            let got = our_conv(&decode_file(&path));
            assert_eq!(got, want, "{f}");
        }
    }

    /// Every classic pcap in the corpus decodes without panicking, and every packet
    /// either yields flow packets or a counted error.
    #[test]
    fn whole_corpus_never_panics() {
        let Some(dir) = shared() else { return };
        let mut stack = vec![dir];
        let mut files = 0;
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "pcap") {
                    for (r, o) in decode_file(&p) {
                        assert!(r.is_err() || !o.is_empty(), "{}", p.display());
                    }
                    files += 1;
                }
            }
        }
        assert!(files > 30);
    }
}
