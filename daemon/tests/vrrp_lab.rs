//! VRRP with real upkeepd processes in network namespaces the test creates
//! (veth + bridge). Needs root. Every wait is bounded; the lab is removed on
//! drop, also when a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test crate fails by panicking

mod common;

use std::time::Duration;

use common::lab::Lab;

const UPKEEPD: &str = env!("CARGO_BIN_EXE_upkeepd");
const VIP: &str = "10.77.0.100";
const SECS: fn(u64) -> Duration = Duration::from_secs;

/// The Nginx pair from the seeds, rewritten to the lab's addresses.
fn nginx(node: &str, lab: &Lab, k: usize) -> String {
    let text = std::fs::read_to_string(common::seeds().join(format!("nginx-{node}.conf"))).unwrap();
    text.replace("192.168.1.103", &lab.nodes[k].v4)
        .replace("192.168.1.104", &lab.nodes[k].v4)
        .replace("192.168.1.108", VIP)
}

fn pair(lab: &mut Lab) {
    pair_with(lab, "");
}

/// The Nginx pair with `extra` (a line such as `use_vmac`) added to both instances.
fn pair_with(lab: &mut Lab, extra: &str) {
    let add = |t: String| {
        if extra.is_empty() {
            t
        } else {
            t.replace(
                "    advert_int 1",
                &format!("    advert_int 1\n    {extra}"),
            )
        }
    };
    let (a, b) = (add(nginx("master", lab, 0)), add(nginx("backup", lab, 1)));
    lab.start(0, UPKEEPD, &a, "keepalived.conf");
    lab.start(1, UPKEEPD, &b, "keepalived.conf");
}

fn one_master(lab: &Lab, vip: &str) -> Vec<usize> {
    (0..lab.nodes.len())
        .filter(|&k| lab.has_addr(k, vip))
        .collect()
}

#[test]
fn election_and_sigkill_failover() {
    let mut lab = Lab::new(2);
    pair(&mut lab);
    lab.expect_state(0, "VI_1", "MASTER", SECS(10));
    lab.expect_state(1, "VI_1", "BACKUP", SECS(2));
    assert_eq!(one_master(&lab, VIP), vec![0]);
    // The backup hears the master.
    assert!(lab.wait(SECS(3), || {
        lab.instance(1, "VI_1")
            .is_some_and(|s| s["adverts_received"].as_u64() > Some(0))
    }));

    lab.signal(0, libc::SIGKILL);
    let took = lab
        .wait_state(1, "VI_1", "MASTER", SECS(10))
        .unwrap_or_else(|| panic!("{}", lab.logs()));
    // Master_Down_Interval is 3 + 157/256 s; the kill came up to 1 s after the last advert.
    assert!(took <= SECS(5), "{took:?}");
    // (A SIGKILLed daemon cannot remove its VIP: only the survivor is checked.)
    assert!(lab.wait(SECS(2), || lab.has_addr(1, VIP)));
}

#[test]
fn sigterm_hands_over_within_skew_time_and_exits() {
    let mut lab = Lab::new(2);
    pair(&mut lab);
    lab.expect_state(0, "VI_1", "MASTER", SECS(10));
    assert!(lab.wait_state(1, "VI_1", "BACKUP", SECS(2)).is_some());
    lab.signal(0, libc::SIGTERM);
    let exited = lab.wait_exit(0, SECS(5)).expect("upkeepd exits on SIGTERM");
    assert!(
        exited < SECS(1),
        "exit within one advert interval: {exited:?}"
    );
    assert!(!lab.has_addr(0, VIP), "VIP removed on shutdown");
    // Priority 0 sent: the backup takes over after Skew_Time (157/256 s), not 3.6 s.
    let took = lab
        .wait_state(1, "VI_1", "MASTER", SECS(5))
        .unwrap_or_else(|| panic!("{}", lab.logs()));
    assert!(took < Duration::from_millis(1500), "{took:?}");
    assert!(lab.log(1).contains("master resigned"), "{}", lab.log(1));
}

