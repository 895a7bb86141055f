//! Format tests: each document carries what its schema requires (ECS core fields and
//! allowed `event.*` values; OCSF 1.3 required attributes of classes 4001 and 2004),
//! and CEF lines with hostile container names parse back to the original values.

use super::*;
use crate::flow::record::FlowRecord;
use crate::rules::{Container, Engine, EngineOptions, Inventory, RuleSet};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

const HOSTILE: &str = "web|x=1 \\ y\nCEF:0|forged|=";

pub(crate) fn record() -> FlowRecord {
    FlowRecord {
        end: 1_717_243_202_500_000_000,
        uid: crate::flow::uid::Uid::from_seed(0xabc),
        orig_pkts: 5,
        orig_ip_bytes: 400,
        orig_bytes: 100,
        resp_pkts: 4,
        resp_ip_bytes: 3000,
        resp_bytes: 2800,
        conn_state: "SF",
        history: "ShADadFf".into(),
        community_id: "1:abc=".into(),
        vlan: Some(7),
        ..FlowRecord::attempt(
            1_717_243_200_000_000_000,
            ("172.17.0.3".parse().unwrap(), 40000),
            ("203.0.113.9".parse().unwrap(), 443),
            6,
        )
    }
}

fn alert() -> Alert {
    let src = "- rule: Hostile\n  desc: d\n  condition: evt.type = connect and container.id exists\n  output: 'name %container.name to %fd.rip'\n  priority: CRITICAL\n  tags: [network, T1496]\n";
    let set = RuleSet::from_sources(&[("t.yaml", src)]).unwrap_or_else(|e| panic!("{e}"));
    let mut inv = Inventory::default();
    inv.add(Container::new("c0ffee", HOSTILE, "team/app:1.2").ip("172.17.0.3"));
    let e = Engine::new(
        Arc::new(set),
        Arc::new(inv),
        EngineOptions {
            hostname: "node|1".into(),
            ..EngineOptions::default()
        },
    );
    let mut alerts = Vec::new();
    e.evaluator().on_flow_start(&record(), &mut alerts);
    assert_eq!(alerts.len(), 1);
    alerts.remove(0)
}

fn json(line: &[u8]) -> Value {
    assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1, "one line");
    serde_json::from_slice(line).unwrap()
}

fn get<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(v, |v, k| &v[k])
}

