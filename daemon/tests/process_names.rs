//! Every upkeepd process is findable by name (daemon/src/procname.rs):
//! comm `upkeepd` (top, pidof, pgrep, killall) and, for a worker, a command
//! line starting with `upkeepd: ROLE worker` (ps, pgrep -f, systemctl
//! status). Real upkeepd with all three workers in a lab namespace; needs
//! root.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test crate fails by panicking

mod common;

use std::process::Command;
use std::time::Duration;

use common::lab::Lab;

const UPKEEPD: &str = env!("CARGO_BIN_EXE_upkeepd");

fn read(pid: i32, file: &str) -> String {
    String::from_utf8_lossy(&std::fs::read(format!("/proc/{pid}/{file}")).unwrap_or_default())
        .into_owned()
}

/// The pids a command prints (whitespace-separated), e.g. pidof or pgrep.
fn pids_of(cmd: &[&str]) -> Vec<i32> {
    let out = Command::new(cmd[0]).args(&cmd[1..]).output().expect(cmd[0]);
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

#[test]
fn every_process_is_named_upkeepd_and_workers_say_their_role() {
    let mut lab = Lab::new(1);
    let conf = common::lab::every_worker(&lab, 0, 100, &["10.77.0.100"]);
    lab.start(0, UPKEEPD, &conf, "keepalived.conf");
    let roles = ["vrrp", "ipvs", "checker"];
    assert!(
        lab.wait(Duration::from_secs(20), || roles
            .iter()
            .all(|r| lab.worker_pid(0, r).is_some())),
        "workers not running\n{}",
        lab.logs()
    );
    let parent = lab.daemon_pid(0).expect("pid file");
    let mut all = vec![parent];
    for role in roles {
        let pid = lab.worker_pid(0, role).unwrap();
        all.push(pid);
        // A worker sets its comm right after exec: wait for it (bounded).
        assert!(
            lab.wait(Duration::from_secs(5), || read(pid, "comm") == "upkeepd\n"),
            "{role} worker {pid}: comm {:?}\n{}",
            read(pid, "comm"),
            lab.processes(0)
        );
        let cmdline = read(pid, "cmdline");
        let argv0 = cmdline.split('\0').next().unwrap_or_default();
        assert_eq!(
            argv0,
            format!("upkeepd: {role} worker"),
            "{role}: {cmdline:?}"
        );
    }
    assert_eq!(read(parent, "comm"), "upkeepd\n");
    // The tools operators use find every one of them (other upkeepd
    // processes on the host may be listed too).
    for tool in [&["pidof", "upkeepd"][..], &["pgrep", "upkeepd"][..]] {
        let found = pids_of(tool);
        for pid in &all {
            assert!(
                found.contains(pid),
                "{tool:?} did not list {pid}: {found:?}\n{}",
                lab.processes(0)
            );
        }
    }
    let found = pids_of(&["pgrep", "-f", "^upkeepd: vrrp worker"]);
    assert!(found.contains(&lab.worker_pid(0, "vrrp").unwrap()));
    let ps = Command::new("ps")
        .args(["-o", "comm=,args=", "-p"])
        .arg(all.iter().map(i32::to_string).collect::<Vec<_>>().join(","))
        .output()
        .expect("ps");
    let ps = String::from_utf8_lossy(&ps.stdout);
    for role in roles {
        assert!(
            ps.lines()
                .any(|l| l.starts_with("upkeepd") && l.contains(&format!("upkeepd: {role} worker"))),
            "ps shows no {role} worker:\n{ps}"
        );
    }
}
