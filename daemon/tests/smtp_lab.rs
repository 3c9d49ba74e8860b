//! SMTP alerts against a real SMTP server: Debian's aiosmtpd (python3-aiosmtpd,
//! installed by scripts/test.sh) in a namespace the test creates, storing
//! what it receives in a Maildir; upkeepd in another, whose VRRP transitions
//! and real-server changes must arrive there with keepalived's subjects and
//! bodies. And a server that never answers must not delay a transition.
//! Needs root; every wait is bounded; the lab is removed on drop.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test crate fails by panicking

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::lab::{Lab, vrrp_instance};

const UPKEEPD: &str = env!("CARGO_BIN_EXE_upkeepd");
const VIP: &str = "10.77.0.100";
const SECS: fn(u64) -> Duration = Duration::from_secs;
/// Debian's interpreter (the one python3-aiosmtpd installs into).
const PYTHON: &str = "/usr/bin/python3";

/// One received message: headers (unfolded, names lower-cased) and body.
#[derive(Debug)]
struct Mail {
    headers: Vec<(String, String)>,
    body: String,
}

impl Mail {
    fn parse(text: &str) -> Mail {
        let text = text.replace("\r\n", "\n");
        let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
        // RFC 5322 unfolding: a line break before white space goes.
        let head = head.replace("\n ", " ").replace("\n\t", " ");
        let headers = head
            .lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        Mail {
            headers,
            body: body.trim_end().to_string(),
        }
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }
}

/// Every message in the Maildir so far.
fn mails(maildir: &Path) -> Vec<Mail> {
    let Ok(dir) = std::fs::read_dir(maildir.join("new")) else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .map(|t| Mail::parse(&t))
        .collect()
}

fn find<'a>(all: &'a [Mail], subject: &str) -> Option<&'a Mail> {
    all.iter().find(|m| m.header("subject") == subject)
}

fn aiosmtpd_installed() -> bool {
    std::process::Command::new(PYTHON)
        .args(["-c", "import aiosmtpd"])
        .status()
        .is_ok_and(|s| s.success())
}

fn global(server: &str, timeout: u32) -> String {
    format!(
        r#"global_defs {{
    router_id lab-lb1
    notification_email {{
        ops@example.org
        oncall@example.org
    }}
    notification_email_from "upkeep lab <lb1@example.org>"
    smtp_server {server}
    smtp_helo_name lb1.example.org
    smtp_connect_timeout {timeout}
    smtp_alert
}}
"#
    )
}

/// Waits until the server has every subject; the mails.
fn expect_mails(lab: &Lab, maildir: &Path, subjects: &[&str], limit: Duration) -> Vec<Mail> {
    let ok = lab.wait(limit, || {
        let all = mails(maildir);
        subjects.iter().all(|s| find(&all, s).is_some())
    });
    let all = mails(maildir);
    assert!(
        ok,
        "missing mails: {:?}\nreceived: {:#?}\n{}",
        subjects
            .iter()
            .filter(|s| find(&all, s).is_none())
            .collect::<Vec<_>>(),
        all.iter().map(|m| m.header("subject")).collect::<Vec<_>>(),
        lab.logs()
    );
    all
}

