//! Router tests: configuration to parameters, demultiplexing, tracking,
//! sync groups, and two routers talking over a simulated link in virtual time.

use super::*;
use crate::config::{Format, LoadOptions, load_str};
use crate::vrrp::packet::{MCAST_V4, split_ipv4};

fn cfg(text: &str) -> Config {
    let l = load_str("r.conf", text, Format::Keepalived, &LoadOptions::default());
    assert!(l.is_ok(), "{:?}", l.diagnostics.items());
    l.config
}

fn addr_of(node: u8) -> impl Fn(&str, Family) -> Option<IpAddr> {
    move |_: &str, f: Family| match f {
        Family::V4 => Some(IpAddr::from([10, 0, 0, node])),
        Family::V6 => Some(format!("fe80::{node}").parse().unwrap()),
    }
}

fn router(text: &str, node: u8) -> Router {
    Router::from_config(&cfg(text), &addr_of(node)).unwrap()
}

const PAIR: &str = "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n priority PRIO\n advert_int 1\n authentication {\n  auth_type PASS\n  auth_pass 1111\n }\n virtual_ipaddress {\n  10.0.0.100/24\n }\n}\n";

fn pair(prio: u32) -> String {
    PAIR.replace("PRIO", &prio.to_string())
}

#[test]
fn parameters_come_from_the_configuration() {
    let c = cfg(
        "global_defs {\n vrrp_garp_master_delay 2\n vrrp_garp_master_refresh 30\n}\nvrrp_instance V {\n interface eth0\n virtual_router_id 9\n priority 150\n version 3\n advert_int 0.05\n nopreempt\n preempt_delay 4\n garp_master_repeat 3\n virtual_ipaddress {\n  10.0.0.9\n }\n authentication {\n  auth_type PASS\n  auth_pass x\n }\n}\n",
    );
    let p = params(&c, &c.vrrp_instances[0], "10.0.0.1".parse().unwrap(), false);
    assert_eq!(
        (p.vrid, p.priority, p.version, p.advert_interval_cs),
        (9, 150, Version::V3, 5)
    );
    assert!(!p.preempt);
    assert_eq!(p.preempt_delay, Duration::from_secs(4));
    assert_eq!(p.auth, Auth::None, "v3 has no authentication");
    assert_eq!(p.garp.master_delay, Duration::from_secs(2));
    assert_eq!(p.garp.master_repeat, 3);
    assert_eq!(p.garp.master_refresh, Some(Duration::from_secs(30)));
    assert!(p.check_adv_addr);
    let c = cfg(&pair(100));
    let p = params(&c, &c.vrrp_instances[0], "10.0.0.1".parse().unwrap(), false);
    assert_eq!(p.auth, Auth::pass("1111"));
    assert_eq!(p.version, Version::V2);
}

#[test]
fn source_address_comes_from_config_or_interface() {
    let c = cfg(&pair(100).replace(
        " advert_int 1\n",
        " advert_int 1\n mcast_src_ip 10.0.0.77\n",
    ));
    let r = Router::from_config(&c, &addr_of(1)).unwrap();
    assert_eq!(
        r.instance(0).unwrap().params().local_addr,
        "10.0.0.77".parse::<IpAddr>().unwrap()
    );
    let none = |_: &str, _: Family| None;
    let e = Router::from_config(&cfg(&pair(100)), &none).err().unwrap();
    assert!(
        e.to_string().contains("interface eth0 has no IPv4 address"),
        "{e}"
    );
}

fn packet_from(r: &Router, i: usize, priority: u8, node: u8) -> Vec<u8> {
    let a = r.instance(i).unwrap().advert(priority);
    a.encode(
        IpAddr::from([10, 0, 0, node]),
        IpAddr::V4(MCAST_V4),
        ChecksumMode::Rfc,
    )
}

fn meta(node: u8) -> IpMeta {
    IpMeta {
        src: IpAddr::from([10, 0, 0, node]),
        dst: IpAddr::V4(MCAST_V4),
        ttl: 255,
    }
}

