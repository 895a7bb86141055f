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
use common::net::ip;
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

/// Starts a watch; returns it and its stderr lines (echoed to the test's stderr).
fn spawn_watch(mut cmd: Command) -> (Child, Receiver<String>) {
    let mut child = cmd.stderr(Stdio::piped()).spawn().expect("start watch");
    let err = child.stderr.take().unwrap();
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for l in BufReader::new(err).lines().map_while(Result::ok) {
            eprintln!("[watch] {l}");
            let _ = tx.send(l);
        }
    });
    (child, rx)
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

/// What a test runs in: its Docker network and bridge, an imported image under two
/// names (`elasticsearch:TAG` and `bwt-app:TAG`), and the outside host at `.200`
/// serving 8443 and 9300.  Dropping it removes all of it.
struct Env {
    // Field order is drop order: the lab (watch, namespace) before Docker's objects.
    lab: Lab,
    cleanup: DockerCleanup,
    dir: tempfile::TempDir,
    tag: String,
    net: String,
    bridge: String,
    es_image: String,
    app_image: String,
    prefix: String,
    outside: String,
}

impl Env {
    /// `None` when the test must be skipped (no Docker, not root) outside CI.
    fn new(test: &str, name: &str, octet2: u32) -> Option<Env> {
        if !docker_available(test) {
            return None;
        }
        if unsafe { libc::geteuid() } != 0 {
            if std::env::var_os("CI").is_some() {
                panic!("{test}: needs root, and CI must not skip");
            }
            eprintln!("SKIP {test}: needs root (live capture, network namespaces)");
            return None;
        }
        let pid = std::process::id();
        let tag = format!("{name}{pid}");
        let net = format!("bwt-{name}-{pid}");
        let es_image = format!("elasticsearch:{tag}");
        let app_image = format!("bwt-app:{tag}");
        let mut cleanup = DockerCleanup::default();
        cleanup.networks = vec![net.clone()];
        cleanup.images = vec![es_image.clone(), app_image.clone()];
        let lab = Lab {
            netns: format!("{name}-{pid}-ext"),
            watch: None,
            stop_server: Arc::default(),
        };
        let dir = tempfile::tempdir().unwrap();
        import_busybox_image(&es_image, dir.path());
        docker_ok(&["tag", &es_image, &app_image]);
        let prefix = format!("10.{octet2}.{}", 100 + pid % 150);
        let net_id = docker_ok(&[
            "network",
            "create",
            "--subnet",
            &format!("{prefix}.0/24"),
            &net,
        ]);
        let bridge = format!("br-{}", &net_id[..12]);
        // The outside host: a namespace with a veth into the Docker bridge.
        let outside = format!("{prefix}.200");
        let (host_end, ns_end) = (format!("{name}{pid}h"), format!("{name}{pid}n"));
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
        Some(Env {
            lab,
            cleanup,
            dir,
            tag,
            net,
            bridge,
            es_image,
            app_image,
            prefix,
            outside,
        })
    }

    /// Starts container `TAG-name` at `.ipn`; returns its full name.
    fn run(&mut self, name: &str, image: &str, ipn: u32, label: &str) -> String {
        let (net, ip) = (self.net.clone(), format!("{}.{ipn}", self.prefix));
        self.run_with(
            name,
            image,
            &["--network", &net, "--ip", &ip, "--label", label],
        )
    }

    /// Starts container `TAG-name` with `docker run` options `opts`; returns its full name.
    fn run_with(&mut self, name: &str, image: &str, opts: &[&str]) -> String {
        let full = format!("{}-{name}", self.tag);
        self.cleanup.containers.push(full.clone());
        let mut args = vec!["run", "-d", "--name", &full];
        args.extend_from_slice(opts);
        args.extend_from_slice(&[image, "/bin/busybox", "sleep", "600"]);
        docker_ok(&args);
        full
    }

