//! Run-time counters for operators: the registry the pipeline publishes into and the
//! HTTP endpoint (`--listen`) that serves them as Prometheus text, with `/healthz`
//! and `/readyz`.
//!
//! The packet path never takes a lock for metrics.  Each worker (and the input)
//! owns a [`StatsSlot`] of atomics and *stores* its cumulative counters into it once
//! per batch ([`StatsSlot::publish`]); a scrape sums the slots.  Alerts, which are
//! rare next to packets, bump one atomic each in an index built from the rule set
//! before the run and extended by a reload ([`AlertCounters`]).  Outputs expose their delivery counters
//! (`sinks::delivery::Counters`), read at scrape time.  The only locks are taken
//! when a slot or an output is registered (once, at start) and by the scraper.

pub mod render;
pub mod server;

use crate::decode::DecodeError;
use crate::flow::table::TableStats;
use crate::rules::{Priority, RuleSet};
use crate::sinks::delivery::Counters;
use crate::stats::RunStats;
use crate::watch::live::IfaceCounters;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// Decode outcome kinds: [`DecodeError::KINDS`] in its order, so a slot can keep one
/// atomic per kind, then `other` for a kind missing there.
pub const DECODE_KINDS: [&str; DecodeError::KINDS.len() + 1] = {
    let mut out = ["other"; DecodeError::KINDS.len() + 1];
    let mut i = 0;
    while i < DecodeError::KINDS.len() {
        out[i] = DecodeError::KINDS[i];
        i += 1;
    }
    out
};

fn kind_index(kind: &str) -> usize {
    DECODE_KINDS
        .iter()
        .position(|k| *k == kind)
        .unwrap_or(DECODE_KINDS.len() - 1)
}

/// One publisher's counters (a worker, or the input).  Values are cumulative totals
/// stored by their single owner; readers sum over slots.
#[derive(Default)]
pub struct StatsSlot {
    pub packets: AtomicU64,
    pub bytes: AtomicU64,
    pub decoded: AtomicU64,
    pub bpf_rejected: AtomicU64,
    pub flows_written: AtomicU64,
    pub files_read: AtomicU64,
    pub files_failed: AtomicU64,
    pub flows_created: AtomicU64,
    pub flows_ended: AtomicU64,
    pub flows_evicted: AtomicU64,
    pub flows_timed_out: AtomicU64,
    pub flows_reused: AtomicU64,
    pub flows_active: AtomicU64,
    pub decode_failures: [AtomicU64; DECODE_KINDS.len()],
    pub skipped: [AtomicU64; DECODE_KINDS.len()],
}

impl StatsSlot {
    /// Stores the owner's running totals (a handful of relaxed stores: cheap enough
    /// to do once per batch).
    pub fn publish(&self, s: &RunStats) {
        let st = |a: &AtomicU64, v: u64| a.store(v, Ordering::Relaxed);
        st(&self.packets, s.packets);
        st(&self.bytes, s.bytes);
        st(&self.decoded, s.decoded);
        st(&self.bpf_rejected, s.bpf_rejected);
        st(&self.flows_written, s.flows_written);
        st(&self.files_read, s.files_read);
        st(&self.files_failed, s.files_failed);
        // Several kinds may fall into `other`: sum before storing.
        let mut fails = [0u64; DECODE_KINDS.len()];
        for (k, v) in &s.decode_failures {
            fails[kind_index(k)] += v;
        }
        let mut skips = [0u64; DECODE_KINDS.len()];
        for (k, v) in &s.skipped {
            skips[kind_index(k)] += v;
        }
        for (a, v) in self.decode_failures.iter().zip(fails) {
            st(a, v);
        }
        for (a, v) in self.skipped.iter().zip(skips) {
            st(a, v);
        }
    }

    /// Stores a flow table's totals and how many flows it holds now.
    pub fn publish_table(&self, t: &TableStats, active: usize) {
        let st = |a: &AtomicU64, v: u64| a.store(v, Ordering::Relaxed);
        st(&self.flows_created, t.flows_created);
        st(&self.flows_ended, t.flows_ended);
        st(&self.flows_evicted, t.flows_evicted);
        st(&self.flows_timed_out, t.flows_timed_out);
        st(&self.flows_reused, t.flows_reused);
        st(&self.flows_active, active as u64);
    }
}

