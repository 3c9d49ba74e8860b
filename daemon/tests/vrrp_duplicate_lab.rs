//! A duplicate VIP on the link (issue 17 item 5): a third host that has one
//! of the Master's VIPs configured (a misconfigured server) answers the
//! Master's ARP probes. The Master reports it in the log, status and
//! metrics, and nothing else changes (no transition, VIPs unchanged); when
//! the host drops the address the report clears. Real upkeepd processes in
//! network namespaces; every wait is bounded; times are printed.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test crate fails by panicking

mod common;

use std::time::{Duration, Instant};

use common::lab::{Lab, vrrp_instance};

const UPKEEPD: &str = env!("CARGO_BIN_EXE_upkeepd");
const UPKEEPCTL: &str = env!("CARGO_BIN_EXE_upkeepctl");
const VIPS: [&str; 2] = ["10.77.0.100", "10.77.0.101"];
const SECS: fn(u64) -> Duration = Duration::from_secs;
const METRICS: &str = "http://127.0.0.1:9650/metrics";
/// The misconfigured host.
const OTHER: usize = 2;

fn conf(lab: &Lab, k: usize) -> String {
    let prio = if k == 0 { 150 } else { 100 };
    vrrp_instance(lab, k, prio, &VIPS, "    garp_master_delay 0")
}

fn field(lab: &Lab, k: usize, name: &str) -> serde_json::Value {
    lab.instance(k, "VI_1")
        .map(|s| s[name].clone())
        .unwrap_or_default()
}

fn duplicates(lab: &Lab) -> Vec<serde_json::Value> {
    field(lab, 0, "duplicate_vips")
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn metric(lab: &Lab, line_start: &str) -> Option<f64> {
    common::lab::metric(lab, 0, METRICS, line_start)
}

#[test]
fn a_host_claiming_a_vip_is_reported_and_nothing_else_changes() {
    let mut lab = Lab::new(3);
    for k in 0..2 {
        let path = lab.config_path(k, "keepalived.conf");
        std::fs::write(&path, conf(&lab, k)).unwrap();
        let dump = common::upkeepd_ok(&["--dump-config".as_ref(), "-f".as_ref(), path.as_os_str()]);
        let toml = format!("[global]\nmetrics_address = 9650\n\n{dump}");
        lab.start(k, UPKEEPD, &toml, "upkeep.toml");
    }
    lab.expect_state(0, "VI_1", "MASTER", SECS(10));
    lab.expect_state(1, "VI_1", "BACKUP", SECS(3));
    assert!(lab.wait(SECS(3), || lab.has_addr(0, VIPS[1])));
    let transitions = (
        field(&lab, 0, "transitions").as_u64(),
        field(&lab, 1, "transitions").as_u64(),
    );
    assert!(duplicates(&lab).is_empty());
    let mac = lab.mac(OTHER);

    let added = Instant::now();
    lab.ip(
        OTHER,
        &["addr", "add", &format!("{}/24", VIPS[0]), "dev", "eth0"],
    );
    assert!(
        lab.wait(SECS(12), || !duplicates(&lab).is_empty()),
        "no duplicate reported\n{}",
        lab.log(0)
    );
    let seen_after = added.elapsed();
    let d = duplicates(&lab);
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0]["addr"], VIPS[0]);
    assert_eq!(d[0]["mac"], mac.as_str());
    assert!(d[0]["last_seen_ms"].as_u64().is_some());
    assert!(field(&lab, 0, "duplicate_vip_packets").as_u64() >= Some(1));
    assert!(
        lab.wait(SECS(5), || metric(&lab, "upkeep_vrrp_duplicate_vips{")
            == Some(1.0)),
        "{}",
        lab.fetch(0, METRICS)
    );
    assert!(metric(&lab, "upkeep_vrrp_duplicate_vip_packets_total{").unwrap_or(0.0) >= 1.0);
    let runtime = lab.runtime_dir(0);
    let text = lab.exec(
        0,
        &[
            UPKEEPCTL,
            "--runtime-dir",
            runtime.to_str().unwrap(),
            "status",
        ],
    );
    assert!(
        text.contains(&format!("duplicate VIP: {} also claimed by {mac}", VIPS[0])),
        "{text}"
    );
    // Several probes later: still reported once, nothing else changed.
    std::thread::sleep(SECS(11));
    let log = lab.log(0);
    assert_eq!(
        log.matches("another host claims a VIP this Master holds")
            .count(),
        1,
        "{log}"
    );
    assert_eq!(lab.state(0, "VI_1").as_deref(), Some("MASTER"));
    assert_eq!(lab.state(1, "VI_1").as_deref(), Some("BACKUP"));
    assert_eq!(
        (
            field(&lab, 0, "transitions").as_u64(),
            field(&lab, 1, "transitions").as_u64(),
        ),
        transitions
    );
    for vip in VIPS {
        assert!(lab.has_addr(0, vip) && !lab.has_addr(1, vip), "{vip}");
    }
    assert!(duplicates(&lab).len() == 1);

    // The host drops the address: the report clears.
    let removed = Instant::now();
    lab.ip(
        OTHER,
        &["addr", "del", &format!("{}/24", VIPS[0]), "dev", "eth0"],
    );
    assert!(
        lab.wait(SECS(30), || duplicates(&lab).is_empty()),
        "duplicate not cleared: {:?}",
        duplicates(&lab)
    );
    let cleared_after = removed.elapsed();
    assert!(lab.log(0).contains("duplicate VIP cleared"));
    assert!(
        lab.wait(SECS(5), || metric(&lab, "upkeep_vrrp_duplicate_vips{")
            == Some(0.0))
    );
    assert_eq!(lab.state(0, "VI_1").as_deref(), Some("MASTER"));
    assert_eq!(field(&lab, 0, "transitions").as_u64(), transitions.0);
    eprintln!(
        "duplicate VIP reported {seen_after:?} after `ip addr add` on the third host; cleared {cleared_after:?} after `ip addr del`; {} ARP packets counted",
        field(&lab, 0, "duplicate_vip_packets")
    );
}

