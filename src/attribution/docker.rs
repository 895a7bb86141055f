//! The Docker Engine API as attribution needs it: connect (unix socket or TCP,
//! `DOCKER_HOST` honoured), negotiate the API version, list the running
//! containers and inspect each into a [`ContainerInfo`].  Every field the daemon
//! may leave out or send empty is optional here: a strange answer gives a
//! container with less identity, never a panic.

use bollard::models::ContainerInspectResponse;
use bollard::query_parameters::{InspectContainerOptions, ListContainersOptions};
use bollard::Docker;
use serde::Serialize;
use std::collections::BTreeMap;

/// How long one API request may take before it is an error (event streams are
/// not bound by it: it covers the answer's headers only).
const REQUEST_TIMEOUT_SECS: u64 = 10;

#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("bad --docker-host {0:?}: use unix:///path/to/docker.sock or tcp://HOST:PORT")]
    BadHost(String),
    #[error("cannot reach the Docker API at {host}: {source}")]
    Unreachable {
        host: String,
        source: bollard::errors::Error,
    },
    #[error("Docker API at {host}: {source}")]
    Api {
        host: String,
        source: bollard::errors::Error,
    },
}

/// One network a container is attached to.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct NetworkInfo {
    pub name: String,
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv4: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv6_gateway: Option<String>,
}

/// A container as the inventory file describes it: the keys `replay --containers`
/// reads (`id`, `name`, `image`, `labels`, `ips`, `macs`, `since`, `until`) plus
/// what the live watcher knows besides.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ContainerInfo {
    pub id: String,
    pub name: String,
    pub image: String,
    pub labels: BTreeMap<String, String>,
    pub ips: Vec<String>,
    pub macs: Vec<String>,
    /// When this lease began (the container's start), RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// When it ended (the container's exit), RFC 3339; absent while running.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    pub running: bool,
    /// The container's init process on the host (its netns is /proc/PID/ns/net).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<i64>,
    /// `HostConfig.NetworkMode`: bridge, host, none, a network name, or container:ID.
    pub network_mode: String,
    /// For `container:ID` mode: the container whose network namespace this one shares.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub netns_of: Option<String>,
    pub networks: Vec<NetworkInfo>,
    /// Host-side names of the veths whose other end is in this container's network
    /// namespace (see [`super::netns`]); empty when unknown.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub veths: Vec<String>,
}

impl ContainerInfo {
    /// Finds the host ends of this container's veths (running, own or shared
    /// netns, not host mode).  An error means attribution by veth is not
    /// available for it; MAC/IP leases still are.
    pub fn fill_veths(
        &mut self,
        host_links: &std::collections::HashMap<u32, String>,
    ) -> Result<(), super::netns::NetnsError> {
        self.veths.clear();
        let Some(pid) = self
            .pid
            .filter(|_| self.running && self.network_mode != "host")
        else {
            return Ok(());
        };
        self.veths = super::netns::host_veths_of(pid, host_links)?;
        Ok(())
    }
}

/// Where to reach the daemon: `None` means `DOCKER_HOST`, else the local socket.
pub async fn connect(host: Option<&str>) -> Result<(Docker, String), DockerError> {
    let env_host = std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty());
    let shown = host
        .map(str::to_string)
        .or(env_host)
        .unwrap_or_else(|| "unix:///var/run/docker.sock".to_string());
    let version = bollard::API_DEFAULT_VERSION;
    let docker = if let Some(path) = shown.strip_prefix("unix://") {
        Docker::connect_with_unix(path, REQUEST_TIMEOUT_SECS, version)
    } else if shown.starts_with("tcp://") || shown.starts_with("http://") {
        Docker::connect_with_http(&shown, REQUEST_TIMEOUT_SECS, version)
    } else if shown.starts_with('/') {
        Docker::connect_with_unix(&shown, REQUEST_TIMEOUT_SECS, version)
    } else {
        return Err(DockerError::BadHost(shown));
    }
    .map_err(|source| DockerError::Unreachable {
        host: shown.clone(),
        source,
    })?;
    // Older daemons refuse a newer API version outright; speak theirs.
    let docker = docker
        .negotiate_version()
        .await
        .map_err(|source| DockerError::Unreachable {
            host: shown.clone(),
            source,
        })?;
    Ok((docker, shown))
}

/// Every running container, inspected.  A container that vanishes between the
/// list and its inspect is left out (its `destroy` event follows).
pub async fn running_containers(
    docker: &Docker,
    host: &str,
) -> Result<Vec<ContainerInfo>, DockerError> {
    let list = docker
        .list_containers(Some(ListContainersOptions {
            all: false,
            ..Default::default()
        }))
        .await
        .map_err(|source| DockerError::Api {
            host: host.to_string(),
            source,
        })?;
    let mut out = Vec::with_capacity(list.len());
    for c in list {
        let Some(id) = c.id else { continue };
        if let Some(info) = inspect(docker, host, &id).await? {
            out.push(info);
        }
    }
    Ok(out)
}

/// One container, or `None` when the daemon no longer knows it.
pub async fn inspect(
    docker: &Docker,
    host: &str,
    id: &str,
) -> Result<Option<ContainerInfo>, DockerError> {
    match docker
        .inspect_container(id, None::<InspectContainerOptions>)
        .await
    {
        Ok(r) => Ok(Some(from_inspect(r))),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(None),
        Err(source) => Err(DockerError::Api {
            host: host.to_string(),
            source,
        }),
    }
}

