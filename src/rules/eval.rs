//! The evaluator: runs compiled rules over flow records, per view, and builds alerts.
//!
//! [`Engine`] is shared (cheap to clone) and immutable except for the fan-out
//! aggregates, which sit behind one mutex per fan-out rule because a container's
//! flows are spread over every worker; they are touched only when a fan-out rule's
//! condition already matched.  [`Evaluator`] is per worker thread.  For each view,
//! rules are indexed by the server ports they require, so a flow only visits rules
//! that can match its port plus those without a port constraint.  Evaluation
//! allocates nothing unless a rule fires.

use super::alert::{escape_into, Alert, AlertContainer, FieldValue, Priority};
use super::compile::FastBuild;
use super::compile::{glob_match, StrM, View, DIRECTIONS, N};
use super::fields::{CField, Field, Role};
use super::inventory::{Container, Ends, Inventory, SharedInventory};
use super::{OutPart, RuleSet};
use crate::flow::record::FlowRecord;
use crate::time::Nanos;
use std::cell::OnceCell;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Names for IP addresses (passive DNS, [`crate::passive_dns::PassiveDns`]).  Without
/// one ([`NoNames`]) the `.name` fields are absent.
pub trait NameLookup: Send + Sync {
    fn name_of(&self, ip: IpAddr, at: Nanos) -> Option<Arc<str>>;
}

/// The lookup that knows no names.
pub struct NoNames;

impl NameLookup for NoNames {
    fn name_of(&self, _: IpAddr, _: Nanos) -> Option<Arc<str>> {
        None
    }
}

#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// Rules less severe than this never run.
    pub min_priority: Priority,
    /// `hostname` in every alert.
    pub hostname: String,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            min_priority: Priority::Debug,
            hostname: String::new(),
        }
    }
}

/// A flow's class: its direction and which ends are containers.  Conditions are
/// partially evaluated per class at build time, so a flow visits only the rules
/// that its class leaves open.
const CLASSES: usize = 20;

fn class_of(dir: usize, cc: bool, sc: bool) -> usize {
    dir * 4 + usize::from(cc) * 2 + usize::from(sc)
}

/// Three-valued evaluation with only the class known (None: depends on the flow).
fn known(n: &N, dir: usize, has: [bool; 2]) -> Option<bool> {
    match n {
        N::Const(b) => Some(*b),
        N::Dir(mask) => Some(mask & (1 << dir) != 0),
        N::Exists(Field::Container(r, cf)) => {
            let h = has[side(*r)];
            match cf {
                CField::Id | CField::Name | CField::Image | CField::Repository => Some(h),
                _ => (!h).then_some(false),
            }
        }
        N::Str(Field::Container(r, _), _) | N::StrNe(Field::Container(r, _), _) => {
            (!has[side(*r)]).then_some(false)
        }
        N::Not(x) => known(x, dir, has).map(|b| !b),
        N::And(v) => {
            let mut all = true;
            for c in v.iter() {
                match known(c, dir, has) {
                    Some(false) => return Some(false),
                    None => all = false,
                    Some(true) => {}
                }
            }
            all.then_some(true)
        }
        N::Or(v) => {
            let mut all_false = true;
            for c in v.iter() {
                match known(c, dir, has) {
                    Some(true) => return Some(true),
                    None => all_false = false,
                    Some(false) => {}
                }
            }
            all_false.then_some(false)
        }
        _ => None,
    }
}

/// Rule indexes for one view.  Each rule sits in exactly one place, the first that
/// its condition allows: by required server port (CSR, with a class bitmask each);
/// by the exact values a container field must hold (a hash map per field); behind a
/// CIDR gate, the union of the networks an address must lie in (one per role); or,
/// per class, in the list of rules every flow of that class visits.
struct ViewIndex {
    always: Vec<Vec<u32>>,
    port_off: Box<[u32]>,
    port_rules: Vec<(u32, u32)>,
    by_value: Vec<ValueIndex>,
    by_net: Vec<NetGate>,
}

