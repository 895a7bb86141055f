//! The replay pipeline: capture files → decode → sharded flow tables → records.
//!
//! With one thread everything runs inline on the caller's thread.  With N threads the
//! N workers take turns reading the next batch (batch k goes to worker k mod N; no
//! separate reader thread); each worker decodes its batches and sends every flow
//! packet to the worker that owns the packet's flow (symmetric hash modulo N).  Every
//! worker walks the batch sequence in order, taking batch k's packets for its shard
//! from the worker that decoded batch k, so each flow table sees its packets in
//! capture order and the set of records does not depend on N.  No lock is taken per
//! packet: only the turn to read, once per batch.

pub mod alerts;
pub mod dedup;
pub mod fanout;
pub mod input;
pub mod output;
pub mod worker;

use crate::capture::{CaptureError, IfaceNames, PacketBatch};
use crate::decode::{DecodeConfig, FlowBatch};
use crate::flow::record::FlowRecord;
use crate::flow::table::TableConfig;
use crate::metrics::Metrics;
use crate::stats::RunStats;
use crossbeam_channel::{bounded, Receiver, Sender};
use fanout::Fanout;
use input::Input;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use worker::{BpfFilter, SubBatch, Worker};

/// Something that wants to see flows as they start and end (the rule engine).
/// One instance per worker; it runs on that worker's thread.
pub trait FlowHook: Send {
    /// A flow's first packet has been accounted.
    fn on_start(&mut self, record: &FlowRecord);
    /// A flow's final record.
    fn on_end(&mut self, record: &FlowRecord);
    /// An interim record of a flow that is still open (live capture's active timeout).
    fn on_interim(&mut self, _record: &FlowRecord) {}
    /// End of a batch (and, live, shortly after packets and on idle ticks): hand
    /// buffered lines to their outputs.
    fn flush(&mut self) {}
    /// End of input: write out anything buffered.
    fn finish(&mut self) {}
}

/// Makes one [`FlowHook`] per worker.
pub type HookFactory = Arc<dyn Fn(usize) -> Box<dyn FlowHook> + Send + Sync>;

/// `--threads`: as given (at least 1), else one per CPU, at most 8.
pub fn worker_threads(flag: Option<usize>) -> Result<usize, String> {
    match flag {
        Some(0) => Err("--threads must be at least 1".into()),
        Some(n) => Ok(n),
        None => Ok(std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(8)),
    }
}

/// Everything `replay` needs, validated.
pub struct ReplayOptions {
    pub files: Vec<PathBuf>,
    /// Where flow records go (one clone per worker).
    pub flows: Option<Fanout>,
    /// Set (by SIGINT/SIGTERM) to stop reading: the run then ends as at the end of
    /// its input, every open flow written.
    pub stop: Option<Arc<AtomicBool>>,
    pub bpf: Option<BpfFilter>,
    pub threads: usize,
    /// Table settings; `max_flows` is the total, split evenly over workers.
    pub table: TableConfig,
    pub decode: DecodeConfig,
    pub progress: bool,
    pub hook: Option<HookFactory>,
    /// Frame uncompressed files from a read-only mapping instead of `read(2)`.
    pub mmap: bool,
    /// Publish counters here for `/metrics` (`--listen`).
    pub metrics: Option<Arc<Metrics>>,
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
                opts.flows.clone(),
                opts.hook.as_ref().map(|f| f(i)),
            )
        })
        .collect();
    if let Some(m) = &opts.metrics {
        for w in &mut workers {
            w.set_metrics(m.slot());
        }
    }
    let progress = Progress::new(&opts.files, opts.progress);
    let metrics = opts.metrics.as_ref();
    let (stats, file_errors) = match (threads, workers.pop()) {
        (1, Some(mut w)) => run_inline(&opts, &mut w, &names, &progress, metrics),
        (_, Some(w)) => {
            workers.push(w);
            run_threaded(&opts, workers, &names, &progress, metrics)
        }
        (_, None) => (RunStats::default(), Vec::new()),
    };
    progress.finish();
    ReplayOutcome {
        stats,
        file_errors,
        elapsed: start.elapsed(),
    }
}

fn run_inline(
    opts: &ReplayOptions,
    w: &mut Worker,
    names: &IfaceNames,
    progress: &Progress,
    metrics: Option<&Arc<Metrics>>,
) -> (RunStats, Vec<CaptureError>) {
    let mut input = Input::new(&opts.files, opts.mmap, names, progress, opts.stop.clone());
    input.metrics = metrics.map(|m| (m.clone(), m.slot()));
    input.batch_bytes = input::INLINE_BATCH_BYTES;
    let mut batch = PacketBatch::default();
    let mut out = vec![FlowBatch::with_capacity(4096)];
    while input.next_batch(&mut batch) {
        let max_ts = w.decode_batch(&batch, &mut out);
        w.process(&out[0], max_ts);
        out[0].clear();
    }
    w.finish();
    let mut stats = input.stats;
    stats.merge(&w.stats);
    (stats, input.errors)
}

