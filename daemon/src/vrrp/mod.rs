//! VRRP: RFC 5798 (v3, IPv4 and IPv6) and RFC 3768 (v2).
//!
//! `packet` is the codec; `fsm` the per-instance state machine (RFC 5798 §6),
//! `router` the set of instances with sync groups and tracking, `mismatch`
//! a peer's address list against ours (v3), `dupes` other hosts that claim
//! a Master's VIPs in ARP, `owned` the addresses a Master must have and a
//! Backup must not, `pace` the spacing of gratuitous ARPs / NAs on an
//! interface, and `debounce` the delays before a link change counts
//! (`interface_up_down_delays`). These are
//! sans-IO: they take events with `now` and return actions. The rest is the
//! thin IO layer that owns sockets, netlink and timers.

#![forbid(unsafe_code)]

pub mod accept;
pub mod arp_watch;
pub mod deadlines;
pub mod debounce;
pub mod driver;
pub mod dupes;
pub mod fsm;
pub mod garp;
pub mod mismatch;
pub mod netlink;
pub mod owned;
pub mod pace;
pub mod packet;
pub mod reload;
pub mod router;
pub mod setup;
pub mod socket;
pub mod timer;
