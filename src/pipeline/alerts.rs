//! The rule engine as a pipeline hook: each worker evaluates rules when its flows
//! start and end, counts the alerts by rule for the summary, passes them through
//! deduplication ([`super::dedup`], when on) and writes those it keeps (one line
//! each, in the chosen format) to the shared alert output in chunks and to the
//! remote outputs' queues.

use super::dedup::Dedup;
use super::output::{SharedWriter, CHUNK};
use super::FlowHook;
use crate::flow::community_id::community_id_v1;
use crate::flow::record::FlowRecord;
use crate::rules::{Alert, Engine, Evaluator};
use crate::sinks::delivery::{Message, OutputHandle};
use crate::sinks::format::{syslog_severity, Format};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Alerts counted by rule name, over all workers.
pub type AlertCounts = Arc<Mutex<BTreeMap<String, u64>>>;

pub struct RuleHook {
    eval: Evaluator,
    /// Seed for filling in `community_id` on alerts raised from flow-start records
    /// that were built without it.
    community_id_seed: u16,
    format: Format,
    alerts: Vec<Alert>,
    buf: Vec<u8>,
    out: Option<Arc<SharedWriter>>,
    outputs: Vec<OutputHandle>,
    counts: BTreeMap<String, u64>,
    totals: AlertCounts,
    dedup: Option<Arc<Dedup>>,
}

impl RuleHook {
    pub fn new(
        engine: &Engine,
        community_id_seed: u16,
        format: Format,
        out: Option<Arc<SharedWriter>>,
        outputs: Vec<OutputHandle>,
        totals: AlertCounts,
    ) -> RuleHook {
        RuleHook {
            eval: engine.evaluator(),
            community_id_seed,
            format,
            alerts: Vec::new(),
            buf: Vec::new(),
            out,
            outputs,
            counts: BTreeMap::new(),
            totals,
            dedup: None,
        }
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
            if let Some(d) = &self.dedup {
                if !d.admit(&mut a) {
                    continue;
                }
            }
            let start = self.buf.len();
            if self.out.is_some() || !self.outputs.is_empty() {
                self.format.alert_line(&a, &mut self.buf);
            }
            if !self.outputs.is_empty() {
                let body = match self.out {
                    Some(_) => self.buf.get(start..).unwrap_or_default().to_vec(),
                    None => self.buf.split_off(start),
                };
                let m = Message {
                    severity: syslog_severity(a.priority),
                    time: a.time,
                    body,
                };
                for o in &self.outputs {
                    o.send(m.clone());
                }
            }
        }
        if self.buf.len() >= CHUNK {
            if let Some(w) = &self.out {
                w.write_chunk(&mut self.buf);
            }
        }
    }
}

impl FlowHook for RuleHook {
    fn on_start(&mut self, record: &FlowRecord) {
        self.eval.on_flow_start(record, &mut self.alerts);
        if !self.alerts.is_empty() {
            self.drain();
        }
    }

    fn on_end(&mut self, record: &FlowRecord) {
        self.eval.on_flow_end(record, &mut self.alerts);
        if !self.alerts.is_empty() {
            self.drain();
        }
    }

    fn finish(&mut self) {
        self.drain();
        if let Some(w) = &self.out {
            w.write_chunk(&mut self.buf);
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
