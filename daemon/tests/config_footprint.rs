//! The parsed configuration's footprint, counted by a global allocator:
//! what the parent keeps for each real server of a large LVS
//! configuration, after validation (the source positions dropped, the
//! model compacted, as `supervisor::run` does).
//!
//! Before the fix a TCP-checked real server held 3.8 KiB: its one checker in
//! room for four (2.6 KiB of model) and 1.2 KiB of source positions; at
//! 10,000 real servers that was 38 MiB of the parent's 133 MiB
//! (bench/README.md, "Memory against keepalived"). Then 1,068 bytes, of
//! which 144 were the emptied positions of the real server and its check
//! and 176 an inline plugin setting most checks do not have; both boxed
//! now (issue 18): 772 bytes. Then the real server's notify_up/down (144
//! bytes inline) and a check's `user` (48) were boxed too: 604 bytes. Then
//! 291, and 139 with the settings few real servers and checks set in boxes
//! made only when one is (`config::model::lean`). The count is exact (this
//! allocator's), and the bound sits between, to catch either regression.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test crate fails by panicking

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use upkeep::config::{Format, LoadOptions, Severity};

/// Bytes allocated and not yet freed, by the whole process.
static LIVE: AtomicIsize = AtomicIsize::new(0);

struct Counting;

// SAFETY: every call goes to the system allocator unchanged; only the
// sizes are counted.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's layout, passed on.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: as above; `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const REAL_SERVERS: usize = 10_000;
/// Bytes per TCP-checked real server at most (3.8 KiB, then 1,068, 772,
/// 604, 356 and 291 before the fixes; 139 now).
const BOUND: usize = 180;

/// `REAL_SERVERS` TCP checks in 100 virtual servers, as bench/memory.py.
fn conf() -> String {
    let mut out = String::from(
        "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 51\n    priority 100\n    virtual_ipaddress {\n        10.78.0.100\n    }\n}\n",
    );
    out.push_str(&common::tcp_checked_servers(REAL_SERVERS, 1));
    out
}

#[test]
fn a_validated_configuration_keeps_little_per_real_server() {
    let text = conf();
    let before = LIVE.load(Ordering::Relaxed);
    let loaded = upkeep::config::load_str(
        "big.conf",
        &text,
        Format::Keepalived,
        &LoadOptions::default(),
    );
    assert!(loaded.diagnostics.messages(Severity::Error).is_empty());
    let mut config = loaded.config;
    let with_positions = LIVE.load(Ordering::Relaxed) - before;
    config.forget_positions();
    config.compact();
    let kept = (LIVE.load(Ordering::Relaxed) - before) as usize;
    let per_server = kept / REAL_SERVERS;
    eprintln!(
        "{REAL_SERVERS} real servers: {} KiB as loaded (with diagnostics), {} KiB kept, {per_server} bytes each",
        with_positions / 1024,
        kept / 1024
    );
    assert!(
        per_server <= BOUND,
        "{per_server} bytes per real server (at most {BOUND})"
    );
    assert_eq!(config.virtual_servers.len() * 100, REAL_SERVERS);
}
