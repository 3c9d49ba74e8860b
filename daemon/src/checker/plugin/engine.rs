//! The wasmtime side of the plugin host (see the module above).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use tokio::sync::OnceCell;
use wasmtime::component::{HasSelf, Linker};
use wasmtime::{
    Config as EngineConfig, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store,
    Trap, UpdateDeadline,
};

use super::bindings::upkeep::check::types::{CheckError, Request};
use super::bindings::{Plugin, PluginPre};
use super::context::Ctx;
use super::{Capacity, METRICS_LIMIT, PluginProbe, PluginRun, TICK, cache, clip, escape_controls};
use crate::checker::outcome::Outcome;

/// Largest plugin file read.
const FILE_LIMIT: u64 = 256 << 20;

/// A compiled plugin, ready to instantiate.
struct Loaded {
    pre: PluginPre<Ctx>,
}

type LoadCell = Arc<OnceCell<Result<Arc<Loaded>, String>>>;

/// The engine, linker and compiled plugins of one checker.
pub struct PluginHost {
    pub(super) engine: Engine,
    linker: Arc<Linker<Ctx>>,
    capacity: Capacity,
    cache_dir: Option<PathBuf>,
    loaded: Mutex<HashMap<PathBuf, LoadCell>>,
    ticking: Arc<AtomicBool>,
    /// Log lines per check across runs.
    pub(super) logs: Arc<super::LogBudget>,
}

impl Drop for PluginHost {
    fn drop(&mut self) {
        self.ticking.store(false, Ordering::Relaxed);
    }
}

impl PluginHost {
    /// Creates the engine (with a pool sized by `capacity`) and its epoch
    /// ticker. `cache_dir` keeps precompiled artefacts between starts.
    pub fn new(capacity: Capacity, cache_dir: Option<PathBuf>) -> Result<Self, String> {
        let memory = u64::from(capacity.memory_mib.max(1)) << 20;
        let n = capacity.instances.max(1);
        let mut pool = PoolingAllocationConfig::new();
        // Guest toolchains differ in how many core instances, memories and
        // tables a component has (componentize-py has dozens of tables).
        pool.total_component_instances(n)
            .total_core_instances(n.saturating_mul(64))
            .max_core_instances_per_component(64)
            .total_memories(n.saturating_mul(4))
            .max_memories_per_component(4)
            .total_tables(n.saturating_mul(64))
            .max_tables_per_component(64)
            .total_stacks(n)
            .max_memory_size(usize::try_from(memory).unwrap_or(usize::MAX))
            .max_component_instance_size(4 << 20)
            .max_core_instance_size(4 << 20)
            // Reset the pages a run touched with memset instead of madvise:
            // without this, page faults and TLB shootdowns were most of an
            // instantiate + call (measured with perf).
            .linear_memory_keep_resident(1 << 20)
            .table_keep_resident(64 << 10)
            .async_stack_keep_resident(64 << 10)
            .pagemap_scan(wasmtime::Enabled::Auto);
        let mut cfg = EngineConfig::new();
        cfg.epoch_interruption(true)
            .wasm_component_model(true)
            // Async component-model features are unused; without them calls
            // are several times cheaper.
            .concurrency_support(false)
            .memory_reservation(memory)
            .memory_guard_size(64 << 10)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine =
            Engine::new(&cfg).map_err(|e| format!("cannot create the WASM engine: {e}"))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| format!("cannot link WASI: {e}"))?;
        Plugin::add_to_linker::<Ctx, HasSelf<Ctx>>(&mut linker, |c| c)
            .map_err(|e| format!("cannot link the host interface: {e}"))?;
        let ticking = Arc::new(AtomicBool::new(true));
        let (e, t) = (engine.clone(), ticking.clone());
        std::thread::Builder::new()
            .name("plugin-epoch".into())
            .spawn(move || {
                while t.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    e.increment_epoch();
                }
            })
            .map_err(|e| format!("cannot start the epoch ticker: {e}"))?;
        Ok(Self {
            engine,
            linker: Arc::new(linker),
            capacity,
            cache_dir,
            loaded: Mutex::new(HashMap::new()),
            ticking,
            logs: Arc::default(),
        })
    }

    pub fn capacity(&self) -> Capacity {
        self.capacity
    }

    /// Compiles (or loads from the cache) `file` once; later calls share
    /// the result. Compilation runs off the checker's thread.
    async fn load(&self, file: &Path) -> Result<Arc<Loaded>, String> {
        let cell = {
            let mut map = self
                .loaded
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            map.entry(file.to_path_buf()).or_default().clone()
        };
        cell.get_or_init(|| async {
            let (engine, linker) = (self.engine.clone(), self.linker.clone());
            let (file, dir) = (file.to_path_buf(), self.cache_dir.clone());
            tokio::task::spawn_blocking(move || {
                let loaded = compile(&engine, &linker, &file, dir.as_deref());
                // Compiling a large component (CPython: hundreds of MiB)
                // leaves the freed memory in malloc's arenas; give it back.
                crate::sys::mem::trim_heap();
                loaded
            })
            .await
            .unwrap_or_else(|e| Err(format!("compilation stopped: {e}")))
        })
        .await
        .clone()
    }

    /// Forgets compiled plugins, so that the next run reads each file
    /// again (a reload after a plugin was replaced on disk runs the new
    /// one; an unchanged file comes back from the cache).
    pub fn forget(&self) {
        self.loaded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }

    /// Compiles `file` now and reports how long it took and whether the
    /// cache answered.
    pub async fn preload(&self, file: &Path) -> Result<(), String> {
        self.load(file).await.map(|_| ())
    }

    /// Runs the plugin once, bounded by `timeout`.
    pub async fn run(&self, probe: &PluginProbe, timeout: Duration) -> PluginRun {
        let mut run = PluginRun {
            outcome: Outcome::fail(String::new()),
            metrics: Vec::new(),
            dropped_logs: 0,
            instantiate: Duration::ZERO,
            call: Duration::ZERO,
        };
        let loaded = match self.load(&probe.file).await {
            Ok(l) => l,
            Err(e) => {
                run.outcome = Outcome::fail(format!("plugin {}: {e}", probe.file.display()));
                return run;
            }
        };
        let started = Instant::now();
        let deadline = started + timeout;
        let mut store = Store::new(
            &self.engine,
            Ctx::new(probe, deadline, Arc::clone(&self.logs)),
        );
        store.limiter(|c| c);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|ctx| {
            if Instant::now() >= ctx.data().deadline {
                Err(Trap::Interrupt.into())
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });
        let request = Request {
            name: probe.name.clone(),
            args: probe.args.clone(),
            timeout_ms: u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX),
        };
        let mut instantiated = None;
        let call = async {
            let plugin = loaded.pre.instantiate_async(&mut store).await?;
            instantiated = Some(Instant::now());
            plugin.call_check(&mut store, &request).await
        };
        // The epoch callback stops the guest at the deadline and host calls
        // stop at it too; this bound only catches what neither covers.
        let result = tokio::time::timeout(timeout + 5 * TICK, call).await;
        let ended = Instant::now();
        let mid = instantiated.unwrap_or(ended);
        run.instantiate = mid - started;
        run.call = ended - mid;
        let ctx = store.data();
        run.dropped_logs = ctx.dropped_logs;
        let limit_hit = ctx.memory_exceeded;
        run.outcome = match result {
            Err(_) => Outcome::fail(format!("timed out after {} ms", timeout.as_millis())),
            Ok(Err(e)) => Outcome::fail(trap_reason(&e, limit_hit, probe, timeout)),
            Ok(Ok(Err(CheckError::BadConfig(m)))) => {
                Outcome::fail(format!("bad configuration: {}", escape_controls(&clip(&m))))
            }
            Ok(Ok(Err(CheckError::Failed(m)))) => {
                Outcome::fail(format!("error: {}", escape_controls(&clip(&m))))
            }
            Ok(Ok(Ok(o))) => {
                run.metrics = o
                    .metrics
                    .into_iter()
                    .filter(|m| m.value.is_finite())
                    .take(METRICS_LIMIT)
                    .map(|m| (escape_controls(&clip(&m.name)), m.value))
                    .collect();
                Outcome {
                    ok: o.pass,
                    message: escape_controls(&clip(&o.message)),
                    value: None,
                }
            }
        };
        run
    }
}