/// Alerts by rule and priority, one atomic each.  Counting takes a read lock
/// (uncontended but for a reload adding rows) and one atomic add.
pub struct AlertCounters {
    inner: std::sync::RwLock<AlertIndex>,
}

/// Rule and priority → counter; rows are only ever added, so a counter keeps its
/// value when a reload adds or drops rules.
#[derive(Default)]
struct AlertIndex {
    /// Rule name → its rows (one per priority it was raised at).
    index: HashMap<Arc<str>, Vec<usize>>,
    rules: Vec<(Arc<str>, Priority, AtomicU64)>,
}

impl AlertIndex {
    fn find(&self, rule: &str, priority: Priority) -> Option<usize> {
        self.index
            .get(rule)?
            .iter()
            .copied()
            .find(|&i| self.rules.get(i).is_some_and(|(_, p, _)| *p == priority))
    }

    fn add(&mut self, rule: &str, priority: Priority) -> usize {
        if let Some(i) = self.find(rule, priority) {
            return i;
        }
        let name: Arc<str> = rule.into();
        let i = self.rules.len();
        self.rules.push((name.clone(), priority, AtomicU64::new(0)));
        self.index.entry(name).or_default().push(i);
        i
    }
}

impl AlertCounters {
    pub fn new(set: &RuleSet) -> AlertCounters {
        let a = AlertCounters {
            inner: std::sync::RwLock::default(),
        };
        a.add_rules(set);
        a
    }

    /// Gives every rule of `set` a counter (at 0 if it had none): a SIGHUP reload
    /// calls it with the new set, so `/metrics` lists the rules it added.
    pub fn add_rules(&self, set: &RuleSet) {
        let mut g = match self.inner.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        for r in &set.rules {
            g.add(&r.name, r.priority);
        }
    }

    /// Counts one alert of `rule` at `priority` (a rule the index lacks, say from a
    /// set loaded after this index was built, gets its row here).
    pub fn count(&self, rule: &str, priority: Priority) {
        {
            let g = match self.inner.read() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            if let Some((_, _, n)) = g.find(rule, priority).and_then(|i| g.rules.get(i)) {
                n.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        let mut g = match self.inner.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let i = g.add(rule, priority);
        if let Some((_, _, n)) = g.rules.get(i) {
            n.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Every counter: rule, priority, alerts.
    pub fn snapshot(&self) -> Vec<(Arc<str>, Priority, u64)> {
        let g = match self.inner.read() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        g.rules
            .iter()
            .map(|(r, p, n)| (r.clone(), *p, n.load(Ordering::Relaxed)))
            .collect()
    }
}

/// What `/readyz` waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ready {
    /// Every capture input is open (a file opened, or live handles activated).
    InputsOpen = 1,
    /// The rule set is loaded and compiled (or `--no-rules`).
    RulesLoaded = 2,
    /// The container inventory has been synced once (live mode).
    InventorySynced = 4,
}

impl Ready {
    fn name(self) -> &'static str {
        match self {
            Ready::InputsOpen => "inputs not open",
            Ready::RulesLoaded => "rules not loaded",
            Ready::InventorySynced => "inventory not synced",
        }
    }
}

/// The registry: everything `/metrics` reports.
pub struct Metrics {
    slots: Mutex<Vec<Arc<StatsSlot>>>,
    alerts: OnceLock<Arc<AlertCounters>>,
    outputs: Mutex<Vec<(String, Arc<Counters>)>>,
    /// Live capture handles by interface (`watch`): packets read, kernel and
    /// interface drops, as `pcap_stats` last reported them.
    interfaces: Mutex<Vec<(String, Arc<IfaceCounters>)>>,
    needed: u8,
    have: AtomicU8,
    /// Containers in the inventory (`--containers`, or the Docker watcher's).
    pub inventory_containers: AtomicU64,
    inventory_known: AtomicBool,
    pub version: String,
    pub commit: String,
    started: std::time::SystemTime,
}

impl Metrics {
    /// A registry whose `/readyz` waits for every condition in `needed`.
    pub fn new(needed: &[Ready], version: &str, commit: &str) -> Metrics {
        Metrics {
            slots: Mutex::default(),
            alerts: OnceLock::new(),
            outputs: Mutex::default(),
            interfaces: Mutex::default(),
            needed: needed.iter().fold(0, |m, r| m | *r as u8),
            have: AtomicU8::new(0),
            inventory_containers: AtomicU64::new(0),
            inventory_known: AtomicBool::new(false),
            version: version.to_string(),
            commit: commit.to_string(),
            started: std::time::SystemTime::now(),
        }
    }

    /// A new slot for one publisher (a worker, the input), summed into every scrape.
    pub fn slot(&self) -> Arc<StatsSlot> {
        let s = Arc::new(StatsSlot::default());
        lock(&self.slots).push(s.clone());
        s
    }

    /// Installs the per-rule alert counters (once; later calls keep the first).
    pub fn set_alerts(&self, a: Arc<AlertCounters>) {
        let _ = self.alerts.set(a);
    }

    /// Registers a remote output's counters (at start, and for each output a
    /// reload adds; one a reload stopped stays, so its drops remain visible).
    pub fn add_output(&self, name: &str, c: Arc<Counters>) {
        lock(&self.outputs).push((name.to_string(), c));
    }

    /// Registers a live capture's counters (once per interface, at start).
    pub fn add_interface(&self, name: &str, c: Arc<IfaceCounters>) {
        lock(&self.interfaces).push((name.to_string(), c));
    }

    pub fn set_ready(&self, r: Ready) {
        self.have.fetch_or(r as u8, Ordering::Relaxed);
    }

    pub fn set_inventory_size(&self, n: usize) {
        self.inventory_containers.store(n as u64, Ordering::Relaxed);
        self.inventory_known.store(true, Ordering::Relaxed);
    }

    /// `Ok` when ready, else what is still missing.
    pub fn readiness(&self) -> Result<(), Vec<&'static str>> {
        let have = self.have.load(Ordering::Relaxed);
        let missing: Vec<&'static str> = [
            Ready::InputsOpen,
            Ready::RulesLoaded,
            Ready::InventorySynced,
        ]
        .into_iter()
        .filter(|r| self.needed & *r as u8 != 0 && have & *r as u8 == 0)
        .map(Ready::name)
        .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(missing)
        }
    }

    /// The Prometheus text exposition of every counter.
    pub fn render(&self) -> String {
        render::render(self)
    }
}

