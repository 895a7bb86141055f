//! `bridgewatch watch`: live capture on container bridges.  Owns the wiring of the
//! live mode: the capture threads ([`live`], one per interface), the flow workers
//! that replay also runs (sharded tables, the rule hook), the idle ticks that end
//! quiet flows and write interim records on wall-clock time, the attribution of each
//! record ([`records`]), signals, and the summary with per-interface drops.
//!
//! Threads: one per interface reads its libpcap handle, decodes and routes each flow
//! packet by the symmetric flow hash to one of N workers over a bounded channel; each
//! worker owns its table outright.  SIGINT/SIGTERM set a flag: captures stop, the
//! channels close, every worker flushes its open flows and alerts, the summary is
//! printed and the exit status is 0.

pub mod cli;
pub mod discover;
pub mod docker;
pub mod live;
pub mod records;

use crate::decode::DecodeConfig;
use crate::flow::table::TableConfig;
use crate::flow::timeouts::Timeouts;
use crate::metrics::{AlertCounters, Metrics, Ready};
use crate::passive_dns::PassiveDns;
use crate::pipeline::alerts::{AlertCounts, RuleHook};
use crate::pipeline::fanout::Outputs;
use crate::pipeline::worker::{SubBatch, Worker};
use crate::pipeline::FlowHook;
use crate::rules::{
    Engine, EngineOptions, Inventory, NameLookup, NoNames, Priority, RuleSet, SharedInventory,
};
use crate::stats::RunStats;
use crate::time::{Nanos, NANOS_PER_SEC};
use anyhow::{bail, Context, Result};
use cli::WatchArgs;
use crossbeam_channel::{bounded, Receiver, RecvTimeoutError};
use live::{IfaceCounters, LiveSettings};
use records::{RecordWriter, WatchHook};
use std::fmt::Write as _;
use std::hash::BuildHasher;
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often a worker ends quiet flows and writes interim records.
const TICK: Duration = Duration::from_millis(200);
/// After packets, buffered alerts and records are handed on within this long (at
/// most one write per worker per interval, however busy).
const FLUSH_EVERY: Duration = Duration::from_millis(10);
/// Idle ticks move a table's clock to wall time minus this, so packets still queued
/// (in the kernel buffer or a channel) are not older than the clock they meet.
const TICK_LAG: Nanos = NANOS_PER_SEC / 2;
/// Flow packets queued per worker (batches of up to 256) before captures wait.
const QUEUE: usize = 256;

fn wall_now() -> Nanos {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as Nanos)
        .unwrap_or(0)
}

