//! Alert deduplication (`--dedup-window`): at most one alert per rule and key in each
//! window of packet time, so a container that retries a forbidden connection every
//! second raises one alert a minute, not sixty.  Nothing is dropped silently: the
//! alerts held back are counted per rule for the summary, and the next alert sent
//! for the same key carries their number (`suppressed`).
//!
//! The key is the rule, the view (which end raised it) and the flow's two ends, each
//! named by its container id when it is a container and by its address otherwise —
//! so the same container pair is one key whatever ports and addresses its flows use,
//! and an outside address is a key of its own.  Windows are fixed spans of packet
//! time (`window` long, counted from the epoch), so a replay gives the same alerts
//! at any speed: the first alert of a key in a window is sent, the rest of that
//! window's are held back.  All workers share one table, and because a window is
//! fixed rather than opened by whichever alert came first, the number of alerts sent
//! (one per key and window) and held back do not depend on `--threads` or on the
//! order workers get there; with several threads, which alert of a window is the
//! one sent, and which later alert carries a count, may differ.
//!
//! The table is bounded ([`MAX_KEYS`]): when full, keys with nothing held back and
//! no alert sent in the current or the previous window are forgotten; if it is still full, alerts of new keys are sent
//! untracked (never suppressed) and counted as `untracked`.

use crate::rules::{Alert, AlertContainer};
use crate::time::Nanos;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Keys tracked at once.
pub const MAX_KEYS: usize = 65_536;

/// The default window, in seconds: long enough to fold a retry loop into one
/// alert, short enough that an attack still going on alerts again each minute.
pub const DEFAULT_WINDOW_SECS: u64 = 60;

/// One end of the flow, as the key names it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum End {
    Container(String),
    Ip(IpAddr),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    rule: Arc<str>,
    evt_type: &'static str,
    local_is_client: bool,
    orig: End,
    resp: End,
}

impl Key {
    fn of(a: &Alert) -> Key {
        let end = |c: Option<&AlertContainer>, ip: IpAddr| match c {
            Some(c) => End::Container(c.id.clone()),
            None => End::Ip(ip),
        };
        let (oc, rc) = if a.local_is_client {
            (a.container.as_ref(), a.peer.as_ref())
        } else {
            (a.peer.as_ref(), a.container.as_ref())
        };
        Key {
            rule: a.rule.clone(),
            evt_type: a.evt_type,
            local_is_client: a.local_is_client,
            orig: end(oc, a.flow.orig_h),
            resp: end(rc, a.flow.resp_h),
        }
    }
}

struct Slot {
    /// The windows (packet time / window) in which an alert of the key was sent,
    /// newest last; the oldest beyond [`SLOT_WINDOWS`] are forgotten.
    sent: Vec<i64>,
    /// Held back since the last alert sent.
    held: u64,
}

/// Windows remembered per key: enough for one worker to run a few windows behind
/// another without its late alerts being sent twice.
const SLOT_WINDOWS: usize = 8;

#[derive(Default)]
struct State {
    slots: HashMap<Key, Slot>,
    /// The latest alert time seen (the current window).
    latest: Nanos,
    by_rule: BTreeMap<String, u64>,
    untracked: u64,
}

/// What deduplication did over a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DedupStats {
    pub window_secs: u64,
    /// Alerts held back, by rule.
    pub suppressed: BTreeMap<String, u64>,
    /// Alerts sent without deduplication because the key table was full.
    pub untracked: u64,
}

impl DedupStats {
    pub fn total(&self) -> u64 {
        self.suppressed.values().sum()
    }
}

/// The shared deduplication table.
pub struct Dedup {
    window: Nanos,
    window_secs: u64,
    state: Mutex<State>,
}

impl Dedup {
    /// `None` for a window of 0 (deduplication off).
    pub fn new(window_secs: u64) -> Option<Arc<Dedup>> {
        (window_secs > 0).then(|| {
            Arc::new(Dedup {
                window: Nanos::try_from(window_secs)
                    .unwrap_or(Nanos::MAX)
                    .saturating_mul(1_000_000_000),
                window_secs,
                state: Mutex::new(State::default()),
            })
        })
    }

