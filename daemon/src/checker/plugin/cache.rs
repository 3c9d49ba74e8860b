//! Precompiled plugin artefacts, keyed by the engine's compatibility hash
//! and the SHA-256 of the plugin file, so that a restart or reload of the
//! checker does not compile an unchanged plugin again.
//!
//! Loading an artefact runs its machine code, so the directory is used only
//! when this process's user owns it and nobody else can write to it; an
//! artefact the engine rejects (another wasmtime or CPU) is compiled again.

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tracing::{debug, warn};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::sys::wasm::{Trusted, load_component};

/// The artefact's file name for `bytes` under `engine`.
pub fn key(engine: &Engine, bytes: &[u8]) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    let file: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{file}-{:016x}.cwasm", h.finish())
}

/// Whether `dir` is safe to load code from: ours, and writable by us alone.
fn trusted(dir: &Path) -> bool {
    let me = nix::unistd::geteuid().as_raw();
    match std::fs::metadata(dir) {
        Ok(m) => m.is_dir() && m.uid() == me && m.permissions().mode() & 0o022 == 0,
        Err(_) => false,
    }
}

/// The component for `bytes`: from the cache when it holds a usable
/// artefact, else compiled (and stored for next time).
pub fn component(engine: &Engine, bytes: &[u8], dir: Option<&Path>) -> Result<Component, String> {
    let dir = dir.filter(|d| {
        let ok = trusted(d);
        if !ok {
            warn!(dir = %d.display(), "plugin cache not used: it must be owned by this user and writable by no one else");
        }
        ok
    });
    let path: Option<PathBuf> = dir.map(|d| d.join(key(engine, bytes)));
    if let Some(p) = path.as_deref().filter(|p| p.exists()) {
        // Written by this user into a directory nobody else can write
        // (checked above); the engine verifies that it was produced by a
        // compatible engine before using it.
        match load_component(engine, Trusted::CacheFile(p)) {
            Ok(c) => {
                debug!(artefact = %p.display(), "plugin loaded from cache");
                return Ok(c);
            }
            Err(e) => {
                warn!(artefact = %p.display(), error = %e, "cached plugin unusable; compiling again")
            }
        }
    }
    let artefact = engine
        .precompile_component(bytes)
        .map_err(|e| format!("not a valid component: {e:#}"))?;
    if let Some(p) = &path
        && let Err(e) = store(p, &artefact)
    {
        warn!(artefact = %p.display(), error = %e, "cannot cache the compiled plugin");
    }
    load_component(engine, Trusted::JustCompiled(&artefact))
        .map_err(|e| format!("cannot load the compiled plugin: {e:#}"))
}

/// Writes atomically (temporary file, then rename), mode 0600.
fn store(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(data)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}
