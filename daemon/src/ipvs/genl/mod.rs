//! The kernel's IPVS over generic netlink: the objects ([`model`]), their
//! messages ([`codec`], checked byte for byte against `ipvsadm`), and a
//! blocking client ([`client`]). Written here rather than taken from the
//! `netlink-packet-ipvs` crate, whose byte order and flag masks are wrong;
//! framing comes from `netlink-packet-core` / `-generic`, the socket from
//! `netlink-sys`.

pub mod client;
pub mod codec;
pub mod model;

pub use client::{Client, IpvsError};
pub use codec::{Invalid, IpvsMsg, Request};
pub use model::*;
