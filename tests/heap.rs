//! The allocator settings mgmd makes at start (`io::sys::tune_heap`) and
//! the trim after a control reply (`io::sys::trim_heap`), checked against
//! what the process holds (`/proc/self`). One test: the settings are the
//! process's, and a second test running alongside would blur the figures.

#![cfg(all(target_os = "linux", target_env = "gnu"))]

use mgmd::io::sys::{HEAP_MMAP_THRESHOLD, trim_heap, tune_heap};

/// Anonymous resident memory of the process, bytes.
fn rss_anon() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status
        .lines()
        .find(|l| l.starts_with("RssAnon:"))
        .expect("RssAnon in /proc/self/status");
    let kib: usize = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("RssAnon in KiB");
    kib * 1024
}

/// Whether `p` is the start of a mapping's data as glibc places a chunk
/// of its own mapping (16 bytes of header at the start of a page, the
/// mapping listed in `/proc/self/maps`).
fn own_mapping(p: *const u8) -> bool {
    let chunk = p as usize - 2 * std::mem::size_of::<usize>();
    if chunk % 4096 != 0 {
        return false;
    }
    let maps = std::fs::read_to_string("/proc/self/maps").expect("/proc/self/maps");
    maps.lines().any(|l| {
        l.split('-')
            .next()
            .and_then(|s| usize::from_str_radix(s, 16).ok())
            == Some(chunk)
    })
}

#[test]
fn large_buffers_are_mapped_and_freed_memory_is_returned() {
    if std::env::var_os("GLIBC_TUNABLES").is_some() {
        eprintln!("GLIBC_TUNABLES is set: the allocator is the environment's; skipped");
        return;
    }
    assert!(tune_heap(), "mallopt accepted the thresholds");

    // Without fixed thresholds glibc would raise its mmap threshold to 8 MiB
    // when this buffer is freed, and the next 2 MiB would come from the heap.
    let big = vec![1u8; 8 << 20];
    std::hint::black_box(&big);
    drop(big);
    let next = vec![2u8; 2 << 20];
    assert!(
        own_mapping(next.as_ptr()),
        "a 2 MiB buffer after a freed 8 MiB one has a mapping of its own"
    );
    drop(next);
    let small = vec![3u8; HEAP_MMAP_THRESHOLD / 2];
    assert!(
        !own_mapping(small.as_ptr()),
        "below the threshold, buffers come from the heap"
    );
    drop(small);

    // 48 MiB in small blocks, all freed but the last (which keeps the
    // heap's top in use, so glibc cannot give the space back by itself).
    let mut blocks: Vec<Box<[u8; 200]>> = (0..250_000).map(|i| Box::new([i as u8; 200])).collect();
    let last = blocks.pop().expect("blocks");
    std::hint::black_box(&blocks);
    drop(blocks);
    let before = rss_anon();
    trim_heap();
    let after = rss_anon();
    std::hint::black_box(&last);
    assert!(
        before >= after + (32 << 20),
        "trimming returned the freed blocks: {before} bytes resident before, {after} after"
    );
}
