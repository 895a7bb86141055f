//! Compiles conditions into typed match trees, once per view.
//!
//! Macros are expanded, list names spliced, every literal parsed to its field's type
//! (ports into 64 Ki-bit sets, CIDRs into prefix tables, strings into hash sets) and
//! view-relative fields resolved to client/server accessors.  `evt.type` is known per
//! view, so comparisons on it fold to constants and a rule that cannot match in a view
//! compiles to `false` there.  Errors point at the offending token's file:line:column.

use super::fields::{self, Field, FieldType, Role};
use super::loader::{Loaded, Text};
use super::parser::{self, Expr, Lit, Op, Span, Value};
use regex::Regex;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

/// The four contexts a rule runs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    Connect,
    Accept,
    EndClient,
    EndServer,
}

impl View {
    pub const ALL: [View; 4] = [
        View::Connect,
        View::Accept,
        View::EndClient,
        View::EndServer,
    ];
    pub fn index(self) -> usize {
        self as usize
    }
    pub fn evt_type(self) -> &'static str {
        match self {
            View::Connect => "connect",
            View::Accept => "accept",
            View::EndClient | View::EndServer => "end",
        }
    }
    pub fn local_is_client(self) -> bool {
        matches!(self, View::Connect | View::EndClient)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NumOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl NumOp {
    #[inline]
    pub fn test<T: PartialOrd>(self, a: T, b: T) -> bool {
        match self {
            NumOp::Eq => a == b,
            NumOp::Ne => a != b,
            NumOp::Lt => a < b,
            NumOp::Le => a <= b,
            NumOp::Gt => a > b,
            NumOp::Ge => a >= b,
        }
    }
}

/// A set of ports as a bitmap: one load and a mask per test.
#[derive(Clone, Debug)]
pub struct PortSet(pub Box<[u64; 1024]>);

impl PortSet {
    pub fn new() -> PortSet {
        PortSet(Box::new([0; 1024]))
    }
    pub fn insert(&mut self, p: u16) {
        if let Some(w) = self.0.get_mut(usize::from(p >> 6)) {
            *w |= 1 << (p & 63);
        }
    }
    #[inline]
    pub fn contains(&self, p: u16) -> bool {
        self.0
            .get(usize::from(p >> 6))
            .is_some_and(|w| w & (1 << (p & 63)) != 0)
    }
    pub fn ports(&self) -> impl Iterator<Item = u16> + '_ {
        self.0
            .iter()
            .enumerate()
            .filter(|(_, w)| **w != 0)
            .flat_map(|(i, w)| {
                (0..64u16)
                    .filter(move |b| w & (1 << b) != 0)
                    .map(move |b| ((i as u16) << 6) | b)
            })
    }
    pub fn len(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }
}

impl Default for PortSet {
    fn default() -> Self {
        PortSet::new()
    }
}

/// A fast non-cryptographic hasher for keys that come from rules and inventories
/// (trusted), never from packets alone; SipHash cost dominated evaluation.
#[derive(Clone, Copy, Default)]
pub struct FastHasher(u64);

impl std::hash::Hasher for FastHasher {
    fn finish(&self) -> u64 {
        // Final avalanche so the low bits hashbrown uses depend on every input bit.
        let mut x = self.0;
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 33;
        x
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            for (d, s) in b.iter_mut().zip(chunk) {
                *d = *s;
            }
            self.write_u64(u64::from_le_bytes(b));
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
    fn write_u32(&mut self, v: u32) {
        self.write_u64(u64::from(v));
    }
    fn write_u128(&mut self, v: u128) {
        self.write_u64(v as u64);
        self.write_u64((v >> 64) as u64);
    }
    fn write_u8(&mut self, v: u8) {
        self.write_u64(u64::from(v));
    }
    fn write_u16(&mut self, v: u16) {
        self.write_u64(u64::from(v));
    }
    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64);
    }
}

pub type FastBuild = std::hash::BuildHasherDefault<FastHasher>;
pub type FastSet<T> = HashSet<T, FastBuild>;