#[test]
fn packets_are_demultiplexed_and_drops_counted() {
    let text = format!(
        "{}{}",
        pair(100),
        pair(100)
            .replace("VI_1", "VI_2")
            .replace("51", "52")
            .replace("10.0.0.100", "10.0.0.200")
    );
    let mut r = router(&text, 2);
    let t0 = Instant::now();
    r.handle(t0, Input::Startup);
    let p2 = packet_from(&r, 1, 200, 3);
    r.handle(
        t0,
        Input::Packet {
            ifname: "eth0",
            meta: meta(3),
            payload: &p2,
        },
    );
    assert_eq!(r.counters(1).unwrap().adverts_received, 1);
    assert_eq!(r.counters(0).unwrap().adverts_received, 0);
    // Same VRID on another interface is not ours.
    r.handle(
        t0,
        Input::Packet {
            ifname: "eth1",
            meta: meta(3),
            payload: &p2,
        },
    );
    assert_eq!(r.unmatched_drops().get(&DropReason::UnknownVrid), Some(&1));
    // A bad checksum is charged to the instance whose VRID it names.
    let mut bad = p2.clone();
    bad[7] ^= 0xff;
    r.handle(
        t0,
        Input::Packet {
            ifname: "eth0",
            meta: meta(3),
            payload: &bad,
        },
    );
    assert_eq!(
        r.counters(1).unwrap().drops.get(&DropReason::BadChecksum),
        Some(&1)
    );
    // Wrong TTL, wrong password.
    r.handle(
        t0,
        Input::Packet {
            ifname: "eth0",
            meta: IpMeta { ttl: 64, ..meta(3) },
            payload: &p2,
        },
    );
    assert_eq!(
        r.counters(1).unwrap().drops.get(&DropReason::TtlNot255),
        Some(&1)
    );
    let mut other = cfg(&pair(100));
    if let Some(a) = other.vrrp_instances[0].authentication.as_mut() {
        a.auth_pass = "2222".into();
    }
    let r2 = Router::from_config(&other, &addr_of(3)).unwrap();
    let wrong = packet_from(&r2, 0, 200, 3);
    r.handle(
        t0,
        Input::Packet {
            ifname: "eth0",
            meta: meta(3),
            payload: &wrong,
        },
    );
    assert_eq!(
        r.counters(0).unwrap().drops.get(&DropReason::AuthFailure),
        Some(&1)
    );
    // None of it changed any state.
    assert!(
        r.instance(0).unwrap().state() == State::Backup
            && r.instance(1).unwrap().state() == State::Backup
    );
}

fn states(r: &Router) -> Vec<State> {
    (0..r.len())
        .map(|i| r.instance(i).unwrap().state())
        .collect()
}

#[test]
fn own_interface_down_means_fault() {
    let mut r = router(&pair(100), 2);
    let t0 = Instant::now();
    r.handle(t0, Input::Startup);
    r.handle(
        t0,
        Input::Link {
            ifname: "eth0",
            up: false,
        },
    );
    assert_eq!(states(&r), vec![State::Fault]);
    r.handle(
        t0,
        Input::Link {
            ifname: "eth0",
            up: true,
        },
    );
    assert_eq!(states(&r), vec![State::Backup]);
    assert_eq!(r.watched_interfaces(), vec!["eth0".to_string()]);
}

#[test]
fn tracking_weights_follow_keepalived() {
    let text = "vrrp_script chk {\n script x\n weight -20\n}\nvrrp_script must {\n script y\n}\nvrrp_instance V {\n interface eth0\n virtual_router_id 1\n priority 100\n virtual_ipaddress {\n  10.0.0.1\n }\n track_interface {\n  eth1 weight 10\n  eth2 weight -5\n  eth3 weight 7 reverse\n  eth4\n }\n track_script {\n  chk\n  must\n }\n}\n";
    let mut r = router(text, 2);
    let t0 = Instant::now();
    r.handle(t0, Input::Startup);
    let prio = |r: &Router| r.instance(0).unwrap().priority();
    r.handle(
        t0,
        Input::Link {
            ifname: "eth1",
            up: true,
        },
    );
    assert_eq!(prio(&r), 110, "positive weight added while up");
    r.handle(
        t0,
        Input::Link {
            ifname: "eth2",
            up: false,
        },
    );
    assert_eq!(prio(&r), 105, "negative weight added while down");
    r.handle(
        t0,
        Input::Link {
            ifname: "eth3",
            up: false,
        },
    );
    assert_eq!(prio(&r), 112, "reverse: added while down");
    r.handle(
        t0,
        Input::Check {
            source: "script:chk",
            up: false,
        },
    );
    assert_eq!(prio(&r), 92);
    r.handle(
        t0,
        Input::Check {
            source: "script:chk",
            up: true,
        },
    );
    assert_eq!(prio(&r), 112);
    r.handle(
        t0,
        Input::Check {
            source: "script:must",
            up: false,
        },
    );
    assert_eq!(
        states(&r),
        vec![State::Fault],
        "weight 0 script failing means Fault"
    );
    r.handle(
        t0,
        Input::Check {
            source: "script:must",
            up: true,
        },
    );
    r.handle(
        t0,
        Input::Link {
            ifname: "eth4",
            up: false,
        },
    );
    assert_eq!(
        states(&r),
        vec![State::Fault],
        "unweighted interface down means Fault"
    );
}