#[test]
fn alerts_reach_a_real_smtp_server() {
    if !aiosmtpd_installed() {
        panic!("{PYTHON} cannot import aiosmtpd: install python3-aiosmtpd (scripts/test.sh does)");
    }
    let mut lab = Lab::new(2);
    // Node 0: the SMTP server, port 2525, into a Maildir.
    let maildir: PathBuf = lab.nodes[0].dir.join("maildir");
    let smtp = format!("{}:2525", lab.nodes[0].v4);
    lab.spawn(
        0,
        &[
            PYTHON,
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            &smtp,
            "-c",
            "aiosmtpd.handlers.Mailbox",
            maildir.to_str().unwrap(),
        ],
        "aiosmtpd.log",
    );
    assert!(
        lab.wait(SECS(10), || lab.exec(0, &["ss", "-ltn"]).contains(&smtp)),
        "aiosmtpd not listening"
    );
    // Node 1: VRRP alone (it becomes Master), a virtual server whose real
    // server does not exist (DOWN, and the virtual server loses its quorum)
    // and one with `alpha` whose real server is the SMTP server (UP).
    let smtp_ip = lab.nodes[0].v4.clone();
    let services = format!(
        r#"
virtual_server {VIP} 80 {{
    delay_loop 1
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server 10.77.0.50 80 {{
        TCP_CHECK {{
            connect_timeout 1
        }}
    }}
}}
virtual_server {VIP} 2525 {{
    delay_loop 1
    lb_algo rr
    lb_kind DR
    protocol TCP
    alpha
    real_server {smtp_ip} 2525 {{
        TCP_CHECK {{
            connect_timeout 1
        }}
    }}
}}
"#
    );
    let conf = format!(
        "{}{}{services}",
        global(&format!("{smtp_ip} 2525"), 5),
        vrrp_instance(&lab, 1, 100, &[VIP], ""),
    );
    lab.start(1, UPKEEPD, &conf, "keepalived.conf");
    lab.expect_state(1, "VI_1", "MASTER", SECS(20));

    let backup = "[lab-lb1] VRRP Instance VI_1 - Entering BACKUP state";
    let master = "[lab-lb1] VRRP Instance VI_1 - Entering MASTER state";
    let rs_down =
        "[lab-lb1] Realserver [10.77.0.50]:tcp:80 of virtual server [10.77.0.100]:tcp:80 - DOWN";
    let rs_up =
        "[lab-lb1] Realserver [10.77.0.10]:tcp:2525 of virtual server [10.77.0.100]:tcp:2525 - UP";
    let quorum = "[lab-lb1] Virtualserver [10.77.0.100]:tcp:80 - DOWN";
    let all = expect_mails(
        &lab,
        &maildir,
        &[backup, master, rs_down, rs_up, quorum],
        SECS(40),
    );

    let m = find(&all, master).unwrap();
    assert_eq!(
        m.body, "=> VRRP Instance is now owning VRRP VIPs <=",
        "{m:?}"
    );
    assert_eq!(
        m.header("from"),
        "\"upkeep lab\" <lb1@example.org>",
        "{m:?}"
    );
    assert_eq!(
        m.header("to"),
        "ops@example.org, oncall@example.org",
        "{m:?}"
    );
    assert_eq!(m.header("x-mailer"), "upkeep", "{m:?}");
    assert!(!m.header("date").is_empty(), "{m:?}");
    assert!(
        m.header("message-id").ends_with("@lb1.example.org>"),
        "{m:?}"
    );
    // The envelope, as aiosmtpd's Mailbox records it.
    assert_eq!(m.header("x-mailfrom"), "lb1@example.org", "{m:?}");
    assert_eq!(
        m.header("x-rcptto"),
        "ops@example.org, oncall@example.org",
        "{m:?}"
    );
    let b = find(&all, backup).unwrap();
    assert_eq!(
        b.body, "=> VRRP Instance is no longer owning VRRP VIPs <=",
        "{b:?}"
    );
    let d = find(&all, rs_down).unwrap();
    assert_eq!(d.body, "=> TCP CHECK failed on service <=", "{d:?}");
    let u = find(&all, rs_up).unwrap();
    assert_eq!(u.body, "=> TCP CHECK succeed on service <=", "{u:?}");
    let q = find(&all, quorum).unwrap();
    assert_eq!(q.body, "=> Lost quorum 1+0=1 <= 0 <=", "{q:?}");
    // One mail per change: nothing twice.
    for s in [backup, master, rs_down, rs_up, quorum] {
        let n = all.iter().filter(|m| m.header("subject") == s).count();
        assert_eq!(n, 1, "{s}: {n} mails");
    }

    // The counters in the status document.
    assert!(
        lab.wait(SECS(5), || lab
            .status(1)
            .is_some_and(|s| s["mail"]["sent"].as_u64() >= Some(5))),
        "{:?}",
        lab.status(1).map(|s| s["mail"].clone())
    );

    // At stop: "Stopping" goes out before the daemon exits.
    lab.signal(1, libc::SIGTERM);
    assert!(lab.wait_exit(1, SECS(20)).is_some(), "upkeepd did not exit");
    let all = expect_mails(
        &lab,
        &maildir,
        &["[lab-lb1] VRRP Instance VI_1 - Stopping"],
        SECS(10),
    );
    let s = find(&all, "[lab-lb1] VRRP Instance VI_1 - Stopping").unwrap();
    assert_eq!(s.body, "=> VRRP Instance stopping <=");
}

#[test]
fn a_silent_smtp_server_delays_no_transition() {
    let mut lab = Lab::new(2);
    // Node 0: a server that completes the TCP handshake (the kernel's
    // backlog) and never says a word: every try waits the whole timeout.
    let ip = lab.nodes[0].v4.clone();
    lab.spawn(
        0,
        &[
            PYTHON,
            "-c",
            &format!(
                "import socket,time\ns=socket.socket()\ns.bind(('{ip}',2525))\ns.listen(64)\ntime.sleep(600)"
            ),
        ],
        "silent.log",
    );
    assert!(
        lab.wait(SECS(10), || lab.exec(0, &["ss", "-ltn"]).contains(":2525")),
        "silent server not listening"
    );
    let conf = format!(
        "{}{}",
        global(&format!("{ip} 2525"), 2),
        vrrp_instance(&lab, 1, 100, &[VIP], "")
    );
    let started = Instant::now();
    lab.start(1, UPKEEPD, &conf, "keepalived.conf");
    lab.expect_state(1, "VI_1", "MASTER", SECS(20));
    assert!(
        lab.wait(SECS(5), || lab.has_addr(1, VIP)),
        "VIP not on the Master\n{}",
        lab.logs()
    );
    // Measured, not asserted tightly: the Master_Down_Interval (about 3.6 s)
    // while the BACKUP mail is stuck in its first 2 s try.
    eprintln!(
        "silent SMTP server: MASTER with its VIP {:?} after start",
        started.elapsed()
    );
    // Each mail: 3 tries of 2 s with 2 s and 4 s between (about 12 s).
    let failed = lab.wait(SECS(60), || {
        lab.status(1)
            .is_some_and(|s| s["mail"]["failed"].as_u64() >= Some(1))
    });
    let mail = lab.status(1).map(|s| s["mail"].clone());
    assert!(
        failed,
        "no mail counted as failed: {mail:?}\n{}",
        lab.logs()
    );
    eprintln!(
        "silent SMTP server: first mail given up after {:?}: {mail:?}",
        started.elapsed()
    );
    assert_eq!(lab.state(1, "VI_1").as_deref(), Some("MASTER"));
    assert!(lab.log(1).contains("mail alert given up"));
    // And the daemon still stops in bounded time with mails pending.
    let t = Instant::now();
    lab.signal(1, libc::SIGTERM);
    assert!(lab.wait_exit(1, SECS(20)).is_some(), "upkeepd did not exit");
    eprintln!("silent SMTP server: stopped in {:?}", t.elapsed());
}
