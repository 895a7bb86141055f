//! The replay pipeline: capture files → decode → sharded flow tables → records.
//!
//! With one thread everything runs inline on the caller's thread.  With N threads a
//! reader thread cuts the input into batches and deals them round-robin to N
//! workers; each worker decodes its batches and sends every flow packet to the
//! worker that owns the packet's flow (symmetric hash modulo N).  Every worker walks
//! the batch sequence in order, taking batch k's packets for its shard from the
//! worker that decoded batch k, so each flow table sees its packets in capture order
//! and the set of records does not depend on N.  Nothing on this path takes a lock.

pub mod alerts;
pub mod output;
pub mod worker;

use crate::capture::{open_file_with, CaptureError, IfaceNames, PacketBatch};
use crate::decode::{DecodeConfig, FlowPacket};
use crate::flow::record::FlowRecord;
use crate::flow::table::TableConfig;
use crate::stats::RunStats;
use crossbeam_channel::{bounded, Receiver, Sender};
use output::SharedWriter;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use worker::{BpfFilter, SubBatch, Worker};

/// About this many bytes of packet data per batch.
pub const BATCH_BYTES: usize = 1 << 20;

/// Something that wants to see flows as they start and end (the rule engine).
/// One instance per worker; it runs on that worker's thread.
pub trait FlowHook: Send {
    /// A flow's first packet has been accounted.
    fn on_start(&mut self, record: &FlowRecord);
    /// A flow's final record.
    fn on_end(&mut self, record: &FlowRecord);
    /// End of input: write out anything buffered.
    fn finish(&mut self) {}
}

/// Makes one [`FlowHook`] per worker.
pub type HookFactory = Arc<dyn Fn(usize) -> Box<dyn FlowHook> + Send + Sync>;

/// Everything `replay` needs, validated.
pub struct ReplayOptions {
    pub files: Vec<PathBuf>,
    pub flows_out: Option<Arc<SharedWriter>>,
    pub bpf: Option<BpfFilter>,
    pub threads: usize,
    /// Table settings; `max_flows` is the total, split evenly over workers.
    pub table: TableConfig,
    pub decode: DecodeConfig,
    pub progress: bool,
    pub hook: Option<HookFactory>,
    /// Frame uncompressed files from a read-only mapping instead of `read(2)`.
    pub mmap: bool,
}

/// What a replay did.
pub struct ReplayOutcome {
    pub stats: RunStats,
    /// One entry per file that could not be read to its end.
    pub file_errors: Vec<CaptureError>,
    pub elapsed: Duration,
}

pub fn run_replay(opts: ReplayOptions) -> ReplayOutcome {
    let start = Instant::now();
    let threads = opts.threads.max(1);
    let names = Arc::new(IfaceNames::default());
    let mut table = opts.table.clone();
    table.iface_names = Some(names.clone());
    table.max_flows = (table.max_flows / threads).max(1);
    let decoders = crate::decode::decoders(opts.decode.clone(), threads);
    let mut workers: Vec<Worker> = decoders
        .into_iter()
        .enumerate()
        .map(|(i, d)| {
            Worker::new(
                i,
                threads,
                d,
                table.clone(),
                opts.bpf.clone(),
                opts.flows_out.clone(),
                opts.hook.as_ref().map(|f| f(i)),
            )
        })
        .collect();
    let progress = Progress::new(&opts.files, opts.progress);
    let (stats, file_errors) = if threads == 1 {
        let mut w = workers.pop().expect("one worker");
        run_inline(&opts.files, opts.mmap, &mut w, &names, &progress)
    } else {
        run_threaded(&opts.files, opts.mmap, workers, &names, &progress)
    };
    progress.finish();
    ReplayOutcome {
        stats,
        file_errors,
        elapsed: start.elapsed(),
    }
}

