//! What `watch` does with each flow as it leaves a worker's table: the rules (the
//! same [`RuleHook`] replay runs) and the flow record, written with the containers
//! behind both ends.  A record is replay's JSON line with four keys added before the
//! closing brace: `interim` (an active-timeout snapshot of a flow still open),
//! `direction` (the rules' definition, [`flow_direction`]), and `orig_container` /
//! `resp_container` (id, name, image, labels, network, how it was found, the members
//! of a shared network namespace; or null), from [`Inventory::attribute`]: the
//! capture veth, then each end's first source MAC, then its IP, at the flow's start,
//! so an address a container held earlier names the container that held it then
//! (the inventory's leases).
//! Outputs in the other formats get the same attribution ([`FlowContext`]) mapped
//! to their own fields by [`crate::sinks::format`].

use crate::flow::record::FlowRecord;
use crate::pipeline::alerts::RuleHook;
use crate::pipeline::fanout::Fanout;
use crate::pipeline::FlowHook;
use crate::rules::{flow_direction_of, AttributedBy, Container, Ends, Inventory, SharedInventory};
use crate::sinks::format::FlowContext;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// One worker's hook in `watch`: rules first, then the record.
pub struct WatchHook {
    pub rules: Option<RuleHook>,
    pub records: Option<RecordWriter>,
}

impl FlowHook for WatchHook {
    fn on_start(&mut self, record: &FlowRecord) {
        if let Some(r) = self.rules.as_mut() {
            r.on_start(record);
        }
    }

    fn on_end(&mut self, record: &FlowRecord) {
        if let Some(r) = self.rules.as_mut() {
            r.on_end(record);
        }
        if let Some(w) = self.records.as_mut() {
            w.write(record, false);
        }
    }

    fn on_interim(&mut self, record: &FlowRecord) {
        if let Some(w) = self.records.as_mut() {
            w.write(record, true);
        }
    }

    fn flush(&mut self) {
        if let Some(r) = self.rules.as_mut() {
            r.flush();
        }
        if let Some(w) = self.records.as_mut() {
            w.flush();
        }
    }

    fn finish(&mut self) {
        if let Some(r) = self.rules.as_mut() {
            r.finish();
        }
        if let Some(w) = self.records.as_mut() {
            w.flush();
        }
    }
}

/// Hands attributed flow records to the outputs that take flows (native ones get
/// the attributed line; the fan-out buffers and chunks per output).
pub struct RecordWriter {
    shared: Arc<SharedInventory>,
    /// This worker's copy of the current snapshot, refreshed when its version moves.
    inv: Arc<Inventory>,
    inv_version: u64,
    out: Fanout,
}

#[derive(Serialize)]
struct ContainerJson<'a> {
    id: &'a str,
    name: &'a str,
    image: &'a str,
    labels: &'a BTreeMap<String, String>,
    network: Option<&'a str>,
    attributed_by: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    netns_members: Vec<&'a str>,
}

impl RecordWriter {
    pub fn new(shared: Arc<SharedInventory>, out: Fanout) -> RecordWriter {
        let (inv_version, inv) = shared.snapshot();
        RecordWriter {
            shared,
            inv,
            inv_version,
            out,
        }
    }

    /// Hands `r` on with its attribution: a native line with the attribution keys,
    /// the other formats with it in their own fields.
    pub fn write(&mut self, r: &FlowRecord, interim: bool) {
        // No output takes flows (now: a reload may add one).
        if self.out.is_empty() {
            return;
        }
        if self.shared.version() != self.inv_version {
            (self.inv_version, self.inv) = self.shared.snapshot();
        }
        let ends = self.inv.attribute(r);
        let ctx = context(&self.inv, r, &ends, interim);
        self.out
            .flow_native_with(r, &ctx, |out| write_with(r, &ctx, &ends, out));
    }

    pub fn flush(&mut self) {
        self.out.flush();
    }
}

