//! One test (at least) per validation rule.

use crate::config::model::{AuthType, RealServerCheck};
use crate::config::{Format, LoadOptions, Loaded, Severity, load_str};

fn conf(text: &str) -> Loaded {
    load_str("v.conf", text, Format::Keepalived, &LoadOptions::default())
}

fn toml(text: &str) -> Loaded {
    load_str("v.toml", text, Format::Toml, &LoadOptions::default())
}

fn messages(l: &Loaded, sev: Severity) -> Vec<String> {
    l.diagnostics.messages(sev)
}

fn errors(l: &Loaded) -> Vec<String> {
    messages(l, Severity::Error)
}

fn warnings(l: &Loaded) -> Vec<String> {
    messages(l, Severity::Warning)
}

/// A valid instance with `extra` lines added inside it.
fn instance(name: &str, extra: &str) -> String {
    format!(
        "vrrp_instance {name} {{\n    interface eth0\n    virtual_router_id 51\n    priority 100\n    virtual_ipaddress {{\n        10.0.0.1\n    }}\n{extra}\n}}\n"
    )
}

fn assert_one_error(l: &Loaded, needles: &[&str]) {
    let e = errors(l);
    assert_eq!(e.len(), 1, "expected one error, got {e:#?}");
    for n in needles {
        assert!(e[0].contains(n), "error {:?} lacks {n:?}", e[0]);
    }
}

#[test]
fn baseline_instance_is_valid() {
    let l = conf(&instance("VI_1", ""));
    assert!(
        l.diagnostics.items().is_empty(),
        "{:?}",
        l.diagnostics.items()
    );
}

#[test]
fn vrid_must_be_1_to_255() {
    for bad in ["0", "256", "1000"] {
        let l = conf(
            &instance("VI_1", "")
                .replace("virtual_router_id 51", &format!("virtual_router_id {bad}")),
        );
        assert_one_error(
            &l,
            &[
                "v.conf:3:5: error:",
                "'virtual_router_id'",
                bad,
                "expected 1-255",
            ],
        );
    }
    let l = conf(&instance("VI_1", "").replace("virtual_router_id 51", "virtual_router_id 255"));
    assert!(errors(&l).is_empty());
}

#[test]
fn priority_must_be_1_to_255_and_owner_is_master() {
    for bad in ["0", "256"] {
        let l = conf(&instance("VI_1", "").replace("priority 100", &format!("priority {bad}")));
        assert_one_error(&l, &["v.conf:4:5:", "'priority'", "expected 1-255"]);
    }
    let l = conf(&instance("VI_1", "    state BACKUP").replace("priority 100", "priority 255"));
    assert!(errors(&l).is_empty());
    assert!(
        warnings(&l)[0].contains("address owner"),
        "{:?}",
        warnings(&l)
    );
}

#[test]
fn advert_int_v2_is_whole_seconds_1_to_255() {
    for bad in ["1.5", "0", "256", "0.01"] {
        let l = conf(&instance("VI_1", &format!("    advert_int {bad}")));
        assert_one_error(&l, &["'advert_int'", "VRRPv2", "whole seconds 1-255"]);
    }
    for ok in ["1", "255"] {
        assert!(errors(&conf(&instance("VI_1", &format!("    advert_int {ok}")))).is_empty());
    }
}

#[test]
fn advert_int_v3_is_centiseconds_up_to_40_95() {
    for bad in ["41", "0.015", "0.001", "0"] {
        let l = conf(&instance(
            "VI_1",
            &format!("    version 3\n    advert_int {bad}"),
        ));
        assert_one_error(&l, &["'advert_int'", "VRRPv3", "0.01-40.95"]);
    }
    for ok in ["0.01", "0.1", "40.95", "12"] {
        let l = conf(&instance(
            "VI_1",
            &format!("    version 3\n    advert_int {ok}"),
        ));
        assert!(errors(&l).is_empty(), "{ok}: {:?}", errors(&l));
    }
    // The global vrrp_version applies when the instance does not say.
    let l = conf(&format!(
        "global_defs {{\n vrrp_version 3\n}}\n{}",
        instance("VI_1", "    advert_int 0.05")
    ));
    assert!(errors(&l).is_empty(), "{:?}", errors(&l));
}

#[test]
fn version_must_be_2_or_3() {
    let l = conf(&instance("VI_1", "    version 4"));
    assert_one_error(&l, &["'version' 4", "expected 2 or 3"]);
    let l = conf(&format!(
        "global_defs {{\n vrrp_version 1\n}}\n{}",
        instance("VI_1", "")
    ));
    assert!(
        errors(&l).iter().any(|e| e.contains("'vrrp_version' 1")),
        "{:?}",
        errors(&l)
    );
}

