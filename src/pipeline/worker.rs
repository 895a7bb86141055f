//! One worker: decodes the batches handed to it, routes each flow packet to the
//! worker that owns its flow (by the symmetric hash), and runs its own flow table
//! over the packets routed to it.  A worker's table, decoder and output buffer
//! belong to it alone.

use super::fanout::Fanout;
use super::FlowHook;
use crate::capture::{LinkType, PacketBatch};
use crate::decode::{DecodeError, Decoder, FlowBatch, FlowPacket, FlowSink, TunnelParent};
use crate::flow::record::FlowRecord;
use crate::flow::table::{FlowTable, TableConfig};
use crate::metrics::StatsSlot;
use crate::stats::RunStats;
use crate::time::Nanos;
use std::collections::HashMap;
use std::sync::Arc;

/// A compiled `--bpf` expression, one program per link type met (compiled lazily,
/// on the worker that uses it: libpcap programs are not shared across threads).
pub struct BpfFilter {
    expr: String,
    programs: HashMap<LinkType, Option<pcap::BpfProgram>>,
}

impl BpfFilter {
    /// Compiles `expr` for Ethernet once to reject a bad expression before any work.
    pub fn new(expr: &str) -> Result<BpfFilter, String> {
        compile(expr, LinkType::Ethernet)?;
        Ok(BpfFilter {
            expr: expr.to_string(),
            programs: HashMap::new(),
        })
    }

    /// Whether the packet passes.  Link types the expression cannot be compiled for
    /// let nothing through (counted as rejected by the caller).
    pub fn matches(&mut self, link: LinkType, data: &[u8]) -> bool {
        let expr = &self.expr;
        let prog = self
            .programs
            .entry(link)
            .or_insert_with(|| compile(expr, link).ok());
        prog.as_ref().is_some_and(|p| p.filter(data))
    }
}

impl Clone for BpfFilter {
    fn clone(&self) -> Self {
        BpfFilter {
            expr: self.expr.clone(),
            programs: HashMap::new(),
        }
    }
}

fn compile(expr: &str, link: LinkType) -> Result<pcap::BpfProgram, String> {
    let dead = pcap::Capture::dead(pcap::Linktype(link.linktype() as i32))
        .map_err(|e| format!("libpcap: {e}"))?;
    dead.compile(expr, true)
        .map_err(|e| format!("--bpf '{expr}': {e}"))
}

/// The decoder's sink in [`Worker::decode_batch`]: puts each flow packet straight
/// into its shard's batch, with the route (key, direction, hash) that chose the
/// shard, which the shard's table then uses instead of deriving it again.
/// (Decoding into a scratch vector and moving each packet on from there was 174M Ir
/// of memcpy, 3% of a 1-thread replay of mixed.pcap.)
struct Router<'a> {
    /// Any worker's table: all share the key settings and hash seed.
    table: &'a FlowTable,
    shards: u64,
    out: &'a mut [FlowBatch],
    /// Flow packets pushed so far.
    pushed: u64,
}

impl FlowSink for Router<'_> {
    #[inline]
    fn push(&mut self, p: FlowPacket, tunnel: Option<&TunnelParent>) {
        let route = self.table.route(&p);
        let shard = if self.shards == 1 {
            0
        } else {
            (route.hash % self.shards) as usize
        };
        if let Some(o) = self.out.get_mut(shard) {
            o.push_routed(p, tunnel, route);
        }
        self.pushed += 1;
    }
}

/// Flow packets for one destination shard from one batch.
pub struct SubBatch {
    pub packets: FlowBatch,
    /// Latest timestamp in the whole batch: every shard advances its clock with it.
    pub max_ts: Nanos,
}

pub struct Worker {
    pub id: usize,
    shards: usize,
    decoder: Decoder,
    table: FlowTable,
    pub stats: RunStats,
    bpf: Option<BpfFilter>,
    flows: Option<Fanout>,
    hook: Option<Box<dyn FlowHook>>,
    started: Vec<FlowRecord>,
    /// Where this worker publishes its counters for `/metrics`, once per batch.
    metrics: Option<Arc<StatsSlot>>,
}

