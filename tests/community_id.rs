//! Community ID end to end: the IDs in the flow records, computed from real
//! captures, against three independent baselines — the spec's own
//! (`community-id-spec/baseline_*.json` over `combined.pcap.gz`, seeds 0 and 1),
//! Zeek's `communityid/*.pcap.out`, and suricata-verify's community-id tests
//! (seeds 7 and 1).

mod common;

use common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::Path;

/// (proto, addr, port, addr, port) in both orientations → our community id.
fn ids_by_tuple(records: &[Value]) -> BTreeMap<(u64, IpAddr, u64, IpAddr, u64), BTreeSet<String>> {
    let mut m: BTreeMap<_, BTreeSet<String>> = BTreeMap::new();
    for r in records {
        let o: IpAddr = s(r, "orig_h").parse().unwrap();
        let p: IpAddr = s(r, "resp_h").parse().unwrap();
        let proto = proto_num(&s(r, "proto"));
        let id = s(r, "community_id");
        for k in [
            (proto, o, u(r, "orig_p"), p, u(r, "resp_p")),
            (proto, p, u(r, "resp_p"), o, u(r, "orig_p")),
        ] {
            m.entry(k).or_default().insert(id.clone());
        }
    }
    m
}

fn proto_num(p: &str) -> u64 {
    match p {
        "tcp" => 6,
        "udp" => 17,
        "icmp" => 1,
        "icmp6" => 58,
        "sctp" => 132,
        n => n.parse().unwrap_or(u64::MAX),
    }
}

fn check_spec_baseline(root: &Path, baseline: &str, seed: &str) -> usize {
    let pcap = root.join("community-id-spec/combined.pcap.gz");
    let (records, out) = replay(&[&pcap], &["--community-id-seed", seed]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ours = ids_by_tuple(&records);
    let text = std::fs::read_to_string(root.join("community-id-spec").join(baseline)).unwrap();
    let entries: Vec<Value> = serde_json::from_str(&text).unwrap();
    assert!(entries.len() > 20);
    let mut missing = Vec::new();
    for e in &entries {
        let key = (
            e["proto"].as_u64().unwrap(),
            e["saddr"].as_str().unwrap().parse().unwrap(),
            e["sport"].as_u64().unwrap_or(0),
            e["daddr"].as_str().unwrap().parse().unwrap(),
            e["dport"].as_u64().unwrap_or(0),
        );
        let want = e["communityid"].as_str().unwrap().to_string();
        match ours.get(&key) {
            Some(ids) if ids.contains(&want) => {}
            other => missing.push(format!("{key:?}: want {want}, ours {other:?}")),
        }
    }
    assert!(
        missing.is_empty(),
        "{baseline}: {} of {} not reproduced:\n{}",
        missing.len(),
        entries.len(),
        missing.join("\n")
    );
    entries.len()
}

#[test]
fn spec_baseline_seed_0() {
    let Some(root) = shared_pcaps("community id spec seed 0") else {
        return;
    };
    let n = check_spec_baseline(&root, "baseline_deflt.json", "0");
    println!("reproduced {n} community ids (seed 0)");
}

#[test]
fn spec_baseline_seed_1() {
    let Some(root) = shared_pcaps("community id spec seed 1") else {
        return;
    };
    let n = check_spec_baseline(&root, "baseline_seed1.json", "1");
    println!("reproduced {n} community ids (seed 1)");
}

#[test]
fn zeek_community_id_outputs() {
    let Some(root) = shared_pcaps("zeek community id") else {
        return;
    };
    let mut checked = 0;
    let mut sctp_skipped = 0;
    for out_file in files_with(&root.join("zeek/communityid"), &[".pcap.out"]) {
        let pcap = out_file.with_extension(""); // strip .out
        let (records, _) = replay(&[&pcap], &[]);
        let ours = ids_by_tuple(&records);
        for line in std::fs::read_to_string(&out_file).unwrap().lines() {
            let Some(rest) = line.strip_prefix("[orig_h=") else {
                continue;
            };
            // [orig_h=A, orig_p=P/proto, resp_h=B, resp_p=Q/proto, proto=N, ctx=[]], ID
            let field = |name: &str| -> String {
                let i = line.find(&format!("{name}=")).unwrap() + name.len() + 1;
                line[i..].split([',', '/']).next().unwrap().to_string()
            };
            let _ = rest;
            let id = line.rsplit(", ").next().unwrap().to_string();
            let key = (
                field("proto").parse::<u64>().unwrap(),
                field("orig_h").parse().unwrap(),
                field("orig_p").parse().unwrap(),
                field("resp_h").parse().unwrap(),
                field("resp_p").parse().unwrap(),
            );
            if key.0 == 132 {
                // Zeek has no SCTP analyzer: its connection (and so its Community ID)
                // for SCTP has ports 0, unlike the spec, whose SCTP entries in
                // baseline_deflt.json we do reproduce (spec_baseline_seed_0).
                sctp_skipped += 1;
                continue;
            }
            let got = ours.get(&key);
            assert!(
                got.is_some_and(|ids| ids.contains(&id)),
                "{}: {key:?}: want {id}, ours {got:?}",
                out_file.display()
            );
            checked += 1;
        }
    }
    assert!(checked >= 18, "only {checked} Zeek community ids checked");
    println!("reproduced {checked} Zeek community ids ({sctp_skipped} SCTP lines with Zeek's port-less key not compared)");
}

#[test]
fn suricata_verify_seeds_7_and_1() {
    let Some(root) = shared_pcaps("suricata-verify community id") else {
        return;
    };
    let mut checked = 0;
    for (test, seed) in [
        ("community-id-ipv4", "7"),
        ("community-id-ipv6", "7"),
        ("community-id-sameip", "1"),
    ] {
        let dir = root.join("suricata-verify").join(test);
        let (records, _) = replay(&[&dir.join("input.pcap")], &["--community-id-seed", seed]);
        let ours = ids_by_tuple(&records);
        let yaml = std::fs::read_to_string(dir.join("test.yaml")).unwrap();
        // Each `match:` block lists community_id, src/dest ip and port, proto.
        for block in yaml.split("match:").skip(1) {
            let get = |k: &str| -> Option<String> {
                block.lines().map(str::trim).find_map(|l| {
                    l.strip_prefix(&format!("{k}: "))
                        .map(|v| v.trim().to_string())
                })
            };
            let Some(id) = get("community_id") else {
                continue;
            };
            let key = (
                proto_num(&get("proto").unwrap().to_lowercase()),
                get("src_ip").unwrap().parse().unwrap(),
                get("src_port").unwrap().parse().unwrap(),
                get("dest_ip").unwrap().parse().unwrap(),
                get("dest_port").unwrap().parse().unwrap(),
            );
            let got = ours.get(&key);
            assert!(
                got.is_some_and(|ids| ids.contains(&id)),
                "{test}: {key:?}: want {id}, ours {got:?}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 5, "only {checked} suricata-verify ids checked");
}
