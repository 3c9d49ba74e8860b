use std::collections::BTreeMap;
use std::net::IpAddr;

use super::*;
use crate::config::{Format, LoadOptions, load_str};

fn keepalived(text: &str) -> Config {
    let l = load_str("t.conf", text, Format::Keepalived, &LoadOptions::default());
    assert!(l.is_ok(), "{:?}", l.diagnostics.sorted());
    l.config
}

fn seed_text(name: &str) -> String {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/seeds");
    std::fs::read_to_string(format!("{dir}/{name}")).unwrap()
}

fn seed(name: &str) -> Config {
    keepalived(&seed_text(name))
}

fn events(vs: &str, up: bool) -> Vec<QuorumEvent> {
    vec![QuorumEvent {
        virtual_server: vs.into(),
        up,
    }]
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn change(vs: &str, rs: &str, up: bool) -> RealServerState {
    RealServerState {
        virtual_server: vs.into(),
        real_server: rs.into(),
        up,
        weight: 0,
    }
}

/// (service key, [(real server, weight)]) of the desired table.
fn weights(t: &Table) -> Vec<(String, Vec<(String, u32)>)> {
    t.desired()
        .into_iter()
        .map(|(s, d)| {
            (
                s.key.to_string(),
                d.iter()
                    .map(|d| (super::super::genl::endpoint(d.addr, d.port), d.weight))
                    .collect(),
            )
        })
        .collect()
}

fn vrrp(pairs: &[(&str, &str)]) -> BTreeMap<String, State> {
    pairs
        .iter()
        .map(|(a, b)| {
            let state = serde_json::from_value(serde_json::Value::from(*b)).unwrap();
            (a.to_string(), state)
        })
        .collect()
}

const VS: &str = "10.0.0.100:80/tcp";

#[test]
fn the_seed_is_one_dr_service_with_its_wrr_weights() {
    let t = Table::new(
        &seed("lvs-dr-master.conf"),
        &Known::default(),
        BTreeMap::new(),
    );
    let d = t.desired();
    assert_eq!(d.len(), 1);
    let (s, dests) = &d[0];
    assert_eq!(s.key.to_string(), VS);
    assert_eq!(s.scheduler, "wrr");
    assert_eq!((s.flags, s.timeout), (0, 0));
    assert_eq!(
        dests,
        &vec![
            Dest::new(ip("192.168.234.47"), 80, Forward::Route, 1),
            Dest::new(ip("192.168.234.57"), 80, Forward::Route, 2),
        ]
    );
    assert_eq!(t.owned().len(), 1);
    assert!(!t.manages_sync());
}

#[test]
fn a_failed_server_leaves_or_stays_with_weight_0_with_inhibit_on_failure() {
    let mut t = Table::new(
        &seed("lvs-dr-master.conf"),
        &Known::default(),
        BTreeMap::new(),
    );
    assert_eq!(t.apply(&change(VS, "192.168.234.47:80", false)), Some(true));
    assert_eq!(weights(&t)[0].1, vec![("192.168.234.57:80".into(), 2)]);
    assert_eq!(
        t.apply(&change(VS, "192.168.234.47:80", false)),
        Some(false),
        "the same state again"
    );
    assert_eq!(
        t.apply(&change(VS, "192.168.9.9:80", false)),
        None,
        "unknown server"
    );
    assert_eq!(
        t.apply(&change("10.9.9.9:80/tcp", "192.168.234.47:80", false)),
        None
    );

    let text = seed_text("lvs-dr-master.conf").replace(
        "    protocol TCP\n",
        "    protocol TCP\n    inhibit_on_failure\n",
    );
    let mut t = Table::new(&keepalived(&text), &Known::default(), BTreeMap::new());
    t.apply(&change(VS, "192.168.234.47:80", false));
    assert_eq!(
        weights(&t)[0].1,
        vec![
            ("192.168.234.47:80".into(), 0),
            ("192.168.234.57:80".into(), 2)
        ]
    );
    // No quorum change: 2 of weight is still >= 1.
    assert!(t.take_events().is_empty());
}

const QUORUM: &str = r#"
virtual_server 10.0.0.1 80 {
    protocol TCP
    lb_kind NAT
    quorum 3
    hysteresis 1
    quorum_up "/bin/up"
    quorum_down "/bin/down"
    sorry_server 10.9.9.9 8080
    ALPHA
    real_server 10.0.1.1 80 { weight 1
        TCP_CHECK { connect_timeout 1 } }
    real_server 10.0.1.2 80 { weight 2
        TCP_CHECK { connect_timeout 1 } }
    real_server 10.0.1.3 80 { weight 3
        TCP_CHECK { connect_timeout 1 } }
    real_server 10.0.1.4 80 { weight 5 }
}
"#;

#[test]
fn quorum_with_hysteresis_swaps_in_the_sorry_server() {
    // The unchecked 10.0.1.4 has weight 5: take it out of the sum by
    // weighting it 0 to study the checked ones.
    let text = QUORUM
        .replace("    ALPHA\n", "")
        .replace("weight 5", "weight 0");
    let mut t = Table::new(&keepalived(&text), &Known::default(), BTreeMap::new());
    let vs = "10.0.0.1:80/tcp";
    // 1+2+3 = 6 >= 3: quorum; sorry server out.
    assert_eq!(t.quorum_states(), events(vs, true));
    assert!(!weights(&t)[0].1.iter().any(|(a, _)| a == "10.9.9.9:8080"));
    // 3 left: still >= quorum - hysteresis (2).
    t.apply(&change(vs, "10.0.1.3:80", false));
    assert!(t.take_events().is_empty());
    // 1 left: below 2: lost. The sorry server (weight 1, NAT) replaces the
    // live ones.
    t.apply(&change(vs, "10.0.1.2:80", false));
    assert_eq!(t.take_events(), events(vs, false));
    assert_eq!(weights(&t)[0].1, vec![("10.9.9.9:8080".into(), 1)]);
    assert_eq!(t.desired()[0].1[0].forward, Forward::Masq);
    // Back to 3: below quorum + hysteresis (4): still lost.
    t.apply(&change(vs, "10.0.1.2:80", true));
    assert!(t.take_events().is_empty());
    // 6: regained; the sorry server leaves, the live servers come back.
    t.apply(&change(vs, "10.0.1.3:80", true));
    assert_eq!(t.take_events(), events(vs, true));
    let w = &weights(&t)[0].1;
    assert_eq!(w.len(), 4, "{w:?}");
    assert!(!w.iter().any(|(a, _)| a == "10.9.9.9:8080"));
}

#[test]
fn alpha_starts_down_with_the_sorry_server_until_checks_pass() {
    let text = QUORUM
        .replace(
            "    ALPHA\n",
            "    alpha\n    sorry_server_inhibit\n    sorry_server_lvs_method DR\n",
        )
        .replace("weight 5", "weight 0");
    let mut t = Table::new(&keepalived(&text), &Known::default(), BTreeMap::new());
    let vs = "10.0.0.1:80/tcp";
    assert!(!t.quorum_states()[0].up);
    let (s, d) = &t.desired()[0];
    assert_eq!(s.key.to_string(), vs);
    assert_eq!(d, &vec![Dest::new(ip("10.9.9.9"), 8080, Forward::Route, 1)]);
    for rs in ["10.0.1.1:80", "10.0.1.2:80", "10.0.1.3:80"] {
        t.apply(&change(vs, rs, true));
    }
    assert_eq!(t.take_events(), events(vs, true));
    // sorry_server_inhibit: it stays, with weight 0.
    let w = &weights(&t)[0].1;
    assert!(w.contains(&("10.9.9.9:8080".into(), 0)), "{w:?}");
    assert!(w.contains(&("10.0.1.3:80".into(), 3)), "{w:?}");
    // A restarted worker resumes from what the parent knew.
    let known = Known {
        up: BTreeMap::from([(vs.to_string(), ["10.0.1.3:80".to_string()].into())]),
        down: BTreeMap::new(),
        weights: BTreeMap::new(),
    };
    let t2 = Table::new(&keepalived(&text), &known, BTreeMap::new());
    assert!(t2.quorum_states()[0].up, "3 >= quorum");
}

#[test]
fn groups_expand_ranges_and_marks_and_share_the_checks() {
    let text = r#"
virtual_server_group WEB {
    10.0.0.1-3 80
    10.0.0.9 8080
    fwmark 7
}
virtual_server group WEB {
    protocol TCP
    lb_algo rr
    lb_kind DR
    persistence_timeout 30
    real_server 10.0.1.1 80 { TCP_CHECK { connect_timeout 1 } }
    real_server 10.0.1.2 { weight 3 }
}
"#;
    let mut t = Table::new(&keepalived(text), &Known::default(), BTreeMap::new());
    let keys: Vec<String> = weights(&t).into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        keys,
        [
            "10.0.0.1:80/tcp",
            "10.0.0.2:80/tcp",
            "10.0.0.3:80/tcp",
            "10.0.0.9:8080/tcp",
            "fwmark:7"
        ]
    );
    for (s, d) in t.desired() {
        assert_eq!(s.scheduler, "rr");
        assert_eq!(s.flags, flags::PERSISTENT);
        assert_eq!(s.timeout, 30);
        // A real server without a port takes each member's.
        let port = s.key.port().unwrap_or(0);
        assert_eq!(d[1], Dest::new(ip("10.0.1.2"), port, Forward::Route, 3));
    }
    // One check for the group: its result applies to every member.
    assert!(
        t.apply(&change("group:WEB", "10.0.1.1:80", false))
            .is_some()
    );
    assert!(t.desired().iter().all(|(_, d)| d.len() == 1));
}

