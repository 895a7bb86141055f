//! Passive DNS against tshark: for every capture under `../shared/pcaps` with a
//! `.tshark-conv.txt` beside it, the name bridgewatch gives each flow's server
//! (`fd.sip.name`, read by a rule that fires on every named flow) must equal the name
//! computed here from tshark's own dissection of the DNS responses in the file: the
//! question of the latest NOERROR response from port 53, strictly before the flow's
//! first packet, whose answer section holds the server's address with a TTL
//! (floored at 10 s) that still covers the flow's start.  DNS quoted inside ICMP
//! errors is left out on both sides.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::process::Command;

const NAMES_RULE: &str = r#"
- rule: Named server
  desc: every flow whose server was named by an earlier DNS answer
  condition: evt.type = connect and fd.sip.name exists
  output: "%fd.sip.name"
  priority: INFO
"#;

/// One response as tshark dissects it: time (ns), question, answer addresses with TTLs.
struct Response {
    at: i64,
    name: String,
    answers: Vec<(IpAddr, u32)>,
}

fn epoch_ns(s: &str) -> Option<i64> {
    let (secs, frac) = s.split_once('.').unwrap_or((s, "0"));
    let frac = format!("{frac:0<9}");
    Some(secs.parse::<i64>().ok()? * 1_000_000_000 + frac.get(..9)?.parse::<i64>().ok()?)
}

/// "2011-03-18T03:46:07.097012Z" → ns since the epoch.
fn rfc3339_ns(s: &str) -> i64 {
    let n = |r: std::ops::Range<usize>| s[r].parse::<i64>().unwrap();
    let (y, m, d) = (n(0..4), n(5..7), n(8..10));
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + n(11..13) * 3600 + n(14..16) * 60 + n(17..19);
    secs * 1_000_000_000 + epoch_ns(&format!("0.{}", &s[20..s.len() - 1])).unwrap()
}

fn tshark_responses(pcap: &Path) -> Vec<Response> {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(pcap)
        .args([
            "-Y",
            // Not DNS quoted inside an ICMP error: that response was never delivered
            // (zeek/communityid/icmp6.pcap has one), and bridgewatch rightly ignores it.
            "udp.srcport == 53 && dns.flags.response == 1 && dns.flags.rcode == 0 \
             && dns.flags.opcode == 0 && !icmp && !icmpv6",
            "-T",
            "fields",
            "-E",
            "separator=|",
            "-E",
            "aggregator=,",
            "-e",
            "frame.time_epoch",
            "-e",
            "dns.qry.name",
            "-e",
            "dns.count.answers",
            "-e",
            "dns.resp.type",
            "-e",
            "dns.resp.ttl",
            "-e",
            "dns.a",
            "-e",
            "dns.aaaa",
        ])
        .output()
        .expect("tshark runs (install tshark)");
    let mut v = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<&str> = line.split('|').collect();
        if f.len() < 7 {
            continue;
        }
        let list = |s: &str| -> Vec<String> {
            s.split(',')
                .filter(|x| !x.is_empty())
                .map(String::from)
                .collect()
        };
        let n_answers: usize = list(f[2]).first().and_then(|x| x.parse().ok()).unwrap_or(0);
        let types = list(f[3]);
        let ttls = list(f[4]);
        let (mut a, mut aaaa) = (list(f[5]).into_iter(), list(f[6]).into_iter());
        let mut answers = Vec::new();
        // dns.a / dns.aaaa list the A / AAAA records of every section in order, so
        // the answer section's come first.
        for (t, ttl) in types.iter().zip(&ttls).take(n_answers) {
            let addr = match t.as_str() {
                "1" => a.next(),
                "28" => aaaa.next(),
                _ => None,
            };
            if let Some(ip) = addr.and_then(|x| x.parse().ok()) {
                answers.push((ip, ttl.parse().unwrap_or(0)));
            }
        }
        let name = list(f[1])
            .first()
            .cloned()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if let (Some(at), false) = (epoch_ns(f[0]), name.is_empty()) {
            v.push(Response { at, name, answers });
        }
    }
    v
}

fn expected_name(rs: &[Response], server: IpAddr, at: i64) -> Option<String> {
    rs.iter()
        .filter(|r| r.at < at)
        .filter_map(|r| {
            let (_, ttl) = r.answers.iter().find(|(ip, _)| *ip == server)?;
            let until = r.at + i64::from((*ttl).clamp(10, 86_400)) * 1_000_000_000;
            (at <= until).then_some((r.at, r.name.clone()))
        })
        .max_by_key(|(t, _)| *t)
        .map(|(_, n)| n)
}

#[test]
fn server_names_match_tshark_dns_answers() {
    let Some(root) = shared_pcaps("server_names_match_tshark_dns_answers") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("names.yaml");
    std::fs::write(&rules, NAMES_RULE).unwrap();
    let (mut files_with_dns, mut named, mut unnamed) = (0, 0, 0);
    let mut mismatches = Vec::new();
    for conv in files_with(&root, &[".tshark-conv.txt"]) {
        let pcap = conv.with_file_name(
            conv.file_name()
                .unwrap()
                .to_string_lossy()
                .trim_end_matches(".tshark-conv.txt"),
        );
        let responses = tshark_responses(&pcap);
        if responses.is_empty() {
            continue;
        }
        files_with_dns += 1;
        let flows_path = dir.path().join("flows.jsonl");
        let out = Command::new(bin())
            .args(["replay", "--quiet", "--dedup-window", "0", "--rules"])
            .arg(&rules)
            .arg("--flows")
            .arg(&flows_path)
            .arg(&pcap)
            .output()
            .unwrap();
        let got: BTreeMap<String, String> = json_lines(&out.stdout)
            .iter()
            .map(|a| (s(&a["flow"], "uid"), s(a, "output")))
            .collect();
        let flows = json_lines(&std::fs::read(&flows_path).unwrap());
        for f in &flows {
            let server: IpAddr = s(f, "resp_h").parse().unwrap();
            let want = expected_name(&responses, server, rfc3339_ns(&s(f, "ts")));
            let have = got.get(&s(f, "uid")).cloned();
            if want.is_some() {
                named += 1;
            } else {
                unnamed += 1;
            }
            if want != have {
                mismatches.push(format!(
                    "{}: flow {} {} -> {}: tshark says {want:?}, bridgewatch {have:?}",
                    pcap.display(),
                    s(f, "ts"),
                    s(f, "orig_h"),
                    server
                ));
            }
        }
    }
    println!(
        "passive DNS vs tshark: {files_with_dns} captures with DNS answers, {named} named flows, {unnamed} unnamed, {} mismatches",
        mismatches.len()
    );
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    // wikipedia.pcap alone names 7 HTTP flows: the comparison is not vacuous.
    assert!(
        files_with_dns >= 5 && named >= 7,
        "{files_with_dns} files, {named} named"
    );
}
