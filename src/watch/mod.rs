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
//! printed and the exit status is 0.  SIGHUP reloads the rules and the outputs on a
//! thread of its own (module `reload`); the workers follow both at their next
//! flow or flush.

pub mod captures;
pub mod cli;
pub mod discover;
pub mod docker;
pub mod follow;
pub mod live;
pub mod records;
mod reload;

use crate::decode::{DecodeConfig, FlowBatch};
use crate::flow::table::TableConfig;
use crate::flow::timeouts::Timeouts;
use crate::metrics::{AlertCounters, Metrics, Ready};
use crate::passive_dns::PassiveDns;
use crate::pipeline::alerts::{AlertCounts, RuleHook};
use crate::pipeline::fanout::Outputs;
use crate::pipeline::worker::{SubBatch, Worker};
use crate::pipeline::FlowHook;
use crate::rules::{
    Container, Engine, EngineOptions, EngineSlot, Inventory, Priority, RuleSet, SharedInventory,
};
use crate::time::{Nanos, NANOS_PER_SEC};
use anyhow::{bail, Context, Result};
use captures::Captures;
use cli::WatchArgs;
use crossbeam_channel::{bounded, Receiver, RecvTimeoutError};
use live::{IfaceCounters, LiveSettings};
use records::{RecordWriter, WatchHook};
use reload::{reload_on_sighup, LiveOutputs, Reload};
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
    let timeouts = Timeouts::from_flags(&args.timeouts).map_err(|e| anyhow::anyhow!(e))?;
    if args.max_flows == 0 {
        bail!("--max-flows must be at least 1");
    }
    if !(args.active_timeout.is_finite() && args.active_timeout >= 0.0) {
        bail!("--active-timeout must be a number of seconds, 0 or more");
    }
    let active_timeout = (args.active_timeout > 0.0)
        .then_some((args.active_timeout * NANOS_PER_SEC as f64) as Nanos);
    let threads = crate::pipeline::worker_threads(args.threads).map_err(|e| anyhow::anyhow!(e))?;
    // Outputs are validated (and bad flags or a bad --config refused) before
    // anything starts; they are started once the rules have loaded.
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    let config = crate::config::outputs_from(&args.output, args.rule.no_rules, &hostname)
        .map_err(|e| anyhow::anyhow!(e))?;
    // Interfaces watch finds itself it also follows; ones named with -i it does not.
    let following = args.interfaces.is_empty() && !args.sidecar;
    if args.interfaces.is_empty() && args.sidecar {
        // Beside one app, in its network namespace: its interface.
        args.interfaces = vec!["eth0".into()];
    } else if args.interfaces.is_empty() {
        args.interfaces = discover_bridges(args.quiet, following)?;
    }
    let mut seen = std::collections::HashSet::new();
    for i in &args.interfaces {
        if !seen.insert(i) {
            bail!("-i {i} is given twice: its packets would be counted twice");
        }
    }

    let mut inventory = match &args.rule.containers {
        Some(p) => {
            Inventory::from_json_file(p).map_err(|e| anyhow::anyhow!("--containers: {e}"))?
        }
        None => Inventory::default(),
    };
    // The captured interfaces' own addresses: on a host, the bridges' gateway
    // addresses (the host); in a sidecar, the app container's.
    let own: Vec<std::net::IpAddr> = pcap::Device::list()
        .unwrap_or_default()
        .iter()
        .filter(|d| args.interfaces.contains(&d.name))
        .flat_map(|d| d.addresses.iter().map(|a| a.addr))
        .collect();
    if args.sidecar {
        let local = sidecar_container(&args, &own)?;
        if !args.quiet {
            eprintln!(
                "bridgewatch: sidecar: {} is the local container ({}); the Docker API names it instead when reachable",
                local.name,
                own.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(", ")
            );
        }
        inventory.add(local);
    } else {
        for a in &own {
            inventory.add_host_ip(*a);
            tracing::info!("{a} is a host address (a captured interface's)");
        }
    }
    let base_inventory = inventory.clone();
    let inventory = Arc::new(SharedInventory::new(Arc::new(inventory)));

    // The registry exists from here; its endpoint starts once the captures are open
    // and the capabilities dropped, and /readyz says what is still missing while the
    // rules load and the Docker inventory syncs.
    let listen_addr = match &args.listen {
        Some(a) => {
            Some(crate::metrics::parse_listen(a).map_err(|e| anyhow::anyhow!("--listen: {e}"))?)
        }
        None => None,
    };
    let live = listen_addr.map(|_| {
        let mut needed = vec![Ready::InputsOpen, Ready::RulesLoaded];
        if !args.no_docker {
            needed.push(Ready::InventorySynced);
        }
        crate::metrics::registry(&needed)
    });

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
        match live::open(i, &settings) {
            Ok(c) => captures.push(c),
            // A bridge found in sysfs and removed before it could be opened (a
            // network deleted meanwhile) is no failure when watch chose it itself.
            Err(live::OpenError::NoDevice { iface, message }) if following => {
                if !args.quiet {
                    eprintln!("bridgewatch: {iface} went away before it could be captured ({message}); skipped");
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    if let Some(m) = &live {
        m.set_ready(Ready::InputsOpen);
    }

    // The handles are open: capture needs NET_RAW/NET_ADMIN no more, unless bridges
    // are followed (new captures).  The Docker watcher maps veths to containers
    // (setns), which needs SYS_ADMIN/SYS_PTRACE.
    use caps::Capability::{CAP_NET_ADMIN, CAP_NET_RAW, CAP_SYS_ADMIN, CAP_SYS_PTRACE};
    let mut keep = Vec::new();
    if following {
        keep.extend([CAP_NET_RAW, CAP_NET_ADMIN]);
    }
    if !args.no_docker {
        keep.extend([CAP_SYS_ADMIN, CAP_SYS_PTRACE]);
    }
    let still = crate::privileges::drop_except(&keep);
    tracing::info!(capabilities = ?still, "captures open; other capabilities dropped");
    // The endpoint's thread starts only now: capabilities are per thread, and one
    // started before the drop would keep them.
    if let (Some(m), Some(addr)) = (&live, listen_addr) {
        crate::metrics::start_server(addr, m.clone())?;
    }

    let mut rules = rules_setup(&args, &inventory, &hostname, live.as_ref())?;
    let outputs = Outputs::start(&config, &hostname).map_err(|e| anyhow::anyhow!(e))?;
    if let Some(m) = &live {
        for (name, counters) in outputs.remote_counters() {
            m.add_output(&name, counters);
        }
    }
    // Fan-outs exist even for a kind no output takes yet: a reload may add one.
    let alert_out = outputs.alert_fanout();
    let flows_out = outputs.flow_fanout();
    let outputs = Arc::new(std::sync::Mutex::new(LiveOutputs { outputs, config }));
    // One deduplication table for every worker.
    let dedup = crate::pipeline::dedup::Dedup::new(args.output.dedup_window);
    let rule_hook = |r: &Rules| -> Option<RuleHook> {
        let engine = r.engine.as_ref()?;
        let mut hook = RuleHook::new(
            engine,
            args.community_id_seed,
            Some(alert_out.clone()),
            r.counts.clone(),
        )
        .with_metrics(r.alert_metrics.clone())
        .with_dedup(dedup.clone());
        if let Some(slot) = &r.slot {
            hook = hook.with_reload(slot.clone());
        }
        Some(hook)
    };

    // SIGINT/SIGTERM set `stop` (a second one exits at once); SIGUSR1 reopens files;
    // SIGHUP reloads the rules and the outputs.
    let stop = crate::signals::install().context("cannot install signal handlers")?;
    let reloader = std::thread::Builder::new()
        .name("bw-reload".into())
        .spawn({
            let stop = stop.clone();
            let reload = Reload {
                rules: rules.reload.take(),
                outputs: outputs.clone(),
                args: args.output.clone(),
                no_rules: args.rule.no_rules,
                hostname: hostname.clone(),
                metrics: live.clone(),
            };
            move || reload_on_sighup(&reload, &stop)
        })
        .context("cannot start the reload thread")?;
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
    let table = TableConfig {
        max_flows: (args.max_flows / threads).max(1),
        timeouts,
        community_id_seed: args.community_id_seed,
        hash_seed: std::collections::hash_map::RandomState::new().hash_one(0x77_61_74_63_68u64),
        // A bridge capture sees each packet once; with several interfaces a flow that
        // crosses two of them is still one flow (as replay counts a pcapng's).
        key_iface: false,
        iface_names: Some(names.clone()),
        start_community_id: rules.reads_community_id,
    };
    let decode = DecodeConfig {
        vlan_in_key: true,
        passive_dns: rules.passive_dns.clone(),
    };
    let mut decoders = crate::decode::decoders(decode, threads + 1);

    let mut senders = Vec::new();
    let mut worker_handles = Vec::new();
    for id in 0..threads {
        let (tx, rx) = bounded::<SubBatch>(QUEUE);
        senders.push(tx);
        let hook: Box<dyn FlowHook> = Box::new(WatchHook {
            rules: rule_hook(&rules),
            records: Some(RecordWriter::new(inventory.clone(), flows_out.clone())),
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
    let Some(template) = decoders.pop() else {
        bail!("internal: too few decoders");
    };
    let mut set = Captures::new(
        settings.clone(),
        senders,
        names.clone(),
        route_table,
        template,
        threads,
        stop.clone(),
        args.quiet,
    );
    set.metrics = live.clone();
    for cap in captures {
        set.start(cap).context("cannot start a capture thread")?;
    }
    // The workers hold their own clones.
    drop(alert_out);
    drop(flows_out);
    let set = Arc::new(std::sync::Mutex::new(set));
    // Interfaces watch chose itself are followed: new Docker bridges are captured.
    let follower = if following {
        let (set, stop, quiet) = (set.clone(), stop.clone(), args.quiet);
        Some(
            std::thread::Builder::new()
                .name("bw-follow".into())
                .spawn(move || follow::run(set, stop, quiet))
                .context("cannot start the bridge follower")?,
        )
    } else {
        None
    };
    if !args.quiet {
        eprintln!(
            "bridgewatch: watching with {threads} flow workers{}; SIGINT or SIGTERM stops, flushes and prints the summary",
            if following { ", following Docker bridges as they come and go" } else { "" }
        );
    }

    while !stop.load(Ordering::Relaxed) && (following || lock(&set).any_running()) {
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
    let _ = reloader.join();
    if let Some(h) = follower {
        let _ = h.join();
    }
    let mut stats = lock(&set).finish();
    let counters: Vec<(String, Arc<IfaceCounters>, bool)> = lock(&set)
        .list
        .iter()
        .map(|c| (c.iface.clone(), c.counters.clone(), c.removed))
        .collect();
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
    // (The reload thread, which shared them, has ended.)
    let LiveOutputs { outputs, config } = match Arc::try_unwrap(outputs) {
        Ok(m) => m.into_inner().unwrap_or_else(|p| p.into_inner()),
        Err(_) => bail!("internal: the outputs are still shared at the end of the run"),
    };
    let failed = outputs.finish_reporting(config.flush_timeout, &mut stats);
    stats.dns = rules.passive_dns.map(|d| d.stats());
    stats.dedup = dedup.as_ref().map(|d| d.stats());
    let mut capture_errors = 0;
    for (_, c, removed) in &counters {
        if let Some(e) = c.error().filter(|_| !removed) {
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

/// The container a sidecar runs beside, from the flags: its addresses are the
/// captured interfaces'.
fn sidecar_container(args: &WatchArgs, own: &[std::net::IpAddr]) -> Result<Container> {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "sidecar".into());
    let id = args.container_id.clone().unwrap_or_else(|| host.clone());
    let name = args.container_name.clone().unwrap_or(host);
    let mut c = Container::new(&id, &name, args.container_image.as_deref().unwrap_or(""));
    for l in &args.container_labels {
        let Some((k, v)) = l.split_once('=') else {
            bail!("--container-label {l:?}: expected KEY=VALUE");
        };
        c = c.label(k, v);
    }
    c.ips = own.to_vec();
    if c.ips.is_empty() {
        bail!(
            "--sidecar: the captured interfaces ({}) have no addresses to name the local container by",
            args.interfaces.join(", ")
        );
    }
    Ok(c)
}

/// No `-i`: the Docker bridges that are up, and a log line saying what was chosen.
fn discover_bridges(quiet: bool, follow: bool) -> Result<Vec<String>> {
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
    if chosen.is_empty() && follow {
        if !quiet {
            eprintln!("bridgewatch: no Docker bridge is up yet: waiting for one");
        }
    } else if chosen.is_empty() {
        bail!(
            "no -i given and no Docker bridge (docker0, br-*) is up in {}: name the interfaces with -i",
            sys.display()
        );
    }
    Ok(chosen)
}

fn lock(s: &std::sync::Mutex<Captures>) -> std::sync::MutexGuard<'_, Captures> {
    match s.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// The per-interface lines of the summary.
fn capture_summary(counters: &[(String, Arc<IfaceCounters>, bool)], interim: u64) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "  interim records (active timeout): {interim}");
    for (name, c, removed) in counters {
        let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        let _ = writeln!(
            s,
            "  capture {name}: {} packets read, {} received by the filter, {} dropped by the kernel (buffer full), {} dropped by the interface{}",
            get(&c.packets),
            get(&c.received),
            get(&c.kernel_dropped),
            get(&c.if_dropped),
            if *removed {
                " — the interface was removed".to_string()
            } else {
                c.error().map(|e| format!(" — ended early: {e}")).unwrap_or_default()
            }
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
            w.process(&FlowBatch::default(), now - TICK_LAG);
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
    /// The engine slot every hook follows ...
    slot: Option<Arc<EngineSlot>>,
    /// ... and, until the reload thread takes it, how to rebuild it on SIGHUP.
    reload: Option<(Arc<EngineSlot>, Reloader)>,
    counts: AlertCounts,
    /// Per-rule counters for `/metrics`, when `--listen` is on (a SIGHUP reload adds
    /// the rules of the new set, so their alerts are counted under their names).
    alert_metrics: Option<Arc<AlertCounters>>,
    reads_community_id: bool,
    passive_dns: Option<Arc<PassiveDns>>,
}

/// Loads the rules as they are now, for a SIGHUP reload.
type Reloader = Box<dyn Fn() -> Result<Engine, crate::rules::LoadErrors> + Send>;

fn rules_setup(
    args: &WatchArgs,
    inventory: &Arc<SharedInventory>,
    hostname: &str,
    live: Option<&Arc<Metrics>>,
) -> Result<Rules> {
    if args.rule.no_rules {
        if let Some(m) = live {
            m.set_ready(Ready::RulesLoaded);
        }
        return Ok(Rules {
            engine: None,
            slot: None,
            reload: None,
            counts: AlertCounts::default(),
            alert_metrics: None,
            reads_community_id: false,
            passive_dns: None,
        });
    }
    let min_priority: Priority = args
        .rule
        .min_priority
        .parse()
        .map_err(|e: String| anyhow::anyhow!("--min-priority: {e}"))?;
    let set = RuleSet::load_selected(&args.rule.rules, args.rule.default_rules)
        .map_err(|e| anyhow::anyhow!("rules not loaded, nothing was run:\n{e}"))?;
    if !args.quiet && !args.rule.rules.is_empty() {
        for w in &set.warnings {
            eprintln!("bridgewatch: {w}");
        }
    }
    let reads_community_id = set.uses_community_id();
    let (passive_dns, names) = crate::passive_dns::for_rules(&set);
    let alert_metrics = live.map(|m| {
        let a = Arc::new(AlertCounters::new(&set));
        m.set_alerts(a.clone());
        m.set_ready(Ready::RulesLoaded);
        a
    });
    let build = {
        let (inventory, hostname) = (inventory.clone(), hostname.to_string());
        move |set: RuleSet| {
            Engine::with_shared(
                Arc::new(set),
                inventory.clone(),
                EngineOptions {
                    min_priority,
                    hostname: hostname.clone(),
                },
                names.clone(),
            )
        }
    };
    let engine = build(set);
    let slot = Arc::new(EngineSlot::new(engine.clone()));
    let passive_dns_off = passive_dns.is_none();
    // SIGHUP: the same files again; a file that no longer loads leaves the old set.
    let (paths, with_defaults) = (args.rule.rules.clone(), args.rule.default_rules);
    let counters = alert_metrics.clone();
    let reload: Reloader = Box::new(move || {
        let set = RuleSet::load_selected(&paths, with_defaults)?;
        if set.uses_dns_names() && passive_dns_off {
            tracing::warn!("reloaded rules read DNS names; names stay empty until restart");
        }
        if let Some(c) = &counters {
            c.add_rules(&set);
        }
        Ok(build(set))
    });
    Ok(Rules {
        engine: Some(engine),
        slot: Some(slot.clone()),
        reload: Some((slot, reload)),
        counts: AlertCounts::default(),
        alert_metrics,
        reads_community_id,
        passive_dns,
    })
}