#[test]
fn preempt_brings_the_master_back_and_nopreempt_does_not() {
    let mut lab = Lab::new(2);
    pair(&mut lab);
    lab.expect_state(0, "VI_1", "MASTER", SECS(10));
    lab.signal(0, libc::SIGKILL);
    assert!(lab.wait_state(1, "VI_1", "MASTER", SECS(10)).is_some());
    // Preempt (the default): the higher priority comes back and takes over.
    let a = nginx("master", &lab, 0);
    lab.start(0, UPKEEPD, &a, "keepalived.conf");
    lab.expect_state(0, "VI_1", "MASTER", SECS(10));
    assert!(lab.wait_state(1, "VI_1", "BACKUP", SECS(3)).is_some());
    assert!(lab.wait(SECS(2), || one_master(&lab, VIP) == vec![0]));

    // nopreempt (with state BACKUP, as keepalived requires): the running master stays.
    let nopreempt = |t: String| {
        t.replace("state MASTER", "state BACKUP")
            .replace("advert_int 1", "advert_int 1\n    nopreempt")
    };
    lab.signal(0, libc::SIGKILL);
    lab.signal(1, libc::SIGKILL);
    lab.wait_exit(0, SECS(2));
    lab.wait_exit(1, SECS(2));
    let b = nopreempt(nginx("backup", &lab, 1));
    lab.start(1, UPKEEPD, &b, "keepalived.conf");
    lab.expect_state(1, "VI_1", "MASTER", SECS(10));
    let a = nopreempt(nginx("master", &lab, 0));
    lab.start(0, UPKEEPD, &a, "keepalived.conf");
    assert!(lab.wait_state(0, "VI_1", "BACKUP", SECS(5)).is_some());
    std::thread::sleep(SECS(6));
    assert_eq!(
        lab.state(1, "VI_1").as_deref(),
        Some("MASTER"),
        "{}",
        lab.logs()
    );
    assert_eq!(lab.state(0, "VI_1").as_deref(), Some("BACKUP"));
    assert_eq!(one_master(&lab, VIP), vec![1]);
}

#[test]
fn link_down_means_fault_and_the_vip_moves() {
    let mut lab = Lab::new(2);
    pair(&mut lab);
    lab.expect_state(0, "VI_1", "MASTER", SECS(10));
    lab.ip(0, &["link", "set", "eth0", "down"]);
    lab.expect_state(0, "VI_1", "FAULT", SECS(3));
    assert!(!lab.has_addr(0, VIP));
    lab.expect_state(1, "VI_1", "MASTER", SECS(6));
    lab.ip(0, &["link", "set", "eth0", "up"]);
    // Back to Backup, then (preempt) Master again.
    lab.expect_state(0, "VI_1", "MASTER", SECS(10));
    assert!(lab.wait_state(1, "VI_1", "BACKUP", SECS(3)).is_some());
}

#[test]
fn unicast_peers() {
    let mut lab = Lab::new(2);
    for (k, node, peer) in [(0, "master", 1), (1, "backup", 0)] {
        let unicast = format!(
            "    unicast_src_ip {}\n    unicast_peer {{\n        {}\n    }}\n    advert_int 1",
            lab.nodes[k].v4, lab.nodes[peer].v4
        );
        let text = nginx(node, &lab, k)
            .replace(&format!("    mcast_src_ip {}\n", lab.nodes[k].v4), "")
            .replace("    advert_int 1", &unicast);
        lab.start(k, UPKEEPD, &text, "keepalived.conf");
    }
    lab.expect_state(0, "VI_1", "MASTER", SECS(10));
    assert!(
        lab.wait(SECS(3), || lab
            .instance(1, "VI_1")
            .is_some_and(|s| s["adverts_received"].as_u64() > Some(1))),
        "{}",
        lab.logs()
    );
    assert_eq!(lab.state(1, "VI_1").as_deref(), Some("BACKUP"));
    lab.signal(0, libc::SIGKILL);
    assert!(lab.wait_state(1, "VI_1", "MASTER", SECS(10)).is_some());
}

