//! Keeps the pages an instance writes in few runs, so that the next reset
//! of its pool slot keeps them all.
//!
//! Between instances wasmtime 48 resets a slot's linear memory with one
//! `PAGEMAP_SCAN` call that reports at most 32 runs of written pages: runs
//! past the 32nd are dropped (`madvise`), and the next instance that writes
//! one of their pages takes a copy-on-write fault, with a TLB shootdown
//! across cores. A JS program compiled ahead of time (weval) writes its
//! 9.7 MB snapshot in more runs than that: 24 such faults a request, a
//! third of the process's CPU in `ptep_clear_flush` (perf; wasmtime 50
//! resumes the scan, but needs Rust 1.97). So after an instance has run,
//! the smallest gaps between its runs are written with the bytes they
//! already hold: their pages become private copies like the pages around
//! them, the runs merge, and the next resets copy a few more pages back
//! from the image instead of faulting them in again. The slot's guest is
//! done when this runs; its memory's contents do not change.

// The kernel call and the volatile writes below are the module's point.
#![allow(unsafe_code)]

use std::fs::File;
use std::os::fd::AsRawFd;
use std::sync::OnceLock;

/// Runs wasmtime's reset keeps (32), less a margin for the runs an
/// instance writes beyond those seen here.
pub const TARGET_RUNS: usize = 24;

/// Most bytes of gaps written in one pass: a slot whose runs would need
/// more stays as it is (resetting the filled pages costs a copy each time).
pub const MAX_FILL_BYTES: usize = 2 << 20;

/// What one pass found and did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Compaction {
    /// Runs of written pages before.
    pub runs_before: usize,
    /// Runs after.
    pub runs_after: usize,
    /// Bytes of gaps written.
    pub filled_bytes: usize,
}

const PAGE: usize = 4096;
const CATEGORY_FILE: u64 = 1 << 2;
const CATEGORY_PRESENT: u64 = 1 << 3;
const CATEGORY_PFNZERO: u64 = 1 << 5;
/// `_IOWR('f', 16, struct pm_scan_arg)`.
const PAGEMAP_SCAN: u64 = (3 << 30) | ((size_of::<ScanArg>() as u64) << 16) | (0x66 << 8) | 16;

/// `struct pm_scan_arg` (linux/fs.h).
#[repr(C)]
struct ScanArg {
    size: u64,
    flags: u64,
    start: u64,
    end: u64,
    walk_end: u64,
    vec: u64,
    vec_len: u64,
    max_pages: u64,
    category_inverted: u64,
    category_mask: u64,
    category_anyof_mask: u64,
    return_mask: u64,
}

/// `struct page_region` (linux/fs.h).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct PageRegion {
    start: u64,
    end: u64,
    categories: u64,
}

/// `/proc/self/pagemap`, when this kernel answers `PAGEMAP_SCAN` on it.
fn pagemap() -> Option<&'static File> {
    static PAGEMAP: OnceLock<Option<File>> = OnceLock::new();
    PAGEMAP
        .get_or_init(|| File::open("/proc/self/pagemap").ok())
        .as_ref()
}

/// The runs of private, written pages in `memory` (what wasmtime's reset
/// keeps), as byte offsets; `None` when the kernel has no `PAGEMAP_SCAN`.
pub fn written_runs(memory: &[u8]) -> Option<Vec<(usize, usize)>> {
    let file = pagemap()?;
    let base = memory.as_ptr() as u64;
    let end = base + (memory.len() as u64 & !(PAGE as u64 - 1));
    let mut regions = vec![PageRegion::default(); 256];
    let mut runs: Vec<(usize, usize)> = Vec::new();
    let mut cursor = base;
    while cursor < end {
        let mut arg = ScanArg {
            size: size_of::<ScanArg>() as u64,
            flags: 0,
            start: cursor,
            end,
            walk_end: 0,
            vec: regions.as_mut_ptr() as u64,
            vec_len: regions.len() as u64,
            max_pages: 0,
            // Present pages that are neither the zero page nor the file's
            // (the image's): the ones the instance wrote.
            category_inverted: CATEGORY_PFNZERO | CATEGORY_FILE,
            category_mask: CATEGORY_PRESENT | CATEGORY_PFNZERO | CATEGORY_FILE,
            category_anyof_mask: 0,
            return_mask: 0,
        };
        // SAFETY: PAGEMAP_SCAN reads `arg` and writes at most `vec_len`
        // regions into `regions`, which outlives the call; it only reads
        // the page tables of [start, end), a range of this process.
        let found = unsafe { libc::ioctl(file.as_raw_fd(), PAGEMAP_SCAN as _, &mut arg) };
        if found < 0 {
            return None;
        }
        for r in &regions[..found as usize] {
            let run = ((r.start - base) as usize, (r.end - base) as usize);
            match runs.last_mut() {
                Some(last) if last.1 == run.0 => last.1 = run.1,
                _ => runs.push(run),
            }
        }
        if arg.walk_end <= cursor {
            break;
        }
        cursor = arg.walk_end;
    }
    Some(runs)
}

