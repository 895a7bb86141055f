//! `policycaps`: writes one firing capture and one near-miss capture for every shipped rule.
//!
//! `cargo run --release --example policycaps [-- OUT_DIR]` (default `pcaps/policies`)
//!
//! Owns the scenarios behind `pcaps/policies/`: for each rule of
//! `signatures/container_network.yaml`, `<slug>.fire.pcap` (traffic that must raise that rule)
//! and `<slug>.miss.pcap` (the nearest traffic that must not), plus the one inventory
//! `containers.json` both are replayed with. `tests/policies.rs` states which alerts each file
//! must raise. Frames come from gencap's `wire.rs` and `pcap.rs`, so they share its guarantees:
//! correct checksums, classic pcap (µs, little-endian, Ethernet), documentation addresses only.
//! Guarantees: the output is byte-for-byte deterministic (no randomness, a fixed epoch); the test
//! `shipped_policy_captures_match_the_generator` fails when the committed files drift from it.

// The shared modules carry helpers only gencap's profiles use.
#[allow(dead_code)]
#[path = "gencap/pcap.rs"]
mod pcap;
#[allow(dead_code)]
#[path = "gencap/wire.rs"]
mod wire;

use pcap::PcapWriter;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use wire::{docker_mac, flags, Addr, Hdr, TcpOpts, L4};

const US: u64 = 1_000;
const MS: u64 = 1_000_000;
/// 2024-06-01T12:00:00Z, gencap's epoch: every capture starts here.
const EPOCH_NS: u64 = 1_717_243_200_000_000_000;
/// Half a round trip on the bridge.
const HALF_RTT: u64 = 200 * US;

const GW17_MAC: [u8; 6] = [0x02, 0x42, 0x5e, 0x1a, 0x00, 0x01];
const GW18_MAC: [u8; 6] = [0x02, 0x42, 0x5e, 0x1a, 0x00, 0x02];

/// The inventory every capture here is replayed with (`--containers`).
const INVENTORY: &str = r#"{
  "containers": [
    {"id": "3f9a1c2b7d4e", "name": "shop-app-1", "image": "registry.example.com/shop/app:1.4.2",
     "labels": {"com.docker.compose.project": "shop", "com.docker.compose.service": "app"},
     "ips": ["172.18.0.3", "fd00:db8::3"], "macs": ["02:42:ac:12:00:03"]},
    {"id": "b47e2a90c1d3", "name": "search-es01-1", "image": "docker.elastic.co/elasticsearch/elasticsearch:8.13.4",
     "labels": {"com.docker.compose.project": "search", "com.docker.compose.service": "es01"},
     "ips": ["172.18.0.5"], "macs": ["02:42:ac:12:00:05"]},
    {"id": "9d4b6e1f3a20", "name": "shop-redis-1", "image": "redis:7.2",
     "labels": {"com.docker.compose.project": "shop", "com.docker.compose.service": "redis"},
     "ips": ["172.18.0.7"], "macs": ["02:42:ac:12:00:07"]},
    {"id": "a3e5c7d9f1b2", "name": "shop-api-1", "image": "registry.example.com/shop/api:2.0.1",
     "labels": {"com.docker.compose.project": "shop", "com.docker.compose.service": "api"},
     "ips": ["172.18.0.10"], "macs": ["02:42:ac:12:00:0a"]},
    {"id": "c8f0a2b4d6e1", "name": "shop-db-1", "image": "postgres:16",
     "labels": {"com.docker.compose.project": "shop", "com.docker.compose.service": "db"},
     "ips": ["172.18.0.11"], "macs": ["02:42:ac:12:00:0b"]},
    {"id": "7b1d3f5a9c0e", "name": "ci-runner", "image": "gitlab/gitlab-runner:v17.0.0",
     "labels": {"bridgewatch.allow-runtime-api": "true"},
     "ips": ["172.17.0.5"], "macs": ["02:42:ac:11:00:05"]}
  ],
  "host_ips": ["172.17.0.1", "172.18.0.1"]
}
"#;

