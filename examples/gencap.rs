//! `gencap`: a reproducible synthetic capture generator for tests, the demo and benchmarks.
//!
//! `cargo run --release --example gencap -- --profile mixed|small|demo --packets N --out FILE [--seed S]`
//!
//! Owns the traffic profiles (who talks to whom, with what mix); the flow engine lives in
//! `gencap/sim.rs`, frame building in `gencap/wire.rs`, the pcap writer in `gencap/pcap.rs`.
//! Guarantees: the same profile, packet count and seed give a byte-identical file on any machine;
//! all checksums are correct; output is classic pcap (µs, little-endian, LINKTYPE_ETHERNET).

#[path = "gencap/pcap.rs"]
mod pcap;
#[path = "gencap/rng.rs"]
mod rng;
#[path = "gencap/sim.rs"]
mod sim;
#[path = "gencap/wire.rs"]
mod wire;

use anyhow::{bail, Context, Result};
use clap::{Parser, ValueEnum};
use sim::{App, Ending, Ep, FlowSpec, Kind, Sim, Sizes, SynOutcome, UdpApp, MS, SEC, US};
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Instant;
use wire::{docker_mac, Addr};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Profile {
    /// A busy container host: ~10 packets per flow, mean frame ~400 B, ~5% IPv6, ~8% VLAN.
    Mixed,
    /// Minimum-size (60-byte) frames over very many short TCP flows (SYN/RST scans and floods).
    Small,
    /// A small hand-written scenario shipped as pcaps/demo-container-host.pcap (ignores --packets).
    Demo,
}

#[derive(Parser, Debug)]
#[command(about = "Generate a reproducible synthetic container-host capture (classic pcap)")]
struct Args {
    #[arg(long, value_enum)]
    profile: Profile,
    /// Number of packets to write (mixed, small).
    #[arg(long, default_value_t = 2_000_000)]
    packets: u64,
    #[arg(long)]
    out: std::path::PathBuf,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Average packet rate in packet time (sets how fast timestamps advance); profile default if 0.
    #[arg(long, default_value_t = 0)]
    pps: u64,
}

/// 2024-06-01T12:00:00Z: a fixed epoch so files are reproducible.
const EPOCH_NS: u64 = 1_717_243_200 * SEC;

const GW17_MAC: [u8; 6] = [0x02, 0x42, 0x5e, 0x1a, 0x00, 0x01];
const GW18_MAC: [u8; 6] = [0x02, 0x42, 0x5e, 0x1a, 0x00, 0x02];

const DNS_NAMES: &[&str] = &[
    "api.example.com",
    "registry-1.docker.io",
    "auth.docker.io",
    "production.cloudflare.docker.com",
    "github.com",
    "objects.githubusercontent.com",
    "pypi.org",
    "files.pythonhosted.org",
    "deb.debian.org",
    "collector.example.net",
    "telemetry.example.org",
    "s3.eu-west-1.amazonaws.com",
    "postgres",
    "redis.internal.example",
    "time.example.net",
    "cdn.example.com",
];
const SNIS: &[&str] = &[
    "api.example.com",
    "cdn.example.com",
    "github.com",
    "pypi.org",
    "s3.eu-west-1.amazonaws.com",
    "telemetry.example.org",
];
const HOSTS: &[&str] = &[
    "api.example.com",
    "cdn.example.com",
    "shop.example.org",
    "deb.debian.org",
];

fn v4(a: u8, b: u8, c: u8, d: u8) -> Addr {
    Addr::V4(Ipv4Addr::new(a, b, c, d))
}

fn v6(segs: [u16; 8]) -> Addr {
    Addr::V6(Ipv6Addr::new(
        segs[0], segs[1], segs[2], segs[3], segs[4], segs[5], segs[6], segs[7],
    ))
}

fn container(ip: Addr, port: u16) -> Ep {
    Ep {
        ip,
        mac: docker_mac(ip),
        port,
        far: false,
        ttl: 64,
    }
}

/// An external peer as seen on a bridge: its frames carry the bridge gateway's MAC.
fn external(ip: Addr, port: u16, gw: [u8; 6], ttl: u8) -> Ep {
    Ep {
        ip,
        mac: gw,
        port,
        far: true,
        ttl,
    }
}

