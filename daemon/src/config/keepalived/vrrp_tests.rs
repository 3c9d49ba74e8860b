//! VRRP keywords of keepalived.conf: what the reader and validation make of them.

use crate::config::values::Millis;
use crate::config::{Format, LoadOptions, Loaded, Severity, load_str};

fn conf(text: &str) -> Loaded {
    load_str("k.conf", text, Format::Keepalived, &LoadOptions::default())
}

fn msgs(l: &Loaded, sev: Severity) -> Vec<String> {
    l.diagnostics.messages(sev)
}

#[test]
fn garp_group() {
    let l = conf(
        "garp_group {\n    garp_interval 0.1\n    gna_interval 0.05\n    interface eth0\n}\ngarp_group {\n    gna_interval 0.2\n    interfaces {\n        eth1 eth2\n        eth0\n    }\n}\ngarp_group {\n    interface eth3\n}\n",
    );
    assert!(
        msgs(&l, Severity::Error).is_empty(),
        "{:#?}",
        msgs(&l, Severity::Error)
    );
    let g = &l.config.garp_groups;
    assert_eq!(g.len(), 2, "the one without an interval is dropped");
    assert_eq!(g[0].garp_interval, Some(Millis(100)));
    assert_eq!(g[0].gna_interval, Some(Millis(50)));
    assert_eq!(g[0].interfaces, ["eth0"]);
    assert_eq!(g[1].interfaces, ["eth1", "eth2", "eth0"]);
    let w = msgs(&l, Severity::Warning);
    assert!(
        w.iter()
            .any(|m| m.starts_with("k.conf:10:")
                && m.contains("garp_group already specified for eth0")),
        "{w:#?}"
    );
    assert!(
        w.iter().any(|m| m.starts_with("k.conf:13:")
            && m.contains("neither 'garp_interval' nor 'gna_interval'")),
        "{w:#?}"
    );
    let e = msgs(
        &conf("garp_group {\n    garp_intervall 1\n}\n"),
        Severity::Error,
    );
    assert!(e[0].contains("did you mean 'garp_interval'"), "{e:#?}");
}

#[test]
fn vrrp_garp_interval_and_vrrp_gna_interval_are_read_and_checked() {
    let l = conf("global_defs {\n    vrrp_garp_interval 0.1\n    vrrp_gna_interval 0.02\n}\n");
    assert!(l.is_ok());
    assert_eq!(l.config.global.vrrp_garp_interval, Some(Millis(100)));
    assert_eq!(l.config.global.vrrp_gna_interval, Some(Millis(20)));
    let e = msgs(
        &conf("global_defs {\n    vrrp_garp_interval 0\n}\n"),
        Severity::Error,
    );
    assert!(
        e.len() == 1
            && e[0].starts_with("k.conf:2:")
            && e[0].contains("'vrrp_garp_interval' 0 is invalid"),
        "{e:#?}"
    );
}

#[test]
fn vrrp_version_2_with_ipv6_runs_as_version_3_with_a_warning() {
    let l = conf(
        "vrrp_instance V6 {\n    interface eth0\n    version 2\n    virtual_router_id 1\n    virtual_ipaddress {\n        fd00::1/64\n    }\n}\n",
    );
    assert!(l.is_ok(), "{:#?}", msgs(&l, Severity::Error));
    let w = msgs(&l, Severity::Warning);
    assert!(
        w.iter().any(|m| m.starts_with("k.conf:3:")
            && m.contains("VRRP version 2 does not support IPv6; running as version 3")),
        "{w:#?}"
    );
    assert_eq!(l.config.vrrp_instances[0].version, Some(3));
    assert_eq!(
        l.config.vrrp_instances[0].effective_version(&l.config.global),
        3
    );
}

fn instance(extra: &str) -> String {
    format!(
        "vrrp_instance V {{\n    interface eth0\n    virtual_router_id 1\n    virtual_ipaddress {{\n        10.0.0.1/24\n    }}\n{extra}}}\n"
    )
}

