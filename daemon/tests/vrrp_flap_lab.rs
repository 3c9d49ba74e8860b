//! Link flaps and carrier changes (issue 17, item 4): with
//! `interface_up_down_delays`, a link down for less than its down delay
//! changes nothing; a longer one fails over, and the return is clean. On a
//! VLAN as the instance's interface, a bond as the instance's interface
//! and a bond as a tracked interface. Real upkeepd processes in network
//! namespaces the test creates, a capture on the bridge; every wait is
//! bounded; times are measured and printed, not asserted tightly.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test crate fails by panicking

mod common;

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::lab::{Lab, Seen, adverts};

const UPKEEPD: &str = env!("CARGO_BIN_EXE_upkeepd");
const SECS: fn(u64) -> Duration = Duration::from_secs;
const MS: fn(u64) -> Duration = Duration::from_millis;
/// Tagged and untagged adverts.
const VRRP: &str = "vrrp or (vlan and vrrp)";

/// keepalived.conf for one node: `delays` inside `interface_up_down_delays`
/// (none when empty), VI_1 on `iface` (VRID 51, advert_int 1) with `vip`
/// and `extra` lines.
fn conf(iface: &str, prio: u32, vip: &str, delays: &str, extra: &str) -> String {
    let delays = if delays.is_empty() {
        String::new()
    } else {
        format!("interface_up_down_delays {{\n    {delays}\n}}\n")
    };
    format!(
        "{delays}vrrp_instance VI_1 {{\n    state BACKUP\n    interface {iface}\n    virtual_router_id 51\n    priority {prio}\n    advert_int 1\n    virtual_ipaddress {{\n        {vip}/24\n    }}\n{extra}\n}}\n"
    )
}

fn epoch() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn transitions(lab: &Lab, k: usize) -> u64 {
    lab.instance(k, "VI_1")
        .and_then(|s| s["transitions"].as_u64())
        .unwrap_or(0)
}

/// The sources that advertised between `from` and `to` (epoch seconds).
fn sources(seen: &[Seen], from: f64, to: f64) -> Vec<String> {
    let mut v: Vec<String> = seen
        .iter()
        .filter(|s| s.at >= from && s.at <= to)
        .map(|s| s.src.clone())
        .collect();
    v.sort();
    v.dedup();
    v
}

/// The longest gap between two adverts of `src` between `from` and `to`.
fn longest_gap(seen: &[Seen], src: &str, from: f64, to: f64) -> f64 {
    let t: Vec<f64> = seen
        .iter()
        .filter(|s| s.src == src && s.at >= from && s.at <= to)
        .map(|s| s.at)
        .collect();
    t.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max)
}

/// Windows of the capture where both nodes advertised within one advert
/// interval of each other (two Masters), as (start, end).
fn two_masters(seen: &[Seen], a: &str, b: &str) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    for s in seen.iter().filter(|s| s.src == a) {
        if let Some(o) = seen
            .iter()
            .find(|o| o.src == b && (o.at - s.at).abs() < 0.5)
        {
            out.push((s.at.min(o.at), s.at.max(o.at)));
        }
    }
    out
}

/// Takes node 0's link away for `down` by `down_cmd`/`up_cmd` (bridge
/// side or node side), then waits `after`; returns the epoch seconds
/// around it.
fn flap(lab: &Lab, down_cmd: &dyn Fn(&Lab), up_cmd: &dyn Fn(&Lab), down: Duration) -> (f64, f64) {
    let from = epoch();
    down_cmd(lab);
    std::thread::sleep(down);
    up_cmd(lab);
    (from, epoch())
}

