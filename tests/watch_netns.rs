//! `bridgewatch watch` end to end with real parts: a Linux bridge and three network
//! namespaces the test builds itself, real TCP, UDP and ICMP between them and to the
//! bridge address, and the real binary capturing the bridge with libpcap until it is
//! sent SIGTERM.  Checks flow counters against what was sent, directions, container
//! attribution from a static inventory, interim records, quiet flows ended by idle
//! ticks, and the Elasticsearch policy (fires for port 8443, not for 9300).  Another
//! test scrapes `--listen` from inside the bridge's namespace: `/readyz` 503 until the
//! Docker inventory has synced (watch is pointed at a socket path the test links to
//! the real socket only later), then 200; `/metrics` during the run, and after
//! SIGTERM (`--linger`) equal to the summary's per-interface line and `--stats-json`.
//!
//! Everything lives in namespaces named `bwt-<pid>-*`: the bridge sits in its own
//! "host" namespace (so the machine's firewall and Docker's bridge-netfilter rules
//! never see the traffic), and deleting the namespaces by name removes every link.
//! Needs root and `ip netns`; without them the tests skip with a reason, except under
//! CI=true, where they fail.

mod common;

use common::http::{Answer, Server};
use common::net::ip;
use serde_json::Value;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpListener, TcpStream, UdpSocket};
use std::os::unix::io::AsRawFd;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_bridgewatch");

/// Whether the test can run here; `Err` says why not.  Under CI=true a missing
/// prerequisite is a failure, not a skip.
fn prerequisites() -> Result<(), String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("needs root (network namespaces, live capture)".into());
    }
    match Command::new("ip").args(["netns", "list"]).output() {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(format!(
            "`ip netns` unavailable: {}",
            String::from_utf8_lossy(&o.stderr)
        )),
        Err(e) => Err(format!("`ip` (iproute2) not found: {e}")),
    }
}

fn skip(test: &str) -> bool {
    match prerequisites() {
        Ok(()) => false,
        Err(reason) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("{test}: cannot run under CI=true: {reason}")
        }
        Err(reason) => {
            eprintln!("skipping {test}: {reason}");
            true
        }
    }
}

/// Namespaces (and with them every link inside) removed by name on drop, and the
/// watch process killed by its pid if it is still running.
struct Lab {
    namespaces: Vec<String>,
    watch: Option<Child>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(mut c) = self.watch.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in self.namespaces.iter().rev() {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// What a started watch says on stderr, gathered by a thread of its own.
struct WatchLog {
    stderr: Arc<Mutex<String>>,
    reader: JoinHandle<()>,
    pid: libc::pid_t,
}

impl Lab {
    /// A lab whose bridge `br`, at `addr` (with its prefix length), sits in a new
    /// namespace `host` (loopback up there too).
    fn with_bridge(host: &str, br: &str, addr: &str) -> Lab {
        let mut lab = Lab {
            namespaces: Vec::new(),
            watch: None,
        };
        ip(&["netns", "add", host]);
        lab.namespaces.push(host.to_string());
        ip(&["-n", host, "link", "add", br, "type", "bridge"]);
        ip(&["-n", host, "addr", "add", addr, "dev", br]);
        ip(&["-n", host, "link", "set", br, "up"]);
        ip(&["-n", host, "link", "set", "lo", "up"]);
        lab
    }

    /// Adds namespace `ns`, plugged into bridge `br` of namespace `host` by veth
    /// `veth`; its end `eth0` gets `addr` (with its prefix length) and, if given,
    /// MAC `mac`.  Both ends and `ns`'s loopback are up.
    fn plug(&mut self, host: &str, br: &str, ns: &str, veth: &str, addr: &str, mac: Option<&str>) {
        ip(&["netns", "add", ns]);
        self.namespaces.push(ns.to_string());
        ip(&[
            "-n", host, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns,
        ]);
        if let Some(mac) = mac {
            ip(&["-n", ns, "link", "set", "eth0", "address", mac]);
        }
        ip(&["-n", ns, "addr", "add", addr, "dev", "eth0"]);
        ip(&["-n", ns, "link", "set", "eth0", "up"]);
        ip(&["-n", ns, "link", "set", "lo", "up"]);
        ip(&["-n", host, "link", "set", veth, "master", br]);
        ip(&["-n", host, "link", "set", veth, "up"]);
    }

    /// Starts `cmd` (a watch) as the lab's watch, gathers its stderr and waits until
    /// it says it is watching.
    fn start_watch(&mut self, cmd: &mut Command) -> WatchLog {
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start bridgewatch watch");
        let stderr = Arc::new(Mutex::new(String::new()));
        let err_pipe = child.stderr.take().unwrap();
        let reader = {
            let stderr = stderr.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(err_pipe).lines().map_while(Result::ok) {
                    let mut s = stderr.lock().unwrap();
                    s.push_str(&line);
                    s.push('\n');
                }
            })
        };
        let pid = child.id() as libc::pid_t;
        self.watch = Some(child);
        assert!(
            wait_for(&stderr, "watching with", Duration::from_secs(20)),
            "watch did not start: {}",
            stderr.lock().unwrap()
        );
        WatchLog {
            stderr,
            reader,
            pid,
        }
    }
}

/// Runs `f` on a new thread inside namespace `ns` (setns is per thread).
fn in_ns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> JoinHandle<T> {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let fd = File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
        // SAFETY: a valid namespace descriptor; only this thread changes namespace.
        let rc = unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
        f()
    })
}

/// A TCP server in `ns` on `addr:port`: accepts one connection, reads to EOF, answers
/// `reply` bytes and closes.  Returns the bytes it read.  Bound before this returns.
fn tcp_server(ns: &str, addr: &str, port: u16, reply: usize) -> JoinHandle<usize> {
    let (tx, rx) = std::sync::mpsc::channel();
    let addr = format!("{addr}:{port}");
    let h = in_ns(ns, move || {
        let l = TcpListener::bind(&addr).unwrap_or_else(|e| panic!("bind {addr}: {e}"));
        tx.send(()).unwrap();
        let (mut s, _) = l.accept().unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        s.write_all(&vec![b'r'; reply]).unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        let _ = s.read(&mut [0u8; 16]);
        got.len()
    });
    rx.recv_timeout(Duration::from_secs(5))
        .expect("server did not bind");
    h
}

/// From `ns`, connects to `dst:port`, sends `chunks` (pausing `gap` before each after
/// the first), half-closes, reads the answer to EOF.  Returns the answer's length.
fn tcp_client(ns: &str, dst: &str, port: u16, chunks: Vec<usize>, gap: Duration) -> usize {
    let dst = format!("{dst}:{port}");
    in_ns(ns, move || {
        let mut s = TcpStream::connect(&dst).unwrap_or_else(|e| panic!("connect {dst}: {e}"));
        s.set_nodelay(true).unwrap();
        for (i, n) in chunks.into_iter().enumerate() {
            if i > 0 {
                std::thread::sleep(gap);
            }
            s.write_all(&vec![b'q'; n]).unwrap();
        }
        s.shutdown(Shutdown::Write).unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        got.len()
    })
    .join()
    .unwrap()
}

