//! Precompiled plugin artefacts, keyed by the engine's compatibility hash
//! and the SHA-256 of the plugin file, so that a restart or reload of the
//! checker does not compile an unchanged plugin again.
//!
//! Loading an artefact runs its machine code. The directory belongs to the
//! checker's account, which every script the checker runs shares, so the
//! directory alone proves nothing: each artefact carries an HMAC-SHA256
//! over the engine's hash, the plugin file's hash and the artefact, with a
//! key that only the parent (a root-only file) and the checker (in memory,
//! given over its socket; the process is not dumpable) hold. An artefact
//! without a valid MAC, or for another plugin, is compiled again; without a
//! key the cache is not used at all. An artefact the engine rejects
//! (another wasmtime or CPU) is compiled again too.

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use tracing::{debug, warn};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::sys::wasm::{Trusted, load_component};

/// Bytes of the MAC at the head of a cached artefact.
const MAC_LEN: usize = 32;
/// Largest artefact read back.
const ARTEFACT_LIMIT: usize = 1 << 30;

fn engine_hash(engine: &Engine) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    h.finish()
}

/// The artefact's file name for `bytes` under `engine`.
pub fn key(engine: &Engine, bytes: &[u8]) -> String {
    let file: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{file}-{:016x}.cwasm", engine_hash(engine))
}

/// The MAC of an artefact compiled from the plugin `bytes` by `engine`.
fn mac(secret: &[u8], engine: &Engine, bytes: &[u8], artefact: &[u8]) -> Option<[u8; MAC_LEN]> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(secret).ok()?;
    m.update(&engine_hash(engine).to_be_bytes());
    m.update(&Sha256::digest(bytes));
    m.update(artefact);
    Some(m.finalize().into_bytes().into())
}

/// Whether `dir` is safe to keep artefacts in: ours, writable by us alone.
fn trusted(dir: &Path) -> bool {
    let me = nix::unistd::geteuid().as_raw();
    match std::fs::metadata(dir) {
        Ok(m) => m.is_dir() && m.uid() == me && m.permissions().mode() & 0o022 == 0,
        Err(_) => false,
    }
}

/// The component for `bytes`: from the cache when it holds an artefact
/// whose MAC `secret` verifies, else compiled (and stored for next time).
pub fn component(
    engine: &Engine,
    bytes: &[u8],
    dir: Option<&Path>,
    secret: Option<&[u8]>,
) -> Result<Component, String> {
    let dir = dir.filter(|d| {
        let ok = trusted(d);
        if !ok {
            warn!(dir = %d.display(), "plugin cache not used: it must be owned by this user and writable by no one else");
        }
        ok
    });
    let cache = match (dir, secret) {
        (Some(d), Some(s)) => Some((d.join(key(engine, bytes)), s)),
        _ => None,
    };
    if let Some((p, secret)) = &cache
        && p.exists()
    {
        match load(engine, bytes, p, secret) {
            Ok(c) => {
                debug!(artefact = %p.display(), "plugin loaded from cache");
                return Ok(c);
            }
            Err(e) => {
                warn!(artefact = %p.display(), error = %e, "cached plugin not used; compiling again")
            }
        }
    }
    let artefact = engine
        .precompile_component(bytes)
        .map_err(|e| format!("not a valid component: {e:#}"))?;
    if let Some((p, secret)) = &cache
        && let Err(e) = store(p, engine, bytes, &artefact, secret)
    {
        warn!(artefact = %p.display(), error = %e, "cannot cache the compiled plugin");
    }
    load_component(engine, Trusted::Authenticated(&artefact))
        .map_err(|e| format!("cannot load the compiled plugin: {e:#}"))
}

/// Reads an artefact, checks its MAC, and loads it.
fn load(engine: &Engine, bytes: &[u8], path: &Path, secret: &[u8]) -> Result<Component, String> {
    let data = crate::checker::fileread::read_regular(path, ARTEFACT_LIMIT, true)
        .map_err(|e| e.to_string())?;
    let (tag, artefact) = data
        .split_at_checked(MAC_LEN)
        .ok_or_else(|| "too short".to_string())?;
    let want = mac(secret, engine, bytes, artefact).ok_or("no key")?;
    // Compared in constant time: the MAC is a secret's proof.
    let mut diff = 0u8;
    for (a, b) in tag.iter().zip(want.iter()) {
        diff |= a ^ b;
    }
    if diff != 0 {
        return Err(
            "its MAC does not verify (not written by this daemon, or for another plugin)".into(),
        );
    }
    load_component(engine, Trusted::Authenticated(artefact)).map_err(|e| format!("{e:#}"))
}

/// Writes MAC and artefact atomically (a new temporary file, then rename),
/// mode 0600.
fn store(
    path: &Path,
    engine: &Engine,
    bytes: &[u8],
    artefact: &[u8],
    secret: &[u8],
) -> std::io::Result<()> {
    let tag =
        mac(secret, engine, bytes, artefact).ok_or_else(|| std::io::Error::other("no key"))?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&tmp)?;
    f.write_all(&tag)?;
    f.write_all(artefact)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}
