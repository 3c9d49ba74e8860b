//! upkeep: a high-availability daemon (VRRP, IPVS, health checks) that reads
//! keepalived.conf as well as its own TOML.
//!
//! One folder per room; see `docs/` and the README for the process model.

mod alloc;
pub mod checker;
pub mod cli;
pub mod config;
pub mod control;
pub mod ipc;
pub mod ipvs;
pub mod procname;
pub mod supervisor;
#[cfg(test)]
pub mod testutil;
pub mod vrrp;
