//! Flow records: what a finished (or evicted) flow becomes.  Field names follow
//! Zeek's `conn.log` where one exists, so SIEM users recognise them; the JSON form
//! is one object per line (see the README's schema table).

use crate::time::{rfc3339_micros_bytes, write_rfc3339_micros, Nanos, NANOS_PER_SEC};
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use std::borrow::Cow;
use std::net::IpAddr;

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
    pub outer_community_id: String,
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
    pub uid: String,
    /// Transport: `tcp`, `udp`, `icmp`, `icmp6`, `sctp`, or the IP protocol number as text.
    pub proto: Cow<'static, str>,
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
    pub history: String,
    pub community_id: String,
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
    pub tunnel: Option<TunnelInfo>,
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
            uid: "C0".into(),
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
    pub fn write_json_line(&self, out: &mut Vec<u8>) {
        // Each key goes out as one literal with its separators: a call per byte run
        // was most of this function's cost.
        out.reserve(640);
        out.extend_from_slice(br#"{"ts":""#);
        out.extend_from_slice(&rfc3339_micros_bytes(self.ts));
        out.extend_from_slice(br#"","end":""#);
        out.extend_from_slice(&rfc3339_micros_bytes(self.end));
        out.extend_from_slice(br#"","duration":"#);
        write_duration(out, self.end.saturating_sub(self.ts));
        out.extend_from_slice(br#","uid":"#);
        write_json_str(out, &self.uid);
        out.extend_from_slice(br#","proto":"#);
        write_json_str(out, &self.proto);
        out.extend_from_slice(br#","orig_h":""#);
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
        out.extend_from_slice(br#","conn_state":"#);
        write_json_str(out, self.conn_state);
        out.extend_from_slice(br#","history":"#);
        write_json_str(out, &self.history);
        out.extend_from_slice(br#","community_id":"#);
        write_json_str(out, &self.community_id);
        out.extend_from_slice(br#","vlan":"#);
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
            EndReason::Timeout => br#","end_reason":"timeout"}"#.as_slice(),
            EndReason::Reused => br#","end_reason":"reused"}"#,
            EndReason::Evicted => br#","end_reason":"evicted"}"#,
            EndReason::EndOfInput => br#","end_reason":"end_of_input"}"#,
            EndReason::ActiveTimeout => br#","end_reason":"active_timeout"}"#,
        });
        out.push(b'\n');
    }
}

fn write_opt_u64(out: &mut Vec<u8>, v: Option<u16>) {
    match v {
        Some(v) => write_u64(out, v as u64),
        None => out.extend_from_slice(b"null"),
    }
}

fn write_opt_mac(out: &mut Vec<u8>, mac: Option<MacAddr>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let Some(MacAddr(b)) = mac else {
        out.extend_from_slice(b"null");
        return;
    };
    out.push(b'"');
    for (i, byte) in b.iter().enumerate() {
        if i > 0 {
            out.push(b':');
        }
        out.push(HEX[(byte >> 4) as usize]);
        out.push(HEX[(byte & 0xf) as usize]);
    }
    out.push(b'"');
}

fn write_ip(out: &mut Vec<u8>, ip: &IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            write_u64(out, o[0] as u64);
            for b in &o[1..] {
                out.push(b'.');
                write_u64(out, *b as u64);
            }
        }
        IpAddr::V6(v6) => {
            use std::io::Write;
            let _ = write!(out, "{v6}");
        }
    }
}

/// Decimal digits of `v` (itoa: two digits per step, no division per digit).
pub(crate) fn write_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// Seconds with six decimals (microseconds), like Zeek's `duration`.
fn write_duration(out: &mut Vec<u8>, ns: Nanos) {
    let ns = ns.max(0) as u64;
    write_u64(out, ns / 1_000_000_000);
    out.push(b'.');
    let micros = (ns % 1_000_000_000) / 1_000;
    let mut digits = [b'0'; 6];
    let mut m = micros;
    for d in digits.iter_mut().rev() {
        *d = b'0' + (m % 10) as u8;
        m /= 10;
    }
    out.extend_from_slice(&digits);
}

/// A JSON string literal: quotes, backslashes and control characters escaped, so a
/// name taken from a capture can never break the line or forge a key.
pub(crate) fn write_json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    // Nearly every string here (ids, states, addresses) needs no escaping.
    if !bytes
        .iter()
        .any(|&b| b < 0x20 || b == b'"' || b == b'\\' || b == 0x7f)
    {
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

/// The protocol name used in records and rules.
pub fn proto_name(proto: u8) -> Cow<'static, str> {
    match proto {
        6 => "tcp".into(),
        17 => "udp".into(),
        1 => "icmp".into(),
        58 => "icmp6".into(),
        132 => "sctp".into(),
        n => n.to_string().into(),
    }
}

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
        r.tunnel = Some(TunnelInfo {
            kind: "vxlan",
            vni: Some(42),
            teid: None,
            outer_community_id: "1:abc=".into(),
            outer_orig_h: "192.0.2.1".parse().unwrap(),
            outer_resp_h: "192.0.2.2".parse().unwrap(),
        });
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
            uid: "Cabc".into(),
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
