//! Alerts to a real rsyslog (Debian's `rsyslogd`, started here on loopback ports
//! with its own configuration, stopped by its PID): over TCP and UDP every alert of
//! the demo replay arrives intact (the message is byte for byte the alert line the
//! file output gets) and in order, in RFC 5424 with the alert's syslog severity; and
//! alerts sent while rsyslog is still down are delivered once it comes up, each
//! exactly once.  Skips with a printed reason where rsyslogd is missing, except in
//! CI, where it fails.

mod common;

use common::rsyslog::{free_tcp_port, free_udp_port, have_rsyslogd, syslog_severity, Rsyslog};
use common::*;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// An rsyslogd taking TCP on `tcp` and UDP on `udp`, writing each message with its
/// PRI and header fields.
fn start_rsyslog(dir: &Path, tcp: u16, udp: u16) -> Rsyslog {
    let conf = format!(
        r#"global(workDirectory="{dir}")
module(load="imtcp")
module(load="imudp")
input(type="imtcp" address="127.0.0.1" port="{tcp}")
input(type="imudp" address="127.0.0.1" port="{udp}")
template(name="line" type="string" string="%pri% %hostname% %app-name% %msgid% %msg%\n")
*.* action(type="omfile" file="{out}" template="line")
"#,
        dir = dir.display(),
        out = Rsyslog::out_file(dir).display()
    );
    Rsyslog::start(dir, &conf, tcp)
}

/// Replays the demo capture with one thread, alerts to `alerts` and to `syslog`.
fn replay(alerts: &Path, syslog: &str) -> std::process::Output {
    Command::new(bin())
        .args([
            "replay",
            "--quiet",
            "--threads",
            "1",
            "--syslog",
            syslog,
            "--alerts",
        ])
        .arg(alerts)
        .arg("--containers")
        .arg(repo_path("pcaps/demo-containers.json"))
        .arg(repo_path("pcaps/demo-container-host.pcap"))
        .output()
        .unwrap()
}

/// (pri, message) of each received line, checking the header fields on the way.
fn messages(lines: &[String]) -> Vec<(u32, String)> {
    lines
        .iter()
        .map(|l| {
            let mut parts = l.splitn(5, ' ');
            let pri: u32 = parts.next().unwrap().parse().unwrap();
            let _host = parts.next().unwrap();
            assert_eq!(parts.next(), Some("bridgewatch"), "{l}");
            assert_eq!(parts.next(), Some("alert"), "{l}");
            (pri, parts.next().unwrap_or("").trim_start().to_string())
        })
        .collect()
}

fn check_delivery(expected_file: &Path, lines: &[String]) {
    let expected: Vec<String> = std::fs::read_to_string(expected_file)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert!(expected.len() >= 5, "the demo raises alerts");
    let got = messages(lines);
    assert_eq!(got.len(), expected.len(), "every alert once: {lines:#?}");
    for ((pri, msg), want) in got.iter().zip(&expected) {
        assert_eq!(
            msg, want,
            "the message is the alert line, intact and in order"
        );
        let a: serde_json::Value = serde_json::from_str(want).unwrap();
        let sev = syslog_severity(a["priority"].as_str().unwrap());
        assert_eq!(*pri, 16 * 8 + sev, "local0 and the alert's severity");
    }
}

