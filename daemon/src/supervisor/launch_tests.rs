use std::collections::BTreeMap;

use super::*;
use crate::config::model::CheckKind;
use crate::config::{Format, LoadOptions};

/// Every section a worker might read: instances and a sync group, tracked
/// scripts, a process and a file, a FILE_CHECK, notify scripts, an IPv6
/// fwmark service with an unchecked real server, a group, and `n` TCP
/// checks over virtual servers of ten.
fn cfg(n: usize) -> Config {
    let mut text = String::from(
        r#"
global_defs { lvs_sync_daemon eth0 VI_1 }
vrrp_script chk { script "/bin/true" interval 2 }
vrrp_track_process nginx { process nginx }
vrrp_track_file tf { file "/run/tf" }
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 100
    virtual_ipaddress { 10.0.0.1/24 }
    track_script { chk }
    track_process { nginx }
    track_file { tf }
    notify_master "/bin/true"
}
vrrp_instance VI_2 {
    interface eth0
    virtual_router_id 52
    priority 100
    virtual_ipaddress { 10.0.1.1/24 }
}
vrrp_sync_group G { group { VI_1 VI_2 } }
virtual_server_group VSG { 10.0.0.1 443 }
virtual_server group VSG {
    real_server 192.168.0.9 443 { FILE_CHECK { track_file tf } }
}
virtual_server fwmark 7 {
    quorum_up "/bin/true"
    real_server 2001:db8::1 80 { TCP_CHECK { connect_timeout 1 } }
    real_server 2001:db8::2 80 { notify_up "/bin/true" }
}
"#,
    );
    for v in 0..n.div_ceil(10) {
        text.push_str(&format!(
            "virtual_server 10.0.0.1 {} {{\n    delay_loop 1\n    lb_kind DR\n    protocol TCP\n",
            1000 + v
        ));
        for r in 0..10.min(n - v * 10) {
            text.push_str(&format!(
                "    real_server 192.168.{}.{} 80 {{\n        notify_down \"/bin/true\"\n        TCP_CHECK {{\n            connect_ip 127.0.0.1\n            connect_timeout 1\n        }}\n    }}\n",
                v / 250,
                r + 1
            ));
        }
        text.push_str("}\n");
    }
    let loaded =
        crate::config::load_str("t.conf", &text, Format::Keepalived, &LoadOptions::default());
    let errors = loaded.diagnostics.messages(crate::config::Severity::Error);
    assert!(errors.is_empty(), "{errors:?}");
    loaded.config
}

#[test]
fn the_checker_gets_what_its_checks_need() {
    let full = cfg(30);
    let part = config_for(Role::Checker, &full);
    assert_eq!(
        crate::checker::spec::for_checker(&part),
        crate::checker::spec::for_checker(&full)
    );
    assert_eq!(
        crate::sandbox::landlock::Paths::of(&part, None),
        crate::sandbox::landlock::Paths::of(&full, None)
    );
    assert!(part.vrrp_instances.is_empty() && part.sync_groups.is_empty());
    let rs = &part.virtual_servers[1].real_servers;
    assert!(
        rs.iter()
            .all(|r| r.more.notify_up.is_none() && r.more.notify_down.is_none())
    );
}

#[test]
fn the_ipvs_worker_gets_its_table_and_no_vrrp_checks() {
    let full = cfg(30);
    let part = config_for(Role::Ipvs, &full);
    let known = crate::ipvs::table::Known::default();
    assert_eq!(
        crate::ipvs::table::Table::new(&part, &known, BTreeMap::new()),
        crate::ipvs::table::Table::new(&full, &known, BTreeMap::new())
    );
    assert!(part.vrrp_scripts.is_empty() && part.track_files.is_empty());
    // Which kinds check a server, not how.
    let c = &part.virtual_servers[2].real_servers[0].checkers[0];
    assert_eq!(*c, RealServerCheck::new(CheckKind::TcpCheck));
    assert!(part.virtual_servers[1].quorum_up.is_none());
}

