//! The container image under the real Docker engine: `docker/build-local.sh` builds
//! a base-less image (docker import) from this build's binary (no registry needed), and the
//! settings of `docker/compose.host.yml` -- user, capabilities, read-only root,
//! tmpfs, pid, mounts -- are translated to `docker run` flags (read from the file,
//! so the test follows it) on a bridge network the test creates instead of the
//! host's.  The container replays a capture from `pcaps/` mounted read-only and
//! writes alerts to a file on a mounted volume; they must equal a direct run's.
//! It also serves `/healthz` and `/readyz` through a port published on 127.0.0.1, and,
//! run with the compose file's settings as they are (host network, `pid: host`, the
//! socket, user 10001), maps a test container to its host-side veth through its
//! network namespace -- and cannot without SYS_PTRACE, which is why the files grant it.
//!
//! A second test runs the image as the live agent: `watch` with the host compose
//! file's settings as they are (host network, `pid: host`, the Docker socket, user
//! 10001 with the socket's group, the four capabilities, read-only root) and its
//! command (no `-i`: every Docker bridge; outputs from docker/config/outputs.toml),
//! on a Docker network the test creates with busybox containers, one from an image
//! whose repository is `elasticsearch`.  That container talks to a host outside any
//! container (a namespace the test plugs into the network's bridge `br-<id>`) on
//! 8443 and 9300: the shipped Elasticsearch rule must fire once, naming the
//! container from the Docker API, and the alert must land in the alerts file on the
//! mounted state volume; `/readyz` (captures, rules, Docker inventory) must turn 200
//! first, and `docker stop` (SIGTERM) must end it with status 0 and the summary.
//!
//! Images, containers, networks and namespaces are named `bw*-PID` and removed by
//! name when the test ends, pass or fail.  Without Docker the test is skipped with a reason,
//! except in CI, where that is a failure.

mod common;

use common::docker::{docker, docker_available, docker_ok, import_busybox_image, DockerCleanup};
use common::{bin, repo_path};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use yaml_rust2::{Yaml, YamlLoader};

fn ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// `${NAME:-default}` as compose resolves it.  `DOCKER_GID` is what an operator
/// sets it to: the group of this host's Docker socket.
fn resolve(v: &str) -> String {
    match v.strip_prefix("${").and_then(|r| r.strip_suffix('}')) {
        Some(inner) => {
            let (name, default) = inner.split_once(":-").unwrap_or((inner, ""));
            if name == "DOCKER_GID" {
                if let Ok(m) = std::fs::metadata("/var/run/docker.sock") {
                    return m.gid().to_string();
                }
            }
            std::env::var(name).unwrap_or_else(|_| default.to_string())
        }
        None => v.to_string(),
    }
}

fn strs(y: &Yaml) -> Vec<String> {
    y.as_vec()
        .map(|v| v.iter().filter_map(|i| i.as_str()).map(resolve).collect())
        .unwrap_or_default()
}

/// The host compose service's settings as `docker run` flags.  `network` replaces
/// network_mode (`host` keeps it); the named spool volume becomes a bind of `state`,
/// so the test can read what the container wrote.
fn run_flags(svc: &Yaml, network: &str, state: &Path) -> Vec<String> {
    let mut f = vec!["--network".to_string(), network.to_string()];
    assert_eq!(svc["network_mode"].as_str(), Some("host"));
    if let Some(pid) = svc["pid"].as_str() {
        f.extend(["--pid".into(), pid.into()]);
    }
    if let Some(u) = svc["user"].as_str() {
        f.extend(["--user".into(), u.into()]);
    }
    for g in strs(&svc["group_add"]) {
        f.extend(["--group-add".into(), g]);
    }
    for c in strs(&svc["cap_drop"]) {
        f.extend(["--cap-drop".into(), c]);
    }
    for c in strs(&svc["cap_add"]) {
        f.extend(["--cap-add".into(), c]);
    }
    if svc["read_only"].as_bool() == Some(true) {
        f.push("--read-only".into());
    }
    for t in strs(&svc["tmpfs"]) {
        f.extend(["--tmpfs".into(), t]);
    }
    for v in strs(&svc["volumes"]) {
        let (src, rest) = v.split_once(':').unwrap();
        let bind = if let Some(rel) = src.strip_prefix("./") {
            format!("{}:{rest}", repo_path("docker").join(rel).display())
        } else if src.starts_with('/') {
            if !Path::new(src).exists() {
                continue; // e.g. no Docker socket at that path on this host
            }
            v.clone()
        } else {
            format!("{}:{rest}", state.display())
        };
        f.extend(["-v".into(), bind]);
    }
    f
}