fn icmp_checksum(b: &[u8]) -> u16 {
    let mut sum = 0u32;
    for c in b.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// From `ns`, sends `count` ICMP echo requests (56 bytes of payload) to `dst` over a
/// raw socket, one after the other's reply.  Returns the replies received.
fn ping(ns: &str, dst: Ipv4Addr, count: u16) -> u16 {
    in_ns(ns, move || {
        // SAFETY: plain socket calls on a descriptor this closure owns and closes.
        unsafe {
            let fd = libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP);
            assert!(fd >= 0, "raw socket: {}", std::io::Error::last_os_error());
            let tv = libc::timeval {
                tv_sec: 2,
                tv_usec: 0,
            };
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                &tv as *const _ as *const libc::c_void,
                std::mem::size_of::<libc::timeval>() as u32,
            );
            let sa = libc::sockaddr_in {
                sin_family: libc::AF_INET as u16,
                sin_port: 0,
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(dst.octets()),
                },
                sin_zero: [0; 8],
            };
            let id = (std::process::id() & 0xffff) as u16;
            let mut replies = 0;
            for seq in 1..=count {
                let mut m = vec![8u8, 0, 0, 0];
                m.extend_from_slice(&id.to_be_bytes());
                m.extend_from_slice(&seq.to_be_bytes());
                m.extend_from_slice(&[0xa5; 56]);
                let c = icmp_checksum(&m);
                m[2..4].copy_from_slice(&c.to_be_bytes());
                let n = libc::sendto(
                    fd,
                    m.as_ptr() as *const libc::c_void,
                    m.len(),
                    0,
                    &sa as *const _ as *const libc::sockaddr,
                    std::mem::size_of::<libc::sockaddr_in>() as u32,
                );
                assert_eq!(n, m.len() as isize);
                let deadline = Instant::now() + Duration::from_secs(2);
                while Instant::now() < deadline {
                    let mut buf = [0u8; 1500];
                    let n = libc::recv(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len(), 0);
                    if n < 28 {
                        break;
                    }
                    let ihl = usize::from(buf[0] & 0x0f) * 4;
                    let icmp = &buf[ihl..n as usize];
                    if icmp[0] == 0
                        && icmp[4..6] == id.to_be_bytes()
                        && icmp[6..8] == seq.to_be_bytes()
                    {
                        replies += 1;
                        break;
                    }
                }
            }
            libc::close(fd);
            replies
        }
    })
    .join()
    .unwrap()
}

fn json_lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l}: {e}")))
        .collect()
}

/// The port of the `--listen 127.0.0.1:0` endpoint, from a started watch's stderr.
fn listen_port(stderr: &Mutex<String>) -> u16 {
    let err = stderr.lock().unwrap().clone();
    let at = err
        .split("on http://127.0.0.1:")
        .nth(1)
        .unwrap_or_else(|| panic!("no listen address in {err}"));
    at.lines().next().unwrap().trim().parse().unwrap()
}

