//! `bridgewatch inventory` against the real Docker engine: containers the test
//! starts on a network it creates, from an image it imports (its repository is
//! `elasticsearch`, as a real stack's would be).  Checks that the one-shot
//! inventory matches `docker inspect`; that `--follow` picks up a container
//! started after it, and ends a removed one with `until` while keeping its IP;
//! and that when a new container takes the removed one's IP, the exported
//! inventory attributes that IP to the old container before the handover and to
//! the new one after.  Everything made is removed by name at the end.

mod common;

use bridgewatch::rules::inventory::parse_rfc3339;
use bridgewatch::rules::Inventory;
use common::docker::*;
use common::*;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::Shutdown;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The `--follow` process; killed by pid when dropped.
struct Follow {
    child: Child,
    lines: Receiver<Value>,
    log: Receiver<String>,
}

impl Follow {
    fn start(extra: &[&str]) -> Follow {
        let mut child = Command::new(bin())
            .args(["inventory", "--follow"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start bridgewatch inventory --follow");
        let err = child.stderr.take().unwrap();
        let (log_tx, log) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                eprintln!("[inventory --follow] {line}");
                if log_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let out = child.stdout.take().unwrap();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                let v: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("--follow printed a non-JSON line ({e}): {line}"));
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        Follow {
            child,
            lines: rx,
            log,
        }
    }

    /// Waits for a stderr line containing `needle`.
    fn wait_log(&self, needle: &str, limit: Duration) {
        let start = Instant::now();
        while let Some(left) = limit.checked_sub(start.elapsed()) {
            match self.log.recv_timeout(left) {
                Ok(l) if l.contains(needle) => return,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        panic!("--follow never logged {needle:?} within {limit:?}");
    }

    /// The first inventory printed within `limit` that satisfies `want`.
    fn wait_for(&self, what: &str, limit: Duration, want: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        while let Some(left) = limit.checked_sub(start.elapsed()) {
            match self.lines.recv_timeout(left) {
                Ok(v) if want(&v) => return v,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        panic!("--follow never showed {what} within {limit:?}");
    }
}

impl Drop for Follow {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn entries<'a>(inv: &'a Value, name: &str) -> Vec<&'a Value> {
    inv["containers"]
        .as_array()
        .map(|a| a.iter().filter(|c| c["name"] == name).collect())
        .unwrap_or_default()
}

fn inspect(name: &str, fmt: &str) -> String {
    docker_ok(&["inspect", "-f", fmt, name])
}

#[test]
fn inventory_follows_real_containers_and_attributes_a_reused_ip_by_time() {
    if !docker_available("docker_inventory") {
        return;
    }
    let pid = std::process::id();
    let tag = format!("bwt{pid}");
    let net = format!("bwt-inv-{pid}");
    let es_image = format!("elasticsearch:{tag}");
    let app_image = format!("bwt-app:{tag}");
    let (es, app, app2) = (
        format!("{tag}-es01"),
        format!("{tag}-app"),
        format!("{tag}-app2"),
    );
    let mut cleanup = DockerCleanup::default();
    cleanup.containers = vec![es.clone(), app.clone(), app2.clone()];
    cleanup.networks = vec![net.clone()];
    cleanup.images = vec![es_image.clone(), app_image.clone()];

    let dir = tempfile::tempdir().unwrap();
    import_busybox_image(&es_image, dir.path());
    docker_ok(&["tag", &es_image, &app_image]);
    // A subnet of our own, so the test can hand one container's address to another.
    let third = 100 + pid % 150;
    let subnet = format!("10.213.{third}.0/24");
    let reused_ip = format!("10.213.{third}.20");
    docker_ok(&["network", "create", "--subnet", &subnet, &net]);
    let run = |name: &str, image: &str, extra: &[&str]| {
        let mut args = vec!["run", "-d", "--name", name, "--network", &net];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[image, "/bin/busybox", "sleep", "600"]);
        docker_ok(&args)
    };
    let es_id = run(
        &es,
        &es_image,
        &["--label", "com.docker.compose.service=es01"],
    );

    // One shot: what runs now, as docker inspect sees it.
    let out = Command::new(bin()).arg("inventory").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let inv: Value = serde_json::from_slice(&out.stdout).expect("inventory JSON");
    let e = entries(&inv, &es);
    assert_eq!(e.len(), 1, "es01 listed once: {inv}");
    assert_eq!(e[0]["id"], es_id.as_str());
    assert_eq!(e[0]["image"], es_image.as_str());
    assert_eq!(e[0]["labels"]["com.docker.compose.service"], "es01");
    assert_eq!(
        e[0]["ips"][0],
        inspect(
            &es,
            "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}"
        )
        .as_str()
    );
    assert_eq!(
        e[0]["macs"][0],
        inspect(
            &es,
            "{{range .NetworkSettings.Networks}}{{.MacAddress}}{{end}}"
        )
        .as_str()
    );
    assert_eq!(
        e[0]["pid"].as_i64().unwrap().to_string(),
        inspect(&es, "{{.State.Pid}}")
    );
    let gateway = format!("10.213.{third}.1");
    assert!(
        inv["host_ips"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g == gateway.as_str()),
        "the network's gateway is a host address: {inv}"
    );
    // The host end of its veth: the interface whose index the container's eth0
    // names as its peer (read inside the container, from its own sysfs).
    let peer = docker_ok(&[
        "exec",
        &es,
        "/bin/busybox",
        "cat",
        "/sys/class/net/eth0/iflink",
    ]);
    let veth = e[0]["veths"][0].as_str().expect("the host veth is listed");
    let host_index = std::fs::read_to_string(format!("/sys/class/net/{veth}/ifindex")).unwrap();
    assert_eq!(host_index.trim(), peer, "{veth} is eth0's peer");
    // Replay reads it as it is.
    Inventory::from_json_str(&String::from_utf8_lossy(&out.stdout), "inventory")
        .expect("replay --containers accepts what inventory prints");

    // Follow: a container started afterwards appears.
    let follow = Follow::start(&[]);
    follow.wait_for("es01", Duration::from_secs(10), |v| {
        !entries(v, &es).is_empty()
    });
    let started = Instant::now();
    run(&app, &app_image, &["--ip", &reused_ip]);
    follow.wait_for("app running", Duration::from_secs(10), |v| {
        entries(v, &app)
            .iter()
            .any(|c| c["running"] == true && c["ips"][0] == reused_ip.as_str())
    });
    eprintln!(
        "docker_inventory: a new container was in the inventory {:?} after `docker run` was called",
        started.elapsed()
    );

    // Removed: its lease ends, keeping the address it had.
    docker_ok(&["rm", "-f", &app]);
    follow.wait_for("app ended", Duration::from_secs(10), |v| {
        entries(v, &app).iter().any(|c| {
            c["running"] == false && c["until"].is_string() && c["ips"][0] == reused_ip.as_str()
        })
    });
    // A new container takes the same address.
    std::thread::sleep(Duration::from_millis(50));
    run(&app2, &app_image, &["--ip", &reused_ip]);
    let last = follow.wait_for("app2 running", Duration::from_secs(10), |v| {
        entries(v, &app2).iter().any(|c| c["running"] == true)
    });
    let text = last.to_string();
    let loaded = Inventory::from_json_str(&text, "follow").expect("loads");
    let old = entries(&last, &app)[0];
    let new = entries(&last, &app2)[0];
    let t = |v: &Value, k: &str| parse_rfc3339(v[k].as_str().unwrap()).unwrap();
    let ip = reused_ip.parse().unwrap();
    let during_old = t(old, "since") + (t(old, "until") - t(old, "since")) / 2;
    assert_eq!(
        loaded.lookup(ip, during_old).map(|c| c.name.as_str()),
        Some(app.as_str())
    );
    let after_new = t(new, "since") + 1_000_000;
    assert_eq!(
        loaded.lookup(ip, after_new).map(|c| c.name.as_str()),
        Some(app2.as_str())
    );
    drop(follow);
    drop(cleanup);
}

/// A stand-in path for the Docker socket that forwards to the real one and can
/// be taken away and brought back, as a daemon restart does to its clients.
struct SocketProxy {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<UnixStream>>>,
    accept: Option<std::thread::JoinHandle<()>>,
}

impl SocketProxy {
    fn start(path: &Path) -> SocketProxy {
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path).expect("bind the proxy socket");
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<UnixStream>>> = Arc::default();
        let (s, c) = (stop.clone(), conns.clone());
        let accept = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let client = match listener.accept() {
                    Ok((client, _)) => client,
                    Err(_) => {
                        std::thread::sleep(Duration::from_millis(20));
                        continue;
                    }
                };
                let _ = client.set_nonblocking(false);
                let Ok(daemon) = UnixStream::connect("/var/run/docker.sock") else {
                    continue;
                };
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), daemon.try_clone().unwrap()),
                    (daemon.try_clone().unwrap(), client.try_clone().unwrap()),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(Shutdown::Both);
                    });
                }
                c.lock().unwrap().extend([client, daemon]);
            }
        });
        SocketProxy {
            path: path.to_path_buf(),
            stop,
            conns,
            accept: Some(accept),
        }
    }

    /// Closes the socket and every connection through it.
    fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
        for c in self.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Drop for SocketProxy {
    fn drop(&mut self) {
        self.stop();
    }
}

