//! End-to-end behaviour of `bridgewatch replay`: output schema, several files as
//! one capture, bad input (named, counted, the rest still processed), `--bpf`,
//! and the same records for every `--threads`.

mod common;

use common::pcapgen::PcapBuilder;
use common::*;
use std::process::Command;

fn session_capture(sessions: u32) -> PcapBuilder {
    sessions_from(sessions, 1)
}

/// `sessions` TCP sessions and DNS exchanges from clients 10.`net`.x.y.
fn sessions_from(sessions: u32, net: u8) -> PcapBuilder {
    let mut b = PcapBuilder::new();
    for i in 0..sessions {
        let c = [10, net, (i >> 8) as u8, i as u8];
        b.tcp_session(
            1_700_000_000_000_000 + i as u64 * 1000,
            c,
            40000 + (i % 1000) as u16,
            [10, 2, 0, 1],
            80,
        );
        b.udp(
            1_700_000_000_000_500 + i as u64 * 1000,
            c,
            50000,
            [10, 2, 0, 53],
            53,
            30,
        );
        b.udp(
            1_700_000_000_000_600 + i as u64 * 1000,
            [10, 2, 0, 53],
            53,
            c,
            50000,
            90,
        );
    }
    b
}

#[test]
fn records_have_the_documented_schema() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.pcap");
    session_capture(3).write(&p);
    let (records, out) = replay(&[&p], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(records.len(), 6);
    for r in &records {
        for k in [
            "ts",
            "end",
            "duration",
            "proto",
            "orig_h",
            "orig_p",
            "resp_h",
            "resp_p",
            "orig_pkts",
            "orig_ip_bytes",
            "orig_bytes",
            "resp_pkts",
            "resp_ip_bytes",
            "resp_bytes",
            "conn_state",
            "history",
            "community_id",
            "vlan",
            "iface",
            "uid",
        ] {
            assert!(r.get(k).is_some(), "record lacks {k}: {r}");
        }
        let ts = s(r, "ts");
        assert!(
            ts.ends_with('Z') && ts.len() == 27,
            "ts not RFC 3339 with µs: {ts}"
        );
        assert!(s(r, "community_id").starts_with("1:"));
    }
    let dns = records.iter().find(|r| s(r, "proto") == "udp").unwrap();
    assert_eq!(u(dns, "orig_pkts"), 1);
    assert_eq!(u(dns, "resp_pkts"), 1);
    assert_eq!(u(dns, "orig_bytes"), 30);
    assert_eq!(u(dns, "resp_bytes"), 90);
    assert_eq!(u(dns, "orig_ip_bytes"), 20 + 8 + 30);
    assert_eq!(s(dns, "resp_p"), "53");
    let tcp = records.iter().find(|r| s(r, "proto") == "tcp").unwrap();
    assert_eq!((u(tcp, "orig_pkts"), u(tcp, "resp_pkts")), (5, 3));
    assert_eq!(s(tcp, "resp_p"), "80");
}

#[test]
fn same_records_for_every_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("many.pcap");
    session_capture(3000).write(&p);
    let mut outputs = Vec::new();
    for args in [
        &["--threads", "1"][..],
        &["--threads", "2"],
        &["--threads", "3"],
        &["--threads", "2", "--mmap"],
    ] {
        let (records, out) = replay(&[&p], args);
        assert!(out.status.success());
        let mut lines: Vec<String> = records.iter().map(|r| r.to_string()).collect();
        lines.sort();
        outputs.push(lines);
    }
    assert_eq!(outputs[0].len(), 6000);
    assert_eq!(
        outputs[0], outputs[1],
        "--threads 2 differs from --threads 1"
    );
    assert_eq!(
        outputs[0], outputs[2],
        "--threads 3 differs from --threads 1"
    );
}

#[test]
fn several_files_read_in_order_as_one_capture() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.pcap"), dir.path().join("b.pcap"));
    // One UDP flow split over two files: one record.
    let mut pa = PcapBuilder::new();
    pa.udp(1_000_000, [10, 0, 0, 1], 1111, [10, 0, 0, 2], 2222, 5);
    pa.write(&a);
    let mut pb = PcapBuilder::new();
    pb.udp(2_000_000, [10, 0, 0, 2], 2222, [10, 0, 0, 1], 1111, 7);
    pb.write(&b);
    let (records, out) = replay(&[&a, &b], &[]);
    assert!(out.status.success());
    assert_eq!(records.len(), 1);
    assert_eq!(
        (u(&records[0], "orig_pkts"), u(&records[0], "resp_pkts")),
        (1, 1)
    );
}

