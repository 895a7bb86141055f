//! Rule files: Falco's YAML items (`rule`, `macro`, `list`, `required_engine_version`)
//! and their override semantics, producing definitions with source positions.
//!
//! Files load in order; a later file's item of the same name replaces the earlier one,
//! and `override:` (or the legacy `append: true`) appends to or replaces single keys,
//! as in Falco.  Every diagnostic carries `file:line:column`; unknown keys are
//! warnings, never silently ignored.  Nothing here compiles conditions: that is
//! [`super::compile`]'s job once every file is in.

use super::alert::Priority;
use super::yaml::{self, Kind, Node, Pos};
use std::collections::HashMap;
use std::fmt;

/// This engine's version for `required_engine_version`.
pub const ENGINE_VERSION: &str = "0.1.0";

/// A position in one of the loaded sources.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Loc {
    pub file: u32,
    pub line: u32,
    pub col: u32,
}

/// A loaded source file (name as given, full text for quoting offending lines).
#[derive(Clone, Debug)]
pub struct Source {
    pub name: String,
    pub text: String,
}

/// One error or warning, rendered as `file:line:column: message`, the line and a caret.
#[derive(Clone, Debug, PartialEq)]
pub struct Diag {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
    pub line_text: String,
    pub warning: bool,
}

impl fmt::Display for Diag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.warning { "warning" } else { "error" };
        writeln!(
            f,
            "{}:{}:{}: {kind}: {}",
            self.file, self.line, self.col, self.message
        )?;
        if !self.line_text.is_empty() {
            // Tabs keep their width so the caret lines up under the column.
            let pad: String = self
                .line_text
                .chars()
                .take(self.col.saturating_sub(1))
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            writeln!(f, "    {}", self.line_text)?;
            writeln!(f, "    {pad}^")?;
        }
        Ok(())
    }
}

/// Text with a source position per character (conditions can be stitched from
/// several items by appends and exceptions).
#[derive(Clone, Debug, Default)]
pub struct Text {
    pub s: String,
    pub map: Vec<Loc>,
}

impl Text {
    pub fn loc(&self, char_idx: usize) -> Loc {
        self.map
            .get(char_idx)
            .or(self.map.last())
            .copied()
            .unwrap_or_default()
    }
    fn push_text(&mut self, other: &Text) {
        if !self.s.is_empty() {
            self.push_synthetic(" ", other.loc(0));
        }
        self.s.push_str(&other.s);
        self.map.extend_from_slice(&other.map);
    }
    fn push_synthetic(&mut self, s: &str, at: Loc) {
        self.s.push_str(s);
        self.map.extend(std::iter::repeat_n(at, s.chars().count()));
    }
}

#[derive(Clone, Debug)]
pub struct ListDef {
    pub name: String,
    pub items: Vec<(String, Loc)>,
    pub loc: Loc,
}

#[derive(Clone, Debug)]
pub struct MacroDef {
    pub name: String,
    pub cond: Text,
    pub loc: Loc,
}

#[derive(Clone, Debug)]
pub enum ExValue {
    One(String),
    List(Vec<String>),
}

#[derive(Clone, Debug)]
pub struct ExceptionDef {
    pub name: String,
    /// Field names; `single` is true when `fields` was a scalar (values are then a plain list).
    pub fields: Vec<String>,
    pub single: bool,
    pub comps: Vec<String>,
    pub values: Vec<Vec<ExValue>>,
    pub loc: Loc,
}

/// `fanout: {key, distinct, threshold, window}`.
#[derive(Clone, Debug, PartialEq)]
pub struct FanoutDef {
    pub key: String,
    pub distinct: String,
    pub threshold: u32,
    pub window_ns: i64,
    pub loc: Loc,
}

#[derive(Clone, Debug)]
pub struct RuleDef {
    pub name: String,
    pub desc: String,
    pub cond: Text,
    pub output: String,
    pub output_loc: Loc,
    pub priority: Priority,
    pub tags: Vec<String>,
    pub enabled: bool,
    pub exceptions: Vec<ExceptionDef>,
    pub fanout: Option<FanoutDef>,
    pub loc: Loc,
}