fn gw_for(ip: Addr) -> [u8; 6] {
    match ip {
        Addr::V4(a) if a.octets()[1] == 17 => GW17_MAC,
        _ => GW18_MAC,
    }
}

/// Ephemeral source ports per client address: sequential with small random steps (as Linux's
/// port selection looks from outside), so 5-tuples do not collide within a capture.
struct Ports {
    next: HashMap<Addr, u16>,
}

impl Ports {
    fn new() -> Self {
        Ports {
            next: HashMap::new(),
        }
    }

    fn take(&mut self, rng: &mut rng::Rng, ip: Addr) -> u16 {
        let p = self
            .next
            .entry(ip)
            .or_insert_with(|| rng.range(32768, 60999) as u16);
        let port = *p;
        let step = rng.range(1, 7) as u16;
        *p = if port > 60999 - step {
            32768 + step
        } else {
            port + step
        };
        port
    }
}

struct World {
    c17: Vec<Addr>,
    c18: Vec<Addr>,
    c6: Vec<Addr>,
    popular4: Vec<Addr>,
    popular6: Vec<Addr>,
    ports: Ports,
}

impl World {
    fn new() -> Self {
        World {
            c17: (2..=121).map(|d| v4(172, 17, 0, d)).collect(),
            c18: (2..=81).map(|d| v4(172, 18, 0, d)).collect(),
            c6: (2..=0x31)
                .map(|d| v6([0xfd00, 0xdb8, 0, 0, 0, 0, 0, d]))
                .collect(),
            popular4: (0..24)
                .map(|i| {
                    if i % 2 == 0 {
                        v4(198, 51, 100, 10 + i)
                    } else {
                        v4(203, 0, 113, 10 + i)
                    }
                })
                .collect(),
            popular6: (1..=6)
                .map(|i| v6([0x2001, 0xdb8, i, 0, 0, 0, 0, 0x10]))
                .collect(),
            ports: Ports::new(),
        }
    }

    fn pick(r: &mut rng::Rng, v: &[Addr]) -> Addr {
        v[r.below(v.len() as u64) as usize]
    }

    fn any_container(&self, r: &mut rng::Rng, six: bool) -> Addr {
        if six {
            Self::pick(r, &self.c6)
        } else if r.chance(0.6) {
            Self::pick(r, &self.c17)
        } else {
            Self::pick(r, &self.c18)
        }
    }

    fn ext_server(&self, r: &mut rng::Rng, six: bool) -> Addr {
        if r.chance(0.7) {
            return Self::pick(r, if six { &self.popular6 } else { &self.popular4 });
        }
        self.ext_random(r, six)
    }

    fn ext_random(&self, r: &mut rng::Rng, six: bool) -> Addr {
        if six {
            let x = r.next_u64();
            v6([
                0x2001,
                0xdb8,
                (x >> 48) as u16,
                0,
                0,
                0,
                (x >> 16) as u16,
                x as u16 | 1,
            ])
        } else if r.chance(0.5) {
            v4(198, 51, 100, r.range(1, 254) as u8)
        } else {
            v4(203, 0, 113, r.range(1, 254) as u8)
        }
    }

    fn resolver(six: bool) -> Addr {
        if six {
            v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x53])
        } else {
            v4(198, 51, 100, 53)
        }
    }
}

fn ext_ttl(r: &mut rng::Rng) -> u8 {
    r.range(44, 58) as u8
}