/// Reads every file in order, calling `deliver` with each non-empty batch.
fn read_all(
    files: &[PathBuf],
    mmap: bool,
    names: &IfaceNames,
    progress: &Progress,
    mut recycle: impl FnMut() -> PacketBatch,
    mut deliver: impl FnMut(PacketBatch) -> bool,
) -> (RunStats, Vec<CaptureError>) {
    let mut stats = RunStats::default();
    let mut errors = Vec::new();
    let mut seq = 0u64;
    for (fi, path) in files.iter().enumerate() {
        let mut reader = match open_file_with(path, mmap) {
            Ok(r) => r,
            Err(e) => {
                stats.files_failed += 1;
                errors.push(e);
                continue;
            }
        };
        let mut global_ids: Vec<u16> = Vec::new();
        loop {
            let mut batch = recycle();
            batch.clear();
            let res = reader.next_batch(&mut batch, BATCH_BYTES);
            while global_ids.len() < batch.interfaces.len() {
                let info = &batch.interfaces[global_ids.len()];
                global_ids.push(names.register(info.name.clone()));
            }
            for h in batch.packets.iter_mut() {
                h.iface = global_ids.get(h.iface as usize).copied().unwrap_or(0);
            }
            batch.seq = seq;
            batch.file_index = fi as u32;
            progress.update(fi, reader.progress().0);
            let more = matches!(res, Ok(true));
            if !batch.packets.is_empty() {
                seq += 1;
                if !deliver(batch) {
                    return (stats, errors);
                }
            }
            match res {
                Ok(true) => {}
                Ok(false) => {
                    stats.files_read += 1;
                    break;
                }
                Err(e) => {
                    stats.files_read += 1;
                    stats.files_failed += 1;
                    errors.push(e);
                    break;
                }
            }
            debug_assert!(more);
        }
        crate::stats::RunStats::merge(
            &mut stats,
            &RunStats {
                reader: reader.stats().clone(),
                ..RunStats::default()
            },
        );
    }
    (stats, errors)
}

fn run_inline(
    files: &[PathBuf],
    mmap: bool,
    w: &mut Worker,
    names: &IfaceNames,
    progress: &Progress,
) -> (RunStats, Vec<CaptureError>) {
    let spare = std::cell::RefCell::new(Some(PacketBatch::default()));
    let mut out = vec![Vec::<FlowPacket>::with_capacity(4096)];
    let (mut stats, errors) = read_all(
        files,
        mmap,
        names,
        progress,
        || spare.borrow_mut().take().unwrap_or_default(),
        |batch| {
            let max_ts = w.decode_batch(&batch, &mut out);
            w.process(&out[0], max_ts);
            out[0].clear();
            *spare.borrow_mut() = Some(batch);
            true
        },
    );
    w.finish();
    stats.merge(&w.stats);
    (stats, errors)
}

fn run_threaded(
    files: &[PathBuf],
    mmap: bool,
    workers: Vec<Worker>,
    names: &IfaceNames,
    progress: &Progress,
) -> (RunStats, Vec<CaptureError>) {
    let n = workers.len();
    // reader → worker i (batches with seq % n == i)
    let mut batch_tx: Vec<Sender<PacketBatch>> = Vec::new();
    let mut batch_rx: Vec<Receiver<PacketBatch>> = Vec::new();
    for _ in 0..n {
        let (tx, rx) = bounded(4);
        batch_tx.push(tx);
        batch_rx.push(rx);
    }
    let (recycle_tx, recycle_rx) = bounded::<PacketBatch>(4 * n + 4);
    // worker i → worker j sub-batches: grid[i][j]
    let mut sub_tx: Vec<Vec<Option<Sender<SubBatch>>>> = Vec::new();
    let mut sub_rx: Vec<Vec<Option<Receiver<SubBatch>>>> = (0..n).map(|_| Vec::new()).collect();
    for i in 0..n {
        let mut row = Vec::new();
        for (j, rx_row) in sub_rx.iter_mut().enumerate() {
            if i == j {
                row.push(None);
                rx_row.push(None);
            } else {
                let (tx, rx) = bounded(8);
                row.push(Some(tx));
                rx_row.push(Some(rx));
            }
        }
        sub_tx.push(row);
    }

    std::thread::scope(|scope| {
        let mut handles = Vec::new();
        for (((mut w, rx), txs), rxs) in workers.into_iter().zip(batch_rx).zip(sub_tx).zip(sub_rx) {
            let recycle_tx = recycle_tx.clone();
            handles.push(scope.spawn(move || {
                worker_loop(&mut w, n, rx, txs, rxs, recycle_tx);
                w
            }));
        }
        drop(recycle_tx);
        let (mut stats, errors) = read_all(
            files,
            mmap,
            names,
            progress,
            || recycle_rx.try_recv().unwrap_or_default(),
            |batch| {
                let i = (batch.seq % n as u64) as usize;
                batch_tx[i].send(batch).is_ok()
            },
        );
        drop(batch_tx);
        for h in handles {
            match h.join() {
                Ok(w) => stats.merge(&w.stats),
                Err(_) => stats.files_failed += 0,
            }
        }
        (stats, errors)
    })
}

