//! A real rsyslogd for the syslog end-to-end tests: started here on loopback ports
//! with the calling test's own configuration, waited for until it listens, read back
//! through the file it writes, and stopped by its PID when dropped.  Also the
//! skip-or-fail check for a missing rsyslogd and free loopback ports to give it.
//! The configuration text stays in each test, because what rsyslog is told to
//! accept and how it writes lines is what that test is about.

use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const RSYSLOGD: &str = "/usr/sbin/rsyslogd";

/// Whether rsyslogd is installed.  When it is missing the test is skipped with a
/// printed reason — except in CI (`CI` set), where that is a failure.
pub fn have_rsyslogd(test: &str) -> bool {
    if Path::new(RSYSLOGD).exists() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{test}: {RSYSLOGD} is missing (apt-get install rsyslog), and CI must not skip");
    }
    eprintln!("SKIP {test}: {RSYSLOGD} not found (apt-get install rsyslog)");
    false
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A UDP port on 127.0.0.1 that was free a moment ago.
pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The syslog severity number (RFC 5424) of an alert's Falco-style priority name;
/// panics on a name that is not one, since the tests feed it our own output.
pub fn syslog_severity(priority: &str) -> u32 {
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

/// A running rsyslogd; its configuration writes what it receives to
/// [`Rsyslog::out_file`], one message per line.
pub struct Rsyslog {
    child: Child,
    out: PathBuf,
}

impl Rsyslog {
    /// The file in `dir` a configuration must write received messages to.
    pub fn out_file(dir: &Path) -> PathBuf {
        dir.join("received.log")
    }

    /// Writes `conf_body` to `dir/rsyslog.conf`, starts `rsyslogd -n` on it (PID file
    /// and stderr in `dir`) and waits up to 10 s until it accepts TCP on `tcp_port`,
    /// failing with rsyslogd's stderr if it does not.
    pub fn start(dir: &Path, conf_body: &str, tcp_port: u16) -> Rsyslog {
        let conf = dir.join("rsyslog.conf");
        std::fs::write(&conf, conf_body).unwrap();
        let stderr = dir.join("rsyslogd.stderr");
        let log = std::fs::File::create(&stderr).unwrap();
        let child = Command::new(RSYSLOGD)
            .args(["-n", "-f"])
            .arg(&conf)
            .arg("-i")
            .arg(dir.join("rsyslogd.pid"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start rsyslogd");
        // Built before the wait, so a failed wait still stops the process.
        let rs = Rsyslog {
            child,
            out: Self::out_file(dir),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", tcp_port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "rsyslogd did not listen on {tcp_port}: {}",
                std::fs::read_to_string(&stderr).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        rs
    }

    /// The file rsyslogd writes received messages to.
    pub fn out(&self) -> &Path {
        &self.out
    }

    /// The lines received so far, waiting until there are `n` (or 15 s passed).
    pub fn received(&self, n: usize) -> Vec<String> {
        self.received_within(n, Duration::from_secs(15))
    }

    /// The lines received so far, waiting until there are `n` (or `wait` passed).
    pub fn received_within(&self, n: usize, wait: Duration) -> Vec<String> {
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
