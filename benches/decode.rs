//! Decoder and Community ID micro-benchmarks: a TCP/IPv4 frame, a VLAN-tagged UDP
//! frame, an IPv6 TCP frame, a VXLAN-encapsulated frame; Community ID v1 of a flow.

use bridgewatch::capture::{LinkType, PacketHeader};
use bridgewatch::decode::{DecodeConfig, Decoder, FlowBatch};
use bridgewatch::flow::community_id::{community_id_v1_digest, community_id_v1_into};
use bridgewatch::flow::key::{addr_from_v4, AddrFamily, FlowTuple};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;

fn eth(ethertype: [u8; 2], rest: &[u8]) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
    f.extend_from_slice(&ethertype);
    f.extend_from_slice(rest);
    f
}

fn ipv4(proto: u8, l4: &[u8]) -> Vec<u8> {
    let total = (20 + l4.len()) as u16;
    let mut p = vec![0x45, 0];
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&[
        0, 1, 0x40, 0, 64, proto, 0, 0, 172, 17, 0, 2, 198, 51, 100, 7,
    ]);
    p.extend_from_slice(l4);
    p
}

fn tcp(payload: usize) -> Vec<u8> {
    let mut t = vec![
        0x9c, 0x40, 0x01, 0xbb, 0, 0, 0, 1, 0, 0, 0, 1, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0,
    ];
    t.resize(20 + payload, 0xab);
    t
}

fn udp(dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = vec![0xc3, 0x50];
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    u
}

fn bench(c: &mut Criterion) {
    let frames: Vec<(&str, Vec<u8>)> = vec![
        ("tcp_ipv4", eth([0x08, 0x00], &ipv4(6, &tcp(346)))),
        ("udp_vlan", {
            let mut tagged = vec![0x00, 0x2a, 0x08, 0x00];
            tagged.extend_from_slice(&ipv4(17, &udp(53, &[0; 40])));
            eth([0x81, 0x00], &tagged)
        }),
        ("tcp_ipv6", {
            let t = tcp(346);
            let mut v6 = vec![0x60, 0, 0, 0];
            v6.extend_from_slice(&(t.len() as u16).to_be_bytes());
            v6.extend_from_slice(&[6, 64]);
            v6.extend_from_slice(&[0xfd; 16]);
            v6.extend_from_slice(&[0x20; 16]);
            v6.extend_from_slice(&t);
            eth([0x86, 0xdd], &v6)
        }),
        ("vxlan_tcp", {
            let inner = eth([0x08, 0x00], &ipv4(6, &tcp(100)));
            let mut vx = vec![0x08, 0, 0, 0, 0, 0, 42, 0];
            vx.extend_from_slice(&inner);
            eth([0x08, 0x00], &ipv4(17, &udp(4789, &vx)))
        }),
    ];
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(1));
    for (name, frame) in &frames {
        let hdr = PacketHeader {
            offset: 0,
            caplen: frame.len() as u32,
            orig_len: frame.len() as u32,
            ts: 1,
            link: LinkType::Ethernet,
            iface: 0,
            number: 1,
        };
        let mut d = Decoder::new(DecodeConfig::default());
        let mut out = FlowBatch::with_capacity(4);
        g.bench_function(*name, |b| {
            b.iter(|| {
                out.clear();
                let _ = d.decode(black_box(&hdr), black_box(frame), &mut out);
                black_box(out.len())
            })
        });
    }
    g.finish();

    let t = FlowTuple {
        src: addr_from_v4([172, 17, 0, 2]),
        dst: addr_from_v4([198, 51, 100, 7]),
        sport: 40000,
        dport: 443,
        proto: 6,
        af: AddrFamily::V4,
    };
    let mut g = c.benchmark_group("community_id");
    g.throughput(Throughput::Elements(1));
    g.bench_function("digest", |b| {
        b.iter(|| black_box(community_id_v1_digest(black_box(&t), 0)))
    });
    let mut s = String::with_capacity(32);
    g.bench_function("base64_string", |b| {
        b.iter(|| {
            s.clear();
            community_id_v1_into(black_box(&t), 0, &mut s);
            black_box(s.len())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