#[test]
fn duplicate_vrid_on_one_interface_and_family() {
    let a = instance("VI_1", "");
    let b = instance("VI_2", "");
    let l = conf(&format!("{a}{b}"));
    assert_one_error(
        &l,
        &[
            "VI_2",
            "virtual_router_id 51 is already used by vrrp_instance VI_1 on eth0",
        ],
    );
    // Another interface, or another family, is a different router.
    let other_if = instance("VI_2", "").replace("eth0", "eth1");
    assert!(errors(&conf(&format!("{a}{other_if}"))).is_empty());
    let v6 = instance("VI_2", "").replace("10.0.0.1", "fd00::1");
    assert!(errors(&conf(&format!("{a}{v6}"))).is_empty());
}

#[test]
fn vip_family_must_match_instance() {
    let l = conf(&instance("VI_1", "").replace("10.0.0.1\n", "10.0.0.1\n        fd00::5\n"));
    assert_one_error(
        &l,
        &["v.conf:7:9:", "fd00::5 is IPv6 but the instance is IPv4"],
    );
}

#[test]
fn ipv6_needs_version_3() {
    let v6 = instance("VI_1", "").replace("10.0.0.1", "fd00::1");
    assert!(errors(&conf(&v6)).is_empty(), "IPv6 defaults to v3");
    // keepalived 2.2.7 runs such an instance as v3; upkeep says so (warning).
    let l = conf(&instance("VI_1", "    version 2").replace("10.0.0.1", "fd00::1"));
    assert!(errors(&l).is_empty(), "{:#?}", errors(&l));
    assert!(
        warnings(&l)
            .iter()
            .any(|w| w.contains("version 2 does not support IPv6; running as version 3")),
        "{:#?}",
        warnings(&l)
    );
    assert_eq!(l.config.vrrp_instances[0].version, Some(3));
}

#[test]
fn source_and_peer_addresses_match_family() {
    let l = conf(&instance(
        "VI_1",
        "    unicast_src_ip fd00::1\n    unicast_peer {\n        fd00::2\n        10.0.0.9\n    }",
    ));
    let e = errors(&l);
    assert_eq!(e.len(), 2, "{e:#?}");
    assert!(e[0].contains("'unicast_src_ip' fd00::1 is not IPv4"));
    assert!(e[1].contains("unicast peer fd00::2 is not IPv4"));
    let l = conf(&instance("VI_1", "    mcast_src_ip fd00::1"));
    assert_one_error(&l, &["'mcast_src_ip'"]);
}

#[test]
fn interface_is_required() {
    let l = conf(&instance("VI_1", "").replace("    interface eth0\n", ""));
    assert_one_error(&l, &["v.conf:1:1:", "'interface' is required"]);
}

#[test]
fn auth_pass_longer_than_8_bytes_is_truncated_with_a_warning() {
    let l = conf(&instance(
        "VI_1",
        "    authentication {\n        auth_type PASS\n        auth_pass 1234567890\n    }",
    ));
    assert!(errors(&l).is_empty());
    let w = warnings(&l);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("truncated to '12345678'"), "{}", w[0]);
    let auth = l.config.vrrp_instances[0].authentication.as_ref().unwrap();
    assert_eq!(
        (auth.auth_type, auth.auth_pass.as_str()),
        (AuthType::Pass, "12345678")
    );
    // Exactly 8 is fine.
    let l = conf(&instance(
        "VI_1",
        "    authentication {\n        auth_type PASS\n        auth_pass 12345678\n    }",
    ));
    assert!(l.diagnostics.items().is_empty());
}

#[test]
fn auth_pass_truncation_respects_utf8() {
    let l = conf(&instance(
        "VI_1",
        "    authentication {\n        auth_type PASS\n        auth_pass ééééé\n    }",
    ));
    let auth = l.config.vrrp_instances[0].authentication.as_ref().unwrap();
    assert_eq!(auth.auth_pass, "éééé");
}

#[test]
fn auth_is_ignored_in_v3_and_pass_needs_a_password() {
    let l = conf(&instance(
        "VI_1",
        "    version 3\n    authentication {\n        auth_type PASS\n        auth_pass x\n    }",
    ));
    assert!(warnings(&l)[0].contains("VRRPv3 has no authentication"));
    let l = conf(&instance(
        "VI_1",
        "    authentication {\n        auth_type PASS\n    }",
    ));
    assert_one_error(&l, &["needs an 'auth_pass'"]);
}

