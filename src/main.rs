//! The `bridgewatch` binary: parses flags, validates them into settings, runs.

use anyhow::{bail, Context, Result};
use bridgewatch::cli::{Cli, Command, ReplayArgs, RulesCommand};
use bridgewatch::decode::DecodeConfig;
use bridgewatch::flow::table::TableConfig;
use bridgewatch::flow::timeouts::Timeouts;
use bridgewatch::passive_dns::PassiveDns;
use bridgewatch::pipeline::alerts::{AlertCounts, RuleHook};
use bridgewatch::pipeline::dedup::Dedup;
use bridgewatch::pipeline::output::SharedWriter;
use bridgewatch::pipeline::worker::BpfFilter;
use bridgewatch::pipeline::{run_replay, HookFactory, ReplayOptions};
use bridgewatch::rules::{
    self, Engine, EngineOptions, Inventory, NameLookup, NoNames, Priority, RuleSet,
};
use bridgewatch::sinks::delivery::{Counters, Delivery};
use bridgewatch::sinks::format::Format;
use bridgewatch::sinks::http_out::{parse_header, HttpKind, HttpOut, HttpSettings};
use bridgewatch::sinks::syslog_out::{SyslogOut, SyslogTarget, SyslogTransportKind};
use bridgewatch::sinks::tls::{host_of, TlsClient, TlsSettings};
use clap::Parser;
use std::hash::BuildHasher;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

