//! Fuzzes rule loading: arbitrary text as a rule file after the shipped macros, through
//! YAML parsing, item loading, overrides, the condition parser and the compiler, and
//! when it loads, building the engine and evaluating one flow start.  A rule file
//! must only ever give errors with positions, never a panic.
#![no_main]

use bridgewatch::flow::record::FlowRecord;
use bridgewatch::rules::{Engine, EngineOptions, Inventory, RuleSet, DEFAULT_RULE_FILES};
use libfuzzer_sys::fuzz_target;
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut sources: Vec<(&str, &str)> = DEFAULT_RULE_FILES.to_vec();
    sources.push(("fuzz.yaml", text));
    let Ok(set) = RuleSet::from_sources(&sources) else {
        return;
    };
    let engine = Engine::new(
        Arc::new(set),
        Arc::new(Inventory::default()),
        EngineOptions::default(),
    );
    let mut ev = engine.evaluator();
    let rec = FlowRecord {
        end: 1_700_000_001_000_000_000,
        uid: bridgewatch::flow::uid::Uid::default(),
        orig_pkts: 3,
        orig_ip_bytes: 180,
        orig_bytes: 20,
        resp_pkts: 2,
        resp_ip_bytes: 120,
        resp_bytes: 10,
        conn_state: "SF",
        history: "ShADadFf".into(),
        ..FlowRecord::attempt(
            1_700_000_000_000_000_000,
            ([172, 17, 0, 2].into(), 40000),
            ([203, 0, 113, 9].into(), 443),
            6,
        )
    };
    let mut alerts = Vec::new();
    ev.on_flow_start(&rec, &mut alerts);
    ev.on_flow_end(&rec, &mut alerts);
});