#[test]
fn track_references_must_exist() {
    let text = format!(
        "vrrp_script chk_haproxy {{\n script \"true\"\n}}\n{}",
        instance(
            "VI_1",
            "    track_script {\n        chk_haprox\n    }\n    track_process {\n        proc1\n    }\n    track_file {\n        f1\n    }"
        )
    );
    let l = conf(&text);
    let e = errors(&l);
    assert_eq!(e.len(), 3, "{e:#?}");
    assert!(
        e[0].contains("v.conf:12:9:")
            && e[0].contains("'chk_haprox'")
            && e[0].contains("did you mean 'chk_haproxy'?"),
        "{}",
        e[0]
    );
    assert!(e[1].contains("'proc1'") && e[1].contains("vrrp_track_process"));
    assert!(e[2].contains("'f1'") && e[2].contains("vrrp_track_file"));
}

#[test]
fn sync_group_members_must_exist_once() {
    let two = format!(
        "{}{}",
        instance("VI_1", ""),
        instance("VI_2", "").replace("eth0", "eth1")
    );
    let l = conf(&format!(
        "vrrp_sync_group G {{\n group {{\n  VI_1\n  VI_3\n }}\n}}\n{two}"
    ));
    assert_one_error(
        &l,
        &[
            "v.conf:4:3:",
            "member 'VI_3' is not a vrrp_instance",
            "did you mean",
        ],
    );
    let l = conf(&format!(
        "vrrp_sync_group G {{\n group {{\n  VI_1\n  VI_2\n }}\n}}\nvrrp_sync_group H {{\n group {{\n  VI_1\n  VI_2\n }}\n}}\n{two}"
    ));
    let e = errors(&l);
    assert_eq!(e.len(), 2, "{e:#?}");
    assert!(e[0].contains("already a member of vrrp_sync_group G"));
    let l = conf(&format!(
        "vrrp_sync_group G {{\n group {{\n  VI_1\n }}\n}}\n{two}"
    ));
    assert!(warnings(&l)[0].contains("fewer than 2 members"));
}

#[test]
fn names_must_be_unique() {
    let l = conf(&format!(
        "{}{}",
        instance("VI_1", ""),
        instance("VI_1", "").replace("eth0", "eth1")
    ));
    assert_one_error(
        &l,
        &["duplicate vrrp_instance 'VI_1' (first at v.conf:1:1)"],
    );
    let l = conf("vrrp_script a {\n script x\n}\nvrrp_script a {\n script y\n}\n");
    assert_one_error(&l, &["duplicate vrrp_script 'a'"]);
}

#[test]
fn preempt_rules() {
    let l = conf(&instance("VI_1", "    preempt_delay 1001"));
    assert_one_error(&l, &["'preempt_delay' 1001 s is out of range"]);
    let l = conf(&instance(
        "VI_1",
        "    state BACKUP\n    nopreempt\n    preempt_delay 5",
    ));
    assert!(
        warnings(&l)
            .iter()
            .any(|w| w.contains("no effect with 'nopreempt'"))
    );
    let l = conf(&instance("VI_1", "    state MASTER\n    nopreempt"));
    assert!(
        warnings(&l)
            .iter()
            .any(|w| w.contains("'nopreempt' needs 'state BACKUP'"))
    );
    assert!(!l.config.vrrp_instances[0].preempt);
}

#[test]
fn script_rules() {
    let l = conf("vrrp_script s {\n interval 0\n rise 0\n fall 0\n weight 300\n timeout 0\n}\n");
    let e = errors(&l);
    assert_eq!(e.len(), 5, "{e:#?}");
    assert!(
        e.iter()
            .any(|m| m.contains("v.conf:2:2:") && m.contains("'interval' must be more than 0"))
    );
    assert!(e.iter().any(|m| m.contains("'rise' must be at least 1")));
    assert!(e.iter().any(|m| m.contains("'fall' must be at least 1")));
    assert!(e.iter().any(|m| m.contains("'weight' 300 is out of range")));
    assert!(
        e.iter()
            .any(|m| m.contains("'timeout' must be more than 0"))
    );
    assert!(warnings(&l)[0].contains("has no 'script'"));
    let l = conf(
        "vrrp_track_process p {\n quorum 3\n quorum_max 2\n}\nvrrp_track_file f {\n weight 1\n}\n",
    );
    let e = errors(&l);
    assert_eq!(e.len(), 3, "{e:#?}");
}

const RS: &str = "    real_server 10.0.1.1 80 {\n        weight 1\n        TCP_CHECK {\n            connect_timeout 3\n        }\n    }\n";