/// A Master/Backup pair after a long outage of the Master's link and its
/// return: the Master back (preempting), the Backup backing off, the VIP on
/// the Master only, and the capture's last seconds with one advertiser.
fn expect_clean_return(lab: &Lab, pcap: &Path, vip: &str, master_src: &str) -> Duration {
    let start = Instant::now();
    lab.expect_state(0, "VI_1", "MASTER", SECS(12));
    let back = start.elapsed();
    lab.expect_state(1, "VI_1", "BACKUP", SECS(3));
    assert!(
        lab.wait(SECS(3), || lab.has_addr(0, vip) && !lab.has_addr(1, vip)),
        "VIP not on the Master only\n{}",
        lab.logs()
    );
    std::thread::sleep(SECS(3));
    let now = epoch();
    let seen = adverts(pcap);
    assert_eq!(
        sources(&seen, now - 2.5, now),
        vec![master_src.to_string()],
        "one Master after the return"
    );
    back
}

/// The flap scenario on `iface` (node addresses `srcs`, `vip`), down
/// delay 1.5 s, up delay 1 s: a 0.6 s carrier loss under the Master (its
/// bridge port down) changes nothing, on the wire nor in either node; a 4 s
/// one puts the Master in FAULT after the down delay, the Backup takes
/// over, and the Master takes back over after the up delay with one Master
/// on the wire.
fn flaps_under_delays(lab: &mut Lab, iface: &str, vip: &str, srcs: [&str; 2]) {
    let delays = format!("{iface} 1.5 1");
    lab.start(0, UPKEEPD, &conf(iface, 100, vip, &delays, ""), "k.conf");
    lab.start(1, UPKEEPD, &conf(iface, 99, vip, &delays, ""), "k.conf");
    lab.expect_state(0, "VI_1", "MASTER", SECS(10));
    lab.expect_state(1, "VI_1", "BACKUP", SECS(3));
    let pcap = lab.capture_bridge("flap.pcap", VRRP);
    let (t0, t1) = (transitions(lab, 0), transitions(lab, 1));
    let down = |l: &Lab| {
        l.bridge_ip(&["link", "set", "p0", "down"]);
    };
    let up = |l: &Lab| {
        l.bridge_ip(&["link", "set", "p0", "up"]);
    };

    let (from, _) = flap(lab, &down, &up, MS(600));
    // Past the Backup's Master_Down_Interval (3.6 s).
    std::thread::sleep(SECS(5));
    let to = epoch();
    assert_eq!(
        (transitions(lab, 0), transitions(lab, 1)),
        (t0, t1),
        "a 0.6 s flap under a 1.5 s down delay changed a state\n{}",
        lab.logs()
    );
    assert_eq!(lab.state(0, "VI_1").as_deref(), Some("MASTER"));
    let log = lab.log(0);
    assert!(
        log.contains("link flap shorter than its delay: ignored"),
        "{log}"
    );
    let seen = adverts(&pcap);
    assert_eq!(
        sources(&seen, from - 1.0, to),
        vec![srcs[0].to_string()],
        "one Master on the wire throughout the short flap"
    );
    let gap = longest_gap(&seen, srcs[0], from - 1.0, to);
    eprintln!(
        "{iface}: short flap (0.6 s, down delay 1.5 s): no transition; longest gap between the Master's adverts {gap:.3} s"
    );

    // 4 s: FAULT after the down delay, failover, then the return.
    let start = Instant::now();
    down(lab);
    lab.expect_state(0, "VI_1", "FAULT", SECS(4));
    let fault = start.elapsed();
    lab.expect_state(1, "VI_1", "MASTER", SECS(6));
    let takeover = start.elapsed();
    std::thread::sleep(SECS(4).saturating_sub(start.elapsed()));
    let up_at = epoch();
    up(lab);
    let back = expect_clean_return(lab, &pcap, vip, srcs[0]);
    let seen = adverts(&pcap);
    let overlaps = two_masters(&seen, srcs[0], srcs[1]);
    assert!(
        overlaps.iter().all(|(a, _)| *a >= up_at),
        "two Masters before the return: {overlaps:?}"
    );
    assert!(fault >= MS(1400), "FAULT before the down delay: {fault:?}");
    eprintln!(
        "{iface}: long flap (4 s): FAULT after {fault:?} (down delay 1.5 s), Backup MASTER after {takeover:?}; link back: MASTER again after {back:?} (up delay 1 s, then Master_Down_Interval); both advertising within 0.5 s at the return: {overlaps:?}"
    );
}

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

