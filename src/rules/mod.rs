//! Falco-style connection rules over flow records.
//!
//! Rule files ([`loader`]) are Falco's YAML; conditions ([`parser`]) use Falco's
//! grammar over the fields in [`fields`]; [`compile`] turns them into typed match
//! trees per view, and [`eval`] runs them at flow start and end against the container
//! [`inventory`], producing [`alert::Alert`]s.  A rule set either loads completely or
//! not at all: any error refuses the whole set, so replay never runs half a policy.
//!
//! The `.name` fields (passive DNS) resolve through [`NameLookup`], which
//! [`crate::passive_dns::PassiveDns`] implements from the DNS answers in the traffic.

pub mod alert;
pub mod check;
pub mod compile;
pub mod eval;
pub mod fields;
pub mod inventory;
pub mod loader;
pub mod parser;
pub mod yaml;

pub use alert::{Alert, AlertContainer, FieldValue, Priority};
pub use check::check_paths;
pub use eval::{
    flow_direction, flow_direction_of, Engine, EngineOptions, EngineSlot, Evaluator, NameLookup,
    NoNames,
};
pub use fields::fields_help;
pub use inventory::{
    AttributedBy, Container, Ends, Inventory, InventoryError, NetnsMember, SharedInventory,
};
pub use loader::Diag;

use compile::{Compiler, N};
use fields::Field;
use loader::Loaded;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The policies shipped in `signatures/`, in load order.
pub const DEFAULT_RULE_FILES: &[(&str, &str)] = &[
    (
        "signatures/macros.yaml",
        include_str!("../../signatures/macros.yaml"),
    ),
    (
        "signatures/container_network.yaml",
        include_str!("../../signatures/container_network.yaml"),
    ),
];

/// One piece of a rule's output: text, or a `%field` to substitute.
#[derive(Clone, Debug)]
pub enum OutPart {
    Lit(String),
    Field(Arc<str>, Field),
    FanoutCount(Arc<str>),
}

/// A fan-out aggregate (see docs/rules.md).
#[derive(Clone, Debug)]
pub struct Fanout {
    pub key: Field,
    pub distinct: Field,
    pub threshold: u32,
    pub window_ns: i64,
}

/// A rule ready to run.
#[derive(Clone, Debug)]
pub struct CompiledRule {
    pub name: Arc<str>,
    pub desc: String,
    pub priority: Priority,
    pub tags: Arc<[String]>,
    pub enabled: bool,
    pub output: Vec<OutPart>,
    pub fanout: Option<Fanout>,
    pub(crate) trees: [N; 4],
    pub(crate) output_len_hint: usize,
}

/// A fully compiled rule set.
#[derive(Clone, Debug, Default)]
pub struct RuleSet {
    pub rules: Vec<CompiledRule>,
    pub warnings: Vec<Diag>,
}

/// Why a rule set did not load: every error (and the warnings seen on the way).
#[derive(Clone, Debug, Default)]
pub struct LoadErrors {
    pub errors: Vec<Diag>,
    pub warnings: Vec<Diag>,
}

impl fmt::Display for LoadErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.errors {
            write!(f, "{d}")?;
        }
        if !self.warnings.is_empty() {
            writeln!(f, "{} warning(s):", self.warnings.len())?;
            for d in &self.warnings {
                write!(f, "{d}")?;
            }
        }
        write!(f, "{} error(s); no rules loaded", self.errors.len())
    }
}

impl std::error::Error for LoadErrors {}