/// Worker `w.id` of `n`: walks batch sequence numbers in order.  For its own batches
/// it decodes and scatters; for every batch it then processes the packets routed to
/// its shard, which come from whichever worker decoded that batch.
fn worker_loop(
    w: &mut Worker,
    n: usize,
    batches: Receiver<PacketBatch>,
    to: Vec<Option<Sender<SubBatch>>>,
    from: Vec<Option<Receiver<SubBatch>>>,
    recycle: Sender<PacketBatch>,
) {
    let me = w.id;
    let mut k: u64 = 0;
    let mut out: Vec<Vec<FlowPacket>> = (0..n).map(|_| Vec::new()).collect();
    let mut own: Option<SubBatch> = None;
    loop {
        let owner = (k % n as u64) as usize;
        if owner == me {
            let Ok(batch) = batches.recv() else {
                break; // input finished: dropping our senders tells the others
            };
            for (j, o) in out.iter_mut().enumerate() {
                if j != me {
                    *o = Vec::with_capacity(batch.packets.len() / n + 16);
                }
            }
            let max_ts = w.decode_batch(&batch, &mut out);
            let _ = recycle.try_send(batch);
            for (j, o) in out.iter_mut().enumerate() {
                let packets = std::mem::take(o);
                let sub = SubBatch { packets, max_ts };
                if j == me {
                    own = Some(sub);
                } else if let Some(tx) = &to[j] {
                    let _ = tx.send(sub);
                }
            }
        }
        let sub = if owner == me {
            own.take()
        } else {
            from[owner].as_ref().and_then(|rx| rx.recv().ok())
        };
        let Some(sub) = sub else {
            break; // the owner of batch k found the input finished
        };
        w.process(&sub.packets, sub.max_ts);
        if owner == me {
            // keep the allocation for our next own batch
            out[me] = sub.packets;
            out[me].clear();
        }
        k += 1;
    }
    drop(to);
    w.finish();
}

/// A progress bar on stderr for large inputs when stderr is a terminal.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    offsets: Vec<u64>,
}

impl Progress {
    fn new(files: &[PathBuf], enabled: bool) -> Progress {
        let sizes: Vec<u64> = files
            .iter()
            .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
            .collect();
        let total: u64 = sizes.iter().sum();
        let mut offsets = Vec::with_capacity(sizes.len());
        let mut acc = 0;
        for s in &sizes {
            offsets.push(acc);
            acc += s;
        }
        let show = enabled && std::io::stderr().is_terminal() && total >= 64 << 20;
        let bar = show.then(|| {
            let b = indicatif::ProgressBar::new(total);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            b
        });
        Progress { bar, offsets }
    }

    fn update(&self, file: usize, pos: u64) {
        if let Some(b) = &self.bar {
            b.set_position(self.offsets.get(file).copied().unwrap_or(0) + pos);
        }
    }

    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
