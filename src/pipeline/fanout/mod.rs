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
//!
//! Reload (`watch`, SIGHUP): [`Outputs::reload`] starts the outputs a new config
//! adds, publishes the new set of routes in a [`RouteSlot`], and each fan-out moves
//! to it at its next event or flush, after handing its buffered lines to the old
//! writers.  An output that stays the same (same name and settings, see
//! [`same_output`]) is the same running writer or [`Delivery`] in both sets, so its
//! queue, spool and the order of its events go on untouched.  Once no fan-out uses
//! the old set (or the flush deadline passed), the outputs it alone had are drained
//! and stopped like at the end of a run, and their counters join the summary.  A
//! new output that uses the same file or spool directory as one leaving (say a
//! syslog output whose URL changed) takes its lines from the switch on but opens
//! the file or spool only once the leaving one has closed it: what the old one
//! left in the spool is then sent by the new one, first.

mod reload;

use super::output::{Held, SharedWriter, CHUNK};
use crate::config::{OutputSpec, OutputsConfig, SinkSpec};
use crate::flow::record::FlowRecord;
use crate::rules::{Alert, Priority};
use crate::sinks::delivery::{
    Counters, Delivery, Kind, Message, OutputHandle, Prepared, SenderStats, Transport,
};
use crate::sinks::file_out::{FileSpec, RotatingFile};
use crate::sinks::format::{syslog_severity, FlowContext, Format};
use crate::sinks::http_out::HttpOut;
use crate::sinks::spool::Spool;
use crate::sinks::syslog_out::SyslogOut;

use reload::Deferred;
pub use reload::{same_output, ReloadReport};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

/// One started output: its settings, its route, and what must be stopped at its end.
struct Started {
    spec: OutputSpec,
    route: Route,
    local: Option<Arc<SharedWriter>>,
    /// A remote output, with what it carries ("alerts", "flow records", ...).
    remote: Option<(Delivery, &'static str)>,
}

/// The routes in force, as the fan-outs see them; replaced whole by a reload.
pub struct RouteSlot {
    version: AtomicU64,
    current: Mutex<Arc<Vec<Route>>>,
}

impl RouteSlot {
    fn current(&self) -> (u64, Arc<Vec<Route>>) {
        let g = match self.current.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        // Read under the lock that `publish` holds while bumping it.
        (self.version.load(Ordering::Acquire), g.clone())
    }

    /// Puts `routes` in force; returns the set it replaced.
    fn publish(&self, routes: Arc<Vec<Route>>) -> Arc<Vec<Route>> {
        let mut g = match self.current.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let old = std::mem::replace(&mut *g, routes);
        self.version.fetch_add(1, Ordering::AcqRel);
        old
    }
}

/// Every output of a run, started.
pub struct Outputs {
    started: Vec<Started>,
    slot: Arc<RouteSlot>,
    hostname: Arc<str>,
    /// Outputs a reload removed: their write errors and final counters, for the
    /// summary at the end.
    retired_errors: Vec<String>,
    retired: Vec<(String, &'static str, SenderStats)>,
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
        let mut started = Vec::new();
        for o in &cfg.outputs {
            match start_one(o, hostname) {
                Ok(s) => started.push(s),
                Err(e) => {
                    stop_all(started, Duration::ZERO);
                    return Err(e);
                }
            }
        }
        let routes = Arc::new(started.iter().map(|s| s.route.clone()).collect());
        Ok(Outputs {
            started,
            slot: Arc::new(RouteSlot {
                version: AtomicU64::new(0),
                current: Mutex::new(routes),
            }),
            hostname: hostname.into(),
            retired_errors: Vec::new(),
            retired: Vec::new(),
        })
    }

    /// Each remote output's name and live counters (for `/metrics`).
    pub fn remote_counters(&self) -> Vec<(String, Arc<crate::sinks::delivery::Counters>)> {
        self.started
            .iter()
            .filter_map(|s| s.remote.as_ref())
            .map(|(d, _)| (d.name.clone(), d.counters()))
            .collect()
    }

    /// A worker's fan-out for alerts, when any output takes them.
    pub fn alerts(&self) -> Option<Fanout> {
        Some(self.fanout(Pick::Alerts)).filter(|f| !f.routes.is_empty())
    }

    /// A worker's fan-out for flow records, when any output takes them.
    pub fn flows(&self) -> Option<Fanout> {
        Some(self.fanout(Pick::Flows)).filter(|f| !f.routes.is_empty())
    }

    /// A worker's fan-out for alerts, even with no output taking them yet: one
    /// a reload may add.
    pub fn alert_fanout(&self) -> Fanout {
        self.fanout(Pick::Alerts)
    }

