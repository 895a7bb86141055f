//! The per-worker flow table.  Each worker owns one table outright (flows are
//! sharded by [`FlowKey::hash64`], so both directions of a flow reach the same
//! worker) and no lock is taken on the packet path.
//!
//! Layout: flows live in a slab (`Vec<Flow>` plus a free list); a `hashbrown`
//! `HashTable<u32>` maps keys to slab slots; a min-heap of `(expiry, slot, generation)`
//! drives packet-time timeouts lazily — a flow's heap entry is only re-checked when
//! it comes due, so a packet costs one lookup and a few counter updates.
//! Memory is bounded by `max_flows`: inserting into a full table evicts the flow that
//! is closest to its timeout, and every eviction is counted.

use super::community_id::{community_id_v1, CommunityId};
use super::index::{prefetch_all, FlowIndex};
use super::key::{to_ip, FlowKey, FlowTuple, NO_VLAN};
use super::origin::{first_sender_is_responder, UdpTracker};
use super::record::{mac_of, proto_name, EndReason, FlowRecord, History, TunnelInfo};
use super::tcp::{TcpPhase, TcpSegment, TcpTracker};
use super::timeouts::Timeouts;
use super::timers::TimerWheel;
use super::uid::Uid;
use super::Side;
use crate::capture::IfaceNames;
use crate::decode::{FlowBatch, FlowPacket, Route, TunnelKind, TunnelParent, NO_MAC};
use crate::time::Nanos;
use std::sync::Arc;

/// Settings every worker's table shares.
#[derive(Clone, Debug)]
pub struct TableConfig {
    /// Most flows this table may hold at once.
    pub max_flows: usize,
    pub timeouts: Timeouts,
    pub community_id_seed: u16,
    /// Seed of the flow hash (random per process; it must be the same for all workers).
    pub hash_seed: u64,
    /// Make the capture interface part of the flow key (off for replay: one flow seen
    /// on two interfaces of a pcapng file is one flow, as Zeek counts it).
    pub key_iface: bool,
    /// Interface names for `FlowRecord::iface`, by the packets' interface index.
    pub iface_names: Option<Arc<IfaceNames>>,
    /// Compute `community_id` in flow-start records ([`FlowTable::take_started`]).
    pub start_community_id: bool,
}

/// What a table has done, for the run summary.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableStats {
    pub flows_created: u64,
    pub flows_ended: u64,
    pub flows_evicted: u64,
    pub flows_timed_out: u64,
    pub flows_reused: u64,
    /// Most flows held at once.
    pub peak_flows: u64,
}

/// Per-protocol state of a flow: Zeek's TCP endpoint machine, or the UDP/ICMP/other
/// summary (who originated, who sent, payload bytes).
#[derive(Clone, Debug)]
enum ProtoState {
    Tcp(TcpTracker),
    Other(UdpTracker),
}

/// One tracked flow.  Counters are per side (A = sender of the first packet).
#[derive(Clone, Debug)]
struct Flow {
    key: FlowKey,
    /// `key.hash64(seed)`, kept so growing the index never re-reads keys.
    hash: u64,
    first_ts: Nanos,
    last_ts: Nanos,
    pkts: [u64; 2],
    ip_bytes: [u64; 2],
    state: ProtoState,
    /// Present only on inner flows of a tunnel.
    tunnel: Option<Box<TunnelParent>>,
    /// Generation of this slot: bumped when the slot is freed or its timer re-armed,
    /// so stale heap entries are recognised and skipped.
    generation: u32,
    /// Expiry time of the flow's live heap entry.
    armed_expiry: Nanos,
    iface: u16,
    vlan: [u16; 2],
    /// Ethernet source address of each side's first packet ([`NO_MAC`] until then,
    /// or when the link type has none): MAC-lease attribution reads it from the record.
    l2: [[u8; 6]; 2],
    /// Side A is the key's `hi` end.
    a_is_hi: bool,
    live: bool,
}

