//! The heap.

/// Gives free heap memory at the top of malloc's arenas back to the kernel
/// (after compiling a large plugin, for example).
/// mimalloc, the static (musl) build's allocator, returns freed pages by
/// itself.
pub fn trim_heap() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only releases free memory; no pointer is involved.
    unsafe {
        libc::malloc_trim(0);
    }
}
