//! Following the Docker bridges as they come and go, when `watch` chose its
//! interfaces itself (no `-i`): a NETLINK_ROUTE socket subscribed to link events
//! wakes a rescan of sysfs; a new `docker0`/`br-*` bridge that is up gets a capture
//! within moments of appearing (a `docker network create` after `watch` started), and
//! a bridge that is removed has its capture closed and marked as removed, not
//! failed.  The rescan also runs every second, so a missed event costs a second.

use super::captures::Captures;
use super::discover;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `RTMGRP_LINK`: the multicast group of link events.
const RTMGRP_LINK: u32 = 1;
const RESCAN_EVERY: Duration = Duration::from_secs(1);

/// Until `stop`: keeps `captures` on every Docker bridge that is up.
pub fn run(captures: Arc<Mutex<Captures>>, stop: Arc<AtomicBool>, quiet: bool) {
    let socket = match link_events() {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!("no netlink link events ({e}); rescanning every second instead");
            None
        }
    };
    let mut buf = vec![0u8; 1 << 16];
    let mut last_scan = Instant::now();
    let mut refused = std::collections::HashSet::new();
    while !stop.load(Ordering::Relaxed) {
        let woke = match &socket {
            Some(s) => wait_event(s, &mut buf, 200),
            None => {
                std::thread::sleep(Duration::from_millis(200));
                false
            }
        };
        if woke || last_scan.elapsed() >= RESCAN_EVERY {
            last_scan = Instant::now();
            rescan(&captures, quiet, &mut refused);
        }
    }
}

fn link_events() -> std::io::Result<Socket> {
    let mut s = Socket::new(NETLINK_ROUTE)?;
    s.bind(&SocketAddr::new(0, RTMGRP_LINK))?;
    s.set_non_blocking(true)?;
    Ok(s)
}

/// Waits up to `ms` for link events; drains what came.  True when any did.
fn wait_event(s: &Socket, buf: &mut Vec<u8>, ms: i32) -> bool {
    let mut pfd = libc::pollfd {
        fd: s.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the duration of the call.
    let n = unsafe { libc::poll(&mut pfd, 1, ms) };
    if n <= 0 {
        return false;
    }
    let mut any = false;
    loop {
        buf.clear();
        match s.recv(buf, 0) {
            Ok(0) | Err(_) => break,
            Ok(_) => any = true,
        }
    }
    any
}

fn rescan(
    captures: &Mutex<Captures>,
    quiet: bool,
    refused: &mut std::collections::HashSet<String>,
) {
    let sys = Path::new("/sys/class/net");
    let Ok(bridges) = discover::docker_bridges(sys) else {
        return;
    };
    let mut caps = match captures.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    for b in bridges.iter().filter(|b| b.up) {
        if caps.captures(&b.name) {
            continue;
        }
        match caps.open_and_start(&b.name) {
            Ok(()) => {
                if !quiet {
                    eprintln!("bridgewatch: bridge {} appeared: capturing it", b.name);
                }
            }
            // Said once per bridge, not at every link event.
            Err(e) => {
                if refused.insert(b.name.clone()) {
                    eprintln!(
                        "bridgewatch: warning: bridge {} appeared but cannot be captured: {e}",
                        b.name
                    );
                }
            }
        }
    }
    for c in caps.list.iter_mut() {
        if !c.removed && !c.is_running() && !sys.join(&c.iface).exists() {
            c.removed = true;
            if !quiet {
                eprintln!(
                    "bridgewatch: bridge {} went away: its capture is closed",
                    c.iface
                );
            }
        }
    }
}
