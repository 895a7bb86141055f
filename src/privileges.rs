//! Capabilities at start: the image's binary carries its capabilities as *permitted*
//! file capabilities (`setcap ...=p`, not `=ep`), so the kernel starts it whatever
//! subset the container was granted (with `=ep` a missing one makes exec fail), and
//! here the process raises what it was given into its effective set.  A sidecar
//! granted only NET_RAW/NET_ADMIN runs with those two; a host agent granted
//! SYS_ADMIN/SYS_PTRACE as well maps veths to containers.  Outside a container, run
//! by root or without file capabilities, this changes nothing.

use caps::{CapSet, Capability};

/// The capabilities bridgewatch can use, each with why.
pub const USED: [(Capability, &str); 4] = [
    (Capability::CAP_NET_RAW, "open AF_PACKET capture sockets"),
    (
        Capability::CAP_NET_ADMIN,
        "promiscuous mode, capture buffers above the sysctl limits",
    ),
    (
        Capability::CAP_SYS_ADMIN,
        "setns() into container network namespaces",
    ),
    (
        Capability::CAP_SYS_PTRACE,
        "open /proc/PID/ns/net of container processes",
    ),
];

/// Raises every permitted capability bridgewatch uses into the effective set.
/// Returns the ones now effective; failures are logged, never fatal (the feature
/// that needs a capability reports its own error when it is missing).
pub fn raise_permitted() -> Vec<Capability> {
    let permitted = match caps::read(None, CapSet::Permitted) {
        Ok(p) => p,
        Err(e) => {
            tracing::debug!(error = %e, "cannot read capabilities");
            return Vec::new();
        }
    };
    let mut effective = Vec::new();
    for (cap, why) in USED {
        if !permitted.contains(&cap) {
            continue;
        }
        match caps::raise(None, CapSet::Effective, cap) {
            Ok(()) => {
                tracing::debug!(capability = %cap, why, "capability effective");
                effective.push(cap);
            }
            Err(e) => tracing::warn!(capability = %cap, error = %e, "cannot raise capability"),
        }
    }
    effective
}

/// Once the captures are open: drops every capability bridgewatch uses except
/// `keep` from this thread's effective, permitted and inheritable sets, so threads
/// started afterwards never hold them (capabilities are per thread; call this before
/// starting any).  Returns what is still effective.  Failures are logged: running on
/// with a capability beats stopping the capture.
pub fn drop_except(keep: &[Capability]) -> Vec<Capability> {
    for (cap, _) in USED {
        if keep.contains(&cap) {
            continue;
        }
        for set in [CapSet::Effective, CapSet::Permitted, CapSet::Inheritable] {
            if let Err(e) = caps::drop(None, set, cap) {
                tracing::warn!(capability = %cap, error = %e, "cannot drop capability");
            }
        }
    }
    let effective = caps::read(None, CapSet::Effective).unwrap_or_default();
    USED.iter()
        .map(|(c, _)| *c)
        .filter(|c| effective.contains(c))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn raising_never_adds_what_was_not_permitted() {
        let permitted = caps::read(None, caps::CapSet::Permitted).unwrap();
        for c in super::raise_permitted() {
            assert!(permitted.contains(&c));
        }
    }
}
