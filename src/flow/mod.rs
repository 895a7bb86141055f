//! Bidirectional flows: the symmetric key and hash ([`key`]), Community ID
//! ([`community_id`]), TCP state and history in Zeek's terms ([`tcp`]), the choice of
//! originator ([`origin`]), the per-worker flow table with packet-time timeouts
//! ([`table`]) and the records it emits ([`record`], with their in-place strings
//! [`inline_str`] and their [`uid`]s).

pub mod backing;
pub mod community_id;
pub mod index;
pub mod inline_str;
pub mod key;
pub mod origin;
pub mod record;
pub mod table;
pub mod tcp;
pub mod timeouts;
pub mod timers;
pub mod uid;

/// One end of a flow in table terms: `A` sent the flow's first packet, `B` is the other end.
/// Which of them is the *originator* is decided separately (see [`origin`] and
/// [`tcp::TcpTracker::orig_side`]); counters are kept per side so a late flip costs nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    A,
    B,
}

impl Side {
    pub fn other(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }
    pub fn index(self) -> usize {
        self as usize
    }
}
