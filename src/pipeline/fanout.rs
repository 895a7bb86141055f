//! Fan-out of flow records and alerts to the configured outputs.  [`Outputs`] starts
//! every output of a [`crate::config::OutputsConfig`] (stdout and files as shared
//! writers, syslog and HTTP as [`Delivery`] threads with their queues and spools)
//! and stops them at the end; each worker gets its own [`Fanout`], which formats a
//! record or alert once per format in use and hands the line to every output that
//! takes it (by kind and, for alerts, by minimum priority).
//!
//! Lines for stdout and files collect in the worker's own buffer per output and go
//! to the shared writer in chunks (at [`CHUNK`] bytes and after every batch), so
//! workers never contend per record; remote outputs get a [`Message`] on their
//! queue, which never blocks.

use super::output::{SharedWriter, CHUNK};
use crate::config::{OutputSpec, OutputsConfig, SinkSpec};
use crate::flow::record::FlowRecord;
use crate::rules::{Alert, Priority};
use crate::sinks::delivery::{Counters, Delivery, Kind, Message, OutputHandle, SenderStats};
use crate::sinks::file_out::RotatingFile;
use crate::sinks::format::{syslog_severity, Format};
use crate::sinks::http_out::HttpOut;
use crate::sinks::syslog_out::SyslogOut;
use std::sync::Arc;
use std::time::Duration;

/// Syslog severity of a flow record (informational).
const FLOW_SEVERITY: u8 = 6;
const FORMATS: [Format; 4] = [Format::Native, Format::Ecs, Format::Ocsf, Format::Cef];

fn format_index(f: Format) -> usize {
    FORMATS.iter().position(|x| *x == f).unwrap_or(0)
}

#[derive(Clone)]
enum Target {
    Local(Arc<SharedWriter>),
    Remote(OutputHandle),
}

#[derive(Clone)]
struct Route {
    format: Format,
    alerts: bool,
    flows: bool,
    min_priority: Priority,
    target: Target,
}

/// Every output of a run, started.
pub struct Outputs {
    routes: Vec<Route>,
    local: Vec<(String, Arc<SharedWriter>)>,
    /// Remote outputs, with what they carry ("alerts", "flow records", ...).
    remote: Vec<(Delivery, &'static str)>,
    hostname: Arc<str>,
}

/// How an output's summary lines name what it carries.
fn noun(c: crate::config::Carries) -> &'static str {
    match (c.alerts(), c.flows()) {
        (true, true) => "alerts and flow records",
        (false, true) => "flow records",
        _ => "alerts",
    }
}

impl Outputs {
    /// Opens the files and starts the remote outputs; an error names the output.
    pub fn start(cfg: &OutputsConfig, hostname: &str) -> Result<Outputs, String> {
        let mut out = Outputs {
            routes: Vec::new(),
            local: Vec::new(),
            remote: Vec::new(),
            hostname: hostname.into(),
        };
        for o in &cfg.outputs {
            let target = out.start_one(o, hostname)?;
            out.routes.push(Route {
                format: o.format,
                alerts: o.carries.alerts(),
                flows: o.carries.flows(),
                min_priority: o.min_priority,
                target,
            });
        }
        Ok(out)
    }

