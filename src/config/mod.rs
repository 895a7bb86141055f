//! Configuration: the `--config` file and the output flags become one validated
//! list of outputs before anything starts.  Each output names a sink (stdout, a
//! file, syslog, HTTP), a format, what it carries (alerts, flows or both), the
//! lowest alert priority it takes, and its delivery settings.
//!
//! The single-output flags (`--alerts`, `--flows`, `--syslog`, `--http`,
//! `--spool-dir`) are shortcuts for outputs the file could declare, and add to the
//! file's.  Every problem is an error naming the file and the key's path (or the
//! flag); nothing is half-applied.

pub mod file;

pub use file::Carries;

use crate::cli::{OutputArgs, ReplayArgs};
use crate::rules::Priority;
use crate::sinks::delivery::DeliveryOptions;
use crate::sinks::file_out::FileSpec;
use crate::sinks::format::Format;
use crate::sinks::http_out::{parse_header, HttpKind, HttpSettings};
use crate::sinks::syslog_out::{SyslogTarget, SyslogTransportKind};
use crate::sinks::tls::TlsSettings;

/// TLS settings go with a `tls://` URL only, and a `tls://` target's files must load
/// now, before anything runs.
fn check_tls(t: &SyslogTarget) -> Result<(), String> {
    if t.transport != SyslogTransportKind::Tls {
        if t.tls != TlsSettings::default() {
            return Err("CA, certificate, key and server name need a tls:// URL".into());
        }
        return Ok(());
    }
    t.tls
        .client(crate::sinks::tls::host_of(&t.addr))
        .map(|_| ())
}
use file::{RawConfig, RawDelivery, RawOutput};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long remote outputs get to deliver at the end of a run, unless configured.
pub const DEFAULT_FLUSH_TIMEOUT: Duration = Duration::from_secs(10);
/// Default bound of an output's spool.
pub const DEFAULT_SPOOL_MAX_BYTES: u64 = 256 << 20;
const DEFAULT_FLOW_INDEX: &str = "bridgewatch-flows-%Y.%m.%d";
const DEFAULT_ALERT_INDEX: &str = "bridgewatch-alerts-%Y.%m.%d";

/// Every output of a run, validated.
#[derive(Clone, Debug)]
pub struct OutputsConfig {
    pub outputs: Vec<OutputSpec>,
    pub flush_timeout: Duration,
}

#[derive(Clone, Debug)]
pub struct OutputSpec {
    /// What the summary calls it.
    pub name: String,
    pub sink: SinkSpec,
    pub format: Format,
    pub carries: Carries,
    pub min_priority: Priority,
    pub delivery: DeliveryOptions,
    /// Spool directory and its bound (remote outputs only).
    pub spool: Option<(PathBuf, u64)>,
}

#[derive(Clone, Debug)]
pub enum SinkSpec {
    Stdout,
    File(FileSpec),
    Syslog(SyslogTarget),
    Http(HttpSettings),
}

impl SinkSpec {
    pub fn is_remote(&self) -> bool {
        matches!(self, SinkSpec::Syslog(_) | SinkSpec::Http(_))
    }
}

impl OutputsConfig {
    /// Whether any output takes alerts / flow records.
    pub fn carries_alerts(&self) -> bool {
        self.outputs.iter().any(|o| o.carries.alerts())
    }
    pub fn carries_flows(&self) -> bool {
        self.outputs.iter().any(|o| o.carries.flows())
    }
}

/// The outputs of `replay`: the `--config` file's, then the flags'.  `rules` says
/// whether rules run: without them and without any output taking alerts, alerts are
/// not written; with them, alerts go to stdout unless an output takes them.
pub fn outputs(args: &ReplayArgs, hostname: &str) -> Result<OutputsConfig, String> {
    outputs_from(&args.output, args.rule.no_rules, hostname)
}

