//! SMTP_CHECK and FILE_CHECK run by upkeepd's unprivileged checker against
//! real servers in network namespaces the test creates: Debian's aiosmtpd
//! (python3-aiosmtpd) as the working SMTP server, socat serving wrong
//! answers, a track file whose value the test writes. Results are read
//! from upkeepd's status.json. Needs root; every wait is bounded; the lab
//! is removed on drop.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test crate fails by panicking

mod common;

use std::time::Duration;

use common::lab::Lab;

const UPKEEPD: &str = env!("CARGO_BIN_EXE_upkeepd");
const VIP: &str = "10.77.0.100";
const SECS: fn(u64) -> Duration = Duration::from_secs;
const PYTHON: &str = "/usr/bin/python3";

/// Waits until the check of `rs` is `state` and its last result holds
/// `says` (bounded by `limit`).
fn expect(lab: &Lab, rs: &str, state: &str, says: &str, limit: Duration) {
    let ok = lab.wait(limit, || {
        lab.real_server_check(0, rs)
            .is_some_and(|c| c["state"] == state && c["last_result"].to_string().contains(says))
    });
    assert!(
        ok,
        "{rs} not {state} saying {says:?}: {:?}\n{}",
        lab.real_server_check(0, rs),
        lab.logs()
    );
}

/// The weight the IPVS worker wants `rs` to have (status.json; the lab's
/// kernel may have no IPVS, the desired state is reported all the same).
fn desired_weight(lab: &Lab, rs: &str) -> Option<u64> {
    let s = lab.status(0)?;
    s["virtual_servers"]
        .as_array()?
        .iter()
        .flat_map(|v| v["real_servers"].as_array().into_iter().flatten())
        .find(|r| r["address"] == rs)?["desired_weight"]
        .as_u64()
}

fn expect_weight(lab: &Lab, rs: &str, want: u64) {
    assert!(
        lab.wait(SECS(10), || desired_weight(lab, rs) == Some(want)),
        "{rs}: desired weight {:?}, not {want}\n{:?}",
        desired_weight(lab, rs),
        lab.status(0)
    );
}

fn aiosmtpd(lab: &mut Lab, addr: &str) {
    lab.spawn(
        1,
        &[PYTHON, "-m", "aiosmtpd", "-n", "-l", addr],
        "aiosmtpd.log",
    );
    assert!(
        lab.wait(SECS(10), || lab.exec(1, &["ss", "-ltn"]).contains(addr)),
        "aiosmtpd not listening on {addr}"
    );
}

/// socat on `port` of node 1 answering every connection with `script`
/// (sh, the connection on its stdin and stdout; in a file, out of reach
/// of socat's address syntax).
fn socat(lab: &mut Lab, port: u16, script: &str) {
    let file = lab.nodes[1].dir.join(format!("server-{port}.sh"));
    std::fs::write(&file, format!("{script}\n")).unwrap();
    let listen = format!("TCP-LISTEN:{port},bind={},reuseaddr,fork", lab.nodes[1].v4);
    let exec = format!("EXEC:/bin/sh {}", file.display());
    lab.spawn(1, &["socat", &listen, &exec], &format!("socat-{port}.log"));
    let addr = format!("{}:{port}", lab.nodes[1].v4);
    assert!(
        lab.wait(SECS(10), || lab.exec(1, &["ss", "-ltn"]).contains(&addr)),
        "socat not listening on {addr}"
    );
}

/// `connect_timeout` at the real server: on the SMTP_CHECK itself it
/// would make keepalived (and upkeep) check the server's own address
/// beside its hosts.
fn real_server(port: u16, check: &str) -> String {
    format!(
        "    real_server 10.77.0.11 {port} {{\n        connect_timeout 1\n        SMTP_CHECK {{\n            retry 1\n            delay_before_retry 0.5\n            warmup 0\n{check}        }}\n    }}\n"
    )
}

