//! Community ID v1 (corelight/community-id-spec): `1:` + base64(SHA1(seed ‖ saddr ‖
//! daddr ‖ proto ‖ 0 ‖ sport ‖ dport)) over the ordered tuple, with ICMP type pairing.
//! (Stub: filled in by the Community ID work.)

use super::key::FlowTuple;

/// Community ID v1 of the flow `t` (any direction gives the same result).
/// ICMP/ICMPv6 tuples carry (type, counterpart-or-code) as [`FlowTuple`] documents.
pub fn community_id_v1(t: &FlowTuple, seed: u16) -> String {
    let _ = (t, seed);
    String::new()
}