    /// Starts containers `app` (`.11`), `side` (in app's network namespace, no
    /// address of its own) and `db` (`.12`) from the app image; returns their full
    /// names.
    fn app_side_db(&mut self) -> (String, String, String) {
        let image = self.app_image.clone();
        let app = self.run("app", &image, 11, "com.docker.compose.service=app");
        let side = self.run_with("side", &image, &["--network", &format!("container:{app}")]);
        let db = self.run("db", &image, 12, "com.docker.compose.service=db");
        (app, side, db)
    }

    /// Starts `watch -i BRIDGE ARGS...`; returns its stderr lines.
    fn watch(&mut self, args: &[&str]) -> Receiver<String> {
        let mut cmd = Command::new(bin());
        cmd.args(["watch", "-i", &self.bridge, "--active-timeout", "0"])
            .args(args);
        self.start(cmd)
    }

    /// Starts `cmd` (a watch) as the lab's watch process; returns its stderr lines.
    fn start(&mut self, mut cmd: Command) -> Receiver<String> {
        let mut child = cmd.stderr(Stdio::piped()).spawn().expect("start watch");
        let err = child.stderr.take().unwrap();
        self.lab.watch = Some(child);
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                eprintln!("[watch] {l}");
                let _ = tx.send(l);
            }
        });
        rx
    }

    fn signal(&self, sig: i32) {
        let c = self.lab.watch.as_ref().expect("watch runs");
        // SAFETY: signalling the child we started, by its pid.
        unsafe { libc::kill(c.id() as i32, sig) };
    }

    /// SIGTERM, and watch must exit 0.
    fn stop_watch(&mut self) {
        self.signal(libc::SIGTERM);
        let mut child = self.lab.watch.take().unwrap();
        let status = child.wait().unwrap();
        assert!(status.success(), "watch exits 0 on SIGTERM: {status:?}");
    }
}

#[test]
fn watch_names_real_containers_from_the_docker_api() {
    let Some(mut env) = Env::new("watch_docker", "bwd", 214) else {
        return;
    };
    let (es_image, app_image) = (env.es_image.clone(), env.app_image.clone());
    let outside = env.outside.clone();
    let prefix = env.prefix.clone();
    let at = |n: u32| format!("{prefix}.{n}");
    let es = env.run("es01", &es_image, 10, "com.docker.compose.service=es01");
    let app = env.run("app", &app_image, 11, "com.docker.compose.service=app");
    let flows = env.dir.path().join("flows.jsonl");
    let alerts = env.dir.path().join("alerts.jsonl");
    let (f, a) = (flows.display().to_string(), alerts.display().to_string());
    let rx = env.watch(&["--flows", &f, "--alerts", &a]);
    wait_line(&rx, "inventory synced", Duration::from_secs(15));
    std::thread::sleep(Duration::from_millis(500));

    talk(&es, &outside, 8443); // fires
    talk(&es, &outside, 9300); // transport port: allowed
    talk(&app, &at(10), 9200); // internal, nobody listens: refused
                               // Started after watch: named once its start event is in (within a second).
    let late = env.run("late", &app_image, 30, "com.docker.compose.service=worker");
    std::thread::sleep(Duration::from_millis(1500));
    talk(&late, &outside, 8443);
    // Its address goes to a new container.
    docker_ok(&["rm", "-f", &late]);
    let late2 = env.run(
        "late2",
        &app_image,
        30,
        "com.docker.compose.service=worker2",
    );
    std::thread::sleep(Duration::from_millis(1500));
    talk(&late2, &outside, 8443);
    std::thread::sleep(Duration::from_millis(500));
    env.stop_watch();
    let recs = json_lines(&std::fs::read(&flows).unwrap());
    let alerts = json_lines(&std::fs::read(&alerts).unwrap());
    let find = |src: &str, dst: &str, port: u64| flow_between(&recs, src, dst, port);
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
}

