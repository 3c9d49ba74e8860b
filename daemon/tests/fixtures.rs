//! Acceptance: our users' configurations and keepalived's samples load,
//! keep what they say, report what they drop, and survive conversion to TOML.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test crate fails by panicking

mod common;

use std::net::IpAddr;
use std::path::Path;

use upkeep::config::{self, Format, LoadOptions, Loaded, Severity, native};

fn load(path: &Path) -> Loaded {
    config::load(path, &LoadOptions::default())
}

fn errors(l: &Loaded) -> Vec<String> {
    l.diagnostics.messages(Severity::Error)
}

#[test]
fn seeds_load_without_errors() {
    let seeds = common::valid_seeds();
    assert_eq!(seeds.len(), 7, "{seeds:?}");
    for p in seeds {
        let l = load(&p);
        assert!(errors(&l).is_empty(), "{}: {:#?}", p.display(), errors(&l));
        assert!(!l.config.vrrp_instances.is_empty(), "{}", p.display());
    }
}

#[test]
fn seeds_keep_interfaces_and_addresses_as_written() {
    let l = load(&common::seeds().join("haproxy-master.conf"));
    let i = &l.config.vrrp_instances[0];
    assert_eq!(i.interface, "enp0s3");
    assert_eq!(i.virtual_ipaddress[0].to_string(), "192.168.1.220/32");
    assert_eq!(i.track_script[0].name, "chk_haproxy");
    assert_eq!(
        l.config.vrrp_scripts[0].script,
        "/etc/keepalived/haproxy_check.sh"
    );
    assert_eq!(l.config.vrrp_scripts[0].weight, 2);
    assert_eq!(
        i.authentication.as_ref().map(|a| a.auth_pass.as_str()),
        Some("123456")
    );

    let l = load(&common::seeds().join("nginx-backup.conf"));
    let i = &l.config.vrrp_instances[0];
    assert_eq!((i.interface.as_str(), i.priority), ("eth0", 99));
    assert_eq!(
        i.mcast_src_ip,
        Some("192.168.1.104".parse::<IpAddr>().unwrap())
    );
    assert_eq!(
        i.authentication.as_ref().map(|a| a.auth_pass.as_str()),
        Some("1111222")
    );

    let l = load(&common::seeds().join("lvs-dr-backup.conf"));
    assert_eq!(
        l.config.global.vrrp_mcast_group4,
        Some("234.10.10.10".parse().unwrap())
    );
    let vs = &l.config.virtual_servers[0];
    assert_eq!(vs.label(), "10.0.0.100:80");
    assert_eq!(
        vs.sorry_server.as_ref().map(|s| (s.ip.to_string(), s.port)),
        Some(("127.0.0.1".into(), Some(80)))
    );
    assert_eq!(vs.real_servers.len(), 2);
    assert_eq!(vs.real_servers[1].weight, 2);
    assert_eq!(vs.real_servers[0].checkers[0].retry, Some(3));

    let a = load(&common::seeds().join("lvs-dr-dual-a.conf"));
    let b = load(&common::seeds().join("lvs-dr-dual-b.conf"));
    let roles = |l: &Loaded| {
        l.config
            .vrrp_instances
            .iter()
            .map(|i| (i.name.clone(), i.state, i.priority))
            .collect::<Vec<_>>()
    };
    use upkeep::config::model::InitialState::{Backup, Master};
    assert_eq!(
        roles(&a),
        vec![("VI_1".into(), Master, 100), ("VI_2".into(), Backup, 80)]
    );
    assert_eq!(
        roles(&b),
        vec![("VI_1".into(), Backup, 80), ("VI_2".into(), Master, 100)]
    );
}

#[test]
fn typo_fixtures_name_the_line_keyword_and_expectation() {
    let l = load(&common::seeds().join("haproxy-master-typo.conf"));
    let e = errors(&l);
    assert_eq!(e.len(), 1, "{e:#?}");
    assert!(
        e[0].contains("haproxy-master-typo.conf:1:1: error: unknown keyword 'g1obal_defs'"),
        "{}",
        e[0]
    );
    assert!(e[0].contains("did you mean 'global_defs'?"), "{}", e[0]);

    let l = load(&common::seeds().join("nginx-backup-typo.conf"));
    let e = errors(&l);
    assert_eq!(e.len(), 1, "{e:#?}");
    assert!(
        e[0].ends_with("nginx-backup-typo.conf:14:11: error: invalid value 'SLAVER' for 'state': expected one of MASTER, BACKUP"),
        "{}",
        e[0]
    );
}