const GROUP: &str = "vrrp_sync_group G {\n group {\n  VI_1\n  VI_2\n }\n}\n";

fn grouped(p1: u32, p2: u32) -> String {
    format!(
        "{GROUP}{}{}",
        pair(p1),
        pair(p2)
            .replace("VI_1", "VI_2")
            .replace("51", "52")
            .replace("10.0.0.100", "10.0.0.200")
    )
}

/// Runs the router's own timers (no peer) until `until`.
fn run_until(r: &mut Router, until: Instant) -> Vec<Output> {
    let mut all = Vec::new();
    for _ in 0..10_000 {
        match r.next_deadline() {
            Some(t) if t <= until => all.extend(r.handle(t, Input::Timeout)),
            _ => break,
        }
    }
    all
}

#[test]
fn sync_group_becomes_master_together() {
    let mut r = router(&grouped(100, 100), 2);
    let t0 = Instant::now();
    r.handle(t0, Input::Startup);
    run_until(&mut r, t0 + Duration::from_secs(5));
    assert_eq!(states(&r), vec![State::Master, State::Master]);
}

#[test]
fn sync_group_stays_backup_while_one_member_hears_a_master() {
    let mut r = router(&grouped(100, 100), 2);
    let t0 = Instant::now();
    r.handle(t0, Input::Startup);
    // A peer is Master of VI_1 only, advertising every second.
    let p = packet_from(&r, 0, 200, 3);
    for k in 0..10u32 {
        let now = t0 + Duration::from_secs(1) * k;
        run_until(&mut r, now);
        r.handle(
            now,
            Input::Packet {
                ifname: "eth0",
                meta: meta(3),
                payload: &p,
            },
        );
    }
    assert_eq!(
        states(&r),
        vec![State::Backup, State::Backup],
        "VI_2 alone must not go Master"
    );
}

#[test]
fn sync_group_moves_to_backup_and_fault_together() {
    let mut r = router(&grouped(100, 100), 2);
    let t0 = Instant::now();
    r.handle(t0, Input::Startup);
    let t1 = t0 + Duration::from_secs(5);
    run_until(&mut r, t1);
    let p = packet_from(&r, 0, 200, 3);
    let out = r.handle(
        t1,
        Input::Packet {
            ifname: "eth0",
            meta: meta(3),
            payload: &p,
        },
    );
    assert_eq!(states(&r), vec![State::Backup, State::Backup]);
    assert_eq!(
        out.iter()
            .filter(|o| matches!(o.action, Action::RemoveVips(_)))
            .count(),
        2
    );
    // Fault in one takes both out; clearing it brings both back to Backup.
    r.handle(
        t1,
        Input::Link {
            ifname: "eth0",
            up: false,
        },
    );
    assert_eq!(states(&r), vec![State::Fault, State::Fault]);
    r.handle(
        t1,
        Input::Link {
            ifname: "eth0",
            up: true,
        },
    );
    assert_eq!(states(&r), vec![State::Backup, State::Backup]);
}

/// Two routers on one simulated link: what one sends, the other receives.
struct Lab {
    nodes: Vec<(Router, u8, bool)>,
    now: Instant,
}

impl Lab {
    fn new(configs: &[(&str, u8)]) -> Self {
        let now = Instant::now();
        let mut nodes: Vec<(Router, u8, bool)> = configs
            .iter()
            .map(|(c, n)| (router(c, *n), *n, true))
            .collect();
        let mut lab = Lab {
            nodes: Vec::new(),
            now,
        };
        let mut pending = Vec::new();
        for (k, (r, _, _)) in nodes.iter_mut().enumerate() {
            pending.push((k, r.handle(now, Input::Startup)));
        }
        lab.nodes = nodes;
        for (k, out) in pending {
            lab.deliver(k, out);
        }
        lab
    }

