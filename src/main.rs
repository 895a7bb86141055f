//! The `bridgewatch` binary: parses flags, validates them into settings, runs.

use anyhow::{bail, Context, Result};
use bridgewatch::cli::{Cli, Command, ReplayArgs, RulesCommand};
use bridgewatch::decode::DecodeConfig;
use bridgewatch::flow::table::TableConfig;
use bridgewatch::flow::timeouts::Timeouts;
use bridgewatch::metrics::{self, AlertCounters, Metrics, Ready};
use bridgewatch::passive_dns::PassiveDns;
use bridgewatch::pipeline::alerts::{AlertCounts, RuleHook};
use bridgewatch::pipeline::dedup::Dedup;
use bridgewatch::pipeline::fanout::Outputs;
use bridgewatch::pipeline::worker::BpfFilter;
use bridgewatch::pipeline::{run_replay, HookFactory, ReplayOptions};
use bridgewatch::rules::{self, Engine, EngineOptions, Inventory, Priority, RuleSet};
use bridgewatch::{config, signals};
use clap::{CommandFactory, FromArgMatches};
use std::hash::BuildHasher;
use std::process::ExitCode;
use std::sync::Arc;

/// `--version`: the version, the commit it was built from (build.rs) and features.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    "\ncommit: ",
    env!("BRIDGEWATCH_GIT_COMMIT"),
    "\nfeatures: ",
    env!("BRIDGEWATCH_FEATURES"),
    "\nbuild: ",
    env!("BRIDGEWATCH_BUILD"),
);

