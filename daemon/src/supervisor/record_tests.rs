use super::*;
use crate::ipc::msg::{RealServerStatus, VirtualServerStatus};

fn cfg() -> Config {
    crate::config::load_str(
        "t.toml",
        r#"
[[vrrp_instance]]
name = "VI_1"
interface = "eth0"
virtual_router_id = 51
priority = 100
virtual_ipaddress = ["10.0.0.1/24"]
notify = { on_master = "/bin/true" }

[[vrrp_instance]]
name = "VI_2"
interface = "eth0"
virtual_router_id = 52
priority = 100
virtual_ipaddress = ["10.0.0.2/24"]

[[vrrp_sync_group]]
name = "G"
group = ["VI_1", "VI_2"]
notify = { on_master = "/bin/true" }

[[vrrp_script]]
name = "chk"
script = "/bin/true"
"#,
        crate::config::Format::Toml,
        &crate::config::LoadOptions::default(),
    )
    .config
}

fn t(name: &str, from: &str, to: &str) -> Transition {
    Transition {
        instance: name.into(),
        from: from.parse().unwrap(),
        to: to.parse().unwrap(),
        cause: "test".into(),
        priority: 100,
        maintenance: false,
    }
}

#[test]
fn transitions_notify_once_and_resume_is_silent() {
    let c = cfg();
    let mut r = Record::default();
    let n = r.transition(&c, &t("VI_1", "INIT", "BACKUP"));
    assert_eq!(n.len(), 1);
    assert_eq!(n[0].state, State::Backup);
    let n = r.transition(&c, &t("VI_1", "BACKUP", "MASTER"));
    assert_eq!((n[0].kind, n[0].state), ("INSTANCE", State::Master));
    // The VRRP worker restarted and resumed as Master: nothing to run.
    assert!(r.transition(&c, &t("VI_1", "INIT", "MASTER")).is_empty());
    assert_eq!(r.resume(Some(5)).states["VI_1"], State::Master);
    assert_eq!(r.resume(Some(5)).down_ms, Some(5));
}

/// Maintenance is notified on entering and leaving it, whether or not the
/// state changes, and once: a restarted worker saying it again is silent.
#[test]
fn maintenance_notifies_its_own_word_once() {
    let c = cfg();
    let mut r = Record::default();
    let maint = |from, to, on| Transition {
        maintenance: on,
        ..t("VI_1", from, to)
    };
    let _ = r.transition(&c, &t("VI_1", "INIT", "MASTER"));
    let n = r.transition(&c, &maint("MASTER", "BACKUP", true));
    assert_eq!((n[0].state, n[0].maintenance), (State::Backup, true));
    assert!(r.transition(&c, &maint("INIT", "BACKUP", true)).is_empty());
    let n = r.transition(&c, &maint("BACKUP", "BACKUP", false));
    assert_eq!((n[0].state, n[0].maintenance), (State::Backup, false));
    // A Backup put in maintenance: a transition to itself.
    let n = r.transition(&c, &maint("BACKUP", "BACKUP", true));
    assert!(n[0].maintenance);
    // A fault in maintenance is a fault.
    let n = r.transition(&c, &maint("BACKUP", "FAULT", true));
    assert_eq!((n[0].state, n[0].maintenance), (State::Fault, false));
    r.maintenance.insert("VI_1".into());
    assert!(r.resume(None).maintenance.contains("VI_1"));
}

#[test]
fn group_notifies_when_all_members_agree() {
    let c = cfg();
    let mut r = Record::default();
    let n = r.transition(&c, &t("VI_1", "INIT", "MASTER"));
    assert!(n.iter().all(|n| n.kind == "INSTANCE"));
    let n = r.transition(&c, &t("VI_2", "INIT", "MASTER"));
    assert!(
        n.iter()
            .any(|n| n.kind == "GROUP" && n.name == "G" && n.state == State::Master)
    );
    // Resumed members do not repeat the group notification.
    assert!(r.transition(&c, &t("VI_2", "INIT", "MASTER")).is_empty());
}

/// `r` after a commit of `cfg`: what it no longer has forgotten, a slot
/// for each of its checks (as `Parent::bind_records` does).
fn commit(r: &mut Record, cfg: &Config) {
    r.retain_configured(cfg);
    r.bind_to(cfg);
}

/// A result of `source`, run once, in `state`.
fn ran_once(source: String, state: Verdict) -> CheckStatus {
    CheckStatus {
        source,
        state,
        last_result: None,
        latency_us: None,
        failures: 0,
        runs: 1,
        value: None,
        policy: None,
        metrics: Vec::new(),
    }
}