    fn deliver(&mut self, from: usize, out: Vec<Output>) {
        let node = self.nodes[from].1;
        let mut packets = Vec::new();
        for o in out {
            if let Action::SendAdvert { priority } = o.action {
                packets.push(packet_from(&self.nodes[from].0, o.instance, priority, node));
            }
        }
        let mut replies = Vec::new();
        for (k, (r, _, alive)) in self.nodes.iter_mut().enumerate() {
            if k == from || !*alive {
                continue;
            }
            for p in &packets {
                // Through the IPv4 header split, as a raw socket delivers it.
                let mut ip = vec![
                    0x45, 0, 0, 0, 0, 0, 0, 0, 255, 112, 0, 0, 10, 0, 0, node, 224, 0, 0, 18,
                ];
                let total = (20 + p.len()) as u16;
                ip[2..4].copy_from_slice(&total.to_be_bytes());
                ip.extend_from_slice(p);
                let (m, payload) = split_ipv4(&ip).unwrap();
                let out = r.handle(
                    self.now,
                    Input::Packet {
                        ifname: "eth0",
                        meta: m,
                        payload,
                    },
                );
                replies.push((k, out));
            }
        }
        for (k, out) in replies {
            self.deliver(k, out);
        }
    }

    fn run(&mut self, d: Duration) {
        let until = self.now + d;
        for _ in 0..100_000 {
            let next = self
                .nodes
                .iter()
                .filter(|n| n.2)
                .filter_map(|n| n.0.next_deadline())
                .min();
            match next {
                Some(t) if t <= until => {
                    self.now = t;
                    let mut outs = Vec::new();
                    for (k, (r, _, alive)) in self.nodes.iter_mut().enumerate() {
                        if *alive && r.next_deadline().is_some_and(|d| d <= t) {
                            outs.push((k, r.handle(t, Input::Timeout)));
                        }
                    }
                    for (k, out) in outs {
                        self.deliver(k, out);
                    }
                }
                _ => break,
            }
        }
        self.now = until;
    }

    fn state(&self, k: usize, i: usize) -> State {
        self.nodes[k].0.instance(i).unwrap().state()
    }

    fn masters(&self, i: usize) -> usize {
        (0..self.nodes.len())
            .filter(|&k| self.nodes[k].2 && self.state(k, i) == State::Master)
            .count()
    }
}

#[test]
fn two_nodes_elect_one_master_and_fail_over() {
    let (a, b) = (pair(100), pair(99));
    let mut lab = Lab::new(&[(&a, 2), (&b, 3)]);
    lab.run(Duration::from_secs(10));
    assert_eq!(
        (lab.state(0, 0), lab.state(1, 0)),
        (State::Master, State::Backup)
    );
    // SIGKILL: the master goes silent; the backup takes over one Master_Down_Interval later.
    lab.nodes[0].2 = false;
    let killed = lab.now;
    let mut took_over = None;
    for _ in 0..5000 {
        lab.run(Duration::from_millis(1));
        if lab.state(1, 0) == State::Master {
            took_over = Some(lab.now - killed);
            break;
        }
    }
    // Last advert at most 1 s before the kill; 3 × 1 s + 157/256 s after it.
    let t = took_over.unwrap();
    assert!(
        t <= Duration::from_millis(3614) && t >= Duration::from_millis(2600),
        "{t:?}"
    );
}

#[test]
fn preempt_brings_the_higher_priority_node_back() {
    let (a, b) = (pair(100), pair(99));
    let mut lab = Lab::new(&[(&b, 3)]);
    lab.run(Duration::from_secs(5));
    assert_eq!(lab.state(0, 0), State::Master);
    // The higher-priority node starts: it waits one interval, then preempts.
    let mut r = router(&a, 2);
    let out = r.handle(lab.now, Input::Startup);
    lab.nodes.push((r, 2, true));
    lab.deliver(1, out);
    lab.run(Duration::from_secs(10));
    assert_eq!(
        (lab.state(1, 0), lab.state(0, 0)),
        (State::Master, State::Backup)
    );
    assert_eq!(lab.masters(0), 1);
}

#[test]
fn nopreempt_keeps_the_running_master() {
    let a = pair(100).replace(" advert_int 1\n", " advert_int 1\n nopreempt\n");
    let b = pair(99).replace(" advert_int 1\n", " advert_int 1\n nopreempt\n");
    let mut lab = Lab::new(&[(&b, 3)]);
    lab.run(Duration::from_secs(5));
    let mut r = router(&a, 2);
    let out = r.handle(lab.now, Input::Startup);
    lab.nodes.push((r, 2, true));
    lab.deliver(1, out);
    lab.run(Duration::from_secs(20));
    assert_eq!(
        (lab.state(0, 0), lab.state(1, 0)),
        (State::Master, State::Backup)
    );
}