#[test]
fn virtual_server_forms_and_duplicates() {
    let vs = format!("virtual_server 10.0.0.1 80 {{\n    protocol TCP\n{RS}}}\n");
    assert!(
        conf(&vs).diagnostics.items().is_empty(),
        "{:?}",
        conf(&vs).diagnostics.items()
    );
    let l = conf(&format!("{vs}{vs}"));
    assert_one_error(
        &l,
        &["duplicate virtual_server 10.0.0.1:80/tcp (first at v.conf:1:1)"],
    );
    let l = conf(&format!("virtual_server 10.0.0.1 {{\n{RS}}}\n"));
    assert_one_error(&l, &["needs a port"]);
    let l = conf(&format!("virtual_server group NOPE {{\n{RS}}}\n"));
    assert_one_error(&l, &["no virtual_server_group named 'NOPE'"]);
    let l = toml("[[virtual_server]]\nip = \"10.0.0.1\"\nport = 80\nfwmark = 3\n");
    assert_one_error(&l, &["v.toml:1:1:", "exactly one of"]);
}

/// Regression (issue 15 corpus, lvs-udp-dns-resolvers.conf): DNS over UDP
/// and over TCP on one address and port are two services, as they are to
/// keepalived and the kernel; so are fwmark 1 over IPv4 and over IPv6.
#[test]
fn virtual_server_identity_includes_protocol_and_family() {
    let udp = format!("virtual_server 10.0.0.1 53 {{\n    protocol UDP\n{RS}}}\n");
    let tcp = format!("virtual_server 10.0.0.1 53 {{\n    protocol TCP\n{RS}}}\n");
    let l = conf(&format!("{udp}{tcp}"));
    assert!(!l.diagnostics.has_errors(), "{:?}", l.diagnostics.items());
    let l = conf(&format!("{udp}{tcp}{udp}"));
    assert_one_error(
        &l,
        &["duplicate virtual_server 10.0.0.1:53/udp (first at v.conf:1:1)"],
    );
    let rs6 = "    real_server 2001:db8::2 80 {\n        weight 1\n    }\n";
    let fw4 = format!("virtual_server fwmark 1 {{\n{RS}}}\n");
    let fw6 = format!("virtual_server fwmark 1 {{\n{rs6}}}\n");
    let l = conf(&format!("{fw4}{fw6}"));
    assert!(!l.diagnostics.has_errors(), "{:?}", l.diagnostics.items());
    let l = conf(&format!("{fw6}{fw6}"));
    assert_one_error(&l, &["duplicate virtual_server fwmark:1/v6"]);
}

#[test]
fn quorum_and_hysteresis() {
    let l = conf(&format!(
        "virtual_server 10.0.0.1 80 {{\n    protocol TCP\n    quorum 0\n{RS}}}\n"
    ));
    assert_one_error(&l, &["v.conf:3:5:", "'quorum' must be at least 1"]);
    let l = conf(&format!(
        "virtual_server 10.0.0.1 80 {{\n    protocol TCP\n    quorum 2\n    hysteresis 2\n{RS}}}\n"
    ));
    assert_one_error(&l, &["'hysteresis' must be below 'quorum'"]);
}

#[test]
fn real_server_rules() {
    let l = conf(&format!(
        "virtual_server 10.0.0.1 80 {{\n    protocol TCP\n{RS}{RS}}}\n"
    ));
    assert_one_error(&l, &["real_server 10.0.1.1 is listed twice"]);
    let v6 = RS.replace("10.0.1.1", "fd00::9");
    let l = conf(&format!(
        "virtual_server 10.0.0.1 80 {{\n    protocol TCP\n{v6}}}\n"
    ));
    assert_one_error(&l, &["not the same address family"]);
    let l = conf(&format!(
        "virtual_server 10.0.0.1 80 {{\n    protocol TCP\n    lb_kind TUN\n{v6}}}\n"
    ));
    assert!(errors(&l).is_empty(), "TUN may mix families");
    let l = conf(&format!(
        "virtual_server 10.0.0.1 80 {{\n    protocol TCP\n{}}}\n",
        RS.replace("weight 1", "weight -1")
    ));
    assert_one_error(&l, &["'weight' -1 is out of range"]);
}

#[test]
fn http_checker_rules() {
    let check = |body: &str| {
        conf(&format!(
            "virtual_server 10.0.0.1 80 {{\n    protocol TCP\n real_server 10.0.1.1 80 {{\n  HTTP_GET {{\n{body}\n  }}\n }}\n}}\n"
        ))
    };
    assert_one_error(
        &check("   connect_timeout 3"),
        &["needs at least one 'url'"],
    );
    assert_one_error(
        &check("   url {\n    path /\n    digest xyz\n   }"),
        &["digest 'xyz' is not an MD5 digest"],
    );
    assert_one_error(
        &check("   url {\n    path index.html\n   }"),
        &["must start with '/'"],
    );
    assert!(errors(&check("   url {\n    path /\n    digest 640205b7b0fc66c1ea91c463fac6334d\n    status_code 200-299 503\n   }")).is_empty());
}

