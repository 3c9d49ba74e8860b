//! PING_CHECK and UDP_CHECK against real servers in network namespaces the
//! test creates, run by upkeepd's unprivileged checker. Needs root; every
//! wait is bounded; the lab is removed on drop.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test crate fails by panicking

mod common;

use std::time::Duration;

use common::lab::Lab;

const UPKEEPD: &str = env!("CARGO_BIN_EXE_upkeepd");
const VIP: &str = "10.77.0.100";
const SECS: fn(u64) -> Duration = Duration::from_secs;

/// The state of the real-server check whose source ends with `rs`.
fn rs_check(lab: &Lab, k: usize, rs: &str) -> Option<serde_json::Value> {
    lab.status(k).and_then(|s| {
        s["checks"]
            .as_array()?
            .iter()
            .find(|c| {
                c["source"].as_str().is_some_and(|s| {
                    s.starts_with("real_server:") && s.ends_with(&format!("/{rs}"))
                })
            })
            .cloned()
    })
}

fn expect(lab: &Lab, rs: &str, state: &str, limit: Duration) {
    assert!(
        lab.wait(limit, || rs_check(lab, 0, rs)
            .is_some_and(|c| c["state"] == state)),
        "{rs} not {state}: {:?}\n{}",
        rs_check(lab, 0, rs),
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
        rs_check(&lab, 0, "10.77.0.11:80").is_some_and(|c| {
            c["state"] == "down" && c["last_result"].to_string().contains("ping_group_range")
        })
    };
    assert!(
        lab.wait(SECS(20), said),
        "{:?}\n{}",
        rs_check(&lab, 0, "10.77.0.11:80"),
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
