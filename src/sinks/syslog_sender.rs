//! The syslog sender: alerts to a syslog receiver over UDP or TCP (RFC 5424 or RFC
//! 3164 messages; TCP frames them with RFC 6587 octet counting).
//!
//! Workers hand messages to a bounded in-memory queue and never wait on the network:
//! a full queue drops the message and counts it (`queue_full`).  One sender thread
//! drains the queue.  Over TCP it connects lazily, and when a connect or write fails
//! it keeps the message, reconnects with exponential backoff and jitter (100 ms
//! doubling to 5 s), and sends it again — so a receiver that restarts loses nothing
//! the queue could hold, though a message the kernel had accepted just before the
//! receiver died can be lost (TCP syslog has no acknowledgements).  At the end of a
//! run the sender gets [`SyslogSender::finish`]'s deadline to deliver what is queued;
//! what is left is counted as `undelivered_at_exit`.  Every drop is in [`SenderStats`].
//!
//! With a spool ([`super::spool`]) every message is appended to disk before it is
//! sent and acknowledged after: an outage longer than the queue holds, or a restart
//! (even `kill -9`), loses nothing the spool's size bound admits, and what was not
//! sent by the exit deadline stays spooled (`spooled_at_exit`) for the next run with
//! the same spool directory, which sends it first.

use super::spool::Spool;
use super::syslog::{octet_counted, rfc3164, rfc5424, Header, DEFAULT_FACILITY};
use crate::time::Nanos;
use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender, TrySendError};
use std::io::Write;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Messages held in memory per sender.
pub const QUEUE_LEN: usize = 65_536;
/// A UDP datagram carries at most this much; longer messages are cut and counted.
const MAX_UDP: usize = 65_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Rfc5424,
    Rfc3164,
}

/// A validated `--syslog` target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyslogTarget {
    pub transport: Transport,
    pub protocol: Protocol,
    /// `host:port` as given (resolved when the sender starts and at each reconnect).
    pub addr: String,
    pub facility: u8,
}

impl std::str::FromStr for SyslogTarget {
    type Err = String;
    /// `udp://HOST:PORT` or `tcp://HOST:PORT`, optionally `?protocol=rfc3164` and
    /// `&facility=N` (0-23, default 16 = local0).
    fn from_str(s: &str) -> Result<SyslogTarget, String> {
        let usage = "use udp://HOST:PORT or tcp://HOST:PORT, optionally ?protocol=rfc5424|rfc3164&facility=0-23";
        let (scheme, rest) = s
            .split_once("://")
            .ok_or_else(|| format!("{s:?} has no scheme: {usage}"))?;
        let transport = match scheme.to_ascii_lowercase().as_str() {
            "udp" => Transport::Udp,
            "tcp" => Transport::Tcp,
            other => return Err(format!("unknown transport {other:?}: {usage}")),
        };
        let (addr, query) = rest.split_once('?').unwrap_or((rest, ""));
        let port_ok = addr
            .rsplit_once(':')
            .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
        if !port_ok {
            return Err(format!("{addr:?} is not HOST:PORT: {usage}"));
        }
        let mut t = SyslogTarget {
            transport,
            protocol: Protocol::Rfc5424,
            addr: addr.to_string(),
            facility: DEFAULT_FACILITY,
        };
        for kv in query.split('&').filter(|kv| !kv.is_empty()) {
            match kv.split_once('=') {
                Some(("protocol", "rfc5424")) => t.protocol = Protocol::Rfc5424,
                Some(("protocol", "rfc3164")) => t.protocol = Protocol::Rfc3164,
                Some(("facility", n)) => {
                    t.facility = n
                        .parse::<u8>()
                        .ok()
                        .filter(|n| *n <= 23)
                        .ok_or_else(|| format!("facility {n:?} is not 0-23"))?;
                }
                _ => return Err(format!("unknown option {kv:?}: {usage}")),
            }
        }
        Ok(t)
    }
}

/// One message waiting to be sent.
pub struct Message {
    pub severity: u8,
    pub time: Nanos,
    /// The formatted line (its trailing newline is dropped when framed).
    pub body: Vec<u8>,
}