/// A server that greets and accepts HELO is up; it is down while killed
/// and up again when back; wrong greetings and a refused HELO are down with
/// their reason; keepalived's `host` blocks each check one server (the
/// real server's own address only when no host is given).
#[test]
fn smtp_check_against_real_servers() {
    if std::process::Command::new(PYTHON)
        .args(["-c", "import aiosmtpd"])
        .status()
        .map_or(true, |s| !s.success())
    {
        panic!("{PYTHON} cannot import aiosmtpd: install python3-aiosmtpd (scripts/test.sh does)");
    }
    let mut lab = Lab::new(2);
    let good = format!("{}:2525", lab.nodes[1].v4);
    aiosmtpd(&mut lab, &good);
    socat(
        &mut lab,
        2526,
        r#"printf '554 no service here\r\n'; sleep 1"#,
    );
    socat(
        &mut lab,
        2527,
        r#"printf '220-mx.example ESMTP\r\n220 ready\r\n'; read l; printf '550 go away\r\n'; sleep 1"#,
    );
    socat(
        &mut lab,
        2528,
        r#"printf 'HTTP/1.1 400 Bad Request\r\n'; sleep 1"#,
    );
    // A multi-line greeting and HELO answered: up.
    socat(
        &mut lab,
        2529,
        r#"printf '220-mx.example ESMTP\r\n220 ready\r\n'; read l; printf '250 hi\r\n'; read l; printf '221 bye\r\n'"#,
    );
    let instance = common::lab::vrrp_instance(&lab, 0, 100, &[VIP], "");
    let servers = [
        real_server(2525, "            helo_name lb.example.org\n"),
        real_server(2526, ""),
        real_server(2527, ""),
        real_server(2528, ""),
        real_server(2529, ""),
        // Hosts only: port 2600 itself is not checked (nothing listens).
        real_server(
            2600,
            "            host {\n                connect_port 2525\n            }\n            host {\n                connect_port 2529\n            }\n",
        ),
        // One host of two answers wrongly: down.
        real_server(
            2601,
            "            host {\n                connect_port 2525\n            }\n            host {\n                connect_port 2526\n            }\n",
        ),
        // Nothing listens: refused.
        real_server(2602, ""),
    ]
    .concat();
    let conf = format!(
        "{instance}\nvirtual_server {VIP} 25 {{\n    delay_loop 1\n    lb_kind DR\n    protocol TCP\n    alpha\n{servers}}}\n"
    );
    lab.start(0, UPKEEPD, &conf, "keepalived.conf");
    expect(
        &lab,
        "10.77.0.11:2525",
        "up",
        "greeting, HELO and QUIT",
        SECS(20),
    );
    expect(
        &lab,
        "10.77.0.11:2526",
        "down",
        "bad greeting: '554 no service here'",
        SECS(10),
    );
    expect(
        &lab,
        "10.77.0.11:2527",
        "down",
        "bad reply to HELO: '550 go away'",
        SECS(10),
    );
    expect(&lab, "10.77.0.11:2528", "down", "garbled reply", SECS(10));
    expect(&lab, "10.77.0.11:2529", "up", "10.77.0.11:2529", SECS(10));
    expect(&lab, "10.77.0.11:2600", "up", "10.77.0.11:2529", SECS(10));
    expect(
        &lab,
        "10.77.0.11:2601",
        "down",
        "10.77.0.11:2526: bad greeting",
        SECS(10),
    );
    expect(&lab, "10.77.0.11:2602", "down", "connect", SECS(10));
    // Killed: down (refused), and the hosts-only server with it.
    assert!(lab.kill_named(1, "python3") > 0, "aiosmtpd not found");
    expect(&lab, "10.77.0.11:2525", "down", "connect", SECS(15));
    expect(&lab, "10.77.0.11:2600", "down", "10.77.0.11:2525", SECS(15));
    aiosmtpd(&mut lab, &good);
    expect(&lab, "10.77.0.11:2525", "up", "greeting", SECS(15));
    expect(&lab, "10.77.0.11:2600", "up", "", SECS(15));
}

/// A server that accepts connections and says nothing fails on the
/// timeout, waiting for the greeting.
#[test]
fn smtp_check_times_out_on_a_silent_server() {
    let mut lab = Lab::new(2);
    socat(&mut lab, 2530, "sleep 5");
    let instance = common::lab::vrrp_instance(&lab, 0, 100, &[VIP], "");
    let conf = format!(
        "{instance}\nvirtual_server {VIP} 25 {{\n    delay_loop 1\n    lb_kind DR\n    protocol TCP\n{}}}\n",
        real_server(2530, "")
    );
    lab.start(0, UPKEEPD, &conf, "keepalived.conf");
    expect(
        &lab,
        "10.77.0.11:2530",
        "down",
        "timed out waiting for the greeting",
        SECS(20),
    );
}

/// FILE_CHECK: the real server follows its track file's value, as
/// keepalived: with weight 0 a non-zero value is down (reverse: zero is
/// down); with the track file's default weight 1 the server stays up
/// and only an out-of-range value is ignored.
#[test]
fn file_check_follows_the_track_file() {
    let mut lab = Lab::new(1);
    let file = lab.nodes[0].dir.join("rs.state");
    std::fs::write(&file, "0\n").unwrap();
    let instance = common::lab::vrrp_instance(&lab, 0, 100, &[VIP], "");
    let check = |port: u16, weight: &str| {
        format!(
            "    real_server 10.77.0.10 {port} {{\n        FILE_CHECK {{\n            track_file rs_state\n{weight}        }}\n    }}\n"
        )
    };
    let conf = format!(
        "track_file rs_state {{\n    file {}\n}}\n{instance}\nvirtual_server {VIP} 80 {{\n    delay_loop 1\n    lb_kind DR\n    protocol TCP\n{}{}{}}}\n",
        file.display(),
        check(81, "            weight 0\n"),
        check(82, "            weight 0 reverse\n"),
        check(83, ""),
    );
    lab.start(0, UPKEEPD, &conf, "keepalived.conf");
    expect(&lab, "10.77.0.10:81", "up", "rs_state: 0", SECS(20));
    expect(&lab, "10.77.0.10:82", "down", "rs_state: 0", SECS(5));
    expect(&lab, "10.77.0.10:83", "up", "weight +0", SECS(5));
    // Written in place (the sandboxed checker may read this file only).
    std::fs::write(&file, "1\n").unwrap();
    expect(&lab, "10.77.0.10:81", "down", "rs_state: 1", SECS(10));
    expect(&lab, "10.77.0.10:82", "up", "rs_state: 1", SECS(5));
    expect(&lab, "10.77.0.10:83", "up", "weight +1", SECS(5));
    expect_weight(&lab, "10.77.0.10:83", 2);
    std::fs::write(&file, "0x10\n").unwrap();
    expect(&lab, "10.77.0.10:83", "up", "weight +16", SECS(10));
    // keepalived's effective weight: the configured 1 plus the value.
    expect_weight(&lab, "10.77.0.10:83", 17);
    std::fs::write(&file, "99999999999\n").unwrap();
    expect(&lab, "10.77.0.10:81", "down", "ignored", SECS(10));
    std::fs::write(&file, "0\n").unwrap();
    expect(&lab, "10.77.0.10:81", "up", "rs_state: 0", SECS(10));
    expect(&lab, "10.77.0.10:82", "down", "rs_state: 0", SECS(5));
}
