//! The flow engine: many concurrently open flows, each a small state machine that emits one packet
//! per step, interleaved in packet-time order through a min-heap of "next packet due" times.
//!
//! Guarantees: timestamps never decrease; every TCP segment's seq/ack is consistent with the bytes
//! sent so far in its flow; a flow's packets are all in one address family and share one VLAN tag.
//! Per packet there is no allocation: frames are built into one reused buffer.

use crate::pcap::PcapWriter;
use crate::rng::Rng;
use crate::wire::{self, flags, Addr, Hdr, TcpOpts, L4};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, Write};

pub const MS: u64 = 1_000_000;
pub const US: u64 = 1_000;
pub const SEC: u64 = 1_000_000_000;

#[derive(Clone, Copy, Debug)]
pub struct Ep {
    pub ip: Addr,
    pub mac: [u8; 6],
    pub port: u16,
    /// Far endpoints sit behind the WAN: packets from them arrive one RTT after ours leave.
    pub far: bool,
    pub ttl: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum App {
    Http,
    Tls,
    Pgsql,
    Raw,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SynOutcome {
    Accept,
    /// RST/ACK: closed port (Zeek REJ).
    Refused,
    /// No answer; the client retransmits the SYN this many times (Zeek S0).
    Silent(u8),
    /// SYN, SYN/ACK, then the client resets (a half-open scan).
    ScanRst,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    ClientFin,
    ServerFin,
    ClientRst,
    ServerRst,
    /// Leave the connection open (still running when the capture ends).
    Open,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UdpApp {
    /// A (and sometimes AAAA) queries from one socket; `answers` false = resolver never replies.
    Dns {
        name: &'static str,
        both: bool,
        answers: bool,
        nx: bool,
    },
    Ntp,
    Syslog {
        messages: u8,
    },
}

/// How message sizes are drawn.
#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    pub req_mean: u32,
    pub resp_mean: u32,
    /// false: use the means exactly (demo); true: draw from a heavy-tailed mix around them.
    pub random: bool,
}

#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Tcp {
        app: App,
        syn: SynOutcome,
        exchanges: u16,
        ending: Ending,
        sizes: Sizes,
        /// Minimal frames: SYNs carry only MSS, no timestamps (the `small` profile).
        bare: bool,
        sni: &'static str,
        host: &'static str,
    },
    Udp(UdpApp),
    Echo {
        count: u16,
        reply: bool,
        interval: u64,
    },
}

#[derive(Clone, Copy, Debug)]
pub struct FlowSpec {
    pub cli: Ep,
    pub srv: Ep,
    pub vlan: u16,
    pub rtt: u64,
    pub kind: Kind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Syn(u8),
    SynAck,
    RstAck,
    HsAck,
    ScanRst,
    Xfer,
    CloseA,
    CloseB,
    CloseC,
    Rst,
    Query(u8),
    Answer(u8),
    Ping(u16),
    Pong(u16),
    Done,
}

struct Flow {
    spec: FlowSpec,
    phase: Phase,
    cseq: u32,
    sseq: u32,
    cts: u32,
    sts: u32,
    cid: u16,
    sid: u16,
    exchanges_left: u16,
    exchange: u16,
    // Current message.
    msg_client: bool,
    msg_total: u32,
    msg_sent: u32,
    unacked: u8,
    last_client: bool,
    dns_id: u16,
}

pub struct Stats {
    pub packets: u64,
    pub bytes: u64,
    pub flows: u64,
    pub v6_packets: u64,
    pub vlan_packets: u64,
    pub first_ns: u64,
    pub last_ns: u64,
    /// Frames the builder refused (a generator bug, never expected): reported, not written.
    pub dropped: u64,
}

pub struct Sim<W: Write> {
    pub rng: Rng,
    flows: Vec<Flow>,
    free: Vec<u32>,
    heap: BinaryHeap<Reverse<(u64, u32)>>,
    out: PcapWriter<W>,
    buf: Box<[u8; wire::MAX_FRAME]>,
    pattern: Box<[u8; 2048]>,
    pub stats: Stats,
}

const MSS4: u32 = 1448;
const MSS6: u32 = 1428;
const MIN_SEG: u32 = 40;