/// Rules that need `field` to equal one of their values: value → (rule, classes).
struct ValueIndex {
    field: Field,
    rules: HashMap<Box<str>, Vec<(u32, u32)>, FastBuild>,
}

/// Rules that need the `role` address in their networks; `gate` is the union of them
/// all, so a flow outside every one skips the whole group with one lookup.
struct NetGate {
    role: Role,
    gate: super::compile::CidrSet,
    rules: Vec<(u32, u32)>,
}

impl ViewIndex {
    fn build(rules: &RuleSet, active: &[bool], view: View) -> ViewIndex {
        let mut always = vec![Vec::new(); CLASSES];
        let mut pairs: Vec<(u16, u32, u32)> = Vec::new();
        let mut by_value: Vec<ValueIndex> = Vec::new();
        let mut by_net: Vec<NetGate> = Vec::new();
        for (i, r) in rules.rules.iter().enumerate() {
            if !active.get(i).copied().unwrap_or(false) {
                continue;
            }
            let Some(tree) = r.trees.get(view.index()) else {
                continue;
            };
            if matches!(tree, N::Const(false)) {
                continue;
            }
            let mut classes = 0u32;
            for dir in 0..DIRECTIONS.len() {
                for cc in [false, true] {
                    for sc in [false, true] {
                        if known(tree, dir, [cc, sc]) != Some(false) {
                            classes |= 1 << class_of(dir, cc, sc);
                        }
                    }
                }
            }
            let entry = (i as u32, classes);
            if let Some(set) = tree.required_server_ports() {
                pairs.extend(set.ports().map(|p| (p, i as u32, classes)));
            } else if let Some((field, values)) = tree.required_container_values() {
                let pos = match by_value.iter().position(|v| v.field == field) {
                    Some(p) => p,
                    None => {
                        by_value.push(ValueIndex {
                            field,
                            rules: HashMap::default(),
                        });
                        by_value.len() - 1
                    }
                };
                if let Some(ix) = by_value.get_mut(pos) {
                    for v in values {
                        let list = ix.rules.entry(v).or_default();
                        if !list.contains(&entry) {
                            list.push(entry);
                        }
                    }
                }
            } else if let Some((role, nets)) = tree.required_networks() {
                match by_net.iter_mut().find(|g| g.role == role) {
                    Some(g) => {
                        g.gate.extend(nets);
                        g.rules.push(entry);
                    }
                    None => by_net.push(NetGate {
                        role,
                        gate: nets.clone(),
                        rules: vec![entry],
                    }),
                }
            } else {
                for (c, list) in always.iter_mut().enumerate() {
                    if classes & (1 << c) != 0 {
                        list.push(i as u32);
                    }
                }
            }
        }
        let mut counts = vec![0u32; 65537];
        for (p, _, _) in &pairs {
            if let Some(c) = counts.get_mut(usize::from(*p) + 1) {
                *c += 1;
            }
        }
        for i in 1..counts.len() {
            let prev = counts.get(i - 1).copied().unwrap_or(0);
            if let Some(c) = counts.get_mut(i) {
                *c += prev;
            }
        }
        pairs.sort_unstable();
        ViewIndex {
            always,
            port_off: counts.into_boxed_slice(),
            port_rules: pairs.into_iter().map(|(_, r, c)| (r, c)).collect(),
            by_value,
            by_net,
        }
    }

    fn for_port(&self, port: u16) -> &[(u32, u32)] {
        let a = self.port_off.get(usize::from(port)).copied().unwrap_or(0) as usize;
        let b = self
            .port_off
            .get(usize::from(port) + 1)
            .copied()
            .unwrap_or(0) as usize;
        self.port_rules.get(a..b).unwrap_or(&[])
    }
}

const FANOUT_MAX_KEYS: usize = 4096;

#[derive(Default)]
struct KeyState {
    seen: Vec<(u64, Nanos)>,
    last: Nanos,
    quiet_until: Nanos,
}