#[test]
fn follow_survives_the_daemon_going_away_and_resyncs_what_it_missed() {
    if !docker_available("docker_inventory") {
        return;
    }
    let pid = std::process::id();
    let tag = format!("bwr{pid}");
    let net = format!("bwt-rec-{pid}");
    let image = format!("bwt-rec:{tag}");
    let (first, missed) = (format!("{tag}-first"), format!("{tag}-missed"));
    let mut cleanup = DockerCleanup::default();
    cleanup.containers = vec![first.clone(), missed.clone()];
    cleanup.networks = vec![net.clone()];
    cleanup.images = vec![image.clone()];
    let dir = tempfile::tempdir().unwrap();
    import_busybox_image(&image, dir.path());
    docker_ok(&["network", "create", &net]);
    let run = |name: &str| {
        docker_ok(&[
            "run",
            "-d",
            "--name",
            name,
            "--network",
            &net,
            &image,
            "/bin/busybox",
            "sleep",
            "600",
        ])
    };
    run(&first);

    let sock = dir.path().join("docker.sock");
    let mut proxy = SocketProxy::start(&sock);
    let host = format!("unix://{}", sock.display());
    let follow = Follow::start(&["--docker-host", &host]);
    follow.wait_for("first", Duration::from_secs(10), |v| {
        !entries(v, &first).is_empty()
    });

    // The daemon "restarts": the socket and the event stream go away.
    proxy.stop();
    follow.wait_log("retrying in", Duration::from_secs(10));
    // What happens meanwhile is found by the resync.
    run(&missed);
    let _proxy = SocketProxy::start(&sock);
    follow.wait_log("inventory synced", Duration::from_secs(20));
    follow.wait_for("missed, after the reconnect", Duration::from_secs(5), |v| {
        entries(v, &missed).iter().any(|c| c["running"] == true)
            && entries(v, &first).iter().any(|c| c["running"] == true)
    });
}

#[test]
fn unreachable_daemon_is_a_clear_error_not_a_panic() {
    let out = Command::new(bin())
        .args(["inventory", "--docker-host", "unix:///nonexistent/bwt.sock"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot reach the Docker API at unix:///nonexistent/bwt.sock"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}
