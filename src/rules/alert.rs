//! Alerts: Falco's priorities and the alert JSON line (Falco's keys plus the flow).
//!
//! Every string substituted into `output` or listed in `output_fields` is escaped
//! (control characters become `\n`, `\t`, `\xNN`), so a container name or label
//! chosen by an attacker cannot forge extra log lines or terminal sequences.

use super::inventory::Container;
use crate::flow::record::FlowRecord;
use crate::time::Nanos;
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use std::sync::Arc;

/// Falco's priorities, most severe first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    Emergency,
    Alert,
    Critical,
    Error,
    Warning,
    Notice,
    Informational,
    Debug,
}

impl Priority {
    pub const ALL: [Priority; 8] = [
        Priority::Emergency,
        Priority::Alert,
        Priority::Critical,
        Priority::Error,
        Priority::Warning,
        Priority::Notice,
        Priority::Informational,
        Priority::Debug,
    ];

    /// Falco's spelling in alert output (`"Warning"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Emergency => "Emergency",
            Priority::Alert => "Alert",
            Priority::Critical => "Critical",
            Priority::Error => "Error",
            Priority::Warning => "Warning",
            Priority::Notice => "Notice",
            Priority::Informational => "Informational",
            Priority::Debug => "Debug",
        }
    }

    /// Parses a priority name in any case; `INFO` is accepted as Falco does.
    pub fn parse(s: &str) -> Option<Priority> {
        let l = s.trim().to_ascii_lowercase();
        if l == "info" {
            return Some(Priority::Informational);
        }
        Priority::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(&l))
    }

    /// True when `self` is at least as severe as `min`.
    pub fn passes(self, min: Priority) -> bool {
        self <= min
    }
}

impl std::str::FromStr for Priority {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Priority::parse(s).ok_or_else(|| {
            format!("unknown priority {s:?}: use EMERGENCY, ALERT, CRITICAL, ERROR, WARNING, NOTICE, INFORMATIONAL or DEBUG")
        })
    }
}

/// A field value captured for `output_fields`.
#[derive(Clone, Debug, PartialEq)]
pub enum FieldValue {
    Str(String),
    U64(u64),
    F64(f64),
    Missing,
}

impl FieldValue {
    /// How the value reads inside `output` (`<NA>` when missing, as Falco prints).
    pub fn write_text(&self, out: &mut String) {
        use std::fmt::Write;
        match self {
            FieldValue::Str(s) => escape_into(out, s),
            FieldValue::U64(n) => {
                let _ = write!(out, "{n}");
            }
            FieldValue::F64(n) => {
                let _ = write!(out, "{n}");
            }
            FieldValue::Missing => out.push_str("<NA>"),
        }
    }
}

impl Serialize for FieldValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            FieldValue::Str(v) => {
                let mut e = String::with_capacity(v.len());
                escape_into(&mut e, v);
                s.serialize_str(&e)
            }
            FieldValue::U64(n) => s.serialize_u64(*n),
            FieldValue::F64(n) => s.serialize_f64(*n),
            FieldValue::Missing => s.serialize_none(),
        }
    }
}

/// Appends `s` with control characters (and backslashes) escaped.
pub fn escape_into(out: &mut String, s: &str) {
    use std::fmt::Write;
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
}

/// One rule firing for one flow and view.
#[derive(Clone, Debug)]
pub struct Alert {
    /// Event time: the flow's first packet (connect/accept) or last packet (end).
    pub time: Nanos,
    pub rule: Arc<str>,
    pub priority: Priority,
    pub output: String,
    pub output_fields: Vec<(Arc<str>, FieldValue)>,
    pub tags: Arc<[String]>,
    pub hostname: Arc<str>,
    /// `connect`, `accept` or `end`.
    pub evt_type: &'static str,
    /// `flow.direction`: outbound, inbound, internal, host or external.
    pub direction: &'static str,
    /// The viewing end's container and the other end's, for formats that map them
    /// (ECS `container.*`, OCSF, CEF).  The native JSON leaves them to `output_fields`.
    pub container: Option<AlertContainer>,
    pub peer: Option<AlertContainer>,
    /// The viewing end is the flow's originator (connect and client-end views).
    pub local_is_client: bool,
    /// Alerts of the same rule and key that deduplication held back since the last
    /// one sent (`--dedup-window`); 0 when none (and then no format writes it).
    pub suppressed: u64,
    pub flow: FlowRecord,
}

/// What an alert carries of a container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertContainer {
    pub id: String,
    pub name: String,
    pub image: String,
    pub repository: String,
    pub tag: Option<String>,
}

impl From<&Container> for AlertContainer {
    fn from(c: &Container) -> Self {
        AlertContainer {
            id: c.id.clone(),
            name: c.name.clone(),
            image: c.image.clone(),
            repository: c.repository.clone(),
            tag: c.tag.clone(),
        }
    }
}

pub use crate::time::rfc3339_nanos;

impl Serialize for Alert {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Fields<'a>(&'a [(Arc<str>, FieldValue)]);
        impl Serialize for Fields<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut m = s.serialize_map(Some(self.0.len()))?;
                for (k, v) in self.0 {
                    m.serialize_entry(&**k, v)?;
                }
                m.end()
            }
        }
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("time", &rfc3339_nanos(self.time))?;
        m.serialize_entry("rule", &*self.rule)?;
        m.serialize_entry("priority", self.priority.as_str())?;
        m.serialize_entry("output", &self.output)?;
        m.serialize_entry("output_fields", &Fields(&self.output_fields))?;
        m.serialize_entry("tags", &*self.tags)?;
        m.serialize_entry("hostname", &*self.hostname)?;
        m.serialize_entry("source", "bridgewatch")?;
        m.serialize_entry("evt_type", self.evt_type)?;
        m.serialize_entry("community_id", &self.flow.community_id)?;
        if self.suppressed > 0 {
            m.serialize_entry("suppressed", &self.suppressed)?;
        }
        m.serialize_entry("flow", &self.flow)?;
        m.end()
    }
}

impl Alert {
    /// Appends the alert as one JSON line (with the trailing newline).
    pub fn write_json_line(&self, out: &mut Vec<u8>) {
        if serde_json::to_writer(&mut *out, self).is_ok() {
            out.push(b'\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priorities_parse_and_order() {
        assert_eq!(Priority::parse("warning"), Some(Priority::Warning));
        assert_eq!(Priority::parse("INFO"), Some(Priority::Informational));
        assert_eq!(Priority::parse("CRITICAL"), Some(Priority::Critical));
        assert!(Priority::parse("loud").is_none());
        assert!(Priority::Critical.passes(Priority::Warning));
        assert!(!Priority::Notice.passes(Priority::Warning));
    }

    #[test]
    fn time_has_nanoseconds() {
        assert_eq!(
            rfc3339_nanos(1_700_000_000_000_000_001),
            "2023-11-14T22:13:20.000000001Z"
        );
        assert_eq!(rfc3339_nanos(0), "1970-01-01T00:00:00.000000000Z");
    }

    #[test]
    fn escaping_removes_control_characters() {
        let mut s = String::new();
        escape_into(&mut s, "a\nb\x1b[31m\\");
        assert_eq!(s, "a\\nb\\x1b[31m\\\\");
        assert!(!s.chars().any(|c| c.is_control()));
    }
}