/// One new flow of the `mixed` profile.
fn mixed_flow(r: &mut rng::Rng, w: &mut World) -> FlowSpec {
    let six = r.chance(0.05);
    let vlan = if r.chance(0.08) {
        [100u16, 200, 300][r.below(3) as usize]
    } else {
        0
    };
    let far_rtt = r.range(5, 90) * MS;
    let lan_rtt = r.range(40, 250) * US;
    match r.weighted(&[42, 5, 38, 8, 7]) {
        0 => {
            let ending = [
                Ending::ClientFin,
                Ending::ServerFin,
                Ending::ClientRst,
                Ending::ServerRst,
                Ending::Open,
            ][r.weighted(&[70, 15, 7, 5, 3])];
            let syn = [
                SynOutcome::Accept,
                SynOutcome::Refused,
                SynOutcome::Silent(1),
            ][r.weighted(&[97, 2, 1])];
            let exchanges = 1 + r.exp(1.5) as u16;
            let tls_sizes = Sizes {
                req_mean: 400,
                resp_mean: 3000,
                random: true,
            };
            let http_sizes = Sizes {
                req_mean: 350,
                resp_mean: 3000,
                random: true,
            };
            let sni = SNIS[r.below(SNIS.len() as u64) as usize];
            let host = HOSTS[r.below(HOSTS.len() as u64) as usize];
            let (cli, srv, rtt, app, sizes, exchanges) = match r.weighted(&[50, 20, 30]) {
                0 => {
                    let c = w.any_container(r, six);
                    let s = w.ext_server(r, six);
                    let tls = r.chance(0.65);
                    let port = if tls { 443 } else { 80 };
                    let cp = w.ports.take(r, c);
                    (
                        container(c, cp),
                        external(s, port, gw_for(c), ext_ttl(r)),
                        far_rtt,
                        if tls { App::Tls } else { App::Http },
                        if tls { tls_sizes } else { http_sizes },
                        exchanges,
                    )
                }
                1 => {
                    let c = if six {
                        World::pick(r, &w.c6[..8])
                    } else {
                        World::pick(r, &w.c17[..10])
                    };
                    let e = w.ext_random(r, six);
                    let (port, tls) =
                        [(80, false), (443, true), (8080, false)][r.weighted(&[40, 45, 15])];
                    let ep = w.ports.take(r, e);
                    (
                        external(e, ep, gw_for(c), ext_ttl(r)),
                        container(c, port),
                        far_rtt + 10 * MS,
                        if tls { App::Tls } else { App::Http },
                        if tls { tls_sizes } else { http_sizes },
                        exchanges,
                    )
                }
                _ => {
                    // Container to container on the same bridge: an app talking to its database
                    // or to an internal HTTP service.
                    let (pool, servers): (&[Addr], &[Addr]) = if six {
                        (&w.c6[8..], &w.c6[..4])
                    } else {
                        (&w.c18[10..], &w.c18[..10])
                    };
                    let c = World::pick(r, pool);
                    let s = World::pick(r, servers);
                    let pg = r.chance(0.5);
                    let cp = w.ports.take(r, c);
                    if pg {
                        (
                            container(c, cp),
                            container(s, 5432),
                            lan_rtt,
                            App::Pgsql,
                            Sizes {
                                req_mean: 150,
                                resp_mean: 700,
                                random: true,
                            },
                            1 + r.exp(3.0) as u16,
                        )
                    } else {
                        (
                            container(c, cp),
                            container(s, 8080),
                            lan_rtt,
                            App::Http,
                            http_sizes,
                            exchanges,
                        )
                    }
                }
            };
            FlowSpec {
                cli,
                srv,
                vlan,
                rtt,
                kind: Kind::Tcp {
                    app,
                    syn,
                    exchanges,
                    ending,
                    sizes,
                    bare: false,
                    sni,
                    host,
                },
            }
        }
        1 => {
            // Probes: scanners against published ports, or containers hitting closed ports.
            let syn = [
                SynOutcome::Refused,
                SynOutcome::Silent(0),
                SynOutcome::ScanRst,
            ][r.weighted(&[55, 35, 10])];
            let port =
                [22u16, 23, 25, 445, 3306, 3389, 5900, 6379, 9200, 27017][r.below(10) as usize];
            let (cli, srv) = if r.chance(0.7) {
                let c = w.any_container(r, six);
                let s = if six {
                    w.ext_random(r, true)
                } else {
                    v4(203, 0, 113, r.range(200, 209) as u8)
                };
                let sp = w.ports.take(r, s);
                (external(s, sp, gw_for(c), ext_ttl(r)), container(c, port))
            } else {
                let c = w.any_container(r, six);
                let s = w.ext_random(r, six);
                let cp = w.ports.take(r, c);
                (container(c, cp), external(s, port, gw_for(c), ext_ttl(r)))
            };
            FlowSpec {
                cli,
                srv,
                vlan,
                rtt: far_rtt,
                kind: Kind::Tcp {
                    app: App::Raw,
                    syn,
                    exchanges: 0,
                    ending: Ending::ClientRst,
                    sizes: Sizes {
                        req_mean: 0,
                        resp_mean: 0,
                        random: false,
                    },
                    bare: false,
                    sni: "",
                    host: "",
                },
            }
        }
        2 => {
            let c = w.any_container(r, six);
            let cp = w.ports.take(r, c);
            let name = DNS_NAMES[r.below(DNS_NAMES.len() as u64) as usize];
            FlowSpec {
                cli: container(c, cp),
                srv: external(World::resolver(six), 53, gw_for(c), ext_ttl(r)),
                vlan,
                rtt: r.range(1, 20) * MS,
                kind: Kind::Udp(UdpApp::Dns {
                    name,
                    both: r.chance(0.5),
                    answers: r.chance(0.97),
                    nx: r.chance(0.05),
                }),
            }
        }
        3 => {
            let c = w.any_container(r, six);
            let cp = w.ports.take(r, c);
            let ntp = r.chance(0.6);
            let (port, app, s) = if ntp {
                (
                    123,
                    UdpApp::Ntp,
                    if six {
                        v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x123])
                    } else {
                        v4(198, 51, 100, 123)
                    },
                )
            } else {
                let m = r.range(1, 5) as u8;
                (
                    514,
                    UdpApp::Syslog { messages: m },
                    if six {
                        v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x514])
                    } else {
                        v4(198, 51, 100, 20)
                    },
                )
            };
            FlowSpec {
                cli: container(c, cp),
                srv: external(s, port, gw_for(c), ext_ttl(r)),
                vlan,
                rtt: far_rtt,
                kind: Kind::Udp(app),
            }
        }
        _ => {
            let c = w.any_container(r, six);
            let s = w.ext_server(r, six);
            FlowSpec {
                cli: container(c, 0),
                srv: external(s, 0, gw_for(c), ext_ttl(r)),
                vlan,
                rtt: far_rtt,
                kind: Kind::Echo {
                    count: r.range(1, 4) as u16,
                    reply: r.chance(0.95),
                    interval: SEC,
                },
            }
        }
    }
}