/// A lock that survives a panicked holder (the data are counters: still valid).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// Starts the `--listen` endpoint on `addr` with a registry whose `/readyz` waits for
/// `needed` (see [`registry`] and [`start_server`]).
pub fn serve(addr: &str, needed: &[Ready]) -> anyhow::Result<Arc<Metrics>> {
    let sock = parse_listen(addr).map_err(|e| anyhow::anyhow!("--listen: {e}"))?;
    let m = registry(needed);
    start_server(sock, m.clone())?;
    Ok(m)
}

/// A registry for this binary (its version and commit) whose `/readyz` waits for
/// `needed`.
pub fn registry(needed: &[Ready]) -> Arc<Metrics> {
    Arc::new(Metrics::new(
        needed,
        env!("CARGO_PKG_VERSION"),
        env!("BRIDGEWATCH_GIT_COMMIT"),
    ))
}

/// Serves `m` on `sock` from a thread of its own, and says where on stderr (even
/// with -q: with port 0 it is the only way to learn the port).
pub fn start_server(sock: SocketAddr, m: Arc<Metrics>) -> anyhow::Result<()> {
    use anyhow::Context;
    let bound =
        server::start(sock, m).with_context(|| format!("--listen {sock}: cannot listen"))?;
    eprintln!("bridgewatch: serving /metrics, /healthz and /readyz on http://{bound}");
    tracing::info!(%bound, "metrics endpoint listening");
    Ok(())
}