/// A worker's flow table.
pub struct FlowTable {
    config: TableConfig,
    slab: Vec<Flow>,
    free: Vec<u32>,
    index: FlowIndex,
    /// Per-batch scratch: each packet's route, when the batch came without them.
    routes: Vec<Route>,
    timers: TimerWheel,
    due: Vec<(u32, u32)>,
    live: usize,
    /// Latest packet time seen (never goes backwards).
    now: Nanos,
    stats: TableStats,
    finished: Vec<FlowRecord>,
    started: Vec<u32>,
    /// Whether to remember new flows for [`FlowTable::take_started`].
    track_starts: bool,
    /// This table's copy of the interface names (refreshed when an unknown index shows up).
    name_cache: std::cell::RefCell<Vec<Option<Arc<str>>>>,
}

impl FlowTable {
    pub fn new(config: TableConfig) -> FlowTable {
        FlowTable {
            index: FlowIndex::with_capacity(config.max_flows.min(1 << 16)),
            routes: Vec::new(),
            slab: reserve_slab(config.max_flows),
            config,
            free: Vec::new(),
            timers: TimerWheel::new(),
            due: Vec::new(),
            live: 0,
            now: Nanos::MIN,
            stats: TableStats::default(),
            finished: Vec::new(),
            started: Vec::new(),
            track_starts: false,
            name_cache: std::cell::RefCell::new(Vec::new()),
        }
    }

    /// Remember each new flow so the caller can look at it (rules at flow start).
    pub fn set_track_starts(&mut self, on: bool) {
        self.track_starts = on;
    }

    pub fn stats(&self) -> &TableStats {
        &self.stats
    }