/// What a sender did; every message is in exactly one of `sent` or a drop counter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SenderStats {
    pub sent: u64,
    pub queue_full: u64,
    pub undelivered_at_exit: u64,
    pub truncated: u64,
    pub send_errors: u64,
    pub reconnects: u64,
    /// Refused by a full spool (or a spool write error).
    pub spool_full: u64,
    /// Still in the spool when the run ended (sent by the next run, not lost).
    pub spooled_at_exit: u64,
}

#[derive(Default)]
struct Counters {
    spool_full: AtomicU64,
    spooled: AtomicU64,
    sent: AtomicU64,
    queue_full: AtomicU64,
    undelivered: AtomicU64,
    truncated: AtomicU64,
    send_errors: AtomicU64,
    reconnects: AtomicU64,
}

/// The handle workers send through (cheap to clone).
#[derive(Clone)]
pub struct SyslogHandle {
    tx: Sender<Message>,
    counters: Arc<Counters>,
}

impl SyslogHandle {
    /// Queues `m`; never blocks.  A full queue drops it, counted.
    pub fn send(&self, m: Message) {
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = self.tx.try_send(m) {
            self.counters.queue_full.fetch_add(1, Ordering::Relaxed);
        }
    }
}

pub struct SyslogSender {
    handle: Option<SyslogHandle>,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    deadline: Arc<std::sync::Mutex<Option<Instant>>>,
    thread: Option<JoinHandle<()>>,
    pub target: SyslogTarget,
}

struct Conn {
    target: SyslogTarget,
    hostname: String,
    procid: u32,
    tcp: Option<TcpStream>,
    udp: Option<(UdpSocket, SocketAddr)>,
    frame: Vec<u8>,
    msg: Vec<u8>,
}

fn resolve(addr: &str) -> std::io::Result<SocketAddr> {
    addr.to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other(format!("{addr}: no address")))
}

impl Conn {
    fn send(&mut self, m: &Message, counters: &Counters) -> std::io::Result<()> {
        let h = Header {
            facility: self.target.facility,
            severity: m.severity,
            time: m.time,
            hostname: &self.hostname,
            app_name: "bridgewatch",
            procid: self.procid,
            msgid: "alert",
        };
        self.msg.clear();
        match self.target.protocol {
            Protocol::Rfc5424 => rfc5424(&h, &m.body, &mut self.msg),
            Protocol::Rfc3164 => rfc3164(&h, &m.body, &mut self.msg),
        }
        match self.target.transport {
            Transport::Udp => {
                if self.udp.is_none() {
                    let to = resolve(&self.target.addr)?;
                    let bind: SocketAddr = if to.is_ipv4() {
                        ([0, 0, 0, 0], 0).into()
                    } else {
                        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
                    };
                    self.udp = Some((UdpSocket::bind(bind)?, to));
                }
                if self.msg.len() > MAX_UDP {
                    self.msg.truncate(MAX_UDP);
                    counters.truncated.fetch_add(1, Ordering::Relaxed);
                }
                if let Some((sock, to)) = &self.udp {
                    sock.send_to(&self.msg, to)?;
                }
                Ok(())
            }
            Transport::Tcp => {
                if self.tcp.is_none() {
                    let to = resolve(&self.target.addr)?;
                    let s = TcpStream::connect_timeout(&to, Duration::from_secs(2))?;
                    s.set_nodelay(false)?;
                    s.set_write_timeout(Some(Duration::from_secs(5)))?;
                    self.tcp = Some(s);
                }
                self.frame.clear();
                octet_counted(&self.msg, &mut self.frame);
                let r = match &mut self.tcp {
                    Some(s) => s.write_all(&self.frame),
                    None => Ok(()),
                };
                if r.is_err() {
                    self.tcp = None;
                }
                r
            }
        }
    }
}