fn parse_output(s: &str) -> Result<Vec<OutPart>, String> {
    let mut parts = Vec::new();
    let mut lit = String::new();
    let mut rest = s.trim_end();
    while let Some(i) = rest.find('%') {
        lit.push_str(rest.get(..i).unwrap_or(""));
        let after = rest.get(i + 1..).unwrap_or("");
        let mut end = 0;
        let mut bracket = false;
        for (j, c) in after.char_indices() {
            if bracket {
                if c == ']' {
                    bracket = false;
                }
            } else if c == '[' {
                bracket = true;
            } else if !(c.is_ascii_alphanumeric() || c == '_' || c == '.') {
                break;
            }
            end = j + c.len_utf8();
        }
        let name = after.get(..end).unwrap_or("").trim_end_matches('.');
        let used = name.len();
        if name.is_empty() {
            lit.push('%');
        } else {
            if !lit.is_empty() {
                parts.push(OutPart::Lit(std::mem::take(&mut lit)));
            }
            if name == "fanout.count" {
                parts.push(OutPart::FanoutCount(name.into()));
            } else {
                match fields::parse_field(name) {
                    Some(f) => parts.push(OutPart::Field(name.into(), f)),
                    None => {
                        let near = fields::suggest(name);
                        return Err(match near.first() {
                            Some(n) => {
                                format!("unknown field '%{name}' in output (did you mean '%{n}'?)")
                            }
                            None => format!("unknown field '%{name}' in output"),
                        });
                    }
                }
            }
        }
        rest = after.get(used..).unwrap_or("");
    }
    lit.push_str(rest);
    if !lit.is_empty() {
        parts.push(OutPart::Lit(lit));
    }
    Ok(parts)
}

/// Compiles everything loaded; diagnostics land in `loaded.diags`.
fn compile_loaded(loaded: &mut Loaded) -> RuleSet {
    let mut out = Vec::new();
    let rules = loaded.rules.clone();
    let macro_count = loaded.macros.len();
    let mut c = Compiler::new(loaded);
    for r in &rules {
        let trees = c.compile_all(&r.full_condition());
        let output = match parse_output(&r.output) {
            Ok(o) => o,
            Err(m) => {
                c.loaded.diag(r.output_loc, m, false);
                continue;
            }
        };
        let fanout = match &r.fanout {
            None => None,
            Some(f) => match (
                fields::parse_field(&f.key),
                fields::parse_field(&f.distinct),
            ) {
                (Some(key), Some(distinct)) => Some(Fanout {
                    key,
                    distinct,
                    threshold: f.threshold,
                    window_ns: f.window_ns,
                }),
                _ => {
                    c.loaded.diag(
                        f.loc,
                        format!(
                            "fanout key/distinct must be fields, got '{}' / '{}'",
                            f.key, f.distinct
                        ),
                        false,
                    );
                    continue;
                }
            },
        };
        let Some(trees) = trees else { continue };
        out.push(CompiledRule {
            name: r.name.as_str().into(),
            desc: r.desc.clone(),
            priority: r.priority,
            tags: r.tags.clone().into(),
            enabled: r.enabled,
            output_len_hint: r.output.len() + 64,
            output,
            fanout,
            trees,
        });
    }
    for i in 0..macro_count {
        let name = c
            .loaded
            .macros
            .get(i)
            .map(|m| m.name.clone())
            .unwrap_or_default();
        if !c.used_macros.contains(&name) {
            c.check_macro(i);
        }
    }
    let (used_m, used_l) = (c.used_macros.clone(), c.used_lists.clone());
    let unused: Vec<_> = loaded
        .macros
        .iter()
        .filter(|m| !used_m.contains(&m.name))
        .map(|m| (m.loc, format!("macro '{}' is never used", m.name)))
        .chain(
            loaded
                .lists
                .iter()
                .filter(|l| !used_l.contains(&l.name))
                .map(|l| (l.loc, format!("list '{}' is never used", l.name))),
        )
        .collect();
    for (loc, m) in unused {
        loaded.diag(loc, m, true);
    }
    RuleSet {
        rules: out,
        warnings: Vec::new(),
    }
}

fn finish(mut loaded: Loaded) -> Result<RuleSet, LoadErrors> {
    let mut set = compile_loaded(&mut loaded);
    let (warnings, errors): (Vec<Diag>, Vec<Diag>) =
        loaded.diags.into_iter().partition(|d| d.warning);
    if !errors.is_empty() {
        return Err(LoadErrors { errors, warnings });
    }
    set.warnings = warnings;
    Ok(set)
}

