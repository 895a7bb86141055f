//! The `bridgewatch` binary: parses flags, validates them into settings, runs.

use anyhow::{bail, Context, Result};
use bridgewatch::cli::{Cli, Command, ReplayArgs};
use bridgewatch::decode::DecodeConfig;
use bridgewatch::flow::table::TableConfig;
use bridgewatch::flow::timeouts::Timeouts;
use bridgewatch::pipeline::output::SharedWriter;
use bridgewatch::pipeline::worker::BpfFilter;
use bridgewatch::pipeline::{run_replay, ReplayOptions};
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
        Command::Replay(args) => replay(args),
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
    let flows_out = SharedWriter::open(Path::new(&args.flows))
        .with_context(|| format!("--flows {}: cannot create", args.flows))?;
    let opts = ReplayOptions {
        files: args.files.clone(),
        flows_out: Some(Arc::new(flows_out)),
        bpf,
        threads,
        table: TableConfig {
            max_flows: args.max_flows,
            timeouts,
            community_id_seed: args.community_id_seed,
            hash_seed: std::collections::hash_map::RandomState::new()
                .hash_one(0x62_72_69_64_67_65u64),
            key_iface: args.iface_key,
        },
        decode: DecodeConfig {
            vlan_in_key: !args.no_vlan_key,
        },
        progress: !args.quiet,
        hook: None,
    };
    let flows_out = opts.flows_out.clone();
    let outcome = run_replay(opts);
    let mut failed = false;
    for e in &outcome.file_errors {
        eprintln!("bridgewatch: error: {e}");
        failed = true;
    }
    if let Some(w) = flows_out {
        if let Err(e) = w.finish() {
            eprintln!("bridgewatch: error: {e}");
            failed = true;
        }
    }
    if !args.quiet {
        eprint!("{}", outcome.stats.summary(outcome.elapsed));
    }
    if let Some(target) = &args.stats_json {
        let json = outcome.stats.to_json(outcome.elapsed);
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
