//! The syslog output: alerts to a syslog receiver over UDP, TCP or TLS, as RFC 5424
//! (or RFC 3164) messages; TCP and TLS (RFC 5425) frame them with RFC 6587 octet
//! counting and send a batch of frames per write.  TLS settings are [`super::tls`]'s;
//! queueing, spooling and retry are [`super::delivery`]'s.
//!
//! `relp://` sends over RELP ([`super::relp`]): a message counts as sent only once
//! the receiver acknowledged it, and after a broken connection the unacknowledged
//! rest of the batch is sent again, in order, on the next connection.
//!
//! TCP syslog has no acknowledgements: a batch the kernel accepted just before the
//! receiver died can be lost, and a batch whose write failed half way is sent again
//! whole (so a receiver may see a few messages twice after a reconnect).

use super::delivery::{Counters, Kind, Message, SendError, Transport};
use super::relp::RelpConn;
use super::syslog::{octet_counted, rfc3164, rfc5424, Header, DEFAULT_FACILITY};
use super::tls::{connect, host_of, TlsClient, TlsSettings, TlsStream};
use std::io::Write;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// A UDP datagram carries at most this much; longer messages are cut and counted.
const MAX_UDP: usize = 65_000;
/// Frames per TCP write.
const TCP_BATCH: usize = 256;
/// Messages per RELP window (the librelp default window is 128).
const RELP_BATCH: usize = 128;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyslogTransportKind {
    Udp,
    Tcp,
    /// TCP with TLS (RFC 5425), octet-counted as over TCP.
    Tls,
    /// RELP over TCP: every message acknowledged by the receiver.
    Relp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Rfc5424,
    Rfc3164,
}

/// A validated `--syslog` target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyslogTarget {
    pub transport: SyslogTransportKind,
    pub protocol: Protocol,
    /// `host:port` as given (resolved when the sender starts and at each reconnect).
    pub addr: String,
    pub facility: u8,
    /// CA, client certificate and server name for `tls://` (ignored otherwise).
    pub tls: crate::sinks::tls::TlsSettings,
}

