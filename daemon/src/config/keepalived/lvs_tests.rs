//! The LVS blocks: keepalived's inheritance of checker settings and its
//! defaults.

use crate::config::model::{CheckKind, CheckSettings, LbAlgo, LbKind, Protocol};
use crate::config::values::Millis;
use crate::config::{Format, LoadOptions, Loaded, Severity, load_str};

fn conf(text: &str) -> Loaded {
    load_str("k.conf", text, Format::Keepalived, &LoadOptions::default())
}

fn errors(l: &Loaded) -> Vec<String> {
    l.diagnostics.messages(Severity::Error)
}

fn warnings(l: &Loaded) -> Vec<String> {
    l.diagnostics.messages(Severity::Warning)
}

const S: fn(u32) -> Millis = Millis::from_secs;

/// keepalived (check_data.c): a checker's `retry`, `delay_before_retry`,
/// `warmup`, `connect_timeout`, `delay_loop`, `alpha` and (HTTP)
/// `virtualhost` come from the checker, else its real_server, else its
/// virtual_server, else the default.
#[test]
fn checker_settings_inherit_from_real_server_then_virtual_server() {
    let l = conf(
        "virtual_server 192.0.2.1 80 {
    protocol TCP
    delay_loop 20
    retry 4
    delay_before_retry 6
    warmup 7
    connect_timeout 8
    virtualhost vs.example
    alpha
    real_server 192.0.2.10 80 {
        delay_loop 9
        retry 2
        connect_timeout 3
        alpha false
        virtualhost rs.example
        HTTP_GET {
            url {
                path /
            }
        }
        TCP_CHECK {
            retry 0
            delay_before_retry 1.5
            warmup 0
            delay_loop 4
            connect_timeout 2
            alpha
        }
    }
    real_server 192.0.2.11 80 {
        HTTP_GET {
            url {
                path /
            }
        }
    }
}
",
    );
    assert_eq!(errors(&l), Vec::<String>::new());
    let vs = &l.config.virtual_servers[0];
    let (rs0, rs1) = (&vs.real_servers[0], &vs.real_servers[1]);
    // The first real server's HTTP_GET: its real server's, then the virtual server's.
    assert_eq!(
        rs0.checkers[0].settings(rs0, vs),
        CheckSettings {
            delay_loop: S(9),
            connect_timeout: S(3),
            retry: 2,
            delay_before_retry: S(6),
            warmup: S(7),
            alpha: false,
            virtualhost: Some("rs.example".into()),
            misc_timeout: S(20),
        }
    );
    // Its TCP_CHECK's own win.
    let tcp = rs0.checkers[1].settings(rs0, vs);
    assert_eq!(
        (
            tcp.delay_loop,
            tcp.connect_timeout,
            tcp.retry,
            tcp.delay_before_retry,
            tcp.warmup,
            tcp.alpha
        ),
        (
            S(4),
            S(2),
            0,
            Millis::from_secs_f64(1.5).unwrap(),
            S(0),
            true
        )
    );
    // The second real server sets nothing: all from the virtual server.
    assert_eq!(
        rs1.checkers[0].settings(rs1, vs),
        CheckSettings {
            delay_loop: S(20),
            connect_timeout: S(8),
            retry: 4,
            delay_before_retry: S(6),
            warmup: S(7),
            alpha: true,
            virtualhost: Some("vs.example".into()),
            misc_timeout: S(20),
        }
    );
}

