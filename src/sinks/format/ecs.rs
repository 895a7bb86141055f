//! Elastic Common Schema (ECS 8.11) documents.  Flows are `event.kind: event`,
//! `event.category: [network]`, `event.type: [connection, end]`; alerts are
//! `event.kind: alert` with `rule.name`, the viewing container in `container.*` and
//! the flow's endpoints in `source.*` (originator) and `destination.*` (responder).
//!
//! A `watch` flow also carries its attribution: ECS has one `container` per event
//! (there is no `source.container`), so `container.*` is the originator's container,
//! or the responder's when only that end is one; `labels.orig_container` /
//! `labels.resp_container` name both ends (ECS `labels` is the place for such
//! keyword pairs), `bridgewatch.orig_container` / `bridgewatch.resp_container` hold
//! both in full, and `network.direction` the direction.  An interim record is
//! `event.type: [connection, info]` with `bridgewatch.interim: true`.

use super::{FlowContext, PRODUCT, VERSION};
use crate::flow::record::FlowRecord;
use crate::rules::{Alert, Container, Priority};
use crate::time::rfc3339_nanos;
use serde_json::{json, Map, Value};

pub const ECS_VERSION: &str = "8.11.0";

/// ECS `network.direction` for our `flow.direction`.
fn direction(d: &str) -> &'static str {
    match d {
        "outbound" => "outbound",
        "inbound" => "inbound",
        "internal" | "host" => "internal",
        _ => "external",
    }
}

fn endpoints(r: &FlowRecord, doc: &mut Map<String, Value>) {
    let mut source = json!({"ip": r.orig_h.to_string(), "port": r.orig_p,
                            "packets": r.orig_pkts, "bytes": r.orig_ip_bytes});
    let mut destination = json!({"ip": r.resp_h.to_string(), "port": r.resp_p,
                                 "packets": r.resp_pkts, "bytes": r.resp_ip_bytes});
    for (end, mac) in [
        (&mut source, r.orig_l2_addr),
        (&mut destination, r.resp_l2_addr),
    ] {
        if let Some(m) = mac {
            end["mac"] = json!(ecs_mac(m));
        }
    }
    doc.insert("source".into(), source);
    doc.insert("destination".into(), destination);
    let mut net = json!({
        "transport": r.proto,
        "iana_number": r.proto_num.to_string(),
        "type": if r.orig_h.is_ipv4() { "ipv4" } else { "ipv6" },
        "community_id": &r.community_id,
        "bytes": r.orig_ip_bytes + r.resp_ip_bytes,
        "packets": r.orig_pkts + r.resp_pkts,
    });
    if let (Some(v), Some(o)) = (r.vlan, net.as_object_mut()) {
        o.insert("vlan".into(), json!({"id": v.to_string()}));
    }
    doc.insert("network".into(), net);
}

/// A MAC as ECS spells it (RFC 7042: uppercase hex pairs joined by hyphens).
fn ecs_mac(m: crate::flow::record::MacAddr) -> String {
    m.to_string().to_uppercase().replace(':', "-")
}

fn observer(hostname: &str) -> Value {
    json!({"hostname": hostname, "product": PRODUCT, "vendor": PRODUCT,
           "type": "ids", "version": VERSION})
}

/// ECS `event.severity`: the syslog number, as Elastic's own integrations use it.
fn severity(p: Priority) -> u8 {
    super::syslog_severity(p)
}

/// ECS `container.*` for one of our containers.
fn container(c: &Container) -> Value {
    let mut v = json!({"id": &c.id, "name": &c.name, "image": {"name": &c.repository}});
    if let Some(t) = &c.tag {
        v["image"]["tag"] = json!([t]);
    }
    if !c.labels.is_empty() {
        v["labels"] = json!(&c.labels);
    }
    v
}

/// Both ends' containers in full (`bridgewatch.*`, outside ECS).
fn end_container(c: Option<&Container>) -> Value {
    match c {
        Some(c) => json!({"id": &c.id, "name": &c.name, "image": &c.image,
                          "labels": &c.labels, "network": &c.network}),
        None => Value::Null,
    }
}