fn wait_for(stderr: &Mutex<String>, needle: &str, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if stderr.lock().unwrap().contains(needle) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn watch_labels_flows_on_a_bridge_and_fires_the_elasticsearch_policy() {
    if skip("watch_labels_flows_on_a_bridge_and_fires_the_elasticsearch_policy") {
        return;
    }
    let t0 = Instant::now();
    let pid = std::process::id();
    let host = format!("bwt-{pid}-h");
    let (es, app, ext) = (
        format!("bwt-{pid}-es"),
        format!("bwt-{pid}-app"),
        format!("bwt-{pid}-ext"),
    );
    let br = format!("bwt{pid}br");
    let mut lab = Lab::with_bridge(&host, &br, "10.77.0.1/24");
    // (namespace, address, MAC, host-side veth)
    let ends = [
        (&es, "10.77.0.10", "02:42:0a:4d:00:0a", format!("bwt{pid}e")),
        (
            &app,
            "10.77.0.20",
            "02:42:0a:4d:00:14",
            format!("bwt{pid}a"),
        ),
        (
            &ext,
            "10.77.0.30",
            "02:42:0a:4d:00:1e",
            format!("bwt{pid}x"),
        ),
    ];
    for (ns, addr, mac, veth) in &ends {
        lab.plug(&host, &br, ns, veth, &format!("{addr}/24"), Some(mac));
    }

    let dir = tempfile::tempdir().unwrap();
    let inv = dir.path().join("containers.json");
    std::fs::write(
        &inv,
        r#"{"containers": [
  {"id": "e5e5e5e5e5e5", "name": "search-es01-1", "image": "elasticsearch:8.13",
   "labels": {"app.tier": "data"}, "ips": ["10.77.0.10"], "macs": ["02:42:0a:4d:00:0a"],
   "network": "search_default"},
  {"id": "a1a1a1a1a1a1", "name": "shop-api-1", "image": "shop/api:2.1",
   "labels": {"app.tier": "web"}, "ips": ["10.77.0.20"], "macs": ["02:42:0a:4d:00:14"]}],
 "host_ips": ["10.77.0.1"]}"#,
    )
    .unwrap();
    let flows = dir.path().join("flows.jsonl");
    let alerts = dir.path().join("alerts.jsonl");
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &host, BIN, "watch", "-i", &br])
        .arg("--containers")
        .arg(&inv)
        .arg("--flows")
        .arg(&flows)
        .arg("--alerts")
        .arg(&alerts)
        .args([
            "--timeout",
            "udp=1",
            "--active-timeout",
            "1",
            "--threads",
            "2",
        ]);
    let log = lab.start_watch(&mut cmd);

    // 1. app → es:9200, TCP: 1000 bytes up, 2000 down (internal).
    let srv = tcp_server(&es, "10.77.0.10", 9200, 2000);
    assert_eq!(
        tcp_client(&app, "10.77.0.10", 9200, vec![1000], Duration::ZERO),
        2000
    );
    assert_eq!(srv.join().unwrap(), 1000);
    // 2. es → ext:9300 (the transport port: allowed) and es → ext:8443 (not allowed).
    for port in [9300, 8443] {
        let srv = tcp_server(&ext, "10.77.0.30", port, 10);
        assert_eq!(
            tcp_client(&es, "10.77.0.30", port, vec![100], Duration::ZERO),
            10
        );
        assert_eq!(srv.join().unwrap(), 100);
    }
    // 3. ICMP: app pings the bridge address (host), ext pings es (inbound).
    assert_eq!(ping(&app, Ipv4Addr::new(10, 77, 0, 1), 3), 3);
    assert_eq!(ping(&ext, Ipv4Addr::new(10, 77, 0, 10), 3), 3);
    // 4. UDP app:41000 → ext:5001: three datagrams of 100 bytes, two answers of 50.
    let udp_srv = in_ns(&ext, || {
        let s = UdpSocket::bind("10.77.0.30:5001").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 2048];
        let mut from = None;
        for _ in 0..3 {
            let (n, f) = s.recv_from(&mut buf).unwrap();
            assert_eq!(n, 100);
            from = Some(f);
        }
        for _ in 0..2 {
            s.send_to(&[b'u'; 50], from.unwrap()).unwrap();
        }
    });
    std::thread::sleep(Duration::from_millis(100));
    in_ns(&app, || {
        let s = UdpSocket::bind("10.77.0.20:41000").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        for _ in 0..3 {
            s.send_to(&[b'd'; 100], "10.77.0.30:5001").unwrap();
        }
        let mut buf = [0u8; 2048];
        for _ in 0..2 {
            assert_eq!(s.recv_from(&mut buf).unwrap().0, 50);
        }
    })
    .join()
    .unwrap();
    udp_srv.join().unwrap();
    // 4b. From an address the inventory does not list (added inside app's namespace):
    //     one datagram to ext:5002, where nobody listens.
    ip(&["-n", &app, "addr", "add", "10.77.0.21/24", "dev", "eth0"]);
    in_ns(&app, || {
        let s = UdpSocket::bind("10.77.0.21:41001").unwrap();
        s.send_to(&[b'm'; 20], "10.77.0.30:5002").unwrap();
    })
    .join()
    .unwrap();
    // 5. A long-lived connection, app → es:9201: 8 × 10 bytes over 2.1 s, longer than
    //    the 1 s active timeout; meanwhile the UDP flow goes quiet past its 1 s timeout.
    let srv = tcp_server(&es, "10.77.0.10", 9201, 0);
    tcp_client(
        &app,
        "10.77.0.10",
        9201,
        vec![10; 8],
        Duration::from_millis(300),
    );
    assert_eq!(srv.join().unwrap(), 80);
    // Tables keep timers in 1 s buckets and ticks lag wall time by 0.5 s: the quiet UDP
    // flow ends at most 2.7 s after its last packet.
    std::thread::sleep(Duration::from_millis(1500));

    // SIGTERM: flush and exit 0.
    let err = stop_watch(&mut lab, log, Duration::from_secs(15));
    assert!(
        err.contains(&format!("capture {br}:")) && err.contains("dropped by the kernel"),
        "summary lacks the per-interface line: {err}"
    );
    assert!(err.contains("alerts: 1"), "{err}");

    let recs = json_lines(&flows);
    let dump = || {
        recs.iter()
            .map(|r| r.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    };
    let finals: Vec<&Value> = recs.iter().filter(|r| r["interim"] == false).collect();
    let find = |proto: &str, orig: &str, resp: &str, resp_p: u64| -> &Value {
        let hits: Vec<&&Value> = finals
            .iter()
            .filter(|r| {
                r["proto"] == proto
                    && r["orig_h"] == orig
                    && r["resp_h"] == resp
                    && r["resp_p"] == resp_p
            })
            .collect();
        assert_eq!(
            hits.len(),
            1,
            "{proto} {orig} -> {resp}:{resp_p}: want one final record in\n{}",
            dump()
        );
        hits[0]
    };
    for r in &recs {
        assert_eq!(r["iface"], br.as_str(), "{r}");
    }

    // 1. TCP, internal, both ends named; payload counters are exactly what was sent.
    let r = find("tcp", "10.77.0.20", "10.77.0.10", 9200);
    assert_eq!(r["direction"], "internal", "{r}");
    assert_eq!(r["conn_state"], "SF", "{r}");
    assert_eq!(
        (r["orig_bytes"].as_u64(), r["resp_bytes"].as_u64()),
        (Some(1000), Some(2000)),
        "{r}"
    );
    assert!(r["orig_pkts"].as_u64().unwrap() >= 3, "{r}");
    assert!(r["resp_pkts"].as_u64().unwrap() >= 3, "{r}");
    // IP bytes: at least 40 bytes of headers per packet on top of the payload.
    for side in ["orig", "resp"] {
        let (ipb, pl, pk) = (
            r[format!("{side}_ip_bytes")].as_u64().unwrap(),
            r[format!("{side}_bytes")].as_u64().unwrap(),
            r[format!("{side}_pkts")].as_u64().unwrap(),
        );
        assert!(ipb >= pl + 40 * pk && ipb <= pl + 80 * pk, "{side}: {r}");
    }
    assert_eq!(r["orig_container"]["name"], "shop-api-1");
    assert_eq!(r["orig_container"]["image"], "shop/api:2.1");
    assert_eq!(r["orig_container"]["labels"]["app.tier"], "web");
    assert_eq!(r["resp_container"]["id"], "e5e5e5e5e5e5");
    assert_eq!(r["resp_container"]["image"], "elasticsearch:8.13");
    assert_eq!(r["resp_container"]["network"], "search_default");
    // Each side's first frame's source MAC, and the inventory's MAC leases name both.
    assert_eq!(r["orig_l2_addr"], "02:42:0a:4d:00:14", "{r}");
    assert_eq!(r["resp_l2_addr"], "02:42:0a:4d:00:0a", "{r}");
    assert_eq!(r["orig_container"]["attributed_by"], "mac", "{r}");
    assert_eq!(r["resp_container"]["attributed_by"], "mac", "{r}");

    // 2. Outbound from the Elasticsearch container; the outside end is no container.
    for port in [9300, 8443] {
        let r = find("tcp", "10.77.0.10", "10.77.0.30", port);
        assert_eq!(r["direction"], "outbound", "{r}");
        assert_eq!(r["orig_container"]["name"], "search-es01-1", "{r}");
        assert!(r["resp_container"].is_null(), "{r}");
        assert_eq!(
            (r["orig_bytes"].as_u64(), r["resp_bytes"].as_u64()),
            (Some(100), Some(10)),
            "{r}"
        );
        assert_eq!(r["conn_state"], "SF", "{r}");
    }

    // 3. ICMP: 3 echo requests and 3 replies each; 84 IP bytes per packet.
    let r = find("icmp", "10.77.0.20", "10.77.0.1", 0);
    assert_eq!(r["direction"], "host", "{r}");
    assert_eq!(r["orig_container"]["name"], "shop-api-1", "{r}");
    assert!(r["resp_container"].is_null(), "{r}");
    let r2 = find("icmp", "10.77.0.30", "10.77.0.10", 0);
    assert_eq!(r2["direction"], "inbound", "{r2}");
    assert!(r2["orig_container"].is_null(), "{r2}");
    assert_eq!(r2["resp_container"]["name"], "search-es01-1", "{r2}");
    for r in [r, r2] {
        assert_eq!(
            (r["orig_pkts"].as_u64(), r["resp_pkts"].as_u64()),
            (Some(3), Some(3)),
            "{r}"
        );
        assert_eq!(
            (r["orig_ip_bytes"].as_u64(), r["resp_ip_bytes"].as_u64()),
            (Some(252), Some(252)),
            "{r}"
        );
    }

    // 4. UDP: exact counters, and ended by the 1 s timeout on an idle tick (wall
    //    time), not by the SIGTERM flush.
    let r = find("udp", "10.77.0.20", "10.77.0.30", 5001);
    assert_eq!(r["orig_p"], 41000);
    assert_eq!(
        (r["orig_pkts"].as_u64(), r["resp_pkts"].as_u64()),
        (Some(3), Some(2)),
        "{r}"
    );
    assert_eq!(
        (r["orig_bytes"].as_u64(), r["resp_bytes"].as_u64()),
        (Some(300), Some(100)),
        "{r}"
    );
    assert_eq!(
        (r["orig_ip_bytes"].as_u64(), r["resp_ip_bytes"].as_u64()),
        (Some(384), Some(156)),
        "{r}"
    );
    assert_eq!(r["direction"], "outbound", "{r}");
    assert_eq!(r["end_reason"], "timeout", "{r}");
    // The outside host is no container, whatever MAC it sent from.
    assert_eq!(r["resp_l2_addr"], "02:42:0a:4d:00:1e", "{r}");
    assert!(r["resp_container"].is_null(), "{r}");

    // 4b. An address no entry holds: app's MAC lease names it.
    let r = find("udp", "10.77.0.21", "10.77.0.30", 5002);
    assert_eq!(r["orig_l2_addr"], "02:42:0a:4d:00:14", "{r}");
    assert_eq!(r["orig_container"]["name"], "shop-api-1", "{r}");
    assert_eq!(r["orig_container"]["attributed_by"], "mac", "{r}");
    assert_eq!(r["direction"], "outbound", "{r}");

    // 5. The long-lived flow: interim records while open, then the final one.
    let r = find("tcp", "10.77.0.20", "10.77.0.10", 9201);
    assert_eq!(r["orig_bytes"], 80, "{r}");
    let interim: Vec<&Value> = recs
        .iter()
        .filter(|x| x["interim"] == true && x["uid"] == r["uid"])
        .collect();
    assert!(!interim.is_empty(), "no interim record for {r}\n{}", dump());
    for i in &interim {
        assert_eq!(i["end_reason"], "active_timeout", "{i}");
        let b = i["orig_bytes"].as_u64().unwrap();
        // A snapshot: part of the bytes, or all of them once the last one came in
        // (the closed connection stays in the table for tcp_closed).
        assert!(b > 0 && b <= 80, "{i}");
        assert_eq!(i["resp_container"]["name"], "search-es01-1", "{i}");
    }
    // Every interim record (other flows open past 1 s get them too) is a snapshot of
    // a flow whose final record follows, with counters no larger than the final ones.
    for i in recs.iter().filter(|x| x["interim"] == true) {
        let f = finals
            .iter()
            .find(|f| f["uid"] == i["uid"])
            .unwrap_or_else(|| panic!("interim record without a final one: {i}"));
        for k in ["orig_pkts", "resp_pkts", "orig_ip_bytes", "resp_ip_bytes"] {
            assert!(i[k].as_u64() <= f[k].as_u64(), "{k}: {i} vs {f}");
        }
    }

    // The Elasticsearch policy: 8443 fires, 9300 does not, and nothing else fires.
    let al = json_lines(&alerts);
    let es_rule = "Elasticsearch Unexpected Outbound Connection";
    assert_eq!(
        al.len(),
        1,
        "want exactly the one Elasticsearch alert:\n{}",
        al.iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
    let a = &al[0];
    assert_eq!(a["rule"], es_rule, "{a}");
    assert_eq!(a["flow"]["resp_p"], 8443, "{a}");
    assert!(
        a["output"].as_str().unwrap().contains("search-es01-1"),
        "{a}"
    );
    assert!(!al.iter().any(|a| a["flow"]["resp_p"] == 9300));
    eprintln!("watch_netns: {:.1} s", t0.elapsed().as_secs_f64());
}

#[test]
fn watch_without_cap_net_raw_names_the_capability() {
    if skip("watch_without_cap_net_raw_names_the_capability") {
        return;
    }
    // Root without CAP_NET_RAW and CAP_NET_ADMIN (dropped from the bounding set, so
    // the exec'd binary cannot have them).
    let out = match Command::new("setpriv")
        .args([
            "--bounding-set",
            "-net_raw,-net_admin",
            "--",
            BIN,
            "watch",
            "-i",
            "lo",
        ])
        .output()
    {
        Ok(o) => o,
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("setpriv (util-linux) is needed: {e}")
        }
        Err(e) => {
            eprintln!("skipping: setpriv (util-linux) not found: {e}");
            return;
        }
    };
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("CAP_NET_RAW") && err.contains("lo"), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    let out = Command::new(BIN)
        .args(["watch", "-i", "bwt-no-such-if0"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("bwt-no-such-if0") && err.contains("no such interface"),
        "{err}"
    );
}

#[test]
fn watch_without_interfaces_captures_the_docker_bridges_only() {
    if skip("watch_without_interfaces_captures_the_docker_bridges_only") {
        return;
    }
    let pid = std::process::id();
    let ns = format!("bwt-{pid}-d");
    let empty = format!("bwt-{pid}-n");
    let mut lab = Lab {
        namespaces: Vec::new(),
        watch: None,
    };
    ip(&["netns", "add", &ns]);
    lab.namespaces.push(ns.clone());
    ip(&["netns", "add", &empty]);
    lab.namespaces.push(empty.clone());
    let (docker_br, down_br, other_br) = (
        format!("br-bwt{pid}"),
        format!("br-bwt{pid}dn"),
        format!("bwt{pid}vb"),
    );
    let (port, peer) = (format!("bwt{pid}p"), format!("bwt{pid}q"));
    for b in [&docker_br, &down_br, &other_br] {
        ip(&["-n", &ns, "link", "add", b, "type", "bridge"]);
    }
    for b in [&docker_br, &other_br] {
        ip(&["-n", &ns, "link", "set", b, "up"]);
    }
    ip(&[
        "-n", &ns, "link", "add", &port, "type", "veth", "peer", "name", &peer,
    ]);
    ip(&["-n", &ns, "link", "set", &port, "master", &docker_br]);
    ip(&["-n", &ns, "link", "set", &port, "up"]);

    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &ns, BIN, "watch", "--no-rules"]);
    let WatchLog {
        stderr,
        reader,
        pid: watch_pid,
    } = lab.start_watch(&mut cmd);
    // SAFETY: signalling the child this test started, by its pid.
    assert_eq!(unsafe { libc::kill(watch_pid, libc::SIGTERM) }, 0);
    let status = lab.watch.take().unwrap().wait().unwrap();
    reader.join().unwrap();
    let err = stderr.lock().unwrap().clone();
    assert!(status.success(), "{err}");
    assert!(
        err.contains(&format!(
            "capturing bridge {docker_br} (covers ports {port})"
        )),
        "{err}"
    );
    assert!(err.contains(&format!("{down_br} is down")), "{err}");
    assert!(err.contains(&format!("capture {docker_br}:")), "{err}");
    for not_captured in [&other_br, &port, &down_br] {
        assert!(
            !err.contains(&format!("capturing on {not_captured} ")),
            "{not_captured} captured: {err}"
        );
    }

    // A namespace without a Docker bridge yet: it says so and waits for one (it
    // follows bridges as they come); SIGTERM still ends it cleanly.
    let mut child = Command::new("ip")
        .args(["netns", "exec", &empty, BIN, "watch", "--no-docker"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let err_pipe = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(err_pipe).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut err = String::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !err.contains("watching with") && std::time::Instant::now() < deadline {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(200)) {
            err.push_str(&l);
            err.push('\n');
        }
    }
    // SAFETY: signalling the child this test started, by its pid (`ip netns exec` execs).
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    while let Ok(l) = rx.recv_timeout(Duration::from_millis(500)) {
        err.push_str(&l);
        err.push('\n');
    }
    assert!(status.success(), "{err}");
    assert!(
        err.contains("no Docker bridge is up yet: waiting for one"),
        "{err}"
    );
    assert!(err.contains("following Docker bridges"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// `GET path` from inside namespace `ns` (the endpoint listens on its loopback):
/// (status, body), or None when nothing answers.
fn ns_get(ns: &str, port: u16, path: &str) -> Option<(u16, String)> {
    let path = path.to_string();
    in_ns(ns, move || common::http::get(("127.0.0.1", port), &path))
        .join()
        .unwrap()
}

/// `name{labels}` → value, for every sample line of a Prometheus text page.
fn samples(text: &str) -> std::collections::BTreeMap<String, u64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}

/// Removes a path (the Docker socket link) when dropped.
struct RmOnDrop(std::path::PathBuf);
impl Drop for RmOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn watch_metrics_and_readiness_match_the_summary() {
    if skip("watch_metrics_and_readiness_match_the_summary") {
        return;
    }
    let t0 = Instant::now();
    let pid = std::process::id();
    let host = format!("bwt-{pid}-mh");
    let (es, out) = (format!("bwt-{pid}-mes"), format!("bwt-{pid}-mout"));
    let br = format!("bwt{pid}mb");
    let mut lab = Lab::with_bridge(&host, &br, "10.78.0.1/24");
    for (ns, addr, veth) in [
        (&es, "10.78.0.10", format!("bwt{pid}me")),
        (&out, "10.78.0.30", format!("bwt{pid}mo")),
    ] {
        lab.plug(&host, &br, ns, &veth, &format!("{addr}/24"), None);
    }
    let dir = tempfile::tempdir().unwrap();
    let inv = dir.path().join("containers.json");
    std::fs::write(
        &inv,
        r#"{"containers": [{"id": "e7e7e7e7e7e7", "name": "metrics-es-1",
            "image": "elasticsearch:8.13", "ips": ["10.78.0.10"]}], "host_ips": ["10.78.0.1"]}"#,
    )
    .unwrap();
    let stats = dir.path().join("stats.json");
    let alerts = dir.path().join("alerts.jsonl");

    // With Docker: point watch at a socket path that does not exist yet, so /readyz
    // says "inventory not synced" until the test links the real socket there.
    let real_sock = std::path::Path::new("/var/run/docker.sock");
    let docker = real_sock.exists();
    if !docker {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI has Docker: the inventory readiness stage must run"
        );
        eprintln!("no /var/run/docker.sock: /readyz is checked without the inventory stage");
    }
    let sock = dir.path().join("docker.sock");
    let _unlink = RmOnDrop(sock.clone());
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &host, BIN, "watch", "-i", &br])
        .arg("--containers")
        .arg(&inv)
        .arg("--alerts")
        .arg(&alerts)
        .arg("--stats-json")
        .arg(&stats)
        .args(["--listen", "127.0.0.1:0", "--linger", "2", "--threads", "2"]);
    if docker {
        cmd.arg("--docker-host")
            .arg(format!("unix://{}", sock.display()));
    } else {
        cmd.arg("--no-docker");
    }
    let WatchLog {
        stderr,
        reader,
        pid: watch_pid,
    } = lab.start_watch(&mut cmd);
    let port = listen_port(&stderr);
    let deadline = Instant::now() + Duration::from_secs(20);
    let ready = |want: u16, body: &str| loop {
        let got = ns_get(&host, port, "/readyz");
        if got.as_ref().is_some_and(|(s, b)| *s == want && b == body) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz: {got:?}, want {want} {body:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    if docker {
        // Captures open and rules loaded: only the inventory is missing.
        ready(503, "not ready: inventory not synced\n");
        std::thread::sleep(Duration::from_millis(500));
        ready(503, "not ready: inventory not synced\n");
        std::os::unix::fs::symlink(real_sock, &sock).unwrap();
    }
    ready(200, "ready\n");
    assert_eq!(ns_get(&host, port, "/healthz").unwrap().0, 200);
    // The endpoint's thread started after the captures opened and NET_RAW/NET_ADMIN
    // were dropped: no thread, the one answering HTTP included, holds them.
    for t in std::fs::read_dir(format!("/proc/{watch_pid}/task")).unwrap() {
        let status = std::fs::read_to_string(t.unwrap().path().join("status")).unwrap();
        for key in ["CapEff:", "CapPrm:"] {
            let line = status.lines().find(|l| l.starts_with(key)).unwrap();
            let bits = u64::from_str_radix(line[key.len()..].trim(), 16).unwrap();
            assert_eq!(bits & (1 << 12 | 1 << 13), 0, "{key} {bits:x}: {status}");
        }
    }

    // Traffic: the Elasticsearch container connects out on 8443 (an alert) and 9300,
    // and the outside host pings it.
    for port in [8443, 9300] {
        let srv = tcp_server(&out, "10.78.0.30", port, 10);
        assert_eq!(
            tcp_client(&es, "10.78.0.30", port, vec![100], Duration::ZERO),
            10
        );
        assert_eq!(srv.join().unwrap(), 100);
    }
    assert_eq!(ping(&out, Ipv4Addr::new(10, 78, 0, 10), 3), 3);

    // During the run: the packets and the alert show up without waiting for the end.
    let iface = format!("{{interface=\"{br}\"}}");
    let rule = "bridgewatch_alerts_total{rule=\"Elasticsearch Unexpected Outbound Connection\",priority=\"Warning\"}";
    let deadline = Instant::now() + Duration::from_secs(10);
    let live = loop {
        let m = samples(&ns_get(&host, port, "/metrics").unwrap().1);
        let pk = m.get(&format!(
            "bridgewatch_capture_interface_packets_total{iface}"
        ));
        if pk.is_some_and(|p| *p >= 20) && m.get(rule) == Some(&1) {
            break m;
        }
        assert!(Instant::now() < deadline, "metrics during the run: {m:?}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(live["bridgewatch_ready"], 1);
    for fam in [
        "bridgewatch_capture_kernel_dropped_packets_total",
        "bridgewatch_capture_interface_dropped_packets_total",
        "bridgewatch_capture_kernel_received_packets_total",
    ] {
        assert!(
            live.contains_key(&format!("{fam}{iface}")),
            "{fam}: {live:?}"
        );
    }
    assert!(live["bridgewatch_flows_created_total"] >= 3, "{live:?}");

    // SIGTERM: flush, summary, then (--linger) the final counters stay up.
    // SAFETY: signalling the child this test started, by its pid.
    assert_eq!(unsafe { libc::kill(watch_pid, libc::SIGTERM) }, 0);
    assert!(
        wait_for(&stderr, &format!("capture {br}:"), Duration::from_secs(15)),
        "no summary: {}",
        stderr.lock().unwrap()
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while !stats.exists() {
        assert!(Instant::now() < deadline, "no --stats-json");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(100));
    let fin = samples(&ns_get(&host, port, "/metrics").unwrap().1);
    let mut child = lab.watch.take().unwrap();
    let status = child.wait().unwrap();
    reader.join().unwrap();
    let err = stderr.lock().unwrap().clone();
    assert!(status.success(), "watch exited {status}: {err}");

    let st: Value = serde_json::from_str(&std::fs::read_to_string(&stats).unwrap()).unwrap();
    assert_eq!(
        fin["bridgewatch_capture_packets_total"],
        st["packets"].as_u64().unwrap()
    );
    assert_eq!(
        fin["bridgewatch_flows_created_total"],
        st["flows"]["created"].as_u64().unwrap()
    );
    assert_eq!(
        fin["bridgewatch_flow_records_total"],
        st["flows"]["written"].as_u64().unwrap()
    );
    assert_eq!(fin["bridgewatch_flows_active"], 0, "every flow flushed");
    assert_eq!(fin[rule], 1);
    assert_eq!(
        st["alerts"]["Elasticsearch Unexpected Outbound Connection"],
        1
    );
    assert_eq!(json_lines(&alerts).len(), 1);
    // The summary's interface line and the per-interface samples agree.
    let line = err
        .lines()
        .find(|l| l.contains(&format!("capture {br}:")))
        .unwrap();
    let nums: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect::<Vec<_>>();
    // "capture NAME: P packets read, R received by the filter, K dropped by the
    // kernel (buffer full), I dropped by the interface" (the name holds digits too).
    let n = nums.len();
    let (p, r, k, i) = (nums[n - 4], nums[n - 3], nums[n - 2], nums[n - 1]);
    assert_eq!(
        fin[&format!("bridgewatch_capture_interface_packets_total{iface}")],
        p
    );
    assert_eq!(
        fin[&format!("bridgewatch_capture_kernel_received_packets_total{iface}")],
        r
    );
    assert_eq!(
        fin[&format!("bridgewatch_capture_kernel_dropped_packets_total{iface}")],
        k
    );
    assert_eq!(
        fin[&format!("bridgewatch_capture_interface_dropped_packets_total{iface}")],
        i
    );
    assert_eq!(
        p,
        st["packets"].as_u64().unwrap(),
        "one interface: all packets"
    );
    eprintln!("watch_metrics: {:.1} s", t0.elapsed().as_secs_f64());
}

/// A bridge in its own "host" namespace with a client (`.20`, the inventory's
/// container `reload-cli-1`) and a server (`.30`, no container) namespace, on
/// `10.<net>.0.0/24`; names carry `tag`.  Writes the inventory and a rules file
/// holding `udp_9999_rule("UDP to 9999", "WARNING")` into `dir`.
fn two_end_lab(tag: &str, net: u8, dir: &std::path::Path) -> (Lab, TwoEnds) {
    let pid = std::process::id();
    let host = format!("bwt-{pid}-{tag}h");
    let (cli, srv) = (format!("bwt-{pid}-{tag}c"), format!("bwt-{pid}-{tag}s"));
    let br = format!("bwt{pid}{tag}b");
    let mut lab = Lab::with_bridge(&host, &br, &format!("10.{net}.0.1/24"));
    for (ns, last, veth) in [
        (&cli, 20, format!("bwt{pid}{tag}c")),
        (&srv, 30, format!("bwt{pid}{tag}s")),
    ] {
        let addr = format!("10.{net}.0.{last}/24");
        lab.plug(&host, &br, ns, &veth, &addr, None);
    }
    let inv = dir.join("containers.json");
    std::fs::write(
        &inv,
        format!(
            r#"{{"containers": [{{"id": "c1c1c1c1c1c1", "name": "reload-cli-1",
                "image": "shop/cli:3", "ips": ["10.{net}.0.20"]}}], "host_ips": ["10.{net}.0.1"]}}"#
        ),
    )
    .unwrap();
    let rules = dir.join("rules.yaml");
    std::fs::write(&rules, udp_9999_rule("UDP to 9999", "WARNING")).unwrap();
    (
        lab,
        TwoEnds {
            host,
            cli,
            srv,
            br,
            inv,
            rules,
        },
    )
}