/// The outputs of a run (`replay` or `watch`) from the shared output flags: the
/// `--config` file's, then the flags'.  `no_rules`: no alerts will be raised, so
/// alerts do not default to stdout.
pub fn outputs_from(
    args: &OutputArgs,
    no_rules: bool,
    hostname: &str,
) -> Result<OutputsConfig, String> {
    let mut cfg = OutputsConfig {
        outputs: Vec::new(),
        flush_timeout: DEFAULT_FLUSH_TIMEOUT,
    };
    if let Some(path) = &args.config {
        let raw = file::load(path)?;
        let name = path.display().to_string();
        from_raw(raw, hostname, &mut cfg).map_err(|e| format!("{name}: {e}"))?;
    }
    from_flags(args, no_rules, hostname, &mut cfg)?;
    check_overlaps(&cfg)?;
    Ok(cfg)
}

fn parse_format(s: Option<&str>, at: &str) -> Result<Format, String> {
    match s {
        None => Ok(Format::Native),
        Some(s) => s.parse().map_err(|e: String| format!("{at}: {e}")),
    }
}

fn from_raw(raw: RawConfig, hostname: &str, cfg: &mut OutputsConfig) -> Result<(), String> {
    if let Some(t) = raw.flush_timeout {
        if !(0.0..=3600.0).contains(&t) {
            return Err(format!(
                "flush_timeout: {t} is not between 0 and 3600 seconds"
            ));
        }
        cfg.flush_timeout = Duration::from_secs_f64(t);
    }
    for (i, o) in raw.outputs.into_iter().enumerate() {
        cfg.outputs.push(output(i, o, hostname)?);
    }
    Ok(())
}

fn output(i: usize, o: RawOutput, hostname: &str) -> Result<OutputSpec, String> {
    let at = format!("outputs[{i}]");
    let format = parse_format(o.format.as_deref(), &format!("{at}.format"))?;
    let min_priority = match &o.min_priority {
        None => Priority::Debug,
        Some(_) if !o.carries.alerts() => {
            return Err(format!(
                "{at}.min_priority: this output carries flows only; min_priority filters alerts"
            ))
        }
        Some(p) => p
            .parse()
            .map_err(|e: String| format!("{at}.min_priority: {e}"))?,
    };
    let sinks = [
        o.stdout.is_some(),
        o.file.is_some(),
        o.syslog.is_some(),
        o.http.is_some(),
    ];
    if sinks.iter().filter(|s| **s).count() != 1 {
        return Err(format!(
            "{at}: give exactly one sink: stdout, file, syslog or http"
        ));
    }
    let delivery = o.delivery.unwrap_or_default();
    let sink = if o.stdout.is_some() {
        SinkSpec::Stdout
    } else if let Some(f) = o.file {
        SinkSpec::File(FileSpec {
            path: f.path,
            max_bytes: match f.max_bytes {
                Some(0) => return Err(format!("{at}.file.max_bytes: must be at least 1")),
                m => m,
            },
            keep: f.keep.unwrap_or(5),
            append: f.append.unwrap_or(true),
        })
    } else if let Some(s) = o.syslog {
        if delivery.timeout.is_some() {
            return Err(format!(
                "{at}.delivery.timeout: only http outputs take a timeout"
            ));
        }
        let mut t: SyslogTarget = s
            .url
            .parse()
            .map_err(|e: String| format!("{at}.syslog.url: {e}"))?;
        t.tls = TlsSettings {
            ca: s.ca,
            cert: s.cert,
            key: s.key,
            server_name: s.server_name,
        };
        check_tls(&t).map_err(|e| format!("{at}.syslog: {e}"))?;
        SinkSpec::Syslog(t)
    } else if let Some(h) = o.http {
        let kind: HttpKind = match &h.kind {
            Some(k) => k
                .parse()
                .map_err(|e: String| format!("{at}.http.kind: {e}"))?,
            None => HttpKind::Webhook,
        };
        SinkSpec::Http(
            HttpSettings {
                url: h.url.clone(),
                kind,
                token: h.token,
                basic: h.basic,
                headers: h.headers.into_iter().collect(),
                gzip: h.gzip,
                batch: delivery.batch.unwrap_or(500),
                timeout: timeout(delivery.timeout, &at)?,
                index: h.index.unwrap_or_else(|| DEFAULT_ALERT_INDEX.into()),
                flow_index: h.flow_index.unwrap_or_else(|| DEFAULT_FLOW_INDEX.into()),
                hostname: hostname.to_string(),
            }
            .validate()
            .map_err(|e| format!("{at}.http: {e}"))?,
        )
    } else {
        SinkSpec::Stdout
    };
    let name = o
        .name
        .unwrap_or_else(|| format!("{at} {}", describe(&sink)));
    let (options, spool) = delivery_settings(&delivery, &sink, &at)?;
    Ok(OutputSpec {
        name,
        sink,
        format,
        carries: o.carries,
        min_priority,
        delivery: options,
        spool,
    })
}