#[test]
fn sighup_reloads_the_rules_and_a_bad_file_keeps_the_old_set() {
    let Some(mut env) = Env::new("watch_docker", "bwh", 215) else {
        return;
    };
    let app_image = env.app_image.clone();
    let outside = env.outside.clone();
    let app = env.run("app", &app_image, 11, "com.docker.compose.service=app");
    let rule = |port: u16| {
        format!(
            "- rule: Outbound to {port}\n  desc: test\n  condition: evt.type = connect and flow.direction = outbound and fd.rport = {port}\n  output: '%container.name to %fd.rip:%fd.rport'\n  priority: WARNING\n  tags: [test]\n"
        )
    };
    let rules = env.dir.path().join("rules.yaml");
    std::fs::write(&rules, rule(8443)).unwrap();
    let alerts = env.dir.path().join("alerts.jsonl");
    let (r, a) = (rules.display().to_string(), alerts.display().to_string());
    let rx = env.watch(&["--rules", &r, "--alerts", &a, "--dedup-window", "0"]);
    wait_line(&rx, "inventory synced", Duration::from_secs(15));
    std::thread::sleep(Duration::from_millis(500));
    talk(&app, &outside, 8443); // old set: fires

    // Captures open: no thread of watch holds NET_RAW (13) or NET_ADMIN (12) any more.
    let pid = env.lab.watch.as_ref().unwrap().id();
    let mut threads = 0;
    for t in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let status = std::fs::read_to_string(t.unwrap().path().join("status")).unwrap();
        for key in ["CapEff:", "CapPrm:"] {
            let line = status.lines().find(|l| l.starts_with(key)).unwrap();
            let bits = u64::from_str_radix(line[key.len()..].trim(), 16).unwrap();
            assert_eq!(
                bits & (1 << 12 | 1 << 13),
                0,
                "{key} {bits:x} still has NET_ADMIN/NET_RAW"
            );
        }
        threads += 1;
    }
    assert!(threads > 3, "checked every thread ({threads})");

    std::fs::write(&rules, rule(9300)).unwrap();
    env.signal(libc::SIGHUP);
    wait_line(&rx, "rules reloaded", Duration::from_secs(5));
    talk(&app, &outside, 8443); // new set: quiet
    talk(&app, &outside, 9300); // new set: fires

    std::fs::write(&rules, "- rule: broken\n  condition: fd.nope = 1\n").unwrap();
    env.signal(libc::SIGHUP);
    wait_line(&rx, "previous set stays in force", Duration::from_secs(5));
    talk(&app, &outside, 9300); // still the 9300 set: fires again
    std::thread::sleep(Duration::from_millis(300));
    env.stop_watch();

    let got: Vec<String> = json_lines(&std::fs::read(&alerts).unwrap())
        .iter()
        .map(|a| a["rule"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        got,
        vec!["Outbound to 8443", "Outbound to 9300", "Outbound to 9300"],
        "one alert per set in force"
    );
}

#[test]
fn sidecar_in_the_apps_namespace_names_the_app_from_docker_or_from_flags() {
    let Some(mut env) = Env::new("watch_docker", "bws", 216) else {
        return;
    };
    let app_image = env.app_image.clone();
    let outside = env.outside.clone();
    let app = env.run("app", &app_image, 11, "com.docker.compose.service=app");
    let pid = docker_ok(&["inspect", "-f", "{{.State.Pid}}", &app]);
    let netns = format!("--net=/proc/{pid}/ns/net");
    // As `network_mode: container:APP` puts it: in the app's network namespace.
    let run = |env: &mut Env, extra: &[&str], flows: &str, ready: &str| {
        let mut cmd = Command::new("nsenter");
        cmd.arg(&netns)
            .arg(bin())
            .args([
                "watch",
                "--sidecar",
                "--active-timeout",
                "0",
                "--flows",
                flows,
            ])
            .args(extra);
        let rx = env.start(cmd);
        wait_line(&rx, ready, Duration::from_secs(15));
        std::thread::sleep(Duration::from_millis(300));
        talk(&app, &outside, 8443);
        std::thread::sleep(Duration::from_millis(300));
        env.stop_watch();
        let recs = json_lines(&std::fs::read(flows).unwrap());
        recs.into_iter()
            .find(|r| r["resp_h"] == outside.as_str() && r["resp_p"] == 8443)
            .unwrap_or_else(|| panic!("no flow to {outside}:8443"))
    };
    let flags = env.dir.path().join("flags.jsonl").display().to_string();
    let r = run(
        &mut env,
        &[
            "--no-docker",
            "--container-name",
            "shop-app",
            "--container-image",
            "shop/app:1.4",
            "--container-label",
            "tier=web",
        ],
        &flags,
        "watching with",
    );
    assert_eq!(r["iface"], "eth0");
    assert_eq!(r["orig_container"]["name"], "shop-app");
    assert_eq!(r["orig_container"]["image"], "shop/app:1.4");
    assert_eq!(r["orig_container"]["labels"]["tier"], "web");
    assert_eq!(r["direction"], "outbound");

    let api = env.dir.path().join("api.jsonl").display().to_string();
    let r = run(&mut env, &[], &api, "inventory synced");
    assert_eq!(
        r["orig_container"]["name"],
        app.as_str(),
        "the Docker API names it"
    );
    assert_eq!(r["orig_container"]["image"], app_image.as_str());
    assert_eq!(r["direction"], "outbound");
}

