use super::*;
use crate::config::{Format, LoadOptions, load_str};

const CONF: &str = r#"
virtual_server 10.0.0.1 80 {
    protocol TCP
    quorum_up "/bin/q up"
    quorum_down "/bin/q down"
    omega
    real_server 10.0.1.1 80 {
        notify_up "/bin/n up 1"
        notify_down "/bin/n down 1"
        TCP_CHECK { connect_timeout 1 }
    }
    real_server 10.0.1.2 80 {
        notify_down "/bin/n down 2"
        TCP_CHECK { connect_timeout 1 }
    }
}
"#;

fn cfg(text: &str) -> Config {
    load_str("t.conf", text, Format::Keepalived, &LoadOptions::default()).config
}

fn rs(up: bool) -> RealServerState {
    RealServerState {
        virtual_server: "10.0.0.1:80/tcp".into(),
        real_server: "10.0.1.1:80".into(),
        up,
        weight: 0,
    }
}

fn plan(c: &Config) -> Plan {
    Plan::new(c, &mut Default::default())
}

fn argvs(p: Vec<Prepared>) -> Vec<Vec<String>> {
    p.into_iter().map(|p| p.argv).collect()
}

// The words only (the accounts are tested below).
fn real_server_commands(
    c: &Config,
    idx: &Index,
    rs: &RealServerState,
    before: Option<bool>,
) -> Vec<Vec<String>> {
    argvs(super::real_server_commands(c, &plan(c), idx, rs, before))
}

fn quorum_commands(
    c: &Config,
    idx: &Index,
    vs: &str,
    up: bool,
    before: Option<bool>,
) -> Vec<Vec<String>> {
    argvs(super::quorum_commands(c, &plan(c), idx, vs, up, before))
}

fn omega_commands(c: &Config, r: &Record) -> Vec<(String, Vec<Vec<String>>)> {
    super::omega_commands(c, &plan(c), r)
        .into_iter()
        .map(|(q, p)| (q, argvs(p)))
        .collect()
}

/// Regression: notify_up "cmd" USER ran as root with USER as an argument.
#[test]
fn real_server_scripts_run_as_the_user_they_name() {
    let c = cfg(&CONF.replace(
        r#"notify_down "/bin/n down 1""#,
        r#"notify_down "/bin/n down 1" nobody"#,
    ));
    let p = super::real_server_commands(&c, &plan(&c), &index(&c), &rs(false), None);
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].argv, words(&["/bin/n", "down", "1"]));
    assert_eq!(p[0].account.name, "nobody");
}

fn words(c: &[&str]) -> Vec<String> {
    c.iter().map(|s| s.to_string()).collect()
}

#[test]
fn real_server_scripts_run_on_changes_only() {
    let c = cfg(CONF);
    // Up at start (no alpha): a first "up" is no change; a first "down" is.
    assert!(real_server_commands(&c, &index(&c), &rs(true), None).is_empty());
    assert_eq!(
        real_server_commands(&c, &index(&c), &rs(false), None),
        vec![words(&["/bin/n", "down", "1"])]
    );
    assert_eq!(
        real_server_commands(&c, &index(&c), &rs(true), Some(false)),
        vec![words(&["/bin/n", "up", "1"])]
    );
    assert!(real_server_commands(&c, &index(&c), &rs(false), Some(false)).is_empty());
    // With alpha the server starts down: its first "up" runs notify_up.
    let alpha = cfg(&CONF.replace("    omega\n", "    alpha\n"));
    assert_eq!(
        real_server_commands(&alpha, &index(&alpha), &rs(true), None),
        vec![words(&["/bin/n", "up", "1"])]
    );
    // Names the configuration does not have run nothing.
    let mut other = rs(false);
    other.real_server = "10.0.1.9:80".into();
    assert!(real_server_commands(&c, &index(&c), &other, None).is_empty());
    other.virtual_server = "10.9.9.9:80/tcp".into();
    assert!(real_server_commands(&c, &index(&c), &other, None).is_empty());
}

#[test]
fn quorum_scripts_run_on_changes_from_a_start_with_quorum() {
    let c = cfg(CONF);
    let vs = "10.0.0.1:80/tcp";
    assert!(quorum_commands(&c, &index(&c), vs, true, None).is_empty());
    assert_eq!(
        quorum_commands(&c, &index(&c), vs, false, None),
        vec![words(&["/bin/q", "down"])]
    );
    assert_eq!(
        quorum_commands(&c, &index(&c), vs, true, Some(false)),
        vec![words(&["/bin/q", "up"])]
    );
    assert!(quorum_commands(&c, &index(&c), "10.9.9.9:80/tcp", false, None).is_empty());
}

#[test]
fn omega_runs_notify_down_of_live_servers_and_quorum_down_at_stop() {
    let c = cfg(CONF);
    let mut r = Record::bound_to(&c);
    r.real_server(&RealServerState {
        real_server: "10.0.1.2:80".into(),
        ..rs(false)
    });
    let out = omega_commands(&c, &r);
    assert_eq!(
        out,
        vec![(
            "ipvs:10.0.0.1:80/tcp".to_string(),
            vec![words(&["/bin/n", "down", "1"]), words(&["/bin/q", "down"])]
        )]
    );
    r.quorum.insert("10.0.0.1:80/tcp".into(), false);
    assert_eq!(
        omega_commands(&c, &r)[0].1,
        vec![words(&["/bin/n", "down", "1"])]
    );
    assert!(omega_commands(&cfg(&CONF.replace("    omega\n", "")), &r).is_empty());
}

/// A real server is found by its key as an address: IPv4 and IPv6, the
/// port its own or the virtual server's, the same servers as comparing
/// the keys as strings found.
#[test]
fn real_servers_are_found_by_address() {
    let c = cfg(
        "virtual_server 10.0.0.1 80 {\n protocol TCP\n real_server 10.0.1.1 80 {\n  TCP_CHECK { }\n }\n real_server 10.0.1.1 81 {\n  TCP_CHECK { }\n }\n real_server 2001:db8::1 80 {\n  TCP_CHECK { }\n }\n}\n",
    );
    let vs = &c.virtual_servers[0];
    for (key, found) in [
        ("10.0.1.1:80", Some(0)),
        ("10.0.1.1:81", Some(1)),
        ("[2001:db8::1]:80", Some(2)),
        ("[2001:db8:0::1]:80", Some(2)),
        ("10.0.1.1:82", None),
        ("10.0.1.2:80", None),
        ("not an address", None),
    ] {
        let got = find_rs(vs, key).map(|r| (r.ip, r.port));
        let want = found.map(|i| (vs.real_servers[i].ip, vs.real_servers[i].port));
        assert_eq!(got, want, "{key}");
        if let Some(r) = find_rs(vs, key) {
            assert_eq!(
                crate::ipvs::table::rs_key(r.ip, r.port.or(vs.port))
                    .parse::<std::net::SocketAddr>(),
                key.parse::<std::net::SocketAddr>()
            );
        }
    }
}