/// CIDRs: a linear scan of (network, mask) for a few entries; beyond that, one hash
/// set of masked networks per prefix length (a prefix table).
#[derive(Clone, Debug, Default)]
pub struct CidrSet {
    small4: Vec<(u32, u32)>,
    small6: Vec<(u128, u128)>,
    v4: Vec<(u32, FastSet<u32>)>,
    v6: Vec<(u128, FastSet<u128>)>,
}

const CIDR_LINEAR_MAX: usize = 8;

impl CidrSet {
    pub fn insert(&mut self, net: IpAddr, len: u8) {
        match net {
            IpAddr::V4(a) => {
                let mask = if len == 0 {
                    0
                } else {
                    u32::MAX << (32 - u32::from(len.min(32)))
                };
                let v = u32::from(a) & mask;
                self.small4.push((v, mask));
                match self.v4.iter_mut().find(|g| g.0 == mask) {
                    Some(g) => {
                        g.1.insert(v);
                    }
                    None => {
                        let mut h = FastSet::default();
                        h.insert(v);
                        self.v4.push((mask, h));
                    }
                }
            }
            IpAddr::V6(a) => {
                let mask = if len == 0 {
                    0
                } else {
                    u128::MAX << (128 - u32::from(len.min(128)))
                };
                let v = u128::from(a) & mask;
                self.small6.push((v, mask));
                match self.v6.iter_mut().find(|g| g.0 == mask) {
                    Some(g) => {
                        g.1.insert(v);
                    }
                    None => {
                        let mut h = FastSet::default();
                        h.insert(v);
                        self.v6.push((mask, h));
                    }
                }
            }
        }
    }
    /// Adds every network of `o`.
    pub fn extend(&mut self, o: &CidrSet) {
        for (v, m) in &o.small4 {
            self.insert(IpAddr::V4((*v).into()), m.count_ones() as u8);
        }
        for (v, m) in &o.small6 {
            self.insert(IpAddr::V6((*v).into()), m.count_ones() as u8);
        }
    }

    #[inline]
    pub fn contains(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(a) => {
                let a = u32::from(a);
                if self.small4.len() <= CIDR_LINEAR_MAX {
                    self.small4.iter().any(|(n, m)| a & m == *n)
                } else {
                    self.v4.iter().any(|(m, s)| s.contains(&(a & m)))
                }
            }
            IpAddr::V6(a) => {
                if let Some(v4) = a.to_ipv4_mapped() {
                    if self.contains(IpAddr::V4(v4)) {
                        return true;
                    }
                }
                let a = u128::from(a);
                if self.small6.len() <= CIDR_LINEAR_MAX {
                    self.small6.iter().any(|(n, m)| a & m == *n)
                } else {
                    self.v6.iter().any(|(m, s)| s.contains(&(a & m)))
                }
            }
        }
    }
}

/// Parses `10.0.0.0/8`, `fd00::/8` or a bare address (a host prefix).
pub fn parse_cidr(s: &str) -> Option<(IpAddr, u8)> {
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let ip: IpAddr = addr.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len = match len {
        Some(l) => l.parse::<u8>().ok().filter(|l| *l <= max)?,
        None => max,
    };
    Some((ip, len))
}

/// A string set: linear for a handful (faster than hashing), hashed beyond.
#[derive(Clone, Debug)]
pub enum StrSet {
    Small(Box<[Box<str>]>),
    Hashed(FastSet<Box<str>>),
}

impl StrSet {
    fn new(v: Vec<String>) -> StrSet {
        if v.len() <= 8 {
            StrSet::Small(v.into_iter().map(String::into_boxed_str).collect())
        } else {
            StrSet::Hashed(v.into_iter().map(String::into_boxed_str).collect())
        }
    }
    #[inline]
    pub fn contains(&self, s: &str) -> bool {
        match self {
            StrSet::Small(v) => v.iter().any(|x| &**x == s),
            StrSet::Hashed(h) => h.contains(s),
        }
    }

    pub fn values(&self) -> Vec<Box<str>> {
        match self {
            StrSet::Small(v) => v.to_vec(),
            StrSet::Hashed(h) => h.iter().cloned().collect(),
        }
    }
}