#[test]
fn alerts_reach_rsyslog_over_tcp_and_udp_intact_and_in_order() {
    if !have_rsyslogd("alerts_reach_rsyslog_over_tcp_and_udp_intact_and_in_order") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (tcp, udp) = (free_tcp_port(), free_udp_port());
    let rs = start_rsyslog(dir.path(), tcp, udp);
    let file = dir.path().join("alerts-tcp.jsonl");
    let out = replay(&file, &format!("tcp://127.0.0.1:{tcp}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let n = std::fs::read_to_string(&file).unwrap().lines().count();
    check_delivery(&file, &rs.received(n));

    // rsyslog keeps its output file open, so the UDP run's messages follow the TCP run's.
    let file = dir.path().join("alerts-udp.jsonl");
    let out = replay(&file, &format!("udp://127.0.0.1:{udp}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all = rs.received(2 * n);
    check_delivery(&file, all.get(n..).unwrap_or_default());
}

#[test]
fn alerts_sent_while_rsyslog_is_down_arrive_once_it_is_up() {
    if !have_rsyslogd("alerts_sent_while_rsyslog_is_down_arrive_once_it_is_up") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (tcp, udp) = (free_tcp_port(), free_udp_port());
    let file = dir.path().join("alerts.jsonl");
    // The replay starts with nothing listening: its sender retries with backoff and
    // has 10 s at the end of the run to deliver.
    let child = Command::new(bin())
        .args(["replay", "--threads", "1", "--syslog"])
        .arg(format!("tcp://127.0.0.1:{tcp}"))
        .arg("--alerts")
        .arg(&file)
        .arg("--containers")
        .arg(repo_path("pcaps/demo-containers.json"))
        .arg(repo_path("pcaps/demo-container-host.pcap"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let rs = start_rsyslog(dir.path(), tcp, udp);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let n = std::fs::read_to_string(&file).unwrap().lines().count();
    check_delivery(&file, &rs.received(n));
    assert!(
        stderr.contains(&format!(
            "output syslog 127.0.0.1:{tcp}: {n} sent, 0 dropped"
        )),
        "{stderr}"
    );
    assert!(
        !stderr.contains(" 0 send errors"),
        "the receiver was down at first: {stderr}"
    );
}

#[test]
fn undeliverable_alerts_are_counted_and_fail_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("alerts.jsonl");
    let port = free_tcp_port(); // nothing listens there
    let t0 = Instant::now();
    let out = replay(&file, &format!("tcp://127.0.0.1:{port}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let n = std::fs::read_to_string(&file).unwrap().lines().count();
    assert!(
        stderr.contains(&format!("{n} alerts not delivered")),
        "{stderr}"
    );
    assert!(t0.elapsed() < Duration::from_secs(30));
    let bad = Command::new(bin())
        .args(["replay", "--syslog", "syslog.example:514"])
        .arg(repo_path("pcaps/demo-container-host.pcap"))
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("has no scheme"));
}

#[test]
fn spooled_alerts_survive_kill_9_and_go_out_first_on_the_next_run() {
    if !have_rsyslogd("spooled_alerts_survive_kill_9_and_go_out_first_on_the_next_run") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    let (tcp, udp) = (free_tcp_port(), free_udp_port());
    let syslog = format!("tcp://127.0.0.1:{tcp}");
    let run = |alerts: &Path| {
        let mut c = Command::new(bin());
        c.args([
            "replay",
            "--threads",
            "1",
            "--syslog",
            &syslog,
            "--spool-dir",
        ])
        .arg(&spool)
        .arg("--alerts")
        .arg(alerts)
        .arg("--containers")
        .arg(repo_path("pcaps/demo-containers.json"))
        .arg(repo_path("pcaps/demo-container-host.pcap"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
        c
    };
    // Run 1: the receiver is down; the alerts go to the spool, then the process is
    // killed with SIGKILL while it is still retrying.
    let first = dir.path().join("first.jsonl");
    let mut child = run(&first).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let spooled = || {
        std::fs::read_dir(spool.join("syslog"))
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter(|e| e.path().extension().is_some_and(|x| x == "spool"))
                    .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
                    .sum::<u64>()
            })
            .unwrap_or(0)
    };
    let n = loop {
        let n = std::fs::read_to_string(&first)
            .map(|t| t.lines().count())
            .unwrap_or(0);
        if n > 0 && spooled() > 0 {
            std::thread::sleep(Duration::from_millis(300));
            break n;
        }
        assert!(Instant::now() < deadline, "run 1 never spooled");
        std::thread::sleep(Duration::from_millis(50));
    };
    Command::new("kill")
        .args(["-9", &child.id().to_string()])
        .status()
        .unwrap();
    let _ = child.wait();
    assert!(spooled() > 0);

    // Run 2: the receiver is up; the spooled alerts go out first, then run 2's own.
    let rs = start_rsyslog(dir.path(), tcp, udp);
    let second = dir.path().join("second.jsonl");
    let out = run(&second).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let both = dir.path().join("both.jsonl");
    let text =
        std::fs::read_to_string(&first).unwrap() + &std::fs::read_to_string(&second).unwrap();
    std::fs::write(&both, text).unwrap();
    check_delivery(&both, &rs.received(2 * n));
    assert!(stderr.contains(&format!("{} sent", 2 * n)), "{stderr}");
    assert_eq!(spooled(), 0, "a delivered spool is emptied");
}

#[test]
fn a_config_file_sends_flows_and_alerts_as_cef_with_their_own_msgid() {
    if !have_rsyslogd("a_config_file_sends_flows_and_alerts_as_cef_with_their_own_msgid") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (tcp, udp) = (free_tcp_port(), free_udp_port());
    let rs = start_rsyslog(dir.path(), tcp, udp);
    let (flows, alerts) = (dir.path().join("flows.jsonl"), dir.path().join("a.jsonl"));
    let cfg = dir.path().join("outputs.yaml");
    std::fs::write(
        &cfg,
        format!(
            "outputs:\n  - carries: both\n    format: cef\n    syslog: {{url: \"tcp://127.0.0.1:{tcp}\"}}\n    delivery: {{queue: 100, batch: 8}}\n"
        ),
    )
    .unwrap();
    let out = Command::new(bin())
        .args(["replay", "-q", "--threads", "1", "--config"])
        .arg(&cfg)
        .arg("--flows")
        .arg(&flows)
        .arg("--alerts")
        .arg(&alerts)
        .arg("--containers")
        .arg(repo_path("pcaps/demo-containers.json"))
        .arg(repo_path("pcaps/demo-container-host.pcap"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want_flows = json_lines(&std::fs::read(&flows).unwrap());
    let want_alerts = json_lines(&std::fs::read(&alerts).unwrap());
    let lines = rs.received(want_flows.len() + want_alerts.len());
    let (mut got_flows, mut got_alerts) = (Vec::new(), Vec::new());
    for l in &lines {
        let parts: Vec<&str> = l.splitn(5, ' ').collect();
        let pri: u32 = parts[0].parse().unwrap();
        assert_eq!(parts[2], "bridgewatch", "{l}");
        let msg = parts[4].trim_start();
        assert!(msg.starts_with("CEF:0|bridgewatch|bridgewatch|"), "{l}");
        let ext_id = msg
            .split(' ')
            .find_map(|kv| kv.strip_prefix("externalId="))
            .unwrap()
            .to_string();
        match parts[3] {
            "flow" => {
                assert_eq!(pri, 16 * 8 + 6, "flows are informational: {l}");
                got_flows.push(ext_id);
            }
            "alert" => got_alerts.push((pri, ext_id)),
            other => panic!("MSGID {other}: {l}"),
        }
    }
    let uids: Vec<String> = want_flows.iter().map(|f| s(f, "uid")).collect();
    assert_eq!(got_flows, uids, "every flow record, in order");
    let want: Vec<(u32, String)> = want_alerts
        .iter()
        .map(|a| {
            (
                16 * 8 + syslog_severity(a["priority"].as_str().unwrap()),
                s(&a["flow"], "uid"),
            )
        })
        .collect();
    assert_eq!(got_alerts, want, "every alert, with its severity, in order");
}