impl Worker {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: usize,
        shards: usize,
        decoder: Decoder,
        table_config: TableConfig,
        bpf: Option<BpfFilter>,
        flows: Option<Fanout>,
        hook: Option<Box<dyn FlowHook>>,
    ) -> Worker {
        let mut table = FlowTable::new(table_config);
        table.set_track_starts(hook.is_some());
        Worker {
            id,
            shards,
            decoder,
            table,
            stats: RunStats::default(),
            bpf,
            flows,
            hook,
            started: Vec::new(),
            metrics: None,
        }
    }

    /// Publish this worker's counters into `slot` after every batch.
    pub fn set_metrics(&mut self, slot: Arc<StatsSlot>) {
        self.metrics = Some(slot);
    }

    /// Stores this worker's counters into its `/metrics` slot, if it has one (done
    /// after every batch; live capture threads call it after each dispatch).
    pub fn publish(&self) {
        if let Some(m) = &self.metrics {
            m.publish(&self.stats);
            m.publish_table(self.table.stats(), self.table.len());
        }
    }

    /// Decodes every packet of `batch` into per-shard batches (`out[s]` for shard s),
    /// each flow packet with its route.  Returns the batch's latest timestamp.
    pub fn decode_batch(&mut self, batch: &PacketBatch, out: &mut [FlowBatch]) -> Nanos {
        let mut max_ts = Nanos::MIN;
        let mut router = Router {
            table: &self.table,
            shards: self.shards as u64,
            out,
            pushed: 0,
        };
        // Counted here and added to `stats` once per batch: a map update per packet
        // that yields no flow (ARP, held fragments, ...) costs a string-keyed
        // BTreeMap walk.
        let mut skipped = [0u64; DecodeError::KINDS.len()];
        let mut failed = [0u64; DecodeError::KINDS.len()];
        for h in &batch.packets {
            self.stats.packets += 1;
            self.stats.bytes += h.caplen as u64;
            max_ts = max_ts.max(h.ts);
            let data = batch.bytes(h);
            if let Some(bpf) = self.bpf.as_mut() {
                if !bpf.matches(h.link, data) {
                    self.stats.bpf_rejected += 1;
                    continue;
                }
            }
            let before = router.pushed;
            if let Err(e) = self.decoder.decode(h, data, &mut router) {
                let counts = if e.is_benign() {
                    &mut skipped
                } else {
                    &mut failed
                };
                if let Some(n) = counts.get_mut(e.ordinal()) {
                    *n += 1;
                }
            }
            if router.pushed != before {
                self.stats.decoded += 1;
            }
        }
        let s = &mut self.stats;
        for (map, counts) in [(&mut s.skipped, skipped), (&mut s.decode_failures, failed)] {
            for (kind, n) in DecodeError::KINDS.iter().zip(counts) {
                if n > 0 {
                    *map.entry(*kind).or_default() += n;
                }
            }
        }
        max_ts
    }

    /// Runs this worker's flow table over packets routed to it.
    pub fn process(&mut self, packets: &FlowBatch, max_ts: Nanos) {
        let hook = &mut self.hook;
        let started = &mut self.started;
        self.table.process_batch(packets, |table| {
            if let Some(h) = hook.as_mut() {
                table.take_started(started);
                // Most packets start no flow: an empty drain still cost 26 instructions
                // a packet to build and drop (52M of 4.37G, callgrind, mixed.pcap).
                if !started.is_empty() {
                    for r in started.iter() {
                        h.on_start(r);
                    }
                    started.clear();
                }
            }
        });
        self.table.advance(max_ts);
        self.emit_finished();
        // A batch's records reach their files now, not a megabyte later: an output
        // file trails the input by at most a batch.
        if let Some(f) = self.flows.as_mut() {
            f.flush();
        }
        if let Some(h) = self.hook.as_mut() {
            h.flush();
        }
        self.publish();
    }

    /// End of input: flush every open flow and the output buffer.
    pub fn finish(&mut self) {
        // In pieces, so the records of a million open flows never sit in memory at once.
        while self.table.flush_some(4096) {
            self.emit_finished();
        }
        self.emit_finished();
        if let Some(hook) = self.hook.as_mut() {
            hook.finish();
        }
        if let Some(f) = self.flows.as_mut() {
            f.flush();
        }
        self.stats.table = self.table.stats().clone();
        self.publish();
    }

    /// Live capture: interim records of the flows open since `first_before` and active
    /// after `active_after` go to the hook; returns how many.
    pub fn emit_interim(&mut self, first_before: Nanos, active_after: Nanos) -> u64 {
        let mut recs = Vec::new();
        self.table
            .interim_records(first_before, active_after, &mut recs);
        if let Some(hook) = self.hook.as_mut() {
            for r in &recs {
                hook.on_interim(r);
            }
        }
        recs.len() as u64
    }

    /// Live capture: hands the buffered flow records and the hook's output on (after
    /// interim records, which no batch follows).
    pub fn flush_outputs(&mut self) {
        if let Some(hook) = self.hook.as_mut() {
            hook.flush();
        }
        if let Some(f) = self.flows.as_mut() {
            f.flush();
        }
    }

    /// Hands the records the table has finished to the hook and the flow outputs, by
    /// reference where they lie: moving each ~250-byte record out through a drain and
    /// a second buffer was two copies a record (memcpy, 4.5% of `perf` samples).
    fn emit_finished(&mut self) {
        let records = self.table.finished();
        for r in records {
            if let Some(hook) = self.hook.as_mut() {
                hook.on_end(r);
            }
            if let Some(f) = self.flows.as_mut() {
                f.flow(r);
            }
        }
        self.stats.flows_written += records.len() as u64;
        self.table.clear_finished();
    }
}
