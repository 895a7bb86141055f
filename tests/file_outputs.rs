//! File outputs and signals, with real processes: size rotation keeps `keep` files
//! no larger than `max_bytes` holding exactly the newest records; SIGUSR1 after the
//! file was renamed away (what logrotate does) sends the following records to a new
//! file at the path, losing and repeating nothing; SIGTERM in the middle of a replay
//! stops reading, writes every flow and alert so far, leaves what a dead receiver
//! did not take in the spool (delivered by the next run) and exits 0 with the summary.
//!
//! The capture is fed through a named pipe, so the test decides how far bridgewatch
//! has read when the signal arrives.

mod common;

use common::fifo::*;
use common::http::{Answer, Server};
use common::pcapgen::PcapBuilder;
use common::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig}");
}

/// The child's stderr, line by line, read on a thread of its own.
struct Stderr {
    rx: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Stderr {
    fn take(child: &mut Child) -> Stderr {
        let err = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Stderr {
            rx,
            seen: Vec::new(),
        }
    }

    /// Waits for a line containing `what` (the signal thread says when it acted).
    fn wait_for(&mut self, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.seen.iter().any(|l| l.contains(what)) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(l) => self.seen.push(l),
                Err(_) => panic!("no {what:?} on stderr: {:#?}", self.seen),
            }
        }
    }

    /// Everything, once the child has exited.
    fn rest(mut self) -> String {
        self.seen.extend(self.rx.iter());
        self.seen.join("\n")
    }
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn len(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

fn write_config(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("outputs.toml");
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn rotation_keeps_n_files_under_max_bytes_holding_the_newest_records() {
    let dir = tempfile::tempdir().unwrap();
    let cap = dir.path().join("in.pcap");
    std::fs::write(&cap, udp_flows(3000)).unwrap();
    let out = dir.path().join("flows.jsonl");
    let reference = dir.path().join("ref.jsonl");
    let cfg = write_config(
        dir.path(),
        &format!(
            "[[outputs]]\ncarries = \"flows\"\nfile = {{ path = \"{}\", max_bytes = 40000, keep = 3 }}\n",
            out.display()
        ),
    );
    let run = Command::new(bin())
        .args(["replay", "--threads", "1", "--no-rules", "-q", "--config"])
        .arg(&cfg)
        .arg("--flows")
        .arg(&reference)
        .arg(&cap)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let all = std::fs::read(&reference).unwrap();
    assert!(
        all.len() > 8 * 40_000,
        "enough for more rotations than kept"
    );
    let path_n = |i: usize| PathBuf::from(format!("{}.{i}", out.display()));
    assert!(path_n(3).exists() && !path_n(4).exists(), "keep = 3");
    let mut kept = Vec::new();
    for p in [path_n(3), path_n(2), path_n(1), out.clone()] {
        let b = std::fs::read(&p).unwrap();
        assert!(b.len() <= 40_000, "{} is {} bytes", p.display(), b.len());
        assert!(b.ends_with(b"\n"), "whole lines only");
        if p != out {
            // A full file: the next record would not have fit.
            assert!(
                b.len() > 40_000 - 600,
                "{} is {} bytes",
                p.display(),
                b.len()
            );
        }
        kept.extend_from_slice(&b);
    }
    assert!(
        all.ends_with(&kept),
        "the kept files are the newest records, in order"
    );
}

#[test]
fn sigusr1_reopens_a_renamed_file_without_losing_a_record() {
    let dir = tempfile::tempdir().unwrap();
    let data = udp_flows(60_000);
    let cap = dir.path().join("in.pcap");
    std::fs::write(&cap, &data).unwrap();
    let reference = dir.path().join("ref.jsonl");
    let run = Command::new(bin())
        .args(["replay", "--threads", "1", "--no-rules", "-q", "--flows"])
        .arg(&reference)
        .arg(&cap)
        .output()
        .unwrap();
    assert!(run.status.success());

    let fifo = dir.path().join("in.fifo");
    mkfifo(&fifo);
    let out = dir.path().join("flows.jsonl");
    let rotated = dir.path().join("flows.jsonl.old");
    let cfg = write_config(
        dir.path(),
        &format!(
            "[[outputs]]\ncarries = \"flows\"\nfile = {{ path = \"{}\" }}\n",
            out.display()
        ),
    );
    let mut child = Command::new(bin())
        .args(["replay", "--threads", "1", "--no-rules", "-q", "--config"])
        .arg(&cfg)
        .arg(&fifo)
        .env("BRIDGEWATCH_LOG", "bridgewatch::signals=info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = Stderr::take(&mut child);
    let mut child = Reap(Some(child));
    let mut pipe = open_pipe(&fifo, &mut child);
    // Over two 1 MiB batches: their records are written while the reader waits for more.
    let half = data.len() / 2;
    pipe.write_all(&data[..half]).unwrap();
    wait_until("records in the file", || len(&out) > 0);
    std::fs::rename(&out, &rotated).unwrap();
    signal(child.0.as_ref().unwrap(), "-USR1");
    // Records due after this go to the new file.
    stderr.wait_for("SIGUSR1: reopening");
    pipe.write_all(&data[half..]).unwrap();
    drop(pipe);
    let status = child.0.take().unwrap().wait().unwrap();
    assert!(status.success(), "{}", stderr.rest());
    let before = std::fs::read(&rotated).unwrap();
    let after = std::fs::read(&out).unwrap();
    assert!(
        !before.is_empty() && !after.is_empty(),
        "both files got records"
    );
    let mut joined = before;
    joined.extend_from_slice(&after);
    assert_eq!(
        joined,
        std::fs::read(&reference).unwrap(),
        "renamed file + new file = every record once, in order"
    );
}

#[test]
fn sigterm_flushes_flows_and_alerts_spools_the_undelivered_and_exits_0() {
    // The receiver is down for the whole first run.
    let down = Server::start(|_| Answer::Status(503, "Service Unavailable"), "{}");
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rule.yaml");
    std::fs::write(&rules, UDP_9999_RULE).unwrap();
    let spool = dir.path().join("spool");
    let events = dir.path().join("events.jsonl");
    let config = |port: u16| {
        format!(
            "flush_timeout = 1\n\
             [[outputs]]\nname = \"hec\"\nhttp = {{ url = \"http://127.0.0.1:{port}\", kind = \"splunk\", token = \"t\" }}\n\
             delivery = {{ spool_dir = \"{}\" }}\n\
             [[outputs]]\ncarries = \"both\"\nfile = {{ path = \"{}\", append = false }}\n",
            spool.display(),
            events.display()
        )
    };
    let cfg = write_config(dir.path(), &config(down.port));
    let data = udp_flows(100_000);
    let fifo = dir.path().join("in.fifo");
    mkfifo(&fifo);
    let stats = dir.path().join("stats.json");
    let mut child = Command::new(bin())
        .args(["replay", "--threads", "2", "--dedup-window", "0", "--rules"])
        .arg(&rules)
        .arg("--config")
        .arg(&cfg)
        .arg("--stats-json")
        .arg(&stats)
        .arg(&fifo)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = Stderr::take(&mut child);
    let mut child = Reap(Some(child));
    let mut pipe = open_pipe(&fifo, &mut child);
    pipe.write_all(&data[..data.len() / 3]).unwrap();
    wait_until("records in the file", || len(&events) > 0);
    signal(child.0.as_ref().unwrap(), "-TERM");
    let t0 = Instant::now();
    stderr.wait_for("SIGTERM: stopping");
    // Keep feeding, as a capture would: bridgewatch stops reading and exits, and
    // the rest of the write fails with a broken pipe.
    let rest = data[data.len() / 3..].to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = pipe.write_all(&rest);
    });
    let status = child.0.take().unwrap().wait().unwrap();
    let waited = t0.elapsed();
    let _ = feeder.join();
    let stderr = stderr.rest();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(
        waited < Duration::from_secs(10),
        "flush_timeout 1 s: {waited:?}"
    );
    assert!(stderr.contains("interrupted by SIGTERM"), "{stderr}");
    let st: serde_json::Value = serde_json::from_slice(&std::fs::read(&stats).unwrap()).unwrap();
    assert_eq!(st["interrupted"], true);
    let packets = st["packets"].as_u64().unwrap();
    assert!(packets > 0 && packets < 100_000, "stopped early: {packets}");
    // Every flow and alert of what was read reached the file, whole.
    let lines = json_lines(&std::fs::read(&events).unwrap());
    let (alerts, flows): (Vec<_>, Vec<_>) = lines.iter().partition(|v| v.get("rule").is_some());
    assert_eq!(flows.len() as u64, st["flows"]["written"].as_u64().unwrap());
    assert_eq!(
        flows.len() as u64,
        packets,
        "one flow per packet, none lost"
    );
    assert!(
        flows.iter().any(|f| f["end_reason"] == "end_of_input"),
        "open flows flushed"
    );
    let n_alerts = st["alerts"]["UDP to 9999"].as_u64().unwrap();
    assert_eq!(alerts.len() as u64, n_alerts);
    assert_eq!(n_alerts, packets.div_ceil(10), "every tenth flow alerts");
    // The receiver took nothing: every alert waits in the spool.
    let hec = &st["outputs"][0];
    assert_eq!(hec["sent"], 0);
    assert_eq!(hec["spooled_at_exit"].as_u64(), Some(n_alerts), "{hec}");
    assert!(
        stderr.contains(&format!("{n_alerts} alerts left in the spool")),
        "{stderr}"
    );

    // Next run, receiver up: the spooled alerts go out first, each once, in order.
    let up = Server::start(
        |_| Answer::Status(200, "OK"),
        r#"{"text":"Success","code":0}"#,
    );
    let cfg = write_config(dir.path(), &config(up.port));
    let empty = dir.path().join("empty.pcap");
    PcapBuilder::new().write(&empty);
    let run = Command::new(bin())
        .args(["replay", "-q", "--rules"])
        .arg(&rules)
        .arg("--config")
        .arg(&cfg)
        .arg(&empty)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let mut got = Vec::new();
    for r in up.ok.lock().unwrap().iter() {
        for l in r.text().lines() {
            let e: serde_json::Value = serde_json::from_str(l).unwrap();
            got.push(e["event"].clone());
        }
    }
    // Two workers: the file and the spool each hold one interleaving of their alerts.
    let key = |v: &serde_json::Value| v.to_string();
    let mut want: Vec<String> = alerts.into_iter().map(key).collect();
    let mut got: Vec<String> = got.iter().map(key).collect();
    assert_eq!(got.len(), want.len(), "every spooled alert, once");
    got.sort();
    want.sort();
    assert!(got == want, "the spooled alerts arrive intact");
}

#[test]
fn a_bad_config_file_is_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("o.yaml");
    std::fs::write(
        &cfg,
        "outputs:\n  - stdout: {}\n    delivery:\n      retries: 3\n",
    )
    .unwrap();
    let out = Command::new(bin())
        .args(["replay", "--config"])
        .arg(&cfg)
        .arg(repo_path("pcaps/demo-container-host.pcap"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{}:4:7: outputs[0].delivery.retries: unknown key",
            cfg.display()
        )),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "nothing ran");
}
