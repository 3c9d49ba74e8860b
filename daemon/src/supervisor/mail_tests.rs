use super::*;
use crate::config::Diagnostics;
use crate::config::model::Notify;
use crate::supervisor::mailer::Settings;

fn conf(text: &str) -> Config {
    let mut d = Diagnostics::default();
    let mut cfg = crate::config::keepalived::read_str("k.conf", text, None, &mut d);
    crate::config::validate::validate(&mut cfg, &mut d);
    assert!(!d.has_errors(), "{:?}", d.items());
    cfg
}

const SMTP: &str = "global_defs {\n router_id lb1\n notification_email {\n  ops@example.org\n }\n notification_email_from ka@example.org\n smtp_server 192.0.2.25\n";

fn with(global_extra: &str, rest: &str) -> Config {
    conf(&format!("{SMTP}{global_extra}}}\n{rest}"))
}

const VRRP: &str = "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress { 10.0.0.100 }\n}\nvrrp_instance VI_2 {\n interface eth0\n virtual_router_id 2\n virtual_ipaddress { 10.0.0.101 }\n smtp_alert\n}\nvrrp_sync_group G1 {\n group { VI_1 VI_2 }\n}\n";

fn note(kind: &'static str, name: &str, state: State) -> Notification {
    Notification {
        kind,
        name: name.into(),
        notify: Notify::default(),
        state,
        maintenance: false,
        priority: 100,
    }
}