/// The same on a VLAN (`eth0.10`) as the instance's interface: the carrier
/// of `eth0` under it goes. Skipped (and says so) on a kernel without
/// 802.1Q.
#[test]
fn a_vlan_flap_shorter_than_the_down_delay_changes_nothing_and_a_longer_one_fails_over() {
    let mut lab = Lab::new(2);
    if !lab.supports(0, "vlan") {
        eprintln!("SKIPPED: this kernel makes no VLAN interfaces (CONFIG_VLAN_8021Q)");
        return;
    }
    for k in 0..2 {
        lab.vlan(k, 10);
    }
    flaps_under_delays(
        &mut lab,
        "eth0.10",
        "10.78.0.100",
        ["10.78.0.10", "10.78.0.11"],
    );
}

/// A bond (active-backup, miimon 100) as the Master's interface, no
/// delays: one member losing its carrier moves the bond to the other and
/// VRRP does not notice; both losing it fail over; both back, a clean
/// return.
#[test]
fn a_bond_losing_one_member_keeps_its_master_and_losing_both_fails_over() {
    let mut lab = Lab::new(2);
    if !lab.supports(0, "bond") {
        eprintln!("SKIPPED: this kernel makes no bonds (CONFIG_BONDING)");
        return;
    }
    let vip = "10.77.0.100";
    lab.bond(0);
    lab.start(0, UPKEEPD, &conf("bond0", 100, vip, "", ""), "k.conf");
    lab.start(1, UPKEEPD, &conf("eth0", 99, vip, "", ""), "k.conf");
    lab.expect_state(0, "VI_1", "MASTER", SECS(10));
    lab.expect_state(1, "VI_1", "BACKUP", SECS(3));
    let pcap = lab.capture_bridge("bond.pcap", "vrrp");
    let (t0, t1) = (transitions(&lab, 0), transitions(&lab, 1));

    let from = epoch();
    lab.bridge_ip(&["link", "set", "p0a", "down"]);
    std::thread::sleep(SECS(5));
    let to = epoch();
    let bonding = lab.exec(0, &["cat", "/proc/net/bonding/bond0"]);
    assert!(bonding.contains("Currently Active Slave: m1"), "{bonding}");
    assert_eq!(
        (transitions(&lab, 0), transitions(&lab, 1)),
        (t0, t1),
        "one member down changed a state\n{}",
        lab.logs()
    );
    let seen = adverts(&pcap);
    assert_eq!(
        sources(&seen, from - 1.0, to),
        vec!["10.77.0.10".to_string()]
    );
    let gap = longest_gap(&seen, "10.77.0.10", from - 1.0, to);
    eprintln!(
        "bond: one member down: no transition; longest gap between the Master's adverts {gap:.3} s"
    );

    let start = Instant::now();
    lab.bridge_ip(&["link", "set", "p0b", "down"]);
    lab.expect_state(0, "VI_1", "FAULT", SECS(3));
    let fault = start.elapsed();
    lab.expect_state(1, "VI_1", "MASTER", SECS(6));
    let takeover = start.elapsed();
    assert!(lab.wait(SECS(2), || lab.has_addr(1, vip) && !lab.has_addr(0, vip)));
    lab.bridge_ip(&["link", "set", "p0a", "up"]);
    lab.bridge_ip(&["link", "set", "p0b", "up"]);
    let back = expect_clean_return(&lab, &pcap, vip, "10.77.0.10");
    eprintln!(
        "bond: both members down: FAULT after {fault:?}, Backup MASTER after {takeover:?}; both back: MASTER again after {back:?}"
    );
}