fn timeout(t: Option<f64>, at: &str) -> Result<Duration, String> {
    match t {
        None => Ok(Duration::from_secs(10)),
        Some(t) if (0.1..=600.0).contains(&t) => Ok(Duration::from_secs_f64(t)),
        Some(t) => Err(format!(
            "{at}.delivery.timeout: {t} is not between 0.1 and 600 seconds"
        )),
    }
}

fn delivery_settings(
    d: &RawDelivery,
    sink: &SinkSpec,
    at: &str,
) -> Result<(DeliveryOptions, Option<(PathBuf, u64)>), String> {
    let given = d.queue.is_some()
        || d.batch.is_some()
        || d.timeout.is_some()
        || d.spool_dir.is_some()
        || d.spool_max_bytes.is_some();
    if given && !sink.is_remote() {
        return Err(format!(
            "{at}.delivery: only syslog and http outputs have delivery settings (stdout and files are written directly)"
        ));
    }
    let mut o = DeliveryOptions::default();
    if let Some(q) = d.queue {
        if !(1..=10_000_000).contains(&q) {
            return Err(format!(
                "{at}.delivery.queue: {q} is not between 1 and 10000000"
            ));
        }
        o.queue = q;
    }
    if let Some(b) = d.batch {
        if !(1..=10_000).contains(&b) {
            return Err(format!(
                "{at}.delivery.batch: {b} is not between 1 and 10000"
            ));
        }
        o.batch = Some(b);
    }
    if d.spool_max_bytes.is_some() && d.spool_dir.is_none() {
        return Err(format!("{at}.delivery.spool_max_bytes: needs spool_dir"));
    }
    let spool = d
        .spool_dir
        .clone()
        .map(|p| (p, d.spool_max_bytes.unwrap_or(DEFAULT_SPOOL_MAX_BYTES)));
    Ok((o, spool))
}

fn describe(s: &SinkSpec) -> String {
    match s {
        SinkSpec::Stdout => "stdout".into(),
        SinkSpec::File(f) => format!("file {}", f.path.display()),
        SinkSpec::Syslog(t) => format!("syslog {}", t.addr),
        SinkSpec::Http(h) => format!("http {}", h.url),
    }
}

fn local_sink(target: &str) -> SinkSpec {
    if target == "-" {
        SinkSpec::Stdout
    } else {
        // The flags start their files afresh (as they always have); no rotation.
        SinkSpec::File(FileSpec {
            path: PathBuf::from(target),
            max_bytes: None,
            keep: 0,
            append: false,
        })
    }
}