fn subjects(
    rules: &mut Rules,
    cfg: &Config,
    events: &[(&'static str, &str, State)],
) -> Vec<String> {
    events
        .iter()
        .filter_map(|(k, n, s)| rules.vrrp(cfg, &note(k, n, *s)))
        .map(|a| a.subject)
        .collect()
}

#[test]
fn vrrp_formats_are_keepalived_s() {
    let cfg = with(" smtp_alert\n", VRRP);
    let mut r = Rules::new(&cfg, "host1");
    let a = r.vrrp(&cfg, &note("INSTANCE", "VI_1", State::Master));
    assert_eq!(
        a,
        Some(Alert {
            subject: "[lb1] VRRP Instance VI_1 - Entering MASTER state".into(),
            body: "=> VRRP Instance is now owning VRRP VIPs <=".into(),
        })
    );
    let a = r.vrrp(&cfg, &note("INSTANCE", "VI_1", State::Backup));
    assert_eq!(
        a.map(|a| (a.subject, a.body)),
        Some((
            "[lb1] VRRP Instance VI_1 - Entering BACKUP state".into(),
            "=> VRRP Instance is no longer owning VRRP VIPs <=".into()
        ))
    );
    let a = r.vrrp(&cfg, &note("INSTANCE", "VI_1", State::Fault));
    assert_eq!(
        a.map(|a| a.subject),
        Some("[lb1] VRRP Instance VI_1 - Entering FAULT state".into())
    );
    let a = r.vrrp(&cfg, &note("INSTANCE", "VI_1", State::Initialize));
    assert_eq!(
        a.map(|a| (a.subject, a.body)),
        Some((
            "[lb1] VRRP Instance VI_1 - Stopping".into(),
            "=> VRRP Instance stopping <=".into()
        ))
    );
    let a = r.vrrp(&cfg, &note("GROUP", "G1", State::Master));
    assert_eq!(
        a.map(|a| (a.subject, a.body)),
        Some((
            "[lb1] VRRP Group G1 - Entering MASTER state".into(),
            "=> All VRRP group instances are now in MASTER state <=".into()
        ))
    );
}

#[test]
fn router_id_defaults_to_the_host_name() {
    let cfg = conf(&format!(
        "{}}}\n{VRRP}",
        SMTP.replace(" router_id lb1\n", "")
    ));
    let mut r = Rules::new(&cfg, "host1");
    let a = r.vrrp(&cfg, &note("INSTANCE", "VI_2", State::Backup));
    assert_eq!(
        a.map(|a| a.subject),
        Some("[host1] VRRP Instance VI_2 - Entering BACKUP state".into())
    );
}

#[test]
fn which_vrrp_events_mail() {
    // Nothing set: only VI_2, which says smtp_alert itself.
    let cfg = with("", VRRP);
    let mut r = Rules::new(&cfg, "h");
    let ev = [
        ("INSTANCE", "VI_1", State::Master),
        ("INSTANCE", "VI_2", State::Master),
        ("GROUP", "G1", State::Master),
    ];
    assert_eq!(
        subjects(&mut r, &cfg, &ev),
        ["[lb1] VRRP Instance VI_2 - Entering MASTER state"]
    );
    // smtp_alert_vrrp beats smtp_alert; a block's own setting beats both.
    let cfg = with(
        " smtp_alert off\n smtp_alert_vrrp on\n",
        &VRRP.replace(" smtp_alert\n", " smtp_alert false\n"),
    );
    let mut r = Rules::new(&cfg, "h");
    assert_eq!(
        subjects(&mut r, &cfg, &ev),
        [
            "[lb1] VRRP Instance VI_1 - Entering MASTER state",
            "[lb1] VRRP Group G1 - Entering MASTER state"
        ]
    );
    // smtp_alert_checker does not apply to VRRP.
    let cfg = with(" smtp_alert_checker on\n", VRRP);
    let mut r = Rules::new(&cfg, "h");
    assert_eq!(subjects(&mut r, &cfg, &ev[..1]), Vec::<String>::new());
    // No server or no recipient: nothing at all.
    let cfg = conf(&format!(
        "global_defs {{\n smtp_alert\n notification_email {{\n a@example.org\n }}\n}}\n{VRRP}"
    ));
    let mut r = Rules::new(&cfg, "h");
    assert!(subjects(&mut r, &cfg, &ev).is_empty());
    let cfg = conf(&format!(
        "global_defs {{\n smtp_alert\n smtp_server 192.0.2.1\n}}\n{VRRP}"
    ));
    let mut r = Rules::new(&cfg, "h");
    assert!(subjects(&mut r, &cfg, &ev).is_empty());
    assert!(Settings::new(&cfg, "h", "root").is_none());
}

#[test]
fn no_email_faults_and_the_last_state_mailed() {
    let cfg = with(" smtp_alert\n no_email_faults\n", VRRP);
    let mut r = Rules::new(&cfg, "h");
    let ev = [
        ("INSTANCE", "VI_1", State::Backup),
        ("INSTANCE", "VI_1", State::Master),
        ("INSTANCE", "VI_1", State::Fault),
        // Back to the state last mailed: keepalived stays quiet.
        ("INSTANCE", "VI_1", State::Master),
        ("INSTANCE", "VI_1", State::Backup),
    ];
    assert_eq!(
        subjects(&mut r, &cfg, &ev),
        [
            "[lb1] VRRP Instance VI_1 - Entering BACKUP state",
            "[lb1] VRRP Instance VI_1 - Entering MASTER state",
            "[lb1] VRRP Instance VI_1 - Entering BACKUP state",
        ]
    );
    // Without it, FAULT mails.
    let cfg = with(" smtp_alert\n", VRRP);
    let mut r = Rules::new(&cfg, "h");
    assert_eq!(subjects(&mut r, &cfg, &ev).len(), 5);
}

#[test]
fn sync_groups_with_mail_are_followed_without_scripts() {
    let cfg = with(" smtp_alert\n", VRRP);
    let mut rec = Record::default();
    let t = |i: &str, to| crate::ipc::msg::Transition {
        instance: i.into(),
        from: State::Backup,
        to,
        cause: String::new(),
        priority: 100,
        maintenance: false,
    };
    assert!(
        rec.transition(&cfg, &t("VI_1", State::Master))
            .iter()
            .all(|n| n.kind == "INSTANCE")
    );
    let n = rec.transition(&cfg, &t("VI_2", State::Master));
    assert!(
        n.iter().any(|n| n.kind == "GROUP" && n.name == "G1"),
        "{n:?}"
    );
    // Without mail (and without scripts) the group is not followed.
    let cfg = with("", &VRRP.replace(" smtp_alert\n", ""));
    let mut rec = Record::default();
    rec.transition(&cfg, &t("VI_1", State::Master));
    let n = rec.transition(&cfg, &t("VI_2", State::Master));
    assert!(n.iter().all(|n| n.kind == "INSTANCE"), "{n:?}");
}

const LVS: &str = "virtual_server 10.0.0.1 80 {\n protocol TCP\n quorum 2\n hysteresis 1\n real_server 10.0.0.2 80 {\n  weight 2\n  TCP_CHECK {\n   connect_timeout 1\n  }\n }\n real_server 10.0.0.3 8080 {\n  HTTP_GET {\n   url {\n    path /\n    status_code 200\n   }\n  }\n }\n real_server 10.0.0.4 80 {\n  smtp_alert off\n  MISC_CHECK {\n   misc_path /bin/true\n  }\n }\n}\nvirtual_server fwmark 7 {\n alpha\n real_server 10.0.0.5 {\n  TCP_CHECK {\n   connect_port 80\n  }\n }\n}\n";

fn rs(vs: &str, rs: &str, up: bool) -> RealServerState {
    RealServerState {
        virtual_server: vs.into(),
        real_server: rs.into(),
        up,
        weight: 0,
    }
}

#[test]
fn real_server_formats_and_rules() {
    let cfg = with("", LVS);
    let idx = lvs_notify::index(&cfg);
    let r = Rules::new(&cfg, "h");
    let vs = "10.0.0.1:80/tcp";
    // On by default: a real server mails each change.
    let a = r.real_server(&cfg, &idx, &rs(vs, "10.0.0.2:80", false), None);
    assert_eq!(
        a,
        Some(Alert {
            subject:
                "[lb1] Realserver [10.0.0.2]:tcp:80 of virtual server [10.0.0.1]:tcp:80 - DOWN"
                    .into(),
            body: "=> TCP CHECK failed on service <=".into(),
        })
    );
    let a = r.real_server(&cfg, &idx, &rs(vs, "10.0.0.2:80", true), Some(false));
    assert_eq!(
        a.map(|a| (a.subject, a.body)),
        Some((
            "[lb1] Realserver [10.0.0.2]:tcp:80 of virtual server [10.0.0.1]:tcp:80 - UP".into(),
            "=> TCP CHECK succeed on service <=".into()
        ))
    );
    // No change: no mail (up at start, up again).
    assert_eq!(
        r.real_server(&cfg, &idx, &rs(vs, "10.0.0.2:80", true), None),
        None
    );
    assert_eq!(
        r.real_server(&cfg, &idx, &rs(vs, "10.0.0.2:80", false), Some(false)),
        None
    );
    let a = r.real_server(&cfg, &idx, &rs(vs, "10.0.0.3:8080", false), None);
    assert_eq!(
        a.map(|a| a.body),
        Some("=> CHECK failed on service : HTTP/SSL request failed <=".into())
    );
    // Its own smtp_alert off.
    assert_eq!(
        r.real_server(&cfg, &idx, &rs(vs, "10.0.0.4:80", false), None),
        None
    );
    // alpha: starts down, so the first up mails; fwmark services are `FWM N`.
    let a = r.real_server(&cfg, &idx, &rs("fwmark:7", "10.0.0.5:0", true), None);
    assert_eq!(
        a.map(|a| a.subject),
        Some("[lb1] Realserver [10.0.0.5]:tcp:0 of virtual server FWM 7 - UP".into())
    );
    // A server the configuration does not have: nothing.
    assert_eq!(
        r.real_server(&cfg, &idx, &rs(vs, "10.9.9.9:80", false), None),
        None
    );
    // smtp_alert_checker off (or smtp_alert off) silences them.
    let cfg = with(" smtp_alert_checker off\n", LVS);
    assert_eq!(
        Rules::new(&cfg, "h").real_server(&cfg, &idx, &rs(vs, "10.0.0.2:80", false), None),
        None
    );
    let cfg = with(" smtp_alert off\n smtp_alert_vrrp on\n", LVS);
    assert_eq!(
        Rules::new(&cfg, "h").real_server(&cfg, &idx, &rs(vs, "10.0.0.2:80", false), None),
        None
    );
}

/// keepalived's SMTP_CHECK mails with the generic text; its FILE_CHECK
/// mails nothing.
#[test]
fn smtp_check_and_file_check_mail_as_keepalived() {
    let lvs = "track_file tf {\n file /run/x\n}\nvirtual_server 10.0.0.1 25 {\n protocol TCP\n real_server 10.0.0.2 25 {\n  SMTP_CHECK {\n  }\n }\n real_server 10.0.0.3 25 {\n  FILE_CHECK {\n   track_file tf\n  }\n }\n}\n";
    let cfg = with("", lvs);
    let idx = lvs_notify::index(&cfg);
    let r = Rules::new(&cfg, "h");
    let vs = "10.0.0.1:25/tcp";
    let body = |rs_key: &str, up: bool, before: Option<bool>| {
        r.real_server(&cfg, &idx, &rs(vs, rs_key, up), before)
            .map(|a| a.body)
    };
    assert_eq!(
        body("10.0.0.2:25", false, None).as_deref(),
        Some("=> CHECK failed on service <=")
    );
    assert_eq!(
        body("10.0.0.2:25", true, Some(false)).as_deref(),
        Some("=> CHECK succeed on service <=")
    );
    assert_eq!(body("10.0.0.3:25", false, None), None);
    assert_eq!(body("10.0.0.3:25", true, Some(false)), None);
}

#[test]
fn quorum_mails_only_when_asked() {
    let cfg = with("", LVS);
    let idx = lvs_notify::index(&cfg);
    let mut rec = Record::bound_to(&cfg);
    let vs = "10.0.0.1:80/tcp";
    assert_eq!(
        Rules::new(&cfg, "h").quorum((&cfg, &idx), vs, false, None, &rec),
        None
    );
    let cfg = with(" smtp_alert_checker\n", LVS);
    let r = Rules::new(&cfg, "h");
    rec.real_server(&rs(vs, "10.0.0.2:80", false));
    rec.real_server(&rs(vs, "10.0.0.3:8080", false));
    let a = r.quorum((&cfg, &idx), vs, false, None, &rec);
    // Live weight: only 10.0.0.4 (weight 1) is up; threshold 2 - 1.
    assert_eq!(
        a,
        Some(Alert {
            subject: "[lb1] Virtualserver [10.0.0.1]:tcp:80 - DOWN".into(),
            body: "=> Lost quorum 2+1=1 <= 1 <=".into(),
        })
    );
    rec.real_server(&rs(vs, "10.0.0.2:80", true));
    let a = r.quorum((&cfg, &idx), vs, true, Some(false), &rec);
    assert_eq!(
        a.map(|a| a.body),
        Some("=> Gained quorum 2+1=3 <= 3 <=".into())
    );
    assert_eq!(r.quorum((&cfg, &idx), vs, true, Some(true), &rec), None);
}

#[test]
fn settings_and_message() {
    let cfg = with(
        " smtp_helo_name lb1.example.org\n smtp_connect_timeout 7\n",
        VRRP,
    );
    let s = Settings::new(&cfg, "host1", "root").unwrap_or_else(|| panic!("settings"));
    assert_eq!((s.host.as_str(), s.port), ("192.0.2.25", 25));
    assert_eq!(s.timeout, std::time::Duration::from_secs(7));
    assert_eq!(s.helo, "lb1.example.org");
    let m = s
        .message(&Alert {
            subject: "[lb1] VRRP Instance VI_1 - Entering MASTER state".into(),
            body: "=> VRRP Instance is now owning VRRP VIPs <=".into(),
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let text = String::from_utf8_lossy(&m.formatted()).to_string();
    for h in [
        "From: ka@example.org\r\n",
        "To: ops@example.org\r\n",
        "Subject: [lb1] VRRP Instance VI_1 - Entering MASTER state\r\n",
        "X-Mailer: upkeep\r\n",
        "Date: ",
        "Message-ID: <",
    ] {
        assert!(text.contains(h), "{h:?} missing in {text}");
    }
    assert!(
        text.ends_with("\r\n\r\n=> VRRP Instance is now owning VRRP VIPs <=\r\n"),
        "{text}"
    );
    // keepalived's defaults: 30 s, HELO the host name, from USER@HOST.
    let cfg = conf(&format!(
        "{}}}\n",
        SMTP.replace(" notification_email_from ka@example.org\n", "")
    ));
    let s = Settings::new(&cfg, "host1", "root").unwrap_or_else(|| panic!("settings"));
    assert_eq!(s.timeout, std::time::Duration::from_secs(30));
    assert_eq!(s.helo, "host1");
    assert_eq!(s.from.to_string(), "root@host1");
}