fn attribution(ctx: &FlowContext<'_>, doc: &mut Map<String, Value>) {
    if let Some(net) = doc.get_mut("network").and_then(Value::as_object_mut) {
        net.insert("direction".into(), json!(direction(ctx.direction)));
    }
    if let Some(c) = ctx.orig.or(ctx.resp) {
        doc.insert("container".into(), container(c));
    }
    let mut labels = Map::new();
    for (k, c) in [("orig_container", ctx.orig), ("resp_container", ctx.resp)] {
        if let Some(c) = c {
            labels.insert(k.into(), json!(&c.name));
        }
    }
    if !labels.is_empty() {
        doc.insert("labels".into(), Value::Object(labels));
    }
    doc.insert(
        "bridgewatch".into(),
        json!({
            "direction": ctx.direction,
            "interim": ctx.interim,
            "orig_container": end_container(ctx.orig),
            "resp_container": end_container(ctx.resp),
        }),
    );
}

pub fn flow(r: &FlowRecord, hostname: &str, ctx: Option<&FlowContext<'_>>) -> Value {
    let interim = ctx.is_some_and(|c| c.interim);
    let mut doc = Map::new();
    doc.insert("@timestamp".into(), json!(rfc3339_nanos(r.ts)));
    doc.insert("ecs".into(), json!({"version": ECS_VERSION}));
    doc.insert(
        "event".into(),
        json!({
            "kind": "event",
            "category": ["network"],
            "type": ["connection", if interim { "info" } else { "end" }],
            "dataset": "bridgewatch.flow",
            "module": PRODUCT,
            "start": rfc3339_nanos(r.ts),
            "end": rfc3339_nanos(r.end),
            "duration": r.end - r.ts,
            "id": &r.uid,
            "reason": r.end_reason.as_str(),
        }),
    );
    endpoints(r, &mut doc);
    if let Some(ctx) = ctx {
        attribution(ctx, &mut doc);
    }
    doc.insert("observer".into(), observer(hostname));
    doc.insert(
        "zeek".into(),
        json!({"connection": {"state": r.conn_state, "history": &r.history}}),
    );
    Value::Object(doc)
}

pub fn alert(a: &Alert) -> Value {
    let r = &a.flow;
    let mut doc = Map::new();
    doc.insert("@timestamp".into(), json!(rfc3339_nanos(a.time)));
    doc.insert("ecs".into(), json!({"version": ECS_VERSION}));
    doc.insert("message".into(), json!(&a.output));
    let end = a.evt_type == "end";
    doc.insert(
        "event".into(),
        json!({
            "kind": "alert",
            "category": ["network", "intrusion_detection"],
            "type": ["connection", if end { "end" } else { "start" }],
            "dataset": "bridgewatch.alert",
            "module": PRODUCT,
            "severity": severity(a.priority),
            "action": a.evt_type,
            "start": rfc3339_nanos(r.ts),
            "id": &r.uid,
        }),
    );
    doc.insert(
        "log".into(),
        json!({"level": a.priority.as_str().to_ascii_lowercase()}),
    );
    doc.insert("rule".into(), json!({"name": &*a.rule, "ruleset": PRODUCT}));
    doc.insert("tags".into(), json!(&*a.tags));
    endpoints(r, &mut doc);
    if let Some(net) = doc.get_mut("network").and_then(Value::as_object_mut) {
        net.insert("direction".into(), json!(direction(a.direction)));
    }
    if let Some(c) = &a.container {
        let mut image = json!({"name": &c.repository});
        if let (Some(t), Some(o)) = (&c.tag, image.as_object_mut()) {
            o.insert("tag".into(), json!([t]));
        }
        doc.insert(
            "container".into(),
            json!({"id": &c.id, "name": &c.name, "image": image}),
        );
    }
    doc.insert("observer".into(), observer(&a.hostname));
    let mut fields = Map::new();
    for (k, v) in &a.output_fields {
        if let Ok(v) = serde_json::to_value(v) {
            fields.insert(k.to_string(), v);
        }
    }
    let mut bw = json!({"output_fields": fields, "evt_type": a.evt_type,
               "peer_container": a.peer.as_ref().map(|p| json!({"id": &p.id, "name": &p.name, "image": &p.image}))});
    if let (true, Some(o)) = (a.suppressed > 0, bw.as_object_mut()) {
        o.insert("suppressed".into(), json!(a.suppressed));
    }
    doc.insert("bridgewatch".into(), bw);
    Value::Object(doc)
}