impl<W: Write> Sim<W> {
    pub fn new(out: W, seed: u64) -> io::Result<Self> {
        let mut rng = Rng::new(seed);
        let mut pattern = Box::new([0u8; 2048]);
        rng.fill(&mut pattern[..]);
        Ok(Sim {
            rng,
            flows: Vec::new(),
            free: Vec::new(),
            heap: BinaryHeap::new(),
            out: PcapWriter::new(out)?,
            buf: Box::new([0u8; wire::MAX_FRAME]),
            pattern,
            stats: Stats {
                packets: 0,
                bytes: 0,
                flows: 0,
                v6_packets: 0,
                vlan_packets: 0,
                first_ns: 0,
                last_ns: 0,
                dropped: 0,
            },
        })
    }

    pub fn open_flows(&self) -> usize {
        self.heap.len()
    }

    /// Time of the next packet due, if any flow is open.
    pub fn next_due(&self) -> Option<u64> {
        self.heap.peek().map(|Reverse((t, _))| *t)
    }

    pub fn spawn(&mut self, at: u64, spec: FlowSpec) {
        let r = &mut self.rng;
        let phase = match spec.kind {
            Kind::Tcp { .. } => Phase::Syn(0),
            Kind::Udp(_) => Phase::Query(0),
            Kind::Echo { .. } => Phase::Ping(0),
        };
        let exchanges = match spec.kind {
            Kind::Tcp { exchanges, .. } => exchanges,
            _ => 0,
        };
        let flow = Flow {
            spec,
            phase,
            cseq: r.next_u32(),
            sseq: r.next_u32(),
            cts: r.next_u32(),
            sts: r.next_u32(),
            cid: r.next_u32() as u16,
            sid: r.next_u32() as u16,
            exchanges_left: exchanges,
            exchange: 0,
            msg_client: true,
            msg_total: 0,
            msg_sent: 0,
            unacked: 0,
            last_client: true,
            dns_id: r.next_u32() as u16,
        };
        let idx = match self.free.pop() {
            Some(i) => {
                self.flows[i as usize] = flow;
                i
            }
            None => {
                self.flows.push(flow);
                (self.flows.len() - 1) as u32
            }
        };
        self.heap.push(Reverse((at, idx)));
    }

    /// Emits the next due packet. Returns false when no flow is open.
    pub fn step(&mut self) -> io::Result<bool> {
        let Some(Reverse((now, idx))) = self.heap.pop() else {
            return Ok(false);
        };
        let Some(flow) = self.flows.get_mut(idx as usize) else {
            return Ok(true);
        };
        let first = flow.phase == Phase::Syn(0)
            || flow.phase == Phase::Query(0)
            || flow.phase == Phase::Ping(0);
        let (len, next) = flow.step(now, &mut self.rng, &mut self.buf[..], &self.pattern[..]);
        if len > 0 {
            let frame = &self.buf[..len];
            self.out.write(now, frame)?;
            let s = &mut self.stats;
            if s.packets == 0 {
                s.first_ns = now;
            }
            s.packets += 1;
            s.bytes += len as u64;
            s.last_ns = now;
            if first {
                s.flows += 1;
            }
            if flow.spec.cli.ip.is_v6() {
                s.v6_packets += 1;
            }
            if flow.spec.vlan != 0 {
                s.vlan_packets += 1;
            }
        } else {
            self.stats.dropped += 1;
        }
        match next {
            Some(d) => self.heap.push(Reverse((now + d.max(1), idx))),
            None => self.free.push(idx),
        }
        Ok(true)
    }

    pub fn finish(self) -> io::Result<Stats> {
        self.out.finish()?;
        Ok(self.stats)
    }
}

/// Rounds a message size so no segment is too small to hold its application framing.
fn normalize(total: u32, mss: u32, min_total: u32) -> u32 {
    let t = total.max(min_total).max(MIN_SEG);
    let rem = t % mss;
    if rem != 0 && rem < MIN_SEG {
        t + (MIN_SEG - rem)
    } else {
        t
    }
}