#[derive(Clone, Debug)]
pub enum StrM {
    Cmp(NumOp, Box<str>),
    In(StrSet),
    Contains(Box<str>),
    IContains(Box<str>),
    StartsWith(Box<str>),
    EndsWith(Box<str>),
    Glob(Box<str>),
    Regex(Regex),
    Pmatch(Box<[Box<str>]>),
}

/// Direction bits for `flow.direction`.
pub const DIRECTIONS: [&str; 5] = ["outbound", "inbound", "internal", "host", "external"];

/// A compiled condition node.  Fields are absolute (client/server) here.
#[derive(Clone, Debug)]
pub enum N {
    Const(bool),
    And(Box<[N]>),
    Or(Box<[N]>),
    Not(Box<N>),
    Port(Role, NumOp, u16),
    PortIn(Role, PortSet),
    U64(Field, NumOp, u64),
    U64In(Field, Box<[u64]>),
    F64(Field, NumOp, f64),
    /// Membership; `negate` for `!=`.
    Ip(Role, CidrSet, bool),
    /// Bit i set: direction i matches.
    Dir(u8),
    Str(Field, StrM),
    /// `!=` on a string: present and different (Falco: a missing field never matches).
    StrNe(Field, Box<str>),
    Exists(Field),
}

impl N {
    /// Whether this condition reads field `f` anywhere.
    /// Whether any field this tree reads satisfies `f`.
    pub(crate) fn mentions(&self, f: &dyn Fn(&Field) -> bool) -> bool {
        match self {
            N::Const(_) | N::Port(..) | N::PortIn(..) | N::Ip(..) | N::Dir(_) => false,
            N::And(v) | N::Or(v) => v.iter().any(|n| n.mentions(f)),
            N::Not(n) => n.mentions(f),
            N::U64(g, ..)
            | N::U64In(g, _)
            | N::F64(g, ..)
            | N::Str(g, _)
            | N::StrNe(g, _)
            | N::Exists(g) => f(g),
        }
    }

    fn and(v: Vec<N>) -> N {
        let mut out = Vec::with_capacity(v.len());
        for n in v {
            match n {
                N::Const(true) => {}
                N::Const(false) => return N::Const(false),
                N::And(inner) => out.extend(inner.into_vec()),
                n => out.push(n),
            }
        }
        out.sort_by_key(N::cost);
        match out.len() {
            0 => N::Const(true),
            1 => out.pop().unwrap_or(N::Const(true)),
            _ => N::And(out.into_boxed_slice()),
        }
    }
    fn or(v: Vec<N>) -> N {
        let mut out = Vec::with_capacity(v.len());
        for n in v {
            match n {
                N::Const(false) => {}
                N::Const(true) => return N::Const(true),
                N::Or(inner) => out.extend(inner.into_vec()),
                n => out.push(n),
            }
        }
        out.sort_by_key(N::cost);
        match out.len() {
            0 => N::Const(false),
            1 => out.pop().unwrap_or(N::Const(false)),
            _ => N::Or(out.into_boxed_slice()),
        }
    }
    /// Rough evaluation cost: conditions have no side effects, so `and`/`or`
    /// children run cheapest first (a stable sort keeps the author's order on ties).
    fn cost(&self) -> u32 {
        match self {
            N::Const(_) | N::Dir(_) | N::Port(..) | N::PortIn(..) => 1,
            N::U64(..) | N::U64In(..) | N::F64(..) => 2,
            N::Ip(..) => 3,
            N::Exists(_) | N::StrNe(..) => 5,
            N::Str(_, StrM::Cmp(..) | StrM::In(_) | StrM::StartsWith(_) | StrM::EndsWith(_)) => 6,
            N::Str(..) => 20,
            N::Not(n) => n.cost(),
            N::And(v) | N::Or(v) => v.iter().map(N::cost).sum(),
        }
    }

    fn not(n: N) -> N {
        match n {
            N::Const(b) => N::Const(!b),
            N::Not(inner) => *inner,
            n => N::Not(Box::new(n)),
        }
    }

