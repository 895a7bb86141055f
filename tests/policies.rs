//! Every shipped rule against its two generated captures in `pcaps/policies/`: the
//! `.fire.pcap` must raise exactly the alerts listed here and the `.miss.pcap` exactly
//! its own list (empty today: a near miss raises nothing at all). Replayed through the
//! binary with the shipped rules and `pcaps/policies/containers.json`, with the default
//! thread count and with one thread. A rule added to `signatures/` without a pair and a
//! row here fails `every_shipped_rule_has_a_pair`. The captures themselves are checked
//! against their generator by `cargo test --example policycaps`.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

/// (rule, alerts the fire capture raises, alerts the miss capture raises).
type Expect = (
    &'static str,
    &'static [(&'static str, usize)],
    &'static [(&'static str, usize)],
);

const EXPECTED: &[Expect] = &[
    (
        "Elasticsearch Unexpected Outbound Connection",
        &[("Elasticsearch Unexpected Outbound Connection", 1)],
        &[],
    ),
    (
        "Container Contacts Cloud Metadata Service",
        // 169.254.169.254 and fd00:ec2::254.
        &[("Container Contacts Cloud Metadata Service", 2)],
        &[],
    ),
    (
        "Container Reaches Runtime or Kubernetes API",
        // Docker API 2375 and kubelet 10250.
        &[("Container Reaches Runtime or Kubernetes API", 2)],
        &[],
    ),
    (
        "Connection to Crypto Mining Pool Port",
        &[("Connection to Crypto Mining Pool Port", 1)],
        &[],
    ),
    (
        "Connection to Crypto Mining Pool Domain",
        // The name comes from the DNS answer earlier in the capture (passive DNS).
        &[("Connection to Crypto Mining Pool Domain", 1)],
        &[],
    ),
    (
        "Connection to Tor Port",
        &[("Connection to Tor Port", 1)],
        &[],
    ),
    (
        "Connection to IRC Port",
        &[("Connection to IRC Port", 1)],
        &[],
    ),
    (
        "Outbound Remote Access from Container",
        &[("Outbound Remote Access from Container", 1)],
        &[],
    ),
    (
        "DNS to Unexpected Resolver",
        // One IPv4 and one IPv6 resolver.
        &[("DNS to Unexpected Resolver", 2)],
        &[],
    ),
    (
        "Inbound Connection to Container Data Store",
        &[("Inbound Connection to Container Data Store", 1)],
        &[],
    ),
    (
        "Unexpected Container to Container Connection",
        &[("Unexpected Container to Container Connection", 1)],
        &[],
    ),
    (
        "Container Fan-out to Many Peers",
        &[("Container Fan-out to Many Peers", 1)],
        &[],
    ),
    (
        "Container Fan-out to Many Ports",
        &[("Container Fan-out to Many Ports", 1)],
        &[],
    ),
];

/// Same rule as the generator's file names: lower case, other runs as one '-'.
fn slug(rule: &str) -> String {
    let mut s = String::new();
    for ch in rule.chars() {
        if ch.is_ascii_alphanumeric() {
            s.push(ch.to_ascii_lowercase());
        } else if !s.ends_with('-') {
            s.push('-');
        }
    }
    s.trim_matches('-').to_string()
}

fn dir() -> PathBuf {
    repo_path("pcaps/policies")
}

/// Alerts raised by one replay, counted by rule name (every one: no deduplication).
fn alerts(pcap: &PathBuf, threads: Option<&str>) -> BTreeMap<String, usize> {
    let mut cmd = Command::new(bin());
    cmd.args(["replay", "--quiet", "--dedup-window", "0", "--containers"])
        .arg(dir().join("containers.json"));
    if let Some(n) = threads {
        cmd.args(["--threads", n]);
    }
    let out = cmd.arg(pcap).output().expect("run bridgewatch");
    assert!(
        out.status.success(),
        "{}: exit {:?}: {}",
        pcap.display(),
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut m = BTreeMap::new();
    for a in json_lines(&out.stdout) {
        assert_eq!(s(&a, "source"), "bridgewatch");
        assert!(a["flow"]["community_id"].is_string(), "{a}");
        *m.entry(s(&a, "rule")).or_default() += 1;
    }
    m
}

fn counts(list: &[(&str, usize)]) -> BTreeMap<String, usize> {
    list.iter().map(|(r, n)| (r.to_string(), *n)).collect()
}

#[test]
fn each_capture_raises_exactly_its_alerts() {
    let mut wrong = Vec::new();
    for (rule, fire, miss) in EXPECTED {
        for (kind, want) in [("fire", fire), ("miss", miss)] {
            let pcap = dir().join(format!("{}.{kind}.pcap", slug(rule)));
            assert!(pcap.is_file(), "{} is missing", pcap.display());
            let want = counts(want);
            for threads in [None, Some("1")] {
                let got = alerts(&pcap, threads);
                if got != want {
                    wrong.push(format!(
                        "{} (threads {}): want {want:?}, got {got:?}",
                        pcap.display(),
                        threads.unwrap_or("default")
                    ));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}

#[test]
fn the_rule_under_test_fires_only_on_its_fire_capture() {
    // A guard on the table itself: each fire list names its rule, no miss list does.
    for (rule, fire, miss) in EXPECTED {
        assert!(fire.iter().any(|(r, n)| r == rule && *n > 0), "{rule}");
        assert!(!miss.iter().any(|(r, _)| r == rule), "{rule}");
    }
}

/// `- rule: NAME` lines of the shipped rule files (the YAML the binary embeds).
fn shipped_rules() -> Vec<String> {
    let mut names = Vec::new();
    for f in files_with(&repo_path("signatures"), &[".yaml", ".yml"]) {
        let text = std::fs::read_to_string(&f).unwrap();
        for line in text.lines() {
            if let Some(name) = line.trim_start().strip_prefix("- rule:") {
                names.push(name.trim().trim_matches(['"', '\'']).to_string());
            }
        }
    }
    names.sort();
    names
}

#[test]
fn every_shipped_rule_has_a_pair() {
    let shipped = shipped_rules();
    assert!(!shipped.is_empty(), "no rules found in signatures/");
    let mut tested: Vec<String> = EXPECTED.iter().map(|e| e.0.to_string()).collect();
    tested.sort();
    assert_eq!(
        shipped, tested,
        "a shipped rule needs a capture pair (examples/policycaps.rs) and a row in EXPECTED"
    );
    for rule in &shipped {
        for kind in ["fire", "miss"] {
            let p = dir().join(format!("{}.{kind}.pcap", slug(rule)));
            assert!(p.is_file(), "{rule}: {} missing", p.display());
        }
    }
}

#[test]
fn the_yaml_scan_sees_every_rule_the_binary_loads() {
    // `rules check` counts the rules it compiled; a rule the line scan above missed
    // (quoted or folded oddly) would make the two numbers differ.
    let out = Command::new(bin())
        .args(["rules", "check"])
        .arg(repo_path("signatures"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let want = format!(" {} rule(s)", shipped_rules().len());
    assert!(text.contains(&want), "expected{want} in {text}");
}
