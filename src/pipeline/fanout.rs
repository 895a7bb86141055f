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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a reload waits for every fan-out to move to the new outputs (a watch
/// worker does within its 200 ms tick) before it drains the removed ones anyway.
const SWITCH_WAIT: Duration = Duration::from_secs(2);

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

/// Whether a reload may keep `old` running in place of `new`: the same name (a
/// default name's `outputs[N]` position left out, so moving an output in the list
/// does not restart it) and exactly the same settings (sink and its destination,
/// TLS and HTTP settings, format, what it carries, minimum priority, delivery
/// options, spool).  The settings are compared as their `Debug` text, which
/// names every field, so a field added later is compared too.
pub fn same_output(old: &OutputSpec, new: &OutputSpec) -> bool {
    fn strip(name: &str) -> &str {
        match name.strip_prefix("outputs[") {
            Some(rest) => match rest.split_once("] ") {
                Some((n, tail)) if n.bytes().all(|b| b.is_ascii_digit()) => tail,
                _ => name,
            },
            None => name,
        }
    }
    let settings = |o: &OutputSpec| {
        format!(
            "{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
            o.sink, o.format, o.carries, o.min_priority, o.delivery, o.spool
        )
    };
    strip(&old.name) == strip(&new.name) && settings(old) == settings(new)
}

/// What a reload changed, by output name.
#[derive(Default)]
pub struct ReloadReport {
    pub kept: Vec<String>,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// The added remote outputs' live counters (for `/metrics`).
    pub added_counters: Vec<(String, Arc<Counters>)>,
    /// Removed outputs: events they could not deliver before they stopped (lost,
    /// counted in their own counters) and events left in their spool.
    pub removed_lost: u64,
    pub removed_spooled: u64,
    /// Whether every fan-out had moved to the new outputs before the old ones were
    /// stopped (if not, what a late worker sent them is counted as dropped).
    pub switched_in_time: bool,
    /// Outputs that took over a file or spool and could not open it.
    pub errors: Vec<String>,
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

    /// Replaces the outputs with `cfg`'s: outputs that stay the same
    /// ([`same_output`]) keep running untouched; new ones are started, and only
    /// if all of them start is the new set put in force (else nothing changes and
    /// the error names the output).  Then waits until every fan-out has moved
    /// (normally one worker tick, at most [`SWITCH_WAIT`]) and gives the outputs
    /// removed `cfg.flush_timeout` to deliver what they hold, like at the end of a
    /// run.
    pub fn reload(&mut self, cfg: &OutputsConfig) -> Result<ReloadReport, String> {
        let mut old: Vec<Option<Started>> = std::mem::take(&mut self.started)
            .into_iter()
            .map(Some)
            .collect();
        // Which old output each new one keeps, if any.
        let mut keep: Vec<Option<usize>> = Vec::new();
        for o in &cfg.outputs {
            let i = old
                .iter()
                .enumerate()
                .find(|(i, s)| {
                    !keep.contains(&Some(*i)) && s.as_ref().is_some_and(|s| same_output(&s.spec, o))
                })
                .map(|(i, _)| i);
            keep.push(i);
        }
        let leaving: Vec<&OutputSpec> = old
            .iter()
            .enumerate()
            .filter(|(i, _)| !keep.contains(&Some(*i)))
            .filter_map(|(_, s)| s.as_ref().map(|s| &s.spec))
            .collect();
        // A new output that shares a spool or a file with one leaving takes lines
        // from the switch on, and opens them once the one leaving has closed them.
        let defer: Vec<bool> = cfg
            .outputs
            .iter()
            .zip(&keep)
            .map(|(o, k)| k.is_none() && leaving.iter().any(|l| shared_resource(l, o)))
            .collect();
        let mut fresh: Vec<Option<(Started, Option<Deferred>)>> = Vec::new();
        for ((o, k), d) in cfg.outputs.iter().zip(&keep).zip(&defer) {
            if k.is_some() {
                fresh.push(None);
                continue;
            }
            match start_or_defer(o, &self.hostname, *d) {
                Ok(s) => fresh.push(Some(s)),
                Err(e) => {
                    stop_all(
                        fresh.into_iter().flatten().map(|(s, _)| s).collect(),
                        Duration::ZERO,
                    );
                    self.started = old.into_iter().flatten().collect();
                    return Err(e);
                }
            }
        }
        let mut report = ReloadReport::default();
        let mut deferred = Vec::new();
        for (k, f) in keep.iter().zip(fresh) {
            let s = match (k, f) {
                (Some(i), _) => match old.get_mut(*i).and_then(Option::take) {
                    Some(s) => {
                        report.kept.push(s.spec.name.clone());
                        s
                    }
                    None => continue,
                },
                (None, Some((s, later))) => {
                    report.added.push(s.spec.name.clone());
                    if let Some((d, _)) = &s.remote {
                        report.added_counters.push((d.name.clone(), d.counters()));
                    }
                    if let Some(later) = later {
                        if let Deferred::Remote { prepared, .. } = &later {
                            report
                                .added_counters
                                .push((s.spec.name.clone(), prepared.counters()));
                        }
                        deferred.push((self.started.len(), later));
                    }
                    s
                }
                (None, None) => continue,
            };
            self.started.push(s);
        }
        let routes = Arc::new(self.started.iter().map(|s| s.route.clone()).collect());
        let mut previous = self.slot.publish(routes);
        let removed: Vec<Started> = old.into_iter().flatten().collect();
        report.removed = removed.iter().map(|s| s.spec.name.clone()).collect();
        // Every fan-out moves at its next event or flush (a watch worker flushes
        // at least every tick); until then the old outputs must keep taking lines.
        let deadline = Instant::now() + SWITCH_WAIT;
        while Arc::get_mut(&mut previous).is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        report.switched_in_time = Arc::get_mut(&mut previous).is_some();
        drop(previous);
        let (errors, stats) = finish_all(removed, cfg.flush_timeout);
        for (_, _, st) in &stats {
            report.removed_lost += st.lost();
            report.removed_spooled += st.spooled_at_exit;
        }
        self.retired_errors.extend(errors);
        // The summary's line for a removed output says so (a new output may have
        // taken its name).
        self.retired.extend(
            stats
                .into_iter()
                .map(|(n, what, st)| (format!("{n} (until a reload removed it)"), what, st)),
        );
        for (i, later) in deferred {
            if let Some(s) = self.started.get_mut(i) {
                if let Err(e) = attach(s, later) {
                    report.errors.push(e);
                }
            }
        }
        Ok(report)
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

/// Whether `a` and `b` would both use one spool directory or one file.
fn shared_resource(a: &OutputSpec, b: &OutputSpec) -> bool {
    let spool = matches!((&a.spool, &b.spool), (Some((da, _)), Some((db, _))) if da == db);
    let file = matches!((&a.sink, &b.sink), (SinkSpec::File(fa), SinkSpec::File(fb)) if fa.path == fb.path);
    spool || file
}

/// What an output a reload adds still has to do once the output it replaces has
/// let go of their shared file or spool.
enum Deferred {
    File {
        writer: Arc<SharedWriter>,
        held: Held,
        spec: FileSpec,
    },
    Remote {
        prepared: Prepared,
        transport: Box<dyn Transport>,
    },
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

/// Finishes starting a deferred output `s`: opens its file (writing first what it
/// held) or its spool and starts its thread.  An error is returned for the log; the
/// output then counts what it cannot take (a file reports a write error at the
/// end; an output without its spool delivers from memory).
fn attach(s: &mut Started, later: Deferred) -> Result<(), String> {
    match later {
        Deferred::File { writer, held, spec } => match RotatingFile::open(spec.clone()) {
            Ok(f) => {
                writer.attach(Box::new(f), &held);
                Ok(())
            }
            Err(e) => {
                let msg = format!("{}: cannot open {}: {e}", s.spec.name, spec.path.display());
                writer.fail(std::io::Error::other(msg.clone()));
                Err(msg)
            }
        },
        Deferred::Remote {
            prepared,
            transport,
        } => {
            let mut problem = None;
            let spool = match &s.spec.spool {
                Some((dir, max)) => match Spool::open(dir, *max) {
                    Ok(sp) => Some(sp),
                    Err(e) => {
                        problem = Some(format!(
                            "{}; delivering without it",
                            spool_error(&s.spec, &e)
                        ));
                        None
                    }
                },
                None => None,
            };
            match Delivery::start_prepared(prepared, transport, spool) {
                Ok(d) => s.remote = Some((d, noun(s.spec.carries))),
                Err(e) => {
                    return Err(format!(
                        "{}: cannot start its thread: {e}; what it is sent is dropped and counted",
                        s.spec.name
                    ))
                }
            }
            problem.map_or(Ok(()), Err)
        }
    }
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

    fn emit(
        &mut self,
        kind: Kind,
        severity: u8,
        time: i64,
        take: impl Fn(&Route) -> bool,
        mut line: impl FnMut(Format, &mut Vec<u8>),
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
    /// its attribution keys); other formats map the record with `ctx`, live mode's
    /// attribution, in their own fields.
    pub fn flow_native_with(
        &mut self,
        r: &FlowRecord,
        ctx: &FlowContext<'_>,
        native: impl Fn(&mut Vec<u8>),
    ) {
        let host = self.hostname.clone();
        self.emit(
            Kind::Flow,
            FLOW_SEVERITY,
            r.end,
            |route| route.flows,
            |f, out| match f {
                Format::Native => native(out),
                _ => f.flow_line_with(r, &host, Some(ctx), out),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Carries;
    use std::path::Path;

    fn file(name: &str, path: &Path, format: Format) -> OutputSpec {
        OutputSpec {
            name: name.into(),
            sink: SinkSpec::File(FileSpec {
                path: path.into(),
                max_bytes: None,
                keep: 5,
                append: true,
            }),
            format,
            carries: Carries::Flows,
            min_priority: Priority::Debug,
            delivery: Default::default(),
            spool: None,
        }
    }

    fn config(outputs: Vec<OutputSpec>) -> OutputsConfig {
        OutputsConfig {
            outputs,
            flush_timeout: Duration::from_secs(5),
        }
    }

    /// The uids of the flow lines in `p`.
    fn uids(p: &Path) -> Vec<String> {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["uid"].as_str().unwrap_or_default().to_string()
            })
            .collect()
    }

    fn flow(f: &mut Fanout, uid: &str) {
        let mut r = crate::sinks::format::tests::record();
        r.uid = uid.into();
        f.flow(&r);
    }

    #[test]
    fn reload_keeps_an_unchanged_output_and_moves_the_rest_without_loss() {
        let dir = tempfile::tempdir().unwrap();
        let (k, a, b) = (
            dir.path().join("k.jsonl"),
            dir.path().join("a.jsonl"),
            dir.path().join("b.jsonl"),
        );
        let before = config(vec![
            file("outputs[0] file k", &k, Format::Native),
            file("outputs[1] file a", &a, Format::Native),
        ]);
        // k moves to the second place: its default name changes with it, and it is
        // still the same output.
        let after = config(vec![
            file("outputs[0] file b", &b, Format::Native),
            file("outputs[1] file k", &k, Format::Native),
        ]);
        let mut outputs = Outputs::start(&before, "h").unwrap();
        let mut f = outputs.flow_fanout();
        let slot = outputs.slot.clone();
        // Buffered, not yet written when the reload starts.
        for u in ["c1", "c2", "c3"] {
            flow(&mut f, u);
        }
        let reload = std::thread::spawn(move || {
            let r = outputs.reload(&after);
            (outputs, r)
        });
        while slot.version.load(Ordering::Acquire) == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        // The new set is in force: this fan-out moves at its next event.
        for u in ["c4", "c5"] {
            flow(&mut f, u);
        }
        f.flush();
        let (outputs, report) = reload.join().unwrap();
        let report = report.unwrap();
        assert_eq!(report.kept, ["outputs[0] file k"]);
        assert_eq!(report.added, ["outputs[0] file b"]);
        assert_eq!(report.removed, ["outputs[1] file a"]);
        assert!(report.switched_in_time);
        flow(&mut f, "c6");
        drop(f);
        let (errors, _) = outputs.finish(Duration::ZERO);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(uids(&k), ["c1", "c2", "c3", "c4", "c5", "c6"]);
        assert_eq!(uids(&a), ["c1", "c2", "c3"]);
        assert_eq!(uids(&b), ["c4", "c5", "c6"]);
    }

    /// Runs `outputs.reload(after)` on a thread while `f` sends `before` (buffered
    /// when the reload starts) and, once the new set is published, `after_uids`.
    fn reload_while_sending(
        mut outputs: Outputs,
        after: OutputsConfig,
        f: &mut Fanout,
        before: &[&str],
        after_uids: &[&str],
    ) -> (Outputs, ReloadReport) {
        let slot = outputs.slot.clone();
        let v0 = slot.version.load(Ordering::Acquire);
        for u in before {
            flow(f, u);
        }
        let reload = std::thread::spawn(move || {
            let r = outputs.reload(&after);
            (outputs, r)
        });
        while slot.version.load(Ordering::Acquire) == v0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        for u in after_uids {
            flow(f, u);
        }
        f.flush();
        let (outputs, report) = reload.join().unwrap();
        (outputs, report.unwrap())
    }

    #[test]
    fn reload_switches_a_file_in_place_when_only_its_format_changes() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.jsonl");
        let before = config(vec![file("events", &a, Format::Native)]);
        let after = config(vec![file("events", &a, Format::Ecs)]);
        let outputs = Outputs::start(&before, "h").unwrap();
        let mut f = outputs.flow_fanout();
        let (outputs, report) =
            reload_while_sending(outputs, after, &mut f, &["c1", "c2"], &["c3", "c4"]);
        assert_eq!(
            (report.added, report.removed),
            (vec!["events".to_string()], vec!["events".to_string()])
        );
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        flow(&mut f, "c5");
        drop(f);
        let (errors, _) = outputs.finish(Duration::ZERO);
        assert!(errors.is_empty(), "{errors:?}");
        // The native lines the old output wrote, then the ECS ones, in order.
        let ids: Vec<String> = std::fs::read_to_string(&a)
            .unwrap()
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                match v["uid"].as_str() {
                    Some(u) => format!("native {u}"),
                    None => format!("ecs {}", v["event"]["id"].as_str().unwrap_or("?")),
                }
            })
            .collect();
        assert_eq!(
            ids,
            ["native c1", "native c2", "ecs c3", "ecs c4", "ecs c5"]
        );
    }

    #[test]
    fn reload_hands_a_spool_to_the_output_that_replaces_its_owner() {
        let dir = tempfile::tempdir().unwrap();
        let spool = dir.path().join("spool");
        let (r1, r2) = (
            std::net::UdpSocket::bind("127.0.0.1:0").unwrap(),
            std::net::UdpSocket::bind("127.0.0.1:0").unwrap(),
        );
        let syslog = |name: &str, to: &std::net::UdpSocket| OutputSpec {
            name: name.into(),
            sink: SinkSpec::Syslog(
                format!("udp://{}", to.local_addr().unwrap())
                    .parse()
                    .unwrap(),
            ),
            format: Format::Native,
            carries: Carries::Flows,
            min_priority: Priority::Debug,
            delivery: Default::default(),
            spool: Some((spool.clone(), 1 << 20)),
        };
        let before = config(vec![syslog("siem", &r1)]);
        let after = config(vec![syslog("siem", &r2)]);
        let outputs = Outputs::start(&before, "h").unwrap();
        let mut f = outputs.flow_fanout();
        let (outputs, report) =
            reload_while_sending(outputs, after, &mut f, &["c1", "c2"], &["c3"]);
        assert_eq!(report.removed, ["siem"]);
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        assert_eq!(report.removed_lost, 0);
        flow(&mut f, "c4");
        drop(f);
        let (_, stats) = outputs.finish(Duration::from_secs(5));
        let got = |s: &std::net::UdpSocket| {
            s.set_read_timeout(Some(Duration::from_millis(300)))
                .unwrap();
            let mut uids = Vec::new();
            let mut buf = [0u8; 4096];
            while let Ok(n) = s.recv(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]).to_string();
                let uid = text
                    .split("\"uid\":\"")
                    .nth(1)
                    .and_then(|t| t.split('"').next());
                uids.push(uid.unwrap_or("?").to_string());
            }
            uids
        };
        assert_eq!(got(&r1), ["c1", "c2"]);
        assert_eq!(got(&r2), ["c3", "c4"]);
        // Both outputs' counters reach the summary: the old one's first.
        let sent: Vec<u64> = stats.iter().map(|(_, _, s)| s.sent).collect();
        assert_eq!(sent, [2, 2]);
        assert!(stats.iter().all(|(_, _, s)| s.lost() == 0));
    }

    #[test]
    fn a_removed_output_that_cannot_deliver_counts_its_events_as_dropped() {
        // A port nothing listens on: every send fails and is retried.
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let siem = OutputSpec {
            name: "siem".into(),
            sink: SinkSpec::Syslog(format!("tcp://{closed}").parse().unwrap()),
            format: Format::Native,
            carries: Carries::Flows,
            min_priority: Priority::Debug,
            delivery: Default::default(),
            spool: None,
        };
        let outputs = Outputs::start(&config(vec![siem]), "h").unwrap();
        let mut f = outputs.flow_fanout();
        let after = OutputsConfig {
            outputs: Vec::new(),
            flush_timeout: Duration::from_millis(300),
        };
        let (outputs, report) =
            reload_while_sending(outputs, after, &mut f, &["c1", "c2", "c3"], &["c4"]);
        assert_eq!(report.removed, ["siem"]);
        assert_eq!(report.removed_lost, 3);
        drop(f);
        let (_, stats) = outputs.finish(Duration::ZERO);
        let (name, _, st) = &stats[0];
        assert_eq!(name, "siem (until a reload removed it)");
        assert_eq!((st.sent, st.undelivered_at_exit, st.lost()), (0, 3, 3));
    }

    #[test]
    fn same_output_means_same_settings_whatever_the_position() {
        let p = Path::new("/tmp/x.jsonl");
        let o = file("outputs[3] file /tmp/x.jsonl", p, Format::Native);
        assert!(same_output(
            &o,
            &file("outputs[0] file /tmp/x.jsonl", p, Format::Native)
        ));
        assert!(!same_output(
            &o,
            &file("outputs[3] file /tmp/x.jsonl", p, Format::Cef)
        ));
        assert!(!same_output(
            &o,
            &file(
                "outputs[3] file /tmp/y.jsonl",
                Path::new("/tmp/y.jsonl"),
                Format::Native
            )
        ));
        let mut named = file("siem", p, Format::Native);
        assert!(!same_output(&o, &named));
        named.min_priority = Priority::Warning;
        assert!(!same_output(&file("siem", p, Format::Native), &named));
    }
}