fn heavy(rng: &mut Rng, mean: u32) -> u32 {
    // Most replies are small, a few are large: a three-part exponential mix with the given mean.
    let m = f64::from(mean);
    let v = match rng.weighted(&[65, 30, 5]) {
        0 => rng.exp(m * 0.17),
        1 => rng.exp(m * 1.3),
        _ => rng.exp(m * 10.0),
    };
    v.min(4_000_000.0) as u32
}

impl Flow {
    fn mss(&self) -> u32 {
        if self.spec.cli.ip.is_v6() {
            MSS6
        } else {
            MSS4
        }
    }

    /// Delay before a packet from `client` (true) or server, given who sent the previous one.
    fn gap(&mut self, rng: &mut Rng, client: bool) -> u64 {
        let sender = if client {
            &self.spec.cli
        } else {
            &self.spec.srv
        };
        let g = if client == self.last_client {
            // Back-to-back segments: roughly 1 Gbit/s pacing of a full frame, with jitter.
            rng.range(2 * US, 14 * US)
        } else if sender.far {
            let rtt = self.spec.rtt;
            rtt - rtt / 20 + rng.below(rtt / 10 + 1)
        } else {
            rng.range(15 * US, 90 * US)
                + if self.spec.srv.far || self.spec.cli.far {
                    0
                } else {
                    self.spec.rtt / 2
                }
        };
        self.last_client = client;
        g
    }

    fn hdr(&mut self, client: bool, l4: L4) -> Hdr {
        let (a, b) = if client {
            (self.spec.cli, self.spec.srv)
        } else {
            (self.spec.srv, self.spec.cli)
        };
        let id = if client {
            self.cid = self.cid.wrapping_add(1);
            self.cid
        } else {
            self.sid = self.sid.wrapping_add(1);
            self.sid
        };
        // IPv6 has no IP ID; the builder uses this as the (per-direction constant) flow label.
        let ip_id = if a.ip.is_v6() {
            if client {
                0x1a2b
            } else {
                0x3c4d
            }
        } else {
            id
        };
        Hdr {
            src_mac: a.mac,
            dst_mac: b.mac,
            vlan: self.spec.vlan,
            src: a.ip,
            dst: b.ip,
            sport: a.port,
            dport: b.port,
            ttl: a.ttl,
            ip_id,
            l4,
        }
    }

    fn tcp(&mut self, now: u64, client: bool, fl: u8, syn: bool) -> L4 {
        let Kind::Tcp { bare, .. } = self.spec.kind else {
            return L4::Udp;
        };
        let ms = (now / MS) as u32;
        let (mine, theirs) = if client {
            (self.cts, self.sts)
        } else {
            (self.sts, self.cts)
        };
        let tsval = mine.wrapping_add(ms);
        let tsecr = if syn && client {
            0
        } else {
            theirs.wrapping_add(ms.wrapping_sub((self.spec.rtt / MS) as u32))
        };
        let mss = if self.spec.cli.ip.is_v6() { 1440 } else { 1460 };
        let opts = match (bare, syn) {
            (true, true) => TcpOpts::Mss(mss),
            (true, false) => TcpOpts::None,
            (false, true) => TcpOpts::Syn { mss, tsval, tsecr },
            (false, false) => TcpOpts::Ts { tsval, tsecr },
        };
        let (seq, ack) = if client {
            (self.cseq, self.sseq)
        } else {
            (self.sseq, self.cseq)
        };
        let window = match (syn, bare) {
            (true, true) => 1024,
            (true, false) => {
                if client {
                    64240
                } else {
                    65160
                }
            }
            (false, _) => 502,
        };
        let ack = if fl & flags::ACK != 0 { ack } else { 0 };
        L4::Tcp {
            seq,
            ack,
            flags: fl,
            window,
            opts,
        }
    }

    /// Builds this flow's next packet into `buf`; returns its length and the delay to the next one.
    fn step(
        &mut self,
        now: u64,
        rng: &mut Rng,
        buf: &mut [u8],
        pat: &[u8],
    ) -> (usize, Option<u64>) {
        match self.spec.kind {
            Kind::Tcp { .. } => self.step_tcp(now, rng, buf, pat),
            Kind::Udp(app) => self.step_udp(now, rng, buf, pat, app),
            Kind::Echo {
                count,
                reply,
                interval,
            } => self.step_echo(rng, buf, pat, count, reply, interval),
        }
    }