#[test]
fn check_changes_are_routed_once() {
    let mut r = Record::default();
    let c = |state: &str| ran_once("script:chk".into(), state.parse().unwrap());
    assert_eq!(r.check(c("up")), None, "not a check of the configuration");
    commit(&mut r, &cfg());
    assert_eq!(r.check(c("unknown")), None);
    assert!(!r.take_verdict_changes());
    assert_eq!(r.check(c("up")), Some(("script:chk".into(), true, None)));
    assert!(r.take_verdict_changes());
    assert!(!r.take_verdict_changes(), "taken");
    let mut again = c("up");
    again.runs = 2;
    assert_eq!(r.check(again), None);
    assert!(
        !r.take_verdict_changes(),
        "counters alone change no verdict"
    );
    assert_eq!(
        r.checks.get("script:chk").map(|c| c.runs),
        Some(2),
        "recorded in place"
    );
    assert_eq!(r.check(c("down")), Some(("script:chk".into(), false, None)));
    assert!(r.take_verdict_changes());
    assert_eq!(
        r.checks.verdicts().collect::<Vec<_>>(),
        vec![("script:chk".to_string(), (false, None))]
    );
    assert_eq!(r.checks.len(), 1);
    commit(&mut r, &cfg());
    assert_eq!(r.checks.len(), 1, "kept across a commit that keeps it");
    commit(&mut r, &Config::default());
    assert!(r.tracks.is_empty() && r.checks.is_empty());
}

/// Regression (issue 18): forgetting what a reload removed looked every
/// recorded check up in a list of the configured ones, quadratic in the
/// number of checks (5 s at 40,000 in a debug build). The bound is far above
/// what a set takes (milliseconds), so that only the quadratic kind fails it.
#[test]
fn forgetting_removed_checks_is_not_quadratic() {
    let servers = |n: usize| {
        let mut text = String::from("virtual_server 10.0.0.1 80 {\n protocol TCP\n");
        for i in 0..n {
            text.push_str(&format!(
                " real_server 10.1.{}.{} 80 {{ TCP_CHECK {{ }} }}\n",
                i / 250,
                i % 250 + 1
            ));
        }
        text.push_str("}\n");
        crate::testutil::keepalived_config(&text)
    };
    let all = servers(40_000);
    let mut r = Record::default();
    commit(&mut r, &all);
    for source in crate::checker::configured(&all) {
        r.check(ran_once(source, Verdict::Up));
    }
    assert_eq!(
        (r.checks.len(), r.checks.verdicts().count()),
        (40_000, 40_000)
    );
    let half = servers(20_000);
    let started = std::time::Instant::now();
    commit(&mut r, &half);
    let took = started.elapsed();
    assert_eq!(
        (r.checks.len(), r.checks.verdicts().count()),
        (20_000, 20_000)
    );
    for source in crate::checker::configured(&half) {
        assert!(r.checks.contains(&source), "{source}");
    }
    assert!(took < std::time::Duration::from_secs(1), "{took:?}");
}

#[test]
fn real_server_health_is_recorded_for_replay() {
    let mut r = Record::bound_to(&crate::testutil::keepalived_config(
        "virtual_server 10.0.0.1 80 {\n protocol TCP\n real_server 10.0.0.2 80 {\n  TCP_CHECK {\n  }\n }\n}\n",
    ));
    let rs = |up| RealServerState {
        virtual_server: "10.0.0.1:80/tcp".into(),
        real_server: "10.0.0.2:80".into(),
        up,
        weight: 0,
    };
    r.real_server(&rs(false));
    r.real_server(&rs(false));
    assert_eq!(
        r.resume(None).real_servers_down["10.0.0.1:80/tcp"],
        vec!["10.0.0.2:80"]
    );
    r.real_server(&rs(true));
    assert!(r.resume(None).real_servers_down["10.0.0.1:80/tcp"].is_empty());
    // A FILE_CHECK's weight change is replayed too, until it is 0 again.
    r.real_server(&RealServerState {
        weight: 4,
        ..rs(true)
    });
    assert_eq!(
        r.resume(None).real_server_weights["10.0.0.1:80/tcp"]["10.0.0.2:80"],
        4
    );
    r.real_server(&rs(true));
    assert!(r.resume(None).real_server_weights["10.0.0.1:80/tcp"].is_empty());
    // Forgotten with the real server's check.
    r.real_server(&RealServerState {
        weight: 4,
        ..rs(true)
    });
    commit(
        &mut r,
        &crate::testutil::keepalived_config(
            "virtual_server 10.0.0.1 80 {\n protocol TCP\n real_server 10.0.0.3 80 {\n  TCP_CHECK {\n  }\n }\n}\n",
        ),
    );
    let resume = r.resume(None);
    assert!(resume.real_server_weights.is_empty());
    assert!(resume.real_servers_up.is_empty() && resume.real_servers_down.is_empty());
}