/// Docker writes "" and "0001-01-01T00:00:00Z" for unset values.
fn present(s: Option<String>) -> Option<String> {
    s.filter(|v| !v.is_empty() && !v.starts_with("0001-01-01"))
}

/// The parts of an inspect answer attribution uses.
pub fn from_inspect(r: ContainerInspectResponse) -> ContainerInfo {
    let config = r.config.unwrap_or_default();
    let state = r.state.unwrap_or_default();
    let running = state.running.unwrap_or(false);
    let network_mode = r
        .host_config
        .and_then(|h| h.network_mode)
        .unwrap_or_default();
    let netns_of = network_mode
        .strip_prefix("container:")
        .map(str::to_string)
        .filter(|s| !s.is_empty());
    let mut networks: Vec<NetworkInfo> = r
        .network_settings
        .and_then(|n| n.networks)
        .unwrap_or_default()
        .into_iter()
        .map(|(name, e)| NetworkInfo {
            name,
            id: e.network_id.unwrap_or_default(),
            ipv4: present(e.ip_address),
            ipv6: present(e.global_ipv6_address),
            mac: present(e.mac_address),
            gateway: present(e.gateway),
            ipv6_gateway: present(e.ipv6_gateway),
        })
        .collect();
    networks.sort_by(|a, b| a.name.cmp(&b.name));
    let mut ips = Vec::new();
    let mut macs = Vec::new();
    for n in &networks {
        ips.extend(n.ipv4.iter().chain(n.ipv6.iter()).cloned());
        macs.extend(n.mac.iter().cloned());
    }
    let name = r.name.unwrap_or_default();
    ContainerInfo {
        id: r.id.unwrap_or_default(),
        name: name.strip_prefix('/').unwrap_or(&name).to_string(),
        // What the container was created from as the user named it (repo:tag),
        // not the image's sha256 id.
        image: config.image.unwrap_or_default(),
        labels: config.labels.unwrap_or_default().into_iter().collect(),
        ips,
        macs,
        since: present(state.started_at),
        until: if running {
            None
        } else {
            present(state.finished_at)
        },
        running,
        pid: state.pid.filter(|p| *p > 0),
        network_mode,
        netns_of,
        networks,
        veths: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{
        ContainerConfig, ContainerState, EndpointSettings, HostConfig, NetworkSettings,
    };
    use std::collections::HashMap;

    fn response(running: bool) -> ContainerInspectResponse {
        let mut nets = HashMap::new();
        nets.insert(
            "shop_default".to_string(),
            EndpointSettings {
                network_id: Some("n1".into()),
                ip_address: Some("172.18.0.3".into()),
                global_ipv6_address: Some(String::new()),
                mac_address: Some("02:42:ac:12:00:03".into()),
                gateway: Some("172.18.0.1".into()),
                ..Default::default()
            },
        );
        ContainerInspectResponse {
            id: Some("abc123".into()),
            name: Some("/shop-app-1".into()),
            config: Some(ContainerConfig {
                image: Some("registry.example.com/shop/app:1.4".into()),
                labels: Some(HashMap::from([(
                    "com.docker.compose.service".to_string(),
                    "app".to_string(),
                )])),
                ..Default::default()
            }),
            state: Some(ContainerState {
                running: Some(running),
                pid: Some(if running { 4242 } else { 0 }),
                started_at: Some("2026-12-04T06:00:00.123456789Z".into()),
                finished_at: Some(if running {
                    "0001-01-01T00:00:00Z".into()
                } else {
                    "2026-12-04T06:05:00Z".into()
                }),
                ..Default::default()
            }),
            host_config: Some(HostConfig {
                network_mode: Some("shop_default".into()),
                ..Default::default()
            }),
            network_settings: Some(NetworkSettings {
                networks: Some(nets),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn inspect_answer_becomes_identity_with_addresses() {
        let c = from_inspect(response(true));
        assert_eq!(c.id, "abc123");
        assert_eq!(c.name, "shop-app-1");
        assert_eq!(c.image, "registry.example.com/shop/app:1.4");
        assert_eq!(c.labels["com.docker.compose.service"], "app");
        assert_eq!(c.ips, vec!["172.18.0.3"]);
        assert_eq!(c.macs, vec!["02:42:ac:12:00:03"]);
        assert_eq!(c.pid, Some(4242));
        assert_eq!(c.until, None, "Docker's zero time is no end");
        assert_eq!(c.networks[0].ipv6, None, "empty strings are absent");
    }

    #[test]
    fn stopped_container_has_an_end_and_no_pid() {
        let c = from_inspect(response(false));
        assert!(!c.running);
        assert_eq!(c.pid, None);
        assert_eq!(c.until.as_deref(), Some("2026-12-04T06:05:00Z"));
    }

    #[test]
    fn shared_netns_and_empty_answer_do_not_panic() {
        let mut r = response(true);
        r.host_config = Some(HostConfig {
            network_mode: Some("container:abcdef".into()),
            ..Default::default()
        });
        assert_eq!(from_inspect(r).netns_of.as_deref(), Some("abcdef"));
        let empty = from_inspect(ContainerInspectResponse::default());
        assert_eq!(empty.name, "");
        assert!(empty.ips.is_empty());
    }
}