    fn start_one(&mut self, o: &OutputSpec, hostname: &str) -> Result<Target, String> {
        let (transport, counters): (Box<dyn crate::sinks::delivery::Transport>, _) = match &o.sink {
            SinkSpec::Stdout => {
                let w = Arc::new(SharedWriter::new(
                    "stdout".into(),
                    Box::new(std::io::stdout()),
                ));
                self.local.push((o.name.clone(), w.clone()));
                return Ok(Target::Local(w));
            }
            SinkSpec::File(f) => {
                let file = RotatingFile::open(f.clone())
                    .map_err(|e| format!("{}: cannot open {}: {e}", o.name, f.path.display()))?;
                let w = Arc::new(SharedWriter::new(
                    f.path.display().to_string(),
                    Box::new(file),
                ));
                self.local.push((o.name.clone(), w.clone()));
                return Ok(Target::Local(w));
            }
            SinkSpec::Syslog(t) => {
                let counters = Arc::new(Counters::default());
                let mut out = SyslogOut::new(t.clone(), hostname, counters.clone());
                if t.transport == crate::sinks::syslog_out::SyslogTransportKind::Tls {
                    let c = t
                        .tls
                        .client(crate::sinks::tls::host_of(&t.addr))
                        .map_err(|e| format!("{}: {e}", o.name))?;
                    out = out.with_tls(c);
                }
                let t = out;
                (Box::new(t), counters)
            }
            SinkSpec::Http(h) => (Box::new(HttpOut::new(h.clone())), Arc::default()),
        };
        let d = Delivery::start_with(
            o.name.clone(),
            transport,
            counters,
            o.spool.as_ref().map(|(d, m)| (d.as_path(), *m)),
            o.delivery,
        )
        .map_err(|e| {
            let dir = o
                .spool
                .as_ref()
                .map(|(d, _)| d.display().to_string())
                .unwrap_or_default();
            format!("{}: cannot open the spool in {dir}: {e}", o.name)
        })?;
        let h = d
            .handle()
            .ok_or_else(|| format!("{}: output not running", o.name))?;
        self.remote.push((d, noun(o.carries)));
        Ok(Target::Remote(h))
    }

    /// Each remote output's name and live counters (for `/metrics`).
    pub fn remote_counters(&self) -> Vec<(String, Arc<crate::sinks::delivery::Counters>)> {
        self.remote
            .iter()
            .map(|(d, _)| (d.name.clone(), d.counters()))
            .collect()
    }

    /// A worker's fan-out for alerts, when any output takes them.
    pub fn alerts(&self) -> Option<Fanout> {
        self.fanout(|r| r.alerts)
    }

    /// A worker's fan-out for flow records, when any output takes them.
    pub fn flows(&self) -> Option<Fanout> {
        self.fanout(|r| r.flows)
    }

    fn fanout(&self, keep: impl Fn(&Route) -> bool) -> Option<Fanout> {
        let routes: Vec<Route> = self.routes.iter().filter(|r| keep(r)).cloned().collect();
        (!routes.is_empty()).then(|| Fanout::new(routes, self.hostname.clone()))
    }

    /// Ends the run's outputs, after every [`Fanout`] was flushed and dropped: flushes
    /// the writers, then gives every remote output until `grace` from now (one
    /// deadline for all) to deliver.  Returns the writers' errors and each remote
    /// output's name, what it carries, and counters.
    pub fn finish(
        mut self,
        grace: Duration,
    ) -> (Vec<String>, Vec<(String, &'static str, SenderStats)>) {
        self.routes.clear();
        let errors = self
            .local
            .iter()
            .filter_map(|(_, w)| w.finish().err())
            .collect();
        for (d, _) in &mut self.remote {
            d.begin_finish(grace);
        }
        let stats = self
            .remote
            .iter_mut()
            .map(|(d, what)| (d.name.clone(), *what, d.finish(grace)))
            .collect();
        (errors, stats)
    }

    /// [`Outputs::finish`], then says on stderr what went wrong: write errors, remote
    /// outputs that lost events (not delivered and not spooled), and what was left
    /// in a spool for the next run.  Each remote output's counters join `stats` (the
    /// summary's lines).  Returns whether anything failed or was lost.
    pub fn finish_reporting(self, grace: Duration, stats: &mut crate::stats::RunStats) -> bool {
        let mut failed = false;
        let (write_errors, remote) = self.finish(grace);
        for e in write_errors {
            eprintln!("bridgewatch: error: {e}");
            failed = true;
        }
        for (name, what, st) in remote {
            if st.lost() > 0 {
                eprintln!(
                    "bridgewatch: error: {name}: {} {what} not delivered ({} queue full, {} spool full, {} rejected, {} undelivered at exit)",
                    st.lost(),
                    st.queue_full,
                    st.spool_full,
                    st.rejected,
                    st.undelivered_at_exit
                );
                failed = true;
            }
            if st.spooled_at_exit > 0 {
                eprintln!(
                    "bridgewatch: warning: {name}: {} {what} left in the spool, sent first by the next run with this spool directory",
                    st.spooled_at_exit
                );
            }
            stats.outputs.push((name, st));
        }
        failed
    }
}

/// One worker's view of the outputs taking one kind of event.
pub struct Fanout {
    routes: Vec<Route>,
    /// Per route: lines waiting for its shared writer.
    bufs: Vec<Vec<u8>>,
    hostname: Arc<str>,
    /// The current event in each format, formatted when first needed.
    scratch: Vec<u8>,
    spans: [Option<(usize, usize)>; 4],
}

impl Clone for Fanout {
    fn clone(&self) -> Fanout {
        Fanout::new(self.routes.clone(), self.hostname.clone())
    }
}

impl Fanout {
    fn new(routes: Vec<Route>, hostname: Arc<str>) -> Fanout {
        let bufs = routes.iter().map(|_| Vec::new()).collect();
        Fanout {
            routes,
            bufs,
            hostname,
            scratch: Vec::new(),
            spans: [None; 4],
        }
    }

