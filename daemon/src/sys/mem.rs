//! The heap.

/// Gives free heap memory at the top of malloc's arenas back to the kernel
/// (after compiling a large plugin, for example).
pub fn trim_heap() {
    // SAFETY: malloc_trim only releases free memory; no pointer is involved.
    unsafe {
        libc::malloc_trim(0);
    }
}