#[test]
fn graceful_shutdown_hands_over_within_skew_time() {
    let (a, b) = (pair(100), pair(99));
    let mut lab = Lab::new(&[(&a, 2), (&b, 3)]);
    lab.run(Duration::from_secs(10));
    let now = lab.now;
    let out = lab.nodes[0].0.handle(now, Input::Shutdown);
    lab.deliver(0, out);
    lab.nodes[0].2 = false;
    lab.run(Duration::from_millis(612));
    assert_eq!(
        lab.state(1, 0),
        State::Backup,
        "not before Skew_Time (157/256 s)"
    );
    lab.run(Duration::from_millis(2));
    assert_eq!(lab.state(1, 0), State::Master);
}

#[test]
fn dual_master_crossed_roles() {
    let seeds = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/seeds/");
    let a = std::fs::read_to_string(format!("{seeds}lvs-dr-dual-a.conf"))
        .unwrap()
        .replace("ens37", "eth0");
    let b = std::fs::read_to_string(format!("{seeds}lvs-dr-dual-b.conf"))
        .unwrap()
        .replace("ens37", "eth0");
    let mut lab = Lab::new(&[(&a, 2), (&b, 3)]);
    lab.run(Duration::from_secs(10));
    assert_eq!(
        (lab.state(0, 0), lab.state(0, 1)),
        (State::Master, State::Backup)
    );
    assert_eq!(
        (lab.state(1, 0), lab.state(1, 1)),
        (State::Backup, State::Master)
    );
    lab.nodes[0].2 = false;
    lab.run(Duration::from_secs(5));
    assert_eq!(
        (lab.state(1, 0), lab.state(1, 1)),
        (State::Master, State::Master)
    );
}

#[test]
fn tracked_files_add_value_times_weight_or_fault_with_weight_zero() {
    let text = "vrrp_track_file scaled {\n file /tmp/a\n weight 3\n}\nvrrp_track_file neg {\n file /tmp/b\n weight 2 reverse\n}\nvrrp_track_file gate {\n file /tmp/c\n weight 0\n}\nvrrp_instance V {\n interface eth0\n virtual_router_id 1\n priority 100\n virtual_ipaddress {\n  10.0.0.1\n }\n track_file {\n  scaled\n  neg\n  gate\n }\n}\n";
    let mut r = router(text, 2);
    let t0 = Instant::now();
    r.handle(t0, Input::Startup);
    let prio = |r: &Router| r.instance(0).unwrap().priority();
    let value = |r: &mut Router, source: &str, value: i64| {
        r.handle(t0, Input::Value { source, value });
    };
    value(&mut r, "file:scaled", 5);
    assert_eq!(prio(&r), 115);
    value(&mut r, "file:neg", 4);
    assert_eq!(prio(&r), 107, "reverse subtracts");
    value(&mut r, "file:scaled", 1000);
    assert_eq!(
        prio(&r),
        254,
        "a file adds at most 254; the priority stays within 1-254"
    );
    value(&mut r, "file:scaled", 0);
    value(&mut r, "file:neg", 0);
    assert_eq!(prio(&r), 100);
    value(&mut r, "file:gate", 7);
    assert_eq!(
        states(&r),
        vec![State::Fault],
        "weight 0: not zero is Fault"
    );
    value(&mut r, "file:gate", 0);
    assert_eq!(states(&r), vec![State::Backup]);
}