/// Runs `watch` until SIGINT/SIGTERM (or until every capture has ended).
pub fn run(mut args: WatchArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let mut timeouts = Timeouts::default();
    for t in &args.timeouts {
        timeouts
            .set(t)
            .map_err(|e| anyhow::anyhow!("--timeout {e}"))?;
    }
    if args.max_flows == 0 {
        bail!("--max-flows must be at least 1");
    }
    if !(args.active_timeout.is_finite() && args.active_timeout >= 0.0) {
        bail!("--active-timeout must be a number of seconds, 0 or more");
    }
    let active_timeout = (args.active_timeout > 0.0)
        .then_some((args.active_timeout * NANOS_PER_SEC as f64) as Nanos);
    let threads = match args.threads {
        Some(0) => bail!("--threads must be at least 1"),
        Some(n) => n,
        None => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(8),
    };
    // Outputs are validated (and bad flags or a bad --config refused) before
    // anything starts; they are started once the rules have loaded.
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    let config = crate::config::outputs_from(&args.output, args.no_rules, &hostname)
        .map_err(|e| anyhow::anyhow!(e))?;
    if args.interfaces.is_empty() {
        args.interfaces = discover_bridges(args.quiet)?;
    }
    let mut seen = std::collections::HashSet::new();
    for i in &args.interfaces {
        if !seen.insert(i) {
            bail!("-i {i} is given twice: its packets would be counted twice");
        }
    }

    let mut inventory = match &args.containers {
        Some(p) => {
            Inventory::from_json_file(p).map_err(|e| anyhow::anyhow!("--containers: {e}"))?
        }
        None => Inventory::default(),
    };
    // The captured interfaces' own addresses (a bridge's gateway address) are the host.
    if let Ok(devices) = pcap::Device::list() {
        for d in devices.iter().filter(|d| args.interfaces.contains(&d.name)) {
            for a in &d.addresses {
                inventory.add_host_ip(a.addr);
                tracing::info!("{}: {} is a host address", d.name, a.addr);
            }
        }
    }
    let base_inventory = inventory.clone();
    let inventory = Arc::new(SharedInventory::new(Arc::new(inventory)));

    // The endpoint comes up first, so /readyz says what is still missing while the
    // captures open, the rules load and the Docker inventory syncs.
    let live = match &args.listen {
        Some(addr) => {
            let mut needed = vec![Ready::InputsOpen, Ready::RulesLoaded];
            if !args.no_docker {
                needed.push(Ready::InventorySynced);
            }
            Some(crate::metrics::serve(addr, &needed)?)
        }
        None => None,
    };

    // Open every handle before anything else runs: a missing capability or interface
    // stops the run here, with nothing half started.
    let settings = LiveSettings {
        snaplen: args.snaplen.max(128),
        buffer_size: args.buffer_size,
        promisc: !args.no_promisc,
        bpf: args.bpf.clone(),
    };
    let mut captures = Vec::new();
    for i in &args.interfaces {
        captures.push(live::open(i, &settings)?);
    }
    if let Some(m) = &live {
        m.set_ready(Ready::InputsOpen);
    }

    let rules = rules_setup(&args, &inventory, &hostname, live.as_ref())?;
    let outputs = Outputs::start(&config, &hostname).map_err(|e| anyhow::anyhow!(e))?;
    if let Some(m) = &live {
        for (name, counters) in outputs.remote_counters() {
            m.add_output(&name, counters);
        }
    }
    let alert_out = outputs.alerts();
    let flows_out = outputs.flows();
    let rule_hook = |r: &Rules| -> Option<RuleHook> {
        let engine = r.engine.as_ref()?;
        Some(
            RuleHook::new(
                engine,
                args.community_id_seed,
                alert_out.clone(),
                r.counts.clone(),
            )
            .with_metrics(r.alert_metrics.clone()),
        )
    };

    // SIGINT/SIGTERM set `stop` (a second one exits at once); SIGUSR1 reopens files.
    let stop = crate::signals::install().context("cannot install signal handlers")?;
    // The Docker daemon names the containers, unless told not to ask it.
    let docker = if args.no_docker {
        None
    } else {
        Some(
            docker::start(
                args.docker_host.clone(),
                base_inventory,
                inventory.clone(),
                stop.clone(),
                args.quiet,
            )
            .context("cannot start the Docker watcher")?,
        )
    };

    let names = Arc::new(crate::capture::IfaceNames::default());
    let iface_ids: Vec<u16> = captures
        .iter()
        .map(|c| names.register(Some(c.iface.clone())))
        .collect();
    let table = TableConfig {
        max_flows: (args.max_flows / threads).max(1),
        timeouts,
        community_id_seed: args.community_id_seed,
        hash_seed: std::collections::hash_map::RandomState::new().hash_one(0x77_61_74_63_68u64),
        // A bridge capture sees each packet once; with several interfaces a flow that
        // crosses two of them is still one flow (as replay counts a pcapng's).
        key_iface: false,
        iface_names: Some(names),
        start_community_id: rules.reads_community_id,
    };
    let decode = DecodeConfig {
        vlan_in_key: true,
        passive_dns: rules.passive_dns.clone(),
    };
    let mut decoders = crate::decode::decoders(decode, threads + captures.len());

    let mut senders = Vec::new();
    let mut worker_handles = Vec::new();
    for id in 0..threads {
        let (tx, rx) = bounded::<SubBatch>(QUEUE);
        senders.push(tx);
        let hook: Box<dyn FlowHook> = Box::new(WatchHook {
            rules: rule_hook(&rules),
            records: flows_out
                .as_ref()
                .map(|o| RecordWriter::new(inventory.clone(), o.clone())),
        });
        let Some(d) = decoders.pop() else {
            bail!("internal: too few decoders");
        };
        let mut w = Worker::new(id, threads, d, table.clone(), None, None, Some(hook));
        if let Some(m) = &live {
            w.set_metrics(m.slot());
        }
        worker_handles.push(
            std::thread::Builder::new()
                .name(format!("bw-flows-{id}"))
                .spawn(move || flow_worker(w, rx, active_timeout))
                .context("cannot start a worker thread")?,
        );
    }
    // Capture-side workers only decode and route: a one-flow table is all they need.
    let route_table = TableConfig {
        max_flows: 1,
        ..table.clone()
    };
    let mut capture_handles = Vec::new();
    let mut counters = Vec::new();
    for (cap, &iface_id) in captures.into_iter().zip(&iface_ids) {
        let c = Arc::new(IfaceCounters::default());
        counters.push((cap.iface.clone(), c.clone()));
        let Some(d) = decoders.pop() else {
            bail!("internal: too few decoders");
        };
        let mut router = Worker::new(0, threads, d, route_table.clone(), None, None, None);
        if let Some(m) = &live {
            router.set_metrics(m.slot());
            m.add_interface(&cap.iface, c.clone());
        }
        let (txs, stop) = (senders.clone(), stop.clone());
        if !args.quiet {
            eprintln!(
                "bridgewatch: capturing on {} ({:?}, snaplen {}, kernel buffer {} bytes{})",
                cap.iface,
                cap.link,
                settings.snaplen,
                settings.buffer_size,
                if settings.promisc {
                    ", promiscuous"
                } else {
                    ""
                }
            );
        }
        capture_handles.push(
            std::thread::Builder::new()
                .name(format!("bw-cap-{}", cap.iface))
                .spawn(move || live::run_capture(cap, iface_id, router, txs, c, stop))
                .context("cannot start a capture thread")?,
        );
    }
    drop(senders);
    // The workers hold their own clones.
    drop(alert_out);
    drop(flows_out);
    if !args.quiet {
        eprintln!(
            "bridgewatch: watching with {threads} flow workers; SIGINT or SIGTERM stops, flushes and prints the summary"
        );
    }

    while !stop.load(Ordering::Relaxed) && capture_handles.iter().any(|h| !h.is_finished()) {
        if let Some(m) = &live {
            if docker
                .as_ref()
                .is_some_and(|(_, st)| st.synced.load(Ordering::Relaxed))
            {
                m.set_ready(Ready::InventorySynced);
            }
            m.set_inventory_size(inventory.snapshot().1.len());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let signalled = stop.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);

    if let Some((h, _)) = docker {
        let _ = h.join();
    }
    let mut stats = RunStats::default();
    for h in capture_handles {
        match h.join() {
            Ok(router) => stats.merge(&router.stats),
            Err(_) => eprintln!("bridgewatch: error: a capture thread failed"),
        }
    }
    let mut interim = 0;
    for h in worker_handles {
        match h.join() {
            Ok((w, n)) => {
                stats.merge(&w.stats);
                interim += n;
            }
            Err(_) => eprintln!("bridgewatch: error: a flow worker failed"),
        }
    }
    if rules.engine.is_some() {
        stats.alerts = match rules.counts.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        };
        stats.rules_ran = true;
    }
    // The workers (and their fan-outs) are gone: flush the outputs, giving the remote
    // ones one flush_timeout between them; what they cannot deliver stays spooled.
    let failed = outputs.finish_reporting(config.flush_timeout, &mut stats);
    stats.dns = rules.passive_dns.map(|d| d.stats());
    let mut capture_errors = 0;
    for (_, c) in &counters {
        if let Some(e) = c.error() {
            eprintln!("bridgewatch: error: {e}");
            capture_errors += 1;
        }
    }
    let elapsed = started.elapsed();
    if !args.quiet {
        eprint!("{}", stats.summary(elapsed));
        eprint!("{}", capture_summary(&counters, interim));
        if !config.carries_flows() {
            eprintln!("  (flow records were not written: add --flows PATH or --flows -)");
        }
    }
    if let Some(target) = &args.stats_json {
        let json = stats.to_json(elapsed);
        if target == "-" {
            eprintln!("{json}");
        } else {
            std::fs::write(target, format!("{json}\n"))
                .with_context(|| format!("--stats-json {target}: cannot write"))?;
        }
    }
    if let (Some(_), Some(secs)) = (&live, args.linger) {
        std::thread::sleep(Duration::from_secs_f64(secs.clamp(0.0, 1e9)));
    }
    // Stopped by a signal: a clean end.  Every capture ending on its own is not.
    Ok(if failed || (!signalled && capture_errors > 0) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// No `-i`: the Docker bridges that are up, and a log line saying what was chosen.
fn discover_bridges(quiet: bool) -> Result<Vec<String>> {
    let sys = Path::new("/sys/class/net");
    let found = discover::docker_bridges(sys)
        .with_context(|| format!("no -i given and {} cannot be read", sys.display()))?;
    let mut chosen = Vec::new();
    for b in &found {
        if !b.up {
            if !quiet {
                eprintln!("bridgewatch: {} is down: not captured", b.name);
            }
            continue;
        }
        if !quiet {
            eprintln!(
                "bridgewatch: no -i given: capturing bridge {} (covers {}); its veths are not \
                 captured as well, which would count bridged packets twice",
                b.name,
                if b.ports.is_empty() {
                    "no ports yet".to_string()
                } else {
                    format!("ports {}", b.ports.join(", "))
                }
            );
        }
        chosen.push(b.name.clone());
    }
    if chosen.is_empty() {
        bail!(
            "no -i given and no Docker bridge (docker0, br-*) is up in {}: name the interfaces with -i",
            sys.display()
        );
    }
    Ok(chosen)
}

/// The per-interface lines of the summary.
fn capture_summary(counters: &[(String, Arc<IfaceCounters>)], interim: u64) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "  interim records (active timeout): {interim}");
    for (name, c) in counters {
        let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        let _ = writeln!(
            s,
            "  capture {name}: {} packets read, {} received by the filter, {} dropped by the kernel (buffer full), {} dropped by the interface{}",
            get(&c.packets),
            get(&c.received),
            get(&c.kernel_dropped),
            get(&c.if_dropped),
            c.error().map(|e| format!(" — ended early: {e}")).unwrap_or_default()
        );
    }
    s
}

