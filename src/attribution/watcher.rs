//! Keeps a [`LiveInventory`] current from the Docker daemon: subscribe to events
//! first (from a moment just before the list, so no start between the two is
//! missed), then list and inspect what runs, then re-inspect each container an
//! event names.  When the daemon goes away (restart, socket gone), it reports
//! the state, retries with exponential backoff and resyncs on return; what was
//! known stays known meanwhile.  Runs on its own thread with a current-thread
//! tokio runtime, never on a packet worker.

use super::docker::{self, DockerError};
use super::live::LiveInventory;
use bollard::query_parameters::EventsOptions;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const BACKOFF_START: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// How often a quiet event stream checks whether it should stop.
const STOP_POLL: Duration = Duration::from_millis(200);

/// Where the watcher stands.
#[derive(Clone, Debug, PartialEq)]
pub enum WatcherState {
    Connecting,
    /// Listed and subscribed: the inventory is current.
    Synced,
    /// The daemon cannot be reached or the stream broke; retrying after `retry_in`.
    Unreachable {
        error: String,
        retry_in: Duration,
    },
}

/// What the callback is told: the state, and whether the inventory changed.
pub struct WatcherUpdate<'a> {
    pub state: &'a WatcherState,
    pub inventory: &'a LiveInventory,
    pub changed: bool,
}

/// Runs until `stop` is set.  `on_update` is called on every state change and
/// every inventory change.
pub fn run(
    host: Option<String>,
    stop: Arc<AtomicBool>,
    mut on_update: impl FnMut(WatcherUpdate<'_>),
) -> Result<(), std::io::Error> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let mut inv = LiveInventory::default();
        let mut backoff = BACKOFF_START;
        let mut last_event: Option<i64> = None;
        while !stop.load(Ordering::Relaxed) {
            let state = WatcherState::Connecting;
            on_update(WatcherUpdate {
                state: &state,
                inventory: &inv,
                changed: false,
            });
            let err = match session(
                host.as_deref(),
                &stop,
                &mut inv,
                &mut last_event,
                &mut on_update,
            )
            .await
            {
                Ok(()) => break,
                Err(e) => e,
            };
            if matches!(err, SessionEnd::WasSynced(_)) {
                backoff = BACKOFF_START;
            }
            let state = WatcherState::Unreachable {
                error: err.to_string(),
                retry_in: backoff,
            };
            on_update(WatcherUpdate {
                state: &state,
                inventory: &inv,
                changed: false,
            });
            sleep_unless_stopped(backoff, &stop).await;
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    });
    Ok(())
}

/// Why a session with the daemon ended.
#[derive(Debug, thiserror::Error)]
enum SessionEnd {
    #[error("{0}")]
    Failed(DockerError),
    /// It had synced before it broke: start the backoff over.
    #[error("{0}")]
    WasSynced(String),
}

async fn session(
    host: Option<&str>,
    stop: &AtomicBool,
    inv: &mut LiveInventory,
    last_event: &mut Option<i64>,
    on_update: &mut impl FnMut(WatcherUpdate<'_>),
) -> Result<(), SessionEnd> {
    let (docker, shown) = docker::connect(host).await.map_err(SessionEnd::Failed)?;
    // Events from a second before the list (or from the last one seen, after a
    // reconnect): a container that starts while we list is still re-inspected.
    let since = last_event.unwrap_or_else(|| unix_now() - 1);
    let filters = HashMap::from([(
        "type".to_string(),
        vec!["container".to_string(), "network".to_string()],
    )]);
    let mut events = docker.events(Some(EventsOptions {
        since: Some(since.to_string()),
        until: None,
        filters: Some(filters),
    }));
    let mut listed = docker::running_containers(&docker, &shown)
        .await
        .map_err(SessionEnd::Failed)?;
    let mut veth_warned = false;
    for c in &mut listed {
        find_veths(c, &mut veth_warned);
    }
    inv.resync(listed, &rfc3339_now());
    let synced = WatcherState::Synced;
    on_update(WatcherUpdate {
        state: &synced,
        inventory: inv,
        changed: true,
    });
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        let next = match tokio::time::timeout(STOP_POLL, events.next()).await {
            Err(_) => continue,
            Ok(n) => n,
        };
        let ev = match next {
            None => {
                return Err(SessionEnd::WasSynced(format!(
                    "{shown}: event stream ended"
                )))
            }
            Some(Err(e)) => {
                return Err(SessionEnd::WasSynced(format!(
                    "{shown}: event stream broke ({e})"
                )))
            }
            Some(Ok(ev)) => ev,
        };
        if let Some(t) = ev.time {
            *last_event = Some(t);
        }
        let action = ev.action.unwrap_or_default();
        let actor = ev.actor.unwrap_or_default();
        let attrs = actor.attributes.unwrap_or_default();
        // Network events name the container in an attribute; container events in the actor.
        let id = match ev.typ {
            Some(bollard::models::EventMessageTypeEnum::NETWORK) => attrs.get("container").cloned(),
            _ => actor.id,
        };
        let Some(id) = id.filter(|i| !i.is_empty()) else {
            continue;
        };
        let relevant = matches!(
            action.as_str(),
            "start"
                | "die"
                | "destroy"
                | "connect"
                | "disconnect"
                | "rename"
                | "update"
                | "restart"
        );
        if !relevant {
            continue;
        }
        match docker::inspect(&docker, &shown, &id).await {
            Ok(Some(mut c)) => {
                find_veths(&mut c, &mut veth_warned);
                inv.apply(c)
            }
            Ok(None) => inv.end(&id, &rfc3339_now()),
            Err(e) => return Err(SessionEnd::WasSynced(e.to_string())),
        }
        on_update(WatcherUpdate {
            state: &synced,
            inventory: inv,
            changed: true,
        });
    }
}

/// Fills the container's host-side veths; the first failure of a session is
/// logged (usually a missing CAP_SYS_ADMIN), later ones only leave the list empty.
pub fn find_veths(c: &mut super::ContainerInfo, warned: &mut bool) {
    let result = super::netns::links_by_index().and_then(|host| c.fill_veths(&host));
    if let Err(e) = result {
        if !*warned {
            tracing::warn!(
                "container {}: host veth unknown ({e}); attributing by MAC/IP only",
                c.name
            );
            *warned = true;
        }
    }
}

async fn sleep_unless_stopped(d: Duration, stop: &AtomicBool) {
    let mut left = d;
    while !left.is_zero() && !stop.load(Ordering::Relaxed) {
        let step = left.min(STOP_POLL);
        tokio::time::sleep(step).await;
        left -= step;
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Now, as RFC 3339 UTC with nanoseconds.
pub fn rfc3339_now() -> String {
    let ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0);
    crate::time::rfc3339_nanos(ns)
}
