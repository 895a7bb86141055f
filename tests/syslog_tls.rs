//! Syslog over TLS (RFC 5425) to a real rsyslog: Debian's `rsyslogd` with its GnuTLS
//! driver (`rsyslog-gnutls`), started here on a loopback port with certificates this
//! test makes (rcgen): a CA, a server certificate for a name that is not the address
//! (so `--syslog-server-name` is what makes the check pass) and a client certificate
//! the receiver demands (`x509/certvalid`).  Every alert of the demo replay arrives
//! intact and in order; a CA that did not sign the receiver's certificate, and a
//! missing client certificate, each fail the run with a counted, named error.
//! Skips with a printed reason where rsyslogd or its TLS driver is missing, except in
//! CI, where it fails.

mod common;

use common::*;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const RSYSLOGD: &str = "/usr/sbin/rsyslogd";
const GTLS: &str = "/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so";
/// The name in the receiver's certificate; 127.0.0.1 is not in it.
const SERVER_NAME: &str = "syslog.bwt.test";

fn have_tls_rsyslogd(test: &str) -> bool {
    let driver = Path::new(GTLS).exists()
        || Path::new("/usr/lib/rsyslog/lmnsd_gtls.so").exists()
        || Path::new("/usr/lib/aarch64-linux-gnu/rsyslog/lmnsd_gtls.so").exists();
    if Path::new(RSYSLOGD).exists() && driver {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{test}: rsyslogd or its GnuTLS driver is missing (apt-get install rsyslog rsyslog-gnutls), and CI must not skip");
    }
    eprintln!(
        "SKIP {test}: rsyslogd or lmnsd_gtls.so not found (apt-get install rsyslog rsyslog-gnutls)"
    );
    false
}

fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// PEM files of one CA and the certificates it signed.
struct Pki {
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
}

fn ca(name: &str) -> (rcgen::Certificate, KeyPair) {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let key = KeyPair::generate().unwrap();
    (p.self_signed(&key).unwrap(), key)
}