#[test]
fn checker_fields_belong_to_their_kind() {
    let base = "[[virtual_server]]\nip = \"10.0.0.1\"\nport = 80\n[[virtual_server.real_server]]\nip = \"10.0.1.1\"\nport = 80\n[[virtual_server.real_server.checker]]\n";
    let l = toml(&format!(
        "{base}type = \"TCP_CHECK\"\nmisc_path = \"/bin/true\"\nvirtualhost = \"x\"\n"
    ));
    let e = errors(&l);
    assert_eq!(e.len(), 2, "{e:#?}");
    assert!(
        e.iter()
            .any(|m| m.contains("v.toml:10:1:") && m.contains("'virtualhost' belongs to HTTP_GET"))
    );
    assert!(
        e.iter()
            .any(|m| m.contains("v.toml:9:1:") && m.contains("'misc_path' belongs to MISC_CHECK"))
    );
    let l = toml(&format!("{base}type = \"MISC_CHECK\"\n"));
    assert_one_error(&l, &["needs 'misc_path'"]);
    let l = toml(&format!(
        "{base}type = \"TCP_CHECK\"\nconnect_timeout = 0\n"
    ));
    assert_one_error(&l, &["'connect_timeout' must be more than 0"]);
    let l = toml(&format!(
        "{base}type = \"TCP_CHECK\"\nrequire_reply = true\ndns_name = \"x\"\n"
    ));
    let e = errors(&l);
    assert_eq!(e.len(), 2, "{e:#?}");
    assert!(
        e.iter().any(
            |m| m.contains("v.toml:9:1:") && m.contains("'require_reply' belongs to UDP_CHECK")
        )
    );
    assert!(
        e.iter()
            .any(|m| m.contains("v.toml:10:1:") && m.contains("'dns_name' belongs to DNS_CHECK"))
    );
    let l = toml(&format!("{base}type = \"UDP_CHECK\"\nreply = \"4f4b\"\n"));
    assert_one_error(&l, &["'reply' needs 'require_reply = true'"]);
    let l = toml(&format!(
        "{base}type = \"UDP_CHECK\"\npayload = \"01 02\"\nrequire_reply = true\nreply = \"4f 4b x0\"\nmax_reply_length = 64\n"
    ));
    assert!(errors(&l).is_empty(), "{:#?}", errors(&l));
    let l = toml(&format!(
        "{base}type = \"DNS_CHECK\"\ndns_type = \"MX\"\ndns_name = \"example.com\"\n"
    ));
    assert!(errors(&l).is_empty(), "{:#?}", errors(&l));
    let l = toml(&format!("{base}type = \"DNS_CHECK\"\ndns_type = \"SRV\"\n"));
    assert!(!errors(&l).is_empty());
}

#[test]
fn every_problem_is_reported_not_just_the_first() {
    let text = instance(
        "VI_1",
        "    advert_int 1.5\n    track_script {\n        nope\n    }",
    )
    .replace("virtual_router_id 51", "virtual_router_id 0")
    .replace("priority 100", "priority 300");
    let l = conf(&text);
    assert_eq!(errors(&l).len(), 4, "{:#?}", errors(&l));
}

#[test]
fn toml_reports_validation_at_the_key() {
    let l = toml(
        "[[vrrp_instance]]\nname = \"VI_1\"\ninterface = \"eth0\"\nvirtual_router_id = 300\nvirtual_ipaddress = [\"10.0.0.1\"]\n",
    );
    assert_one_error(
        &l,
        &["v.toml:4:1:", "'virtual_router_id' 300 is out of range"],
    );
}

// Regression: the global version was checked inside the instance loop, so it
// was reported once per instance, and never without instances.
#[test]
fn global_vrrp_version_is_checked_once() {
    let l = conf("global_defs {\n vrrp_version 4\n}\n");
    assert_one_error(&l, &["v.conf:2:2:", "'vrrp_version' 4 is invalid"]);
    let two = format!(
        "{}{}",
        instance("VI_1", ""),
        instance("VI_2", "").replace("eth0", "eth1")
    );
    let l = conf(&format!("global_defs {{\n vrrp_version 4\n}}\n{two}"));
    assert_one_error(&l, &["'vrrp_version' 4 is invalid"]);
}

