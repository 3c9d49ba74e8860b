//! keepalived VRRP keywords whose effect is on the wire, each tested with
//! real upkeepd processes in network namespaces the test creates. Needs root.
//! Every wait is bounded; the lab is removed on drop, also when a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test crate fails by panicking

mod common;

use std::time::Duration;

use common::lab::Lab;

const UPKEEPD: &str = env!("CARGO_BIN_EXE_upkeepd");
const SECS: fn(u64) -> Duration = Duration::from_secs;

/// (seconds since the epoch, line) of each packet in `pcap` whose line has `needle`.
fn packets(lab: &Lab, k: usize, pcap: &std::path::Path, needle: &str) -> Vec<(f64, String)> {
    lab.exec(k, &["tcpdump", "-tt", "-n", "-r", pcap.to_str().unwrap()])
        .lines()
        .filter(|l| l.contains(needle))
        .filter_map(|l| {
            let t = l.split_whitespace().next()?.parse().ok()?;
            Some((t, l.to_string()))
        })
        .collect()
}

/// The gratuitous ARPs for the lab's two VIPs, in time order.
fn garps(lab: &Lab, k: usize, pcap: &std::path::Path) -> Vec<(f64, String)> {
    let mut v = packets(lab, k, pcap, "who-has 10.77.0.100 tell 10.77.0.100");
    v.extend(packets(
        lab,
        k,
        pcap,
        "who-has 10.77.0.101 tell 10.77.0.101",
    ));
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    v
}

fn gaps_ms(times: &[(f64, String)]) -> Vec<f64> {
    times
        .windows(2)
        .map(|w| (w[1].0 - w[0].0) * 1000.0)
        .collect()
}

/// `vrrp_garp_interval 0.1`: the new Master's gratuitous ARPs (two VIPs,
/// `garp_master_repeat 3`: six) leave at least ~100 ms apart, where
/// without it they go back to back.
#[test]
fn vrrp_garp_interval() {
    let mut lab = Lab::new(2);
    let pcap = lab.capture(1, "arp.pcap", "arp");
    let conf = format!(
        "global_defs {{\n    vrrp_garp_interval 0.1\n    vrrp_garp_master_repeat 3\n    vrrp_garp_master_delay 0\n}}\n{}",
        common::lab::vrrp_instance(&lab, 0, 200, &["10.77.0.100/24", "10.77.0.101/24"], "")
    );
    lab.start(0, UPKEEPD, &conf, "keepalived.conf");
    lab.expect_state(0, "VI_1", "MASTER", SECS(8));
    // Six packets at 100 ms: done within a second; wait until they are all seen.
    let arps = |lab: &Lab| garps(lab, 1, &pcap);
    assert!(
        lab.wait(SECS(5), || arps(&lab).len() >= 6),
        "{:?}\n{}",
        arps(&lab),
        lab.log(0)
    );
    std::thread::sleep(Duration::from_millis(500));
    let seen = arps(&lab);
    let gaps = gaps_ms(&seen);
    eprintln!(
        "vrrp_garp_interval 0.1: {} ARPs, gaps (ms) {gaps:.1?}",
        seen.len()
    );
    assert_eq!(
        seen.len(),
        6,
        "3 rounds of 2 VIPs, no second burst: {seen:#?}"
    );
    for g in &gaps {
        assert!(*g >= 90.0, "gap of {g:.1} ms < 90 ms: {gaps:?}\n{seen:#?}");
    }
    // The rounds alternate the addresses, as keepalived's do.
    assert!(seen[0].1.contains("10.77.0.100") && seen[1].1.contains("10.77.0.101"));
}

/// Without an interval the same burst is back to back (the measurement the
/// spacing is compared with; no timing asserted but the order).
#[test]
fn vrrp_garp_interval_unset_sends_back_to_back() {
    let mut lab = Lab::new(2);
    let pcap = lab.capture(1, "arp.pcap", "arp");
    let conf = format!(
        "global_defs {{\n    vrrp_garp_master_repeat 3\n    vrrp_garp_master_delay 0\n}}\n{}",
        common::lab::vrrp_instance(&lab, 0, 200, &["10.77.0.100/24", "10.77.0.101/24"], "")
    );
    lab.start(0, UPKEEPD, &conf, "keepalived.conf");
    lab.expect_state(0, "VI_1", "MASTER", SECS(8));
    assert!(lab.wait(SECS(5), || garps(&lab, 1, &pcap).len() >= 6));
    std::thread::sleep(Duration::from_millis(300));
    let seen = garps(&lab, 1, &pcap);
    let gaps = gaps_ms(&seen);
    eprintln!(
        "no vrrp_garp_interval: {} ARPs, gaps (ms) {gaps:.2?}",
        seen.len()
    );
    assert_eq!(seen.len(), 6, "{seen:#?}");
}

