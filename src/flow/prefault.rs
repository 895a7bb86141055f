//! Backing a growing array's memory ahead of use, many pages per system call.
//!
//! The flow slab only grows at its end, one flow at a time, so its memory is touched
//! page by page: one page fault per 4 KiB, 53k of them for the 216 MB slab of the
//! 1M-flow small-packet capture, about 10% of a replay's samples in `perf`
//! (`exc_page_fault`, `clear_page_erms`, the memcg charge).  `madvise`'s
//! `MADV_POPULATE_WRITE` (Linux 5.14) backs a whole range in one call, with the
//! same zeroed pages the faults would have given.  Where it is not available
//! nothing changes but speed: the pages are faulted in as before.

/// Bytes backed per call: a huge page's worth.
pub const CHUNK: usize = 2 << 20;

/// Backs the pages of `v`'s spare capacity from its length up to `CHUNK` bytes
/// beyond it (within the allocation), when `v` has just grown into a chunk it had
/// not reached.  Call after each push; it costs a division otherwise.
#[inline]
pub fn after_push<T>(v: &Vec<T>) {
    let size = std::mem::size_of::<T>();
    if size == 0 {
        return;
    }
    let end = v.len().saturating_mul(size);
    // The push that moved the end into a new chunk.
    if end / CHUNK == end.saturating_sub(size) / CHUNK {
        return;
    }
    populate(v, end, CHUNK);
}

#[cold]
fn populate<T>(v: &Vec<T>, from: usize, len: usize) {
    const PAGE: usize = 4096;
    let base = v.as_ptr() as usize;
    let cap_end = base.saturating_add(v.capacity().saturating_mul(std::mem::size_of::<T>()));
    let lo = base.saturating_add(from).saturating_add(PAGE - 1) & !(PAGE - 1);
    let hi = base.saturating_add(from).saturating_add(len).min(cap_end) & !(PAGE - 1);
    if hi <= lo {
        return;
    }
    #[cfg(target_os = "linux")]
    // SAFETY: `lo..hi` is page-aligned and lies inside `v`'s live allocation (at or
    // beyond its length, below its capacity).  MADV_POPULATE_WRITE only backs those
    // pages as a write fault would, without writing to them: contents stay as they
    // are (zero for pages never touched), and no Rust-visible state changes.  An
    // error (an older kernel) is ignored: the pages are then faulted in on first use.
    unsafe {
        libc::madvise(lo as *mut libc::c_void, hi - lo, libc::MADV_POPULATE_WRITE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pushes_across_chunks_keep_every_value() {
        let mut v: Vec<[u64; 27]> = Vec::with_capacity(100_000);
        for i in 0..100_000u64 {
            v.push([i; 27]);
            after_push(&v);
        }
        assert!(v
            .iter()
            .enumerate()
            .all(|(i, x)| x.iter().all(|&y| y == i as u64)));
    }
}
