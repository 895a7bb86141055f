//! Feeds arbitrary bytes through the capture-file reader (gzip, pcap and pcapng
//! sniffing, record framing, batch carry-over) until it ends or errors.  Any panic,
//! or a packet header pointing outside its batch, is a bug.  The same body runs as a
//! unit test (`capture::file::tests::garbage_and_truncations_never_panic`).
#![no_main]

use bridgewatch::capture::{CaptureReader, PacketBatch, MAX_CAPLEN};
use libfuzzer_sys::fuzz_target;
use std::io::Cursor;
use std::path::PathBuf;

fuzz_target!(|data: &[u8]| {
    let Ok(mut reader) = CaptureReader::from_reader(
        PathBuf::from("fuzz-input"),
        Box::new(Cursor::new(data.to_vec())),
    ) else {
        return;
    };
    let mut batch = PacketBatch::default();
    // Small, input-chosen batch sizes make records straddle chunk boundaries.
    let target = usize::from(data.first().copied().unwrap_or(0)) * 64;
    loop {
        batch.clear();
        let res = reader.next_batch(&mut batch, target);
        for h in &batch.packets {
            assert!((h.offset as usize + h.caplen as usize) <= batch.data.len());
            assert!((h.iface as usize) < batch.interfaces.len());
            assert!(h.caplen <= MAX_CAPLEN && h.caplen <= h.orig_len);
            let _ = batch.bytes(h);
        }
        match res {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                assert!(e.to_string().starts_with("fuzz-input: "));
                break;
            }
        }
    }
});