fn strs(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

#[test]
fn ecs_documents_use_the_schema_and_its_allowed_values() {
    let (mut a, mut f) = (Vec::new(), Vec::new());
    Format::Ecs.alert_line(&alert(), &mut a);
    Format::Ecs.flow_line(&record(), "node1", &mut f);
    for (doc, kind) in [(json(&a), "alert"), (json(&f), "event")] {
        let ts = get(&doc, "@timestamp").as_str().unwrap();
        assert!(
            ts.starts_with("2024-06-01T12:00:00") && ts.ends_with('Z'),
            "{ts}"
        );
        assert_eq!(get(&doc, "ecs.version"), "8.11.0");
        assert_eq!(get(&doc, "event.kind"), kind);
        // ECS's allowed values for event.category and event.type.
        for c in strs(get(&doc, "event.category")) {
            assert!(["network", "intrusion_detection"].contains(&c), "{c}");
        }
        for t in strs(get(&doc, "event.type")) {
            assert!(["connection", "start", "end", "info"].contains(&t), "{t}");
        }
        assert_eq!(get(&doc, "source.ip"), "172.17.0.3");
        assert_eq!(get(&doc, "source.port"), 40000);
        assert_eq!(get(&doc, "destination.ip"), "203.0.113.9");
        assert_eq!(get(&doc, "destination.bytes"), 3000);
        assert_eq!(get(&doc, "network.transport"), "tcp");
        assert_eq!(get(&doc, "network.community_id"), "1:abc=");
        assert_eq!(get(&doc, "network.bytes"), 3400);
        assert_eq!(get(&doc, "network.packets"), 9);
        assert_eq!(get(&doc, "network.vlan.id"), "7");
    }
    let doc = json(&a);
    assert_eq!(get(&doc, "rule.name"), "Hostile");
    assert_eq!(
        get(&doc, "container.name"),
        HOSTILE,
        "JSON carries the raw name, encoded"
    );
    assert_eq!(get(&doc, "container.image.name"), "team/app");
    assert_eq!(strs(get(&doc, "container.image.tag")), ["1.2"]);
    assert_eq!(get(&doc, "network.direction"), "outbound");
    assert_eq!(get(&doc, "event.severity"), 2);
    assert_eq!(get(&json(&f), "event.duration"), 2_500_000_000u64);
}

/// OCSF 1.3 required attributes common to every event class.
const OCSF_BASE: [&str; 7] = [
    "activity_id",
    "category_uid",
    "class_uid",
    "metadata",
    "severity_id",
    "time",
    "type_uid",
];

fn assert_ocsf_base(doc: &Value, class: u64, category: u64) {
    for k in OCSF_BASE {
        assert!(!doc[k].is_null(), "OCSF requires {k}: {doc}");
    }
    assert_eq!(doc["class_uid"], class);
    assert_eq!(doc["category_uid"], category);
    let activity = doc["activity_id"].as_u64().unwrap();
    assert_eq!(doc["type_uid"].as_u64(), Some(class * 100 + activity));
    assert!(
        doc["time"].as_i64().unwrap() > 1_700_000_000_000,
        "time in ms"
    );
    assert!((0..=6).contains(&doc["severity_id"].as_u64().unwrap()));
    assert!(doc["metadata"]["product"]["name"].is_string());
    assert_eq!(doc["metadata"]["version"], "1.3.0");
}

#[test]
fn ocsf_network_activity_and_detection_finding_carry_their_required_attributes() {
    let mut f = Vec::new();
    Format::Ocsf.flow_line(&record(), "node1", &mut f);
    let flow = json(&f);
    assert_ocsf_base(&flow, 4001, 4);
    assert_eq!(
        flow["activity_id"], 2,
        "a finished TCP connection is a Close"
    );
    assert_eq!(flow["src_endpoint"]["ip"], "172.17.0.3");
    assert_eq!(flow["dst_endpoint"]["port"], 443);
    assert_eq!(flow["traffic"]["bytes_in"], 3000);
    assert_eq!(flow["connection_info"]["community_uid"], "1:abc=");
    let mut rej = record();
    rej.conn_state = "REJ";
    let mut r = Vec::new();
    Format::Ocsf.flow_line(&rej, "node1", &mut r);
    assert_eq!(json(&r)["activity_id"], 5, "a refused connection");

    let mut a = Vec::new();
    Format::Ocsf.alert_line(&alert(), &mut a);
    let finding = json(&a);
    assert_ocsf_base(&finding, 2004, 2);
    // Detection Finding: finding_info (with its required uid and title) is required.
    assert_eq!(finding["finding_info"]["title"], "Hostile");
    assert!(finding["finding_info"]["uid"].is_string());
    assert_eq!(finding["severity_id"], 5);
    assert_eq!(
        finding["finding_info"]["attacks"][0]["technique"]["uid"],
        "T1496"
    );
    let ev = &finding["evidences"][0];
    assert_eq!(ev["src_endpoint"]["container"]["name"], HOSTILE);
    assert_eq!(ev["connection_info"]["direction"], "Outbound");
}

/// Splits a CEF line back into its seven header fields and its extension map,
/// undoing the escapes (the reading side of the CEF specification).
fn parse_cef(line: &str) -> (Vec<String>, BTreeMap<String, String>) {
    let mut header = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars();
    while header.len() < 7 {
        match chars.next() {
            Some('\\') => cur.extend(chars.next()),
            Some('|') => header.push(std::mem::take(&mut cur)),
            Some(c) => cur.push(c),
            None => panic!("short header: {line}"),
        }
    }
    let rest: String = chars.collect();
    // Keys are `[A-Za-z0-9]+=` preceded by a space; an escaped '=' is never a key end.
    let mut ext = BTreeMap::new();
    let mut key: Option<String> = None;
    let mut val = String::new();
    let mut word = String::new();
    let mut it = rest.chars().peekable();
    let flush = |key: &mut Option<String>, val: &mut String, ext: &mut BTreeMap<String, String>| {
        if let Some(k) = key.take() {
            ext.insert(k, std::mem::take(val).trim_end_matches(' ').to_string());
        }
    };
    while let Some(c) = it.next() {
        match c {
            '\\' => {
                let e = it.next().unwrap();
                let un = match e {
                    'n' => '\n',
                    'r' => '\r',
                    other => other,
                };
                val.push_str(&word);
                word.clear();
                val.push(un);
            }
            '=' => {
                // `word` is the next key: what came before it belongs to the last value.
                flush(&mut key, &mut val, &mut ext);
                key = Some(std::mem::take(&mut word));
            }
            ' ' => {
                val.push_str(&word);
                word.clear();
                val.push(' ');
            }
            c => word.push(c),
        }
    }
    val.push_str(&word);
    flush(&mut key, &mut val, &mut ext);
    (header, ext)
}

#[test]
fn cef_with_hostile_names_parses_back_to_the_original_values() {
    let a = alert();
    let mut out = Vec::new();
    Format::Cef.alert_line(&a, &mut out);
    let line = String::from_utf8(out).unwrap();
    assert_eq!(line.matches('\n').count(), 1, "one line: {line}");
    let line = line.trim_end_matches('\n');
    assert!(line.starts_with("CEF:0|bridgewatch|bridgewatch|"), "{line}");
    let (h, ext) = parse_cef(line);
    assert_eq!(h[0], "CEF:0");
    assert_eq!(h[4], "Hostile");
    assert_eq!(h[6], "8", "Critical maps to 8 of 10");
    assert_eq!(ext["cs3Label"], "containerName");
    assert_eq!(ext["cs3"], HOSTILE);
    assert_eq!(ext["dvchost"], "node|1");
    assert_eq!(ext["src"], "172.17.0.3");
    assert_eq!(ext["dpt"], "443");
    assert_eq!(ext["cs1"], "1:abc=");
    // The output names the container too; alert outputs escape control characters
    // themselves (\n as the two characters \ and n), and CEF keeps that text intact.
    assert_eq!(ext["msg"], a.output);
    assert_eq!(ext.len(), 25, "{ext:?}");

    let mut hdr = String::new();
    cef_escape_header("a|b\\c\nd", &mut hdr);
    assert_eq!(hdr, "a\\|b\\\\c d");
}

#[test]
fn native_stays_the_falco_shape_and_formats_parse_by_name() {
    let mut out = Vec::new();
    Format::Native.alert_line(&alert(), &mut out);
    let v = json(&out);
    for k in [
        "time",
        "rule",
        "priority",
        "output",
        "output_fields",
        "tags",
        "hostname",
        "source",
    ] {
        assert!(!v[k].is_null(), "{k}");
    }
    assert_eq!("ECS".parse::<Format>(), Ok(Format::Ecs));
    assert_eq!("cef".parse::<Format>(), Ok(Format::Cef));
    assert!("xml"
        .parse::<Format>()
        .unwrap_err()
        .contains("native, ecs, ocsf, cef"));
}

#[test]
fn a_deduplicated_alert_carries_the_count_in_every_format() {
    let mut a = alert();
    for f in [Format::Native, Format::Ecs, Format::Ocsf] {
        let mut line = Vec::new();
        f.alert_line(&a, &mut line);
        let v = json(&line);
        assert!(v.get("suppressed").is_none() && v.get("count").is_none());
        assert!(v["bridgewatch"].get("suppressed").is_none());
    }
    a.suppressed = 4;
    let line = |f: Format| {
        let mut l = Vec::new();
        f.alert_line(&a, &mut l);
        l
    };
    assert_eq!(json(&line(Format::Native))["suppressed"], 4);
    assert_eq!(json(&line(Format::Ecs))["bridgewatch"]["suppressed"], 4);
    // OCSF `count` and CEF `cnt` count the events: this one and the 4 held back.
    assert_eq!(json(&line(Format::Ocsf))["count"], 5);
    let cef = String::from_utf8(line(Format::Cef)).unwrap();
    assert!(cef.contains(" cnt=5"), "{cef}");
}

/// `watch`'s attribution of [`record`]: a hostile-named container at the originator,
/// a labelled one at the responder.
fn attributed() -> (Container, Container) {
    let mut orig = Container::new("c0ffee", HOSTILE, "team/app:1.2").ip("172.17.0.3");
    orig.network = Some("shop_default".into());
    let resp = Container::new("dbdbdb", "db-1", "postgres:16")
        .ip("203.0.113.9")
        .label("tier", "data");
    (orig, resp)
}

#[test]
fn watch_flows_carry_the_attribution_in_ecs() {
    let (orig, resp) = attributed();
    let ctx = FlowContext {
        interim: false,
        direction: "internal",
        orig: Some(&orig),
        resp: Some(&resp),
    };
    let mut out = Vec::new();
    Format::Ecs.flow_line_with(&record(), "node", Some(&ctx), &mut out);
    let v = json(&out);
    assert_eq!(get(&v, "network.direction"), "internal");
    assert_eq!(get(&v, "container.id"), "c0ffee");
    assert_eq!(get(&v, "container.name"), HOSTILE);
    assert_eq!(get(&v, "container.image.name"), "team/app");
    assert_eq!(strs(get(&v, "container.image.tag")), ["1.2"]);
    assert_eq!(get(&v, "labels.orig_container"), HOSTILE);
    assert_eq!(get(&v, "labels.resp_container"), "db-1");
    assert_eq!(get(&v, "bridgewatch.resp_container.labels.tier"), "data");
    assert_eq!(
        get(&v, "bridgewatch.orig_container.network"),
        "shop_default"
    );
    assert_eq!(strs(get(&v, "event.type")), ["connection", "end"]);

    // Only the responder is a container (inbound): it is `container.*`; an interim
    // record is `info`, not `end`.
    let ctx = FlowContext {
        interim: true,
        direction: "inbound",
        orig: None,
        resp: Some(&resp),
    };
    let mut out = Vec::new();
    Format::Ecs.flow_line_with(&record(), "node", Some(&ctx), &mut out);
    let v = json(&out);
    assert_eq!(get(&v, "container.id"), "dbdbdb");
    assert_eq!(get(&v, "container.labels.tier"), "data");
    assert_eq!(get(&v, "network.direction"), "inbound");
    assert!(get(&v, "labels.orig_container").is_null());
    assert!(get(&v, "bridgewatch.orig_container").is_null());
    assert_eq!(strs(get(&v, "event.type")), ["connection", "info"]);
    assert_eq!(get(&v, "bridgewatch.interim"), true);

    // Replay's records (no attribution) have none of it.
    let mut out = Vec::new();
    Format::Ecs.flow_line(&record(), "node", &mut out);
    let v = json(&out);
    assert!(v.get("container").is_none() && v.get("labels").is_none());
    assert!(get(&v, "network.direction").is_null());
}

#[test]
fn watch_flows_carry_the_attribution_in_ocsf() {
    let (orig, resp) = attributed();
    let ctx = FlowContext {
        interim: false,
        direction: "outbound",
        orig: Some(&orig),
        resp: Some(&resp),
    };
    let mut out = Vec::new();
    Format::Ocsf.flow_line_with(&record(), "node", Some(&ctx), &mut out);
    let v = json(&out);
    assert_ocsf_base(&v, 4001, 4);
    assert_eq!(get(&v, "src_endpoint.container.uid"), "c0ffee");
    assert_eq!(get(&v, "src_endpoint.container.name"), HOSTILE);
    assert_eq!(get(&v, "src_endpoint.container.image.name"), "team/app");
    assert_eq!(get(&v, "src_endpoint.container.image.tag"), "1.2");
    assert_eq!(get(&v, "dst_endpoint.container.uid"), "dbdbdb");
    assert_eq!(
        strs(get(&v, "dst_endpoint.container.labels")),
        ["tier=data"]
    );
    assert_eq!(get(&v, "connection_info.direction_id"), 2);
    assert_eq!(get(&v, "connection_info.direction"), "Outbound");
    assert_eq!(get(&v, "unmapped.direction"), "outbound");
    assert_eq!(get(&v, "unmapped.src_network"), "shop_default");
    assert_eq!(get(&v, "activity_id"), 2, "a finished TCP flow: Close");

    let ctx = FlowContext {
        interim: true,
        direction: "external",
        orig: None,
        resp: None,
    };
    let mut out = Vec::new();
    Format::Ocsf.flow_line_with(&record(), "node", Some(&ctx), &mut out);
    let v = json(&out);
    assert_eq!(get(&v, "activity_id"), 6, "an interim record: Traffic");
    assert_eq!(get(&v, "type_uid"), 400106);
    assert!(get(&v, "src_endpoint.container").is_null());
    assert_eq!(get(&v, "connection_info.direction_id"), 0);
}

#[test]
fn watch_flows_carry_the_attribution_in_cef_and_hostile_names_stay_values() {
    let (orig, resp) = attributed();
    let ctx = FlowContext {
        interim: false,
        direction: "inbound",
        orig: Some(&orig),
        resp: Some(&resp),
    };
    let mut out = Vec::new();
    Format::Cef.flow_line_with(&record(), "node", Some(&ctx), &mut out);
    let line = String::from_utf8(out).unwrap();
    assert_eq!(line.matches('\n').count(), 1, "{line}");
    let (h, ext) = parse_cef(line.trim_end());
    assert_eq!(h[4], "flow");
    assert_eq!(ext["deviceDirection"], "0");
    assert_eq!(ext["cs4Label"], "direction");
    assert_eq!(ext["cs4"], "inbound");
    assert_eq!(ext["cs5Label"], "origContainer");
    assert_eq!(ext["cs5"], HOSTILE);
    assert_eq!(ext["flexString1Label"], "origContainerImage");
    assert_eq!(ext["flexString1"], "team/app:1.2");
    assert_eq!(ext["cs6Label"], "respContainer");
    assert_eq!(ext["cs6"], "db-1");
    assert_eq!(ext["flexString2"], "postgres:16");
    // The record's own keys are still there.
    assert_eq!(ext["cs1"], "1:abc=");
    assert_eq!(ext["src"], "172.17.0.3");

    let ctx = FlowContext {
        interim: true,
        direction: "outbound",
        orig: Some(&orig),
        resp: None,
    };
    let mut out = Vec::new();
    Format::Cef.flow_line_with(&record(), "node", Some(&ctx), &mut out);
    let line = String::from_utf8(out).unwrap();
    let (h, ext) = parse_cef(line.trim_end());
    assert_eq!(h[4], "flow-interim");
    assert_eq!(ext["deviceDirection"], "1");
    assert!(!ext.contains_key("cs6") && !ext.contains_key("flexString2"));
}

#[test]
fn link_addresses_go_where_each_schema_puts_a_mac() {
    let mut r = record();
    r.orig_l2_addr = Some(crate::flow::record::MacAddr([
        0x02, 0x42, 0xac, 0x11, 0x00, 0x03,
    ]));
    let (mut ecs, mut ocsf) = (Vec::new(), Vec::new());
    Format::Ecs.flow_line(&r, "node1", &mut ecs);
    Format::Ocsf.flow_line(&r, "node1", &mut ocsf);
    let (ecs, ocsf) = (json(&ecs), json(&ocsf));
    // ECS: RFC 7042 notation; OCSF: the colon form. A responder with no MAC has none.
    assert_eq!(get(&ecs, "source.mac"), "02-42-AC-11-00-03");
    assert!(get(&ecs, "destination.mac").is_null());
    assert_eq!(get(&ocsf, "src_endpoint.mac"), "02:42:ac:11:00:03");
    assert!(get(&ocsf, "dst_endpoint.mac").is_null());
    // Without MACs (link types that have none) the key is absent, not empty.
    let mut plain = Vec::new();
    Format::Ecs.flow_line(&record(), "node1", &mut plain);
    assert!(get(&json(&plain), "source.mac").is_null());
}