/// `mcast_dst_ip 224.0.0.77`: the adverts go to that group and not to
/// 224.0.0.18, and the peer (same setting) hears them: it stays Backup.
#[test]
fn mcast_dst_ip() {
    let mut lab = Lab::new(3);
    let pcap = lab.capture(2, "vrrp.pcap", "ip proto 112");
    for (k, prio) in [(0, 200), (1, 100)] {
        let conf = common::lab::vrrp_instance(
            &lab,
            k,
            prio,
            &["10.77.0.100/24"],
            "    mcast_dst_ip 224.0.0.77\n",
        );
        lab.start(k, UPKEEPD, &conf, "keepalived.conf");
    }
    lab.expect_state(0, "VI_1", "MASTER", SECS(8));
    lab.expect_state(1, "VI_1", "BACKUP", SECS(2));
    assert!(
        lab.wait(SECS(5), || lab
            .instance(1, "VI_1")
            .is_some_and(|s| s["adverts_received"].as_u64() >= Some(3))),
        "{}",
        lab.logs()
    );
    assert_eq!(lab.state(1, "VI_1").as_deref(), Some("BACKUP"));
    let to_group = packets(&lab, 2, &pcap, "> 224.0.0.77");
    let to_default = packets(&lab, 2, &pcap, "> 224.0.0.18");
    eprintln!(
        "mcast_dst_ip: {} adverts to 224.0.0.77, {} to 224.0.0.18",
        to_group.len(),
        to_default.len()
    );
    assert!(to_group.len() >= 3, "{to_group:#?}");
    assert!(to_default.is_empty(), "{to_default:#?}");
}

/// `vmac_prefix vip`: the VMAC of `use_vmac` (no name) is `vip.51`, and it
/// carries the VIP.
#[test]
fn vmac_prefix() {
    let mut lab = Lab::new(1);
    let conf = format!(
        "global_defs {{\n    vmac_prefix vip\n}}\n{}",
        common::lab::vrrp_instance(&lab, 0, 200, &["10.77.0.100/24"], "    use_vmac\n")
    );
    lab.start(0, UPKEEPD, &conf, "keepalived.conf");
    lab.expect_state(0, "VI_1", "MASTER", SECS(8));
    let shown = lab.ip(0, &["addr", "show", "dev", "vip.51"]);
    assert!(shown.contains("10.77.0.100/24"), "{shown}\n{}", lab.log(0));
    assert!(
        shown.contains("00:00:5e:00:01:33"),
        "VRRP MAC for VRID 51: {shown}"
    );
}

/// `vrrp_gna_interval 0.1`: the unsolicited NAs for two IPv6 VIPs
/// (`garp_master_repeat 3`: six) leave at least ~100 ms apart.
#[test]
fn vrrp_gna_interval() {
    let mut lab = Lab::new(2);
    let pcap = lab.capture(1, "na.pcap", "icmp6");
    let conf = "global_defs {\n    vrrp_gna_interval 0.1\n    vrrp_garp_master_repeat 3\n    vrrp_garp_master_delay 0\n}\nvrrp_instance VI_6 {\n    state BACKUP\n    interface eth0\n    virtual_router_id 61\n    priority 200\n    advert_int 0.1\n    virtual_ipaddress {\n        fd77::100/64\n        fd77::101/64\n    }\n}\n";
    lab.start(0, UPKEEPD, conf, "keepalived.conf");
    lab.expect_state(0, "VI_6", "MASTER", SECS(5));
    let nas = |lab: &Lab| {
        let mut v = packets(lab, 1, &pcap, "tgt is fd77::100");
        v.extend(packets(lab, 1, &pcap, "tgt is fd77::101"));
        v.retain(|(_, l)| l.contains("neighbor advertisement"));
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
        v
    };
    assert!(
        lab.wait(SECS(5), || nas(&lab).len() >= 6),
        "{:#?}\n{}",
        nas(&lab),
        lab.log(0)
    );
    std::thread::sleep(Duration::from_millis(500));
    let seen = nas(&lab);
    let gaps = gaps_ms(&seen);
    eprintln!(
        "vrrp_gna_interval 0.1: {} NAs, gaps (ms) {gaps:.1?}",
        seen.len()
    );
    assert_eq!(seen.len(), 6, "{seen:#?}");
    for g in &gaps {
        assert!(*g >= 90.0, "gap of {g:.1} ms < 90 ms: {gaps:?}");
    }
}

