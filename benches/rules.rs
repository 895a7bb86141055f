//! Flow-start evaluations per second: the shipped rules plus 100 generated ones,
//! over a mix of outbound, internal, inbound and non-container flows.
//!
//! Run: `cargo bench --bench rules`.  One iteration = one `on_flow_start` call.

use bridgewatch::flow::record::FlowRecord;
use bridgewatch::rules::{
    Container, Engine, EngineOptions, Inventory, Priority, RuleSet, DEFAULT_RULE_FILES,
};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use std::sync::Arc;

fn generated_rules() -> String {
    let mut s = String::new();
    for i in 0..100u32 {
        let cond = match i % 4 {
            0 => format!("outbound and fd.rport = {} and container.image.repository = \"team/svc{i}\"", 20000 + i),
            1 => format!("connect_from_container and fd.rip in (203.0.{}.0/24, 198.18.{}.7) and fd.l4proto = tcp", i, i),
            2 => format!("inbound and fd.lport in ({}, {}) and not fd.rnet in (rfc_1918_addresses)", 30000 + i, 31000 + i),
            _ => format!("evt.type = connect and container.label[tier] = t{i} and flow.direction in (outbound, internal)"),
        };
        s.push_str(&format!(
            "- rule: generated {i}\n  desc: generated\n  condition: '{cond}'\n  output: '%container.name %fd.rip'\n  priority: NOTICE\n  tags: [gen]\n"
        ));
    }
    s
}

fn flow(i: u32) -> FlowRecord {
    let (c, s, sp): (String, String, u16) = match i % 4 {
        0 => (
            format!("172.17.0.{}", 2 + i % 50),
            format!("93.184.{}.{}", i % 200, i % 250),
            443,
        ),
        1 => (
            format!("172.17.0.{}", 2 + i % 50),
            format!("172.17.0.{}", 2 + (i + 7) % 50),
            8080,
        ),
        2 => (
            format!("198.51.100.{}", i % 250),
            format!("172.17.0.{}", 2 + i % 50),
            80,
        ),
        _ => (
            format!("10.1.{}.{}", i % 200, i % 250),
            format!("10.2.0.{}", i % 250),
            53,
        ),
    };
    FlowRecord {
        uid: bridgewatch::flow::uid::Uid::default(),
        ..FlowRecord::attempt(
            1_700_000_000_000_000_000 + i64::from(i) * 1_000_000,
            (c.parse().unwrap(), 40000 + (i % 20000) as u16),
            (s.parse().unwrap(), sp),
            if sp == 53 { 17 } else { 6 },
        )
    }
}

fn inventory() -> Inventory {
    let mut inv = Inventory::default();
    for n in 2..52u32 {
        inv.add(
            Container::new(
                &format!("c{n}"),
                &format!("svc{n}"),
                &format!("team/svc{n}:1"),
            )
            .ip(&format!("172.17.0.{n}"))
            .label("tier", &format!("t{}", n % 7)),
        );
    }
    inv.add_host_ip("172.17.0.1".parse().unwrap());
    inv
}

fn run(c: &mut Criterion, name: &str, rules: RuleSet) {
    let engine = Engine::new(
        Arc::new(rules),
        Arc::new(inventory()),
        EngineOptions {
            min_priority: Priority::Debug,
            hostname: "bench".into(),
        },
    );
    let flows: Vec<FlowRecord> = (0..4096).map(flow).collect();
    let mut ev = engine.evaluator();
    let mut alerts = Vec::with_capacity(64);
    for f in &flows {
        ev.on_flow_start(f, &mut alerts);
    }
    eprintln!("{name}: {} alerts over {} flows", alerts.len(), flows.len());
    let mut g = c.benchmark_group("rules");
    g.throughput(Throughput::Elements(1));
    let mut i = 0usize;
    g.bench_function(name, |b| {
        b.iter(|| {
            i = (i + 1) & 4095;
            alerts.clear();
            ev.on_flow_start(black_box(&flows[i]), &mut alerts);
            black_box(alerts.len())
        })
    });
    g.finish();
}

fn bench(c: &mut Criterion) {
    let gen = generated_rules();
    let mut sources: Vec<(&str, &str)> = DEFAULT_RULE_FILES.to_vec();
    sources.push(("generated.yaml", &gen));
    let rules = RuleSet::from_sources(&sources).unwrap_or_else(|e| panic!("{e}"));
    run(c, "on_flow_start/shipped+100", rules);
    run(
        c,
        "on_flow_start/shipped",
        RuleSet::load_default().unwrap_or_else(|e| panic!("{e}")),
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