/// Regression (issue 15 corpus): one address and port over UDP and TCP are
/// two services with two keys, each with its own real servers and checks.
#[test]
fn same_address_and_port_over_udp_and_tcp_are_two_services() {
    let text = r#"
virtual_server 192.0.2.53 53 {
    protocol UDP
    real_server 10.0.1.1 53 { MISC_CHECK { misc_path /bin/true } }
}
virtual_server 192.0.2.53 53 {
    protocol TCP
    real_server 10.0.1.1 53 { TCP_CHECK { connect_timeout 1 } }
}
"#;
    let cfg = keepalived(text);
    let keys: Vec<String> = cfg.virtual_servers.iter().map(vs_key).collect();
    assert_eq!(keys, ["192.0.2.53:53/udp", "192.0.2.53:53/tcp"]);
    let mut t = Table::new(&cfg, &Known::default(), BTreeMap::new());
    assert_eq!(
        weights(&t),
        [
            ("192.0.2.53:53/udp".into(), vec![("10.0.1.1:53".into(), 1)]),
            ("192.0.2.53:53/tcp".into(), vec![("10.0.1.1:53".into(), 1)]),
        ]
    );
    // The UDP check failing takes the server out of the UDP service only.
    assert!(
        t.apply(&change("192.0.2.53:53/udp", "10.0.1.1:53", false))
            .is_some()
    );
    assert_eq!(
        weights(&t),
        [
            ("192.0.2.53:53/udp".into(), vec![]),
            ("192.0.2.53:53/tcp".into(), vec![("10.0.1.1:53".into(), 1)]),
        ]
    );
}

