//! IPVS: the desired table of virtual and real servers (sans-IO) and the
//! worker that holds it. Programming the kernel over generic netlink is the
//! IPVS room's own piece of work; this worker keeps the table, applies
//! real-server health from the checker and reports it.

pub mod genl;
pub mod table;
pub mod worker;
