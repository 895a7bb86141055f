//! Who is the originator of a flow that did not start with a TCP SYN: the sender of
//! the first packet, flipped when it looks like the server (likely server ports, as
//! Zeek does), plus the UDP/ICMP/other counterpart of [`super::tcp::TcpTracker`]
//! ([`UdpTracker`]: Zeek's UDP `conn_state` and `history`).
//!
//! Zeek's rule (IPBasedAnalyzer/UDP `WantConnection`): a UDP flow is flipped when the
//! first packet's source port is a likely server port and its destination port is not.
//! The port sets are those Zeek's default (non-`-b`) scripts add to
//! `likely_server_ports` — note DHCP adds only 67, so a server's 67→68 reply is flipped
//! and a client's 68→67 request is not.  TCP flips are decided by the TCP tracker itself
//! ([`super::tcp::TcpTracker::with_ports`]) because they depend on the first segment's
//! flags; the table should not call [`first_sender_is_responder`] for TCP.
//!
//! ICMP: Zeek never flips ICMP; this project's choice (per the flow design) is that an
//! echo/timestamp/information/mask reply (ICMPv6: echo reply, node information reply)
//! arriving first makes its sender the responder.  Unsolicited-prone replies such as
//! router/neighbour advertisements are left as Zeek logs them.

use super::key::{AddrFamily, FlowTuple};
use super::Side;

const ICMP: u8 = 1;
const TCP: u8 = 6;
const UDP: u8 = 17;
const ICMPV6: u8 = 58;

/// TCP ports Zeek's default analyzers add to `likely_server_ports`, sorted.
static TCP_SERVER_PORTS: &[u16] = &[
    21, 22, 25, 53, 80, 81, 88, 110, 135, 139, 143, 389, 443, 445, 502, 563, 585, 587, 614, 631,
    636, 989, 990, 992, 993, 995, 1080, 1723, 2049, 2811, 3128, 3268, 3306, 3389, 5222, 5223, 5269,
    5432, 6379, 6666, 6667, 6668, 6669, 8000, 8080, 8888, 9200, 20000, 27017,
];

/// UDP ports Zeek's default analyzers add to `likely_server_ports`, sorted.
/// 7437 is deliberately absent (Zeek's udp-broadcast baseline: 40190 → 7437 stays).
static UDP_SERVER_PORTS: &[u16] = &[
    53, 67, 69, 88, 111, 123, 137, 161, 162, 389, 443, 500, 514, 1812, 1813, 2049, 2123, 2152,
    3478, 3544, 4500, 4789, 5060, 5353, 5355, 6081,
];

/// Whether `port` is a likely server port for IP protocol `proto` (TCP or UDP).
pub fn is_likely_server_port(proto: u8, port: u16) -> bool {
    match proto {
        TCP => TCP_SERVER_PORTS.binary_search(&port).is_ok(),
        UDP => UDP_SERVER_PORTS.binary_search(&port).is_ok(),
        _ => false,
    }
}

/// Zeek's port heuristic for a TCP connection whose first segment carries no SYN:
/// flip when the source port is a likely server port and either the destination port
/// is not, or both are and the source port is the lower one.
pub fn tcp_midstream_first_sender_is_responder(sport: u16, dport: u16) -> bool {
    is_likely_server_port(TCP, sport) && (!is_likely_server_port(TCP, dport) || sport < dport)
}

/// True when the first packet's sender (`first.src`) is probably the responder.
/// Meant for UDP, ICMP and other protocols; TCP flips are the TCP tracker's business.
pub fn first_sender_is_responder(first: &FlowTuple) -> bool {
    // Zeek never makes a broadcast or multicast address the originator (its
    // udp-broadcast-no-flip and DHCP baselines: 67 -> 255.255.255.255:68 stays).
    if is_broadcast_or_multicast(first) {
        return false;
    }
    match first.proto {
        UDP => is_likely_server_port(UDP, first.sport) && !is_likely_server_port(UDP, first.dport),
        // Type in `sport`: echo reply, timestamp reply, information reply, mask reply.
        ICMP => matches!(first.sport, 0 | 14 | 16 | 18),
        // Echo reply, node information reply.
        ICMPV6 => matches!(first.sport, 129 | 140),
        _ => false,
    }
}

fn is_broadcast_or_multicast(t: &FlowTuple) -> bool {
    match t.af {
        AddrFamily::V4 => {
            let d = &t.dst[12..16];
            d == [255, 255, 255, 255] || (224..=239).contains(&d[0])
        }
        AddrFamily::V6 => t.dst[0] == 0xff,
    }
}

/// UDP (and ICMP/other) connection summary in Zeek's terms.  Zeek's UDP analyzer marks
/// an endpoint active on its first packet and records `D`/`d` once per side (upper case
/// = originator); a flip at creation is recorded as a leading `^`.  ICMP and other
/// protocols get `OTH` and an empty history (Zeek logs `-`): build the tracker with
/// [`UdpTracker::new_other`].
#[derive(Clone, Copy, Debug, Default)]
pub struct UdpTracker {
    payload: [u64; 2],
    seen: [bool; 2],
    orig_b: bool,
    udp: bool,
}

impl UdpTracker {
    /// A UDP flow whose first packet came from side A; `orig` from
    /// [`first_sender_is_responder`] (`Side::B` when it returned true).
    pub fn new(orig: Side) -> UdpTracker {
        UdpTracker {
            orig_b: orig == Side::B,
            udp: true,
            ..UdpTracker::default()
        }
    }

    /// An ICMP or other non-TCP/UDP flow: `conn_state` is always `OTH`, no history.
    pub fn new_other(orig: Side) -> UdpTracker {
        UdpTracker {
            orig_b: orig == Side::B,
            udp: false,
            ..UdpTracker::default()
        }
    }

