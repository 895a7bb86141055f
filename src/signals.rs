//! Process signals for a run: SIGINT and SIGTERM ask it to stop (stop reading, flush
//! what is in flight, let outputs deliver within their deadline, print the summary);
//! a second one exits at once (the spools are crash-safe).  SIGUSR1 asks every file
//! output to reopen its file, for logrotate's `postrotate`.  SIGHUP asks live mode
//! to reload its rules and its outputs (replay, which reads files to their end,
//! ignores it).
//!
//! The handlers only wake a thread of signal-hook's (nothing runs in signal context);
//! that thread sets the stop flag or bumps the reopen generation, which file outputs
//! compare with the one they opened at before each line they write.

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1};
use signal_hook::iterator::Signals;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::Arc;

static REOPEN_GENERATION: AtomicU64 = AtomicU64::new(0);
static RELOAD_GENERATION: AtomicU64 = AtomicU64::new(0);

/// How many SIGHUP the process has had: live mode reloads its rules and outputs
/// when this moves.
pub fn reload_generation() -> u64 {
    RELOAD_GENERATION.load(Ordering::Relaxed)
}
static STOP_SIGNAL: AtomicI32 = AtomicI32::new(0);

/// How many SIGUSR1 the process has had: a file output whose generation is older
/// reopens its path.
pub fn reopen_generation() -> u64 {
    REOPEN_GENERATION.load(Ordering::Relaxed)
}

/// The signal that asked the run to stop, by name, if one did.
pub fn stop_signal() -> Option<&'static str> {
    match STOP_SIGNAL.load(Ordering::Relaxed) {
        0 => None,
        SIGINT => Some("SIGINT"),
        SIGTERM => Some("SIGTERM"),
        _ => Some("a signal"),
    }
}

/// Takes over SIGINT, SIGTERM and SIGUSR1 for the rest of the process; returns the
/// flag the first SIGINT/SIGTERM sets.
pub fn install() -> std::io::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGUSR1, SIGHUP])?;
    let flag = stop.clone();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                if sig == SIGHUP {
                    RELOAD_GENERATION.fetch_add(1, Ordering::Relaxed);
                    tracing::info!("SIGHUP: reloading rules and outputs");
                    continue;
                }
                if sig == SIGUSR1 {
                    REOPEN_GENERATION.fetch_add(1, Ordering::Relaxed);
                    tracing::info!("SIGUSR1: reopening output files");
                    continue;
                }
                if flag.swap(true, Ordering::SeqCst) {
                    eprintln!("bridgewatch: second stop signal: exiting now (spooled alerts stay spooled)");
                    std::process::exit(128 + sig);
                }
                STOP_SIGNAL.store(sig, Ordering::Relaxed);
                eprintln!(
                    "bridgewatch: {}: stopping (flushing flows, alerts and outputs; send it again to exit at once)",
                    stop_signal().unwrap_or("signal")
                );
            }
        })?;
    Ok(stop)
}