/// keepalived 2.2.7 as the peer, both with `mcast_dst_ip 224.0.0.77` and
/// `down_timer_adverts 2`: upkeep (Backup) hears keepalived's adverts on
/// that group with no drops, and takes over when keepalived dies.
#[test]
fn mcast_dst_ip_and_down_timer_adverts_with_keepalived_as_the_peer() {
    let mut lab = Lab::new(2);
    let conf = |k: usize, prio: u32| {
        common::lab::vrrp_instance(
            &lab,
            k,
            prio,
            &["10.77.0.100/24"],
            "    mcast_dst_ip 224.0.0.77\n    down_timer_adverts 2\n",
        )
    };
    let (a, b) = (conf(0, 150), conf(1, 100));
    lab.start_keepalived(0, &a);
    lab.start(1, UPKEEPD, &b, "keepalived.conf");
    assert!(
        lab.wait(SECS(10), || lab.has_addr(0, "10.77.0.100")),
        "{}\n{}",
        lab.logs(),
        lab.keepalived_log(0)
    );
    assert!(
        lab.wait(SECS(5), || lab
            .instance(1, "VI_1")
            .is_some_and(|s| s["adverts_received"].as_u64() >= Some(3))),
        "{}\n{}",
        lab.logs(),
        lab.keepalived_log(0)
    );
    let st = lab.instance(1, "VI_1").unwrap();
    assert_eq!(st["state"], "BACKUP", "{st}");
    assert_eq!(st["drops"], serde_json::json!({}), "{st}");
    lab.signal_keepalived(0, libc::SIGKILL);
    let took = lab
        .wait_state(1, "VI_1", "MASTER", SECS(10))
        .unwrap_or_else(|| panic!("{}", lab.logs()));
    // 2 x 1 s + 156/256 s after the last advert; measured, not asserted tightly.
    eprintln!("down_timer_adverts 2: takeover {took:?} after keepalived died");
    assert!(took < SECS(6), "{took:?}");
}

/// From node `k`, a TCP connect to 10.77.0.100:9 (nothing listens):
/// "refused" when the master's kernel answers, "timeout" when dropped.
fn probe_vip(lab: &Lab, k: usize) -> String {
    let code = "import socket\ns=socket.socket()\ns.settimeout(1)\ntry:\n s.connect(('10.77.0.100',9))\n print('open')\nexcept ConnectionRefusedError:\n print('refused')\nexcept OSError:\n print('timeout')\n";
    lab.exec(k, &["python3", "-c", code]).trim().to_string()
}

/// `vrrp_strict`: the instance runs without accept mode (it is not the
/// address owner), so traffic to its VIP is dropped, as keepalived's strict
/// mode does; and its authentication block is ignored with keepalived's
/// warning.
#[test]
fn vrrp_strict() {
    let mut lab = Lab::new(2);
    let conf = format!(
        "global_defs {{\n    vrrp_strict\n}}\n{}",
        common::lab::vrrp_instance(
            &lab,
            0,
            200,
            &["10.77.0.100/24"],
            "    authentication {\n        auth_type PASS\n        auth_pass secret\n    }\n"
        )
    );
    lab.start(0, UPKEEPD, &conf, "keepalived.conf");
    lab.expect_state(0, "VI_1", "MASTER", SECS(8));
    assert!(lab.wait(SECS(2), || lab.has_addr(0, "10.77.0.100")));
    assert_eq!(
        probe_vip(&lab, 1),
        "timeout",
        "strict: no accept mode\n{}",
        lab.log(0)
    );
    assert!(
        lab.log(0)
            .contains("strict mode does not support authentication"),
        "{}",
        lab.log(0)
    );
}
