//! How the flow table's two large arrays get their memory: hints to the kernel
//! (`madvise`), never required for correctness.  Where a hint fails (THP off, an
//! older kernel, another OS) nothing changes but speed.
//!
//! - The key index goes on transparent huge pages ([`advise_huge_pages`]).  It is read
//!   at random, one entry per packet: with 4 KiB pages nearly every lookup in a table
//!   of ~100k flows also misses the TLB, and on this project's benchmark the page walks
//!   showed up as stalls on the prefetches that were meant to hide the misses.
//! - The slab of flows does not.  At 216 bytes a flow it is the table's bulk (216 MB at
//!   the default 1M flows), and on this project's VM a fresh huge page costs far more
//!   to fault in than its 512 small pages (the host backs it anew): on the 1M-flow
//!   small-packet capture `--threads 1` took 0.67-1.16 s (median 1.06) with the slab on
//!   huge pages and 0.73-0.78 s (median 0.76) without, while the mixed capture gained
//!   nothing measurable (0.52 s both; medians of 7, side by side).
//! - Instead the slab, which only grows at its end, is backed 2 MiB at a time as it
//!   grows ([`populate_after_push`], `MADV_POPULATE_WRITE`, Linux 5.14) rather than one
//!   page fault per 4 KiB: 53k faults for that 216 MB slab were about 10% of the
//!   replay's samples in `perf` (`exc_page_fault`, `clear_page_erms`, memcg charge).

/// Size of a transparent huge page on x86_64 and arm64 (4 KiB base pages).
const HUGE_PAGE: usize = 2 << 20;
const PAGE: usize = 4096;

/// Bytes of slab backed per call: a huge page's worth.
pub const POPULATE_CHUNK: usize = HUGE_PAGE;

/// Asks the kernel to back the 2 MiB-aligned part of `v`'s allocation with huge pages.
/// Call it after the buffer was (re)allocated and before it is touched; pages already
/// touched are left as they are until the kernel's background collapse gets to them.
pub fn advise_huge_pages<T>(v: &Vec<T>) {
    let start = v.as_ptr() as usize;
    let end = start.saturating_add(v.capacity().saturating_mul(std::mem::size_of::<T>()));
    madvise_inside(start, end, HUGE_PAGE, libc::MADV_HUGEPAGE);
}

/// Backs `v`'s spare capacity from its length up to [`POPULATE_CHUNK`] bytes beyond
/// it, when the last push moved its end into a chunk it had not reached.  Call after
/// each push; otherwise it costs two divisions.
#[inline]
pub fn populate_after_push<T>(v: &Vec<T>) {
    let size = std::mem::size_of::<T>();
    let end = v.len().saturating_mul(size);
    if size == 0 || end / POPULATE_CHUNK == end.saturating_sub(size) / POPULATE_CHUNK {
        return;
    }
    populate_from(v, end);
}

#[cold]
fn populate_from<T>(v: &Vec<T>, from: usize) {
    let base = v.as_ptr() as usize;
    let cap_end = base.saturating_add(v.capacity().saturating_mul(std::mem::size_of::<T>()));
    let start = base.saturating_add(from);
    let end = start.saturating_add(POPULATE_CHUNK).min(cap_end);
    madvise_inside(start, end, PAGE, libc::MADV_POPULATE_WRITE);
}

/// `madvise(advice)` on the `align`-aligned part of `start..end`, which must lie inside
/// one live allocation; a range too small to hold an aligned block is left alone.
fn madvise_inside(start: usize, end: usize, align: usize, advice: libc::c_int) {
    let lo = start.saturating_add(align - 1) & !(align - 1);
    let hi = end & !(align - 1);
    if hi <= lo {
        return;
    }
    #[cfg(target_os = "linux")]
    // SAFETY: callers pass a range inside a live allocation they own; `lo..hi` is inside
    // it and page-aligned.  The two advices used change only how the kernel backs those
    // pages: MADV_HUGEPAGE picks the page size, MADV_POPULATE_WRITE backs pages as a
    // write fault would without writing them (contents stay as they are).  No
    // Rust-visible state changes; an error leaves the pages to be faulted in on use.
    unsafe {
        libc::madvise(lo as *mut libc::c_void, hi - lo, advice);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = advice;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pushes_across_populated_chunks_keep_every_value() {
        let mut v: Vec<[u64; 27]> = Vec::with_capacity(100_000);
        advise_huge_pages(&v);
        for i in 0..100_000u64 {
            v.push([i; 27]);
            populate_after_push(&v);
        }
        assert!(v
            .iter()
            .enumerate()
            .all(|(i, x)| x.iter().all(|&y| y == i as u64)));
    }
}
