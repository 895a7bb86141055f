//! Container identity: which container was behind a flow end at a given time.
//!
//! Loaded from `--containers FILE` (or the Docker watcher's snapshot), JSON of the form
//! `{"containers": [{"id","name","image","labels":{},"ips":[],"macs":[],"veths":[],
//! "network_mode","netns_of","since","until"}], "host_ips": []}`.
//! Extra keys are ignored; `since`/`until` (RFC 3339) bound an entry in time so a
//! reused IP, MAC or veth name maps to the right container.  Lookups are one hash
//! probe plus a short scan of the entries that ever held that key.
//!
//! [`Inventory::attribute`] names both ends of a flow.  Precedence, strongest first:
//! the capture interface when it is a container's host veth (one end of every flow on
//! it is in that container), then the Ethernet source MAC of the end's first packet
//! (what the frame carried), then the end's IP address.  Containers in
//! `container:ID` network mode have no addresses of their own: flows in a shared
//! namespace are attributed to its owner, whose entry lists the members.

use super::compile::FastBuild;
use crate::flow::record::{FlowRecord, MacAddr};
use crate::time::{Nanos, NANOS_PER_SEC};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::path::Path;

/// One container as the rules see it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Container {
    pub id: String,
    pub name: String,
    pub image: String,
    /// `image` without `:tag` or `@digest`.
    pub repository: String,
    /// The tag, if the image names one.
    pub tag: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub ips: Vec<IpAddr>,
    pub macs: Vec<String>,
    /// Host-side veths whose peer is in this container's network namespace.
    pub veths: Vec<String>,
    /// `HostConfig.NetworkMode` (`bridge`, `host`, a network, `container:ID`), when known.
    pub network_mode: Option<String>,
    /// For `container:ID` mode: the id (or name) of the namespace's owner.
    pub netns_of: Option<String>,
    /// Containers in `container:<this>` mode: they share this one's network namespace.
    pub netns_members: Vec<NetnsMember>,
    /// The Docker network the addresses are on (name or id), when known.
    pub network: Option<String>,
    pub since: Option<Nanos>,
    pub until: Option<Nanos>,
}

impl Container {
    /// A container with the given identity; repository and tag are derived from `image`.
    pub fn new(id: &str, name: &str, image: &str) -> Container {
        let (repository, tag) = split_image(image);
        Container {
            id: id.into(),
            name: name.into(),
            image: image.into(),
            repository,
            tag,
            ..Container::default()
        }
    }
    pub fn label(mut self, k: &str, v: &str) -> Container {
        self.labels.insert(k.into(), v.into());
        self
    }
    pub fn ip(mut self, ip: &str) -> Container {
        if let Ok(ip) = ip.parse() {
            self.ips.push(ip);
        }
        self
    }
    fn live_at(&self, t: Nanos) -> bool {
        live_at(self.since, self.until, t)
    }

    /// Names of the containers sharing this one's network namespace at time `t`.
    pub fn netns_members_at(&self, t: Nanos) -> impl Iterator<Item = &str> {
        self.netns_members
            .iter()
            .filter(move |m| live_at(m.since, m.until, t))
            .map(|m| m.name.as_str())
    }
}

/// A unicast address beyond the link: what MAC and veth attribution may name.
fn is_routable_unicast(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => {
            !(a.is_unspecified()
                || a.is_loopback()
                || a.is_link_local()
                || a.is_multicast()
                || a.is_broadcast())
        }
        IpAddr::V6(a) => {
            !(a.is_unspecified()
                || a.is_loopback()
                || a.is_multicast()
                || a.is_unicast_link_local())
        }
    }
}

fn live_at(since: Option<Nanos>, until: Option<Nanos>, t: Nanos) -> bool {
    since.is_none_or(|s| t >= s) && until.is_none_or(|u| t < u)
}

/// A container that shares another's network namespace (`--network container:X`),
/// listed on X's entry with its own lifetime.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NetnsMember {
    pub id: String,
    pub name: String,
    pub since: Option<Nanos>,
    pub until: Option<Nanos>,
}

