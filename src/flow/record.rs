//! Flow records: what a finished (or evicted) flow becomes.  Field names follow
//! Zeek's `conn.log` where one exists, so SIEM users recognise them; the JSON form
//! is one object per line (see the README's schema table).

use super::community_id::CommunityId;
use super::inline_str::InlineStr;
pub use super::uid::Uid;
use crate::time::{rfc3339_micros_bytes, six_digits, write_rfc3339_micros, Nanos, NANOS_PER_SEC};
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use std::net::IpAddr;

/// Zeek's `history` letters, in place: TCP keeps at most 19 letters, UDP 3.
pub type History = InlineStr<22>;

/// Why a flow's record was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// No packet for longer than the flow's state timeout (packet time).
    Timeout,
    /// The same 5-tuple started a new connection (a SYN after close or reset).
    Reused,
    /// Pushed out of a full table (`--max-flows`).
    Evicted,
    /// Still open when the input ended.
    EndOfInput,
    /// Not an end: an interim record of a flow still open, written because it has
    /// been active longer than the active timeout (live capture, NetFlow's term).
    ActiveTimeout,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Timeout => "timeout",
            EndReason::Reused => "reused",
            EndReason::Evicted => "evicted",
            EndReason::EndOfInput => "end_of_input",
            EndReason::ActiveTimeout => "active_timeout",
        }
    }
}

/// The tunnel an inner flow was carried in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TunnelInfo {
    /// `vxlan` or `gre`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// VXLAN or Geneve network identifier.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vni: Option<u32>,
    /// GTP-U tunnel endpoint identifier.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub teid: Option<u32>,
    /// Community ID of the outer flow (the flow record it names).
    pub outer_community_id: CommunityId,
    pub outer_orig_h: IpAddr,
    pub outer_resp_h: IpAddr,
}

/// A 48-bit MAC address, written `aa:bb:cc:dd:ee:ff` (lowercase, as Zeek and
/// Docker write it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MacAddr(pub [u8; 6]);

impl std::fmt::Display for MacAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl std::str::FromStr for MacAddr {
    type Err = ();
    /// Six hex pairs separated by `:` or `-`, either case.
    fn from_str(s: &str) -> Result<MacAddr, ()> {
        let mut out = [0u8; 6];
        let mut parts = s.split([':', '-']);
        for b in out.iter_mut() {
            let p = parts.next().ok_or(())?;
            if p.len() != 2 {
                return Err(());
            }
            *b = u8::from_str_radix(p, 16).map_err(|_| ())?;
        }
        match parts.next() {
            None => Ok(MacAddr(out)),
            Some(_) => Err(()),
        }
    }
}

impl Serialize for MacAddr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The record's form of a flow side's first source MAC: all zero means none.
#[inline]
pub fn mac_of(b: [u8; 6]) -> Option<MacAddr> {
    (b != [0; 6]).then_some(MacAddr(b))
}

