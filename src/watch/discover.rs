//! Which interfaces `watch` captures when no `-i` is given: the Docker bridges
//! (`docker0` and the user-defined `br-*`), found in sysfs, and only them.  Their
//! veths are listed so the log can say what is covered, but not captured: a packet
//! between two containers crosses the bridge and both veths, and capturing both
//! would count it twice (the capture plan in the README).  Read at start, and again
//! by [`super::follow`] on every link event.

use std::path::Path;

/// A bridge to capture and the ports (veths) it covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bridge {
    pub name: String,
    pub ports: Vec<String>,
    /// Administratively up (`IFF_UP`); a down bridge cannot be captured on.
    pub up: bool,
}

/// Whether `name` is one of Docker's bridges.
pub fn is_docker_bridge(name: &str) -> bool {
    name == "docker0" || name.starts_with("br-")
}

/// The Docker bridges under `sys_class_net` (normally `/sys/class/net`), sorted by name.
/// Unreadable entries are skipped: sysfs changes under our feet as links come and go.
pub fn docker_bridges(sys_class_net: &Path) -> std::io::Result<Vec<Bridge>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(sys_class_net)? {
        let Ok(entry) = entry else { continue };
        let name = entry.file_name().to_string_lossy().into_owned();
        let dir = sys_class_net.join(&name);
        if !is_docker_bridge(&name) || !dir.join("bridge").is_dir() {
            continue;
        }
        let mut ports: Vec<String> = std::fs::read_dir(dir.join("brif"))
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        ports.sort();
        // `flags` is hex text such as "0x1003"; IFF_UP is bit 0.
        let up = std::fs::read_to_string(dir.join("flags"))
            .ok()
            .and_then(|f| u32::from_str_radix(f.trim().trim_start_matches("0x"), 16).ok())
            .is_some_and(|f| f & 1 == 1);
        out.push(Bridge { name, ports, up });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_bridge_names() {
        assert!(is_docker_bridge("docker0"));
        assert!(is_docker_bridge("br-3f2a9c0d1e4b"));
        assert!(!is_docker_bridge("virbr0"));
        assert!(!is_docker_bridge("docker1"));
        assert!(!is_docker_bridge("vethabc"));
    }

    #[test]
    fn the_hosts_own_sysfs_reads_without_error() {
        // Whatever this machine has: every entry found is a Docker-named bridge.
        let found = docker_bridges(Path::new("/sys/class/net")).unwrap();
        for b in &found {
            assert!(is_docker_bridge(&b.name), "{b:?}");
            assert!(Path::new("/sys/class/net")
                .join(&b.name)
                .join("bridge")
                .is_dir());
        }
    }
}