#[test]
fn a_reloaded_master_adds_announces_and_removes_only_what_changed() {
    let t0 = Instant::now();
    let old_text = pair(150);
    let mut old = router(&old_text, 1);
    old.handle(t0, Input::Startup);
    run_until(&mut old, t0 + Duration::from_secs(5));
    assert_eq!(states(&old), vec![State::Master]);
    let new_text = old_text.replace("  10.0.0.100/24\n", "  10.0.0.101/24\n  10.0.0.102/24\n");
    let mut new = router(&new_text, 1);
    let out = new.adopt(0, &mut old, 0);
    let vip = |a: &str| crate::config::values::Vip {
        addr: a.parse().unwrap(),
        prefix: 24,
        brd: None,
        dev: None,
        scope: None,
        label: None,
    };
    let actions: Vec<Action> = out.into_iter().map(|o| o.action).collect();
    assert_eq!(
        actions[..3],
        [
            Action::AddVips(vec![vip("10.0.0.101"), vip("10.0.0.102")]),
            Action::Gratuitous {
                addrs: vec!["10.0.0.101".parse().unwrap(), "10.0.0.102".parse().unwrap()],
                count: 5
            },
            Action::RemoveVips(vec![vip("10.0.0.100")]),
        ]
    );
    assert_eq!(states(&new), vec![State::Master]);
    // A Backup holds nothing: a reload changes no address.
    let mut backup = router(&old_text, 2);
    backup.handle(t0, Input::Startup);
    let mut again = router(&new_text, 2);
    assert!(
        again
            .adopt(0, &mut backup, 0)
            .iter()
            .all(|o| !matches!(o.action, Action::AddVips(_) | Action::RemoveVips(_)))
    );
    // Unchanged addresses: nothing to do.
    let mut same = router(&new_text, 1);
    assert!(
        same.adopt(0, &mut new, 0)
            .iter()
            .all(|o| !matches!(o.action, Action::AddVips(_) | Action::RemoveVips(_)))
    );
}

/// A unicast instance (peers .3 and .4) hearing VRID 51 from .3 and from .5.
fn unicast_from(extra_global: &str, extra: &str) -> (Router, Instant) {
    let text = format!(
        "global_defs {{\n{extra_global}}}\n{}",
        pair(100).replace(
            " advert_int 1\n",
            &format!(" advert_int 1\n unicast_peer {{\n  10.0.0.3\n  10.0.0.4\n }}\n{extra}"),
        )
    );
    let mut r = router(&text, 2);
    let t0 = Instant::now();
    r.handle(t0, Input::Startup);
    let p = packet_from(&r, 0, 200, 3);
    for node in [3, 5] {
        let m = IpMeta {
            dst: IpAddr::from([10, 0, 0, 2]),
            ..meta(node)
        };
        r.handle(
            t0,
            Input::Packet {
                ifname: "eth0",
                meta: m,
                payload: &p,
            },
        );
    }
    (r, t0)
}

#[test]
fn vrrp_check_unicast_src() {
    let (r, _) = unicast_from(" vrrp_check_unicast_src\n", "");
    let c = r.counters(0).unwrap();
    assert_eq!(c.adverts_received, 1, "the peer's advert only");
    assert_eq!(c.drops.get(&DropReason::NotAUnicastPeer), Some(&1));
    assert_eq!(
        r.instance(0).unwrap().master().map(|m| m.addr),
        Some(IpAddr::from([10, 0, 0, 3]))
    );
    // Without it, keepalived takes adverts from anyone.
    let (r, _) = unicast_from("", "");
    assert_eq!(r.counters(0).unwrap().adverts_received, 2);
    assert_eq!(
        r.counters(0)
            .unwrap()
            .drops
            .get(&DropReason::NotAUnicastPeer),
        None
    );
}

#[test]
fn check_unicast_src() {
    let (r, _) = unicast_from("", " check_unicast_src\n");
    let c = r.counters(0).unwrap();
    assert_eq!(c.adverts_received, 1);
    assert_eq!(c.drops.get(&DropReason::NotAUnicastPeer), Some(&1));
}

/// When a lone Backup takes over: Master_Down_Interval after start.
fn takeover_after(text: &str) -> Duration {
    let mut r = router(text, 2);
    let t0 = Instant::now();
    r.handle(t0, Input::Startup);
    let at = r.next_deadline().unwrap();
    let out = r.handle(at, Input::Timeout);
    assert!(enters(&out, State::Master), "{out:?}");
    at - t0
}

#[test]
fn down_timer_adverts() {
    // v2, priority 100: Skew_Time = 156/256 s.
    let skew = Duration::from_secs(1) * 156 / 256;
    assert_eq!(takeover_after(&pair(100)), Duration::from_secs(3) + skew);
    let five = pair(100).replace(" advert_int 1\n", " advert_int 1\n down_timer_adverts 5\n");
    assert_eq!(takeover_after(&five), Duration::from_secs(5) + skew);
}