/// One finished flow, in originator/responder terms.
#[derive(Clone, Debug, PartialEq)]
pub struct FlowRecord {
    /// Time of the first packet.
    pub ts: Nanos,
    /// Time of the last packet.
    pub end: Nanos,
    /// Deterministic flow id (`C` + base62), the same on every run and thread count.
    pub uid: Uid,
    /// Transport: `tcp`, `udp`, `icmp`, `icmp6`, `sctp`, or the IP protocol number as
    /// text ([`proto_name`]).
    pub proto: &'static str,
    pub proto_num: u8,
    pub orig_h: IpAddr,
    pub orig_p: u16,
    pub resp_h: IpAddr,
    pub resp_p: u16,
    pub orig_pkts: u64,
    pub orig_ip_bytes: u64,
    pub orig_bytes: u64,
    pub resp_pkts: u64,
    pub resp_ip_bytes: u64,
    pub resp_bytes: u64,
    pub conn_state: &'static str,
    pub history: History,
    /// Empty in flow-start records of rule sets that never read it (see
    /// [`crate::flow::table::TableConfig::start_community_id`]).
    pub community_id: CommunityId,
    /// Outer VLAN id.
    pub vlan: Option<u16>,
    /// Inner VLAN id (QinQ).
    pub inner_vlan: Option<u16>,
    /// Interface name from the capture (pcapng `if_name`), or its index when unnamed.
    pub iface: Option<std::sync::Arc<str>>,
    /// Ethernet source address of the originator's first packet (Zeek's
    /// `orig_l2_addr`); `None` for link types without MACs.
    pub orig_l2_addr: Option<MacAddr>,
    /// Ethernet source address of the responder's first packet; `None` when the
    /// responder sent nothing or the link type has no MACs.
    pub resp_l2_addr: Option<MacAddr>,
    /// Boxed: rare, and three times the size of the rest of the record's optional
    /// parts; every record is moved several times between table and outputs.
    pub tunnel: Option<Box<TunnelInfo>>,
    pub end_reason: EndReason,
}

impl FlowRecord {
    /// A connection attempt from `orig` to `resp` at `ts`: one packet of 60 IP bytes,
    /// no answer (`S0`, history `S`), no VLAN, interface, MAC or tunnel.  The one
    /// hand-built record that tests, benches and fuzz targets start from, setting what
    /// they vary with `FlowRecord { field: .., ..FlowRecord::attempt(..) }`, so a new
    /// field is added here once.
    #[doc(hidden)]
    pub fn attempt(
        ts: Nanos,
        orig: (IpAddr, u16),
        resp: (IpAddr, u16),
        proto_num: u8,
    ) -> FlowRecord {
        FlowRecord {
            ts,
            end: ts,
            uid: Uid::default(),
            proto: proto_name(proto_num),
            proto_num,
            orig_h: orig.0,
            orig_p: orig.1,
            resp_h: resp.0,
            resp_p: resp.1,
            orig_pkts: 1,
            orig_ip_bytes: 60,
            orig_bytes: 0,
            resp_pkts: 0,
            resp_ip_bytes: 0,
            resp_bytes: 0,
            conn_state: "S0",
            history: "S".into(),
            community_id: "1:x".into(),
            vlan: None,
            inner_vlan: None,
            iface: None,
            orig_l2_addr: None,
            resp_l2_addr: None,
            tunnel: None,
            end_reason: EndReason::Timeout,
        }
    }

    /// The flow's tuple in originator → responder direction.
    pub fn tuple(&self) -> crate::flow::key::FlowTuple {
        use crate::flow::key::{addr_from_v4, AddrFamily, FlowTuple};
        let (af, src, dst) = match (self.orig_h, self.resp_h) {
            (IpAddr::V4(a), IpAddr::V4(b)) => (
                AddrFamily::V4,
                addr_from_v4(a.octets()),
                addr_from_v4(b.octets()),
            ),
            (a, b) => {
                let v6 = |ip: IpAddr| match ip {
                    IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
                    IpAddr::V6(v6) => v6.octets(),
                };
                (AddrFamily::V6, v6(a), v6(b))
            }
        };
        FlowTuple {
            src,
            dst,
            sport: self.orig_p,
            dport: self.resp_p,
            proto: self.proto_num,
            af,
        }
    }

    /// Flow duration in seconds.
    pub fn duration_secs(&self) -> f64 {
        (self.end - self.ts) as f64 / NANOS_PER_SEC as f64
    }

