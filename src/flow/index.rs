//! The flow table's index: open addressing with linear probing from a key's hash to
//! its slab slot, in one flat array that can be prefetched.
//!
//! Hand-written instead of `hashbrown`: `perf` on the 2M-packet mixed capture (~100k
//! tracked flows) put about half of the flow table's time on two cache misses per
//! packet, the index bucket and the flow entry.  hashbrown does not expose where a
//! key's bucket lives, so those misses could not be prefetched; here
//! [`FlowIndex::prefetch`] and [`FlowIndex::candidate`] let the table fetch both a few
//! packets ahead.  Each entry is `(hash >> 32) << 32 | (slot + 1)`; 0 is empty; the
//! table stays at most half full; deletion shifts entries back (no tombstones).  The
//! home bucket is taken from the same upper 32 bits the entry keeps, so growing and
//! deleting never look at the flows (a slab read per shifted entry was 3.5% of a
//! replay of the 1M-flow small-packet capture in `perf`).

/// Index from 64-bit flow hash to slab slot.
pub struct FlowIndex {
    entries: Vec<u64>,
    mask: usize,
    len: usize,
}

#[inline(always)]
fn tag(hash: u64) -> u64 {
    hash >> 32
}

#[inline(always)]
fn prefetch_ptr<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: SSE is part of the x86_64 baseline, and a prefetch is only a hint:
        // it never faults and never reads memory into the program, whatever `p` is.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(p as *const i8) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Asks the CPU to start loading the cache line holding `r`.
#[inline(always)]
pub fn prefetch<T>(r: &T) {
    prefetch_ptr(r as *const T);
}

/// Asks the CPU to start loading every cache line `r` spans.  A flow entry (216
/// bytes, not line-aligned) spans four or five lines and a packet touches fields in
/// all of them; fetching only the first two left the `live` flag, at the end, as
/// one stalled load per packet: 22% of the samples in `Worker::process` (`perf
/// annotate`, mixed bench capture).
#[inline(always)]
pub fn prefetch_all<T>(r: &T) {
    let p = (r as *const T).cast::<u8>();
    let size = std::mem::size_of::<T>();
    let mut at = 0;
    while at < size {
        prefetch_ptr(p.wrapping_add(at));
        at += 64;
    }
    prefetch_ptr(p.wrapping_add(size.saturating_sub(1)));
}

/// `len` zero entries, on huge pages where the kernel grants them, with every page
/// written (not `vec![0; len]`).  A zeroed allocation maps the kernel's shared zero
/// page, so each page's first write here (inserts read a bucket before writing it)
/// was a copy-on-write fault that flushes the TLB of every core the process runs on:
/// with `--threads 2` that was an interrupt to the other worker per 4 KiB of index,
/// 8% of the samples on the 1M-flow small-packet capture (`perf`: `do_wp_page` →
/// `flush_tlb_mm_range` → IPI).  Writing the zeros up front takes plain faults instead.
fn zeroed_by_writing(len: usize) -> Vec<u64> {
    let mut v: Vec<u64> = Vec::with_capacity(len);
    super::backing::advise_huge_pages(&v);
    v.resize(len, 0);
    v
}

