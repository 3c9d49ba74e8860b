//! Reader diagnostics, includes, and the never-panic property.

use std::path::PathBuf;

use proptest::prelude::*;

use crate::config::model::{CheckKind, InitialState, LbAlgo, LbKind};
use crate::config::{Format, LoadOptions, Loaded, Severity, load, load_str};

fn conf(text: &str) -> Loaded {
    load_str("k.conf", text, Format::Keepalived, &LoadOptions::default())
}

fn diag_strings(l: &Loaded) -> Vec<String> {
    l.diagnostics
        .items()
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn only_error(l: &Loaded) -> String {
    let errs: Vec<String> = l.diagnostics.messages(Severity::Error);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    errs[0].clone()
}

#[test]
fn unknown_keyword_with_suggestion() {
    let e = only_error(&conf(
        "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 1\n    priorty 100\n}\n",
    ));
    assert!(
        e.starts_with("k.conf:4:5: error: unknown keyword 'priorty' in vrrp_instance VI_1"),
        "{e}"
    );
    assert!(e.ends_with("did you mean 'priority'?"), "{e}");
}

#[test]
fn unknown_keyword_without_suggestion_says_what_was_expected() {
    let e = only_error(&conf("frobnicate {\n}\n"));
    assert!(e.contains("unknown keyword 'frobnicate' at the top level: expected one of global_defs, vrrp_script"), "{e}");
    assert!(!e.contains("did you mean"), "{e}");
}

#[test]
fn skipped_block_warns_once_by_block_and_checks_its_words() {
    let l = conf(
        "SSL {\n ca /etc/ca.pem\n key /etc/k.pem\n}\nvirtual_server 10.0.0.1 25 {\n real_server 10.0.1.1 25 {\n  BFD_CHECK {\n   name x\n   alpha\n  }\n }\n}\n",
    );
    assert!(!l.diagnostics.has_errors(), "{:#?}", diag_strings(&l));
    assert_eq!(
        l.diagnostics.unsupported_keywords(),
        vec!["SSL", "BFD_CHECK"]
    );
    let e = only_error(&conf(
        "virtual_server 10.0.0.1 25 {\n real_server 10.0.1.1 25 {\n  BFD_CHECK {\n   nmae x\n  }\n }\n}\n",
    ));
    assert!(
        e.contains("'nmae' in BFD_CHECK") && e.ends_with("did you mean 'name'?"),
        "{e}"
    );
    let e = only_error(&conf("SSL {\n certficate /x\n}\n"));
    assert!(
        e.starts_with("k.conf:2:2: error: unknown keyword 'certficate' in SSL: expected one of ca, certificate, key, password"),
        "{e}"
    );
    assert!(e.ends_with("did you mean 'certificate'?"), "{e}");
    // SMTP_CHECK is read now; its words are checked all the same.
    let e = only_error(&conf(
        "virtual_server 10.0.0.1 25 {\n real_server 10.0.1.1 25 {\n  SMTP_CHECK {\n   host {\n    conect_ip 10.0.1.2\n   }\n  }\n }\n}\n",
    ));
    assert!(
        e.contains("'conect_ip' in SMTP_CHECK host") && e.ends_with("did you mean 'connect_ip'?"),
        "{e}"
    );
}

#[test]
fn names_keepalived_never_had_are_errors() {
    for (word, hint) in [
        ("vrrp_nftables", Some("nftables")),
        ("lvs_id", None),
        ("vrrp_ipvs_syncd", None),
        ("nftable_counters", Some("nftables_counters")),
    ] {
        let e = only_error(&conf(&format!("global_defs {{\n {word}\n}}\n")));
        assert!(
            e.contains(&format!("unknown keyword '{word}' in global_defs")),
            "{e}"
        );
        match hint {
            Some(h) => assert!(e.ends_with(&format!("did you mean '{h}'?")), "{e}"),
            None => assert!(!e.contains("did you mean"), "{e}"),
        }
    }
    // nb_get_retry is HTTP_GET/SSL_GET only in keepalived.
    let e = only_error(&conf(
        "virtual_server 10.0.0.1 80 {\n real_server 10.0.1.1 80 {\n  TCP_CHECK {\n   nb_get_retry 3\n  }\n }\n}\n",
    ));
    assert!(
        e.contains("unknown keyword 'nb_get_retry' in TCP_CHECK"),
        "{e}"
    );
}

#[test]
fn lvs_flush_on_stop_is_keepalived_current_name() {
    let l = conf("global_defs {\n lvs_flush_on_stop ALL\n}\n");
    assert!(l.diagnostics.items().is_empty(), "{:#?}", diag_strings(&l));
    assert_eq!(
        l.config.global.lvs_flush_onstop,
        Some(crate::config::model::FlushOnStop::All)
    );
}

#[test]
fn dynamic_interfaces_is_accepted_silently_and_its_option_checked() {
    for text in ["dynamic_interfaces", "dynamic_interfaces allow_if_changes"] {
        let l = conf(&format!("global_defs {{\n {text}\n}}\n"));
        assert!(l.diagnostics.items().is_empty(), "{:#?}", diag_strings(&l));
    }
    let e = only_error(&conf("global_defs {\n dynamic_interfaces always\n}\n"));
    assert!(e.contains("line 2") || e.contains(":2"), "{e}");
    assert!(
        e.contains("'always'") && e.contains("allow_if_changes"),
        "{e}"
    );
}

#[test]
fn known_but_unsupported_keyword_warns_once_by_name() {
    let l = conf(
        "global_defs {\n snmp_socket udp:1.2.3.4:705\n snmp_socket udp:1.2.3.5:705\n enable_traps\n}\n",
    );
    assert!(!l.diagnostics.has_errors());
    assert_eq!(
        l.diagnostics.unsupported_keywords(),
        vec!["snmp_socket", "enable_traps"]
    );
    assert_eq!(
        diag_strings(&l)[0],
        "k.conf:2:2: warning: 'snmp_socket' is accepted but not supported; it has no effect"
    );
}

#[test]
fn invalid_enum_values_list_the_valid_ones() {
    let e = only_error(&conf(
        "vrrp_instance V {\n interface e\n virtual_router_id 1\n state SLAVER\n}\n",
    ));
    assert_eq!(
        e,
        "k.conf:4:8: error: invalid value 'SLAVER' for 'state': expected one of MASTER, BACKUP"
    );
    let e = only_error(&conf("virtual_server 10.0.0.1 80 {\n lb_algo wrrr\n}\n"));
    assert!(
        e.contains("invalid value 'wrrr' for 'lb_algo': expected one of rr, wrr,")
            && e.contains("did you mean 'wrr'?"),
        "{e}"
    );
    let e = only_error(&conf("virtual_server 10.0.0.1 80 {\n lb_kind DRR\n}\n"));
    assert!(
        e.contains("expected one of NAT, DR, TUN; did you mean 'DR'?"),
        "{e}"
    );
}

#[test]
fn lowercase_enum_values_are_accepted() {
    let l = conf(
        "vrrp_instance V {\n interface e\n virtual_router_id 1\n state master\n}\nvirtual_server 10.0.0.1 80 {\n lb_kind dr\n lvs_sched RR\n}\n",
    );
    assert!(!l.diagnostics.has_errors(), "{:?}", diag_strings(&l));
    assert_eq!(l.config.vrrp_instances[0].state, InitialState::Master);
    assert_eq!(l.config.virtual_servers[0].lb_kind, LbKind::Dr);
    assert_eq!(l.config.virtual_servers[0].lb_algo, LbAlgo::Rr);
}

#[test]
fn argument_shape_errors() {
    let e = only_error(&conf(
        "vrrp_instance V {\n interface\n virtual_router_id 1\n}\n",
    ));
    assert!(
        e.contains("k.conf:2:2:") && e.contains("'interface' needs a value: an interface name"),
        "{e}"
    );
    let e = only_error(&conf(
        "vrrp_instance V {\n interface a b\n virtual_router_id 1\n}\n",
    ));
    assert!(
        e.contains("k.conf:2:14:") && e.contains("takes one value") && e.contains("unexpected 'b'"),
        "{e}"
    );
    let e = only_error(&conf(
        "vrrp_instance V {\n interface e\n virtual_router_id abc\n}\n",
    ));
    assert!(
        e.contains("invalid value 'abc' for 'virtual_router_id': expected a number 1-255"),
        "{e}"
    );
    let e = only_error(&conf(
        "vrrp_instance V {\n interface e\n virtual_router_id 1\n nopreempt yes\n}\n",
    ));
    assert!(e.contains("'nopreempt' takes no value"), "{e}");
    let e = only_error(&conf(
        "vrrp_instance V {\n interface e\n virtual_router_id 1\n advert_int -1\n}\n",
    ));
    assert!(e.contains("invalid value for 'advert_int'"), "{e}");
}

#[test]
fn block_shape_errors() {
    let e = only_error(&conf("global_defs\n"));
    assert!(e.contains("'global_defs' expects a block"), "{e}");
    let e = only_error(&conf("vrrp_instance {\n}\n"));
    assert!(e.contains("'vrrp_instance' needs a name"), "{e}");
    let e = only_error(&conf(
        "vrrp_instance V {\n interface e {\n }\n virtual_router_id 1\n}\n",
    ));
    assert!(e.contains("'interface' does not take a block"), "{e}");
    let e = only_error(&conf(
        "vrrp_instance V {\n interface e\n virtual_router_id 1\n",
    ));
    assert!(
        e.contains("k.conf:1:1: error: block of 'vrrp_instance' is not closed"),
        "{e}"
    );
}

#[test]
fn vip_errors_point_at_the_line() {
    let e = only_error(&conf(
        "vrrp_instance V {\n interface e\n virtual_router_id 1\n virtual_ipaddress {\n  10.0.0.1/40\n }\n}\n",
    ));
    assert!(
        e.starts_with("k.conf:5:3: error: in virtual_ipaddress: invalid prefix length '/40'"),
        "{e}"
    );
}

#[test]
fn vip_options_keepalived_only_are_warned() {
    let l = conf(
        "vrrp_instance V {\n interface e\n virtual_router_id 1\n virtual_ipaddress {\n  10.0.0.1/24 dev e label e:1 home\n }\n}\n",
    );
    assert!(!l.diagnostics.has_errors());
    assert_eq!(l.diagnostics.unsupported_keywords(), vec!["home"]);
    let vip = &l.config.vrrp_instances[0].virtual_ipaddress[0];
    assert_eq!(vip.to_string(), "10.0.0.1/24 dev e label e:1");
}

#[test]
fn weights_and_track_entries() {
    let l = conf(
        "vrrp_script s {\n script \"/bin/true\"\n weight -20 reverse\n}\nvrrp_instance V {\n interface e\n virtual_router_id 1\n track_script {\n  s weight 5\n }\n track_interface {\n  eth1 weight -3 reverse\n }\n}\n",
    );
    assert!(!l.diagnostics.has_errors(), "{:?}", diag_strings(&l));
    let s = &l.config.vrrp_scripts[0];
    assert_eq!((s.weight, s.weight_reverse), (-20, true));
    let i = &l.config.vrrp_instances[0];
    assert_eq!(i.track_script[0].to_string(), "s weight 5");
    assert_eq!(i.track_interface[0].to_string(), "eth1 weight -3 reverse");
    let e = only_error(&conf(
        "vrrp_instance V {\n interface e\n virtual_router_id 1\n track_interface {\n  eth1 wieght 2\n }\n}\n",
    ));
    assert!(
        e.contains("k.conf:5:3:") && e.contains("did you mean 'weight'?"),
        "{e}"
    );
}

#[test]
fn checkers_read_into_the_model() {
    let l = conf(
        "virtual_server 10.0.0.1 443 {\n real_server 10.0.1.1 443 {\n  SSL_GET {\n   url {\n    path /health\n    status_code 200-299 503\n   }\n   connect_port 444\n   nb_get_retry 3\n  }\n  MISC_CHECK {\n   misc_path \"/bin/check arg\"\n   misc_timeout 5\n  }\n }\n}\n",
    );
    assert!(!l.diagnostics.has_errors(), "{:?}", diag_strings(&l));
    let rs = &l.config.virtual_servers[0].real_servers[0];
    assert_eq!(rs.checkers[0].kind, CheckKind::SslGet);
    assert_eq!(rs.checkers[0].retry, Some(3));
    assert_eq!(rs.checkers[0].connect_port, Some(444));
    assert_eq!(rs.checkers[0].ext.url[0].status_code.len(), 2);
    assert_eq!(
        rs.checkers[1].ext.misc_path.as_deref(),
        Some("/bin/check arg")
    );
    // A keyword valid for another checker kind is an error here.
    let e = only_error(&conf(
        "virtual_server 10.0.0.1 80 {\n real_server 10.0.1.1 80 {\n  TCP_CHECK {\n   misc_path /x\n  }\n }\n}\n",
    ));
    assert!(
        e.contains("unknown keyword 'misc_path' in TCP_CHECK"),
        "{e}"
    );
}

#[test]
fn old_sync_group_syntax_is_accepted_with_a_warning() {
    let l = conf("vrrp_sync_group G {\n  VI_1\n  VI_2\n}\n");
    assert_eq!(l.config.sync_groups[0].group, vec!["VI_1", "VI_2"]);
    assert!(
        diag_strings(&l)
            .iter()
            .any(|d| d.contains("warning: vrrp_sync_group G: member 'VI_1' outside 'group"))
    );
}

#[test]
fn seq_is_supported() {
    let l = conf(
        "vrrp_instance V {\n interface e\n virtual_router_id 1\n virtual_ipaddress {\n~SEQ(i, 1, 3) 10.0.0.$i\n }\n}\n",
    );
    assert!(!l.diagnostics.has_errors(), "{:?}", diag_strings(&l));
    assert_eq!(l.config.vrrp_instances[0].virtual_ipaddress.len(), 3);
}

#[test]
fn config_id_selects_lines() {
    let text = "vrrp_instance V {\n interface e\n virtual_router_id 1\n@a priority 170\n@b priority 85\n}\n";
    let a = load_str(
        "k.conf",
        text,
        Format::Keepalived,
        &LoadOptions {
            config_id: Some("a".into()),
        },
    );
    let b = load_str(
        "k.conf",
        text,
        Format::Keepalived,
        &LoadOptions {
            config_id: Some("b".into()),
        },
    );
    assert_eq!(a.config.vrrp_instances[0].priority, 170);
    assert_eq!(b.config.vrrp_instances[0].priority, 85);
    assert_eq!(conf(text).config.vrrp_instances[0].priority, 100);
}

/// A directory under the target dir for one test's files.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("upkeep-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("conf.d")).unwrap();
    dir
}

