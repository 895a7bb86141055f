//! Network plumbing for the tests that build their own namespaces, links and
//! bridges: running iproute2's `ip`.

use std::process::Command;

/// Runs `ip ARGS...`; panics with `ip`'s stderr when it fails.
pub fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}