/// One address on the wire and the MAC its frames carry.
#[derive(Clone, Copy)]
struct Node {
    ip: Addr,
    mac: [u8; 6],
}

impl Node {
    fn at(self, port: u16) -> Ep {
        Ep { node: self, port }
    }
}

#[derive(Clone, Copy)]
struct Ep {
    node: Node,
    port: u16,
}

/// A container on a Docker bridge: Docker's 02:42:<IPv4> MAC.
fn container(a: [u8; 4]) -> Node {
    let ip = Addr::V4(Ipv4Addr::from(a));
    Node {
        ip,
        mac: docker_mac(ip),
    }
}

/// Anything not on the bridge (external peers, the host, link-local services) is reached
/// through the bridge's gateway, so its frames carry the gateway's MAC.
fn via(gw: [u8; 6], ip: Addr) -> Node {
    Node { ip, mac: gw }
}

fn v4(a: [u8; 4]) -> Addr {
    Addr::V4(Ipv4Addr::from(a))
}

fn v6(s: &str) -> Addr {
    Addr::V6(s.parse::<Ipv6Addr>().unwrap_or(Ipv6Addr::UNSPECIFIED))
}

fn app() -> Node {
    container([172, 18, 0, 3])
}
fn app6() -> Node {
    Node {
        ip: v6("fd00:db8::3"),
        mac: app().mac,
    }
}
fn es01() -> Node {
    container([172, 18, 0, 5])
}
fn redis() -> Node {
    container([172, 18, 0, 7])
}
fn api() -> Node {
    container([172, 18, 0, 10])
}
fn db() -> Node {
    container([172, 18, 0, 11])
}
fn ci_runner() -> Node {
    container([172, 17, 0, 5])
}
fn ext(a: [u8; 4]) -> Node {
    via(GW18_MAC, v4(a))
}

/// A capture being written: packet time, client ports, ISNs and IP ids advance per frame/flow.
struct Cap {
    w: PcapWriter<Vec<u8>>,
    t: u64,
    ip_id: u16,
    flows: u32,
    buf: Vec<u8>,
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg.to_string())
}

impl Cap {
    fn new() -> io::Result<Cap> {
        Ok(Cap {
            w: PcapWriter::new(Vec::new())?,
            t: EPOCH_NS,
            ip_id: 0x1c00,
            flows: 0,
            buf: vec![0; wire::MAX_FRAME],
        })
    }

    fn finish(self) -> io::Result<Vec<u8>> {
        self.w.finish()
    }

    fn wait(&mut self, ns: u64) {
        self.t += ns;
    }

    /// A fresh client port and a pair of initial sequence numbers for the next flow.
    fn next_flow(&mut self) -> (u16, u32, u32) {
        self.flows += 1;
        let n = self.flows;
        let port = 41_000 + (n as u16) * 7;
        // Below 2^31, so `isn + payload` never wraps.
        let isn_c = (n.wrapping_mul(0x9e37_79b9) ^ 0x3c6e_f372) & 0x7fff_ffff;
        let isn_s = (n.wrapping_mul(0x85eb_ca6b) ^ 0x1b87_3593) & 0x7fff_ffff;
        (port, isn_c, isn_s)
    }

    fn frame(&mut self, from: Ep, to: Ep, l4: L4, payload: &[u8]) -> io::Result<()> {
        self.ip_id = self.ip_id.wrapping_add(1);
        let h = Hdr {
            src_mac: from.node.mac,
            dst_mac: to.node.mac,
            vlan: 0,
            src: from.node.ip,
            dst: to.node.ip,
            sport: from.port,
            dport: to.port,
            ttl: 64,
            ip_id: self.ip_id,
            l4,
        };
        let n = wire::build(&mut self.buf, &h, payload.len(), |o| {
            o.copy_from_slice(payload)
        });
        if n == 0 {
            return Err(bad("frame does not fit or mixes address families"));
        }
        self.w.write(self.t, &self.buf[..n])
    }