#[test]
fn include_globs_are_relative_to_the_including_file() {
    let dir = scratch("include");
    std::fs::write(dir.join("main.conf"), "$IF=eth9\ninclude conf.d/*.conf\n").unwrap();
    std::fs::write(
        dir.join("conf.d/b.conf"),
        "vrrp_instance B {\n interface $IF\n virtual_router_id 2\n}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("conf.d/a.conf"),
        "vrrp_instance A {\n interface ${IF}\n virtual_router_id 1\n}\n",
    )
    .unwrap();
    std::fs::write(dir.join("conf.d/ignored.txt"), "garbage {\n").unwrap();
    // Run from elsewhere: the glob must not depend on the working directory.
    let l = load(&dir.join("main.conf"), &LoadOptions::default());
    assert!(!l.diagnostics.has_errors(), "{:?}", diag_strings(&l));
    let names: Vec<&str> = l
        .config
        .vrrp_instances
        .iter()
        .map(|i| i.name.as_str())
        .collect();
    assert_eq!(names, vec!["A", "B"], "sorted glob order");
    assert_eq!(l.config.vrrp_instances[0].interface, "eth9");
    // Diagnostics name the included file.
    std::fs::write(dir.join("conf.d/c.conf"), "bogus 1\n").unwrap();
    let l = load(&dir.join("main.conf"), &LoadOptions::default());
    let e = only_error(&l);
    assert!(
        e.contains("conf.d/c.conf:1:1: error: unknown keyword 'bogus'"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn include_loops_and_misses_are_reported() {
    let dir = scratch("loop");
    std::fs::write(dir.join("a.conf"), "include b.conf\n").unwrap();
    std::fs::write(dir.join("b.conf"), "include a.conf\n").unwrap();
    let l = load(&dir.join("a.conf"), &LoadOptions::default());
    assert!(only_error(&l).contains("include loop"));
    std::fs::write(dir.join("c.conf"), "include nothing-*.conf\n").unwrap();
    let l = load(&dir.join("c.conf"), &LoadOptions::default());
    assert!(!l.diagnostics.has_errors());
    assert!(diag_strings(&l)[0].contains("matched no files"));
    let l = load(&dir.join("missing.conf"), &LoadOptions::default());
    assert!(only_error(&l).contains("cannot read"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Text built from keepalived-ish pieces, so the fuzzing reaches deep states.
fn conf_like() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("vrrp_instance ".to_string()),
        Just("virtual_server ".to_string()),
        Just("real_server ".to_string()),
        Just("HTTP_GET ".to_string()),
        Just("url ".to_string()),
        Just("global_defs ".to_string()),
        Just("vrrp_sync_group ".to_string()),
        Just("group ".to_string()),
        Just("virtual_ipaddress ".to_string()),
        Just("track_script ".to_string()),
        Just("authentication ".to_string()),
        Just("state ".to_string()),
        Just("{ ".to_string()),
        Just("} ".to_string()),
        Just("\n".to_string()),
        Just("\"".to_string()),
        Just("! ".to_string()),
        Just("# ".to_string()),
        Just("\\\n".to_string()),
        Just("$X=".to_string()),
        Just("${X} ".to_string()),
        Just("$X ".to_string()),
        Just("@a ".to_string()),
        Just("@^a ".to_string()),
        Just("~SEQ(i, 1, 3) ".to_string()),
        Just("include x ".to_string()),
        Just("10.0.0.1/24 ".to_string()),
        Just("fd00::1 ".to_string()),
        Just("fwmark 1 ".to_string()),
        Just("weight -2 ".to_string()),
        "[ -~]{0,8}",
        "\\PC{0,4}",
    ];
    prop::collection::vec(piece, 0..60).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]

    #[test]
    fn reader_never_panics_on_structured_noise(text in conf_like()) {
        let _ = load_str("p.conf", &text, Format::Keepalived, &LoadOptions { config_id: Some("a".into()) });
    }

    #[test]
    fn reader_never_panics_on_arbitrary_text(text in "\\PC*") {
        let _ = load_str("p.conf", &text, Format::Keepalived, &LoadOptions::default());
        let _ = load_str("p.toml", &text, Format::Toml, &LoadOptions::default());
    }

    /// Whatever loads without errors converts to TOML that loads to the same model.
    #[test]
    fn accepted_input_round_trips_through_toml(text in conf_like()) {
        let l = load_str("p.conf", &text, Format::Keepalived, &LoadOptions::default());
        if !l.diagnostics.has_errors() {
            let toml = crate::config::native::to_toml(&l.config, "p.conf", &[]).unwrap();
            let back = load_str("p.toml", &toml, Format::Toml, &LoadOptions::default());
            prop_assert!(!back.diagnostics.has_errors(), "{:?}\n{}", back.diagnostics.items(), toml);
            prop_assert_eq!(back.config, l.config);
        }
    }
}

// Regression: `process NAME ARGS` and `param_match` wrote the same field.
#[test]
fn track_process_keeps_arguments_and_match_mode_apart() {
    use crate::config::model::ParamMatch;
    let l = conf(
        "vrrp_track_process p {\n process haproxy -f /etc/haproxy.cfg\n param_match partial\n quorum 2\n}\n",
    );
    assert!(!l.diagnostics.has_errors(), "{:?}", diag_strings(&l));
    let p = &l.config.track_processes[0];
    assert_eq!(p.process, "haproxy");
    assert_eq!(p.args.as_deref(), Some("-f /etc/haproxy.cfg"));
    assert_eq!(p.param_match, Some(ParamMatch::Partial));
    let e = only_error(&conf(
        "vrrp_track_process p {\n process x\n param_match somewhere\n}\n",
    ));
    assert!(e.contains("expected one of initial, partial"), "{e}");
}

// Regression: `init_file ... overwrite` was dropped without a word.
#[test]
fn init_file_overwrite_is_kept() {
    let l = conf(
        "vrrp_track_file f {\n file /run/x\n init_file 5 overwrite\n}\nvrrp_track_file g {\n file /run/y\n init_file overwrite\n}\nvrrp_track_file h {\n file /run/z\n init_file\n}\n",
    );
    assert!(!l.diagnostics.has_errors(), "{:?}", diag_strings(&l));
    let f = &l.config.track_files;
    assert_eq!((f[0].init_file, f[0].init_file_overwrite), (Some(5), true));
    assert_eq!((f[1].init_file, f[1].init_file_overwrite), (Some(0), true));
    assert_eq!((f[2].init_file, f[2].init_file_overwrite), (Some(0), false));
    let e = only_error(&conf(
        "vrrp_track_file f {\n file /x\n init_file 5 overwrite now\n}\n",
    ));
    assert!(e.contains("unexpected 'now'"), "{e}");
}

/// `cfg` written as TOML by `upkeepctl convert`'s writer and read back.
fn through_toml(cfg: &crate::config::model::Config) -> crate::config::model::Config {
    let toml = crate::config::native::to_toml(cfg, "k.conf", &[]).unwrap();
    let back = crate::config::load_str(
        "k.toml",
        &toml,
        crate::config::Format::Toml,
        &crate::config::LoadOptions::default(),
    );
    assert!(back.is_ok(), "{toml}");
    back.config
}

#[test]
fn restart_then_demote_extension_reads_and_converts_to_toml() {
    use crate::config::model::{Demote, OnFailure};
    use crate::config::values::Millis;
    let l = conf(
        "vrrp_script chk {\n script \"/bin/true\"\n upkeep_restart \"/usr/bin/systemctl restart nginx\"\n upkeep_restart_grace 2.5\n upkeep_restart_limit 4 120\n upkeep_demote resign\n}\n",
    );
    assert!(!l.diagnostics.has_errors(), "{:?}", diag_strings(&l));
    let want = OnFailure {
        restart: Some("/usr/bin/systemctl restart nginx".into()),
        grace: Millis::parse_secs("2.5").unwrap(),
        max_restarts: 4,
        window: Millis::from_secs(120),
        demote: Demote::Resign,
    };
    assert_eq!(l.config.vrrp_scripts[0].on_failure.as_ref(), Some(&want));
    // The same in TOML, through `upkeepctl convert`'s writer.
    let back = through_toml(&l.config);
    assert_eq!(back.vrrp_scripts[0].on_failure.as_ref(), Some(&want));
    let e = only_error(&conf(
        "vrrp_script chk {\n script \"/bin/true\"\n upkeep_demote sulk\n}\n",
    ));
    assert!(e.contains("sulk") && e.contains("resign"), "{e}");
    let e = only_error(&conf(
        "vrrp_script chk {\n script \"/bin/true\"\n upkeep_restart_limit 4\n}\n",
    ));
    assert!(e.contains("COUNT SECONDS"), "{e}");
}

#[test]
fn plugin_extension_reads_in_order_and_converts_to_toml() {
    use crate::config::model::{PluginCheck, PluginGrants};
    let dir = crate::testutil::TempDir::new("kconf-plugin");
    let file = dir.join("p.wasm");
    // The component-model header is all validation reads.
    std::fs::write(&file, b"\0asm\x0d\x00\x01\x00").unwrap();
    let l = conf(&format!(
        "vrrp_script chk {{\n upkeep_plugin {}\n upkeep_plugin_arg socket /run/h.sock\n upkeep_plugin_arg backend \"web servers\"\n upkeep_plugin_allow unix /run/h.sock\n upkeep_plugin_allow tcp 127.0.0.1:80 [::1]:80\n upkeep_plugin_allow process haproxy\n upkeep_plugin_memory 32\n}}\n",
        file.display()
    ));
    assert!(!l.diagnostics.has_errors(), "{:?}", diag_strings(&l));
    let want = PluginCheck {
        file: file.display().to_string(),
        args: vec![
            ("socket".into(), "/run/h.sock".into()),
            ("backend".into(), "web servers".into()),
        ],
        memory_mib: 32,
        allow: PluginGrants {
            tcp: vec!["127.0.0.1:80".into(), "[::1]:80".into()],
            unix: vec!["/run/h.sock".into()],
            processes: vec!["haproxy".into()],
            ..PluginGrants::default()
        },
    };
    assert_eq!(l.config.vrrp_scripts[0].plugin.as_ref(), Some(&want));
    let back = through_toml(&l.config);
    assert_eq!(back.vrrp_scripts[0].plugin.as_ref(), Some(&want));
    let e = only_error(&conf(&format!(
        "vrrp_script chk {{\n upkeep_plugin {}\n upkeep_plugin_allow socket /x\n}}\n",
        file.display()
    )));
    assert!(e.contains("'socket'") && e.contains("tcp, http"), "{e}");
    let e = only_error(&conf(&format!(
        "vrrp_script chk {{\n upkeep_plugin {}\n upkeep_plugin_arg lonely\n}}\n",
        file.display()
    )));
    assert!(e.contains("KEY VALUE"), "{e}");
}

/// Regression: `notify_master "cmd" USER GROUP` was read as a command with
/// USER and GROUP as extra arguments (and the script ran as root).
#[test]
fn script_keywords_read_a_quoted_command_then_user_and_group() {
    use crate::config::model::{Script, ScriptUser};
    let nobody = |group: Option<&str>| {
        Some(ScriptUser {
            user: "nobody".into(),
            group: group.map(String::from),
        })
    };
    let l = conf(concat!(
        "vrrp_sync_group G {\n group {\n  VI_1\n }\n notify \"/bin/g arg\" nobody\n}\n",
        "vrrp_instance VI_1 {\n interface lo\n virtual_router_id 1\n",
        " notify_master \"/bin/m 'a b'\" nobody\n",
        " notify_backup \"/bin/b\" nobody root\n",
        " notify_fault /bin/f nobody root\n",
        " notify_stop \"/bin/s\"\n",
        "}\n",
        "vrrp_script chk {\n script \"/bin/true\"\n user nobody\n upkeep_restart \"/usr/bin/systemctl restart nginx\" root\n}\n",
        "virtual_server 10.0.0.1 80 {\n quorum_up \"/bin/q up\" nobody\n quorum_down \"/bin/q down\"\n",
        " real_server 10.0.0.2 80 {\n  notify_up \"/bin/n up\" nobody root\n  notify_down /bin/n nobody\n",
        "  MISC_CHECK {\n   misc_path \"/bin/true\"\n   user nobody\n  }\n }\n}\n",
    ));
    assert!(!l.diagnostics.has_errors(), "{:?}", diag_strings(&l));
    let c = &l.config;
    let v = &c.vrrp_instances[0].notify;
    assert_eq!(
        v.on_master,
        Some(Script {
            command: "/bin/m 'a b'".into(),
            user: nobody(None)
        })
    );
    assert_eq!(
        v.on_backup,
        Some(Script {
            command: "/bin/b".into(),
            user: nobody(Some("root"))
        })
    );
    // Unquoted as quoted (keepalived's notify_script_init): the words after
    // the command are USER GROUP, not arguments run as root (issue 15).
    assert_eq!(
        v.on_fault,
        Some(Script {
            command: "/bin/f".into(),
            user: nobody(Some("root"))
        })
    );
    assert_eq!(v.on_stop, Some(Script::new("/bin/s")));
    assert_eq!(
        c.sync_groups[0].notify.on_change.as_ref().unwrap().user,
        nobody(None)
    );
    let s = &c.vrrp_scripts[0];
    assert_eq!(s.user, nobody(None));
    let restart = s.on_failure.as_ref().unwrap().restart.as_ref().unwrap();
    assert_eq!(restart.command, "/usr/bin/systemctl restart nginx");
    assert_eq!(restart.user.as_ref().unwrap().user, "root");
    let vs = &c.virtual_servers[0];
    assert_eq!(vs.quorum_up.as_ref().unwrap().user, nobody(None));
    assert_eq!(vs.quorum_down, Some(Script::new("/bin/q down")));
    let rs = &vs.real_servers[0];
    assert_eq!(
        rs.more.notify_up.as_ref().unwrap().user,
        nobody(Some("root"))
    );
    assert_eq!(rs.more.notify_down.as_ref().unwrap().command, "/bin/n");
    assert_eq!(rs.more.notify_down.as_ref().unwrap().user, nobody(None));
    assert_eq!(rs.checkers[0].ext.user.as_deref().cloned(), nobody(None));
    // The same through TOML (`upkeepctl convert`), users included.
    let back = through_toml(c);
    assert_eq!(back.vrrp_instances[0].notify, *v);
    assert_eq!(back.vrrp_scripts[0].on_failure, s.on_failure);
    assert_eq!(
        back.virtual_servers[0].real_servers[0].more.notify_up,
        rs.more.notify_up
    );
    // More than USER GROUP after a quoted command.
    let e = only_error(&conf(
        "vrrp_instance VI_1 {\n interface lo\n virtual_router_id 1\n notify \"/bin/n\" nobody root extra\n}\n",
    ));
    assert!(
        e.starts_with("k.conf:4:") && e.contains("'notify'") && e.contains("'extra'"),
        "{e}"
    );
}

/// Unknown accounts are configuration errors at the keyword naming them
/// (`-t` reports them; keepalived logs and drops the script).
#[test]
fn unknown_script_accounts_are_errors_at_their_keyword() {
    let e = only_error(&conf(
        "vrrp_instance VI_1 {\n interface lo\n virtual_router_id 1\n notify_master \"/bin/m\" upkeep-no-such-user\n}\n",
    ));
    assert!(
        e.starts_with(
            "k.conf:4:2: error: vrrp_instance VI_1 notify_master: user 'upkeep-no-such-user'"
        ),
        "{e}"
    );
    let e = only_error(&conf(
        "vrrp_script chk {\n script /bin/true\n user nobody upkeep-no-such-group\n}\n",
    ));
    assert!(
        e.starts_with(
            "k.conf:3:2: error: vrrp_script chk script: user 'nobody upkeep-no-such-group'"
        ) && e.contains("unknown group"),
        "{e}"
    );
    let e = only_error(&conf(
        "global_defs {\n script_user upkeep-no-such-user\n}\n",
    ));
    assert!(
        e.starts_with("k.conf:2:2: error: script_user 'upkeep-no-such-user'"),
        "{e}"
    );
}

#[test]
fn toml_scripts_are_a_command_line_or_a_table_with_user_and_group() {
    use crate::config::model::{Script, ScriptUser};
    let l = load_str(
        "t.toml",
        "[[vrrp_instance]]\nname = \"VI_1\"\ninterface = \"lo\"\nvirtual_router_id = 1\nnotify = { on_master = \"/bin/m\", on_backup = { command = \"/bin/b x\", user = \"nobody\", group = \"root\" } }\n",
        Format::Toml,
        &LoadOptions::default(),
    );
    assert!(l.is_ok(), "{:?}", diag_strings(&l));
    let n = &l.config.vrrp_instances[0].notify;
    assert_eq!(n.on_master, Some(Script::new("/bin/m")));
    assert_eq!(
        n.on_backup,
        Some(Script {
            command: "/bin/b x".into(),
            user: Some(ScriptUser {
                user: "nobody".into(),
                group: Some("root".into())
            })
        })
    );
    let bad = load_str(
        "t.toml",
        "[[vrrp_instance]]\nname = \"VI_1\"\ninterface = \"lo\"\nvirtual_router_id = 1\nnotify = { on_master = { command = \"/bin/m\", usr = \"nobody\" } }\n",
        Format::Toml,
        &LoadOptions::default(),
    );
    assert!(!bad.is_ok());
    assert!(
        diag_strings(&bad).iter().any(|d| d.contains("usr")),
        "{:?}",
        diag_strings(&bad)
    );
}

/// Issue 16: a WASM plugin as a real server's checker, with grants that
/// name the real server being checked.
#[test]
fn plugin_real_server_checker_reads_converts_and_grants_each_server() {
    use crate::checker::probe::Probe;
    use crate::checker::spec::from_config;
    let dir = crate::testutil::TempDir::new("kconf-rsplugin");
    let file = dir.join("p.wasm");
    std::fs::write(&file, b"\0asm\x0d\x00\x01\x00").unwrap();
    let block = |allow: &str| {
        format!(
            "virtual_server 192.0.2.1 80 {{\n protocol TCP\n real_server 10.0.0.2 80 {{\n  UPKEEP_PLUGIN {{\n   file {f}\n   arg path /health\n   allow {allow}\n   memory 8\n   connect_timeout 2\n  }}\n }}\n real_server 10.0.0.3 8080 {{\n  UPKEEP_PLUGIN {{\n   file {f}\n   allow {allow}\n  }}\n }}\n}}\n",
            f = file.display()
        )
    };
    let l = conf(&block("tcp $REAL_SERVER"));
    assert!(!l.diagnostics.has_errors(), "{:?}", diag_strings(&l));
    let c = &l.config.virtual_servers[0].real_servers[0].checkers[0];
    assert_eq!(c.kind, CheckKind::Plugin);
    let p = c.ext.plugin.as_ref().unwrap();
    assert_eq!(p.args, vec![("path".into(), "/health".into())]);
    assert_eq!(
        (p.memory_mib, p.allow.tcp.as_slice()),
        (8, &["$REAL_SERVER".to_string()][..])
    );
    assert_eq!(c.connect_timeout.map(|t| t.as_millis()), Some(2000));
    let back = through_toml(&l.config);
    assert_eq!(back.virtual_servers, l.config.virtual_servers);
    // Each real server's probe is granted its own address, and only it.
    let specs = from_config(&l.config);
    let probes: Vec<_> = specs
        .iter()
        .filter_map(|(_, s)| match &s.probes[..] {
            [Probe::Plugin(pp)] => Some(pp),
            _ => None,
        })
        .collect();
    assert_eq!(probes.len(), 2);
    for (pp, (own, other)) in probes.iter().zip([
        ("10.0.0.2:80", "10.0.0.3:8080"),
        ("10.0.0.3:8080", "10.0.0.2:80"),
    ]) {
        assert_eq!(pp.real_server, Some(own.parse().unwrap()));
        assert!(pp.grants.tcp(own).is_ok(), "{own}");
        assert!(pp.grants.tcp(other).is_err(), "{other}");
    }
    // An http grant takes it too; a path grant cannot.
    let l = conf(&block("http http://$REAL_SERVER/health"));
    assert!(!l.diagnostics.has_errors(), "{:?}", diag_strings(&l));
    let l = conf(&block("unix $REAL_SERVER"));
    let errs: Vec<_> = diag_strings(&l)
        .into_iter()
        .filter(|e| e.contains("only tcp and http"))
        .collect();
    assert_eq!(errs.len(), 2, "{:?}", diag_strings(&l));
    assert!(errs[0].contains("k.conf:7"), "{errs:?}");
    // A vrrp_script has no real server.
    let e = only_error(&conf(&format!(
        "vrrp_script chk {{\n upkeep_plugin {}\n upkeep_plugin_allow tcp $REAL_SERVER\n}}\n",
        file.display()
    )));
    assert!(e.contains("only a real server's plugin checker"), "{e}");
    // Without a file; and an unknown keyword names the block.
    let e = only_error(&conf(
        "virtual_server 192.0.2.1 80 {\n protocol TCP\n real_server 10.0.0.2 80 {\n  UPKEEP_PLUGIN {\n   memory 8\n  }\n }\n}\n",
    ));
    assert!(e.contains("needs its plugin's 'file'"), "{e}");
    let e = only_error(&conf(&format!(
        "virtual_server 192.0.2.1 80 {{\n protocol TCP\n real_server 10.0.0.2 80 {{\n  UPKEEP_PLUGIN {{\n   file {}\n   misc_path /bin/true\n  }}\n }}\n}}\n",
        file.display()
    )));
    assert!(
        e.contains("'misc_path'") && e.contains("UPKEEP_PLUGIN"),
        "{e}"
    );
    // TOML: the `plugin` kind.
    let toml = format!(
        "[[virtual_server]]\nip = \"192.0.2.1\"\nport = 80\n[[virtual_server.real_server]]\nip = \"10.0.0.2\"\nport = 80\n[[virtual_server.real_server.checker]]\ntype = \"plugin\"\n[virtual_server.real_server.checker.plugin]\nfile = \"{}\"\nallow = {{ tcp = [\"$REAL_SERVER\"] }}\n",
        file.display()
    );
    let t = load_str("k.toml", &toml, Format::Toml, &LoadOptions::default());
    assert!(!t.diagnostics.has_errors(), "{:?}", diag_strings(&t));
    assert_eq!(
        t.config.virtual_servers[0].real_servers[0].checkers[0].kind,
        CheckKind::Plugin
    );
}

/// Issue 16: keepalived's `log_all_failures` (in every checker, alone
/// meaning on) and `checker_log_all_failures` (global_defs) are read, kept
/// through TOML, and reach each probe of the check without a warning.
#[test]
fn log_all_failures_reads_converts_and_reaches_each_probe() {
    use crate::checker::spec::from_config;
    let l = conf(
        "global_defs {\n checker_log_all_failures no\n}\nvirtual_server 192.0.2.1 80 {\n protocol TCP\n real_server 10.0.0.2 80 {\n  TCP_CHECK {\n   log_all_failures\n  }\n  HTTP_GET {\n   url {\n    path /a\n   }\n   url {\n    path /b\n   }\n   log_all_failures off\n  }\n  TCP_CHECK {\n   connect_port 81\n   log_all_failures yes\n  }\n }\n}\n",
    );
    assert!(l.diagnostics.items().is_empty(), "{:?}", diag_strings(&l));
    assert!(!l.config.global.checker_log_all_failures);
    let checkers = &l.config.virtual_servers[0].real_servers[0].checkers;
    let flags: Vec<bool> = checkers.iter().map(|c| c.ext.log_all_failures).collect();
    assert_eq!(flags, [true, false, true]);
    let back = through_toml(&l.config);
    assert_eq!(back.virtual_servers, l.config.virtual_servers);
    // One flag per probe: TCP, the two urls, TCP.
    let spec = from_config(&l.config).into_iter().next().unwrap().1;
    assert_eq!(spec.probes.len(), 4);
    assert_eq!(
        spec.rare.as_ref().map(|r| r.log_failures.len()),
        Some(4),
        "a flag per probe, no spare"
    );
    assert_eq!(
        (0..5).map(|i| spec.log_failure(i)).collect::<Vec<_>>(),
        [true, false, false, true, false]
    );
    // The global one turns it on for every checker.
    let mut on = l.config.clone();
    on.global.checker_log_all_failures = true;
    assert_eq!(through_toml(&on).global, on.global);
    let all = from_config(&on).into_iter().next().unwrap().1;
    assert_eq!(
        all.rare.as_ref().map(|r| r.log_failures.clone()),
        Some(vec![true; 4])
    );
    let e = only_error(&conf(
        "virtual_server 192.0.2.1 80 {\n protocol TCP\n real_server 10.0.0.2 80 {\n  TCP_CHECK {\n   log_all_failures maybe\n  }\n }\n}\n",
    ));
    assert!(
        e.contains("'maybe'") && e.contains("log_all_failures"),
        "{e}"
    );
}