/// How a flow end's container was found (see [`Inventory::attribute`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttributedBy {
    /// The capture interface is the container's host-side veth.
    Veth,
    /// The Ethernet source address of the end's first packet is the container's.
    Mac,
    /// The end's IP address was the container's at the flow's start.
    Ip,
}

impl AttributedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            AttributedBy::Veth => "veth",
            AttributedBy::Mac => "mac",
            AttributedBy::Ip => "ip",
        }
    }
}

/// The containers behind a flow's originator (`[0]`) and responder (`[1]`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Ends<'a> {
    pub container: [Option<&'a Container>; 2],
    pub by: [Option<AttributedBy>; 2],
}

/// Splits `registry:5000/repo/name:tag@sha256:...` into repository and tag.
pub fn split_image(image: &str) -> (String, Option<String>) {
    let no_digest = image.split('@').next().unwrap_or(image);
    let last_slash = no_digest.rfind('/').map_or(0, |i| i + 1);
    match no_digest.get(last_slash..).and_then(|t| t.rfind(':')) {
        Some(i) => {
            let at = last_slash + i;
            (
                no_digest.get(..at).unwrap_or("").to_string(),
                no_digest.get(at + 1..).map(str::to_string),
            )
        }
        None => (no_digest.to_string(), None),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: bad container inventory JSON: {source}")]
    Json {
        path: String,
        source: serde_json::Error,
    },
    #[error("{path}: container {id}: {message}")]
    Entry {
        path: String,
        id: String,
        message: String,
    },
}

#[derive(Deserialize)]
struct FileJson {
    #[serde(default)]
    containers: Vec<EntryJson>,
    #[serde(default)]
    host_ips: Vec<String>,
}

#[derive(Deserialize)]
struct EntryJson {
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    image: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    ips: Vec<String>,
    #[serde(default)]
    macs: Vec<String>,
    #[serde(default)]
    veths: Vec<String>,
    network_mode: Option<String>,
    netns_of: Option<String>,
    network: Option<String>,
    /// What `bridgewatch inventory` writes: the networks the container is on.
    #[serde(default)]
    networks: Vec<NetworkJson>,
    since: Option<String>,
    until: Option<String>,
}

#[derive(Deserialize)]
struct NetworkJson {
    #[serde(default)]
    name: String,
}

/// The container inventory: IP, MAC and host veth → containers, plus the host's own
/// addresses.
#[derive(Clone, Debug, Default)]
pub struct Inventory {
    containers: Vec<Container>,
    by_ip: HashMap<IpAddr, Vec<u32>, FastBuild>,
    by_mac: HashMap<MacAddr, Vec<u32>, FastBuild>,
    by_veth: HashMap<String, Vec<u32>, FastBuild>,
    host_ips: HashSet<IpAddr, FastBuild>,
}

impl Inventory {
    pub fn from_json_file(path: &Path) -> Result<Inventory, InventoryError> {
        let text = std::fs::read_to_string(path).map_err(|source| InventoryError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Inventory::from_json_str(&text, &path.display().to_string())
    }

    /// Parses inventory JSON; `origin` names the source in errors.
    pub fn from_json_str(text: &str, origin: &str) -> Result<Inventory, InventoryError> {
        let f: FileJson = serde_json::from_str(text).map_err(|source| InventoryError::Json {
            path: origin.into(),
            source,
        })?;
        let mut inv = Inventory::default();
        let bad = |id: &str, message: String| InventoryError::Entry {
            path: origin.into(),
            id: id.into(),
            message,
        };
        for e in f.containers {
            let mut c = Container::new(&e.id, &e.name, &e.image);
            c.labels = e.labels;
            for m in &e.macs {
                if m.parse::<MacAddr>().is_err() {
                    return Err(bad(&e.id, format!("bad MAC address {m:?}")));
                }
            }
            c.macs = e.macs;
            c.veths = e.veths;
            c.network_mode = e.network_mode.filter(|m| !m.is_empty());
            c.netns_of = e.netns_of.filter(|o| !o.is_empty()).or_else(|| {
                c.network_mode
                    .as_deref()
                    .and_then(|m| m.strip_prefix("container:"))
                    .filter(|o| !o.is_empty())
                    .map(str::to_string)
            });
            // `network`, or else the names of `bridgewatch inventory`'s `networks`.
            c.network = e.network.or_else(|| {
                let names: Vec<&str> = e
                    .networks
                    .iter()
                    .map(|n| n.name.as_str())
                    .filter(|n| !n.is_empty())
                    .collect();
                (!names.is_empty()).then(|| names.join(","))
            });
            for ip in &e.ips {
                c.ips.push(
                    ip.parse()
                        .map_err(|_| bad(&e.id, format!("bad IP address {ip:?}")))?,
                );
            }
            for (src, dst) in [(&e.since, &mut c.since), (&e.until, &mut c.until)] {
                if let Some(s) = src {
                    *dst = Some(
                        parse_rfc3339(s)
                            .ok_or_else(|| bad(&e.id, format!("bad RFC 3339 time {s:?}")))?,
                    );
                }
            }
            inv.add(c);
        }
        inv.link_netns_groups();
        for ip in &f.host_ips {
            let ip = ip
                .parse()
                .map_err(|_| bad("host_ips", format!("bad IP address {ip:?}")))?;
            inv.host_ips.insert(ip);
        }
        Ok(inv)
    }

    pub fn add(&mut self, c: Container) {
        let idx = self.containers.len() as u32;
        for ip in &c.ips {
            self.by_ip.entry(*ip).or_default().push(idx);
        }
        for m in c.macs.iter().filter_map(|m| m.parse::<MacAddr>().ok()) {
            self.by_mac.entry(m).or_default().push(idx);
        }
        // A `container:X` member sees X's veths from inside the shared namespace:
        // the veth names the owner, whose entry lists the members.
        if c.netns_of.is_none() {
            for v in &c.veths {
                self.by_veth.entry(v.clone()).or_default().push(idx);
            }
        }
        self.containers.push(c);
    }

    /// Lists each `container:X` member on X's entry (X named by full id, an id
    /// prefix of at least 12 characters, or name; the latest-listed X whose lifetime
    /// overlaps the member's).
    fn link_netns_groups(&mut self) {
        let mut links = Vec::new();
        for (mi, m) in self.containers.iter().enumerate() {
            let Some(owner) = m.netns_of.as_deref() else {
                continue;
            };
            let overlaps = |o: &Container| {
                m.since.is_none_or(|s| o.until.is_none_or(|u| s < u))
                    && m.until.is_none_or(|u| o.since.is_none_or(|s| s < u))
            };
            let found = self.containers.iter().enumerate().rev().find(|(oi, o)| {
                *oi != mi
                    && o.netns_of.is_none()
                    && (o.id == owner
                        || (owner.len() >= 12 && o.id.starts_with(owner))
                        || o.name == owner)
                    && overlaps(o)
            });
            if let Some((oi, _)) = found {
                links.push((
                    oi,
                    NetnsMember {
                        id: m.id.clone(),
                        name: m.name.clone(),
                        since: m.since,
                        until: m.until,
                    },
                ));
            }
        }
        for (oi, member) in links {
            if let Some(o) = self.containers.get_mut(oi) {
                if !o.netns_members.contains(&member) {
                    o.netns_members.push(member);
                }
            }
        }
    }

    /// Adds every container and host address of `other` (listed after this one's).
    pub fn extend_from(&mut self, other: &Inventory) {
        for c in &other.containers {
            self.add(c.clone());
        }
        for ip in &other.host_ips {
            self.host_ips.insert(*ip);
        }
    }

    pub fn add_host_ip(&mut self, ip: IpAddr) {
        self.host_ips.insert(ip);
    }

    /// The container that held `ip` at time `t`; the latest-listed entry wins a tie.
    pub fn lookup(&self, ip: IpAddr, t: Nanos) -> Option<&Container> {
        let idxs = self.by_ip.get(&ip)?;
        idxs.iter()
            .rev()
            .filter_map(|&i| self.containers.get(i as usize))
            .find(|c| c.live_at(t))
    }

    /// The container whose MAC `mac` was at time `t`; the latest-listed entry wins.
    pub fn lookup_mac(&self, mac: MacAddr, t: Nanos) -> Option<&Container> {
        let idxs = self.by_mac.get(&mac)?;
        idxs.iter()
            .rev()
            .filter_map(|&i| self.containers.get(i as usize))
            .find(|c| c.live_at(t))
    }

    /// The container whose host-side veth `iface` was at time `t`.
    pub fn lookup_veth(&self, iface: &str, t: Nanos) -> Option<&Container> {
        let idxs = self.by_veth.get(iface)?;
        idxs.iter()
            .rev()
            .filter_map(|&i| self.containers.get(i as usize))
            .find(|c| c.live_at(t))
    }

    /// The containers behind both ends of `rec` at its first packet.
    ///
    /// Each end: the container its first packet's source MAC belonged to, else the one
    /// its IP belonged to.  Then, when the capture interface is a container's host
    /// veth, that container is one end, overriding: the end whose MAC or IP is its,
    /// else an end nothing else names (not a host address, not another container's;
    /// the originator first): a veth carries only its container's traffic, so the end
    /// that is accounted for otherwise is the far one.
    ///
    /// Neither MAC nor veth names an end whose IP is link-scoped (unspecified,
    /// link-local, multicast, broadcast, loopback): that is the link's housekeeping
    /// (IPv6 neighbour discovery and MLD from `::` or `fe80::`, DHCP from `0.0.0.0`),
    /// which the IP leases never name either, not a connection the container made.
    pub fn attribute(&self, rec: &FlowRecord) -> Ends<'_> {
        // Every map indexes `containers`: with none, no end can be a container.  A
        // replay without --containers skips four map lookups per flow view this way
        // (75M of 4.9G instructions, callgrind, mixed.pcap).
        if self.containers.is_empty() {
            return Ends::default();
        }
        let t = rec.ts;
        let hosts = [rec.orig_h, rec.resp_h];
        let routable = hosts.map(is_routable_unicast);
        let macs = [rec.orig_l2_addr, rec.resp_l2_addr];
        let by_mac = [0, 1].map(|e| {
            macs[e]
                .filter(|_| routable[e])
                .and_then(|m| self.lookup_mac(m, t))
        });
        let by_ip = hosts.map(|ip| self.lookup(ip, t));
        let mut ends = Ends::default();
        for e in 0..2 {
            (ends.container[e], ends.by[e]) = match (by_mac[e], by_ip[e]) {
                (Some(c), _) => (Some(c), Some(AttributedBy::Mac)),
                (None, Some(c)) => (Some(c), Some(AttributedBy::Ip)),
                (None, None) => (None, None),
            };
        }
        let Some(v) = rec
            .iface
            .as_deref()
            .filter(|_| !self.by_veth.is_empty())
            .and_then(|i| self.lookup_veth(i, t))
        else {
            return ends;
        };
        let is_v = |c: Option<&Container>| c.is_some_and(|c| std::ptr::eq(c, v));
        let owns = |e: usize| is_v(by_mac[e]) || is_v(by_ip[e]);
        let free = |e: usize| ends.container[e].is_none() && routable[e] && !self.is_host(hosts[e]);
        let end = [0, 1]
            .into_iter()
            .find(|&e| owns(e))
            .or_else(|| [0, 1].into_iter().find(|&e| free(e)));
        if let Some(end) = end {
            ends.container[end] = Some(v);
            ends.by[end] = Some(AttributedBy::Veth);
        }
        ends
    }

    pub fn is_host(&self, ip: IpAddr) -> bool {
        !self.host_ips.is_empty() && self.host_ips.contains(&ip)
    }

    pub fn len(&self) -> usize {
        self.containers.len()
    }
    pub fn is_empty(&self) -> bool {
        self.containers.is_empty()
    }
}

/// The inventory a live run keeps swapping: the Docker watcher publishes a new
/// snapshot with [`SharedInventory::replace`]; each evaluator keeps its own
/// `Arc` and checks [`SharedInventory::version`] (one atomic load) per flow, taking
/// the lock only when a new snapshot is there.  No lock per packet or per flow.
#[derive(Debug, Default)]
pub struct SharedInventory {
    version: std::sync::atomic::AtomicU64,
    current: std::sync::Mutex<std::sync::Arc<Inventory>>,
}

impl SharedInventory {
    pub fn new(inv: std::sync::Arc<Inventory>) -> SharedInventory {
        SharedInventory {
            version: std::sync::atomic::AtomicU64::new(0),
            current: std::sync::Mutex::new(inv),
        }
    }

    /// Publishes a new snapshot.
    pub fn replace(&self, inv: Inventory) {
        let mut cur = match self.current.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        *cur = std::sync::Arc::new(inv);
        self.version
            .fetch_add(1, std::sync::atomic::Ordering::Release);
    }

    /// Bumped by every [`SharedInventory::replace`].
    #[inline]
    pub fn version(&self) -> u64 {
        self.version.load(std::sync::atomic::Ordering::Acquire)
    }

    /// The current snapshot and its version.
    pub fn snapshot(&self) -> (u64, std::sync::Arc<Inventory>) {
        let cur = match self.current.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        (self.version(), cur.clone())
    }
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)` to nanoseconds.
pub fn parse_rfc3339(s: &str) -> Option<Nanos> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        if t.bytes().all(|c| c.is_ascii_digit()) {
            t.parse().ok()
        } else {
            None
        }
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || !matches!(b.get(10), Some(b'T' | b't' | b' '))
    {
        return None;
    }
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut i = 19;
    let mut frac: i64 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let mut scale = NANOS_PER_SEC / 10;
        while let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) {
            frac += i64::from(c - b'0') * scale;
            scale /= 10;
            i += 1;
        }
    }
    let offset = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) if i + 6 == b.len() => {
            let oh = num(i + 1..i + 3)?;
            let om = num(i + 4..i + 6)?;
            let o = (oh * 60 + om) * 60;
            if *sign == b'+' {
                o
            } else {
                -o
            }
        }
        _ => return None,
    };
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se - offset;
    secs.checked_mul(NANOS_PER_SEC)?.checked_add(frac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_parses() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339("2023-11-14T22:13:20.5Z"),
            Some(1_700_000_000_500_000_000)
        );
        assert_eq!(
            parse_rfc3339("2023-11-14T23:13:20+01:00"),
            Some(1_700_000_000_000_000_000)
        );
        assert_eq!(parse_rfc3339("2023-11-14"), None);
        assert_eq!(parse_rfc3339("2023-13-14T00:00:00Z"), None);
    }

    #[test]
    fn image_splits() {
        assert_eq!(
            split_image("nginx:1.25"),
            ("nginx".into(), Some("1.25".into()))
        );
        assert_eq!(
            split_image("registry:5000/team/app"),
            ("registry:5000/team/app".into(), None)
        );
        assert_eq!(split_image("redis@sha256:abcd"), ("redis".into(), None));
    }

    #[test]
    fn lookup_respects_time_bounds_and_host_ips() {
        let j = r#"{"containers":[
            {"id":"a","name":"old","image":"x:1","ips":["10.0.0.2"],"until":"2024-01-01T00:00:00Z","extra":1},
            {"id":"b","name":"new","image":"y","ips":["10.0.0.2"],"since":"2024-01-01T00:00:00Z","labels":{"k":"v"}}],
            "host_ips":["10.0.0.1"]}"#;
        let inv = Inventory::from_json_str(j, "t").unwrap();
        let ip = "10.0.0.2".parse().unwrap();
        let t = parse_rfc3339("2024-01-01T00:00:00Z").unwrap();
        assert_eq!(inv.lookup(ip, t - 1).unwrap().name, "old");
        assert_eq!(inv.lookup(ip, t).unwrap().name, "new");
        assert!(inv.is_host("10.0.0.1".parse().unwrap()));
        assert!(inv.lookup("10.0.0.1".parse().unwrap(), t).is_none());
    }

    /// A stack on 172.18.0.0/16 (2023-11-14, around the flow tests' T0): `app` with a
    /// sidecar in its namespace, `db`, and 172.18.0.9 handed from `old` to `new`.
    fn stack() -> Inventory {
        Inventory::from_json_str(
            r#"{"containers":[
              {"id":"a1b2c3d4e5f6a7b8","name":"app","image":"shop/app:1","ips":["172.18.0.2"],
               "macs":["02:42:ac:12:00:02"],"veths":["vethapp"],"network_mode":"shop"},
              {"id":"5151","name":"side","image":"tools:1","network_mode":"container:a1b2c3d4e5f6",
               "veths":["vethapp"]},
              {"id":"d1","name":"db","image":"postgres:16","ips":["172.18.0.3"],
               "macs":["02:42:ac:12:00:03"],"veths":["vethdb"]},
              {"id":"o1","name":"old","image":"x:1","ips":["172.18.0.9"],"macs":["02:42:ac:12:00:09"],
               "until":"2023-11-14T22:13:20Z"},
              {"id":"n1","name":"new","image":"x:2","ips":["172.18.0.9"],"macs":["9e:00:00:00:00:09"],
               "since":"2023-11-14T22:13:20Z"}],
             "host_ips":["172.18.0.1"]}"#,
            "t",
        )
        .unwrap()
    }

    fn mac(s: &str) -> Option<MacAddr> {
        Some(s.parse().unwrap())
    }

    /// (name, how) of both ends.
    fn names(inv: &Inventory, r: &FlowRecord) -> [Option<(String, &'static str)>; 2] {
        let e = inv.attribute(r);
        [0, 1].map(|i| {
            e.container[i]
                .zip(e.by[i])
                .map(|(c, by)| (c.name.clone(), by.as_str()))
        })
    }

    fn named(name: &str, by: &'static str) -> Option<(String, &'static str)> {
        Some((name.to_string(), by))
    }

    #[test]
    fn an_end_is_named_by_its_mac_before_its_ip() {
        use crate::rules::tests::flow;
        let inv = stack();
        let mut r = flow("172.18.0.2", 40000, "172.18.0.3", 5432, 6);
        assert_eq!(names(&inv, &r), [named("app", "ip"), named("db", "ip")]);
        // An address no entry holds (added inside the container): its MAC names it.
        r.orig_h = "172.18.0.77".parse().unwrap();
        assert_eq!(names(&inv, &r)[0], None);
        r.orig_l2_addr = mac("02:42:ac:12:00:02");
        assert_eq!(names(&inv, &r)[0], named("app", "mac"));
        // The frame's MAC wins over an IP that names someone else.
        r.orig_h = "172.18.0.3".parse().unwrap();
        assert_eq!(names(&inv, &r)[0], named("app", "mac"));
        // A MAC no entry holds (the bridge's, on routed traffic) leaves the IP.
        r.orig_l2_addr = mac("02:00:00:00:00:01");
        assert_eq!(names(&inv, &r)[0], named("db", "ip"));
    }

    #[test]
    fn mac_leases_are_kept_by_time_like_ip_leases() {
        use crate::rules::tests::{flow, T0};
        let inv = stack();
        // T0 is 22:13:20Z, when the address passed from old to new.
        let mut r = flow("172.18.0.9", 40000, "203.0.113.5", 443, 6);
        r.ts = T0 - 1;
        r.orig_l2_addr = mac("02:42:ac:12:00:09");
        assert_eq!(names(&inv, &r)[0], named("old", "mac"));
        // Old's MAC after its end is nobody's: the IP lease (new) answers.
        r.ts = T0;
        assert_eq!(names(&inv, &r)[0], named("new", "ip"));
        r.orig_l2_addr = mac("9e:00:00:00:00:09");
        assert_eq!(names(&inv, &r)[0], named("new", "mac"));
        r.ts = T0 - 1;
        assert_eq!(
            names(&inv, &r)[0],
            named("old", "ip"),
            "new's MAC was nobody's yet"
        );
    }

    #[test]
    fn the_capture_veth_names_one_end_before_mac_and_ip() {
        use crate::rules::tests::flow;
        let inv = stack();
        let on = |o: &str, s: &str, iface: &str| {
            let mut r = flow(o, 40000, s, 443, 6);
            r.iface = Some(iface.into());
            r
        };
        // Neither end known: the originator is the container side.
        let r = on("10.9.9.9", "203.0.113.5", "vethapp");
        assert_eq!(names(&inv, &r), [named("app", "veth"), None]);
        assert_eq!(crate::rules::flow_direction(&inv, &r), "outbound");
        // The end whose address is the veth's container is that container.
        let r = on("203.0.113.5", "172.18.0.2", "vethapp");
        assert_eq!(names(&inv, &r), [None, named("app", "veth")]);
        // The originator is another container (db → app's unknown second address).
        let r = on("172.18.0.3", "172.18.0.77", "vethapp");
        assert_eq!(names(&inv, &r), [named("db", "ip"), named("app", "veth")]);
        // The originator is the host: the responder is the container.
        let r = on("172.18.0.1", "10.9.9.9", "vethapp");
        assert_eq!(names(&inv, &r), [None, named("app", "veth")]);
        // The veth overrides an address that names another container.
        let mut r = on("172.18.0.9", "203.0.113.5", "vethdb");
        r.ts = crate::rules::tests::T0;
        assert_eq!(names(&inv, &r), [named("new", "ip"), named("db", "veth")]);
        // Link housekeeping (neighbour discovery from `::`, to a multicast group) is
        // named neither by the veth nor by the MAC it was sent from.
        let mut r = on("::", "ff02::16", "vethapp");
        r.orig_l2_addr = mac("02:42:ac:12:00:02");
        assert_eq!(names(&inv, &r), [None, None]);
        r.orig_h = "fe80::42:acff:fe12:2".parse().unwrap();
        assert_eq!(names(&inv, &r), [None, None]);
        r.iface = None;
        assert_eq!(names(&inv, &r), [None, None]);
        // An interface that is no container's veth changes nothing.
        let r = on("172.18.0.2", "172.18.0.3", "br-1234");
        assert_eq!(names(&inv, &r), [named("app", "ip"), named("db", "ip")]);
    }

    #[test]
    fn a_shared_netns_is_named_by_its_owner_with_its_members() {
        use crate::rules::tests::{flow, T0};
        let inv = stack();
        let app = inv.lookup("172.18.0.2".parse().unwrap(), T0).unwrap();
        assert_eq!(app.netns_members_at(T0).collect::<Vec<_>>(), ["side"]);
        let side = inv.containers.iter().find(|c| c.name == "side").unwrap();
        assert_eq!(side.netns_of.as_deref(), Some("a1b2c3d4e5f6"));
        // The member sees the owner's veth from inside: the veth names the owner.
        let mut r = flow("10.9.9.9", 40000, "203.0.113.5", 443, 6);
        r.iface = Some("vethapp".into());
        assert_eq!(names(&inv, &r)[0], named("app", "veth"));
        // A member that has ended is no longer listed; owners are found by name too.
        let inv = Inventory::from_json_str(
            r#"{"containers":[{"id":"o","name":"web","ips":["10.0.0.2"]},
                {"id":"m","name":"probe","network_mode":"container:web","until":"2023-11-14T22:13:20Z"}]}"#,
            "t",
        )
        .unwrap();
        let web = inv.lookup("10.0.0.2".parse().unwrap(), T0 - 1).unwrap();
        assert_eq!(web.netns_members_at(T0 - 1).collect::<Vec<_>>(), ["probe"]);
        assert_eq!(web.netns_members_at(T0).count(), 0);
    }

    #[test]
    fn bad_entries_are_errors() {
        assert!(Inventory::from_json_str(r#"{"containers":[{"macs":["02:42"]}]}"#, "t").is_err());
        assert!(Inventory::from_json_str(r#"{"containers":[{"ips":["nope"]}]}"#, "t").is_err());
        assert!(Inventory::from_json_str("[", "t").is_err());
    }
}
