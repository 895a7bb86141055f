//! Flow identity.  A [`FlowTuple`] is what one packet says (source → destination);
//! a [`FlowKey`] is the canonical form that both directions of a flow share, plus the
//! context (VLAN ids, interface) that keeps equal 5-tuples on different segments apart.
//! [`FlowKey::hash64`] is symmetric by construction (it hashes the canonical key), and
//! it is what shards flows over workers and indexes each worker's table.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An IP address in 16 bytes; IPv4 is stored IPv4-mapped (`::ffff:a.b.c.d`) and the
/// family travels separately so a v4 and a v6 flow can never share a key.
pub type Addr16 = [u8; 16];

pub fn addr_from_v4(a: [u8; 4]) -> Addr16 {
    let mut out = [0u8; 16];
    out[10] = 0xff;
    out[11] = 0xff;
    out[12..].copy_from_slice(&a);
    out
}

pub fn to_ip(af: AddrFamily, a: &Addr16) -> IpAddr {
    match af {
        AddrFamily::V4 => IpAddr::V4(Ipv4Addr::new(a[12], a[13], a[14], a[15])),
        AddrFamily::V6 => IpAddr::V6(Ipv6Addr::from(*a)),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum AddrFamily {
    V4 = 4,
    V6 = 6,
}

/// Sentinel for "no VLAN tag" in [`FlowKey::vlan`] (real ids are 0..=4095).
pub const NO_VLAN: u16 = 0xffff;

/// What one packet says about its flow, in the packet's own direction.
/// For ICMP/ICMPv6, `sport` is the type and `dport` the counterpart type (echo 8 → 0,
/// as Community ID and Zeek pair them) or, for one-way types, the code.
/// Port-less protocols have both ports 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowTuple {
    pub src: Addr16,
    pub dst: Addr16,
    pub sport: u16,
    pub dport: u16,
    pub proto: u8,
    pub af: AddrFamily,
}

impl FlowTuple {
    pub fn reversed(&self) -> FlowTuple {
        FlowTuple {
            src: self.dst,
            dst: self.src,
            sport: self.dport,
            dport: self.sport,
            proto: self.proto,
            af: self.af,
        }
    }
    pub fn src_ip(&self) -> IpAddr {
        to_ip(self.af, &self.src)
    }
    pub fn dst_ip(&self) -> IpAddr {
        to_ip(self.af, &self.dst)
    }
}

/// Canonical, direction-free flow identity: the (address, port) pair that sorts lower
/// comes first.  48 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(C)]
pub struct FlowKey {
    pub lo_addr: Addr16,
    pub hi_addr: Addr16,
    pub lo_port: u16,
    pub hi_port: u16,
    /// Outer and inner VLAN id, [`NO_VLAN`] where absent (or when VLANs are not keyed).
    pub vlan: [u16; 2],
    /// Capture context: the interface id when interfaces are keyed, else 0.
    pub ctx: u32,
    pub proto: u8,
    pub af: AddrFamily,
}

impl FlowKey {
    /// The canonical key for `t`, and whether `t`'s source is the key's `hi` end.
    #[inline]
    pub fn from_tuple(t: &FlowTuple, vlan: [u16; 2], ctx: u32) -> (FlowKey, bool) {
        let swapped = t.src_is_hi();
        (Self::oriented(t, vlan, ctx, swapped), swapped)
    }

    /// The key of `t` when whether its source is the `hi` end is already known
    /// (from an earlier [`FlowKey::from_tuple`] of the same tuple).
    #[inline]
    pub fn oriented(t: &FlowTuple, vlan: [u16; 2], ctx: u32, swapped: bool) -> FlowKey {
        let (lo_addr, lo_port, hi_addr, hi_port) = if swapped {
            (t.dst, t.dport, t.src, t.sport)
        } else {
            (t.src, t.sport, t.dst, t.dport)
        };
        FlowKey {
            lo_addr,
            hi_addr,
            lo_port,
            hi_port,
            vlan,
            ctx,
            proto: t.proto,
            af: t.af,
        }
    }

    /// A 64-bit hash of the canonical key, mixed with `seed`.  Both directions of a
    /// flow hash alike because they share the canonical key.
    ///
    /// Hand-written rather than `std`'s SipHash: the key is six fixed words and this
    /// runs once per packet; a multiply-rotate over the words with a splitmix64
    /// finish spreads bits well enough for hashbrown's 7-bit tags and for sharding,
    /// and the random per-process seed keeps collisions from being chosen by a sender.
    #[inline]
    pub fn hash64(&self, seed: u64) -> u64 {
        key_hash(
            seed,
            (&self.lo_addr, self.lo_port),
            (&self.hi_addr, self.hi_port),
            (self.proto, self.af),
            self.vlan,
            self.ctx,
        )
    }
}

impl FlowTuple {
    /// Whether the source end sorts higher, i.e. is the canonical key's `hi` end.
    /// Addresses compare as big-endian integers, which orders them as their bytes do,
    /// in two loads instead of a 16-byte `memcmp` (33M of 4.37G instructions,
    /// callgrind, 1-thread replay of mixed.pcap).
    #[inline(always)]
    pub fn src_is_hi(&self) -> bool {
        (u128::from_be_bytes(self.src), self.sport) > (u128::from_be_bytes(self.dst), self.dport)
    }

    /// [`FlowKey::from_tuple`]'s hash (`key.hash64(seed)`) and orientation, without
    /// building the key: routing runs this on every packet, right after the decoder
    /// wrote the tuple, and building the 48-byte key only to hash it read the fresh
    /// ports back through wider loads than their stores (a store-forwarding stall, a
    /// quarter of `Decoder::emit`'s samples in `perf`).
    #[inline(always)]
    pub fn route_hash(&self, vlan: [u16; 2], ctx: u32, seed: u64) -> (u64, bool) {
        let swapped = self.src_is_hi();
        let (lo, lo_port, hi, hi_port) = if swapped {
            (&self.dst, self.dport, &self.src, self.sport)
        } else {
            (&self.src, self.sport, &self.dst, self.dport)
        };
        let hash = key_hash(
            seed,
            (lo, lo_port),
            (hi, hi_port),
            (self.proto, self.af),
            vlan,
            ctx,
        );
        (hash, swapped)
    }
}

/// The key hash of its parts, whether they come from a [`FlowKey`] or straight from a
/// tuple ([`FlowTuple::route_hash`]): six 64-bit words, a multiply-rotate per word and
/// a splitmix64 finish.
#[inline(always)]
fn key_hash(
    seed: u64,
    (lo, lo_port): (&Addr16, u16),
    (hi, hi_port): (&Addr16, u16),
    (proto, af): (u8, AddrFamily),
    vlan: [u16; 2],
    ctx: u32,
) -> u64 {
    #[inline(always)]
    fn word(b: &Addr16, i: usize) -> u64 {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[i..i + 8]);
        u64::from_le_bytes(w)
    }
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let tail = (lo_port as u64) | (hi_port as u64) << 16 | (proto as u64) << 32 | (af as u64) << 40;
    let ctx = (vlan[0] as u64) | (vlan[1] as u64) << 16 | (ctx as u64) << 32;
    let mut h = seed ^ K;
    for w in [
        word(lo, 0),
        word(lo, 8),
        word(hi, 0),
        word(hi, 8),
        tail,
        ctx,
    ] {
        h = (h ^ w).wrapping_mul(K).rotate_left(31);
    }
    splitmix64_finish(h)
}