#[test]
fn vrrp_down_timer_adverts() {
    let skew = Duration::from_secs(1) * 156 / 256;
    let text = format!(
        "global_defs {{\n vrrp_down_timer_adverts 1\n}}\n{}",
        pair(100)
    );
    assert_eq!(takeover_after(&text), Duration::from_secs(1) + skew);
    // The instance's own wins.
    let text = text.replace(" advert_int 1\n", " advert_int 1\n down_timer_adverts 2\n");
    assert_eq!(takeover_after(&text), Duration::from_secs(2) + skew);
}

#[test]
fn vmac_prefix() {
    let c = cfg(
        "global_defs {\n vmac_prefix vip\n}\nvrrp_instance V {\n interface eth0\n virtual_router_id 7\n use_vmac\n virtual_ipaddress {\n  10.0.0.9\n }\n}\n",
    );
    assert_eq!(
        super::super::setup::vmac_name(&c, &c.vrrp_instances[0]),
        "vip.7"
    );
    let c = cfg(
        "vrrp_instance V {\n interface eth0\n virtual_router_id 200\n use_vmac\n virtual_ipaddress {\n  10.0.0.9\n }\n}\n",
    );
    assert_eq!(
        super::super::setup::vmac_name(&c, &c.vrrp_instances[0]),
        "vrrp.200"
    );
    let mut c = c;
    c.global.vmac_prefix = Some("averyveryverylongprefix".into());
    assert_eq!(
        super::super::setup::vmac_name(&c, &c.vrrp_instances[0]),
        "averyveryve.200",
        "cut to 15 bytes as keepalived does"
    );
}

/// The driver's way back after an interface was deleted and created again:
/// the instance faulted with its link, the same configuration is applied
/// again on the new interface (`adopt`), then the link is up.
#[test]
fn a_deleted_interface_faults_and_the_rebuilt_instance_resumes() {
    let t0 = Instant::now();
    let text = pair(150);
    let mut r = router(&text, 1);
    r.handle(t0, Input::Startup);
    run_until(&mut r, t0 + Duration::from_secs(5));
    assert_eq!(states(&r), vec![State::Master]);
    r.count_fix(0, false);
    let t1 = t0 + Duration::from_secs(6);
    let out = r.handle(
        t1,
        Input::Link {
            ifname: "eth0",
            up: false,
        },
    );
    assert_eq!(states(&r), vec![State::Fault]);
    assert!(
        out.iter()
            .any(|o| matches!(o.action, Action::RemoveVips(_)))
    );
    // Rebuilt while the interface is still down: nothing changes.
    let mut rebuilt = router(&text, 1);
    let out = rebuilt.adopt(0, &mut r, 0);
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(states(&rebuilt), vec![State::Fault]);
    assert_eq!(rebuilt.counters(0).unwrap().addresses_restored, 1);
    let t2 = t1 + Duration::from_secs(10);
    assert!(run_until(&mut rebuilt, t2).is_empty(), "Fault waits");
    rebuilt.handle(
        t2,
        Input::Link {
            ifname: "eth0",
            up: true,
        },
    );
    assert_eq!(states(&rebuilt), vec![State::Backup]);
    // No peer heard: Master after Master_Down_Interval (3 × 1 s + skew).
    run_until(&mut rebuilt, t2 + Duration::from_millis(3500));
    assert_eq!(states(&rebuilt), vec![State::Master]);
}

/// `count` VRRPv3 instances at advert_int 0.1 s, spread over `nics`
/// interfaces (VRIDs 1.. on each), one VIP each.
fn many(count: usize, nics: usize, prio: u32) -> String {
    let per = count.div_ceil(nics);
    (0..count)
        .map(|n| {
            format!(
                "vrrp_instance VI_{n} {{\n interface eth{}\n version 3\n virtual_router_id {}\n priority {prio}\n advert_int 0.1\n virtual_ipaddress {{\n  10.1.{}.{}/32\n }}\n}}\n",
                n / per,
                n % per + 1,
                n / 250,
                n % 250 + 1
            )
        })
        .collect()
}

/// The advert `from` sends for instance `i`, delivered to `to` on the
/// instance's interface.
fn deliver_on_its_interface(
    from: &Router,
    node: u8,
    to: &mut Router,
    now: Instant,
    out: &[Output],
) -> Vec<Output> {
    let mut got = Vec::new();
    for o in out {
        if let Action::SendAdvert { priority } = o.action {
            let p = packet_from(from, o.instance, priority, node);
            let ifname = from.instances[o.instance].ifname.clone();
            got.extend(to.handle(
                now,
                Input::Packet {
                    ifname: &ifname,
                    meta: meta(node),
                    payload: &p,
                },
            ));
        }
    }
    got
}