    /// Server ports this node requires (None: any port may match).  Drives the
    /// per-port rule index so most rules are never looked at for a given flow.
    pub fn required_server_ports(&self) -> Option<PortSet> {
        match self {
            N::Port(Role::Server, NumOp::Eq, p) => {
                let mut s = PortSet::new();
                s.insert(*p);
                Some(s)
            }
            N::PortIn(Role::Server, s) => Some(s.clone()),
            N::Const(false) => Some(PortSet::new()),
            N::And(v) => {
                let mut acc: Option<PortSet> = None;
                for c in v.iter().filter_map(N::required_server_ports) {
                    acc = Some(match acc {
                        None => c,
                        Some(mut a) => {
                            for (x, y) in a.0.iter_mut().zip(c.0.iter()) {
                                *x &= y;
                            }
                            a
                        }
                    });
                }
                acc
            }
            N::Or(v) => {
                let mut acc = PortSet::new();
                for c in v.iter() {
                    let s = c.required_server_ports()?;
                    for (x, y) in acc.0.iter_mut().zip(s.0.iter()) {
                        *x |= y;
                    }
                }
                Some(acc)
            }
            _ => None,
        }
    }

    /// A container string field this node requires to hold one of a few exact values
    /// (`container.label[tier] = web`, `container.image.repository in (...)`), or None.
    /// Drives the per-value rule index.
    pub fn required_container_values(&self) -> Option<(Field, Vec<Box<str>>)> {
        match self {
            N::Str(f @ Field::Container(..), StrM::Cmp(NumOp::Eq, v)) => {
                Some((f.clone(), vec![v.clone()]))
            }
            N::Str(f @ Field::Container(..), StrM::In(set)) => Some((f.clone(), set.values())),
            N::And(v) => v.iter().find_map(N::required_container_values),
            N::Or(v) => {
                let mut acc: Option<(Field, Vec<Box<str>>)> = None;
                for c in v.iter() {
                    let (f, vals) = c.required_container_values()?;
                    match &mut acc {
                        None => acc = Some((f, vals)),
                        Some((g, all)) if *g == f => all.extend(vals),
                        Some(_) => return None,
                    }
                }
                acc
            }
            _ => None,
        }
    }

    /// An address this node requires to lie in a set of networks (`fd.rip in
    /// (203.0.113.0/24)`), or None.  Drives the per-role CIDR gate of the rule index.
    pub fn required_networks(&self) -> Option<(Role, &CidrSet)> {
        match self {
            N::Ip(r, set, false) => Some((*r, set)),
            N::And(v) => v.iter().find_map(N::required_networks),
            _ => None,
        }
    }
}

/// Compiles every condition of a loaded rule set and reports problems in `loaded`.
pub struct Compiler<'a> {
    pub loaded: &'a mut Loaded,
    lists: HashMap<String, usize>,
    macros: HashMap<String, usize>,
    parsed: HashMap<String, Option<Expr>>,
    pub used_lists: HashSet<String>,
    pub used_macros: HashSet<String>,
    /// Only the first view reports errors: the others see the same text.
    report: bool,
}

struct Cx<'t> {
    text: &'t Text,
    view: View,
}