    /// Decides for `a`: `true` to send it (with `a.suppressed` set to what was
    /// held back for its key since the last one sent), `false` to hold it back.
    pub fn admit(&self, a: &mut Alert) -> bool {
        let mut st = match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        st.latest = st.latest.max(a.time);
        let window = a.time.div_euclid(self.window);
        let key = Key::of(a);
        if let Some(slot) = st.slots.get_mut(&key) {
            if slot.sent.contains(&window) {
                slot.held += 1;
                *st.by_rule.entry(a.rule.to_string()).or_default() += 1;
                return false;
            }
            a.suppressed = std::mem::take(&mut slot.held);
            // Kept sorted; a late worker's window goes in its place.
            let at = slot.sent.partition_point(|w| *w < window);
            slot.sent.insert(at, window);
            if slot.sent.len() > SLOT_WINDOWS {
                slot.sent.remove(0);
            }
            return true;
        }
        if st.slots.len() >= MAX_KEYS {
            let current = st.latest.div_euclid(self.window);
            st.slots
                .retain(|_, s| s.held > 0 || s.sent.last().is_some_and(|w| *w >= current - 1));
            if st.slots.len() >= MAX_KEYS {
                st.untracked += 1;
                return true;
            }
        }
        st.slots.insert(
            key,
            Slot {
                sent: vec![window],
                held: 0,
            },
        );
        true
    }

