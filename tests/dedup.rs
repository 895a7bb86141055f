//! Alert deduplication end to end (`--dedup-window`), on a capture built here: a
//! container connects to an IRC port (a shipped WARNING rule) again and again, to
//! one outside address and then another.  Within a window only the first alert of
//! a key is written; the next one after the window carries the number held back
//! (`suppressed` in native JSON, `cnt` in CEF); the summary and `--stats-json`
//! count them by rule; the totals do not depend on `--threads`; and a window of 0
//! writes every alert.

mod common;

use common::pcapgen::PcapBuilder;
use common::*;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

const APP: [u8; 4] = [172, 18, 0, 3]; // shop-app-1 in pcaps/policies/containers.json
const IRC_A: [u8; 4] = [203, 0, 113, 50];
const IRC_B: [u8; 4] = [203, 0, 113, 51];
const RULE: &str = "Connection to IRC Port";

/// Connections at these seconds: (time, server).
const SESSIONS: [(u64, [u8; 4]); 7] = [
    (0, IRC_A),
    (5, IRC_B), // another outside address: a key of its own
    (10, IRC_A),
    (20, IRC_A),
    (70, IRC_A), // after A's 60 s window: sent, carrying 2
    (75, IRC_A),
    (200, IRC_A), // carrying 1
];

fn capture(dir: &Path) -> std::path::PathBuf {
    let mut b = PcapBuilder::new();
    for (i, (t, server)) in SESSIONS.iter().enumerate() {
        b.tcp_session(
            1_700_000_000_000_000 + t * 1_000_000,
            APP,
            40_000 + i as u16,
            *server,
            6667,
        );
    }
    let p = dir.join("irc-retries.pcap");
    b.write(&p);
    p
}

fn run(pcap: &Path, extra: &[&str]) -> (Vec<u8>, String, Value) {
    let dir = pcap.parent().unwrap();
    let stats = dir.join("stats.json");
    let out = Command::new(bin())
        .args(["replay", "--containers"])
        .arg(repo_path("pcaps/policies/containers.json"))
        .arg("--stats-json")
        .arg(&stats)
        .args(extra)
        .arg(pcap)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    let stats: Value = serde_json::from_str(&std::fs::read_to_string(&stats).unwrap()).unwrap();
    (out.stdout, stderr, stats)
}

#[test]
fn repeated_alerts_are_held_back_counted_and_reported_on_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = capture(dir.path());

    let (stdout, stderr, stats) = run(&pcap, &["--threads", "1"]);
    let alerts: Vec<Value> = json_lines(&stdout)
        .into_iter()
        .filter(|a| a["rule"] == RULE)
        .collect();
    let got: Vec<(String, u64)> = alerts
        .iter()
        .map(|a| {
            (
                a["flow"]["resp_h"].as_str().unwrap().to_string(),
                a["suppressed"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    let a = "203.0.113.50".to_string();
    let b = "203.0.113.51".to_string();
    assert_eq!(
        got,
        vec![(a.clone(), 0), (b, 0), (a.clone(), 2), (a, 1)],
        "{alerts:#?}"
    );
    // An alert with nothing held back has no `suppressed` key at all.
    assert!(alerts[0].get("suppressed").is_none());
    assert!(
        stderr.contains(&format!(
            "alerts suppressed (--dedup-window 60 s): 3 ({RULE}: 3)"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("alerts: 7 ({RULE}: 7)")),
        "{stderr}"
    );
    assert_eq!(stats["dedup"]["suppressed"][RULE], 3, "{stats}");
    assert_eq!(stats["dedup"]["window_secs"], 60);

    // Two threads: the same totals.
    let (stdout, _, stats) = run(&pcap, &["--threads", "2"]);
    assert_eq!(json_lines(&stdout).len(), 4);
    assert_eq!(stats["dedup"]["suppressed_total"], 3, "{stats}");

    // A longer window folds all of A's repeats into its first alert; the count
    // stays in the summary (no later alert of the key to carry it).
    let (stdout, stderr, _) = run(&pcap, &["--threads", "1", "--dedup-window", "3600"]);
    assert_eq!(json_lines(&stdout).len(), 2);
    assert!(stderr.contains("(--dedup-window 3600 s): 5"), "{stderr}");

    // CEF carries the count as baseEventCount (`cnt`): the event and the 2 held back.
    let (stdout, _, _) = run(&pcap, &["--threads", "1", "--alerts-format", "cef"]);
    let text = String::from_utf8(stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4);
    assert!(!lines[0].contains(" cnt="), "{}", lines[0]);
    assert!(lines[2].contains(" cnt=3"), "{}", lines[2]);
    assert!(lines[3].contains(" cnt=2"), "{}", lines[3]);

    // Off: every alert, no `suppressed`, no dedup line.
    let (stdout, stderr, stats) = run(&pcap, &["--threads", "1", "--dedup-window", "0"]);
    let all = json_lines(&stdout);
    assert_eq!(all.len(), SESSIONS.len());
    assert!(all.iter().all(|a| a.get("suppressed").is_none()));
    assert!(!stderr.contains("suppressed"), "{stderr}");
    assert!(stats["dedup"].is_null());
}