fn make_pki(dir: &Path, tag: &str) -> Pki {
    let (ca_cert, ca_key) = ca(&format!("bwt test CA {tag}"));
    let leaf = |sans: Vec<String>, cn: &str, eku: ExtendedKeyUsagePurpose| {
        let mut p = CertificateParams::new(sans).unwrap();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.extended_key_usages = vec![eku];
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &ca_cert, &ca_key).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let (sc, sk) = leaf(
        vec![SERVER_NAME.to_string()],
        SERVER_NAME,
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let (cc, ck) = leaf(
        vec!["bridgewatch.bwt.test".to_string()],
        "bridgewatch",
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    let write = |name: &str, text: &str| {
        let p = dir.join(format!("{tag}-{name}"));
        std::fs::write(&p, text).unwrap();
        p
    };
    Pki {
        ca: write("ca.pem", &ca_cert.pem()),
        server_cert: write("server.pem", &sc),
        server_key: write("server.key", &sk),
        client_cert: write("client.pem", &cc),
        client_key: write("client.key", &ck),
    }
}

/// A running rsyslogd taking TLS on `port` and writing each message to `out`.
struct Rsyslog {
    child: Child,
    out: PathBuf,
}

impl Rsyslog {
    fn start(dir: &Path, port: u16, pki: &Pki) -> Rsyslog {
        let out = dir.join("received.log");
        let conf = dir.join("rsyslog.conf");
        std::fs::write(
            &conf,
            format!(
                r#"global(workDirectory="{dir}"
       DefaultNetstreamDriver="gtls"
       DefaultNetstreamDriverCAFile="{ca}"
       DefaultNetstreamDriverCertFile="{cert}"
       DefaultNetstreamDriverKeyFile="{key}")
module(load="imtcp" StreamDriver.Name="gtls" StreamDriver.Mode="1" StreamDriver.AuthMode="x509/certvalid")
input(type="imtcp" address="127.0.0.1" port="{port}")
template(name="line" type="string" string="%pri% %hostname% %app-name% %msgid% %msg%\n")
*.* action(type="omfile" file="{out}" template="line")
"#,
                dir = dir.display(),
                ca = pki.ca.display(),
                cert = pki.server_cert.display(),
                key = pki.server_key.display(),
                out = out.display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.join("rsyslogd.stderr")).unwrap();
        let child = Command::new(RSYSLOGD)
            .args(["-n", "-f"])
            .arg(&conf)
            .arg("-i")
            .arg(dir.join("rsyslogd.pid"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start rsyslogd");
        let rs = Rsyslog { child, out };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "rsyslogd did not listen on {port}: {}",
                std::fs::read_to_string(dir.join("rsyslogd.stderr")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        rs
    }

    /// The lines received so far, waiting until there are `n` (or `wait` passed).
    fn received(&self, n: usize, wait: Duration) -> Vec<String> {
        let deadline = Instant::now() + wait;
        loop {
            let text = std::fs::read_to_string(&self.out).unwrap_or_default();
            let lines: Vec<String> = text.lines().map(String::from).collect();
            if lines.len() >= n || Instant::now() > deadline {
                return lines;
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

/// Replays the demo capture with one thread: alerts to `alerts` and over TLS.
fn replay(alerts: &Path, port: u16, tls_args: &[&Path], server_name: bool) -> std::process::Output {
    replay_cmd(alerts, port, tls_args, server_name)
        .output()
        .unwrap()
}

fn replay_cmd(alerts: &Path, port: u16, tls_args: &[&Path], server_name: bool) -> Command {
    let mut c = Command::new(bin());
    c.args(["replay", "--threads", "1", "--syslog"])
        .arg(format!("tls://127.0.0.1:{port}"))
        .arg("--alerts")
        .arg(alerts)
        .arg("--containers")
        .arg(repo_path("pcaps/demo-containers.json"));
    for (flag, path) in ["--syslog-ca", "--syslog-cert", "--syslog-key"]
        .iter()
        .zip(tls_args)
    {
        c.arg(flag).arg(path);
    }
    if server_name {
        c.args(["--syslog-server-name", SERVER_NAME]);
    }
    c.arg(repo_path("pcaps/demo-container-host.pcap"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

fn syslog_severity(priority: &str) -> u32 {
    [
        "Emergency",
        "Alert",
        "Critical",
        "Error",
        "Warning",
        "Notice",
        "Informational",
        "Debug",
    ]
    .iter()
    .position(|p| *p == priority)
    .unwrap() as u32
}

#[test]
fn alerts_reach_rsyslog_over_tls_intact_and_in_order() {
    if !have_tls_rsyslogd("alerts_reach_rsyslog_over_tls_intact_and_in_order") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path(), "good");
    let port = free_tcp_port();
    let rs = Rsyslog::start(dir.path(), port, &pki);
    let file = dir.path().join("alerts.jsonl");
    let out = replay(
        &file,
        port,
        &[&pki.ca, &pki.client_cert, &pki.client_key],
        true,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let expected: Vec<String> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert!(expected.len() >= 5, "the demo raises alerts");
    assert!(
        stderr.contains(&format!(
            "output syslog 127.0.0.1:{port}: {} sent, 0 dropped",
            expected.len()
        )),
        "{stderr}"
    );
    let lines = rs.received(expected.len(), Duration::from_secs(15));
    assert_eq!(lines.len(), expected.len(), "every alert once: {lines:#?}");
    for (line, want) in lines.iter().zip(&expected) {
        let mut parts = line.splitn(5, ' ');
        let pri: u32 = parts.next().unwrap().parse().unwrap();
        let _host = parts.next().unwrap();
        assert_eq!(parts.next(), Some("bridgewatch"), "{line}");
        assert_eq!(parts.next(), Some("alert"), "{line}");
        let msg = parts.next().unwrap_or("").trim_start();
        assert_eq!(
            msg, want,
            "the message is the alert line, intact and in order"
        );
        let a: serde_json::Value = serde_json::from_str(want).unwrap();
        let sev = syslog_severity(a["priority"].as_str().unwrap());
        assert_eq!(pri, 16 * 8 + sev, "local0 and the alert's severity");
    }
}

#[test]
fn a_wrong_ca_or_a_missing_client_certificate_fails_counted_and_named() {
    if !have_tls_rsyslogd("a_wrong_ca_or_a_missing_client_certificate_fails_counted_and_named") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path(), "good");
    let other = make_pki(dir.path(), "other");
    let port = free_tcp_port();
    let rs = Rsyslog::start(dir.path(), port, &pki);

    // Three runs at once (each waits out its 10 s delivery grace): a CA that did
    // not sign the receiver's certificate; the right CA but a certificate whose
    // name is not the address dialled (no --syslog-server-name); and no client
    // certificate for a receiver that demands one, refused after the TLS 1.3
    // handshake, which must still be an error and not a silent loss.
    let files: Vec<PathBuf> = ["wrong-ca", "wrong-name", "no-client-cert"]
        .iter()
        .map(|n| dir.path().join(format!("{n}.jsonl")))
        .collect();
    let t0 = Instant::now();
    let children: Vec<Child> = [
        replay_cmd(
            &files[0],
            port,
            &[&other.ca, &pki.client_cert, &pki.client_key],
            true,
        ),
        replay_cmd(
            &files[1],
            port,
            &[&pki.ca, &pki.client_cert, &pki.client_key],
            false,
        ),
        replay_cmd(&files[2], port, &[&pki.ca], true),
    ]
    .iter_mut()
    .map(|c| c.spawn().unwrap())
    .collect();
    let outs: Vec<_> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    assert!(t0.elapsed() < Duration::from_secs(30));
    let reasons = [
        "UnknownIssuer",
        "not valid for name",
        "TLS connection", // "refused the ..." or "closed the ..."
    ];
    for ((out, file), reason) in outs.iter().zip(&files).zip(reasons) {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{reason}: {stderr}");
        let n = std::fs::read_to_string(file).unwrap().lines().count();
        assert!(n >= 5);
        assert!(stderr.contains(reason), "the reason is named: {stderr}");
        assert!(
            stderr.contains(&format!("{n} alerts not delivered")),
            "{stderr}"
        );
        assert!(
            stderr.contains(&format!("output syslog 127.0.0.1:{port}: 0 sent")),
            "{stderr}"
        );
    }
    assert!(String::from_utf8_lossy(&outs[0].stderr).contains("TLS handshake failed"));

    assert!(
        rs.received(1, Duration::from_millis(500)).is_empty(),
        "nothing reached the receiver"
    );

    // Bad settings are refused before anything runs, naming the file.
    let out = Command::new(bin())
        .args(["replay", "--syslog", "tls://127.0.0.1:1", "--syslog-ca"])
        .arg(dir.path().join("nope.pem"))
        .arg(repo_path("pcaps/demo-container-host.pcap"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.pem"));
    let out = Command::new(bin())
        .args(["replay", "--syslog", "tcp://127.0.0.1:1", "--syslog-ca"])
        .arg(&pki.ca)
        .arg(repo_path("pcaps/demo-container-host.pcap"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("need a tls://"));
}