    pub fn stats(&self) -> DedupStats {
        let st = match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        DedupStats {
            window_secs: self.window_secs,
            suppressed: st.by_rule.clone(),
            untracked: st.untracked,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::record::FlowRecord;
    use crate::rules::Priority;

    const S: Nanos = 1_000_000_000;

    fn alert(rule: &str, t: Nanos, orig: &str, resp: &str, cont: Option<&str>) -> Alert {
        let flow = FlowRecord {
            uid: crate::flow::uid::Uid::from_seed(1),
            ..FlowRecord::attempt(
                t,
                (orig.parse().unwrap(), 40000),
                (resp.parse().unwrap(), 443),
                6,
            )
        };
        Alert {
            time: t,
            rule: rule.into(),
            priority: Priority::Warning,
            output: String::new(),
            output_fields: Vec::new(),
            tags: Arc::new([]),
            hostname: "h".into(),
            evt_type: "connect",
            direction: "outbound",
            container: cont.map(|id| AlertContainer {
                id: id.into(),
                name: id.into(),
                image: String::new(),
                repository: String::new(),
                tag: None,
            }),
            peer: None,
            local_is_client: true,
            suppressed: 0,
            flow,
        }
    }

    /// (sent?, suppressed) for each alert in turn.
    fn run(d: &Dedup, alerts: Vec<Alert>) -> Vec<(bool, u64)> {
        alerts
            .into_iter()
            .map(|mut a| (d.admit(&mut a), a.suppressed))
            .collect()
    }

    #[test]
    fn one_alert_per_key_and_window_and_the_next_carries_the_count() {
        let d = Dedup::new(60).unwrap();
        let a = |t, resp| alert("R", t * S, "172.17.0.2", resp, Some("c1"));
        let got = run(
            &d,
            vec![
                a(0, "1.1.1.1"),
                a(10, "1.1.1.1"),
                a(59, "1.1.1.1"),
                a(20, "2.2.2.2"), // another outside address: another key
                a(60, "1.1.1.1"), // the window closed: sent, carrying 2
                a(61, "1.1.1.1"),
                a(200, "1.1.1.1"), // carries 1
                a(300, "1.1.1.1"), // nothing held since: 0
            ],
        );
        assert_eq!(
            got,
            vec![
                (true, 0),
                (false, 0),
                (false, 0),
                (true, 0),
                (true, 2),
                (false, 0),
                (true, 1),
                (true, 0)
            ]
        );
        let st = d.stats();
        assert_eq!(st.total(), 3);
        assert_eq!(st.suppressed.get("R"), Some(&3));
        assert_eq!(st.window_secs, 60);
    }

    #[test]
    fn the_key_is_the_container_pair_not_the_addresses_and_rules_are_apart() {
        let d = Dedup::new(60).unwrap();
        let got = run(
            &d,
            vec![
                alert("R", 0, "172.17.0.2", "1.1.1.1", Some("c1")),
                // Same container, same outside address, from a new IP: same key.
                alert("R", S, "172.17.0.9", "1.1.1.1", Some("c1")),
                // Another container from the first IP: another key.
                alert("R", 2 * S, "172.17.0.2", "1.1.1.1", Some("c2")),
                // Another rule: another key.
                alert("Q", 3 * S, "172.17.0.2", "1.1.1.1", Some("c1")),
                // No container: the IP pair is the key.
                alert("R", 4 * S, "10.0.0.1", "1.1.1.1", None),
                alert("R", 5 * S, "10.0.0.1", "1.1.1.1", None),
                alert("R", 6 * S, "10.0.0.2", "1.1.1.1", None),
            ],
        );
        let sent: Vec<bool> = got.iter().map(|g| g.0).collect();
        assert_eq!(sent, vec![true, false, true, true, true, false, true]);
    }

    #[test]
    fn a_window_of_zero_is_off_and_late_alerts_keep_their_own_window() {
        assert!(Dedup::new(0).is_none());
        let d = Dedup::new(10).unwrap();
        let a = |t| alert("R", t * S, "10.0.0.1", "1.1.1.1", None);
        let got = run(&d, vec![a(100), a(105), a(50), a(55), a(111)]);
        // 50 comes late (another worker behind), but its window [50, 60) had no
        // alert sent: it is sent; 55 is then held in it.
        assert_eq!(
            got,
            vec![(true, 0), (false, 0), (true, 1), (false, 0), (true, 1)]
        );
    }

    #[test]
    fn what_is_sent_and_held_does_not_depend_on_the_order_of_arrival() {
        let times = [0, 3, 9, 10, 12, 25, 26, 27, 40, 41, 59, 60, 61, 95];
        let counts = |order: Vec<u64>| {
            let d = Dedup::new(10).unwrap();
            let sent = order
                .into_iter()
                .filter(|&t| d.admit(&mut alert("R", t as Nanos * S, "10.0.0.1", "1.1.1.1", None)))
                .count();
            (sent, d.stats().total())
        };
        let forward = counts(times.to_vec());
        // Windows 0, 10, 20, 40, 50, 60, 90: seven sent, seven held.
        assert_eq!(forward, (7, 7));
        assert_eq!(counts(times.iter().rev().copied().collect()), forward);
        let (even, odd): (Vec<u64>, Vec<u64>) = times.iter().partition(|t| *t % 2 == 0);
        assert_eq!(counts(odd.into_iter().chain(even).collect()), forward);
    }

    #[test]
    fn a_full_table_forgets_closed_windows_then_sends_untracked() {
        let d = Dedup::new(1).unwrap();
        let ip = |i: usize| format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255);
        for i in 0..MAX_KEYS {
            assert!(d.admit(&mut alert("R", 0, &ip(i), "1.1.1.1", None)));
        }
        // Every window is still open at t=0: a new key goes untracked.
        assert!(d.admit(&mut alert("R", 0, "192.0.2.1", "1.1.1.1", None)));
        assert_eq!(d.stats().untracked, 1);
        // Later, the closed windows are forgotten and new keys tracked again.
        assert!(d.admit(&mut alert("R", 5 * S, "192.0.2.2", "1.1.1.1", None)));
        assert!(!d.admit(&mut alert("R", 5 * S, "192.0.2.2", "1.1.1.1", None)));
        assert_eq!(d.stats().untracked, 1);
        assert_eq!(d.stats().total(), 1);
    }
}