// Regression: AH was only reported by the keepalived reader, not for TOML.
#[test]
fn auth_type_ah_is_reported_from_either_format() {
    let l = toml(
        "[[vrrp_instance]]\nname = \"VI_1\"\ninterface = \"eth0\"\nvirtual_router_id = 5\nvirtual_ipaddress = [\"10.0.0.1\"]\n[vrrp_instance.authentication]\nauth_type = \"AH\"\nauth_pass = \"x\"\n",
    );
    assert!(errors(&l).is_empty(), "{:?}", errors(&l));
    assert_eq!(l.diagnostics.unsupported_keywords(), vec!["auth_type AH"]);
    let l = conf(&instance(
        "VI_1",
        "    authentication {\n        auth_type AH\n        auth_pass x\n    }",
    ));
    assert_eq!(l.diagnostics.unsupported_keywords(), vec!["auth_type AH"]);
}

#[test]
fn plugins_must_be_readable_components_with_exact_grants() {
    let dir = crate::testutil::TempDir::new("validate-plugin");
    let component = dir.join("c.wasm");
    std::fs::write(&component, b"\0asm\x0d\x00\x01\x00rest").unwrap();
    let core = dir.join("m.wasm");
    std::fs::write(&core, b"\0asm\x01\x00\x00\x00").unwrap();
    let text = dir.join("t.wasm");
    std::fs::write(&text, b"#!/bin/sh\necho hi\n").unwrap();
    let script = |file: &std::path::Path, extra: &str| {
        format!(
            "[[vrrp_script]]\nname = \"p\"\n[vrrp_script.plugin]\nfile = \"{}\"\n{extra}\n",
            file.display()
        )
    };
    let ok = toml(&script(
        &component,
        "args = { b = \"2\", a = \"1\" }\n[vrrp_script.plugin.allow]\ntcp = [\"127.0.0.1:80\"]\nhttp = [\"http://localhost:8080/status\"]\nunix = [\"/run/x.sock\"]\nfiles = [\"/proc/loadavg\"]\nprocesses = [\"nginx\"]",
    ));
    assert!(errors(&ok).is_empty(), "{:?}", errors(&ok));
    assert!(warnings(&ok).is_empty(), "{:?}", warnings(&ok));
    // Arguments keep the order they were written in.
    let args = &ok.config.vrrp_scripts[0].plugin.as_ref().unwrap().args;
    assert_eq!(args[0].0, "b");
    assert_one_error(
        &toml(&script(&core, "")),
        &["core WebAssembly module", "component"],
    );
    assert_one_error(&toml(&script(&text, "")), &["not a WebAssembly file"]);
    assert_one_error(
        &toml(&script(&dir.join("missing.wasm"), "")),
        &["cannot read plugin", "missing.wasm"],
    );
    assert_one_error(
        &toml("[[vrrp_script]]\nname = \"p\"\n[vrrp_script.plugin]\nfile = \"rel.wasm\"\n"),
        &["absolute path"],
    );
    assert_one_error(
        &toml(&script(&component, "memory_mib = 0")),
        &["memory 0 MiB", "1 to 4096"],
    );
    for (kind, bad, why) in [
        ("tcp", "localhost:80", "IP:PORT"),
        ("http", "https://127.0.0.1/", "http://"),
        ("http", "http://example.com/", "IP address or localhost"),
        ("unix", "run/x.sock", "absolute"),
        ("files", "etc/x", "absolute"),
        ("processes", "/usr/sbin/nginx", "process name"),
    ] {
        let l = toml(&script(
            &component,
            &format!("[vrrp_script.plugin.allow]\n{kind} = [\"{bad}\"]"),
        ));
        assert_one_error(&l, &[bad, why]);
    }
    let both = toml(&format!(
        "[[vrrp_script]]\nname = \"p\"\nscript = \"/bin/true\"\n[vrrp_script.plugin]\nfile = \"{}\"\n",
        component.display()
    ));
    assert_one_error(&both, &["both a 'script' and a plugin"]);
}

