//! WASM check plugins: components targeting `upkeep:check@0.1.1` (serving 0.1.0 plugins too), world
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
//!
//! The host is reached through [`Host`], made by the function a binary
//! [`install`]s: only `upkeep-plugin-host` (the checker the parent starts
//! when a plugin is configured) installs [`wasm_host`], so `upkeepd` does
//! not link wasmtime at all. That keeps about 350 KiB of start-up
//! relocations (dirty, per process) and 11 MiB of code out of the parent,
//! the VRRP and IPVS workers and a checker without plugins.

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

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures::future::BoxFuture;

use self::grants::Grants;
use super::outcome::Outcome;

#[cfg(feature = "plugins")]
pub use self::engine::PluginHost;

/// A plugin host as the checker uses it (see the module documentation).
pub trait Host: Send + Sync {
    /// The pool it was made for.
    fn capacity(&self) -> Capacity;
    /// Forgets compiled plugins (a reload reads each file again).
    fn forget(&self);
    /// Compiles `file` now.
    fn preload<'a>(&'a self, file: &'a Path) -> BoxFuture<'a, Result<(), String>>;
    /// Runs the plugin once, bounded by `timeout`.
    fn run<'a>(&'a self, probe: &'a PluginProbe, timeout: Duration) -> BoxFuture<'a, PluginRun>;
}

/// Makes a host with a pool of `capacity`, keeping precompiled plugins in
/// the cache directory when there is one.
pub type MakeHost = fn(Capacity, Option<PathBuf>) -> Result<Arc<dyn Host>, String>;

static MAKE_HOST: OnceLock<MakeHost> = OnceLock::new();

/// Called by a binary that hosts plugins, before the checker starts.
pub fn install(make: MakeHost) {
    let _ = MAKE_HOST.set(make);
}

/// A new host, or why there is none (this process hosts no plugins).
pub fn new_host(capacity: Capacity, cache_dir: Option<PathBuf>) -> Result<Arc<dyn Host>, String> {
    match MAKE_HOST.get() {
        Some(make) => make(capacity, cache_dir),
        None => Err(format!(
            "this checker hosts no plugins (the parent starts {} for them)",
            HOST_BINARY
        )),
    }
}

/// The executable the parent starts as the checker when a plugin check is
/// configured: beside `upkeepd`, or in `../libexec/upkeep/` from it.
pub const HOST_BINARY: &str = "upkeep-plugin-host";

/// wasmtime's host ([`MakeHost`] for `upkeep-plugin-host`).
#[cfg(feature = "plugins")]
pub fn wasm_host(capacity: Capacity, cache_dir: Option<PathBuf>) -> Result<Arc<dyn Host>, String> {
    PluginHost::new(capacity, cache_dir).map(|h| Arc::new(h) as Arc<dyn Host>)
}

/// How often the epoch advances: the granularity of timeouts and of
/// yielding to other checks.
pub const TICK: Duration = Duration::from_millis(10);
/// Most of a message or log line kept, in bytes.
pub const TEXT_LIMIT: usize = 1024;
/// Most metrics kept from one outcome.
pub const METRICS_LIMIT: usize = 16;
/// Most log lines one run may write; the rest are counted.
pub const LOG_LINES_PER_RUN: u32 = 64;
/// Most log lines one check's runs may write in a minute together; the
/// rest are counted as dropped.
pub const LOG_LINES_PER_MINUTE: u32 = 600;
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

static CACHE_KEY: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();

/// The key that authenticates cached artefacts (the parent gives it to the
/// checker in its `Start` message; see `cache.rs`).
pub fn set_cache_key(key: Vec<u8>) {
    let _ = CACHE_KEY.set(key);
}

pub fn cache_key() -> Option<&'static [u8]> {
    CACHE_KEY.get().map(Vec::as_slice)
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
    /// A real server's checker: the address it checks (given to the plugin
    /// by `host.real-server`, upkeep:check@0.1.1).
    pub real_server: Option<std::net::SocketAddr>,
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

/// The log budget of every plugin check across its runs (see
/// [`LOG_LINES_PER_MINUTE`]), by check name: bounded by the configuration.
#[derive(Debug, Default)]
pub struct LogBudget {
    checks: std::sync::Mutex<std::collections::HashMap<String, (std::time::Instant, u32)>>,
}

impl LogBudget {
    /// Whether `check` may write one more line now.
    pub fn take(&self, check: &str, now: std::time::Instant) -> bool {
        let mut map = self
            .checks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = map.entry(check.to_string()).or_insert((now, 0));
        if now.saturating_duration_since(entry.0) >= Duration::from_secs(60) {
            *entry = (now, 0);
        }
        if entry.1 >= LOG_LINES_PER_MINUTE {
            return false;
        }
        entry.1 += 1;
        true
    }

    /// Forgets checks that are no longer configured.
    pub fn retain(&self, names: &std::collections::HashSet<&str>) {
        self.checks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(|k, _| names.contains(k.as_str()));
    }
}

pub use crate::text::escape_controls;

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

#[cfg(test)]
mod log_tests {
    use super::*;
    use std::time::Instant;

    /// Regression: the log cap was per run only; a plugin run often could
    /// log without bound.
    #[test]
    fn a_check_s_log_lines_are_capped_across_runs() {
        let b = LogBudget::default();
        let t = Instant::now();
        let taken = (0..LOG_LINES_PER_MINUTE + 50)
            .filter(|_| b.take("chk", t))
            .count();
        assert_eq!(taken, LOG_LINES_PER_MINUTE as usize);
        assert!(b.take("other", t), "per check");
        assert!(b.take("chk", t + Duration::from_secs(61)), "a new minute");
    }
}
