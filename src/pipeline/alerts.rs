//! The rule engine as a pipeline hook: each worker evaluates rules when its flows
//! start and end, counts the alerts by rule for the summary, passes them through
//! deduplication ([`super::dedup`], when on) and hands those it keeps to the
//! outputs that take them ([`Fanout`]).

use super::dedup::Dedup;
use super::fanout::Fanout;
use super::FlowHook;
use crate::flow::community_id::community_id_v1;
use crate::flow::record::FlowRecord;
use crate::metrics::AlertCounters;
use crate::rules::{Alert, Engine, EngineSlot, Evaluator};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Alerts counted by rule name, over all workers.
pub type AlertCounts = Arc<Mutex<BTreeMap<String, u64>>>;

pub struct RuleHook {
    eval: Evaluator,
    /// Seed for filling in `community_id` on alerts raised from flow-start records
    /// that were built without it.
    community_id_seed: u16,
    alerts: Vec<Alert>,
    out: Option<Fanout>,
    counts: BTreeMap<String, u64>,
    totals: AlertCounts,
    /// Live per-rule counters for `/metrics` (one atomic add per alert).
    live: Option<Arc<AlertCounters>>,
    /// Where a reloaded engine appears (SIGHUP in live mode), and the version of
    /// the one `eval` came from.
    slot: Option<(Arc<EngineSlot>, u64)>,
    dedup: Option<Arc<Dedup>>,
}

impl RuleHook {
    pub fn new(
        engine: &Engine,
        community_id_seed: u16,
        out: Option<Fanout>,
        totals: AlertCounts,
    ) -> RuleHook {
        RuleHook {
            eval: engine.evaluator(),
            community_id_seed,
            alerts: Vec::new(),
            out,
            counts: BTreeMap::new(),
            totals,
            live: None,
            slot: None,
            dedup: None,
        }
    }

    /// Follows `slot`: at the next flow after the engine there is replaced, this hook
    /// evaluates with the new one.
    pub fn with_reload(mut self, slot: Arc<EngineSlot>) -> RuleHook {
        let (v, e) = slot.current();
        self.eval = e.evaluator();
        self.slot = Some((slot, v));
        self
    }

    #[inline]
    fn follow_reload(&mut self) {
        if let Some((slot, v)) = &mut self.slot {
            if slot.version() != *v {
                let (nv, e) = slot.current();
                *v = nv;
                self.eval = e.evaluator();
            }
        }
    }

    /// Also count every alert in `live` as it is raised (`/metrics`).
    pub fn with_metrics(mut self, live: Option<Arc<AlertCounters>>) -> RuleHook {
        self.live = live;
        self
    }

    /// Deduplicates alerts through `dedup` (shared by every worker's hook).
    pub fn with_dedup(mut self, dedup: Option<Arc<Dedup>>) -> RuleHook {
        self.dedup = dedup;
        self
    }

    fn drain(&mut self) {
        for mut a in self.alerts.drain(..) {
            if a.flow.community_id.is_empty() {
                a.flow.community_id = community_id_v1(&a.flow.tuple(), self.community_id_seed);
            }
            *self.counts.entry(a.rule.to_string()).or_default() += 1;
            if let Some(live) = &self.live {
                live.count(&a.rule, a.priority);
            }
            if let Some(d) = &self.dedup {
                if !d.admit(&mut a) {
                    continue;
                }
            }
            if let Some(out) = self.out.as_mut() {
                out.alert(&a);
            }
        }
    }
}

impl FlowHook for RuleHook {
    fn on_start(&mut self, record: &FlowRecord) {
        self.follow_reload();
        self.eval.on_flow_start(record, &mut self.alerts);
        if !self.alerts.is_empty() {
            self.drain();
        }
    }

    fn on_end(&mut self, record: &FlowRecord) {
        self.follow_reload();
        self.eval.on_flow_end(record, &mut self.alerts);
        if !self.alerts.is_empty() {
            self.drain();
        }
    }

    fn flush(&mut self) {
        if let Some(out) = self.out.as_mut() {
            out.flush();
        }
    }

    fn finish(&mut self) {
        self.drain();
        if let Some(out) = self.out.as_mut() {
            out.flush();
        }
        let mut totals = match self.totals.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        for (k, v) in std::mem::take(&mut self.counts) {
            *totals.entry(k).or_default() += v;
        }
    }
}