    fn emit(
        &mut self,
        kind: Kind,
        severity: u8,
        time: i64,
        take: impl Fn(&Route) -> bool,
        mut line: impl FnMut(Format, &mut Vec<u8>),
    ) {
        self.scratch.clear();
        self.spans = [None; 4];
        for (route, buf) in self.routes.iter().zip(self.bufs.iter_mut()) {
            if !take(route) {
                continue;
            }
            let i = format_index(route.format);
            let (s, e) = match self.spans[i] {
                Some(span) => span,
                None => {
                    let s = self.scratch.len();
                    line(route.format, &mut self.scratch);
                    let span = (s, self.scratch.len());
                    self.spans[i] = Some(span);
                    span
                }
            };
            let text = self.scratch.get(s..e).unwrap_or_default();
            match &route.target {
                Target::Local(w) => {
                    buf.extend_from_slice(text);
                    if buf.len() >= CHUNK {
                        w.write_chunk(buf);
                    }
                }
                Target::Remote(h) => h.send(Message {
                    kind,
                    severity,
                    time,
                    body: text.to_vec(),
                }),
            }
        }
    }

    /// Hands `a` to every output that takes alerts of its priority.
    pub fn alert(&mut self, a: &Alert) {
        let p = a.priority;
        self.emit(
            Kind::Alert,
            syslog_severity(p),
            a.time,
            |r| r.alerts && p.passes(r.min_priority),
            |f, out| f.alert_line(a, out),
        );
    }

    /// Hands `r` to every output that takes flow records.
    pub fn flow(&mut self, r: &FlowRecord) {
        let host = self.hostname.clone();
        self.emit(
            Kind::Flow,
            FLOW_SEVERITY,
            r.end,
            |route| route.flows,
            |f, out| f.flow_line(r, &host, out),
        );
    }

    /// Hands `r` to every output that takes flow records, the `native` ones getting
    /// the line `native` writes instead of the plain record (live mode's record with
    /// its attribution keys); other formats map the record as for replay.
    pub fn flow_native_with(&mut self, r: &FlowRecord, native: impl Fn(&mut Vec<u8>)) {
        let host = self.hostname.clone();
        self.emit(
            Kind::Flow,
            FLOW_SEVERITY,
            r.end,
            |route| route.flows,
            |f, out| match f {
                Format::Native => native(out),
                _ => f.flow_line(r, &host, out),
            },
        );
    }

    /// Writes the buffered lines to their writers.
    pub fn flush(&mut self) {
        for (route, buf) in self.routes.iter().zip(self.bufs.iter_mut()) {
            if let Target::Local(w) = &route.target {
                w.write_chunk(buf);
            }
        }
    }
}

impl Drop for Fanout {
    fn drop(&mut self) {
        self.flush();
    }
}
