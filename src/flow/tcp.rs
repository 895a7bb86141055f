//! TCP connection tracking in Zeek's terms: per-endpoint states, `conn_state`
//! (S0 S1 SF REJ S2 S3 RSTO RSTR RSTOS0 RSTRH SH SHR OTH) and `history` letters.
//! (Stub: filled in by the TCP work.)

use super::Side;

/// The fields of one TCP segment the tracker reads.
#[derive(Clone, Copy, Debug, Default)]
pub struct TcpSegment {
    pub flags: u8,
    pub seq: u32,
    pub ack: u32,
    pub window: u16,
    pub payload_len: u32,
}

pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const PSH: u8 = 0x08;
pub const ACK: u8 = 0x10;
pub const URG: u8 = 0x20;

/// Which timeout applies to the connection now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpPhase {
    /// Handshake not completed (SYN seen, no answer yet, or partial).
    Attempt,
    /// Established or mid-stream.
    Established,
    /// A FIN has been seen from either side.
    Closing,
    /// Both sides closed (FIN/FIN) — linger before the record is written.
    Closed,
    /// A RST has been seen.
    Reset,
}

/// Per-connection TCP state.  Kept small: it lives inside every TCP flow entry.
#[derive(Clone, Debug, Default)]
pub struct TcpTracker {}

impl TcpTracker {
    /// A tracker for a connection whose first packet came from side A.
    pub fn new() -> TcpTracker {
        TcpTracker {}
    }

    /// Feeds one segment sent by `side`.
    pub fn update(&mut self, side: Side, seg: &TcpSegment) {
        let _ = (side, seg);
    }

    /// The originator (Zeek's `orig`): A unless the evidence says B (SYN-ACK first, ...).
    pub fn orig_side(&self) -> Side {
        Side::A
    }

    pub fn phase(&self) -> TcpPhase {
        TcpPhase::Attempt
    }

    /// True when `seg` from `side` starts a new connection on this 5-tuple: a SYN
    /// (without ACK) arriving after this connection closed or was reset.
    pub fn is_reuse(&self, side: Side, seg: &TcpSegment) -> bool {
        let _ = (side, seg);
        false
    }

    /// Zeek's `conn_state` code.
    pub fn conn_state(&self) -> &'static str {
        "OTH"
    }

    /// Appends Zeek's `history` string (upper case = originator).
    pub fn write_history(&self, out: &mut String) {
        let _ = out;
    }

    /// Payload bytes sent by `side`, from sequence-number space where the handshake
    /// gives a base (as Zeek's `orig_bytes`/`resp_bytes`), else the sum of payloads.
    pub fn payload_bytes(&self, side: Side) -> u64 {
        let _ = side;
        0
    }
}