/// One new flow of the `small` profile: every frame is exactly 60 bytes.
fn small_flow(r: &mut rng::Rng, w: &mut World) -> FlowSpec {
    let syn = [
        SynOutcome::Refused,
        SynOutcome::Silent(0),
        SynOutcome::ScanRst,
        SynOutcome::Accept,
    ][r.weighted(&[45, 30, 20, 5])];
    let port = [80u16, 443, 22, 8080, 3306, 5432, 6379, 9200][r.below(8) as usize];
    let c = w.any_container(r, false);
    let (cli, srv) = if r.chance(0.8) {
        let e = w.ext_random(r, false);
        let ep = w.ports.take(r, e);
        (external(e, ep, gw_for(c), ext_ttl(r)), container(c, port))
    } else {
        let e = w.ext_random(r, false);
        let cp = w.ports.take(r, c);
        (container(c, cp), external(e, port, gw_for(c), ext_ttl(r)))
    };
    FlowSpec {
        cli,
        srv,
        vlan: 0,
        rtt: r.range(1, 30) * MS,
        kind: Kind::Tcp {
            app: App::Raw,
            syn,
            exchanges: 0,
            ending: Ending::ClientRst,
            sizes: Sizes {
                req_mean: 0,
                resp_mean: 0,
                random: false,
            },
            bare: true,
            sni: "",
            host: "",
        },
    }
}

/// Runs a random-arrival profile: flows start as a Poisson process and overlap in time.
fn run_random<W: Write>(
    sim: &mut Sim<W>,
    packets: u64,
    pps: u64,
    pkts_per_flow: f64,
    mut new_flow: impl FnMut(&mut rng::Rng, &mut World) -> FlowSpec,
) -> Result<()> {
    let mut world = World::new();
    let mean_gap = SEC as f64 * pkts_per_flow / pps as f64;
    let mut next_arrival = EPOCH_NS;
    let mut peak_open = 0;
    while sim.stats.packets < packets {
        peak_open = peak_open.max(sim.open_flows());
        let due = sim.next_due();
        if due.is_none_or(|d| next_arrival <= d) {
            let spec = new_flow(&mut sim.rng, &mut world);
            sim.spawn(next_arrival, spec);
            next_arrival += sim.rng.exp(mean_gap) as u64 + 1;
        } else {
            sim.step()?;
        }
    }
    println!("gencap: peak concurrently open flows={peak_open}");
    Ok(())
}