/// Distinct values per key within a sliding window, bounded in keys and values.
#[derive(Default)]
struct FanoutState {
    keys: HashMap<u64, KeyState, FastBuild>,
}

impl FanoutState {
    /// Records one observation; the distinct count when the threshold is crossed.
    fn observe(
        &mut self,
        key: u64,
        value: u64,
        now: Nanos,
        threshold: u32,
        window: Nanos,
    ) -> Option<usize> {
        if !self.keys.contains_key(&key) && self.keys.len() >= FANOUT_MAX_KEYS {
            // Full: drop idle keys first, then the least recently seen one.
            self.keys.retain(|_, k| k.last > now.saturating_sub(window));
            if self.keys.len() >= FANOUT_MAX_KEYS {
                if let Some(old) = self
                    .keys
                    .iter()
                    .min_by_key(|(_, k)| k.last)
                    .map(|(h, _)| *h)
                {
                    self.keys.remove(&old);
                }
            }
        }
        let k = self.keys.entry(key).or_default();
        k.last = k.last.max(now);
        k.seen.retain(|(_, t)| *t > now.saturating_sub(window));
        match k.seen.iter_mut().find(|(v, _)| *v == value) {
            Some(e) => e.1 = e.1.max(now),
            None => k.seen.push((value, now)),
        }
        if k.seen.len() > threshold as usize {
            let n = k.seen.len();
            k.seen.clear();
            if now >= k.quiet_until {
                // One alert per key and window, however fast the scan goes on.
                k.quiet_until = now.saturating_add(window);
                return Some(n);
            }
        }
        None
    }
}

struct Inner {
    rules: Arc<RuleSet>,
    inv: Arc<SharedInventory>,
    hostname: Arc<str>,
    views: [ViewIndex; 4],
    fanout: Vec<Option<Mutex<FanoutState>>>,
    names: Arc<dyn NameLookup>,
}

/// The shared, compiled engine.  Clone it freely; clones share fan-out state.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl Engine {
    pub fn new(rules: Arc<RuleSet>, inv: Arc<Inventory>, opts: EngineOptions) -> Engine {
        Engine::with_names(rules, inv, opts, Arc::new(NoNames))
    }

    /// As [`Engine::new`], with a passive-DNS lookup for the `.name` fields.
    pub fn with_names(
        rules: Arc<RuleSet>,
        inv: Arc<Inventory>,
        opts: EngineOptions,
        names: Arc<dyn NameLookup>,
    ) -> Engine {
        Engine::with_shared(rules, Arc::new(SharedInventory::new(inv)), opts, names)
    }

    /// As [`Engine::with_names`], reading an inventory someone else keeps current
    /// (live mode's Docker watcher).
    pub fn with_shared(
        rules: Arc<RuleSet>,
        inv: Arc<SharedInventory>,
        opts: EngineOptions,
        names: Arc<dyn NameLookup>,
    ) -> Engine {
        let active: Vec<bool> = rules
            .rules
            .iter()
            .map(|r| r.enabled && r.priority.passes(opts.min_priority))
            .collect();
        let views = View::ALL.map(|v| ViewIndex::build(&rules, &active, v));
        let fanout = rules
            .rules
            .iter()
            .map(|r| {
                r.fanout
                    .as_ref()
                    .map(|_| Mutex::new(FanoutState::default()))
            })
            .collect();
        Engine {
            inner: Arc::new(Inner {
                rules,
                inv,
                hostname: opts.hostname.into(),
                views,
                fanout,
                names,
            }),
        }
    }

    pub fn evaluator(&self) -> Evaluator {
        let (inv_version, inv) = self.inner.inv.snapshot();
        Evaluator {
            engine: self.clone(),
            scratch: Vec::with_capacity(64),
            inv,
            inv_version,
        }
    }

    /// How many rules the engine holds (enabled or not).
    pub fn rule_count(&self) -> usize {
        self.inner.rules.len()
    }

    /// Where a live run publishes new inventory snapshots; every evaluator picks
    /// up the new one at its next flow.
    pub fn inventory(&self) -> Arc<SharedInventory> {
        self.inner.inv.clone()
    }
}