/// What `two_end_lab` made: the host namespace, the client's, the server's, the
/// bridge, the inventory file and the rules file.
struct TwoEnds {
    host: String,
    cli: String,
    srv: String,
    br: String,
    inv: std::path::PathBuf,
    rules: std::path::PathBuf,
}

impl TwoEnds {
    /// Starts `lab`'s watch on the bridge, in the host namespace, with the
    /// inventory and the rules file, 1 s UDP timeout, no dedup window and two
    /// threads, and `outputs` (the output flags or `--config`).
    fn start_watch(&self, lab: &mut Lab, outputs: &[&std::ffi::OsStr]) -> WatchLog {
        let mut cmd = Command::new("ip");
        cmd.args([
            "netns",
            "exec",
            &self.host,
            BIN,
            "watch",
            "-i",
            &self.br,
            "--no-docker",
        ])
        .arg("--containers")
        .arg(&self.inv)
        .arg("--rules")
        .arg(&self.rules)
        .args([
            "--timeout",
            "udp=1",
            "--dedup-window",
            "0",
            "--threads",
            "2",
        ])
        .args(outputs);
        lab.start_watch(&mut cmd)
    }
}

/// From the client namespace, one UDP flow per source port (`20000 + i`, i < n),
/// 20 bytes each to the server's port 9999, `gap` apart; a server in the server
/// namespace takes them.  Returns the sender's thread (the ports it sent from, in
/// order) and a stop flag for the server.
fn udp_stream(
    cli: &str,
    srv: &str,
    net: u8,
    n: u16,
    gap: Duration,
) -> (JoinHandle<Vec<u16>>, Arc<std::sync::atomic::AtomicBool>) {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (tx, rx) = std::sync::mpsc::channel();
    let flag = stop.clone();
    in_ns(srv, move || {
        let s = UdpSocket::bind(format!("10.{net}.0.30:9999")).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        tx.send(()).unwrap();
        let mut buf = [0u8; 64];
        while !flag.load(std::sync::atomic::Ordering::Relaxed) {
            let _ = s.recv_from(&mut buf);
        }
    });
    rx.recv_timeout(Duration::from_secs(5))
        .expect("server bound");
    let sender = in_ns(cli, move || {
        let mut sent = Vec::new();
        for i in 0..n {
            let port = 20000 + i;
            let s = UdpSocket::bind(format!("10.{net}.0.20:{port}")).unwrap();
            s.send_to(&[b'u'; 20], format!("10.{net}.0.30:9999"))
                .unwrap();
            sent.push(port);
            std::thread::sleep(gap);
        }
        sent
    });
    (sender, stop)
}