#[test]
fn without_i_a_bridge_created_later_is_captured_and_its_removal_is_clean() {
    // Started before the network exists: no -i, so watch follows the bridges.
    let early = tempfile::tempdir().unwrap();
    let flows = early.path().join("flows.jsonl").display().to_string();
    if !docker_available("watch_docker") || unsafe { libc::geteuid() } != 0 {
        // Env::new below says why (and fails in CI).
        let _ = Env::new("watch_docker", "bwf", 217);
        return;
    }
    let mut cmd = Command::new(bin());
    cmd.args(["watch", "--active-timeout", "0", "--flows", &flows]);
    let (child, rx) = spawn_watch(cmd);
    let mut guard = Lab {
        netns: format!("bwf-{}-unused", std::process::id()),
        watch: Some(child),
        stop_server: Arc::default(),
    };
    wait_line(&rx, "following Docker bridges", Duration::from_secs(15));

    let started = Instant::now();
    let Some(mut env) = Env::new("watch_docker", "bwf", 217) else {
        return;
    };
    env.lab.watch = guard.watch.take();
    wait_line(
        &rx,
        &format!("bridge {} appeared: capturing it", env.bridge),
        Duration::from_secs(5),
    );
    eprintln!(
        "watch_docker: new bridge captured within {:?} of `docker network create` (which that includes)",
        started.elapsed()
    );
    let app_image = env.app_image.clone();
    let outside = env.outside.clone();
    let app = env.run("app", &app_image, 11, "com.docker.compose.service=app");
    std::thread::sleep(Duration::from_millis(1000));
    talk(&app, &outside, 8443);
    std::thread::sleep(Duration::from_millis(300));

    // The network goes away: its capture closes, and that is no error.
    docker_ok(&["rm", "-f", &app]);
    let _ = Command::new("ip")
        .args(["netns", "del", &env.lab.netns])
        .status();
    docker_ok(&["network", "rm", &env.net]);
    wait_line(
        &rx,
        &format!("bridge {} went away", env.bridge),
        Duration::from_secs(5),
    );
    env.stop_watch();
    let recs = json_lines(&std::fs::read(&flows).unwrap());
    let r = recs
        .iter()
        .find(|r| r["resp_h"] == outside.as_str() && r["resp_p"] == 8443)
        .unwrap_or_else(|| panic!("no flow to {outside}:8443 in {recs:?}"));
    assert_eq!(r["iface"], env.bridge.as_str());
    assert_eq!(r["orig_container"]["name"], app.as_str());
}

/// The record in `recs` of the flow from `src` to `dst:port`; panics if none.
fn flow_between<'a>(recs: &'a [Value], src: &str, dst: &str, port: u64) -> &'a Value {
    recs.iter()
        .find(|r| r["orig_h"] == src && r["resp_h"] == dst && r["resp_p"] == port)
        .unwrap_or_else(|| panic!("no flow {src} -> {dst}:{port} in {recs:?}"))
}