/// The gaps to write so that `runs` become at most `target` runs: the
/// smallest first, within `max_bytes` in all.
pub fn gaps_to_fill(
    runs: &[(usize, usize)],
    target: usize,
    max_bytes: usize,
) -> Vec<(usize, usize)> {
    if runs.len() <= target {
        return Vec::new();
    }
    let mut gaps: Vec<(usize, usize)> = runs.windows(2).map(|w| (w[0].1, w[1].0)).collect();
    gaps.sort_by_key(|&(start, end)| end - start);
    gaps.truncate(runs.len() - target);
    let total: usize = gaps.iter().map(|&(start, end)| end - start).sum();
    if total > max_bytes {
        return Vec::new();
    }
    gaps
}

/// Joins the runs of written pages in `memory` (an instance's linear
/// memory, its guest finished) when there are more than wasmtime's reset
/// keeps. `None` when the kernel has no `PAGEMAP_SCAN`.
pub fn compact(memory: &mut [u8]) -> Option<Compaction> {
    let runs = written_runs(memory)?;
    let gaps = gaps_to_fill(&runs, TARGET_RUNS, MAX_FILL_BYTES);
    let mut filled_bytes = 0;
    for &(start, end) in &gaps {
        for page in (start..end).step_by(PAGE) {
            let byte = memory.as_mut_ptr().wrapping_add(page);
            // SAFETY: `page` is inside `memory` (gaps lie between runs the
            // kernel found in it), which is borrowed exclusively here. The
            // byte is written back unchanged; the write is volatile so that
            // it happens, since its point is the page fault it causes.
            unsafe { byte.write_volatile(byte.read_volatile()) };
        }
        filled_bytes += end - start;
    }
    Some(Compaction {
        runs_before: runs.len(),
        runs_after: runs.len() - gaps.len(),
        filled_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_smallest_gaps_are_filled_down_to_the_target() {
        let runs = [
            (0, 4096),
            (8192, 12288),
            (1 << 20, (1 << 20) + 4096),
            (1 << 21, (1 << 21) + 4096),
        ];
        // Four runs to two: the two smallest gaps (4 KiB, then the one of
        // 1 MiB less 12 KiB, not the one of 1 MiB less 4 KiB).
        let gaps = gaps_to_fill(&runs, 2, usize::MAX);
        assert_eq!(gaps, [(4096, 8192), (12288, 1 << 20)]);
        assert!(gaps_to_fill(&runs, 4, usize::MAX).is_empty());
        assert!(
            gaps_to_fill(&runs, 2, 8192).is_empty(),
            "over the byte budget"
        );
    }

    #[test]
    fn written_pages_are_found_and_joined() {
        // An anonymous mapping: untouched pages are not present, written
        // ones are private. 64 pages, every other one written: 32 runs.
        let len = 64 * PAGE;
        // SAFETY: a fresh private anonymous mapping of `len` bytes, unmapped
        // below; nothing else refers to it.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(ptr, libc::MAP_FAILED);
        // SAFETY: the mapping is `len` bytes, readable and writable.
        let memory = unsafe { std::slice::from_raw_parts_mut(ptr.cast::<u8>(), len) };
        for page in (0..64).step_by(2) {
            memory[page * PAGE] = 1;
        }
        let scanned = written_runs(memory);
        // Whether the kernel has PAGEMAP_SCAN, as wasmtime finds it.
        if wasmtime::PoolingAllocationConfig::is_pagemap_scan_available() {
            assert_eq!(scanned.map(|r| r.len()), Some(32));
            let done = compact(memory).unwrap();
            assert_eq!((done.runs_before, done.runs_after), (32, TARGET_RUNS));
            assert_eq!(done.filled_bytes, (32 - TARGET_RUNS) * PAGE);
            assert_eq!(written_runs(memory).map(|r| r.len()), Some(TARGET_RUNS));
            let ones = memory.iter().filter(|&&b| b == 1).count();
            assert_eq!(ones, 32, "the contents did not change");
        } else {
            assert!(scanned.is_none() && compact(memory).is_none());
        }
        // SAFETY: the mapping made above, no longer borrowed.
        unsafe { libc::munmap(ptr, len) };
    }
}
