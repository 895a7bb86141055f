//! `watch` with the real Docker engine naming the containers: the test makes its own
//! Docker network (its bridge `br-<id>` is what watch captures), containers from an
//! image it imports (one's repository is `elasticsearch`), and one non-container
//! host plugged into that bridge from a network namespace of its own (the
//! "outside" the Elasticsearch policy is about).  It checks that each flow end is
//! attributed by name and image from the Docker API alone (no --containers), that a
//! container started after watch is named, that an IP handed from a removed
//! container to a new one names each for its own traffic, and that the
//! Elasticsearch alert fires for port 8443 (naming the container) and not for 9300.
//! Everything made is removed by name at the end, even on failure.

mod common;

use common::docker::*;
use common::*;
use serde_json::Value;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener};
use std::os::fd::AsRawFd;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The outside host's namespace and the watch process, removed/killed on drop.
struct Lab {
    netns: String,
    watch: Option<Child>,
    stop_server: Arc<AtomicBool>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.stop_server.store(true, Ordering::Relaxed);
        if let Some(mut c) = self.watch.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .status();
    }
}

/// TCP servers on `addr` ports 8443 and 9300 inside `ns`: each connection is read to
/// EOF, answered with a few bytes and closed.  Bound before this returns.
fn outside_servers(ns: &str, addr: &str, stop: Arc<AtomicBool>) {
    let path = format!("/run/netns/{ns}");
    let addr = addr.to_string();
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        let fd = File::open(&path).unwrap();
        // SAFETY: a valid namespace descriptor; only this thread changes namespace.
        let rc = unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns {path}");
        let listeners: Vec<TcpListener> = [8443, 9300]
            .iter()
            .map(|p| {
                let l = TcpListener::bind(format!("{addr}:{p}")).unwrap();
                l.set_nonblocking(true).unwrap();
                l
            })
            .collect();
        tx.send(()).unwrap();
        while !stop.load(Ordering::Relaxed) {
            for l in &listeners {
                if let Ok((mut s, _)) = l.accept() {
                    let _ = s.set_nonblocking(false);
                    let _ = s.set_read_timeout(Some(Duration::from_secs(3)));
                    let _ = s.read_to_end(&mut Vec::new());
                    let _ = s.write_all(b"hello from outside\n");
                    let _ = s.shutdown(Shutdown::Both);
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    rx.recv_timeout(Duration::from_secs(5))
        .expect("servers bound");
}

/// From container `c`, a TCP conversation with `dst:port` (busybox nc).
fn talk(c: &str, dst: &str, port: u16) {
    let _ = docker(&[
        "exec",
        c,
        "/bin/busybox",
        "sh",
        "-c",
        &format!("echo ping | /bin/busybox nc -w 3 {dst} {port}"),
    ]);
}

fn wait_line(rx: &Receiver<String>, needle: &str, limit: Duration) {
    let start = Instant::now();
    while let Some(left) = limit.checked_sub(start.elapsed()) {
        match rx.recv_timeout(left) {
            Ok(l) if l.contains(needle) => return,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    panic!("watch never printed {needle:?}");
}

#[test]
fn watch_names_real_containers_from_the_docker_api() {
    if !docker_available("watch_docker") {
        return;
    }
    if unsafe { libc::geteuid() } != 0 {
        if std::env::var_os("CI").is_some() {
            panic!("watch_docker: needs root, and CI must not skip");
        }
        eprintln!("SKIP watch_docker: needs root (live capture, network namespaces)");
        return;
    }
    let pid = std::process::id();
    let tag = format!("bwd{pid}");
    let net = format!("bwt-wd-{pid}");
    let es_image = format!("elasticsearch:{tag}");
    let app_image = format!("bwt-app:{tag}");
    let names = ["es01", "app", "late", "late2"].map(|n| format!("{tag}-{n}"));
    let [es, app, late, late2] = names.clone();
    let mut cleanup = DockerCleanup::default();
    cleanup.containers = names.to_vec();
    cleanup.networks = vec![net.clone()];
    cleanup.images = vec![es_image.clone(), app_image.clone()];
    let mut lab = Lab {
        netns: format!("bwd-{pid}-ext"),
        watch: None,
        stop_server: Arc::default(),
    };

    let dir = tempfile::tempdir().unwrap();
    import_busybox_image(&es_image, dir.path());
    docker_ok(&["tag", &es_image, &app_image]);
    let third = 100 + pid % 150;
    let subnet = format!("10.214.{third}.0/24");
    let at = |n: u32| format!("10.214.{third}.{n}");
    let net_id = docker_ok(&["network", "create", "--subnet", &subnet, &net]);
    let bridge = format!("br-{}", &net_id[..12]);

    // The outside host: a namespace with a veth into the Docker bridge.
    let outside = at(200);
    let (host_end, ns_end) = (format!("bwd{pid}h"), format!("bwd{pid}n"));
    ip(&["netns", "add", &lab.netns]);
    ip(&[
        "link", "add", &host_end, "type", "veth", "peer", "name", &ns_end,
    ]);
    ip(&["link", "set", &ns_end, "netns", &lab.netns]);
    ip(&["link", "set", &host_end, "master", &bridge, "up"]);
    ip(&[
        "-n",
        &lab.netns,
        "addr",
        "add",
        &format!("{outside}/24"),
        "dev",
        &ns_end,
    ]);
    ip(&["-n", &lab.netns, "link", "set", &ns_end, "up"]);
    ip(&["-n", &lab.netns, "link", "set", "lo", "up"]);
    outside_servers(&lab.netns, &outside, lab.stop_server.clone());

    let run = |name: &str, image: &str, ipn: u32, label: &str| {
        docker_ok(&[
            "run",
            "-d",
            "--name",
            name,
            "--network",
            &net,
            "--ip",
            &at(ipn),
            "--label",
            label,
            image,
            "/bin/busybox",
            "sleep",
            "600",
        ])
    };
    run(&es, &es_image, 10, "com.docker.compose.service=es01");
    run(&app, &app_image, 11, "com.docker.compose.service=app");

    let flows = dir.path().join("flows.jsonl");
    let alerts = dir.path().join("alerts.jsonl");
    let mut child = Command::new(bin())
        .args(["watch", "-i", &bridge, "--active-timeout", "0"])
        .arg("--flows")
        .arg(&flows)
        .arg("--alerts")
        .arg(&alerts)
        .stderr(Stdio::piped())
        .spawn()
        .expect("start watch");
    let err = child.stderr.take().unwrap();
    lab.watch = Some(child);
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for l in BufReader::new(err).lines().map_while(Result::ok) {
            eprintln!("[watch] {l}");
            let _ = tx.send(l);
        }
    });
    wait_line(&rx, "inventory synced", Duration::from_secs(15));
    std::thread::sleep(Duration::from_millis(500));

    talk(&es, &outside, 8443); // fires
    talk(&es, &outside, 9300); // transport port: allowed
    talk(&app, &at(10), 9200); // internal, nobody listens: refused
                               // Started after watch: named once its start event is in (within a second).
    run(&late, &app_image, 30, "com.docker.compose.service=worker");
    std::thread::sleep(Duration::from_millis(1500));
    talk(&late, &outside, 8443);
    // Its address goes to a new container.
    docker_ok(&["rm", "-f", &late]);
    run(&late2, &app_image, 30, "com.docker.compose.service=worker2");
    std::thread::sleep(Duration::from_millis(1500));
    talk(&late2, &outside, 8443);
    std::thread::sleep(Duration::from_millis(500));

    let mut child = lab.watch.take().unwrap();
    // SAFETY: signalling the child we started, by its pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert!(status.success(), "watch exits 0 on SIGTERM: {status:?}");

    let recs = json_lines(&std::fs::read(&flows).unwrap());
    let alerts = json_lines(&std::fs::read(&alerts).unwrap());
    let find = |src: &str, dst: &str, port: u64| -> &Value {
        recs.iter()
            .find(|r| r["orig_h"] == src && r["resp_h"] == dst && r["resp_p"] == port)
            .unwrap_or_else(|| panic!("no flow {src} -> {dst}:{port} in {recs:?}"))
    };
    let es_out = find(&at(10), &outside, 8443);
    assert_eq!(es_out["orig_container"]["name"], es.as_str());
    assert_eq!(es_out["orig_container"]["image"], es_image.as_str());
    assert_eq!(
        es_out["orig_container"]["labels"]["com.docker.compose.service"],
        "es01"
    );
    assert!(
        es_out["resp_container"].is_null(),
        "the outside host is no container"
    );
    assert_eq!(es_out["direction"], "outbound");
    let internal = find(&at(11), &at(10), 9200);
    assert_eq!(internal["orig_container"]["name"], app.as_str());
    assert_eq!(internal["resp_container"]["name"], es.as_str());
    assert_eq!(internal["direction"], "internal");
    let late_flow = find(&at(30), &outside, 8443);
    let mut late_flows: Vec<&Value> = recs
        .iter()
        .filter(|r| r["orig_h"] == at(30).as_str() && r["resp_p"] == 8443)
        .collect();
    // Records come out in flush order; the holders are checked in time order.
    late_flows.sort_by_key(|r| r["ts"].as_str().unwrap_or_default().to_string());
    assert_eq!(late_flows.len(), 2, "one flow from each holder of .30");
    let holders: Vec<&str> = late_flows
        .iter()
        .map(|r| r["orig_container"]["name"].as_str().unwrap_or("none"))
        .collect();
    assert_eq!(
        holders,
        vec![late.as_str(), late2.as_str()],
        "by time: {late_flow}"
    );

    let es_alerts: Vec<&Value> = alerts
        .iter()
        .filter(|a| a["rule"] == "Elasticsearch Unexpected Outbound Connection")
        .collect();
    assert_eq!(es_alerts.len(), 1, "8443 fires, 9300 does not: {alerts:?}");
    let out = es_alerts[0]["output"].as_str().unwrap();
    assert!(out.contains(&es) && out.contains(&es_image), "{out}");
    assert!(out.contains(&format!("{outside}:8443")), "{out}");
    drop(lab);
    drop(cleanup);
}