/// What the inventory says of `r` (its ends already attributed): both ends'
/// containers (at the flow's start) and the direction.
pub fn context<'a>(
    inv: &Inventory,
    r: &FlowRecord,
    ends: &Ends<'a>,
    interim: bool,
) -> FlowContext<'a> {
    FlowContext {
        interim,
        direction: flow_direction_of(inv, r, ends),
        orig: ends.container[0],
        resp: ends.container[1],
    }
}

/// `r`'s JSON line plus `interim`, `direction`, `orig_container`, `resp_container`.
pub fn write_attributed(inv: &Inventory, r: &FlowRecord, interim: bool, out: &mut Vec<u8>) {
    let ends = inv.attribute(r);
    write_with(r, &context(inv, r, &ends, interim), &ends, out)
}

fn write_with(r: &FlowRecord, ctx: &FlowContext<'_>, ends: &Ends<'_>, out: &mut Vec<u8>) {
    let interim = ctx.interim;
    let start = out.len();
    r.write_json_line(out);
    // The line ends with "}\n": reopen the object.
    if !out.ends_with(b"}\n") {
        out.truncate(start);
        return;
    }
    out.truncate(out.len() - 2);
    out.extend_from_slice(if interim {
        br#","interim":true,"direction":""#.as_slice()
    } else {
        br#","interim":false,"direction":""#
    });
    out.extend_from_slice(ctx.direction.as_bytes());
    out.extend_from_slice(br#"","orig_container":"#);
    write_container(out, ctx.orig, ends.by[0], r.ts);
    out.extend_from_slice(br#","resp_container":"#);
    write_container(out, ctx.resp, ends.by[1], r.ts);
    out.extend_from_slice(b"}\n");
}

fn write_container(
    out: &mut Vec<u8>,
    c: Option<&Container>,
    by: Option<AttributedBy>,
    ts: crate::time::Nanos,
) {
    let (Some(c), Some(by)) = (c, by) else {
        out.extend_from_slice(b"null");
        return;
    };
    let j = ContainerJson {
        id: &c.id,
        name: &c.name,
        image: &c.image,
        labels: &c.labels,
        network: c.network.as_deref(),
        attributed_by: by.as_str(),
        netns_members: c.netns_members_at(ts).collect(),
    };
    // Serialising plain strings and a string map into a Vec cannot fail; a null keeps
    // the line valid JSON if it ever did.
    let mark = out.len();
    if serde_json::to_writer(&mut *out, &j).is_err() {
        out.truncate(mark);
        out.extend_from_slice(b"null");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(orig: &str, resp: &str, ts: i64) -> FlowRecord {
        FlowRecord {
            end: ts + 1_000,
            uid: crate::flow::uid::Uid::from_seed(0xabc),
            orig_pkts: 3,
            orig_ip_bytes: 180,
            resp_pkts: 2,
            resp_ip_bytes: 120,
            conn_state: "SF",
            history: "ShAFaf".into(),
            iface: Some("br0".into()),
            ..FlowRecord::attempt(
                ts,
                (orig.parse().unwrap(), 40000),
                (resp.parse().unwrap(), 443),
                6,
            )
        }
    }

    fn inventory() -> Inventory {
        Inventory::from_json_str(
            r#"{"containers":[
                {"id":"e1","name":"es01","image":"elasticsearch:8.13","ips":["172.18.0.5"],
                 "labels":{"tier":"data \"hot\""},"network":"search","until":"2026-01-01T00:00:00Z"},
                {"id":"w2","name":"web","image":"nginx","ips":["172.18.0.5"],
                 "since":"2026-01-01T00:00:00Z"},
                {"id":"a3","name":"api","image":"api:1","ips":["172.18.0.6"],
                 "networks":[{"name":"shop_default","id":"n1","ipv4":"172.18.0.6"}]}],
               "host_ips":["172.18.0.1"]}"#,
            "test",
        )
        .unwrap()
    }

    fn line(inv: &Inventory, r: &FlowRecord, interim: bool) -> serde_json::Value {
        let mut out = Vec::new();
        write_attributed(inv, r, interim, &mut out);
        assert_eq!(out.last(), Some(&b'\n'));
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn records_name_both_containers_and_the_direction() {
        let inv = inventory();
        // 2025-06-01: the address belonged to es01.
        let t2025 = 1_748_736_000 * 1_000_000_000;
        let v = line(&inv, &record("172.18.0.5", "203.0.113.9", t2025), false);
        assert_eq!(v["direction"], "outbound");
        assert_eq!(v["interim"], false);
        assert_eq!(v["orig_container"]["name"], "es01");
        assert_eq!(v["orig_container"]["image"], "elasticsearch:8.13");
        assert_eq!(v["orig_container"]["labels"]["tier"], "data \"hot\"");
        assert_eq!(v["orig_container"]["network"], "search");
        assert!(v["resp_container"].is_null());
        assert_eq!(v["conn_state"], "SF");
        // 2026-06-01: the same address is web's now; api → web is internal.
        let t2026 = 1_780_272_000 * 1_000_000_000;
        let v = line(&inv, &record("172.18.0.6", "172.18.0.5", t2026), true);
        assert_eq!(v["direction"], "internal");
        assert_eq!(v["interim"], true);
        assert_eq!(v["orig_container"]["id"], "a3");
        // `bridgewatch inventory` writes `networks`; their names become `network`.
        assert_eq!(v["orig_container"]["network"], "shop_default");
        assert_eq!(v["resp_container"]["name"], "web");
        assert!(v["resp_container"]["network"].is_null());
        // The bridge address is the host.
        let v = line(&inv, &record("172.18.0.6", "172.18.0.1", t2026), false);
        assert_eq!(v["direction"], "host");
        let v = line(&inv, &record("198.51.100.1", "172.18.0.6", t2026), false);
        assert_eq!(v["direction"], "inbound");
    }

    #[test]
    fn records_through_the_outputs_keep_the_attribution_keys_in_native_only() {
        use crate::config::{Carries, OutputSpec, OutputsConfig, SinkSpec};
        use crate::pipeline::fanout::Outputs;
        use crate::rules::Priority;
        use crate::sinks::file_out::FileSpec;
        use crate::sinks::format::Format;
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, format: Format| OutputSpec {
            name: name.into(),
            sink: SinkSpec::File(FileSpec {
                path: dir.path().join(name),
                max_bytes: None,
                keep: 0,
                append: false,
            }),
            format,
            carries: Carries::Flows,
            min_priority: Priority::Debug,
            delivery: Default::default(),
            spool: None,
        };
        let cfg = OutputsConfig {
            outputs: vec![file("native", Format::Native), file("ecs", Format::Ecs)],
            flush_timeout: std::time::Duration::from_secs(1),
        };
        let outputs = Outputs::start(&cfg, "h").unwrap();
        let shared = Arc::new(SharedInventory::new(Arc::new(inventory())));
        let mut w = RecordWriter::new(shared, outputs.flows().unwrap());
        let t2026 = 1_780_272_000 * 1_000_000_000;
        w.write(&record("172.18.0.6", "172.18.0.5", t2026), true);
        w.write(&record("172.18.0.6", "172.18.0.5", t2026), false);
        w.flush();
        drop(w);
        let (errors, _) = outputs.finish(std::time::Duration::from_secs(1));
        assert!(errors.is_empty(), "{errors:?}");
        let read = |n: &str| -> Vec<serde_json::Value> {
            std::fs::read_to_string(dir.path().join(n))
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect()
        };
        let native = read("native");
        assert_eq!(native.len(), 2);
        assert_eq!(native[0]["interim"], true);
        assert_eq!(native[1]["interim"], false);
        for v in &native {
            assert_eq!(v["direction"], "internal");
            assert_eq!(v["orig_container"]["name"], "api");
            assert_eq!(v["resp_container"]["name"], "web");
        }
        let ecs = read("ecs");
        assert_eq!(ecs.len(), 2);
        for v in &ecs {
            assert_eq!(v["source"]["ip"], "172.18.0.6", "{v}");
            assert!(v.get("orig_container").is_none(), "{v}");
        }
    }
}
