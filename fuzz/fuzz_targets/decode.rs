//! Fuzzes the packet decoder: the first byte picks the link type, the rest is the
//! captured packet.  Fragments and tunnels are reached through the same entry point;
//! the decoder lives across inputs so the reassembly table fills up and expires too.
//! Passive DNS is on, so every UDP payload from port 53 also goes through the DNS
//! answer parser and the name table.
#![no_main]

use bridgewatch::capture::{LinkType, PacketHeader};
use bridgewatch::decode::{DecodeConfig, Decoder};
use bridgewatch::passive_dns::PassiveDns;
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, Mutex};

const LINKS: [LinkType; 9] = [
    LinkType::Ethernet,
    LinkType::LinuxSll,
    LinkType::LinuxSll2,
    LinkType::Raw,
    LinkType::Ipv4,
    LinkType::Ipv6,
    LinkType::Null,
    LinkType::Loop,
    LinkType::Other(147),
];

static STATE: Mutex<Option<(Decoder, bridgewatch::decode::FlowBatch, i64)>> = Mutex::new(None);

fuzz_target!(|data: &[u8]| {
    let Some((&sel, packet)) = data.split_first() else {
        return;
    };
    let mut guard = STATE.lock().unwrap_or_else(|e| e.into_inner());
    let (decoder, out, ts) = guard.get_or_insert_with(|| {
        let config = DecodeConfig {
            passive_dns: Some(Arc::new(PassiveDns::new())),
            ..DecodeConfig::default()
        };
        (Decoder::new(config), Default::default(), 0)
    });
    // Packet time moves forward a little per input so fragment timeouts are exercised.
    *ts += 100_000_000;
    let hdr = PacketHeader {
        offset: 0,
        caplen: packet.len() as u32,
        orig_len: packet.len() as u32,
        ts: *ts,
        link: LINKS[usize::from(sel) % LINKS.len()],
        iface: 0,
        number: 1,
    };
    out.clear();
    let r = decoder.decode(&hdr, packet, out);
    if let Err(e) = r {
        let _ = e.kind();
    }
});