/// keepalived's defaults for a virtual server, its real servers and each
/// kind of checker, when the file sets none (check_data.c alloc_vs,
/// alloc_rs, queue_checker; check_http.c and check_misc.c for their own).
#[test]
fn defaults_are_keepalived_s() {
    let l = conf(
        "virtual_server 192.0.2.1 80 {
    protocol TCP
    real_server 192.0.2.10 80 {
        HTTP_GET {
            url {
                path /
            }
        }
        SSL_GET {
            url {
                path /
            }
        }
        TCP_CHECK {
        }
        MISC_CHECK {
            misc_path /bin/true
        }
    }
}
",
    );
    assert_eq!(errors(&l), Vec::<String>::new());
    let vs = &l.config.virtual_servers[0];
    let rs = &vs.real_servers[0];
    assert_eq!(vs.lb_algo, LbAlgo::Wlc, "IPVS_DEF_SCHED");
    assert_eq!(vs.lb_kind, LbKind::Nat);
    // Not keepalived's: it makes an address service without `protocol`
    // UDP (check_data.c, with a warning); upkeep keeps TCP (left to the lead).
    assert_eq!(vs.protocol, Protocol::Tcp);
    assert_eq!(vs.delay_loop, S(60), "KEEPALIVED_DEFAULT_DELAY");
    assert_eq!(
        (vs.quorum, vs.hysteresis, vs.alpha, vs.omega),
        (1, 0, false, false)
    );
    assert_eq!((rs.weight, rs.more.inhibit_on_failure), (1, None));
    // kind: (retry, delay_before_retry); all: connect_timeout 5 s, warmup
    // up to delay_loop, no alpha; MISC_CHECK's time limit: delay_loop.
    let by_kind: Vec<(CheckKind, u32, Millis)> = rs
        .checkers
        .iter()
        .map(|c| {
            let s = c.settings(rs, vs);
            assert_eq!((s.connect_timeout, s.warmup, s.alpha), (S(5), S(60), false));
            assert_eq!((s.delay_loop, s.misc_timeout), (S(60), S(60)));
            (c.kind, s.retry, s.delay_before_retry)
        })
        .collect();
    assert_eq!(
        by_kind,
        vec![
            (CheckKind::HttpGet, 1, S(3)),
            (CheckKind::SslGet, 1, S(3)),
            (CheckKind::TcpCheck, 1, S(1)),
            (CheckKind::MiscCheck, 0, S(1)),
        ]
    );
}

/// keepalived's `virtual_server` `weight`: the weight of its real servers
/// that set none.
#[test]
fn virtual_server_weight_is_the_default_real_server_weight() {
    let l = conf(
        "virtual_server 192.0.2.1 80 {
    protocol TCP
    weight 7
    real_server 192.0.2.10 80 {
    }
    real_server 192.0.2.11 80 {
        weight 2
    }
}
",
    );
    assert_eq!(errors(&l), Vec::<String>::new());
    let w: Vec<i32> = l.config.virtual_servers[0]
        .real_servers
        .iter()
        .map(|r| r.weight)
        .collect();
    assert_eq!(w, vec![7, 2]);
    let bad = conf("virtual_server 192.0.2.1 80 {\n    protocol TCP\n    weight 0\n}\n");
    assert_eq!(errors(&bad).len(), 1, "{:?}", errors(&bad));
    assert!(errors(&bad)[0].contains("k.conf:3:5"), "{:?}", errors(&bad));
}

/// keepalived's `snmp_name` (an SNMP name; upkeep has no SNMP agent):
/// accepted with one named warning.
#[test]
fn snmp_name_is_warned_by_name() {
    let l = conf("virtual_server 192.0.2.1 80 {\n    protocol TCP\n    snmp_name web\n}\n");
    assert_eq!(errors(&l), Vec::<String>::new());
    let w = warnings(&l);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("snmp_name"), "{w:?}");
}

/// keepalived binds a checker's `bind_port` only with a `bindto` address:
/// alone it is said to have no effect.
#[test]
fn bind_port_without_bindto_is_warned() {
    let l = conf(
        "virtual_server 192.0.2.1 80 {
    protocol TCP
    real_server 192.0.2.10 80 {
        TCP_CHECK {
            bind_port 4000
        }
    }
}
",
    );
    assert_eq!(errors(&l), Vec::<String>::new());
    let w = warnings(&l);
    assert!(
        w.len() == 1
            && w[0].contains("k.conf:5:13")
            && w[0].contains("'bind_port' without 'bindto'"),
        "{w:?}"
    );
}

