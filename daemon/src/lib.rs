//! upkeep: a high-availability daemon (VRRP, IPVS, health checks) that reads
//! keepalived.conf as well as its own TOML.
//!
//! One module (folder) per job; `docs/architecture.md` shows the processes,
//! the messages between them and where each module sits.

pub mod account;
mod alloc;
pub mod checker;
pub mod cli;
pub mod config;
pub mod control;
pub mod exec;
pub mod few;
pub mod ipc;
pub mod ipvs;
pub mod names;
pub mod procname;
pub mod sandbox;
pub mod supervisor;
pub mod sys;
#[cfg(test)]
pub mod testutil;
pub mod text;
pub mod vrrp;