/// Regression (issue 18 review): the real servers' health lists forgot
/// nothing on reload, so they held every real server any configuration
/// since the start had. Now they keep the configured checks' only.
#[test]
fn real_server_health_is_forgotten_with_its_check() {
    // 50 checked real servers in each of two virtual servers.
    let mut text = String::new();
    for (vs, net) in [("10.0.0.1", 1), ("10.0.0.9", 2)] {
        text.push_str(&format!("virtual_server {vs} 80 {{\n protocol TCP\n"));
        for i in 0..50 {
            text.push_str(&format!(
                " real_server 10.0.{net}.{i} 80 {{\n  TCP_CHECK {{\n  }}\n }}\n"
            ));
        }
        text.push_str("}\n");
    }
    let mut r = Record::bound_to(&crate::testutil::keepalived_config(&text));
    let rs = |vs: &str, rs: &str, up| RealServerState {
        virtual_server: vs.into(),
        real_server: rs.into(),
        up,
        weight: 0,
    };
    for i in 0..50 {
        r.real_server(&rs(
            "10.0.0.1:80/tcp",
            &format!("10.0.1.{i}:80"),
            i % 2 == 0,
        ));
        r.real_server(&rs("10.0.0.9:80/tcp", &format!("10.0.2.{i}:80"), true));
    }
    let listed = |r: &Record, up| -> usize {
        let resume = r.resume(None);
        let lists = if up {
            resume.real_servers_up
        } else {
            resume.real_servers_down
        };
        lists.values().map(Vec::len).sum()
    };
    assert_eq!((listed(&r, true), listed(&r, false)), (75, 25));
    commit(
        &mut r,
        &crate::testutil::keepalived_config(
            "virtual_server 10.0.0.1 80 {\n protocol TCP\n real_server 10.0.1.2 80 {\n  TCP_CHECK {\n  }\n }\n real_server 10.0.1.3 80 {\n  TCP_CHECK {\n  }\n }\n real_server 10.0.1.4 80 {\n }\n}\n",
        ),
    );
    let resume = r.resume(None);
    assert_eq!(
        resume.real_servers_up.into_iter().collect::<Vec<_>>(),
        vec![(
            "10.0.0.1:80/tcp".to_string(),
            vec!["10.0.1.2:80".to_string()]
        )]
    );
    assert_eq!(
        resume.real_servers_down.into_iter().collect::<Vec<_>>(),
        vec![(
            "10.0.0.1:80/tcp".to_string(),
            vec!["10.0.1.3:80".to_string()]
        )]
    );
    commit(&mut r, &Config::default());
    let resume = r.resume(None);
    assert!(resume.real_servers_up.is_empty() && resume.real_servers_down.is_empty());
}

#[test]
fn summary_is_one_line() {
    let mut r = Record::default();
    assert_eq!(r.summary(), "no instances");
    r.instances.push(InstanceStatus {
        transitions: 1,
        ..InstanceStatus::new("VI_1", State::Master, 100)
    });
    r.virtual_servers.take(vec![VirtualServerStatus {
        key: "10.0.0.1:80/tcp".into(),
        scheduler: "wrr".into(),
        real_servers: vec![
            RealServerStatus {
                address: "10.0.0.2:80".parse().unwrap(),
                weight: 1,
                up: true,
                ..Default::default()
            },
            RealServerStatus {
                address: "10.0.0.3:80".parse().unwrap(),
                weight: 1,
                up: true,
                ..Default::default()
            },
        ],
        ..Default::default()
    }]);
    assert_eq!(r.summary(), "VI_1 MASTER prio 100; 2/2 real servers up");
    for k in 0..5 {
        let mut i = r.instances[0].clone();
        i.name = format!("VI_{k}");
        i.state = if k % 2 == 0 {
            State::Backup
        } else {
            State::Master
        };
        r.instances.push(i);
    }
    assert_eq!(
        r.summary(),
        "6 instances: 3 BACKUP, 3 MASTER; 2/2 real servers up"
    );
}
