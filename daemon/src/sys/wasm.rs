//! Loading precompiled plugin code. wasmtime marks deserialisation unsafe:
//! an artefact is native code that runs as is, so it must come from a
//! source we trust: this engine just now, or a cached artefact whose MAC
//! (with a key only the parent and this process hold) verified
//! (`checker::plugin::cache`).

use wasmtime::Engine;
use wasmtime::component::Component;

/// An artefact the caller vouches for.
pub enum Trusted<'a> {
    /// Produced by this process's engine (`precompile_component`), or read
    /// back from the cache with a MAC that verified.
    Authenticated(&'a [u8]),
}

/// Loads a precompiled component. wasmtime checks that it was produced by
/// a compatible engine; what it cannot check is who wrote it.
pub fn load_component(engine: &Engine, from: Trusted<'_>) -> wasmtime::Result<Component> {
    match from {
        // SAFETY: the bytes were produced by this engine in this process,
        // or authenticated as such (see the module documentation).
        Trusted::Authenticated(bytes) => unsafe { Component::deserialize(engine, bytes) },
    }
}