fn main() -> ExitCode {
    let matches = Cli::command().version(VERSION).get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    if let Err(e) = bridgewatch::logging::init(&cli.log_format, cli.log_level.as_deref()) {
        eprintln!("bridgewatch: error: {e}");
        return ExitCode::from(2);
    }
    let caps = bridgewatch::privileges::raise_permitted();
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        commit = env!("BRIDGEWATCH_GIT_COMMIT"),
        capabilities = ?caps,
        "bridgewatch starting"
    );
    let result = match cli.command {
        Command::Replay(args) => replay(*args),
        Command::Watch(args) => bridgewatch::watch::run(*args),
        Command::Inventory(a) => bridgewatch::attribution::command::run(a.docker_host, a.follow),
        Command::Fields => {
            print!("{}", rules::fields_help());
            Ok(ExitCode::SUCCESS)
        }
        Command::Rules(RulesCommand::Check {
            paths,
            with_defaults,
        }) => {
            let (report, ok) = if with_defaults {
                match RuleSet::load_with_defaults(&paths) {
                    Ok(set) => (
                        format!("ok: {} rules loaded (shipped defaults first)\n", set.len()),
                        true,
                    ),
                    Err(e) => (e.to_string(), false),
                }
            } else {
                rules::check_paths(&paths)
            };
            print!("{report}");
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("bridgewatch: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn replay(args: ReplayArgs) -> Result<ExitCode> {
    let timeouts = Timeouts::from_flags(&args.timeouts).map_err(|e| anyhow::anyhow!(e))?;
    if args.max_flows == 0 {
        bail!("--max-flows must be at least 1");
    }
    let threads =
        bridgewatch::pipeline::worker_threads(args.threads).map_err(|e| anyhow::anyhow!(e))?;
    let bpf = match &args.bpf {
        Some(expr) => Some(BpfFilter::new(expr).map_err(|e| anyhow::anyhow!(e))?),
        None => None,
    };
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    let config = config::outputs(&args, &hostname).map_err(|e| anyhow::anyhow!(e))?;
    let live = match &args.listen {
        Some(addr) => Some(metrics::serve(
            addr,
            &[Ready::InputsOpen, Ready::RulesLoaded],
        )?),
        None => None,
    };
    // Rules are loaded (and refused on any error) before any output starts.
    let rules = load_rules(&args, &hostname, live.as_ref())?;
    let outputs = Outputs::start(&config, &hostname).map_err(|e| anyhow::anyhow!(e))?;
    if let Some(m) = &live {
        for (name, counters) in outputs.remote_counters() {
            m.add_output(&name, counters);
        }
    }
    let stop = signals::install().context("cannot install signal handlers")?;
    // One deduplication table for every worker (its windows are packet time).
    let dedup = Dedup::new(args.output.dedup_window);
    let (hook, alert_counts, rules_read_community_id, passive_dns) = match rules {
        Some(r) => {
            let counts: AlertCounts = Arc::default();
            let c = counts.clone();
            let fanout = outputs.alerts();
            let seed = args.community_id_seed;
            let engine = r.engine;
            let alert_metrics = r.alert_metrics;
            let dd = dedup.clone();
            let factory: HookFactory = Arc::new(move |_worker| {
                Box::new(
                    RuleHook::new(&engine, seed, fanout.clone(), c.clone())
                        .with_metrics(alert_metrics.clone())
                        .with_dedup(dd.clone()),
                )
            });
            (
                Some(factory),
                Some(counts),
                r.reads_community_id,
                r.passive_dns,
            )
        }
        None => (None, None, false, None),
    };
    let opts = ReplayOptions {
        files: args.files.clone(),
        flows: outputs.flows(),
        stop: Some(stop),
        bpf,
        threads,
        table: TableConfig {
            max_flows: args.max_flows,
            timeouts,
            community_id_seed: args.community_id_seed,
            hash_seed: std::collections::hash_map::RandomState::new()
                .hash_one(0x62_72_69_64_67_65u64),
            key_iface: args.iface_key,
            iface_names: None,
            start_community_id: rules_read_community_id,
        },
        decode: DecodeConfig {
            vlan_in_key: !args.no_vlan_key,
            passive_dns: passive_dns.clone(),
        },
        progress: !args.quiet,
        hook,
        mmap: args.mmap,
        metrics: live.clone(),
    };
    tracing::info!(files = opts.files.len(), threads, "replay starting");
    let outcome = run_replay(opts);
    tracing::info!(
        packets = outcome.stats.packets,
        flows = outcome.stats.flows_written,
        secs = outcome.elapsed.as_secs_f64(),
        "replay finished"
    );
    let mut failed = false;
    for e in &outcome.file_errors {
        eprintln!("bridgewatch: error: {e}");
        failed = true;
    }
    let mut stats = outcome.stats;
    if let Some(counts) = alert_counts {
        stats.alerts = match counts.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        };
        stats.rules_ran = true;
    }
    stats.dns = passive_dns.map(|d| d.stats());
    stats.dedup = dedup.map(|d| d.stats());
    // The workers (and their queue handles) are gone with the replay: drain what is
    // queued, every remote output against one deadline.
    if outputs.finish_reporting(config.flush_timeout, &mut stats) {
        failed = true;
    }
    if !args.quiet {
        eprint!("{}", stats.summary(outcome.elapsed));
        if !config.carries_flows() {
            eprintln!("  (flow records were not written: add --flows PATH or --flows -)");
        }
    }
    if let Some(target) = &args.stats_json {
        let json = stats.to_json(outcome.elapsed);
        if target == "-" {
            eprintln!("{json}");
        } else {
            std::fs::write(target, format!("{json}\n"))
                .with_context(|| format!("--stats-json {target}: cannot write"))?;
        }
    }
    if let (Some(_), Some(secs)) = (&live, args.linger) {
        std::thread::sleep(std::time::Duration::from_secs_f64(secs.clamp(0.0, 1e9)));
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// What `replay` needs from the rules: the engine, whether any rule reads
/// `flow.community_id`, and the passive-DNS table when a rule reads names.
struct Rules {
    engine: Engine,
    reads_community_id: bool,
    passive_dns: Option<Arc<PassiveDns>>,
    /// Per-rule counters for `/metrics`, when `--listen` is on.
    alert_metrics: Option<Arc<AlertCounters>>,
}

/// Loads and checks every rule file (refusing to start on any error), unless
/// `--no-rules`.
fn load_rules(
    args: &ReplayArgs,
    hostname: &str,
    live: Option<&Arc<Metrics>>,
) -> Result<Option<Rules>> {
    if args.rule.no_rules {
        if let Some(m) = live {
            m.set_ready(Ready::RulesLoaded);
        }
        return Ok(None);
    }
    let min_priority: Priority = args
        .rule
        .min_priority
        .parse()
        .map_err(|e: String| anyhow::anyhow!("--min-priority: {e}"))?;
    let set = RuleSet::load_selected(&args.rule.rules, args.rule.default_rules)
        .map_err(|e| anyhow::anyhow!("rules not loaded, nothing was run:\n{e}"))?;
    for w in &set.warnings {
        if !args.quiet && !args.rule.rules.is_empty() {
            eprintln!("bridgewatch: {w}");
        }
    }
    let inventory = match &args.rule.containers {
        Some(p) => {
            Inventory::from_json_file(p).map_err(|e| anyhow::anyhow!("--containers: {e}"))?
        }
        None => Inventory::default(),
    };
    let reads_community_id = set.uses_community_id();
    let (passive_dns, names) = bridgewatch::passive_dns::for_rules(&set);
    let alert_metrics = live.map(|m| {
        let a = Arc::new(AlertCounters::new(&set));
        m.set_alerts(a.clone());
        m.set_inventory_size(inventory.len());
        m.set_ready(Ready::RulesLoaded);
        a
    });
    let engine = Engine::with_names(
        Arc::new(set),
        Arc::new(inventory),
        EngineOptions {
            min_priority,
            hostname: hostname.to_string(),
        },
        names,
    );
    Ok(Some(Rules {
        engine,
        reads_community_id,
        passive_dns,
        alert_metrics,
    }))
}