/// Per sample, the keywords reported "accepted but not supported". A keyword
/// that starts being dropped silently, or stops being reported, fails here.
const PINNED_UNSUPPORTED: [(&str, &[&str]); 25] = [
    ("keepalived.conf.HTTP_GET.port", &[]),
    ("keepalived.conf.IPv6", &[]),
    ("keepalived.conf.PING_CHECK", &[]),
    ("keepalived.conf.SMTP_CHECK", &[]),
    ("keepalived.conf.SSL_GET", &["auth_type AH"]),
    ("keepalived.conf.UDP_CHECK", &[]),
    ("keepalived.conf.conditional_conf", &[]),
    ("keepalived.conf.fwmark", &[]),
    ("keepalived.conf.inhibit", &[]),
    ("keepalived.conf.misc_check", &[]),
    ("keepalived.conf.misc_check_arg", &[]),
    ("keepalived.conf.quorum", &[]),
    ("keepalived.conf.sample", &[]),
    ("keepalived.conf.status_code", &[]),
    (
        "keepalived.conf.track_interface",
        &["static_routes", "virtual_routes"],
    ),
    ("keepalived.conf.virtual_server_group", &[]),
    ("keepalived.conf.virtualhost", &[]),
    ("keepalived.conf.vrrp", &[]),
    ("keepalived.conf.vrrp.localcheck", &[]),
    // lvs_sync_daemon_interface is supported (the IPVS sync daemon).
    ("keepalived.conf.vrrp.lvs_syncd", &[]),
    (
        "keepalived.conf.vrrp.routes",
        &["static_routes", "virtual_routes"],
    ),
    (
        "keepalived.conf.vrrp.rules",
        &["static_rules", "virtual_rules"],
    ),
    ("keepalived.conf.vrrp.scripts", &[]),
    (
        "keepalived.conf.vrrp.static_ipaddress",
        &["static_ipaddress", "virtual_routes"],
    ),
    ("keepalived.conf.vrrp.sync", &[]),
];

#[test]
fn keepalived_samples_load_with_pinned_unsupported_warnings() {
    let files = common::sample_files();
    // The issue counts 24; keepalived 2.4's doc/samples has these 25.
    assert_eq!(files.len(), 25, "{files:?}");
    for p in files {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let l = load(&p);
        assert!(errors(&l).is_empty(), "{name}: {:#?}", errors(&l));
        let pinned = PINNED_UNSUPPORTED
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("{name} has no pinned warning list"))
            .1;
        assert_eq!(
            l.diagnostics.unsupported_keywords(),
            pinned.to_vec(),
            "{name}"
        );
    }
}

#[test]
fn conditional_sample_with_each_config_id() {
    let p = common::samples().join("keepalived.conf.conditional_conf");
    for (id, prio, script) in [
        ("high", 170, "/etc/keepalived/scripts/check_high_VI_0.sh"),
        ("low", 85, "/etc/keepalived/scripts/check_low_VI_0.sh"),
    ] {
        let l = config::load(
            &p,
            &LoadOptions {
                config_id: Some(id.into()),
            },
        );
        assert!(errors(&l).is_empty(), "{id}: {:#?}", errors(&l));
        assert_eq!(l.diagnostics.unsupported_keywords(), vec!["net_namespace"]);
        let i = &l.config.vrrp_instances[0];
        assert_eq!(
            (i.priority, i.version, i.advert_int.as_millis()),
            (prio, Some(3), 12_000)
        );
        assert!(i.use_vmac.is_some());
        assert_eq!(l.config.vrrp_scripts[0].script, script);
    }
}

/// convert → TOML → model equals the model read from the original.
fn assert_round_trip(path: &Path, opts: &LoadOptions) {
    let original = config::load(path, opts);
    assert!(original.is_ok(), "{}", path.display());
    let dropped = original.diagnostics.dropped_keywords();
    let toml = native::to_toml(&original.config, &path.display().to_string(), &dropped).unwrap();
    let back = config::load_str(
        "converted.toml",
        &toml,
        Format::Toml,
        &LoadOptions::default(),
    );
    assert!(
        back.is_ok(),
        "{}: {:#?}\n{toml}",
        path.display(),
        back.diagnostics.items()
    );
    assert_eq!(back.config, original.config, "{}:\n{toml}", path.display());
    // Converting again is a fixed point.
    let again = native::to_toml(&back.config, &path.display().to_string(), &dropped).unwrap();
    assert_eq!(again, toml);
}

#[test]
fn every_fixture_round_trips_through_toml() {
    let mut files = common::valid_seeds();
    files.extend(common::sample_files());
    for p in &files {
        assert_round_trip(p, &LoadOptions::default());
    }
    let cond = common::samples().join("keepalived.conf.conditional_conf");
    for id in ["high", "low"] {
        assert_round_trip(
            &cond,
            &LoadOptions {
                config_id: Some(id.into()),
            },
        );
    }
}