/// The engine a live run may replace (SIGHUP reloads the rules): evaluators compare
/// [`EngineSlot::version`] (one atomic load) per flow and take a new evaluator only
/// when it moved.  A rule set is swapped whole: a flow sees the old rules or the new.
pub struct EngineSlot {
    version: std::sync::atomic::AtomicU64,
    engine: Mutex<Engine>,
}

impl EngineSlot {
    pub fn new(engine: Engine) -> EngineSlot {
        EngineSlot {
            version: std::sync::atomic::AtomicU64::new(0),
            engine: Mutex::new(engine),
        }
    }

    #[inline]
    pub fn version(&self) -> u64 {
        self.version.load(std::sync::atomic::Ordering::Acquire)
    }

    /// The current engine and its version.
    pub fn current(&self) -> (u64, Engine) {
        let e = match self.engine.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        };
        (self.version(), e)
    }

    /// Puts `engine` in force for every evaluator's next flow.
    pub fn replace(&self, engine: Engine) {
        let mut g = match self.engine.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        *g = engine;
        self.version
            .fetch_add(1, std::sync::atomic::Ordering::Release);
    }
}

/// Per-thread evaluation state.
pub struct Evaluator {
    engine: Engine,
    scratch: Vec<u32>,
    /// This thread's copy of the current inventory snapshot.
    inv: Arc<Inventory>,
    inv_version: u64,
}

/// What one view sees of a flow.  Derived strings are built only when a rule asks.
pub(crate) struct Ctx<'a> {
    rec: &'a FlowRecord,
    view: View,
    cont: [Option<&'a Container>; 2],
    dir: usize,
    names: &'a dyn NameLookup,
    fd_name: OnceCell<String>,
    ip_names: [OnceCell<Option<Arc<str>>>; 2],
}

fn side(r: Role) -> usize {
    match r {
        Role::Client | Role::Local => 0,
        Role::Server | Role::Remote => 1,
    }
}

impl<'a> Ctx<'a> {
    #[inline]
    fn port(&self, r: Role) -> u16 {
        if side(r) == 0 {
            self.rec.orig_p
        } else {
            self.rec.resp_p
        }
    }
    #[inline]
    fn ip(&self, r: Role) -> IpAddr {
        if side(r) == 0 {
            self.rec.orig_h
        } else {
            self.rec.resp_h
        }
    }
    fn time(&self) -> Nanos {
        match self.view {
            View::Connect | View::Accept => self.rec.ts,
            View::EndClient | View::EndServer => self.rec.end,
        }
    }
    fn u64(&self, f: &Field) -> Option<u64> {
        Some(match f {
            Field::EvtTime => u64::try_from(self.time()).unwrap_or(0),
            Field::OrigPkts => self.rec.orig_pkts,
            Field::RespPkts => self.rec.resp_pkts,
            Field::OrigBytes => self.rec.orig_bytes,
            Field::RespBytes => self.rec.resp_bytes,
            _ => return None,
        })
    }
    fn str(&self, f: &Field) -> Option<&str> {
        match f {
            Field::EvtType => Some(self.view.evt_type()),
            Field::L4Proto => Some(self.rec.proto),
            Field::FdName => Some(self.fd_name.get_or_init(|| {
                let fmt = |ip: IpAddr, p: u16| match ip {
                    IpAddr::V4(a) => format!("{a}:{p}"),
                    IpAddr::V6(a) => format!("[{a}]:{p}"),
                };
                format!(
                    "{}->{}",
                    fmt(self.rec.orig_h, self.rec.orig_p),
                    fmt(self.rec.resp_h, self.rec.resp_p)
                )
            })),
            Field::Direction => DIRECTIONS.get(self.dir).copied(),
            Field::State => Some(self.rec.conn_state),
            Field::CommunityId => Some(&self.rec.community_id),
            Field::IpName(r) => {
                let s = side(*r);
                self.ip_names
                    .get(s)?
                    .get_or_init(|| self.names.name_of(self.ip(*r), self.rec.ts))
                    .as_deref()
            }
            Field::Container(r, cf) => {
                let c = (*self.cont.get(side(*r))?)?;
                match cf {
                    CField::Id => Some(&c.id),
                    CField::Name => Some(&c.name),
                    CField::Image => Some(&c.image),
                    CField::Repository => Some(&c.repository),
                    CField::Tag => c.tag.as_deref(),
                    CField::Label(k) => c.labels.get(k).map(String::as_str),
                }
            }
            _ => None,
        }
    }

