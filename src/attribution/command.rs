//! `bridgewatch inventory`: the Docker inventory printed once, or followed.

use super::docker;
use super::watcher::{self, WatcherState};
use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// Prints the running containers once (pretty JSON), or with `follow` the whole
/// inventory as one JSON line on every change until the process is stopped.
pub fn run(docker_host: Option<String>, follow: bool) -> anyhow::Result<ExitCode> {
    if follow {
        return run_follow(docker_host);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let json = rt.block_on(async {
        let (d, shown) = docker::connect(docker_host.as_deref()).await?;
        let mut listed = docker::running_containers(&d, &shown).await?;
        let mut warned = false;
        for c in &mut listed {
            watcher::find_veths(c, &mut warned);
        }
        let mut inv = super::LiveInventory::default();
        inv.resync(listed, &watcher::rfc3339_now());
        Ok::<_, docker::DockerError>(inv.to_json(true))
    });
    match json {
        Ok(j) => {
            println!("{j}");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("bridgewatch: error: {e}");
            eprintln!(
                "bridgewatch: hint: the Docker socket must be reachable and readable (root or the docker group; in a container, mount it: -v /var/run/docker.sock:/var/run/docker.sock:ro)"
            );
            Ok(ExitCode::FAILURE)
        }
    }
}

fn run_follow(docker_host: Option<String>) -> anyhow::Result<ExitCode> {
    let stop = Arc::new(AtomicBool::new(false));
    let mut last_state: Option<WatcherState> = None;
    let mut stdout = std::io::stdout();
    watcher::run(docker_host, stop, |u| {
        if last_state.as_ref() != Some(u.state) {
            match u.state {
                WatcherState::Unreachable { error, retry_in } => eprintln!(
                    "bridgewatch: warning: {error}; keeping what is known, retrying in {:.1}s",
                    retry_in.as_secs_f64()
                ),
                WatcherState::Synced => eprintln!(
                    "bridgewatch: inventory synced: {} running containers",
                    u.inventory.running_len()
                ),
                WatcherState::Connecting => {}
            }
            last_state = Some(u.state.clone());
        }
        if u.changed {
            // A closed stdout (the reader went away) is not worth a panic.
            let _ = writeln!(stdout, "{}", u.inventory.to_json(false));
            let _ = stdout.flush();
        }
    })?;
    Ok(ExitCode::SUCCESS)
}