/// `lvs_method TUN type ...`: keepalived's own errors (gue needs a port,
/// others none; options only after TUN; unknown options), with the line.
#[test]
fn lvs_method_tun_options_are_checked() {
    for (method, want) in [
        ("TUN type gue", "gue tunnels need 'port'"),
        ("TUN type ipip port 6080", "gue tunnels need 'port'"),
        ("DR type gue port 1", "for TUN only"),
        ("TUN type vxlan", "'type' expects ipip, gue or gre"),
        ("TUN type gue port 0", "expects a port 1-65535"),
        ("TUN fast", "unknown tunnel option 'fast'"),
    ] {
        let l = conf(&format!(
            "virtual_server 192.0.2.1 80 {{\n    protocol TCP\n    lvs_method {method}\n}}\n"
        ));
        let e = errors(&l);
        assert!(
            e.len() == 1 && e[0].starts_with("k.conf:3:") && e[0].contains(want),
            "{method}: {e:?}"
        );
    }
    let ok = conf(
        "virtual_server 192.0.2.1 80 {\n    protocol TCP\n    lvs_method TUN type gue port 6080 csum\n    real_server 192.0.2.2 80 {\n    }\n}\n",
    );
    assert_eq!(errors(&ok), Vec::<String>::new());
}

/// The top-level `SSL { ca certificate key password }` block (SSL_GET's
/// client certificate in keepalived): accepted with one named warning;
/// SSL_GET runs without a client certificate.
#[test]
fn ssl_block_is_warned_by_name() {
    let l = conf(
        "SSL {
    password secret
    ca /etc/ssl/ca.pem
    certificate /etc/ssl/client.pem
    key /etc/ssl/client.key
}
",
    );
    assert_eq!(errors(&l), Vec::<String>::new());
    let w = warnings(&l);
    assert!(
        w.len() == 1 && w[0].contains("k.conf:1:1") && w[0].contains("'SSL'"),
        "{w:?}"
    );
}

/// The native format has the same nesting: the inherited settings are
/// keys of `[[virtual_server]]` and `[[virtual_server.real_server]]`.
#[test]
fn inherited_checker_settings_in_toml() {
    let l = load_str(
        "u.toml",
        r#"
[[virtual_server]]
ip = "192.0.2.1"
port = 80
retry = 3
connect_timeout = 2

[[virtual_server.real_server]]
ip = "192.0.2.10"
port = 80
delay_before_retry = 0.5
alpha = true

[[virtual_server.real_server.checker]]
type = "TCP_CHECK"
"#,
        Format::Toml,
        &LoadOptions::default(),
    );
    assert_eq!(errors(&l), Vec::<String>::new());
    let vs = &l.config.virtual_servers[0];
    let rs = &vs.real_servers[0];
    let s = rs.checkers[0].settings(rs, vs);
    assert_eq!(
        (s.retry, s.connect_timeout, s.delay_before_retry, s.alpha),
        (3, S(2), Millis::from_secs_f64(0.5).unwrap(), true)
    );
}

/// `nb_get_retry`, keepalived's older name, is `retry`.
#[test]
fn nb_get_retry_is_retry() {
    let l = conf(
        "virtual_server 192.0.2.1 80 {
    protocol TCP
    real_server 192.0.2.10 80 {
        HTTP_GET {
            url {
                path /
            }
            nb_get_retry 5
        }
    }
}
",
    );
    let vs = &l.config.virtual_servers[0];
    let rs = &vs.real_servers[0];
    assert_eq!(rs.checkers[0].settings(rs, vs).retry, 5);
}