    fn tcp(&mut self, from: Ep, to: Ep, seq: u32, ack: u32, fl: u8, data: &[u8]) -> io::Result<()> {
        let opts = if fl & flags::SYN != 0 {
            TcpOpts::Mss(1460)
        } else {
            TcpOpts::None
        };
        let l4 = L4::Tcp {
            seq,
            ack,
            flags: fl,
            window: 64_240,
            opts,
        };
        self.frame(from, to, l4, data)
    }

    /// Handshake, one request and one response, then a FIN from each side (Zeek: SF).
    fn tcp_session(&mut self, client: Node, server: Ep, req: &[u8], resp: &[u8]) -> io::Result<()> {
        use flags::*;
        let (port, ci, si) = self.next_flow();
        let c = client.at(port);
        let s = server;
        let (rq, rs) = (req.len() as u32, resp.len() as u32);
        self.tcp(c, s, ci, 0, SYN, &[])?;
        self.wait(HALF_RTT);
        self.tcp(s, c, si, ci + 1, SYN | ACK, &[])?;
        self.wait(HALF_RTT);
        self.tcp(c, s, ci + 1, si + 1, ACK, &[])?;
        self.wait(50 * US);
        self.tcp(c, s, ci + 1, si + 1, PSH | ACK, req)?;
        self.wait(HALF_RTT);
        self.tcp(s, c, si + 1, ci + 1 + rq, PSH | ACK, resp)?;
        self.wait(HALF_RTT);
        self.tcp(c, s, ci + 1 + rq, si + 1 + rs, ACK, &[])?;
        self.wait(MS);
        self.tcp(c, s, ci + 1 + rq, si + 1 + rs, FIN | ACK, &[])?;
        self.wait(HALF_RTT);
        self.tcp(s, c, si + 1 + rs, ci + 2 + rq, FIN | ACK, &[])?;
        self.wait(HALF_RTT);
        self.tcp(c, s, ci + 2 + rq, si + 2 + rs, ACK, &[])
    }

    /// A connect() scan that succeeds: handshake, then the client resets (Zeek: RSTO).
    fn tcp_connect_reset(&mut self, client: Node, server: Ep) -> io::Result<()> {
        use flags::*;
        let (port, ci, si) = self.next_flow();
        let c = client.at(port);
        self.tcp(c, server, ci, 0, SYN, &[])?;
        self.wait(HALF_RTT);
        self.tcp(server, c, si, ci + 1, SYN | ACK, &[])?;
        self.wait(HALF_RTT);
        self.tcp(c, server, ci + 1, si + 1, ACK, &[])?;
        self.wait(20 * US);
        self.tcp(c, server, ci + 1, si + 1, RST | ACK, &[])
    }

    /// A SYN to a closed port, answered by RST/ACK (Zeek: REJ).
    fn tcp_refused(&mut self, client: Node, server: Ep) -> io::Result<()> {
        use flags::*;
        let (port, ci, _) = self.next_flow();
        let c = client.at(port);
        self.tcp(c, server, ci, 0, SYN, &[])?;
        self.wait(HALF_RTT);
        self.tcp(server, c, 0, ci + 1, RST | ACK, &[])
    }

    fn udp_exchange(
        &mut self,
        client: Node,
        server: Ep,
        req: &[u8],
        resp: &[u8],
    ) -> io::Result<()> {
        let (port, _, _) = self.next_flow();
        let c = client.at(port);
        self.frame(c, server, L4::Udp, req)?;
        self.wait(2 * HALF_RTT);
        self.frame(server, c, L4::Udp, resp)
    }
}

// ---------------------------------------------------------------------------------------------
// Payloads: real protocol bytes, so Wireshark dissects the captures cleanly.

fn http_get(host: &str, path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n")
        .into_bytes()
}

