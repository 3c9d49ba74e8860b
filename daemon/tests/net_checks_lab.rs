//! PING_CHECK, UDP_CHECK (socat) and DNS_CHECK (unbound) against real
//! servers in network namespaces the test creates, run by upkeepd's
//! unprivileged checker. Needs root; every
//! wait is bounded; the lab is removed on drop.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test crate fails by panicking

mod common;

use std::time::Duration;

use common::lab::Lab;

const UPKEEPD: &str = env!("CARGO_BIN_EXE_upkeepd");
const VIP: &str = "10.77.0.100";
const SECS: fn(u64) -> Duration = Duration::from_secs;

fn expect(lab: &Lab, rs: &str, state: &str, limit: Duration) {
    assert!(
        lab.wait(limit, || lab
            .real_server_check(0, rs)
            .is_some_and(|c| c["state"] == state)),
        "{rs} not {state}: {:?}\n{}",
        lab.real_server_check(0, rs),
        lab.log(0)
    );
}

fn ping_conf(lab: &Lab, servers: &[&str]) -> String {
    let instance = common::lab::vrrp_instance(lab, 0, 100, &[VIP], "");
    let mut rs = String::new();
    for s in servers {
        rs.push_str(&format!(
            "    real_server {s} 80 {{\n        PING_CHECK {{\n            retry 1\n            delay_before_retry 0.5\n            connect_timeout 1\n            warmup 0\n        }}\n    }}\n"
        ));
    }
    format!(
        "{instance}\nvirtual_server {VIP} 80 {{\n    delay_loop 1\n    lb_kind DR\n    protocol TCP\n    alpha\n{rs}}}\nvirtual_server fd77::100 80 {{\n    delay_loop 1\n    lb_kind DR\n    protocol TCP\n    alpha\n    real_server fd77::11 80 {{\n        PING_CHECK {{\n            connect_timeout 1\n            warmup 0\n        }}\n    }}\n}}\n"
    )
}

/// A server that answers pings is up, one that does not is down, and a
/// server is down while its address is gone and up when it is back. The
/// lab's namespace starts with no group admitted to ICMP sockets: the
/// parent admits the checker's.
#[test]
fn ping_check_follows_the_real_servers_address() {
    let mut lab = Lab::new(2);
    let conf = ping_conf(&lab, &["10.77.0.11", "10.77.0.60"]);
    lab.start(0, UPKEEPD, &conf, "keepalived.conf");
    expect(&lab, "10.77.0.11:80", "up", SECS(20));
    expect(&lab, "[fd77::11]:80", "up", SECS(10));
    expect(&lab, "10.77.0.60:80", "down", SECS(10));
    assert!(
        lab.log(0).contains("ping_group_range widened"),
        "{}",
        lab.log(0)
    );
    lab.ip(1, &["addr", "del", "10.77.0.11/24", "dev", "eth0"]);
    expect(&lab, "10.77.0.11:80", "down", SECS(15));
    expect(&lab, "[fd77::11]:80", "up", SECS(1));
    lab.ip(1, &["addr", "add", "10.77.0.11/24", "dev", "eth0"]);
    expect(&lab, "10.77.0.11:80", "up", SECS(15));
}

/// A range that admits other groups and not the checker's is left alone,
/// and the check says why it cannot run.
#[test]
fn ping_check_says_why_when_icmp_sockets_are_refused() {
    let mut lab = Lab::new(2);
    lab.exec(
        0,
        &["sysctl", "-qw", "net.ipv4.ping_group_range=3000000 3000001"],
    );
    let conf = ping_conf(&lab, &["10.77.0.11"]);
    lab.start(0, UPKEEPD, &conf, "keepalived.conf");
    let said = || {
        lab.real_server_check(0, "10.77.0.11:80").is_some_and(|c| {
            c["state"] == "down" && c["last_result"].to_string().contains("ping_group_range")
        })
    };
    assert!(
        lab.wait(SECS(20), said),
        "{:?}\n{}",
        lab.real_server_check(0, "10.77.0.11:80"),
        lab.log(0)
    );
    assert!(lab.log(0).contains("left alone"), "{}", lab.log(0));
    assert_eq!(
        lab.exec(0, &["sysctl", "-n", "net.ipv4.ping_group_range"])
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["3000000", "3000001"]
    );
}

/// A real-server check's last result, as text.
fn last_result(lab: &Lab, rs: &str) -> String {
    lab.real_server_check(0, rs)
        .map_or_else(String::new, |c| c["last_result"].to_string())
}

