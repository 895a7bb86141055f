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
//! Images, containers and the network are named `bwt-*-PID` and removed by name when
//! the test ends, pass or fail.  Without Docker the test is skipped with a reason,
//! except in CI, where that is a failure.

mod common;

use common::docker::{docker, docker_available, import_busybox_image, DockerCleanup};
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
    let build = Command::new(repo_path("docker/build-local.sh"))
        .arg(bin())
        .arg(&image)
        .current_dir(repo_path("."))
        .output()
        .unwrap();
    ok(&build, "docker/build-local.sh");
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

    // The compose command with replay for watch: its rules and alert flags as they are;
    // --spool-dir and --listen belong to the live agent (no remote output to spool here).
    let mut args: Vec<String> = strs(&svc["command"])
        .into_iter()
        .filter(|a| !a.starts_with("--spool-dir") && !a.starts_with("--listen"))
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
    let get = |path: &str| -> Option<String> {
        let mut s = std::net::TcpStream::connect(&addr).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        (!out.is_empty()).then_some(out)
    };
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
