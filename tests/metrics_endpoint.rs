//! `--listen`: `/metrics` scraped while a replay runs and after it ends, checked
//! against the run's own `--stats-json`; `/readyz` 503 until the input is open.
//!
//! The capture is fed through a FIFO the test writes: opening a FIFO blocks until
//! the writer comes, so the test sees the "inputs not open" state for as long as it
//! likes, and by writing only part of the capture it holds the replay mid-run while
//! it scrapes.  All traffic is on 127.0.0.1.

mod common;

use common::pcapgen::{ipv4_frame, PcapBuilder};
use common::{bin, repo_path};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Kills the replay (by its pid) however the test ends.
struct Guard(Child);
impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    common::http::get(addr, path).unwrap_or_else(|| panic!("no HTTP answer from {addr}{path}"))
}

/// `name{labels}` → value, for every sample line.
fn samples(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').unwrap();
            (k.to_string(), v.parse().unwrap())
        })
        .collect()
}

fn until<T>(what: &str, secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// ~20 MB: normal sessions from a container, some to a mining-pool port (CRITICAL)
/// and from Elasticsearch to 443 (WARNING), and a few broken IPv4 headers.
fn capture() -> PcapBuilder {
    let mut p = PcapBuilder::new();
    let app = [172, 18, 0, 3];
    let es = [172, 18, 0, 5];
    let mut ts = 1_700_000_000_000_000u64;
    for i in 0..20_000u32 {
        let ext = [203, 0, 113, (i % 200) as u8 + 1];
        let cport = 20_000 + (i % 40_000) as u16;
        match i % 100 {
            7 => p.tcp_session(ts, app, cport, ext, 3333),
            42 => p.tcp_session(ts, es, cport, ext, 443),
            _ => p.tcp_session(ts, app, cport, ext, 443),
        }
        if i % 1000 == 500 {
            // An IPv4 header claiming 60 bytes of options in a 34-byte frame.
            let mut f = ipv4_frame(app, ext, 6, &[]);
            f[14] = 0x4f;
            p.frame(ts + 80, &f);
        }
        ts += 1_000;
    }
    p
}

#[test]
fn metrics_during_and_after_a_replay_match_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("capture.pcap");
    let st = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(st.success());
    let stats_path = dir.path().join("stats.json");
    let alerts_path = dir.path().join("alerts.jsonl");
    let cap = capture();
    // A UDP syslog receiver on loopback, so the output counters have something to count.
    let syslog = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let syslog_addr = syslog.local_addr().unwrap();

    let mut child = Command::new(bin())
        .args([
            "replay",
            // Every alert raised is written: the file's lines are compared with the
            // counts (deduplication would hold some back).
            "--dedup-window",
            "0",
            "--listen",
            "127.0.0.1:0",
            "--linger",
            "120",
            "--threads",
            "2",
        ])
        .arg("--containers")
        .arg(repo_path("pcaps/policies/containers.json"))
        .arg("--stats-json")
        .arg(&stats_path)
        .arg("--alerts")
        .arg(&alerts_path)
        .arg("--syslog")
        .arg(format!("udp://{syslog_addr}"))
        .arg("--spool-dir")
        .arg(dir.path().join("spool"))
        .arg(&fifo)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("start bridgewatch");
    let stderr = child.stderr.take().unwrap();
    let _guard = Guard(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let addr: SocketAddr = until("the listen address on stderr", 30, || {
        let line = rx.try_recv().ok()?;
        line.split("http://")
            .nth(1)
            .map(|a| a.trim().parse().unwrap())
    });
    let t0 = Instant::now();

    // Blocked opening the FIFO: alive, rules loaded, not ready.
    assert_eq!(get(addr, "/healthz"), (200, "ok\n".to_string()));
    until("rules loaded", 30, || {
        (get(addr, "/readyz") == (503, "not ready: inputs not open\n".to_string())).then_some(())
    });
    let m = samples(&get(addr, "/metrics").1);
    assert_eq!(m["bridgewatch_ready"], 0);
    assert_eq!(m["bridgewatch_capture_packets_total"], 0);

    // Two thirds of the capture, and hold the writer open: the replay is mid-run.
    let mut w = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    let cut = cap.bytes.len() * 2 / 3;
    w.write_all(&cap.bytes[..cut]).unwrap();
    let mid = until("packets counted mid-run", 60, || {
        let (_, body) = get(addr, "/metrics");
        let m = samples(&body);
        (m["bridgewatch_capture_packets_total"] > 0 && m["bridgewatch_flows_created_total"] > 0)
            .then_some(m)
    });
    assert_eq!(get(addr, "/readyz"), (200, "ready\n".to_string()));
    assert_eq!(mid["bridgewatch_ready"], 1);
    let mid_packets = mid["bridgewatch_capture_packets_total"];
    assert!(
        mid_packets < cap.packets as u64,
        "mid-run count {mid_packets} must be below the {} packets of the whole capture",
        cap.packets
    );
    assert!(mid["bridgewatch_flows_active"] > 0, "{mid:?}");
    eprintln!(
        "mid-run: {mid_packets} of {} packets, {} flows active",
        cap.packets, mid["bridgewatch_flows_active"]
    );
    assert!(!stats_path.exists(), "the run must not have ended yet");

    w.write_all(&cap.bytes[cut..]).unwrap();
    drop(w);
    let stats: Value = until("--stats-json", 60, || {
        let text = std::fs::read_to_string(&stats_path).ok()?;
        serde_json::from_str(&text).ok()
    });
    let (status, body) = get(addr, "/metrics");
    assert_eq!(status, 200);
    let m = samples(&body);
    let n = |k: &str| {
        m.get(k)
            .copied()
            .unwrap_or_else(|| panic!("no {k} in\n{body}"))
    };
    let j = |p: &str| stats.pointer(p).and_then(Value::as_u64).unwrap();

    assert_eq!(j("/packets"), cap.packets as u64);
    assert_eq!(n("bridgewatch_capture_packets_total"), j("/packets"));
    assert!(n("bridgewatch_capture_packets_total") > mid_packets);
    assert_eq!(n("bridgewatch_capture_bytes_total"), j("/bytes"));
    assert_eq!(n("bridgewatch_decoded_packets_total"), j("/decoded"));
    assert_eq!(n("bridgewatch_flows_created_total"), j("/flows/created"));
    assert_eq!(n("bridgewatch_flows_evicted_total"), j("/flows/evicted"));
    assert_eq!(
        n("bridgewatch_flows_ended_total{reason=\"timeout\"}"),
        j("/flows/timed_out")
    );
    assert_eq!(
        n("bridgewatch_flows_ended_total{reason=\"reused\"}"),
        j("/flows/reused")
    );
    assert_eq!(n("bridgewatch_flow_records_total"), j("/flows/written"));
    assert_eq!(
        n("bridgewatch_flows_active"),
        0,
        "every flow ended at end of input"
    );
    assert_eq!(n("bridgewatch_files_read_total"), j("/files_read"));
    let failures = stats["decode_failures"].as_object().unwrap();
    assert_eq!(failures["bad_ipv4"].as_u64(), Some(20), "{failures:?}");
    for (kind, v) in failures {
        assert_eq!(
            n(&format!(
                "bridgewatch_decode_failures_total{{kind=\"{kind}\"}}"
            )),
            v.as_u64().unwrap()
        );
    }
    // Alerts by rule and priority: the same numbers as the summary and the alert file.
    let alerts = stats["alerts"].as_object().unwrap();
    assert_eq!(
        alerts["Connection to Crypto Mining Pool Port"].as_u64(),
        Some(200),
        "{alerts:?}"
    );
    assert!(alerts.contains_key("Elasticsearch Unexpected Outbound Connection"));
    let prio = |rule: &str| {
        m.iter()
            .filter(|(k, _)| {
                k.starts_with("bridgewatch_alerts_total{")
                    && k.contains(&format!("rule=\"{rule}\""))
            })
            .map(|(k, v)| (k.clone(), *v))
            .collect::<Vec<_>>()
    };
    let mining = prio("Connection to Crypto Mining Pool Port");
    assert_eq!(mining.len(), 1, "{mining:?}");
    assert!(mining[0].0.contains("priority=\"Critical\""), "{mining:?}");
    for (rule, v) in alerts {
        let got: u64 = prio(rule).iter().map(|(_, v)| v).sum();
        assert_eq!(got, v.as_u64().unwrap(), "{rule}");
    }
    let total: u64 = alerts.values().filter_map(Value::as_u64).sum();
    let lines = std::fs::read_to_string(&alerts_path)
        .unwrap()
        .lines()
        .count() as u64;
    assert_eq!(lines, total);
    assert_eq!(n("bridgewatch_inventory_containers"), 6);
    // The syslog output: what the summary says it sent, nothing dropped, nothing waiting.
    let out = &stats["outputs"][0];
    let name = out["name"].as_str().unwrap();
    assert_eq!(name, format!("syslog {syslog_addr}"));
    let o = |metric: &str, extra: &str| n(&format!("{metric}{{output=\"{name}\"{extra}}}"));
    assert_eq!(out["sent"].as_u64(), Some(total));
    assert_eq!(o("bridgewatch_output_sent_total", ""), total);
    for reason in [
        "queue_full",
        "spool_full",
        "rejected",
        "undelivered_at_exit",
    ] {
        assert_eq!(
            o(
                "bridgewatch_output_dropped_total",
                &format!(",reason=\"{reason}\"")
            ),
            out[reason].as_u64().unwrap()
        );
    }
    assert_eq!(
        o("bridgewatch_output_send_failures_total", ""),
        out["send_errors"].as_u64().unwrap()
    );
    assert_eq!(o("bridgewatch_output_queue_depth", ""), 0);
    assert_eq!(
        o("bridgewatch_output_spool_bytes", ""),
        0,
        "delivered: the spool is empty"
    );
    drop(syslog);
    assert_eq!(get(addr, "/readyz").0, 200);
    eprintln!(
        "metrics test: {:.1} s with the listener up",
        t0.elapsed().as_secs_f64()
    );
}

#[test]
fn a_bad_or_busy_listen_address_is_refused_before_anything_runs() {
    let out = Command::new(bin())
        .args(["replay", "--listen", "localhost", "-q"])
        .arg(repo_path("pcaps/demo-container-host.pcap"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--listen: 'localhost' is not PORT"), "{err}");
    assert!(out.stdout.is_empty(), "nothing ran");

    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let out = Command::new(bin())
        .args(["replay", "--listen", &port, "-q"])
        .arg(repo_path("pcaps/demo-container-host.pcap"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("--listen 127.0.0.1:{port}: cannot listen")),
        "{err}"
    );
}