/// splitmix64's finaliser: every input bit moves every output bit.
#[inline(always)]
pub(crate) fn splitmix64_finish(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tuple(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16) -> FlowTuple {
        FlowTuple {
            src: addr_from_v4(src),
            dst: addr_from_v4(dst),
            sport,
            dport,
            proto: 6,
            af: AddrFamily::V4,
        }
    }

    #[test]
    fn both_directions_share_key_and_hash() {
        let t = tuple([10, 0, 0, 1], 40000, [10, 0, 0, 2], 80);
        let (k1, s1) = FlowKey::from_tuple(&t, [NO_VLAN; 2], 0);
        let (k2, s2) = FlowKey::from_tuple(&t.reversed(), [NO_VLAN; 2], 0);
        assert_eq!(k1, k2);
        assert_ne!(s1, s2);
        assert_eq!(k1.hash64(7), k2.hash64(7));
    }

    #[test]
    fn route_hash_equals_the_keys_hash_and_orientation() {
        let v6 = |last: u8| {
            let mut a = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
            a[15] = last;
            a
        };
        let mut cases = vec![
            tuple([10, 0, 0, 1], 40000, [10, 0, 0, 2], 80),
            tuple([10, 0, 0, 2], 80, [10, 0, 0, 1], 40000),
            tuple([10, 0, 0, 1], 5000, [10, 0, 0, 1], 80),
            tuple([192, 168, 1, 1], 1, [10, 0, 0, 1], 1),
            tuple([1, 0, 0, 0], 7, [0, 255, 255, 255], 7),
        ];
        for (a, b) in [(1, 2), (2, 1), (0x80, 0x7f)] {
            let mut t = tuple([0; 4], 443, [0; 4], 50000);
            t.src = v6(a);
            t.dst = v6(b);
            t.af = AddrFamily::V6;
            cases.push(t);
        }
        for t in cases {
            for vlan in [[NO_VLAN; 2], [42, NO_VLAN], [1, 2]] {
                for ctx in [0, 3] {
                    let (k, swapped) = FlowKey::from_tuple(&t, vlan, ctx);
                    assert_eq!(t.route_hash(vlan, ctx, 9), (k.hash64(9), swapped), "{t:?}");
                    assert_eq!(swapped, (t.src, t.sport) > (t.dst, t.dport), "{t:?}");
                }
            }
        }
    }

    #[test]
    fn same_ip_pair_differs_by_port() {
        // Same addresses both ends (suricata-verify community-id-sameip): ports decide.
        let t = tuple([10, 0, 0, 1], 5000, [10, 0, 0, 1], 80);
        let (k1, _) = FlowKey::from_tuple(&t, [NO_VLAN; 2], 0);
        let (k2, _) = FlowKey::from_tuple(&t.reversed(), [NO_VLAN; 2], 0);
        assert_eq!(k1, k2);
        let (k3, _) = FlowKey::from_tuple(
            &tuple([10, 0, 0, 1], 5001, [10, 0, 0, 1], 80),
            [NO_VLAN; 2],
            0,
        );
        assert_ne!(k1, k3);
    }

    #[test]
    fn vlan_and_family_separate_keys() {
        let t = tuple([10, 0, 0, 1], 1, [10, 0, 0, 2], 2);
        let (a, _) = FlowKey::from_tuple(&t, [NO_VLAN; 2], 0);
        let (b, _) = FlowKey::from_tuple(&t, [42, NO_VLAN], 0);
        assert_ne!(a, b);
        let mut v6 = t;
        v6.af = AddrFamily::V6;
        let (c, _) = FlowKey::from_tuple(&v6, [NO_VLAN; 2], 0);
        assert_ne!(a, c);
        assert_ne!(a.hash64(0), c.hash64(0));
    }
}
