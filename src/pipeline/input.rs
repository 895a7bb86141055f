//! The input side of a replay: every capture file in order, read as one stream of
//! batches.  Pull-based, so whichever thread's turn it is can take the next batch —
//! in a threaded replay the workers take turns reading instead of feeding from a
//! reader thread of their own (on a 2-core machine a third thread cost more than
//! reading did).

use super::Progress;
use crate::capture::{open_file_with, CaptureError, CaptureReader, IfaceNames, PacketBatch};
use crate::metrics::{Metrics, Ready, StatsSlot};
use crate::stats::RunStats;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// About this many bytes of capture file per batch in a threaded replay, where every
/// batch costs a hand-over between workers.
pub const BATCH_BYTES: usize = 1 << 20;

/// Batch size when one thread reads, decodes and tracks: a batch small enough that
/// the bytes `read(2)` just copied are still in the core's L2 cache when the decoder
/// reaches them.  Measured side by side (median of 11, mixed bench capture,
/// `--threads 1`): 1 MiB 0.61 s wall / 0.41 s user, 256 KiB 0.56 s / 0.38 s, 128 KiB
/// no better than 256 KiB.  Threaded, 256 KiB was 9% slower on the small-packet
/// capture (more hand-overs), hence the two sizes.
pub const INLINE_BATCH_BYTES: usize = 1 << 18;

pub struct Input<'a> {
    files: &'a [PathBuf],
    mmap: bool,
    names: &'a IfaceNames,
    progress: &'a Progress,
    next_file: usize,
    current: Option<(usize, CaptureReader, Vec<u16>)>,
    seq: u64,
    pub stats: RunStats,
    pub errors: Vec<CaptureError>,
    stop: Option<Arc<AtomicBool>>,
    /// `/metrics`: the registry (told when an input is open) and this input's slot.
    pub metrics: Option<(Arc<Metrics>, Arc<StatsSlot>)>,
    /// Target bytes per batch ([`BATCH_BYTES`] unless the caller sets another).
    pub batch_bytes: usize,
}

impl<'a> Input<'a> {
    pub fn new(
        files: &'a [PathBuf],
        mmap: bool,
        names: &'a IfaceNames,
        progress: &'a Progress,
        stop: Option<Arc<AtomicBool>>,
    ) -> Input<'a> {
        Input {
            files,
            mmap,
            names,
            progress,
            next_file: 0,
            current: None,
            seq: 0,
            stats: RunStats::default(),
            errors: Vec::new(),
            stop,
            metrics: None,
            batch_bytes: BATCH_BYTES,
        }
    }

    fn publish(&self) {
        if let Some((_, slot)) = &self.metrics {
            slot.publish(&self.stats);
        }
    }

    /// Fills `batch` (cleared first) with the next non-empty run of packets, numbering
    /// it with the next sequence number.  Returns false when every file is done, or
    /// once the stop flag is set (counted as `interrupted`).
    /// Files that cannot be opened or read to their end are recorded in `errors`.
    pub fn next_batch(&mut self, batch: &mut PacketBatch) -> bool {
        loop {
            if self
                .stop
                .as_ref()
                .is_some_and(|s| s.load(Ordering::Relaxed))
            {
                if !self.stats.interrupted {
                    self.stats.interrupted = true;
                    // The file being read counts as read: it was read up to here on purpose.
                    if self.current.take().is_some() {
                        self.stats.files_read += 1;
                    }
                }
                return false;
            }
            if self.current.is_none() {
                let Some(path) = self.files.get(self.next_file) else {
                    return false;
                };
                let fi = self.next_file;
                self.next_file += 1;
                match open_file_with(path, self.mmap) {
                    Ok(r) => {
                        self.current = Some((fi, r, Vec::new()));
                        if let Some((m, _)) = &self.metrics {
                            m.set_ready(Ready::InputsOpen);
                        }
                    }
                    Err(e) => {
                        self.stats.files_failed += 1;
                        self.errors.push(e);
                        self.publish();
                        continue;
                    }
                }
            }
            let Some((fi, reader, global_ids)) = self.current.as_mut() else {
                continue;
            };
            batch.clear();
            let res = reader.next_batch(batch, self.batch_bytes);
            while global_ids.len() < batch.interfaces.len() {
                let info = &batch.interfaces[global_ids.len()];
                global_ids.push(self.names.register(info.name.clone()));
            }
            for h in batch.packets.iter_mut() {
                h.iface = global_ids.get(h.iface as usize).copied().unwrap_or(0);
            }
            batch.file_index = *fi as u32;
            self.progress.update(*fi, reader.progress().0);
            let done = match res {
                Ok(true) => false,
                Ok(false) => {
                    self.stats.files_read += 1;
                    true
                }
                Err(e) => {
                    self.stats.files_read += 1;
                    self.stats.files_failed += 1;
                    self.errors.push(e);
                    true
                }
            };
            if done {
                if let Some((_, reader, _)) = self.current.take() {
                    let reader_stats = RunStats {
                        reader: reader.stats().clone(),
                        ..RunStats::default()
                    };
                    self.stats.merge(&reader_stats);
                }
                self.publish();
            }
            if !batch.packets.is_empty() {
                batch.seq = self.seq;
                self.seq += 1;
                return true;
            }
        }
    }
}