#[test]
fn ipv6_vrrpv3_with_unsolicited_na() {
    let mut lab = Lab::new(3);
    // Node 2 watches the wire.
    let pcap = lab.capture(2, "na.pcap", "icmp6 or ip6 proto 112");
    let conf = |prio: u32| {
        format!(
            "vrrp_instance VI_6 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 61\n    priority {prio}\n    advert_int 0.1\n    virtual_ipaddress {{\n        fd77::100/64\n    }}\n}}\n"
        )
    };
    lab.start(0, UPKEEPD, &conf(200), "v6.conf");
    lab.start(1, UPKEEPD, &conf(100), "v6.conf");
    lab.expect_state(0, "VI_6", "MASTER", SECS(5));
    lab.expect_state(1, "VI_6", "BACKUP", SECS(2));
    assert!(lab.wait(SECS(2), || lab.has_addr(0, "fd77::100")));
    // Steady state first: the backup has heard the master several times.
    assert!(
        lab.wait(SECS(3), || lab
            .instance(1, "VI_6")
            .is_some_and(|s| s["adverts_received"].as_u64() >= Some(5))),
        "{}",
        lab.logs()
    );
    lab.signal(0, libc::SIGKILL);
    let took = lab
        .wait_state(1, "VI_6", "MASTER", SECS(5))
        .unwrap_or_else(|| panic!("{}", lab.logs()));
    assert!(took < SECS(1), "3 × 0.1 s + skew: {took:?}");
    std::thread::sleep(Duration::from_millis(300));
    let dump = lab.exec(2, &["tcpdump", "-r", pcap.to_str().unwrap(), "-n", "-v"]);
    let na = dump
        .lines()
        .filter(|l| l.contains("neighbor advertisement") && l.contains("fd77::100"))
        .count();
    assert!(na >= 2, "unsolicited NAs from both masters:\n{dump}");
    let adverts = dump
        .lines()
        .filter(|l| l.contains("VRRPv3") && l.contains("vrid 61"))
        .count();
    assert!(adverts > 5, "{dump}");
    assert!(dump.contains("hlim 255"), "hop limit 255:\n{dump}");
}

#[test]
fn vmac_interface_carries_the_vip() {
    let mut lab = Lab::new(2);
    pair_with(&mut lab, "use_vmac");
    lab.expect_state(0, "VI_1", "MASTER", SECS(10));
    let link = lab.ip(0, &["link", "show", "vrrp.51"]);
    assert!(link.contains("00:00:5e:00:01:33"), "{link}");
    let addr = lab.ip(0, &["addr", "show", "dev", "vrrp.51"]);
    assert!(addr.contains(VIP), "{addr}");
    lab.expect_state(1, "VI_1", "BACKUP", SECS(2));
    lab.signal(0, libc::SIGTERM);
    lab.wait_exit(0, SECS(3));
    lab.expect_state(1, "VI_1", "MASTER", SECS(5));
    assert!(lab.ip(1, &["addr", "show", "dev", "vrrp.51"]).contains(VIP));
    assert!(
        !lab.ip(0, &["link", "show"]).contains("vrrp.51"),
        "VMAC removed on shutdown"
    );
}