#[test]
fn lvs_sync_daemon_names_an_instance_and_takes_kernel_limits() {
    let with = |line: &str| {
        conf(&format!(
            "global_defs {{\n    {line}\n}}\n{}",
            instance("VI_1", "")
        ))
    };
    let l = with("lvs_sync_daemon eth1 VI_1 id 7 maxlen 1400 port 8850 ttl 2 group 239.1.2.3");
    assert!(errors(&l).is_empty(), "{:?}", errors(&l));
    let s = l.config.global.lvs_sync_daemon.clone().unwrap();
    assert_eq!(
        (s.id, s.maxlen, s.port, s.ttl),
        (Some(7), Some(1400), Some(8850), Some(2))
    );
    assert_one_error(
        &with("lvs_sync_daemon eth1 VI_9"),
        &["no vrrp_instance named 'VI_9'"],
    );
    assert_one_error(
        &with("lvs_sync_daemon eth1 VI_1 id 300"),
        &["'id' must be 0-255"],
    );
    assert_one_error(
        &with("lvs_sync_daemon eth1 VI_1 group 10.0.0.1"),
        &["multicast"],
    );
    assert_one_error(
        &with("lvs_sync_daemon eth1 VI_1 speed 9"),
        &["unknown option 'speed'"],
    );
    assert_one_error(
        &with("lvs_sync_daemon eth1"),
        &["expects 'INTERFACE INSTANCE"],
    );
    assert_one_error(
        &with("lvs_sync_daemon a-name-too-long-x VI_1"),
        &["1-15 bytes"],
    );
    // The older form, once only.
    let l = conf(&format!(
        "global_defs {{\n    lvs_sync_daemon eth1 VI_1\n}}\n{}",
        instance("VI_1", "    lvs_sync_daemon_interface eth1")
    ));
    assert_one_error(&l, &["only one sync daemon"]);
}

#[test]
fn tunnel_options_belong_to_tun_real_servers() {
    let vs = |rs: &str| {
        conf(&format!(
            "virtual_server 10.0.0.1 80 {{\n    protocol TCP\n    lb_kind TUN\n    real_server 10.0.1.1 80 {{\n{rs}\n    }}\n}}\n"
        ))
    };
    for ok in [
        "tunnel_encap ipip",
        "tunnel_encap gue\ntunnel_dport 6080\ntunnel_remcsum",
        "tunnel_encap gre\ntunnel_csum",
    ] {
        let l = vs(ok);
        assert!(errors(&l).is_empty(), "{ok}: {:?}", errors(&l));
    }
    assert_one_error(&vs("tunnel_encap gue"), &["needs 'tunnel_dport'"]);
    assert_one_error(&vs("tunnel_encap gre\ntunnel_remcsum"), &["gue' only"]);
    assert_one_error(&vs("tunnel_dport 6080"), &["for 'tunnel_encap gue' only"]);
    assert_one_error(
        &vs("tunnel_encap ipip\ntunnel_csum"),
        &["no checksum option"],
    );
    assert_one_error(
        &vs("lvs_method NAT\ntunnel_encap gre"),
        &["tunnel options need 'lvs_method TUN'"],
    );
}

/// A port alone binds metrics to loopback; an address is taken as given;
/// anything else is an error at the key.
#[test]
fn metrics_address_port_alone_is_loopback() {
    for given in ["9650", "\":9650\"", "\"9650\""] {
        let l = toml(&format!("[global]\nmetrics_address = {given}\n"));
        assert!(errors(&l).is_empty(), "{given}: {:?}", errors(&l));
        assert_eq!(
            l.config.global.metrics_address,
            Some("127.0.0.1:9650".parse().unwrap()),
            "{given}"
        );
    }
    let l = toml("[global]\nmetrics_address = \"[::]:9650\"\n");
    assert_eq!(
        l.config.global.metrics_address,
        Some("[::]:9650".parse().unwrap())
    );
    for bad in ["0", "70000", "\"localhost\""] {
        let l = toml(&format!("[global]\nmetrics_address = {bad}\n"));
        assert!(
            errors(&l)
                .iter()
                .any(|e| e.contains("v.toml:2:") && e.contains("HOST:PORT")),
            "{bad}: {:?}",
            errors(&l)
        );
    }
}

