//! The field registry: every name a condition or an output may use, its type and
//! meaning, and the parser from text (`container.label[app]`) to a typed [`Field`].
//!
//! Fields are written from a *view*: `fd.l*`/`container.*` are the end the rule
//! runs for and `fd.r*`/`peer.container.*` the other end.  [`Field::resolve`] turns
//! them into absolute client/server accessors once per view at compile time, so the
//! evaluator never branches on the view.

use std::fmt::Write;

/// The value type of a field, which decides the operators and literals it accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldType {
    Str,
    Port,
    U64,
    F64,
    Ip,
    Net,
}

impl FieldType {
    pub fn name(self) -> &'static str {
        match self {
            FieldType::Str => "string",
            FieldType::Port => "port",
            FieldType::U64 => "uint64",
            FieldType::F64 => "double",
            FieldType::Ip => "ipaddr",
            FieldType::Net => "ipnet",
        }
    }
}

/// Which end of the flow a field reads, before ([`Role::Local`], [`Role::Remote`]) or
/// after resolution for a view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    Client,
    Server,
    Local,
    Remote,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CField {
    Id,
    Name,
    Image,
    Repository,
    Tag,
    Label(String),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Field {
    EvtType,
    EvtTime,
    L4Proto,
    Ip(Role),
    Port(Role),
    Net(Role),
    IpName(Role),
    FdName,
    Direction,
    State,
    OrigPkts,
    RespPkts,
    OrigBytes,
    RespBytes,
    Duration,
    CommunityId,
    /// `container.*` (Local) or `peer.container.*` (Remote).
    Container(Role, CField),
}

/// The static table: name, type, description.  `%s` in a name stands for a
/// role letter family handled by [`parse_field`].
pub const FIELDS: &[(&str, FieldType, &str)] = &[
    ("evt.type", FieldType::Str, "connect (client's view at flow start), accept (server's view at flow start), end (flow finished; counters final)"),
    ("evt.time", FieldType::U64, "event time in ns since the epoch: first packet for connect/accept, last packet for end"),
    ("fd.l4proto", FieldType::Str, "transport: tcp, udp, icmp, icmp6, sctp or the IP protocol number"),
    ("fd.cip", FieldType::Ip, "client (originator) IP address"),
    ("fd.cport", FieldType::Port, "client port"),
    ("fd.sip", FieldType::Ip, "server (responder) IP address"),
    ("fd.sport", FieldType::Port, "server port"),
    ("fd.lip", FieldType::Ip, "local IP: this view's end (client for connect, server for accept)"),
    ("fd.lport", FieldType::Port, "local port"),
    ("fd.rip", FieldType::Ip, "remote IP: the other end from this view"),
    ("fd.rport", FieldType::Port, "remote port"),
    ("fd.cnet", FieldType::Net, "client IP, matched against CIDRs (fd.cnet in (10.0.0.0/8))"),
    ("fd.snet", FieldType::Net, "server IP, matched against CIDRs"),
    ("fd.lnet", FieldType::Net, "local IP, matched against CIDRs"),
    ("fd.rnet", FieldType::Net, "remote IP, matched against CIDRs"),
    ("fd.name", FieldType::Str, "the connection as cip:cport->sip:sport"),
    ("fd.cip.name", FieldType::Str, "name the client IP was given by the last DNS answer seen before the flow (passive DNS, TTL-bound)"),
    ("fd.sip.name", FieldType::Str, "name the server IP was given by the last DNS answer seen before the flow (passive DNS, TTL-bound)"),
    ("fd.lip.name", FieldType::Str, "name the local IP was given by the last DNS answer seen before the flow (passive DNS, TTL-bound)"),
    ("fd.rip.name", FieldType::Str, "name the remote IP was given by the last DNS answer seen before the flow (passive DNS, TTL-bound)"),
    ("flow.direction", FieldType::Str, "outbound (container to non-container, non-host), inbound (the reverse), internal (container to container), host (one end is a host IP), external (no container end)"),
    ("flow.state", FieldType::Str, "Zeek conn_state (S0, S1, SF, REJ, ...) so far"),
    ("flow.orig_pkts", FieldType::U64, "packets from the client"),
    ("flow.resp_pkts", FieldType::U64, "packets from the server"),
    ("flow.orig_bytes", FieldType::U64, "payload bytes from the client"),
    ("flow.resp_bytes", FieldType::U64, "payload bytes from the server"),
    ("flow.duration", FieldType::F64, "seconds from first to last packet (final at evt.type = end)"),
    ("flow.community_id", FieldType::Str, "Community ID v1 of the flow"),
    ("container.id", FieldType::Str, "id of this view's container (absent when this end is no container)"),
    ("container.name", FieldType::Str, "name of this view's container"),
    ("container.image", FieldType::Str, "image of this view's container, as given (repo:tag or repo@digest)"),
    ("container.image.repository", FieldType::Str, "image without its tag or digest"),
    ("container.image.tag", FieldType::Str, "image tag (absent for a digest or no tag)"),
    ("container.label[KEY]", FieldType::Str, "value of label KEY of this view's container"),
    ("peer.container.id", FieldType::Str, "id of the container at the other end"),
    ("peer.container.name", FieldType::Str, "name of the container at the other end"),
    ("peer.container.image", FieldType::Str, "image of the container at the other end"),
    ("peer.container.image.repository", FieldType::Str, "image repository of the other end's container"),
    ("peer.container.image.tag", FieldType::Str, "image tag of the other end's container"),
    ("peer.container.label[KEY]", FieldType::Str, "label KEY of the other end's container"),
    ("fanout.count", FieldType::U64, "(output only, fan-out rules) distinct values seen in the window"),
];

fn role(c: &str) -> Option<Role> {
    Some(match c {
        "c" => Role::Client,
        "s" => Role::Server,
        "l" => Role::Local,
        "r" => Role::Remote,
        _ => return None,
    })
}

/// Parses a field reference.  `None` for an unknown name.
pub fn parse_field(name: &str) -> Option<Field> {
    let simple = match name {
        "evt.type" => Some(Field::EvtType),
        "evt.time" => Some(Field::EvtTime),
        "fd.l4proto" => Some(Field::L4Proto),
        "fd.name" => Some(Field::FdName),
        "flow.direction" => Some(Field::Direction),
        "flow.state" => Some(Field::State),
        "flow.orig_pkts" => Some(Field::OrigPkts),
        "flow.resp_pkts" => Some(Field::RespPkts),
        "flow.orig_bytes" => Some(Field::OrigBytes),
        "flow.resp_bytes" => Some(Field::RespBytes),
        "flow.duration" => Some(Field::Duration),
        "flow.community_id" => Some(Field::CommunityId),
        _ => None,
    };
    if simple.is_some() {
        return simple;
    }
    if let Some(rest) = name.strip_prefix("fd.") {
        let (r, kind) = (rest.get(..1)?, rest.get(1..)?);
        let r = role(r)?;
        return match kind {
            "ip" => Some(Field::Ip(r)),
            "port" => Some(Field::Port(r)),
            "net" => Some(Field::Net(r)),
            "ip.name" => Some(Field::IpName(r)),
            _ => None,
        };
    }
    let (r, rest) = if let Some(rest) = name.strip_prefix("peer.container.") {
        (Role::Remote, rest)
    } else if let Some(rest) = name.strip_prefix("container.") {
        (Role::Local, rest)
    } else {
        return None;
    };
    let cf = match rest {
        "id" => CField::Id,
        "name" => CField::Name,
        "image" => CField::Image,
        "image.repository" => CField::Repository,
        "image.tag" => CField::Tag,
        _ => {
            let key = rest.strip_prefix("label[")?.strip_suffix(']')?;
            if key.is_empty() {
                return None;
            }
            CField::Label(key.to_string())
        }
    };
    Some(Field::Container(r, cf))
}

impl Field {
    pub fn ty(&self) -> FieldType {
        match self {
            Field::Ip(_) => FieldType::Ip,
            Field::Net(_) => FieldType::Net,
            Field::Port(_) => FieldType::Port,
            Field::EvtTime
            | Field::OrigPkts
            | Field::RespPkts
            | Field::OrigBytes
            | Field::RespBytes => FieldType::U64,
            Field::Duration => FieldType::F64,
            _ => FieldType::Str,
        }
    }

    /// The same field with view-relative roles made absolute.  `local_is_client`
    /// is true for the client's views (connect, end from the client).
    pub fn resolve(&self, local_is_client: bool) -> Field {
        let abs = |r: Role| match (r, local_is_client) {
            (Role::Local, true) | (Role::Remote, false) => Role::Client,
            (Role::Local, false) | (Role::Remote, true) => Role::Server,
            (r, _) => r,
        };
        match self {
            Field::Ip(r) => Field::Ip(abs(*r)),
            Field::Port(r) => Field::Port(abs(*r)),
            Field::Net(r) => Field::Ip(abs(*r)),
            Field::IpName(r) => Field::IpName(abs(*r)),
            Field::Container(r, c) => Field::Container(abs(*r), c.clone()),
            f => f.clone(),
        }
    }
}

/// Up to three known field names closest to `name` (edit distance), for "did you mean".
pub fn suggest(name: &str) -> Vec<&'static str> {
    let mut scored: Vec<(usize, &'static str)> = FIELDS
        .iter()
        .map(|(n, _, _)| (edit_distance(name, n), *n))
        .collect();
    scored.sort();
    let limit = (name.len() / 2).max(3);
    scored
        .into_iter()
        .filter(|(d, _)| *d <= limit)
        .take(3)
        .map(|(_, n)| n)
        .collect()
}

pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = Vec::with_capacity(b.len() + 1);
        cur.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let sub = prev.get(j).copied().unwrap_or(0) + usize::from(ca != *cb);
            let del = prev.get(j + 1).copied().unwrap_or(0) + 1;
            let ins = cur.last().copied().unwrap_or(0) + 1;
            cur.push(sub.min(del).min(ins));
        }
        prev = cur;
    }
    prev.last().copied().unwrap_or(0)
}

