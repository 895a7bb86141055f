//! OCSF 1.3 events: a flow record is a Network Activity (class 4001, category 4)
//! whose activity says how the connection ended (Close, Reset, Refuse, or Traffic
//! for connectionless flows); an alert is a Detection Finding (class 2004, category
//! 2, activity Create) whose `finding_info` names the rule and whose `evidences`
//! carry the flow's endpoints and the containers.
//!
//! A `watch` flow carries its attribution where OCSF puts it: each end's container
//! in `src_endpoint.container` / `dst_endpoint.container` (the Container object:
//! `uid`, `name`, `image`, `labels` as `key=value` strings), the direction in
//! `connection_info.direction_id` (Inbound, Outbound, Lateral, Unknown) with ours
//! verbatim in `unmapped.direction`; an interim record is activity Traffic (6).

use super::{millis, FlowContext, PRODUCT, VERSION};
use crate::flow::record::FlowRecord;
use crate::rules::{Alert, AlertContainer, Container, Priority};
use serde_json::{json, Value};

pub const OCSF_VERSION: &str = "1.3.0";

fn metadata(kind: &str) -> Value {
    json!({
        "version": OCSF_VERSION,
        "product": {"name": PRODUCT, "vendor_name": PRODUCT, "version": VERSION},
        "log_name": kind,
    })
}

/// OCSF `severity_id`: 1 Informational, 2 Low, 3 Medium, 4 High, 5 Critical, 6 Fatal.
pub fn severity_id(p: Priority) -> u8 {
    match p {
        Priority::Emergency => 6,
        Priority::Alert | Priority::Critical => 5,
        Priority::Error => 4,
        Priority::Warning => 3,
        Priority::Notice => 2,
        Priority::Informational | Priority::Debug => 1,
    }
}

fn severity_name(id: u8) -> &'static str {
    match id {
        1 => "Informational",
        2 => "Low",
        3 => "Medium",
        4 => "High",
        5 => "Critical",
        6 => "Fatal",
        _ => "Unknown",
    }
}

/// `connection_info.direction_id`: 1 Inbound, 2 Outbound, 3 Lateral, 0 Unknown.
fn direction(d: &str) -> (u8, &'static str) {
    match d {
        "inbound" => (1, "Inbound"),
        "outbound" => (2, "Outbound"),
        "internal" | "host" => (3, "Lateral"),
        _ => (0, "Unknown"),
    }
}

fn connection_info(r: &FlowRecord, dir: Option<&str>) -> Value {
    let mut v = json!({
        "protocol_name": r.proto,
        "protocol_num": r.proto_num,
        "protocol_ver_id": if r.orig_h.is_ipv4() { 4 } else { 6 },
        "community_uid": &r.community_id,
        "uid": &r.uid,
    });
    if let (Some(d), Some(o)) = (dir, v.as_object_mut()) {
        let (id, name) = direction(d);
        o.insert("direction_id".into(), json!(id));
        o.insert("direction".into(), json!(name));
    }
    v
}

/// An OCSF Network Endpoint: address, port, and the MAC when the frame had one.
fn endpoint_of(
    ip: std::net::IpAddr,
    port: u16,
    mac: Option<crate::flow::record::MacAddr>,
) -> Value {
    let mut v = json!({"ip": ip.to_string(), "port": port});
    if let Some(m) = mac {
        v["mac"] = json!(m.to_string());
    }
    v
}

/// An end of an alert's flow, with the alert's container when it is one.
fn endpoint(
    ip: std::net::IpAddr,
    port: u16,
    mac: Option<crate::flow::record::MacAddr>,
    c: Option<&AlertContainer>,
) -> Value {
    let mut v = endpoint_of(ip, port, mac);
    if let Some(c) = c {
        v["container"] = container(c);
    }
    v
}

fn container(c: &AlertContainer) -> Value {
    json!({"uid": &c.id, "name": &c.name,
           "image": {"name": &c.repository, "tag": &c.tag, "uid": &c.image}})
}

/// An end of a `watch` flow, with the inventory's container when it is one.
fn flow_endpoint(
    ip: std::net::IpAddr,
    port: u16,
    mac: Option<crate::flow::record::MacAddr>,
    c: Option<&Container>,
) -> Value {
    let mut v = endpoint_of(ip, port, mac);
    if let Some(c) = c {
        let labels: Vec<String> = c.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        v["container"] = json!({
            "uid": &c.id,
            "name": &c.name,
            "image": {"name": &c.repository, "tag": &c.tag, "uid": &c.image},
            "labels": labels,
        });
    }
    v
}