#[test]
fn ha_suspend_keeps_a_service_out_while_its_vip_is_not_master() {
    let text = r#"
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 50
    priority 100
    virtual_ipaddress { 10.0.0.100/24 }
}
vrrp_instance VI_2 {
    interface eth0
    virtual_router_id 51
    priority 100
    virtual_ipaddress { 10.0.0.200/24 }
}
virtual_server 10.0.0.100 80 {
    protocol TCP
    ha_suspend
    real_server 10.0.1.1 80 { }
}
virtual_server 10.0.0.200 80 {
    protocol TCP
    real_server 10.0.1.1 80 { }
}
"#;
    let mut t = Table::new(
        &keepalived(text),
        &Known::default(),
        vrrp(&[("VI_1", "BACKUP"), ("VI_2", "MASTER")]),
    );
    let keys = |t: &Table| {
        t.desired()
            .iter()
            .map(|(s, _)| s.key.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(&t), ["10.0.0.200:80/tcp"]);
    // Still owned: a suspended service is removed from the kernel.
    assert_eq!(t.owned().len(), 2);
    assert!(t.status(None)[0].suspended);
    assert!(t.set_vrrp(vrrp(&[("VI_1", "MASTER"), ("VI_2", "MASTER")])));
    assert_eq!(keys(&t), ["10.0.0.100:80/tcp", "10.0.0.200:80/tcp"]);
    assert!(
        !t.set_vrrp(vrrp(&[("VI_1", "MASTER"), ("VI_2", "BACKUP")])),
        "VI_2 does not matter"
    );
}

