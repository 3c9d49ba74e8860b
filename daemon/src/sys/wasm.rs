//! Loading precompiled plugin code. wasmtime marks deserialisation unsafe:
//! an artefact is native code that runs as is, so it must come from a
//! source we trust (this engine just now, or a cache directory that only
//! the loading identity can write; `checker::plugin::cache` checks that).

use std::path::Path;

use wasmtime::Engine;
use wasmtime::component::Component;

/// Where an artefact comes from; the caller vouches for it.
pub enum Trusted<'a> {
    /// Bytes this process's engine produced with `precompile_component`.
    JustCompiled(&'a [u8]),
    /// A file in a directory that only this process's user can write.
    CacheFile(&'a Path),
}

/// Loads a precompiled component. wasmtime checks that it was produced by
/// a compatible engine; what it cannot check is who wrote it.
pub fn load_component(engine: &Engine, from: Trusted<'_>) -> wasmtime::Result<Component> {
    match from {
        // SAFETY: the bytes were produced by this engine in this process.
        Trusted::JustCompiled(bytes) => unsafe { Component::deserialize(engine, bytes) },
        // SAFETY: the caller checked that only this user can write the
        // file's directory (see the module documentation).
        Trusted::CacheFile(path) => unsafe { Component::deserialize_file(engine, path) },
    }
}