/// keepalived 2.2.7 (`keepalived -t`): "Virtual server [192.0.2.10]:none:80:
/// no protocol set - defaulting to UDP", for address and group virtual
/// servers; a firewall mark has no protocol. upkeep made them TCP silently.
#[test]
fn virtual_server_without_protocol_is_udp_as_in_keepalived() {
    let l = conf(
        "virtual_server_group G {\n    192.0.2.20 80\n}\nvirtual_server 192.0.2.10 80 {\n}\nvirtual_server group G {\n}\nvirtual_server fwmark 5 {\n}\nvirtual_server 192.0.2.11 80 {\n    protocol TCP\n}\n",
    );
    assert_eq!(errors(&l), Vec::<String>::new());
    let p: Vec<Protocol> = l
        .config
        .virtual_servers
        .iter()
        .map(|v| v.protocol)
        .collect();
    assert_eq!(p[0], Protocol::Udp);
    assert_eq!(p[1], Protocol::Udp);
    assert_eq!(p[3], Protocol::Tcp);
    let w = warnings(&l);
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(
        w[0].contains("k.conf:4:1") && w[0].contains("defaulting to UDP"),
        "{w:?}"
    );
    assert!(
        w[1].contains("k.conf:6:1") && w[1].contains("group G"),
        "{w:?}"
    );
}

/// keepalived 2.2.7 (`keepalived -t`): "Invalid alpha parameter ON" and
/// "Invalid value 'ON' for global smtp_alert": its true/false words are
/// case-sensitive. upkeep's real_server/checker `alpha` accepted `ON`.
#[test]
fn true_false_words_are_case_sensitive_as_in_keepalived() {
    let l = conf(
        "global_defs {\n    smtp_alert ON\n}\nvirtual_server 192.0.2.1 80 {\n    protocol TCP\n    real_server 192.0.2.2 80 {\n        alpha ON\n    }\n}\n",
    );
    let e = errors(&l);
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(
        e[0].contains("k.conf:2:16") && e[0].contains("'smtp_alert'"),
        "{e:?}"
    );
    assert!(
        e[1].contains("k.conf:7:15") && e[1].contains("'alpha'"),
        "{e:?}"
    );
    let ok = conf(
        "virtual_server 192.0.2.1 80 {\n    protocol TCP\n    real_server 192.0.2.2 80 {\n        alpha on\n    }\n}\n",
    );
    assert_eq!(errors(&ok), Vec::<String>::new());
    assert!(ok.config.virtual_servers[0].real_servers[0].more.alpha == Some(true));
}

