//! Output formats.  Each turns one alert or one flow record into one line (with its
//! trailing newline): `native` (the Falco-compatible alert and the conn.log-style flow
//! record), `ecs` (Elastic Common Schema), `ocsf` (OCSF 1.3: Network Activity 4001
//! for flows, Detection Finding 2004 for alerts) and `cef` (ArcSight CEF:0).
//!
//! Text from the network or the Docker API only ever reaches a line through a JSON
//! string encoder or the CEF escaper, so a container name cannot add a key, a field
//! or a line.

mod cef;
mod ecs;
mod ocsf;

use crate::flow::record::FlowRecord;
use crate::rules::{Alert, Container, Priority};

pub use cef::{cef_escape_extension, cef_escape_header};

/// What `watch` knows of a flow beyond its record: the containers at each end (as
/// the inventory named them at the flow's start), the direction (`outbound`,
/// `inbound`, `internal`, `host`, `external`) and whether the record is an interim
/// (active-timeout) snapshot of a flow still open.
#[derive(Clone, Copy, Debug)]
pub struct FlowContext<'a> {
    pub interim: bool,
    pub direction: &'a str,
    pub orig: Option<&'a Container>,
    pub resp: Option<&'a Container>,
}

/// Product name, vendor and version in every format's metadata.
pub const PRODUCT: &str = "bridgewatch";
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Native,
    Ecs,
    Ocsf,
    Cef,
}

impl Format {
    pub const NAMES: &'static str = "native, ecs, ocsf, cef";

    pub fn name(self) -> &'static str {
        match self {
            Format::Native => "native",
            Format::Ecs => "ecs",
            Format::Ocsf => "ocsf",
            Format::Cef => "cef",
        }
    }

    /// Appends `a` as one line.
    pub fn alert_line(self, a: &Alert, out: &mut Vec<u8>) {
        match self {
            Format::Native => a.write_json_line(out),
            Format::Ecs => json_line(&ecs::alert(a), out),
            Format::Ocsf => json_line(&ocsf::alert(a), out),
            Format::Cef => cef::alert(a, out),
        }
    }

    /// Appends `r` as one line; `hostname` names the sensor where the format has a
    /// place for it.
    pub fn flow_line(self, r: &FlowRecord, hostname: &str, out: &mut Vec<u8>) {
        self.flow_line_with(r, hostname, None, out)
    }

    /// [`Format::flow_line`] with live mode's attribution (`watch`), mapped to the
    /// format's own fields (`native` takes it as extra keys from its caller).
    pub fn flow_line_with(
        self,
        r: &FlowRecord,
        hostname: &str,
        ctx: Option<&FlowContext<'_>>,
        out: &mut Vec<u8>,
    ) {
        match self {
            Format::Native => r.write_json_line(out),
            Format::Ecs => json_line(&ecs::flow(r, hostname, ctx), out),
            Format::Ocsf => json_line(&ocsf::flow(r, hostname, ctx), out),
            Format::Cef => cef::flow(r, hostname, ctx, out),
        }
    }
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Format, String> {
        match s.to_ascii_lowercase().as_str() {
            "native" | "json" | "falco" => Ok(Format::Native),
            "ecs" => Ok(Format::Ecs),
            "ocsf" => Ok(Format::Ocsf),
            "cef" => Ok(Format::Cef),
            _ => Err(format!(
                "unknown format {s:?}: use one of {}",
                Format::NAMES
            )),
        }
    }
}

fn json_line(v: &serde_json::Value, out: &mut Vec<u8>) {
    if serde_json::to_writer(&mut *out, v).is_ok() {
        out.push(b'\n');
    }
}

/// Nanoseconds since the epoch → milliseconds (OCSF `time`, CEF `rt`).
fn millis(t: i64) -> i64 {
    t.div_euclid(1_000_000)
}

/// Falco priority → 0-10 (CEF severity): Emergency 10 ... Debug 0.
pub fn severity_0_10(p: Priority) -> u8 {
    match p {
        Priority::Emergency => 10,
        Priority::Alert => 9,
        Priority::Critical => 8,
        Priority::Error => 7,
        Priority::Warning => 6,
        Priority::Notice => 4,
        Priority::Informational => 2,
        Priority::Debug => 0,
    }
}

/// Falco priority → syslog severity (RFC 5424: 0 emergency ... 7 debug); the two
/// scales have the same eight steps.
pub fn syslog_severity(p: Priority) -> u8 {
    match p {
        Priority::Emergency => 0,
        Priority::Alert => 1,
        Priority::Critical => 2,
        Priority::Error => 3,
        Priority::Warning => 4,
        Priority::Notice => 5,
        Priority::Informational => 6,
        Priority::Debug => 7,
    }
}

#[cfg(test)]
pub(crate) mod tests;
