//! Alerts to real HTTP servers (a small HTTP/1.1 server in this file, on loopback,
//! reading each request's headers and body off the socket): Splunk HEC and
//! Elasticsearch `_bulk` bodies, authentication, batching and gzip; an endpoint that
//! answers 503 and then hangs past the timeout before it recovers still indexes
//! every alert, each once (by `_id`, as Elasticsearch's `create` does); a 400 is
//! counted as rejected and fails the run.

mod common;

use common::http::{Answer, Server};
use common::*;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Replays the demo (one thread) with alerts to `file` and to the HTTP output.
fn replay(file: &Path, args: &[&str]) -> std::process::Output {
    Command::new(bin())
        .args(["replay", "--threads", "1", "--alerts"])
        .arg(file)
        .args(args)
        .arg("--containers")
        .arg(repo_path("pcaps/demo-containers.json"))
        .arg(repo_path("pcaps/demo-container-host.pcap"))
        .output()
        .unwrap()
}

fn expected(file: &Path) -> Vec<serde_json::Value> {
    let v = json_lines(&std::fs::read(file).unwrap());
    assert!(v.len() >= 5, "the demo raises alerts");
    v
}

#[test]
fn splunk_hec_gets_authenticated_gzipped_batches_of_every_alert() {
    let srv = Server::start(
        |_| Answer::Status(200, "OK"),
        r#"{"text":"Success","code":0}"#,
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("alerts.jsonl");
    let url = format!("http://127.0.0.1:{}", srv.port);
    let out = replay(
        &file,
        &[
            "--http",
            &url,
            "--http-kind",
            "splunk",
            "--http-token",
            "s3cret",
            "--http-gzip",
            "--http-batch",
            "4",
            "--http-header",
            "X-Tenant: blue",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want = expected(&file);
    let reqs = srv.ok.lock().unwrap().clone();
    // How full each batch is depends on timing; none may exceed --http-batch.
    assert!(reqs.len() >= want.len().div_ceil(4));
    assert!(
        reqs.len() < want.len(),
        "alerts were batched: {} requests",
        reqs.len()
    );
    let mut events = Vec::new();
    for r in &reqs {
        assert_eq!(r.path, "/services/collector/event");
        assert_eq!(r.header("authorization"), Some("Splunk s3cret"));
        assert_eq!(r.header("x-tenant"), Some("blue"));
        assert_eq!(r.header("content-encoding"), Some("gzip"));
        assert!(r.text().lines().count() <= 4, "a batch holds at most 4");
        for line in r.text().lines() {
            let e: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(e["sourcetype"], "bridgewatch:alert");
            assert!(e["time"].as_f64().unwrap() > 1.7e9);
            events.push(e["event"].clone());
        }
    }
    assert_eq!(events, want, "every alert, intact, in order");
}

#[test]
fn elasticsearch_bulk_survives_503s_and_a_hang_and_indexes_each_alert_once() {
    // Two 503s, one request left hanging past the 1 s timeout, then success.
    let plan = |n: usize| match n {
        0 | 1 => Answer::Status(503, "Service Unavailable"),
        2 => Answer::Hang(Duration::from_millis(2500)),
        _ => Answer::Status(200, "OK"),
    };
    let srv = Server::start(plan, r#"{"errors":false,"items":[]}"#);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("alerts.jsonl");
    let url = format!("http://127.0.0.1:{}", srv.port);
    let out = replay(
        &file,
        &[
            "--http",
            &url,
            "--http-kind",
            "elasticsearch",
            "--http-basic",
            "elastic:pw",
            "--http-timeout",
            "1",
            "--http-index",
            "bw-%Y.%m",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let want = expected(&file);
    assert!(
        srv.all.lock().unwrap().len() >= 4,
        "the failures were retried"
    );
    let reqs = srv.ok.lock().unwrap().clone();
    // Index the way Elasticsearch does with `create`: an _id seen before is a 409,
    // not a second document.  (A request the client gave up on after its timeout
    // may still have been processed, so a batch can arrive twice; the ids make that
    // harmless.)
    let mut docs = Vec::new();
    let mut ids = std::collections::HashSet::new();
    for r in &reqs {
        assert_eq!(r.path, "/_bulk");
        assert_eq!(r.header("authorization"), Some("Basic ZWxhc3RpYzpwdw=="));
        assert_eq!(r.header("content-type"), Some("application/x-ndjson"));
        let lines: Vec<serde_json::Value> = r
            .text()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        for pair in lines.chunks(2) {
            assert_eq!(pair[0]["create"]["_index"], "bw-2024.06");
            let id = pair[0]["create"]["_id"].as_str().unwrap().to_string();
            assert!(id.starts_with("bw-"));
            if ids.insert(id) {
                docs.push(pair[1].clone());
            }
        }
    }
    assert_eq!(
        docs, want,
        "delivered once each, in order, after the outage"
    );
    assert!(!stderr.contains(" 0 retries"), "{stderr}");
}

#[test]
fn a_rejecting_endpoint_is_counted_and_fails_the_run() {
    let srv = Server::start(|_| Answer::Status(400, "Bad Request"), "{}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("alerts.jsonl");
    let url = format!("http://127.0.0.1:{}/hook", srv.port);
    let out = replay(&file, &["--http", &url, "--http-token", "abc"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let n = expected(&file).len();
    assert!(stderr.contains(&format!("{n} rejected")), "{stderr}");
    let all = srv.all.lock().unwrap();
    assert_eq!(all[0].path, "/hook");
    assert_eq!(all[0].header("authorization"), Some("Bearer abc"));
    let bad = Command::new(bin())
        .args(["replay", "--http", "ftp://x", "--alerts", "/dev/null"])
        .arg(repo_path("pcaps/demo-container-host.pcap"))
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("must start with http://"));
}

#[test]
fn a_config_file_sends_flows_to_splunk_and_warnings_with_flows_to_a_file() {
    let srv = Server::start(
        |_| Answer::Status(200, "OK"),
        r#"{"text":"Success","code":0}"#,
    );
    let dir = tempfile::tempdir().unwrap();
    let (all, flows, events) = (
        dir.path().join("all.jsonl"),
        dir.path().join("flows.jsonl"),
        dir.path().join("events.jsonl"),
    );
    let config = dir.path().join("outputs.toml");
    std::fs::write(
        &config,
        format!(
            r#"[[outputs]]
name = "hec-flows"
carries = "flows"
format = "ocsf"
http = {{ url = "http://127.0.0.1:{port}", kind = "splunk", token = "t0k" }}
delivery = {{ batch = 4, queue = 1000 }}

[[outputs]]
carries = "both"
format = "ecs"
min_priority = "WARNING"
file = {{ path = "{events}", max_bytes = 10000000, append = false }}
"#,
            port = srv.port,
            events = events.display()
        ),
    )
    .unwrap();
    // --alerts and --flows add native outputs beside the file's: the reference.
    let out = replay(
        &all,
        &[
            "--config",
            config.to_str().unwrap(),
            "--flows",
            flows.to_str().unwrap(),
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("output hec-flows: "), "{stderr}");
    let want_flows: Vec<String> = json_lines(&std::fs::read(&flows).unwrap())
        .iter()
        .map(|f| s(f, "uid"))
        .collect();
    assert!(want_flows.len() >= 10);
    // Splunk got every flow record, as OCSF Network Activity, in order, in batches of 4 at most.
    let reqs = srv.ok.lock().unwrap().clone();
    let mut got = Vec::new();
    for r in &reqs {
        assert_eq!(r.header("authorization"), Some("Splunk t0k"));
        assert!(r.text().lines().count() <= 4);
        for line in r.text().lines() {
            let e: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(e["sourcetype"], "bridgewatch:flow");
            assert_eq!(e["event"]["class_uid"], 4001);
            got.push(s(&e["event"]["connection_info"], "uid"));
        }
    }
    assert_eq!(got, want_flows, "every flow once, in order");
    // The file: ECS flows, all of them, and only the alerts at WARNING or above.
    let want_alerts: Vec<(String, String)> = json_lines(&std::fs::read(&all).unwrap())
        .iter()
        .filter(|a| {
            matches!(
                a["priority"].as_str(),
                Some("Warning" | "Error" | "Critical" | "Alert" | "Emergency")
            )
        })
        .map(|a| (s(a, "rule"), s(&a["flow"], "uid")))
        .collect();
    let total_alerts = json_lines(&std::fs::read(&all).unwrap()).len();
    assert!(
        !want_alerts.is_empty() && want_alerts.len() < total_alerts,
        "the filter matters"
    );
    let ev = json_lines(&std::fs::read(&events).unwrap());
    let file_alerts: Vec<(String, String)> = ev
        .iter()
        .filter(|e| e["event"]["kind"] == "alert")
        .map(|e| (s(&e["rule"], "name"), s(&e["event"], "id")))
        .collect();
    assert_eq!(file_alerts, want_alerts);
    let mut file_flows: Vec<String> = ev
        .iter()
        .filter(|e| e["event"]["kind"] == "event")
        .map(|e| s(&e["event"], "id"))
        .collect();
    let mut w = want_flows.clone();
    file_flows.sort();
    w.sort();
    assert_eq!(file_flows, w);
    assert_eq!(ev.len(), want_alerts.len() + want_flows.len());
}