#[test]
fn a_thousand_instances_on_four_interfaces_stay_put_in_virtual_time() {
    // The router keeps every instance's deadline in an index and finds a
    // packet's instance by (interface, VRID) rather than scanning: this
    // runs two nodes for 20 s of virtual time (200,000 adverts) and checks
    // the index against the instances at every step.
    let (mut a, mut b) = (
        router(&many(1000, 4, 100), 1),
        router(&many(1000, 4, 99), 2),
    );
    let t0 = Instant::now();
    let mut now = t0;
    let out = a.handle(now, Input::Startup);
    deliver_on_its_interface(&a, 1, &mut b, now, &out);
    let out = b.handle(now, Input::Startup);
    deliver_on_its_interface(&b, 2, &mut a, now, &out);
    let scan = |r: &Router| {
        r.instances
            .iter()
            .filter_map(|m| m.inst.next_deadline())
            .min()
    };
    let mut b_transitions_after_settle = 0;
    let mut steps = 0;
    while now < t0 + Duration::from_secs(20) {
        assert_eq!(a.next_deadline(), scan(&a), "A's index at {steps}");
        assert_eq!(b.next_deadline(), scan(&b), "B's index at {steps}");
        let Some(next) = [a.next_deadline(), b.next_deadline()]
            .into_iter()
            .flatten()
            .min()
        else {
            break;
        };
        now = next;
        steps += 1;
        let due_a = a.next_deadline().is_some_and(|t| t <= now);
        let due_b = b.next_deadline().is_some_and(|t| t <= now);
        if due_a {
            let out = a.handle(now, Input::Timeout);
            assert!(!out.is_empty(), "A woke for nothing at step {steps}");
            let back = deliver_on_its_interface(&a, 1, &mut b, now, &out);
            if now > t0 + Duration::from_secs(2) {
                b_transitions_after_settle += back
                    .iter()
                    .filter(|o| matches!(o.action, Action::StateChanged { .. }))
                    .count();
            }
            deliver_on_its_interface(&b, 2, &mut a, now, &back);
        }
        if due_b {
            let out = b.handle(now, Input::Timeout);
            if now > t0 + Duration::from_secs(2) {
                b_transitions_after_settle += out
                    .iter()
                    .filter(|o| matches!(o.action, Action::StateChanged { .. }))
                    .count();
            }
            deliver_on_its_interface(&b, 2, &mut a, now, &out);
        }
    }
    assert!(
        (0..1000).all(|i| a.instance(i).unwrap().state() == State::Master),
        "A is Master of every instance"
    );
    assert!(
        (0..1000).all(|i| b.instance(i).unwrap().state() == State::Backup),
        "B is Backup of every instance"
    );
    assert_eq!(b_transitions_after_settle, 0);
    // Each instance heard its own adverts only: 200 a second for 18 s and
    // more (VRIDs repeat on every interface).
    for i in [0, 249, 250, 999] {
        let c = b.counters(i).unwrap();
        assert!(c.adverts_received >= 180, "instance {i}: {c:?}");
        assert_eq!(
            c.transitions, 1,
            "instance {i}: Backup at start, then no change"
        );
    }
    assert!(b.unmatched_drops().is_empty(), "{:?}", b.unmatched_drops());
}

#[test]
fn a_packet_goes_to_the_instance_of_its_interface_and_vrid() {
    let mut r = router(&many(10, 2, 100), 1);
    let sender = router(&many(10, 2, 200), 2);
    let now = Instant::now();
    r.handle(now, Input::Startup);
    // VRID 3 is instance 2 on eth0 and instance 7 on eth1.
    let p = packet_from(&sender, 7, 200, 2);
    r.handle(
        now,
        Input::Packet {
            ifname: "eth1",
            meta: meta(2),
            payload: &p,
        },
    );
    let heard: Vec<u64> = (0..10)
        .map(|i| r.counters(i).unwrap().adverts_received)
        .collect();
    assert_eq!(heard, vec![0, 0, 0, 0, 0, 0, 0, 1, 0, 0]);
    // No instance has VRID 9 on eth1 (five per interface).
    let mut p9 = p.clone();
    p9[1] = 9;
    r.handle(
        now,
        Input::Packet {
            ifname: "eth1",
            meta: meta(2),
            payload: &p9,
        },
    );
    assert!(!r.unmatched_drops().is_empty());
}