impl<'a> Compiler<'a> {
    pub fn new(loaded: &'a mut Loaded) -> Compiler<'a> {
        let lists = loaded
            .lists
            .iter()
            .enumerate()
            .map(|(i, l)| (l.name.clone(), i))
            .collect();
        let macros = loaded
            .macros
            .iter()
            .enumerate()
            .map(|(i, m)| (m.name.clone(), i))
            .collect();
        Compiler {
            loaded,
            lists,
            macros,
            parsed: HashMap::new(),
            used_lists: HashSet::new(),
            used_macros: HashSet::new(),
            report: true,
        }
    }

    fn err(&mut self, text: &Text, span: Span, msg: String) {
        if self.report {
            let loc = text.loc(span.start);
            self.loaded.diag(loc, msg, false);
        }
    }

    /// Compiles `text` for every view; `None` if it has errors.
    pub fn compile_all(&mut self, text: &Text) -> Option<[N; 4]> {
        let expr = match parser::parse(&text.s) {
            Ok(e) => e,
            Err(e) => {
                self.err(text, e.span, e.message);
                return None;
            }
        };
        let before = self.loaded.diags.iter().filter(|d| !d.warning).count();
        let mut out: Vec<N> = Vec::with_capacity(4);
        for (i, view) in View::ALL.into_iter().enumerate() {
            self.report = i == 0;
            let mut stack = Vec::new();
            out.push(self.expr(&expr, &Cx { text, view }, &mut stack));
        }
        self.report = true;
        let after = self.loaded.diags.iter().filter(|d| !d.warning).count();
        if after > before {
            return None;
        }
        out.try_into().ok()
    }

    /// Checks a macro on its own (for macros no rule uses).
    pub fn check_macro(&mut self, idx: usize) {
        let Some(m) = self.loaded.macros.get(idx) else {
            return;
        };
        let text = m.cond.clone();
        let name = m.name.clone();
        if let Some(e) = self.parse_macro(&name, &text) {
            let used = self.used_macros.clone();
            let used_l = self.used_lists.clone();
            let mut stack = vec![name];
            self.expr(
                &e,
                &Cx {
                    text: &text,
                    view: View::Connect,
                },
                &mut stack,
            );
            // Checking an unused macro must not mark what it references as used.
            self.used_macros = used;
            self.used_lists = used_l;
        }
    }

    fn parse_macro(&mut self, name: &str, text: &Text) -> Option<Expr> {
        if let Some(p) = self.parsed.get(name) {
            return p.clone();
        }
        let r = match parser::parse(&text.s) {
            Ok(e) => Some(e),
            Err(e) => {
                let loc = text.loc(e.span.start);
                self.loaded
                    .diag(loc, format!("in macro '{name}': {}", e.message), false);
                None
            }
        };
        self.parsed.insert(name.to_string(), r.clone());
        r
    }

    fn expr(&mut self, e: &Expr, cx: &Cx, stack: &mut Vec<String>) -> N {
        match e {
            Expr::And(v) => N::and(v.iter().map(|x| self.expr(x, cx, stack)).collect()),
            Expr::Or(v) => N::or(v.iter().map(|x| self.expr(x, cx, stack)).collect()),
            Expr::Not(x) => N::not(self.expr(x, cx, stack)),
            Expr::Name(name, span) => self.name(name, *span, cx, stack),
            Expr::Cmp {
                field,
                field_span,
                op,
                op_span,
                value,
            } => self.cmp(field, *field_span, *op, *op_span, value, cx),
        }
    }

    fn name(&mut self, name: &str, span: Span, cx: &Cx, stack: &mut Vec<String>) -> N {
        let Some(&idx) = self.macros.get(name) else {
            let msg = if fields::parse_field(name).is_some() {
                format!("field '{name}' needs an operator (e.g. '{name} exists')")
            } else if self.lists.contains_key(name) {
                format!("'{name}' is a list, not a macro: use it as 'FIELD in ({name})'")
            } else {
                let mut near: Vec<(usize, &String)> = self
                    .macros
                    .keys()
                    .map(|m| (fields::edit_distance(name, m), m))
                    .filter(|(d, _)| *d <= 3)
                    .collect();
                near.sort();
                match near.first() {
                    Some((_, m)) => format!("unknown macro '{name}' (did you mean '{m}'?)"),
                    None => format!("unknown macro '{name}'"),
                }
            };
            self.err(cx.text, span, msg);
            return N::Const(false);
        };
        if stack.iter().any(|s| s == name) {
            self.err(
                cx.text,
                span,
                format!(
                    "macro '{name}' refers to itself ({} -> {name})",
                    stack.join(" -> ")
                ),
            );
            return N::Const(false);
        }
        if self.report {
            self.used_macros.insert(name.to_string());
        }
        let Some(text) = self.loaded.macros.get(idx).map(|m| m.cond.clone()) else {
            return N::Const(false);
        };
        let Some(expr) = self.parse_macro(name, &text) else {
            return N::Const(false);
        };
        stack.push(name.to_string());
        let n = self.expr(
            &expr,
            &Cx {
                text: &text,
                view: cx.view,
            },
            stack,
        );
        stack.pop();
        n
    }

    /// Splices list names (recursively) into literal values.
    fn expand(&mut self, lits: &[Lit], out: &mut Vec<(String, Span)>, span: Span, depth: usize) {
        for l in lits {
            match self
                .lists
                .get(&l.text)
                .copied()
                .filter(|_| l.bare && depth < 16)
            {
                Some(i) => {
                    if self.report {
                        self.used_lists.insert(l.text.clone());
                    }
                    let items: Vec<Lit> = self
                        .loaded
                        .lists
                        .get(i)
                        .map(|d| {
                            d.items
                                .iter()
                                .map(|(t, _)| Lit {
                                    text: t.clone(),
                                    span: l.span,
                                    bare: true,
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    self.expand(&items, out, span, depth + 1);
                }
                None => out.push((l.text.clone(), if depth == 0 { l.span } else { span })),
            }
        }
    }

    fn cmp(&mut self, fname: &str, fspan: Span, op: Op, ospan: Span, value: &Value, cx: &Cx) -> N {
        let Some(field) = fields::parse_field(fname) else {
            let near = fields::suggest(fname);
            let msg = if near.is_empty() {
                format!("unknown field '{fname}' (see `bridgewatch fields`)")
            } else {
                format!(
                    "unknown field '{fname}'; did you mean {}?",
                    near.iter()
                        .map(|n| format!("'{n}'"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            self.err(cx.text, fspan, msg);
            return N::Const(false);
        };
        let field = field.resolve(cx.view.local_is_client());
        let ty = field.ty();
        let mut vals: Vec<(String, Span)> = Vec::new();
        match value {
            Value::None => {}
            Value::One(l) => self.expand(std::slice::from_ref(l), &mut vals, l.span, 0),
            Value::List(ls, span) => self.expand(ls, &mut vals, *span, 0),
        }
        if op == Op::Exists {
            return match field {
                Field::Container(..) | Field::IpName(_) => N::Exists(field),
                _ => N::Const(true),
            };
        }
        if matches!(value, Value::One(_)) && vals.len() != 1 {
            self.err(
                cx.text,
                ospan,
                format!("'{}' takes one value, but a list name was given", op.name()),
            );
            return N::Const(false);
        }
        let num_op = match op {
            Op::Eq => Some(NumOp::Eq),
            Op::Ne => Some(NumOp::Ne),
            Op::Lt => Some(NumOp::Lt),
            Op::Le => Some(NumOp::Le),
            Op::Gt => Some(NumOp::Gt),
            Op::Ge => Some(NumOp::Ge),
            _ => None,
        };
        let is_set = matches!(op, Op::In | Op::Intersects);
        let bad_op = |this: &mut Self| {
            this.err(
                cx.text,
                ospan,
                format!(
                    "operator '{}' does not apply to {} field '{fname}'",
                    op.name(),
                    ty.name()
                ),
            );
            N::Const(false)
        };
        match ty {
            FieldType::Port | FieldType::U64 => {
                let mut nums = Vec::with_capacity(vals.len());
                for (v, span) in &vals {
                    let parsed = if ty == FieldType::Port {
                        v.parse::<u16>().ok().map(u64::from)
                    } else {
                        v.parse::<u64>().ok()
                    };
                    match parsed {
                        Some(n) => nums.push(n),
                        None => {
                            let what = if ty == FieldType::Port {
                                "a port number (0-65535)"
                            } else {
                                "a whole number"
                            };
                            self.err(
                                cx.text,
                                *span,
                                format!(
                                    "type mismatch: '{fname}' is a {}, and \"{v}\" is not {what}",
                                    ty.name()
                                ),
                            );
                            return N::Const(false);
                        }
                    }
                }
                if let Field::Port(role) = field {
                    if is_set {
                        let mut s = PortSet::new();
                        for n in nums {
                            s.insert(n as u16);
                        }
                        return N::PortIn(role, s);
                    }
                    return match (num_op, nums.first()) {
                        (Some(o), Some(n)) => N::Port(role, o, *n as u16),
                        _ => bad_op(self),
                    };
                }
                if is_set {
                    return N::U64In(field, nums.into_boxed_slice());
                }
                match (num_op, nums.first()) {
                    (Some(o), Some(n)) => N::U64(field, o, *n),
                    _ => bad_op(self),
                }
            }
            FieldType::F64 => {
                let Some((v, span)) = vals.first() else {
                    return bad_op(self);
                };
                let Some(n) = v.parse::<f64>().ok().filter(|n| n.is_finite()) else {
                    self.err(
                        cx.text,
                        *span,
                        format!("type mismatch: '{fname}' is a number, and \"{v}\" is not"),
                    );
                    return N::Const(false);
                };
                match num_op {
                    Some(o) if !is_set => N::F64(field, o, n),
                    _ => bad_op(self),
                }
            }
            FieldType::Ip | FieldType::Net => {
                let Field::Ip(role) = field else {
                    return bad_op(self);
                };
                let mut set = CidrSet::default();
                for (v, span) in &vals {
                    match parse_cidr(v) {
                        Some((ip, len)) => set.insert(ip, len),
                        None => {
                            self.err(cx.text, *span, format!("type mismatch: '{fname}' is an IP address, and \"{v}\" is not an IP address or CIDR"));
                            return N::Const(false);
                        }
                    }
                }
                match op {
                    Op::Eq | Op::In | Op::Intersects => N::Ip(role, set, false),
                    Op::Ne => N::Ip(role, set, true),
                    _ => bad_op(self),
                }
            }
            FieldType::Str => self.str_cmp(field, fname, op, ospan, vals, cx),
        }
    }

    fn str_cmp(
        &mut self,
        field: Field,
        fname: &str,
        op: Op,
        ospan: Span,
        vals: Vec<(String, Span)>,
        cx: &Cx,
    ) -> N {
        if field == Field::EvtType || field == Field::Direction {
            let allowed: &[&str] = if field == Field::EvtType {
                &["connect", "accept", "end"]
            } else {
                &DIRECTIONS
            };
            for (v, span) in &vals {
                if !allowed.contains(&v.as_str()) {
                    self.err(
                        cx.text,
                        *span,
                        format!("'{fname}' is one of {}, not \"{v}\"", allowed.join(", ")),
                    );
                    return N::Const(false);
                }
            }
            if matches!(op, Op::Eq | Op::Ne | Op::In | Op::Intersects) {
                if field == Field::EvtType {
                    let hit = vals.iter().any(|(v, _)| v == cx.view.evt_type());
                    return N::Const(if op == Op::Ne { !hit } else { hit });
                }
                let mut mask = 0u8;
                for (v, _) in &vals {
                    if let Some(i) = DIRECTIONS.iter().position(|d| d == v) {
                        mask |= 1 << i;
                    }
                }
                return N::Dir(if op == Op::Ne { !mask & 0x1f } else { mask });
            }
        }
        let first = vals.first().map(|v| v.0.clone()).unwrap_or_default();
        let m = match op {
            Op::Eq => StrM::Cmp(NumOp::Eq, first.into()),
            Op::Ne => return N::StrNe(field, first.into()),
            Op::Lt => StrM::Cmp(NumOp::Lt, first.into()),
            Op::Le => StrM::Cmp(NumOp::Le, first.into()),
            Op::Gt => StrM::Cmp(NumOp::Gt, first.into()),
            Op::Ge => StrM::Cmp(NumOp::Ge, first.into()),
            Op::In | Op::Intersects => {
                StrM::In(StrSet::new(vals.into_iter().map(|v| v.0).collect()))
            }
            Op::Pmatch => StrM::Pmatch(
                vals.into_iter()
                    .map(|v| v.0.trim_end_matches('/').into())
                    .collect(),
            ),
            Op::Contains => StrM::Contains(first.into()),
            Op::IContains => StrM::IContains(first.to_ascii_lowercase().into()),
            Op::StartsWith => StrM::StartsWith(first.into()),
            Op::EndsWith => StrM::EndsWith(first.into()),
            Op::Glob => StrM::Glob(first.into()),
            Op::Regex => match Regex::new(&first) {
                Ok(r) => StrM::Regex(r),
                Err(e) => {
                    let span = vals.first().map(|v| v.1).unwrap_or(ospan);
                    self.err(cx.text, span, format!("bad regex: {e}"));
                    return N::Const(false);
                }
            },
            Op::Exists => return N::Exists(field),
        };
        N::Str(field, m)
    }
}

/// Shell-style glob: `*`, `?` and `[abc]`/`[a-z]`/`[!x]` classes.
pub fn glob_match(pat: &str, s: &str) -> bool {
    let p: Vec<char> = pat.chars().collect();
    let t: Vec<char> = s.chars().collect();
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        let tc = t.get(ti).copied().unwrap_or('\0');
        let step = match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
                continue;
            }
            Some('?') => Some(1),
            Some('[') => class(&p, pi, tc),
            Some(c) if *c == tc => Some(1),
            _ => None,
        };
        match step {
            Some(n) => {
                pi += n;
                ti += 1;
            }
            None => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p.get(pi..).unwrap_or(&[]).iter().all(|c| *c == '*')
}

/// Matches a `[...]` class at `p[i]`; the pattern length consumed on a match.
fn class(p: &[char], i: usize, c: char) -> Option<usize> {
    let mut j = i + 1;
    let negate = matches!(p.get(j), Some('!' | '^'));
    if negate {
        j += 1;
    }
    let mut hit = false;
    let mut first = true;
    loop {
        let ch = *p.get(j)?;
        if ch == ']' && !first {
            break;
        }
        first = false;
        if p.get(j + 1) == Some(&'-') && p.get(j + 2).is_some_and(|e| *e != ']') {
            let hi = *p.get(j + 2)?;
            hit |= (ch..=hi).contains(&c);
            j += 3;
        } else {
            hit |= ch == c;
            j += 1;
        }
    }
    (hit != negate).then_some(j + 1 - i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_sets_match_prefixes() {
        let mut s = CidrSet::default();
        for c in ["10.0.0.0/8", "192.168.1.5", "fd00::/8"] {
            let (ip, l) = parse_cidr(c).unwrap();
            s.insert(ip, l);
        }
        assert!(s.contains("10.200.1.1".parse().unwrap()));
        assert!(s.contains("192.168.1.5".parse().unwrap()));
        assert!(!s.contains("192.168.1.6".parse().unwrap()));
        assert!(s.contains("fd12::1".parse().unwrap()));
        assert!(s.contains("::ffff:10.1.2.3".parse().unwrap()));
        assert!(!s.contains("11.0.0.1".parse().unwrap()));
        assert!(parse_cidr("10.0.0.0/33").is_none());
        assert!(parse_cidr("10.0.0/8").is_none());
        let (ip, l) = parse_cidr("0.0.0.0/0").unwrap();
        let mut all = CidrSet::default();
        all.insert(ip, l);
        assert!(all.contains("1.2.3.4".parse().unwrap()));
    }

    #[test]
    fn port_sets() {
        let mut p = PortSet::new();
        p.insert(0);
        p.insert(65535);
        p.insert(9300);
        assert!(p.contains(9300) && p.contains(0) && p.contains(65535) && !p.contains(9301));
        assert_eq!(p.ports().count(), 3);
    }

    #[test]
    fn globs() {
        assert!(glob_match("*elastic*", "docker.elastic.co/elasticsearch"));
        assert!(glob_match("redis:?", "redis:7"));
        assert!(glob_match("a[0-9]b", "a5b"));
        assert!(!glob_match("a[!0-9]b", "a5b"));
        assert!(!glob_match("abc", "abcd"));
        assert!(glob_match("*", ""));
        assert!(!glob_match("[", "x"));
    }
}