/// Waits until `rs` is down with `why` in its last result.
fn expect_down_saying(lab: &Lab, rs: &str, why: &str, limit: Duration) {
    assert!(
        lab.wait(limit, || lab.real_server_check(0, rs).is_some_and(
            |c| c["state"] == "down" && c["last_result"].to_string().contains(why)
        )),
        "{rs} not down with '{why}': {:?}\n{}",
        lab.real_server_check(0, rs),
        lab.log(0)
    );
}

/// A UDP_CHECK real server block; `extra` goes inside the checker.
fn udp_rs(ip: &str, port: u16, extra: &str) -> String {
    format!(
        "    real_server {ip} {port} {{\n        UDP_CHECK {{\n            retry 0\n            connect_timeout 1\n            warmup 0\n{extra}        }}\n    }}\n"
    )
}

/// socat in node `k` answering each datagram to `ip:port` with `answer`.
fn socat_responder(lab: &mut Lab, k: usize, ip: &str, port: u16, answer: &str) {
    let listen = if ip.contains(':') {
        format!("UDP6-RECVFROM:{port},bind=[{ip}],fork")
    } else {
        format!("UDP4-RECVFROM:{port},bind={ip},fork")
    };
    lab.spawn(
        k,
        &["socat", &listen, &format!("SYSTEM:printf {answer}")],
        &format!("socat-{port}.log"),
    );
}

/// keepalived's UDP_CHECK: a server answering what `require_reply`
/// expects is up, and down once killed (ICMP port unreachable) until it is
/// back; a wrong answer is down; without `require_reply` an answer or
/// silence passes and a closed port (port unreachable) fails.
#[test]
fn udp_check_follows_socat() {
    let mut lab = Lab::new(3);
    // The servers' kernels rate-limit ICMP errors per source (1 a second
    // after a burst of 6): three closed ports checked every second from one
    // director would see silence now and then, which without require_reply
    // passes (docs/config.md, UDP_CHECK). Not what this test is about.
    for k in [1, 2] {
        lab.exec(
            k,
            &[
                "sysctl",
                "-q",
                "-w",
                "net.ipv4.icmp_ratelimit=0",
                "net.ipv6.icmp.ratelimit=0",
            ],
        );
    }
    let ok = "10.77.0.11";
    let wrong = "10.77.0.12";
    socat_responder(&mut lab, 1, ok, 5301, "OK");
    socat_responder(&mut lab, 1, ok, 5302, "OK");
    socat_responder(&mut lab, 1, "fd77::11", 5301, "OK");
    socat_responder(&mut lab, 2, wrong, 5301, "NO");
    // A server that reads and never answers.
    lab.spawn(
        2,
        &[
            "socat",
            "-u",
            &format!("UDP4-RECV:5303,bind={wrong}"),
            "OPEN:/dev/null,append",
        ],
        "socat-silent.log",
    );
    let want = "            require_reply 4f 4b\n            payload 68 65 6c 6c 6f\n";
    let servers = [
        udp_rs(ok, 5301, want),
        udp_rs(ok, 5302, ""),
        udp_rs(wrong, 5301, want),
        udp_rs(wrong, 5303, ""),
        udp_rs(ok, 5309, ""),
    ]
    .concat();
    let instance = common::lab::vrrp_instance(&lab, 0, 100, &[VIP], "");
    let v6 = udp_rs("fd77::11", 5301, want);
    let conf = format!(
        "{instance}\nvirtual_server {VIP} 5301 {{\n    delay_loop 1\n    lb_kind DR\n    protocol UDP\n    alpha\n{servers}}}\nvirtual_server fd77::100 5301 {{\n    delay_loop 1\n    lb_kind DR\n    protocol UDP\n    alpha\n{v6}}}\n"
    );
    lab.start(0, UPKEEPD, &conf, "keepalived.conf");
    expect(&lab, "10.77.0.11:5301", "up", SECS(20));
    expect(&lab, "[fd77::11]:5301", "up", SECS(10));
    expect(&lab, "10.77.0.11:5302", "up", SECS(10));
    expect(&lab, "10.77.0.12:5303", "up", SECS(10));
    expect_down_saying(&lab, "10.77.0.12:5301", "does not match", SECS(10));
    expect_down_saying(&lab, "10.77.0.11:5309", "refused", SECS(10));
    assert!(lab.kill_named(1, "socat") >= 3, "socat was running");
    expect_down_saying(&lab, "10.77.0.11:5301", "refused", SECS(10));
    expect_down_saying(&lab, "[fd77::11]:5301", "refused", SECS(10));
    expect_down_saying(&lab, "10.77.0.11:5302", "refused", SECS(10));
    socat_responder(&mut lab, 1, ok, 5301, "OK");
    expect(&lab, "10.77.0.11:5301", "up", SECS(10));
    expect(&lab, "10.77.0.12:5303", "up", SECS(1));
}