/// Node 0's `bond1`: two veths `t0a`, `t0b` whose peers `t1a`, `t1b` are
/// in the node too (pulling a peer down takes the member's carrier away),
/// in an active-backup bond; where the kernel has no bonding, in a bridge,
/// whose carrier likewise stays while one member has its own.
fn local_bond(lab: &Lab) -> &'static str {
    let kind = if lab.supports(0, "bond") {
        lab.add_bond(0, "bond1");
        "bond"
    } else {
        lab.ip(0, &["link", "add", "bond1", "type", "bridge"]);
        "bridge"
    };
    for m in ["a", "b"] {
        let (ours, peer) = (format!("t0{m}"), format!("t1{m}"));
        lab.ip(
            0,
            &["link", "add", &ours, "type", "veth", "peer", "name", &peer],
        );
        lab.ip(0, &["link", "set", &ours, "master", "bond1"]);
        lab.ip(0, &["link", "set", &ours, "up"]);
        lab.ip(0, &["link", "set", &peer, "up"]);
    }
    lab.ip(0, &["link", "set", "bond1", "up"]);
    assert!(lab.wait(SECS(5), || {
        lab.ip(0, &["link", "show", "bond1"]).contains("LOWER_UP")
    }));
    kind
}

/// A bond as a tracked interface (`track_interface bond1`, no weight: Fault
/// while down; a bridge of the two members where the kernel has no
/// bonding), down delay 3 s (a tracked link may wait past the peer's
/// Master_Down_Interval: the adverts go on), up delay 1 s: one member down,
/// nothing; both down for 1.2 s, a flap that changes nothing; both down
/// for 6 s, FAULT after the delay and failover, then a clean return. The
/// kernel tells of a stacked device's carrier up to a second late
/// (linkwatch), and a shorter loss may never reach it: the flap is longer
/// than the one under the instance's own interface.
#[test]
fn a_tracked_bond_follows_its_delays() {
    let mut lab = Lab::new(2);
    let vip = "10.77.0.100";
    let kind = local_bond(&lab);
    let track = "    track_interface {\n        bond1\n    }";
    lab.start(
        0,
        UPKEEPD,
        &conf("eth0", 100, vip, "bond1 3 1", track),
        "k.conf",
    );
    lab.start(1, UPKEEPD, &conf("eth0", 99, vip, "", ""), "k.conf");
    lab.expect_state(0, "VI_1", "MASTER", SECS(10));
    lab.expect_state(1, "VI_1", "BACKUP", SECS(3));
    let pcap = lab.capture_bridge("tracked.pcap", "vrrp");
    let (t0, t1) = (transitions(&lab, 0), transitions(&lab, 1));

    let from = epoch();
    lab.ip(0, &["link", "set", "t1a", "down"]);
    std::thread::sleep(SECS(2));
    let down = |l: &Lab| {
        l.ip(0, &["link", "set", "t1b", "down"]);
    };
    let up = |l: &Lab| {
        l.ip(0, &["link", "set", "t1b", "up"]);
    };
    flap(&lab, &down, &up, MS(1200));
    std::thread::sleep(SECS(5));
    let to = epoch();
    assert_eq!(
        (transitions(&lab, 0), transitions(&lab, 1)),
        (t0, t1),
        "a member down and a 1.2 s loss of the tracked {kind} changed a state\n{}",
        lab.logs()
    );
    assert_eq!(
        sources(&adverts(&pcap), from - 1.0, to),
        vec!["10.77.0.10".to_string()]
    );
    let seen = lab
        .log(0)
        .lines()
        .filter(|l| l.contains("link flap shorter than its delay: ignored"))
        .map(str::to_string)
        .collect::<Vec<_>>();
    eprintln!(
        "tracked {kind}: one member down, then the {kind} down for 1.2 s (delay 3 s): no transition; flaps seen and ignored: {seen:?}"
    );

    let start = Instant::now();
    down(&lab);
    lab.expect_state(0, "VI_1", "FAULT", SECS(6));
    let fault = start.elapsed();
    lab.expect_state(1, "VI_1", "MASTER", SECS(6));
    let takeover = start.elapsed();
    std::thread::sleep(SECS(6).saturating_sub(start.elapsed()));
    up(&lab);
    let back = expect_clean_return(&lab, &pcap, vip, "10.77.0.10");
    assert!(fault >= MS(2900), "FAULT before the down delay: {fault:?}");
    eprintln!(
        "tracked {kind} down 6 s: FAULT after {fault:?} (delay 3 s), Backup MASTER after {takeover:?}; back: MASTER again after {back:?}"
    );
}