#[test]
fn dual_master_with_crossed_roles() {
    let mut lab = Lab::new(2);
    // The seeds as written, but for the interface and addresses (the lab's own).
    let rewrite = |name: &str| {
        std::fs::read_to_string(common::seeds().join(name))
            .unwrap()
            .replace("ens37", "eth0")
            .replace("10.0.0.100", "10.77.0.100")
            .replace("10.0.0.200", "10.77.0.200")
            .replace("234.10.10.10", "239.77.0.18")
            .replace("192.168.234.", "10.77.0.")
    };
    let (a, b) = (rewrite("lvs-dr-dual-a.conf"), rewrite("lvs-dr-dual-b.conf"));
    lab.start(0, UPKEEPD, &a, "keepalived.conf");
    lab.start(1, UPKEEPD, &b, "keepalived.conf");
    lab.expect_state(0, "VI_1", "MASTER", SECS(10));
    lab.expect_state(1, "VI_2", "MASTER", SECS(10));
    assert_eq!(lab.state(0, "VI_2").as_deref(), Some("BACKUP"));
    assert_eq!(lab.state(1, "VI_1").as_deref(), Some("BACKUP"));
    assert_eq!(
        (
            one_master(&lab, "10.77.0.100"),
            one_master(&lab, "10.77.0.200")
        ),
        (vec![0], vec![1])
    );
    lab.signal(1, libc::SIGKILL);
    lab.expect_state(0, "VI_2", "MASTER", SECS(10));
    assert!(lab.has_addr(0, "10.77.0.100") && lab.has_addr(0, "10.77.0.200"));
}

#[test]
fn hostile_packets_are_dropped_counted_and_change_nothing() {
    let mut lab = Lab::new(3);
    pair(&mut lab);
    lab.expect_state(0, "VI_1", "MASTER", SECS(10));
    assert!(lab.wait_state(1, "VI_1", "BACKUP", SECS(2)).is_some());
    let tool = common::repo().join("tests/tools/vrrp_inject.py");
    let src = lab.nodes[2].v4.clone();
    let out = lab.exec(
        2,
        &["python3", tool.to_str().unwrap(), &src, VIP, "1111222"],
    );
    assert!(out.contains("sent"), "{out}");
    const REASONS: [&str; 10] = [
        "ttl_not_255",
        "bad_checksum",
        "bad_version",
        "bad_type",
        "too_short",
        "bad_length",
        "auth_failure",
        "auth_type_mismatch",
        "interval_mismatch",
        "address_mismatch",
    ];
    // Counters reach status.json at the publication's pace, later on a
    // loaded host: wait for them (bounded) rather than a fixed 2 s (a CI
    // run beside other builds read a document from before the packets).
    let counted = |lab: &Lab| {
        [0, 1].iter().all(|&k| {
            lab.instance(k, "VI_1")
                .is_some_and(|st| REASONS.iter().all(|r| st["drops"][*r].as_u64() >= Some(3)))
                && lab
                    .status(k)
                    .is_some_and(|d| d["unmatched_drops"]["unknown_vrid"].as_u64() >= Some(3))
        })
    };
    let until = std::time::Instant::now() + SECS(15);
    while !counted(&lab) && std::time::Instant::now() < until {
        std::thread::sleep(Duration::from_millis(200));
    }
    for k in [0, 1] {
        let st = lab
            .instance(k, "VI_1")
            .unwrap_or_else(|| panic!("{}", lab.logs()));
        let drops = &st["drops"];
        for reason in REASONS {
            assert!(
                drops[reason].as_u64() >= Some(3),
                "node {k}: {reason} not counted: {st}"
            );
        }
        let unmatched = &lab.status(k).unwrap()["unmatched_drops"];
        assert!(unmatched["unknown_vrid"].as_u64() >= Some(3), "{unmatched}");
    }
    // Priority 250 everywhere, yet nothing moved, and both daemons live.
    assert_eq!(lab.state(0, "VI_1").as_deref(), Some("MASTER"));
    assert_eq!(lab.state(1, "VI_1").as_deref(), Some("BACKUP"));
    assert_eq!(lab.instance(0, "VI_1").unwrap()["transitions"], 2);
    assert!(
        lab.nodes[0]
            .child
            .as_mut()
            .unwrap()
            .try_wait()
            .unwrap()
            .is_none()
    );
    assert!(
        lab.nodes[1]
            .child
            .as_mut()
            .unwrap()
            .try_wait()
            .unwrap()
            .is_none()
    );
}

