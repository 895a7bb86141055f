//! Community ID v1 (corelight/community-id-spec): `1:` + base64(SHA1(seed ‖ saddr ‖
//! daddr ‖ proto ‖ 0 ‖ sport ‖ dport)) over the ordered tuple, with ICMP type pairing.
//!
//! Guarantees: both directions of a two-way flow give the same id; IPv4 addresses are
//! hashed as 4 bytes (not in their IPv4-mapped storage form); ports are hashed only for
//! TCP, UDP, SCTP, ICMP and ICMPv6.  ICMP/ICMPv6 tuples arrive already paired (see
//! [`FlowTuple`]): `sport` = type, `dport` = counterpart type for request/reply types or
//! the code for one-way types.  One-way ICMP messages are never reordered, exactly as
//! the spec's reference implementation does, so an unreachable from A to B and one from
//! B to A get different ids.

use base64::Engine;
use sha1::{Digest, Sha1};

use super::inline_str::InlineStr;
use super::key::{AddrFamily, FlowTuple};

const ICMP: u8 = 1;
const TCP: u8 = 6;
const UDP: u8 = 17;
const ICMPV6: u8 = 58;
const SCTP: u8 = 132;

/// ICMP request/response pairing as the spec's table gives it (shared with the decoder,
/// which puts the counterpart into the flow tuple).
fn icmp4_counterpart(t: u16) -> Option<u16> {
    u8::try_from(t)
        .ok()
        .and_then(crate::decode::icmp4_counterpart)
        .map(u16::from)
}

fn icmp6_counterpart(t: u16) -> Option<u16> {
    u8::try_from(t)
        .ok()
        .and_then(crate::decode::icmp6_counterpart)
        .map(u16::from)
}

/// True when `t` (an ICMP or ICMPv6 tuple) is a one-way message: its type has no
/// request/reply counterpart, so `dport` carries the code.
pub fn icmp_is_one_way(t: &FlowTuple) -> bool {
    match t.proto {
        ICMP => icmp4_counterpart(t.sport).is_none(),
        ICMPV6 => icmp6_counterpart(t.sport).is_none(),
        _ => false,
    }
}

fn addr_bytes(t: &FlowTuple, src: bool) -> &[u8] {
    let a = if src { &t.src } else { &t.dst };
    match t.af {
        AddrFamily::V4 => a.get(12..).unwrap_or(&a[..]),
        AddrFamily::V6 => &a[..],
    }
}

/// The SHA1 digest the id is made of.  No allocation.
pub fn community_id_v1_digest(t: &FlowTuple, seed: u16) -> [u8; 20] {
    let has_ports = matches!(t.proto, TCP | UDP | SCTP | ICMP | ICMPV6);
    let one_way = icmp_is_one_way(t);
    // Spec ordering: keep as is when one-way, or when (saddr, sport) < (daddr, dport).
    // Family is common to both ends, so comparing the 16-byte stored forms orders
    // IPv4 exactly like their 4-byte forms.
    let keep = one_way || t.src < t.dst || (t.src == t.dst && has_ports && t.sport < t.dport);
    let o = if keep { *t } else { t.reversed() };
    let mut h = Sha1::new();
    h.update(seed.to_be_bytes());
    h.update(addr_bytes(&o, true));
    h.update(addr_bytes(&o, false));
    h.update([o.proto, 0]);
    if has_ports {
        h.update(o.sport.to_be_bytes());
        h.update(o.dport.to_be_bytes());
    }
    h.finalize().into()
}

/// Appends the Community ID v1 of `t` to `out` (allocates only if `out` must grow).
pub fn community_id_v1_into(t: &FlowTuple, seed: u16, out: &mut String) {
    let d = community_id_v1_digest(t, seed);
    out.push_str("1:");
    // Into a stack buffer: `encode_string`'s chunked encoder was a fifth of this
    // function's instructions (callgrind, mixed.pcap).
    let mut b64 = [0u8; 28];
    match base64::engine::general_purpose::STANDARD.encode_slice(d, &mut b64) {
        Ok(n) => out.push_str(std::str::from_utf8(&b64[..n]).unwrap_or_default()),
        Err(_) => base64::engine::general_purpose::STANDARD.encode_string(d, out),
    }
}

