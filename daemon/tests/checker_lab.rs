//! Health checks driving VRRP, with real upkeepd processes in network
//! namespaces the test creates. The checks run in the unprivileged checker
//! process. Needs root; every wait is bounded; the lab is removed on drop.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test crate fails by panicking

mod common;

use std::time::Duration;

use common::lab::Lab;

const UPKEEPD: &str = env!("CARGO_BIN_EXE_upkeepd");
const VIP: &str = "10.77.0.100";
const SECS: fn(u64) -> Duration = Duration::from_secs;

/// A node whose instance tracks a script that passes while `flag` exists.
/// The flag lives in /tmp itself: the checker runs as an unprivileged user.
fn conf(lab: &Lab, k: usize, priority: u32, flag: &str, weight: &str) -> String {
    let track = "    track_script {\n        chk_flag\n    }";
    let instance = common::lab::vrrp_instance(lab, k, priority, &[VIP], track);
    format!(
        r#"
vrrp_script chk_flag {{
    script "/bin/test -e {flag}"
    interval 0.2
    fall 2
    rise 2
    {weight}
}}
{instance}"#
    )
}

struct Flag(String);

impl Flag {
    fn new(tag: &str) -> Self {
        let p = format!("/tmp/upkeep-flag-{}-{tag}", std::process::id());
        std::fs::write(&p, "").unwrap();
        Flag(p)
    }
    fn set(&self, on: bool) {
        if on {
            std::fs::write(&self.0, "").unwrap();
        } else {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

impl Drop for Flag {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn a_failing_script_faults_the_master_and_the_backup_takes_over() {
    let mut lab = Lab::new(2);
    let (fa, fb) = (Flag::new("a"), Flag::new("b"));
    let (a, b) = (conf(&lab, 0, 100, &fa.0, ""), conf(&lab, 1, 90, &fb.0, ""));
    lab.start(0, UPKEEPD, &a, "keepalived.conf");
    lab.start(1, UPKEEPD, &b, "keepalived.conf");
    lab.expect_state(0, "VI_1", "MASTER", SECS(15));
    lab.expect_state(1, "VI_1", "BACKUP", SECS(5));
    let check = |k: usize| {
        lab.status(k).and_then(|s| {
            s["checks"]
                .as_array()?
                .iter()
                .find(|c| c["source"] == "script:chk_flag")
                .cloned()
        })
    };
    assert!(
        lab.wait(SECS(5), || check(0).is_some_and(|c| c["state"] == "up")),
        "{:?}",
        check(0)
    );

    // Weight 0: a failing script is a fault; the peer takes over at once
    // (the Master resigns with priority 0).
    fa.set(false);
    lab.expect_state(0, "VI_1", "FAULT", SECS(5));
    lab.expect_state(1, "VI_1", "MASTER", SECS(5));
    let c = check(0).unwrap();
    assert_eq!(c["state"], "down");
    assert!(c["last_result"].as_str().unwrap().contains("exit 1"), "{c}");
    assert!(c["failures"].as_u64().unwrap() >= 2);
    assert!(lab.wait(SECS(5), || lab.has_addr(1, VIP) && !lab.has_addr(0, VIP)));

    // Passing again: A leaves Fault and, with preempt, takes the VIP back.
    fa.set(true);
    lab.expect_state(0, "VI_1", "MASTER", SECS(10));
    lab.expect_state(1, "VI_1", "BACKUP", SECS(5));
    drop(fb);
}
