//! Link flaps and carrier changes (issue 17, item 4) in this host's
//! kernel: with `interface_up_down_delays`, a link down for less than its
//! down delay changes nothing; a longer one fails over, and the return is
//! clean. On `eth0` as the instance's interface and on a bridge as a
//! tracked interface. The same on a VLAN, a bond and a tracked bond, which
//! this host's kernel cannot make, runs in a VM: daemon/tests/vrrp_bond_vm.rs.
//! The scenarios are in common/flap.rs.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test crate fails by panicking

mod common;

use common::flap::{
    flaps_under_delays, keepalived_link_flaps, keepalived_tracked_flaps,
    tracked_aggregate_follows_its_delays,
};
use common::lab::Lab;

#[test]
fn a_flap_shorter_than_the_down_delay_changes_nothing_and_a_longer_one_fails_over() {
    let mut lab = Lab::new(2);
    let srcs = [lab.nodes[0].v4.clone(), lab.nodes[1].v4.clone()];
    flaps_under_delays(
        &mut lab,
        "eth0",
        "10.77.0.100",
        [srcs[0].as_str(), srcs[1].as_str()],
    );
}

/// A bridge of two veths as a tracked interface (it keeps its carrier
/// while one member has its own, as a bond does; a bond itself runs in the
/// VM: vrrp_bond_vm.rs).
#[test]
fn a_tracked_bridge_follows_its_delays() {
    tracked_aggregate_follows_its_delays("bridge");
}

/// What keepalived (Debian's 2.2.7) does in the same flaps, with and
/// without `interface_up_down_delays`, for the record: nothing is asserted
/// beyond the lab working; who held the VIP and who advertised is printed.
/// Run with `cargo nextest run -p upkeep --test vrrp_flap_lab --run-ignored
/// ignored-only --no-capture`. On a VLAN and bonds: vrrp_bond_vm.rs.
#[test]
#[ignore = "a record of keepalived's behaviour, not a test of upkeep"]
fn keepalived_under_the_same_flaps() {
    keepalived_link_flaps(false);
    keepalived_tracked_flaps("bridge");
}
