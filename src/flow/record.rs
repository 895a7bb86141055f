//! Flow records: what a finished (or evicted) flow becomes.  Field names follow
//! Zeek's `conn.log` where one exists, so SIEM users recognise them; the JSON form
//! is one object per line (see the README's schema table).

use crate::time::{write_rfc3339_micros, Nanos, NANOS_PER_SEC};
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
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
    pub proto: String,
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
    pub iface: Option<String>,
    pub tunnel: Option<TunnelInfo>,
    pub end_reason: EndReason,
}

impl FlowRecord {
    /// Flow duration in seconds.
    pub fn duration_secs(&self) -> f64 {
        (self.end - self.ts) as f64 / NANOS_PER_SEC as f64
    }

    /// Appends the record as one JSON line (with the trailing newline).
    pub fn write_json_line(&self, out: &mut Vec<u8>) {
        // Serialising a plain struct of numbers and strings into a Vec cannot fail.
        if serde_json::to_writer(&mut *out, self).is_ok() {
            out.push(b'\n');
        }
    }
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
        m.serialize_entry("iface", &self.iface)?;
        m.serialize_entry("tunnel", &self.tunnel)?;
        m.serialize_entry("end_reason", &self.end_reason)?;
        m.end()
    }
}

/// The protocol name used in records and rules.
pub fn proto_name(proto: u8) -> String {
    match proto {
        6 => "tcp".into(),
        17 => "udp".into(),
        1 => "icmp".into(),
        58 => "icmp6".into(),
        132 => "sctp".into(),
        n => n.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_line_has_schema_fields() {
        let r = FlowRecord {
            ts: 1_700_000_000_000_000_000,
            end: 1_700_000_001_500_000_000,
            uid: "Cabc".into(),
            proto: proto_name(6),
            proto_num: 6,
            orig_h: "10.0.0.1".parse().unwrap(),
            orig_p: 40000,
            resp_h: "10.0.0.2".parse().unwrap(),
            resp_p: 80,
            orig_pkts: 3,
            orig_ip_bytes: 164,
            orig_bytes: 10,
            resp_pkts: 2,
            resp_ip_bytes: 112,
            resp_bytes: 0,
            conn_state: "SF",
            history: "ShADadFf".into(),
            community_id: "1:xyz".into(),
            vlan: Some(42),
            inner_vlan: None,
            iface: None,
            tunnel: None,
            end_reason: EndReason::Timeout,
        };
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
        ] {
            assert!(v.get(k).is_some(), "missing {k}");
        }
    }
}
