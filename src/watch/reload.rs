//! SIGHUP in `watch`: a thread that, on each SIGHUP, reloads the rules (the
//! workers' engine slot) and then the outputs ([`Outputs::reload`]), reporting on
//! stderr what changed or why nothing did.

use super::Reloader;
use crate::metrics::Metrics;
use crate::pipeline::fanout::Outputs;
use crate::rules::EngineSlot;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// The outputs in force and the configuration they came from (a SIGHUP reload
/// replaces both).
pub(super) struct LiveOutputs {
    pub outputs: Outputs,
    pub config: crate::config::OutputsConfig,
}

/// What a SIGHUP reloads: the rules (unless `--no-rules`) and the outputs, read
/// again from `--config` and the output flags.
pub(super) struct Reload {
    pub rules: Option<(Arc<EngineSlot>, Reloader)>,
    pub outputs: Arc<std::sync::Mutex<LiveOutputs>>,
    pub args: crate::cli::OutputArgs,
    pub no_rules: bool,
    pub hostname: String,
    pub metrics: Option<Arc<Metrics>>,
}

/// Until `stop`: on every SIGHUP, load the rule files again and put the new engine
/// in force for each worker's next flow, then read the outputs' configuration
/// again and switch to it ([`Outputs::reload`]).  Flow tables are untouched (no
/// flow is lost or restarted); fan-out windows start afresh with the new engine.
/// Rules or outputs that do not load keep the old ones, and say why.
pub(super) fn reload_on_sighup(r: &Reload, stop: &std::sync::atomic::AtomicBool) {
    let mut seen = crate::signals::reload_generation();
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
        let now = crate::signals::reload_generation();
        if now == seen {
            continue;
        }
        seen = now;
        if let Some((slot, reload)) = &r.rules {
            match reload() {
                Ok(engine) => {
                    let n = engine.rule_count();
                    slot.replace(engine);
                    eprintln!("bridgewatch: SIGHUP: rules reloaded, {n} rules in force; flows in progress keep their state");
                }
                Err(e) => eprintln!(
                    "bridgewatch: error: SIGHUP: the new rules do not load, the previous set stays in force:\n{e}"
                ),
            }
        }
        reload_outputs(r);
    }
}

/// One SIGHUP's output reload: the configuration read again, and the outputs
/// switched to it when it is valid and its new outputs start.
fn reload_outputs(r: &Reload) {
    let source = match &r.args.config {
        Some(p) => p.display().to_string(),
        None => "the output flags".to_string(),
    };
    let cfg = match crate::config::outputs_from(&r.args, r.no_rules, &r.hostname) {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "bridgewatch: error: SIGHUP: the outputs' configuration does not load, the previous outputs stay in force:\n{e}"
            );
            return;
        }
    };
    let mut live = match r.outputs.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    match live.outputs.reload(&cfg) {
        Ok(report) => {
            if let Some(m) = &r.metrics {
                for (name, counters) in &report.added_counters {
                    m.add_output(name, counters.clone());
                }
            }
            let list = |v: &[String]| {
                if v.is_empty() {
                    "none".to_string()
                } else {
                    v.join(", ")
                }
            };
            eprintln!(
                "bridgewatch: SIGHUP: outputs reloaded from {source}: kept {}; added {}; removed {}",
                list(&report.kept),
                list(&report.added),
                list(&report.removed)
            );
            tracing::info!(
                kept = report.kept.len(),
                added = report.added.len(),
                removed = report.removed.len(),
                "outputs reloaded"
            );
            for e in &report.errors {
                eprintln!("bridgewatch: error: SIGHUP: {e}");
            }
            if !report.switched_in_time {
                eprintln!("bridgewatch: warning: SIGHUP: a flow worker had not moved to the new outputs within 2 s; what it still sends the removed ones is counted as dropped");
            }
            if report.removed_lost > 0 {
                eprintln!(
                    "bridgewatch: error: SIGHUP: the removed outputs could not deliver {} events within flush_timeout (counted as dropped)",
                    report.removed_lost
                );
            }
            if report.removed_spooled > 0 {
                eprintln!(
                    "bridgewatch: warning: SIGHUP: {} events stay in the removed outputs' spools, sent first by an output with the same spool directory",
                    report.removed_spooled
                );
            }
            live.config = cfg;
        }
        Err(e) => eprintln!("bridgewatch: error: SIGHUP: {e}; the previous outputs stay in force"),
    }
}