    fn step_tcp(
        &mut self,
        now: u64,
        rng: &mut Rng,
        buf: &mut [u8],
        pat: &[u8],
    ) -> (usize, Option<u64>) {
        let Kind::Tcp { syn, ending, .. } = self.spec.kind else {
            return (0, None);
        };
        let (len, next_phase): (usize, Phase) = match self.phase {
            Phase::Syn(n) => {
                let l4 = self.tcp(now, true, flags::SYN, true);
                let h = self.hdr(true, l4);
                let len = wire::build(buf, &h, 0, |_| {});
                self.last_client = true;
                let next = match syn {
                    SynOutcome::Accept | SynOutcome::ScanRst => Phase::SynAck,
                    SynOutcome::Refused => Phase::RstAck,
                    SynOutcome::Silent(max) if n < max => {
                        self.phase = Phase::Syn(n + 1);
                        // Linux SYN retransmission backoff: 1 s, 2 s, 4 s...
                        return (len, Some(SEC << n));
                    }
                    SynOutcome::Silent(_) => Phase::Done,
                };
                (len, next)
            }
            Phase::RstAck => {
                self.cseq = self.cseq.wrapping_add(1);
                self.sseq = 0;
                let l4 = self.tcp(now, false, flags::RST | flags::ACK, false);
                let h = self.hdr(false, l4);
                (wire::build(buf, &h, 0, |_| {}), Phase::Done)
            }
            Phase::SynAck => {
                let l4 = {
                    self.cseq = self.cseq.wrapping_add(1);
                    self.tcp(now, false, flags::SYN | flags::ACK, true)
                };
                self.sseq = self.sseq.wrapping_add(1);
                let h = self.hdr(false, l4);
                let next = if syn == SynOutcome::ScanRst {
                    Phase::ScanRst
                } else {
                    Phase::HsAck
                };
                (wire::build(buf, &h, 0, |_| {}), next)
            }
            Phase::ScanRst => {
                let l4 = self.tcp(now, true, flags::RST, false);
                let h = self.hdr(true, l4);
                (wire::build(buf, &h, 0, |_| {}), Phase::Done)
            }
            Phase::HsAck => {
                let l4 = self.tcp(now, true, flags::ACK, false);
                let h = self.hdr(true, l4);
                let len = wire::build(buf, &h, 0, |_| {});
                let next = if self.exchanges_left > 0 {
                    self.start_msg(rng, true);
                    Phase::Xfer
                } else {
                    self.close_phase()
                };
                (len, next)
            }
            Phase::Xfer => return self.step_xfer(now, rng, buf, pat),
            Phase::CloseA | Phase::CloseB | Phase::CloseC => {
                // CloseA: initiator FIN/ACK; CloseB: peer FIN/ACK; CloseC: initiator's last ACK.
                let initiator_client = ending != Ending::ServerFin;
                let from_client = if self.phase == Phase::CloseB {
                    !initiator_client
                } else {
                    initiator_client
                };
                let fl = if self.phase == Phase::CloseC {
                    flags::ACK
                } else {
                    flags::FIN | flags::ACK
                };
                // A FIN takes one sequence number: the peer's FIN/ACK acknowledges the
                // initiator's FIN, and the initiator's last ACK acknowledges the peer's.
                if self.phase != Phase::CloseA {
                    if from_client {
                        self.sseq = self.sseq.wrapping_add(1);
                    } else {
                        self.cseq = self.cseq.wrapping_add(1);
                    }
                }
                let l4 = self.tcp(now, from_client, fl, false);
                let h = self.hdr(from_client, l4);
                let len = wire::build(buf, &h, 0, |_| {});
                let next = match self.phase {
                    Phase::CloseA => Phase::CloseB,
                    Phase::CloseB => Phase::CloseC,
                    _ => Phase::Done,
                };
                (len, next)
            }
            Phase::Rst => {
                let client = ending == Ending::ClientRst;
                let l4 = self.tcp(now, client, flags::RST | flags::ACK, false);
                let h = self.hdr(client, l4);
                (wire::build(buf, &h, 0, |_| {}), Phase::Done)
            }
            _ => (0, Phase::Done),
        };
        self.finish_step(rng, len, next_phase)
    }