#[test]
fn bad_files_are_named_and_the_others_still_count() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.pcap");
    session_capture(2).write(&good);
    let garbage = dir.path().join("garbage.pcap");
    std::fs::write(&garbage, b"this is not a capture file at all").unwrap();
    let truncated = dir.path().join("truncated.pcap");
    let full = sessions_from(1, 9).bytes;
    std::fs::write(&truncated, &full[..full.len() - 10]).unwrap();
    let missing = dir.path().join("missing.pcap");

    let (records, out) = replay(&[&good, &garbage, &truncated, &missing], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("garbage.pcap"), "{stderr}");
    assert!(
        stderr.contains("truncated.pcap") && stderr.contains("packet 10"),
        "{stderr}"
    );
    assert!(stderr.contains("missing.pcap"), "{stderr}");
    // good.pcap's 4 flows plus truncated.pcap's 2 flows (its first 9 packets).
    assert_eq!(records.len(), 6, "{stderr}");
}

#[test]
fn bpf_filters_and_bad_expressions_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.pcap");
    session_capture(2).write(&p);
    let (records, out) = replay(&[&p], &["--bpf", "udp"]);
    assert!(out.status.success());
    assert_eq!(records.len(), 2);
    assert!(records.iter().all(|r| s(r, "proto") == "udp"));

    let out = Command::new(bin())
        .args(["replay", "--bpf", "tcp and and", "--flows", "-"])
        .arg(&p)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--bpf"), "{stderr}");
}

#[test]
fn summary_reports_counts_and_rate() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.pcap");
    session_capture(5).write(&p);
    let out = Command::new(bin())
        .args(["replay", "--flows", "/dev/null"])
        .arg(&p)
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("50 packets"), "{stderr}");
    assert!(stderr.contains("Mpps"), "{stderr}");
    assert!(stderr.contains("10 written"), "{stderr}");
    assert!(stderr.contains("decode failures"), "{stderr}");
}

#[test]
fn stats_json_counts_every_packet() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.pcap");
    let mut b = session_capture(1);
    // An ARP frame (not IP) and a frame cut inside its IPv4 header.
    let mut arp = vec![0xff; 12];
    arp.extend_from_slice(&[0x08, 0x06]);
    arp.extend_from_slice(&[0u8; 28]);
    b.frame(1_700_000_001_000_000, &arp);
    let cut = common::pcapgen::ipv4_frame([1, 1, 1, 1], [2, 2, 2, 2], 17, &[0; 8]);
    b.frame(1_700_000_001_000_001, &cut[..20]);
    b.write(&p);
    let stats = dir.path().join("stats.json");
    let out = Command::new(bin())
        .args(["replay", "--quiet", "--flows", "/dev/null", "--stats-json"])
        .arg(&stats)
        .arg(&p)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&stats).unwrap()).unwrap();
    assert_eq!(v["packets"], 12);
    assert_eq!(v["decoded"], 10);
    assert_eq!(v["skipped"]["not_ip"], 1);
    let failures: u64 = v["decode_failures"]
        .as_object()
        .unwrap()
        .values()
        .map(|x| x.as_u64().unwrap())
        .sum();
    assert_eq!(failures, 1, "{v}");
    assert_eq!(v["flows"]["written"], 2);
}

#[test]
fn pcapng_interface_names_reach_the_records() {
    let Some(root) = shared_pcaps("pcapng interface names") else {
        return;
    };
    let (records, out) = replay(&[&root.join("zeek/pcapng-multi-interface.pcapng")], &[]);
    assert!(out.status.success());
    let mut names: Vec<String> = records.iter().map(|r| s(r, "iface")).collect();
    names.sort();
    names.dedup();
    // One flow was captured in a Docker container (eth0), two on a Windows host.
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.contains(&"eth0".to_string()));
    assert!(names.iter().any(|n| n.starts_with("\\Device\\NPF_")));
}