/// The image `docker/build-local.sh` makes from this test build's binary, as `image`.
fn build_local_image(image: &str) {
    let build = Command::new(repo_path("docker/build-local.sh"))
        .arg(bin())
        .arg(image)
        .current_dir(repo_path("."))
        .output()
        .unwrap();
    ok(&build, "docker/build-local.sh");
}

#[test]
fn image_replays_like_the_binary_with_the_host_compose_settings() {
    if !docker_available("docker_image") {
        return;
    }
    let t0 = Instant::now();
    let pid = std::process::id();
    let image = format!("bwt-img-{pid}:test");
    let app_image = format!("bwt-bb-{pid}:test");
    let network = format!("bwt-net-{pid}");
    let (run_name, serve_name, app_name) = (
        format!("bwt-run-{pid}"),
        format!("bwt-serve-{pid}"),
        format!("bwt-app-{pid}"),
    );
    let _cleanup = DockerCleanup {
        containers: vec![run_name.clone(), serve_name.clone(), app_name.clone()],
        networks: vec![network.clone()],
        images: vec![image.clone(), app_image.clone()],
    };
    build_local_image(&image);
    ok(
        &docker(&["network", "create", &network]),
        "docker network create",
    );

    let version = ok(
        &docker(&["run", "--rm", "--network", "none", &image, "--version"]),
        "--version",
    );
    let direct = Command::new(bin()).arg("--version").output().unwrap();
    assert_eq!(
        version,
        String::from_utf8_lossy(&direct.stdout),
        "the image runs this build"
    );

    // The sidecar is granted two of the four file capabilities: the binary still starts
    // (they are permitted, not effective) and raises exactly those two.
    let sidecar = std::fs::read_to_string(repo_path("docker/compose.sidecar.yml")).unwrap();
    let sidecar = YamlLoader::load_from_str(&sidecar).unwrap();
    let mut cmd = vec!["run", "--rm", "--network", "none", "--cap-drop", "ALL"];
    let side_caps = strs(&sidecar[0]["services"]["bridgewatch"]["cap_add"]);
    for c in &side_caps {
        cmd.extend(["--cap-add", c.as_str()]);
    }
    cmd.extend([image.as_str(), "--log-level", "info", "fields"]);
    let out = docker(&cmd);
    ok(&out, "docker run with the sidecar's capabilities");
    let err = String::from_utf8_lossy(&out.stderr);
    let want: Vec<String> = side_caps.iter().map(|c| format!("CAP_{c}")).collect();
    assert!(
        err.contains(&format!("capabilities=[{}]", want.join(", "))),
        "{err}"
    );

    let compose = std::fs::read_to_string(repo_path("docker/compose.host.yml")).unwrap();
    let compose = YamlLoader::load_from_str(&compose).unwrap();
    let svc = &compose[0]["services"]["bridgewatch"];
    let state = tempfile::tempdir().unwrap();
    // The container runs as uid 10001: the volume must be writable for it.
    std::fs::set_permissions(state.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let hostname = hostname.trim();

    // The compose command with replay for watch: its rules and outputs file as they
    // are; --listen belongs to the live agent.
    let mut args: Vec<String> = strs(&svc["command"])
        .into_iter()
        .filter(|a| !a.starts_with("--listen"))
        .collect();
    assert_eq!(args[0], "watch");
    args[0] = "replay".into();
    args.extend(
        [
            "--threads=1",
            "--stats-json=/var/lib/bridgewatch/stats.json",
            "--containers=/pcaps/demo-containers.json",
            "/pcaps/demo-container-host.pcap",
        ]
        .map(String::from),
    );
    let mut cmd = vec![
        "run".to_string(),
        "--name".into(),
        run_name.clone(),
        "--hostname".into(),
        hostname.into(),
    ];
    cmd.extend(run_flags(svc, &network, state.path()));
    cmd.extend([
        "-v".into(),
        format!("{}:/pcaps:ro", repo_path("pcaps").display()),
    ]);
    cmd.push(image.clone());
    cmd.extend(args.iter().cloned());
    let cmd_refs: Vec<&str> = cmd.iter().map(String::as_str).collect();
    let out = docker(&cmd_refs);
    ok(&out, "docker run (replay)");

    let alerts_path = state.path().join("alerts.jsonl");
    let meta = std::fs::metadata(&alerts_path).expect("alerts on the mounted volume");
    assert_eq!(meta.uid(), 10001, "written by the image's non-root user");
    let in_container = std::fs::read_to_string(&alerts_path).unwrap();
    assert!(in_container.lines().count() >= 3, "{in_container}");

    // The same replay run directly, with the same rules and the same hostname.
    let direct_alerts = state.path().join("direct.jsonl");
    let out = Command::new(bin())
        .args(["replay", "--threads=1", "--default-rules", "-q"])
        .arg("--rules")
        .arg(repo_path("docker/config/rules"))
        .arg("--alerts")
        .arg(&direct_alerts)
        .arg("--containers")
        .arg(repo_path("pcaps/demo-containers.json"))
        .arg(repo_path("pcaps/demo-container-host.pcap"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let direct = std::fs::read_to_string(&direct_alerts).unwrap();
    let mut a: Vec<&str> = in_container.lines().collect();
    let mut b: Vec<&str> = direct.lines().collect();
    a.sort_unstable();
    b.sort_unstable();
    assert_eq!(a, b, "the image's alerts equal the binary's");
    let stats: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(state.path().join("stats.json")).unwrap())
            .unwrap();
    assert_eq!(stats["packets"], 431);

    // Health endpoints of the image, published on loopback only.
    let serve = docker(&[
        "run",
        "-d",
        "--name",
        &serve_name,
        "--network",
        &network,
        "--user",
        "10001:10001",
        "--cap-drop",
        "ALL",
        "--read-only",
        "-p",
        "127.0.0.1::9477",
        "-v",
        &format!("{}:/pcaps:ro", repo_path("pcaps").display()),
        &image,
        "replay",
        "-q",
        "--listen=0.0.0.0:9477",
        "--linger=120",
        "/pcaps/demo-container-host.pcap",
    ]);
    ok(&serve, "docker run -d (listen)");
    let port = ok(&docker(&["port", &serve_name, "9477/tcp"]), "docker port");
    let addr = port.lines().next().unwrap().trim().to_string();
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    let get = |path: &str| common::http::get_raw(addr.as_str(), path);
    let end = Instant::now() + Duration::from_secs(30);
    let ready = loop {
        match get("/readyz") {
            Some(r) if r.starts_with("HTTP/1.1 200") => break r,
            _ if Instant::now() > end => panic!("/readyz never 200 from the container"),
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    assert!(ready.ends_with("ready\n"));
    assert!(get("/healthz").unwrap().starts_with("HTTP/1.1 200"));
    let end = Instant::now() + Duration::from_secs(30);
    while !get("/metrics").is_some_and(|m| m.contains("\nbridgewatch_capture_packets_total 431\n"))
    {
        assert!(Instant::now() < end, "{:?}", get("/metrics"));
        std::thread::sleep(Duration::from_millis(100));
    }

    // The compose settings as they are, network_mode: host included: `inventory` maps a
    // container to its host-side veth by entering its network namespace as user 10001.
    let work = tempfile::tempdir().unwrap();
    import_busybox_image(&app_image, work.path());
    ok(
        &docker(&[
            "run",
            "-d",
            "--name",
            &app_name,
            "--network",
            &network,
            &app_image,
            "/bin/busybox",
            "sleep",
            "600",
        ]),
        "docker run (app)",
    );
    let inventory = |drop_cap: Option<&str>| -> (Option<Vec<String>>, String) {
        let mut cmd = vec!["run".to_string(), "--rm".into()];
        let flags = run_flags(svc, "host", state.path());
        let mut i = 0;
        while i < flags.len() {
            if flags[i] == "--cap-add" && Some(flags[i + 1].as_str()) == drop_cap {
                i += 2;
                continue;
            }
            cmd.push(flags[i].clone());
            i += 1;
        }
        cmd.push(image.clone());
        cmd.push("inventory".into());
        let refs: Vec<&str> = cmd.iter().map(String::as_str).collect();
        let out = docker(&refs);
        let text = ok(&out, "docker run (inventory)");
        let inv: serde_json::Value = serde_json::from_str(&text).unwrap();
        let app = inv["containers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == app_name.as_str())
            .unwrap_or_else(|| panic!("{app_name} not in {text}"))
            .clone();
        let veths = app["veths"]
            .as_array()
            .map(|v| v.iter().map(|x| x.as_str().unwrap().to_string()).collect());
        (veths, String::from_utf8_lossy(&out.stderr).to_string())
    };
    let (veths, err) = inventory(None);
    let veths = veths.unwrap_or_else(|| panic!("no veths for {app_name}: {err}"));
    assert_eq!(veths.len(), 1, "{veths:?}");
    assert!(
        Path::new("/sys/class/net").join(&veths[0]).exists(),
        "{} is a host interface",
        veths[0]
    );
    let (veths, err) = inventory(Some("SYS_PTRACE"));
    assert_eq!(
        veths, None,
        "without SYS_PTRACE the namespace cannot be opened"
    );
    assert!(err.contains("/ns/net: Permission denied"), "{err}");
    eprintln!("docker_image: {:.1} s", t0.elapsed().as_secs_f64());
}

/// A network namespace (and the veth end inside it) removed by name on drop, and the
/// server thread in it told to stop.
struct Outside {
    netns: String,
    host_end: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Drop for Outside {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_end])
            .status();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .status();
    }
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    ok(&out, &format!("ip {}", args.join(" ")));
}

/// TCP servers on `addr` ports 8443 and 9300 inside `ns` (a thread that entered the
/// namespace): each connection is read to EOF, answered and closed.
fn outside_servers(ns: &str, addr: &str, stop: std::sync::Arc<std::sync::atomic::AtomicBool>) {
    use std::os::fd::AsRawFd;
    let path = format!("/run/netns/{ns}");
    let addr = addr.to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let fd = std::fs::File::open(&path).unwrap();
        // SAFETY: a valid namespace descriptor; only this thread changes namespace.
        let rc = unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns {path}");
        let listeners: Vec<std::net::TcpListener> = [8443, 9300]
            .iter()
            .map(|p| {
                let l = std::net::TcpListener::bind(format!("{addr}:{p}")).unwrap();
                l.set_nonblocking(true).unwrap();
                l
            })
            .collect();
        tx.send(()).unwrap();
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            for l in &listeners {
                if let Ok((mut s, _)) = l.accept() {
                    let _ = s.set_nonblocking(false);
                    let _ = s.set_read_timeout(Some(Duration::from_secs(3)));
                    let _ = s.read_to_end(&mut Vec::new());
                    let _ = s.write_all(b"hello from outside\n");
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    rx.recv_timeout(Duration::from_secs(5))
        .expect("servers bound");
}

#[test]
fn image_watches_a_docker_network_with_the_host_compose_settings() {
    if !docker_available("docker_image watch") {
        return;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        assert!(
            std::env::var_os("CI").is_none(),
            "docker_image watch: needs root (a network namespace on the bridge), and CI must not skip"
        );
        eprintln!("SKIP docker_image watch: needs root (a network namespace on the bridge)");
        return;
    }
    let t0 = Instant::now();
    let pid = std::process::id();
    let tag = format!("bwi{pid}");
    let image = format!("bwt-wimg-{pid}:test");
    let es_image = format!("elasticsearch:{tag}");
    let network = format!("bwt-wnet-{pid}");
    let (agent, es) = (format!("bwt-agent-{pid}"), format!("bwt-es01-{pid}"));
    let _cleanup = DockerCleanup {
        containers: vec![agent.clone(), es.clone()],
        networks: vec![network.clone()],
        images: vec![image.clone(), es_image.clone()],
    };
    build_local_image(&image);
    let work = tempfile::tempdir().unwrap();
    import_busybox_image(&es_image, work.path());
    let third = 100 + pid % 150;
    let at = |n: u32| format!("10.215.{third}.{n}");
    let net_id = docker_ok(&[
        "network",
        "create",
        "--subnet",
        &format!("10.215.{third}.0/24"),
        &network,
    ]);
    let bridge = format!("br-{}", &net_id[..12]);

    // The outside host: a namespace on a veth into the network's bridge.
    let outside_ip = at(200);
    let outside = Outside {
        netns: format!("bwi-{pid}-ext"),
        host_end: format!("bwi{pid}h"),
        stop: Default::default(),
    };
    let ns_end = format!("bwi{pid}n");
    ip(&["netns", "add", &outside.netns]);
    ip(&[
        "link",
        "add",
        &outside.host_end,
        "type",
        "veth",
        "peer",
        "name",
        &ns_end,
    ]);
    ip(&["link", "set", &ns_end, "netns", &outside.netns]);
    ip(&["link", "set", &outside.host_end, "master", &bridge, "up"]);
    ip(&[
        "-n",
        &outside.netns,
        "addr",
        "add",
        &format!("{outside_ip}/24"),
        "dev",
        &ns_end,
    ]);
    ip(&["-n", &outside.netns, "link", "set", &ns_end, "up"]);
    outside_servers(&outside.netns, &outside_ip, outside.stop.clone());
    docker_ok(&[
        "run",
        "-d",
        "--name",
        &es,
        "--network",
        &network,
        "--ip",
        &at(10),
        "--label",
        "com.docker.compose.service=es01",
        &es_image,
        "/bin/busybox",
        "sleep",
        "600",
    ]);

    // The agent: the host compose service as it is, its command unchanged but for the
    // metrics port (0: a free one, read from the log, so no fixed host port is taken).
    let compose = std::fs::read_to_string(repo_path("docker/compose.host.yml")).unwrap();
    let compose = YamlLoader::load_from_str(&compose).unwrap();
    let svc = &compose[0]["services"]["bridgewatch"];
    let state = tempfile::tempdir().unwrap();
    std::fs::set_permissions(state.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let mut cmd = vec![
        "run".to_string(),
        "-d".into(),
        "--name".into(),
        agent.clone(),
    ];
    let net_mode = svc["network_mode"].as_str().unwrap().to_string();
    cmd.extend(run_flags(svc, &net_mode, state.path()));
    cmd.push(image.clone());
    let args: Vec<String> = strs(&svc["command"])
        .into_iter()
        .map(|a| {
            if a.starts_with("--listen=") {
                "--listen=127.0.0.1:0".to_string()
            } else {
                a
            }
        })
        .collect();
    assert_eq!(args[0], "watch");
    assert!(!args
        .iter()
        .any(|a| a == "-i" || a.starts_with("--interface")));
    cmd.extend(args);
    let refs: Vec<&str> = cmd.iter().map(String::as_str).collect();
    ok(&docker(&refs), "docker run (watch)");
    let logs = || {
        let o = docker(&["logs", &agent]);
        String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr)
    };
    let end = Instant::now() + Duration::from_secs(30);
    let addr = loop {
        let l = logs();
        if let Some(a) = l.split("on http://").nth(1) {
            break a.lines().next().unwrap().trim().to_string();
        }
        assert!(Instant::now() < end, "no metrics address in the log: {l}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let get = |path: &str| common::http::get_raw(addr.as_str(), path);
    // Ready: every bridge's capture open, the rules loaded, the Docker inventory
    // synced (through the read-only socket, as user 10001 in the socket's group).
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        match get("/readyz") {
            Some(r) if r.starts_with("HTTP/1.1 200") => break,
            r if Instant::now() > end => panic!("/readyz never 200: {r:?}\n{}", logs()),
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
    let l = logs();
    assert!(l.contains(&format!("capturing on {bridge} ")), "{l}");

    let talk = |port: u16| {
        docker(&[
            "exec",
            &es,
            "/bin/busybox",
            "sh",
            "-c",
            &format!("echo ping | /bin/busybox nc -w 3 {outside_ip} {port}"),
        ])
    };
    let answer = talk(8443);
    assert!(
        String::from_utf8_lossy(&answer.stdout).contains("hello from outside"),
        "{answer:?}"
    );
    talk(9300);
    let rule = "Elasticsearch Unexpected Outbound Connection";
    let alerts_path = state.path().join("alerts.jsonl");
    let read_alerts = || -> Vec<serde_json::Value> {
        std::fs::read_to_string(&alerts_path)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let end = Instant::now() + Duration::from_secs(10);
    while !read_alerts().iter().any(|a| a["rule"] == rule) {
        assert!(
            Instant::now() < end,
            "no alert in {}\n{}",
            alerts_path.display(),
            logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let metrics = get("/metrics").unwrap();
    assert!(
        metrics.contains(&format!(
            "bridgewatch_alerts_total{{rule=\"{rule}\",priority=\"Warning\"}} 1\n"
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!(
            "bridgewatch_capture_kernel_dropped_packets_total{{interface=\"{bridge}\"}} "
        )),
        "{metrics}"
    );

    // docker stop: SIGTERM, flush, summary, exit 0.
    ok(&docker(&["stop", "-t", "20", &agent]), "docker stop");
    let code = docker_ok(&["inspect", "-f", "{{.State.ExitCode}}", &agent]);
    let l = logs();
    assert_eq!(code, "0", "{l}");
    assert!(l.contains(&format!("capture {bridge}:")), "summary: {l}");
    let meta = std::fs::metadata(&alerts_path).unwrap();
    assert_eq!(meta.uid(), 10001, "written by the image's non-root user");
    let es_alerts: Vec<serde_json::Value> = read_alerts()
        .into_iter()
        .filter(|a| a["rule"] == rule)
        .collect();
    assert_eq!(
        es_alerts.len(),
        1,
        "8443 fires, 9300 does not: {es_alerts:?}"
    );
    let a = &es_alerts[0];
    assert_eq!(a["flow"]["resp_p"], 8443, "{a}");
    let text = a["output"].as_str().unwrap();
    assert!(text.contains(&es) && text.contains(&es_image), "{text}");
    drop(outside);
    eprintln!("docker_image watch: {:.1} s", t0.elapsed().as_secs_f64());
}