#[test]
fn notify_scripts_and_fifo_follow_transitions_in_order() {
    let mut lab = Lab::new(2);
    let dir = lab.nodes[0].dir.clone();
    let script = dir.join("notify.sh");
    common::write_script(
        &script,
        &format!("#!/bin/sh\necho \"$@\" >> {}/notify.log\n", dir.display()),
    );
    let fifo = dir.join("notify.fifo");
    let text = nginx("master", &lab, 0)
        .replace("    router_id LVS_DEVEL", &format!("    router_id LVS_DEVEL\n    notify_fifo {}", fifo.display()))
        .replace(
            "    advert_int 1",
            &format!(
                "    advert_int 1\n    notify {}\n    notify_master \"/bin/sh -c 'echo became-master >> {}/master.log'\"",
                script.display(),
                dir.display()
            ),
        );
    lab.start(0, UPKEEPD, &text, "keepalived.conf");
    // upkeep creates the FIFO; a reader collects its lines.
    assert!(lab.wait(SECS(5), || fifo.exists()), "{}", lab.logs());
    let out = dir.join("fifo.out");
    lab.spawn(
        1,
        &[
            "sh",
            "-c",
            &format!(
                "while :; do cat {} >> {}; done",
                fifo.display(),
                out.display()
            ),
        ],
        "reader.log",
    );
    let b = nginx("backup", &lab, 1);
    lab.start(1, UPKEEPD, &b, "keepalived.conf");
    lab.expect_state(0, "VI_1", "MASTER", SECS(10));
    let log = dir.join("notify.log");
    assert!(lab.wait(SECS(5), || {
        std::fs::read_to_string(&log).is_ok_and(|s| s.lines().count() >= 2)
    }));
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "INSTANCE VI_1 BACKUP 100\nINSTANCE VI_1 MASTER 100\n"
    );
    assert!(lab.wait(SECS(5), || {
        std::fs::read_to_string(dir.join("master.log")).is_ok_and(|s| s == "became-master\n")
    }));
    assert!(
        lab.wait(SECS(5), || std::fs::read_to_string(&out)
            .is_ok_and(|s| s.contains("INSTANCE \"VI_1\" MASTER 100"))),
        "{}",
        lab.logs()
    );
    lab.signal(0, libc::SIGTERM);
    assert!(lab.wait_exit(0, SECS(3)).is_some());
    let all = std::fs::read_to_string(&log).unwrap();
    assert_eq!(all.lines().last(), Some("INSTANCE VI_1 STOP 100"), "{all}");
}

/// Both members of the sync group reach `a` on node 0 and `b` on node 1 (within the seconds given).
fn both(lab: &Lab, a: (&str, u64), b: (&str, u64)) {
    for i in ["VI_1", "VI_2"] {
        assert!(
            lab.wait_state(0, i, a.0, SECS(a.1)).is_some(),
            "{i}\n{}",
            lab.logs()
        );
        assert!(
            lab.wait_state(1, i, b.0, SECS(b.1)).is_some(),
            "{i}\n{}",
            lab.logs()
        );
    }
}