    /// A field's value for outputs and fan-out keys.
    pub(crate) fn value(&self, f: &Field) -> FieldValue {
        match f {
            Field::Ip(r) | Field::Net(r) => FieldValue::Str(self.ip(*r).to_string()),
            Field::Port(r) => FieldValue::U64(u64::from(self.port(*r))),
            Field::Duration => FieldValue::F64(self.rec.duration_secs()),
            f => match self.u64(f) {
                Some(n) => FieldValue::U64(n),
                None => self
                    .str(f)
                    .map_or(FieldValue::Missing, |s| FieldValue::Str(s.to_string())),
            },
        }
    }

    fn hash(&self, f: &Field) -> Option<u64> {
        let mut h = super::compile::FastHasher::default();
        match f {
            Field::Ip(r) | Field::Net(r) => self.ip(*r).hash(&mut h),
            Field::Port(r) => self.port(*r).hash(&mut h),
            f => match self.u64(f) {
                Some(n) => n.hash(&mut h),
                None => self.str(f)?.hash(&mut h),
            },
        }
        Some(h.finish())
    }
}

fn str_match(m: &StrM, s: &str) -> bool {
    match m {
        StrM::Cmp(op, v) => op.test(s, &**v),
        StrM::In(set) => set.contains(s),
        StrM::Contains(v) => s.contains(&**v),
        StrM::IContains(v) => {
            let n = v.len();
            n == 0
                || s.as_bytes()
                    .windows(n)
                    .any(|w| w.eq_ignore_ascii_case(v.as_bytes()))
        }
        StrM::StartsWith(v) => s.starts_with(&**v),
        StrM::EndsWith(v) => s.ends_with(&**v),
        StrM::Glob(p) => glob_match(p, s),
        StrM::Regex(r) => r.is_match(s),
        StrM::Pmatch(prefixes) => prefixes.iter().any(|p| {
            s.strip_prefix(&**p)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/') || p.is_empty())
        }),
    }
}

impl N {
    #[inline]
    pub(crate) fn eval(&self, c: &Ctx) -> bool {
        match self {
            N::Const(b) => *b,
            N::And(v) => v.iter().all(|n| n.eval(c)),
            N::Or(v) => v.iter().any(|n| n.eval(c)),
            N::Not(n) => !n.eval(c),
            N::Port(r, op, v) => op.test(c.port(*r), *v),
            N::PortIn(r, set) => set.contains(c.port(*r)),
            N::U64(f, op, v) => c.u64(f).is_some_and(|x| op.test(x, *v)),
            N::U64In(f, set) => c.u64(f).is_some_and(|x| set.contains(&x)),
            N::F64(_, op, v) => op.test(c.rec.duration_secs(), *v),
            N::Ip(r, set, negate) => set.contains(c.ip(*r)) != *negate,
            N::Dir(mask) => mask & (1 << c.dir) != 0,
            N::Str(f, m) => c.str(f).is_some_and(|s| str_match(m, s)),
            N::StrNe(f, v) => c.str(f).is_some_and(|s| s != &**v),
            N::Exists(f) => c.str(f).is_some(),
        }
    }
}