/// One flow worker: packets as they come, output handed on [`FLUSH_EVERY`] after
/// them, and every [`TICK`] the wall-clock work (quiet flows ended, interim records).
/// Returns the worker (for its stats) and how many interim records it wrote, once
/// every capture has hung up.
fn flow_worker(mut w: Worker, rx: Receiver<SubBatch>, active: Option<Nanos>) -> (Worker, u64) {
    let mut last_tick = Instant::now();
    let mut last_flush = Instant::now();
    let mut dirty = false;
    let mut last_sweep = wall_now();
    let mut interim = 0;
    loop {
        let wait = if dirty {
            FLUSH_EVERY.saturating_sub(last_flush.elapsed())
        } else {
            TICK.saturating_sub(last_tick.elapsed())
        };
        match rx.recv_timeout(wait) {
            Ok(sub) => {
                w.process(&sub.packets, sub.max_ts);
                dirty = true;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if last_tick.elapsed() >= TICK {
            last_tick = Instant::now();
            let now = wall_now();
            w.process(&[], now - TICK_LAG);
            if let Some(active) = active {
                if now - last_sweep >= active {
                    interim += w.emit_interim(now - active, last_sweep);
                    last_sweep = now;
                }
            }
            dirty = true;
        }
        if dirty && last_flush.elapsed() >= FLUSH_EVERY {
            w.flush_outputs();
            last_flush = Instant::now();
            dirty = false;
        }
    }
    w.finish();
    (w, interim)
}

/// The rules for `watch`: the engine every worker's [`RuleHook`] evaluates with, or
/// none with `--no-rules`.
struct Rules {
    engine: Option<Engine>,
    counts: AlertCounts,
    /// Per-rule counters for `/metrics`, when `--listen` is on.
    alert_metrics: Option<Arc<AlertCounters>>,
    reads_community_id: bool,
    passive_dns: Option<Arc<PassiveDns>>,
}

fn rules_setup(
    args: &WatchArgs,
    inventory: &Arc<SharedInventory>,
    hostname: &str,
    live: Option<&Arc<Metrics>>,
) -> Result<Rules> {
    if args.no_rules {
        if let Some(m) = live {
            m.set_ready(Ready::RulesLoaded);
        }
        return Ok(Rules {
            engine: None,
            counts: AlertCounts::default(),
            alert_metrics: None,
            reads_community_id: false,
            passive_dns: None,
        });
    }
    let min_priority: Priority = args
        .min_priority
        .parse()
        .map_err(|e: String| anyhow::anyhow!("--min-priority: {e}"))?;
    let set = if args.rules.is_empty() {
        RuleSet::load_default()
    } else if args.default_rules {
        RuleSet::load_with_defaults(&args.rules)
    } else {
        RuleSet::load(&args.rules)
    }
    .map_err(|e| anyhow::anyhow!("rules not loaded, nothing was run:\n{e}"))?;
    if !args.quiet && !args.rules.is_empty() {
        for w in &set.warnings {
            eprintln!("bridgewatch: {w}");
        }
    }
    let reads_community_id = set.uses_community_id();
    let passive_dns = set.uses_dns_names().then(|| Arc::new(PassiveDns::new()));
    let names: Arc<dyn NameLookup> = match &passive_dns {
        Some(d) => d.clone(),
        None => Arc::new(NoNames),
    };
    let alert_metrics = live.map(|m| {
        let a = Arc::new(AlertCounters::new(&set));
        m.set_alerts(a.clone());
        m.set_ready(Ready::RulesLoaded);
        a
    });
    let engine = Engine::with_shared(
        Arc::new(set),
        inventory.clone(),
        EngineOptions {
            min_priority,
            hostname: hostname.to_string(),
        },
        names,
    );
    Ok(Rules {
        engine: Some(engine),
        counts: AlertCounts::default(),
        alert_metrics,
        reads_community_id,
        passive_dns,
    })
}
