//! The rule engine through the binary: `fields`, `rules check`, alerts from a replay
//! of the shipped demo capture with its inventory, priority filtering, and refusal to
//! start on a bad rule file.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::process::Command;

fn alerts_by_rule(stdout: &[u8]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for a in json_lines(stdout) {
        *m.entry(s(&a, "rule")).or_default() += 1;
        assert_eq!(s(&a, "source"), "bridgewatch");
        assert!(s(&a, "time").ends_with('Z'));
        assert!(a["flow"]["community_id"].is_string());
        assert!(!s(&a, "output").contains('\n'));
    }
    m
}

#[test]
fn fields_lists_the_documented_fields() {
    let out = Command::new(bin()).arg("fields").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for f in [
        "fd.sip",
        "fd.rport",
        "flow.direction",
        "container.image.repository",
        "peer.container.name",
        "evt.type",
    ] {
        assert!(text.contains(f), "fields output lacks {f}");
    }
}

#[test]
fn rules_check_reports_file_line_column() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.yaml");
    std::fs::write(
        &good,
        "- rule: Outbound Telnet\n  desc: telnet\n  condition: fd.sport = 23\n  output: telnet to %fd.sip\n  priority: WARNING\n",
    )
    .unwrap();
    let out = Command::new(bin())
        .args(["rules", "check"])
        .arg(&good)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "- rule: Bad\n  desc: typo\n  condition: fd.sprot = 23\n  output: x\n  priority: WARNING\n",
    )
    .unwrap();
    let out = Command::new(bin())
        .args(["rules", "check"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("bad.yaml:3:"), "{text}");
    assert!(text.contains("fd.sport"), "no suggestion in: {text}");
    assert!(text.contains('^'), "no caret in: {text}");

    // replay refuses to start with it, and writes nothing
    let pcap = repo_path("pcaps/demo-container-host.pcap");
    let out = Command::new(bin())
        .args(["replay", "--rules"])
        .arg(&bad)
        .arg(&pcap)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.yaml:3:"));
}

#[test]
fn demo_capture_raises_exactly_the_expected_alerts() {
    let pcap = repo_path("pcaps/demo-container-host.pcap");
    let inv = repo_path("pcaps/demo-containers.json");
    // Every alert the rules raise (deduplication is tests/dedup.rs's).
    let out = Command::new(bin())
        .args(["replay", "--quiet", "--dedup-window", "0", "--containers"])
        .arg(&inv)
        .arg(&pcap)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = alerts_by_rule(&out.stdout);
    let want: BTreeMap<String, usize> = [
        ("Elasticsearch Unexpected Outbound Connection", 2), // es01 → :443 and es01 → resolver :53
        ("Inbound Connection to Container Data Store", 1),   // 203.0.113.99 → es01:9200
        ("DNS to Unexpected Resolver", 3),                   // app (v4, v6) and es01
        ("Unexpected Container to Container Connection", 3), // empty allow-list: app→postgres ×2, es01→es02
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(got, want);
    let es = json_lines(&out.stdout)
        .into_iter()
        .find(|a| {
            s(a, "rule") == "Elasticsearch Unexpected Outbound Connection"
                && a["flow"]["resp_p"] == 443
        })
        .expect("the 443 alert");
    assert!(
        s(&es, "output").contains("search-es01-1"),
        "{}",
        s(&es, "output")
    );
    assert_eq!(s(&es, "priority"), "Warning");

    // Without the inventory no address is a container: none of these policies apply.
    let out = Command::new(bin())
        .args(["replay", "--quiet"])
        .arg(&pcap)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(alerts_by_rule(&out.stdout).is_empty());

    // --min-priority WARNING keeps only the warnings.
    let out = Command::new(bin())
        .args([
            "replay",
            "--quiet",
            "--min-priority",
            "warning",
            "--containers",
        ])
        .arg(&inv)
        .arg(&pcap)
        .output()
        .unwrap();
    let got = alerts_by_rule(&out.stdout);
    assert_eq!(got.values().sum::<usize>(), 3, "{got:?}");
}

#[test]
fn alerts_name_their_flow_by_uid_and_community_id() {
    // Flow-start records skip the Community ID when no rule reads it; every alert
    // must still carry the same uid and Community ID as the flow's own record.
    let dir = tempfile::tempdir().unwrap();
    let flows = dir.path().join("flows.jsonl");
    let out = Command::new(bin())
        .args(["replay", "--quiet", "--containers"])
        .arg(repo_path("pcaps/demo-containers.json"))
        .arg("--flows")
        .arg(&flows)
        .arg(repo_path("pcaps/demo-container-host.pcap"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let records = json_lines(&std::fs::read(&flows).unwrap());
    let by_uid: BTreeMap<String, String> = records
        .iter()
        .map(|r| (s(r, "uid"), s(r, "community_id")))
        .collect();
    let alerts = json_lines(&out.stdout);
    assert!(!alerts.is_empty());
    for a in &alerts {
        let uid = s(&a["flow"], "uid");
        let cid = s(&a["flow"], "community_id");
        assert!(cid.starts_with("1:"), "alert without community id: {a}");
        assert_eq!(
            by_uid.get(&uid),
            Some(&cid),
            "alert {} names an unknown flow",
            s(a, "rule")
        );
        assert_eq!(s(a, "community_id"), cid);
    }
}

#[test]
fn every_alert_format_carries_the_same_alerts() {
    let run = |format: &str| {
        let out = Command::new(bin())
            .args([
                "replay",
                "--quiet",
                "--threads",
                "1",
                "--alerts-format",
                format,
            ])
            .arg("--containers")
            .arg(repo_path("pcaps/demo-containers.json"))
            .arg(repo_path("pcaps/demo-container-host.pcap"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{format}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let native = alerts_by_rule(run("native").as_bytes());
    let count = |m: &BTreeMap<String, usize>| m.values().sum::<usize>();
    assert!(count(&native) >= 5);
    let by = |lines: Vec<String>| {
        let mut m = BTreeMap::new();
        for l in lines {
            *m.entry(l).or_default() += 1;
        }
        m
    };
    let ecs = by(json_lines(run("ecs").as_bytes())
        .iter()
        .map(|d| d["rule"]["name"].as_str().unwrap().to_string())
        .collect());
    let ocsf = by(json_lines(run("ocsf").as_bytes())
        .iter()
        .map(|d| d["finding_info"]["title"].as_str().unwrap().to_string())
        .collect());
    let cef = by(run("cef")
        .lines()
        .map(|l| {
            assert!(l.starts_with("CEF:0|bridgewatch|"), "{l}");
            l.split('|').nth(5).unwrap().to_string()
        })
        .collect());
    assert_eq!(ecs, native);
    assert_eq!(ocsf, native);
    assert_eq!(cef, native);
    let bad = Command::new(bin())
        .args(["replay", "--alerts-format", "xml"])
        .arg(repo_path("pcaps/demo-container-host.pcap"))
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("use one of native, ecs, ocsf, cef"));
}