/// Runs `cmd...` in the network namespace of container `c` (from the host, with the
/// host's tools: the container itself holds only busybox and no NET_ADMIN).
fn in_netns_of(c: &str, cmd: &[&str]) {
    let pid = docker_ok(&["inspect", "-f", "{{.State.Pid}}", c]);
    let out = Command::new("nsenter")
        .arg(format!("--net=/proc/{pid}/ns/net"))
        .args(cmd)
        .output()
        .expect("run nsenter");
    assert!(
        out.status.success(),
        "nsenter {c} {cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// From container `c`, one ICMP echo to `dst` sent from source address `src`.
fn ping_from(c: &str, src: &str, dst: &str) {
    let _ = docker(&[
        "exec",
        c,
        "/bin/busybox",
        "ping",
        "-c",
        "1",
        "-W",
        "2",
        "-I",
        src,
        dst,
    ]);
}

#[test]
fn a_shared_netns_is_one_group_a_mac_names_an_unknown_address_and_host_mode_is_host() {
    let Some(mut env) = Env::new("watch_docker", "bwg", 218) else {
        return;
    };
    let app_image = env.app_image.clone();
    let (outside, prefix) = (env.outside.clone(), env.prefix.clone());
    let at = |n: u32| format!("{prefix}.{n}");
    // `side`: a debugging sidecar in app's namespace.
    let (app, side, db) = env.app_side_db();
    // An address Docker does not know about, added inside db's namespace.
    in_netns_of(
        &db,
        &[
            "ip",
            "addr",
            "add",
            &format!("{}/24", at(77)),
            "dev",
            "eth0",
        ],
    );
    let hostc = env.run_with("hostnet", &app_image, &["--network", "host"]);
    let db_mac = docker_ok(&[
        "inspect",
        "-f",
        &format!(
            "{{{{(index .NetworkSettings.Networks \"{}\").MacAddress}}}}",
            env.net
        ),
        &db,
    ]);
    // `container.*` fields of the rules see the group's owner.
    let rules = env.dir.path().join("rules.yaml");
    std::fs::write(
        &rules,
        "- rule: Group to 8443\n  desc: test\n  condition: evt.type = connect and fd.rport = 8443 and container.name exists\n  output: '%container.name to %fd.rip:%fd.rport'\n  priority: WARNING\n  tags: [test]\n",
    )
    .unwrap();
    let flows = env.dir.path().join("flows.jsonl");
    let alerts = env.dir.path().join("alerts.jsonl");
    let (f, a, r) = (
        flows.display().to_string(),
        alerts.display().to_string(),
        rules.display().to_string(),
    );
    let rx = env.watch(&["--flows", &f, "--alerts", &a, "--rules", &r]);
    wait_line(&rx, "inventory synced", Duration::from_secs(15));
    std::thread::sleep(Duration::from_millis(500));

    talk(&side, &outside, 8443);
    ping_from(&db, &at(77), &outside);
    ping_from(&hostc, &at(1), &outside);
    std::thread::sleep(Duration::from_millis(500));
    env.stop_watch();
    let recs = json_lines(&std::fs::read(&flows).unwrap());
    let find = |src: &str, proto: &str| -> &Value {
        recs.iter()
            .find(|r| r["orig_h"] == src && r["resp_h"] == outside.as_str() && r["proto"] == proto)
            .unwrap_or_else(|| panic!("no {proto} flow {src} -> {outside} in {recs:?}"))
    };

    // The sidecar's connection leaves from app's address: app's group, both named.
    let g = find(&at(11), "tcp");
    assert_eq!(g["orig_container"]["name"], app.as_str(), "{g}");
    assert_eq!(
        g["orig_container"]["netns_members"],
        serde_json::json!([side]),
        "{g}"
    );
    assert_eq!(g["orig_container"]["attributed_by"], "mac", "{g}");
    assert_eq!(g["direction"], "outbound");
    let alerts = json_lines(&std::fs::read(&alerts).unwrap());
    let out: Vec<&str> = alerts
        .iter()
        .filter(|a| a["rule"] == "Group to 8443")
        .filter_map(|a| a["output"].as_str())
        .collect();
    assert_eq!(out, vec![format!("{app} to {outside}:8443")], "{alerts:?}");

    // No inventory entry holds .77; the frame's source MAC is db's.
    let m = find(&at(77), "icmp");
    assert_eq!(m["orig_l2_addr"], db_mac.as_str(), "{m}");
    assert_eq!(m["orig_container"]["name"], db.as_str(), "{m}");
    assert_eq!(m["orig_container"]["attributed_by"], "mac", "{m}");
    assert_eq!(m["direction"], "outbound");
    assert!(m["resp_l2_addr"].is_string(), "the outside answered: {m}");

    // A host-network container sends as the host: the flow is the host's.
    let h = find(&at(1), "icmp");
    assert_eq!(h["direction"], "host", "{h}");
    assert!(h["orig_container"].is_null(), "{h}");
    let _ = hostc;
}

/// The host-side veth of container `c`: the host interface whose index is its
/// eth0's peer (`iflink`).
fn host_veth_of(c: &str) -> String {
    let peer = docker_ok(&[
        "exec",
        c,
        "/bin/busybox",
        "cat",
        "/sys/class/net/eth0/iflink",
    ]);
    for e in std::fs::read_dir("/sys/class/net").unwrap() {
        let e = e.unwrap();
        let idx = std::fs::read_to_string(e.path().join("ifindex")).unwrap_or_default();
        if idx.trim() == peer {
            return e.file_name().to_string_lossy().into_owned();
        }
    }
    panic!("no host interface with index {peer}");
}

#[test]
fn a_capture_on_a_containers_veth_names_it_by_the_veth() {
    let Some(mut env) = Env::new("watch_docker", "bwv", 219) else {
        return;
    };
    let (outside, prefix) = (env.outside.clone(), env.prefix.clone());
    let at = |n: u32| format!("{prefix}.{n}");
    let (app, side, db) = env.app_side_db();
    let veth = host_veth_of(&app);
    let flows = env.dir.path().join("flows.jsonl").display().to_string();
    let mut cmd = Command::new(bin());
    cmd.args([
        "watch",
        "-i",
        &veth,
        "--active-timeout",
        "0",
        "--flows",
        &flows,
    ]);
    let rx = env.start(cmd);
    wait_line(&rx, "inventory synced", Duration::from_secs(15));
    std::thread::sleep(Duration::from_millis(500));

    talk(&side, &outside, 8443);
    talk(&db, &at(11), 9200); // nobody listens in app: refused
    std::thread::sleep(Duration::from_millis(500));
    env.stop_watch();
    let recs = json_lines(&std::fs::read(&flows).unwrap());
    let find = |src: &str, dst: &str, port: u64| flow_between(&recs, src, dst, port);
    let out = find(&at(11), &outside, 8443);
    assert_eq!(out["iface"], veth.as_str());
    assert_eq!(out["orig_container"]["name"], app.as_str(), "{out}");
    assert_eq!(out["orig_container"]["attributed_by"], "veth", "{out}");
    assert_eq!(
        out["orig_container"]["netns_members"],
        serde_json::json!([side])
    );
    assert!(out["resp_container"].is_null());
    // Into app: db by its frame's MAC, app by the veth it was captured on.
    let into = find(&at(12), &at(11), 9200);
    assert_eq!(into["orig_container"]["name"], db.as_str(), "{into}");
    assert_eq!(into["orig_container"]["attributed_by"], "mac", "{into}");
    assert_eq!(into["resp_container"]["name"], app.as_str(), "{into}");
    assert_eq!(into["resp_container"]["attributed_by"], "veth", "{into}");
    assert_eq!(into["direction"], "internal");
}