/// A readable reason for a run that ended with an error.
fn trap_reason(
    e: &wasmtime::Error,
    limit_hit: bool,
    probe: &PluginProbe,
    timeout: Duration,
) -> String {
    if limit_hit {
        return format!("memory limit of {} MiB exceeded", probe.memory_mib);
    }
    match e.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => format!("timed out after {} ms", timeout.as_millis()),
        Some(t) => format!("trapped: {t}"),
        None => format!("failed: {}", clip(&format!("{e:#}"))),
    }
}

fn compile(
    engine: &Engine,
    linker: &Linker<Ctx>,
    file: &Path,
    cache_dir: Option<&Path>,
) -> Result<Arc<Loaded>, String> {
    let meta = std::fs::metadata(file).map_err(|e| format!("cannot read: {e}"))?;
    if meta.len() > FILE_LIMIT {
        return Err(format!("larger than {} MiB", FILE_LIMIT >> 20));
    }
    let bytes = std::fs::read(file).map_err(|e| format!("cannot read: {e}"))?;
    let component = cache::component(engine, &bytes, cache_dir, super::cache_key())?;
    let pre = linker
        .instantiate_pre(&component)
        .map_err(|e| format!("cannot link (does it target upkeep:check@0.1.x?): {e:#}"))?;
    let pre = PluginPre::new(pre).map_err(|e| format!("does not export `check`: {e:#}"))?;
    Ok(Arc::new(Loaded { pre }))
}

impl super::Host for PluginHost {
    fn capacity(&self) -> Capacity {
        PluginHost::capacity(self)
    }

    fn forget(&self) {
        PluginHost::forget(self);
    }

    fn preload<'a>(&'a self, file: &'a Path) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(PluginHost::preload(self, file))
    }

    fn run<'a>(&'a self, probe: &'a PluginProbe, timeout: Duration) -> BoxFuture<'a, PluginRun> {
        Box::pin(PluginHost::run(self, probe, timeout))
    }
}