/// The text `bridgewatch fields` prints: every field with its type and meaning.
pub fn fields_help() -> String {
    let mut s = String::from(
        "Fields for rule conditions and outputs (%field). A missing value (no container,\n\
         no DNS name) makes every comparison on it false except `not`; test with `exists`.\n\n",
    );
    let w = FIELDS.iter().map(|f| f.0.len()).max().unwrap_or(0);
    for (name, ty, desc) in FIELDS {
        let _ = writeln!(s, "{name:<w$}  {:<7}  {desc}", ty.name());
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_field_parses() {
        for (name, ty, _) in FIELDS {
            if name.starts_with("fanout.") {
                continue;
            }
            let n = name.replace("[KEY]", "[app]");
            let f = parse_field(&n).unwrap_or_else(|| panic!("{n}"));
            assert_eq!(f.ty(), *ty, "{n}");
        }
    }

    #[test]
    fn roles_resolve_per_view() {
        let f = parse_field("fd.rport").unwrap();
        assert_eq!(f.resolve(true), Field::Port(Role::Server));
        assert_eq!(f.resolve(false), Field::Port(Role::Client));
        let f = parse_field("peer.container.label[a.b]").unwrap();
        assert_eq!(
            f.resolve(false),
            Field::Container(Role::Client, CField::Label("a.b".into()))
        );
    }

    #[test]
    fn suggestions_find_near_names() {
        assert_eq!(suggest("fd.spor")[0], "fd.sport");
        assert!(suggest("container.imag").contains(&"container.image"));
        assert!(parse_field("fd.xport").is_none());
        assert!(parse_field("container.label[]").is_none());
    }

    #[test]
    fn help_lists_fields_with_types() {
        let h = fields_help();
        assert!(h.contains("fd.sport"));
        assert!(h.contains("ipaddr"));
        assert!(h.contains("peer.container.label[KEY]"));
    }
}