    pub fn len(&self) -> usize {
        self.live
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Latest packet time this table has seen.
    pub fn now(&self) -> Nanos {
        self.now
    }

    /// Records written (timeouts, reuse, evictions, flushes) since the last
    /// [`FlowTable::clear_finished`], to read in place.
    pub fn finished(&self) -> &[FlowRecord] {
        &self.finished
    }

    /// Forgets the records [`FlowTable::finished`] returned.
    pub fn clear_finished(&mut self) {
        self.finished.clear();
    }

    /// Records of the flows started since the last call, as they stand now (one packet
    /// in, usually): the view rules take at flow start.
    ///
    /// Called after every packet, and most packets start no flow: that case is an
    /// inlined length check (the call and the swap of the list it made every time were
    /// 77M instructions for 2M packets, callgrind, mixed.pcap).
    #[inline]
    pub fn take_started(&mut self, out: &mut Vec<FlowRecord>) {
        if !self.started.is_empty() {
            self.take_started_records(out);
        }
    }

    fn take_started_records(&mut self, out: &mut Vec<FlowRecord>) {
        for &slot in &self.started {
            if let Some(f) = self.slab.get(slot as usize) {
                if f.live {
                    out.push(self.record(f, EndReason::EndOfInput, self.config.start_community_id));
                }
            }
        }
        self.started.clear();
    }

    /// Interim records (live capture's active timeout): the counters so far of every
    /// open flow that started at or before `first_before` and saw a packet after
    /// `active_after`, with `end_reason` [`EndReason::ActiveTimeout`].  The flows stay
    /// open; a walk over the whole table, so callers run it seconds apart, not per packet.
    pub fn interim_records(
        &self,
        first_before: Nanos,
        active_after: Nanos,
        out: &mut Vec<FlowRecord>,
    ) {
        for f in &self.slab {
            if f.live && f.first_ts <= first_before && f.last_ts > active_after {
                out.push(self.record(f, EndReason::ActiveTimeout, true));
            }
        }
    }

    /// Moves packet time forward to `t` (if later) and writes out every flow whose
    /// timeout has passed.
    pub fn advance(&mut self, t: Nanos) {
        if t <= self.now {
            return;
        }
        self.now = t;
        // Nothing can come due before the wheel's next second: most packets stop here
        // (the drain's division and bookkeeping on every packet were ~70 instructions
        // a packet, callgrind, mixed.pcap).
        if t < self.timers.next_tick() {
            return;
        }
        let mut due = std::mem::take(&mut self.due);
        self.timers.drain_due(t, &mut due);
        // Flows come due in creation order but sit anywhere in memory: fetch the
        // entries a few ahead (and their index buckets) while ending the current one.
        for &(slot, _) in due.iter().take(4) {
            if let Some(f) = self.slab.get(slot as usize) {
                prefetch_all(f);
            }
        }
        for i in 0..due.len() {
            if let Some(f) = due.get(i + 4).and_then(|&(s, _)| self.slab.get(s as usize)) {
                prefetch_all(f);
            }
            if let Some(f) = due.get(i + 2).and_then(|&(s, _)| self.slab.get(s as usize)) {
                self.index.prefetch(f.hash);
            }
            let (slot, generation) = due[i];
            let Some(f) = self.slab.get(slot as usize) else {
                continue;
            };
            if !f.live || f.generation != generation {
                continue;
            }
            let real = f.last_ts.saturating_add(self.timeout_of(f));
            if real <= t {
                self.stats.flows_timed_out += 1;
                self.end_flow(slot, EndReason::Timeout);
            } else {
                self.arm(slot, real);
            }
        }
        due.clear();
        self.due = due;
    }

    /// Accounts one packet that is not part of a [`FlowBatch`] (tests, benchmarks):
    /// it has no tunnel parent.
    #[inline]
    pub fn process(&mut self, p: &FlowPacket) {
        debug_assert!(p.tunnel.is_none(), "a tunnelled packet needs its batch");
        let route = self.route(p);
        self.process_keyed(p, None, &route);
    }

    /// The hash and direction of `p`'s flow key in this table: what routing computes
    /// to pick a packet's shard, and hands on with [`FlowBatch::push_routed`].  Every
    /// worker's table has the same seed and keying, so any of them may route.
    /// Always inlined: out of line it cost a call and the packet's trip through
    /// memory per packet in the decoder's sink.
    #[inline(always)]
    pub fn route(&self, p: &FlowPacket) -> Route {
        let (hash, swapped) =
            p.tuple
                .route_hash(p.key_vlan, self.key_ctx(p), self.config.hash_seed);
        Route { hash, swapped }
    }

    #[inline]
    fn key_ctx(&self, p: &FlowPacket) -> u32 {
        if self.config.key_iface {
            p.iface as u32
        } else {
            0
        }
    }

    /// Accounts a batch of packets in order, calling `after` once after each packet.
    /// Equivalent to [`FlowTable::process`] per packet, but it fetches each packet's
    /// index bucket and flow entry into cache a few packets ahead, so the two cache
    /// misses a large table costs per packet overlap instead of stalling in turn.
    /// The routes in the batch (hash and direction, from routing) are used as they
    /// are; only the key is rebuilt.  Before, with --threads N, routing and the
    /// table each derived key and hash from the tuple.
    pub fn process_batch(&mut self, batch: &FlowBatch, mut after: impl FnMut(&mut FlowTable)) {
        const AHEAD: usize = 8;
        let mut scratch = std::mem::take(&mut self.routes);
        let routes = match batch.routes() {
            Some(r) => r,
            None => {
                scratch.clear();
                scratch.extend(batch.iter().map(|p| self.route(p)));
                &scratch[..]
            }
        };
        for (i, (p, route)) in batch.iter().zip(routes).enumerate() {
            if let Some(r) = routes.get(i + AHEAD) {
                self.index.prefetch(r.hash);
            }
            if let Some(r) = routes.get(i + AHEAD / 2) {
                if let Some(f) = self
                    .index
                    .candidate(r.hash)
                    .and_then(|s| self.slab.get(s as usize))
                {
                    prefetch_all(f);
                }
            }
            self.process_keyed(p, batch.tunnel(p), route);
            after(self);
        }
        self.routes = scratch;
    }

    #[inline]
    fn process_keyed(&mut self, p: &FlowPacket, tunnel: Option<&TunnelParent>, route: &Route) {
        let Route { hash, swapped } = *route;
        let key = FlowKey::oriented(&p.tuple, p.key_vlan, self.key_ctx(p), swapped);
        debug_assert_eq!(hash, key.hash64(self.config.hash_seed));
        self.advance(p.ts);
        let slab = &self.slab;
        let found = self.index.find(hash, |s| {
            slab.get(s as usize).is_some_and(|f| f.live && f.key == key)
        });
        let slot = match found {
            Some(slot) => match self.must_restart(slot, p, swapped) {
                None => slot,
                Some(reason) => {
                    if reason == EndReason::Reused {
                        self.stats.flows_reused += 1;
                    } else {
                        self.stats.flows_timed_out += 1;
                    }
                    self.end_flow(slot, reason);
                    self.insert(key, hash, swapped, p, tunnel)
                }
            },
            None => self.insert(key, hash, swapped, p, tunnel),
        };
        self.update(slot, swapped, p);
    }

    /// Writes out every flow still open (end of input).
    pub fn flush(&mut self) {
        while self.flush_some(usize::MAX) {}
    }

    /// Writes out up to `n` of the flows still open (end of input), so a caller can
    /// hand their records on in bounded pieces.  Returns whether any remain.
    pub fn flush_some(&mut self, n: usize) -> bool {
        // No lookup follows the end of input, so the index is dropped in one sweep
        // instead of one delete per flow: each delete was a cache miss, 7.7% of a
        // 1-thread replay of the 235k-flow mixed capture in `perf`.  Lookups check
        // `live`, so entries of flows not yet flushed could not mislead one anyway.
        if !self.index.is_empty() {
            self.index.clear();
        }
        let mut done = 0;
        while let Some(slot) = self.slab.len().checked_sub(1) {
            if done == n {
                return true;
            }
            if self.slab[slot].live {
                self.end_flow_unindexed(slot as u32, EndReason::EndOfInput);
                done += 1;
            }
            // Every slot past the last live one is free: drop them.
            if !self.slab[slot].live {
                self.slab.pop();
            }
        }
        self.free.clear();
        self.timers.clear();
        false
    }

    fn timeout_of(&self, f: &Flow) -> Nanos {
        let t = &self.config.timeouts;
        match &f.state {
            ProtoState::Tcp(tcp) => match tcp.phase() {
                TcpPhase::Attempt => t.tcp_attempt,
                TcpPhase::Established => t.tcp_established,
                TcpPhase::Closing => t.tcp_closing,
                TcpPhase::PartialClose => t.tcp_partial_close,
                TcpPhase::Closed => t.tcp_closed,
                TcpPhase::Reset => t.tcp_reset,
            },
            ProtoState::Other(_) => match f.key.proto {
                17 if f.key.lo_port == 53 || f.key.hi_port == 53 => t.dns,
                17 => t.udp,
                1 | 58 => t.icmp,
                _ => t.other,
            },
        }
    }

    /// Why `p` cannot continue the flow in `slot`, if it cannot: the flow timed out
    /// before this packet (its timer had not come due yet), or a TCP SYN reuses a
    /// closed connection's 5-tuple.
    fn must_restart(&self, slot: u32, p: &FlowPacket, swapped: bool) -> Option<EndReason> {
        let f = &self.slab[slot as usize];
        if p.ts >= f.last_ts.saturating_add(self.timeout_of(f)) {
            return Some(EndReason::Timeout);
        }
        match &f.state {
            ProtoState::Tcp(tcp) if p.tuple.proto == 6 => tcp
                .is_reuse(side_of(f, swapped), &segment(p))
                .then_some(EndReason::Reused),
            _ => None,
        }
    }

    fn insert(
        &mut self,
        key: FlowKey,
        hash: u64,
        swapped: bool,
        p: &FlowPacket,
        tunnel: Option<&TunnelParent>,
    ) -> u32 {
        if self.live >= self.config.max_flows.max(1) {
            self.evict_one();
        }
        let state = if p.tuple.proto == 6 {
            ProtoState::Tcp(TcpTracker::with_ports(p.tuple.sport, p.tuple.dport))
        } else {
            let orig = if first_sender_is_responder(&p.tuple) {
                Side::B
            } else {
                Side::A
            };
            ProtoState::Other(if p.tuple.proto == 17 {
                UdpTracker::new(orig)
            } else {
                UdpTracker::new_other(orig)
            })
        };
        let flow = Flow {
            key,
            hash,
            first_ts: p.ts,
            last_ts: p.ts,
            pkts: [0; 2],
            ip_bytes: [0; 2],
            state,
            tunnel: tunnel.map(|t| Box::new(*t)),
            generation: 0,
            armed_expiry: Nanos::MAX,
            iface: p.iface,
            vlan: p.vlan,
            l2: [NO_MAC; 2],
            a_is_hi: swapped,
            live: true,
        };
        let slot = match self.free.pop() {
            Some(slot) => {
                let generation = self.slab[slot as usize].generation.wrapping_add(1);
                self.slab[slot as usize] = Flow { generation, ..flow };
                slot
            }
            None => {
                self.slab.push(flow);
                super::backing::populate_after_push(&self.slab);
                (self.slab.len() - 1) as u32
            }
        };
        self.index.insert(hash, slot);
        self.live += 1;
        self.stats.flows_created += 1;
        self.stats.peak_flows = self.stats.peak_flows.max(self.live as u64);
        if self.track_starts {
            self.started.push(slot);
        }
        slot
    }

    #[inline]
    fn update(&mut self, slot: u32, swapped: bool, p: &FlowPacket) {
        let before = {
            let f = &self.slab[slot as usize];
            self.timeout_of(f)
        };
        let f = &mut self.slab[slot as usize];
        let side = side_of(f, swapped);
        let i = side.index();
        if f.pkts[i] == 0 {
            f.l2[i] = p.src_mac;
        }
        f.pkts[i] += 1;
        f.ip_bytes[i] += p.ip_len as u64;
        if p.ts > f.last_ts {
            f.last_ts = p.ts;
        }
        match &mut f.state {
            ProtoState::Tcp(tcp) => tcp.update(side, &segment(p)),
            ProtoState::Other(udp) => udp.update(side, p.payload_len),
        }
        let last = f.last_ts;
        let armed = f.armed_expiry;
        let timeout = self.timeout_of(&self.slab[slot as usize]);
        // Arm the first timer, or re-arm when the state now has a shorter timeout than
        // the pending entry allows for; longer timeouts are handled lazily on pop.
        if armed == Nanos::MAX || (timeout < before && last.saturating_add(timeout) < armed) {
            self.arm(slot, last.saturating_add(timeout));
        }
    }

    fn arm(&mut self, slot: u32, expiry: Nanos) {
        let f = &mut self.slab[slot as usize];
        f.generation = f.generation.wrapping_add(1);
        f.armed_expiry = expiry;
        self.timers.push(expiry, slot, f.generation);
    }

    fn evict_one(&mut self) {
        while let Some((slot, generation)) = self.timers.pop_earliest() {
            let live = self
                .slab
                .get(slot as usize)
                .is_some_and(|f| f.live && f.generation == generation);
            if live {
                self.stats.flows_evicted += 1;
                self.end_flow(slot, EndReason::Evicted);
                return;
            }
        }
    }

    fn end_flow(&mut self, slot: u32, reason: EndReason) {
        let Some(f) = self.slab.get(slot as usize) else {
            return;
        };
        if !f.live {
            return;
        }
        let hash = f.hash;
        self.index.remove(hash, slot);
        self.end_flow_unindexed(slot, reason);
    }

    /// Ends a live flow whose index entry is already gone.
    fn end_flow_unindexed(&mut self, slot: u32, reason: EndReason) {
        let Some(f) = self.slab.get(slot as usize) else {
            return;
        };
        if !f.live {
            return;
        }
        let record = self.record(f, reason, true);
        self.finished.push(record);
        let f = &mut self.slab[slot as usize];
        f.live = false;
        f.generation = f.generation.wrapping_add(1);
        f.tunnel = None;
        self.free.push(slot);
        self.live -= 1;
        self.stats.flows_ended += 1;
    }

    fn iface_name(&self, idx: u16) -> Option<Arc<str>> {
        let names = self.config.iface_names.as_ref()?;
        let mut cache = self.name_cache.borrow_mut();
        if idx as usize >= cache.len() {
            *cache = names.snapshot();
        }
        cache.get(idx as usize).cloned().flatten()
    }

    /// The record of `f` as it stands; `community_id` false leaves that field empty
    /// (flow-start records for rule sets that never read it: SHA-1 per flow start).
    fn record(&self, f: &Flow, reason: EndReason, community_id: bool) -> FlowRecord {
        let orig = match &f.state {
            ProtoState::Tcp(tcp) => tcp.orig_side(),
            ProtoState::Other(udp) => udp.orig_side(),
        };
        let resp = orig.other();
        let k = &f.key;
        // Side A is the hi end when a_is_hi.
        let end_of = |side: Side| {
            if (side == Side::A) == f.a_is_hi {
                (k.hi_addr, k.hi_port)
            } else {
                (k.lo_addr, k.lo_port)
            }
        };
        let (oa, op) = end_of(orig);
        let (ra, rp) = end_of(resp);
        let tuple = FlowTuple {
            src: oa,
            dst: ra,
            sport: op,
            dport: rp,
            proto: k.proto,
            af: k.af,
        };
        let mut history = History::new();
        let (conn_state, orig_bytes, resp_bytes) = match &f.state {
            ProtoState::Tcp(tcp) => {
                tcp.write_history(&mut history);
                (
                    tcp.conn_state(),
                    tcp.payload_bytes(orig),
                    tcp.payload_bytes(resp),
                )
            }
            ProtoState::Other(udp) => {
                udp.write_history(&mut history);
                (
                    udp.conn_state(),
                    udp.payload_bytes(orig),
                    udp.payload_bytes(resp),
                )
            }
        };
        let tunnel = f.tunnel.as_ref().map(|t| {
            Box::new(TunnelInfo {
                kind: match t.kind {
                    TunnelKind::Vxlan { .. } => "vxlan",
                    TunnelKind::Geneve { .. } => "geneve",
                    TunnelKind::Gtp { .. } => "gtp",
                    TunnelKind::Teredo => "teredo",
                    TunnelKind::Gre => "gre",
                },
                vni: match t.kind {
                    TunnelKind::Vxlan { vni } | TunnelKind::Geneve { vni } => Some(vni),
                    _ => None,
                },
                teid: match t.kind {
                    TunnelKind::Gtp { teid } => Some(teid),
                    _ => None,
                },
                outer_community_id: community_id_v1(&t.outer, self.config.community_id_seed),
                outer_orig_h: t.outer.src_ip(),
                outer_resp_h: t.outer.dst_ip(),
            })
        });
        FlowRecord {
            ts: f.first_ts,
            end: f.last_ts,
            uid: Uid::of(k, f.first_ts),
            proto: proto_name(k.proto),
            proto_num: k.proto,
            orig_h: to_ip(k.af, &oa),
            orig_p: op,
            resp_h: to_ip(k.af, &ra),
            resp_p: rp,
            orig_pkts: f.pkts[orig.index()],
            orig_ip_bytes: f.ip_bytes[orig.index()],
            orig_bytes,
            resp_pkts: f.pkts[resp.index()],
            resp_ip_bytes: f.ip_bytes[resp.index()],
            resp_bytes,
            conn_state,
            history,
            community_id: if community_id {
                community_id_v1(&tuple, self.config.community_id_seed)
            } else {
                CommunityId::new()
            },
            vlan: (f.vlan[0] != NO_VLAN).then_some(f.vlan[0]),
            inner_vlan: (f.vlan[1] != NO_VLAN).then_some(f.vlan[1]),
            iface: self.iface_name(f.iface),
            orig_l2_addr: mac_of(f.l2[orig.index()]),
            resp_l2_addr: mac_of(f.l2[resp.index()]),
            tunnel,
            end_reason: reason,
        }
    }
}

/// Flows reserved up front: address space only (pages are backed as flows fill them),
/// so the slab need not be copied as it grows.  Tables allowed more grow past it by
/// doubling.  The slab is not put on huge pages (see [`super::backing`]).
const SLAB_RESERVE: usize = 1 << 21;

fn reserve_slab(max_flows: usize) -> Vec<Flow> {
    Vec::with_capacity(max_flows.clamp(1, SLAB_RESERVE))
}

#[inline]
fn side_of(f: &Flow, swapped: bool) -> Side {
    if swapped == f.a_is_hi {
        Side::A
    } else {
        Side::B
    }
}

#[inline]
fn segment(p: &FlowPacket) -> TcpSegment {
    TcpSegment {
        flags: p.tcp_flags,
        seq: p.tcp_seq,
        ack: p.tcp_ack,
        window: p.tcp_window,
        payload_len: p.payload_len,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::key::{addr_from_v4, AddrFamily};
    use crate::time::NANOS_PER_SEC;

    const S: Nanos = NANOS_PER_SEC;

    fn config(max_flows: usize) -> TableConfig {
        TableConfig {
            max_flows,
            timeouts: Timeouts::default(),
            community_id_seed: 0,
            hash_seed: 12345,
            key_iface: false,
            iface_names: None,
            start_community_id: true,
        }
    }

    fn udp(
        ts: Nanos,
        src: [u8; 4],
        sport: u16,
        dst: [u8; 4],
        dport: u16,
        payload: u32,
    ) -> FlowPacket {
        FlowPacket {
            ts,
            tuple: FlowTuple {
                src: addr_from_v4(src),
                dst: addr_from_v4(dst),
                sport,
                dport,
                proto: 17,
                af: AddrFamily::V4,
            },
            vlan: [NO_VLAN; 2],
            key_vlan: [NO_VLAN; 2],
            iface: 0,
            ip_len: 28 + payload,
            payload_len: payload,
            tcp_flags: 0,
            tcp_seq: 0,
            tcp_ack: 0,
            tcp_window: 0,
            src_mac: NO_MAC,
            tunnel: None,
        }
    }

    fn records(t: &mut FlowTable) -> Vec<FlowRecord> {
        let r = t.finished().to_vec();
        t.clear_finished();
        r
    }

    #[test]
    fn interim_records_report_long_active_flows_and_leave_them_open() {
        let mut t = FlowTable::new(config(100));
        let (a, b, c) = ([10, 0, 0, 1], [10, 0, 0, 2], [10, 0, 0, 3]);
        let sec = crate::time::NANOS_PER_SEC;
        // Long-lived and active: a→b from S to S+3s.  Young: a→c starts at S+3s.
        // Long-lived but idle since S: b→c.
        t.process(&udp(S, a, 40000, b, 9999, 10));
        t.process(&udp(S, b, 5000, c, 6000, 7));
        t.process(&udp(S + 3 * sec, a, 40000, b, 9999, 20));
        t.process(&udp(S + 3 * sec, a, 40001, c, 9999, 5));
        let mut out = Vec::new();
        t.interim_records(S + 2 * sec, S + sec, &mut out);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].resp_h.to_string(), "10.0.0.2");
        assert_eq!((out[0].orig_pkts, out[0].orig_bytes), (2, 30));
        assert_eq!(out[0].end_reason, EndReason::ActiveTimeout);
        assert!(!out[0].community_id.is_empty());
        // Nothing ended: the flows are still counted on and written at the end.
        assert_eq!(t.len(), 3);
        assert_eq!(records(&mut t).len(), 0);
        t.process(&udp(S + 4 * sec, a, 40000, b, 9999, 1));
        t.flush();
        let r = records(&mut t);
        let ab = r
            .iter()
            .find(|r| r.resp_h.to_string() == "10.0.0.2")
            .unwrap();
        assert_eq!((ab.orig_pkts, ab.end_reason), (3, EndReason::EndOfInput));
    }