    /// Appends the record as one JSON line (with the trailing newline).
    ///
    /// Written by hand rather than through serde: at a quarter of a million records a
    /// second, serde's map serialiser and `fmt`-based timestamps were 20% of a replay's
    /// time in `perf` (bench: mixed.pcap, 2M packets).  The output is the same JSON
    /// object as the `Serialize` impl (checked by a test), with `duration` in fixed
    /// microseconds.
    ///
    /// `uid`, `proto`, `conn_state`, `history` and `community_id` are written without
    /// an escape scan: the table makes them from fixed alphabets (base62, protocol
    /// names, Zeek's states and history letters, base64), never from packet bytes.
    /// The scan of those five was 1,000 of this function's 3,500 instructions a record
    /// (callgrind, mixed.pcap); a debug assertion keeps hand-built records honest.
    pub fn write_json_line(&self, out: &mut Vec<u8>) {
        // Each key goes out as one literal with its separators (and the quotes of the
        // values either side): a call per byte run was most of this function's cost.
        out.reserve(640);
        out.extend_from_slice(br#"{"ts":""#);
        out.extend_from_slice(&rfc3339_micros_bytes(self.ts));
        out.extend_from_slice(br#"","end":""#);
        out.extend_from_slice(&rfc3339_micros_bytes(self.end));
        out.extend_from_slice(br#"","duration":"#);
        write_duration(out, self.end.saturating_sub(self.ts));
        out.extend_from_slice(br#","uid":""#);
        self.uid.write_to(out);
        out.extend_from_slice(br#"","proto":""#);
        write_plain(out, self.proto);
        out.extend_from_slice(br#"","orig_h":""#);
        write_ip(out, &self.orig_h);
        out.extend_from_slice(br#"","orig_p":"#);
        write_u64(out, self.orig_p as u64);
        out.extend_from_slice(br#","resp_h":""#);
        write_ip(out, &self.resp_h);
        out.extend_from_slice(br#"","resp_p":"#);
        write_u64(out, self.resp_p as u64);
        out.extend_from_slice(br#","orig_pkts":"#);
        write_u64(out, self.orig_pkts);
        out.extend_from_slice(br#","orig_ip_bytes":"#);
        write_u64(out, self.orig_ip_bytes);
        out.extend_from_slice(br#","orig_bytes":"#);
        write_u64(out, self.orig_bytes);
        out.extend_from_slice(br#","resp_pkts":"#);
        write_u64(out, self.resp_pkts);
        out.extend_from_slice(br#","resp_ip_bytes":"#);
        write_u64(out, self.resp_ip_bytes);
        out.extend_from_slice(br#","resp_bytes":"#);
        write_u64(out, self.resp_bytes);
        out.extend_from_slice(br#","conn_state":""#);
        write_plain(out, self.conn_state);
        out.extend_from_slice(br#"","history":""#);
        write_plain_inline(out, &self.history);
        out.extend_from_slice(br#"","community_id":""#);
        write_plain_inline(out, &self.community_id);
        out.extend_from_slice(br#"","vlan":"#);
        write_opt_u64(out, self.vlan);
        out.extend_from_slice(br#","inner_vlan":"#);
        write_opt_u64(out, self.inner_vlan);
        out.extend_from_slice(br#","iface":"#);
        match &self.iface {
            Some(i) => write_json_str(out, i),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(br#","orig_l2_addr":"#);
        write_opt_mac(out, self.orig_l2_addr);
        out.extend_from_slice(br#","resp_l2_addr":"#);
        write_opt_mac(out, self.resp_l2_addr);
        out.extend_from_slice(br#","tunnel":"#);
        match &self.tunnel {
            None => out.extend_from_slice(b"null"),
            // Rare (tunnelled flows only): serde is fine here.
            Some(t) => {
                if serde_json::to_writer(&mut *out, t).is_err() {
                    out.extend_from_slice(b"null");
                }
            }
        }
        out.extend_from_slice(match self.end_reason {
            EndReason::Timeout => b",\"end_reason\":\"timeout\"}\n".as_slice(),
            EndReason::Reused => b",\"end_reason\":\"reused\"}\n",
            EndReason::Evicted => b",\"end_reason\":\"evicted\"}\n",
            EndReason::EndOfInput => b",\"end_reason\":\"end_of_input\"}\n",
            EndReason::ActiveTimeout => b",\"end_reason\":\"active_timeout\"}\n",
        });
    }
}

/// A string value from one of the record's fixed alphabets, between quotes the
/// caller writes: nothing in it needs escaping (see [`FlowRecord::write_json_line`]).
#[inline]
fn write_plain(out: &mut Vec<u8>, s: &str) {
    debug_assert!(!needs_escape(s.as_bytes()), "{s:?} needs JSON escaping");
    out.extend_from_slice(s.as_bytes());
}

/// [`write_plain`] for an in-place string.
#[inline]
fn write_plain_inline<const N: usize>(out: &mut Vec<u8>, s: &InlineStr<N>) {
    write_plain(out, s);
}

/// Appends the first `len` bytes of `buf` by copying all `K` (a constant size: a few
/// moves, where a variable-length append is a `memcpy` call, 15 per record and 52M
/// instructions for 235k records, callgrind, mixed.pcap) and trimming the rest.
#[inline(always)]
fn put_padded<const K: usize>(out: &mut Vec<u8>, buf: &[u8; K], len: usize) {
    let at = out.len();
    out.extend_from_slice(buf);
    out.truncate(at + len.min(K));
}

fn write_opt_u64(out: &mut Vec<u8>, v: Option<u16>) {
    match v {
        Some(v) => write_u64(out, v as u64),
        None => out.extend_from_slice(b"null"),
    }
}

/// `"aa:bb:cc:dd:ee:ff"` (with the quotes) or `null`, in one append: a push per byte
/// cost 150 instructions a MAC (callgrind, mixed.pcap).
fn write_opt_mac(out: &mut Vec<u8>, mac: Option<MacAddr>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let Some(MacAddr(b)) = mac else {
        out.extend_from_slice(b"null");
        return;
    };
    let mut s = *b"\"00:00:00:00:00:00\"";
    for (i, byte) in b.iter().enumerate() {
        s[1 + 3 * i] = HEX[(byte >> 4) as usize];
        s[2 + 3 * i] = HEX[(byte & 0xf) as usize];
    }
    out.extend_from_slice(&s);
}

/// IPv4 dotted quad from a table of octet digits, one append; IPv6 through `fmt`
/// (RFC 5952's zero compression).  Four `itoa` calls and three pushes were 240
/// instructions an IPv4 address (callgrind, mixed.pcap).
fn write_ip(out: &mut Vec<u8>, ip: &IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            // Each octet's digits and a dot, shifted into place in one 16-byte word:
            // no per-octet bounds checks or appends.
            let mut acc = 0u128;
            let mut n = 0;
            for o in v4.octets() {
                let (dotted, len) = OCTETS[usize::from(o)];
                acc |= u128::from(dotted) << (8 * n);
                n += usize::from(len) + 1;
            }
            // `n` counts the last octet's dot, which is not written.
            put_padded(out, &acc.to_le_bytes(), n - 1);
        }
        IpAddr::V6(v6) => write_ipv6(out, v6),
    }
}

/// `v6` as std's `Display` writes it (RFC 5952: lowercase hex without leading zeros,
/// the first longest run of two or more zero groups as `::`, IPv4-mapped addresses
/// as `::ffff:a.b.c.d`), in one fixed-size append.  Through `fmt` it cost 1,500
/// instructions an address (callgrind, mixed.pcap: 35M for 23k IPv6 addresses).
fn write_ipv6(out: &mut Vec<u8>, v6: &std::net::Ipv6Addr) {
    if let Some(v4) = v6.to_ipv4_mapped() {
        out.extend_from_slice(b"::ffff:");
        write_ip(out, &IpAddr::V4(v4));
        return;
    }
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let seg = v6.segments();
    // The first longest run of zero groups (std's choice on ties).
    let (mut best, mut best_len, mut run, mut run_len) = (0, 0, 0, 0);
    for (i, &g) in seg.iter().enumerate() {
        if g == 0 {
            if run_len == 0 {
                run = i;
            }
            run_len += 1;
            if run_len > best_len {
                (best, best_len) = (run, run_len);
            }
        } else {
            run_len = 0;
        }
    }
    let mut buf = [0u8; 40];
    let mut n = 0;
    let mut i = 0;
    while i < 8 {
        if best_len > 1 && i == best {
            // `::` in place of the run: the group before it wrote one colon already.
            buf[n] = b':';
            n += 1;
            if i == 0 {
                buf[n] = b':';
                n += 1;
            }
            i += best_len;
            continue;
        }
        let g = seg[i];
        let digits = (4 - g.leading_zeros() as usize / 4).max(1);
        for d in (0..digits).rev() {
            buf[n] = HEX[usize::from((g >> (4 * d)) & 0xf)];
            n += 1;
        }
        if i < 7 {
            buf[n] = b':';
            n += 1;
        }
        i += 1;
    }
    put_padded(out, &buf, n);
}

/// Each octet's decimal digits followed by a dot, as little-endian bytes of a `u32`,
/// and how many digits there are.
static OCTETS: [(u32, u8); 256] = {
    let mut t = [(0u32, 0u8); 256];
    let mut i = 0;
    while i < 256 {
        let (d, len) = decimal(i as u8);
        let mut word = [0u8; 4];
        let mut j = 0;
        while j < len {
            word[j] = d[j];
            j += 1;
        }
        word[len] = b'.';
        t[i] = (u32::from_le_bytes(word), len as u8);
        i += 1;
    }
    t
};

/// The decimal digits of `n` (first `len` bytes of the array): the one digit
/// generator behind [`OCTETS`] and [`DECIMALS_0_TO_255`].
const fn decimal(n: u8) -> ([u8; 3], usize) {
    let (h, d, u) = (b'0' + n / 100, b'0' + n / 10 % 10, b'0' + n % 10);
    if n >= 100 {
        ([h, d, u], 3)
    } else if n >= 10 {
        ([d, u, 0], 2)
    } else {
        ([u, 0, 0], 1)
    }
}

/// Decimal digits of `v` (itoa: two digits per step, no division per digit).  A
/// table-driven writer into a fixed buffer ([`put_padded`]) measured worse: 57
/// instructions a number against itoa's 17 plus a short `memcpy` (callgrind, mixed.pcap),
/// and no faster in wall time (0.52 s against 0.53 s, mixed `--threads 1`, median of 11).
pub(crate) fn write_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// Seconds with six decimals (microseconds), like Zeek's `duration`.
fn write_duration(out: &mut Vec<u8>, ns: Nanos) {
    let ns = ns.max(0) as u64;
    write_u64(out, ns / 1_000_000_000);
    let micros = ((ns % 1_000_000_000) / 1_000) as u32;
    let d = six_digits(micros);
    out.extend_from_slice(&[b'.', d[0], d[1], d[2], d[3], d[4], d[5]]);
}

/// Whether `b` holds a byte JSON output must escape: a control character, `"`, `\`
/// or DEL.  Eight bytes per step (the bit tricks of "Bit Twiddling Hacks": `hasless`
/// and `haszero`, exact as a yes/no answer for the whole word); bytes of multi-byte
/// UTF-8 characters have the top bit set and never match.
#[inline]
fn needs_escape(b: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    let special = |w: u64| {
        let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
        let below_space = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
        let hits = below_space
            | has_zero(w ^ (ONES * u64::from(b'"')))
            | has_zero(w ^ (ONES * u64::from(b'\\')))
            | has_zero(w ^ (ONES * 0x7f));
        hits != 0
    };
    let mut words = b.chunks_exact(8);
    for w in &mut words {
        let mut a = [0u8; 8];
        a.copy_from_slice(w);
        if special(u64::from_ne_bytes(a)) {
            return true;
        }
    }
    let rest = words.remainder();
    // Pad with a byte that never needs escaping.
    let mut a = [b'a'; 8];
    a[..rest.len()].copy_from_slice(rest);
    special(u64::from_ne_bytes(a))
}

/// A JSON string literal: quotes, backslashes and control characters escaped, so a
/// name taken from a capture can never break the line or forge a key.
pub(crate) fn write_json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    // Nearly every string here (names, labels) needs no escaping.
    if !needs_escape(bytes) {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f | 0x7f => {
                out.extend_from_slice(&bytes[start..i]);
                out.extend_from_slice(format!("\\u{:04x}", b).as_bytes());
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(esc);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

fn ts_string(t: Nanos) -> String {
    let mut s = String::with_capacity(27);
    write_rfc3339_micros(&mut s, t);
    s
}

impl Serialize for FlowRecord {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("ts", &ts_string(self.ts))?;
        m.serialize_entry("end", &ts_string(self.end))?;
        m.serialize_entry("duration", &self.duration_secs())?;
        m.serialize_entry("uid", &self.uid)?;
        m.serialize_entry("proto", &self.proto)?;
        m.serialize_entry("orig_h", &self.orig_h)?;
        m.serialize_entry("orig_p", &self.orig_p)?;
        m.serialize_entry("resp_h", &self.resp_h)?;
        m.serialize_entry("resp_p", &self.resp_p)?;
        m.serialize_entry("orig_pkts", &self.orig_pkts)?;
        m.serialize_entry("orig_ip_bytes", &self.orig_ip_bytes)?;
        m.serialize_entry("orig_bytes", &self.orig_bytes)?;
        m.serialize_entry("resp_pkts", &self.resp_pkts)?;
        m.serialize_entry("resp_ip_bytes", &self.resp_ip_bytes)?;
        m.serialize_entry("resp_bytes", &self.resp_bytes)?;
        m.serialize_entry("conn_state", self.conn_state)?;
        m.serialize_entry("history", &self.history)?;
        m.serialize_entry("community_id", &self.community_id)?;
        m.serialize_entry("vlan", &self.vlan)?;
        m.serialize_entry("inner_vlan", &self.inner_vlan)?;
        m.serialize_entry("iface", &self.iface.as_deref())?;
        m.serialize_entry("orig_l2_addr", &self.orig_l2_addr)?;
        m.serialize_entry("resp_l2_addr", &self.resp_l2_addr)?;
        m.serialize_entry("tunnel", &self.tunnel)?;
        m.serialize_entry("end_reason", &self.end_reason)?;
        m.end()
    }
}

/// The protocol name used in records and rules: a static string for every protocol
/// number, so no record allocates one.
pub fn proto_name(proto: u8) -> &'static str {
    match proto {
        6 => "tcp",
        17 => "udp",
        1 => "icmp",
        58 => "icmp6",
        132 => "sctp",
        n => {
            let n = usize::from(n);
            let (at, len) = match n {
                0..=9 => (n, 1),
                10..=99 => (10 + (n - 10) * 2, 2),
                _ => (190 + (n - 100) * 3, 3),
            };
            DECIMALS_0_TO_255.get(at..at + len).unwrap_or("?")
        }
    }
}

/// "0", "1", ... "255" back to back, for [`proto_name`].
const DECIMALS_0_TO_255: &str = {
    const fn digits() -> [u8; 658] {
        let mut out = [0u8; 658];
        let (mut n, mut at) = (0usize, 0usize);
        while n < 256 {
            let (d, len) = decimal(n as u8);
            let mut j = 0;
            while j < len {
                out[at] = d[j];
                at += 1;
                j += 1;
            }
            n += 1;
        }
        out
    }
    const BYTES: [u8; 658] = digits();
    match std::str::from_utf8(&BYTES) {
        Ok(s) => s,
        Err(_) => panic!("decimal digits are ASCII"),
    }
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_written_json_equals_serde() {
        let mut r = sample();
        r.iface = Some("we\"ird\n\u{1}name\\".into());
        r.orig_h = "2001:db8::1".parse().unwrap();
        r.resp_h = "2001:db8::2".parse().unwrap();
        r.vlan = None;
        r.inner_vlan = Some(7);
        r.orig_l2_addr = Some(MacAddr([0x02, 0x42, 0xac, 0x12, 0x00, 0x0a]));
        r.tunnel = Some(Box::new(TunnelInfo {
            kind: "vxlan",
            vni: Some(42),
            teid: None,
            outer_community_id: "1:abc=".into(),
            outer_orig_h: "192.0.2.1".parse().unwrap(),
            outer_resp_h: "192.0.2.2".parse().unwrap(),
        }));
        for rec in [sample(), r] {
            let mut fast = Vec::new();
            rec.write_json_line(&mut fast);
            let mut a: serde_json::Value = serde_json::from_slice(&fast).unwrap();
            let mut b = serde_json::to_value(&rec).unwrap();
            let (da, db) = (
                a["duration"].as_f64().unwrap(),
                b["duration"].as_f64().unwrap(),
            );
            assert!((da - db).abs() < 1e-6, "{da} vs {db}");
            a["duration"] = 0.into();
            b["duration"] = 0.into();
            assert_eq!(a, b);
            assert_eq!(String::from_utf8(fast).unwrap().matches('\n').count(), 1);
        }
    }

    #[test]
    fn json_line_has_schema_fields() {
        let r = sample();
        let mut out = Vec::new();
        r.write_json_line(&mut out);
        assert_eq!(out.last(), Some(&b'\n'));
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["ts"], "2023-11-14T22:13:20.000000Z");
        assert_eq!(v["duration"], 1.5);
        assert_eq!(v["orig_h"], "10.0.0.1");
        assert_eq!(v["vlan"], 42);
        assert_eq!(v["inner_vlan"], serde_json::Value::Null);
        assert_eq!(v["end_reason"], "timeout");
        for k in [
            "end",
            "proto",
            "orig_p",
            "resp_h",
            "resp_p",
            "orig_pkts",
            "orig_ip_bytes",
            "orig_bytes",
            "resp_pkts",
            "resp_ip_bytes",
            "resp_bytes",
            "conn_state",
            "history",
            "community_id",
            "iface",
            "orig_l2_addr",
            "resp_l2_addr",
        ] {
            assert!(v.get(k).is_some(), "missing {k}");
        }
    }

    fn sample() -> FlowRecord {
        FlowRecord {
            end: 1_700_000_001_500_000_000,
            uid: Uid::from_seed(0xabc),
            orig_pkts: 3,
            orig_ip_bytes: 164,
            orig_bytes: 10,
            resp_pkts: 2,
            resp_ip_bytes: 112,
            conn_state: "SF",
            history: "ShADadFf".into(),
            community_id: "1:xyz".into(),
            vlan: Some(42),
            ..FlowRecord::attempt(
                1_700_000_000_000_000_000,
                ("10.0.0.1".parse().unwrap(), 40000),
                ("10.0.0.2".parse().unwrap(), 80),
                6,
            )
        }
    }

    #[test]
    fn escape_check_matches_the_byte_rule_at_every_position() {
        let slow = |b: &[u8]| {
            b.iter()
                .any(|&c| c < 0x20 || c == b'"' || c == b'\\' || c == 0x7f)
        };
        for len in 0..20 {
            for at in 0..len {
                for bad in (0u8..=0x7f).chain([0x80, 0xc3, 0xff]) {
                    let mut b = vec![b'x'; len];
                    b[at] = bad;
                    assert_eq!(needs_escape(&b), slow(&b), "{b:?}");
                }
            }
            assert!(!needs_escape(&vec![b'~'; len]));
        }
        assert!(!needs_escape("é€ name".as_bytes()));
    }

    #[test]
    fn numbers_print_as_std_does() {
        let mut values = vec![0, u64::MAX, u64::MAX - 1];
        let mut p = 1u64;
        while let Some(next) = p.checked_mul(10) {
            values.extend([p - 1, p, p + 1, next - 1]);
            p = next;
        }
        values.extend((0..5000u64).map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (i % 64)));
        for v in values {
            let mut out = b"x".to_vec();
            write_u64(&mut out, v);
            assert_eq!(&out[1..], v.to_string().as_bytes(), "{v}");
        }
    }

    #[test]
    fn ipv4_and_protocol_numbers_print_as_std_does() {
        for ip in [
            "0.0.0.0",
            "255.255.255.255",
            "10.0.0.1",
            "192.168.100.9",
            "1.22.103.4",
        ] {
            let mut out = Vec::new();
            write_ip(&mut out, &ip.parse().unwrap());
            assert_eq!(out, ip.as_bytes());
        }
        for o in 0..=255u8 {
            for ip in [[o, 0, 1, o], [9, o, o, 99]] {
                let ip = IpAddr::from(ip);
                let mut out = b"x".to_vec();
                write_ip(&mut out, &ip);
                assert_eq!(out, format!("x{ip}").as_bytes());
            }
        }
        let mut v6 = vec![
            "::",
            "::1",
            "1::",
            "::ffff:1.2.3.4",
            "::1.2.3.4",
            "2001:db8::1",
            "fe80::1:0:0:1",
            "1:0:0:1:0:0:0:1",
            "1:0:0:2:0:0:3:4",
            "0:0:1:0:0:1:0:0",
            "1:2:3:4:5:6:7:8",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "1:0:2:0:3:0:4:0",
            "0:1:2:3:4:5:6:7",
            "fd00:db8::3",
            "::ffff:0:0",
            "64:ff9b::c000:201",
        ]
        .into_iter()
        .map(|s| s.parse::<std::net::Ipv6Addr>().unwrap())
        .collect::<Vec<_>>();
        // Every pattern of zero and non-zero groups, with values of every width.
        for mask in 0..=255u32 {
            let mut g = [0u16; 8];
            for (i, x) in g.iter_mut().enumerate() {
                if mask & (1 << i) != 0 {
                    *x = [0x1, 0x2f, 0x3a0, 0xbeef][(i + mask as usize) % 4];
                }
            }
            v6.push(std::net::Ipv6Addr::from(g));
        }
        for a in v6 {
            let mut out = Vec::new();
            write_ip(&mut out, &IpAddr::V6(a));
            assert_eq!(String::from_utf8(out).unwrap(), a.to_string());
        }
        for n in 0..=255u8 {
            let name = proto_name(n);
            if !matches!(n, 1 | 6 | 17 | 58 | 132) {
                assert_eq!(name, n.to_string());
            }
        }
        let mut out = Vec::new();
        write_duration(&mut out, 61_000_001_999);
        assert_eq!(out, b"61.000001");
    }

    #[test]
    fn mac_addresses_parse_and_print_as_docker_writes_them() {
        let m: MacAddr = "02:42:AC:12:00:0a".parse().unwrap();
        assert_eq!(m.0, [0x02, 0x42, 0xac, 0x12, 0x00, 0x0a]);
        assert_eq!(m.to_string(), "02:42:ac:12:00:0a");
        assert_eq!("02-42-ac-12-00-0a".parse::<MacAddr>(), Ok(m));
        for bad in [
            "",
            "02:42:ac:12:00",
            "02:42:ac:12:00:0a:01",
            "2:42:ac:12:00:0a",
            "zz:42:ac:12:00:0a",
        ] {
            assert!(bad.parse::<MacAddr>().is_err(), "{bad}");
        }
        let mut out = Vec::new();
        write_opt_mac(&mut out, Some(m));
        assert_eq!(out, br#""02:42:ac:12:00:0a""#);
        assert_eq!(mac_of([0; 6]), None);
    }
}
