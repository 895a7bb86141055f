//! Flow uids: `C` + 17 base62 digits, deterministic (the same flow gets the same uid
//! on every run and at every thread count), like Zeek's `uid` in form.
//!
//! A [`Uid`] keeps only the 64-bit hash its digits are cut from and spells them out
//! when written.  Every flow gets two records (one at its start for the rules, one at
//! its end) and most start records are never written anywhere; building the 18-byte
//! string for each, plus its UTF-8 check, was 2.9% of a replay's instructions
//! (callgrind, mixed bench capture: 119M of 4.14G).

use super::key::{splitmix64_finish, FlowKey};
use crate::time::Nanos;
use serde::{Serialize, Serializer};
use std::fmt;

/// Length of a uid's text.
pub const UID_LEN: usize = 18;

/// A flow's uid: the seed of its digits, written out on demand.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Uid(u64);

impl Uid {
    /// The uid of the flow with key `k` whose first packet came at `first_ts`.
    #[inline]
    pub fn of(k: &FlowKey, first_ts: Nanos) -> Uid {
        Uid(k.hash64(0x5eed_f10e) ^ (first_ts as u64).rotate_left(17))
    }

    /// A uid from a bare seed: for tests and hand-built records.
    pub const fn from_seed(seed: u64) -> Uid {
        Uid(seed)
    }

    /// The uid's text, as bytes (all ASCII).
    ///
    /// Digits come from 6-bit slices of two mixes of the seed (folded onto 62 symbols)
    /// rather than repeated division: 17 64-bit divisions per flow were 4.5% of a
    /// replay of the 1M-flow small-packet capture in `perf`.
    #[inline]
    pub fn to_ascii(self) -> [u8; UID_LEN] {
        // The 62 symbols, then the first two again: a 6-bit slice indexes it directly.
        const DIGITS: &[u8; 64] =
            b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz01";
        let a = splitmix64_finish(self.0);
        let b = splitmix64_finish(self.0 ^ 0x9E37_79B9_7F4A_7C15);
        let mut out = [b'C'; UID_LEN];
        for (i, d) in out[1..].iter_mut().enumerate() {
            let bits = if i < 10 {
                a >> (6 * i)
            } else {
                b >> (6 * (i - 10))
            };
            *d = DIGITS[(bits & 63) as usize];
        }
        out
    }

    /// Appends the uid's text to `out`.
    #[inline]
    pub fn write_to(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_ascii());
    }
}

impl fmt::Display for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // ASCII by construction, so this never takes the error branch.
        match std::str::from_utf8(&self.to_ascii()) {
            Ok(s) => f.write_str(s),
            Err(_) => Err(fmt::Error),
        }
    }
}

impl fmt::Debug for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

impl Serialize for Uid {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::key::{addr_from_v4, AddrFamily, FlowTuple};

    fn key(sport: u16) -> FlowKey {
        let t = FlowTuple {
            src: addr_from_v4([10, 0, 0, 1]),
            dst: addr_from_v4([10, 0, 0, 2]),
            sport,
            dport: 80,
            proto: 6,
            af: AddrFamily::V4,
        };
        FlowKey::from_tuple(&t, [0, 0], 0).0
    }

    #[test]
    fn a_uid_is_c_and_seventeen_base62_digits_in_every_form() {
        let u = Uid::of(&key(1234), 1_700_000_000_000_000_000);
        let text = u.to_string();
        assert_eq!(text.len(), UID_LEN);
        assert!(text.starts_with('C'));
        assert!(
            text[1..].bytes().all(|b| b.is_ascii_alphanumeric()),
            "{text}"
        );
        assert_eq!(text.as_bytes(), &u.to_ascii());
        assert_eq!(serde_json::to_string(&u).unwrap(), format!("\"{text}\""));
        assert_eq!(format!("{u:?}"), format!("\"{text}\""));
        let mut out = b"x".to_vec();
        u.write_to(&mut out);
        assert_eq!(&out[1..], text.as_bytes());
    }

    #[test]
    fn the_same_flow_gets_the_same_uid_and_others_differ() {
        let t = 1_700_000_000_000_000_000;
        assert_eq!(Uid::of(&key(1234), t), Uid::of(&key(1234), t));
        assert_eq!(
            Uid::of(&key(1234), t).to_string(),
            Uid::of(&key(1234), t).to_string()
        );
        assert_ne!(
            Uid::of(&key(1234), t).to_string(),
            Uid::of(&key(1235), t).to_string()
        );
        assert_ne!(
            Uid::of(&key(1234), t).to_string(),
            Uid::of(&key(1234), t + 1_000).to_string()
        );
    }
}
