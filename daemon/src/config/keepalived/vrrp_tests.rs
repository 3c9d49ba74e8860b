//! VRRP keywords of keepalived.conf: what the reader and validation make of them.

use crate::config::values::Millis;
use crate::config::{Format, LoadOptions, Loaded, Severity, load_str};

fn conf(text: &str) -> Loaded {
    load_str("k.conf", text, Format::Keepalived, &LoadOptions::default())
}

fn msgs(l: &Loaded, sev: Severity) -> Vec<String> {
    l.diagnostics
        .items()
        .iter()
        .filter(|d| d.severity == sev)
        .map(ToString::to_string)
        .collect()
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
