//! IPv4/IPv6 fragment reassembly with bounded memory, on packet time.
//!
//! One table may be shared by several decoders (fragments of one datagram can reach
//! different workers); it sits behind a mutex that only fragment packets take.
//! Bounds: at most [`MAX_DATAGRAMS`] datagrams in progress (the oldest is evicted to
//! make room), [`MAX_FRAGMENTS`] pieces and [`MAX_DATAGRAM_BYTES`] per datagram, and
//! a datagram not completed within [`TIMEOUT`] of its first piece is discarded.
//! Overlapping pieces drop the whole datagram (RFC 5722 for IPv6; for IPv4 the same
//! rule closes the overlap-based evasion tricks); an exact duplicate of a piece
//! already held is dropped alone.

use super::DecodeError;
use crate::flow::key::{Addr16, AddrFamily};
use crate::time::{Nanos, NANOS_PER_SEC};
use std::collections::HashMap;

pub const MAX_DATAGRAMS: usize = 1024;
pub const MAX_FRAGMENTS: usize = 64;
/// Largest reassembled fragmentable part (the IP length field's limit).
pub const MAX_DATAGRAM_BYTES: u32 = 65_535;
pub const TIMEOUT: Nanos = 30 * NANOS_PER_SEC;
/// Expiry runs at most this often (packet time), not on every fragment.
const SWEEP_EVERY: Nanos = NANOS_PER_SEC;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct FragKey {
    pub af: AddrFamily,
    pub src: Addr16,
    pub dst: Addr16,
    pub id: u32,
    pub proto: u8,
    pub vlan: [u16; 2],
}

struct Datagram {
    first_ts: Nanos,
    buf: Vec<u8>,
    /// Byte ranges held, [start, end).
    ranges: Vec<(u32, u32)>,
    received: u32,
    /// Length of the fragmentable part, once the last piece has been seen.
    total: Option<u32>,
}

/// Counters of the reassembly table (cumulative).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FragmentStats {
    /// Datagrams currently waiting for pieces.
    pub pending: usize,
    pub completed: u64,
    /// Datagrams discarded because they did not complete within [`TIMEOUT`].
    pub expired: u64,
    /// Datagrams discarded to make room for new ones.
    pub evicted: u64,
}

#[derive(Default)]
pub struct FragTable {
    map: HashMap<FragKey, Datagram>,
    last_sweep: Nanos,
    stats: FragmentStats,
}

impl FragTable {
    pub fn stats(&self) -> FragmentStats {
        FragmentStats {
            pending: self.map.len(),
            ..self.stats
        }
    }

    fn sweep(&mut self, now: Nanos) {
        if now.saturating_sub(self.last_sweep) < SWEEP_EVERY && now >= self.last_sweep {
            return;
        }
        self.last_sweep = now;
        let before = self.map.len();
        self.map
            .retain(|_, d| now.saturating_sub(d.first_ts) <= TIMEOUT);
        self.stats.expired += (before - self.map.len()) as u64;
    }

    fn make_room(&mut self) {
        if self.map.len() < MAX_DATAGRAMS {
            return;
        }
        let oldest = self
            .map
            .iter()
            .min_by_key(|(_, d)| d.first_ts)
            .map(|(k, _)| *k);
        if let Some(k) = oldest {
            self.map.remove(&k);
            self.stats.evicted += 1;
        }
    }