/// keepalived's FAULT entries on node `k` so far.
fn k_faults(lab: &Lab, k: usize) -> usize {
    lab.keepalived_log(k)
        .matches("Entering FAULT STATE")
        .count()
}

/// keepalived under a short (`short`) then a long (`long`) loss of node
/// 0's link by `down`/`up`; prints what happened.
#[allow(clippy::too_many_arguments)]
fn keepalived_flaps(
    lab: &mut Lab,
    what: &str,
    vip: &str,
    srcs: [&str; 2],
    down: &dyn Fn(&Lab),
    up: &dyn Fn(&Lab),
    short: Duration,
    long: Duration,
) {
    assert!(
        lab.wait(SECS(10), || lab.has_addr(0, vip)),
        "{}",
        lab.keepalived_log(0)
    );
    std::thread::sleep(SECS(2));
    let pcap = lab.capture_bridge("k.pcap", VRRP);
    let (from, _) = flap(lab, down, up, short);
    std::thread::sleep(SECS(6));
    let to = epoch();
    let seen = adverts(&pcap);
    let faults = k_faults(lab, 0);
    eprintln!(
        "keepalived [{what}]: {short:?} loss: FAULT entered {faults} times; advertisers {:?}; longest gap of the Master's adverts {:.3} s; both advertising within 0.5 s {:?}; VIP on {:?}",
        sources(&seen, from - 1.0, to),
        longest_gap(&seen, srcs[0], from - 1.0, to),
        two_masters(&seen, srcs[0], srcs[1]),
        (0..2).filter(|&k| lab.has_addr(k, vip)).collect::<Vec<_>>()
    );
    let start = Instant::now();
    down(lab);
    let fault = lab
        .wait(long, || k_faults(lab, 0) > faults)
        .then(|| start.elapsed());
    let took = lab
        .wait(SECS(6), || lab.has_addr(1, vip))
        .then(|| start.elapsed());
    std::thread::sleep(long.saturating_sub(start.elapsed()));
    let back_from = Instant::now();
    up(lab);
    let back = lab
        .wait(SECS(12), || lab.has_addr(0, vip) && !lab.has_addr(1, vip))
        .then(|| back_from.elapsed());
    std::thread::sleep(SECS(3));
    let now = epoch();
    eprintln!(
        "keepalived [{what}]: {long:?} loss: FAULT after {fault:?}, Backup holds the VIP after {took:?}; VIP back on the Master only {back:?} after the link; last 2.5 s advertisers {:?}",
        sources(&adverts(&pcap), now - 2.5, now)
    );
}

