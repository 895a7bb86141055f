//! Decoding: link layer → VLAN tags → IPv4/IPv6 (fragments, extension headers) →
//! TCP/UDP/ICMP/ICMPv6/SCTP, with `etherparse` slices over the packet's own bytes
//! (zero-copy).  Tunnels (VXLAN, GRE) yield the outer flow packet and then the inner
//! one, which names its outer tuple.  The output is a compact [`FlowPacket`] per flow
//! the packet belongs to: everything the flow table needs, nothing borrowed.
//!
//! Guarantee: no input panics.  Every packet that yields no flow packet is either
//! counted as not-IP (ARP, STP, ...) or returns a [`DecodeError`] whose
//! [`DecodeError::kind`] is the counter label.
//! (Stub: filled in by the decode work.)

use crate::capture::PacketHeader;
use crate::flow::key::{AddrFamily, FlowTuple, NO_VLAN};
use crate::time::Nanos;

/// Settings that change how packets map to flows.
#[derive(Clone, Debug)]
pub struct DecodeConfig {
    /// Put VLAN ids into the flow key (default true).  When false `FlowPacket::vlan`
    /// is still reported but `key_vlan` is all [`NO_VLAN`].
    pub vlan_in_key: bool,
}

impl Default for DecodeConfig {
    fn default() -> Self {
        DecodeConfig { vlan_in_key: true }
    }
}

/// Kind of tunnel an inner packet arrived in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TunnelKind {
    Vxlan { vni: u32 },
    Gre,
}

/// The outer flow of a tunnelled packet, in the outer packet's direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TunnelParent {
    pub kind: TunnelKind,
    pub outer: FlowTuple,
}

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
    /// Set on inner packets of a tunnel.
    pub tunnel: Option<TunnelParent>,
}

impl FlowPacket {
    pub fn is_v6(&self) -> bool {
        self.tuple.af == AddrFamily::V6
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
    BadIpv4(String),
    #[error("bad IPv6 header: {0}")]
    BadIpv6(String),
    #[error("IP version nibble {0} is neither 4 nor 6")]
    BadIpVersion(u8),
    #[error("bad TCP header: {0}")]
    BadTcp(String),
    #[error("bad UDP header: {0}")]
    BadUdp(String),
    #[error("bad ICMP header: {0}")]
    BadIcmp(String),
    #[error("bad SCTP header: {0}")]
    BadSctp(String),
    #[error("bad tunnel header: {0}")]
    BadTunnel(String),
    #[error("IP fragment held for reassembly")]
    FragmentHeld,
    #[error("IP fragment dropped: {0}")]
    FragmentDropped(String),
    #[error("empty packet")]
    Empty,
}

impl DecodeError {
    /// Stable counter label, e.g. `bad_ipv4`.
    pub fn kind(&self) -> &'static str {
        match self {
            DecodeError::NotIp(_) => "not_ip",
            DecodeError::UnsupportedLinkType(_) => "unsupported_link_type",
            DecodeError::TruncatedLink => "truncated_link",
            DecodeError::BadVlan => "bad_vlan",
            DecodeError::BadIpv4(_) => "bad_ipv4",
            DecodeError::BadIpv6(_) => "bad_ipv6",
            DecodeError::BadIpVersion(_) => "bad_ip_version",
            DecodeError::BadTcp(_) => "bad_tcp",
            DecodeError::BadUdp(_) => "bad_udp",
            DecodeError::BadIcmp(_) => "bad_icmp",
            DecodeError::BadSctp(_) => "bad_sctp",
            DecodeError::BadTunnel(_) => "bad_tunnel",
            DecodeError::FragmentHeld => "fragment_held",
            DecodeError::FragmentDropped(_) => "fragment_dropped",
            DecodeError::Empty => "empty",
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
}

impl Decoder {
    pub fn new(config: DecodeConfig) -> Decoder {
        Decoder { config }
    }

    /// Decodes one captured packet, appending one [`FlowPacket`] per flow it belongs
    /// to (outer first, then inner for tunnels).  On `Err`, whatever was appended
    /// before the problem (e.g. the outer flow of a tunnel with a broken inner packet)
    /// is valid and should be processed.
    pub fn decode(
        &mut self,
        hdr: &PacketHeader,
        data: &[u8],
        out: &mut Vec<FlowPacket>,
    ) -> Result<(), DecodeError> {
        let _ = (hdr, data, out, NO_VLAN);
        Err(DecodeError::Empty)
    }
}

/// `n` decoders for `n` workers. (Stub until the decode work lands.)
pub fn decoders(config: DecodeConfig, n: usize) -> Vec<Decoder> {
    (0..n).map(|_| Decoder::new(config.clone())).collect()
}