fn tcp(
    app: App,
    exchanges: u16,
    req: u32,
    resp: u32,
    ending: Ending,
    sni: &'static str,
    host: &'static str,
) -> Kind {
    Kind::Tcp {
        app,
        syn: SynOutcome::Accept,
        exchanges,
        ending,
        sizes: Sizes {
            req_mean: req,
            resp_mean: resp,
            random: false,
        },
        bare: false,
        sni,
        host,
    }
}

fn dns(name: &'static str, both: bool) -> Kind {
    Kind::Udp(UdpApp::Dns {
        name,
        both,
        answers: true,
        nx: false,
    })
}

/// The hand-written demo scenario; see pcaps/README.md for the story it tells.
fn demo_flows() -> Vec<(u64, FlowSpec)> {
    let app = v4(172, 18, 0, 3);
    let pg = v4(172, 18, 0, 4);
    let es1 = v4(172, 18, 0, 5);
    let es2 = v4(172, 18, 0, 6);
    let web = v4(172, 17, 0, 2);
    let metrics = v4(172, 17, 0, 3);
    let app6 = v6([0xfd00, 0xdb8, 0, 0, 0, 0, 0, 3]);
    let resolver = v4(198, 51, 100, 53);
    let resolver6 = v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x53]);
    let api = Addr::V4(Ipv4Addr::from(wire::dns_answer_v4("api.example.com")));
    let collector = Addr::V4(Ipv4Addr::from(wire::dns_answer_v4("collector.example.net")));
    let cdn6 = Addr::V6(Ipv6Addr::from(wire::dns_answer_v6("cdn.example.com")));
    let ms = |x: u64| EPOCH_NS + x * MS;
    let f = |cli: Ep, srv: Ep, vlan: u16, rtt: u64, kind: Kind| FlowSpec {
        cli,
        srv,
        vlan,
        rtt,
        kind,
    };
    let x = |ip: Addr, port: u16, ttl: u8| external(ip, port, gw_for(ip_for_gw(ip)), ttl);
    vec![
        (
            ms(0),
            f(
                container(app, 41002),
                x(resolver, 53, 57),
                0,
                8 * MS,
                dns("api.example.com", true),
            ),
        ),
        (
            ms(20),
            f(
                container(app, 51320),
                x(api, 80, 52),
                0,
                24 * MS,
                tcp(
                    App::Http,
                    3,
                    320,
                    5200,
                    Ending::ClientFin,
                    "",
                    "api.example.com",
                ),
            ),
        ),
        (
            ms(40),
            f(
                container(app, 51322),
                container(pg, 5432),
                0,
                180 * US,
                tcp(App::Pgsql, 8, 120, 900, Ending::ClientFin, "", ""),
            ),
        ),
        (
            ms(90),
            f(
                container(es1, 52010),
                container(es2, 9300),
                0,
                150 * US,
                tcp(App::Tls, 6, 700, 1500, Ending::Open, "es02", ""),
            ),
        ),
        (
            ms(300),
            f(
                container(es1, 39811),
                x(resolver, 53, 57),
                0,
                8 * MS,
                dns("collector.example.net", false),
            ),
        ),
        (
            ms(330),
            f(
                container(es1, 52110),
                x(collector, 443, 49),
                0,
                45 * MS,
                tcp(
                    App::Tls,
                    4,
                    60_000,
                    300,
                    Ending::ClientFin,
                    "collector.example.net",
                    "",
                ),
            ),
        ),
        (
            ms(500),
            f(
                x(v4(198, 51, 100, 23), 60312, 51),
                container(web, 80),
                0,
                60 * MS,
                tcp(
                    App::Http,
                    2,
                    400,
                    12_000,
                    Ending::ClientFin,
                    "",
                    "shop.example.org",
                ),
            ),
        ),
        (
            ms(600),
            f(
                container(app, 0),
                x(v4(203, 0, 113, 1), 0, 55),
                0,
                20 * MS,
                Kind::Echo {
                    count: 4,
                    reply: true,
                    interval: SEC,
                },
            ),
        ),
        (
            ms(700),
            f(
                container(app6, 45001),
                x(resolver6, 53, 57),
                0,
                9 * MS,
                Kind::Udp(UdpApp::Dns {
                    name: "cdn.example.com",
                    both: true,
                    answers: true,
                    nx: false,
                }),
            ),
        ),
        (
            ms(720),
            f(
                container(app6, 45002),
                x(cdn6, 443, 54),
                0,
                30 * MS,
                tcp(
                    App::Tls,
                    2,
                    500,
                    20_000,
                    Ending::ClientFin,
                    "cdn.example.com",
                    "",
                ),
            ),
        ),
        (
            ms(800),
            f(
                container(metrics, 40100),
                x(v4(198, 51, 100, 30), 8080, 60),
                100,
                12 * MS,
                tcp(
                    App::Http,
                    2,
                    250,
                    1800,
                    Ending::ServerFin,
                    "",
                    "metrics.example.net",
                ),
            ),
        ),
        (
            ms(1000),
            f(
                x(v4(203, 0, 113, 99), 44123, 47),
                container(es1, 9200),
                0,
                70 * MS,
                Kind::Tcp {
                    app: App::Raw,
                    syn: SynOutcome::Refused,
                    exchanges: 0,
                    ending: Ending::ClientRst,
                    sizes: Sizes {
                        req_mean: 0,
                        resp_mean: 0,
                        random: false,
                    },
                    bare: true,
                    sni: "",
                    host: "",
                },
            ),
        ),
        (
            ms(1010),
            f(
                x(v4(203, 0, 113, 99), 44124, 47),
                container(web, 22),
                0,
                70 * MS,
                Kind::Tcp {
                    app: App::Raw,
                    syn: SynOutcome::Silent(1),
                    exchanges: 0,
                    ending: Ending::ClientRst,
                    sizes: Sizes {
                        req_mean: 0,
                        resp_mean: 0,
                        random: false,
                    },
                    bare: true,
                    sni: "",
                    host: "",
                },
            ),
        ),
        (
            ms(1200),
            f(
                container(web, 40200),
                x(v4(198, 51, 100, 123), 123, 58),
                0,
                15 * MS,
                Kind::Udp(UdpApp::Ntp),
            ),
        ),
        (
            ms(1500),
            f(
                container(app, 51330),
                container(pg, 5432),
                0,
                180 * US,
                tcp(App::Pgsql, 3, 200, 4000, Ending::ClientFin, "", ""),
            ),
        ),
    ]
}