    /// Adds the piece `bytes` (length `len` by the headers) at byte `offset`.
    /// Returns the whole fragmentable part when this piece completes the datagram,
    /// `Err(FragmentHeld)` while pieces are missing, `Err(FragmentDropped)` otherwise.
    pub(crate) fn add(
        &mut self,
        key: FragKey,
        ts: Nanos,
        offset: u32,
        more: bool,
        len: u32,
        bytes: &[u8],
    ) -> Result<Vec<u8>, DecodeError> {
        use DecodeError::FragmentDropped as Drop;
        self.sweep(ts);
        if (bytes.len() as u64) < u64::from(len) {
            return Err(Drop("fragment cut by the snaplen"));
        }
        let bytes = bytes.get(..len as usize).unwrap_or_default();
        if len == 0 {
            return Err(Drop("empty fragment"));
        }
        if more && !len.is_multiple_of(8) {
            return Err(Drop("non-final fragment length not a multiple of 8"));
        }
        let end = offset.saturating_add(len);
        if end > MAX_DATAGRAM_BYTES {
            self.map.remove(&key);
            return Err(Drop("reassembled datagram too large"));
        }
        if !self.map.contains_key(&key) {
            self.make_room();
        }
        let d = self.map.entry(key).or_insert_with(|| Datagram {
            first_ts: ts,
            buf: Vec::new(),
            ranges: Vec::new(),
            received: 0,
            total: None,
        });
        if d.ranges.contains(&(offset, end)) {
            return Err(Drop("duplicate fragment"));
        }
        let overlaps = d.ranges.iter().any(|&(a, b)| offset < b && a < end);
        let past_end = d.total.is_some_and(|t| end > t || (!more && end != t));
        let last_too_short = !more && d.ranges.iter().any(|&(_, b)| b > end);
        if overlaps || past_end || last_too_short || d.ranges.len() >= MAX_FRAGMENTS {
            self.map.remove(&key);
            return Err(Drop(if overlaps {
                "overlapping fragments"
            } else if past_end || last_too_short {
                "fragment beyond the datagram end"
            } else {
                "too many fragments"
            }));
        }
        if !more {
            d.total = Some(end);
        }
        if d.buf.len() < end as usize {
            d.buf.resize(end as usize, 0);
        }
        if let Some(dst) = d.buf.get_mut(offset as usize..end as usize) {
            dst.copy_from_slice(bytes);
        }
        d.ranges.push((offset, end));
        d.received += len;
        if d.total == Some(d.received) {
            let done = self.map.remove(&key).map(|d| d.buf).unwrap_or_default();
            self.stats.completed += 1;
            return Ok(done);
        }
        Err(DecodeError::FragmentHeld)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::key::NO_VLAN;

    fn key(id: u32) -> FragKey {
        FragKey {
            af: AddrFamily::V4,
            src: [1; 16],
            dst: [2; 16],
            id,
            proto: 17,
            vlan: [NO_VLAN; 2],
        }
    }

    #[test]
    fn in_order_and_out_of_order() {
        let mut t = FragTable::default();
        let a = [1u8; 16];
        let b = [2u8; 8];
        let c = [3u8; 3];
        assert_eq!(
            t.add(key(1), 0, 0, true, 16, &a),
            Err(DecodeError::FragmentHeld)
        );
        assert_eq!(
            t.add(key(1), 0, 16, true, 8, &b),
            Err(DecodeError::FragmentHeld)
        );
        let d = t.add(key(1), 0, 24, false, 3, &c).unwrap();
        assert_eq!(d.len(), 27);
        assert_eq!((&d[..16], &d[16..24], &d[24..]), (&a[..], &b[..], &c[..]));
        // reversed order
        assert_eq!(
            t.add(key(2), 0, 24, false, 3, &c),
            Err(DecodeError::FragmentHeld)
        );
        assert_eq!(
            t.add(key(2), 0, 16, true, 8, &b),
            Err(DecodeError::FragmentHeld)
        );
        assert_eq!(t.add(key(2), 0, 0, true, 16, &a).unwrap().len(), 27);
        assert_eq!(t.stats().completed, 2);
        assert_eq!(t.stats().pending, 0);
    }

    #[test]
    fn overlap_duplicate_and_limits() {
        let mut t = FragTable::default();
        let p = [0u8; 16];
        assert_eq!(
            t.add(key(1), 0, 0, true, 16, &p),
            Err(DecodeError::FragmentHeld)
        );
        assert_eq!(
            t.add(key(1), 0, 0, true, 16, &p),
            Err(DecodeError::FragmentDropped("duplicate fragment"))
        );
        assert_eq!(
            t.add(key(1), 0, 8, true, 16, &p),
            Err(DecodeError::FragmentDropped("overlapping fragments"))
        );
        assert_eq!(t.stats().pending, 0, "overlap drops the datagram");
        assert_eq!(
            t.add(key(2), 0, 65_528, false, 16, &p),
            Err(DecodeError::FragmentDropped(
                "reassembled datagram too large"
            ))
        );
        assert_eq!(
            t.add(key(3), 0, 0, true, 16, &p[..10]),
            Err(DecodeError::FragmentDropped("fragment cut by the snaplen"))
        );
        assert_eq!(
            t.add(key(4), 0, 0, true, 10, &p),
            Err(DecodeError::FragmentDropped(
                "non-final fragment length not a multiple of 8"
            ))
        );
        // last piece ends before a piece already held
        assert_eq!(
            t.add(key(5), 0, 16, true, 16, &p),
            Err(DecodeError::FragmentHeld)
        );
        assert_eq!(
            t.add(key(5), 0, 0, false, 8, &p),
            Err(DecodeError::FragmentDropped(
                "fragment beyond the datagram end"
            ))
        );
    }

    #[test]
    fn timeout_and_eviction() {
        let mut t = FragTable::default();
        let p = [0u8; 8];
        assert_eq!(
            t.add(key(1), 0, 0, true, 8, &p),
            Err(DecodeError::FragmentHeld)
        );
        // 31 s later the first piece is gone: the last piece alone cannot complete
        assert_eq!(
            t.add(key(1), 31 * NANOS_PER_SEC, 8, false, 8, &p),
            Err(DecodeError::FragmentHeld)
        );
        assert_eq!(t.stats().expired, 1);
        // within the timeout it completes
        let mut t = FragTable::default();
        assert_eq!(
            t.add(key(1), 0, 0, true, 8, &p),
            Err(DecodeError::FragmentHeld)
        );
        assert!(t.add(key(1), 29 * NANOS_PER_SEC, 8, false, 8, &p).is_ok());
        // the table never holds more than MAX_DATAGRAMS
        let mut t = FragTable::default();
        for id in 0..(MAX_DATAGRAMS as u32 + 10) {
            let _ = t.add(key(id), 0, 0, true, 8, &p);
        }
        assert_eq!(t.stats().pending, MAX_DATAGRAMS);
        assert_eq!(t.stats().evicted, 10);
    }
}
