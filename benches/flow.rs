//! Flow-table micro-benchmarks: the symmetric key hash, and packet accounting
//! (lookup + update, and insert of new flows) over tables of realistic size.

use bridgewatch::decode::FlowPacket;
use bridgewatch::flow::key::{addr_from_v4, AddrFamily, FlowKey, FlowTuple, NO_VLAN};
use bridgewatch::flow::table::{FlowTable, TableConfig};
use bridgewatch::flow::timeouts::Timeouts;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::hint::black_box;

fn packet(i: u32, ts: i64) -> FlowPacket {
    let src = addr_from_v4([10, (i >> 16) as u8, (i >> 8) as u8, i as u8]);
    FlowPacket {
        ts,
        tuple: FlowTuple {
            src,
            dst: addr_from_v4([172, 17, 0, 2]),
            sport: 30000 + (i % 30000) as u16,
            dport: 443,
            proto: 17,
            af: AddrFamily::V4,
        },
        vlan: [NO_VLAN; 2],
        key_vlan: [NO_VLAN; 2],
        iface: 0,
        ip_len: 400,
        payload_len: 372,
        tcp_flags: 0,
        tcp_seq: 0,
        tcp_ack: 0,
        tcp_window: 0,
        src_mac: [0; 6],
        tunnel: None,
    }
}

fn config() -> TableConfig {
    TableConfig {
        max_flows: 4_000_000,
        timeouts: Timeouts::default(),
        community_id_seed: 0,
        hash_seed: 0x1234_5678,
        key_iface: false,
        iface_names: None,
        start_community_id: true,
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("flow");
    let p = packet(7, 0);
    let (key, _) = FlowKey::from_tuple(&p.tuple, p.key_vlan, 0);
    g.throughput(Throughput::Elements(1));
    g.bench_function("key_and_hash", |b| {
        b.iter(|| {
            let (k, _) = FlowKey::from_tuple(black_box(&p.tuple), [NO_VLAN; 2], 0);
            black_box(k.hash64(42))
        })
    });
    let _ = key;

    // Lookup + update on a table holding 200k flows (packets spread over all of them).
    const FLOWS: u32 = 200_000;
    let packets: Vec<FlowPacket> = (0..FLOWS).map(|i| packet(i, 1_000)).collect();
    let mut table = FlowTable::new(config());
    for p in &packets {
        table.process(p);
    }
    let order: Vec<usize> = (0..FLOWS as usize)
        .map(|i| (i * 7919) % FLOWS as usize)
        .collect();
    g.throughput(Throughput::Elements(order.len() as u64));
    g.bench_function("lookup_update_200k_flows", |b| {
        b.iter(|| {
            for &i in &order {
                table.process(&packets[i]);
            }
        })
    });

    // Insert 100k new flows into an empty table.
    let fresh: Vec<FlowPacket> = (0..100_000).map(|i| packet(i, 1_000)).collect();
    g.throughput(Throughput::Elements(fresh.len() as u64));
    g.bench_function("insert_100k_flows", |b| {
        b.iter_batched(
            || FlowTable::new(config()),
            |mut t| {
                for p in &fresh {
                    t.process(p);
                }
                t
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
