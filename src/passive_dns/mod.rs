//! Passive DNS: names for addresses, learned from the DNS answers seen in the traffic
//! itself (never an active lookup).  The decoder feeds every UDP DNS response it meets
//! ([`answers`]); the rule engine asks for the name behind `fd.sip.name`,
//! `fd.rip.name`, ... at a flow's start time ([`NameLookup`]).
//!
//! What a lookup returns: the name the client *asked for* (the question, not the end
//! of a CNAME chain: `api.example.com`, not `d123.cdn.example.net`), from the most
//! recent answer seen strictly before the given packet time whose TTL still covers it.
//! A TTL is honoured with a floor of [`MIN_TTL`] seconds, so a TTL-0 answer still names
//! the connection that follows it.
//!
//! Determinism: answers are recorded with their packet time, and a lookup only sees
//! answers from strictly earlier packet times.  Every answer of a batch is recorded
//! when the batch is decoded, before any flow of that batch starts, so a replay gives
//! the same names with any `--threads` (for captures whose timestamps do not go
//! backwards).
//!
//! Memory is bounded: at most [`MAX_ADDRS`] addresses and [`MAX_NAMES_PER_ADDR`]
//! names each; answers that do not fit are counted as dropped, never silently lost.
//! Entries that expired more than [`GRACE`] seconds before the newest answer are
//! swept when the table fills.

mod answers;

pub use answers::{parse_answers, DnsAnswer};

use crate::rules::NameLookup;
use crate::time::{Nanos, NANOS_PER_SEC};
use dashmap::DashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

/// An answer names its addresses for at least this many seconds.
pub const MIN_TTL: u32 = 10;
/// Addresses tracked at once.
pub const MAX_ADDRS: usize = 262_144;
/// Distinct names kept per address (a CDN address answers for many names).
pub const MAX_NAMES_PER_ADDR: usize = 8;
/// Seconds an expired entry is kept, so a lookup that lags behind the newest answer
/// (another worker's batch) still sees what was valid at its time.
pub const GRACE: i64 = 60;
/// TTLs above a day are treated as a day.
const MAX_TTL: u32 = 86_400;

#[derive(Clone, Debug)]
struct Entry {
    /// Packet time of the first answer of this run of answers.
    seen: Nanos,
    /// End of the validity of the last answer (seen + TTL).
    until: Nanos,
    name: Arc<str>,
}

/// Counters, for the summary and `--stats-json`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DnsStats {
    /// DNS responses parsed.
    pub responses: u64,
    /// Responses the parser rejected (malformed or truncated), counted, not fatal.
    pub unparsed: u64,
    /// A/AAAA answers recorded.
    pub answers: u64,
    /// Answers not recorded because the table was full.
    pub dropped: u64,
    /// Addresses currently named.
    pub addrs: u64,
}

/// The shared table of names: written by every decoder, read by every evaluator.
#[derive(Default)]
pub struct PassiveDns {
    /// Keyed by addresses taken from packets: foldhash with a per-process random seed,
    /// so a sender cannot choose colliding keys (std's SipHash cost 1% of a replay).
    map: DashMap<IpAddr, Vec<Entry>, foldhash::fast::RandomState>,
    /// `map.len()`, kept alongside: DashMap's `len` read-locks and sums every shard,
    /// and asking it on each answer was 2% of a replay's time (`perf`, mixed.pcap).
    addrs: AtomicUsize,
    newest: AtomicI64,
    responses: AtomicU64,
    unparsed: AtomicU64,
    answers: AtomicU64,
    dropped: AtomicU64,
}

impl std::fmt::Debug for PassiveDns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PassiveDns")
            .field("stats", &self.stats())
            .finish()
    }
}

impl PassiveDns {
    pub fn new() -> PassiveDns {
        PassiveDns::default()
    }

