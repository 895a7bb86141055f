//! Live attribution for `watch`: the Docker watcher ([`crate::attribution::watcher`])
//! on a thread of its own, publishing every change as a new inventory snapshot
//! (the static `--containers` entries and the host's addresses first, then what
//! the daemon says) that the rule evaluators and record writers pick up at their
//! next flow.  A daemon that is missing or goes away is a warning: attribution
//! goes on with what is known while the watcher retries.

use crate::attribution::watcher::{self, WatcherState};
use crate::rules::{Inventory, SharedInventory};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// What the watcher has done, for the summary and readiness.
#[derive(Debug, Default)]
pub struct DockerStatus {
    pub synced: AtomicBool,
    pub updates: std::sync::atomic::AtomicU64,
}

/// Starts the watcher; it ends soon after `stop` is set.
pub fn start(
    host: Option<String>,
    base: Inventory,
    shared: Arc<SharedInventory>,
    stop: Arc<AtomicBool>,
    quiet: bool,
) -> std::io::Result<(JoinHandle<()>, Arc<DockerStatus>)> {
    let status = Arc::new(DockerStatus::default());
    let st = status.clone();
    let handle = std::thread::Builder::new()
        .name("bw-docker".into())
        .spawn(move || {
            let mut last_error: Option<String> = None;
            let result = watcher::run(host, stop, |u| {
                match u.state {
                    WatcherState::Unreachable { error, retry_in } => {
                        if last_error.as_deref() != Some(error.as_str()) {
                            tracing::warn!("docker: {error}; retrying in {retry_in:?}");
                            if !quiet {
                                eprintln!(
                                    "bridgewatch: warning: {error}; attribution goes on with what is known, retrying with backoff"
                                );
                            }
                            last_error = Some(error.clone());
                        }
                        st.synced.store(false, Ordering::Relaxed);
                    }
                    WatcherState::Synced => {
                        if !st.synced.swap(true, Ordering::Relaxed) && !quiet {
                            eprintln!(
                                "bridgewatch: docker: inventory synced, {} running containers",
                                u.inventory.running_len()
                            );
                        }
                        last_error = None;
                    }
                    WatcherState::Connecting => {}
                }
                if u.changed {
                    let json = u.inventory.to_json(false);
                    match Inventory::from_json_str(&json, "docker") {
                        Ok(d) => {
                            let mut inv = base.clone();
                            inv.extend_from(&d);
                            shared.replace(inv);
                            st.updates.fetch_add(1, Ordering::Relaxed);
                        }
                        // An address the daemon reports that we cannot parse: keep the
                        // last good snapshot rather than lose every container.
                        Err(e) => tracing::warn!("docker inventory not applied: {e}"),
                    }
                }
            });
            if let Err(e) = result {
                eprintln!("bridgewatch: error: docker watcher: {e}");
            }
        })?;
    Ok((handle, status))
}