/// What keepalived (Debian's 2.2.7) does in the same flaps, with and
/// without `interface_up_down_delays`, for the record: nothing is asserted
/// beyond the lab working; who held the VIP and who advertised is printed.
/// Run with `cargo nextest run -p upkeep --test vrrp_flap_lab --run-ignored
/// ignored-only --no-capture`.
#[test]
#[ignore = "a record of keepalived's behaviour, not a test of upkeep"]
fn keepalived_under_the_same_flaps() {
    let port = |cmd: &'static str| {
        move |l: &Lab| {
            l.bridge_ip(&["link", "set", "p0", cmd]);
        }
    };
    for delays in ["1.5 1", ""] {
        let mut lab = Lab::new(2);
        let vlan = lab.supports(0, "vlan");
        let (iface, vip, srcs) = if vlan {
            for k in 0..2 {
                lab.vlan(k, 10);
            }
            ("eth0.10", "10.78.0.100", ["10.78.0.10", "10.78.0.11"])
        } else {
            ("eth0", "10.77.0.100", ["10.77.0.10", "10.77.0.11"])
        };
        let d = if delays.is_empty() {
            String::new()
        } else {
            format!("{iface} {delays}")
        };
        lab.start_keepalived(0, &conf(iface, 100, vip, &d, ""));
        lab.start_keepalived(1, &conf(iface, 99, vip, &d, ""));
        keepalived_flaps(
            &mut lab,
            &format!("{iface}, delays {d:?}"),
            vip,
            srcs,
            &port("down"),
            &port("up"),
            MS(600),
            SECS(4),
        );
        eprintln!("--- node 0\n{}", lab.keepalived_log(0));
    }
    // A tracked aggregate (a bond, or a bridge where there is no bonding).
    for delays in ["bond1 3 1", ""] {
        let mut lab = Lab::new(2);
        let vip = "10.77.0.100";
        let kind = local_bond(&lab);
        lab.ip(0, &["link", "set", "t1a", "down"]);
        let track = "    track_interface {\n        bond1\n    }";
        lab.start_keepalived(0, &conf("eth0", 100, vip, delays, track));
        lab.start_keepalived(1, &conf("eth0", 99, vip, "", ""));
        let member = |cmd: &'static str| {
            move |l: &Lab| {
                l.ip(0, &["link", "set", "t1b", cmd]);
            }
        };
        keepalived_flaps(
            &mut lab,
            &format!("tracked {kind} with one member down, delays {delays:?}"),
            vip,
            ["10.77.0.10", "10.77.0.11"],
            &member("down"),
            &member("up"),
            MS(1200),
            SECS(6),
        );
    }
    // The bond as the Master's interface, without delays.
    let mut lab = Lab::new(2);
    if !lab.supports(0, "bond") {
        eprintln!(
            "keepalived bond as the instance's interface: SKIPPED (no bonding in this kernel)"
        );
        return;
    }
    let vip = "10.77.0.100";
    lab.bond(0);
    lab.start_keepalived(0, &conf("bond0", 100, vip, "", ""));
    lab.start_keepalived(1, &conf("eth0", 99, vip, "", ""));
    assert!(
        lab.wait(SECS(10), || lab.has_addr(0, vip)),
        "{}",
        lab.keepalived_log(0)
    );
    std::thread::sleep(SECS(2));
    let pcap = lab.capture_bridge("kb.pcap", "vrrp");
    let from = epoch();
    lab.bridge_ip(&["link", "set", "p0a", "down"]);
    std::thread::sleep(SECS(5));
    let seen = adverts(&pcap);
    eprintln!(
        "keepalived bond: one member down: FAULT entered {} times; advertisers {:?}",
        k_faults(&lab, 0),
        sources(&seen, from - 1.0, epoch())
    );
    let start = Instant::now();
    lab.bridge_ip(&["link", "set", "p0b", "down"]);
    let took = lab
        .wait(SECS(6), || lab.has_addr(1, vip))
        .then(|| start.elapsed());
    lab.bridge_ip(&["link", "set", "p0a", "up"]);
    lab.bridge_ip(&["link", "set", "p0b", "up"]);
    let up = Instant::now();
    let back = lab
        .wait(SECS(12), || lab.has_addr(0, vip) && !lab.has_addr(1, vip))
        .then(|| up.elapsed());
    std::thread::sleep(SECS(3));
    let now = epoch();
    eprintln!(
        "keepalived bond: both down: Backup holds the VIP after {took:?}; both back: VIP on the Master only after {back:?}; last 2.5 s advertisers {:?}",
        sources(&adverts(&pcap), now - 2.5, now)
    );
}