// The parent keeps every check's settings for as long as it runs; at
// 10,000 checks the kind-specific ones (URLs, scripts, UDP payloads...)
// were 250 bytes each inline though a TCP check has none of them.
#[test]
fn a_check_without_kind_specific_settings_holds_no_box_for_them() {
    let base = "[[virtual_server]]\nip = \"10.0.0.1\"\nport = 80\n[[virtual_server.real_server]]\nip = \"10.0.1.1\"\nport = 80\n[[virtual_server.real_server.checker]]\n";
    let check = |l: &Loaded| l.config.virtual_servers[0].real_servers[0].checkers[0].clone();
    let tcp = toml(&format!(
        "{base}type = \"TCP_CHECK\"\nconnect_timeout = 3\n"
    ));
    assert!(errors(&tcp).is_empty(), "{:#?}", errors(&tcp));
    assert!(!check(&tcp).ext.is_set());
    let kconf = conf(&format!(
        "virtual_server 10.0.0.1 80 {{\n    protocol TCP\n{RS}}}\n"
    ));
    assert!(errors(&kconf).is_empty(), "{:#?}", errors(&kconf));
    assert!(!check(&kconf).ext.is_set());

    let http = toml(&format!(
        "{base}type = \"HTTP_GET\"\nvirtualhost = \"www\"\n[[virtual_server.real_server.checker.url]]\npath = \"/\"\n"
    ));
    assert!(errors(&http).is_empty(), "{:#?}", errors(&http));
    let mut c = check(&http);
    assert!(c.ext.is_set());
    assert_eq!(c.ext.virtualhost.as_deref(), Some("www"));
    // Flat on the wire (IPC and `upkeepctl config`), as the TOML is.
    let json = serde_json::to_value(&c).unwrap();
    assert_eq!(json["virtualhost"], "www", "{json}");
    assert!(json.get("ext").is_none(), "{json}");
    let back: RealServerCheck = serde_json::from_value(json).unwrap();
    assert_eq!(back, c);
    // A box left with only defaults equals none and is dropped by a clone.
    c.ext.url.clear();
    c.ext.virtualhost = None;
    assert!(c.ext.is_set());
    let cloned = c.clone();
    assert!(!cloned.ext.is_set());
    assert_eq!(c, cloned);

    let typo = toml(&format!(
        "{base}type = \"HTTP_GET\"\nvirtualhots = \"www\"\n"
    ));
    assert_one_error(
        &typo,
        &["unknown field `virtualhots`", "did you mean 'virtualhost'?"],
    );
}

// Likewise a real server: keepalived lets it set its checkers' schedule,
// thresholds, tunnel options and scripts, which few do (issue 18: 96 of
// its 168 bytes inline). A check's rare common settings (bindto, warmup,
// delay_loop, ...) go to its box too; what a TCP_CHECK usually sets stays
// inline.
#[test]
fn a_real_server_without_rare_settings_holds_no_box_for_them() {
    let vs = |rs: &str| format!("virtual_server 10.0.0.1 80 {{\n    protocol TCP\n{rs}}}\n");
    let plain = conf(&vs(
        "    real_server 10.0.1.1 80 {\n        weight 2\n        TCP_CHECK {\n            connect_timeout 3\n            retry 2\n            delay_before_retry 1\n            connect_port 81\n        }\n    }\n",
    ));
    assert!(errors(&plain).is_empty(), "{:#?}", errors(&plain));
    let rs = plain.config.virtual_servers[0].real_servers[0].clone();
    assert!(!rs.more.is_set() && !rs.checkers[0].ext.is_set());
    assert_eq!(
        (rs.weight, rs.checkers[0].retry, rs.checkers[0].connect_port),
        (2, Some(2), Some(81))
    );

    let rare = conf(&vs(
        "    real_server 10.0.1.1 80 {\n        inhibit_on_failure\n        retry 4\n        TCP_CHECK {\n            bindto 10.0.0.9\n            warmup 2\n        }\n    }\n",
    ));
    assert!(errors(&rare).is_empty(), "{:#?}", errors(&rare));
    let rs = rare.config.virtual_servers[0].real_servers[0].clone();
    assert!(rs.more.is_set() && rs.checkers[0].ext.is_set());
    assert_eq!(
        (rs.more.inhibit_on_failure, rs.more.retry),
        (Some(true), Some(4))
    );
    let c = &rs.checkers[0];
    assert_eq!(c.ext.bindto, Some("10.0.0.9".parse().unwrap()));
    // The checker's retry falls back to the real server's.
    assert_eq!(c.settings(&rs, &rare.config.virtual_servers[0]).retry, 4);
    // Flat on the wire, in the fields' order, and back.
    let json = serde_json::to_value(&rs).unwrap();
    assert_eq!(json["inhibit_on_failure"], true, "{json}");
    assert_eq!(json["checker"][0]["bindto"], "10.0.0.9", "{json}");
    assert!(json.get("more").is_none() && json["checker"][0].get("ext").is_none());
    let text = serde_json::to_string(&rs).unwrap();
    assert!(
        text.find("\"weight\"") < text.find("\"inhibit_on_failure\"")
            && text.find("\"retry\"") < text.find("\"checker\""),
        "{text}"
    );
    let back: crate::config::model::RealServer = serde_json::from_value(json).unwrap();
    assert_eq!(
        back,
        crate::config::model::RealServer {
            src: back.src.clone(),
            ..rs
        }
    );

    let typo = toml(
        "[[virtual_server]]\nip = \"10.0.0.1\"\nport = 80\n[[virtual_server.real_server]]\nip = \"10.0.1.1\"\nport = 80\ninhibit_on_failur = true\n",
    );
    assert_one_error(
        &typo,
        &[
            "unknown field `inhibit_on_failur`",
            "did you mean 'inhibit_on_failure'?",
        ],
    );
}