#[test]
fn the_vrrp_worker_gets_no_virtual_servers() {
    let full = cfg(30);
    let part = config_for(Role::Vrrp, &full);
    assert!(part.virtual_servers.is_empty() && part.virtual_server_groups.is_empty());
    let vrrp_only = Config {
        virtual_servers: Vec::new(),
        virtual_server_groups: Vec::new(),
        ..full.clone()
    };
    assert_eq!(*part, vrrp_only);
    assert_eq!(*config_for(Role::Metrics, &full), Config::default());
}

/// What the parent serialises for each worker at start and reload: at
/// 2,000 checks the VRRP worker's part stays a few KiB (it was the whole
/// configuration, 2.4 MiB of heap in the VRRP worker), and the IPVS
/// worker's is well under the whole.
#[test]
fn a_workers_part_does_not_grow_with_what_it_does_not_run() {
    let full = cfg(2000);
    let size = |c: &Config| serde_json::to_vec(c).map_or(0, |v| v.len());
    let whole = size(&full);
    assert!(
        size(&config_for(Role::Vrrp, &full)) < 8 << 10,
        "{}",
        size(&config_for(Role::Vrrp, &full))
    );
    assert!(size(&config_for(Role::Ipvs, &full)) < whole * 3 / 4);
    assert!(size(&config_for(Role::Checker, &full)) < whole);
}

#[test]
fn each_worker_resumes_from_its_part_of_the_record() {
    let mut all = Resume {
        down_ms: Some(7),
        ..Resume::default()
    };
    all.states
        .insert("VI_1".into(), crate::vrrp::fsm::State::Master);
    all.tracks.insert("script:chk".into(), true);
    all.values.insert("file:tf".into(), 3);
    all.maintenance.insert("VI_2".into());
    all.real_servers_up
        .insert("10.0.0.1:1000/tcp".into(), vec!["192.168.0.1:80".into()]);
    all.real_servers_down
        .insert("10.0.0.1:1000/tcp".into(), vec!["192.168.0.2:80".into()]);
    all.real_server_weights
        .entry("group:VSG".into())
        .or_default()
        .insert("192.168.0.9:443".into(), -5);
    let vrrp = resume_for(Role::Vrrp, all.clone());
    assert_eq!(
        (
            vrrp.states.len(),
            vrrp.tracks.len(),
            vrrp.values.len(),
            vrrp.maintenance.len()
        ),
        (1, 1, 1, 1)
    );
    assert!(vrrp.real_servers_up.is_empty() && vrrp.real_servers_down.is_empty());
    assert!(vrrp.real_server_weights.is_empty());
    assert_eq!(vrrp.down_ms, Some(7));
    let ipvs = resume_for(Role::Ipvs, all.clone());
    assert_eq!(ipvs.states, all.states);
    assert_eq!(ipvs.real_servers_up, all.real_servers_up);
    assert_eq!(ipvs.real_servers_down, all.real_servers_down);
    assert_eq!(ipvs.real_server_weights, all.real_server_weights);
    assert!(ipvs.tracks.is_empty() && ipvs.maintenance.is_empty());
    let checker = resume_for(Role::Checker, all);
    assert_eq!(
        checker,
        Resume {
            down_ms: Some(7),
            ..Resume::default()
        }
    );
}

/// Issue 18: a worker runs only for what the configuration has; an LVS
/// director's configuration without a VRRP instance starts no VRRP
/// worker (keepalived starts no VRRP process then either).
#[test]
fn each_worker_runs_only_for_what_the_configuration_has() {
    let full = cfg(20);
    for role in [Role::Vrrp, Role::Ipvs, Role::Checker] {
        assert!(wanted(&full, role), "{role:?}");
    }
    assert!(!wanted(&full, Role::Metrics));
    let lvs_only = Config {
        vrrp_instances: Vec::new(),
        sync_groups: Vec::new(),
        ..full.clone()
    };
    assert!(!wanted(&lvs_only, Role::Vrrp));
    assert!(wanted(&lvs_only, Role::Ipvs) && wanted(&lvs_only, Role::Checker));
    let vrrp_only = Config {
        virtual_servers: Vec::new(),
        virtual_server_groups: Vec::new(),
        ..full
    };
    assert!(wanted(&vrrp_only, Role::Vrrp) && !wanted(&vrrp_only, Role::Ipvs));
    assert!(!wanted(&Config::default(), Role::Vrrp));
}