/// Sends `sig` to the watch by its pid.
fn signal(pid: libc::pid_t, sig: libc::c_int) {
    // SAFETY: signalling the child this test started, by its pid.
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
}

/// Ends the lab's watch with SIGTERM; returns its stderr once it exited 0, which
/// it must do `within` the time given.
fn stop_watch(lab: &mut Lab, log: WatchLog, within: Duration) -> String {
    signal(log.pid, libc::SIGTERM);
    let mut child = lab.watch.take().unwrap();
    let deadline = Instant::now() + within;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "watch did not exit on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    log.reader.join().unwrap();
    let err = log.stderr.lock().unwrap().clone();
    assert!(status.success(), "watch exited {status}: {err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

/// `v` at a dotted path (`flow.orig_p`); null where it is missing.
fn get_path<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(v, |v, k| &v[k])
}

/// How many times each source port appears among `ports`.
fn tally(ports: impl Iterator<Item = u64>) -> std::collections::BTreeMap<u64, usize> {
    let mut m = std::collections::BTreeMap::new();
    for p in ports {
        *m.entry(p).or_default() += 1;
    }
    m
}

/// The reload tests' rule: an alert for each UDP flow to the server's port 9999.
fn udp_9999_rule(name: &str, priority: &str) -> String {
    format!("- rule: {name}\n  desc: d\n  condition: evt.type = end and fd.sport = 9999\n  output: 'udp %fd.cip to 9999'\n  priority: {priority}\n")
}

/// SIGHUP mid-stream with a new `--config` (one output kept, one removed, one added
/// in ECS) and new rules: the kept output has every flow and alert once; every flow
/// and alert is once in the removed output or the added one, never both, never
/// neither; later flows land in the added one, with the attribution in ECS fields;
/// `/metrics` counts the rule the reload added under its name; an invalid config on
/// a second SIGHUP keeps the outputs working and names the file, line and column.
#[test]
fn watch_sighup_switches_outputs_without_losing_or_repeating_events() {
    if skip("watch_sighup_switches_outputs_without_losing_or_repeating_events") {
        return;
    }
    let t0 = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let (mut lab, ends) = two_end_lab("r", 79, dir.path());
    let (k, a, b) = (
        dir.path().join("kept.jsonl"),
        dir.path().join("a.jsonl"),
        dir.path().join("b.ecs.jsonl"),
    );
    let cfg = dir.path().join("outputs.toml");
    let file_out = |p: &std::path::Path, format: &str| {
        format!(
            "[[outputs]]\ncarries = \"both\"\nformat = \"{format}\"\nfile = {{ path = \"{}\" }}\n",
            p.display()
        )
    };
    // Webhook receivers, in the namespace watch runs in (bound there, served here).
    let receiver = || {
        in_ns(&ends.host, || {
            Server::start(|_| Answer::Status(200, "OK"), "{}")
        })
        .join()
        .unwrap()
    };
    let (hook_old, hook_new) = (receiver(), receiver());
    let hook = |name: &str, s: &Server| {
        format!(
            "[[outputs]]\nname = \"{name}\"\ncarries = \"alerts\"\nhttp = {{ url = \"http://127.0.0.1:{}/hook\" }}\n",
            s.port
        )
    };
    let write_cfg = |outputs: [String; 3]| {
        std::fs::write(&cfg, format!("flush_timeout = 5\n{}", outputs.concat())).unwrap()
    };
    write_cfg([
        file_out(&k, "native"),
        file_out(&a, "native"),
        hook("hook-old", &hook_old),
    ]);
    let log = ends.start_watch(
        &mut lab,
        &[
            "--config".as_ref(),
            cfg.as_os_str(),
            "--listen".as_ref(),
            "127.0.0.1:0".as_ref(),
        ],
    );
    let port = listen_port(&log.stderr);

    // 450 flows over about 6 s; the reloads land in the middle of the stream.
    let (sender, server_stop) =
        udp_stream(&ends.cli, &ends.srv, 79, 450, Duration::from_millis(12));
    std::thread::sleep(Duration::from_millis(3000));
    write_cfg([
        file_out(&b, "ecs"),
        file_out(&k, "native"),
        hook("hook-new", &hook_new),
    ]);
    std::fs::write(
        &ends.rules,
        format!(
            "{}{}",
            udp_9999_rule("UDP to 9999", "WARNING"),
            udp_9999_rule("UDP to 9999 reloaded", "CRITICAL")
        ),
    )
    .unwrap();
    signal(log.pid, libc::SIGHUP);
    assert!(
        wait_for(&log.stderr, "outputs reloaded", Duration::from_secs(10)),
        "no reload: {}",
        log.stderr.lock().unwrap()
    );
    std::thread::sleep(Duration::from_millis(1000));
    // An invalid config: TOML cut off on line 3 (an error names file:line:column).
    std::fs::write(&cfg, "[[outputs]]\ncarries = \"both\"\nfile = { path = \n").unwrap();
    signal(log.pid, libc::SIGHUP);
    assert!(
        wait_for(
            &log.stderr,
            "configuration does not load",
            Duration::from_secs(10)
        ),
        "no error for the bad config: {}",
        log.stderr.lock().unwrap()
    );
    let sent = sender.join().unwrap();
    server_stop.store(true, std::sync::atomic::Ordering::Relaxed);
    // The last flows end on an idle tick (1 s UDP timeout, 1 s buckets, 0.5 s lag).
    std::thread::sleep(Duration::from_millis(3000));
    let metrics = samples(&ns_get(&ends.host, port, "/metrics").unwrap().1);
    let err = stop_watch(&mut lab, log, Duration::from_secs(20));

    assert!(
        err.contains(&format!(
            "outputs reloaded from {}: kept outputs[0] file {}; added outputs[0] file {}, hook-new; removed outputs[1] file {}, hook-old",
            cfg.display(),
            k.display(),
            b.display(),
            a.display()
        )),
        "{err}"
    );
    // The removed webhook drained before it stopped: its summary line says so.
    let old_line = err
        .lines()
        .find(|l| l.contains("output hook-old (until a reload removed it):"))
        .unwrap_or_else(|| panic!("no summary line for the removed webhook: {err}"));
    assert!(
        old_line.contains(" 0 dropped (queue full)") && old_line.contains(" 0 undelivered at exit"),
        "{old_line}"
    );
    // The error names the file, the line and the column; nothing was switched.
    let bad = err
        .split("configuration does not load")
        .nth(1)
        .unwrap_or_default();
    assert!(bad.contains(&format!("{}:3:", cfg.display())), "{bad}");
    assert_eq!(err.matches("outputs reloaded").count(), 1, "{err}");

    let n = sent.len();
    let kept = json_lines(&k);
    let a_lines = json_lines(&a);
    let b_lines = json_lines(&b);
    let is_alert = |v: &Value| v.get("rule").is_some();
    // The kept output: each flow (final record) once, each alert of the first rule once.
    let kf = tally(
        kept.iter()
            .filter(|v| !is_alert(v) && v["resp_p"] == 9999 && v["interim"] == false)
            .map(|v| v["orig_p"].as_u64().unwrap()),
    );
    assert_eq!(kf.len(), n, "flows missing from the kept output");
    assert!(kf.values().all(|c| *c == 1), "repeated: {kf:?}");
    let ka = tally(
        kept.iter()
            .filter(|v| is_alert(v) && v["rule"] == "UDP to 9999")
            .map(|v| v["flow"]["orig_p"].as_u64().unwrap()),
    );
    assert_eq!(ka.len(), n, "alerts missing from the kept output");
    assert!(ka.values().all(|c| *c == 1), "repeated: {ka:?}");
    // The removed output (native) and the added one (ECS) between them: each once.
    let af: Vec<u64> = a_lines
        .iter()
        .filter(|v| !is_alert(v) && v["resp_p"] == 9999 && v["interim"] == false)
        .map(|v| v["orig_p"].as_u64().unwrap())
        .collect();
    let bf: Vec<u64> = b_lines
        .iter()
        .filter(|v| v["event"]["kind"] == "event" && v["destination"]["port"] == 9999)
        .map(|v| v["source"]["port"].as_u64().unwrap())
        .collect();
    assert!(!af.is_empty() && !bf.is_empty(), "a: {af:?} b: {bf:?}");
    let both = tally(af.iter().chain(&bf).copied());
    assert_eq!(both.len(), n, "flows lost across the switch");
    assert!(both.values().all(|c| *c == 1), "flows repeated: {both:?}");
    let aa: Vec<u64> = a_lines
        .iter()
        .filter(|v| v["rule"] == "UDP to 9999")
        .map(|v| v["flow"]["orig_p"].as_u64().unwrap())
        .collect();
    let ba: Vec<u64> = b_lines
        .iter()
        .filter(|v| v["event"]["kind"] == "alert" && v["rule"]["name"] == "UDP to 9999")
        .map(|v| v["source"]["port"].as_u64().unwrap())
        .collect();
    let both = tally(aa.iter().chain(&ba).copied());
    assert_eq!(both.len(), n, "alerts lost across the switch");
    assert!(both.values().all(|c| *c == 1), "alerts repeated: {both:?}");
    // Each webhook got exactly the alerts of the file output started with it.
    let hooked = |srv: &Server| {
        let mut v: Vec<(String, u64)> = srv
            .ok
            .lock()
            .unwrap()
            .iter()
            .flat_map(|r| serde_json::from_str::<Vec<Value>>(&r.text()).unwrap())
            .map(|a| {
                (
                    a["rule"].as_str().unwrap().to_string(),
                    a["flow"]["orig_p"].as_u64().unwrap(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let alerts_of = |lines: &[Value], rule_key: &str, port_key: &str| {
        let mut v: Vec<(String, u64)> = lines
            .iter()
            .filter(|l| !get_path(l, rule_key).is_null())
            .map(|l| {
                (
                    get_path(l, rule_key).as_str().unwrap().to_string(),
                    get_path(l, port_key).as_u64().unwrap(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let old_hooked = hooked(&hook_old);
    assert!(!old_hooked.is_empty());
    assert_eq!(old_hooked, alerts_of(&a_lines, "rule", "flow.orig_p"));
    assert_eq!(
        hooked(&hook_new),
        alerts_of(&b_lines, "rule.name", "source.port")
    );
    // The stream went on well past the switch: its last flows are only in B.
    let last = u64::from(*sent.last().unwrap());
    assert!(bf.contains(&last) && !af.contains(&last));
    // ECS flows from watch carry the attribution.
    let rec = b_lines
        .iter()
        .find(|v| v["event"]["kind"] == "event")
        .unwrap();
    assert_eq!(rec["container"]["name"], "reload-cli-1", "{rec}");
    assert_eq!(rec["network"]["direction"], "outbound", "{rec}");
    assert_eq!(rec["labels"]["orig_container"], "reload-cli-1", "{rec}");

    // The rule the reload added: counted under its name, as many as it wrote.
    let new_rule = |v: &&Value| v["rule"] == "UDP to 9999 reloaded";
    let written = kept.iter().filter(new_rule).count() as u64;
    assert!(written > 0, "the reloaded rule never fired");
    assert_eq!(
        metrics
            .get("bridgewatch_alerts_total{rule=\"UDP to 9999 reloaded\",priority=\"Critical\"}"),
        Some(&written),
        "{metrics:?}"
    );
    assert!(
        !metrics.keys().any(|k| k.contains("rule=\"\"")),
        "{metrics:?}"
    );
    eprintln!(
        "watch_sighup_switches_outputs: {n} flows, {} in A, {} in B, {:.1} s",
        af.len(),
        bf.len(),
        t0.elapsed().as_secs_f64()
    );
}

/// Outputs from flags only (no `--config`): a SIGHUP keeps them, and no flow or
/// alert is lost or repeated.
#[test]
fn watch_sighup_keeps_flag_outputs() {
    if skip("watch_sighup_keeps_flag_outputs") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (mut lab, ends) = two_end_lab("f", 80, dir.path());
    let (flows, alerts) = (
        dir.path().join("flows.jsonl"),
        dir.path().join("alerts.jsonl"),
    );
    let log = ends.start_watch(
        &mut lab,
        &[
            "--flows".as_ref(),
            flows.as_os_str(),
            "--alerts".as_ref(),
            alerts.as_os_str(),
        ],
    );
    let (sender, server_stop) =
        udp_stream(&ends.cli, &ends.srv, 80, 200, Duration::from_millis(10));
    std::thread::sleep(Duration::from_millis(1000));
    signal(log.pid, libc::SIGHUP);
    assert!(
        wait_for(&log.stderr, "outputs reloaded", Duration::from_secs(10)),
        "no reload: {}",
        log.stderr.lock().unwrap()
    );
    let sent = sender.join().unwrap();
    server_stop.store(true, std::sync::atomic::Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(3000));
    let err = stop_watch(&mut lab, log, Duration::from_secs(20));
    assert!(
        err.contains("outputs reloaded from the output flags: kept ")
            && err.contains("; added none; removed none"),
        "{err}"
    );
    let f = tally(
        json_lines(&flows)
            .iter()
            .filter(|v| v["resp_p"] == 9999 && v["interim"] == false)
            .map(|v| v["orig_p"].as_u64().unwrap()),
    );
    assert_eq!(f.len(), sent.len(), "flows lost");
    assert!(f.values().all(|c| *c == 1), "flows repeated: {f:?}");
    let a = tally(
        json_lines(&alerts)
            .iter()
            .map(|v| v["flow"]["orig_p"].as_u64().unwrap()),
    );
    assert_eq!(a.len(), sent.len(), "alerts lost");
    assert!(a.values().all(|c| *c == 1), "alerts repeated: {a:?}");
}
