//! Who is the originator of a flow that did not start with a TCP SYN: the sender of
//! the first packet, flipped when it looks like the server (likely server ports, as
//! Zeek does).  (Stub: filled in by the TCP work.)

use super::key::FlowTuple;

/// True when the first packet's sender (`first.src`) is probably the responder.
pub fn first_sender_is_responder(first: &FlowTuple) -> bool {
    let _ = first;
    false
}