    fn finish_step(&mut self, rng: &mut Rng, len: usize, next: Phase) -> (usize, Option<u64>) {
        self.phase = next;
        let client_next = match next {
            Phase::Done => return (len, None),
            Phase::SynAck | Phase::RstAck => false,
            Phase::HsAck | Phase::ScanRst => true,
            Phase::Xfer => self.msg_client,
            Phase::CloseA | Phase::CloseC => {
                let Kind::Tcp { ending, .. } = self.spec.kind else {
                    return (len, None);
                };
                ending != Ending::ServerFin
            }
            Phase::CloseB => {
                let Kind::Tcp { ending, .. } = self.spec.kind else {
                    return (len, None);
                };
                ending == Ending::ServerFin
            }
            Phase::Rst => {
                let Kind::Tcp { ending, .. } = self.spec.kind else {
                    return (len, None);
                };
                ending == Ending::ClientRst
            }
            _ => true,
        };
        let extra = if next == Phase::CloseA || next == Phase::Rst {
            rng.exp(20.0 * MS as f64) as u64
        } else {
            0
        };
        (len, Some(self.gap(rng, client_next) + extra))
    }

    fn close_phase(&self) -> Phase {
        let Kind::Tcp { ending, .. } = self.spec.kind else {
            return Phase::Done;
        };
        match ending {
            Ending::ClientFin | Ending::ServerFin => Phase::CloseA,
            Ending::ClientRst | Ending::ServerRst => Phase::Rst,
            Ending::Open => Phase::Done,
        }
    }

    fn start_msg(&mut self, rng: &mut Rng, client: bool) {
        let Kind::Tcp {
            app, sizes, host, ..
        } = self.spec.kind
        else {
            return;
        };
        let mss = self.mss();
        let mean = if client {
            sizes.req_mean
        } else {
            sizes.resp_mean
        };
        let raw = if !sizes.random {
            mean
        } else if client {
            rng.exp(f64::from(mean)) as u32
        } else {
            heavy(rng, mean)
        };
        let first = self.exchange == 0;
        let total = match (app, client) {
            (App::Http, true) => raw.clamp(wire::http_request_min(host) as u32 + 8, mss),
            (App::Http, false) => normalize(raw, mss, wire::HTTP_RESPONSE_MIN as u32),
            (App::Tls, true) if first => raw.clamp(wire::TLS_HELLO_MIN as u32, 517),
            (App::Tls, false) if first => normalize(raw, mss, 1200),
            (App::Pgsql, true) => normalize(raw, mss, 60),
            (App::Pgsql, false) => normalize(
                raw,
                mss,
                (wire::PGSQL_TAIL + wire::PGSQL_SEG_MIN) as u32 + 20,
            ),
            _ => normalize(raw, mss, MIN_SEG),
        };
        self.msg_client = client;
        self.msg_total = total;
        self.msg_sent = 0;
        self.unacked = 0;
    }