    /// Feeds one packet sent by `side` with `payload_len` transport payload bytes.
    #[inline]
    pub fn update(&mut self, side: Side, payload_len: u32) {
        let i = side.index();
        if let (Some(s), Some(p)) = (self.seen.get_mut(i), self.payload.get_mut(i)) {
            *s = true;
            *p = p.saturating_add(u64::from(payload_len));
        }
    }

    pub fn orig_side(&self) -> Side {
        if self.orig_b {
            Side::B
        } else {
            Side::A
        }
    }

    fn seen(&self, side: Side) -> bool {
        self.seen.get(side.index()).copied().unwrap_or(false)
    }

    /// Zeek's `conn_state`: SF both sent, S0 only the originator, SHR only the
    /// responder, OTH otherwise (and always for non-UDP).
    pub fn conn_state(&self) -> &'static str {
        if !self.udp {
            return "OTH";
        }
        let o = self.orig_side();
        match (self.seen(o), self.seen(o.other())) {
            (true, true) => "SF",
            (true, false) => "S0",
            (false, true) => "SHR",
            (false, false) => "OTH",
        }
    }

    /// Appends Zeek's `history`: `^` when flipped, then `D`/`d` in order of first
    /// packet per side (A always sends first).
    pub fn write_history(&self, out: &mut impl Extend<char>) {
        if !self.udp {
            return;
        }
        out.extend(self.orig_b.then_some('^'));
        for side in [Side::A, Side::B] {
            if self.seen(side) {
                out.extend([if side == self.orig_side() { 'D' } else { 'd' }]);
            }
        }
    }

    /// Payload bytes sent by `side` (Zeek's UDP `orig_bytes`/`resp_bytes`).
    pub fn payload_bytes(&self, side: Side) -> u64 {
        self.payload.get(side.index()).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::key::{addr_from_v4, AddrFamily};

    fn t(proto: u8, sport: u16, dport: u16) -> FlowTuple {
        FlowTuple {
            src: addr_from_v4([10, 0, 0, 1]),
            dst: addr_from_v4([10, 0, 0, 2]),
            sport,
            dport,
            proto,
            af: AddrFamily::V4,
        }
    }

    #[test]
    fn port_lists_are_sorted() {
        assert!(TCP_SERVER_PORTS.windows(2).all(|w| w[0] < w[1]));
        assert!(UDP_SERVER_PORTS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn udp_flips_like_zeek_baselines() {
        // udp-broadcast: 40190 -> 7437 not flipped.
        assert!(!first_sender_is_responder(&t(UDP, 40190, 7437)));
        // DNS response first: flipped (wikipedia/Teredo/dhcp baselines show `^d`).
        assert!(first_sender_is_responder(&t(UDP, 53, 40000)));
        assert!(first_sender_is_responder(&t(UDP, 3544, 3797)));
        // DHCP: server 67 -> 68 flipped (dhcp.pcap `^d`), client 68 -> 67 not.
        assert!(first_sender_is_responder(&t(UDP, 67, 68)));
        assert!(!first_sender_is_responder(&t(UDP, 68, 67)));
        // Both likely (mDNS 5353 <-> 5353, NTP 123 <-> 123): never flipped by ports.
        assert!(!first_sender_is_responder(&t(UDP, 5353, 5353)));
        assert!(!first_sender_is_responder(&t(UDP, 123, 123)));
    }

    #[test]
    fn icmp_reply_first_is_responder() {
        assert!(first_sender_is_responder(&t(ICMP, 0, 8)));
        assert!(!first_sender_is_responder(&t(ICMP, 8, 0)));
        assert!(!first_sender_is_responder(&t(ICMP, 3, 1)));
        assert!(first_sender_is_responder(&t(ICMPV6, 129, 128)));
        assert!(!first_sender_is_responder(&t(ICMPV6, 134, 133)));
        assert!(!first_sender_is_responder(&t(47, 0, 0)));
    }

    #[test]
    fn tcp_midstream_rule() {
        assert!(tcp_midstream_first_sender_is_responder(80, 40000));
        assert!(!tcp_midstream_first_sender_is_responder(40000, 80));
        // Both likely: flip only when the source port is the lower.
        assert!(tcp_midstream_first_sender_is_responder(80, 8080));
        assert!(!tcp_midstream_first_sender_is_responder(8080, 80));
    }

    fn hist(u: &UdpTracker) -> String {
        let mut s = String::new();
        u.write_history(&mut s);
        s
    }

    #[test]
    fn udp_states_and_histories() {
        // DNS query + answer: SF Dd (wikipedia.pcap).
        let mut u = UdpTracker::new(Side::A);
        u.update(Side::A, 38);
        u.update(Side::B, 89);
        assert_eq!((u.conn_state(), hist(&u).as_str()), ("SF", "Dd"));
        assert_eq!(
            (u.payload_bytes(Side::A), u.payload_bytes(Side::B)),
            (38, 89)
        );
        // mDNS one-way: S0 D.
        let mut u = UdpTracker::new(Side::A);
        u.update(Side::A, 73);
        u.update(Side::A, 73);
        assert_eq!((u.conn_state(), hist(&u).as_str()), ("S0", "D"));
        // DHCP server reply only, flipped: SHR ^d (dhcp.pcap).
        let mut u = UdpTracker::new(Side::B);
        u.update(Side::A, 300);
        assert_eq!((u.conn_state(), hist(&u).as_str()), ("SHR", "^d"));
        assert_eq!(u.orig_side(), Side::B);
        // ICMP: OTH, no history.
        let mut u = UdpTracker::new_other(Side::A);
        u.update(Side::A, 56);
        u.update(Side::B, 56);
        assert_eq!((u.conn_state(), hist(&u).as_str()), ("OTH", ""));
    }
}
