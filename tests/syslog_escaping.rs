//! No forged syslog line from a hostile container name, over TCP (octet counting)
//! and UDP, checked with a real rsyslogd (started here on loopback ports) that is
//! told NOT to escape control characters on receipt — so a raw line break in a
//! message would reach its output file as a line of its own.  The container behind
//! the alert is named with a whole forged RFC 5424 message after a newline, every
//! other line-breaking character (CR, VT, FF, NEL, U+2028, U+2029), and the
//! structured-data specials `]`, `"`, `\`.  For the native and CEF formats: rsyslog
//! writes exactly one line per alert, each with our APP-NAME, MSGID and no
//! structured data; no raw break reaches it; native JSON parses to the same values
//! as the file output's line, CEF reads back the same container name.  Skips with a
//! printed reason where rsyslogd is missing, except in CI, where it fails.

mod common;

use common::pcapgen::PcapBuilder;
use common::*;
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const RSYSLOGD: &str = "/usr/sbin/rsyslogd";
const HOSTILE: &str = "evil\n<13>1 2026-01-01T00:00:00Z forged forged 1 forged - FORGED\r\u{b}\u{c}\u{85}\u{2028}\u{2029}] \"\\ [sd@1 a=\"b\"]|=";

fn have_rsyslogd(test: &str) -> bool {
    if Path::new(RSYSLOGD).exists() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{test}: {RSYSLOGD} is missing (apt-get install rsyslog), and CI must not skip");
    }
    eprintln!("SKIP {test}: {RSYSLOGD} not found (apt-get install rsyslog)");
    false
}

struct Rsyslog {
    child: Child,
    out: PathBuf,
}

impl Rsyslog {
    fn start(dir: &Path, tcp: u16, udp: u16) -> Rsyslog {
        let out = dir.join("received.log");
        let conf = dir.join("rsyslog.conf");
        std::fs::write(
            &conf,
            format!(
                r#"global(workDirectory="{dir}" parser.escapeControlCharactersOnReceive="off")
module(load="imtcp")
module(load="imudp")
input(type="imtcp" address="127.0.0.1" port="{tcp}")
input(type="imudp" address="127.0.0.1" port="{udp}")
template(name="line" type="string" string="%pri% %app-name% %msgid% %structured-data% %msg%\n")
*.* action(type="omfile" file="{out}" template="line")
"#,
                dir = dir.display(),
                out = out.display()
            ),
        )
        .unwrap();
        let child = Command::new(RSYSLOGD)
            .args(["-n", "-f"])
            .arg(&conf)
            .arg("-i")
            .arg(dir.join("rsyslogd.pid"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start rsyslogd");
        let rs = Rsyslog { child, out };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", tcp)).is_err() {
            assert!(Instant::now() < deadline, "rsyslogd did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        rs
    }

    /// Everything received so far, once it holds at least `n` lines (or 15 s passed)
    /// and then a moment more, so a forged extra line would be there too.
    fn text(&self, n: usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let text = std::fs::read_to_string(&self.out).unwrap_or_default();
            if text.matches('\n').count() >= n || Instant::now() > deadline {
                std::thread::sleep(Duration::from_millis(300));
                return std::fs::read_to_string(&self.out).unwrap_or_default();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

/// An inventory naming 172.18.0.3 with the hostile name and label, and a capture in
/// which it connects to an IRC port twice (two alerts; dedup off).
fn inputs(dir: &Path) -> (PathBuf, PathBuf) {
    let inv = serde_json::json!({"containers": [{
        "id": "3f9a1c2b7d4e", "name": HOSTILE, "image": "registry.example.com/shop/app:1.4.2",
        "labels": {"com.docker.compose.service": HOSTILE},
        "ips": ["172.18.0.3"], "macs": ["02:42:ac:12:00:03"]}],
        "host_ips": ["172.18.0.1"]});
    let inv_path = dir.join("containers.json");
    std::fs::write(&inv_path, inv.to_string()).unwrap();
    let mut b = PcapBuilder::new();
    b.tcp_session(
        1_700_000_000_000_000,
        [172, 18, 0, 3],
        40000,
        [203, 0, 113, 50],
        6667,
    );
    b.tcp_session(
        1_700_000_001_000_000,
        [172, 18, 0, 3],
        40001,
        [203, 0, 113, 51],
        6697,
    );
    let pcap = dir.join("irc.pcap");
    b.write(&pcap);
    (inv_path, pcap)
}

#[test]
fn hostile_container_names_cannot_forge_a_syslog_line_over_tcp_or_udp() {
    if !have_rsyslogd("hostile_container_names_cannot_forge_a_syslog_line_over_tcp_or_udp") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (inv, pcap) = inputs(dir.path());
    let tcp = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let udp = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let rs = Rsyslog::start(dir.path(), tcp, udp);
    let mut total = 0;
    let mut expected: Vec<(String, String)> = Vec::new(); // (format, file line)
    for format in ["native", "cef"] {
        for url in [
            format!("tcp://127.0.0.1:{tcp}"),
            format!("udp://127.0.0.1:{udp}"),
        ] {
            let file = dir.path().join("alerts.out");
            let out = Command::new(bin())
                .args(["replay", "--quiet", "--threads", "1", "--dedup-window", "0"])
                .args(["--alerts-format", format, "--syslog", &url, "--alerts"])
                .arg(&file)
                .arg("--containers")
                .arg(&inv)
                .arg(&pcap)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let lines: Vec<String> = std::fs::read_to_string(&file)
                .unwrap()
                .lines()
                .map(String::from)
                .collect();
            assert_eq!(lines.len(), 2, "two alerts: {lines:#?}");
            total += lines.len();
            // rsyslog writes in arrival order; wait for each run so the order holds.
            let got = rs.text(total);
            assert_eq!(got.matches('\n').count(), total, "{got}");
            expected.extend(lines.into_iter().map(|l| (format.to_string(), l)));
        }
    }
    let text = rs.text(total);
    for c in ['\r', '\u{b}', '\u{c}', '\u{85}', '\u{2028}', '\u{2029}'] {
        assert!(!text.contains(c), "raw {c:?} reached rsyslog: {text:?}");
    }
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), expected.len(), "one line per alert: {text}");
    for (line, (format, want)) in lines.iter().zip(&expected) {
        let mut p = line.splitn(5, ' ');
        let _pri = p.next();
        assert_eq!(p.next(), Some("bridgewatch"), "APP-NAME: {line}");
        assert_eq!(p.next(), Some("alert"), "MSGID: {line}");
        assert_eq!(p.next(), Some("-"), "no structured data: {line}");
        let msg = p.next().unwrap_or("").trim_start();
        if format == "native" {
            let got: serde_json::Value = serde_json::from_str(msg).unwrap();
            let want: serde_json::Value = serde_json::from_str(want).unwrap();
            assert_eq!(got, want, "the same values as the file's line");
            let name = &got["output_fields"]["container.name"];
            assert!(
                name.as_str()
                    .unwrap()
                    .contains("<13>1 2026-01-01T00:00:00Z forged"),
                "{name}"
            );
        } else {
            // The CEF escaper handles \ = CR LF; the syslog body escapes the rest.
            let want = want
                .replace('\u{b}', "\\u000b")
                .replace('\u{c}', "\\u000c")
                .replace('\u{85}', "\\u0085")
                .replace('\u{2028}', "\\u2028")
                .replace('\u{2029}', "\\u2029");
            assert_eq!(msg, want);
            assert!(
                msg.contains("cs3=evil\\n<13>1 2026-01-01T00:00:00Z forged"),
                "{msg}"
            );
        }
    }
}
