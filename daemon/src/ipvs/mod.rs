//! IPVS: the kernel's Linux Virtual Server, programmed over generic netlink
//! ([`genl`]). The worker ([`worker`]) keeps the desired table ([`table`]:
//! configuration, real-server health, quorum and sorry servers, VRRP
//! states) and reconciles the kernel with it ([`reconcile`]); [`status`]
//! is what it reports.

#![forbid(unsafe_code)]

pub mod genl;
pub mod reconcile;
pub mod status;
pub mod table;
pub mod worker;