/// FILE_CHECK names a defined track file (keepalived drops the check with
/// "track_file NAME not found"; an error here), `weight` takes
/// `reverse` / `noreverse`, and SMTP_CHECK's `host` holds checker keywords.
#[test]
fn file_check_and_smtp_check_blocks() {
    let vs = |inner: &str| {
        format!(
            "track_file tf {{\n file /run/x\n}}\nvirtual_server 10.0.0.1 25 {{\n protocol TCP\n real_server 10.0.0.2 25 {{\n{inner} }}\n}}\n"
        )
    };
    let l = conf(&vs("  FILE_CHECK {\n   track_file tg\n  }\n"));
    assert!(
        errors(&l)
            .iter()
            .any(|e| e.contains("'tg', which is not defined") && e.contains("'tf'")),
        "{:?}",
        errors(&l)
    );
    let l = conf(&vs("  FILE_CHECK {\n  }\n"));
    assert!(
        errors(&l)
            .iter()
            .any(|e| e.contains("needs 'track_file NAME'"))
    );
    let l = conf(&vs(
        "  FILE_CHECK {\n   track_file tf\n   weight 5 noreverse\n  }\n",
    ));
    assert!(l.is_ok(), "{:?}", l.diagnostics);
    let c = &l.config.virtual_servers[0].real_servers[0].checkers[0];
    assert_eq!(
        (c.kind, c.ext.weight, c.ext.weight_reverse),
        (CheckKind::FileCheck, Some(5), false)
    );
    let l = conf(&vs(
        "  FILE_CHECK {\n   track_file tf\n   weight 5 sideways\n  }\n",
    ));
    assert!(
        errors(&l)
            .iter()
            .any(|e| e.contains("N [reverse|noreverse]"))
    );
    let l = conf(&vs(
        "  SMTP_CHECK {\n   helo_name me\n   host {\n    connect_ip 10.0.0.3\n    bind_if eth0\n    helo_name x\n   }\n  }\n",
    ));
    assert!(
        warnings(&l).iter().any(|w| w.contains("'bind_if'")),
        "{:?}",
        warnings(&l)
    );
    assert!(
        errors(&l).iter().any(|e| e.contains("'helo_name'")),
        "helo_name is not a host keyword in keepalived: {:?}",
        errors(&l)
    );
    // TOML's fields are checked against the kind.
    let l = load_str(
        "u.toml",
        "[[vrrp_track_file]]\nname = \"tf\"\nfile = \"/run/x\"\n[[virtual_server]]\nip = \"10.0.0.1\"\nport = 25\nprotocol = \"TCP\"\n[[virtual_server.real_server]]\nip = \"10.0.0.2\"\nport = 25\n[[virtual_server.real_server.checker]]\ntype = \"FILE_CHECK\"\ntrack_file = \"tf\"\nretry = 2\n",
        Format::Toml,
        &LoadOptions::default(),
    );
    assert!(
        errors(&l)
            .iter()
            .any(|e| e.contains("'retry' does not apply to FILE_CHECK")),
        "{:?}",
        l.diagnostics
    );
    let l = load_str(
        "u.toml",
        "[[virtual_server]]\nip = \"10.0.0.1\"\nport = 25\nprotocol = \"TCP\"\n[[virtual_server.real_server]]\nip = \"10.0.0.2\"\nport = 25\n[[virtual_server.real_server.checker]]\ntype = \"TCP_CHECK\"\nhelo_name = \"x\"\n",
        Format::Toml,
        &LoadOptions::default(),
    );
    assert!(
        errors(&l)
            .iter()
            .any(|e| e.contains("'helo_name' belongs to SMTP_CHECK")),
        "{:?}",
        l.diagnostics
    );
}

fn one_checker(block: &str) -> Loaded {
    conf(&format!(
        "virtual_server 192.0.2.1 53 {{\n    protocol UDP\n    real_server 192.0.2.10 53 {{\n{block}\n    }}\n}}\n"
    ))
}

/// keepalived's check_udp.c: `payload` and `require_reply` read the rest
/// of the line as hex; `require_reply` alone only requires a reply.
#[test]
fn udp_check_reads_keepalived_s_keywords() {
    let l = one_checker(
        "        UDP_CHECK {\n            payload 01 02 0a\n            require_reply 4f 4b x0\n            min_reply_length 2\n            max_reply_length 64\n            connect_timeout 2\n            bindto 192.0.2.2\n            bind_port 5300\n        }",
    );
    assert!(errors(&l).is_empty(), "{:#?}", errors(&l));
    assert!(warnings(&l).is_empty(), "{:#?}", warnings(&l));
    let c = &l.config.virtual_servers[0].real_servers[0].checkers[0];
    assert_eq!(c.kind, CheckKind::UdpCheck);
    assert_eq!(c.ext.payload.as_deref(), Some("01 02 0a"));
    assert!(c.ext.require_reply);
    assert_eq!(c.ext.reply.as_deref(), Some("4f 4b x0"));
    assert_eq!(
        (c.ext.min_reply_length, c.ext.max_reply_length),
        (Some(2), Some(64))
    );
    assert_eq!(c.connect_timeout, Some(S(2)));
    let l = one_checker("        UDP_CHECK {\n            require_reply\n        }");
    let c = &l.config.virtual_servers[0].real_servers[0].checkers[0];
    assert!(c.ext.require_reply && c.ext.reply.is_none());
}