#[test]
fn mcast_dst_ip() {
    let l = conf(&instance("    mcast_dst_ip 224.0.0.77\n"));
    assert!(l.is_ok(), "{:#?}", msgs(&l, Severity::Error));
    assert_eq!(
        l.config.vrrp_instances[0].mcast_dst_ip,
        Some("224.0.0.77".parse().unwrap())
    );
    for (value, needle) in [
        ("10.0.0.5", "is not multicast"),
        ("ff02::77", "must be IPv4 like the instance"),
    ] {
        let e = msgs(
            &conf(&instance(&format!("    mcast_dst_ip {value}\n"))),
            Severity::Error,
        );
        assert!(
            e.len() == 1 && e[0].starts_with("k.conf:7:") && e[0].contains(needle),
            "{value}: {e:#?}"
        );
    }
    let w = msgs(
        &conf(&instance(
            "    mcast_dst_ip 224.0.0.77\n    unicast_peer {\n        10.0.0.2\n    }\n",
        )),
        Severity::Warning,
    );
    assert!(
        w.iter().any(|m| m.contains("with unicast peers; ignored")),
        "{w:#?}"
    );
}

#[test]
fn down_timer_adverts_range_and_strict_mode() {
    let e = msgs(
        &conf(&instance("    down_timer_adverts 0\n")),
        Severity::Error,
    );
    assert!(e.len() == 1 && e[0].contains("expected 1-100"), "{e:#?}");
    let e = msgs(
        &conf("global_defs {\n    vrrp_down_timer_adverts 101\n}\n"),
        Severity::Error,
    );
    assert!(e.len() == 1 && e[0].starts_with("k.conf:2:"), "{e:#?}");
    let l = conf(&instance("    strict_mode\n    down_timer_adverts 5\n"));
    assert!(
        msgs(&l, Severity::Warning)
            .iter()
            .any(|m| m.contains("down_timer_adverts is incompatible with strict mode")),
        "{:#?}",
        msgs(&l, Severity::Warning)
    );
    assert_eq!(l.config.vrrp_instances[0].down_timer_adverts, Some(3));
}

#[test]
fn virtual_address_options_brd_broadcast_no_track() {
    let l = conf(&instance("").replace(
        "10.0.0.1/24",
        "10.0.0.1/24 brd +\n        10.0.1.1/24 brd -\n        10.0.2.1/24 broadcast 10.0.2.127 no_track\n        10.0.3.1/24 use_vmac mngtmpaddr",
    ));
    assert!(l.is_ok(), "{:#?}", msgs(&l, Severity::Error));
    let brd: Vec<Option<std::net::Ipv4Addr>> = l.config.vrrp_instances[0]
        .virtual_ipaddress
        .iter()
        .map(|v| v.brd)
        .collect();
    assert_eq!(
        brd,
        [
            Some("10.0.0.255".parse().unwrap()),
            Some("10.0.1.0".parse().unwrap()),
            Some("10.0.2.127".parse().unwrap()),
            None
        ]
    );
    // What upkeep does not implement is named.
    assert_eq!(
        l.diagnostics.unsupported_keywords(),
        ["use_vmac", "mngtmpaddr"]
    );
    let e = msgs(
        &conf(&instance("").replace("10.0.0.1/24", "10.0.0.1/31 brd +")),
        Severity::Error,
    );
    assert!(e[0].contains("too long for a broadcast address"), "{e:#?}");
}

#[test]
fn use_vmac_addr_and_vmac_addr_prefix_are_named_as_not_supported() {
    let l = conf(&format!(
        "global_defs {{\n    vmac_prefix vip\n    vmac_addr_prefix vipa\n}}\n{}",
        instance("    use_vmac\n    use_vmac_addr\n")
    ));
    assert!(l.is_ok(), "{:#?}", msgs(&l, Severity::Error));
    assert_eq!(l.config.global.vmac_prefix.as_deref(), Some("vip"));
    assert_eq!(
        l.diagnostics.unsupported_keywords(),
        ["vmac_addr_prefix", "use_vmac_addr"]
    );
}
