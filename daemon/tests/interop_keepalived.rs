//! Interop with Debian's keepalived as the peer, in network namespaces the
//! test creates: v2 (PASS authentication) and v3 over IPv4 and IPv6, upkeep as
//! master and as backup, failover both ways, one master at a time.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test crate fails by panicking

mod common;

use std::time::Duration;

use common::lab::Lab;

const UPKEEPD: &str = env!("CARGO_BIN_EXE_upkeepd");
const SECS: fn(u64) -> Duration = Duration::from_secs;

/// The same instance for both daemons (keepalived reads it as written).
fn instance(version: u8, prio: u32, advert: &str, vip: &str, auth: Option<&str>) -> String {
    let auth = auth
        .map(|p| {
            format!(
                "    authentication {{\n        auth_type PASS\n        auth_pass {p}\n    }}\n"
            )
        })
        .unwrap_or_default();
    format!(
        "vrrp_instance VI_1 {{\n    state BACKUP\n    interface eth0\n    version {version}\n    virtual_router_id 51\n    priority {prio}\n    advert_int {advert}\n{auth}    virtual_ipaddress {{\n        {vip}\n    }}\n}}\n"
    )
}

fn masters(lab: &Lab, vip: &str) -> Vec<usize> {
    (0..2).filter(|&k| lab.has_addr(k, vip)).collect()
}

/// Waits until exactly `node` holds the VIP, and it stays so for `hold`.
fn settles_on(lab: &Lab, vip: &str, node: usize, limit: Duration, hold: Duration) -> bool {
    lab.wait(limit, || masters(lab, vip) == vec![node]) && {
        std::thread::sleep(hold);
        masters(lab, vip) == vec![node]
    }
}

fn logs(lab: &Lab) -> String {
    format!(
        "{}\n--- keepalived ---\n{}",
        lab.logs(),
        lab.keepalived_log(0)
    )
}

/// keepalived on node 0, upkeep on node 1.
fn scenario(version: u8, advert: &str, vip: &str, auth: Option<&str>) {
    let mut lab = Lab::new(2);
    let vip_addr = vip.split('/').next().unwrap().to_string();
    let hold = SECS(2);
    // keepalived master, upkeep backup.
    lab.start_keepalived(0, &instance(version, 150, advert, vip, auth));
    lab.start(
        1,
        UPKEEPD,
        &instance(version, 100, advert, vip, auth),
        "keepalived.conf",
    );
    assert!(
        settles_on(&lab, &vip_addr, 0, SECS(10), hold),
        "keepalived should be master\n{}",
        logs(&lab)
    );
    assert_eq!(lab.state(1, "VI_1").as_deref(), Some("BACKUP"));
    // Counters reach status.json at their own pace (the VRRP worker's
    // report each second, then the parent's publication pace): waited for,
    // not read at one instant (failed so in a clean-clone run, 2.4 s after
    // start).
    let heard = |lab: &Lab| {
        lab.instance(1, "VI_1")
            .is_some_and(|s| s["adverts_received"].as_u64() > Some(0))
    };
    assert!(
        lab.wait(SECS(5), || heard(&lab)),
        "{:?}",
        lab.instance(1, "VI_1")
    );
    let st = lab.instance(1, "VI_1").unwrap();
    assert_eq!(
        st["drops"],
        serde_json::json!({}),
        "upkeep accepts keepalived's adverts: {st}"
    );
    // keepalived dies: upkeep takes over.
    lab.signal_keepalived(0, libc::SIGKILL);
    assert!(
        lab.wait_state(1, "VI_1", "MASTER", SECS(10)).is_some(),
        "{}",
        logs(&lab)
    );
    assert!(lab.wait(SECS(2), || lab.has_addr(1, &vip_addr)));
    // keepalived returns, with higher priority: it preempts, upkeep yields.
    lab.ip(0, &["addr", "flush", "dev", "eth0", "to", vip]);
    lab.start_keepalived(0, &instance(version, 150, advert, vip, auth));
    assert!(
        settles_on(&lab, &vip_addr, 0, SECS(10), hold),
        "keepalived preempts\n{}",
        logs(&lab)
    );
    assert_eq!(lab.state(1, "VI_1").as_deref(), Some("BACKUP"));

    // Roles swapped: upkeep master (priority 200), keepalived backup.
    lab.signal(1, libc::SIGKILL);
    lab.wait_exit(1, SECS(2));
    lab.start(
        1,
        UPKEEPD,
        &instance(version, 200, advert, vip, auth),
        "keepalived.conf",
    );
    assert!(
        settles_on(&lab, &vip_addr, 1, SECS(10), hold),
        "upkeep should be master\n{}",
        logs(&lab)
    );
    assert_eq!(lab.state(1, "VI_1").as_deref(), Some("MASTER"));
    // upkeep stops gracefully: keepalived takes over (priority 0 advert).
    lab.signal(1, libc::SIGTERM);
    assert!(lab.wait_exit(1, SECS(3)).is_some());
    assert!(
        settles_on(&lab, &vip_addr, 0, SECS(5), Duration::from_millis(500)),
        "{}",
        logs(&lab)
    );
}

#[test]
fn v2_ipv4_with_pass_authentication() {
    scenario(2, "1", "10.77.0.100", Some("1111222"));
}

#[test]
fn v3_ipv4_at_a_tenth_of_a_second() {
    scenario(3, "0.1", "10.77.0.100", None);
}

#[test]
fn v3_ipv6() {
    scenario(3, "0.1", "fd77::100/64", None);
}

#[test]
fn a_wrong_password_is_dropped_and_counted() {
    let mut lab = Lab::new(2);
    lab.start_keepalived(0, &instance(2, 150, "1", "10.77.0.100", Some("right")));
    lab.start(
        1,
        UPKEEPD,
        &instance(2, 100, "1", "10.77.0.100", Some("wrong")),
        "keepalived.conf",
    );
    // (keepalived 2.2.7, as Master, stops advertising while it keeps hearing
    // adverts it rejects, so only the first ones can be counted here.)
    let counted = lab.wait(SECS(10), || {
        lab.instance(1, "VI_1")
            .is_some_and(|s| s["drops"]["auth_failure"].as_u64() >= Some(1))
    });
    assert!(counted, "{}", logs(&lab));
    // Never accepted: upkeep does not follow a master it cannot authenticate.
    assert!(
        lab.wait_state(1, "VI_1", "MASTER", SECS(6)).is_some(),
        "{}",
        logs(&lab)
    );
    assert_eq!(lab.instance(1, "VI_1").unwrap()["adverts_received"], 0);
}
