//! The global allocator of the static (musl) build that the packages ship.
//!
//! musl's own malloc (mallocng) is compact but slow under load, and it
//! serialises threads on one lock (wasmtime compiles plugins on several);
//! glibc builds keep glibc's malloc. mimalloc is measured against both in
//! bench/README.md ("Static build: allocator").

#![forbid(unsafe_code)]

#[cfg(all(target_env = "musl", not(feature = "system-allocator")))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