    #[test]
    fn both_directions_count_into_one_flow() {
        let mut t = FlowTable::new(config(100));
        let a = [10, 0, 0, 1];
        let b = [10, 0, 0, 2];
        t.process(&udp(S, a, 40000, b, 9999, 10));
        t.process(&udp(S + 1000, b, 9999, a, 40000, 20));
        t.process(&udp(S + 2000, a, 40000, b, 9999, 0));
        t.flush();
        let r = records(&mut t);
        assert_eq!(r.len(), 1);
        let r = &r[0];
        assert_eq!(r.orig_h.to_string(), "10.0.0.1");
        assert_eq!((r.orig_pkts, r.resp_pkts), (2, 1));
        assert_eq!((r.orig_ip_bytes, r.resp_ip_bytes), (38 + 28, 48));
        assert_eq!((r.orig_bytes, r.resp_bytes), (10, 20));
        assert_eq!(r.conn_state, "SF");
        assert_eq!(r.history, "Dd");
        assert_eq!(r.end - r.ts, 2000);
        assert_eq!(r.end_reason, EndReason::EndOfInput);
    }

    #[test]
    fn udp_times_out_after_a_minute_of_packet_time_and_restarts() {
        let mut t = FlowTable::new(config(100));
        let a = [10, 0, 0, 1];
        let b = [10, 0, 0, 2];
        t.process(&udp(S, a, 1000, b, 2000, 1));
        // 59 s later: same flow.
        t.process(&udp(60 * S, a, 1000, b, 2000, 1));
        assert!(records(&mut t).is_empty());
        // 60 s + 1 ns after the last packet: a new flow; the old one timed out.
        t.process(&udp(120 * S + 1, a, 1000, b, 2000, 1));
        let r = records(&mut t);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].orig_pkts, 2);
        assert_eq!(r[0].end_reason, EndReason::Timeout);
        assert_eq!(t.stats().flows_timed_out, 1);
        assert_eq!(t.len(), 1);
        // Time advancing through another flow's packets also expires it.
        t.process(&udp(500 * S, [1, 1, 1, 1], 1, [2, 2, 2, 2], 2, 1));
        let r = records(&mut t);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].ts, 120 * S + 1);
    }

    #[test]
    fn a_packet_exactly_one_timeout_later_starts_a_new_flow() {
        // Zeek's retransmit-timeout.pcapng: the third packet comes exactly
        // tcp_inactivity_timeout after the second; Zeek's timer fires first.
        let mut t = FlowTable::new(config(100));
        let a = [10, 0, 0, 1];
        let b = [10, 0, 0, 2];
        t.process(&udp(S, a, 1000, b, 2000, 1));
        t.process(&udp(61 * S, a, 1000, b, 2000, 1));
        let r = records(&mut t);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].end_reason, EndReason::Timeout);
    }

    #[test]
    fn full_table_evicts_and_counts() {
        let mut t = FlowTable::new(config(2));
        for i in 0..5u8 {
            t.process(&udp(
                S + i as i64,
                [10, 0, 0, i],
                1000,
                [10, 0, 1, 1],
                53,
                1,
            ));
        }
        assert_eq!(t.len(), 2);
        assert_eq!(t.stats().flows_evicted, 3);
        let evicted = records(&mut t);
        assert_eq!(evicted.len(), 3);
        assert!(evicted.iter().all(|r| r.end_reason == EndReason::Evicted));
        // the oldest (closest to timing out) go first
        assert_eq!(evicted[0].orig_h.to_string(), "10.0.0.0");
        t.flush();
        assert_eq!(records(&mut t).len(), 2);
        assert_eq!(t.stats().flows_created, 5);
    }

    #[test]
    fn responder_first_udp_is_flipped_by_server_port() {
        // A DNS answer seen before its query: the sender (port 53) is the responder.
        let mut t = FlowTable::new(config(10));
        t.process(&udp(S, [8, 8, 8, 8], 53, [10, 0, 0, 5], 33333, 60));
        t.flush();
        let r = &records(&mut t)[0];
        let flipped = crate::flow::origin::first_sender_is_responder(
            &udp(0, [8, 8, 8, 8], 53, [10, 0, 0, 5], 33333, 0).tuple,
        );
        if flipped {
            assert_eq!(r.orig_h.to_string(), "10.0.0.5");
            assert_eq!((r.orig_pkts, r.resp_pkts), (0, 1));
            assert_eq!(r.conn_state, "SHR");
            assert_eq!(r.history, "^d");
        }
    }

    #[test]
    fn each_side_keeps_the_source_mac_of_its_first_packet() {
        let mut t = FlowTable::new(config(10));
        let (a, b) = ([10, 0, 0, 1], [10, 0, 0, 2]);
        let with_mac = |mut p: FlowPacket, m: u8| {
            p.src_mac = [2, 0, 0, 0, 0, m];
            p
        };
        t.process(&with_mac(udp(S, a, 40000, b, 9999, 10), 0xa1));
        t.process(&with_mac(udp(S + 1, a, 40000, b, 9999, 10), 0xa2));
        t.process(&with_mac(udp(S + 2, b, 9999, a, 40000, 10), 0xb1));
        // A one-way flow: no responder MAC.
        t.process(&with_mac(udp(S, a, 40001, b, 9999, 10), 0xa3));
        t.flush();
        let mut r = records(&mut t);
        r.sort_by_key(|r| r.orig_p);
        let mac = |m: u8| Some(crate::flow::record::MacAddr([2, 0, 0, 0, 0, m]));
        assert_eq!(
            (r[0].orig_l2_addr, r[0].resp_l2_addr),
            (mac(0xa1), mac(0xb1))
        );
        assert_eq!((r[1].orig_l2_addr, r[1].resp_l2_addr), (mac(0xa3), None));
    }

    #[test]
    fn flow_state_stays_small() {
        // README states the bytes of state per tracked flow: keep that number honest.
        let per_flow = std::mem::size_of::<Flow>()
            + std::mem::size_of::<u64>() * 4 // index entry at its least load (1/4 after growth)
            + std::mem::size_of::<(u32, u32)>(); // one live timer
        assert!(per_flow <= 256, "{per_flow} bytes per flow");
        eprintln!(
            "flow state: {} bytes (Flow {} B)",
            per_flow,
            std::mem::size_of::<Flow>()
        );
    }
}