/// An unbound.conf for node 1: `www.example.test` has an A record,
/// `nx.example.test` does not exist, `refused.test` is refused.
fn unbound_conf(dir: &str, ip: &str) -> String {
    format!(
        r#"server:
    interface: {ip}
    port: 53
    do-daemonize: no
    chroot: ""
    username: ""
    directory: "{dir}"
    pidfile: ""
    use-syslog: no
    logfile: ""
    verbosity: 1
    do-ip6: no
    module-config: "iterator"
    access-control: 10.77.0.0/24 allow
    local-zone: "example.test." static
    local-data: "www.example.test. IN A 192.0.2.80"
    local-zone: "refused.test." refuse
remote-control:
    control-enable: no
"#
    )
}

fn start_unbound(lab: &mut Lab) {
    let dir = lab.nodes[1].dir.display().to_string();
    let conf = lab.config_path(1, "unbound.conf");
    std::fs::write(&conf, unbound_conf(&dir, "10.77.0.11")).unwrap();
    lab.spawn(
        1,
        &["/usr/sbin/unbound", "-d", "-c", &conf.display().to_string()],
        "unbound.log",
    );
}

/// A DNS_CHECK real server block (the server's port is its key; the query
/// goes to `connect_port 53`).
fn dns_rs(port: u16, body: &str) -> String {
    format!(
        "    real_server 10.77.0.11 {port} {{\n        DNS_CHECK {{\n            connect_port 53\n            retry 0\n            connect_timeout 1\n            warmup 0\n{body}        }}\n    }}\n"
    )
}

/// keepalived's DNS_CHECK against unbound: a NOERROR answer is up, and
/// down once unbound is killed until it is back; REFUSED and NXDOMAIN are
/// down; a name that exists asked with a type it lacks (NOERROR, no
/// answer) is up, as keepalived judges by the RCODE alone. One check is
/// sent from a fixed address and port (`bindto`, `bind_port`).
#[test]
fn dns_check_follows_unbound() {
    let mut lab = Lab::new(2);
    start_unbound(&mut lab);
    let servers = [
        dns_rs(53, "            type A\n            name www.example.test\n"),
        dns_rs(54, "            name www.refused.test\n"),
        dns_rs(55, "            type a\n            name nx.example.test\n"),
        dns_rs(
            56,
            "            type MX\n            name www.example.test\n            bindto 10.77.0.10\n            bind_port 5399\n",
        ),
    ]
    .concat();
    let instance = common::lab::vrrp_instance(&lab, 0, 100, &[VIP], "");
    let conf = format!(
        "{instance}\nvirtual_server {VIP} 53 {{\n    delay_loop 1\n    lb_kind DR\n    protocol UDP\n    alpha\n{servers}}}\n"
    );
    lab.start(0, UPKEEPD, &conf, "keepalived.conf");
    let unbound_log = |lab: &Lab| {
        std::fs::read_to_string(lab.nodes[1].dir.join("unbound.log")).unwrap_or_default()
    };
    assert!(
        lab.wait(SECS(20), || lab
            .real_server_check(0, "10.77.0.11:53")
            .is_some_and(|c| c["state"] == "up")),
        "{:?}\n{}\nunbound: {}",
        lab.real_server_check(0, "10.77.0.11:53"),
        lab.log(0),
        unbound_log(&lab)
    );
    assert!(last_result(&lab, "10.77.0.11:53").contains("NOERROR"));
    expect_down_saying(&lab, "10.77.0.11:54", "rcode 5", SECS(10));
    expect_down_saying(&lab, "10.77.0.11:55", "rcode 3", SECS(10));
    expect(&lab, "10.77.0.11:56", "up", SECS(10));
    assert!(
        last_result(&lab, "10.77.0.11:56").contains("0 answer"),
        "{}",
        last_result(&lab, "10.77.0.11:56")
    );
    assert_eq!(lab.kill_named(1, "unbound"), 1);
    expect_down_saying(&lab, "10.77.0.11:53", "refused", SECS(10));
    expect(&lab, "10.77.0.11:56", "down", SECS(10));
    start_unbound(&mut lab);
    expect(&lab, "10.77.0.11:53", "up", SECS(15));
    expect(&lab, "10.77.0.11:56", "up", SECS(10));
}