/// Whose turn it is to read: batch `next` goes to worker `next % n`.
struct Turn<'a> {
    input: Input<'a>,
    next: u64,
    finished: bool,
}

fn run_threaded(
    opts: &ReplayOptions,
    workers: Vec<Worker>,
    names: &IfaceNames,
    progress: &Progress,
    metrics: Option<&Arc<Metrics>>,
) -> (RunStats, Vec<CaptureError>) {
    let n = workers.len();
    let mut input = Input::new(&opts.files, opts.mmap, names, progress, opts.stop.clone());
    input.metrics = metrics.map(|m| (m.clone(), m.slot()));
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
    let turn = Mutex::new(Turn {
        input,
        next: 0,
        finished: false,
    });
    let turn_changed = Condvar::new();
    let mut stats = std::thread::scope(|scope| {
        let mut handles = Vec::new();
        for ((mut w, txs), rxs) in workers.into_iter().zip(sub_tx).zip(sub_rx) {
            let (turn, turn_changed) = (&turn, &turn_changed);
            handles.push(scope.spawn(move || {
                worker_loop(&mut w, n, turn, turn_changed, txs, rxs);
                w
            }));
        }
        let mut stats = RunStats::default();
        for h in handles {
            if let Ok(w) = h.join() {
                stats.merge(&w.stats);
            }
        }
        stats
    });
    let turn = match turn.into_inner() {
        Ok(t) => t,
        Err(p) => p.into_inner(),
    };
    stats.merge(&turn.input.stats);
    (stats, turn.input.errors)
}

/// Worker `w.id` of `n`: walks batch sequence numbers in order and, for every k,
/// processes the packets of batch k that its own shard owns, which come from
/// whichever worker read that batch.  Batch k is read and decoded by worker `k % n`,
/// which takes its turn up to `n` batches ahead of the one it is processing, so the
/// workers decode in parallel instead of waiting for each other's batches in turn.
fn worker_loop(
    w: &mut Worker,
    n: usize,
    turn: &Mutex<Turn<'_>>,
    turn_changed: &Condvar,
    to: Vec<Option<Sender<SubBatch>>>,
    from: Vec<Option<Receiver<SubBatch>>>,
) {
    let me = w.id;
    let mut k: u64 = 0;
    let mut next_own = me as u64;
    let mut input_done = false;
    let mut batch = PacketBatch::default();
    let mut out: Vec<FlowBatch> = (0..n).map(|_| FlowBatch::default()).collect();
    let mut own: std::collections::VecDeque<(u64, SubBatch)> = Default::default();
    let mut spare: Vec<FlowBatch> = Vec::new();
    loop {
        // Read and decode our own batches up to n steps ahead.
        while !input_done && next_own < k + n as u64 {
            if !read_turn(turn, turn_changed, next_own, &mut batch) {
                input_done = true;
                break;
            }
            for (j, o) in out.iter_mut().enumerate() {
                *o = if j == me {
                    spare.pop().unwrap_or_default()
                } else {
                    FlowBatch::with_capacity(batch.packets.len() / n + 16)
                };
            }
            let max_ts = w.decode_batch(&batch, &mut out);
            for (j, o) in out.iter_mut().enumerate() {
                let sub = SubBatch {
                    packets: std::mem::take(o),
                    max_ts,
                };
                if j == me {
                    own.push_back((next_own, sub));
                } else if let Some(tx) = &to[j] {
                    let _ = tx.send(sub);
                }
            }
            next_own += n as u64;
        }
        let owner = (k % n as u64) as usize;
        let sub = if owner == me {
            match own.front() {
                Some((seq, _)) if *seq == k => own.pop_front().map(|(_, s)| s),
                _ => None, // the input ended before batch k
            }
        } else {
            from[owner].as_ref().and_then(|rx| rx.recv().ok())
        };
        let Some(sub) = sub else {
            break; // batch k does not exist: every worker stops here
        };
        w.process(&sub.packets, sub.max_ts);
        if owner == me {
            let mut v = sub.packets;
            v.clear();
            spare.push(v);
        }
        k += 1;
    }
    drop(to);
    w.finish();
}

/// Waits for batch `k`'s turn and reads it into `batch`; false once the input is done.
fn read_turn(
    turn: &Mutex<Turn<'_>>,
    turn_changed: &Condvar,
    k: u64,
    batch: &mut PacketBatch,
) -> bool {
    let mut t = match turn.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    while t.next != k && !t.finished {
        t = match turn_changed.wait(t) {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
    }
    if t.finished {
        return false;
    }
    let got = t.input.next_batch(batch);
    if got {
        t.next = k + 1;
    } else {
        t.finished = true;
    }
    drop(t);
    turn_changed.notify_all();
    got
}

/// A progress bar on stderr for large inputs when stderr is a terminal.
pub struct Progress {
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

    pub fn update(&self, file: usize, pos: u64) {
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
