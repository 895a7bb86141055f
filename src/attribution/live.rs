//! The inventory as it changes: running containers by id, plus the leases of
//! containers that have ended (so an IP reused by a new container is attributed to
//! the old one for the old traffic and the new one for the new).  Ended leases are
//! bounded; the oldest go first and are counted.  [`LiveInventory::to_json`]
//! writes the format `replay --containers` reads, so a capture taken in production
//! replays with its attribution.

use super::docker::ContainerInfo;
use serde::Serialize;
use std::collections::{BTreeSet, HashMap, VecDeque};

/// Ended leases kept for IP-reuse attribution.
pub const MAX_ENDED: usize = 4096;

#[derive(Debug, Default)]
pub struct LiveInventory {
    running: HashMap<String, ContainerInfo>,
    ended: VecDeque<ContainerInfo>,
    /// Ended leases dropped because more than [`MAX_ENDED`] were kept.
    pub ended_dropped: u64,
}

#[derive(Serialize)]
struct FileOut<'a> {
    containers: Vec<&'a ContainerInfo>,
    host_ips: BTreeSet<&'a str>,
}

impl LiveInventory {
    /// What a fresh list says is running now.  Containers we had as running that
    /// the list no longer holds ended while we were not looking: end them `now`.
    pub fn resync(&mut self, listed: Vec<ContainerInfo>, now: &str) {
        let listed_ids: BTreeSet<String> = listed.iter().map(|c| c.id.clone()).collect();
        let gone: Vec<String> = self
            .running
            .keys()
            .filter(|id| !listed_ids.contains(*id))
            .cloned()
            .collect();
        for id in gone {
            self.end(&id, now);
        }
        for c in listed {
            self.apply(c);
        }
    }

    /// A fresh inspect of one container.
    pub fn apply(&mut self, mut c: ContainerInfo) {
        match (c.running, self.running.remove(&c.id)) {
            (true, Some(old)) if old.since == c.since => {
                self.running.insert(c.id.clone(), c);
            }
            (true, Some(mut old)) => {
                // Restarted while we missed its death: the old lease ended when
                // the new one began.
                old.running = false;
                old.pid = None;
                old.until = c.since.clone();
                self.push_ended(old);
                self.running.insert(c.id.clone(), c);
            }
            (true, None) => {
                self.running.insert(c.id.clone(), c);
            }
            (false, Some(old)) => {
                // A stopped container's inspect has no addresses any more: the
                // lease keeps the ones it had while it ran.
                if c.ips.is_empty() && c.macs.is_empty() {
                    c.ips = old.ips;
                    c.macs = old.macs;
                    c.networks = old.networks;
                }
                // Its veths are gone too, but a flow of its last moments is written
                // after it ended and still names it by the veth it was captured on.
                if c.veths.is_empty() {
                    c.veths = old.veths;
                }
                if c.since.is_none() {
                    c.since = old.since;
                }
                self.push_ended(c);
            }
            (false, None) => {
                // Never seen running (created and stopped between our looks):
                // nothing to attribute.
            }
        }
    }

    /// The container is gone (destroyed, or no longer listed) at time `now`.
    pub fn end(&mut self, id: &str, now: &str) {
        if let Some(mut old) = self.running.remove(id) {
            old.running = false;
            old.pid = None;
            old.until = Some(now.to_string());
            self.push_ended(old);
        }
    }

    fn push_ended(&mut self, c: ContainerInfo) {
        if c.ips.is_empty() && c.macs.is_empty() {
            return;
        }
        if self.ended.len() >= MAX_ENDED {
            self.ended.pop_front();
            self.ended_dropped += 1;
        }
        self.ended.push_back(c);
    }

    pub fn running(&self) -> impl Iterator<Item = &ContainerInfo> {
        self.running.values()
    }

    pub fn running_len(&self) -> usize {
        self.running.len()
    }

    pub fn ended_len(&self) -> usize {
        self.ended.len()
    }