fn from_flags(
    args: &OutputArgs,
    no_rules: bool,
    hostname: &str,
    cfg: &mut OutputsConfig,
) -> Result<(), String> {
    let alerts_format: Format = args
        .alerts_format
        .parse()
        .map_err(|e: String| format!("--alerts-format: {e}"))?;
    let flows_format: Format = args
        .flows_format
        .parse()
        .map_err(|e: String| format!("--flows-format: {e}"))?;
    if args.spool_dir.is_some() && args.syslog.is_none() && args.http.is_none() {
        return Err("--spool-dir needs an output to spool for (--syslog or --http)".into());
    }
    let spool = |sub: &str| {
        args.spool_dir
            .as_ref()
            .map(|d| (d.join(sub), args.spool_max_bytes))
    };
    let flag_output = |name: String, sink: SinkSpec, format: Format, carries: Carries| OutputSpec {
        name,
        sink,
        format,
        carries,
        min_priority: Priority::Debug,
        delivery: DeliveryOptions::default(),
        spool: None,
    };
    if let Some(url) = &args.syslog {
        let mut target: SyslogTarget = url
            .parse()
            .map_err(|e: String| format!("--syslog {url}: {e}"))?;
        target.tls = TlsSettings {
            ca: args.syslog_ca.clone(),
            cert: args.syslog_cert.clone(),
            key: args.syslog_key.clone(),
            server_name: args.syslog_server_name.clone(),
        };
        check_tls(&target).map_err(|e| format!("--syslog {url}: {e}"))?;
        let mut o = flag_output(
            format!("syslog {}", target.addr),
            SinkSpec::Syslog(target),
            alerts_format,
            Carries::Alerts,
        );
        o.spool = spool("syslog");
        cfg.outputs.push(o);
    }
    if let Some(url) = &args.http {
        let kind: HttpKind = args
            .http_kind
            .parse()
            .map_err(|e: String| format!("--http-kind: {e}"))?;
        let headers = args
            .http_headers
            .iter()
            .map(|h| parse_header(h))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("--http-header: {e}"))?;
        let settings = HttpSettings {
            url: url.clone(),
            kind,
            token: args.http_token.clone(),
            basic: args.http_basic.clone(),
            headers,
            gzip: args.http_gzip,
            batch: args.http_batch,
            timeout: Duration::from_secs_f64(args.http_timeout.clamp(0.1, 600.0)),
            index: args.http_index.clone(),
            flow_index: DEFAULT_FLOW_INDEX.into(),
            hostname: hostname.to_string(),
        }
        .validate()
        .map_err(|e| format!("--http {url}: {e}"))?;
        let mut o = flag_output(
            format!("http {}", settings.url),
            SinkSpec::Http(settings),
            alerts_format,
            Carries::Alerts,
        );
        o.spool = spool("http");
        cfg.outputs.push(o);
    }
    if let Some(f) = &args.flows {
        cfg.outputs.push(flag_output(
            format!("flows {}", if f == "-" { "stdout" } else { f }),
            local_sink(f),
            flows_format,
            Carries::Flows,
        ));
    }
    // Alerts go to stdout unless told otherwise, or unless an output takes them.
    let alerts = match &args.alerts {
        Some(a) => Some(a.as_str()),
        None if !no_rules && !cfg.carries_alerts() => Some("-"),
        None => None,
    };
    if let Some(a) = alerts {
        cfg.outputs.push(flag_output(
            format!("alerts {}", if a == "-" { "stdout" } else { a }),
            local_sink(a),
            alerts_format,
            Carries::Alerts,
        ));
    }
    Ok(())
}

/// Two outputs writing one file, or sharing one spool, would corrupt each other;
/// two with one name would be one line in the summary.
fn check_overlaps(cfg: &OutputsConfig) -> Result<(), String> {
    let mut files: Vec<(&Path, &str)> = Vec::new();
    let mut spools: Vec<(&Path, &str)> = Vec::new();
    for (i, o) in cfg.outputs.iter().enumerate() {
        if cfg.outputs[..i].iter().any(|p| p.name == o.name) {
            return Err(format!(
                "two outputs are named {:?}: names must differ",
                o.name
            ));
        }
        // /dev/null takes any number of writers (benchmarks send flows and alerts there).
        let file = match &o.sink {
            SinkSpec::File(f) if f.path != Path::new("/dev/null") => Some(f),
            _ => None,
        };
        if let Some(f) = file {
            if let Some((_, other)) = files.iter().find(|(p, _)| *p == f.path.as_path()) {
                return Err(format!(
                    "outputs {other:?} and {:?} both write {}",
                    o.name,
                    f.path.display()
                ));
            }
            files.push((&f.path, &o.name));
        }
        if let Some((dir, _)) = &o.spool {
            if let Some((_, other)) = spools.iter().find(|(p, _)| *p == dir.as_path()) {
                return Err(format!(
                    "outputs {other:?} and {:?} share the spool directory {}: give each its own",
                    o.name,
                    dir.display()
                ));
            }
            spools.push((dir, &o.name));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
