//! Feeding bridgewatch a capture through a named pipe, so a test decides when each
//! part of the input arrives (a signal or a receiver outage lands mid-run), plus the
//! capture and rule those tests feed: `n` one-packet UDP flows whose every tenth
//! raises an alert when it ends.

use super::pcapgen::PcapBuilder;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// The rule [`udp_flows`] is made for: one alert per flow to port 9999, at its end.
pub const UDP_9999_RULE: &str = "- rule: UDP to 9999\n  desc: d\n  condition: evt.type = end and fd.sport = 9999\n  output: 'udp %fd.cip to 9999'\n  priority: WARNING\n";

/// `n` one-packet UDP flows, 10 ms apart; every tenth goes to port 9999 (which
/// [`UDP_9999_RULE`] alerts on).  With the 60 s UDP timeout, flows end (and raise
/// their alerts) steadily as packet time advances.
pub fn udp_flows(n: u32) -> Vec<u8> {
    let mut b = PcapBuilder::new();
    for i in 0..n {
        let src = [10, 0, (i >> 16) as u8, (i >> 8) as u8];
        let sport = 1024 + (i & 0xff) as u16;
        let dport = if i % 10 == 0 { 9999 } else { 7000 };
        b.udp(
            1_717_243_200_000_000 + u64::from(i) * 10_000,
            src,
            sport,
            [10, 1, 0, 1],
            dport,
            20,
        );
    }
    b.bytes
}

pub fn mkfifo(p: &Path) {
    let ok = Command::new("mkfifo").arg(p).status().unwrap().success();
    assert!(ok, "mkfifo {}", p.display());
}

/// Kills bridgewatch (by its PID) on the way out if a test failed before it ended.
pub struct Reap(pub Option<Child>);

impl Drop for Reap {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Opens the pipe's writing end, which blocks until bridgewatch opens it for
/// reading; fails the test instead of hanging when bridgewatch exited first.
pub fn open_pipe(fifo: &Path, child: &mut Reap) -> std::fs::File {
    let (tx, rx) = std::sync::mpsc::channel();
    let p = fifo.to_path_buf();
    std::thread::spawn(move || {
        let _ = tx.send(std::fs::OpenOptions::new().write(true).open(p));
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(f) = rx.recv_timeout(Duration::from_millis(50)) {
            return f.unwrap();
        }
        if let Some(c) = child.0.as_mut() {
            if let Ok(Some(st)) = c.try_wait() {
                panic!("bridgewatch exited ({st}) before reading its input");
            }
        }
        assert!(
            Instant::now() < deadline,
            "bridgewatch never opened its input"
        );
    }
}
