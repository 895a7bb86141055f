//! Transparent huge pages for the flow table's key index.  It is read at random, one
//! entry per packet: with 4 KiB pages nearly every lookup in a table of ~100k flows
//! also misses the TLB, and on this project's benchmark the page walks showed up as
//! stalls on the prefetches that were meant to hide the misses.  Linux backs a region
//! with 2 MiB pages when asked with `madvise(MADV_HUGEPAGE)` (the default THP mode,
//! `madvise`, does nothing otherwise).
//!
//! Not the slab of flows: 216 bytes a flow, it is the table's bulk (216 MB at the
//! default 1M flows), and on this project's VM a fresh huge page costs far more to
//! fault in than its 512 small pages (the host backs it anew): on the 1M-flow
//! small-packet capture, `--threads 1` took 0.67-1.16 s (median 1.06) with the slab
//! on huge pages and 0.73-0.78 s (median 0.76) without, while the mixed capture
//! gained nothing measurable from them (0.52 s both; medians of 7, side by side).

/// Size of a transparent huge page on x86_64 and arm64 (4 KiB base pages).
const HUGE_PAGE: usize = 2 << 20;

/// Asks the kernel to back the 2 MiB-aligned part of `v`'s allocation with huge pages.
/// A hint: where it fails (THP off, another OS, a buffer under 2 MiB) nothing changes
/// but speed.  Call it after the buffer was (re)allocated; pages already touched are
/// left as they are until the kernel's background collapse gets to them.
pub fn advise<T>(v: &Vec<T>) {
    let start = v.as_ptr() as usize;
    let len = v.capacity().saturating_mul(std::mem::size_of::<T>());
    let lo = start.saturating_add(HUGE_PAGE - 1) & !(HUGE_PAGE - 1);
    let hi = start.saturating_add(len) & !(HUGE_PAGE - 1);
    if hi <= lo {
        return;
    }
    #[cfg(target_os = "linux")]
    // SAFETY: `lo..hi` lies inside `v`'s live allocation and is page-aligned;
    // MADV_HUGEPAGE changes only how the kernel backs those pages, never their contents
    // or the mapping's validity, so no Rust-visible state changes.
    unsafe {
        libc::madvise(lo as *mut libc::c_void, hi - lo, libc::MADV_HUGEPAGE);
    }
}
