//! Directional packet counts against tshark: for every capture under
//! `../shared/pcaps` with a `.tshark-conv.txt` beside it (tshark's `conv,tcp` and
//! `conv,udp`), each conversation's frames in each direction must equal the packets
//! bridgewatch counted for that 5-tuple (summed over its flows, since tshark never
//! splits a conversation by timeout).  Known, explained differences are listed in
//! `EXPECTED_DIFFERENCES` and checked to still differ, so the list stays honest.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

/// (capture path suffix, conversation as tshark prints it, why we differ).
// Empty today: FDDI (zeek/llc.pcap) and GTP-U (gtp1_gn_normal_incl_fragmentation)
// used to differ and are decoded now.
const EXPECTED_DIFFERENCES: &[(&str, &str, &str)] = &[];

type ConvKey = (String, IpAddr, u16, IpAddr, u16); // proto, A, A port, B, B port

fn split_endpoint(s: &str) -> Option<(IpAddr, u16)> {
    let (a, p) = s.rsplit_once(':')?;
    Some((a.parse().ok()?, p.parse().ok()?))
}

/// tshark conversations: key → (frames A→B, frames B→A).
fn parse_conv(text: &str) -> BTreeMap<ConvKey, (u64, u64)> {
    let mut out = BTreeMap::new();
    let mut proto = "";
    for line in text.lines() {
        if line.starts_with("UDP Conversations") {
            proto = "udp";
        } else if line.starts_with("TCP Conversations") {
            proto = "tcp";
        }
        let t: Vec<&str> = line.split_whitespace().collect();
        if t.len() < 7 || t[1] != "<->" {
            continue;
        }
        let (Some((a, ap)), Some((b, bp))) = (split_endpoint(t[0]), split_endpoint(t[2])) else {
            panic!("unparsable conversation line: {line}");
        };
        let b_to_a: u64 = t[3].parse().expect("frames <-");
        let a_to_b: u64 = t[6].parse().expect("frames ->");
        let e = out
            .entry((proto.to_string(), a, ap, b, bp))
            .or_insert((0, 0));
        e.0 += a_to_b;
        e.1 += b_to_a;
    }
    out
}

#[test]
fn directional_packet_counts_match_tshark_conversations() {
    let Some(root) = shared_pcaps("tshark conversations") else {
        return;
    };
    let convs = files_with(&root, &[".tshark-conv.txt"]);
    assert!(
        convs.len() > 40,
        "expected the tshark baselines, found {}",
        convs.len()
    );
    let mut total = 0usize;
    let mut matched = 0usize;
    let mut unexpected = Vec::new();
    let mut still_expected: Vec<&str> = Vec::new();
    println!("{:<70} {:>6} {:>8}", "capture", "convs", "matching");
    for conv_file in &convs {
        let name = conv_file.to_string_lossy().to_string();
        let pcap = Path::new(name.trim_end_matches(".tshark-conv.txt"));
        let expected = parse_conv(&std::fs::read_to_string(conv_file).expect("read conv"));
        if expected.is_empty() {
            continue;
        }
        let (records, _) = replay(&[pcap], &[]);
        let mut ours: BTreeMap<ConvKey, (u64, u64)> = BTreeMap::new();
        for r in &records {
            let proto = s(r, "proto");
            let o: IpAddr = s(r, "orig_h").parse().expect("orig_h");
            let p: IpAddr = s(r, "resp_h").parse().expect("resp_h");
            let (op, rp) = (u(r, "orig_p") as u16, u(r, "resp_p") as u16);
            for (key, sent) in [
                (
                    (proto.clone(), o, op, p, rp),
                    (u(r, "orig_pkts"), u(r, "resp_pkts")),
                ),
                (
                    (proto.clone(), p, rp, o, op),
                    (u(r, "resp_pkts"), u(r, "orig_pkts")),
                ),
            ] {
                let e = ours.entry(key).or_insert((0, 0));
                e.0 += sent.0;
                e.1 += sent.1;
            }
        }
        let mut file_ok = 0;
        for (key, want) in &expected {
            total += 1;
            let got = ours.get(key).copied().unwrap_or((0, 0));
            let label = format!("{}:{} <-> {}:{}", key.1, key.2, key.3, key.4);
            let listed = EXPECTED_DIFFERENCES
                .iter()
                .find(|(f, c, _)| name.ends_with(f) && *c == label);
            if got == *want {
                matched += 1;
                file_ok += 1;
                if let Some((f, c, _)) = listed {
                    still_expected.push(f);
                    eprintln!("listed difference no longer differs: {f} {c}");
                }
            } else {
                let line = format!(
                    "{} {} {label}: tshark {}/{} frames, bridgewatch {}/{}",
                    name.trim_start_matches(&*root.to_string_lossy()),
                    key.0,
                    want.0,
                    want.1,
                    got.0,
                    got.1
                );
                match listed {
                    Some((_, _, why)) => println!("  known: {line} — {why}"),
                    None => unexpected.push(line),
                }
            }
        }
        println!(
            "{:<70} {:>6} {:>8}",
            name.trim_start_matches(&*root.to_string_lossy()),
            expected.len(),
            file_ok
        );
    }
    println!("total: {matched}/{total} conversations match tshark exactly");
    assert!(
        unexpected.is_empty(),
        "unexplained differences from tshark:\n{}",
        unexpected.join("\n")
    );
    assert!(
        still_expected.is_empty(),
        "stale EXPECTED_DIFFERENCES entries: {still_expected:?}"
    );
}