impl RuleDef {
    /// The condition with exceptions folded in: `(cond) and not (exc1 or exc2 ...)`.
    pub fn full_condition(&self) -> Text {
        let parts: Vec<(String, Loc)> = self
            .exceptions
            .iter()
            .flat_map(|e| {
                e.values
                    .iter()
                    .map(move |v| (exception_clause(e, v), e.loc))
            })
            .collect();
        if parts.is_empty() {
            return self.cond.clone();
        }
        let mut t = Text::default();
        let at = self.cond.loc(0);
        t.push_synthetic("(", at);
        t.s.push_str(&self.cond.s);
        t.map.extend_from_slice(&self.cond.map);
        t.push_synthetic(") and not (", at);
        for (i, (clause, loc)) in parts.iter().enumerate() {
            if i > 0 {
                t.push_synthetic(" or ", *loc);
            }
            t.push_synthetic(clause, *loc);
        }
        t.push_synthetic(")", at);
        t
    }
}

fn quote(v: &str) -> String {
    let bare = !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/:*[]".contains(c));
    if bare {
        v.to_string()
    } else {
        format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

fn exception_clause(e: &ExceptionDef, values: &[ExValue]) -> String {
    let mut terms = Vec::new();
    for (i, field) in e.fields.iter().enumerate() {
        let default = if e.single { "in" } else { "=" };
        let comp = e.comps.get(i).map(String::as_str).unwrap_or(default);
        let rendered = match values.get(i) {
            Some(ExValue::One(v)) if matches!(comp, "in" | "intersects" | "pmatch") => {
                format!("({})", quote(v))
            }
            Some(ExValue::One(v)) => quote(v),
            Some(ExValue::List(vs)) => format!(
                "({})",
                vs.iter().map(|v| quote(v)).collect::<Vec<_>>().join(", ")
            ),
            None => "\"\"".into(),
        };
        terms.push(format!("{field} {comp} {rendered}"));
    }
    format!("({})", terms.join(" and "))
}

/// Everything loaded from a set of files, in definition order.
#[derive(Clone, Debug, Default)]
pub struct Loaded {
    pub sources: Vec<Source>,
    pub lists: Vec<ListDef>,
    pub macros: Vec<MacroDef>,
    pub rules: Vec<RuleDef>,
    pub diags: Vec<Diag>,
}

impl Loaded {
    pub fn diag(&mut self, loc: Loc, message: impl Into<String>, warning: bool) {
        let d = self.make_diag(loc, message.into(), warning);
        if !self.diags.contains(&d) {
            self.diags.push(d);
        }
    }

    pub fn make_diag(&self, loc: Loc, message: String, warning: bool) -> Diag {
        let src = self.sources.get(loc.file as usize);
        Diag {
            file: src.map(|s| s.name.clone()).unwrap_or_default(),
            line: loc.line as usize,
            col: loc.col as usize,
            message,
            line_text: src
                .and_then(|s| s.text.lines().nth((loc.line as usize).saturating_sub(1)))
                .unwrap_or("")
                .trim_end()
                .to_string(),
            warning,
        }
    }

    pub fn has_errors(&self) -> bool {
        self.diags.iter().any(|d| !d.warning)
    }

    /// Loads one file's text after those already loaded.
    pub fn add_source(&mut self, name: &str, text: &str) {
        let file = self.sources.len() as u32;
        self.sources.push(Source {
            name: name.into(),
            text: text.into(),
        });
        let loc = |p: Pos| Loc {
            file,
            line: p.line as u32,
            col: p.col as u32,
        };
        let docs = match yaml::parse(text) {
            Ok(d) => d,
            Err(e) => {
                self.diag(
                    loc(e.pos),
                    format!("YAML syntax error: {}", e.message),
                    false,
                );
                return;
            }
        };
        let mut seen_rules: HashMap<String, Loc> = HashMap::new();
        for doc in docs {
            if doc.is_null() {
                continue;
            }
            let Some(items) = doc.as_seq() else {
                self.diag(
                    loc(doc.pos),
                    format!(
                        "a rules file is a sequence of items, found {}",
                        doc.kind_name()
                    ),
                    false,
                );
                continue;
            };
            for item in items {
                self.item(item, text, &loc, &mut seen_rules);
            }
        }
    }

    fn item(
        &mut self,
        item: &Node,
        text: &str,
        loc: &dyn Fn(Pos) -> Loc,
        seen_rules: &mut HashMap<String, Loc>,
    ) {
        let Some(map) = item.as_map() else {
            self.diag(
                loc(item.pos),
                format!("an item must be a mapping, found {}", item.kind_name()),
                false,
            );
            return;
        };
        let kind = [
            "rule",
            "macro",
            "list",
            "required_engine_version",
            "required_plugin_versions",
        ]
        .into_iter()
        .find(|k| item.get(k).is_some());
        let known: &[&str] = match kind {
            Some("rule") => &[
                "rule",
                "desc",
                "condition",
                "output",
                "priority",
                "tags",
                "enabled",
                "exceptions",
                "override",
                "append",
                "source",
                "fanout",
                "warn_evttypes",
                "skip-if-unknown-filter",
            ],
            Some("macro") => &["macro", "condition", "override", "append"],
            Some("list") => &["list", "items", "override", "append"],
            Some(_) => &["required_engine_version", "required_plugin_versions"],
            None => {
                self.diag(
                    loc(item.pos),
                    "unknown item: expected one of rule, macro, list, required_engine_version",
                    true,
                );
                return;
            }
        };
        for (k, _) in map {
            let name = k.as_str().unwrap_or("");
            if !known.contains(&name) {
                self.diag(
                    loc(k.pos),
                    format!(
                        "unknown key '{name}' in {} item (ignored)",
                        kind.unwrap_or("")
                    ),
                    true,
                );
            }
        }
        match kind {
            Some("rule") => self.rule(item, text, loc, seen_rules),
            Some("macro") => self.macro_item(item, text, loc),
            Some("list") => self.list(item, loc),
            Some("required_engine_version") => {
                if let Some(v) = item.get("required_engine_version") {
                    let want = v.as_str().unwrap_or("");
                    match (version(want), version(ENGINE_VERSION)) {
                        (Some(w), Some(have)) if w > have => self.diag(
                            loc(v.pos),
                            format!(
                                "rules require engine version {want}, this is {ENGINE_VERSION}"
                            ),
                            false,
                        ),
                        (None, _) => self.diag(loc(v.pos), format!("bad version {want:?}"), false),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }

    /// Which keys an item overrides: key → true for append, false for replace.
    fn overrides(
        &mut self,
        item: &Node,
        loc: &dyn Fn(Pos) -> Loc,
        appendable: &[&str],
    ) -> Option<HashMap<String, bool>> {
        let mut out = HashMap::new();
        if let Some(a) = item.get("append") {
            if a.as_str() == Some("true") {
                for k in appendable {
                    if item.get(k).is_some() {
                        out.insert(k.to_string(), true);
                    }
                }
                return Some(out);
            }
        }
        let o = item.get("override")?;
        let Some(m) = o.as_map() else {
            self.diag(
                loc(o.pos),
                "override must be a mapping of key: append|replace",
                false,
            );
            return Some(out);
        };
        for (k, v) in m {
            let key = k.as_str().unwrap_or("").to_string();
            match v.as_str() {
                Some("append") if appendable.contains(&key.as_str()) => {
                    out.insert(key, true);
                }
                Some("append") => self.diag(
                    loc(v.pos),
                    format!("'{key}' cannot be appended to, only replaced"),
                    false,
                ),
                Some("replace") => {
                    out.insert(key, false);
                }
                _ => self.diag(
                    loc(v.pos),
                    "override value must be append or replace",
                    false,
                ),
            }
            if item.get(k.as_str().unwrap_or("")).is_none() {
                self.diag(
                    loc(k.pos),
                    format!(
                        "override of '{}' but the item has no such key",
                        k.as_str().unwrap_or("")
                    ),
                    false,
                );
            }
        }
        Some(out)
    }

    fn text_of(&mut self, node: &Node, src: &str, loc: &dyn Fn(Pos) -> Loc) -> Option<Text> {
        let Some(s) = node.as_str() else {
            self.diag(
                loc(node.pos),
                format!("expected a string, found {}", node.kind_name()),
                false,
            );
            return None;
        };
        let file = loc(node.pos).file;
        let map = yaml::align(src, node)
            .into_iter()
            .map(|(l, c)| Loc {
                file,
                line: l as u32,
                col: c as u32,
            })
            .collect();
        Some(Text {
            s: s.to_string(),
            map,
        })
    }

    fn string(&mut self, node: Option<&Node>, loc: &dyn Fn(Pos) -> Loc) -> Option<String> {
        let node = node?;
        match node.as_str() {
            Some(s) => Some(s.to_string()),
            None => {
                self.diag(
                    loc(node.pos),
                    format!("expected a string, found {}", node.kind_name()),
                    false,
                );
                None
            }
        }
    }

    fn strings(&mut self, node: &Node, loc: &dyn Fn(Pos) -> Loc) -> Vec<(String, Loc)> {
        match &node.kind {
            Kind::Seq(items) => items
                .iter()
                .filter_map(|i| match i.as_str() {
                    Some(s) => Some((s.to_string(), loc(i.pos))),
                    None => {
                        self.diag(
                            loc(i.pos),
                            format!("expected a string, found {}", i.kind_name()),
                            false,
                        );
                        None
                    }
                })
                .collect(),
            _ if node.is_null() => Vec::new(),
            _ => {
                self.diag(
                    loc(node.pos),
                    format!("expected a sequence, found {}", node.kind_name()),
                    false,
                );
                Vec::new()
            }
        }
    }

    fn list(&mut self, item: &Node, loc: &dyn Fn(Pos) -> Loc) {
        let Some(name) = self.string(item.get("list"), loc) else {
            return;
        };
        let at = loc(item.pos);
        let items = match item.get("items") {
            Some(n) => self.strings(n, loc),
            None => {
                self.diag(at, format!("list '{name}' has no items"), false);
                return;
            }
        };
        let ov = self.overrides(item, loc, &["items"]);
        let existing = self.lists.iter().position(|l| l.name == name);
        match (ov, existing) {
            (Some(ov), Some(i)) if ov.get("items") == Some(&true) => {
                if let Some(l) = self.lists.get_mut(i) {
                    l.items.extend(items);
                }
            }
            (Some(ov), None) if ov.get("items") == Some(&true) => self.diag(
                at,
                format!("list '{name}' appends to a list that is not defined earlier"),
                false,
            ),
            (_, Some(i)) => {
                if let Some(l) = self.lists.get_mut(i) {
                    l.items = items;
                    l.loc = at;
                }
            }
            (_, None) => self.lists.push(ListDef {
                name,
                items,
                loc: at,
            }),
        }
    }

    fn macro_item(&mut self, item: &Node, src: &str, loc: &dyn Fn(Pos) -> Loc) {
        let Some(name) = self.string(item.get("macro"), loc) else {
            return;
        };
        let at = loc(item.pos);
        let Some(cn) = item.get("condition") else {
            self.diag(at, format!("macro '{name}' has no condition"), false);
            return;
        };
        let Some(cond) = self.text_of(cn, src, loc) else {
            return;
        };
        let ov = self.overrides(item, loc, &["condition"]);
        let existing = self.macros.iter().position(|m| m.name == name);
        match (ov, existing) {
            (Some(ov), Some(i)) if ov.get("condition") == Some(&true) => {
                if let Some(m) = self.macros.get_mut(i) {
                    m.cond.push_text(&cond);
                }
            }
            (Some(ov), None) if ov.get("condition") == Some(&true) => self.diag(
                at,
                format!("macro '{name}' appends to a macro that is not defined earlier"),
                false,
            ),
            (_, Some(i)) => {
                if let Some(m) = self.macros.get_mut(i) {
                    m.cond = cond;
                    m.loc = at;
                }
            }
            (_, None) => self.macros.push(MacroDef {
                name,
                cond,
                loc: at,
            }),
        }
    }

    fn exceptions(&mut self, node: &Node, loc: &dyn Fn(Pos) -> Loc) -> Vec<ExceptionDef> {
        let mut out = Vec::new();
        let Some(seq) = node.as_seq() else {
            if !node.is_null() {
                self.diag(loc(node.pos), "exceptions must be a sequence", false);
            }
            return out;
        };
        for e in seq {
            let at = loc(e.pos);
            let Some(name) = self.string(e.get("name"), loc) else {
                self.diag(at, "exception without a name", false);
                continue;
            };
            if let Some(m) = e.as_map() {
                for (k, _) in m {
                    let key = k.as_str().unwrap_or("");
                    if !["name", "fields", "comps", "values"].contains(&key) {
                        self.diag(
                            loc(k.pos),
                            format!("unknown key '{key}' in exception (ignored)"),
                            true,
                        );
                    }
                }
            }
            let (fields, single) = match e.get("fields") {
                Some(f) if f.as_str().is_some() => {
                    (vec![f.as_str().unwrap_or("").to_string()], true)
                }
                Some(f) => (
                    self.strings(f, loc).into_iter().map(|x| x.0).collect(),
                    false,
                ),
                None => (Vec::new(), false),
            };
            let comps: Vec<String> = match e.get("comps") {
                Some(c) if c.as_str().is_some() => vec![c.as_str().unwrap_or("").to_string()],
                Some(c) => self.strings(c, loc).into_iter().map(|x| x.0).collect(),
                None => Vec::new(),
            };
            if !comps.is_empty() && comps.len() != fields.len() {
                self.diag(
                    at,
                    format!(
                        "exception '{name}': {} fields but {} comps",
                        fields.len(),
                        comps.len()
                    ),
                    false,
                );
            }
            let mut values = Vec::new();
            if let Some(vs) = e.get("values").and_then(|v| v.as_seq()) {
                for v in vs {
                    if single {
                        let val = match (&v.kind, v.as_str()) {
                            (_, Some(s)) => ExValue::One(s.to_string()),
                            (Kind::Seq(_), _) => ExValue::List(
                                self.strings(v, loc).into_iter().map(|x| x.0).collect(),
                            ),
                            _ => continue,
                        };
                        values.push(vec![val]);
                        continue;
                    }
                    let Some(tuple) = v.as_seq() else {
                        // An appended exception names no fields; scalar values
                        // then belong to a single-field exception.
                        if let (true, Some(s)) = (fields.is_empty(), v.as_str()) {
                            values.push(vec![ExValue::One(s.to_string())]);
                            continue;
                        }
                        self.diag(
                            loc(v.pos),
                            "exception values must be tuples (sequences), one value per field",
                            false,
                        );
                        continue;
                    };
                    if tuple.len() != fields.len() && !fields.is_empty() {
                        self.diag(
                            loc(v.pos),
                            format!(
                                "exception '{name}': {} fields but a tuple of {}",
                                fields.len(),
                                tuple.len()
                            ),
                            false,
                        );
                        continue;
                    }
                    let row = tuple
                        .iter()
                        .map(|t| match t.as_str() {
                            Some(s) => ExValue::One(s.to_string()),
                            None => ExValue::List(
                                t.as_seq()
                                    .unwrap_or(&[])
                                    .iter()
                                    .filter_map(|x| x.as_str().map(str::to_string))
                                    .collect(),
                            ),
                        })
                        .collect();
                    values.push(row);
                }
            }
            // A single-field exception with a plain list of values folds into one `in`.
            if single
                && values
                    .iter()
                    .all(|v| matches!(v.first(), Some(ExValue::One(_))))
                && values.len() > 1
            {
                let all = values
                    .iter()
                    .filter_map(|v| match v.first() {
                        Some(ExValue::One(s)) => Some(s.clone()),
                        _ => None,
                    })
                    .collect();
                values = vec![vec![ExValue::List(all)]];
            }
            out.push(ExceptionDef {
                name,
                fields,
                single,
                comps,
                values,
                loc: at,
            });
        }
        out
    }

    fn rule(
        &mut self,
        item: &Node,
        src: &str,
        loc: &dyn Fn(Pos) -> Loc,
        seen: &mut HashMap<String, Loc>,
    ) {
        let Some(name) = self.string(item.get("rule"), loc) else {
            return;
        };
        let at = loc(item.pos);
        let ov = self.overrides(
            item,
            loc,
            &["condition", "output", "desc", "tags", "exceptions"],
        );
        let existing = self.rules.iter().position(|r| r.name == name);
        let enabled = match item.get("enabled").map(|e| (e.as_str(), e.pos)) {
            Some((Some("true"), _)) | None => true,
            Some((Some("false"), _)) => false,
            Some((_, p)) => {
                self.diag(loc(p), "enabled must be true or false", false);
                true
            }
        };
        // Falco's short form: `- rule: X` + `enabled: false` toggles an existing rule.
        let toggle_only =
            ov.is_none() && item.get("condition").is_none() && item.get("enabled").is_some();
        if ov.is_some() || toggle_only {
            let Some(i) = existing else {
                self.diag(
                    at,
                    format!("rule '{name}' overrides a rule that is not defined earlier"),
                    false,
                );
                return;
            };
            let ov = ov.unwrap_or_default();
            if toggle_only || ov.contains_key("enabled") {
                if let Some(r) = self.rules.get_mut(i) {
                    r.enabled = enabled;
                }
            }
            for (key, append) in ov {
                let Some(node) = item.get(&key) else { continue };
                match key.as_str() {
                    "condition" => {
                        if let Some(t) = self.text_of(node, src, loc) {
                            if let Some(r) = self.rules.get_mut(i) {
                                if append {
                                    r.cond.push_text(&t)
                                } else {
                                    r.cond = t
                                }
                            }
                        }
                    }
                    "exceptions" => {
                        let ex = self.exceptions(node, loc);
                        let mut bad_tuples = Vec::new();
                        let mut no_fields = Vec::new();
                        if let Some(r) = self.rules.get_mut(i) {
                            if append {
                                for e in ex {
                                    match r.exceptions.iter_mut().find(|x| x.name == e.name) {
                                        Some(x) if x.single => {
                                            // Appended scalars join the single field's `in` list.
                                            let mut all: Vec<String> = Vec::new();
                                            for row in x.values.drain(..).chain(e.values) {
                                                match row.into_iter().next() {
                                                    Some(ExValue::One(v)) => all.push(v),
                                                    Some(ExValue::List(vs)) => all.extend(vs),
                                                    None => {}
                                                }
                                            }
                                            x.values = vec![vec![ExValue::List(all)]];
                                        }
                                        Some(x) => {
                                            let n = x.fields.len();
                                            let (ok, bad): (Vec<_>, Vec<_>) =
                                                e.values.into_iter().partition(|v| v.len() == n);
                                            if !bad.is_empty() {
                                                bad_tuples.push((e.loc, e.name.clone(), n));
                                            }
                                            x.values.extend(ok);
                                        }
                                        None if e.fields.is_empty() => {
                                            no_fields.push((e.loc, e.name.clone()))
                                        }
                                        None => r.exceptions.push(e),
                                    }
                                }
                            } else {
                                r.exceptions = ex;
                            }
                        }
                        for (l, n, k) in bad_tuples {
                            self.diag(
                                l,
                                format!("exception '{n}': values must be tuples of {k}"),
                                false,
                            );
                        }
                        for (l, n) in no_fields {
                            self.diag(
                                l,
                                format!(
                                    "exception '{n}' is not defined in the rule and has no fields"
                                ),
                                false,
                            );
                        }
                    }
                    "tags" => {
                        let tags: Vec<String> =
                            self.strings(node, loc).into_iter().map(|x| x.0).collect();
                        if let Some(r) = self.rules.get_mut(i) {
                            if append {
                                r.tags.extend(tags)
                            } else {
                                r.tags = tags
                            }
                        }
                    }
                    "output" | "desc" => {
                        let s = self.string(Some(node), loc).unwrap_or_default();
                        if let Some(r) = self.rules.get_mut(i) {
                            let dst = if key == "output" {
                                &mut r.output
                            } else {
                                &mut r.desc
                            };
                            if append {
                                dst.push(' ');
                                dst.push_str(&s)
                            } else {
                                *dst = s
                            }
                        }
                    }
                    "priority" => {
                        if let Some(p) = self.priority(node, loc) {
                            if let Some(r) = self.rules.get_mut(i) {
                                r.priority = p
                            }
                        }
                    }
                    "fanout" => {
                        let f = self.fanout(node, loc);
                        if let Some(r) = self.rules.get_mut(i) {
                            r.fanout = f
                        }
                    }
                    _ => {}
                }
            }
            return;
        }
        if let Some(prev) = seen.get(&name) {
            self.diag(
                at,
                format!(
                    "duplicate rule name '{name}' (first defined at line {})",
                    prev.line
                ),
                false,
            );
            return;
        }
        seen.insert(name.clone(), at);
        let mut missing = Vec::new();
        for k in ["condition", "output", "priority", "desc"] {
            if item.get(k).is_none() {
                missing.push(k);
            }
        }
        if !missing.is_empty() {
            self.diag(
                at,
                format!("rule '{name}' is missing {}", missing.join(", ")),
                false,
            );
            return;
        }
        let Some(cond) = item
            .get("condition")
            .and_then(|c| self.text_of(c, src, loc))
        else {
            return;
        };
        let output = self.string(item.get("output"), loc).unwrap_or_default();
        let output_loc = item.get("output").map(|o| loc(o.pos)).unwrap_or(at);
        let desc = self.string(item.get("desc"), loc).unwrap_or_default();
        let Some(priority) = item.get("priority").and_then(|p| self.priority(p, loc)) else {
            return;
        };
        let tags = item
            .get("tags")
            .map(|t| self.strings(t, loc).into_iter().map(|x| x.0).collect())
            .unwrap_or_default();
        let exceptions = item
            .get("exceptions")
            .map(|e| self.exceptions(e, loc))
            .unwrap_or_default();
        for e in &exceptions {
            if e.fields.is_empty() {
                self.diag(
                    e.loc,
                    format!("exception '{}' has no fields", e.name),
                    false,
                );
            }
        }
        let fanout = item.get("fanout").and_then(|f| self.fanout(f, loc));
        if let Some(s) = item.get("source").and_then(|s| s.as_str()) {
            if s != "bridgewatch" {
                self.diag(
                    loc(item.get("source").map(|s| s.pos).unwrap_or_default()),
                    format!("rule '{name}' is for source '{s}', not bridgewatch: skipped"),
                    true,
                );
                return;
            }
        }
        let def = RuleDef {
            name,
            desc,
            cond,
            output,
            output_loc,
            priority,
            tags,
            enabled,
            exceptions,
            fanout,
            loc: at,
        };
        match existing {
            // A later file's rule of the same name replaces it in place, as in Falco.
            Some(i) => {
                if let Some(r) = self.rules.get_mut(i) {
                    *r = def;
                }
            }
            None => self.rules.push(def),
        }
    }

    fn priority(&mut self, node: &Node, loc: &dyn Fn(Pos) -> Loc) -> Option<Priority> {
        let s = node.as_str().unwrap_or("");
        let p = Priority::parse(s);
        if p.is_none() {
            self.diag(loc(node.pos), format!("unknown priority {s:?}: use EMERGENCY, ALERT, CRITICAL, ERROR, WARNING, NOTICE, INFORMATIONAL or DEBUG"), false);
        }
        p
    }

    fn fanout(&mut self, node: &Node, loc: &dyn Fn(Pos) -> Loc) -> Option<FanoutDef> {
        let at = loc(node.pos);
        if node.as_map().is_none() {
            self.diag(
                at,
                "fanout must be a mapping {key, distinct, threshold, window}",
                false,
            );
            return None;
        }
        for (k, _) in node.as_map().unwrap_or(&[]) {
            let key = k.as_str().unwrap_or("");
            if !["key", "distinct", "threshold", "window"].contains(&key) {
                self.diag(
                    loc(k.pos),
                    format!("unknown key '{key}' in fanout (ignored)"),
                    true,
                );
            }
        }
        let key = self
            .string(node.get("key"), loc)
            .unwrap_or_else(|| "container.id".into());
        let Some(distinct) = self.string(node.get("distinct"), loc) else {
            self.diag(
                at,
                "fanout needs 'distinct' (the field whose distinct values are counted)",
                false,
            );
            return None;
        };
        let threshold = match node
            .get("threshold")
            .map(|t| (t.as_str().and_then(|s| s.parse::<u32>().ok()), t.pos))
        {
            Some((Some(n), _)) if (1..=10_000).contains(&n) => n,
            Some((_, p)) => {
                self.diag(
                    loc(p),
                    "fanout threshold must be a whole number from 1 to 10000",
                    false,
                );
                return None;
            }
            None => {
                self.diag(at, "fanout needs 'threshold'", false);
                return None;
            }
        };
        let window_ns = match node
            .get("window")
            .map(|w| (w.as_str().and_then(parse_duration), w.pos))
        {
            Some((Some(n), _)) if n > 0 => n,
            Some((_, p)) => {
                self.diag(
                    loc(p),
                    "fanout window must be a duration like 10s, 500ms, 5m or 1h",
                    false,
                );
                return None;
            }
            None => {
                self.diag(at, "fanout needs 'window'", false);
                return None;
            }
        };
        Some(FanoutDef {
            key,
            distinct,
            threshold,
            window_ns,
            loc: at,
        })
    }
}

/// `10s`, `500ms`, `5m`, `1h` or bare seconds, as nanoseconds.
pub fn parse_duration(s: &str) -> Option<i64> {
    let s = s.trim();
    let (num, mult) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1_000_000_i64)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1_000_000_000)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60_000_000_000)
    } else if let Some(n) = s.strip_suffix('h') {
        (n, 3_600_000_000_000)
    } else {
        (s, 1_000_000_000)
    };
    let v: f64 = num.trim().parse().ok()?;
    if !v.is_finite() || !(0.0..=1e6).contains(&v) {
        return None;
    }
    Some((v * mult as f64) as i64)
}

fn version(s: &str) -> Option<Vec<u64>> {
    s.trim().split('.').map(|p| p.parse().ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(files: &[&str]) -> Loaded {
        let mut l = Loaded::default();
        for (i, f) in files.iter().enumerate() {
            l.add_source(&format!("f{i}.yaml"), f);
        }
        l
    }

    const BASE: &str = "
- list: ports
  items: [1, 2]
- macro: m
  condition: fd.sport in (ports)
- rule: r
  desc: d
  condition: m
  output: o
  priority: WARNING
  tags: [a]
";

    #[test]
    fn later_files_append_and_replace() {
        let l = load(&[
            BASE,
            "
- list: ports
  items: [3]
  override:
    items: append
- rule: r
  condition: and fd.sport = 3
  override:
    condition: append
- macro: m
  condition: fd.sport = 9
",
        ]);
        assert!(!l.has_errors(), "{:?}", l.diags);
        assert_eq!(l.lists[0].items.len(), 3);
        assert_eq!(l.rules[0].cond.s, "m and fd.sport = 3");
        assert_eq!(l.macros[0].cond.s, "fd.sport = 9");
        // The appended text keeps its own file's positions.
        let at = l.rules[0].cond.s.find("fd.sport").unwrap();
        assert_eq!(l.rules[0].cond.loc(at).file, 1);
    }

    #[test]
    fn legacy_append_and_enable_toggle() {
        let l = load(&[
            BASE,
            "- rule: r\n  enabled: false\n- list: ports\n  items: [7]\n  append: true\n",
        ]);
        assert!(!l.has_errors(), "{:?}", l.diags);
        assert!(!l.rules[0].enabled);
        assert_eq!(l.lists[0].items.len(), 3);
    }

    #[test]
    fn unknown_keys_warn_with_position() {
        let l = load(&[
            "- rule: r\n  desc: d\n  condition: a\n  output: o\n  priority: INFO\n  colour: red\n",
        ]);
        assert!(!l.has_errors());
        let w = &l.diags[0];
        assert!(w.warning && w.message.contains("colour"));
        assert_eq!((w.line, w.col), (6, 3));
        let shown = w.to_string();
        assert!(shown.starts_with("f0.yaml:6:3: warning:"), "{shown}");
        assert!(shown.contains("  colour: red\n      ^"), "{shown}");
    }

    #[test]
    fn duplicates_and_bad_items_are_errors() {
        let l = load(&[&format!(
            "{BASE}{}",
            "- rule: r\n  desc: d\n  condition: a\n  output: o\n  priority: INFO\n"
        )]);
        assert!(l
            .diags
            .iter()
            .any(|d| !d.warning && d.message.contains("duplicate rule name")));
        let l = load(&["- rule: r\n  condition: x\n"]);
        assert!(l.has_errors());
        let l = load(&["- rule: x\n  override: {condition: append}\n  condition: y\n"]);
        assert!(l.has_errors());
        let l = load(&["- required_engine_version: 99.0.0\n"]);
        assert!(l.has_errors());
        let l = load(&["- required_engine_version: 0.0.1\n"]);
        assert!(!l.has_errors());
        let l = load(&["[: bad"]);
        assert!(l.has_errors());
    }

    #[test]
    fn exceptions_fold_into_the_condition() {
        let l = load(&["- rule: r
  desc: d
  condition: fd.sport = 22
  output: o
  priority: INFO
  exceptions:
    - name: ok
      fields: [container.image.repository, fd.rip]
      comps: [=, in]
      values:
        - [bastion, [10.0.0.1, 10.0.0.2]]
    - name: by_name
      fields: container.name
      values: [a, b c]
"]);
        assert!(!l.has_errors(), "{:?}", l.diags);
        assert_eq!(
            l.rules[0].full_condition().s,
            "(fd.sport = 22) and not ((container.image.repository = bastion and fd.rip in (10.0.0.1, 10.0.0.2)) or (container.name in (a, \"b c\")))"
        );
    }

    #[test]
    fn fanout_option_parses() {
        let l = load(&["- rule: r\n  desc: d\n  condition: a\n  output: o\n  priority: INFO\n  fanout: {key: container.id, distinct: fd.rip, threshold: 20, window: 10s}\n"]);
        assert!(!l.has_errors(), "{:?}", l.diags);
        let f = l.rules[0].fanout.as_ref().unwrap();
        assert_eq!((f.threshold, f.window_ns), (20, 10_000_000_000));
        let l = load(&["- rule: r\n  desc: d\n  condition: a\n  output: o\n  priority: INFO\n  fanout: {distinct: fd.rip, threshold: 0, window: 10s}\n"]);
        assert!(l.has_errors());
        assert_eq!(parse_duration("500ms"), Some(500_000_000));
        assert_eq!(parse_duration("x"), None);
    }
}