/// Expands directories into their `*.yaml`/`*.yml` files, sorted by name.
pub fn expand_paths(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                .map(|rd| {
                    rd.filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|f| f.extension().is_some_and(|e| e == "yaml" || e == "yml"))
                        .collect()
                })
                .unwrap_or_default();
            files.sort();
            out.extend(files);
        } else {
            out.push(p.clone());
        }
    }
    out
}

fn add_file(loaded: &mut Loaded, path: &Path) {
    let name = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => loaded.add_source(&name, &text),
        Err(e) => loaded.diags.push(Diag {
            file: name,
            line: 0,
            col: 0,
            message: format!("cannot read: {e}"),
            line_text: String::new(),
            warning: false,
        }),
    }
}

impl RuleSet {
    /// Loads rule files (directories: their `*.yaml` in name order) in order.
    pub fn load(paths: &[PathBuf]) -> Result<RuleSet, LoadErrors> {
        let mut loaded = Loaded::default();
        for p in expand_paths(paths) {
            add_file(&mut loaded, &p);
        }
        finish(loaded)
    }

    /// The shipped policies followed by user files (which may override them).
    pub fn load_with_defaults(paths: &[PathBuf]) -> Result<RuleSet, LoadErrors> {
        let mut loaded = Loaded::default();
        for (name, text) in DEFAULT_RULE_FILES {
            loaded.add_source(name, text);
        }
        for p in expand_paths(paths) {
            add_file(&mut loaded, &p);
        }
        finish(loaded)
    }

    /// The shipped policies in `signatures/`.
    /// What the flags select: the shipped policies when `paths` is empty, else the
    /// files (after the shipped ones with `with_defaults`).
    pub fn load_selected(paths: &[PathBuf], with_defaults: bool) -> Result<RuleSet, LoadErrors> {
        if paths.is_empty() {
            RuleSet::load_default()
        } else if with_defaults {
            RuleSet::load_with_defaults(paths)
        } else {
            RuleSet::load(paths)
        }
    }

    pub fn load_default() -> Result<RuleSet, LoadErrors> {
        RuleSet::load_with_defaults(&[])
    }

    /// Loads `(name, text)` pairs in order (tests, embedded files).
    pub fn from_sources(sources: &[(&str, &str)]) -> Result<RuleSet, LoadErrors> {
        let mut loaded = Loaded::default();
        for (name, text) in sources {
            loaded.add_source(name, text);
        }
        finish(loaded)
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
    /// Whether any enabled rule reads `flow.community_id` (in its condition, output
    /// or fan-out): when none does, flow-start records may leave it empty and the
    /// pipeline fills it in only for the alerts it writes.
    pub fn uses_community_id(&self) -> bool {
        self.reads(|f| *f == Field::CommunityId)
    }

    /// Whether any enabled rule reads a passive-DNS field (`fd.sip.name`, ...): when
    /// none does, DNS responses need not be parsed.
    pub fn uses_dns_names(&self) -> bool {
        self.reads(|f| matches!(f, Field::IpName(_)))
    }

    /// Whether any enabled rule reads a field satisfying `f` in its condition, output
    /// or fan-out.
    fn reads(&self, f: impl Fn(&Field) -> bool) -> bool {
        self.rules.iter().filter(|r| r.enabled).any(|r| {
            r.trees.iter().any(|t| t.mentions(&f))
                || r.output
                    .iter()
                    .any(|o| matches!(o, OutPart::Field(_, g) if f(g)))
                || r.fanout
                    .as_ref()
                    .is_some_and(|fo| f(&fo.key) || f(&fo.distinct))
        })
    }

    pub fn rule(&self, name: &str) -> Option<&CompiledRule> {
        self.rules.iter().find(|r| &*r.name == name)
    }
}

#[cfg(test)]
mod tests;