#[test]
fn the_sync_daemon_follows_the_instance_and_runs_both_ways_for_dual_master() {
    let single = seed_text("lvs-dr-master.conf").replace(
        "    vrrp_mcast_group4 234.10.10.10\n",
        "    vrrp_mcast_group4 234.10.10.10\n    lvs_sync_daemon ens37 VI_1 maxlen 1400\n",
    );
    let mut t = Table::new(&keepalived(&single), &Known::default(), BTreeMap::new());
    let states = |t: &Table| t.daemons().iter().map(|d| d.state).collect::<Vec<_>>();
    assert!(t.manages_sync());
    assert_eq!(states(&t), [SyncState::Backup], "not MASTER yet");
    t.set_vrrp(vrrp(&[("VI_1", "MASTER")]));
    let d = t.daemons();
    assert_eq!(states(&t), [SyncState::Master]);
    assert_eq!(
        (d[0].interface.as_str(), d[0].sync_id, d[0].maxlen),
        ("ens37", 50, Some(1400))
    );
    t.set_vrrp(vrrp(&[("VI_1", "FAULT")]));
    assert_eq!(states(&t), [SyncState::Backup]);

    let dual = seed_text("lvs-dr-dual-a.conf").replace(
        "    vrrp_mcast_group4 234.10.10.10\n",
        "    vrrp_mcast_group4 234.10.10.10\n    lvs_sync_daemon ens37 VI_1 id 7\n",
    );
    let mut t = Table::new(&keepalived(&dual), &Known::default(), BTreeMap::new());
    t.set_vrrp(vrrp(&[("VI_1", "MASTER"), ("VI_2", "BACKUP")]));
    assert_eq!(states(&t), [SyncState::Master, SyncState::Backup]);
    assert!(t.daemons().iter().all(|d| d.sync_id == 7));
    t.set_vrrp(vrrp(&[("VI_1", "MASTER"), ("VI_2", "MASTER")]));
    assert_eq!(states(&t), [SyncState::Master]);
}

#[test]
fn options_reach_the_kernel_service_and_tunnel_destinations() {
    let text = r#"
virtual_server fwmark 9 {
    lb_algo mh
    lb_kind TUN
    ops
    mh-port
    mh-fallback
    persistence_timeout 60
    persistence_granularity 255.255.255.0
    persistence_engine sip
    real_server 10.0.1.1 {
        tunnel_encap gue
        tunnel_dport 6080
        tunnel_remcsum
        uthreshold 100
        lthreshold 10
    }
    real_server 10.0.1.2 {
        tunnel_encap gre
        tunnel_csum
    }
    real_server 10.0.1.3 { lvs_method NAT }
}
"#;
    let t = Table::new(&keepalived(text), &Known::default(), BTreeMap::new());
    let (s, d) = &t.desired()[0];
    assert_eq!(
        s.key,
        ServiceKey::Fwmark {
            family: Family::V4,
            mark: 9
        }
    );
    assert_eq!(
        s.flags,
        flags::ONEPACKET | flags::SCHED_PORT | flags::SCHED_FALLBACK | flags::PERSISTENT
    );
    assert_eq!((s.timeout, s.netmask), (60, 0xffff_ff00));
    assert_eq!(s.pe.as_deref(), Some("sip"));
    let gue = Tunnel {
        kind: TunnelKind::Gue,
        port: 6080,
        csum: TunnelCsum::Remcsum,
    };
    assert_eq!(d[0].forward, Forward::Tunnel(gue));
    assert_eq!((d[0].port, d[0].upper, d[0].lower), (0, 100, 10));
    assert_eq!(
        d[1].forward,
        Forward::Tunnel(Tunnel {
            kind: TunnelKind::Gre,
            port: 0,
            csum: TunnelCsum::Csum
        })
    );
    assert_eq!(d[2].forward, Forward::Masq);
}