impl FlowIndex {
    /// An index sized for about `flows` entries.
    pub fn with_capacity(flows: usize) -> FlowIndex {
        let cap = (flows.max(8) * 2).next_power_of_two();
        let entries = zeroed_by_writing(cap);
        FlowIndex {
            entries,
            mask: cap - 1,
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Forgets every entry, keeping the allocation.
    pub fn clear(&mut self) {
        self.entries.fill(0);
        self.len = 0;
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline(always)]
    fn home(&self, hash: u64) -> usize {
        (hash >> 32) as usize & self.mask
    }

    /// Home bucket of a stored entry (its upper half is the hash's upper half).
    #[inline(always)]
    fn home_of_entry(&self, e: u64) -> usize {
        (e >> 32) as usize & self.mask
    }

    /// Starts loading the first bucket `hash` probes.
    #[inline(always)]
    pub fn prefetch(&self, hash: u64) {
        if let Some(e) = self.entries.get(self.home(hash)) {
            prefetch(e);
        }
    }

    /// The first slot whose entry carries `hash`'s tag, without looking at the flow
    /// (for prefetching it; the caller still confirms with [`FlowIndex::find`]).
    #[inline]
    pub fn candidate(&self, hash: u64) -> Option<u32> {
        let t = tag(hash);
        let mut i = self.home(hash);
        for _ in 0..=self.mask {
            let e = *self.entries.get(i)?;
            if e == 0 {
                return None;
            }
            if e >> 32 == t {
                return Some((e as u32).wrapping_sub(1));
            }
            i = (i + 1) & self.mask;
        }
        None
    }

    /// The slot stored for `hash` that `eq` accepts.
    #[inline]
    pub fn find(&self, hash: u64, mut eq: impl FnMut(u32) -> bool) -> Option<u32> {
        let t = tag(hash);
        let mut i = self.home(hash);
        for _ in 0..=self.mask {
            let e = *self.entries.get(i)?;
            if e == 0 {
                return None;
            }
            if e >> 32 == t {
                let slot = (e as u32).wrapping_sub(1);
                if eq(slot) {
                    return Some(slot);
                }
            }
            i = (i + 1) & self.mask;
        }
        None
    }

    /// Adds `slot` under `hash`.
    pub fn insert(&mut self, hash: u64, slot: u32) {
        if (self.len + 1) * 2 > self.entries.len() {
            self.grow();
        }
        self.place(tag(hash) << 32 | (slot as u64 + 1));
        self.len += 1;
    }

    fn place(&mut self, e: u64) {
        let mut i = self.home_of_entry(e);
        while self.entries[i] != 0 {
            i = (i + 1) & self.mask;
        }
        self.entries[i] = e;
    }

    fn grow(&mut self) {
        let old = std::mem::take(&mut self.entries);
        let cap = (old.len() * 2).max(16);
        self.entries = zeroed_by_writing(cap);
        self.mask = cap - 1;
        for e in old.into_iter().filter(|&e| e != 0) {
            self.place(e);
        }
    }

    /// Removes `slot` (stored under `hash`).
    pub fn remove(&mut self, hash: u64, slot: u32) -> bool {
        let want = tag(hash) << 32 | (slot as u64 + 1);
        let mut i = self.home(hash);
        loop {
            let e = self.entries[i];
            if e == 0 {
                return false;
            }
            if e == want {
                break;
            }
            i = (i + 1) & self.mask;
        }
        // Backward-shift: move later entries of the run into the hole when their home
        // position allows it, so lookups never meet a gap inside their run.
        let mut hole = i;
        let mut j = (i + 1) & self.mask;
        loop {
            let e = self.entries[j];
            if e == 0 {
                break;
            }
            let home = self.home_of_entry(e);
            // Entry j may fill the hole if its home is not in (hole, j] cyclically.
            let dist_home_to_j = j.wrapping_sub(home) & self.mask;
            let dist_hole_to_j = j.wrapping_sub(hole) & self.mask;
            if dist_home_to_j >= dist_hole_to_j {
                self.entries[hole] = e;
                hole = j;
            }
            j = (j + 1) & self.mask;
        }
        self.entries[hole] = 0;
        self.len -= 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn insert_find_remove_agree_with_a_map_under_collisions() {
        // Hashes that collide on the home bucket and on the tag, to exercise probing,
        // tag clashes and backward-shift deletion.
        let hash_of = |slot: u32| -> u64 { ((slot as u64 % 7) << 32) | (slot as u64 % 5) << 40 };
        let mut idx = FlowIndex::with_capacity(4);
        let mut model: HashMap<u32, u64> = HashMap::new();
        let mut x = 12345u64;
        for step in 0..20_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let slot = (x % 300) as u32;
            if let std::collections::hash_map::Entry::Vacant(e) = model.entry(slot) {
                idx.insert(hash_of(slot), slot);
                e.insert(hash_of(slot));
            } else if step % 3 != 0 {
                assert!(idx.remove(hash_of(slot), slot));
                model.remove(&slot);
            }
            assert_eq!(idx.len(), model.len());
        }
        for slot in 0..300u32 {
            let found = idx.find(hash_of(slot), |s| s == slot);
            assert_eq!(found.is_some(), model.contains_key(&slot), "slot {slot}");
        }
    }
}