fn traffic(r: &FlowRecord) -> Value {
    json!({
        "packets_out": r.orig_pkts, "packets_in": r.resp_pkts,
        "bytes_out": r.orig_ip_bytes, "bytes_in": r.resp_ip_bytes,
        "packets": r.orig_pkts + r.resp_pkts,
        "bytes": r.orig_ip_bytes + r.resp_ip_bytes,
    })
}

/// Network Activity `activity_id` for a finished flow.
fn flow_activity(r: &FlowRecord) -> (u8, &'static str) {
    match r.conn_state {
        "REJ" => (5, "Refuse"),
        "RSTO" | "RSTR" | "RSTOS0" | "RSTRH" => (3, "Reset"),
        _ if r.proto_num == 6 => (2, "Close"),
        _ => (6, "Traffic"),
    }
}

pub fn flow(r: &FlowRecord, hostname: &str, ctx: Option<&FlowContext<'_>>) -> Value {
    let (activity_id, activity_name) = match ctx {
        Some(c) if c.interim => (6, "Traffic"),
        _ => flow_activity(r),
    };
    let mut doc = json!({
        "class_uid": 4001,
        "class_name": "Network Activity",
        "category_uid": 4,
        "category_name": "Network Activity",
        "activity_id": activity_id,
        "activity_name": activity_name,
        "type_uid": 4001 * 100 + u32::from(activity_id),
        "severity_id": 1,
        "severity": "Informational",
        "time": millis(r.end),
        "start_time": millis(r.ts),
        "end_time": millis(r.end),
        "duration": millis(r.end - r.ts),
        "metadata": metadata("flow"),
        "src_endpoint": flow_endpoint(r.orig_h, r.orig_p, r.orig_l2_addr, ctx.and_then(|c| c.orig)),
        "dst_endpoint": flow_endpoint(r.resp_h, r.resp_p, r.resp_l2_addr, ctx.and_then(|c| c.resp)),
        "connection_info": connection_info(r, ctx.map(|c| c.direction)),
        "traffic": traffic(r),
        "device": {"hostname": hostname, "type_id": 0},
        "status_detail": r.conn_state,
        "unmapped": {"history": &r.history, "end_reason": r.end_reason.as_str()},
    });
    if let Some(c) = ctx {
        doc["unmapped"]["direction"] = json!(c.direction);
        doc["unmapped"]["interim"] = json!(c.interim);
        for (k, end) in [("src_network", c.orig), ("dst_network", c.resp)] {
            if let Some(n) = end.and_then(|e| e.network.as_deref()) {
                doc["unmapped"][k] = json!(n);
            }
        }
    }
    doc
}

pub fn alert(a: &Alert) -> Value {
    let r = &a.flow;
    let sev = severity_id(a.priority);
    let (src_c, dst_c) = if a.local_is_client {
        (a.container.as_ref(), a.peer.as_ref())
    } else {
        (a.peer.as_ref(), a.container.as_ref())
    };
    let techniques: Vec<Value> = a
        .tags
        .iter()
        .filter(|t| {
            t.len() > 1
                && t.starts_with('T')
                && t[1..].chars().all(|c| c.is_ascii_digit() || c == '.')
        })
        .map(|t| json!({"technique": {"uid": t}}))
        .collect();
    let mut doc = json!({
        "class_uid": 2004,
        "class_name": "Detection Finding",
        "category_uid": 2,
        "category_name": "Findings",
        "activity_id": 1,
        "activity_name": "Create",
        "type_uid": 200401,
        "severity_id": sev,
        "severity": severity_name(sev),
        "time": millis(a.time),
        "message": &a.output,
        "status_id": 1,
        "status": "New",
        "metadata": metadata("alert"),
        "finding_info": {
            "uid": format!("{}:{}:{}", r.uid, a.evt_type, &*a.rule),
            "title": &*a.rule,
            "desc": &a.output,
            "types": &*a.tags,
            "analytic": {"name": &*a.rule, "type_id": 1, "type": "Rule"},
            "attacks": techniques,
            "first_seen_time": millis(r.ts),
        },
        "evidences": [{
            "src_endpoint": endpoint(r.orig_h, r.orig_p, r.orig_l2_addr, src_c),
            "dst_endpoint": endpoint(r.resp_h, r.resp_p, r.resp_l2_addr, dst_c),
            "connection_info": connection_info(r, Some(a.direction)),
        }],
        "device": {"hostname": &*a.hostname, "type_id": 0},
        "unmapped": {"evt_type": a.evt_type, "traffic": traffic(r)},
    });
    // OCSF's `count`: the events this finding stands for (itself and those
    // deduplication held back since the last one of its key).
    if let (true, Some(o)) = (a.suppressed > 0, doc.as_object_mut()) {
        o.insert("count".into(), json!(a.suppressed + 1));
    }
    doc
}
