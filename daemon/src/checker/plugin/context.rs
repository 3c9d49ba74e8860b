//! The state of one plugin run (the wasmtime store's data): WASI with
//! nothing granted, the check's grants, its deadline and memory limit, and
//! the resources the guest holds.

use std::sync::Arc;
use std::time::Instant;

use tokio::net::TcpStream;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::PluginProbe;
use super::grants::Grants;

/// A granted TCP connection held for the guest.
pub struct TcpConnection {
    pub(super) stream: TcpStream,
}

/// The state of one run.
pub struct Ctx {
    pub(super) wasi: WasiCtx,
    pub(super) table: ResourceTable,
    pub(super) grants: Arc<Grants>,
    pub(super) check: String,
    pub(super) deadline: Instant,
    /// For all the run's linear memories together (a component may have
    /// several).
    pub(super) memory_limit: usize,
    pub(super) memory_in_use: usize,
    pub(super) memory_exceeded: bool,
    pub(super) logs: u32,
    pub(super) dropped_logs: u32,
    pub(super) budget: Arc<super::LogBudget>,
    pub(super) connections: u32,
    /// What `host.real-server` answers.
    pub(super) real_server: Option<std::net::SocketAddr>,
}

impl Ctx {
    pub(super) fn new(
        probe: &PluginProbe,
        deadline: Instant,
        budget: Arc<super::LogBudget>,
    ) -> Self {
        Self {
            // Nothing granted: see the module documentation.
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
            grants: probe.grants.clone(),
            check: probe.name.clone(),
            deadline,
            memory_limit: usize::try_from(u64::from(probe.memory_mib) << 20).unwrap_or(usize::MAX),
            memory_in_use: 0,
            memory_exceeded: false,
            logs: 0,
            dropped_logs: 0,
            budget,
            connections: 0,
            real_server: probe.real_server,
        }
    }
}

impl WasiView for Ctx {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl wasmtime::ResourceLimiter for Ctx {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Also called for each memory's initial size (current 0).
        let total = self
            .memory_in_use
            .saturating_sub(current)
            .saturating_add(desired);
        if total > self.memory_limit {
            // Trap rather than let the guest see -1: a plugin that wants
            // more than its limit is broken, and the reason must say so.
            self.memory_exceeded = true;
            return Err(wasmtime::format_err!("memory limit exceeded"));
        }
        self.memory_in_use = total;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}