#[test]
fn sync_group_members_fault_and_move_together() {
    let mut lab = Lab::new(2);
    // A second link on node 0 for VI_2 to track (a veth pair inside the namespace).
    lab.ip(
        0,
        &["link", "add", "t0", "type", "veth", "peer", "name", "t1"],
    );
    lab.ip(0, &["link", "set", "t0", "up"]);
    lab.ip(0, &["link", "set", "t1", "up"]);
    let dir = lab.nodes[0].dir.clone();
    let script = dir.join("group.sh");
    common::write_script(
        &script,
        &format!("#!/bin/sh\necho \"$@\" >> {}/group.log\n", dir.display()),
    );
    let notify = format!("    notify {}\n", script.display());
    let conf = |prio: u32, track: &str, notify: &str| {
        format!(
            "vrrp_sync_group G {{\n    group {{\n        VI_1\n        VI_2\n    }}\n{notify}}}\n\
             vrrp_instance VI_1 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 71\n    priority {prio}\n    advert_int 0.2\n    version 3\n    virtual_ipaddress {{\n        10.77.0.171\n    }}\n}}\n\
             vrrp_instance VI_2 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 72\n    priority {prio}\n    advert_int 0.2\n    version 3\n{track}    virtual_ipaddress {{\n        10.77.0.172\n    }}\n}}\n"
        )
    };
    lab.start(
        0,
        UPKEEPD,
        &conf(150, "    track_interface {\n        t0\n    }\n", &notify),
        "sync.conf",
    );
    lab.start(1, UPKEEPD, &conf(100, "", ""), "sync.conf");
    both(&lab, ("MASTER", 5), ("BACKUP", 2));
    // VI_2's tracked link fails: both members leave Master together.
    lab.ip(0, &["link", "set", "t0", "down"]);
    both(&lab, ("FAULT", 3), ("MASTER", 3));
    assert!(!lab.has_addr(0, "10.77.0.171") && !lab.has_addr(0, "10.77.0.172"));
    // Back up: both return (preempt), together.
    lab.ip(0, &["link", "set", "t0", "up"]);
    both(&lab, ("MASTER", 5), ("BACKUP", 3));
    // The group's own notify ran once per group state, in order.
    let want =
        "GROUP G BACKUP 0\nGROUP G MASTER 0\nGROUP G FAULT 0\nGROUP G BACKUP 0\nGROUP G MASTER 0\n";
    let log = dir.join("group.log");
    assert!(
        lab.wait(SECS(3), || std::fs::read_to_string(&log)
            .is_ok_and(|s| s == want)),
        "{:?}",
        std::fs::read_to_string(&log)
    );
}

/// From node `k`, a TCP connect to VIP:9 (nothing listens): "refused" when
/// the master's kernel answers, "timeout" when the packet is dropped.
fn probe(lab: &Lab, k: usize) -> String {
    let code = format!(
        "import socket\ns=socket.socket()\ns.settimeout(1)\ntry:\n s.connect(('{VIP}',9))\n print('open')\nexcept ConnectionRefusedError:\n print('refused')\nexcept OSError:\n print('timeout')\n"
    );
    lab.exec(k, &["python3", "-c", &code]).trim().to_string()
}

#[test]
fn accept_mode_off_drops_traffic_to_the_vip() {
    let mut lab = Lab::new(3);
    pair_with(&mut lab, "no_accept");
    lab.expect_state(0, "VI_1", "MASTER", SECS(10));
    assert!(lab.wait(SECS(2), || lab.has_addr(0, VIP)));
    assert_eq!(
        probe(&lab, 2),
        "timeout",
        "no_accept: dropped\n{}",
        lab.logs()
    );
    // Node 0's own address still answers.
    let own = format!(
        "import socket\ns=socket.socket()\ns.settimeout(1)\ntry:\n s.connect(('{}',9))\nexcept ConnectionRefusedError:\n print('refused')\n",
        lab.nodes[0].v4
    );
    assert_eq!(lab.exec(2, &["python3", "-c", &own]).trim(), "refused");
    assert!(
        lab.exec(0, &["nft", "list", "set", "inet", "upkeep", "vips4"])
            .contains(VIP)
    );
    lab.signal(0, libc::SIGTERM);
    assert!(lab.wait_exit(0, SECS(3)).is_some());
    assert!(
        !lab.exec(0, &["nft", "list", "tables"]).contains("upkeep"),
        "table removed on shutdown"
    );
}

#[test]
fn accept_mode_on_by_default() {
    let mut lab = Lab::new(3);
    pair(&mut lab);
    lab.expect_state(0, "VI_1", "MASTER", SECS(10));
    assert!(lab.wait(SECS(2), || lab.has_addr(0, VIP)));
    assert_eq!(probe(&lab, 2), "refused");
    assert!(!lab.exec(0, &["nft", "list", "tables"]).contains("upkeep"));
}