    /// The inventory file: ended leases first (oldest first), then the running
    /// containers by name, so for an IP held twice the current holder is listed
    /// last (the loader lets the latest-listed live entry win).  The networks'
    /// gateways are the host's addresses.
    pub fn to_json(&self, pretty: bool) -> String {
        let mut running: Vec<&ContainerInfo> = self.running.values().collect();
        running.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        let host_ips = self
            .ended
            .iter()
            .chain(running.iter().copied())
            .flat_map(|c| c.networks.iter())
            .flat_map(|n| n.gateway.iter().chain(n.ipv6_gateway.iter()))
            .map(String::as_str)
            .collect();
        let out = FileOut {
            containers: self.ended.iter().chain(running).collect(),
            host_ips,
        };
        let r = if pretty {
            serde_json::to_string_pretty(&out)
        } else {
            serde_json::to_string(&out)
        };
        // Serializing strings and maps cannot fail; an empty object beats a panic.
        r.unwrap_or_else(|_| "{\"containers\":[]}".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Inventory;
    use crate::time::NANOS_PER_SEC;

    fn c(id: &str, name: &str, ip: &str, since: &str, running: bool) -> ContainerInfo {
        ContainerInfo {
            id: id.into(),
            name: name.into(),
            image: "busybox:1".into(),
            ips: if ip.is_empty() {
                vec![]
            } else {
                vec![ip.into()]
            },
            since: Some(since.into()),
            running,
            ..Default::default()
        }
    }

    #[test]
    fn reused_ip_is_attributed_by_time_after_a_round_trip_through_json() {
        let mut inv = LiveInventory::default();
        inv.apply(c("a", "old", "172.18.0.2", "2026-12-04T06:00:00Z", true));
        // Died: the stopped inspect has no IP any more.
        let mut dead = c("a", "old", "", "2026-12-04T06:00:00Z", false);
        dead.until = Some("2026-12-04T06:01:00Z".into());
        inv.apply(dead);
        inv.apply(c("b", "new", "172.18.0.2", "2026-12-04T06:02:00Z", true));
        let json = inv.to_json(false);
        let loaded = Inventory::from_json_str(&json, "live").expect("loads");
        let ip = "172.18.0.2".parse().unwrap();
        let t = |s: &str| crate::rules::inventory::parse_rfc3339(s).unwrap();
        assert_eq!(
            loaded.lookup(ip, t("2026-12-04T06:00:30Z")).unwrap().name,
            "old"
        );
        assert_eq!(
            loaded.lookup(ip, t("2026-12-04T06:03:00Z")).unwrap().name,
            "new"
        );
        assert!(loaded
            .lookup(ip, t("2026-12-04T06:01:30Z") + NANOS_PER_SEC)
            .is_none());
    }

    #[test]
    fn resync_ends_what_vanished_and_restart_splits_the_lease() {
        let mut inv = LiveInventory::default();
        inv.apply(c("a", "x", "10.0.0.2", "2026-12-04T06:00:00Z", true));
        inv.apply(c("b", "y", "10.0.0.3", "2026-12-04T06:00:00Z", true));
        inv.resync(
            vec![c("a", "x", "10.0.0.2", "2026-12-04T06:10:00Z", true)],
            "2026-12-04T06:11:00Z",
        );
        assert_eq!(inv.running_len(), 1);
        assert_eq!(inv.ended_len(), 2, "b vanished, a restarted");
        let ended: Vec<_> = inv.ended.iter().map(|e| e.until.clone()).collect();
        assert!(ended.contains(&Some("2026-12-04T06:11:00Z".into())));
        assert!(ended.contains(&Some("2026-12-04T06:10:00Z".into())));
    }

    #[test]
    fn ended_leases_are_bounded_and_counted() {
        let mut inv = LiveInventory::default();
        for i in 0..MAX_ENDED + 5 {
            let id = format!("c{i}");
            inv.apply(c(&id, &id, "10.1.0.2", "2026-12-04T06:00:00Z", true));
            inv.end(&id, "2026-12-04T06:00:01Z");
        }
        assert_eq!(inv.ended_len(), MAX_ENDED);
        assert_eq!(inv.ended_dropped, 5);
    }
}