impl SyslogSender {
    /// Starts the sender thread for `target`; `hostname` goes into every header.
    /// With `spool`, messages go through the on-disk spool opened there (an error
    /// opening it is returned before anything starts).
    pub fn start(
        target: SyslogTarget,
        hostname: &str,
        spool: Option<(&std::path::Path, u64)>,
    ) -> std::io::Result<SyslogSender> {
        let spool = match spool {
            Some((dir, max)) => Some(Spool::open(dir, max)?),
            None => None,
        };
        let (tx, rx) = bounded::<Message>(QUEUE_LEN);
        let counters = Arc::new(Counters::default());
        let stop = Arc::new(AtomicBool::new(false));
        let deadline = Arc::new(std::sync::Mutex::new(None));
        let conn = Conn {
            target: target.clone(),
            hostname: hostname.to_string(),
            procid: std::process::id(),
            tcp: None,
            udp: None,
            frame: Vec::new(),
            msg: Vec::new(),
        };
        let (c, s, d) = (counters.clone(), stop.clone(), deadline.clone());
        let thread = std::thread::Builder::new()
            .name("syslog-sender".into())
            .spawn(move || match spool {
                Some(sp) => run_spooled(conn, sp, rx, &c, &s, &d),
                None => run(conn, rx, &c, &s, &d),
            })
            .ok();
        Ok(SyslogSender {
            handle: Some(SyslogHandle {
                tx,
                counters: counters.clone(),
            }),
            counters,
            stop,
            deadline,
            thread,
            target,
        })
    }

    pub fn handle(&self) -> Option<SyslogHandle> {
        self.handle.clone()
    }

    /// Closes the queue and waits up to `grace` for it to drain; what is still
    /// queued then is counted as undelivered.
    pub fn finish(&mut self, grace: Duration) -> SenderStats {
        if let Ok(mut d) = self.deadline.lock() {
            *d = Some(Instant::now() + grace);
        }
        self.handle = None; // our sender end; workers' clones are gone by now
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.stats()
    }

    pub fn stats(&self) -> SenderStats {
        let c = &self.counters;
        SenderStats {
            sent: c.sent.load(Ordering::Relaxed),
            queue_full: c.queue_full.load(Ordering::Relaxed),
            undelivered_at_exit: c.undelivered.load(Ordering::Relaxed),
            truncated: c.truncated.load(Ordering::Relaxed),
            send_errors: c.send_errors.load(Ordering::Relaxed),
            reconnects: c.reconnects.load(Ordering::Relaxed),
            spool_full: c.spool_full.load(Ordering::Relaxed),
            spooled_at_exit: c.spooled.load(Ordering::Relaxed),
        }
    }
}

/// A little jitter without a random-number crate: the clock's nanoseconds.
fn jitter(d: Duration) -> Duration {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| t.subsec_nanos())
        .unwrap_or(0);
    d + d.mul_f64(f64::from(n % 1000) / 4000.0)
}

