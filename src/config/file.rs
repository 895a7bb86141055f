//! The `--config` file as written: serde structs that reject unknown keys, read
//! from TOML or YAML (by the file's extension), with every error naming the file,
//! the key's path (`outputs[1].delivery.retries`) and, where the parser knows it,
//! the line and column.
//!
//! TOML goes through `toml`'s deserializer (its errors carry line and column).  YAML
//! goes through the project's position-keeping tree ([`crate::rules::yaml`]), is
//! turned into a JSON value, and the path of an error is looked up in the positions
//! recorded on the way.

use crate::rules::yaml::{self, Kind as YKind, Node, Style};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Seconds each remote output gets to deliver what is queued when the run ends
    /// (at the end of input or on SIGINT/SIGTERM).
    pub flush_timeout: Option<f64>,
    #[serde(default)]
    pub outputs: Vec<RawOutput>,
}

/// What an output carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Carries {
    #[default]
    Alerts,
    Flows,
    Both,
}

impl Carries {
    pub fn alerts(self) -> bool {
        matches!(self, Carries::Alerts | Carries::Both)
    }
    pub fn flows(self) -> bool {
        matches!(self, Carries::Flows | Carries::Both)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOutput {
    pub name: Option<String>,
    #[serde(default)]
    pub carries: Carries,
    pub format: Option<String>,
    pub min_priority: Option<String>,
    // Exactly one sink.
    pub stdout: Option<RawStdout>,
    pub file: Option<RawFile>,
    pub syslog: Option<RawSyslog>,
    pub http: Option<RawHttp>,
    pub delivery: Option<RawDelivery>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStdout {}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFile {
    pub path: PathBuf,
    pub max_bytes: Option<u64>,
    pub keep: Option<usize>,
    pub append: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSyslog {
    /// As `--syslog`: `udp://`, `tcp://`, `tls://` or `relp://HOST:PORT`, `?protocol=...&facility=N`.
    pub url: String,
    /// For `tls://`: as `--syslog-ca`, `--syslog-cert`, `--syslog-key`, `--syslog-server-name`.
    pub ca: Option<std::path::PathBuf>,
    pub cert: Option<std::path::PathBuf>,
    pub key: Option<std::path::PathBuf>,
    pub server_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHttp {
    pub url: String,
    pub kind: Option<String>,
    pub token: Option<String>,
    pub basic: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub gzip: bool,
    pub index: Option<String>,
    pub flow_index: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDelivery {
    pub queue: Option<usize>,
    pub batch: Option<usize>,
    /// Seconds (HTTP request timeout).
    pub timeout: Option<f64>,
    pub spool_dir: Option<PathBuf>,
    pub spool_max_bytes: Option<u64>,
}

/// Reads and parses `path`: `.toml`, or `.yaml`/`.yml`.
pub fn load(path: &Path) -> Result<RawConfig, String> {
    let name = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{name}: cannot read: {e}"))?;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("toml") => from_toml(&text).map_err(|e| located(&name, &e)),
        Some("yaml" | "yml") => from_yaml(&text).map_err(|e| located(&name, &e)),
        _ => Err(format!(
            "{name}: unknown config file type: name it .toml, .yaml or .yml"
        )),
    }
}

/// `FILE:LINE:COL: ...` when the message starts with a position, else `FILE: ...`.
fn located(file: &dyn std::fmt::Display, e: &str) -> String {
    if e.starts_with(|c: char| c.is_ascii_digit()) {
        format!("{file}:{e}")
    } else {
        format!("{file}: {e}")
    }
}

/// `unknown field `x`, expected ...` → `unknown key (expected ...)`, so the
/// message reads with the path in front of it.
fn tidy(msg: &str) -> String {
    let msg = msg.trim();
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        if let Some((_, tail)) = rest.split_once('`') {
            let tail = tail.trim_start_matches(',').trim();
            return if tail.is_empty() {
                "unknown key".into()
            } else {
                format!("unknown key ({tail})")
            };
        }
    }
    msg.to_string()
}

/// The key an unknown-field message names.
fn unknown_key(msg: &str) -> Option<&str> {
    msg.trim()
        .strip_prefix("unknown field `")?
        .split_once('`')
        .map(|(k, _)| k)
}

/// The path, completed with the unknown key when the error is about one (serde
/// reports it at the enclosing table).
fn full_path(path: &serde_path_to_error::Path, msg: &str) -> String {
    let mut p = path.to_string();
    if let Some(k) = unknown_key(msg) {
        if !p.ends_with(k) {
            if p == "." || p.is_empty() {
                p = k.to_string();
            } else {
                p = format!("{p}.{k}");
            }
        }
    }
    p
}

pub fn from_toml(text: &str) -> Result<RawConfig, String> {
    let de = toml::Deserializer::new(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let inner = e.inner();
        let msg = inner.message().to_string();
        let path = full_path(e.path(), &msg);
        let at = inner
            .span()
            .map(|s| {
                let (line, col) = line_col(text, s.start);
                format!("{line}:{col}: ")
            })
            .unwrap_or_default();
        format!("{at}{path}: {}", tidy(&msg))
    })
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

pub fn from_yaml(text: &str) -> Result<RawConfig, String> {
    let docs =
        yaml::parse(text).map_err(|e| format!("{}:{}: {}", e.pos.line, e.pos.col, e.message))?;
    let Some(doc) = docs.first() else {
        return Ok(RawConfig::default());
    };
    if let Some(second) = docs.get(1) {
        return Err(format!(
            "{}:{}: a second YAML document: the config is one document",
            second.pos.line, second.pos.col
        ));
    }
    let mut positions = HashMap::new();
    let value = to_json(doc, String::new(), &mut positions);
    serde_path_to_error::deserialize(value).map_err(|e| {
        let msg = e.inner().to_string();
        let path = full_path(e.path(), &msg);
        // The key's own position when there is one, else its table's.
        let pos = positions
            .get(&path)
            .or_else(|| positions.get(&e.path().to_string()))
            .copied()
            .unwrap_or((doc.pos.line, doc.pos.col));
        format!("{}:{}: {path}: {}", pos.0, pos.1, tidy(&msg))
    })
}

/// A YAML node as JSON, recording the position of every key's node under its path
/// (as `serde_path_to_error` prints paths).
fn to_json(
    n: &Node,
    path: String,
    positions: &mut HashMap<String, (usize, usize)>,
) -> serde_json::Value {
    use serde_json::Value;
    positions.insert(path.clone(), (n.pos.line, n.pos.col));
    match &n.kind {
        YKind::Scalar(s, Style::Plain) => plain_scalar(s),
        YKind::Scalar(s, _) => Value::String(s.clone()),
        YKind::Seq(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, it)| to_json(it, format!("{path}[{i}]"), positions))
                .collect(),
        ),
        YKind::Map(pairs) => {
            let mut m = serde_json::Map::new();
            for (k, v) in pairs {
                let key = match &k.kind {
                    YKind::Scalar(s, _) => s.clone(),
                    _ => format!("<{} at {}:{}>", k.kind_name(), k.pos.line, k.pos.col),
                };
                let sub = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                positions.insert(sub.clone(), (k.pos.line, k.pos.col));
                let val = to_json(v, sub.clone(), positions);
                // The key's position is the more useful one for an error about it.
                positions.insert(sub, (k.pos.line, k.pos.col));
                m.insert(key, val);
            }
            Value::Object(m)
        }
    }
}

/// A plain YAML scalar: null, bool, integer, float, else a string (YAML 1.2 core).
fn plain_scalar(s: &str) -> serde_json::Value {
    use serde_json::Value;
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if let Ok(i) = s.parse::<u64>() {
        return Value::from(i);
    }
    if let Ok(i) = s.parse::<i64>() {
        return Value::from(i);
    }
    if s.bytes().any(|b| b.is_ascii_digit()) {
        if let Ok(f) = s.parse::<f64>() {
            if f.is_finite() {
                return Value::from(f);
            }
        }
    }
    Value::String(s.to_string())
}