#[test]
fn a_reload_keeps_health_and_quorum_and_forgets_what_left() {
    let cfg = seed("lvs-dr-master.conf");
    let mut t = Table::new(&cfg, &Known::default(), BTreeMap::new());
    t.apply(&change(VS, "192.168.234.57:80", false));
    let text = seed_text("lvs-dr-master.conf").replace("weight 1", "weight 3");
    t.reload(&keepalived(&text));
    assert_eq!(weights(&t)[0].1, vec![("192.168.234.47:80".into(), 3)]);
    assert!(t.take_events().is_empty());
}

#[test]
fn status_shows_the_kernel_beside_the_desired() {
    let t = Table::new(
        &seed("lvs-dr-master.conf"),
        &Known::default(),
        BTreeMap::new(),
    );
    let (s, _) = &t.desired()[0];
    let mut e = DestEntry {
        dest: Dest::new(ip("192.168.234.57"), 80, Forward::Route, 5),
        active: 3,
        inactive: 4,
        persistent: 0,
    };
    let entry = ServiceEntry { service: s.clone() };
    let mut view = KernelView::new();
    view.insert(s.key, (entry.clone(), vec![e]));
    let st = &t.status(Some(&view))[0];
    assert_eq!(st.in_kernel, 1);
    assert!(st.quorum_up && !st.suspended);
    let rs = &st.real_servers[1];
    assert_eq!(rs.address.to_string(), "192.168.234.57:80");
    assert_eq!((rs.desired_weight, rs.kernel_weight), (Some(2), Some(5)));
    assert_eq!((rs.active_conns, rs.inactive_conns), (3, 4));
    assert_eq!(st.real_servers[0].kernel_weight, None);
    e.dest.port = 81;
    view.insert(s.key, (entry, vec![e]));
    assert_eq!(t.status(Some(&view))[0].real_servers[1].kernel_weight, None);
}

/// keepalived's `lvs_method TUN type gue port N [nocsum|csum|remcsum]`, at
/// virtual_server level (real servers without a method of their own take
/// it) and at real_server level, reaches the kernel's destinations.
#[test]
fn lvs_method_tun_type_gue_port_reaches_the_destinations() {
    let text = r#"
virtual_server fwmark 9 {
    lvs_method TUN type gue port 6080 remcsum
    real_server 10.0.1.1 {
    }
    real_server 10.0.1.2 {
        lvs_method TUN type gre csum
    }
    real_server 10.0.1.3 {
        lvs_method TUN
    }
}
"#;
    let t = Table::new(&keepalived(text), &Known::default(), BTreeMap::new());
    let (_, d) = &t.desired()[0];
    let tunnel = |kind, port, csum| Forward::Tunnel(Tunnel { kind, port, csum });
    assert_eq!(
        d.iter().map(|d| d.forward).collect::<Vec<_>>(),
        vec![
            tunnel(TunnelKind::Gue, 6080, TunnelCsum::Remcsum),
            tunnel(TunnelKind::Gre, 0, TunnelCsum::Csum),
            tunnel(TunnelKind::Ipip, 0, TunnelCsum::None),
        ]
    );
}

