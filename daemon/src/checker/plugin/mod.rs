//! WASM check plugins: components targeting `upkeep:check@0.1.0`, world
//! `plugin` (plugin-sdk/wit/check.wit), run by wasmtime's component model.
//!
//! One engine per checker, made only when a plugin is configured. A plugin
//! file is compiled once (cached as a precompiled artefact, `cache.rs`) and
//! each run instantiates it afresh from an `InstancePre` with the pooling
//! allocator, so runs share nothing. A run's store holds:
//! - WASI with nothing granted (no preopens, environment, sockets; stdin
//!   closed; stdout and stderr discarded), so guest standard libraries work;
//! - the check's grants, which every host import checks first (`grants.rs`);
//! - a memory limit (a larger `memory.grow` traps);
//! - an epoch deadline at the check's timeout. The epoch ticks every 10 ms
//!   and each tick yields to the checker's other tasks, so a busy plugin
//!   neither blocks the single-threaded checker nor outlives its timeout.
//!
//! A trap, timeout, memory excess or malformed result fails that run with
//! the reason; the checker carries on.

#[cfg(feature = "plugins")]
mod bindings;
#[cfg(feature = "plugins")]
mod cache;
#[cfg(feature = "plugins")]
mod context;
#[cfg(feature = "plugins")]
mod engine;
pub mod grants;
#[cfg(feature = "plugins")]
mod imports;
pub mod trial;
#[cfg(not(feature = "plugins"))]
mod without;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use self::grants::Grants;
use super::outcome::Outcome;

#[cfg(feature = "plugins")]
pub use self::engine::PluginHost;
#[cfg(not(feature = "plugins"))]
pub use self::without::PluginHost;

/// How often the epoch advances: the granularity of timeouts and of
/// yielding to other checks.
pub const TICK: Duration = Duration::from_millis(10);
/// Most of a message or log line kept, in bytes.
pub const TEXT_LIMIT: usize = 1024;
/// Most metrics kept from one outcome.
pub const METRICS_LIMIT: usize = 16;
/// Most log lines one run may write; the rest are counted.
pub const LOG_LINES_PER_RUN: u32 = 64;
/// Most bytes a host import returns (body, file, socket answer).
pub const DATA_LIMIT: usize = 1 << 20;

static CACHE_DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// Where this process keeps precompiled plugins (the parent passes it to
/// the checker as `--plugin-cache`).
pub fn set_cache_dir(dir: PathBuf) {
    let _ = CACHE_DIR.set(dir);
}

pub fn cache_dir() -> Option<PathBuf> {
    CACHE_DIR.get().cloned()
}

/// One plugin check as configured (plain data; the host holds the code).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginProbe {
    /// The check's name (given to the plugin and tagged on its log lines).
    pub name: String,
    pub file: PathBuf,
    pub args: Vec<(String, String)>,
    pub memory_mib: u32,
    pub grants: Arc<Grants>,
}

/// The result of one run, with what the plugin measured and logged.
#[derive(Clone, Debug, PartialEq)]
pub struct PluginRun {
    pub outcome: Outcome,
    pub metrics: Vec<(String, f64)>,
    /// Log lines dropped for exceeding the per-run limit.
    pub dropped_logs: u32,
    /// Time to instantiate, and to call `check`.
    pub instantiate: Duration,
    pub call: Duration,
}

/// How many plugin runs may be alive at once and the largest memory one may
/// have: the pooling allocator reserves slots for exactly this.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capacity {
    pub instances: u32,
    pub memory_mib: u32,
}

impl Capacity {
    pub fn covers(&self, other: &Capacity) -> bool {
        self.instances >= other.instances && self.memory_mib >= other.memory_mib
    }
}

/// Cut to TEXT_LIMIT bytes on a character boundary.
pub fn clip(s: &str) -> String {
    if s.len() <= TEXT_LIMIT {
        return s.to_string();
    }
    let mut end = TEXT_LIMIT;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(feature = "plugins")]
#[cfg(test)]
mod tests;