    /// [`Outputs::alert_fanout`] for flow records.
    pub fn flow_fanout(&self) -> Fanout {
        self.fanout(Pick::Flows)
    }

    fn fanout(&self, pick: Pick) -> Fanout {
        let (version, set) = self.slot.current();
        Fanout::new(self.slot.clone(), version, set, pick, self.hostname.clone())
    }

    /// Ends the run's outputs, after every [`Fanout`] was flushed and dropped: flushes
    /// the writers, then gives every remote output until `grace` from now (one
    /// deadline for all) to deliver.  Returns the writers' errors and each remote
    /// output's name, what it carries, and counters (outputs a reload removed
    /// first, as they ended then).
    pub fn finish(
        mut self,
        grace: Duration,
    ) -> (Vec<String>, Vec<(String, &'static str, SenderStats)>) {
        let (errors, stats) = finish_all(std::mem::take(&mut self.started), grace);
        let mut all_errors = std::mem::take(&mut self.retired_errors);
        all_errors.extend(errors);
        let mut all = std::mem::take(&mut self.retired);
        all.extend(stats);
        (all_errors, all)
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

fn start_one(o: &OutputSpec, hostname: &str) -> Result<Started, String> {
    start_or_defer(o, hostname, false).map(|(s, _)| s)
}

/// Starts output `o`; with `defer`, only as far as taking lines: its file or spool
/// is opened by [`attach`] later.
fn start_or_defer(
    o: &OutputSpec,
    hostname: &str,
    defer: bool,
) -> Result<(Started, Option<Deferred>), String> {
    let local = |w: Arc<SharedWriter>| Started {
        spec: o.clone(),
        route: route(o, Target::Local(w.clone())),
        local: Some(w),
        remote: None,
    };
    let (transport, counters): (Box<dyn Transport>, _) = match &o.sink {
        SinkSpec::Stdout => {
            let w = SharedWriter::new("stdout".into(), Box::new(std::io::stdout()));
            return Ok((local(Arc::new(w)), None));
        }
        SinkSpec::File(f) if defer => {
            let held = Held::default();
            let w = Arc::new(SharedWriter::new(
                f.path.display().to_string(),
                Box::new(held.clone()),
            ));
            let later = Deferred::File {
                writer: w.clone(),
                held,
                spec: f.clone(),
            };
            return Ok((local(w), Some(later)));
        }
        SinkSpec::File(f) => {
            let file = RotatingFile::open(f.clone())
                .map_err(|e| format!("{}: cannot open {}: {e}", o.name, f.path.display()))?;
            let w = SharedWriter::new(f.path.display().to_string(), Box::new(file));
            return Ok((local(Arc::new(w)), None));
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
    if defer {
        let prepared = Delivery::prepare(o.name.clone(), counters, o.delivery);
        let s = Started {
            spec: o.clone(),
            route: route(o, Target::Remote(prepared.handle())),
            local: None,
            remote: None,
        };
        return Ok((
            s,
            Some(Deferred::Remote {
                prepared,
                transport,
            }),
        ));
    }
    let d = Delivery::start_with(
        o.name.clone(),
        transport,
        counters,
        o.spool.as_ref().map(|(d, m)| (d.as_path(), *m)),
        o.delivery,
    )
    .map_err(|e| spool_error(o, &e))?;
    let h = d
        .handle()
        .ok_or_else(|| format!("{}: output not running", o.name))?;
    Ok((
        Started {
            spec: o.clone(),
            route: route(o, Target::Remote(h)),
            local: None,
            remote: Some((d, noun(o.carries))),
        },
        None,
    ))
}

fn spool_error(o: &OutputSpec, e: &std::io::Error) -> String {
    let dir = o
        .spool
        .as_ref()
        .map(|(d, _)| d.display().to_string())
        .unwrap_or_default();
    format!("{}: cannot open the spool in {dir}: {e}", o.name)
}

fn route(o: &OutputSpec, target: Target) -> Route {
    Route {
        format: o.format,
        alerts: o.carries.alerts(),
        flows: o.carries.flows(),
        min_priority: o.min_priority,
        target,
    }
}

/// Flushes the writers, then gives every remote output until `grace` from now (one
/// deadline for all) to deliver; returns the writers' errors and the remote
/// outputs' counters.
fn finish_all(
    mut started: Vec<Started>,
    grace: Duration,
) -> (Vec<String>, Vec<(String, &'static str, SenderStats)>) {
    let errors = started
        .iter()
        .filter_map(|s| s.local.as_ref()?.finish().err())
        .collect();
    for (d, _) in started.iter_mut().filter_map(|s| s.remote.as_mut()) {
        d.begin_finish(grace);
    }
    let stats = started
        .iter_mut()
        .filter_map(|s| s.remote.as_mut())
        .map(|(d, what)| (d.name.clone(), *what, d.finish(grace)))
        .collect();
    (errors, stats)
}

/// Stops outputs that never took an event (a start that failed part way).
fn stop_all(started: Vec<Started>, grace: Duration) {
    let _ = finish_all(started, grace);
}

/// Which events a fan-out hands on.
#[derive(Clone, Copy)]
enum Pick {
    Alerts,
    Flows,
}

impl Pick {
    fn takes(self, r: &Route) -> bool {
        match self {
            Pick::Alerts => r.alerts,
            Pick::Flows => r.flows,
        }
    }
}

/// One worker's view of the outputs taking one kind of event.
pub struct Fanout {
    slot: Arc<RouteSlot>,
    /// The version of the route set in `set`, and that set (held so a reload can
    /// tell when no fan-out uses the old one any more).
    version: u64,
    set: Arc<Vec<Route>>,
    pick: Pick,
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
        Fanout::new(
            self.slot.clone(),
            self.version,
            self.set.clone(),
            self.pick,
            self.hostname.clone(),
        )
    }
}

impl Fanout {
    fn new(
        slot: Arc<RouteSlot>,
        version: u64,
        set: Arc<Vec<Route>>,
        pick: Pick,
        hostname: Arc<str>,
    ) -> Fanout {
        let routes: Vec<Route> = set.iter().filter(|r| pick.takes(r)).cloned().collect();
        let bufs = routes.iter().map(|_| Vec::new()).collect();
        Fanout {
            slot,
            version,
            set,
            pick,
            routes,
            bufs,
            hostname,
            scratch: Vec::new(),
            spans: [None; 4],
        }
    }

    /// Moves to the route set a reload put in force, if there is a newer one: the
    /// lines buffered for the old writers go to them first.
    #[inline]
    fn follow(&mut self) {
        if self.slot.version.load(Ordering::Acquire) != self.version {
            self.switch();
        }
    }

    #[cold]
    fn switch(&mut self) {
        self.write_buffers();
        let (version, set) = self.slot.current();
        self.routes = set.iter().filter(|r| self.pick.takes(r)).cloned().collect();
        self.bufs = self.routes.iter().map(|_| Vec::new()).collect();
        self.set = set;
        self.version = version;
    }

    /// Whether no output takes this fan-out's events (after following a reload).
    pub fn is_empty(&mut self) -> bool {
        self.follow();
        self.routes.is_empty()
    }

    /// Formats the event once per format in use (into `scratch`) and hands the line to
    /// every route `take` accepts.  `line` gets the hostname borrowed: cloning the
    /// `Arc` for the closure was two atomic operations per record.
    fn emit(
        &mut self,
        kind: Kind,
        severity: u8,
        time: i64,
        take: impl Fn(&Route) -> bool,
        mut line: impl FnMut(Format, &str, &mut Vec<u8>),
    ) {
        self.follow();
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
                    line(route.format, &self.hostname, &mut self.scratch);
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
            |f, _, out| f.alert_line(a, out),
        );
    }

    /// Hands `r` to every output that takes flow records.
    pub fn flow(&mut self, r: &FlowRecord) {
        self.emit(
            Kind::Flow,
            FLOW_SEVERITY,
            r.end,
            |route| route.flows,
            |f, host, out| f.flow_line(r, host, out),
        );
    }

    /// Hands `r` to every output that takes flow records, the `native` ones getting
    /// the line `native` writes instead of the plain record (live mode's record with
    /// its attribution keys); other formats map the record with `ctx`, live mode's
    /// attribution, in their own fields.
    pub fn flow_native_with(
        &mut self,
        r: &FlowRecord,
        ctx: &FlowContext<'_>,
        native: impl Fn(&mut Vec<u8>),
    ) {
        self.emit(
            Kind::Flow,
            FLOW_SEVERITY,
            r.end,
            |route| route.flows,
            |f, host, out| match f {
                Format::Native => native(out),
                _ => f.flow_line_with(r, host, Some(ctx), out),
            },
        );
    }

    /// Writes the buffered lines to their writers (and follows a reload).
    pub fn flush(&mut self) {
        self.write_buffers();
        self.follow();
    }

    fn write_buffers(&mut self) {
        for (route, buf) in self.routes.iter().zip(self.bufs.iter_mut()) {
            if let Target::Local(w) = &route.target {
                w.write_chunk(buf);
            }
        }
    }
}

impl Drop for Fanout {
    fn drop(&mut self) {
        self.write_buffers();
    }
}