    fn step_xfer(
        &mut self,
        now: u64,
        rng: &mut Rng,
        buf: &mut [u8],
        pat: &[u8],
    ) -> (usize, Option<u64>) {
        let Kind::Tcp { app, host, sni, .. } = self.spec.kind else {
            return (0, None);
        };
        let sender = self.msg_client;
        let receiver_acks = self.unacked >= 2;
        if receiver_acks || self.msg_sent >= self.msg_total {
            // Receiver's pure ACK: every second full segment, and once at the end of a message.
            let l4 = self.tcp(now, !sender, flags::ACK, false);
            let h = self.hdr(!sender, l4);
            let len = wire::build(buf, &h, 0, |_| {});
            self.unacked = 0;
            if self.msg_sent < self.msg_total {
                return (len, Some(self.gap(rng, sender)));
            }
            return self.after_msg(rng, len);
        }
        let mss = self.mss();
        let off = self.msg_sent;
        let seg = (self.msg_total - off).min(mss);
        let last = off + seg >= self.msg_total;
        let first_msg = self.exchange == 0;
        let total = self.msg_total as usize;
        let fl = flags::ACK | if last { flags::PSH } else { 0 };
        let l4 = self.tcp(now, sender, fl, false);
        let h = self.hdr(sender, l4);
        let mut rand32 = [0u8; 32];
        if app == App::Tls && first_msg && off == 0 {
            rng.fill(&mut rand32);
        }
        let item = self.dns_id as u32 * 7 + u32::from(self.exchange);
        let len = wire::build(buf, &h, seg as usize, |p| match (app, sender) {
            (App::Http, true) => wire::http_request(p, host, item),
            (App::Http, false) => {
                let head = if off == 0 {
                    wire::http_response_head(p, total)
                } else {
                    0
                };
                wire::copy_pattern(&mut p[head..], pat);
            }
            (App::Tls, true) if first_msg => {
                wire::tls_client_hello(p, sni, &rand32);
            }
            (App::Tls, false) if first_msg && off == 0 => {
                wire::tls_server_first(p, &rand32, pat);
            }
            (App::Tls, _) => wire::tls_app_data(p, pat),
            (App::Pgsql, true) => wire::pgsql_query(p),
            (App::Pgsql, false) => wire::pgsql_response(p, last, pat),
            (App::Raw, _) => wire::copy_pattern(p, pat),
        });
        if sender {
            self.cseq = self.cseq.wrapping_add(seg);
        } else {
            self.sseq = self.sseq.wrapping_add(seg);
        }
        self.msg_sent += seg;
        self.unacked += 1;
        if !last {
            let next_client = if self.unacked >= 2 { !sender } else { sender };
            return (len, Some(self.gap(rng, next_client)));
        }
        // Message complete. Short one-segment messages are answered directly (the reply carries
        // the ACK); multi-segment ones get a pure ACK first.
        if self.unacked >= 2 || (!sender && rng.chance(0.5)) {
            let g = self.gap(rng, !sender);
            return (len, Some(g));
        }
        self.after_msg(rng, len)
    }

    fn after_msg(&mut self, rng: &mut Rng, len: usize) -> (usize, Option<u64>) {
        let Kind::Tcp { app, sizes, .. } = self.spec.kind else {
            return (len, None);
        };
        self.unacked = 0;
        if self.msg_client {
            // The server thinks, then answers.
            let think = match app {
                App::Pgsql => rng.range(50 * US, 400 * US),
                _ => rng.exp(2.0 * MS as f64) as u64,
            };
            self.start_msg(rng, false);
            let g = self.gap(rng, false) + think;
            return (len, Some(g));
        }
        self.exchanges_left = self.exchanges_left.saturating_sub(1);
        self.exchange += 1;
        let think = if sizes.random {
            rng.exp(40.0 * MS as f64) as u64
        } else {
            30 * MS
        };
        if self.exchanges_left > 0 {
            self.start_msg(rng, true);
            self.phase = Phase::Xfer;
            let g = self.gap(rng, true) + think;
            return (len, Some(g));
        }
        let next = self.close_phase();
        let (_, d) = self.finish_step(rng, len, next);
        (len, d.map(|d| d + think / 4))
    }

