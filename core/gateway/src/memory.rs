//! Allocator tuning for the serving process.
//!
//! glibc's malloc returns freed memory at the top of the heap to the kernel as
//! soon as more than 128 KiB are free, and serves blocks above a (dynamic)
//! threshold with mmap. A request that reads a body in 64 KiB pieces and
//! answers with them allocates and frees about its size every time, so every
//! request paid for page faults again (measured: a 1 MiB upload echo ran 2.8×
//! faster with the thresholds below; see docs/PERFORMANCE.md). Freed memory is
//! now kept for reuse up to 32 MiB, and blocks up to 8 MiB come from the heap.
//! `IISWSGI_MALLOC_TUNING=0` leaves glibc's defaults.

/// Keep up to this much free memory at the top of the heap.
pub const TRIM_THRESHOLD: i32 = 32 * 1024 * 1024;
/// Serve blocks below this from the heap rather than with mmap.
pub const MMAP_THRESHOLD: i32 = 8 * 1024 * 1024;

/// Applies the tuning; returns whether it was applied.
pub fn tune() -> bool {
    if std::env::var("IISWSGI_MALLOC_TUNING").is_ok_and(|v| v == "0") {
        return false;
    }
    apply()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn apply() -> bool {
    // SAFETY: mallopt only changes allocator parameters; both values are in range
    // (glibc caps M_MMAP_THRESHOLD at 32 MiB on 64-bit) and it is safe to call at
    // any time, from any thread.
    let trim = unsafe { libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD) };
    // SAFETY: as above.
    let mmap = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) };
    trim == 1 && mmap == 1
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn apply() -> bool {
    false
}