impl std::str::FromStr for SyslogTarget {
    type Err = String;
    /// `udp://HOST:PORT`, `tcp://HOST:PORT`, `tls://HOST:PORT` or `relp://HOST:PORT`, optionally `?protocol=rfc3164` and
    /// `&facility=N` (0-23, default 16 = local0).
    fn from_str(s: &str) -> Result<SyslogTarget, String> {
        let usage = "use udp://HOST:PORT, tcp://HOST:PORT, tls://HOST:PORT or relp://HOST:PORT, optionally ?protocol=rfc5424|rfc3164&facility=0-23";
        let (scheme, rest) = s
            .split_once("://")
            .ok_or_else(|| format!("{s:?} has no scheme: {usage}"))?;
        let transport = match scheme.to_ascii_lowercase().as_str() {
            "udp" => SyslogTransportKind::Udp,
            "tcp" => SyslogTransportKind::Tcp,
            "tls" => SyslogTransportKind::Tls,
            "relp" => SyslogTransportKind::Relp,
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
            tls: Default::default(),
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

/// Sends to one syslog receiver.
pub struct SyslogOut {
    target: SyslogTarget,
    hostname: String,
    procid: u32,
    counters: Arc<Counters>,
    /// For `tls://`: set by [`SyslogOut::with_tls`], else built on first use with
    /// the default settings (the Mozilla roots, the URL's host as the name).
    tls: Option<TlsClient>,
    tcp: Option<Stream>,
    udp: Option<(UdpSocket, SocketAddr)>,
    relp: Option<RelpConn>,
    /// How many leading messages of the batch being retried the RELP receiver has
    /// already acknowledged: the delivery core resends a failed batch from its
    /// front, and those must not be sent twice.
    relp_acked: usize,
    frame: Vec<u8>,
    msg: Vec<u8>,
}

/// An open stream connection.
enum Stream {
    Tcp(TcpStream),
    Tls(Box<TlsStream>),
}

impl Stream {
    fn write_all(&mut self, b: &[u8]) -> std::io::Result<()> {
        match self {
            Stream::Tcp(s) => s.write_all(b),
            Stream::Tls(s) => s.write_all(b).and_then(|()| s.flush()),
        }
    }

    fn close(&mut self) {
        match self {
            Stream::Tcp(s) => {
                let _ = s.flush();
            }
            Stream::Tls(s) => {
                // close_notify, so the receiver sees a clean end, not a truncation.
                s.conn.send_close_notify();
                let _ = s.flush();
            }
        }
    }
}

fn resolve(addr: &str) -> std::io::Result<SocketAddr> {
    addr.to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other(format!("{addr}: no address")))
}

impl SyslogOut {
    pub fn new(target: SyslogTarget, hostname: &str, counters: Arc<Counters>) -> SyslogOut {
        SyslogOut {
            target,
            hostname: hostname.to_string(),
            procid: std::process::id(),
            counters,
            tls: None,
            tcp: None,
            udp: None,
            relp: None,
            relp_acked: 0,
            frame: Vec::new(),
            msg: Vec::new(),
        }
    }

    /// Uses `client` for a `tls://` target.
    pub fn with_tls(mut self, client: TlsClient) -> SyslogOut {
        self.tls = Some(client);
        self
    }

    fn open_stream(&mut self) -> std::io::Result<Stream> {
        let to = resolve(&self.target.addr)?;
        if self.target.transport == SyslogTransportKind::Tls {
            let client = match &self.tls {
                Some(c) => c.clone(),
                None => {
                    let c = TlsSettings::default()
                        .client(host_of(&self.target.addr))
                        .map_err(std::io::Error::other)?;
                    self.tls = Some(c.clone());
                    c
                }
            };
            return Ok(Stream::Tls(Box::new(connect(
                &client,
                to,
                Duration::from_secs(5),
            )?)));
        }
        let s = TcpStream::connect_timeout(&to, Duration::from_secs(2))?;
        s.set_write_timeout(Some(Duration::from_secs(5)))?;
        Ok(Stream::Tcp(s))
    }

    fn message(&mut self, m: &Message) {
        let h = Header {
            facility: self.target.facility,
            severity: m.severity,
            time: m.time,
            hostname: &self.hostname,
            app_name: "bridgewatch",
            procid: self.procid,
            msgid: match m.kind {
                Kind::Alert => "alert",
                Kind::Flow => "flow",
            },
        };
        self.msg.clear();
        match self.target.protocol {
            Protocol::Rfc5424 => rfc5424(&h, &m.body, &mut self.msg),
            Protocol::Rfc3164 => rfc3164(&h, &m.body, &mut self.msg),
        }
    }

    fn send_io(&mut self, batch: &[Message]) -> std::io::Result<()> {
        match self.target.transport {
            SyslogTransportKind::Udp => {
                if self.udp.is_none() {
                    let to = resolve(&self.target.addr)?;
                    let bind: SocketAddr = if to.is_ipv4() {
                        ([0, 0, 0, 0], 0).into()
                    } else {
                        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
                    };
                    self.udp = Some((UdpSocket::bind(bind)?, to));
                }
                for m in batch {
                    self.message(m);
                    if self.msg.len() > MAX_UDP {
                        self.msg.truncate(MAX_UDP);
                        self.counters.truncated.fetch_add(1, Ordering::Relaxed);
                    }
                    if let Some((sock, to)) = &self.udp {
                        sock.send_to(&self.msg, to)?;
                    }
                }
                Ok(())
            }
            SyslogTransportKind::Relp => {
                if self.relp.is_none() {
                    self.relp = Some(RelpConn::open(resolve(&self.target.addr)?)?);
                }
                let skip = self.relp_acked.min(batch.len());
                let mut msgs = Vec::with_capacity(batch.len() - skip);
                for m in &batch[skip..] {
                    self.message(m);
                    msgs.push(self.msg.clone());
                }
                let mut acked = 0;
                let r = match &mut self.relp {
                    Some(c) => c.send_batch(&msgs, &mut acked),
                    None => Ok(()),
                };
                match r {
                    Ok(()) => self.relp_acked = 0,
                    Err(_) => {
                        self.relp_acked = skip + acked;
                        self.relp = None;
                    }
                }
                r
            }
            SyslogTransportKind::Tcp | SyslogTransportKind::Tls => {
                if self.tcp.is_none() {
                    self.tcp = Some(self.open_stream()?);
                }
                self.frame.clear();
                for m in batch {
                    self.message(m);
                    octet_counted(&self.msg, &mut self.frame);
                }
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

impl Transport for SyslogOut {
    fn max_batch(&self) -> usize {
        match self.target.transport {
            // One datagram each: a failure part way must not resend earlier ones.
            SyslogTransportKind::Udp => 1,
            SyslogTransportKind::Tcp | SyslogTransportKind::Tls => TCP_BATCH,
            // One batch is the RELP window: sent whole, then every ack awaited.
            SyslogTransportKind::Relp => RELP_BATCH,
        }
    }

    fn send(&mut self, batch: &[Message]) -> Result<(), SendError> {
        self.send_io(batch)
            .map_err(|e| SendError::Retry(format!("{}: {e}", self.target.addr)))
    }

    fn close(&mut self) {
        if let Some(s) = &mut self.tcp {
            s.close();
        }
        if let Some(c) = &mut self.relp {
            c.close();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sinks::delivery::Delivery;
    use std::time::Instant;

    #[test]
    fn targets_parse_and_bad_ones_say_why() {
        let t: SyslogTarget = "tcp://127.0.0.1:6514?protocol=rfc3164&facility=4"
            .parse()
            .unwrap();
        assert_eq!(t.transport, SyslogTransportKind::Tcp);
        assert_eq!(t.protocol, Protocol::Rfc3164);
        assert_eq!(t.facility, 4);
        assert_eq!(t.addr, "127.0.0.1:6514");
        let t: SyslogTarget = "TLS://syslog.example:6514".parse().unwrap();
        assert_eq!(
            (t.transport, t.addr.as_str()),
            (SyslogTransportKind::Tls, "syslog.example:6514")
        );
        let r: SyslogTarget = "relp://127.0.0.1:2514".parse().unwrap();
        assert_eq!(r.transport, SyslogTransportKind::Relp);
        let u: SyslogTarget = "udp://[::1]:514".parse().unwrap();
        assert_eq!(
            (u.transport, u.facility),
            (SyslogTransportKind::Udp, DEFAULT_FACILITY)
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
        let counters = Arc::new(Counters::default());
        let out = SyslogOut::new(
            format!("tcp://127.0.0.1:{port}").parse().unwrap(),
            "h",
            counters.clone(),
        );
        let mut d = Delivery::start("syslog".into(), Box::new(out), counters, None).unwrap();
        let h = d.handle().unwrap();
        for i in 0..3 {
            h.send(Message {
                kind: Kind::Alert,
                severity: 2,
                time: i,
                body: b"x\n".to_vec(),
            });
        }
        drop(h);
        let start = Instant::now();
        let st = d.finish(Duration::from_millis(300));
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
