//! Container identity for replay: which container owned an IP at a given time.
//!
//! Loaded from `--containers FILE`, JSON of the form
//! `{"containers": [{"id","name","image","labels":{},"ips":[],"macs":[],"since","until"}], "host_ips": []}`.
//! Extra keys are ignored; `since`/`until` (RFC 3339) bound an entry in time so a
//! reused IP maps to the right container.  Lookups are one hash probe plus a short
//! scan of the entries that ever held that IP.

use super::compile::FastBuild;
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
        self.since.is_none_or(|s| t >= s) && self.until.is_none_or(|u| t < u)
    }
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

/// The container inventory: IP → containers, plus the host's own addresses.
#[derive(Clone, Debug, Default)]
pub struct Inventory {
    containers: Vec<Container>,
    by_ip: HashMap<IpAddr, Vec<u32>, FastBuild>,
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
            c.macs = e.macs;
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
        self.containers.push(c);
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

    #[test]
    fn bad_entries_are_errors() {
        assert!(Inventory::from_json_str(r#"{"containers":[{"ips":["nope"]}]}"#, "t").is_err());
        assert!(Inventory::from_json_str("[", "t").is_err());
    }
}
