//! upkeep: a high-availability daemon (VRRP, IPVS, health checks) that reads
//! keepalived.conf as well as its own TOML.
//!
//! One folder per room; see `docs/` and the README for the process model.

pub mod checker;
pub mod cli;
pub mod config;
pub mod control;
pub mod exec;
pub mod ipc;
pub mod ipvs;
pub mod supervisor;
pub mod sys;
#[cfg(test)]
pub mod testutil;
pub mod vrrp;