fn main() -> ExitCode {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BRIDGEWATCH_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .try_init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Replay(args) => replay(*args),
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

/// How long a replay waits at the end for its remote outputs to deliver what is queued.
const OUTPUT_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

fn replay(args: ReplayArgs) -> Result<ExitCode> {
    let mut timeouts = Timeouts::default();
    for t in &args.timeouts {
        timeouts
            .set(t)
            .map_err(|e| anyhow::anyhow!("--timeout {e}"))?;
    }
    if args.max_flows == 0 {
        bail!("--max-flows must be at least 1");
    }
    let threads = match args.threads {
        Some(0) => bail!("--threads must be at least 1"),
        Some(n) => n,
        None => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(8),
    };
    let bpf = match &args.bpf {
        Some(expr) => Some(BpfFilter::new(expr).map_err(|e| anyhow::anyhow!(e))?),
        None => None,
    };
    let flows_out = match &args.flows {
        Some(f) => Some(Arc::new(
            SharedWriter::open(Path::new(f))
                .with_context(|| format!("--flows {f}: cannot create"))?,
        )),
        None => None,
    };
    let RulesSetup {
        hook,
        alerts_out,
        counts: alert_counts,
        reads_community_id: rules_read_community_id,
        passive_dns,
        mut outputs,
        dedup,
    } = rule_hook(&args)?;
    let opts = ReplayOptions {
        files: args.files.clone(),
        flows_out,
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
    };
    let flows_out = opts.flows_out.clone();
    let outcome = run_replay(opts);
    let mut failed = false;
    for e in &outcome.file_errors {
        eprintln!("bridgewatch: error: {e}");
        failed = true;
    }
    for w in flows_out.iter().chain(alerts_out.iter()) {
        if let Err(e) = w.finish() {
            eprintln!("bridgewatch: error: {e}");
            failed = true;
        }
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
    for o in &mut outputs {
        // The hooks (and their queue handles) are gone with the replay: drain what is queued.
        let st = o.finish(OUTPUT_GRACE);
        if st.lost() > 0 {
            eprintln!(
                "bridgewatch: error: {}: {} alerts not delivered ({} queue full, {} spool full, {} rejected, {} undelivered at exit)",
                o.name,
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
                "bridgewatch: warning: {}: {} alerts left in the spool, sent first by the next run with this --spool-dir",
                o.name, st.spooled_at_exit
            );
        }
        stats.outputs.push((o.name.clone(), st));
    }
    if !args.quiet {
        eprint!("{}", stats.summary(outcome.elapsed));
        if args.flows.is_none() {
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
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The rule engine hook for `replay`, unless `--no-rules`: loads and checks every rule
/// file first (refusing to start on any error), then one evaluator per worker.
fn rule_hook(args: &ReplayArgs) -> Result<RulesSetup> {
    if args.no_rules {
        return Ok(RulesSetup::default());
    }
    let format: Format = args
        .alerts_format
        .parse()
        .map_err(|e: String| anyhow::anyhow!("--alerts-format: {e}"))?;
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
    for w in &set.warnings {
        if !args.quiet && !args.rules.is_empty() {
            eprintln!("bridgewatch: {w}");
        }
    }
    let inventory = match &args.containers {
        Some(p) => {
            Inventory::from_json_file(p).map_err(|e| anyhow::anyhow!("--containers: {e}"))?
        }
        None => Inventory::default(),
    };
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    let reads_community_id = set.uses_community_id();
    // DNS responses are parsed only when a rule reads a name.
    let passive_dns = set.uses_dns_names().then(|| Arc::new(PassiveDns::new()));
    let names: Arc<dyn NameLookup> = match &passive_dns {
        Some(d) => d.clone(),
        None => Arc::new(NoNames),
    };
    let outputs = remote_outputs(args, &hostname)?;
    let engine = Engine::with_names(
        Arc::new(set),
        Arc::new(inventory),
        EngineOptions {
            min_priority,
            hostname,
        },
        names,
    );
    // Alerts go to stdout unless told otherwise, or unless --syslog/--http take them.
    let alerts_path = match (&args.alerts, outputs.is_empty()) {
        (Some(p), _) => Some(p.clone()),
        (None, true) => Some("-".to_string()),
        (None, false) => None,
    };
    let out = match &alerts_path {
        Some(p) => Some(Arc::new(
            SharedWriter::open(Path::new(p))
                .with_context(|| format!("--alerts {p}: cannot create"))?,
        )),
        None => None,
    };
    let counts: AlertCounts = Arc::default();
    let dedup = Dedup::new(args.dedup_window);
    let (o, c, dd) = (out.clone(), counts.clone(), dedup.clone());
    let handles: Vec<_> = outputs.iter().filter_map(Delivery::handle).collect();
    let seed = args.community_id_seed;
    let factory: HookFactory = Arc::new(move |_worker| {
        Box::new(
            RuleHook::new(&engine, seed, format, o.clone(), handles.clone(), c.clone())
                .with_dedup(dd.clone()),
        )
    });
    Ok(RulesSetup {
        hook: Some(factory),
        alerts_out: out,
        counts: Some(counts),
        reads_community_id,
        passive_dns,
        outputs,
        dedup,
    })
}

/// The `--syslog` and `--http` outputs, started (each with its own spool under
/// `--spool-dir` when given).
fn remote_outputs(args: &ReplayArgs, hostname: &str) -> Result<Vec<Delivery>> {
    let mut out = Vec::new();
    if args.spool_dir.is_some() && args.syslog.is_none() && args.http.is_none() {
        bail!("--spool-dir needs an output to spool for (--syslog or --http)");
    }
    let spool = |sub: &str| {
        args.spool_dir
            .as_ref()
            .map(|d| (d.join(sub), args.spool_max_bytes))
    };
    let start =
        |name: String, t: Box<dyn bridgewatch::sinks::delivery::Transport>, counters, sub: &str| {
            let sp = spool(sub);
            Delivery::start(
                name,
                t,
                counters,
                sp.as_ref().map(|(d, m)| (d.as_path(), *m)),
            )
            .with_context(|| {
                format!(
                    "--spool-dir: cannot open the spool in {}",
                    sp.as_ref()
                        .map(|(d, _)| d.display().to_string())
                        .unwrap_or_default()
                )
            })
        };
    if let Some(url) = &args.syslog {
        let target: SyslogTarget = url
            .parse()
            .map_err(|e: String| anyhow::anyhow!("--syslog {url}: {e}"))?;
        let counters = Arc::new(Counters::default());
        let name = format!("syslog {}", target.addr);
        let tls = syslog_tls(args, &target)?;
        let mut t = SyslogOut::new(target, hostname, counters.clone());
        if let Some(c) = tls {
            t = t.with_tls(c);
        }
        out.push(start(name, Box::new(t), counters, "syslog")?);
    }
    if let Some(url) = &args.http {
        let kind: HttpKind = args
            .http_kind
            .parse()
            .map_err(|e: String| anyhow::anyhow!("--http-kind: {e}"))?;
        let headers = args
            .http_headers
            .iter()
            .map(|h| parse_header(h))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| anyhow::anyhow!("--http-header: {e}"))?;
        let settings = HttpSettings {
            url: url.clone(),
            kind,
            token: args.http_token.clone(),
            basic: args.http_basic.clone(),
            headers,
            gzip: args.http_gzip,
            batch: args.http_batch,
            timeout: std::time::Duration::from_secs_f64(args.http_timeout.max(0.1)),
            index: args.http_index.clone(),
            hostname: hostname.to_string(),
        }
        .validate()
        .map_err(|e| anyhow::anyhow!("--http {url}: {e}"))?;
        let name = format!("http {}", settings.url);
        out.push(start(
            name,
            Box::new(HttpOut::new(settings)),
            Arc::default(),
            "http",
        )?);
    }
    Ok(out)
}

/// The TLS client for `--syslog tls://` (its files checked now, before anything
/// runs); the TLS flags without a `tls://` URL are an error rather than ignored.
fn syslog_tls(args: &ReplayArgs, target: &SyslogTarget) -> Result<Option<TlsClient>> {
    let settings = TlsSettings {
        ca: args.syslog_ca.clone(),
        cert: args.syslog_cert.clone(),
        key: args.syslog_key.clone(),
        server_name: args.syslog_server_name.clone(),
    };
    if target.transport != SyslogTransportKind::Tls {
        if settings != TlsSettings::default() {
            bail!("--syslog-ca/-cert/-key/-server-name need a tls:// --syslog URL");
        }
        return Ok(None);
    }
    settings
        .client(host_of(&target.addr))
        .map(Some)
        .map_err(|e| anyhow::anyhow!("--syslog {}: {e}", target.addr))
}

/// What `replay` needs from the rules: a hook per worker, the alert output, the
/// per-rule counts, whether any rule reads `flow.community_id`, and the passive-DNS
/// table when a rule reads names.
#[derive(Default)]
struct RulesSetup {
    hook: Option<HookFactory>,
    alerts_out: Option<Arc<SharedWriter>>,
    counts: Option<AlertCounts>,
    reads_community_id: bool,
    passive_dns: Option<Arc<PassiveDns>>,
    outputs: Vec<Delivery>,
    dedup: Option<Arc<Dedup>>,
}