fn http_ok(content_type: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn tls_hello(sni: &str) -> Vec<u8> {
    let mut v = vec![0; 240];
    wire::tls_client_hello(&mut v, sni, &[0x5a; 32]);
    v
}

fn tls_server() -> Vec<u8> {
    let mut v = vec![0; 160];
    wire::tls_server_first(&mut v, &[0xa5; 32], b"policycaps");
    v
}

fn dns(id: u16, name: &str, qtype: u16, answer: Option<&[u8]>) -> Vec<u8> {
    let mut v = vec![0; 512];
    let n = wire::dns_message(&mut v, id, name, qtype, answer.map(Some));
    v.truncate(n);
    v
}

fn ntp(server: bool) -> Vec<u8> {
    let mut v = vec![0; 48];
    // 2024-06-01T12:00:00Z in NTP's era-0 seconds, as a 32.32 fixed-point stamp.
    wire::ntp(&mut v, server, (3_926_232_000u64) << 32);
    v
}

// ---------------------------------------------------------------------------------------------
// The scenarios, one pair per rule. Each comment says what differs between fire and miss.

type Scene = fn(&mut Cap) -> io::Result<()>;

struct Case {
    rule: &'static str,
    fire: Scene,
    miss: Scene,
}

/// Every shipped rule, in `signatures/container_network.yaml` order.
const CASES: &[Case] = &[
    // es01 opens TLS to an external 443 (fire) vs to an external 9300, the transport port a
    // remote cluster is reached on (miss).
    Case {
        rule: "Elasticsearch Unexpected Outbound Connection",
        fire: |c| {
            let peer = ext([203, 0, 113, 98]).at(443);
            c.tcp_session(
                es01(),
                peer,
                &tls_hello("collector.example.net"),
                &tls_server(),
            )
        },
        miss: |c| {
            let peer = ext([203, 0, 113, 98]).at(9300);
            c.tcp_session(
                es01(),
                peer,
                &tls_hello("es-remote.example.net"),
                &tls_server(),
            )
        },
    },
    // app asks the metadata service for credentials over IPv4 and IPv6 (fire) vs asks the
    // time-sync service one address away, 169.254.169.123 / fd00:ec2::123, over NTP (miss).
    Case {
        rule: "Container Contacts Cloud Metadata Service",
        fire: |c| {
            let path = "/latest/meta-data/iam/security-credentials/";
            let md4 = via(GW18_MAC, v4([169, 254, 169, 254])).at(80);
            c.tcp_session(
                app(),
                md4,
                &http_get("169.254.169.254", path),
                &http_ok("text/plain", "node-role"),
            )?;
            c.wait(50 * MS);
            let md6 = via(GW18_MAC, v6("fd00:ec2::254")).at(80);
            c.tcp_session(
                app6(),
                md6,
                &http_get("[fd00:ec2::254]", path),
                &http_ok("text/plain", "node-role"),
            )
        },
        miss: |c| {
            let ts4 = via(GW18_MAC, v4([169, 254, 169, 123])).at(123);
            c.udp_exchange(app(), ts4, &ntp(false), &ntp(true))?;
            c.wait(50 * MS);
            let ts6 = via(GW18_MAC, v6("fd00:ec2::123")).at(123);
            c.udp_exchange(app6(), ts6, &ntp(false), &ntp(true))
        },
    },
    // The Docker API (2375) and the kubelet (10250) on the host, reached from an unlabelled
    // container (fire) vs the same two connections from ci-runner, which carries
    // bridgewatch.allow-runtime-api=true (miss).
    Case {
        rule: "Container Reaches Runtime or Kubernetes API",
        fire: |c| {
            let host = via(GW18_MAC, v4([172, 18, 0, 1]));
            let req = http_get("172.18.0.1:2375", "/v1.45/containers/json");
            c.tcp_session(
                app(),
                host.at(2375),
                &req,
                &http_ok("application/json", "[]"),
            )?;
            c.wait(50 * MS);
            c.tcp_session(
                app(),
                host.at(10250),
                &tls_hello("node1.example.internal"),
                &tls_server(),
            )
        },
        miss: |c| {
            let host = via(GW17_MAC, v4([172, 17, 0, 1]));
            let req = http_get("172.17.0.1:2375", "/v1.45/containers/json");
            c.tcp_session(
                ci_runner(),
                host.at(2375),
                &req,
                &http_ok("application/json", "[]"),
            )?;
            c.wait(50 * MS);
            c.tcp_session(
                ci_runner(),
                host.at(10250),
                &tls_hello("node1.example.internal"),
                &tls_server(),
            )
        },
    },
    // A stratum login to an external 3333 (fire) vs the same bytes to 8080, a miner port the
    // rule deliberately leaves out because ordinary web services use it (miss).
    Case {
        rule: "Connection to Crypto Mining Pool Port",
        fire: |c| {
            let pool = ext([203, 0, 113, 30]).at(3333);
            c.tcp_session(app(), pool, STRATUM_LOGIN, STRATUM_OK)
        },
        miss: |c| {
            let pool = ext([203, 0, 113, 30]).at(8080);
            c.tcp_session(app(), pool, STRATUM_LOGIN, STRATUM_OK)
        },
    },
    // TLS to an external Tor ORPort 9001 (fire) vs to 9000 (miss).
    // app resolves pool.supportxmr.com through the cluster DNS and then opens TLS to the
    // answer on 443, a port no other rule watches (fire), vs the same for
    // pool.supportxmr.com.example.net, which only starts like a pool's name (miss).
    Case {
        rule: "Connection to Crypto Mining Pool Domain",
        fire: |c| connect_by_name(c, "pool.supportxmr.com"),
        miss: |c| connect_by_name(c, "pool.supportxmr.com.example.net"),
    },
    Case {
        rule: "Connection to Tor Port",
        fire: |c| {
            let relay = ext([203, 0, 113, 40]).at(9001);
            c.tcp_session(
                app(),
                relay,
                &tls_hello("www.tor-relay.example"),
                &tls_server(),
            )
        },
        miss: |c| {
            let relay = ext([203, 0, 113, 40]).at(9000);
            c.tcp_session(
                app(),
                relay,
                &tls_hello("www.tor-relay.example"),
                &tls_server(),
            )
        },
    },
    // An IRC registration to an external 6667 (fire) vs 6670, just past the 6660-6669 block
    // (miss).
    Case {
        rule: "Connection to IRC Port",
        fire: |c| {
            let irc = ext([203, 0, 113, 45]).at(6667);
            c.tcp_session(app(), irc, IRC_LOGIN, IRC_WELCOME)
        },
        miss: |c| {
            let irc = ext([203, 0, 113, 45]).at(6670);
            c.tcp_session(app(), irc, IRC_LOGIN, IRC_WELCOME)
        },
    },
    // SSH from app to an external 22 (fire) vs SSH from app to an external 2222 and an
    // external client's SSH into app:22, which is inbound, not outbound (miss).
    Case {
        rule: "Outbound Remote Access from Container",
        fire: |c| {
            let sshd = ext([203, 0, 113, 50]).at(22);
            c.tcp_session(app(), sshd, SSH_CLIENT, SSH_SERVER)
        },
        miss: |c| {
            let sshd = ext([203, 0, 113, 50]).at(2222);
            c.tcp_session(app(), sshd, SSH_CLIENT, SSH_SERVER)?;
            c.wait(50 * MS);
            c.tcp_session(ext([203, 0, 113, 50]), app().at(22), SSH_CLIENT, SSH_SERVER)
        },
    },
    // DNS from app to an external resolver over IPv4 and IPv6 (fire) vs to 10.96.0.10, the
    // Kubernetes cluster resolver in allowed_dns_servers (miss).
    Case {
        rule: "DNS to Unexpected Resolver",
        fire: |c| {
            let r4 = ext([198, 51, 100, 53]).at(53);
            let a = wire::dns_answer_v4("api.example.com");
            c.udp_exchange(
                app(),
                r4,
                &dns(0x4a01, "api.example.com", 1, None),
                &dns(0x4a01, "api.example.com", 1, Some(&a)),
            )?;
            c.wait(50 * MS);
            let r6 = via(GW18_MAC, v6("2001:db8::53")).at(53);
            let aaaa = wire::dns_answer_v6("cdn.example.com");
            c.udp_exchange(
                app6(),
                r6,
                &dns(0x4a02, "cdn.example.com", 28, None),
                &dns(0x4a02, "cdn.example.com", 28, Some(&aaaa)),
            )
        },
        miss: |c| {
            let cluster_dns = via(GW18_MAC, v4([10, 96, 0, 10])).at(53);
            let a = wire::dns_answer_v4("api.example.com");
            c.udp_exchange(
                app(),
                cluster_dns,
                &dns(0x4a03, "api.example.com", 1, None),
                &dns(0x4a03, "api.example.com", 1, Some(&a)),
            )
        },
    },
    // An external client's Redis PING to redis:6379 (fire) vs the same client to 6380, and
    // a client on the host itself (172.18.0.1, e.g. docker-proxy) to 6379 (miss).
    Case {
        rule: "Inbound Connection to Container Data Store",
        fire: |c| {
            c.tcp_session(
                ext([203, 0, 113, 60]),
                redis().at(6379),
                REDIS_PING,
                REDIS_PONG,
            )
        },
        miss: |c| {
            c.tcp_session(
                ext([203, 0, 113, 60]),
                redis().at(6380),
                REDIS_PING,
                REDIS_PONG,
            )?;
            c.wait(50 * MS);
            let host = via(GW18_MAC, v4([172, 18, 0, 1]));
            c.tcp_session(host, redis().at(6379), REDIS_PING, REDIS_PONG)
        },
    },
    // Compose service db calling api (fire) vs api querying db, an allowed pair (miss).
    Case {
        rule: "Unexpected Container to Container Connection",
        fire: |c| {
            let req = http_get("api:8080", "/internal/orders");
            c.tcp_session(
                db(),
                api().at(8080),
                &req,
                &http_ok("application/json", "[]"),
            )
        },
        miss: |c| {
            let mut q = vec![0; 40];
            wire::pgsql_query(&mut q);
            let mut r = vec![0; 64];
            wire::pgsql_response(&mut r, true, b"order-17");
            c.tcp_session(api(), db().at(5432), &q, &r)
        },
    },
    // app completes connections to 21 distinct external addresses on :80 within 2.1 s, one
    // more than the threshold of 20 (fire), vs 20 (miss).
    Case {
        rule: "Container Fan-out to Many Peers",
        fire: |c| peer_sweep(c, 21),
        miss: |c| peer_sweep(c, 20),
    },
    // app probes 21 distinct ports of one external host within 1.05 s, all refused (fire), vs
    // 20 ports (miss). No port belongs to another rule's list.
    Case {
        rule: "Container Fan-out to Many Ports",
        fire: |c| port_scan(c, 21),
        miss: |c| port_scan(c, 20),
    },
];

const STRATUM_LOGIN: &[u8] = br#"{"id":1,"jsonrpc":"2.0","method":"login","params":{"login":"wallet-example","pass":"x","agent":"XMRig/6.21.0"}}
"#;
const STRATUM_OK: &[u8] = br#"{"id":1,"jsonrpc":"2.0","error":null,"result":{"id":"1","job":{"job_id":"1","target":"b88d0600"},"status":"OK"}}
"#;
const IRC_LOGIN: &[u8] = b"NICK bot-7f3a\r\nUSER bot-7f3a 0 * :bot\r\n";
const IRC_WELCOME: &[u8] = b":irc.example.net 001 bot-7f3a :Welcome to the example IRC network\r\n";
const SSH_CLIENT: &[u8] = b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13\r\n";
const SSH_SERVER: &[u8] = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n";
const REDIS_PING: &[u8] = b"*1\r\n$4\r\nPING\r\n";
const REDIS_PONG: &[u8] = b"+PONG\r\n";

/// Ports a scanner would try first, none of them in another rule's list.
const SCAN_PORTS: [u16; 21] = [
    21, 25, 80, 110, 111, 135, 143, 443, 465, 587, 631, 993, 995, 1433, 1521, 2049, 3306, 5000,
    5432, 5900, 6379,
];

/// app looks `name` up (A record, answer 203.0.113.77) and connects to the answer on 443.
fn connect_by_name(c: &mut Cap, name: &str) -> io::Result<()> {
    let cluster_dns = via(GW18_MAC, v4([10, 96, 0, 10])).at(53);
    let answer = [203, 0, 113, 77];
    c.udp_exchange(
        app(),
        cluster_dns,
        &dns(0x5d01, name, 1, None),
        &dns(0x5d01, name, 1, Some(&answer)),
    )?;
    c.wait(20 * MS);
    c.tcp_session(app(), ext(answer).at(443), &tls_hello(name), &tls_server())
}

fn peer_sweep(c: &mut Cap, peers: u8) -> io::Result<()> {
    for i in 0..peers {
        c.tcp_connect_reset(app(), ext([203, 0, 113, 101 + i]).at(80))?;
        c.wait(100 * MS);
    }
    Ok(())
}

fn port_scan(c: &mut Cap, ports: usize) -> io::Result<()> {
    for &p in SCAN_PORTS.iter().take(ports) {
        c.tcp_refused(app(), ext([203, 0, 113, 70]).at(p))?;
        c.wait(50 * MS);
    }
    Ok(())
}

/// A rule name as a file name: lower case, runs of anything else as one '-'.
fn slug(rule: &str) -> String {
    let mut s = String::new();
    for ch in rule.chars() {
        if ch.is_ascii_alphanumeric() {
            s.push(ch.to_ascii_lowercase());
        } else if !s.ends_with('-') {
            s.push('-');
        }
    }
    s.trim_matches('-').to_string()
}

/// Every file of `pcaps/policies/` (name, bytes), in a fixed order.
fn generate() -> io::Result<Vec<(String, Vec<u8>)>> {
    let mut out = vec![("containers.json".to_string(), INVENTORY.as_bytes().to_vec())];
    for case in CASES {
        for (kind, scene) in [("fire", case.fire), ("miss", case.miss)] {
            let mut cap = Cap::new()?;
            scene(&mut cap)?;
            out.push((format!("{}.{kind}.pcap", slug(case.rule)), cap.finish()?));
        }
    }
    Ok(out)
}

fn main() -> io::Result<()> {
    let dir = std::env::args_os()
        .nth(1)
        .map_or_else(|| PathBuf::from("pcaps/policies"), PathBuf::from);
    std::fs::create_dir_all(&dir)?;
    for (name, bytes) in generate()? {
        let path = Path::new(&dir).join(&name);
        std::fs::write(&path, &bytes)?;
        println!("{} ({} bytes)", path.display(), bytes.len());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_file_names() {
        assert_eq!(
            slug("Container Reaches Runtime or Kubernetes API"),
            "container-reaches-runtime-or-kubernetes-api"
        );
        assert_eq!(
            slug("Container Fan-out to Many Peers"),
            "container-fan-out-to-many-peers"
        );
    }

    #[test]
    fn captures_are_small_and_distinct() {
        let files = generate().unwrap();
        assert_eq!(files.len(), 1 + 2 * CASES.len());
        for (name, bytes) in &files {
            assert!(bytes.len() < 8 * 1024, "{name} is {} bytes", bytes.len());
        }
        for pair in files[1..].chunks(2) {
            assert_ne!(
                pair[0].1, pair[1].1,
                "{}: fire and miss are equal",
                pair[0].0
            );
        }
    }

    #[test]
    fn inventory_is_json() {
        let v: serde_json::Value = serde_json::from_str(INVENTORY).unwrap();
        assert_eq!(v["containers"].as_array().map(Vec::len), Some(6));
    }

    #[test]
    fn shipped_policy_captures_match_the_generator() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("pcaps/policies");
        let regen = "regenerate: cargo run --release --example policycaps";
        if !dir.is_dir() {
            assert!(
                std::env::var_os("CI").is_none(),
                "{} missing",
                dir.display()
            );
            eprintln!("skip: {} not found", dir.display());
            return;
        }
        let files = generate().unwrap();
        for (name, bytes) in &files {
            let on_disk = std::fs::read(dir.join(name)).unwrap_or_default();
            assert!(
                on_disk == *bytes,
                "{name} differs from the generator; {regen}"
            );
        }
        // Nothing stale left behind by a renamed rule.
        let mut listed: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .collect();
        listed.sort();
        let mut expected: Vec<String> = files.into_iter().map(|(n, _)| n).collect();
        expected.sort();
        assert_eq!(listed, expected, "{regen}");
    }
}