/// A flow's direction as rules and alerts name it (`outbound`, `inbound`, `internal`,
/// `host` or `external`), from which ends the inventory knows at the flow's start
/// ([`Inventory::attribute`]): the one definition flow records (`watch`) and alerts share.
pub fn flow_direction(inv: &Inventory, rec: &FlowRecord) -> &'static str {
    flow_direction_of(inv, rec, &inv.attribute(rec))
}

/// [`flow_direction`] for ends already attributed.
pub fn flow_direction_of(inv: &Inventory, rec: &FlowRecord, ends: &Ends<'_>) -> &'static str {
    let [cc, sc] = ends.container.map(|c| c.is_some());
    DIRECTIONS
        .get(direction(inv, rec, cc, sc))
        .copied()
        .unwrap_or("external")
}

/// Direction index into [`DIRECTIONS`].
fn direction(inv: &Inventory, rec: &FlowRecord, cc: bool, sc: bool) -> usize {
    if inv.is_host(rec.orig_h) || inv.is_host(rec.resp_h) {
        3
    } else {
        match (cc, sc) {
            (true, true) => 2,
            (true, false) => 0,
            (false, true) => 1,
            (false, false) => 4,
        }
    }
}

impl Evaluator {
    /// At a flow's first packet: connect rules from the client if it is a container
    /// (or if neither end is), accept rules from the server if it is a container.
    pub fn on_flow_start(&mut self, rec: &FlowRecord, alerts: &mut Vec<Alert>) {
        self.run(rec, View::Connect, View::Accept, alerts);
    }

    /// When a flow ends: `evt.type = end` rules, with the final counters.
    pub fn on_flow_end(&mut self, rec: &FlowRecord, alerts: &mut Vec<Alert>) {
        self.run(rec, View::EndClient, View::EndServer, alerts);
    }

    fn run(
        &mut self,
        rec: &FlowRecord,
        client_view: View,
        server_view: View,
        alerts: &mut Vec<Alert>,
    ) {
        let inner = &*self.engine.inner;
        if inner.inv.version() != self.inv_version {
            (self.inv_version, self.inv) = inner.inv.snapshot();
        }
        let scratch = &mut self.scratch;
        let [cc, sc] = self.inv.attribute(rec).container;
        let dir = direction(&self.inv, rec, cc.is_some(), sc.is_some());
        let cont = [cc, sc];
        if cc.is_some() || sc.is_none() {
            run_view(inner, scratch, rec, client_view, cont, dir, alerts);
        }
        if sc.is_some() {
            run_view(inner, scratch, rec, server_view, cont, dir, alerts);
        }
    }
}

fn run_view(
    inner: &Inner,
    scratch: &mut Vec<u32>,
    rec: &FlowRecord,
    view: View,
    cont: [Option<&Container>; 2],
    dir: usize,
    alerts: &mut Vec<Alert>,
) {
    let ctx = Ctx {
        rec,
        view,
        cont,
        dir,
        names: &*inner.names,
        fd_name: OnceCell::new(),
        ip_names: [OnceCell::new(), OnceCell::new()],
    };
    {
        let Some(idx) = inner.views.get(view.index()) else {
            return;
        };
        let class = class_of(dir, cont[0].is_some(), cont[1].is_some());
        let bit = 1u32 << class;
        let by_port = idx.for_port(rec.resp_p);
        let a: &[u32] = idx.always.get(class).map_or(&[], Vec::as_slice);
        let b = by_port;
        scratch.clear();
        // Merge two sorted lists so alerts come out in rule-file order.
        let (mut i, mut j) = (0, 0);
        while i < a.len() || j < b.len() {
            match (a.get(i), b.get(j)) {
                (Some(x), Some(y)) if *x <= y.0 => {
                    scratch.push(*x);
                    i += 1;
                }
                (_, Some(y)) => {
                    if y.1 & bit != 0 {
                        scratch.push(y.0);
                    }
                    j += 1;
                }
                (Some(x), None) => {
                    scratch.push(*x);
                    i += 1;
                }
                (None, None) => break,
            }
        }
        let merged = scratch.len();
        for ix in &idx.by_value {
            let Some(list) = ctx.str(&ix.field).and_then(|v| ix.rules.get(v)) else {
                continue;
            };
            scratch.extend(list.iter().filter(|e| e.1 & bit != 0).map(|e| e.0));
        }
        for g in &idx.by_net {
            if g.gate.contains(ctx.ip(g.role)) {
                scratch.extend(g.rules.iter().filter(|e| e.1 & bit != 0).map(|e| e.0));
            }
        }
        if scratch.len() > merged {
            // Alerts come out in rule-file order whichever index found the rule.
            scratch.sort_unstable();
        }
        if scratch.is_empty() {
            return;
        }
        for &ri in scratch.iter() {
            let Some(rule) = inner.rules.rules.get(ri as usize) else {
                continue;
            };
            let Some(tree) = rule.trees.get(view.index()) else {
                continue;
            };
            if !tree.eval(&ctx) {
                continue;
            }
            let mut count = None;
            if let Some(f) = &rule.fanout {
                let lc = view.local_is_client();
                let (Some(k), Some(v)) = (
                    ctx.hash(&f.key.resolve(lc)),
                    ctx.hash(&f.distinct.resolve(lc)),
                ) else {
                    continue;
                };
                let Some(Some(state)) = inner.fanout.get(ri as usize) else {
                    continue;
                };
                let fired = match state.lock() {
                    Ok(mut s) => s.observe(k, v, rec.ts, f.threshold, f.window_ns),
                    Err(p) => p
                        .into_inner()
                        .observe(k, v, rec.ts, f.threshold, f.window_ns),
                };
                match fired {
                    Some(n) => count = Some(n),
                    None => continue,
                }
            }
            alerts.push(make_alert(inner, rule, &ctx, count));
        }
    }
}

fn make_alert(inner: &Inner, rule: &super::CompiledRule, ctx: &Ctx, count: Option<usize>) -> Alert {
    let mut output = String::with_capacity(rule.output_len_hint);
    let mut fields: Vec<(Arc<str>, FieldValue)> = Vec::new();
    for part in &rule.output {
        let (name, v) = match part {
            OutPart::Lit(s) => {
                output.push_str(s);
                continue;
            }
            OutPart::Field(name, f) => (name, ctx.value(&f.resolve(ctx.view.local_is_client()))),
            OutPart::FanoutCount(name) => (
                name,
                count.map_or(FieldValue::Missing, |n| FieldValue::U64(n as u64)),
            ),
        };
        v.write_text(&mut output);
        if !fields.iter().any(|(n, _)| n == name) {
            fields.push((name.clone(), v));
        }
    }
    let mut safe = String::with_capacity(output.len());
    escape_literal_controls(&output, &mut safe);
    Alert {
        time: ctx.time(),
        rule: rule.name.clone(),
        priority: rule.priority,
        output: safe,
        output_fields: fields,
        tags: rule.tags.clone(),
        hostname: inner.hostname.clone(),
        evt_type: ctx.view.evt_type(),
        direction: DIRECTIONS.get(ctx.dir).copied().unwrap_or("external"),
        container: ctx.cont[view_side(ctx.view)].map(AlertContainer::from),
        peer: ctx.cont[1 - view_side(ctx.view)].map(AlertContainer::from),
        local_is_client: ctx.view.local_is_client(),
        suppressed: 0,
        flow: ctx.rec.clone(),
    }
}

/// Which end of the flow a view looks from (0 client, 1 server).
fn view_side(v: View) -> usize {
    usize::from(!v.local_is_client())
}

/// Field values are escaped already; this catches control characters a rule's own
/// output text may carry (a YAML `|` block's newlines).
fn escape_literal_controls(s: &str, out: &mut String) {
    if s.chars().any(char::is_control) {
        for c in s.chars() {
            if c.is_control() {
                escape_into(out, &c.to_string());
            } else {
                out.push(c);
            }
        }
    } else {
        out.push_str(s);
    }
}