/// A Community ID (`1:` + 28 base64 characters), in place.
pub type CommunityId = InlineStr<30>;

/// Community ID v1 of the flow `t` (any direction gives the same result).
/// ICMP/ICMPv6 tuples carry (type, counterpart-or-code) as [`FlowTuple`] documents.
/// No allocation: a `String` per flow was a malloc and free on every record.
pub fn community_id_v1(t: &FlowTuple, seed: u16) -> CommunityId {
    let d = community_id_v1_digest(t, seed);
    let mut b = *b"1:0000000000000000000000000000";
    b[2..].copy_from_slice(&base64_digest(&d));
    CommunityId::from_ascii(&b).unwrap_or_default()
}

/// Standard base64 (with padding) of a 20-byte digest: six 3-byte groups and a
/// 2-byte tail with one `=`.  By hand: the `base64` crate's general engine took 277
/// instructions for these 20 bytes (callgrind, mixed.pcap: 65M for 235k flows).
fn base64_digest(d: &[u8; 20]) -> [u8; 28] {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let sym = |v: u32| ALPHABET[(v & 63) as usize];
    let mut out = [b'='; 28];
    for (o, g) in out.chunks_exact_mut(4).zip(d.chunks(3)) {
        let v = match *g {
            [a, b, c] => u32::from_be_bytes([0, a, b, c]),
            [a, b] => u32::from_be_bytes([0, a, b, 0]),
            _ => continue,
        };
        o[0] = sym(v >> 18);
        o[1] = sym(v >> 12);
        o[2] = sym(v >> 6);
        if g.len() == 3 {
            o[3] = sym(v);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::key::addr_from_v4;
    use std::net::IpAddr;

    fn shared() -> Option<std::path::PathBuf> {
        let p = std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared"));
        if p.is_dir() {
            Some(p)
        } else if std::env::var_os("CI").is_some() {
            panic!("../shared missing and CI is set");
        } else {
            eprintln!("skipping: {} not found", p.display());
            None
        }
    }

    fn tuple(proto: u8, s: &str, d: &str, sport: u16, dport: u16) -> FlowTuple {
        let (src, dst, af) = match (s.parse::<IpAddr>(), d.parse::<IpAddr>()) {
            (Ok(IpAddr::V4(a)), Ok(IpAddr::V4(b))) => (
                addr_from_v4(a.octets()),
                addr_from_v4(b.octets()),
                AddrFamily::V4,
            ),
            (Ok(IpAddr::V6(a)), Ok(IpAddr::V6(b))) => (a.octets(), b.octets(), AddrFamily::V6),
            other => panic!("bad addresses {s} {d}: {other:?}"),
        };
        FlowTuple {
            src,
            dst,
            sport,
            dport,
            proto,
            af,
        }
    }

    fn check_baseline(file: &str, seed: u16) {
        let Some(root) = shared() else { return };
        let path = root.join("pcaps/community-id-spec").join(file);
        let text = std::fs::read_to_string(&path).expect("read baseline");
        let v: serde_json::Value = serde_json::from_str(&text).expect("json");
        let arr = v.as_array().expect("array");
        assert!(arr.len() > 10, "baseline too small");
        for e in arr {
            let t = tuple(
                e["proto"].as_u64().unwrap() as u8,
                e["saddr"].as_str().unwrap(),
                e["daddr"].as_str().unwrap(),
                e["sport"].as_u64().unwrap_or(0) as u16,
                e["dport"].as_u64().unwrap_or(0) as u16,
            );
            assert_eq!(
                community_id_v1(&t, seed),
                e["communityid"].as_str().unwrap(),
                "entry {e}"
            );
        }
    }

    #[test]
    fn spec_baseline_default_seed() {
        check_baseline("baseline_deflt.json", 0);
    }

    #[test]
    fn spec_baseline_seed1() {
        check_baseline("baseline_seed1.json", 1);
    }

    #[test]
    fn suricata_verify_and_zeek_examples() {
        // suricata-verify community-id-ipv4 / -ipv6 (seed 7) and -sameip (seed 1);
        // tuples and ids transcribed from their test.yaml files.
        let cases = [
            (
                6,
                "172.26.0.39",
                "172.217.14.206",
                35958,
                443,
                7,
                "1:IwiTNfuO7aCaamMijl+7/X9uLx0=",
            ),
            (
                6,
                "2600:1f13:f8:d400:3a6:303c:e011:18eb",
                "2607:f8b0:400a:800::200e",
                60202,
                443,
                7,
                "1:ptJhMvufAbB5nLDNW77cB800wFM=",
            ),
            (
                6,
                "2600:1f13:f8:d400:3a6:303c:e011:18eb",
                "2001:4860:4860::8888",
                33892,
                443,
                7,
                "1:PGf+a0eBbs1OhuPtJmsF0Sm51v4=",
            ),
            (
                6,
                "192.168.0.254",
                "192.168.0.254",
                56162,
                3306,
                1,
                "1:IJQHtzXv/tXud3FtXIufkDsfEd4=",
            ),
            // Zeek communityid/tcp.pcap.out, icmp.pcap.out and http/get.pcap community-id cut.
            (
                6,
                "128.232.110.120",
                "66.35.250.204",
                34855,
                80,
                0,
                "1:LQU9qZlK+B5F3KDmev6m5PMibrg=",
            ),
            (
                1,
                "192.168.0.89",
                "192.168.0.1",
                8,
                0,
                0,
                "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=",
            ),
            (
                6,
                "141.142.228.5",
                "192.150.187.43",
                59856,
                80,
                0,
                "1:yvyB8h+3dnggTZW0UEITWCst97w=",
            ),
        ];
        for (proto, s, d, sp, dp, seed, want) in cases {
            let t = tuple(proto, s, d, sp, dp);
            assert_eq!(community_id_v1(&t, seed), want, "{s}:{sp} -> {d}:{dp}");
            assert_eq!(community_id_v1(&t.reversed(), seed), want, "reversed {s}");
        }
    }

    #[test]
    fn one_way_icmp_is_not_reordered_and_portless_hashes_no_ports() {
        let t = tuple(1, "10.0.0.2", "10.0.0.1", 3, 1);
        assert!(icmp_is_one_way(&t));
        assert_ne!(community_id_v1(&t, 0), community_id_v1(&t.reversed(), 0));
        // For a port-less protocol the ports must not matter.
        let a = tuple(46, "10.0.0.2", "10.0.0.1", 0, 0);
        let b = tuple(46, "10.0.0.2", "10.0.0.1", 5, 9);
        assert_eq!(community_id_v1(&a, 0), community_id_v1(&b, 0));
        assert_eq!(community_id_v1(&a, 0), community_id_v1(&a.reversed(), 0));
        let mut s = String::from("x");
        community_id_v1_into(&a, 0, &mut s);
        assert_eq!(&s[1..], community_id_v1(&a, 0));
    }

    #[test]
    fn hand_base64_matches_the_crate() {
        let mut d = [0u8; 20];
        for round in 0..300u32 {
            for (i, b) in d.iter_mut().enumerate() {
                *b = (round.wrapping_mul(2_654_435_761) >> (i % 24)) as u8
                    ^ (i as u8).wrapping_mul(37);
            }
            if round == 0 {
                d = [0xff; 20];
            }
            let want = base64::engine::general_purpose::STANDARD.encode(d);
            assert_eq!(base64_digest(&d), want.as_bytes(), "{d:?}");
        }
    }
}