    fn step_udp(
        &mut self,
        now: u64,
        rng: &mut Rng,
        buf: &mut [u8],
        pat: &[u8],
        app: UdpApp,
    ) -> (usize, Option<u64>) {
        let mut scratch = [0u8; 512];
        match (app, self.phase) {
            (
                UdpApp::Dns {
                    name,
                    both,
                    answers,
                    nx,
                },
                Phase::Query(i),
            ) => {
                let qtype = if i == 0 { 1 } else { 28 };
                let n = wire::dns_message(
                    &mut scratch,
                    self.dns_id.wrapping_add(u16::from(i)),
                    name,
                    qtype,
                    None,
                );
                let h = self.hdr(true, L4::Udp);
                let len = wire::build(buf, &h, n, |p| p.copy_from_slice(&scratch[..n]));
                self.last_client = true;
                if both && i == 0 {
                    // glibc sends A and AAAA back to back from the same socket.
                    self.phase = Phase::Query(1);
                    return (len, Some(rng.range(20 * US, 120 * US)));
                }
                if !answers {
                    return (len, None);
                }
                self.phase = Phase::Answer(0);
                let _ = nx;
                (len, Some(self.gap(rng, false)))
            }
            (UdpApp::Dns { name, both, nx, .. }, Phase::Answer(i)) => {
                let qtype = if i == 0 { 1 } else { 28 };
                let a4 = wire::dns_answer_v4(name);
                let a6 = wire::dns_answer_v6(name);
                let rd: &[u8] = if qtype == 1 { &a4 } else { &a6 };
                let answer = if nx { None } else { Some(rd) };
                let n = wire::dns_message(
                    &mut scratch,
                    self.dns_id.wrapping_add(u16::from(i)),
                    name,
                    qtype,
                    Some(answer),
                );
                let h = self.hdr(false, L4::Udp);
                let len = wire::build(buf, &h, n, |p| p.copy_from_slice(&scratch[..n]));
                self.last_client = false;
                if both && i == 0 {
                    self.phase = Phase::Answer(1);
                    return (len, Some(rng.range(50 * US, 3 * MS)));
                }
                (len, None)
            }
            (UdpApp::Ntp, Phase::Query(_)) => {
                let h = self.hdr(true, L4::Udp);
                let stamp = now << 2;
                let len = wire::build(buf, &h, 48, |p| wire::ntp(p, false, stamp));
                self.last_client = true;
                self.phase = Phase::Answer(0);
                (len, Some(self.gap(rng, false)))
            }
            (UdpApp::Ntp, _) => {
                let h = self.hdr(false, L4::Udp);
                let stamp = now << 2;
                (
                    wire::build(buf, &h, 48, |p| wire::ntp(p, true, stamp)),
                    None,
                )
            }
            (UdpApp::Syslog { messages }, Phase::Query(i)) => {
                let h = self.hdr(true, L4::Udp);
                let n = rng.range(90, 400) as usize;
                let len = wire::build(buf, &h, n, |p| {
                    let head = b"<134>1 2024-06-01T12:00:00Z web-1 app - - - request served ";
                    let k = head.len().min(p.len());
                    p[..k].copy_from_slice(&head[..k]);
                    for (j, b) in p[k..].iter_mut().enumerate() {
                        // Printable filler keeps the message readable text.
                        *b = b'a' + (pat.get(j).copied().unwrap_or(0) % 26);
                    }
                });
                if i + 1 < messages {
                    self.phase = Phase::Query(i + 1);
                    return (len, Some(rng.exp(300.0 * MS as f64) as u64 + US));
                }
                (len, None)
            }
            _ => (0, None),
        }
    }

    fn step_echo(
        &mut self,
        rng: &mut Rng,
        buf: &mut [u8],
        pat: &[u8],
        count: u16,
        reply: bool,
        interval: u64,
    ) -> (usize, Option<u64>) {
        let id = self.dns_id;
        match self.phase {
            Phase::Ping(i) => {
                let h = self.hdr(
                    true,
                    L4::Echo {
                        request: true,
                        id,
                        seq: i + 1,
                    },
                );
                let len = wire::build(buf, &h, 56, |p| wire::copy_pattern(p, pat));
                self.last_client = true;
                if reply {
                    self.phase = Phase::Pong(i);
                    return (len, Some(self.gap(rng, false)));
                }
                if i + 1 < count {
                    self.phase = Phase::Ping(i + 1);
                    return (len, Some(interval));
                }
                (len, None)
            }
            Phase::Pong(i) => {
                let h = self.hdr(
                    false,
                    L4::Echo {
                        request: false,
                        id,
                        seq: i + 1,
                    },
                );
                let len = wire::build(buf, &h, 56, |p| wire::copy_pattern(p, pat));
                if i + 1 < count {
                    self.phase = Phase::Ping(i + 1);
                    let back = self.spec.rtt;
                    return (len, Some(interval.saturating_sub(back).max(US)));
                }
                (len, None)
            }
            _ => (0, None),
        }
    }
}