/// `--listen` values: `PORT` or `:PORT` (loopback), `IP:PORT`, `[IPv6]:PORT`.
pub fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    let s = s.trim();
    let port = s.strip_prefix(':').unwrap_or(s);
    if let Ok(p) = port.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], p)));
    }
    s.parse::<SocketAddr>().map_err(|_| {
        format!("'{s}' is not PORT, IP:PORT or [IPv6]:PORT (a bare port listens on 127.0.0.1)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses() {
        assert_eq!(parse_listen("9464").unwrap().to_string(), "127.0.0.1:9464");
        assert_eq!(parse_listen(":9464").unwrap().to_string(), "127.0.0.1:9464");
        assert_eq!(parse_listen("0.0.0.0:1").unwrap().to_string(), "0.0.0.0:1");
        assert_eq!(parse_listen("[::1]:80").unwrap().to_string(), "[::1]:80");
        assert!(parse_listen("localhost").is_err());
        assert!(parse_listen("70000").is_err());
    }

    #[test]
    fn readiness_waits_for_every_needed_condition() {
        let m = Metrics::new(&[Ready::InputsOpen, Ready::RulesLoaded], "0", "x");
        assert_eq!(
            m.readiness(),
            Err(vec!["inputs not open", "rules not loaded"])
        );
        m.set_ready(Ready::RulesLoaded);
        assert_eq!(m.readiness(), Err(vec!["inputs not open"]));
        m.set_ready(Ready::InventorySynced); // not needed: changes nothing
        m.set_ready(Ready::InputsOpen);
        assert_eq!(m.readiness(), Ok(()));
    }

    #[test]
    fn slots_sum_and_unknown_kinds_go_to_other() {
        let m = Metrics::new(&[], "0", "x");
        let (a, b) = (m.slot(), m.slot());
        let mut s = RunStats {
            packets: 5,
            ..RunStats::default()
        };
        s.decode_failures.insert("bad_tcp", 2);
        s.decode_failures.insert("some_new_kind", 3);
        a.publish(&s);
        s.packets = 7; // totals are stored, not added
        a.publish(&s);
        b.publish(&RunStats {
            packets: 1,
            ..RunStats::default()
        });
        let text = m.render();
        assert!(
            text.contains("\nbridgewatch_capture_packets_total 8\n"),
            "{text}"
        );
        assert!(
            text.contains("bridgewatch_decode_failures_total{kind=\"bad_tcp\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("bridgewatch_decode_failures_total{kind=\"other\"} 3\n"),
            "{text}"
        );
    }

    /// Rules a SIGHUP reload adds were counted under `rule=""` (the index was built
    /// once, from the set loaded at start).
    #[test]
    fn rules_added_by_a_reload_are_counted_under_their_names() {
        let rule = |name: &str, prio: &str| {
            format!("- rule: {name}\n  desc: d\n  condition: evt.type = connect\n  output: o\n  priority: {prio}\n")
        };
        let first = RuleSet::from_sources(&[("a.yaml", rule("Old", "WARNING").as_str())]).unwrap();
        let m = Metrics::new(&[], "0", "x");
        let a = Arc::new(AlertCounters::new(&first));
        m.set_alerts(a.clone());
        a.count("Old", Priority::Warning);
        let second = RuleSet::from_sources(&[(
            "a.yaml",
            format!("{}{}", rule("Old", "WARNING"), rule("New", "CRITICAL")).as_str(),
        )])
        .unwrap();
        a.add_rules(&second);
        let text = m.render();
        assert!(
            text.contains("bridgewatch_alerts_total{rule=\"New\",priority=\"Critical\"} 0\n"),
            "{text}"
        );
        for _ in 0..3 {
            a.count("New", Priority::Critical);
        }
        // A rule no index had (say a set loaded elsewhere) still gets its own row.
        a.count("Unlisted", Priority::Notice);
        let text = m.render();
        for want in [
            "bridgewatch_alerts_total{rule=\"Old\",priority=\"Warning\"} 1\n",
            "bridgewatch_alerts_total{rule=\"New\",priority=\"Critical\"} 3\n",
            "bridgewatch_alerts_total{rule=\"Unlisted\",priority=\"Notice\"} 1\n",
        ] {
            assert!(text.contains(want), "{want} in {text}");
        }
        assert!(!text.contains("rule=\"\""), "{text}");
    }

    /// An output a reload replaced under the same name stays one series, its old
    /// counters (drops included) added to the new one's.
    #[test]
    fn an_output_name_registered_twice_is_one_summed_series() {
        let m = Metrics::new(&[], "0", "x");
        let (old, new) = (Arc::new(Counters::default()), Arc::new(Counters::default()));
        old.truncated.store(2, Ordering::Relaxed);
        new.truncated.store(3, Ordering::Relaxed);
        m.add_output("siem", old);
        m.add_output("other", Arc::new(Counters::default()));
        m.add_output("siem", new);
        let text = m.render();
        assert_eq!(
            text.matches("bridgewatch_output_truncated_total{output=\"siem\"}")
                .count(),
            1,
            "{text}"
        );
        assert!(
            text.contains("bridgewatch_output_truncated_total{output=\"siem\"} 5\n"),
            "{text}"
        );
    }
}