fn run(
    mut conn: Conn,
    rx: Receiver<Message>,
    counters: &Counters,
    stop: &AtomicBool,
    deadline: &std::sync::Mutex<Option<Instant>>,
) {
    let past_deadline = || {
        deadline
            .lock()
            .map(|d| d.is_some_and(|d| Instant::now() >= d))
            .unwrap_or(true)
    };
    let mut backoff = Duration::from_millis(100);
    loop {
        let m = match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(m) => m,
            Err(RecvTimeoutError::Timeout) if !stop.load(Ordering::Relaxed) => continue,
            Err(_) => break, // closed and drained, or stopping with nothing queued
        };
        // Retry this message until it goes out or the exit deadline passes.
        loop {
            match conn.send(&m, counters) {
                Ok(()) => {
                    counters.sent.fetch_add(1, Ordering::Relaxed);
                    backoff = Duration::from_millis(100);
                    break;
                }
                Err(e) => {
                    counters.send_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(target = %conn.target.addr, error = %e, "syslog send failed; retrying");
                    if past_deadline() {
                        counters.undelivered.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                    std::thread::sleep(jitter(backoff));
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    counters.reconnects.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        if past_deadline() {
            break;
        }
    }
    // Whatever is still queued after the deadline is counted, never silently lost.
    let left = rx.try_iter().count() as u64;
    counters.undelivered.fetch_add(left, Ordering::Relaxed);
    if let Some(s) = &mut conn.tcp {
        let _ = s.flush();
    }
}

/// The sender loop with a spool: queued messages go to disk first; sending reads
/// the spool in order and acknowledges each message once written to the receiver.
fn run_spooled(
    mut conn: Conn,
    mut spool: Spool,
    rx: Receiver<Message>,
    counters: &Counters,
    stop: &AtomicBool,
    deadline: &std::sync::Mutex<Option<Instant>>,
) {
    let past_deadline = || {
        deadline
            .lock()
            .map(|d| d.is_some_and(|d| Instant::now() >= d))
            .unwrap_or(true)
    };
    let push = |spool: &mut Spool, m: Message| match spool.push(&m) {
        Ok(true) => {}
        Ok(false) => {
            counters.spool_full.fetch_add(1, Ordering::Relaxed);
        }
        Err(e) => {
            tracing::error!(error = %e, "syslog spool write failed; message dropped");
            counters.spool_full.fetch_add(1, Ordering::Relaxed);
        }
    };
    let mut backoff = Duration::from_millis(100);
    let mut next_try = Instant::now();
    loop {
        let ready = spool.pending() > 0 && Instant::now() >= next_try;
        let wait = if ready {
            Duration::ZERO
        } else {
            Duration::from_millis(50)
        };
        if let Ok(m) = rx.recv_timeout(wait) {
            push(&mut spool, m);
        }
        while let Ok(m) = rx.try_recv() {
            push(&mut spool, m);
        }
        if Instant::now() >= next_try {
            // A bounded run of sends, then back to taking in the queue.
            for _ in 0..1024 {
                let m = match spool.peek() {
                    Ok(Some(m)) => m,
                    Ok(None) => break,
                    Err(e) => {
                        tracing::error!(error = %e, "syslog spool read failed");
                        next_try = Instant::now() + Duration::from_secs(1);
                        break;
                    }
                };
                match conn.send(&m, counters) {
                    Ok(()) => {
                        counters.sent.fetch_add(1, Ordering::Relaxed);
                        backoff = Duration::from_millis(100);
                        if let Err(e) = spool.ack() {
                            tracing::error!(error = %e, "syslog spool cursor write failed");
                        }
                    }
                    Err(e) => {
                        counters.send_errors.fetch_add(1, Ordering::Relaxed);
                        counters.reconnects.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(target = %conn.target.addr, error = %e, "syslog send failed; spooling and retrying");
                        next_try = Instant::now() + jitter(backoff);
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                        break;
                    }
                }
            }
        }
        if stop.load(Ordering::Relaxed)
            && rx.is_empty()
            && (spool.pending() == 0 || past_deadline())
        {
            break;
        }
    }
    counters.spooled.store(spool.pending(), Ordering::Relaxed);
    if let Some(s) = &mut conn.tcp {
        let _ = s.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_and_bad_ones_say_why() {
        let t: SyslogTarget = "tcp://127.0.0.1:6514?protocol=rfc3164&facility=4"
            .parse()
            .unwrap();
        assert_eq!(t.transport, Transport::Tcp);
        assert_eq!(t.protocol, Protocol::Rfc3164);
        assert_eq!(t.facility, 4);
        assert_eq!(t.addr, "127.0.0.1:6514");
        let u: SyslogTarget = "udp://[::1]:514".parse().unwrap();
        assert_eq!(
            (u.transport, u.facility),
            (Transport::Udp, DEFAULT_FACILITY)
        );
        for bad in [
            "127.0.0.1:514",
            "http://h:1",
            "udp://h",
            "udp://h:0",
            "tcp://h:1?x=y",
            "tcp://h:1?facility=99",
        ] {
            let e = bad.parse::<SyslogTarget>().unwrap_err();
            assert!(!e.is_empty(), "{bad}");
        }
    }

    #[test]
    fn a_dead_receiver_is_counted_not_hung_on() {
        // A port nothing listens on (bound, then closed).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut s = SyslogSender::start(
            format!("tcp://127.0.0.1:{port}").parse().unwrap(),
            "h",
            None,
        )
        .unwrap();
        let h = s.handle().unwrap();
        for i in 0..3 {
            h.send(Message {
                severity: 2,
                time: i,
                body: b"x\n".to_vec(),
            });
        }
        drop(h);
        let start = Instant::now();
        let st = s.finish(Duration::from_millis(300));
        assert!(
            start.elapsed() < Duration::from_secs(8),
            "{:?}",
            start.elapsed()
        );
        assert_eq!(st.sent, 0);
        assert_eq!(st.undelivered_at_exit, 3, "{st:?}");
        assert!(st.send_errors >= 1);
    }
}