/// What keepalived (Debian's 2.2.7) does when a third host claims the
/// Master's VIP, for the record (issue 17). Run with `cargo nextest run -p
/// upkeep --test vrrp_duplicate_lab --run-ignored all --no-capture`.
#[test]
#[ignore = "a record of keepalived's behaviour, not a test of upkeep"]
fn keepalived_with_a_host_claiming_its_vip() {
    let mut lab = Lab::new(3);
    let confs = [conf(&lab, 0), conf(&lab, 1)];
    lab.start_keepalived_nodes(&confs, VIPS[0]);
    let before = lab.keepalived_log(0).lines().count();
    let pcap = lab.capture_bridge("kdup.pcap", "arp");
    lab.ip(
        OTHER,
        &["addr", "add", &format!("{}/24", VIPS[0]), "dev", "eth0"],
    );
    std::thread::sleep(SECS(15));
    let holders: Vec<usize> = (0..3).filter(|&k| lab.has_addr(k, VIPS[0])).collect();
    lab.stop_bridge_captures();
    let arp = lab.read_pcap(&pcap);
    let from_master = arp
        .iter()
        .filter(|l| l.contains(&format!("tell {}", VIPS[0])) || l.contains("tell 0.0.0.0"))
        .count();
    let new_lines: Vec<String> = lab
        .keepalived_log(0)
        .lines()
        .skip(before)
        .map(str::to_string)
        .collect();
    eprintln!(
        "keepalived: 15 s with a third host holding {}: VIP holders {holders:?}; ARP packets on the bridge {} (requests telling the VIP or 0.0.0.0: {from_master}); Master's log lines since: {}\n{}",
        VIPS[0],
        arp.len(),
        new_lines.len(),
        new_lines.join("\n")
    );
}