/// External peers of the demo are reached through the bridge of the container they talk to.
fn ip_for_gw(ip: Addr) -> Addr {
    match ip {
        Addr::V4(a) if a.octets()[0] == 198 && a.octets()[3] == 123 => v4(172, 17, 0, 2),
        Addr::V4(a) if a.octets()[0] == 198 && a.octets()[3] == 23 => v4(172, 17, 0, 2),
        Addr::V4(a) if a.octets()[0] == 198 && a.octets()[3] == 30 => v4(172, 17, 0, 3),
        _ => v4(172, 18, 0, 1),
    }
}

/// Writes one capture of `profile` to `out`; `pps == 0` picks the profile's packet rate.
fn generate<W: Write>(
    profile: Profile,
    packets: u64,
    seed: u64,
    pps: u64,
    out: W,
) -> Result<sim::Stats> {
    let mut sim = Sim::new(out, seed)?;
    match profile {
        Profile::Mixed => {
            let pps = if pps == 0 { 100_000 } else { pps };
            run_random(&mut sim, packets, pps, 9.5, mixed_flow)?;
        }
        Profile::Small => {
            let pps = if pps == 0 { 1_000_000 } else { pps };
            run_random(&mut sim, packets, pps, 2.0, small_flow)?;
        }
        Profile::Demo => {
            for (at, spec) in demo_flows() {
                sim.spawn(at, spec);
            }
            while sim.step()? {}
        }
    }
    Ok(sim.finish()?)
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.profile != Profile::Demo && args.packets == 0 {
        bail!("--packets must be at least 1");
    }
    let file =
        File::create(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let started = Instant::now();
    let s = generate(
        args.profile,
        args.packets,
        args.seed,
        args.pps,
        BufWriter::with_capacity(1 << 20, file),
    )?;
    let secs = started.elapsed().as_secs_f64();
    let pct = |x: u64| {
        if s.packets == 0 {
            0.0
        } else {
            100.0 * x as f64 / s.packets as f64
        }
    };
    println!(
        "gencap: profile={:?} seed={} packets={} bytes={} flows={} mean_frame={:.1} v6_pct={:.2} vlan_pct={:.2} span_s={:.3} dropped={} gen_s={:.2}",
        args.profile,
        args.seed,
        s.packets,
        s.bytes,
        s.flows,
        if s.packets == 0 { 0.0 } else { s.bytes as f64 / s.packets as f64 },
        pct(s.v6_packets),
        pct(s.vlan_packets),
        (s.last_ns - s.first_ns) as f64 / SEC as f64,
        s.dropped,
        secs,
    );
    if s.dropped > 0 {
        bail!("{} frames could not be built (generator bug)", s.dropped);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};
    use std::collections::HashSet;

    /// Per-file figures computed independently of the generator's own counters, by parsing the
    /// pcap bytes back with etherparse.
    #[derive(Debug, Default)]
    struct Seen {
        packets: u64,
        bytes: u64,
        v6: u64,
        vlan: u64,
        icmp: u64,
        flows: HashSet<(Vec<u8>, u16, Vec<u8>, u16, u8)>,
        syn_first: bool,
        frame_sizes: HashSet<usize>,
    }

    fn parse(pcap: &[u8]) -> Seen {
        let mut seen = Seen {
            syn_first: true,
            ..Seen::default()
        };
        let mut at = 24;
        let mut last_ts = 0u64;
        let mut first_tcp_of: HashSet<(Vec<u8>, u16, Vec<u8>, u16, u8)> = HashSet::new();
        while at + 16 <= pcap.len() {
            let rd = |o: usize| u32::from_le_bytes(pcap[at + o..at + o + 4].try_into().unwrap());
            let ts = u64::from(rd(0)) * 1_000_000 + u64::from(rd(4));
            assert!(ts >= last_ts, "timestamps went backwards");
            last_ts = ts;
            let len = rd(8) as usize;
            assert_eq!(len, rd(12) as usize);
            let frame = &pcap[at + 16..at + 16 + len];
            at += 16 + len;
            seen.packets += 1;
            seen.bytes += len as u64;
            seen.frame_sizes.insert(len);
            let p = SlicedPacket::from_ethernet(frame).expect("frame parses");
            if !p.vlan_ids().is_empty() {
                seen.vlan += 1;
            }
            let (src, dst, proto) = match &p.net {
                Some(NetSlice::Ipv4(ip)) => (
                    ip.header().source().to_vec(),
                    ip.header().destination().to_vec(),
                    ip.header().protocol().0,
                ),
                Some(NetSlice::Ipv6(ip)) => {
                    seen.v6 += 1;
                    (
                        ip.header().source().to_vec(),
                        ip.header().destination().to_vec(),
                        ip.payload().ip_number.0,
                    )
                }
                _ => panic!("non-IP frame"),
            };
            let (sp, dp, syn_only) = match &p.transport {
                Some(TransportSlice::Tcp(t)) => {
                    (t.source_port(), t.destination_port(), t.syn() && !t.ack())
                }
                Some(TransportSlice::Udp(u)) => (u.source_port(), u.destination_port(), false),
                Some(TransportSlice::Icmpv4(i)) => {
                    seen.icmp += 1;
                    let id = u16::from_be_bytes([i.slice()[4], i.slice()[5]]);
                    (id, id, false)
                }
                Some(TransportSlice::Icmpv6(i)) => {
                    seen.icmp += 1;
                    let id = u16::from_be_bytes([i.slice()[4], i.slice()[5]]);
                    (id, id, false)
                }
                _ => panic!("unexpected transport"),
            };
            let key = if (src.clone(), sp) <= (dst.clone(), dp) {
                (src, sp, dst, dp, proto)
            } else {
                (dst, dp, src, sp, proto)
            };
            if proto == 6 && first_tcp_of.insert(key.clone()) && !syn_only {
                seen.syn_first = false;
            }
            seen.flows.insert(key);
        }
        assert_eq!(at, pcap.len(), "trailing bytes");
        seen
    }

    fn gen(profile: Profile, packets: u64, seed: u64) -> (Vec<u8>, sim::Stats) {
        let mut out = Vec::new();
        let stats = generate(profile, packets, seed, 0, &mut out).unwrap();
        (out, stats)
    }

    #[test]
    fn mixed_profile_has_the_intended_mix() {
        let (bytes, stats) = gen(Profile::Mixed, 100_000, 1);
        let s = parse(&bytes);
        assert_eq!(s.packets, 100_000);
        assert_eq!((stats.packets, stats.bytes), (s.packets, s.bytes));
        let mean = s.bytes as f64 / s.packets as f64;
        assert!((300.0..500.0).contains(&mean), "mean frame {mean}");
        let pct = |x: u64| 100.0 * x as f64 / s.packets as f64;
        assert!((3.0..7.0).contains(&pct(s.v6)), "v6 {}", pct(s.v6));
        assert!((6.0..10.0).contains(&pct(s.vlan)), "vlan {}", pct(s.vlan));
        assert!(s.icmp > 0);
        // ~10 packets per flow: at least 100k flows for 2M packets.
        assert!(
            s.flows.len() as u64 >= s.packets / 20,
            "flows {}",
            s.flows.len()
        );
        assert!(s.syn_first, "every TCP flow must start with a SYN");
        // Flows are distinct 5-tuples: the generator's count equals the independent one.
        assert_eq!(stats.flows, s.flows.len() as u64);
    }

    #[test]
    fn small_profile_is_all_minimum_frames_over_many_flows() {
        let (bytes, _) = gen(Profile::Small, 50_000, 2);
        let s = parse(&bytes);
        assert_eq!(s.frame_sizes, HashSet::from([60]));
        assert!(s.flows.len() >= 20_000, "flows {}", s.flows.len());
        assert!(s.syn_first);
    }

    #[test]
    fn same_seed_is_byte_identical_and_another_seed_differs() {
        let (a, _) = gen(Profile::Mixed, 5_000, 9);
        let (b, _) = gen(Profile::Mixed, 5_000, 9);
        let (c, _) = gen(Profile::Mixed, 5_000, 10);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn demo_is_small_and_contains_the_story() {
        let (bytes, stats) = gen(Profile::Demo, 0, 1);
        let s = parse(&bytes);
        assert!(s.packets <= 2_000 && bytes.len() < 1_000_000);
        assert!(s.v6 > 0 && s.vlan > 0 && s.icmp > 0);
        assert_eq!(stats.flows, 15);
        let es = vec![172, 18, 0, 5];
        let has = |a: &Vec<u8>, port: u16| {
            s.flows.iter().any(|(x, xp, y, yp, _)| {
                (x == &es && y == a && *yp == port) || (y == &es && x == a && *xp == port)
            })
        };
        let collector = wire::dns_answer_v4("collector.example.net").to_vec();
        assert!(has(&collector, 443), "ES → external :443 flow missing");
        assert!(
            has(&vec![172, 18, 0, 6], 9300),
            "ES node-to-node flow missing"
        );
    }

    #[test]
    fn shipped_demo_file_matches_the_generator() {
        let shipped = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/pcaps/demo-container-host.pcap"
        );
        let Ok(on_disk) = std::fs::read(shipped) else {
            assert!(std::env::var_os("CI").is_none(), "{shipped} missing");
            eprintln!("skip: {shipped} not found");
            return;
        };
        let (bytes, _) = gen(Profile::Demo, 0, 1);
        assert!(on_disk == bytes, "regenerate: cargo run --release --example gencap -- --profile demo --seed 1 --out pcaps/demo-container-host.pcap");
    }
}
