//! Which host interface is the other end of a container's veth.
//!
//! Inside a container's network namespace, each veth end carries `IFLA_LINK`: the
//! index of its peer in the namespace across (the host's, for Docker's bridge
//! networks).  We read it over a NETLINK_ROUTE socket opened *after* entering the
//! namespace (sysfs does not follow setns), on a short-lived OS thread of its own
//! (setns is per thread; that thread never runs anything else and exits after), then
//! match the index against the host's links.  Needs CAP_SYS_ADMIN (setns) and read
//! access to /proc/PID/ns/net; without them the caller gets an error it can report,
//! and attribution falls back to MAC/IP leases.

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_route::link::{LinkAttribute, LinkMessage};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use std::collections::HashMap;

#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    #[error("cannot open /proc/{pid}/ns/net: {source}")]
    Open { pid: i64, source: std::io::Error },
    #[error("cannot enter the network namespace of pid {pid} (needs CAP_SYS_ADMIN): {source}")]
    Enter { pid: i64, source: nix::Error },
    #[error("netlink: {0}")]
    Netlink(String),
}

/// One network interface as netlink describes it.
#[derive(Clone, Debug, PartialEq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// `IFLA_LINK`: for a veth, its peer's index (in the peer's namespace).
    pub peer_index: Option<u32>,
}

/// The links of the calling thread's network namespace.
pub fn dump_links() -> Result<Vec<Link>, NetnsError> {
    let nl = |e: std::io::Error| NetnsError::Netlink(e.to_string());
    let mut socket = Socket::new(NETLINK_ROUTE).map_err(nl)?;
    socket.bind_auto().map_err(nl)?;
    socket.connect(&SocketAddr::new(0, 0)).map_err(nl)?;
    let mut req = NetlinkMessage::new(
        NetlinkHeader::default(),
        NetlinkPayload::from(RouteNetlinkMessage::GetLink(LinkMessage::default())),
    );
    req.header.flags = NLM_F_DUMP | NLM_F_REQUEST;
    req.header.sequence_number = 1;
    req.finalize();
    let mut out = vec![0u8; req.buffer_len()];
    req.serialize(&mut out);
    socket.send(&out, 0).map_err(nl)?;

    let mut links = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        buf.clear();
        let size = socket.recv(&mut buf, 0).map_err(nl)?;
        let mut offset = 0;
        while offset < size {
            let bytes = buf.get(offset..size).unwrap_or_default();
            let msg: NetlinkMessage<RouteNetlinkMessage> = NetlinkMessage::deserialize(bytes)
                .map_err(|e| NetnsError::Netlink(format!("bad link message: {e}")))?;
            let len = msg.header.length as usize;
            match msg.payload {
                NetlinkPayload::Done(_) => return Ok(links),
                NetlinkPayload::Error(e) => {
                    return Err(NetnsError::Netlink(format!("link dump refused: {e:?}")))
                }
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(m)) => {
                    links.push(link_of(&m));
                }
                _ => {}
            }
            if len == 0 {
                break;
            }
            offset += len;
        }
    }
}

fn link_of(m: &LinkMessage) -> Link {
    let mut link = Link {
        index: m.header.index,
        name: String::new(),
        peer_index: None,
    };
    for a in &m.attributes {
        match a {
            LinkAttribute::IfName(n) => link.name = n.clone(),
            LinkAttribute::Link(i) => link.peer_index = Some(*i),
            _ => {}
        }
    }
    link
}

/// The links inside the network namespace of process `pid`.
pub fn links_in_netns_of(pid: i64) -> Result<Vec<Link>, NetnsError> {
    let ns = std::fs::File::open(format!("/proc/{pid}/ns/net"))
        .map_err(|source| NetnsError::Open { pid, source })?;
    std::thread::Builder::new()
        .name(format!("netns-{pid}"))
        .spawn(move || {
            nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(|source| NetnsError::Enter { pid, source })?;
            dump_links()
        })
        .map_err(|e| NetnsError::Netlink(format!("cannot start a thread: {e}")))?
        .join()
        .unwrap_or_else(|_| Err(NetnsError::Netlink("netns thread failed".into())))
}

/// The host-side interface names of the veths whose other end is inside the
/// namespace of `pid`, given the host's links by index.
pub fn host_veths_of(pid: i64, host: &HashMap<u32, String>) -> Result<Vec<String>, NetnsError> {
    let mut names: Vec<String> = links_in_netns_of(pid)?
        .iter()
        .filter(|l| l.name != "lo")
        .filter_map(|l| l.peer_index)
        .filter(|&p| p != 0)
        .filter_map(|p| host.get(&p).cloned())
        .collect();
    names.sort();
    names.dedup();
    Ok(names)
}

/// This namespace's links by index.
pub fn links_by_index() -> Result<HashMap<u32, String>, NetnsError> {
    Ok(dump_links()?
        .into_iter()
        .map(|l| (l.index, l.name))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_namespace_has_a_loopback_at_index_1() {
        let links = dump_links().expect("a link dump needs no privilege");
        assert!(
            links.iter().any(|l| l.name == "lo" && l.index == 1),
            "{links:?}"
        );
    }

    #[test]
    fn a_process_that_does_not_exist_is_an_error_naming_it() {
        let e = links_in_netns_of(i64::from(i32::MAX)).unwrap_err();
        assert!(e
            .to_string()
            .contains(&format!("/proc/{}/ns/net", i32::MAX)));
    }
}