    /// Records what a DNS response's UDP payload says, seen at packet time `ts`.
    pub fn observe_response(&self, payload: &[u8], ts: Nanos) {
        self.responses.fetch_add(1, Ordering::Relaxed);
        let ok = parse_answers(payload, |a| self.record(a.addr, a.question, a.ttl, ts));
        if !ok {
            self.unparsed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Records that `addr` was named `name` at `ts` for `ttl` seconds.
    pub fn record(&self, addr: IpAddr, name: &str, ttl: u32, ts: Nanos) {
        let ttl = ttl.clamp(MIN_TTL, MAX_TTL) as i64;
        let until = ts.saturating_add(ttl * NANOS_PER_SEC);
        self.newest.fetch_max(ts, Ordering::Relaxed);
        if self.addrs.load(Ordering::Relaxed) >= MAX_ADDRS && !self.map.contains_key(&addr) {
            self.sweep();
            if self.addrs.load(Ordering::Relaxed) >= MAX_ADDRS {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        self.answers.fetch_add(1, Ordering::Relaxed);
        let mut entries = match self.map.entry(addr) {
            dashmap::Entry::Occupied(o) => o.into_ref(),
            dashmap::Entry::Vacant(v) => {
                self.addrs.fetch_add(1, Ordering::Relaxed);
                v.insert(Vec::new())
            }
        };
        let horizon = ts.saturating_sub(GRACE * NANOS_PER_SEC);
        entries.retain(|e| e.until >= horizon);
        // The same name again while the last answer is still valid extends it: the
        // union of [seen, until] and [ts, until'] is then one interval.
        if let Some(e) = entries
            .iter_mut()
            .rev()
            .find(|e| &*e.name == name && ts <= e.until && ts >= e.seen)
        {
            e.until = e.until.max(until);
            return;
        }
        if entries.len() >= MAX_NAMES_PER_ADDR {
            // Make room by forgetting the entry that expires first.
            if let Some(i) = (0..entries.len()).min_by_key(|&i| entries[i].until) {
                entries.remove(i);
            }
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        entries.push(Entry {
            seen: ts,
            until,
            name: name.into(),
        });
    }

    /// The name of `addr` at packet time `at`, if an earlier answer still covers it.
    pub fn lookup(&self, addr: IpAddr, at: Nanos) -> Option<Arc<str>> {
        let entries = self.map.get(&addr)?;
        entries
            .iter()
            .filter(|e| e.seen < at && at <= e.until)
            .max_by_key(|e| e.seen)
            .map(|e| e.name.clone())
    }

    /// Forgets addresses whose every entry expired more than [`GRACE`] before the newest answer.
    fn sweep(&self) {
        let horizon = self
            .newest
            .load(Ordering::Relaxed)
            .saturating_sub(GRACE * NANOS_PER_SEC);
        self.map.retain(|_, v| v.iter().any(|e| e.until >= horizon));
        // Recounted once per sweep; an insert racing with it can leave the count off
        // by one until the next sweep, which only moves the bound by one address.
        self.addrs.store(self.map.len(), Ordering::Relaxed);
    }

    pub fn stats(&self) -> DnsStats {
        DnsStats {
            responses: self.responses.load(Ordering::Relaxed),
            unparsed: self.unparsed.load(Ordering::Relaxed),
            answers: self.answers.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            addrs: self.addrs.load(Ordering::Relaxed) as u64,
        }
    }
}

impl NameLookup for PassiveDns {
    fn name_of(&self, ip: IpAddr, at: Nanos) -> Option<Arc<str>> {
        self.lookup(ip, at)
    }
}

/// The passive-DNS table `set` needs (DNS responses are parsed only when a rule reads
/// a name) and the name lookup its evaluators use: that table, or none.
pub fn for_rules(set: &crate::rules::RuleSet) -> (Option<Arc<PassiveDns>>, Arc<dyn NameLookup>) {
    let table = set.uses_dns_names().then(|| Arc::new(PassiveDns::new()));
    let names: Arc<dyn NameLookup> = match &table {
        Some(d) => d.clone(),
        None => Arc::new(crate::rules::NoNames),
    };
    (table, names)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Nanos = NANOS_PER_SEC;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_name_covers_its_ttl_from_strictly_after_the_answer() {
        let d = PassiveDns::new();
        d.record(ip("203.0.113.7"), "pool.example.org", 30, 100 * S);
        let a = ip("203.0.113.7");
        assert_eq!(d.lookup(a, 100 * S), None, "not at the answer's own time");
        assert_eq!(d.lookup(a, 99 * S), None, "not before the answer");
        assert_eq!(
            d.lookup(a, 100 * S + 1).as_deref(),
            Some("pool.example.org")
        );
        assert_eq!(d.lookup(a, 130 * S).as_deref(), Some("pool.example.org"));
        assert_eq!(d.lookup(a, 130 * S + 1), None, "expired after its TTL");
        assert_eq!(d.lookup(ip("203.0.113.8"), 110 * S), None);
    }

    #[test]
    fn zero_ttl_still_names_the_next_connection() {
        let d = PassiveDns::new();
        d.record(ip("2001:db8::5"), "x.example", 0, 10 * S);
        let a = ip("2001:db8::5");
        assert!(d.lookup(a, 10 * S + S / 100).is_some());
        assert!(d.lookup(a, (10 + MIN_TTL as i64) * S).is_some());
        assert!(d.lookup(a, (10 + MIN_TTL as i64) * S + 1).is_none());
    }

    #[test]
    fn the_most_recent_covering_answer_wins_and_history_is_kept() {
        let d = PassiveDns::new();
        let a = ip("198.51.100.1");
        d.record(a, "old.example", 300, 0);
        d.record(a, "new.example", 300, 100 * S);
        assert_eq!(d.lookup(a, 50 * S).as_deref(), Some("old.example"));
        assert_eq!(d.lookup(a, 150 * S).as_deref(), Some("new.example"));
        // A lookup at a time answered only by the older entry, made after the newer
        // one was recorded (another worker lagging behind), still sees the older one.
        assert_eq!(d.lookup(a, 99 * S).as_deref(), Some("old.example"));
    }

    #[test]
    fn repeated_answers_extend_without_reaching_back() {
        let d = PassiveDns::new();
        let a = ip("198.51.100.2");
        d.record(a, "n.example", 20, 0);
        d.record(a, "n.example", 20, 15 * S);
        assert!(d.lookup(a, 30 * S).is_some(), "extended to 35 s");
        assert!(d.lookup(a, 36 * S).is_none());
        // A fresh answer after a gap starts a new interval: the gap stays unnamed.
        d.record(a, "n.example", 20, 100 * S);
        assert!(d.lookup(a, 60 * S).is_none());
        assert!(d.lookup(a, 101 * S).is_some());
    }

    #[test]
    fn names_per_address_are_bounded_and_drops_counted() {
        let d = PassiveDns::new();
        let a = ip("198.51.100.3");
        for i in 0..(MAX_NAMES_PER_ADDR + 3) {
            d.record(a, &format!("n{i}.example"), 300 + i as u32, S);
        }
        assert_eq!(d.map.get(&a).map(|e| e.len()), Some(MAX_NAMES_PER_ADDR));
        assert_eq!(d.stats().dropped, 3);
        assert_eq!(d.stats().addrs, 1);
    }

    #[test]
    fn expired_entries_are_swept_past_the_grace() {
        let d = PassiveDns::new();
        let a = ip("198.51.100.4");
        d.record(a, "a.example", 10, 0);
        d.record(a, "b.example", 10, (10 + GRACE + 1) * S);
        let names: Vec<String> = d
            .map
            .get(&a)
            .map(|e| e.iter().map(|x| x.name.to_string()).collect())
            .unwrap_or_default();
        assert_eq!(names, vec!["b.example".to_string()]);
    }
}