/// FILE_CHECK's weight change (keepalived's effective weight, clamped to
/// 0..=2147483647) applies to the server with the FILE_CHECK only, and a
/// restarted worker resumes it.
#[test]
fn file_check_changes_the_weight_of_its_server_only() {
    let text = "track_file tf {\n file /run/x\n}\nvirtual_server 10.0.0.1 80 {\n protocol TCP\n real_server 10.0.1.2 80 {\n  weight 10\n  FILE_CHECK {\n   track_file tf\n  }\n }\n real_server 10.0.1.3 80 {\n  weight 10\n  TCP_CHECK {\n  }\n }\n}\n";
    let vs = "10.0.0.1:80/tcp";
    let mut t = Table::new(&keepalived(text), &Known::default(), BTreeMap::new());
    let of = |t: &Table, rs: &str| {
        weights(t)[0]
            .1
            .iter()
            .find(|(a, _)| a == rs)
            .map(|(_, w)| *w)
    };
    let weighted = |rs: &str, up: bool, weight: i64| RealServerState {
        weight,
        ..change(vs, rs, up)
    };
    assert_eq!(of(&t, "10.0.1.2:80"), Some(10));
    assert!(t.apply(&weighted("10.0.1.2:80", true, 5)).is_some());
    assert_eq!(of(&t, "10.0.1.2:80"), Some(15));
    assert!(t.apply(&weighted("10.0.1.2:80", true, -50)).is_some());
    assert_eq!(of(&t, "10.0.1.2:80"), Some(0), "clamped at 0, still in");
    assert!(
        t.apply(&weighted("10.0.1.2:80", true, i64::from(i32::MAX)))
            .is_some()
    );
    assert_eq!(
        of(&t, "10.0.1.2:80"),
        Some(u32::try_from(i32::MAX).unwrap())
    );
    // Not a FILE_CHECK: the change is ignored.
    assert!(t.apply(&weighted("10.0.1.3:80", true, 7)).is_some());
    assert_eq!(of(&t, "10.0.1.3:80"), Some(10));
    // Resumed after a restart.
    assert!(t.apply(&weighted("10.0.1.2:80", true, 3)).is_some());
    let known = Known {
        up: BTreeMap::from([(vs.to_string(), ["10.0.1.2:80".to_string()].into())]),
        down: BTreeMap::new(),
        weights: BTreeMap::from([(
            vs.to_string(),
            BTreeMap::from([("10.0.1.2:80".to_string(), 3)]),
        )]),
    };
    let t2 = Table::new(&keepalived(text), &known, BTreeMap::new());
    assert_eq!(of(&t2, "10.0.1.2:80"), Some(13));
    t.reload(&keepalived(text));
    assert_eq!(of(&t, "10.0.1.2:80"), Some(13), "kept over a reload");
}

/// A real server's key is its address and port, written as `rs_key`
/// writes it (no string kept a server since issue 18): an IPv6 server is
/// found under its bracketed key; another spelling of the same address,
/// a missing port or garbage names nothing, as before.
#[test]
fn a_real_server_is_found_by_its_key_as_written_only() {
    let text = "virtual_server 2001:db8::10 80 {\n protocol TCP\n lb_kind DR\n real_server 2001:db8::2 80 {\n  TCP_CHECK {\n   connect_timeout 1\n  }\n }\n real_server 2001:db8::3 8080 {\n  TCP_CHECK {\n   connect_timeout 1\n  }\n }\n}\n";
    let cfg = keepalived(text);
    let vs = vs_key(&cfg.virtual_servers[0]);
    let mut t = Table::new(&cfg, &Known::default(), BTreeMap::new());
    assert_eq!(
        t.apply(&change(&vs, "[2001:db8::3]:8080", false)),
        Some(true)
    );
    for other in [
        "[2001:db8:0::3]:8080",
        "[2001:0db8::3]:8080",
        "2001:db8::3:8080",
        "[2001:db8::3]",
        "[2001:db8::3]:80",
        "",
        "x",
    ] {
        assert_eq!(t.apply(&change(&vs, other, true)), None, "{other:?}");
    }
    assert_eq!(
        t.apply(&change(&vs, "[2001:db8::3]:8080", true)),
        Some(true)
    );
    // The key a reload carries the health under is the same text.
    t.apply(&change(&vs, "[2001:db8::2]:80", false));
    t.reload(&cfg);
    assert_eq!(
        t.apply(&change(&vs, "[2001:db8::2]:80", false)),
        Some(false)
    );
    assert!(
        std::mem::size_of::<Rs>() <= 64,
        "a real server's entry grew to {} bytes",
        std::mem::size_of::<Rs>()
    );
}
