//! `alertcap`: a capture in which every flow raises an alert, for the alert-delivery
//! benchmark (`benches/alerts.sh`).
//!
//! `cargo run --release --example alertcap -- N FILE`
//!
//! Writes N TCP SYNs (classic pcap, Ethernet) from `shop-app-1` (172.18.0.3 in
//! `pcaps/policies/containers.json`) to N distinct outside addresses in 198.18.0.0/15
//! (RFC 2544's benchmark range; beyond 131,072 the ports vary too) on IRC's port
//! 6667, 1 ms of packet time apart: each flow start raises the shipped WARNING rule
//! "Connection to IRC Port", each for a different address pair (so deduplication,
//! if left on, folds nothing but the fan-out rule's repeats).  Checksums are left
//! zero (bridgewatch does not verify them); the same N gives the same file.

use std::io::{BufWriter, Write};

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(n), Some(path)) = (args.get(1).and_then(|n| n.parse::<u64>().ok()), args.get(2))
    else {
        eprintln!("usage: alertcap N FILE");
        std::process::exit(2);
    };
    let mut w = BufWriter::new(std::fs::File::create(path)?);
    // Classic pcap header: µs, little-endian, snaplen 65535, Ethernet.
    w.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
    w.write_all(&2u16.to_le_bytes())?;
    w.write_all(&4u16.to_le_bytes())?;
    w.write_all(&[0; 8])?;
    w.write_all(&65535u32.to_le_bytes())?;
    w.write_all(&1u32.to_le_bytes())?;
    let src = [172u8, 18, 0, 3];
    for i in 0..n {
        let host = (i % 131_072) as u32;
        let dst = (0xc612_0000u32 | host).to_be_bytes(); // 198.18.0.0 + host
        let sport = 10_000 + (i / 131_072) as u16 % 50_000;
        let mut f = Vec::with_capacity(54);
        f.extend_from_slice(&[0x02, 0x42, 0xac, 0x12, 0x00, 0x01]); // gateway MAC
        f.extend_from_slice(&[0x02, 0x42, 0xac, 0x12, 0x00, 0x03]); // shop-app-1
        f.extend_from_slice(&[0x08, 0x00]);
        // IPv4: 20 bytes, total 40, TTL 64, TCP.
        f.extend_from_slice(&[0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0]);
        f.extend_from_slice(&src);
        f.extend_from_slice(&dst);
        // TCP SYN, 20 bytes.
        f.extend_from_slice(&sport.to_be_bytes());
        f.extend_from_slice(&6667u16.to_be_bytes());
        f.extend_from_slice(&1000u32.to_be_bytes());
        f.extend_from_slice(&0u32.to_be_bytes());
        f.extend_from_slice(&[0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0]);
        let t_us = 1_700_000_000_000_000u64 + i * 1000;
        w.write_all(&((t_us / 1_000_000) as u32).to_le_bytes())?;
        w.write_all(&((t_us % 1_000_000) as u32).to_le_bytes())?;
        w.write_all(&(f.len() as u32).to_le_bytes())?;
        w.write_all(&(f.len() as u32).to_le_bytes())?;
        w.write_all(&f)?;
    }
    w.flush()
}