#[test]
fn udp_check_errors_name_line_and_keyword() {
    let e = errors(&one_checker(
        "        UDP_CHECK {\n            payload 0g\n        }",
    ));
    assert_eq!(e.len(), 1, "{e:#?}");
    assert!(
        e[0].starts_with("k.conf:5:13: error:")
            && e[0].contains("'payload' \"0g\" is not hex digits"),
        "{}",
        e[0]
    );
    let e = errors(&one_checker(
        "        UDP_CHECK {\n            payload 4x\n        }",
    ));
    assert!(
        e[0].contains("'payload'"),
        "a payload has no wildcards: {e:#?}"
    );
    let e = errors(&one_checker(
        "        UDP_CHECK {\n            payload\n        }",
    ));
    assert!(e[0].contains("'payload' needs a value"), "{e:#?}");
    let e = errors(&one_checker(
        "        UDP_CHECK {\n            require_reply zz\n        }",
    ));
    assert!(e[0].contains("'reply' \"zz\""), "{e:#?}");
    let e = errors(&one_checker(
        "        UDP_CHECK {\n            min_reply_length 10\n            max_reply_length 5\n        }",
    ));
    assert!(
        e[0].starts_with("k.conf:5:13:") && e[0].contains("would always fail"),
        "{e:#?}"
    );
    let e = errors(&one_checker(
        "        UDP_CHECK {\n            max_reply_length 70000\n        }",
    ));
    assert!(e[0].contains("expected a length 0-65535"), "{e:#?}");
}

/// keepalived's check_dns.c: `type` (case-insensitive, its nine types),
/// `name` (no empty label, once); defaults SOA of the root, 3 retries
/// after delay_loop.
#[test]
fn dns_check_reads_keepalived_s_keywords_and_defaults() {
    let l = one_checker(
        "        DNS_CHECK {\n            type aaaa\n            name www.example.com\n            retry 2\n        }",
    );
    assert!(errors(&l).is_empty(), "{:#?}", errors(&l));
    assert!(warnings(&l).is_empty(), "{:#?}", warnings(&l));
    let cfg = l.config;
    let (vs, rs) = (
        &cfg.virtual_servers[0],
        &cfg.virtual_servers[0].real_servers[0],
    );
    let c = &rs.checkers[0];
    assert_eq!(c.kind, CheckKind::DnsCheck);
    assert_eq!(c.ext.dns_type, Some(crate::config::model::DnsType::Aaaa));
    assert_eq!(c.ext.dns_name.as_deref(), Some("www.example.com"));
    assert_eq!(c.settings(rs, vs).retry, 2);
    let l = one_checker("        DNS_CHECK {\n        }");
    let cfg = l.config;
    let (vs, rs) = (
        &cfg.virtual_servers[0],
        &cfg.virtual_servers[0].real_servers[0],
    );
    let set = rs.checkers[0].settings(rs, vs);
    assert_eq!(set.retry, 3);
    assert_eq!(set.delay_before_retry, vs.delay_loop);
    let e = errors(&one_checker(
        "        DNS_CHECK {\n            type SRV\n        }",
    ));
    assert!(
        e[0].starts_with("k.conf:5:18:") && e[0].contains("expected one of A, NS, CNAME, SOA"),
        "{e:#?}"
    );
    let e = errors(&one_checker(
        "        DNS_CHECK {\n            name a..example\n        }",
    ));
    assert!(
        e[0].starts_with("k.conf:5:13:") && e[0].contains("has an empty label"),
        "{e:#?}"
    );
    let e = errors(&one_checker(
        "        DNS_CHECK {\n            name a\n            name b\n        }",
    ));
    assert!(e[0].contains("'name' given twice"), "{e:#?}");
    // UDP_CHECK's words are not DNS_CHECK's.
    let e = errors(&one_checker(
        "        DNS_CHECK {\n            payload 00\n        }",
    ));
    assert!(
        e[0].contains("unknown keyword 'payload' in DNS_CHECK"),
        "{e:#?}"
    );
}
